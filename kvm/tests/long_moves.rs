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

use common::{
    assert_same, bytes_at, count, in_vm, on_both, page_table, program_machine, segment_table,
};
use zmmu_kvm::KvmEngine;
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// `0: mvcle r2,r4,0(r6) ; jo 0b ; ipm r7` then an invalid opcode.
const PROGRAM: [u8; 16] = [
    0xa8, 0x24, 0x60, 0x00, 0xa7, 0x14, 0xff, 0xfe, 0xb2, 0x22, 0x00, 0x70, 0, 0, 0, 0,
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

/// The program under DAT (segment table 0x10000, page table 0x11000)
/// with R2, R3 (the first operand), R4, R5 (the second) and R6 (the pad
/// in its low byte) from `regs`, over a pattern in the data area.
fn machine(regs: [u64; 5]) -> Machine {
    let mut machine = program_machine(0x2000, &PROGRAM);
    let pattern: Vec<u8> = (0..DATA_LEN).map(|i| (i * 7 + i / 251) as u8).collect();
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
    machine.cpu.gpr[2..7].copy_from_slice(&regs);
    machine
}

/// The MVCLEs run other than in translated code: by the host or the
/// in-VM image, for a slow path or untranslated.
fn calls(engine: &KvmEngine) -> u64 {
    let reasons = engine.reasons();
    in_vm(engine, "MVCLE")
        + count(&reasons.slow_paths_by_mnemonic(), "MVCLE")
        + count(&reasons.untranslated_by_mnemonic(), "MVCLE")
}

/// Runs `regs` on both engines: the kvm engine's registers, PSW, lowcore
/// and data are the interpreter's; answers the reference and the
/// MVCLEs the kvm engine did not complete in translated code.
fn run(regs: [u64; 5]) -> Option<(Machine, u64)> {
    let (reference, kvm) = on_both(|| machine(regs), 1000);
    let (machine, engine) = kvm?;
    assert_same(&machine, &reference);
    for (at, len) in [(0x1000, 0x2000), (DATA, DATA_LEN)] {
        let (ours, want) = (bytes_at(&machine, at, len), bytes_at(&reference, at, len));
        let differ = ours.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(
            differ, None,
            "{regs:x?}: the first byte that differs from {at:#x}"
        );
    }
    Some((reference, calls(&engine)))
}

/// The program-interruption code: 1 (operation) at the program's end.
fn interruption(machine: &Machine) -> u16 {
    let code = bytes_at(machine, 0x8e, 2);
    u16::from_be_bytes([code[0], code[1]])
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
