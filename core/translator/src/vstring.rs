//! VECTOR FIND ELEMENT EQUAL and VECTOR FIND ELEMENT NOT EQUAL (VFEE,
//! VFENE): glibc's vector `strchr`, `strcmp` and `memchr` (docs/CHOICES.md
//! 51c).
//!
//! Both compare V2 with V3 element by element (M4: bytes, halfwords or
//! words) and give in byte 7 of V1 the byte index of the first element
//! that is equal (VFEE) or not (VFENE), 16 for none, the rest of V1 zeros;
//! with the zero-search flag (M5 bit 2) the index is at most that of V2's
//! first zero element. With the condition-code-set flag (M5 bit 3) the cc
//! is the interpreter's (`zmmu_cpu::exec::vector`): for VFEE 0 a zero at
//! or before the first equal element, 1 an equal element and no zero, 2
//! an equal element before a zero, 3 neither; for VFENE 0 a zero before
//! the first unequal element, 1 or 2 V2's unequal element low or high
//! (unsigned), 3 neither.
//!
//! No storage, no IEEE exception: the translation is SSE2's `pcmpeq` on
//! the registers turned into storage byte order, `pmovmskb` and `bsf`.
//! The vector enablement is checked first (else the slow path, whose
//! interpreter raises the exception); M4 above 2 and M5 bits other than
//! the two flags (a specification exception) are not translated.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::offset;

use crate::emit::{Current, Gen};

/// The offset from rbx of vector register `v` (0-31).
fn vr(v: u8) -> i32 {
    (offset::VR + 16 * usize::from(v & 31)) as i32
}

impl Gen {
    /// VFEE and VFENE as the module says; `false` for other instructions
    /// and the fields the interpreter rejects.
    pub(crate) fn vstring(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let f = here.insn.f;
        let equal = match here.insn.op {
            Opcode::VFEE => true,
            Opcode::VFENE => false,
            _ => return Ok(false),
        };
        if f.m4 > 2 || f.m5 & !3 != 0 {
            return Ok(false);
        }
        let (zero_search, set_cc) = (f.m5 & 2 != 0, f.m5 & 1 != 0);
        self.vector_enabled(here)?;
        let a = &mut self.a;
        // xmm0 = V2, xmm1 = V3, each in storage byte order (element 0's
        // first byte in byte 0).
        for (x, v) in [(xmm0, f.v2), (xmm1, f.v3)] {
            a.mov(rax, qword_ptr(rbx + vr(v)))?;
            a.bswap(rax)?;
            a.movq(x, rax)?;
            a.mov(rax, qword_ptr(rbx + vr(v) + 8))?;
            a.bswap(rax)?;
            a.movq(xmm2, rax)?;
            a.punpcklqdq(x, xmm2)?;
        }
        let compare = |a: &mut CodeAssembler, x: AsmRegisterXmm, y: AsmRegisterXmm| match f.m4 {
            0 => a.pcmpeqb(x, y),
            1 => a.pcmpeqw(x, y),
            _ => a.pcmpeqd(x, y),
        };
        // eax = the byte index of the first (un)equal element, or 16.
        a.movdqa(xmm2, xmm0)?;
        compare(a, xmm2, xmm1)?;
        a.pmovmskb(eax, xmm2)?;
        if !equal {
            a.xor(eax, 0xffff)?;
        }
        a.or(eax, 0x1_0000)?;
        a.bsf(eax, eax)?;
        // edx = the byte index of V2's first zero element, or 16.
        if zero_search {
            a.pxor(xmm3, xmm3)?;
            compare(a, xmm3, xmm0)?;
            a.pmovmskb(edx, xmm3)?;
            a.or(edx, 0x1_0000)?;
            a.bsf(edx, edx)?;
        } else {
            a.mov(edx, 16)?;
        }
        // esi = the result's index.
        a.mov(esi, eax)?;
        a.cmp(esi, edx)?;
        a.cmova(esi, edx)?;
        // ecx = the cc (shifted left 4), from V2 and V3 before V1 changes.
        if set_cc {
            let mut done = a.create_label();
            if equal {
                let mut first = a.create_label();
                a.mov(ecx, 0x10)?;
                a.cmp(eax, edx)?;
                a.jb(first)?;
                a.xor(ecx, ecx)?;
                a.cmp(edx, 16)?;
                a.jne(done)?;
                a.mov(ecx, 0x30)?;
                a.jmp(done)?;
                a.set_label(&mut first)?;
                a.cmp(edx, 16)?;
                a.je(done)?;
                a.mov(ecx, 0x20)?;
            } else {
                a.xor(ecx, ecx)?;
                a.cmp(edx, eax)?;
                a.jb(done)?;
                a.mov(ecx, 0x30)?;
                a.cmp(eax, 16)?;
                a.je(done)?;
                // The unequal elements at byte index t: each register's
                // element starts at byte (t & 8) + 8 - w - (t & 7) of
                // its state (moves.rs), in host order.
                let w = 1i32 << f.m4;
                a.mov(rdx, rax)?;
                a.and(edx, 8)?;
                a.and(eax, 7)?;
                a.sub(rdx, rax)?;
                let (x, y) = (
                    rbx + rdx + (vr(f.v2) + 8 - w),
                    rbx + rdx + (vr(f.v3) + 8 - w),
                );
                match w {
                    1 => {
                        a.mov(al, byte_ptr(x))?;
                        a.cmp(al, byte_ptr(y))?;
                    }
                    2 => {
                        a.mov(ax, word_ptr(x))?;
                        a.cmp(ax, word_ptr(y))?;
                    }
                    _ => {
                        a.mov(eax, dword_ptr(x))?;
                        a.cmp(eax, dword_ptr(y))?;
                    }
                }
                a.mov(ecx, 0x10)?;
                a.jb(done)?;
                a.mov(ecx, 0x20)?;
            }
            a.set_label(&mut done)?;
            a.nop()?;
        }
        let a = &mut self.a;
        a.mov(qword_ptr(rbx + vr(f.v1)), rsi)?;
        a.mov(qword_ptr(rbx + vr(f.v1) + 8), 0)?;
        if set_cc {
            self.store_cc()?;
        }
        Ok(true)
    }
}
