//! EXECUTE and EXECUTE RELATIVE LONG of MVC and XC, translated natively
//! (docs/CHOICES.md §64a): Linux's `memcpy`, `memset` and `memmove` tails
//! and glibc's run an MVC or XC whose length is bits 56-63 of R1 (PoP
//! "EXECUTE": the target with R1's byte ORed into its second byte, here
//! the length field).
//!
//! Translation knows the target of an EXRL (relative to it) and of an EX
//! whose base register a LARL just before it set ([`known_target`]); when
//! that target lies in the block's own page, [`fetch_targets`] reads it
//! from the block's frame, and the runner watches its bytes as the
//! block's own (a store into them drops the block, as a store into its
//! code does). So the target the code runs is the one the EXECUTE would
//! fetch: the fetch itself cannot fault (the same page as the EXECUTE),
//! its address is even and the target is not an EXECUTE (both checked
//! here, else the helper runs it and raises the exception).
//!
//! The fast path probes both operands for the largest length R1 can give
//! (256 bytes, or the target's own length when R1 is 0), then moves or
//! combines the run-time length; a probe that fails, a page crossing
//! within those bytes, or operands whose overlap the byte-at-a-time rule
//! makes matter and that the logical addresses do not show alike go to
//! the slow path, where the helper runs the EXECUTE with the interpreter
//! (every exception with the EXECUTE's ILC and PSW), nothing stored
//! before.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::decode::decode;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::kind::AccessKind;

use crate::abi;
use crate::block::{relative_target, Guest, Target};
use crate::emit::{gpr_bytes, Current, Gen};
use crate::fill::PairOrder;
use crate::memory::MemoryAccess;

/// The targets translated natively.
fn translated(op: Opcode) -> bool {
    matches!(op, Opcode::MVC | Opcode::XC)
}

/// The logical address of the target of the EXECUTE `block[index]` when
/// translation can know it: an EXRL's (its relative operand), or an EX's
/// without an index register whose base register the LARL just before it
/// in the block set (the block is entered only at its start, so the LARL
/// ran). `None` otherwise.
pub fn known_target(block: &[Guest], index: usize, amode: AddressingMode) -> Option<u64> {
    let g = block.get(index)?;
    match g.insn.op {
        Opcode::EXRL => Some(relative_target(g.at, &g.insn, amode)),
        Opcode::EX => {
            let larl = block.get(index.checked_sub(1)?)?;
            let f = g.insn.f;
            let based = larl.insn.op == Opcode::LARL && f.x2 == 0 && f.b2 != 0;
            (based && larl.insn.f.r1 == f.b2).then(|| {
                let base = relative_target(larl.at, &larl.insn, amode);
                amode.wrap(base.wrapping_add(f.d2 as u64))
            })
        }
        _ => None,
    }
}

/// Sets [`Guest::target`] for the EXECUTEs of `block` whose
/// [`known_target`] is an MVC or XC at an even address whose six bytes lie
/// in the logical page of the block's first instruction: `read(offset)`
/// gives the six bytes at that offset in the page's frame (the frame the
/// block is translated from). The runner must then watch those bytes as
/// the block's (see [`target_range`]).
pub fn fetch_targets(
    block: &mut [Guest],
    amode: AddressingMode,
    mut read: impl FnMut(u64) -> Option<[u8; 6]>,
) {
    let Some(page) = block.first().map(|g| g.at & !0xfff) else {
        return;
    };
    for index in 0..block.len() {
        let Some(at) = known_target(block, index, amode) else {
            continue;
        };
        if at & 1 != 0 || at & !0xfff != page || at & 0xfff > 0x1000 - 6 {
            continue;
        }
        let Some(insn) = read(at & 0xfff).and_then(|bytes| decode(&bytes).ok()) else {
            continue;
        };
        if translated(insn.op) {
            block[index].target = Some(Target { at, insn });
        }
    }
}

/// The offsets in the first page of `block` of the bytes of its fetched
/// targets ([`fetch_targets`]): from the first target byte to the end of
/// the last, or `None` if it has none.
pub fn target_range(block: &[Guest]) -> Option<(u64, u64)> {
    block
        .iter()
        .filter_map(|g| g.target)
        .map(|t| (t.at & 0xfff, (t.at & 0xfff) + u64::from(t.insn.len)))
        .reduce(|(s, e), (s2, e2)| (s.min(s2), e.max(e2)))
}

impl Gen {
    /// An EXECUTE of the MVC or XC [`fetch_targets`] found, under the
    /// software TLB; `false` for anything else (the helper runs it).
    pub(crate) fn execute(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let Some(target) = here.target else {
            return Ok(false);
        };
        if !matches!(self.env.memory, MemoryAccess::SoftTlb { .. }) {
            return Ok(false);
        }
        let t = target.insn.f;
        let r1 = here.insn.f.r1;
        // The most bytes an operand can have: R1 0 leaves the length.
        let most = match r1 {
            0 => u32::from(t.l1) + 1,
            _ => 256,
        };
        let xor = target.insn.op == Opcode::XC;
        if xor && t.b1 == t.b2 && t.d1 == t.d2 {
            // XC of an operand with itself: zeros, cc 0 (memset's clear).
            self.ea(0, t.b1, t.d1)?;
            self.access(here, AccessKind::Write, most)?;
            self.a.lea(rdi, qword_ptr(r13 + rax))?;
            self.length(r1, t.l1)?;
            let a = &mut self.a;
            a.xor(eax, eax)?;
            a.rep().stosb()?;
            a.xor(ecx, ecx)?;
            a.xor(edx, edx)?;
            return self.set_cc().map(|()| true);
        }
        self.ea(0, t.b2, t.d2)?;
        self.a.mov(rsi, rax)?;
        self.ea(0, t.b1, t.d1)?;
        self.access_pair(here, AccessKind::Write, PairOrder::CheckFirst, most)?;
        // rdx = first - second - 1 (absolute): below length - 1 the first
        // operand starts inside the second, where byte-at-a-time order
        // matters.
        let mut apart = self.a.create_label();
        self.length(r1, t.l1)?;
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
            // A move reads the bytes it stored, as the interpreter does
            // when the logical addresses overlap the same way (else two
            // logical pages alias one frame: the interpreter decides).
            a.inc(rdx)?;
            a.mov(qword_ptr(rsp + abi::FRAME_OPERAND), rdx)?;
            a.mov(qword_ptr(rsp + abi::FRAME_FILL), rax)?;
            self.ea(0, t.b2, t.d2)?;
            self.a.mov(rdx, rax)?;
            self.ea(0, t.b1, t.d1)?;
            self.a.sub(rax, rdx)?;
            self.wrap(rax)?;
            let a = &mut self.a;
            a.cmp(rax, qword_ptr(rsp + abi::FRAME_OPERAND))?;
            a.jne(here.slow)?;
            a.mov(rax, qword_ptr(rsp + abi::FRAME_FILL))?;
            a.mov(rsi, rax)?;
            a.sub(rsi, qword_ptr(rsp + abi::FRAME_OPERAND))?;
        }
        self.a.set_label(&mut apart)?;
        self.a.lea(rdi, qword_ptr(r13 + rax))?;
        self.a.add(rsi, r13)?;
        self.length(r1, t.l1)?;
        let a = &mut self.a;
        if !xor {
            // One byte at a time in ascending order.
            a.rep().movsb()?;
            return Ok(true);
        }
        // The first operand does not start inside the second: byte by
        // byte, cc 1 if any result byte is nonzero.
        a.xor(r8d, r8d)?;
        let mut next = a.create_label();
        a.set_label(&mut next)?;
        a.mov(dl, byte_ptr(rsi))?;
        a.xor(dl, byte_ptr(rdi))?;
        a.or(r8b, dl)?;
        a.mov(byte_ptr(rdi), dl)?;
        a.inc(rsi)?;
        a.inc(rdi)?;
        a.dec(ecx)?;
        a.jnz(next)?;
        a.test(r8b, r8b)?;
        a.setnz(dl)?;
        a.xor(ecx, ecx)?;
        self.set_cc()?;
        Ok(true)
    }

    /// ecx = the length of the target's operands: its length field `l`
    /// with bits 56-63 of R1 ORed in (unless R1 is 0), plus one.
    fn length(&mut self, r1: u8, l: u8) -> Result<(), IcedError> {
        let a = &mut self.a;
        if r1 == 0 {
            return a.mov(ecx, u32::from(l) + 1);
        }
        a.movzx(ecx, byte_ptr(gpr_bytes(r1)))?;
        if l != 0 {
            a.or(ecx, u32::from(l))?;
        }
        a.inc(ecx)
    }
}
