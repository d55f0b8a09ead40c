//! EXECUTE and EXECUTE RELATIVE LONG of MVC and XC in translated code
//! under the host MMU (Linux's and glibc's memcpy and memset tails): a
//! target in the block's own page is fetched at translation, its frame
//! watched as the block's, and the executed instruction's operands, their
//! length from bits 56-63 of R1 (PoP "EXECUTE"), move or combine one byte
//! at a time in ascending order without a host call. Every other case (an
//! operand across a page, operands in two pages whose offsets overlap, as
//! they would should the pages alias one frame, the low pages, a store
//! into the program's own frame, an access exception at either operand,
//! an address the shadow does not map) goes to the slow path with
//! nothing stored. Registers, condition codes, the lowcore's interruption
//! fields and storage are the interpreter's.

mod common;

use common::paged::{interruption, paged_machine, run_paged, ALIAS, INVALID};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// At 0x2000:
/// ```text
/// exrl r1,tmvc ; ipm r7 ; exrl r1,txc ; ipm r8 ; exrl r1,tclr ; ipm r9
/// larl r10,tmvc ; ex r1,0(r10) ; ex r1,12(r13) (tclr, r13 = 0x2030)
/// (invalid)
/// tmvc: mvc 0(1,r2),0(r3) ; txc: xc 0(1,r4),0(r5) ; tclr: xc 0(1,r6),0(r6)
/// ```
const PROGRAM: [u8; 68] = [
    0xc6, 0x10, 0x00, 0x00, 0x00, 0x18, 0xb2, 0x22, 0x00, 0x70, 0xc6, 0x10, 0x00, 0x00, 0x00, 0x16,
    0xb2, 0x22, 0x00, 0x80, 0xc6, 0x10, 0x00, 0x00, 0x00, 0x14, 0xb2, 0x22, 0x00, 0x90, 0xc0, 0xa0,
    0x00, 0x00, 0x00, 0x09, 0x44, 0x10, 0xa0, 0x00, 0x44, 0x10, 0xd0, 0x0c, 0x00, 0x00, 0x00, 0x00,
    0xd2, 0x00, 0x20, 0x00, 0x30, 0x00, 0xd7, 0x00, 0x40, 0x00, 0x50, 0x00, 0xd7, 0x00, 0x60, 0x00,
    0x60, 0x00, 0x07, 0x07,
];

/// The operands of one run: R1 (the length byte), the MVC's first and
/// second, the XC's first and second, the cleared one.
#[derive(Clone, Copy, Debug)]
struct Case {
    r1: u64,
    mvc: (u64, u64),
    xc: (u64, u64),
    clear: u64,
}

/// Runs the program with the registers of `case` (and R13 0x2030) on
/// both engines ([`run_paged`]): the reference and the EXECUTEs the kvm
/// engine did not complete in translated code.
fn run(case: Case) -> Option<(Machine, u64)> {
    let build = || {
        paged_machine(&PROGRAM, |gpr| {
            gpr[1] = case.r1;
            (gpr[2], gpr[3]) = case.mvc;
            (gpr[4], gpr[5]) = case.xc;
            gpr[6] = case.clear;
            gpr[13] = 0x2030;
        })
    };
    run_paged(build, &["EX", "EXRL"], &format!("{case:x?}"))
}

#[test]
fn moves_and_clears_within_a_page_complete_in_translated_code() {
    let cases = [
        // 16 bytes; 256 bytes ending at their pages' ends; one byte (R1
        // 0: the target's own length).
        Case {
            r1: 0x0f,
            mvc: (0x2_1000, 0x2_2000),
            xc: (0x2_3000, 0x2_4000),
            clear: 0x2_5000,
        },
        Case {
            r1: 0x3_00ff,
            mvc: (0x2_1f00, 0x2_2f00),
            xc: (0x2_3f00, 0x2_4f00),
            clear: 0x2_5f00,
        },
        Case {
            r1: 0,
            mvc: (0x2_1010, 0x2_2020),
            xc: (0x2_3030, 0x2_4040),
            clear: 0x2_5050,
        },
        // The first operand one byte after the second in one page: the
        // byte propagates, the XC combines bytes it stored.
        Case {
            r1: 0x3f,
            mvc: (0x2_6001, 0x2_6000),
            xc: (0x2_7001, 0x2_7000),
            clear: 0x2_5000,
        },
        // Two pages that alias one frame, the first operand's offset
        // below the second's (each byte read before it is stored).
        Case {
            r1: 0x3f,
            mvc: (ALIAS, ALIAS + 0x1010),
            xc: (ALIAS + 0x100, ALIAS + 0x1180),
            clear: 0x2_5000,
        },
    ];
    for case in cases {
        let Some((reference, calls)) = run(case) else {
            return;
        };
        assert_eq!(interruption(&reference), 1, "{case:x?}: the end");
        assert_eq!(calls, 0, "{case:x?}: the EXECUTEs in translated code");
    }
}

#[test]
fn other_operands_take_the_slow_path_and_end_as_the_interpreter() {
    let cases = [
        // Across a page.
        Case {
            r1: 0x1f,
            mvc: (0x2_1ff0, 0x2_2000),
            xc: (0x2_3000, 0x2_4ff0),
            clear: 0x2_5ff0,
        },
        // Offsets 0x10 apart, the first after the second, in pages that
        // do not alias, and in two that do (the interpreter reads the
        // whole second operand before it stores).
        Case {
            r1: 0x3f,
            mvc: (0x2_8010, 0x2_9000),
            xc: (0x2_a010, 0x2_b000),
            clear: 0x2_5000,
        },
        Case {
            r1: 0x3f,
            mvc: (ALIAS + 0x10, ALIAS + 0x1000),
            xc: (ALIAS + 0x210, ALIAS + 0x1200),
            clear: 0x2_5000,
        },
        // The low pages; the program's own frame (its blocks dropped).
        Case {
            r1: 0x0f,
            mvc: (0x1100, 0x2_2000),
            xc: (0x11f8, 0x2_4000),
            clear: 0x1000,
        },
        Case {
            r1: 0x0f,
            mvc: (0x2800, 0x2_2000),
            xc: (0x2900, 0x2_4000),
            clear: 0x2a00,
        },
    ];
    for case in cases {
        let Some((reference, calls)) = run(case) else {
            return;
        };
        assert_eq!(interruption(&reference), 1, "{case:x?}: the end");
        assert!(calls >= 1, "{case:x?}: the slow path");
    }
}

#[test]
fn an_exception_at_either_operand_stores_nothing() {
    let fine = Case {
        r1: 0x0f,
        mvc: (0x2_1000, 0x2_2000),
        xc: (0x2_3000, 0x2_4000),
        clear: 0x2_5000,
    };
    let cases = [
        Case {
            mvc: (0x2_1000, INVALID),
            ..fine
        },
        Case {
            mvc: (INVALID, 0x2_2000),
            ..fine
        },
        Case {
            xc: (0x2_3000, INVALID + 0x100),
            ..fine
        },
        Case {
            xc: (INVALID + 0x100, 0x2_4000),
            ..fine
        },
        Case {
            clear: INVALID,
            ..fine
        },
        // Outside the segment table's space, and what the shadow does not
        // map.
        Case {
            mvc: (1 << 47, 0x2_2000),
            ..fine
        },
        Case {
            xc: (0x2_3000, 1 << 47),
            ..fine
        },
        Case {
            clear: 1 << 47,
            ..fine
        },
    ];
    for case in cases {
        let Some((reference, calls)) = run(case) else {
            return;
        };
        assert_ne!(
            interruption(&reference),
            1,
            "{case:x?}: an access exception"
        );
        assert!(calls >= 1, "{case:x?}: the slow path");
    }
}

/// At 0x2fe0, reached by a jump from 0x2000: `X: exrl r1,0x3000 ; mvi
/// 1(r11),7 ; brct r5,X` then an invalid opcode; at 0x3000, in the next
/// page, `mvc 0(1,r2),0(r3)`.
const ACROSS: [(u64, &[u8]); 3] = [
    (0x2000, &[0xa7, 0xf4, 0x07, 0xf0]),
    (
        0x2fe0,
        &[
            0xc6, 0x10, 0x00, 0x00, 0x00, 0x10, 0x92, 0x07, 0xb0, 0x01, 0xa7, 0x56, 0xff, 0xfb, 0,
            0, 0, 0,
        ],
    ),
    (0x3000, &[0xd2, 0x00, 0x20, 0x00, 0x30, 0x00]),
];

#[test]
fn a_target_in_the_next_page_is_watched_as_the_blocks_own() {
    // The first turn moves one byte, then the MVI makes the target's
    // length 8: the block, whose target's frame is a code frame, goes
    // with the store, and the later turns move 8 bytes (PoP "EXECUTE":
    // the target is fetched each time).
    let build = || {
        let mut machine = paged_machine(&[], |gpr| {
            (gpr[1], gpr[2], gpr[3], gpr[5], gpr[11]) = (0, 0x2_1000, 0x2_2100, 3, 0x3000);
        });
        for (at, bytes) in ACROSS {
            machine
                .bus
                .storage
                .write(AbsoluteAddress::new(at), bytes)
                .unwrap();
        }
        machine
    };
    let Some((reference, calls)) = run_paged(build, &["EXRL"], "across") else {
        return;
    };
    assert_eq!(interruption(&reference), 1, "the end");
    let storage = &reference.bus.storage;
    let moved = [0x2_1000, 0x2_2100].map(|at| storage.read_u64(AbsoluteAddress::new(at)));
    assert_eq!(moved[0], moved[1], "8 bytes moved");
    assert_eq!(calls, 0, "the EXRLs in translated code");
}

/// At 0x2fe0, reached by a jump from 0x2000: `X: exrl r1,0x3000 ; ipte
/// r8,r9 ; stg r10,0(r12) ; brct r5,X` then an invalid opcode; at 0x3000
/// `mvc 0(1,r2),0(r3)`, at 0x24000 `mvc 0(8,r2),0(r3)`.
const REMAPPED: [(u64, &[u8]); 4] = [
    (0x2000, &[0xa7, 0xf4, 0x07, 0xf0]),
    (
        0x2fe0,
        &[
            0xc6, 0x10, 0x00, 0x00, 0x00, 0x10, 0xb2, 0x21, 0x00, 0x89, 0xe3, 0xa0, 0xc0, 0x00,
            0x00, 0x24, 0xa7, 0x56, 0xff, 0xf8, 0, 0, 0, 0,
        ],
    ),
    (0x3000, &[0xd2, 0x00, 0x20, 0x00, 0x30, 0x00]),
    (0x2_4000, &[0xd2, 0x07, 0x20, 0x00, 0x30, 0x00]),
];

#[test]
fn a_target_in_the_next_page_is_fetched_again_after_that_page_is_mapped_anew() {
    // The first turn moves one byte; then the next page's entry is
    // invalidated (IPTE) and made valid onto the frame at 0x24000, whose
    // target moves 8 bytes (PoP "EXECUTE": the target is fetched through
    // the tables each time).
    let build = || {
        let mut machine = paged_machine(&[], |gpr| {
            (gpr[1], gpr[2], gpr[3], gpr[5]) = (0, 0x2_1000, 0x2_2100, 3);
            (gpr[8], gpr[9], gpr[10], gpr[12]) = (0x1_1000, 0x3000, 0x2_4000, 0x1_1018);
        });
        for (at, bytes) in REMAPPED {
            machine
                .bus
                .storage
                .write(AbsoluteAddress::new(at), bytes)
                .unwrap();
        }
        machine
    };
    let Some((reference, _)) = run_paged(build, &["EXRL"], "remapped") else {
        return;
    };
    assert_eq!(interruption(&reference), 1, "the end");
    let storage = &reference.bus.storage;
    let moved = [0x2_1000, 0x2_2100].map(|at| storage.read_u64(AbsoluteAddress::new(at)));
    assert_eq!(moved[0], moved[1], "8 bytes moved");
}

/// At 0x2fe0, reached by a jump from 0x2000: `X: exrl r1,0x3000 ; vlbb
/// v1,0(r4),0 ; brct r5,X` then an invalid opcode; at 0x3000, in the next
/// page, `mvc 0(1,r2),0(r3)`. R4 lies 8 bytes before a 64-byte boundary:
/// each VLBB takes its slow path (PoP "VECTOR LOAD TO BLOCK BOUNDARY":
/// only the bytes up to the boundary are loaded).
const BESIDE: [(u64, &[u8]); 3] = [
    (0x2000, &[0xa7, 0xf4, 0x07, 0xf0]),
    (
        0x2fe0,
        &[
            0xc6, 0x10, 0x00, 0x00, 0x00, 0x10, 0xe7, 0x10, 0x40, 0x00, 0x00, 0x07, 0xa7, 0x56,
            0xff, 0xfa, 0, 0,
        ],
    ),
    (0x3000, &[0xd2, 0x00, 0x20, 0x00, 0x30, 0x00]),
];

#[test]
fn a_slow_path_in_a_block_whose_target_lies_in_the_next_page_asks_the_image() {
    // The block's second frame holds only the EXRL's target: the VLBB's
    // site, in the first page, is entered in the image's table at its
    // first slow path, and the image completes the later ones.
    const TURNS: u64 = 20;
    let build = || {
        let mut machine = paged_machine(&[], |gpr| {
            (gpr[1], gpr[2], gpr[3], gpr[4], gpr[5]) = (0, 0x2_1000, 0x2_2100, 0x2_1038, TURNS);
        });
        machine.cpu.cr[0] |= 1 << 17;
        for (at, bytes) in BESIDE {
            machine
                .bus
                .storage
                .write(AbsoluteAddress::new(at), bytes)
                .unwrap();
        }
        machine
    };
    let (reference, kvm) = common::on_both(build, 1000);
    let Some((machine, engine)) = kvm else {
        return;
    };
    common::assert_same(&machine, &reference);
    assert_eq!(interruption(&reference), 1, "the end");
    let host = common::count(&engine.reasons().slow_paths_by_mnemonic(), "VLBB");
    assert!(host <= 1, "{host} VLBB slow paths the host's");
    assert!(
        common::in_vm(&engine, "VLBB") >= TURNS - 1,
        "the image completes the VLBBs"
    );
}
