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

use common::{
    assert_same, bytes_at, count, in_vm, on_both, page_table, program_machine, segment_table,
};
use zmmu_kvm::KvmEngine;
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

/// The operands' area, mapped onto itself but for [`INVALID`] and
/// [`ALIAS`].
const DATA: u64 = 0x2_0000;
const DATA_LEN: usize = 0x2_0000;
/// A page whose page-table entry is invalid.
const INVALID: u64 = 0x3_0000;
/// A page mapped onto the frame of the page after it, which is mapped
/// onto itself: two logical pages, one frame.
const ALIAS: u64 = 0x3_1000;

/// DAT on (PSW bit 5).
const DAT: u64 = 0x0400_0000_0000_0000;

/// The operands of one run: R1 (the length byte), the MVC's first and
/// second, the XC's first and second, the cleared one.
#[derive(Clone, Copy, Debug)]
struct Case {
    r1: u64,
    mvc: (u64, u64),
    xc: (u64, u64),
    clear: u64,
}

/// The program under DAT (segment table 0x10000, page table 0x11000)
/// with the registers of `case`, over a pattern in the data area.
fn machine(case: Case) -> Machine {
    let mut machine = program_machine(0x2000, &PROGRAM);
    let pattern: Vec<u8> = (0..DATA_LEN).map(|i| (i * 13 + i / 241) as u8).collect();
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(DATA), &pattern)
        .unwrap();
    segment_table(&mut machine, 0x1_0000, 0x1_1000);
    page_table(&mut machine, 0x1_1000, |page| match page {
        INVALID => 0x400,
        ALIAS => ALIAS + 0x1000,
        _ => page,
    });
    machine.cpu.cr[1] = 0x1_0000;
    machine.cpu.psw.mask |= DAT;
    let gpr = &mut machine.cpu.gpr;
    gpr[1] = case.r1;
    (gpr[2], gpr[3]) = case.mvc;
    (gpr[4], gpr[5]) = case.xc;
    gpr[6] = case.clear;
    gpr[13] = 0x2030;
    machine
}

/// The EXECUTEs run other than in translated code: by the host or the
/// in-VM image, for a slow path or untranslated.
fn calls(engine: &KvmEngine) -> u64 {
    let reasons = engine.reasons();
    ["EX", "EXRL"]
        .iter()
        .map(|m| {
            in_vm(engine, m)
                + count(&reasons.slow_paths_by_mnemonic(), m)
                + count(&reasons.untranslated_by_mnemonic(), m)
        })
        .sum()
}

/// Runs `case` on both engines: the kvm engine's registers, PSW, lowcore
/// and storage are the interpreter's; answers the reference and the
/// EXECUTEs the kvm engine did not complete in translated code.
fn run(case: Case) -> Option<(Machine, u64)> {
    let (reference, kvm) = on_both(|| machine(case), 1000);
    let (machine, engine) = kvm?;
    assert_same(&machine, &reference);
    for (at, len) in [(0x1000, 0x2000), (DATA, DATA_LEN)] {
        let (ours, want) = (bytes_at(&machine, at, len), bytes_at(&reference, at, len));
        let differ = ours.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(
            differ, None,
            "{case:x?}: the first byte that differs from {at:#x}"
        );
    }
    Some((reference, calls(&engine)))
}

/// The program-interruption code: 1 (operation) at the program's end.
fn interruption(machine: &Machine) -> u16 {
    let code = bytes_at(machine, 0x8e, 2);
    u16::from_be_bytes([code[0], code[1]])
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
