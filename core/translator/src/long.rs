//! MOVE LONG EXTENDED (MVCLE) whose execution is one run within one page
//! of each operand: Linux's page clears (docs/CHOICES.md 45b) and the
//! page-at-a-time copies and clears of a long MVCLE (54b).
//!
//! The interpreter moves up to `zmmu_cpu::exec::storage::CPU_DETERMINED`
//! bytes (4096) per execution, in runs that stay within one protection
//! unit (a page, or one 512-byte unit in the two low pages, for
//! low-address protection) of each operand and that end before a byte they
//! would read after storing it: `n = min(R1 + 1, 4096)` bytes when that
//! is one run. Such an execution moves the first `n` bytes of the second
//! operand (when R3 + 1 is nonzero; the run then needs `n <= R3 + 1`, `n`
//! within the second operand's page, and the first operand not starting
//! `1..n` bytes after the second) or stores the pad byte `n` times (when
//! R3 + 1 is zero), advances R1 and R3 by the bytes taken from each and
//! lowers R1 + 1 and R3 + 1 by as much, and sets cc 3 when R1 + 1 is not
//! zero yet, else the compare of the lengths it started with: 0 equal, 1
//! the first shorter, 2 the first longer (only padding). The translation
//! does exactly that in the 64-bit mode, with both operands above the two
//! low pages. Under the software TLB: a probe of the second operand's
//! page for a fetch (the interpreter reads first), then of the first
//! operand's page for a store (a frame holding translated code misses,
//! and the fill lets the store through only when no block's code lies in
//! the page), then, for a move, a check that the operands do not overlap
//! in absolute storage in a way the interpreter's read-then-store makes
//! matter (two logical pages that alias one frame); anything else,
//! including every exception, is the slow path (the interpreter, with
//! nothing changed yet).
//!
//! Under the host MMU (the kvm engine) the same runs are translated: both
//! operands below 2^47 (what the shadow maps), a byte of the second
//! operand read and a byte of the first stored back unchanged before
//! anything is stored (a fault there is a shadow fill and a retry, or the
//! slow path with nothing changed: the frame holding translated code is
//! mapped read-only, so its store probe faults and the host drops its
//! blocks), and, for a move, the slow path where the first operand's
//! offset in its page lies 1..n-1 bytes after the second's: the distance
//! in absolute storage should their pages alias one frame, which the
//! translated code cannot see.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::host::LOWER_HALF_END;
use zmmu_mmu::kind::AccessKind;

use crate::abi;
use crate::emit::{gpr, Current, Gen};
use crate::memory::MemoryAccess;

/// The bytes one execution moves at most (the interpreter's
/// `CPU_DETERMINED`), a page.
const RUN: i32 = 0x1000;

impl Gen {
    /// MVCLE as the module says; `false` for other instructions and for
    /// forms always left to the interpreter (an odd register, the
    /// specification exception; the same pair for both operands; the 24-
    /// and 31-bit modes, where the registers' high halves are kept; the
    /// access-register mode's helper).
    pub(crate) fn long(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let f = here.insn.f;
        let translated = here.insn.op == Opcode::MVCLE
            && self.env.memory.inline()
            && self.env.amode == AddressingMode::Bits64
            && f.r1 & 1 == 0
            && f.r3 & 1 == 0
            && f.r1 != f.r3;
        if !translated {
            return Ok(false);
        }
        here.used_slow = true;
        let slow = here.slow;
        let mut pad = self.a.create_label();
        let mut done = self.a.create_label();
        // rdx = n, nonzero; the first operand's n bytes in one page above
        // the two low pages.
        let a = &mut self.a;
        a.mov(rdx, gpr(f.r1 | 1))?;
        a.test(rdx, rdx)?;
        a.jz(slow)?;
        a.mov(ecx, RUN)?;
        a.cmp(rdx, rcx)?;
        a.cmova(rdx, rcx)?;
        a.mov(rax, gpr(f.r1))?;
        self.page_run(slow)?;
        let a = &mut self.a;
        a.cmp(gpr(f.r3 | 1), 0)?;
        a.je(pad)?;
        // A move: n bytes of the second operand in one page above the two
        // low pages, and the first operand not 1..n-1 bytes after the
        // second (the interpreter's run would end there; under the host
        // MMU, their offsets in the page, as the module says).
        a.cmp(gpr(f.r3 | 1), rdx)?;
        a.jb(slow)?;
        a.mov(rax, gpr(f.r3))?;
        self.page_run(slow)?;
        let host_mmu = self.env.memory == MemoryAccess::HostMmu;
        let a = &mut self.a;
        a.mov(rax, gpr(f.r1))?;
        a.sub(rax, gpr(f.r3))?;
        if host_mmu {
            a.and(eax, RUN - 1)?;
        }
        a.dec(rax)?;
        a.dec(rdx)?;
        a.cmp(rax, rdx)?;
        a.jb(slow)?;
        if host_mmu {
            // The second operand read, then the first stored.
            a.mov(rsi, gpr(f.r3))?;
            a.movzx(eax, byte_ptr(r13 + rsi))?;
            self.first_operand(here, f.r1)?;
        } else {
            // The second operand's page, read, then the first's, stored.
            a.mov(rax, gpr(f.r3))?;
            a.and(rax, -RUN)?;
            self.access(here, AccessKind::Read, RUN as u32)?;
            self.a.mov(qword_ptr(rsp + abi::FRAME_OPERAND), rax)?;
            self.first_operand(here, f.r1)?;
            let a = &mut self.a;
            a.mov(rsi, gpr(f.r3))?;
            a.and(esi, RUN - 1)?;
            a.add(rsi, qword_ptr(rsp + abi::FRAME_OPERAND))?;
            // In absolute storage too, the first operand must not start
            // 1..n-1 bytes after the second (two logical pages that alias
            // a frame).
            let a = &mut self.a;
            a.mov(rax, rdi)?;
            a.sub(rax, rsi)?;
            a.dec(rax)?;
            a.lea(rdx, qword_ptr(rcx - 1))?;
            a.cmp(rax, rdx)?;
            a.jb(slow)?;
        }
        let a = &mut self.a;
        a.add(rdi, r13)?;
        a.add(rsi, r13)?;
        a.mov(rdx, rcx)?;
        a.rep().movsb()?;
        // cc 0 when the second operand ends with the first, 1 when it is
        // longer; 3 while the first is not done.
        a.xor(ecx, ecx)?;
        a.sub(gpr(f.r3 | 1), rdx)?;
        a.setne(cl)?;
        a.add(gpr(f.r3), rdx)?;
        a.jmp(done)?;
        // Only padding (cc 2: the first operand is longer; 3 while it is
        // not done): the pad is bits 56-63 of the second-operand address.
        a.set_label(&mut pad)?;
        self.first_operand(here, f.r1)?;
        let a = &mut self.a;
        a.add(rdi, r13)?;
        self.ea(0, f.b2, f.d2)?;
        let a = &mut self.a;
        a.mov(rdx, rcx)?;
        a.rep().stosb()?;
        a.mov(ecx, 2)?;
        a.set_label(&mut done)?;
        a.sub(gpr(f.r1 | 1), rdx)?;
        a.mov(eax, 3)?;
        a.cmovne(ecx, eax)?;
        a.add(gpr(f.r1), rdx)?;
        a.shl(ecx, 4)?;
        self.store_cc()?;
        Ok(true)
    }

    /// Jumps to `slow` unless the operand at rax lies above the two low
    /// pages (whose 512-byte units of low-address protection are runs of
    /// their own), under the host MMU below 2^47 (what the shadow maps),
    /// and its rdx bytes within its page. Uses rcx.
    fn page_run(&mut self, slow: CodeLabel) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.cmp(rax, 0x2000)?;
        a.jb(slow)?;
        if self.env.memory == MemoryAccess::HostMmu {
            a.mov(rcx, rax)?;
            a.shr(rcx, LOWER_HALF_END.trailing_zeros())?;
            a.jnz(slow)?;
        }
        a.mov(ecx, eax)?;
        a.and(ecx, RUN - 1)?;
        a.neg(ecx)?;
        a.add(ecx, RUN)?;
        a.cmp(rdx, rcx)?;
        a.ja(slow)
    }

    /// The probe of the first operand's page (in R`r1`) for a store; then
    /// rdi = its absolute address and rcx = n, min(R1 + 1, 4096). Uses
    /// rax and rdx. Under the host MMU, rdi is its logical address and
    /// the probe stores its first byte back unchanged.
    fn first_operand(&mut self, here: &mut Current, r1: u8) -> Result<(), IcedError> {
        let a = &mut self.a;
        if self.env.memory == MemoryAccess::HostMmu {
            a.mov(rdi, gpr(r1))?;
            a.or(byte_ptr(r13 + rdi), 0)?;
        } else {
            a.mov(rax, gpr(r1))?;
            a.and(rax, -RUN)?;
            self.access(here, AccessKind::Write, RUN as u32)?;
            let a = &mut self.a;
            a.mov(rdi, gpr(r1))?;
            a.and(edi, RUN - 1)?;
            a.add(rdi, rax)?;
        }
        let a = &mut self.a;
        a.mov(rcx, gpr(r1 | 1))?;
        a.mov(edx, RUN)?;
        a.cmp(rcx, rdx)?;
        a.cmova(rcx, rdx)
    }
}
