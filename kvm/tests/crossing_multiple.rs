//! LOAD MULTIPLE and STORE MULTIPLE whose operand crosses into the next
//! page, in translated code under the host MMU (a stack frame across a
//! page boundary: Linux's processes save and restore registers there at
//! every call of a function whose frame the stack's random start put
//! across one). Across two valid pages neither is a host call; where the
//! second page's entry is invalid (PoP ch. 6: the access exception
//! suppresses the operation, the interpreter checks the whole operand
//! first) no register is loaded, the base register among them, and no
//! byte is stored, as the interpreter leaves them; across the page
//! mapped onto another's frame, the bytes are the interpreter's.

mod common;

use common::paged::{interruption, paged_machine, run_paged, ALIAS, INVALID};
use zmmu_machine::Machine;

/// `lmg r1,r4,0(r7) ; stmg r8,r13,0(r14)` (r7 and r14 the operands'
/// addresses, r1-r4 loaded: not the base) ; `lm r2,r9,0(r5)` (32 bytes,
/// r5 the base among the words loaded) ; then an invalid opcode.
const PROGRAM: [u8; 22] = [
    0xeb, 0x14, 0x70, 0x00, 0x00, 0x04, 0xeb, 0x8d, 0xe0, 0x00, 0x00, 0x24, 0x98, 0x29, 0x50, 0x00,
    0, 0, 0, 0, 0x07, 0x07,
];

/// Runs the program with the LMG's operand at `load`, the STMG's at
/// `store` and the LM's at `words`, the other registers distinct, on both
/// engines: the reference and the LMG, STMG and LM the kvm engine ran
/// other than in translated code.
fn run(load: u64, store: u64, words: u64) -> Option<(Machine, u64)> {
    let build = || {
        paged_machine(&PROGRAM, |gpr| {
            for (r, value) in gpr.iter_mut().enumerate() {
                *value = 0x1111_0000_0000_0000 * r as u64 + r as u64;
            }
            gpr[7] = load;
            gpr[14] = store;
            gpr[5] = words;
        })
    };
    run_paged(
        build,
        &["LMG", "STMG", "LM"],
        &format!("lmg at {load:#x}, stmg at {store:#x}, lm at {words:#x}"),
    )
}

#[test]
fn an_operand_across_two_valid_pages_moves_in_translated_code() {
    // 32 bytes from 0x2_0ff8 (8 in the first page); 48 from 0x2_4fd8
    // (40); 32 from 0x2_6ff0.
    let Some((reference, calls)) = run(0x2_0ff8, 0x2_4fd8, 0x2_6ff0) else {
        return;
    };
    assert_eq!(interruption(&reference), 1, "the end");
    assert_eq!(calls, 0, "no slow path");
}

#[test]
fn an_operand_across_the_page_mapped_onto_the_next_ones_frame_moves_as_the_interpreter_moves() {
    // Out of ALIAS into the page after it, whose frame ALIAS shares: the
    // operand's two parts in one frame.
    let Some((reference, _)) = run(ALIAS + 0xff0, ALIAS + 0xfe0, ALIAS + 0xff8) else {
        return;
    };
    assert_eq!(interruption(&reference), 1, "the end");
}

#[test]
fn an_operand_across_into_an_invalid_page_loads_and_stores_nothing() {
    // Each operand ends in the invalid page: page translation (0x11) at
    // the first instruction that reaches it, nothing loaded or stored.
    for (load, store, words) in [
        (INVALID - 0x10, 0x2_4fd8, 0x2_6ff0),
        (0x2_0ff8, INVALID - 8, 0x2_6ff0),
        (0x2_0ff8, 0x2_4fd8, INVALID - 4),
    ] {
        let Some((reference, calls)) = run(load, store, words) else {
            return;
        };
        assert_eq!(
            interruption(&reference),
            0x11,
            "{load:#x} {store:#x} {words:#x}"
        );
        assert!(calls >= 1, "the slow path");
    }
}
