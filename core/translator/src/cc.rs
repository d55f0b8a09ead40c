//! The condition code: kept in the PSW mask (bits 18-19), set by every
//! instruction that sets it, read by branches and LOAD ON CONDITION. A
//! compare also leaves its host flags for a branch right after it
//! (`Compared`, docs/CHOICES.md §52a).

use iced_x86::code_asm::*;
use iced_x86::IcedError;

use crate::abi;
use crate::emit::{low32, Gen};
use crate::psw::PSW_CC_BYTE;
use crate::regs::{Compared, Pending, CACHE};

/// Stores the condition code in cl (0-3) into the PSW's cc bits. Uses
/// rdx.
fn cc_into_psw(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.shl(cl, 4)?;
    a.movzx(edx, byte_ptr(rbx + PSW_CC_BYTE as i32))?;
    a.and(dl, 0xcf)?;
    a.or(dl, cl)?;
    a.mov(byte_ptr(rbx + PSW_CC_BYTE as i32), dl)
}

/// dl and cl (bits 0 and 1 of the cc) from the flags of a compare: cc 1
/// when the first operand is low, 2 when high, 0 when equal; `logical`
/// compares unsigned (COMPARE LOGICAL), else signed.
pub(crate) fn compare_cc(a: &mut CodeAssembler, logical: bool) -> Result<(), IcedError> {
    if logical {
        a.setb(dl)?;
        a.seta(cl)
    } else {
        a.setl(dl)?;
        a.setg(cl)
    }
}

/// The condition codes a mask `m` selects (mask bit 8 >> cc), as a bit
/// set with bit 16 * cc: generated code holds the condition code as cc << 4
/// in rcx (as the PSW byte has it), and `bt` takes the bit number modulo 64.
fn selected(m: u8) -> u64 {
    (0..4)
        .filter(|cc| m & (8 >> cc) != 0)
        .map(|cc| 1u64 << (16 * cc))
        .sum()
}

impl Gen {
    /// The condition code from dl (bit 0) and cl (bit 1) into the PSW;
    /// leaves cl = cc << 4, which the next instruction may use.
    pub(crate) fn set_cc(&mut self) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.add(cl, cl)?;
        a.or(cl, dl)?;
        a.shl(cl, 4)?;
        self.store_cc()
    }

    /// The condition code of a compare from dl (bit 0) and cl (bit 1) into
    /// the PSW, keeping the compare's host flags for the next instruction
    /// ([`Compared`]) where the PSW byte's other bits are in the frame
    /// already (the `and` that saves them would change the flags); leaves
    /// cl = cc << 4 as [`Gen::set_cc`].
    pub(crate) fn set_compare_cc(&mut self, compared: Compared) -> Result<(), IcedError> {
        let keeps = self.regs.cc_base && !self.cc_dead;
        let a = &mut self.a;
        // cl = (2 * cl + dl) << 4 without touching the flags.
        a.lea(ecx, dword_ptr(rdx + rcx * 2))?;
        a.lea(ecx, dword_ptr(rcx * 4))?;
        a.lea(ecx, dword_ptr(rcx * 4))?;
        self.store_cc()?;
        if keeps {
            self.flags_left = Some(compared);
        }
        Ok(())
    }

    /// The condition code in cl (cc << 4, bits 4-5 only) into the PSW,
    /// unless a later instruction of the block overwrites it first. The
    /// other bits of its byte come from the frame
    /// ([`abi::FRAME_CC_BYTE`]), saved there by the first setting of an
    /// instruction that opted in to the register cache: a loop that sets
    /// the cc every iteration would otherwise wait each time for the
    /// store of the last (docs/CHOICES.md §44). Uses rdx.
    pub(crate) fn store_cc(&mut self) -> Result<(), IcedError> {
        self.cc_left = true;
        if self.cc_dead {
            return Ok(());
        }
        if self.regs.cc_base {
            self.a.movzx(edx, byte_ptr(rsp + abi::FRAME_CC_BYTE))?;
        } else {
            self.save_cc_base()?;
            self.regs.cc_base = self.opted;
        }
        // dl | cl, their bits disjoint: an add, which `lea` does without
        // changing the flags (set_compare_cc keeps them).
        let a = &mut self.a;
        a.lea(edx, dword_ptr(rdx + rcx))?;
        a.mov(byte_ptr(rbx + PSW_CC_BYTE as i32), dl)?;
        Ok(())
    }

    /// Before the `cmp` or `test` of a compare that
    /// [`Gen::set_compare_cc`] follows: the frame's copy of the PSW's cc
    /// byte saved now, where it changes no flags that matter (an
    /// instruction that opted in to the register cache keeps it for the
    /// rest of the block). Uses rdx.
    pub(crate) fn before_compare(&mut self) -> Result<(), IcedError> {
        if self.opted && !self.cc_dead && !self.regs.cc_base {
            self.save_cc_base()?;
            self.regs.cc_base = true;
        }
        Ok(())
    }

    /// Whether the condition code of the instruction being emitted, whose
    /// result is in `r1`, may stay unstored over the loads and stores up
    /// to the next instruction that sets it
    /// ([`crate::liveness::cc_window`]; none of them writes `r1` before a
    /// slow path, which computes the cc from it): under the software TLB,
    /// where a slow path is the only way out of their inline code (under
    /// the host MMU a fault leaves from the access itself).
    pub(crate) fn defers_cc(&self, r1: u8) -> bool {
        matches!(self.env.memory, crate::MemoryAccess::SoftTlb { .. })
            && !self.cc_dead
            && self
                .cc_window
                .is_some_and(|(_, written)| written & 1 << (r1 & 15) == 0)
    }

    /// Leaves the condition code of the instruction being emitted
    /// unstored ([`Gen::defers_cc`] said it may): `pending` says how the
    /// slow paths up to the next setting compute it.
    pub(crate) fn defer_cc(&mut self, pending: Pending) {
        let until = self.index + 1 + self.cc_window.map_or(0, |w| w.0);
        self.pending = Some((pending, until));
    }

    /// Stores the [`Pending`] condition code into the PSW, computed from
    /// its register (in the cache's host register where it holds the bits
    /// the cc is of, else in the CPU state): where the helper is about to
    /// see the PSW or the block leaves. Uses rcx and rdx.
    pub(crate) fn store_pending(&mut self, p: Pending) -> Result<(), IcedError> {
        let held = self
            .regs
            .slot(p.r)
            .filter(|&slot| self.regs.whole[slot] || !p.wide);
        let a = &mut self.a;
        match (held, p.wide) {
            (Some(slot), true) => a.cmp(CACHE[slot], 0)?,
            (Some(slot), false) => a.cmp(low32(CACHE[slot]), 0)?,
            (None, true) => a.cmp(crate::emit::gpr(p.r), 0)?,
            (None, false) => a.cmp(crate::emit::gpr32(p.r), 0)?,
        }
        if p.signed {
            a.setl(dl)?;
            a.setg(cl)?;
            a.add(cl, cl)?;
            a.or(cl, dl)?;
        } else {
            a.setne(cl)?;
        }
        cc_into_psw(a)
    }

    /// Stores into the PSW the condition code of the compare whose flags
    /// the host holds (`compared`: cc 0 equal, 1 low, 2 high), where a
    /// branch leaves the block after a compare that did not store it
    /// (docs/CHOICES.md §63e). Uses rcx and rdx.
    pub(crate) fn store_compared_cc(&mut self, compared: Compared) -> Result<(), IcedError> {
        let a = &mut self.a;
        compare_cc(a, compared == Compared::Logical)?;
        a.add(cl, cl)?;
        a.or(cl, dl)?;
        cc_into_psw(a)
    }

    /// The host flags of a compare ([`Compared`], signed or logical) from
    /// its condition code in ecx (cc << 4: 0 equal, 1 low, 2 high, never
    /// 3), where the interpreter ran the compare in its slow path: cc ^ 1
    /// against 1 (1, 0 or 3 against 1) is equal, low or high both signed
    /// and unsigned (docs/CHOICES.md §85). Uses rdx.
    pub(crate) fn compared_again(&mut self) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.mov(edx, ecx)?;
        a.xor(edx, 0x10)?;
        a.cmp(edx, 0x10)?;
        Ok(())
    }

    /// dl = the PSW's cc byte with the cc clear, also saved in the frame.
    pub(crate) fn save_cc_base(&mut self) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.movzx(edx, byte_ptr(rbx + PSW_CC_BYTE as i32))?;
        a.and(dl, 0xcf)?;
        a.mov(byte_ptr(rsp + abi::FRAME_CC_BYTE), dl)?;
        Ok(())
    }

    /// ecx = the current condition code << 4.
    pub(crate) fn load_cc(&mut self) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.movzx(ecx, byte_ptr(rbx + PSW_CC_BYTE as i32))?;
        a.and(ecx, 0x30)?;
        Ok(())
    }

    /// ecx = the current condition code << 4, first thing in an
    /// instruction: nothing to emit when the instruction before left it
    /// there.
    pub(crate) fn cc_to_ecx(&mut self) -> Result<(), IcedError> {
        if self.cc_ready {
            return Ok(());
        }
        self.load_cc()
    }

    /// Jumps to `taken` if the branch mask `m` (8 >> cc) selects the
    /// condition code in ecx. Uses rdx.
    pub(crate) fn branch_on(&mut self, m: u8, taken: CodeLabel) -> Result<(), IcedError> {
        self.a.mov(rdx, selected(m))?;
        self.a.bt(rdx, rcx)?;
        self.a.jc(taken)?;
        Ok(())
    }

    /// Jumps to `skip` unless the mask `m` selects the condition code in
    /// ecx. Uses rdx.
    pub(crate) fn skip_unless(&mut self, m: u8, skip: CodeLabel) -> Result<(), IcedError> {
        self.a.mov(rdx, selected(m))?;
        self.a.bt(rdx, rcx)?;
        self.a.jnc(skip)?;
        Ok(())
    }

    /// Jumps to `skip` unless the mask `m` selects the condition code of
    /// the compare whose flags the host has (`compared`): cc 0 equal, 1
    /// low, 2 high, and never 3, so mask bit 1 selects nothing.
    pub(crate) fn skip_unless_flags(
        &mut self,
        m: u8,
        compared: Compared,
        skip: CodeLabel,
    ) -> Result<(), IcedError> {
        let logical = compared == Compared::Logical;
        let a = &mut self.a;
        // Mask bits 8, 4, 2: cc 0 (equal), 1 (low), 2 (high).
        match m & 14 {
            0 => a.jmp(skip)?,
            2 if logical => a.jbe(skip)?,
            2 => a.jle(skip)?,
            4 if logical => a.jae(skip)?,
            4 => a.jge(skip)?,
            6 => a.je(skip)?,
            8 => a.jne(skip)?,
            10 if logical => a.jb(skip)?,
            10 => a.jl(skip)?,
            12 if logical => a.ja(skip)?,
            12 => a.jg(skip)?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::emit::tests::loop_body;
    use crate::psw::PSW_CC_BYTE;

    /// Whether any host instruction of the self-looping block `code`, from
    /// its loop head to the branch back to it, stores the PSW's cc byte.
    fn loop_stores_the_cc(code: &[u8]) -> bool {
        let cc_byte = PSW_CC_BYTE as u64;
        loop_body(code).iter().any(|i| {
            i.code() == iced_x86::Code::Mov_rm8_r8
                && i.op0_kind() == iced_x86::OpKind::Memory
                && i.memory_base() == iced_x86::Register::RBX
                && i.memory_displacement64() == cc_byte
        })
    }

    #[test]
    fn a_loop_whose_start_sets_the_cc_again_stores_its_last_one_only_where_it_leaves() {
        // lgr r5,r4; agr r5,r4; aghi r2,-1; brctg r1,-12: nothing reads
        // AGHI's cc before AGR sets it again (docs/CHOICES.md §63a).
        let code = [
            0xb9, 0x04, 0x00, 0x54, 0xb9, 0x08, 0x00, 0x54, 0xa7, 0x2b, 0xff, 0xff, 0xa7, 0x17,
            0xff, 0xfa, 0, 0,
        ];
        assert!(!loop_stores_the_cc(&code));
        // lg r5,0(r6); aghi r6,8; brctg r1,-10: LG's slow path may see it.
        let code = [
            0xe3, 0x50, 0x60, 0x00, 0x00, 0x04, 0xa7, 0x6b, 0x00, 0x08, 0xa7, 0x17, 0xff, 0xfb, 0,
            0,
        ];
        assert!(loop_stores_the_cc(&code));
    }
}
