//! Floating-point and vector register moves that need no IEEE arithmetic:
//! LOAD ZERO (LZDR), LOAD COMPLEMENT and LOAD AND TEST (long BFP: LCDBR,
//! LTDBR), EXTRACT FPC (EFPC), VECTOR LOAD GR FROM VR ELEMENT (VLGV),
//! VECTOR LOAD VR ELEMENT FROM GR (VLVG), VECTOR REPLICATE (VREP) and LOAD
//! COUNT TO BLOCK BOUNDARY (LCBB). Also the long BFP instructions whose
//! result is exact and raises no IEEE exception whatever the FPC says:
//! COMPARE and COMPARE AND SIGNAL (CDBR, KDBR) of two ordered operands
//! (a NaN, quiet or signaling, goes to the slow path) and CONVERT FROM
//! FIXED of a 32-bit integer (CDFBR) or of a 64-bit one of magnitude at
//! most 2^53 (CDGBR; a larger one may round, and goes to the slow path),
//! and CONVERT FROM LOGICAL of a 32-bit unsigned integer (CDLFBR, with a
//! valid M3): every such integer is a long BFP number, which x86
//! `cvtsi2sd` gives. TEST DATA CLASS (TCDB: docs/CHOICES.md 51e) reads
//! only the class and sign of R1 and the mask in its address.
//!
//! Each checks what the interpreter checks before it acts and leaves every
//! exception to it (the slow path): the vector facility installed (else
//! the operation exception) and, for the vector instructions, the
//! vector-enablement control (CR0 bit 46, else a data exception with DXC
//! FE); for the BFP instructions the AFP-register control (CR0 bit 45,
//! else the BFP-instruction data exception); for LZDR the register's
//! availability. A field the interpreter rejects (an element size or index
//! out of range: a specification exception) is not translated. LTDBR of a
//! NaN (a signaling one raises the invalid-operation exception, whose
//! masks and flags are the FPC's) goes to the slow path too.
//!
//! A vector register is two `u64`s in host byte order, bits 0-63 first
//! (`zmmu_cpu::state::offset::VR`): element `i` of `w` bytes, counted from
//! the left, starts at byte `(t & 8) + 8 - w - (t & 7)` of it, `t = i * w`.

use core::mem::offset_of;

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{offset, Cpu};

use crate::emit::{gpr, gpr32, Current, Gen};

/// CR0 bit 45, the AFP-register control (also the BFP instructions'
/// enablement).
const CR0_AFP: u32 = 45;
/// CR0 bit 46, the vector-enablement control.
const CR0_VECTOR: u32 = 46;

/// The offset from rbx of vector register `v` (0-31).
fn vr(v: u8) -> i32 {
    (offset::VR + 16 * usize::from(v & 31)) as i32
}

/// The multiplier that replicates an element of size code `size` over 64
/// bits.
fn replicator(size: u8) -> u64 {
    match size {
        0 => 0x0101_0101_0101_0101,
        1 => 0x0001_0001_0001_0001,
        2 => 0x0000_0001_0000_0001,
        _ => 1,
    }
}

impl Gen {
    /// Emits `here` if it is one of this module's moves; says whether it
    /// did.
    pub(crate) fn moves(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        use Opcode::*;
        let f = here.insn.f;
        match here.insn.op {
            LZDR => {
                let to = self.fpr_offset(here, f.r1)?;
                self.a.mov(qword_ptr(rbx + to), 0)?;
            }
            EFPC => {
                self.a
                    .mov(eax, dword_ptr(rbx + offset_of!(Cpu, fpc) as i32))?;
                self.a.mov(gpr32(f.r1), eax)?;
            }
            LCDBR | LTDBR => self.sign_and_test(here)?,
            CDBR | KDBR => {
                // cc 0 equal, 1 R1 low, 2 high (PoP COMPARE).
                self.control_or_slow(here, CR0_AFP)?;
                let (r1, r2) = (self.fpr_offset_any(f.r1), self.fpr_offset_any(f.r2));
                let mut done = self.a.create_label();
                let a = &mut self.a;
                a.movq(xmm0, qword_ptr(rbx + r1))?;
                a.movq(xmm1, qword_ptr(rbx + r2))?;
                a.xor(ecx, ecx)?;
                a.ucomisd(xmm0, xmm1)?;
                a.jp(here.slow)?;
                a.je(done)?;
                a.mov(ecx, 0x10)?;
                a.jb(done)?;
                a.mov(ecx, 0x20)?;
                a.set_label(&mut done)?;
                a.nop()?;
                self.store_cc()?;
            }
            // M3 2, 3 and 8-15 of CDLFBR are a specification exception
            // (not translated); any other M3 rounds, but nothing rounds.
            CDFBR | CDGBR | CDLFBR if here.insn.op != CDLFBR || matches!(f.m3, 0 | 1 | 4..=7) => {
                self.control_or_slow(here, CR0_AFP)?;
                let r1 = self.fpr_offset_any(f.r1);
                let a = &mut self.a;
                if here.insn.op == CDFBR {
                    a.cvtsi2sd(xmm0, gpr32(f.r2))?;
                } else if here.insn.op == CDLFBR {
                    // The 32-bit unsigned integer, zero-extended: a
                    // nonnegative 64-bit one below 2^32.
                    a.mov(eax, gpr32(f.r2))?;
                    a.cvtsi2sd(xmm0, rax)?;
                } else {
                    // |R2| <= 2^53: R2 + 2^53 in 0..=2^54.
                    a.mov(rax, gpr(f.r2))?;
                    a.mov(rcx, 1u64 << 53)?;
                    a.add(rcx, rax)?;
                    a.mov(rdx, 1u64 << 54)?;
                    a.cmp(rcx, rdx)?;
                    a.ja(here.slow)?;
                    a.cvtsi2sd(xmm0, rax)?;
                }
                a.movq(qword_ptr(rbx + r1), xmm0)?;
            }
            TCDB => {
                // cc 1 when the mask (bits 52-63 of the second-operand
                // address) has the bit of R1's class and sign, at position
                // 2 * class + sign from bit 52: the classes zero, normal,
                // subnormal, infinity, quiet NaN, signaling NaN (PoP TEST
                // DATA CLASS).
                self.control_or_slow(here, CR0_AFP)?;
                let r1 = self.fpr_offset_any(f.r1);
                self.ea(f.x2, f.b2, f.d2)?;
                let (mut done, mut subnormal, mut special) = (
                    self.a.create_label(),
                    self.a.create_label(),
                    self.a.create_label(),
                );
                let a = &mut self.a;
                a.mov(rdx, qword_ptr(rbx + r1))?;
                a.mov(rsi, rdx)?;
                a.shr(rsi, 63)?;
                // ecx = twice the class.
                a.xor(ecx, ecx)?;
                a.add(rdx, rdx)?;
                a.jz(done)?;
                a.mov(rcx, rdx)?;
                a.shr(rcx, 53)?;
                a.jz(subnormal)?;
                a.cmp(ecx, 0x7ff)?;
                a.je(special)?;
                a.mov(ecx, 2)?;
                a.jmp(done)?;
                a.set_label(&mut subnormal)?;
                a.mov(ecx, 4)?;
                a.jmp(done)?;
                // Infinity (no fraction), else a NaN, quiet when the
                // fraction's first bit is one.
                a.set_label(&mut special)?;
                a.mov(ecx, 6)?;
                a.shl(rdx, 11)?;
                a.jz(done)?;
                a.mov(ecx, 8)?;
                a.js(done)?;
                a.mov(ecx, 10)?;
                a.set_label(&mut done)?;
                a.add(ecx, esi)?;
                a.mov(edx, 0x800)?;
                a.shr(edx, cl)?;
                a.xor(ecx, ecx)?;
                a.test(eax, edx)?;
                a.setnz(cl)?;
                a.shl(ecx, 4)?;
                self.store_cc()?;
            }
            VLGV | VLVG if f.m4 <= 3 => {
                self.vector_enabled(here)?;
                self.element(f.m4, f.b2, f.d2)?;
                let w = 1u8 << f.m4;
                let a = &mut self.a;
                if here.insn.op == VLGV {
                    let at = rbx + rax + (vr(f.v3) + 8 - i32::from(w));
                    match w {
                        1 => a.movzx(esi, byte_ptr(at))?,
                        2 => a.movzx(esi, word_ptr(at))?,
                        4 => a.mov(esi, dword_ptr(at))?,
                        _ => a.mov(rsi, qword_ptr(at))?,
                    }
                    a.mov(gpr(f.r1), rsi)?;
                } else {
                    let at = rbx + rax + (vr(f.v1) + 8 - i32::from(w));
                    a.mov(rcx, gpr(f.r3))?;
                    match w {
                        1 => a.mov(byte_ptr(at), cl)?,
                        2 => a.mov(word_ptr(at), cx)?,
                        4 => a.mov(dword_ptr(at), ecx)?,
                        _ => a.mov(qword_ptr(at), rcx)?,
                    }
                }
            }
            VREP if f.m4 <= 3 && f.i2 < 16 >> f.m4 => {
                self.vector_enabled(here)?;
                let (size, w) = (f.m4, 1i32 << f.m4);
                let t = f.i2 as i32 * w;
                let at = rbx + (vr(f.v3) + (t & 8) + 8 - w - (t & 7));
                let a = &mut self.a;
                match w {
                    1 => a.movzx(eax, byte_ptr(at))?,
                    2 => a.movzx(eax, word_ptr(at))?,
                    4 => a.mov(eax, dword_ptr(at))?,
                    _ => a.mov(rax, qword_ptr(at))?,
                }
                if size < 3 {
                    a.mov(rcx, replicator(size))?;
                    a.imul_2(rax, rcx)?;
                }
                a.mov(qword_ptr(rbx + vr(f.v1)), rax)?;
                a.mov(qword_ptr(rbx + vr(f.v1) + 8), rax)?;
            }
            LCBB if f.m3 <= 6 => {
                // R1 bits 32-63 = the bytes to the next 64 << M3 boundary,
                // at most 16; cc 0 for 16, else 3.
                self.vector_installed(here)?;
                self.ea(f.x2, f.b2, f.d2)?;
                let block = 64i32 << f.m3;
                let a = &mut self.a;
                a.and(eax, block - 1)?;
                a.mov(ecx, block)?;
                a.sub(ecx, eax)?;
                a.mov(eax, 16)?;
                a.cmp(ecx, eax)?;
                a.cmova(ecx, eax)?;
                a.mov(gpr32(f.r1), ecx)?;
                a.mov(edx, 0x30)?;
                a.xor(eax, eax)?;
                a.cmp(ecx, 16)?;
                a.cmove(edx, eax)?;
                a.mov(ecx, edx)?;
                self.store_cc()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// LCDBR: R1 = R2 with the sign inverted, NaNs included, no IEEE
    /// exception; LTDBR: R1 = R2 (a NaN to the slow path); cc 0 zero, 1
    /// negative, 2 positive, 3 NaN (PoP LOAD COMPLEMENT, LOAD AND TEST).
    fn sign_and_test(&mut self, here: &mut Current) -> Result<(), IcedError> {
        let f = here.insn.f;
        let test = here.insn.op == Opcode::LTDBR;
        self.control_or_slow(here, CR0_AFP)?;
        let (from, to) = (self.fpr_offset_any(f.r2), self.fpr_offset_any(f.r1));
        let slow = here.slow;
        let mut done = self.a.create_label();
        let mut nan = self.a.create_label();
        let a = &mut self.a;
        a.mov(rax, qword_ptr(rbx + from))?;
        if !test {
            a.btc(rax, 63)?;
            a.mov(qword_ptr(rbx + to), rax)?;
        }
        // The magnitude above the infinity's: a NaN.
        a.lea(rdx, qword_ptr(rax + rax))?;
        a.mov(rsi, 0xffe0_0000_0000_0000u64)?;
        a.cmp(rdx, rsi)?;
        if test {
            a.ja(slow)?;
            a.mov(qword_ptr(rbx + to), rax)?;
        } else {
            a.ja(nan)?;
        }
        self.sign_cc(done)?;
        let a = &mut self.a;
        a.jmp(done)?;
        a.set_label(&mut nan)?;
        a.mov(ecx, 0x30)?;
        a.set_label(&mut done)?;
        a.nop()?;
        self.store_cc()
    }

    /// The offset from rbx of floating-point register `r`, any of the 16
    /// (the AFP-register control checked already).
    pub(crate) fn fpr_offset_any(&self, r: u8) -> i32 {
        (offset::FPR + offset::FPR_STRIDE * usize::from(r & 15)) as i32
    }

    /// To the slow path unless CR0 bit `bit` is one.
    fn control_or_slow(&mut self, here: &mut Current, bit: u32) -> Result<(), IcedError> {
        here.used_slow = true;
        let bit = 63 - bit as usize;
        let at = (offset::CR + bit / 8) as i32;
        self.a.test(byte_ptr(rbx + at), 1 << (bit % 8))?;
        self.a.jz(here.slow)
    }

    /// To the slow path unless the vector facility is installed.
    fn vector_installed(&mut self, here: &mut Current) -> Result<(), IcedError> {
        here.used_slow = true;
        let at = offset_of!(Cpu, vector_facility) as i32;
        self.a.cmp(byte_ptr(rbx + at), 0)?;
        self.a.je(here.slow)
    }

    /// To the slow path unless vector instructions can run: the facility
    /// installed and the vector-enablement control one.
    pub(crate) fn vector_enabled(&mut self, here: &mut Current) -> Result<(), IcedError> {
        self.vector_installed(here)?;
        self.control_or_slow(here, CR0_VECTOR)
    }

    /// rax = the byte offset, less `8 - w`, of element `(B2 + D2) mod
    /// count` of size `size` in a vector register (the element index of
    /// VLGV and VLVG: bits of the second-operand address).
    fn element(&mut self, size: u8, b2: u8, d2: i32) -> Result<(), IcedError> {
        self.ea(0, b2, d2)?;
        let a = &mut self.a;
        a.and(eax, (16 >> size) - 1)?;
        if size > 0 {
            a.shl(eax, u32::from(size))?;
        }
        a.mov(ecx, eax)?;
        a.and(ecx, 7)?;
        a.and(eax, 8)?;
        a.sub(rax, rcx)?;
        Ok(())
    }
}
