//! MVC, XC and CLC whose operands cross into the next page, in
//! translated code under the host MMU (a structure copied across a page
//! of a process's stack). Across valid pages none is a slow path; an
//! operand running into an invalid page stores nothing (PoP ch. 6: the
//! access exception suppresses the instruction, the interpreter checks
//! both operands first); where the operands' page offsets lie closer
//! than their length, the first after the second, and they are not in
//! one page, two of their pages could alias one frame (here: a page
//! mapped onto the next one's frame), where the interpreter reads the
//! whole second operand before it stores (the operands do not overlap
//! logically): the slow path gives its bytes.

mod common;

use common::paged::{interruption, paged_machine, run_paged, ALIAS, INVALID};
use zmmu_machine::Machine;

/// `mvc 0(16,r2),0(r3) ; xc 0(16,r4),0(r5) ; clc 0(16,r6),0(r7) ; ipm
/// r8` then an invalid opcode.
const PROGRAM: [u8; 24] = [
    0xd2, 0x0f, 0x20, 0x00, 0x30, 0x00, 0xd7, 0x0f, 0x40, 0x00, 0x50, 0x00, 0xd5, 0x0f, 0x60, 0x00,
    0x70, 0x00, 0xb2, 0x22, 0x00, 0x80, 0x00, 0x00,
];

/// Runs the program with R2-R7 = `regs` on both engines: the reference
/// and the MVC, XC and CLC the kvm engine ran other than in translated
/// code.
fn run(regs: [u64; 6]) -> Option<(Machine, u64)> {
    let build = || paged_machine(&PROGRAM, |gpr| gpr[2..8].copy_from_slice(&regs));
    run_paged(build, &["MVC", "XC", "CLC"], &format!("{regs:x?}"))
}

#[test]
fn operands_across_valid_pages_move_and_compare_in_translated_code() {
    // Each operand across a page: 8 bytes in the first.
    let Some((reference, calls)) =
        run([0x2_0ff8, 0x2_2ff8, 0x2_4ff8, 0x2_6ffc, 0x2_8ff4, 0x2_9ff8])
    else {
        return;
    };
    assert_eq!(interruption(&reference), 1, "the end");
    assert_eq!(calls, 0, "no slow path");
}

#[test]
fn an_operand_running_into_an_invalid_page_stores_nothing() {
    for regs in [
        [
            INVALID - 8,
            0x2_2ff8,
            0x2_4ff8,
            0x2_6ffc,
            0x2_8ff4,
            0x2_9ff8,
        ],
        [
            0x2_0ff8,
            INVALID - 4,
            0x2_4ff8,
            0x2_6ffc,
            0x2_8ff4,
            0x2_9ff8,
        ],
    ] {
        let Some((reference, calls)) = run(regs) else {
            return;
        };
        assert_eq!(interruption(&reference), 0x11, "{regs:x?}");
        assert!(calls >= 1, "{regs:x?}: the slow path");
    }
}

#[test]
fn operands_whose_page_offsets_overlap_in_two_pages_of_one_frame_are_the_interpreters() {
    // The MVC's first operand from ALIAS + 0xff8 on, across into the
    // frame of ALIAS + 0x1000, where its second operand lies 8 bytes
    // before it; then each operand within its page: the first in ALIAS,
    // the second 8 bytes before it in the frame they share. The logical
    // addresses are a page apart.
    for mvc in [
        [ALIAS + 0xff8, ALIAS + 0x1ff0],
        [ALIAS + 0x10, ALIAS + 0x1008],
    ] {
        let regs = [mvc[0], mvc[1], 0x2_4ff8, 0x2_6ffc, 0x2_8ff4, 0x2_9ff8];
        let Some((reference, calls)) = run(regs) else {
            return;
        };
        assert_eq!(interruption(&reference), 1, "{regs:x?}: the end");
        assert!(calls >= 1, "{regs:x?}: the MVC's slow path");
    }
}
