//! What the translator leaves out of hot loops' code (docs/CHOICES.md
//! §63), against the interpreter: each rule runs on the jit and on the
//! interpreter from a PSW whose cc (3) no instruction of the program sets,
//! and the two must agree.
//!
//! - The condition code of a loop's last setting is left unstored over
//!   its branches (§63a): an add before BRANCH RELATIVE ON COUNT or
//!   COMPARE AND BRANCH (which neither read nor set the cc, PoP) is
//!   stored only where the block leaves (the count's end, a compare's
//!   branch out, the budget ending the loop), and not on the branch back
//!   to the start when the start sets the cc again before anything can
//!   read it.
//! - ALU operations take an immediate or a cached register as the x86
//!   instruction's own operand (§63c).

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

/// An RIL-a instruction `op` (the two opcode bytes with R1 in between) with
/// immediate `i`.
fn ril(op: u16, r1: u8, i: u32) -> Vec<u8> {
    let [o0, o1] = op.to_be_bytes();
    [&[o0, r1 << 4 | o1][..], &i.to_be_bytes()].concat()
}

/// Runs `code` then the invalid opcode; the jit's registers and cc.
fn after(code: &[u8], set: impl Fn(&mut Cpu)) -> ([u64; 16], u8) {
    let (cpu, _) = run(&[code, &[0, 0]].concat(), 1 << 20, set);
    (cpu.gpr, cpu.psw.cc())
}

const HIGH: u64 = 0x1234_5678_0000_0000;

#[test]
fn a_thirty_two_bit_immediate_is_the_operands_own_bits() {
    // AFI r1,1 on 0x7fffffff overflows (cc 3, the mask off); bits 0-31
    // stay (PoP: ADD IMMEDIATE (32)).
    let (gpr, cc) = after(&ril(0xc209, 1, 1), |cpu| cpu.gpr[1] = HIGH | 0x7fff_ffff);
    assert_eq!((gpr[1], cc), (HIGH | 0x8000_0000, 3));
    // ALFI r2,0xffffffff on 1: zero with a carry, cc 2.
    let (gpr, cc) = after(&ril(0xc20b, 2, u32::MAX), |cpu| cpu.gpr[2] = HIGH | 1);
    assert_eq!((gpr[2], cc), (HIGH, 2));
    // CLFI r3,0x80000000 on 0x7fffffff: low, cc 1.
    let (_, cc) = after(&ril(0xc20f, 3, 0x8000_0000), |cpu| cpu.gpr[3] = 0x7fff_ffff);
    assert_eq!(cc, 1);
    // MSFI r4,-3 on 7: -21 in bits 32-63, no cc.
    let (gpr, cc) = after(&ril(0xc201, 4, -3i32 as u32), |cpu| cpu.gpr[4] = HIGH | 7);
    assert_eq!((gpr[4], cc), (HIGH | u64::from(-21i32 as u32), 3));
}

#[test]
fn a_sixty_four_bit_immediate_is_sign_or_zero_extended_as_the_instruction_says() {
    // AGFI r1,-1 on 0: -1, cc 1; ALGFI r2,0xffffffff (zero-extended) on
    // 1: 2^32, cc 1 (not zero, no carry); CGFI r3,-1 on 0: high, cc 2;
    // MSGFI r4,-3 on 7: -21.
    let (gpr, cc) = after(&ril(0xc208, 1, u32::MAX), |_| {});
    assert_eq!((gpr[1] as i64, cc), (-1, 1));
    let (gpr, cc) = after(&ril(0xc20a, 2, u32::MAX), |cpu| cpu.gpr[2] = 1);
    assert_eq!((gpr[2], cc), (1 << 32, 1));
    let (_, cc) = after(&ril(0xc20c, 3, u32::MAX), |_| {});
    assert_eq!(cc, 2);
    let (gpr, _) = after(&ril(0xc200, 4, -3i32 as u32), |cpu| cpu.gpr[4] = 7);
    assert_eq!(gpr[4] as i64, -21);
}

#[test]
fn a_cached_register_operand_is_read_where_it_is_held() {
    // ahi r7,0 (r7 cached as 32 bits); ar r7,r7: 0x40000000 doubled
    // overflows, cc 3, bits 0-31 kept.
    let code = [0xa7, 0x7a, 0, 0, 0x1a, 0x77];
    let (gpr, cc) = after(&code, |cpu| cpu.gpr[7] = HIGH | 0x4000_0000);
    assert_eq!((gpr[7], cc), (HIGH | 0x8000_0000, 3));
    // slgr r1,r1 (zero, no borrow: cc 2, a carry for ALCGR); alcgr r3,r4:
    // 5 + 6 + 1 = 12, cc 1; msgr r5,r3: 12 * 3.
    let code = [
        0xb9, 0x0b, 0x00, 0x11, 0xb9, 0x88, 0x00, 0x34, 0xb9, 0x0c, 0x00, 0x53,
    ];
    let (gpr, cc) = after(&code, |cpu| {
        cpu.gpr[3] = 5;
        cpu.gpr[4] = 6;
        cpu.gpr[5] = 3;
    });
    assert_eq!((gpr[3], gpr[5], cc), (12, 36, 1));
    // Six registers in turn, more than the cache holds: agr r6,r7 after
    // r1-r5 were cached reads r7 (not cached) after r6.
    let code = [
        0xb9, 0x08, 0x00, 0x12, 0xb9, 0x08, 0x00, 0x34, 0xb9, 0x08, 0x00, 0x55, 0xb9, 0x08, 0x00,
        0x67,
    ];
    let (gpr, _) = after(&code, |cpu| {
        for r in 1..8 {
            cpu.gpr[r] = r as u64 * 100;
        }
    });
    assert_eq!((gpr[1], gpr[3], gpr[5], gpr[6]), (300, 700, 1000, 1300));
}

#[test]
fn a_store_takes_its_bytes_from_the_register_the_cache_holds() {
    // lgr r2,r3 (r2 cached); stg r2,0(r4); st r2,8(r4); sth r2,12(r4);
    // stc r2,14(r4); lg r5,0(r4); lg r6,8(r4): the rightmost 8, 4, 2 and 1
    // bytes of r2, big-endian (§63d).
    let code = [
        &[0xb9, 0x04, 0x00, 0x23][..],
        &[0xe3, 0x20, 0x40, 0x00, 0x00, 0x24],
        &[0x50, 0x20, 0x40, 0x08],
        &[0x40, 0x20, 0x40, 0x0c],
        &[0x42, 0x20, 0x40, 0x0e],
        &[0xe3, 0x50, 0x40, 0x00, 0x00, 0x04],
        &[0xe3, 0x60, 0x40, 0x08, 0x00, 0x04],
    ]
    .concat();
    let (gpr, _) = after(&code, |cpu| {
        cpu.gpr[3] = 0x0102_0304_0506_0708;
        cpu.gpr[4] = common::DATA;
    });
    assert_eq!(gpr[5], 0x0102_0304_0506_0708);
    assert_eq!(gpr[6], 0x0506_0708_0708_0800);
}

/// `cmp` (a register compare, `op` its RRE opcode), a branch on `mask` past
/// `larl r5,.; agr r3,r5` to an invalid opcode of its own, where the
/// program also ends: the compare's cc is the branch's only reader.
fn compare_then_branch(op: u16, mask: u8) -> Vec<u8> {
    let [o0, o1] = op.to_be_bytes();
    [
        &[o0, o1, 0x00, 0x12][..],
        &[0xa7, mask << 4 | 4, 0x00, 0x08],
        &[0xc0, 0x50, 0x00, 0x00, 0x00, 0x00],
        &[0xb9, 0x08, 0x00, 0x35],
        &[0, 0],
    ]
    .concat()
}

#[test]
fn a_compare_whose_branch_leaves_stores_its_cc_there() {
    // clgr r1,r2; jle: taken on low (cc 1) and equal (cc 0); not taken on
    // high, where agr's cc (positive, 2) is left (§63e).
    for (r1, r2, cc) in [(1u64, 2u64, 1u8), (2, 2, 0)] {
        let (cpu, _) = run(&compare_then_branch(0xb921, 0xc), 1 << 20, |cpu| {
            cpu.gpr[1] = r1;
            cpu.gpr[2] = r2;
        });
        assert_eq!(cpu.psw.cc(), cc, "clgr {r1},{r2}");
        // (The old PSW of the invalid opcode points past it.)
        assert_eq!(cpu.psw.addr, CODE + 22, "the branch was taken");
    }
    let (cpu, _) = run(&compare_then_branch(0xb921, 0xc), 1 << 20, |cpu| {
        cpu.gpr[1] = 3;
        cpu.gpr[2] = 2;
        cpu.gpr[3] = 1;
    });
    assert_eq!((cpu.psw.cc(), cpu.psw.addr), (2, CODE + 20));
    // cgr r1,r2; jl: -1 is low signed (cc 1), high unsigned.
    let (cpu, _) = run(&compare_then_branch(0xb920, 0x4), 1 << 20, |cpu| {
        cpu.gpr[1] = u64::MAX;
        cpu.gpr[2] = 1;
    });
    assert_eq!((cpu.psw.cc(), cpu.psw.addr), (1, CODE + 22));
}

#[test]
fn a_fault_after_the_start_of_a_loop_sees_the_starts_cc() {
    // loop: ar r1,r2; alg r3,0(r6); aghi r6,0x2000; brct r15,loop: the
    // third ALG is beyond storage; its old PSW holds AR's cc (negative,
    // 1), not the AGHI's the branch back carried (positive, 2).
    let code = [
        &[0x1a, 0x12][..],
        &[0xe3, 0x30, 0x60, 0x00, 0x00, 0x0a],
        &aghi(6, 0x2000),
        &[0xa7, 0xf6, 0xff, 0xfa],
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, 1 << 20, |cpu| {
        cpu.gpr[1] = 0;
        cpu.gpr[2] = u64::from(u32::MAX);
        cpu.gpr[6] = SIZE as u64 - 0x4000;
        cpu.gpr[15] = 10;
    });
    assert_eq!(cpu.psw.cc(), 1);
}

#[test]
fn a_block_that_ends_after_a_setting_with_storage_leaves_that_ones_cc() {
    // ar r1,r2; alg r3,0(r6), run with a budget of two again and again
    // (the jit then translates a block of just the two): AR's cc waits
    // for ALG's slow path, ALG sets its own, and the block's end must not
    // store AR's again (§63a).
    let code = [
        &[0x1a, 0x12][..],
        &[0xe3, 0x30, 0x60, 0x00, 0x00, 0x0a],
        &[0, 0],
    ]
    .concat();
    let set = |cpu: &mut Cpu| {
        // AR's result 1 (cc 2).
        cpu.gpr[2] = 1;
        cpu.gpr[3] = 1;
        cpu.gpr[6] = common::DATA;
    };
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    for _ in 0..16 {
        let (mut cpu, mut bus) = machine(&code, &set);
        let ran = jit.run(&mut cpu, &mut bus, 2);
        assert_eq!((ran.instructions, ran.result), (2, Ok(())));
        let (mut interp, mut interp_bus) = machine(&code, &set);
        common::interpret(&mut interp, &mut interp_bus, 2).unwrap();
        assert_eq!(cpu.psw, interp.psw);
        // 1 + 0 (the data is zero): not zero, no carry.
        assert_eq!(cpu.psw.cc(), 1);
    }
    assert!(
        jit.stats().blocks >= 2,
        "a block of the first two was translated"
    );
}
