//! Architected CPU state: registers, the PSW and the prefix.

use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::control::Cr0;
use zmmu_mmu::prefix::Prefix;

/// PSW mask bits (IBM bit numbers in the names; DAT checklist 1.1).
pub mod mask {
    /// Bit 1: PER mask.
    pub const PER: u64 = 1 << 62;
    /// Bit 5: DAT mode.
    pub const DAT: u64 = 1 << 58;
    /// Bit 6: I/O mask.
    pub const IO: u64 = 1 << 57;
    /// Bit 7: external mask.
    pub const EXT: u64 = 1 << 56;
    /// Bits 8-11: PSW key.
    pub const KEY: u64 = 0xf << 52;
    /// Bit 13: machine-check mask.
    pub const MCHECK: u64 = 1 << 50;
    /// Bit 14: wait state.
    pub const WAIT: u64 = 1 << 49;
    /// Bit 15: problem state.
    pub const PROBLEM: u64 = 1 << 48;
    /// Bits 16-17: address-space control.
    pub const ASC: u64 = 3 << 46;
    /// Bits 18-19: condition code.
    pub const CC: u64 = 3 << 44;
    /// Bits 20-23: program mask.
    pub const PROGRAM_MASK: u64 = 0xf << 40;
    /// Bit 20: fixed-point-overflow mask.
    pub const FIXED_OVERFLOW: u64 = 1 << 43;
    /// Bit 31: extended addressing.
    pub const EA: u64 = 1 << 32;
    /// Bit 32: basic addressing.
    pub const BA: u64 = 1 << 31;
    /// Bits 0-7, the system mask (what SSM, STNSM and STOSM change).
    pub const SYSTEM: u64 = 0xff << 56;
}

/// CR0 bit 45: the AFP-register control.
pub const CR0_AFP_REGISTER: u64 = 1 << (63 - 45);

/// CR0 bit 46: the vector-enablement control.
pub const CR0_VECTOR: u64 = 1 << (63 - 46);

/// The program-status word: the 64-bit mask and the 64-bit instruction
/// address, as stored by STPSW-style operations (the condition code lives in
/// the mask, bits 18-19). `repr(C)`: translated code reads and writes both
/// words at [`offset::PSW_MASK`] and [`offset::PSW_ADDR`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Psw {
    /// Bits 0-63.
    pub mask: u64,
    /// Bits 64-127: the instruction address.
    pub addr: u64,
}

impl Psw {
    /// The condition code.
    pub const fn cc(&self) -> u8 {
        ((self.mask >> offset::PSW_CC_SHIFT) & 3) as u8
    }

    /// Replace the condition code.
    pub fn set_cc(&mut self, cc: u8) {
        self.mask = (self.mask & !mask::CC) | (u64::from(cc & 3) << 44);
    }

    /// The program mask (bits 20-23).
    pub const fn program_mask(&self) -> u8 {
        ((self.mask >> 40) & 0xf) as u8
    }

    /// The addressing mode; EA=1 with BA=0 is invalid and reads as 24-bit
    /// here (loading such a PSW is a specification exception, checked where
    /// PSWs are loaded).
    pub const fn amode(&self) -> AddressingMode {
        match (self.mask & mask::EA != 0, self.mask & mask::BA != 0) {
            (true, true) => AddressingMode::Bits64,
            (false, true) => AddressingMode::Bits31,
            _ => AddressingMode::Bits24,
        }
    }

    /// Set the addressing mode bits.
    pub fn set_amode(&mut self, mode: AddressingMode) {
        let bits = match mode {
            AddressingMode::Bits24 => 0,
            AddressingMode::Bits31 => mask::BA,
            AddressingMode::Bits64 => mask::EA | mask::BA,
        };
        self.mask = (self.mask & !(mask::EA | mask::BA)) | bits;
    }

    /// The PSW key (bits 8-11).
    pub const fn key(&self) -> u8 {
        ((self.mask >> 52) & 0xf) as u8
    }

    /// DAT mode (bit 5).
    pub const fn dat(&self) -> bool {
        self.mask & mask::DAT != 0
    }

    /// Problem state (bit 15).
    pub const fn problem_state(&self) -> bool {
        self.mask & mask::PROBLEM != 0
    }

    /// Address-space control (bits 16-17): 0 primary, 1 AR, 2 secondary,
    /// 3 home.
    pub const fn asc(&self) -> u8 {
        ((self.mask >> 46) & 3) as u8
    }

    /// Can this PSW be executed? Bits that must be zero in the 64-bit
    /// mask: 0, 2-4, 24-30, 33-63; EA=1 requires BA=1; the instruction
    /// address must fit the addressing mode (PoP "Program-Status Word"; an
    /// invalid PSW is loaded all the same, and a specification exception is
    /// recognized as soon as it is current).
    pub const fn is_valid(&self) -> bool {
        const MUST_BE_ZERO: u64 = (1 << 63) | (7 << 59) | (0x7f << 33) | 0x7fff_ffff;
        let ea_without_ba = self.mask & mask::EA != 0 && self.mask & mask::BA == 0;
        self.mask & MUST_BE_ZERO == 0 && !ea_without_ba && self.addr & !self.amode().mask() == 0
    }

    /// The PSW as stored in storage: mask, then instruction address.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&self.mask.to_be_bytes());
        buf[8..].copy_from_slice(&self.addr.to_be_bytes());
        buf
    }

    /// The PSW stored as [`Psw::to_bytes`] stores it.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let (m, a) = bytes.split_at(8);
        Self {
            mask: u64::from_be_bytes(m.try_into().unwrap_or_default()),
            addr: u64::from_be_bytes(a.try_into().unwrap_or_default()),
        }
    }
}

/// The state of one CPU. `repr(C)`, so that translated code can load and
/// store registers, the PSW and the condition code in place, at the byte
/// offsets of [`offset`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Cpu {
    /// General registers 0-15.
    pub gpr: [u64; 16],
    /// Access registers 0-15.
    pub ar: [u32; 16],
    /// Control registers 0-15.
    pub cr: [u64; 16],
    /// Vector registers 0-31, 128 bits each as two `u64` words in host byte
    /// order: word 0 holds bits 0-63, word 1 bits 64-127 (PoP "Vector
    /// Registers"). Floating-point register `n` is bits 0-63 of vector
    /// register `n` (`vr[n][0]`; [`Cpu::fpr`], [`Cpu::set_fpr`]).
    pub vr: [[u64; 2]; 32],
    /// The current PSW.
    pub psw: Psw,
    /// The prefix register.
    pub prefix: Prefix,
    /// The CPU address (what STAP stores and SIGP addresses).
    pub cpu_addr: u16,
    /// The floating-point-control register.
    pub fpc: u32,
    /// The CPU model has the vector facility (129): STFLE reports it and
    /// vector instructions execute. Without it (QEMU's `-cpu max,vx=off`)
    /// they are operation exceptions. Not architected state: the model.
    pub vector_facility: bool,
    /// The CPU model has the miscellaneous-instruction-extensions facility
    /// 3 (61): STFLE reports it and its instructions execute. Without it
    /// (QEMU's `-cpu max,mie3=off`) they are operation exceptions and
    /// POPCNT ignores M3. Not architected state: the model.
    pub mie3_facility: bool,
    /// The CPU model has the vector-enhancements facility 1 (135) where
    /// it has the vector facility ([`Cpu::vxeh`]). Without it (QEMU's
    /// `-cpu max,vxeh=off`) STFLE reports neither 135 nor 148, the
    /// instructions of 135 are operation exceptions and its short and
    /// extended vector floating-point formats, VLLEZ M3 6 and VPOPCT M3
    /// 1-3 specification exceptions. Not architected state: the model.
    pub vxeh_facility: bool,
    /// The CPU model has the vector-enhancements facility 2 (148) where
    /// it has 135 ([`Cpu::vxeh2`]). Without it (`vxeh2=off`) STFLE does
    /// not report it, its instructions are operation exceptions and the
    /// 32-bit vector conversions (VCDG .. VCLGD with M3 2) specification
    /// exceptions. Not architected state: the model.
    pub vxeh2_facility: bool,
    /// The clock comparator (SCKC, STCKC): a clock-comparator external
    /// interruption is pending while the TOD clock exceeds it.
    pub clock_comparator: u64,
    /// The CPU timer, as the monotonic time (TOD units, see
    /// [`crate::clock::Timing::monotonic`]) at which it reaches zero: its
    /// value is `cpu_timer_zero - monotonic` (SPT, STPT), negative after it.
    pub cpu_timer_zero: u64,
    /// The TOD programmable register (SCKPF): bits 16-31 of the TOD
    /// programmable field STCKE stores.
    pub tod_programmable: u16,
}

/// Byte offsets of the architected state inside [`Cpu`], for generated code.
pub mod offset {
    use super::{Cpu, Psw};
    use core::mem::{offset_of, size_of};

    /// General register `r` (a `u64`, host byte order) is at `GPR + 8 * r`.
    pub const GPR: usize = offset_of!(Cpu, gpr);
    /// Access register `r` (a `u32`) is at `AR + 4 * r`.
    pub const AR: usize = offset_of!(Cpu, ar);
    /// Control register `r` (a `u64`) is at `CR + 8 * r`.
    pub const CR: usize = offset_of!(Cpu, cr);
    /// Vector register `v` is at `VR + 16 * v`: bits 0-63 as a `u64` in host
    /// byte order, then bits 64-127 as another.
    pub const VR: usize = offset_of!(Cpu, vr);
    /// Floating-point register `r` (a `u64`, the register's bits) is at
    /// `FPR + FPR_STRIDE * r`: bits 0-63 of vector register `r`.
    pub const FPR: usize = VR;
    /// The distance between two floating-point registers.
    pub const FPR_STRIDE: usize = 16;
    /// PSW bits 0-63 (a `u64`); the condition code is bits 18-19, that is
    /// `(mask >> PSW_CC_SHIFT) & 3`.
    pub const PSW_MASK: usize = offset_of!(Cpu, psw) + offset_of!(Psw, mask);
    /// The PSW instruction address (a `u64`).
    pub const PSW_ADDR: usize = offset_of!(Cpu, psw) + offset_of!(Psw, addr);
    /// The shift that brings the condition code to bits 0-1 of the mask.
    pub const PSW_CC_SHIFT: u32 = 44;
    /// The prefix register (a `u64`).
    pub const PREFIX: usize = offset_of!(Cpu, prefix);
    /// The size of [`Cpu`].
    pub const SIZE: usize = size_of::<Cpu>();

    const _: () = assert!(PSW_MASK % 8 == 0 && PSW_ADDR == PSW_MASK + 8 && GPR % 8 == 0);
    const _: () = assert!(VR % 8 == 0 && size_of::<[[u64; 2]; 32]>() == 32 * FPR_STRIDE);
}

impl Default for Cpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Cpu {
    /// A CPU after initial CPU reset: all registers zero except CR0 (0xE0) and
    /// CR14 (0xC2000000), PSW zero (PoP "Initial CPU Reset").
    pub const fn new() -> Self {
        let mut cr = [0u64; 16];
        cr[0] = 0xe0;
        cr[14] = 0xc200_0000;
        Self {
            gpr: [0; 16],
            ar: [0; 16],
            cr,
            vr: [[0; 2]; 32],
            psw: Psw { mask: 0, addr: 0 },
            prefix: Prefix::new(0),
            cpu_addr: 0,
            fpc: 0,
            vector_facility: true,
            mie3_facility: true,
            vxeh_facility: true,
            vxeh2_facility: true,
            clock_comparator: 0,
            cpu_timer_zero: 0,
            tod_programmable: 0,
        }
    }

    /// The CPU timer's value at monotonic time `now` (TOD units; negative,
    /// as a signed value, once it has passed zero).
    pub const fn cpu_timer(&self, now: u64) -> u64 {
        self.cpu_timer_zero.wrapping_sub(now)
    }

    /// Initial CPU reset (PoP ch. 4 "Resets"): the PSW, prefix, CPU timer,
    /// clock comparator and TOD programmable register are cleared and the
    /// control registers get their initial values; the general, access and
    /// floating-point/vector registers are unchanged.
    pub fn initial_cpu_reset(&mut self) {
        let fresh = Self::new();
        self.psw = fresh.psw;
        self.prefix = fresh.prefix;
        self.cr = fresh.cr;
        self.fpc = 0;
        self.clock_comparator = 0;
        self.cpu_timer_zero = 0;
        self.tod_programmable = 0;
    }

    /// A CPU in problem state, 64-bit addressing, DAT off, starting at
    /// `addr`, all 16 floating-point registers and the vector registers
    /// available: the state a Linux user program starts in, as seen by an
    /// interpreter that does not translate.
    pub const fn user(addr: u64) -> Self {
        let mut cpu = Self::new();
        cpu.cr[0] |= CR0_AFP_REGISTER | CR0_VECTOR;
        cpu.psw.mask = mask::PROBLEM | mask::EA | mask::BA;
        cpu.psw.addr = addr;
        cpu
    }

    /// Bits 32-63 of general register `r` (the register number is taken
    /// modulo 16).
    pub fn r32(&self, r: u8) -> u32 {
        self.gpr[usize::from(r & 15)] as u32
    }

    /// General register `r`, 64 bits.
    pub fn r64(&self, r: u8) -> u64 {
        self.gpr[usize::from(r & 15)]
    }

    /// Set bits 32-63 of register `r`, keeping bits 0-31.
    pub fn set_r32(&mut self, r: u8, v: u32) {
        let g = &mut self.gpr[usize::from(r & 15)];
        *g = (*g & 0xffff_ffff_0000_0000) | u64::from(v);
    }

    /// Set register `r` (64 bits).
    pub fn set_r64(&mut self, r: u8, v: u64) {
        self.gpr[usize::from(r & 15)] = v;
    }

    /// Bits 0-31 of register `r` (the high word).
    pub fn rh(&self, r: u8) -> u32 {
        (self.gpr[usize::from(r & 15)] >> 32) as u32
    }

    /// The model has the vector-enhancements facility 1 (135): the
    /// vector facility and [`Cpu::vxeh_facility`].
    pub const fn vxeh(&self) -> bool {
        self.vector_facility && self.vxeh_facility
    }

    /// The model has the vector-enhancements facility 2 (148): 135 and
    /// [`Cpu::vxeh2_facility`].
    pub const fn vxeh2(&self) -> bool {
        self.vxeh() && self.vxeh2_facility
    }

    /// Floating-point register `r` may be used: with the AFP-register
    /// control (CR0 bit 45) zero only FPRs 0, 2, 4 and 6 can be (PoP
    /// "Floating-Point Registers"; the others are a data exception with
    /// DXC 1).
    pub const fn fpr_available(&self, r: u8) -> bool {
        self.cr[0] & CR0_AFP_REGISTER != 0 || matches!(r & 15, 0 | 2 | 4 | 6)
    }

    /// Floating-point register `r` (modulo 16): bits 0-63 of vector
    /// register `r`.
    pub const fn fpr(&self, r: u8) -> u64 {
        self.vr[(r & 15) as usize][0]
    }

    /// Set floating-point register `r` (modulo 16), leaving bits 64-127 of
    /// the vector register unchanged.
    pub fn set_fpr(&mut self, r: u8, v: u64) {
        self.vr[usize::from(r & 15)][0] = v;
    }

    /// Vector register `v` (modulo 32) as one 128-bit value, bit 0 of the
    /// register the most significant.
    pub const fn v128(&self, v: u8) -> u128 {
        let [hi, lo] = self.vr[(v & 31) as usize];
        ((hi as u128) << 64) | lo as u128
    }

    /// Set vector register `v` (modulo 32) from a 128-bit value.
    pub fn set_v128(&mut self, v: u8, x: u128) {
        self.vr[usize::from(v & 31)] = [(x >> 64) as u64, x as u64];
    }

    /// The vector-enablement control (CR0 bit 46): vector instructions may
    /// be executed (otherwise a data exception with DXC FE hex).
    pub const fn vector_enabled(&self) -> bool {
        self.cr[0] & CR0_VECTOR != 0
    }

    /// Secondary-space control, CR0 bit 37: SAC, SACF, MVCP and MVCS are
    /// allowed.
    pub const fn secondary_space_control(&self) -> bool {
        self.cr[0] & Cr0::SECONDARY_SPACE.bits() != 0
    }

    /// In the problem state, may the program use access key `key`? Only
    /// if the PSW-key mask (CR3 bits 32-47) has the key's bit (SPKA, MVCP,
    /// MVCS); the supervisor state may use any key.
    pub const fn key_authorized(&self, key: u8) -> bool {
        !self.psw.problem_state() || self.cr[3] & ((0x8000 >> (key & 0xF)) << 16) != 0
    }

    /// Set bits 0-31 of register `r`.
    pub fn set_rh(&mut self, r: u8, v: u32) {
        let g = &mut self.gpr[usize::from(r & 15)];
        *g = (*g & 0xffff_ffff) | (u64::from(v) << 32);
    }
}
