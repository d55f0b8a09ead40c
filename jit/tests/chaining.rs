//! Direct chaining of blocks translated in either order (docs/CHOICES.md
//! §52b): an exit to a guest address whose block did not exist when the
//! exit was translated goes to the dispatcher until that block is
//! translated, then jumps straight to it, as if it had been translated
//! with the link; and, as a linked block, it is dropped with that block
//! (a store into the block's bytes must not leave a jump into its old
//! code). Each rule runs on the jit and on the interpreter: registers and
//! PSW must be the interpreter's.

use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;

mod common;
use common::CODE;

/// Runs `code` with `set` applied on the jit (batches of 50 instructions)
/// and on the interpreter, up to the invalid opcode it ends at; asserts
/// that both leave the same registers and PSW. The jit's CPU, and the
/// jit.
fn run(code: &[u8], set: impl Fn(&mut Cpu)) -> (Cpu, Jit) {
    let (mut cpu, mut bus) = common::machine(0x10000, code, &[], &set);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    for _ in 0..100 {
        if jit.run(&mut cpu, &mut bus, 50).result.is_err() {
            break;
        }
    }
    let (mut interp, mut interp_bus) = common::machine(0x10000, code, &[], &set);
    while interp.step(&mut interp_bus).is_ok() {}
    assert_eq!(
        cpu.gpr, interp.gpr,
        "the jit's registers are the interpreter's"
    );
    assert_eq!(cpu.psw, interp.psw, "the jit's PSW is the interpreter's");
    (cpu, jit)
}

/// A: aghi r7,1; j B. B: aghi r8,1; brctg r6,A. Then `tail`.
fn two_block_loop(tail: &[u8]) -> Vec<u8> {
    let a = [0xa7, 0x7b, 0x00, 0x01, 0xa7, 0xf4, 0x00, 0x02];
    let b = [0xa7, 0x8b, 0x00, 0x01, 0xa7, 0x67, 0xff, 0xfa];
    [&a[..], &b, tail].concat()
}

#[test]
fn an_exit_to_a_block_translated_after_it_jumps_straight_to_it() {
    // A is translated first: its jump to B goes to the dispatcher until B
    // is translated, then to B.
    let code = two_block_loop(&[0, 0]);
    let (cpu, jit) = run(&code, |cpu| cpu.gpr[6] = 1000);
    assert_eq!((cpu.gpr[7], cpu.gpr[8]), (1000, 1000));
    assert!(
        jit.stats().patched_exits >= 1,
        "{:?}",
        jit.stats().patched_exits
    );
}

#[test]
fn a_block_whose_exit_was_pointed_at_another_is_dropped_with_it() {
    // After the loop: mvi B+3,16 (B's aghi now adds 16); lghi r6,3;
    // brctg r9,A (once more); then the invalid opcode. A's jump must reach
    // the new B, not the code of the old one.
    let b_imm = 8 + 3;
    let tail = [
        &[0x92, 0x10, 0xa0, b_imm][..],
        &[0xa7, 0x69, 0x00, 0x03],
        // brctg r9 at offset 24: back to A at 0.
        &[0xa7, 0x97, 0xff, 0xf4],
        &[0, 0],
    ]
    .concat();
    let code = two_block_loop(&tail);
    let (cpu, jit) = run(&code, |cpu| {
        cpu.gpr[6] = 3;
        cpu.gpr[9] = 2;
        cpu.gpr[10] = CODE;
    });
    assert_eq!((cpu.gpr[7], cpu.gpr[8]), (6, 3 + 3 * 16));
    assert!(
        jit.stats().patched_exits >= 2,
        "{:?}",
        jit.stats().patched_exits
    );
}
