//! Block decoding: straight-line guest code up to an instruction that ends
//! a block, the end of the page, or [`MAX_BLOCK`] instructions.

use alloc::vec::Vec;

use zmmu_cpu::decode::{decode, Insn};
use zmmu_mmu::addr::AddressingMode;

/// The most instructions one block holds.
pub const MAX_BLOCK: usize = 64;

/// One guest instruction of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guest {
    /// Its (logical) address.
    pub at: u64,
    /// The decoded instruction.
    pub insn: Insn,
}

/// Decodes the block at `at` from `bytes` (the guest bytes from `at` to the
/// end of its page): whole instructions up to and including the first that
/// ends a block, at most `max` of them. Empty if the first instruction does
/// not fit in `bytes` (it crosses the page: the caller interprets it).
pub fn decode_block(bytes: &[u8], at: u64, amode: AddressingMode, max: usize) -> Vec<Guest> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    while out.len() < max.min(MAX_BLOCK) {
        let Some(rest) = bytes.get(offset..) else {
            break;
        };
        let Ok(insn) = decode(rest) else {
            break;
        };
        out.push(Guest {
            at: amode.wrap(at.wrapping_add(offset as u64)),
            insn,
        });
        offset += usize::from(insn.len);
        if insn.op.ends_block() {
            break;
        }
    }
    out
}
