//! Condition-code liveness within a block: which instructions set the
//! condition code before anything can read it, so that the one an
//! instruction just before them sets need not reach the PSW. A leaf module
//! (the instruction classes and the block generator both ask it).

use zmmu_cpu::decode::Insn;
use zmmu_cpu::format::Format;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::{AluOp, FieldOp, Sem, ShiftOp, Src};
use zmmu_mmu::addr::AddressingMode;

use crate::block::Guest;

/// Whether the condition code is set again by one of the instructions
/// `after` the current one before anything can read it: the first that
/// is not [`transparent`] [`overwrites_cc`].
pub(crate) fn cc_dead_after(after: &[Guest]) -> bool {
    after
        .iter()
        .find(|g| !transparent(&g.insn))
        .is_some_and(|g| overwrites_cc(&g.insn))
}

/// Where the condition code of an instruction whose `after` instructions
/// these are may stay unstored (docs/CHOICES.md §58a): the number of them
/// before one that [`overwrites_cc`], all of them [`transparent`],
/// [`faults_only`] or [`exits_only`] (no instruction between reads the cc
/// or calls the helper but from the slow path of a storage access, and
/// none leaves the block but by a branch that does not read it: the
/// block stores the cc first on those paths), and the general registers
/// written before one of those slow paths or exits (one bit each: they
/// compute the cc from a register none of these is). One more than all
/// of them (the window goes on past the block's exits) where the block
/// ends first and `loops` (it branches back to a start that
/// sets the cc again, [`loops_to_a_setting`]: the exits store the cc, the
/// branch back leaves it unstored, §63a; elsewhere the block's end would
/// store it from the CPU state where the instruction's own flags are
/// cheaper). `None` if anything else comes first.
pub(crate) fn cc_window(after: &[Guest], loops: bool) -> Option<(usize, u16)> {
    let (mut written, mut before_slow) = (0u16, 0u16);
    for (n, g) in after.iter().enumerate() {
        if overwrites_cc(&g.insn) {
            return Some((n, before_slow));
        }
        if overwrites_cc_after_access(&g.insn) {
            // Its own slow path stores the cc before the helper runs it.
            return Some((n + 1, before_slow | written));
        }
        let faults = faults_only(&g.insn);
        let exits = exits_only(&g.insn);
        if !(faults || exits || transparent(&g.insn)) {
            return None;
        }
        if faults {
            // Its slow path comes before its own write.
            before_slow |= written;
        }
        if !stores_only(&g.insn) && !compares_only(&g.insn) {
            written |= 1 << (g.insn.f.r1 & 15);
        }
        if exits {
            // Its exit comes after its own write (BRCT's count).
            before_slow |= written;
        }
    }
    loops.then_some((after.len() + 1, before_slow | written))
}

/// Whether `block` ends with a relative branch back to its start, whose
/// first instructions set the condition code before anything can read it
/// ([`cc_dead_after`] of the whole block).
pub(crate) fn loops_to_a_setting(block: &[Guest], amode: AddressingMode) -> bool {
    let (Some(first), Some(last)) = (block.first(), block.last()) else {
        return false;
    };
    exits_only(&last.insn)
        && crate::block::relative_target(last.at, &last.insn, amode) == first.at
        && cc_dead_after(block)
}

/// Whether the first of `after` is a conditional relative branch on the
/// condition code that leaves the block when taken (BRC, BRCL with a
/// mask neither 0 nor 15: a side exit), after which the cc is set again
/// before anything can read it ([`cc_dead_after`]): the only reader of
/// the cc of the instruction before is that branch, and what is left
/// where it is taken (docs/CHOICES.md §63e).
pub(crate) fn cc_read_by_branch_only(after: &[Guest]) -> bool {
    let Some((branch, rest)) = after.split_first() else {
        return false;
    };
    matches!(branch.insn.op, Opcode::BRC | Opcode::BRCL)
        && !matches!(branch.insn.f.m1 & 15, 0 | 15)
        && cc_dead_after(rest)
}

/// Whether `insn` is a relative branch translated natively that neither
/// reads nor sets the condition code: BRANCH RELATIVE ON COUNT (R1 less
/// one, written before the branch), BRANCH RELATIVE ON INDEX HIGH and
/// LOW OR EQUAL (the sum too) and the COMPARE AND BRANCH RELATIVE
/// family (PoP: the condition code is unchanged). Its only way out is the
/// block's exit, through the dispatcher or a chained block.
fn exits_only(insn: &Insn) -> bool {
    use Opcode::*;
    matches!(insn.op, BRCT | BRCTG | BRXH | BRXLE | BRXHG | BRXLG) || compares_only(insn)
}

/// Whether `insn` is a COMPARE AND BRANCH RELATIVE: it writes no general
/// register.
fn compares_only(insn: &Insn) -> bool {
    use Opcode::*;
    matches!(
        insn.op,
        CRJ | CGRJ | CLRJ | CLGRJ | CIJ | CGIJ | CLIJ | CLGIJ
    )
}

/// Whether `insn` is a load of R1, a multiply of R1 by storage or a store
/// of R1 (RX, RXY), INSERT CHARACTER, or a store of an immediate (MVI,
/// MVHI ...: SI, SIY, SIL) that the translator emits natively with the
/// software TLB, or a move between a general and a floating-point
/// register (LDGR, LGDR: PoP, the AFP-register control checked first):
/// it neither reads nor sets the condition code, and the only way out of
/// its inline code is its slow path (a fill the TLB does not resolve, a
/// page crossing, the AFP-register control zero), where the helper runs
/// it.
fn faults_only(insn: &Insn) -> bool {
    let format = insn.op.format();
    let load_or_store = matches!(
        insn.op.sem(),
        Sem::Alu(AluOp::Load | AluOp::Mul, _, Src::Mem(_)) | Sem::Store(_)
    ) && matches!(format, Format::RxA | Format::RxyA);
    load_or_store
        || matches!(
            insn.op,
            Opcode::IC | Opcode::ICY | Opcode::LDGR | Opcode::LGDR
        )
        || matches!(insn.op.sem(), Sem::MemImm(AluOp::Load, ..))
}

/// Whether `insn` writes no general register (a store).
fn stores_only(insn: &Insn) -> bool {
    matches!(insn.op.sem(), Sem::Store(_) | Sem::MemImm(AluOp::Load, ..))
}

/// Whether `insn` is an operation with a storage operand that sets the
/// condition code without reading it (an ALU operation with RX or RXY,
/// COMPARE, AND, OR, EXCLUSIVE OR and ADD with an immediate: CLI, NI,
/// ASI ...): it sets the cc on every path but the slow path of its access
/// and an overflow's (where the helper runs it: an exception there leaves
/// the cc before it).
fn overwrites_cc_after_access(insn: &Insn) -> bool {
    match insn.op.sem() {
        Sem::Alu(op, _, Src::Mem(_)) => {
            sets_cc_only(op) && matches!(insn.op.format(), Format::RxA | Format::RxyA)
        }
        // Every native one but MOVE sets the cc.
        Sem::MemImm(op, ..) => op != AluOp::Load && crate::block::mem_imm_native(op),
        _ => false,
    }
}

/// Whether `insn` is translated natively without a slow path, neither
/// reads nor sets the condition code, and does not leave the block: no
/// exception, helper or interruption can see the PSW while it runs, so
/// the condition code may reach the PSW after it (register loads and
/// multiplies, LA, LAY, LARL, the logical shifts and rotates, ROTATE
/// THEN INSERT SELECTED BITS without the cc, the immediate field loads
/// and inserts: LLIHL, IILF ...).
pub(crate) fn transparent(insn: &Insn) -> bool {
    let format = insn.op.format();
    match insn.op.sem() {
        Sem::Alu(AluOp::Load | AluOp::Mul, _, Src::Reg(_)) => {
            matches!(format, Format::RR | Format::Rre)
        }
        Sem::Alu(AluOp::Load | AluOp::Mul, _, Src::Imm(_)) => {
            matches!(format, Format::RiA | Format::RilA)
        }
        Sem::Shift(ShiftOp::Sll | ShiftOp::Srl | ShiftOp::Rll, _) => {
            matches!(format, Format::RsA | Format::RsyA)
        }
        Sem::Field(FieldOp::LoadLogical | FieldOp::Insert, ..) => true,
        _ => matches!(
            insn.op,
            Opcode::LA | Opcode::LAY | Opcode::LARL | Opcode::RISBGN
        ),
    }
}

/// Whether `insn` is translated natively, sets the condition code on every
/// path without reading it, and cannot take an exception before setting it
/// (a register or immediate operand: its one slow path is an overflow,
/// which completes the instruction; SHIFT RIGHT SINGLE, the
/// rotate-then-operate-on-selected-bits instructions and the immediate
/// field operations and tests (NILL, OIHF, XILF, TMLL ...) have none): the
/// condition code an instruction just before it sets need not reach the
/// PSW.
fn overwrites_cc(insn: &Insn) -> bool {
    let format = insn.op.format();
    if matches!(
        insn.op,
        Opcode::RISBG | Opcode::RNSBG | Opcode::ROSBG | Opcode::RXSBG
    ) {
        return true;
    }
    match insn.op.sem() {
        Sem::Shift(ShiftOp::Sra, _) => matches!(format, Format::RsA | Format::RsyA),
        Sem::Field(op, ..) => !matches!(op, FieldOp::LoadLogical | FieldOp::Insert),
        Sem::Alu(op, _, Src::Reg(_)) => {
            matches!(format, Format::RR | Format::Rre | Format::RrfA) && sets_cc_only(op)
        }
        Sem::Alu(op, _, Src::Imm(_)) => {
            matches!(format, Format::RiA | Format::RilA | Format::RieD) && sets_cc_only(op)
        }
        _ => false,
    }
}

/// The ALU operations the `alu` class emits that set the condition code
/// without reading it.
fn sets_cc_only(op: AluOp) -> bool {
    matches!(
        op,
        AluOp::Add
            | AluOp::AddL
            | AluOp::Sub
            | AluOp::SubL
            | AluOp::And
            | AluOp::Or
            | AluOp::Xor
            | AluOp::Cmp
            | AluOp::CmpL
            | AluOp::LoadTest
            | AluOp::LoadCompl
            | AluOp::LoadPos
            | AluOp::LoadNeg
    )
}

#[cfg(test)]
mod tests {
    use super::{cc_dead_after, cc_read_by_branch_only, cc_window, loops_to_a_setting};
    use crate::block::{decode_block, Guest};
    use zmmu_mmu::addr::AddressingMode;

    /// The instructions after the first of `code`.
    fn after_first(code: &[u8]) -> alloc::vec::Vec<Guest> {
        let mut block = decode_block(code, 0x1000, AddressingMode::Bits64, 64);
        block.remove(0);
        block
    }

    const AR: [u8; 2] = [0x1a, 0x12];
    const LGR: [u8; 4] = [0xb9, 0x04, 0x00, 0x12];
    const SLLG: [u8; 6] = [0xeb, 0x12, 0x00, 0x03, 0x00, 0x0d];
    const LG: [u8; 6] = [0xe3, 0x10, 0x20, 0x00, 0x00, 0x04];
    const JNE: [u8; 4] = [0xa7, 0x74, 0x00, 0x10];

    #[test]
    fn a_cc_set_again_after_register_loads_and_shifts_is_dead() {
        let code = [&AR[..], &LGR, &SLLG, &AR].concat();
        assert!(cc_dead_after(&after_first(&code)));
    }

    const RISBG: [u8; 6] = [0xec, 0x77, 0x36, 0xbd, 0x02, 0x55];
    const RISBGN: [u8; 6] = [0xec, 0x77, 0x36, 0xbd, 0x02, 0x59];
    const RXSBG: [u8; 6] = [0xec, 0x7b, 0x28, 0x3f, 0x38, 0x57];
    const SRA: [u8; 4] = [0x8a, 0x20, 0x00, 0x05];

    #[test]
    fn rotate_then_operate_on_selected_bits_sets_the_cc_again() {
        // RISBG, RNSBG, ROSBG and RXSBG set the cc on every path, and
        // RISBGN leaves it: PoP, ROTATE THEN ... SELECTED BITS.
        let code = [&AR[..], &RISBG].concat();
        assert!(cc_dead_after(&after_first(&code)));
        let code = [&AR[..], &RISBGN, &RXSBG].concat();
        assert!(cc_dead_after(&after_first(&code)));
        let code = [&AR[..], &RISBGN].concat();
        assert!(!cc_dead_after(&after_first(&code)));
    }

    #[test]
    fn shift_right_single_sets_the_cc_again() {
        let code = [&AR[..], &SRA].concat();
        assert!(cc_dead_after(&after_first(&code)));
    }

    const ST: [u8; 4] = [0x50, 0x30, 0x20, 0x00];
    const LHI: [u8; 4] = [0xa7, 0x18, 0x00, 0x01];

    #[test]
    fn the_cc_may_stay_unstored_over_loads_and_stores_up_to_the_next_setting() {
        // ar; lg r1; st r3; lhi r1; ar: three instructions, r1 written
        // before the slow path of st.
        let code = [&AR[..], &LG, &ST, &LHI, &AR].concat();
        assert_eq!(cc_window(&after_first(&code), false), Some((3, 1 << 1)));
        // r1 written by the last load only (after its slow path).
        let code = [&AR[..], &ST, &LG, &LHI, &AR].concat();
        assert_eq!(cc_window(&after_first(&code), false), Some((3, 0)));
    }

    const IC: [u8; 4] = [0x43, 0x33, 0x50, 0x00];
    const CG: [u8; 6] = [0xe3, 0x40, 0x20, 0x28, 0x00, 0x20];

    #[test]
    fn a_compare_with_storage_ends_the_window_after_its_own_slow_path() {
        // ar; ic r3; cg r4: the window holds the two, r3 written before
        // the slow path of cg.
        let code = [&AR[..], &IC, &CG].concat();
        assert_eq!(cc_window(&after_first(&code), false), Some((2, 1 << 3)));
    }

    const LLIHL: [u8; 4] = [0xa5, 0x3d, 0x01, 0x00];
    const OILL: [u8; 4] = [0xa5, 0x3b, 0x01, 0xb3];
    const TMLL: [u8; 4] = [0xa7, 0x31, 0x00, 0x01];

    #[test]
    fn immediate_field_loads_keep_and_field_operations_set_the_cc_again() {
        // ar; llihl r3 (loads a field: no cc); oill r3 (sets the cc).
        assert!(cc_dead_after(&after_first(
            &[&AR[..], &LLIHL, &OILL].concat()
        )));
        assert!(cc_dead_after(&after_first(&[&AR[..], &TMLL].concat())));
        // llihl alone does not set it.
        assert!(!cc_dead_after(&after_first(
            &[&AR[..], &LLIHL, &LG].concat()
        )));
    }

    const MSG: [u8; 6] = [0xe3, 0x60, 0xd0, 0x00, 0x00, 0x0c];
    const LDGR: [u8; 4] = [0xb3, 0xc1, 0x00, 0x83];

    #[test]
    fn multiplies_from_storage_and_moves_to_floating_point_registers_are_in_the_window() {
        // ar; msg r6,0(r13); ldgr f8,r3; ar: r6 written after msg's slow
        // path, before ldgr's (the AFP-register control).
        let code = [&AR[..], &MSG, &LDGR, &AR].concat();
        assert_eq!(cc_window(&after_first(&code), false), Some((2, 1 << 6)));
    }

    const MVI: [u8; 4] = [0x92, 0x01, 0x30, 0x00];
    const CLI: [u8; 4] = [0x95, 0x01, 0x30, 0x00];

    #[test]
    fn stores_of_immediates_and_compares_with_them_are_in_the_window() {
        // ar; mvi 0(r3),1; cli 0(r3),1: no register written.
        let code = [&AR[..], &MVI, &CLI].concat();
        assert_eq!(cc_window(&after_first(&code), false), Some((2, 0)));
    }

    #[test]
    fn a_branch_that_reads_the_cc_before_the_next_setting_keeps_it_stored() {
        let code = [&AR[..], &LG, &JNE, &AR].concat();
        assert_eq!(cc_window(&after_first(&code), false), None);
    }

    #[test]
    fn the_window_reaches_the_end_of_a_loop_whose_exits_store_the_cc() {
        // ar; lg r1; st r3: both, and r1 is written before the exit.
        let code = [&AR[..], &LG, &ST].concat();
        assert_eq!(cc_window(&after_first(&code), true), Some((3, 1 << 1)));
        // Elsewhere the end stores it from the flags.
        assert_eq!(cc_window(&after_first(&code), false), None);
    }

    const BRCTG: [u8; 4] = [0xa7, 0x47, 0xff, 0xf6];
    const CGRJ: [u8; 6] = [0xec, 0x12, 0x00, 0x10, 0x80, 0x64];

    #[test]
    fn branches_that_neither_read_nor_set_the_cc_are_in_the_window() {
        // ar; brctg r4; ar: the count r4 is written before the exit.
        let code = [&AR[..], &BRCTG, &AR].concat();
        assert_eq!(cc_window(&after_first(&code), false), Some((1, 1 << 4)));
        // ar; cgrj r1,r2 (writes nothing, PoP: cc unchanged); ar.
        let code = [&AR[..], &CGRJ, &AR].concat();
        assert_eq!(cc_window(&after_first(&code), false), Some((1, 0)));
    }

    #[test]
    fn a_branch_whose_fall_through_sets_the_cc_again_is_its_only_reader() {
        // ar; jne; sllg; ar: the branch reads it, then AR sets it again.
        let code = [&AR[..], &JNE, &SLLG, &AR].concat();
        assert!(cc_read_by_branch_only(&after_first(&code)));
        // ar; jne; lg; ar: LG may see it.
        let code = [&AR[..], &JNE, &LG, &AR].concat();
        assert!(!cc_read_by_branch_only(&after_first(&code)));
        // ar; brctg; ar: not a branch on the cc.
        let code = [&AR[..], &BRCTG, &AR].concat();
        assert!(!cc_read_by_branch_only(&after_first(&code)));
    }

    #[test]
    fn a_loop_whose_start_sets_the_cc_again_starts_with_it_dead() {
        // sllg; ar; brctg back 8: the start sets the cc before anything
        // reads it.
        let bits64 = AddressingMode::Bits64;
        let code = [&SLLG[..], &AR, &[0xa7, 0x47, 0xff, 0xfc]].concat();
        assert!(loops_to_a_setting(
            &decode_block(&code, 0x1000, bits64, 64),
            bits64
        ));
        // lg; ar; brctg back 8: LG's slow path may see the cc.
        let code = [&LG[..], &AR, &[0xa7, 0x47, 0xff, 0xfc]].concat();
        assert!(!loops_to_a_setting(
            &decode_block(&code, 0x1000, bits64, 64),
            bits64
        ));
        // sllg; ar; brctg elsewhere.
        let code = [&SLLG[..], &AR, &BRCTG].concat();
        assert!(!loops_to_a_setting(
            &decode_block(&code, 0x1000, bits64, 64),
            bits64
        ));
    }

    #[test]
    fn a_storage_operand_in_between_keeps_the_cc_live() {
        // LG may take an exception, whose old PSW holds the cc.
        let code = [&AR[..], &LG, &AR].concat();
        assert!(!cc_dead_after(&after_first(&code)));
    }

    #[test]
    fn a_branch_reads_the_cc() {
        let code = [&AR[..], &SLLG, &JNE, &AR].concat();
        assert!(!cc_dead_after(&after_first(&code)));
    }

    #[test]
    fn the_cc_at_the_end_of_the_block_is_live() {
        let code = [&AR[..], &LGR].concat();
        assert!(!cc_dead_after(&after_first(&code)));
    }
}
