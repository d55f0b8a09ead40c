//! Host calls in a row run in one exit: after a host call's instruction
//! goes on, the host runs the block's next instruction too when that one
//! calls the host as well, and from a block's last instruction the first
//! of the block the dispatcher enters next, within the chain's budget
//! (Linux's kernel-text writes: LRA ends its block, and STURG, the next
//! block's first instruction, is a host call too). The results and the
//! instruction counts are the interpreter's.

mod common;

use common::{assert_same, bytes_at, on_both, program_machine, run_like, Quiet};

/// Iterations of [`PAIRS`].
const TURNS: u64 = 200;

/// `lghi r1,200 ; lghi r4,0x3000 ; lghi r7,0x4000 ; lghi r3,0`, then 200
/// times `tprot 0xf00,0` (ends its block), `sturg r3,r4 ; sturg r3,r7`
/// (the next block's first two instructions: host calls), `ipm r5 ; aghi
/// r4,8 ; aghi r7,8 ; aghi r3,1 ; brctg r1` back; then an invalid opcode.
const PAIRS: [u8; 54] = [
    0xa7, 0x19, 0x00, 0xc8, 0xa7, 0x49, 0x30, 0x00, 0xa7, 0x79, 0x40, 0x00, 0xa7, 0x39, 0x00, 0x00,
    0xe5, 0x01, 0x0f, 0x00, 0x00, 0x00, 0xb9, 0x25, 0x00, 0x34, 0xb9, 0x25, 0x00, 0x37, 0xb2, 0x22,
    0x00, 0x50, 0xa7, 0x4b, 0x00, 0x08, 0xa7, 0x7b, 0x00, 0x08, 0xa7, 0x3b, 0x00, 0x01, 0xa7, 0x17,
    0xff, 0xf1, 0x00, 0x00, 0x00, 0x00,
];

/// The stores both runs made through real addresses.
fn stored(machine: &zmmu_machine::Machine) -> Vec<u8> {
    let len = 8 * TURNS as usize;
    [
        bytes_at(machine, 0x3000, len),
        bytes_at(machine, 0x4000, len),
    ]
    .concat()
}

#[test]
fn host_calls_in_a_row_run_in_one_exit() {
    let (reference, kvm) = on_both(|| program_machine(0x2000, &PAIRS), 10_000);
    assert_eq!(reference.cpu.gpr[3], TURNS);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(stored(&machine), stored(&reference));
    // Per turn, both STURGs ran in TPROT's exit (but where the batch's
    // deadline ended a chain between them).
    let ahead = engine.stats().run_ahead;
    assert!(
        ahead >= 2 * (TURNS - 10),
        "{ahead} instructions run ahead in {TURNS} turns"
    );
}

/// A budget that ends anywhere in the loop: no instruction is run ahead
/// past it (the counts, stops, registers and stores are the
/// interpreter's at each).
#[test]
fn instructions_run_ahead_stay_within_the_budget() {
    for limit in 5..60 {
        let mut reference = program_machine(0x2000, &PAIRS);
        let expected = reference.run(Some(limit), &mut Quiet);
        let Some((machine, _)) = run_like(&expected, program_machine(0x2000, &PAIRS), limit) else {
            return;
        };
        assert_same(&machine, &reference);
        assert_eq!(stored(&machine), stored(&reference), "limit {limit}");
    }
}
