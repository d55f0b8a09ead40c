//! Stores into the two low pages under low-address protection (PoP ch. 3,
//! Low-Address Protection): the rule covers logical 0-511 and 4096-4607
//! only, so translated code stores the rest of those pages (the lowcore's
//! unprotected fields) without leaving the VM, and a store that touches a
//! covered byte, also one that crosses into the covered range from an
//! uncovered byte, is a protection exception that stores nothing.

mod common;

use common::{bytes_at, on_both, program_machine, run_like, Quiet};
use zmmu_machine::Machine;

/// Iterations of [`LOOP`].
const TURNS: u64 = 200;

/// `lghi r1,200 ; larl r2 ; lctlg c0,c0,0(r2)` (low-address protection
/// on, DAT off), then 200 times `stg r1,0x200`, `stg r1,0xff8`, `sty
/// r1,0x1200`, `mvc 0x300(8),0x200`, `brctg r1` back; then an invalid
/// opcode. Every store lies in the unprotected bytes of pages 0 and 1.
const LOOP: [u8; 56] = [
    0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x20, 0x00, 0x00, 0x00, 0x16, 0xeb, 0x00, 0x20, 0x00, 0x00, 0x2f,
    0xe3, 0x10, 0x02, 0x00, 0x00, 0x24, 0xe3, 0x10, 0x0f, 0xf8, 0x00, 0x24, 0xe3, 0x10, 0x02, 0x00,
    0x01, 0x50, 0xd2, 0x07, 0x03, 0x00, 0x02, 0x00, 0xa7, 0x17, 0xff, 0xf4, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
];

/// The two low pages (the prefix area: the prefix is 0 here).
fn low_pages(machine: &Machine) -> Vec<u8> {
    bytes_at(machine, 0, 0x2000)
}

#[test]
fn stores_into_the_unprotected_lowcore_stay_in_the_vm() {
    let (reference, kvm) = on_both(|| program_machine(0x2000, &LOOP), 10_000);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(low_pages(&machine), low_pages(&reference));
    let stats = engine.stats();
    let faults = stats.shadow_fills + stats.fault_software + stats.fault_exceptions;
    assert!(faults <= 4, "{faults} page faults in {TURNS} turns");
    assert!(
        stats.helper_calls <= 2,
        "{} host calls in {TURNS} turns",
        stats.helper_calls
    );
}

/// `larl r2 ; lghi r1,-1`, `stg r1,0x200` and `sty r1,0x1200` (the two
/// low pages mapped writable), `lctlg c0,c0,0(r2)` (low-address
/// protection on), then `store` (six bytes), then an invalid opcode.
fn protected_machine(store: [u8; 6]) -> Machine {
    let mut program = vec![
        0xc0, 0x20, 0x00, 0x00, 0x00, 0x14, 0xa7, 0x19, 0xff, 0xff, 0xe3, 0x10, 0x02, 0x00, 0x00,
        0x24, 0xe3, 0x10, 0x02, 0x00, 0x01, 0x50, 0xeb, 0x00, 0x20, 0x00, 0x00, 0x2f,
    ];
    program.extend_from_slice(&store);
    program.extend_from_slice(&[0, 0, 0, 0, 0x07, 0x07]);
    program.extend_from_slice(&0x1000_0000u64.to_be_bytes());
    program_machine(0x2000, &program)
}

/// Each store touches a protected byte: the interpreter and the kvm engine
/// both take a protection exception (code 4) with the store suppressed,
/// and leave the same bytes in the low pages (old PSW, interruption code,
/// the operand untouched).
#[test]
fn stores_touching_protected_low_addresses_are_suppressed() {
    let stores: [(&str, [u8; 6]); 5] = [
        // From 0xffc, unprotected, into 0x1000-0x1003, protected.
        ("stg r1,0xffc", [0xe3, 0x10, 0x0f, 0xfc, 0x00, 0x24]),
        ("sty r1,0xffe", [0xe3, 0x10, 0x0f, 0xfe, 0x00, 0x50]),
        // From protected bytes into unprotected ones.
        ("stg r1,0x11fc", [0xe3, 0x10, 0x01, 0xfc, 0x01, 0x24]),
        ("mvc 0x1f8(16),0x200", [0xd2, 0x0f, 0x01, 0xf8, 0x02, 0x00]),
        ("stg r1,0", [0xe3, 0x10, 0x00, 0x00, 0x00, 0x24]),
    ];
    for (name, store) in stores {
        let mut reference = protected_machine(store);
        let expected = reference.run(Some(100), &mut Quiet);
        let code = &low_pages(&reference)[0x8e..0x90];
        assert_eq!(code, [0, 4], "{name}: protection exception");
        let Some((machine, _)) = run_like(&expected, protected_machine(store), 100) else {
            return;
        };
        assert!(
            low_pages(&machine) == low_pages(&reference),
            "{name}: the low pages differ from the interpreter's"
        );
    }
}
