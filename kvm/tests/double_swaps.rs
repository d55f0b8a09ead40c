//! COMPARE DOUBLE AND SWAP in translated code under the host MMU (one
//! `lock cmpxchg16b`, after a locked OR of zero into the operand's first
//! byte maps it writable): the quadword is loaded when unequal (cc 1),
//! then swapped when equal (cc 0), as the interpreter does (PoP "COMPARE
//! DOUBLE AND SWAP"); an operand in the program's own frame, in the low
//! pages, not on a quadword boundary (specification), at an invalid page
//! or outside the space goes to the slow path with nothing stored.

mod common;

use common::paged::{interruption, paged_machine, run_paged, INVALID};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// `cdsg r4,r6,0(r9) ; ipm r10 ; cdsg r4,r6,0(r9) ; ipm r11` then an
/// invalid opcode.
const PROGRAM: [u8; 24] = [
    0xeb, 0x46, 0x90, 0x00, 0x00, 0x3e, 0xb2, 0x22, 0x00, 0xa0, 0xeb, 0x46, 0x90, 0x00, 0x00, 0x3e,
    0xb2, 0x22, 0x00, 0xb0, 0, 0, 0, 0,
];

/// Runs the program with the operand at `at` (R9), R4:R5 and R6:R7
/// apart from any quadword of the data area, on both engines: the
/// reference and the CDSGs the kvm engine ran other than in translated
/// code.
fn run(at: u64) -> Option<(Machine, u64)> {
    let build = || {
        paged_machine(&PROGRAM, |gpr| {
            gpr[4..8].copy_from_slice(&[1, 2, 0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210]);
            gpr[9] = at;
        })
    };
    run_paged(build, &["CDSG"], &format!("{at:#x}"))
}

#[test]
fn a_quadword_is_loaded_then_swapped_in_translated_code() {
    // In the data area; in the low page, above the bytes low-address
    // protection covers.
    for at in [0x2_1000, 0x2_2ff0, 0x1200] {
        let Some((reference, calls)) = run(at) else {
            return;
        };
        assert_eq!(interruption(&reference), 1, "{at:#x}: the end");
        let cc = |r: usize| (reference.cpu.gpr[r] >> 28) & 3;
        assert_eq!((cc(10), cc(11)), (1, 0), "{at:#x}: loaded, then swapped");
        assert_eq!(calls, 0, "{at:#x}: CDSG in translated code");
    }
}

#[test]
fn other_operands_take_the_slow_path_and_end_as_the_interpreter() {
    // The program's frame and the low page (the end), not on a quadword
    // boundary (specification), an invalid page (page translation),
    // outside the segment table's space (ASCE type).
    for (at, code) in [
        (0x2100, 1),
        (0x1100, 1),
        (0x2_1008, 6),
        (INVALID, 0x11),
        (1 << 47, 0x38),
    ] {
        let Some((reference, calls)) = run(at) else {
            return;
        };
        assert_eq!(interruption(&reference), code, "{at:#x}");
        assert!(calls >= 1, "{at:#x}: the slow path");
    }
}

/// `brasl r14,0x21800` (a block of its own there: `br r14`), then
/// [`PROGRAM`]'s instructions.
const AFTER_A_CALL: [u8; 30] = [
    0xc0, 0xe5, 0x00, 0x00, 0xfc, 0x00, 0xeb, 0x46, 0x90, 0x00, 0x00, 0x3e, 0xb2, 0x22, 0x00, 0xa0,
    0xeb, 0x46, 0x90, 0x00, 0x00, 0x3e, 0xb2, 0x22, 0x00, 0xb0, 0, 0, 0, 0,
];

#[test]
fn an_operand_in_another_blocks_frame_is_the_interpreters_and_the_chain_goes_on() {
    // The quadword at 0x21000 shares its frame with the block at 0x21800,
    // not with the running one: the host drops that block, makes the
    // CDSG, and the chain goes on (with the CPU's registers intact).
    let build = || {
        let mut machine = paged_machine(&AFTER_A_CALL, |gpr| {
            gpr[4..8].copy_from_slice(&[1, 2, 0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210]);
            gpr[9] = 0x2_1000;
        });
        machine
            .bus
            .storage
            .write(AbsoluteAddress::new(0x2_1800), &[0x07, 0xfe])
            .unwrap();
        machine
    };
    let Some((reference, calls)) = run_paged(build, &["CDSG"], "0x21000") else {
        return;
    };
    assert_eq!(interruption(&reference), 1, "the end");
    assert!(calls >= 1, "the slow path");
}
