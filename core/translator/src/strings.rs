//! SEARCH STRING (SRST) and COMPARE LOGICAL STRING (CLST), as far as the
//! page (pages) of their first bytes go.
//!
//! Both are interruptible: the interpreter processes up to
//! `zmmu_cpu::exec::storage::CPU_DETERMINED` bytes per execution (at least
//! a page) and sets cc 3 when it stops short. The translation looks at the
//! bytes up to the end of the page of each operand's first byte (one page
//! translation each, so no access exception can arise past the first
//! probe): when the instruction is decided there (the character found, the
//! end of the searched range reached, a difference or an ending
//! character), it completes exactly as the interpreter would, which never
//! reaches its amount before that point; otherwise the slow path runs the
//! instruction from its start, as nothing has changed yet. The
//! specification exception (R0 bits 32-55 not zero) and every access
//! exception are the interpreter's.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, gpr32, Current, Gen};
use crate::fill::PairOrder;
use crate::memory::MemoryAccess;

impl Gen {
    /// SRST and CLST; `false` for other instructions.
    pub(crate) fn strings(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        match here.insn.op {
            Opcode::SRST => self.search_string(here)?,
            Opcode::CLST => self.compare_string(here)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// To the slow path unless R0 bits 32-55 are zeros (the ending
    /// character is bits 56-63).
    fn ending_character(&mut self, here: &mut Current) -> Result<(), IcedError> {
        here.used_slow = true;
        self.a.test(gpr32(0), -0x100)?;
        self.a.jnz(here.slow)
    }

    /// rcx = the bytes from the logical address in `r` (rax or rsi) to the
    /// end of its page.
    fn page_left(&mut self, r: AsmRegister32) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.mov(ecx, r)?;
        a.and(ecx, 0xfff)?;
        a.neg(ecx)?;
        a.add(ecx, 0x1000)?;
        Ok(())
    }

    /// SRST: the second operand from R2 up to (not including) R1 searched
    /// for the character in R0: found, R1 = its address and cc 1; R2
    /// reaching R1, cc 2, registers unchanged (PoP SEARCH STRING).
    fn search_string(&mut self, here: &mut Current) -> Result<(), IcedError> {
        let f = here.insn.f;
        self.ending_character(here)?;
        let mut none = self.a.create_label();
        let mut done = self.a.create_label();
        // R2 at R1 before a byte is looked at: cc 2, no access.
        self.a.mov(rax, gpr(f.r2))?;
        self.wrap(rax)?;
        self.a.mov(rcx, gpr(f.r1))?;
        self.wrap(rcx)?;
        self.a.cmp(rax, rcx)?;
        self.a.je(none)?;
        self.access(here, AccessKind::Read, 1)?;
        // rsi = R2, rcx = the bytes to look at: to the end of the page,
        // or fewer up to R1 (r8d = 1: then not finding it is cc 2).
        self.a.mov(rsi, gpr(f.r2))?;
        self.wrap(rsi)?;
        self.page_left(esi)?;
        self.a.mov(rdx, gpr(f.r1))?;
        self.a.sub(rdx, rsi)?;
        self.wrap(rdx)?;
        let mut whole_page = self.a.create_label();
        let a = &mut self.a;
        a.xor(r8d, r8d)?;
        a.cmp(rdx, rcx)?;
        a.ja(whole_page)?;
        a.mov(rcx, rdx)?;
        a.mov(r8d, 1)?;
        a.set_label(&mut whole_page)?;
        a.lea(r9, qword_ptr(r13 + rax))?;
        a.mov(rdi, r9)?;
        a.movzx(eax, byte_ptr(rbx + gpr_low(0)))?;
        a.repne().scasb()?;
        let mut found = a.create_label();
        a.je(found)?;
        a.test(r8d, r8d)?;
        a.jz(here.slow)?;
        a.set_label(&mut none)?;
        a.mov(ecx, 0x20)?;
        a.jmp(done)?;
        // R1 = R2 + the character's offset.
        a.set_label(&mut found)?;
        a.lea(rax, qword_ptr(rsi + rdi - 1))?;
        a.sub(rax, r9)?;
        self.wrap(rax)?;
        self.set_addr_reg(f.r1)?;
        self.a.mov(ecx, 0x10)?;
        self.a.set_label(&mut done)?;
        self.a.nop()?;
        self.store_cc()
    }

    /// CLST: the strings at R1 and R2, each up to the ending character in
    /// R0, compared byte by byte: both end together, cc 0; a difference
    /// or one string ending first decides cc 1 (the first low or shorter)
    /// or 2 and leaves R1 and R2 at the deciding bytes (PoP COMPARE
    /// LOGICAL STRING).
    fn compare_string(&mut self, here: &mut Current) -> Result<(), IcedError> {
        let f = here.insn.f;
        self.ending_character(here)?;
        self.a.mov(rsi, gpr(f.r2))?;
        self.wrap(rsi)?;
        self.a.mov(rax, gpr(f.r1))?;
        self.wrap(rax)?;
        // The interpreter reads the first operand's byte, then the
        // second's.
        match self.env.memory {
            MemoryAccess::SoftTlb { .. } => {
                self.access_pair(here, AccessKind::Read, PairOrder::InOrder, 1)?
            }
            _ => {
                self.access(here, AccessKind::Read, 1)?;
                self.a.mov(r10, rax)?;
                self.a.mov(rax, rsi)?;
                self.access(here, AccessKind::Read, 1)?;
                self.a.mov(rsi, rax)?;
                self.a.mov(rax, r10)?;
            }
        }
        // r9 = the bytes to look at: to the nearer end of the two pages.
        let a = &mut self.a;
        a.lea(rdi, qword_ptr(r13 + rax))?;
        a.add(rsi, r13)?;
        a.mov(rax, gpr(f.r1))?;
        self.page_left(eax)?;
        self.a.mov(r9, rcx)?;
        self.a.mov(rax, gpr(f.r2))?;
        self.page_left(eax)?;
        let mut next = self.a.create_label();
        let mut differ = self.a.create_label();
        let mut first_ends = self.a.create_label();
        let mut second_ends = self.a.create_label();
        let mut decided = self.a.create_label();
        let mut done = self.a.create_label();
        let a = &mut self.a;
        a.cmp(r9, rcx)?;
        a.cmova(r9, rcx)?;
        // r10 = the offset of the bytes compared; r11b = the ending
        // character.
        a.xor(r10d, r10d)?;
        a.movzx(r11d, byte_ptr(rbx + gpr_low(0)))?;
        a.set_label(&mut next)?;
        a.movzx(eax, byte_ptr(rdi + r10))?;
        a.movzx(edx, byte_ptr(rsi + r10))?;
        a.cmp(al, r11b)?;
        a.je(first_ends)?;
        a.cmp(dl, r11b)?;
        a.je(second_ends)?;
        a.cmp(al, dl)?;
        a.jne(differ)?;
        a.inc(r10)?;
        a.cmp(r10, r9)?;
        a.jb(next)?;
        a.jmp(here.slow)?;
        // Both end: cc 0, registers unchanged.
        a.set_label(&mut first_ends)?;
        a.mov(ecx, 0x10)?;
        a.cmp(dl, r11b)?;
        a.jne(decided)?;
        a.xor(ecx, ecx)?;
        a.jmp(done)?;
        a.set_label(&mut second_ends)?;
        a.mov(ecx, 0x20)?;
        a.jmp(decided)?;
        a.set_label(&mut differ)?;
        a.mov(ecx, 0x10)?;
        a.mov(r8d, 0x20)?;
        a.cmova(ecx, r8d)?;
        // R1 and R2 at the deciding bytes.
        a.set_label(&mut decided)?;
        a.mov(rax, gpr(f.r1))?;
        a.add(rax, r10)?;
        self.wrap(rax)?;
        self.set_addr_reg(f.r1)?;
        self.a.mov(rax, gpr(f.r2))?;
        self.a.add(rax, r10)?;
        self.wrap(rax)?;
        self.set_addr_reg(f.r2)?;
        self.a.set_label(&mut done)?;
        self.a.nop()?;
        self.store_cc()
    }
}

/// The offset from rbx of the rightmost byte of general register `r`.
fn gpr_low(r: u8) -> i32 {
    (zmmu_cpu::state::offset::GPR + 8 * usize::from(r & 15)) as i32
}
