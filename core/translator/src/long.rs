//! MOVE LONG EXTENDED (MVCLE) that only pads, within one page: Linux's
//! page clears (docs/CHOICES.md 45b).
//!
//! The interpreter moves up to `zmmu_cpu::exec::storage::CPU_DETERMINED`
//! bytes (4096) per execution, in runs that stay within one page (one
//! 512-byte unit in the two low pages, for low-address protection); a
//! padding-only MVCLE whose first operand lies within one page outside
//! the two low pages is therefore one run that completes the instruction:
//! every byte of the first operand set to the pad, R1 advanced by the
//! length, R1 + 1 zero, cc 2 (the first operand was longer). The
//! translation does exactly that, under the software TLB in the 64-bit
//! mode, after one probe of the whole page for a store (a frame holding
//! translated code misses, and the fill lets the store through only when
//! no block's code lies in the page); anything else, including every
//! exception, is the slow path (the interpreter, with nothing changed
//! yet).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, Current, Gen};
use crate::memory::MemoryAccess;

impl Gen {
    /// MVCLE as the module says; `false` for other instructions and for
    /// forms always left to the interpreter (an odd register, the
    /// specification exception; the same pair for both operands; the 24-
    /// and 31-bit modes, where the registers' high halves are kept; a
    /// memory access other than the software TLB).
    pub(crate) fn long(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let f = here.insn.f;
        let translated = here.insn.op == Opcode::MVCLE
            && matches!(self.env.memory, MemoryAccess::SoftTlb { .. })
            && self.env.amode == AddressingMode::Bits64
            && f.r1 & 1 == 0
            && f.r3 & 1 == 0
            && f.r1 != f.r3;
        if !translated {
            return Ok(false);
        }
        here.used_slow = true;
        let slow = here.slow;
        let a = &mut self.a;
        // The second operand is empty: only padding.
        a.cmp(gpr(f.r3 | 1), 0)?;
        a.jne(slow)?;
        // The first operand: nonempty, above the two low pages and within
        // the page of its first byte.
        a.mov(rax, gpr(f.r1))?;
        a.cmp(rax, 0x2000)?;
        a.jb(slow)?;
        a.mov(rdx, gpr(f.r1 | 1))?;
        a.test(rdx, rdx)?;
        a.jz(slow)?;
        a.mov(ecx, eax)?;
        a.and(ecx, 0xfff)?;
        a.neg(ecx)?;
        a.add(ecx, 0x1000)?;
        a.cmp(rdx, rcx)?;
        a.ja(slow)?;
        a.and(rax, -0x1000)?;
        self.access(here, AccessKind::Write, 0x1000)?;
        let a = &mut self.a;
        a.mov(rdi, gpr(f.r1))?;
        a.and(edi, 0xfff)?;
        a.add(rdi, rax)?;
        a.add(rdi, r13)?;
        // The pad: bits 56-63 of the second-operand address.
        self.ea(0, f.b2, f.d2)?;
        let a = &mut self.a;
        a.mov(rcx, gpr(f.r1 | 1))?;
        a.rep().stosb()?;
        a.mov(rax, gpr(f.r1 | 1))?;
        a.add(gpr(f.r1), rax)?;
        a.mov(gpr(f.r1 | 1), 0)?;
        a.mov(ecx, 0x20)?;
        self.store_cc()?;
        Ok(true)
    }
}
