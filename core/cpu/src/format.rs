//! Instruction formats (PoP chapter 5, "Instruction Formats") and the
//! extraction of their fields.
//!
//! Bit positions below use IBM numbering: bit 0 is the leftmost bit of the
//! first halfword. Every format decodes into the same flat [`Fields`] record;
//! a field a format does not have stays zero.

/// An instruction format. The letter suffix (`A`, `B`, ...) is the PoP's
/// format variant (RI-a, RI-b, ...).
#[allow(missing_docs)] // The variant names are the PoP format names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    E,
    I,
    IE,
    RR,
    RiA,
    RiB,
    RiC,
    RieA,
    RieB,
    RieC,
    RieD,
    RieE,
    RieF,
    RieG,
    RilA,
    RilB,
    RilC,
    Ris,
    Rrd,
    Rre,
    RrfA,
    RrfB,
    RrfC,
    RrfD,
    RrfE,
    Rrs,
    RsA,
    RsB,
    Rsi,
    RslA,
    RslB,
    RsyA,
    RsyB,
    RxA,
    RxB,
    Rxe,
    Rxf,
    RxyA,
    RxyB,
    S,
    Si,
    Sil,
    Siy,
    SsA,
    SsB,
    SsC,
    SsD,
    SsE,
    SsF,
    Sse,
    Ssf,
    VriA,
    VriB,
    VriC,
    VriD,
    VriE,
    VrrA,
    VrrB,
    VrrC,
    VrrD,
    VrrE,
    VrrF,
    VrsA,
    VrsB,
    VrsC,
    Vrv,
    Vrx,
}

/// The fields of an instruction, named as the PoP names them. Mask fields
/// (M1, M3, ...) are kept apart from register fields so that the semantics
/// never confuse them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    /// R1 (or the L1 length of SS-b/SS-c, which reuse R1's position).
    pub r1: u8,
    /// R2.
    pub r2: u8,
    /// R3.
    pub r3: u8,
    /// M1 (branch masks of BC, BCR, BRC, BRCL; PFD's code).
    pub m1: u8,
    /// M3.
    pub m3: u8,
    /// M4.
    pub m4: u8,
    /// X2 index register.
    pub x2: u8,
    /// B1 base register.
    pub b1: u8,
    /// B2 base register.
    pub b2: u8,
    /// B4 base register (RIS, RRS, SS-e).
    pub b4: u8,
    /// D1 displacement (12-bit unsigned, or 20-bit signed in SIY).
    pub d1: i32,
    /// D2 displacement (12-bit unsigned, or 20-bit signed in RSY/RXY).
    pub d2: i32,
    /// D4 displacement (RIS, RRS, SS-e).
    pub d4: i32,
    /// I1/I2 immediate, raw (8, 16 or 32 bits, not extended; VRI-e's
    /// 12-bit I3 is kept here too).
    pub i2: u32,
    /// RIE-f I3 (start bit); VRI-b I3.
    pub i3: u8,
    /// RIE-f I4 (end bit); VRI-d I4.
    pub i4: u8,
    /// RIE-f I5 (rotate amount).
    pub i5: u8,
    /// Relative immediate (RI2/RI4), in halfwords, sign-extended.
    pub ri: i64,
    /// Length fields: L (SS-a, 8 bits) or L1 (SS-b/c).
    pub l1: u8,
    /// L2 (SS-b, SS-f, RSL-b).
    pub l2: u8,
    /// V1 vector register (0-31: the 4-bit field extended by RXB bit 0).
    pub v1: u8,
    /// V2 vector register (0-31; the index vector of VRV).
    pub v2: u8,
    /// V3 vector register (0-31).
    pub v3: u8,
    /// V4 vector register (0-31).
    pub v4: u8,
    /// M5.
    pub m5: u8,
    /// M6.
    pub m6: u8,
}

/// Read bits `from..=to` (IBM numbering) of a 48-bit instruction image that
/// has been placed in the low 48 bits of a `u64`.
const fn bits(image: u64, from: u32, to: u32) -> u64 {
    let width = to - from + 1;
    (image >> (47 - to)) & ((1u64 << width) - 1)
}

/// A 12-bit unsigned displacement.
const fn disp12(image: u64, from: u32) -> i32 {
    bits(image, from, from + 11) as i32
}

/// A 20-bit signed displacement DL (12 bits at `from`) + DH (8 bits at 32-39).
const fn disp20(image: u64, from: u32) -> i32 {
    let dl = bits(image, from, from + 11) as i32;
    let dh = bits(image, 32, 39) as u8 as i8 as i32;
    (dh << 12) | dl
}

/// A signed 16-bit relative immediate.
const fn rel16(image: u64, from: u32) -> i64 {
    bits(image, from, from + 15) as u16 as i16 as i64
}

/// A signed 32-bit relative immediate.
const fn rel32(image: u64, from: u32) -> i64 {
    bits(image, from, from + 31) as u32 as i32 as i64
}

impl Format {
    /// Extract the fields of `image`, the instruction left-aligned in the low
    /// 48 bits (bits 0-47 in IBM numbering; shorter instructions padded with
    /// zeros on the right).
    pub const fn fields(self, image: u64) -> Fields {
        let mut f = Fields {
            r1: 0,
            r2: 0,
            r3: 0,
            m1: 0,
            m3: 0,
            m4: 0,
            x2: 0,
            b1: 0,
            b2: 0,
            b4: 0,
            d1: 0,
            d2: 0,
            d4: 0,
            i2: 0,
            i3: 0,
            i4: 0,
            i5: 0,
            ri: 0,
            l1: 0,
            l2: 0,
            v1: 0,
            v2: 0,
            v3: 0,
            v4: 0,
            m5: 0,
            m6: 0,
        };
        let n8 = bits(image, 8, 11) as u8;
        let n12 = bits(image, 12, 15) as u8;
        let n16 = bits(image, 16, 19) as u8;
        let n20 = bits(image, 20, 23) as u8;
        let n24 = bits(image, 24, 27) as u8;
        let n28 = bits(image, 28, 31) as u8;
        let n32 = bits(image, 32, 35) as u8;
        // The RXB field (bits 36-39) supplies the high bit of the vector
        // register fields in bits 8-11, 12-15, 16-19 and 32-35, in that order.
        let rxb = bits(image, 36, 39) as u8;
        let v8 = n8 | (rxb & 8) << 1;
        let v12 = n12 | (rxb & 4) << 2;
        let v16 = n16 | (rxb & 2) << 3;
        let v32 = n32 | (rxb & 1) << 4;
        match self {
            Format::E => {}
            Format::I => f.i2 = bits(image, 8, 15) as u32,
            Format::IE => {
                f.i2 = bits(image, 24, 31) as u32;
            }
            Format::RR => {
                f.r1 = n8;
                f.m1 = n8;
                f.r2 = n12;
            }
            Format::RiA => {
                f.r1 = n8;
                f.i2 = bits(image, 16, 31) as u32;
            }
            Format::RiB => {
                f.r1 = n8;
                f.ri = rel16(image, 16);
            }
            Format::RiC => {
                f.m1 = n8;
                f.ri = rel16(image, 16);
            }
            Format::RieA => {
                f.r1 = n8;
                f.i2 = bits(image, 16, 31) as u32;
                f.m3 = n32;
            }
            Format::RieB => {
                f.r1 = n8;
                f.r2 = n12;
                f.ri = rel16(image, 16);
                f.m3 = n32;
            }
            Format::RieC => {
                f.r1 = n8;
                f.m3 = n12;
                f.ri = rel16(image, 16);
                f.i2 = bits(image, 32, 39) as u32;
            }
            Format::RieD => {
                f.r1 = n8;
                f.r3 = n12;
                f.i2 = bits(image, 16, 31) as u32;
            }
            Format::RieE => {
                f.r1 = n8;
                f.r3 = n12;
                f.ri = rel16(image, 16);
            }
            Format::RieF => {
                f.r1 = n8;
                f.r2 = n12;
                f.i3 = bits(image, 16, 23) as u8;
                f.i4 = bits(image, 24, 31) as u8;
                f.i5 = bits(image, 32, 39) as u8;
            }
            Format::RieG => {
                f.r1 = n8;
                f.m3 = n12;
                f.i2 = bits(image, 16, 31) as u32;
            }
            Format::RilA => {
                f.r1 = n8;
                f.i2 = bits(image, 16, 47) as u32;
            }
            Format::RilB => {
                f.r1 = n8;
                f.ri = rel32(image, 16);
            }
            Format::RilC => {
                f.m1 = n8;
                f.ri = rel32(image, 16);
            }
            Format::Ris => {
                f.r1 = n8;
                f.m3 = n12;
                f.b4 = n16;
                f.d4 = disp12(image, 20);
                f.i2 = bits(image, 32, 39) as u32;
            }
            Format::Rrd => {
                f.r1 = n16;
                f.r3 = n24;
                f.r2 = n28;
            }
            Format::Rre => {
                f.r1 = n24;
                f.r2 = n28;
            }
            Format::RrfA | Format::RrfB => {
                f.r3 = n16;
                f.m4 = n20;
                f.r1 = n24;
                f.r2 = n28;
            }
            Format::RrfC | Format::RrfE => {
                f.m3 = n16;
                f.m4 = n20;
                f.r1 = n24;
                f.r2 = n28;
            }
            Format::RrfD => {
                f.m4 = n20;
                f.r1 = n24;
                f.r2 = n28;
            }
            Format::Rrs => {
                f.r1 = n8;
                f.r2 = n12;
                f.b4 = n16;
                f.d4 = disp12(image, 20);
                f.m3 = n32;
            }
            Format::RsA | Format::Rsi | Format::RsB => {
                f.r1 = n8;
                f.r3 = n12;
                f.m3 = n12;
                if let Format::Rsi = self {
                    f.ri = rel16(image, 16);
                } else {
                    f.b2 = n16;
                    f.d2 = disp12(image, 20);
                }
            }
            Format::RslA => {
                f.l1 = n8;
                f.b1 = n16;
                f.d1 = disp12(image, 20);
            }
            Format::RslB => {
                f.l2 = bits(image, 8, 15) as u8;
                f.b2 = n16;
                f.d2 = disp12(image, 20);
                f.r1 = n32;
                f.m3 = bits(image, 36, 39) as u8;
            }
            Format::RsyA | Format::RsyB => {
                f.r1 = n8;
                f.r3 = n12;
                f.m3 = n12;
                f.b2 = n16;
                f.d2 = disp20(image, 20);
            }
            Format::RxA | Format::RxB => {
                f.r1 = n8;
                f.m1 = n8;
                f.x2 = n12;
                f.b2 = n16;
                f.d2 = disp12(image, 20);
            }
            Format::Rxe => {
                f.r1 = n8;
                f.x2 = n12;
                f.b2 = n16;
                f.d2 = disp12(image, 20);
                f.m3 = n32;
            }
            Format::Rxf => {
                f.r3 = n8;
                f.x2 = n12;
                f.b2 = n16;
                f.d2 = disp12(image, 20);
                f.r1 = n32;
            }
            Format::RxyA | Format::RxyB => {
                f.r1 = n8;
                f.m1 = n8;
                f.x2 = n12;
                f.b2 = n16;
                f.d2 = disp20(image, 20);
            }
            Format::S => {
                f.b2 = n16;
                f.d2 = disp12(image, 20);
            }
            Format::Si => {
                f.i2 = bits(image, 8, 15) as u32;
                f.b1 = n16;
                f.d1 = disp12(image, 20);
            }
            Format::Sil => {
                f.b1 = n16;
                f.d1 = disp12(image, 20);
                f.i2 = bits(image, 32, 47) as u32;
            }
            Format::Siy => {
                f.i2 = bits(image, 8, 15) as u32;
                f.b1 = n16;
                f.d1 = disp20(image, 20);
            }
            Format::SsA | Format::SsF => {
                let l = bits(image, 8, 15) as u8;
                f.l1 = l;
                f.l2 = l;
                f.b1 = n16;
                f.d1 = disp12(image, 20);
                f.b2 = n32;
                f.d2 = disp12(image, 36);
            }
            Format::SsB | Format::SsC | Format::SsD => {
                f.l1 = n8;
                f.r1 = n8;
                f.l2 = n12;
                f.r3 = n12;
                f.i2 = n12 as u32;
                f.b1 = n16;
                f.d1 = disp12(image, 20);
                f.b2 = n32;
                f.d2 = disp12(image, 36);
            }
            Format::SsE => {
                f.r1 = n8;
                f.r3 = n12;
                f.b2 = n16;
                f.d2 = disp12(image, 20);
                f.b4 = n32;
                f.d4 = disp12(image, 36);
            }
            Format::Sse => {
                f.b1 = n16;
                f.d1 = disp12(image, 20);
                f.b2 = n32;
                f.d2 = disp12(image, 36);
            }
            Format::Ssf => {
                f.r3 = n8;
                f.b1 = n16;
                f.d1 = disp12(image, 20);
                f.b2 = n32;
                f.d2 = disp12(image, 36);
            }
            Format::VriA => {
                f.v1 = v8;
                f.i2 = bits(image, 16, 31) as u32;
                f.m3 = n32;
            }
            Format::VriB => {
                f.v1 = v8;
                f.i2 = bits(image, 16, 23) as u32;
                f.i3 = bits(image, 24, 31) as u8;
                f.m4 = n32;
            }
            Format::VriC => {
                f.v1 = v8;
                f.v3 = v12;
                f.i2 = bits(image, 16, 31) as u32;
                f.m4 = n32;
            }
            Format::VriD => {
                f.v1 = v8;
                f.v2 = v12;
                f.v3 = v16;
                f.i4 = bits(image, 24, 31) as u8;
                f.m5 = n32;
            }
            Format::VriE => {
                f.v1 = v8;
                f.v2 = v12;
                f.i2 = bits(image, 16, 27) as u32;
                f.m5 = n28;
                f.m4 = n32;
            }
            Format::VrrA => {
                f.v1 = v8;
                f.v2 = v12;
                f.m5 = n24;
                f.m4 = n28;
                f.m3 = n32;
            }
            Format::VrrB => {
                f.v1 = v8;
                f.v2 = v12;
                f.v3 = v16;
                f.m5 = n24;
                f.m4 = n32;
            }
            Format::VrrC => {
                f.v1 = v8;
                f.v2 = v12;
                f.v3 = v16;
                f.m6 = n24;
                f.m5 = n28;
                f.m4 = n32;
            }
            Format::VrrD => {
                f.v1 = v8;
                f.v2 = v12;
                f.v3 = v16;
                f.m5 = n20;
                f.m6 = n24;
                f.v4 = v32;
            }
            Format::VrrE => {
                f.v1 = v8;
                f.v2 = v12;
                f.v3 = v16;
                f.m6 = n20;
                f.m5 = n28;
                f.v4 = v32;
            }
            Format::VrrF => {
                f.v1 = v8;
                f.r2 = n12;
                f.r3 = n16;
            }
            Format::VrsA | Format::VrsB | Format::VrsC => {
                match self {
                    Format::VrsA => {
                        f.v1 = v8;
                        f.v3 = v12;
                    }
                    Format::VrsB => {
                        f.v1 = v8;
                        f.r3 = n12;
                    }
                    _ => {
                        f.r1 = n8;
                        f.v3 = v12;
                    }
                }
                f.b2 = n16;
                f.d2 = disp12(image, 20);
                f.m4 = n32;
            }
            Format::Vrv | Format::Vrx => {
                f.v1 = v8;
                if let Format::Vrv = self {
                    f.v2 = v12;
                } else {
                    f.x2 = n12;
                }
                f.b2 = n16;
                f.d2 = disp12(image, 20);
                f.m3 = n32;
            }
        }
        f
    }
}
