//! Branches that never branch (BRC and BRCL with mask 0: Linux patches
//! its jump labels to `brcl 0,...`) are no-operations (PoP "BRANCH
//! RELATIVE ON CONDITION": with a zero mask the branch is never taken),
//! translated natively whether they start a block or sit inside one.

mod common;

use common::{on_both, program_machine};
use zmmu_machine::Machine;

/// brcl 0,. ; lghi r1,5 ; brc 0,. ; aghi r1,3 ; brcl 0,. ; brcl 0,. ;
/// then an invalid opcode: the program-new PSW is a disabled wait.
const PROGRAM: [u8; 30] = [
    0xc0, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa7, 0x19, 0x00, 0x05, 0xa7, 0x04, 0x00, 0x00, 0xa7, 0x1b,
    0x00, 0x03, 0xc0, 0x04, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x04, 0x00, 0x00, 0x00, 0x00,
];

fn machine() -> Machine {
    program_machine(0x2000, &PROGRAM)
}

#[test]
fn branches_with_mask_zero_are_translated_no_operations() {
    let (reference, kvm) = on_both(machine, 100);
    assert_eq!(reference.cpu.gpr[1], 8);
    let Some((machine, engine)) = kvm else {
        return;
    };
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
