//! EXECUTE and EXECUTE RELATIVE LONG of MVC and XC, translated natively
//! (docs/CHOICES.md §64a): Linux's `memcpy`, `memset` and `memmove` tails
//! and glibc's run an MVC or XC whose length is bits 56-63 of R1 (PoP
//! "EXECUTE": the target with R1's byte ORed into its second byte, here
//! the length field).
//!
//! Translation knows the target of an EXRL (relative to it) and of an EX
//! whose base register a LARL just before it set, and guesses that of
//! another EX from the registers at the block's start, which the code
//! checks at run time ([`known_target`]); when the runner can fetch that
//! target as the EXECUTE would and watch it (the jit: in the block's own
//! page, or in the next page when the fetch from it is permitted and
//! records nothing, as for an instruction crossing into it; the kvm
//! engine: in the block's own page or the next, whose frames it watches
//! whole), [`fetch_targets`] records it, and the runner watches its bytes
//! as the block's own (a store into them drops the block, as a store
//! into its code does). So the target the code runs is
//! the one the EXECUTE would fetch, without an exception; its address is
//! even and it is not an EXECUTE (both checked here, else the helper runs
//! it and raises the exception).
//!
//! The fast path probes each operand for the largest length R1 can give
//! (256 bytes, or the target's own length when R1 is 0), ending at most
//! at the end of the operand's page, then moves or combines the run-time
//! length; a probe that fails, an operand crossing its page, or operands
//! whose overlap the byte-at-a-time rule makes matter and that the
//! logical addresses do not show alike go to the slow path, where the
//! helper runs the EXECUTE with the interpreter (every exception with the
//! EXECUTE's ILC and PSW), nothing stored before. Under the host MMU the
//! same checks bound each operand, and a byte of each is touched before
//! any is stored ([`Gen::host_mmu_execute`]).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::decode::decode;
use zmmu_cpu::format::Fields;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::kind::AccessKind;

use crate::abi;
use crate::block::{relative_target, Guest, Target};
use crate::emit::{gpr_bytes, Current, Gen};
use crate::fill::PairOrder;
use crate::memory::MemoryAccess;
use crate::ss::{offsets_overlap, one_page_or, Logic};

/// The targets translated natively.
fn translated(op: Opcode) -> bool {
    matches!(op, Opcode::MVC | Opcode::XC)
}

/// The logical address of the target of the EXECUTE `block[index]` as
/// far as translation can know it: an EXRL's (its relative operand); an
/// EX's without an index register whose base register the LARL just
/// before it in the block set (the block is entered only at its start, so
/// the LARL ran); else a guess for an EX whose registers no instruction
/// before it in the block names as R1: their values `gprs` at the block's
/// start (Linux's `bras %r1,1f; mvc ...; 1: ex %r10,0(%r1)` runs each
/// time with the same base). The translated code compares an EX's operand
/// address with it at run time (another address goes to the helper).
/// `None` otherwise.
pub fn known_target(
    block: &[Guest],
    index: usize,
    amode: AddressingMode,
    gprs: &[u64; 16],
) -> Option<u64> {
    let g = block.get(index)?;
    let f = g.insn.f;
    match g.insn.op {
        Opcode::EXRL => Some(relative_target(g.at, &g.insn, amode)),
        Opcode::EX => {
            let before = block.get(..index)?;
            if let Some(larl) = before.last() {
                let based = larl.insn.op == Opcode::LARL && f.x2 == 0 && f.b2 != 0;
                if based && larl.insn.f.r1 == f.b2 {
                    let base = relative_target(larl.at, &larl.insn, amode);
                    return Some(amode.wrap(base.wrapping_add(f.d2 as u64)));
                }
            }
            let named = |r: u8| r != 0 && before.iter().any(|g| g.insn.f.r1 == r);
            if named(f.x2) || named(f.b2) {
                return None;
            }
            let reg = |r: u8| if r == 0 { 0 } else { gprs[usize::from(r & 15)] };
            let at = reg(f.x2).wrapping_add(reg(f.b2)).wrapping_add(f.d2 as u64);
            Some(amode.wrap(at))
        }
        _ => None,
    }
}

/// Sets [`Guest::target`] for the EXECUTEs of `block` whose
/// [`known_target`] is an MVC or XC at an even address whose six bytes lie
/// in one page: `read(at)` gives the six bytes at logical address `at` as
/// an instruction fetch would see them, or `None` where the runner cannot
/// watch them (it must then watch those it gave as the block's bytes, see
/// [`target_range`]).
pub fn fetch_targets(
    block: &mut [Guest],
    amode: AddressingMode,
    gprs: &[u64; 16],
    mut read: impl FnMut(u64) -> Option<[u8; 6]>,
) {
    for index in 0..block.len() {
        let Some(at) = known_target(block, index, amode, gprs) else {
            continue;
        };
        if at & 1 != 0 || at & 0xfff > 0x1000 - 6 {
            continue;
        }
        let Some(insn) = read(at).and_then(|bytes| decode(&bytes).ok()) else {
            continue;
        };
        if translated(insn.op) {
            block[index].target = Some(Target { at, insn });
        }
    }
}

/// The offsets in logical page `page` of the bytes of the fetched targets
/// ([`fetch_targets`]) of `block` that lie there: from the first target
/// byte to the end of the last, or `None` if none lies there.
pub fn target_range(block: &[Guest], page: u64) -> Option<(u64, u64)> {
    block
        .iter()
        .filter_map(|g| g.target)
        .filter(|t| t.at & !0xfff == page)
        .map(|t| (t.at & 0xfff, (t.at & 0xfff) + u64::from(t.insn.len)))
        .reduce(|(s, e), (s2, e2)| (s.min(s2), e.max(e2)))
}

impl Gen {
    /// An EXECUTE of the MVC or XC [`fetch_targets`] found; `false` for
    /// anything else (the helper runs it).
    pub(crate) fn execute(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let Some(target) = here.target else {
            return Ok(false);
        };
        let host_mmu = match self.env.memory {
            MemoryAccess::SoftTlb { .. } => false,
            MemoryAccess::HostMmu => true,
            MemoryAccess::Helper => return Ok(false),
        };
        let t = target.insn.f;
        let len = Len {
            r1: here.insn.f.r1,
            l: t.l1,
        };
        if here.insn.op == Opcode::EX {
            // The address translation found or guessed, or the helper.
            let f = here.insn.f;
            here.used_slow = true;
            self.ea(f.x2, f.b2, f.d2)?;
            let a = &mut self.a;
            a.mov(rcx, target.at)?;
            a.cmp(rax, rcx)?;
            a.jne(here.slow)?;
        }
        let xor = target.insn.op == Opcode::XC;
        if xor && t.b1 == t.b2 && t.d1 == t.d2 {
            // XC of an operand with itself: zeros, cc 0 (memset's clear).
            self.ea(0, t.b1, t.d1)?;
            self.within(here, len)?;
            self.access(here, AccessKind::Write, len.most())?;
            self.at_offset(len, rax, t.b1, t.d1)?;
            self.a.lea(rdi, qword_ptr(r13 + rax))?;
            if host_mmu {
                self.a.or(byte_ptr(rdi), 0)?;
            }
            self.length(len)?;
            let a = &mut self.a;
            a.xor(eax, eax)?;
            a.rep().stosb()?;
            a.xor(ecx, ecx)?;
            a.xor(edx, edx)?;
            return self.set_cc().map(|()| true);
        }
        if host_mmu {
            return self.host_mmu_execute(here, t, len, xor).map(|()| true);
        }
        self.ea(0, t.b2, t.d2)?;
        self.within(here, len)?;
        self.a.mov(rsi, rax)?;
        self.ea(0, t.b1, t.d1)?;
        self.within(here, len)?;
        self.access_pair(here, AccessKind::Write, PairOrder::CheckFirst, len.most())?;
        if len.r1 != 0 {
            self.a.mov(qword_ptr(rsp + abi::FRAME_FILL), rax)?;
            self.at_offset(len, rsi, t.b2, t.d2)?;
            self.a.mov(rax, qword_ptr(rsp + abi::FRAME_FILL))?;
            self.a.mov(qword_ptr(rsp + abi::FRAME_OPERAND), rsi)?;
            self.at_offset(len, rax, t.b1, t.d1)?;
            self.a.mov(rsi, qword_ptr(rsp + abi::FRAME_OPERAND))?;
        }
        // rdx = first - second - 1 (absolute): below length - 1 the first
        // operand starts inside the second, where byte-at-a-time order
        // matters.
        let mut apart = self.a.create_label();
        self.length(len)?;
        let a = &mut self.a;
        a.mov(rdx, rax)?;
        a.sub(rdx, rsi)?;
        a.dec(rdx)?;
        a.dec(ecx)?;
        a.cmp(rdx, rcx)?;
        a.jae(apart)?;
        if xor {
            a.jmp(here.slow)?;
        } else {
            self.overlap_as_logical(here, rdx, (t.b1, t.d1), (t.b2, t.d2))?;
        }
        self.a.set_label(&mut apart)?;
        self.a.lea(rdi, qword_ptr(r13 + rax))?;
        self.a.add(rsi, r13)?;
        self.length(len)?;
        let a = &mut self.a;
        if !xor {
            // One byte at a time in ascending order.
            a.rep().movsb()?;
            return Ok(true);
        }
        // The first operand does not start inside the second.
        self.byte_after_byte(Some(Logic::Xor))?;
        Ok(true)
    }

    /// The executed MVC or XC (`xor`, its fields `t`) under the host MMU,
    /// each operand
    /// within its page (else the slow path): a byte of the second read
    /// and a byte of the first stored back unchanged before anything is
    /// stored (a fault there is a shadow fill and a retry, or the slow
    /// path with nothing stored), then the bytes one at a time in
    /// ascending order (PoP "Storage-Operand Consistency": an operand
    /// that overlaps the other sees the bytes already stored), which is
    /// the interpreter's result where both lie in one page. Operands in
    /// two pages whose offsets lie 1..length-1 bytes apart, the first
    /// after the second, go to the slow path: should the pages alias one
    /// frame, the interpreter reads the whole second operand before it
    /// stores, which the translated code cannot see.
    fn host_mmu_execute(
        &mut self,
        here: &mut Current,
        t: Fields,
        len: Len,
        xor: bool,
    ) -> Result<(), IcedError> {
        self.ea(0, t.b2, t.d2)?;
        self.within(here, len)?;
        self.access(here, AccessKind::Read, len.most())?;
        self.at_offset(len, rax, t.b2, t.d2)?;
        self.a.mov(qword_ptr(rsp + abi::FRAME_OPERAND), rax)?;
        self.ea(0, t.b1, t.d1)?;
        self.within(here, len)?;
        self.access(here, AccessKind::Write, len.most())?;
        self.at_offset(len, rax, t.b1, t.d1)?;
        self.a.mov(rsi, qword_ptr(rsp + abi::FRAME_OPERAND))?;
        let mut apart = self.a.create_label();
        self.length(len)?;
        let a = &mut self.a;
        a.dec(ecx)?;
        offsets_overlap(a, rcx)?;
        a.jae(apart)?;
        one_page_or(a, here.slow)?;
        a.set_label(&mut apart)?;
        a.lea(rdi, qword_ptr(r13 + rax))?;
        a.add(rsi, r13)?;
        a.movzx(ecx, byte_ptr(rsi))?;
        a.or(byte_ptr(rdi), 0)?;
        self.length(len)?;
        self.byte_after_byte(xor.then_some(Logic::Xor))
    }

    /// ecx = the operands' length ([`Len`]).
    fn length(&mut self, len: Len) -> Result<(), IcedError> {
        let a = &mut self.a;
        if len.r1 == 0 {
            return a.mov(ecx, u32::from(len.l) + 1);
        }
        a.movzx(ecx, byte_ptr(gpr_bytes(len.r1)))?;
        if len.l != 0 {
            a.or(ecx, u32::from(len.l))?;
        }
        a.inc(ecx)
    }

    /// With the logical address of an operand in rax: goes to the slow
    /// path if its run-time length crosses the end of its page, and
    /// otherwise, where [`Len::most`] bytes from it would, moves rax down
    /// so that they end there: the probe of `most` bytes then covers the
    /// operand within its page (the same translation, keys and code
    /// check; at worst more of the page is checked, and a stricter check
    /// is only a slow path). [`Gen::at_offset`] undoes the move after the
    /// probe. Nothing to do when R1 is 0 (the length is the probe's).
    fn within(&mut self, here: &mut Current, len: Len) -> Result<(), IcedError> {
        if len.r1 == 0 {
            return Ok(());
        }
        here.used_slow = true;
        self.length(len)?;
        let a = &mut self.a;
        a.mov(edx, eax)?;
        a.and(edx, 0xfff)?;
        a.add(ecx, edx)?;
        a.cmp(ecx, 0x1000)?;
        a.ja(here.slow)?;
        let mut fits = a.create_label();
        a.sub(edx, (0x1000 - len.most()) as i32)?;
        a.jle(fits)?;
        a.sub(rax, rdx)?;
        a.set_label(&mut fits)?;
        a.nop()
    }

    /// After the probe, `r` = the absolute address of the operand at
    /// `d(b)`: the frame the probe gave (of the address [`Gen::within`]
    /// moved within the page; under the host MMU its logical page) and the
    /// operand's own offset. Uses rax but for `r` = rax.
    fn at_offset(&mut self, len: Len, r: AsmRegister64, b: u8, d: i32) -> Result<(), IcedError> {
        if len.r1 == 0 {
            return Ok(());
        }
        self.a.and(r, -4096)?;
        let keep = if r == rax { rcx } else { r };
        if r == rax {
            self.a.mov(rcx, rax)?;
        }
        self.ea(0, b, d)?;
        let a = &mut self.a;
        a.and(eax, 0xfff)?;
        a.or(keep, rax)?;
        if r == rax {
            a.mov(rax, rcx)?;
        }
        Ok(())
    }
}

/// The length of an executed target's operands: its length field `l` with
/// bits 56-63 of R1 ORed in (unless R1 is 0), plus one.
#[derive(Clone, Copy)]
struct Len {
    r1: u8,
    l: u8,
}

impl Len {
    /// The most bytes it can be: 256, or the target's own length when R1
    /// is 0.
    fn most(self) -> u32 {
        match self.r1 {
            0 => u32::from(self.l) + 1,
            _ => 256,
        }
    }
}
