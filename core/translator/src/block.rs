//! Block decoding: straight-line guest code up to an instruction that ends
//! a block, the end of the page, or [`MAX_BLOCK`] instructions.

use alloc::vec::Vec;

use zmmu_cpu::decode::{decode, Insn};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::AluOp;
use zmmu_mmu::addr::AddressingMode;

/// The most instructions one block holds.
pub const MAX_BLOCK: usize = 64;

/// The most side exits one block holds (each branch target in a block
/// starts a block of its own, so long chains of side exits would translate
/// the same code many times over).
pub const MAX_SIDE_EXITS: usize = 2;

/// One guest instruction of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guest {
    /// Its (logical) address.
    pub at: u64,
    /// The decoded instruction.
    pub insn: Insn,
    /// For an EXECUTE whose target translation knows, the target as its
    /// bytes were when the block was translated (see
    /// [`crate::fetch_targets`]); `None` for every other instruction.
    pub target: Option<Target>,
}

/// The target of an EXECUTE or EXECUTE RELATIVE LONG, fetched when its
/// block was translated from the block's own frame (docs/CHOICES.md §64a).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Its logical address.
    pub at: u64,
    /// The instruction there, without R1's bits (those are ORed in when
    /// the EXECUTE runs).
    pub insn: Insn,
}

/// Whether a block goes on after `insn`, which may end one: a conditional
/// relative branch leaves the block only when taken (a side exit), so the
/// block holds the code it falls through to (and a loop of a few such
/// blocks becomes one block that branches back to its own start).
pub fn side_exit(insn: &Insn) -> bool {
    use zmmu_cpu::opcode::Opcode::*;
    match insn.op {
        BRC | BRCL => insn.f.m1 & 15 != 15,
        BRCT | BRCTG | BRXH | BRXLE | BRXHG | BRXLG => true,
        CRJ | CGRJ | CLRJ | CLGRJ | CIJ | CGIJ | CLIJ | CLGIJ => insn.f.m3 & 15 != 15,
        _ => false,
    }
}

/// The target of the relative branch or operand of `insn` at `at`: the
/// instruction address plus twice the signed halfword count RI, wrapped.
pub fn relative_target(at: u64, insn: &Insn, amode: AddressingMode) -> u64 {
    amode.wrap(at.wrapping_add((insn.f.ri as u64).wrapping_mul(2)))
}

/// The guest addresses `block` may end at with a known address: the
/// targets of its relative branches and the address after its last
/// instruction. A block already translated at one of them can be jumped
/// to directly (see [`crate::translate`]'s `links`).
pub fn direct_targets(block: &[Guest], amode: AddressingMode) -> Vec<u64> {
    use zmmu_cpu::format::Format::*;
    let mut out = Vec::new();
    for g in block {
        // Branches relative to the instruction (the others' targets are in
        // registers).
        let relative = g.insn.op.ends_block()
            && !continues_after(g.insn.op)
            && matches!(
                g.insn.op.format(),
                RiB | RiC | RilB | RilC | RieB | RieC | RieE | Rsi
            );
        if relative {
            out.push(relative_target(g.at, &g.insn, amode));
        }
    }
    if let Some(last) = block.last() {
        out.push(amode.wrap(last.at.wrapping_add(u64::from(last.insn.len))));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether a storage-and-immediate operation (MVHI, CLI, NI, ASI ...) is
/// translated natively: MOVE, COMPARE (LOGICAL), AND, OR, EXCLUSIVE OR and
/// ADD (LOGICAL) of an immediate to a storage operand.
pub(crate) fn mem_imm_native(op: AluOp) -> bool {
    matches!(
        op,
        AluOp::Load
            | AluOp::Cmp
            | AluOp::CmpL
            | AluOp::And
            | AluOp::Or
            | AluOp::Xor
            | AluOp::Add
            | AluOp::AddL
    )
}

/// Whether a block goes on after `op`, although it [ends
/// one](zmmu_cpu::opcode::Opcode::ends_block) for the interpreter: EXECUTE
/// and EXECUTE RELATIVE LONG run their target in place, natively when
/// translation knows the target (an MVC or XC in the block's frame, whose
/// bytes the block then watches as its own, see [`crate::fetch_targets`]),
/// else by the helper (the target fetched when it runs), which leaves the
/// block when the target branched, changed the PSW, the machine or
/// translation, or raised an exception, and otherwise returns into it, at
/// the instruction after the EXECUTE.
pub(crate) fn continues_after(op: Opcode) -> bool {
    matches!(op, Opcode::EX | Opcode::EXRL)
}

/// Decodes the block at `at` from `bytes` (the guest bytes from `at` to the
/// end of its page, and possibly the first bytes of the next page):
/// whole instructions up to and including the first that ends a block
/// other than by a [`side_exit`], the [`MAX_SIDE_EXITS`]th side exit, a
/// side exit back to `at` (the end of a loop), or the instruction that
/// reaches the end of the page (one that crosses into the next page, when
/// `bytes` hold its rest, ends the block: the block then depends on the
/// next page's translation too, see docs/CHOICES.md §30), at most `max`
/// instructions. Empty if the first instruction does not fit in `bytes`.
pub fn decode_block(bytes: &[u8], at: u64, amode: AddressingMode, max: usize) -> Vec<Guest> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    let mut exits = 0;
    let page_left = 0x1000 - (at & 0xfff) as usize;
    while out.len() < max.min(MAX_BLOCK) && offset < page_left {
        let Some(rest) = bytes.get(offset..) else {
            break;
        };
        let Ok(insn) = decode(rest) else {
            break;
        };
        let here = amode.wrap(at.wrapping_add(offset as u64));
        out.push(Guest {
            at: here,
            insn,
            target: None,
        });
        offset += usize::from(insn.len);
        if !insn.op.ends_block() || continues_after(insn.op) {
            continue;
        }
        if !side_exit(&insn) {
            break;
        }
        exits += 1;
        let target = relative_target(here, &insn, amode);
        if exits == MAX_SIDE_EXITS || target == at {
            break;
        }
    }
    out
}
