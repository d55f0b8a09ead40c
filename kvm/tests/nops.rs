//! Branches that never branch (BRC and BRCL with mask 0: Linux patches
//! its jump labels to `brcl 0,...`) are no-operations (PoP "BRANCH
//! RELATIVE ON CONDITION": with a zero mask the branch is never taken),
//! translated natively whether they start a block or sit inside one.

mod common;

use zmmu_machine::{Machine, Observer, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

struct Quiet;
impl Observer for Quiet {}

/// brcl 0,. ; lghi r1,5 ; brc 0,. ; aghi r1,3 ; brcl 0,. ; brcl 0,. ;
/// then an invalid opcode: the program-new PSW is a disabled wait.
const PROGRAM: [u8; 30] = [
    0xc0, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa7, 0x19, 0x00, 0x05, 0xa7, 0x04, 0x00, 0x00, 0xa7, 0x1b,
    0x00, 0x03, 0xc0, 0x04, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x04, 0x00, 0x00, 0x00, 0x00,
];

fn machine() -> Machine {
    let mut machine = Machine::new(16 << 20);
    let storage = &mut machine.bus.storage;
    storage
        .write(AbsoluteAddress::new(0x2000), &PROGRAM)
        .unwrap();
    // Program-new PSW: disabled wait, 64-bit, address 0x777.
    storage
        .write_u64(AbsoluteAddress::new(0x1d0), 0x0002_0001_8000_0000)
        .unwrap();
    storage
        .write_u64(AbsoluteAddress::new(0x1d8), 0x777)
        .unwrap();
    machine.start(0x2000);
    machine
}

#[test]
fn branches_with_mask_zero_are_translated_no_operations() {
    let mut reference = machine();
    let expected = reference.run(Some(100), &mut Quiet);
    assert_eq!(reference.cpu.gpr[1], 8);
    let mut machine = machine();
    let Some(mut engine) = common::engine(&machine.bus.storage) else {
        return;
    };
    let outcome = machine.run_with(Some(100), &mut Quiet, &mut engine);
    assert!(engine.failure().is_none(), "{:?}", engine.failure());
    assert!(
        matches!(outcome.stop, Stop::DisabledWait { .. }),
        "{:?}",
        outcome.stop
    );
    assert_eq!(outcome.stop, expected.stop);
    assert_eq!(outcome.instructions, expected.instructions);
    assert_eq!(machine.cpu.gpr[1], 8);
    let stats = engine.stats();
    assert_eq!(stats.refused, 0, "the translator refused a block");
    assert!(stats.blocks >= 1);
    assert_eq!(
        engine.reasons().untranslated_by_mnemonic(),
        [("UNKNOWN", 1)],
        "only the invalid opcode runs in the interpreter"
    );
}
