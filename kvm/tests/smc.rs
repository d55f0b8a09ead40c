//! Self-modifying code under the kvm engine: a store from translated code
//! into the frame of the block that runs drops the block, and the next
//! pass runs the new instruction, exactly as the interpreter does.

mod common;

use common::{on_both, program_machine, run_like, Quiet};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// lghi r3,0 ; lghi r4,7 ; lghi r5,2 ; larl r1,X ; nopr ;
/// X: aghi r3,5 ; sth r4,2(r1) (X becomes aghi r3,7) ; brctg r5,X ;
/// then an invalid opcode: the program-new PSW is a disabled wait.
const PROGRAM: [u8; 34] = [
    0xa7, 0x39, 0x00, 0x00, 0xa7, 0x49, 0x00, 0x07, 0xa7, 0x59, 0x00, 0x02, 0xc0, 0x10, 0x00, 0x00,
    0x00, 0x04, 0x07, 0x00, 0xa7, 0x3b, 0x00, 0x05, 0x40, 0x40, 0x10, 0x02, 0xa7, 0x57, 0xff, 0xfc,
    0x00, 0x00,
];

fn machine() -> Machine {
    program_machine(0x2000, &PROGRAM)
}

#[test]
fn a_store_into_the_running_block_changes_the_next_pass_as_in_the_interpreter() {
    let (reference, kvm) = on_both(machine, 1000);
    assert_eq!(
        reference.cpu.gpr[3], 12,
        "5 on the first pass, 7 on the second"
    );
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    assert!(engine.stats().code_page_writes >= 1, "{:?}", engine.stats());
}

/// lghi r4,2 ; lghi r5,0x2040 ; iilf r1,0x00020001 (read SCP info) ;
/// j X ; ... S: servc r1,r5 ; j X ; ... 0x2040: the SCCB header (length 8),
/// whose bytes 4-7 are X: lhi r3,<response code> ; brctg r4,S ; then an
/// invalid opcode.
const SCLP_OVER_CODE: [u8; 78] = [
    0xa7, 0x49, 0x00, 0x02, 0xa7, 0x59, 0x20, 0x40, 0xc0, 0x19, 0x00, 0x02, 0x00, 0x01, 0xa7, 0xf4,
    0x00, 0x1b, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00,
    0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00,
    0xb2, 0x20, 0x00, 0x15, 0xa7, 0xf4, 0x00, 0x08, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00, 0x07, 0x00,
    0x00, 0x08, 0x00, 0x00, 0xa7, 0x38, 0x00, 0x00, 0xa7, 0x47, 0xff, 0xf4, 0x00, 0x00,
];

#[test]
fn an_sclp_response_written_over_translated_code_is_the_next_pass() {
    let build = || {
        let mut machine = machine();
        machine
            .bus
            .storage
            .write(AbsoluteAddress::new(0x2000), &SCLP_OVER_CODE)
            .unwrap();
        machine
    };
    let mut reference = build();
    let expected = reference.run(Some(1000), &mut Quiet);
    assert_ne!(
        reference.cpu.gpr[3], 0,
        "the response code is the immediate"
    );
    let Some((machine, _)) = run_like(&expected, build(), 1000) else {
        return;
    };
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
}

/// `lgfi r1,0x2800 ; lghi r2,0`, `brasl r14,0x2800`, `ipte r1,r2` (the
/// "page table" at 0x2800 is the code there: its entry 0 gets the invalid
/// bit, through absolute storage, `Memory::storage`), `brasl r14,0x2800`
/// again; then an invalid opcode.
const TABLE_STORE: [u8; 26] = [
    0xc0, 0x11, 0x00, 0x00, 0x28, 0x00, 0xa7, 0x29, 0x00, 0x00, 0xc0, 0xe5, 0x00, 0x00, 0x03, 0xfb,
    0xb2, 0x21, 0x00, 0x12, 0xc0, 0xe5, 0x00, 0x00, 0x03, 0xf8,
];

/// At 0x2800: `lghi r5,1 ; lghi r6,0 ; br r14`. The invalid bit of a
/// page-table entry (bit 53) makes the second `lghi r6,0x400`.
const CALLED: [u8; 10] = [0xa7, 0x59, 0x00, 0x01, 0xa7, 0x69, 0x00, 0x00, 0x07, 0xfe];

fn table_store_machine() -> Machine {
    let mut machine = program_machine(0x2000, &TABLE_STORE);
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0x2800), &CALLED)
        .unwrap();
    machine
}

#[test]
fn an_ipte_into_translated_code_drops_it() {
    let mut reference = table_store_machine();
    let expected = reference.run(Some(100), &mut Quiet);
    assert_eq!(reference.cpu.gpr[6], 0x400);
    let Some((machine, engine)) = run_like(&expected, table_store_machine(), 100) else {
        return;
    };
    assert_eq!(machine.cpu.gpr[6], 0x400);
    assert!(engine.blocks_dropped() >= 1);
}
