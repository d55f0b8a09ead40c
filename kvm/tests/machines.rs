//! One engine runs the machines it is given, one after another (what a
//! fuzzer or an embedding emulator does): each run maps that machine's
//! storage into the VM, and nothing translated from another machine's
//! storage runs.

mod common;

use common::{engine, program_machine, Quiet};

/// lghi r2,`value` ; then an invalid opcode.
fn program(value: u8) -> [u8; 6] {
    [0xa7, 0x29, 0x00, value, 0x00, 0x00]
}

#[test]
fn a_second_machine_runs_its_own_code_at_the_same_address() {
    let mut first = program_machine(0x2000, &program(1));
    let mut second = program_machine(0x2000, &program(2));
    let Some(mut engine) = engine(&first.bus.storage) else {
        return;
    };
    first.run_with(Some(100), &mut Quiet, &mut engine);
    second.run_with(Some(100), &mut Quiet, &mut engine);
    assert!(engine.failure().is_none(), "{:?}", engine.failure());
    assert_eq!((first.cpu.gpr[2], second.cpu.gpr[2]), (1, 2));
    assert!(
        engine.stats().blocks >= 2,
        "both ran translated code: {:?}",
        engine.stats()
    );
}
