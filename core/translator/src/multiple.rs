//! LOAD MULTIPLE and STORE MULTIPLE (LM, LMY, LMG, STM, STMY, STMG):
//! registers R1 through R3 (wrapping from 15 to 0) from or to consecutive
//! words or doublewords at the second-operand address. An operand that
//! crosses into the next page is native too: under the software TLB a
//! load's two pages are probed by the pair fill and a store's found in
//! the TLB; under the host MMU ([`Gen::host_mmu_crossing`]) a load copies
//! the operand below the stack pointer before any register changes, and a
//! store touches the second page before it stores into the first.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::Ext;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, gpr32, Current, Gen};
use crate::fill::PairOrder;
use crate::MemoryAccess;

impl Gen {
    /// LM, LMY, LMG, STM, STMY, STMG; `false` for other instructions.
    /// The whole operand is probed first, so an exception (or a page
    /// crossing) leaves every register and byte to the interpreter; under
    /// the host MMU, within one page the first access (a load, or a store
    /// before which nothing changed) is the only one that can fault, and
    /// an operand across two pages is [`Gen::host_mmu_crossing`]'s.
    pub(crate) fn multiple(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        use Opcode::*;
        let (load, size) = match here.insn.op {
            LM | LMY => (true, 4),
            LMG => (true, 8),
            STM | STMY => (false, 4),
            STMG => (false, 8),
            _ => return Ok(false),
        };
        let f = here.insn.f;
        let count = u32::from(f.r3.wrapping_sub(f.r1) & 15) + 1;
        let total = count * size;
        self.ea(0, f.b2, f.d2)?;
        let kind = if load {
            AccessKind::Read
        } else {
            AccessKind::Write
        };
        let two_pages = matches!(self.env.memory, MemoryAccess::SoftTlb { .. });
        let host_mmu = self.env.memory == MemoryAccess::HostMmu;
        let mut crossing = self.a.create_label();
        let mut done = self.a.create_label();
        if two_pages {
            self.crosses(total, crossing)?;
        }
        self.access(here, kind, total)?;
        if host_mmu {
            self.crosses(total, crossing)?;
        }
        self.transfer(load, size, f.r1, count)?;
        if host_mmu {
            self.a.jmp(done)?;
            self.a.set_label(&mut crossing)?;
            self.host_mmu_crossing(load, total)?;
            self.transfer(load, size, f.r1, count)?;
            self.a.set_label(&mut done)?;
            self.a.nop()?;
        }
        if two_pages {
            self.a.jmp(done)?;
            self.a.set_label(&mut crossing)?;
            if load {
                self.gather(here, total)?;
                self.transfer(load, size, f.r1, count)?;
            } else {
                self.scatter_pages(here, total)?;
                self.a.sub(rsp, GATHER)?;
                self.a.mov(rax, rsp)?;
                self.a.sub(rax, r13)?;
                self.transfer(load, size, f.r1, count)?;
                self.scatter(total)?;
            }
            self.a.add(rsp, GATHER)?;
            self.a.set_label(&mut done)?;
            self.a.nop()?;
        }
        Ok(true)
    }

    /// To `crossing` when the `total` bytes at the logical address in rax
    /// cross into the next page. Uses rcx.
    fn crosses(&mut self, total: u32, crossing: CodeLabel) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.mov(ecx, eax)?;
        a.and(ecx, 0xfff)?;
        a.cmp(ecx, (0x1000 - total) as i32)?;
        a.ja(crossing)
    }

    /// Under the host MMU, an operand (logical address in rax, `total`
    /// bytes, checked by [`Gen::access`]) that crosses into the next page,
    /// made ready so that no access after the first change can fault (a
    /// fault is a shadow fill and a retry, or the slow path, which runs
    /// the whole instruction again): a load's bytes are copied to the
    /// [`GATHER`] bytes below the stack pointer (a fault at CPL3 pushes
    /// nothing there; the copy resumes where it stopped after a fill), and
    /// rax set so that r13 + rax addresses them; a store touches a byte of
    /// the second page (stores it back unchanged) before the first store
    /// into the first page, so that an exception there comes before any
    /// byte is stored (PoP ch. 6: an access exception suppresses or
    /// nullifies STORE MULTIPLE).
    fn host_mmu_crossing(&mut self, load: bool, total: u32) -> Result<(), IcedError> {
        let a = &mut self.a;
        if load {
            a.lea(rsi, qword_ptr(r13 + rax))?;
            a.lea(rdi, qword_ptr(rsp - GATHER))?;
            a.mov(ecx, total)?;
            a.rep().movsb()?;
            a.lea(rax, qword_ptr(rsp - GATHER))?;
            a.sub(rax, r13)?;
        } else {
            a.or(byte_ptr(r13 + rax + (total - 1) as i32), 0)?;
        }
        Ok(())
    }

    /// A load multiple's operand (logical address in rax, `total` bytes)
    /// that crosses into the next page: both pages read (the pair fill
    /// checks both before it records either, as the interpreter's read of
    /// the whole operand does), their bytes gathered into [`GATHER`] bytes
    /// of stack, and rax set so that r13 + rax addresses them. The caller
    /// gives the stack back.
    fn gather(&mut self, here: &mut Current, total: u32) -> Result<(), IcedError> {
        self.a.lea(rsi, qword_ptr(rax + (total - 1) as i32))?;
        self.wrap(rsi)?;
        self.access_pair(here, AccessKind::Read, PairOrder::CheckFirst, 1)?;
        let a = &mut self.a;
        a.sub(rsp, GATHER)?;
        // The first page's part: to its end.
        a.mov(r9, rsi)?;
        a.mov(edx, eax)?;
        a.and(edx, 0xfff)?;
        a.mov(ecx, 0x1000)?;
        a.sub(ecx, edx)?;
        a.mov(r10d, ecx)?;
        a.lea(rsi, qword_ptr(r13 + rax))?;
        a.mov(rdi, rsp)?;
        a.rep().movsb()?;
        // The second page's part: the rest, ending at the last byte.
        a.mov(ecx, total)?;
        a.sub(ecx, r10d)?;
        a.lea(rsi, qword_ptr(r13 + r9 + 1))?;
        a.sub(rsi, rcx)?;
        a.rep().movsb()?;
        a.mov(rax, rsp)?;
        a.sub(rax, r13)?;
        Ok(())
    }

    /// A store multiple's operand (logical address in rax, `total` bytes)
    /// that crosses into the next page: both pages must be in the TLB for
    /// stores already (an entry is formed only where the store is
    /// permitted and its reference and change bits are recorded), else
    /// the slow path, whose interpreter checks both before it stores or
    /// records anything. r8 = the absolute address of the first byte, r9
    /// of the last.
    fn scatter_pages(&mut self, here: &mut Current, total: u32) -> Result<(), IcedError> {
        here.used_slow = true;
        let slow = here.slow;
        self.a.lea(rsi, qword_ptr(rax + (total - 1) as i32))?;
        self.wrap(rsi)?;
        self.tlb_lookup(AccessKind::Write, 1, slow, slow)?;
        self.a.mov(r8, rax)?;
        self.a.mov(rax, rsi)?;
        self.tlb_lookup(AccessKind::Write, 1, slow, slow)?;
        self.a.mov(r9, rax)?;
        Ok(())
    }

    /// Copies the `total` bytes at rsp to the two pages of
    /// [`Gen::scatter_pages`].
    fn scatter(&mut self, total: u32) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.mov(edx, r8d)?;
        a.and(edx, 0xfff)?;
        a.mov(ecx, 0x1000)?;
        a.sub(ecx, edx)?;
        a.mov(r10d, ecx)?;
        a.mov(rsi, rsp)?;
        a.lea(rdi, qword_ptr(r13 + r8))?;
        a.rep().movsb()?;
        a.mov(ecx, total)?;
        a.sub(ecx, r10d)?;
        a.lea(rdi, qword_ptr(r13 + r9 + 1))?;
        a.sub(rdi, rcx)?;
        a.rep().movsb()?;
        Ok(())
    }

    /// The registers R1 onwards (`count` of `size` bytes) loaded from or
    /// stored to r13 + rax onwards.
    fn transfer(&mut self, load: bool, size: u32, r1: u8, count: u32) -> Result<(), IcedError> {
        for i in 0..count as u8 {
            let r = r1.wrapping_add(i) & 15;
            if i > 0 {
                self.a.add(rax, size as i32)?;
            }
            match (load, size) {
                (true, 8) => {
                    self.load(8, Ext::F)?;
                    self.a.mov(gpr(r), rsi)?;
                }
                (true, _) => {
                    self.load(4, Ext::F)?;
                    self.a.mov(gpr32(r), esi)?;
                }
                (false, 8) => {
                    self.a.mov(rcx, gpr(r))?;
                    self.store(8)?;
                }
                (false, _) => {
                    self.a.mov(ecx, gpr32(r))?;
                    self.store(4)?;
                }
            }
        }
        Ok(())
    }
}

/// The stack a crossing load multiple gathers its operand in (at most 16
/// doublewords; a multiple of 16 keeps the stack aligned).
const GATHER: i32 = 128;
