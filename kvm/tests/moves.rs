//! MVC in translated code under the host MMU: overlapping operands move
//! one byte at a time in ascending order (PoP "MOVE (character)": the
//! first operand's bytes are stored as the second's are fetched, so
//! `MVC 1(15,R1),0(R1)` propagates one byte), an operand that crosses a
//! page moves in translated code too (docs/CHOICES.md 88), and the
//! result is the interpreter's.

mod common;

use common::{bytes_at, count, program_machine, run_like, Quiet};
use zmmu_machine::Machine;

/// lghi r1,0x3000 ; lghi r2,0x3ff8 ; mvi 0(r1),0xab ;
/// mvc 1(15,r1),0(r1) ; mvc 0(16,r2),0(r1) (across 0x4000) ;
/// mvc 0x20(8,r1),0(r2) ; then an invalid opcode.
const PROGRAM: [u8; 32] = [
    0xa7, 0x19, 0x30, 0x00, 0xa7, 0x29, 0x3f, 0xf8, 0x92, 0xab, 0x10, 0x00, 0xd2, 0x0e, 0x10, 0x01,
    0x10, 0x00, 0xd2, 0x0f, 0x20, 0x00, 0x10, 0x00, 0xd2, 0x07, 0x10, 0x20, 0x20, 0x00, 0x00, 0x00,
];

fn machine() -> Machine {
    program_machine(0x2000, &PROGRAM)
}

fn data(machine: &Machine) -> Vec<u8> {
    bytes_at(machine, 0x3000, 0x2000)
}

#[test]
fn overlapping_and_page_crossing_moves_give_the_interpreters_bytes() {
    let mut reference = machine();
    let expected = reference.run(Some(100), &mut Quiet);
    let want = data(&reference);
    assert_eq!(want[..16], [0xab; 16], "one byte propagated");
    assert_eq!(want[0x20..0x28], [0xab; 8]);
    let Some((machine, engine)) = run_like(&expected, machine(), 100) else {
        return;
    };
    assert_eq!(data(&machine), want);
    assert!(
        engine
            .reasons()
            .untranslated_by_mnemonic()
            .iter()
            .all(|(m, _)| *m != "MVC"),
        "MVC runs in translated code: {:?}",
        engine.reasons()
    );
    let slow = engine.reasons().slow_paths_by_mnemonic();
    assert_eq!(count(&slow, "MVC"), 0, "the move across a page: {slow:?}");
}
