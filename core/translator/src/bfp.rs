//! BFP long arithmetic where the host's IEEE result is the architecture's
//! (docs/CHOICES.md 45c): ADD, SUBTRACT, MULTIPLY and DIVIDE (long BFP),
//! the register forms ADBR, SDBR, MDBR, DDBR and the storage forms ADB,
//! SDB, MDB, DDB; MULTIPLY AND ADD and MULTIPLY AND SUBTRACT (MADBR,
//! MSDBR: docs/CHOICES.md 51d) where the host has x86's fused
//! multiply-add, whose single rounding is the architecture's (without it
//! they stay the interpreter's).
//!
//! SSE2 rounds as IEEE 754 does; what the architecture adds is the FPC's
//! rounding mode, its masks and flags, the DXC of a trap, the scaled
//! results of trapped overflow and underflow, tininess after rounding and
//! the PoP's NaN rules. The translation runs the operation only where
//! none of that can differ and the interpreter (the slow path, with nothing
//! changed) does everything else:
//! - the AFP-register control must be one (else the data exception, DXC
//!   2) and the FPC's rounding mode round to nearest (mode 0);
//! - the operation runs under MXCSR 0x1f80 (round to nearest, every x86
//!   exception masked, no flush to zero nor denormals as zero, flags
//!   clear);
//! - the result must be a normal number with a biased exponent of at least
//!   2 (so neither tiny before nor after rounding: no underflow), below
//!   the infinity's (no overflow, no NaN: any invalid operation or
//!   division by zero of finite operands gives one), or a zero of an exact
//!   operation (an inexact zero is an underflow);
//! - an inexact result (the x86 precision flag) sets the FPC's inexact
//!   flag when the inexact mask is zero; with the mask one it traps (the
//!   slow path).
//!
//! CONVERT TO FIXED (CGDBR, CFDBR; docs/CHOICES.md 51b) is x86
//! `cvtsd2si` under the rounding of M3 (4-7, or the FPC's for M3 0) with
//! every x86 exception masked: its invalid operation (a NaN, a rounded
//! value out of the target's range) is the slow path, its precision flag
//! the FPC's inexact flag as above; M3 1 (ties away from zero, which x86
//! has not) and the M3 values that are a specification exception are not
//! translated. MXCSR is back at its default before the code goes on.
//!
//! ADD and SUBTRACT set cc 0 for a zero result, 1 for a negative one, 2
//! for a positive one; CONVERT TO FIXED by the source the same way. Under
//! the software TLB and the host MMU alike (the kvm engine's slow path
//! leaves the VM once, then its image completes it there:
//! docs/CHOICES.md 70d); MULTIPLY AND ADD/SUBTRACT only where the host's
//! FMA is known (the software TLB's environment).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::Ext;
use zmmu_cpu::state::Cpu;
use zmmu_mmu::kind::AccessKind;

use crate::abi;
use crate::bfp::Arith::*;
use crate::emit::{gpr, gpr32, Current, Gen};
use crate::memory::MemoryAccess;

/// MXCSR with every exception masked, round to nearest, no flags.
const MXCSR_DEFAULT: i32 = 0x1f80;
/// The MXCSR precision (inexact) flag.
const MXCSR_PRECISION: i32 = 0x20;
/// The FPC's inexact bit in its mask byte (bits 0-7, the u32's byte 3 in
/// host order) and flag byte (bits 8-15, byte 2).
const FPC_INEXACT: i32 = zmmu_cpu::exec::bfp::ieee::INEXACT as i32;

/// The MXCSR invalid-operation flag.
const MXCSR_INVALID: i32 = 0x01;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    /// R3 times operand 2, plus R1 (MULTIPLY AND ADD), rounded once.
    MulAdd,
    /// R3 times operand 2, less R1 (MULTIPLY AND SUBTRACT), rounded once.
    MulSub,
}

impl Gen {
    /// The long BFP arithmetic and conversions of the module; `false` for
    /// other instructions and where storage operands go to the helper.
    pub(crate) fn bfp(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        use Opcode::*;
        // The host's FMA is known to the software TLB's environment; the
        // kvm engine's VM gets the multiply-and-adds from its image.
        let fma = match self.env.memory {
            MemoryAccess::SoftTlb { fma, .. } => fma,
            MemoryAccess::HostMmu => false,
            MemoryAccess::Helper => return Ok(false),
        };
        let (op, storage) = match here.insn.op {
            ADBR => (Add, false),
            SDBR => (Sub, false),
            MDBR => (Mul, false),
            DDBR => (Div, false),
            ADB => (Add, true),
            SDB => (Sub, true),
            MDB => (Mul, true),
            DDB => (Div, true),
            MADBR if fma => (MulAdd, false),
            MSDBR if fma => (MulSub, false),
            CGDBR | CFDBR => return self.convert_to_fixed(here),
            _ => return Ok(false),
        };
        let f = here.insn.f;
        let fpc = core::mem::offset_of!(Cpu, fpc) as i32;
        self.afp_or_slow(here)?;
        let (r1, slow) = (self.fpr_offset_any(f.r1), here.slow);
        self.a.test(byte_ptr(rbx + fpc), 3)?;
        self.a.jnz(slow)?;
        if storage {
            self.ea(f.x2, f.b2, f.d2)?;
            self.access(here, AccessKind::Read, 8)?;
            self.load(8, Ext::F)?;
            self.a.movq(xmm1, rsi)?;
        } else {
            self.a
                .movq(xmm1, qword_ptr(rbx + self.fpr_offset_any(f.r2)))?;
        }
        if matches!(op, MulAdd | MulSub) {
            let r3 = self.fpr_offset_any(f.r3);
            self.a.movq(xmm2, qword_ptr(rbx + r3))?;
        }
        let frame = dword_ptr(rsp + abi::FRAME_FILL);
        let a = &mut self.a;
        a.movq(xmm0, qword_ptr(rbx + r1))?;
        a.mov(frame, MXCSR_DEFAULT)?;
        a.ldmxcsr(frame)?;
        match op {
            Add => a.addsd(xmm0, xmm1)?,
            Sub => a.subsd(xmm0, xmm1)?,
            Mul => a.mulsd(xmm0, xmm1)?,
            Div => a.divsd(xmm0, xmm1)?,
            MulAdd => a.vfmadd231sd(xmm0, xmm2, xmm1)?,
            MulSub => a.vfmsub231sd(xmm0, xmm2, xmm1)?,
        }
        a.stmxcsr(frame)?;
        a.movq(rax, xmm0)?;
        // rdx = the result without its sign; zero only when exact.
        let mut zero = a.create_label();
        let mut checked = a.create_label();
        let mut exact = a.create_label();
        a.lea(rdx, qword_ptr(rax + rax))?;
        a.test(rdx, rdx)?;
        a.jz(zero)?;
        // The biased exponent in 2..=0x7fe.
        a.mov(rcx, rdx)?;
        a.shr(rcx, 53)?;
        a.sub(ecx, 2)?;
        a.cmp(ecx, 0x7fe - 2)?;
        a.ja(slow)?;
        a.jmp(checked)?;
        a.set_label(&mut zero)?;
        a.test(frame, MXCSR_PRECISION)?;
        a.jnz(slow)?;
        a.set_label(&mut checked)?;
        a.test(frame, MXCSR_PRECISION)?;
        a.jz(exact)?;
        flag_inexact(a, slow)?;
        a.set_label(&mut exact)?;
        a.mov(qword_ptr(rbx + r1), rax)?;
        if matches!(op, Add | Sub) {
            self.sign_cc_stored()?;
        }
        Ok(true)
    }

    /// CONVERT TO FIXED from long BFP (CGDBR to 64 bits, CFDBR to bits
    /// 32-63 of R1) as the module says; `false` (the interpreter's) for M3
    /// 1, round to nearest with ties away from zero, which x86 has not,
    /// and for the M3 values that are a specification exception.
    fn convert_to_fixed(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let f = here.insn.f;
        // The MXCSR rounding control (0 nearest even, 1 down, 2 up, 3
        // toward zero) of M3 4-7; `None`: the FPC's (M3 0).
        let rounding = match f.m3 {
            0 => None,
            4 => Some(0),
            5 => Some(3),
            6 => Some(2),
            7 => Some(1),
            _ => return Ok(false),
        };
        let wide = here.insn.op == Opcode::CGDBR;
        let fpc = core::mem::offset_of!(Cpu, fpc) as i32;
        self.afp_or_slow(here)?;
        let (slow, source) = (here.slow, self.fpr_offset_any(f.r2));
        let frame = dword_ptr(rsp + abi::FRAME_FILL);
        let a = &mut self.a;
        match rounding {
            Some(rc) => a.mov(frame, MXCSR_DEFAULT | rc << 13)?,
            None => {
                // The FPC's mode r (its two low bits, as the interpreter
                // reads them: 0 nearest even, 1 toward zero, 2 up, 3
                // down) is x86's (4 - r) & 3.
                a.mov(eax, dword_ptr(rbx + fpc))?;
                a.neg(eax)?;
                a.and(eax, 3)?;
                a.shl(eax, 13)?;
                a.or(eax, MXCSR_DEFAULT)?;
                a.mov(frame, eax)?;
            }
        }
        a.ldmxcsr(frame)?;
        a.movq(xmm0, qword_ptr(rbx + source))?;
        if wide {
            a.cvtsd2si(rsi, xmm0)?;
        } else {
            a.cvtsd2si(esi, xmm0)?;
        }
        // The host's own code runs under the default MXCSR.
        a.stmxcsr(frame)?;
        a.mov(ecx, frame)?;
        a.mov(frame, MXCSR_DEFAULT)?;
        a.ldmxcsr(frame)?;
        // A NaN, or a rounded value out of the target's range: x86's
        // invalid operation; the interpreter's cc 3 or trap.
        a.test(ecx, MXCSR_INVALID)?;
        a.jnz(slow)?;
        let mut exact = a.create_label();
        a.test(ecx, MXCSR_PRECISION)?;
        a.jz(exact)?;
        flag_inexact(a, slow)?;
        a.set_label(&mut exact)?;
        if wide {
            a.mov(gpr(f.r1), rsi)?;
        } else {
            a.mov(gpr32(f.r1), esi)?;
        }
        // cc 0 zero, 1 negative, 2 positive: the source's.
        a.mov(rax, qword_ptr(rbx + source))?;
        a.lea(rdx, qword_ptr(rax + rax))?;
        self.sign_cc_stored()?;
        Ok(true)
    }

    /// The condition code of the long BFP number in rax (not a NaN; its
    /// bits without the sign doubled in rdx) stored as `sign_cc` computes
    /// it: 0 zero, 1 negative, 2 positive (PoP ADD, CONVERT TO FIXED).
    fn sign_cc_stored(&mut self) -> Result<(), IcedError> {
        let mut done = self.a.create_label();
        self.sign_cc(done)?;
        self.a.set_label(&mut done)?;
        self.a.nop()?;
        self.store_cc()
    }

    /// ecx = the condition code (shifted left 4) of the long BFP number in
    /// rax, not a NaN, whose bits without the sign are in rdx (doubled): 0
    /// zero, 1 negative, 2 positive (PoP ADD, LOAD AND TEST); jumps to
    /// `done` but for a negative number, where it falls through.
    pub(crate) fn sign_cc(&mut self, done: CodeLabel) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.xor(ecx, ecx)?;
        a.test(rdx, rdx)?;
        a.jz(done)?;
        a.mov(ecx, 0x20)?;
        a.test(rax, rax)?;
        a.jns(done)?;
        a.mov(ecx, 0x10)?;
        Ok(())
    }
}

/// An inexact result (PoP "IEEE Exceptions", inexact): with the FPC's
/// inexact mask on, the interruption is the interpreter's (`slow`, with
/// nothing changed); otherwise the FPC's inexact flag is set.
fn flag_inexact(a: &mut CodeAssembler, slow: CodeLabel) -> Result<(), IcedError> {
    let fpc = core::mem::offset_of!(Cpu, fpc) as i32;
    a.test(byte_ptr(rbx + fpc + 3), FPC_INEXACT)?;
    a.jnz(slow)?;
    a.or(byte_ptr(rbx + fpc + 2), FPC_INEXACT)
}
