//! An instruction that crosses a page boundary runs in translated code
//! (a block of its own, made from the bytes of both frames), and a store
//! into the second frame changes it for the next pass as in the
//! interpreter (PoP: an instruction is fetched whole before it runs, and
//! a store into it is seen the next time it is fetched).

mod common;

use common::{on_both, program_machine};
use zmmu_machine::Machine;

const START: u64 = 0x2ff0;

/// lghi r3,0 ; lghi r4,7 ; lghi r5,2 ; nopr ;
/// X (0x2ffe): aghi r3,5, its immediate in the next page ;
/// larl r1,0x3000 ; sth r4,0(r1) (X becomes aghi r3,7) ; brctg r5,X ;
/// then an invalid opcode: the program-new PSW is a disabled wait.
const PROGRAM: [u8; 34] = [
    0xa7, 0x39, 0x00, 0x00, 0xa7, 0x49, 0x00, 0x07, 0xa7, 0x59, 0x00, 0x02, 0x07, 0x00, 0xa7, 0x3b,
    0x00, 0x05, 0xc0, 0x10, 0xff, 0xff, 0xff, 0xff, 0x40, 0x40, 0x10, 0x00, 0xa7, 0x57, 0xff, 0xf9,
    0x00, 0x00,
];

fn machine() -> Machine {
    program_machine(START, &PROGRAM)
}

#[test]
fn an_instruction_across_a_page_runs_translated_and_sees_stores_into_its_second_page() {
    let (reference, kvm) = on_both(machine, 1000);
    assert_eq!(
        reference.cpu.gpr[3], 12,
        "5 on the first pass, 7 on the second"
    );
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    let stats = engine.stats();
    assert_eq!(stats.steps, 0, "no instruction interpreted outside blocks");
    assert!(
        stats.code_page_writes >= 1,
        "the store into the second frame"
    );
}
