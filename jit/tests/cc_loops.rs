//! The condition code of a loop's last setting left unstored over its
//! branches (docs/CHOICES.md §63a): an add before BRANCH RELATIVE ON
//! COUNT or COMPARE AND BRANCH (which neither read nor set the cc, PoP)
//! is stored only where the block leaves (the count's end, a compare's
//! branch out, the budget ending the loop), and not on the branch back
//! to the start when the start sets the cc again before anything can read
//! it. Whatever leaves must see the cc the interpreter leaves: each rule
//! runs on the jit and on the interpreter from a PSW whose cc no
//! instruction of the program sets, and the two must agree.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;

mod common;
use common::CODE;

/// Storage size; an access at or beyond it is an addressing exception.
const SIZE: usize = 0x10000;

/// The machine running `code` at CODE (64-bit, DAT off) with the cc 3
/// (a value the programs below never set) and `set` applied.
fn machine(code: &[u8], set: &impl Fn(&mut Cpu)) -> (Cpu, DatBus) {
    common::machine(SIZE, code, &[0; 16], |cpu| {
        cpu.psw.set_cc(3);
        set(cpu)
    })
}

/// Runs `code` on the jit in batches of `budget` instructions until an
/// interruption (the invalid opcode 0 that ends each program, or an
/// exception), and on the interpreter; both must agree. The jit's CPU.
fn run(code: &[u8], budget: u64, set: impl Fn(&mut Cpu)) -> (Cpu, Interruption) {
    let (mut cpu, mut bus) = machine(code, &set);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let interruption = loop {
        if let Err(e) = jit.run(&mut cpu, &mut bus, budget).result {
            break e;
        }
    };
    let (mut interp, mut interp_bus) = machine(code, &set);
    let expected = common::interpret(&mut interp, &mut interp_bus, 1 << 20).unwrap_err();
    assert_eq!(
        interruption, expected,
        "the jit's interruption is the interpreter's"
    );
    assert_eq!(
        cpu.gpr, interp.gpr,
        "the jit's registers are the interpreter's"
    );
    assert_eq!(cpu.psw, interp.psw, "the jit's PSW is the interpreter's");
    (cpu, interruption)
}

/// LGR r1,r2.
fn lgr(r1: u8, r2: u8) -> [u8; 4] {
    [0xb9, 0x04, 0x00, r1 << 4 | r2]
}

/// AGR r1,r2.
fn agr(r1: u8, r2: u8) -> [u8; 4] {
    [0xb9, 0x08, 0x00, r1 << 4 | r2]
}

/// AGHI r1,i.
fn aghi(r1: u8, i: i16) -> [u8; 4] {
    let i = i.to_be_bytes();
    [0xa7, r1 << 4 | 0xb, i[0], i[1]]
}

/// LG r1,0(b).
fn lg(r1: u8, b: u8) -> [u8; 6] {
    [0xe3, r1 << 4, b << 4, 0, 0, 0x04]
}

/// BRCTG r1 back `back` bytes.
fn brctg_back(r1: u8, back: i16) -> [u8; 4] {
    let i = (-back / 2).to_be_bytes();
    [0xa7, r1 << 4 | 7, i[0], i[1]]
}

/// CGRJ r1,r2,m3 forward `ahead` bytes.
fn cgrj(r1: u8, r2: u8, m3: u8, ahead: i16) -> [u8; 6] {
    let i = (ahead / 2).to_be_bytes();
    [0xec, r1 << 4 | r2, i[0], i[1], m3 << 4, 0x64]
}

/// The loop `lgr r5,r4; agr r5,r4; aghi r2,-1; brctg r1,loop`: its start
/// sets the cc before anything reads it, the add's is the last.
fn counted_loop() -> Vec<u8> {
    [
        &lgr(5, 4)[..],
        &agr(5, 4),
        &aghi(2, -1),
        &brctg_back(1, 12),
        &[0, 0],
    ]
    .concat()
}

#[test]
fn a_loop_that_ends_at_its_count_leaves_its_last_adds_cc() {
    // Three iterations of r2 - 1 from 1: -2, negative, cc 1.
    let (cpu, _) = run(&counted_loop(), 1 << 20, |cpu| {
        cpu.gpr[1] = 3;
        cpu.gpr[2] = 1;
    });
    assert_eq!(cpu.gpr[2] as i64, -2);
    assert_eq!(cpu.psw.cc(), 1);
}

#[test]
fn a_loop_the_budget_ends_leaves_the_adds_cc_at_each_stop() {
    // Batches of 8 instructions stop the loop at its branch back after
    // two iterations (the block is four): the PSW there holds the last
    // add's cc, never the 3 the program started with.
    let (mut cpu, mut bus) = machine(&counted_loop(), &|cpu: &mut Cpu| {
        cpu.gpr[1] = 9;
        cpu.gpr[2] = 4;
    });
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let mut ran = 0;
    for _ in 0..4 {
        let out = jit.run(&mut cpu, &mut bus, 8);
        assert!(out.result.is_ok());
        ran += out.instructions;
        assert_eq!(cpu.psw.addr, CODE, "the loop stopped between iterations");
        // r2 = 2 (cc 2), 0 (cc 0), -2 and -4 (cc 1).
        let expected = match cpu.gpr[2] as i64 {
            0 => 0,
            r if r < 0 => 1,
            _ => 2,
        };
        assert_eq!(cpu.psw.cc(), expected, "after {ran} instructions");
    }
}

#[test]
fn a_compare_and_branch_out_of_the_loop_leaves_the_adds_cc() {
    // loop: aghi r2,1; cgrje r2,r3,out; brctg r1,loop; out: (invalid):
    // r2 reaches r3 = 2 in the second iteration, positive, cc 2.
    let code = [
        &aghi(2, 1)[..],
        &cgrj(2, 3, 8, 10),
        &brctg_back(1, 10),
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, 1 << 20, |cpu| {
        cpu.gpr[1] = 10;
        cpu.gpr[3] = 2;
    });
    assert_eq!(cpu.gpr[2], 2);
    assert_eq!(cpu.gpr[1], 9);
    assert_eq!(cpu.psw.cc(), 2);
}

#[test]
fn a_fault_at_the_start_of_a_loop_that_does_not_set_the_cc_first_sees_the_adds() {
    // loop: lg r5,0(r6); aghi r6,0x2000; brctg r1,loop: the third load is
    // beyond storage, and its old PSW holds the cc of the add before it
    // (positive, cc 2), which the branch back must have stored.
    let code = [&lg(5, 6)[..], &aghi(6, 0x2000), &brctg_back(1, 10), &[0, 0]].concat();
    let (cpu, interruption) = run(&code, 1 << 20, |cpu| {
        cpu.gpr[1] = 10;
        cpu.gpr[6] = SIZE as u64 - 0x4000;
    });
    assert!(
        matches!(interruption, Interruption::Program { ilc: 3, .. }),
        "{interruption:?}"
    );
    assert_eq!(cpu.gpr[6], SIZE as u64);
    assert_eq!(cpu.psw.cc(), 2);
}
