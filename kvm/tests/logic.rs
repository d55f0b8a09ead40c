//! NC, OC, XC and CLC in translated code under the host MMU: the bytes,
//! condition codes and exceptions are the interpreter's. Overlapping
//! operands combine one byte at a time in ascending order (PoP "EXCLUSIVE
//! OR (character)": as if processed one byte at a time), XC of an operand
//! with itself clears it, an operand that crosses a page runs in
//! translated code too (its first and last bytes touched before any is
//! stored), and an access exception on the second operand stores
//! nothing.

mod common;

use common::{count, program_machine, run_like, Quiet};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// r1 = 0x3000, r2 = 0x3100; each instruction followed by `ipm` into the
/// next register: `xc 0(16,r1),0(r2)` (r3), `nc 0x20(8,r1),0(r2)` (r4),
/// `oc 0x40(8,r1),0(r2)` (r5), `xc 1(15,r1),0(r1)` (overlapping, r6),
/// `clc 0(8,r1),0(r2)` (r7), `clc 0x60(8,r1),0x60(r1)` (equal, r8); r9 =
/// 0x3ffc: `xc 0(8,r9),0(r2)` (across 0x4000, r10), `clc 0(8,r9),0(r2)`
/// (r11); `xc 0x80(128,r1),0x80(r1)` (clears, r13); r12 = 16 MiB (past
/// storage): `xc 0x180(8,r1),0(r12)` (addressing exception); then an
/// invalid opcode.
const PROGRAM: [u8; 116] = [
    0xa7, 0x19, 0x30, 0x00, 0xa7, 0x29, 0x31, 0x00, 0xd7, 0x0f, 0x10, 0x00, 0x20, 0x00, 0xb2, 0x22,
    0x00, 0x30, 0xd4, 0x07, 0x10, 0x20, 0x20, 0x00, 0xb2, 0x22, 0x00, 0x40, 0xd6, 0x07, 0x10, 0x40,
    0x20, 0x00, 0xb2, 0x22, 0x00, 0x50, 0xd7, 0x0e, 0x10, 0x01, 0x10, 0x00, 0xb2, 0x22, 0x00, 0x60,
    0xd5, 0x07, 0x10, 0x00, 0x20, 0x00, 0xb2, 0x22, 0x00, 0x70, 0xd5, 0x07, 0x10, 0x60, 0x10, 0x60,
    0xb2, 0x22, 0x00, 0x80, 0xa7, 0x99, 0x3f, 0xfc, 0xd7, 0x07, 0x90, 0x00, 0x20, 0x00, 0xb2, 0x22,
    0x00, 0xa0, 0xd5, 0x07, 0x90, 0x00, 0x20, 0x00, 0xb2, 0x22, 0x00, 0xb0, 0xd7, 0x7f, 0x10, 0x80,
    0x10, 0x80, 0xb2, 0x22, 0x00, 0xd0, 0xa5, 0xce, 0x01, 0x00, 0xd7, 0x07, 0x11, 0x80, 0xc0, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

/// Where the operands are: 0x3000 up to past 0x4000.
const DATA: u64 = 0x3000;
const DATA_LEN: usize = 0x1100;

/// The data bytes before the program runs.
fn pattern() -> Vec<u8> {
    (0..DATA_LEN).map(|i| (i * 37 + 11) as u8).collect()
}

fn machine() -> Machine {
    let mut machine = program_machine(0x2000, &PROGRAM);
    let bytes = pattern();
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(DATA), &bytes)
        .unwrap();
    machine
}

/// The registers, the program-interruption code and the data bytes.
fn state(machine: &Machine) -> ([u64; 16], u16, Vec<u8>) {
    let storage = &machine.bus.storage;
    let mut code = [0u8; 2];
    storage.read(AbsoluteAddress::new(0x8e), &mut code).unwrap();
    let mut bytes = vec![0; DATA_LEN];
    storage
        .read(AbsoluteAddress::new(DATA), &mut bytes)
        .unwrap();
    (machine.cpu.gpr, u16::from_be_bytes(code), bytes)
}

#[test]
fn logical_operations_and_comparisons_give_the_interpreters_bytes_and_codes() {
    let mut reference = machine();
    let expected = reference.run(Some(100), &mut Quiet);
    let want = state(&reference);
    let cc = |r: usize| (want.0[r] >> 28) & 3;
    assert_eq!(want.1, 5, "addressing exception on the second operand");
    assert_eq!(
        want.2[0x180..0x188],
        pattern()[0x180..0x188],
        "nothing stored"
    );
    assert_eq!(cc(8), 0, "equal operands");
    assert_eq!(cc(13), 0, "cleared");
    assert_eq!(want.2[0x80..0x100], [0; 128]);
    let Some((machine, engine)) = run_like(&expected, machine(), 100) else {
        return;
    };
    assert_eq!(state(&machine), want);
    let untranslated = engine.reasons().untranslated_by_mnemonic();
    assert!(
        untranslated
            .iter()
            .all(|(m, _)| !["NC", "OC", "XC", "CLC"].contains(m)),
        "NC, OC, XC and CLC run in translated code: {untranslated:?}"
    );
    let slow = engine.reasons().slow_paths_by_mnemonic();
    assert_eq!(count(&slow, "XC"), 1, "only the exception's: {slow:?}");
    assert_eq!(count(&slow, "CLC"), 0, "{slow:?}");
}
