//! Assembler syntax for a decoded instruction, as the GNU assembler reads
//! it and `objdump -d` writes it: the lower-case mnemonic, then the
//! operands in the order of the instruction's format (PoP chapter 5,
//! "Instruction Formats"), registers as `%r1`, `%f0`, `%a2`, `%c0`, `%v17`,
//! storage operands as `D(X,B)` / `D(L,B)`, relative operands as the
//! target address.
//!
//! ```
//! use zmmu_cpu::decode::decode;
//!
//! let lg = decode(&[0xe3, 0x10, 0x20, 0x08, 0x00, 0x04]).unwrap(); // LG 1,8(0,2)
//! assert_eq!(lg.disasm(0x1000).to_string(), "lg %r1,8(%r2)");
//! let brasl = decode(&[0xc0, 0xe5, 0x00, 0x00, 0x00, 0x10]).unwrap();
//! assert_eq!(brasl.disasm(0x1000).to_string(), "brasl %r14,0x1020");
//! ```

use core::fmt::{self, Display, Formatter, Write};

use crate::decode::Insn;
use crate::format::Format;
use crate::opcode::Opcode;

/// An instruction at an address, displayed in assembler syntax.
#[derive(Clone, Copy, Debug)]
pub struct Disasm<'a> {
    insn: &'a Insn,
    at: u64,
}

impl Insn {
    /// This instruction, located at `at` (relative operands are shown as
    /// the address they reach), in assembler syntax.
    pub fn disasm(&self, at: u64) -> Disasm<'_> {
        Disasm { insn: self, at }
    }
}

/// The register file a register field names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Gpr,
    Fpr,
    Ar,
    Cr,
}

impl Class {
    fn prefix(self) -> &'static str {
        match self {
            Self::Gpr => "%r",
            Self::Fpr => "%f",
            Self::Ar => "%a",
            Self::Cr => "%c",
        }
    }
}

/// The register files of the R1 and the R2/R3 fields of `op` (the
/// instruction's definition in the PoP: BFP operands are floating-point
/// registers, LAM/STAM access registers, LCTL/STCTL control registers).
fn classes(op: Opcode) -> (Class, Class) {
    use Class::*;
    use Opcode::*;
    match op {
        CEFBR | CDFBR | CXFBR | CEGBR | CDGBR | CXGBR | LDGR => (Fpr, Gpr),
        CELFBR | CDLFBR | CXLFBR | CELGBR | CDLGBR | CXLGBR => (Fpr, Gpr),
        CFEBR | CFDBR | CFXBR | CGEBR | CGDBR | CGXBR | LGDR => (Gpr, Fpr),
        CLFEBR | CLFDBR | CLFXBR | CLGEBR | CLGDBR | CLGXBR => (Gpr, Fpr),
        LZER | LZDR | LZXR | LEDBR | LXR | FIEBR | FIDBR => (Fpr, Fpr),
        EAR => (Gpr, Ar),
        SAR | TAR => (Ar, Gpr),
        CPYA | LAM | STAM | LAMY | STAMY => (Ar, Ar),
        LCTL | STCTL | LCTLG | STCTG => (Cr, Cr),
        SFPC | EFPC => (Gpr, Gpr),
        // MULTIPLE SINGLE sits among the floating-point RX opcodes.
        MS => (Gpr, Gpr),
        // The floating-point opcode ranges: RR 20-3F, RX 60-7F, BFP
        // B300-B31F and B340-B34F, RXE/RXY ED.
        _ => match op.info().map_or(0, |i| i.key) {
            0x20..=0x3F | 0xB300..=0xB31F | 0xB340..=0xB34F => (Fpr, Fpr),
            0x60..=0x7F | 0xED00..=0xEDFF => (Fpr, Gpr),
            _ => (Gpr, Gpr),
        },
    }
}

/// Whether the immediate of `op` is signed (arithmetic and compare
/// immediates; the logical, insert, test and move-character ones are
/// unsigned).
fn signed_immediate(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        LHI | LGHI
            | AHI
            | AGHI
            | MHI
            | MGHI
            | CHI
            | CGHI
            | LGFI
            | MSGFI
            | MSFI
            | AGFI
            | AFI
            | CGFI
            | CFI
            | CIH
            | AIH
            | ALSIH
            | ALSIHN
            | MVHHI
            | MVGHI
            | MVHI
            | CHHSI
            | CGHSI
            | CHSI
            | ASI
            | ALSI
            | AGSI
            | ALGSI
            | CGIT
            | CIT
            | CGIJ
            | CIJ
            | CGIB
            | CIB
            | AHIK
            | AGHIK
            | ALHSIK
            | ALGHSIK
            | LOCHI
            | LOCGHI
            | LOCHHI
    )
}

/// Instructions whose format has more register fields than they use: R1
/// only (the R2 field must be zero), or no operand at all.
fn r1_only(op: Opcode) -> bool {
    use Opcode::*;
    matches!(op, IPM | EFPC | SFPC | LZER | LZDR | LZXR | ETND | SPM)
}

fn no_operands(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        PALB | PCC | PCKMO | PTLB | CSCH | HSCH | RSCH | XSCH | SAL | SCHM | RCHP | TEND | IPK
    )
}

/// VRR-c instructions without an element size (M4): the bitwise ones and
/// VECTOR CHECKSUM.
fn bitwise_vector(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        VN | VNC
            | VO
            | VNO
            | VX
            | VNX
            | VNN
            | VOC
            | VBPERM
            | VSL
            | VSLB
            | VSRL
            | VSRLB
            | VSRA
            | VSRAB
            | VCKSM
    )
}

/// RS-a shifts: R3 is not used.
fn shift(op: Opcode) -> bool {
    use Opcode::*;
    matches!(op, SRL | SLL | SRA | SLA | SRDL | SLDL | SRDA | SLDA)
}

/// One operand list under construction.
struct Operands<'f, 'g> {
    out: &'f mut Formatter<'g>,
    first: bool,
}

impl Operands<'_, '_> {
    fn sep(&mut self) -> fmt::Result {
        let sep = if self.first { ' ' } else { ',' };
        self.first = false;
        self.out.write_char(sep)
    }

    fn reg(&mut self, class: Class, n: u8) -> fmt::Result {
        self.sep()?;
        write!(self.out, "{}{n}", class.prefix())
    }

    fn gpr(&mut self, n: u8) -> fmt::Result {
        self.reg(Class::Gpr, n)
    }

    fn vr(&mut self, n: u8) -> fmt::Result {
        self.sep()?;
        write!(self.out, "%v{n}")
    }

    fn vrs(&mut self, regs: &[u8]) -> fmt::Result {
        regs.iter().try_for_each(|&v| self.vr(v))
    }

    fn num(&mut self, n: impl Display) -> fmt::Result {
        self.sep()?;
        write!(self.out, "{n}")
    }

    /// A mask or unsigned immediate: decimal up to 9, else hexadecimal.
    fn unsigned(&mut self, n: u64) -> fmt::Result {
        self.sep()?;
        if n <= 9 {
            write!(self.out, "{n}")
        } else {
            write!(self.out, "{n:#x}")
        }
    }

    fn optional_mask(&mut self, m: u8) -> fmt::Result {
        if m != 0 {
            self.num(m)?;
        }
        Ok(())
    }

    /// `D(X,B)`, `D(B)` or `D`.
    fn storage(&mut self, d: i32, x: u8, b: u8) -> fmt::Result {
        self.sep()?;
        write!(self.out, "{d}")?;
        match (x, b) {
            (0, 0) => Ok(()),
            (0, b) => write!(self.out, "(%r{b})"),
            (x, 0) => write!(self.out, "(%r{x},0)"),
            (x, b) => write!(self.out, "(%r{x},%r{b})"),
        }
    }

    /// `D(V,B)` of a vector gather or scatter (`D` alone when both are
    /// zero).
    fn vector_index(&mut self, d: i32, v: u8, b: u8) -> fmt::Result {
        self.sep()?;
        write!(self.out, "{d}")?;
        match (v, b) {
            (0, 0) => Ok(()),
            (v, 0) => write!(self.out, "(%v{v},0)"),
            (v, b) => write!(self.out, "(%v{v},%r{b})"),
        }
    }

    /// `D(L,B)` with the length field `l` (the length minus one).
    fn length(&mut self, d: i32, l: u8, b: u8) -> fmt::Result {
        self.sep()?;
        write!(self.out, "{d}({},%r{b})", u16::from(l) + 1)
    }

    /// `D(R,B)` (MVCK, MVCP, MVCS: a length register).
    fn length_register(&mut self, d: i32, r: u8, b: u8) -> fmt::Result {
        self.sep()?;
        write!(self.out, "{d}(%r{r},%r{b})")
    }

    fn relative(&mut self, at: u64, halfwords: i64) -> fmt::Result {
        self.sep()?;
        write!(self.out, "{:#x}", at.wrapping_add((halfwords as u64) << 1))
    }
}

impl Display for Disasm<'_> {
    fn fmt(&self, out: &mut Formatter<'_>) -> fmt::Result {
        let Insn { op, f, .. } = *self.insn;
        if op == Opcode::Unknown {
            return out.write_str("(unknown opcode)");
        }
        for c in op.mnemonic().chars() {
            out.write_char(c.to_ascii_lowercase())?;
        }
        if no_operands(op) {
            return Ok(());
        }
        let (c1, c2) = classes(op);
        let signed = signed_immediate(op);
        // The immediate I2 of `bits` bits, signed or not as `op` reads it.
        let imm = |bits: u32| -> i64 {
            let raw = u64::from(f.i2) & ((1u64 << bits) - 1);
            if signed && raw >> (bits - 1) != 0 {
                raw as i64 - (1i64 << bits)
            } else {
                raw as i64
            }
        };
        let mut o = Operands { out, first: true };
        let immediate = |o: &mut Operands<'_, '_>, bits: u32| {
            if signed {
                o.num(imm(bits))
            } else {
                o.unsigned(imm(bits) as u64)
            }
        };
        let at = self.at;
        match op.format() {
            Format::E => Ok(()),
            Format::I => o.num(f.i2),
            Format::IE => {
                o.num(f.i2 >> 4)?;
                o.num(f.i2 & 0xf)
            }
            Format::RR if r1_only(op) => o.reg(c1, f.r1),
            Format::RR if op == Opcode::BCR => {
                o.num(f.m1)?;
                o.gpr(f.r2)
            }
            Format::RR => {
                o.reg(c1, f.r1)?;
                o.reg(c2, f.r2)
            }
            Format::RiA | Format::RilA => {
                o.reg(c1, f.r1)?;
                immediate(&mut o, if op.format() == Format::RiA { 16 } else { 32 })
            }
            Format::RiB | Format::RilB => {
                o.reg(c1, f.r1)?;
                o.relative(at, f.ri)
            }
            Format::RiC | Format::RilC => {
                o.num(f.m1)?;
                o.relative(at, f.ri)
            }
            Format::RieA => {
                o.gpr(f.r1)?;
                immediate(&mut o, 16)?;
                o.num(f.m3)
            }
            Format::RieB => {
                o.gpr(f.r1)?;
                o.gpr(f.r2)?;
                o.num(f.m3)?;
                o.relative(at, f.ri)
            }
            Format::RieC => {
                o.gpr(f.r1)?;
                immediate(&mut o, 8)?;
                o.num(f.m3)?;
                o.relative(at, f.ri)
            }
            Format::RieD => {
                o.gpr(f.r1)?;
                o.gpr(f.r3)?;
                immediate(&mut o, 16)
            }
            Format::RieE | Format::Rsi => {
                o.gpr(f.r1)?;
                o.gpr(f.r3)?;
                o.relative(at, f.ri)
            }
            Format::RieF => {
                o.gpr(f.r1)?;
                o.gpr(f.r2)?;
                o.num(f.i3)?;
                o.num(f.i4)?;
                o.num(f.i5)
            }
            Format::RieG => {
                o.gpr(f.r1)?;
                immediate(&mut o, 16)?;
                o.num(f.m3)
            }
            Format::Ris => {
                o.gpr(f.r1)?;
                immediate(&mut o, 8)?;
                o.num(f.m3)?;
                o.storage(f.d4, 0, f.b4)
            }
            Format::Rrd => {
                o.reg(c1, f.r1)?;
                o.reg(c1, f.r3)?;
                o.reg(c2, f.r2)
            }
            Format::Rre if r1_only(op) => o.reg(c1, f.r1),
            Format::Rre => {
                o.reg(c1, f.r1)?;
                o.reg(c2, f.r2)
            }
            Format::RrfA => {
                o.reg(c1, f.r1)?;
                o.reg(c2, f.r2)?;
                if matches!(op, Opcode::SELR | Opcode::SELGR | Opcode::SELFHR) {
                    o.reg(c2, f.r3)?;
                    return o.num(f.m4);
                }
                if op != Opcode::IPTE {
                    return o.reg(c2, f.r3);
                }
                if f.r3 != 0 || f.m4 != 0 {
                    o.reg(c2, f.r3)?;
                }
                o.optional_mask(f.m4)
            }
            Format::RrfB => {
                o.reg(c1, f.r1)?;
                o.reg(c2, f.r3)?;
                o.reg(c2, f.r2)?;
                match op {
                    Opcode::LPTEA => o.num(f.m4),
                    // No M4 field: bits 20-23 are unused.
                    Opcode::KMA | Opcode::KMCTR => Ok(()),
                    _ => o.optional_mask(f.m4),
                }
            }
            Format::RrfC => {
                o.reg(c1, f.r1)?;
                o.reg(c2, f.r2)?;
                match op {
                    Opcode::SSKE | Opcode::POPCNT => o.optional_mask(f.m3),
                    _ => o.num(f.m3),
                }
            }
            Format::RrfD => {
                o.reg(c1, f.r1)?;
                o.reg(c2, f.r2)?;
                o.num(f.m4)
            }
            Format::RrfE => {
                o.reg(c1, f.r1)?;
                o.num(f.m3)?;
                o.reg(c2, f.r2)?;
                if op.is_logical_bfp_conversion() {
                    o.num(f.m4)
                } else {
                    o.optional_mask(f.m4)
                }
            }
            Format::Rrs => {
                o.gpr(f.r1)?;
                o.gpr(f.r2)?;
                o.num(f.m3)?;
                o.storage(f.d4, 0, f.b4)
            }
            Format::RsA | Format::RsyA if shift(op) => {
                o.gpr(f.r1)?;
                o.storage(f.d2, 0, f.b2)
            }
            Format::RsA | Format::RsyA => {
                o.reg(c1, f.r1)?;
                o.reg(c1, f.r3)?;
                o.storage(f.d2, 0, f.b2)
            }
            Format::RsB | Format::RsyB => {
                o.gpr(f.r1)?;
                o.num(f.m3)?;
                o.storage(f.d2, 0, f.b2)
            }
            Format::RslA => o.length(f.d1, f.l1, f.b1),
            Format::RslB => {
                o.reg(Class::Fpr, f.r1)?;
                o.length(f.d2, f.l2, f.b2)?;
                o.num(f.m3)
            }
            Format::RxA | Format::RxyA => {
                o.reg(c1, f.r1)?;
                o.storage(f.d2, f.x2, f.b2)
            }
            Format::RxB | Format::RxyB => {
                o.num(f.m1)?;
                o.storage(f.d2, f.x2, f.b2)
            }
            Format::Rxe => {
                o.reg(c1, f.r1)?;
                o.storage(f.d2, f.x2, f.b2)?;
                match op {
                    Opcode::LCBB => o.num(f.m3),
                    _ => o.optional_mask(f.m3),
                }
            }
            Format::Rxf => {
                o.reg(Class::Fpr, f.r1)?;
                o.reg(Class::Fpr, f.r3)?;
                o.storage(f.d2, f.x2, f.b2)
            }
            Format::S => o.storage(f.d2, 0, f.b2),
            Format::Si if matches!(op, Opcode::SSM | Opcode::LPSW) => o.storage(f.d1, 0, f.b1),
            Format::Si | Format::Siy => {
                o.storage(f.d1, 0, f.b1)?;
                immediate(&mut o, 8)
            }
            Format::Sil => {
                o.storage(f.d1, 0, f.b1)?;
                immediate(&mut o, 16)
            }
            Format::SsA => {
                o.length(f.d1, f.l1, f.b1)?;
                o.storage(f.d2, 0, f.b2)
            }
            Format::SsB => {
                o.length(f.d1, f.l1, f.b1)?;
                o.length(f.d2, f.l2, f.b2)
            }
            Format::SsC => {
                o.length(f.d1, f.l1, f.b1)?;
                o.storage(f.d2, 0, f.b2)?;
                o.num(f.i2)
            }
            Format::SsD => {
                o.length_register(f.d1, f.r1, f.b1)?;
                o.storage(f.d2, 0, f.b2)?;
                o.gpr(f.r3)
            }
            Format::SsE => {
                o.gpr(f.r1)?;
                o.gpr(f.r3)?;
                o.storage(f.d2, 0, f.b2)?;
                o.storage(f.d4, 0, f.b4)
            }
            Format::SsF => {
                o.storage(f.d1, 0, f.b1)?;
                o.length(f.d2, f.l2, f.b2)
            }
            Format::Sse => {
                o.storage(f.d1, 0, f.b1)?;
                o.storage(f.d2, 0, f.b2)
            }
            Format::Ssf if matches!(op, Opcode::LPD | Opcode::LPDG) => {
                o.gpr(f.r3)?;
                o.storage(f.d1, 0, f.b1)?;
                o.storage(f.d2, 0, f.b2)
            }
            Format::Ssf => {
                o.storage(f.d1, 0, f.b1)?;
                o.storage(f.d2, 0, f.b2)?;
                o.gpr(f.r3)
            }
            Format::VriA => {
                o.vr(f.v1)?;
                o.unsigned(u64::from(f.i2))?;
                match op {
                    Opcode::VGBM => Ok(()),
                    _ => o.num(f.m3),
                }
            }
            Format::VriB => {
                o.vr(f.v1)?;
                o.num(f.i2)?;
                o.num(f.i3)?;
                o.num(f.m4)
            }
            Format::VriC => {
                o.vrs(&[f.v1, f.v3])?;
                o.num(f.i2)?;
                o.num(f.m4)
            }
            Format::VriD => {
                o.vrs(&[f.v1, f.v2, f.v3])?;
                o.num(f.i4)?;
                match op {
                    Opcode::VERIM => o.num(f.m5),
                    _ => o.optional_mask(f.m5),
                }
            }
            Format::VriE => {
                o.vrs(&[f.v1, f.v2])?;
                o.num(f.i2)?;
                o.num(f.m5)?;
                o.num(f.m4)
            }
            // Vector floating point: every M field is an operand.
            Format::VrrA if op.is_vector_float() => {
                o.vrs(&[f.v1, f.v2])?;
                o.num(f.m3)?;
                o.num(f.m4)?;
                match op {
                    Opcode::VFLL | Opcode::VFSQ | Opcode::WFC | Opcode::WFK => Ok(()),
                    _ => o.num(f.m5),
                }
            }
            Format::VrrC if op.is_vector_float() => {
                o.vrs(&[f.v1, f.v2, f.v3])?;
                o.num(f.m4)?;
                o.num(f.m5)?;
                match op {
                    Opcode::VFCE | Opcode::VFCH | Opcode::VFCHE | Opcode::VFMIN | Opcode::VFMAX => {
                        o.num(f.m6)
                    }
                    _ => Ok(()),
                }
            }
            Format::VrrE if op.is_vector_float() => {
                o.vrs(&[f.v1, f.v2, f.v3, f.v4])?;
                o.num(f.m5)?;
                o.num(f.m6)
            }
            Format::VrrA => {
                o.vrs(&[f.v1, f.v2])?;
                if !matches!(op, Opcode::VLR | Opcode::VTM) {
                    o.num(f.m3)?;
                }
                o.optional_mask(f.m4)?;
                o.optional_mask(f.m5)
            }
            Format::VrrB => {
                o.vrs(&[f.v1, f.v2, f.v3])?;
                o.num(f.m4)?;
                match op {
                    Opcode::VPKLS | Opcode::VPKS => o.num(f.m5),
                    _ => o.optional_mask(f.m5),
                }
            }
            Format::VrrC => {
                o.vrs(&[f.v1, f.v2, f.v3])?;
                if !bitwise_vector(op) {
                    o.num(f.m4)?;
                }
                o.optional_mask(f.m5)?;
                o.optional_mask(f.m6)
            }
            Format::VrrD => {
                o.vrs(&[f.v1, f.v2, f.v3, f.v4])?;
                o.num(f.m5)?;
                match op {
                    Opcode::VMSL => o.num(f.m6),
                    _ => o.optional_mask(f.m6),
                }
            }
            Format::VrrE => {
                o.vrs(&[f.v1, f.v2, f.v3, f.v4])?;
                o.optional_mask(f.m6)?;
                o.optional_mask(f.m5)
            }
            Format::VrrF => {
                o.vr(f.v1)?;
                o.gpr(f.r2)?;
                o.gpr(f.r3)
            }
            Format::VrsA => {
                o.vrs(&[f.v1, f.v3])?;
                o.storage(f.d2, 0, f.b2)?;
                match op {
                    Opcode::VLM | Opcode::VSTM => o.optional_mask(f.m4),
                    _ => o.num(f.m4),
                }
            }
            Format::VrsB => {
                o.vr(f.v1)?;
                o.gpr(f.r3)?;
                o.storage(f.d2, 0, f.b2)?;
                match op {
                    Opcode::VLL | Opcode::VSTL => Ok(()),
                    _ => o.num(f.m4),
                }
            }
            Format::VrsC => {
                o.gpr(f.r1)?;
                o.vr(f.v3)?;
                o.storage(f.d2, 0, f.b2)?;
                o.num(f.m4)
            }
            Format::Vrv => {
                o.vr(f.v1)?;
                o.vector_index(f.d2, f.v2, f.b2)?;
                o.num(f.m3)
            }
            Format::Vrx => {
                o.vr(f.v1)?;
                o.storage(f.d2, f.x2, f.b2)?;
                // The element index or size is an operand; VL's and VST's
                // alignment hint only when given.
                match op {
                    Opcode::VL | Opcode::VST => o.optional_mask(f.m3),
                    _ => o.num(f.m3),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::{String, ToString};

    use crate::decode::decode;

    fn dis(bytes: &[u8], at: u64) -> String {
        decode(bytes).unwrap().disasm(at).to_string()
    }

    #[test]
    fn rr_and_rre_name_general_registers() {
        assert_eq!(dis(&[0x18, 0x12], 0), "lr %r1,%r2");
        assert_eq!(dis(&[0xb9, 0x04, 0x00, 0x3f], 0), "lgr %r3,%r15");
    }

    #[test]
    fn bfp_operands_are_floating_point_registers() {
        assert_eq!(dis(&[0xb3, 0x1a, 0x00, 0x24], 0), "adbr %f2,%f4");
        assert_eq!(dis(&[0xb3, 0xc1, 0x00, 0x13], 0), "ldgr %f1,%r3");
        assert_eq!(dis(&[0x68, 0x01, 0x20, 0x10], 0), "ld %f0,16(%r1,%r2)");
    }

    /// The floating-point RR (20-3F) and RX (60-7F) opcodes name
    /// floating-point registers in R1 (and R2), MULTIPLY SINGLE (71) among
    /// them general ones; as `s390x-linux-gnu-objdump -d` shows them.
    #[test]
    fn floating_point_rr_and_rx_operands_are_floating_point_registers() {
        assert_eq!(dis(&[0x28, 0x12], 0), "ldr %f1,%f2");
        assert_eq!(dis(&[0x38, 0x12], 0), "ler %f1,%f2");
        assert_eq!(dis(&[0x68, 0x12, 0x34, 0x56], 0), "ld %f1,1110(%r2,%r3)");
        assert_eq!(dis(&[0x60, 0x12, 0x34, 0x56], 0), "std %f1,1110(%r2,%r3)");
        assert_eq!(dis(&[0x78, 0x12, 0x34, 0x56], 0), "le %f1,1110(%r2,%r3)");
        assert_eq!(dis(&[0x70, 0x12, 0x34, 0x56], 0), "ste %f1,1110(%r2,%r3)");
        assert_eq!(dis(&[0x71, 0x12, 0x34, 0x56], 0), "ms %r1,1110(%r2,%r3)");
        assert_eq!(
            dis(&[0xed, 0x12, 0x34, 0x56, 0x00, 0x65], 0),
            "ldy %f1,1110(%r2,%r3)"
        );
    }

    #[test]
    fn access_and_control_registers_are_named_as_such() {
        assert_eq!(dis(&[0xb2, 0x4f, 0x00, 0x12], 0), "ear %r1,%a2");
        assert_eq!(dis(&[0xb7, 0x0f, 0x10, 0x00], 0), "lctl %c0,%c15,0(%r1)");
        assert_eq!(dis(&[0x9a, 0x0f, 0x00, 0x20], 0), "lam %a0,%a15,32");
    }

    #[test]
    fn signed_immediates_are_decimal_logical_ones_hexadecimal() {
        assert_eq!(dis(&[0xa7, 0x1b, 0xff, 0xf9], 0), "aghi %r1,-7");
        assert_eq!(dis(&[0xa5, 0x17, 0xff, 0x00], 0), "nill %r1,0xff00");
        assert_eq!(dis(&[0x92, 0x41, 0x20, 0x00], 0), "mvi 0(%r2),0x41");
    }

    #[test]
    fn relative_operands_show_the_target_address() {
        // BRC 8,-2 halfwords at 0x2000 reaches 0x1ffc.
        assert_eq!(dis(&[0xa7, 0x84, 0xff, 0xfe], 0x2000), "brc 8,0x1ffc");
        assert_eq!(
            dis(&[0xec, 0x12, 0x00, 0x04, 0x80, 0x76], 0x100),
            "crj %r1,%r2,8,0x108"
        );
    }

    #[test]
    fn storage_operands_show_length_index_and_base() {
        // MVC 0(256,%r1),8(%r2): the L field holds 255.
        assert_eq!(
            dis(&[0xd2, 0xff, 0x10, 0x00, 0x20, 0x08], 0),
            "mvc 0(256,%r1),8(%r2)"
        );
        assert_eq!(dis(&[0x47, 0xf0, 0xe0, 0x00], 0), "bc 15,0(%r14)");
        // A negative 20-bit displacement.
        assert_eq!(
            dis(&[0xe3, 0x10, 0xff, 0xf8, 0xff, 0x04], 0),
            "lg %r1,-8(%r15)"
        );
        assert_eq!(dis(&[0x89, 0x10, 0x00, 0x04], 0), "sll %r1,4");
    }

    #[test]
    fn instructions_without_operands_show_none() {
        assert_eq!(dis(&[0xb2, 0x0d, 0x00, 0x00], 0), "ptlb");
        assert_eq!(dis(&[0x01, 0x0e], 0), "sam64");
        assert_eq!(dis(&[0xb2, 0x22, 0x00, 0x20], 0), "ipm %r2");
        assert_eq!(dis(&[0x0a, 0x05], 0), "svc 5");
        assert_eq!(dis(&[0xb2, 0xb2, 0x0f, 0x00], 0), "lpswe 3840");
    }

    #[test]
    fn vector_registers_take_the_rxb_bit() {
        // VLR %v17,%v2: V1 = 1 with RXB bit 0 set.
        assert_eq!(
            dis(&[0xe7, 0x12, 0x00, 0x00, 0x08, 0x56], 0),
            "vlr %v17,%v2"
        );
    }

    #[test]
    fn unknown_opcodes_say_so() {
        assert_eq!(dis(&[0x00, 0x00], 0), "(unknown opcode)");
    }
}
