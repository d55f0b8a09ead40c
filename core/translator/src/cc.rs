//! The condition code: kept in the PSW mask (bits 18-19), set by every
//! instruction that sets it, read by branches and LOAD ON CONDITION.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::state::offset;

use crate::abi;
use crate::emit::Gen;

/// The PSW-mask byte that holds the condition code (bits 2-3 of it).
pub(crate) const PSW_CC_BYTE: usize = offset::PSW_MASK + 5;

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
        let a = &mut self.a;
        a.or(dl, cl)?;
        a.mov(byte_ptr(rbx + PSW_CC_BYTE as i32), dl)?;
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
}
