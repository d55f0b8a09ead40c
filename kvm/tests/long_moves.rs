//! MOVE LONG EXTENDED in translated code under the host MMU: an
//! execution that is one run within one page of each operand (Linux's
//! page clears and copies) completes without a host call; every other one
//! (a run the interpreter would end early, operands whose pages may alias
//! one frame at a distance that matters, the two low pages, an address
//! the shadow does not map, an access exception at either operand, a
//! store into a frame holding translated code) goes to the slow path with
//! nothing stored. Registers, the condition code, the lowcore's
//! interruption fields and storage are the interpreter's (PoP "MOVE LONG
//! EXTENDED": up to a CPU-determined number of bytes, cc 3 while the
//! first operand is not done).

mod common;

use common::paged::{interruption, paged_machine, run_paged, ALIAS, INVALID};
use zmmu_machine::Machine;

/// `0: mvcle r2,r4,0(r6) ; jo 0b ; ipm r7` then an invalid opcode.
const PROGRAM: [u8; 16] = [
    0xa8, 0x24, 0x60, 0x00, 0xa7, 0x14, 0xff, 0xfe, 0xb2, 0x22, 0x00, 0x70, 0, 0, 0, 0,
];

/// Runs the program with R2, R3 (the first operand), R4, R5 (the second)
/// and R6 (the pad in its low byte) from `regs` on both engines
/// ([`run_paged`]): the reference and the MVCLEs the kvm engine did not
/// complete in translated code.
fn run(regs: [u64; 5]) -> Option<(Machine, u64)> {
    let build = || paged_machine(&PROGRAM, |gpr| gpr[2..7].copy_from_slice(&regs));
    run_paged(build, &["MVCLE"], &format!("{regs:x?}"))
}

/// The condition code IPM left in R7.
fn cc(machine: &Machine) -> u64 {
    (machine.cpu.gpr[7] >> 28) & 3
}

#[test]
fn one_page_clears_and_copies_complete_in_translated_code() {
    // (R2, R3, R4, R5, R6), the cc: a page cleared (the first operand
    // longer: 2), half a page padded with 0x5a, a page copied (0), a copy
    // whose first operand is shorter (1), one behind its second in the
    // same page, and one whose page aliases the second's frame at a lower
    // offset (each byte read before it is stored).
    let cases = [
        ([0x2_1000, 0x1000, 0, 0, 0], 2),
        ([0x2_2400, 0x800, 0, 0, 0x5a], 2),
        ([0x2_3000, 0x1000, 0x2_4000, 0x1000, 0], 0),
        ([0x2_5000, 0x200, 0x2_6100, 0x300, 0], 1),
        ([0x2_7000, 0x100, 0x2_7010, 0x100, 0], 0),
        ([ALIAS, 0x100, ALIAS + 0x1010, 0x100, 0], 0),
    ];
    for (regs, want) in cases {
        let Some((reference, calls)) = run(regs) else {
            return;
        };
        assert_eq!(interruption(&reference), 1, "{regs:x?}: the end");
        assert_eq!(cc(&reference), want, "{regs:x?}");
        assert_eq!(calls, 0, "{regs:x?}: MVCLE in translated code");
    }
}

#[test]
fn other_runs_take_the_slow_path_and_end_as_the_interpreter() {
    // The first operand 0x10 bytes after the second in one page (the
    // interpreter's runs are 0x10 bytes, cc 3 each); offsets 0x10 apart in
    // pages that do not alias, and in two that do (the interpreter reads
    // the run, then stores it); runs that cross a page; the low pages;
    // the program's own frame.
    let cases = [
        [0x2_7010, 0x100, 0x2_7000, 0x100, 0],
        [0x2_8010, 0x100, 0x2_9000, 0x100, 0],
        [ALIAS + 0x10, 0x100, ALIAS + 0x1000, 0x100, 0],
        [0x2_a800, 0x2000, 0x2_c000, 0x2000, 0],
        [0x1800, 0x100, 0x2_1000, 0x100, 0],
        [0x2800, 0x100, 0x2_1000, 0x100, 0],
    ];
    for regs in cases {
        let Some((reference, calls)) = run(regs) else {
            return;
        };
        assert_eq!(interruption(&reference), 1, "{regs:x?}: the end");
        assert_eq!(cc(&reference), 0, "{regs:x?}");
        assert!(calls >= 1, "{regs:x?}: the slow path");
    }
}

#[test]
fn an_exception_at_either_operand_leaves_the_first_unchanged() {
    // The second operand's page invalid; the first's, for a move and for
    // padding; each operand at 2^47 (outside the segment table's space,
    // and what the shadow does not map).
    let cases = [
        [0x2_d000, 0x100, INVALID, 0x100, 0],
        [INVALID, 0x100, 0x2_d000, 0x100, 0],
        [INVALID, 0x1000, 0, 0, 0],
        [1 << 47, 0x100, 0x2_d000, 0x100, 0],
        [0x2_d000, 0x100, 1 << 47, 0x100, 0],
    ];
    for regs in cases {
        let Some((reference, calls)) = run(regs) else {
            return;
        };
        assert_ne!(
            interruption(&reference),
            1,
            "{regs:x?}: an access exception"
        );
        assert!(calls >= 1, "{regs:x?}: the slow path");
    }
}
