//! LRA and STURG completed in the VM (Linux's kernel-text writes: `lra`
//! then `sturg` per doubleword): the image walks the DAT tables through
//! its absolute window and stores at a real address into a frame the host
//! listed after its own store there. Registers, condition codes, stores,
//! exceptions and the translated code a store reaches are the
//! interpreter's.

mod common;

use common::{assert_same, bytes_at, in_vm, on_both, program_machine, write_words};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// DAT tables for `machine` (DAT stays off: LRA translates through CR1
/// whatever the PSW's DAT bit): a segment table at 0x10000 (segments
/// 0-511) whose segment 0 has the page table at 0x11000 and segment 2 one
/// beyond storage, the others invalid; page 5 is frame 0x23000, page 8
/// frame 0x2000 (the programs' own), page 7 has bit 52 set (a
/// translation-specification exception), the others are invalid.
fn with_tables(mut machine: Machine) -> Machine {
    let mut words: Vec<(u64, u64)> = (0..512).map(|s| (0x1_0000 + 8 * s, 0x20)).collect();
    words.extend((0..256).map(|p| (0x1_1000 + 8 * p, 0x400)));
    words.extend([
        (0x1_0000, 0x1_1000),
        (0x1_0010, 0x7fff_f800),
        (0x1_1000 + 8 * 5, 0x2_3000),
        (0x1_1000 + 8 * 7, 0x2_4800),
        (0x1_1000 + 8 * 8, 0x2000),
    ]);
    write_words(&mut machine, &words);
    machine.cpu.cr[1] = 0x1_0000;
    machine
}

/// Turns of [`PAIRS`].
const TURNS: u64 = 200;

/// `lghi r1,200 ; lghi r4,0x5000 ; lghi r3,0`, then 200 times `lra
/// r6,0(r4)` (ends its block), `ipm r5 ; sturg r3,r6 ; aghi r4,8 ; aghi
/// r3,1 ; brctg r1` back: doublewords 0-199 into frame 0x23000 through
/// page 5; then an invalid opcode.
const PAIRS: [u8; 38] = [
    0xa7, 0x19, 0x00, 0xc8, 0xa7, 0x49, 0x50, 0x00, 0xa7, 0x39, 0x00, 0x00, 0xb1, 0x60, 0x40, 0x00,
    0xb2, 0x22, 0x00, 0x50, 0xb9, 0x25, 0x00, 0x36, 0xa7, 0x4b, 0x00, 0x08, 0xa7, 0x3b, 0x00, 0x01,
    0xa7, 0x17, 0xff, 0xf6, 0x00, 0x00,
];

#[test]
fn lra_then_sturg_into_a_data_frame_complete_in_the_vm() {
    let (reference, kvm) = on_both(|| with_tables(program_machine(0x2000, &PAIRS)), 10_000);
    assert_eq!(reference.cpu.gpr[3], TURNS);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    let len = 8 * TURNS as usize;
    assert_eq!(
        bytes_at(&machine, 0x2_3000, len),
        bytes_at(&reference, 0x2_3000, len)
    );
    let key = |m: &Machine| m.bus.storage.key(AbsoluteAddress::new(0x2_3000));
    assert_eq!(key(&machine), key(&reference), "the frame's key");
    // The first STURG is the host's (it lists the frame), and a batch's
    // deadline may end a chain between the two.
    let (lra, sturg) = (in_vm(&engine, "LRA"), in_vm(&engine, "STURG"));
    assert!(lra >= TURNS - 10, "{lra} LRAs completed in the VM");
    assert!(sturg >= TURNS - 10, "{sturg} STURGs completed in the VM");
}

/// Turns of [`PATCH`].
const PATCHES: u64 = 20;

/// Each turn stores `lghi r9,k ; nopr ; nopr` (k = 1 .. 20) over the
/// instruction at 0x2040 through `lra r6,0(r4)` (page 8: the program's own
/// frame, which holds its translated code) and `sturg r3,r6`, then runs
/// it and adds r9 to r7:
/// ```text
/// 2000 lghi r1,20 ; llill r4,0x8040 ; lghi r7,0
/// 200c iihf r3,0xa7990001 ; iilf r3,0x07000700 ; llihl r11,1
/// 201c lra r6,0(r4) ; sturg r3,r6 ; j 0x2040
/// 2040 lghi r9,0 ; nopr ; nopr ; agr r7,r9 ; agr r3,r11 ; brctg r1,0x201c
/// 2054 (invalid)
/// ```
const PATCH: [u8; 88] = [
    0xa7, 0x19, 0x00, 0x14, 0xa5, 0x4f, 0x80, 0x40, 0xa7, 0x79, 0x00, 0x00, 0xc0, 0x38, 0xa7, 0x99,
    0x00, 0x01, 0xc0, 0x39, 0x07, 0x00, 0x07, 0x00, 0xa5, 0xbd, 0x00, 0x01, 0xb1, 0x60, 0x40, 0x00,
    0xb9, 0x25, 0x00, 0x36, 0xa7, 0xf4, 0x00, 0x0e, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00,
    0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00,
    0xa7, 0x99, 0x00, 0x00, 0x07, 0x00, 0x07, 0x00, 0xb9, 0x08, 0x00, 0x79, 0xb9, 0x08, 0x00, 0x3b,
    0xa7, 0x17, 0xff, 0xe6, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn a_sturg_into_a_frame_holding_translated_code_drops_it_before_the_next_instruction() {
    let (reference, kvm) = on_both(|| with_tables(program_machine(0x2000, &PATCH)), 10_000);
    assert_eq!(reference.cpu.gpr[7], PATCHES * (PATCHES + 1) / 2);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(
        bytes_at(&machine, 0x2040, 8),
        bytes_at(&reference, 0x2040, 8)
    );
    // The host's store lists the frame, whose code it dropped; the next
    // block translated from it takes it out again: every STURG there is
    // the host's.
    assert_eq!(in_vm(&engine, "STURG"), 0);
    assert!(in_vm(&engine, "LRA") >= PATCHES - 2);
}

/// `lghi r1,6 ; lghi r2,0x2800 ; lghi r8,0x3000`, then for each address
/// in the table at 0x2800: `lg r4,0(r2) ; lra r6,0(r4) ; ipm r5 ; stg
/// r6,0(r8) ; stg r5,8(r8) ; la r2,8(r2) ; la r8,16(r8) ; brctg r1` back;
/// then an invalid opcode.
const WALKS: [u8; 52] = [
    0xa7, 0x19, 0x00, 0x06, 0xa7, 0x29, 0x28, 0x00, 0xa7, 0x89, 0x30, 0x00, 0xe3, 0x40, 0x20, 0x00,
    0x00, 0x04, 0xb1, 0x60, 0x40, 0x00, 0xb2, 0x22, 0x00, 0x50, 0xe3, 0x60, 0x80, 0x00, 0x00, 0x24,
    0xe3, 0x50, 0x80, 0x08, 0x00, 0x24, 0x41, 0x20, 0x20, 0x08, 0x41, 0x80, 0x80, 0x10, 0xa7, 0x17,
    0xff, 0xef, 0x00, 0x00,
];

/// [`WALKS`] over a page of cc 0, an invalid page (cc 2), an invalid
/// segment (cc 1), beyond the segment table (cc 3), beyond the ASCE's
/// reach (cc 3, flagged), then `last`.
fn walks(last: u64) -> Machine {
    let mut machine = with_tables(program_machine(0x2000, &WALKS));
    let addresses = [0x5123, 0x6000, 0x10_0000, 0x2000_0000, 0x1_0000_0000, last];
    let table: Vec<(u64, u64)> = (0..)
        .step_by(8)
        .map(|at| 0x2800 + at)
        .zip(addresses)
        .collect();
    write_words(&mut machine, &table);
    machine
}

#[test]
fn lra_gives_the_interpreters_condition_codes_and_exceptions_in_the_vm() {
    // The last: a page whose entry has bit 52 set (translation
    // specification), one in a page table beyond storage (addressing),
    // and page 5 again (the program ends at the invalid opcode).
    for last in [0x7000, 0x20_0000, 0x5008] {
        let (reference, kvm) = on_both(|| walks(last), 1_000);
        let Some((machine, engine)) = kvm else {
            return;
        };
        assert_same(&machine, &reference);
        assert_eq!(
            bytes_at(&machine, 0x3000, 96),
            bytes_at(&reference, 0x3000, 96),
            "the results of the walks, last {last:#x}"
        );
        // The exception is the host's to deliver.
        assert!(in_vm(&engine, "LRA") >= 5, "last {last:#x}");
        assert_eq!(reference.cpu.gpr[2], 0x2828 + 8 * u64::from(last == 0x5008));
    }
}

/// 20 turns of `lra r6,0(r4) ; sturg r3,r6` into frame 0x23000 (page 5),
/// then `sske r8,r6` with r8 = 0 (reference and change bits zero), `lra
/// r6,0(r4) ; sturg r3,r6` once more and `iske r9,r6`; then an invalid
/// opcode:
/// ```text
/// 2000 lghi r1,20 ; lghi r4,0x5000 ; lghi r3,0
/// 200c lra r6,0(r4) ; sturg r3,r6 ; aghi r4,8 ; aghi r3,1 ; brctg r1,0x200c
/// 2020 lghi r8,0 ; sske r8,r6 ; lra r6,0(r4) ; sturg r3,r6 ; iske r9,r6
/// ```
const KEYS: [u8; 56] = [
    0xa7, 0x19, 0x00, 0x14, 0xa7, 0x49, 0x50, 0x00, 0xa7, 0x39, 0x00, 0x00, 0xb1, 0x60, 0x40, 0x00,
    0xb9, 0x25, 0x00, 0x36, 0xa7, 0x4b, 0x00, 0x08, 0xa7, 0x3b, 0x00, 0x01, 0xa7, 0x17, 0xff, 0xf8,
    0xa7, 0x89, 0x00, 0x00, 0xb2, 0x2b, 0x00, 0x86, 0xb1, 0x60, 0x40, 0x00, 0xb9, 0x25, 0x00, 0x36,
    0xb2, 0x29, 0x00, 0x96, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn after_sske_zeroes_the_change_bit_a_sturg_records_it_again() {
    let (reference, kvm) = on_both(|| with_tables(program_machine(0x2000, &KEYS)), 1_000);
    // ISKE: reference and change bits one again.
    assert_eq!(reference.cpu.gpr[9] & 0x06, 0x06);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    assert!(in_vm(&engine, "STURG") >= 15);
}
