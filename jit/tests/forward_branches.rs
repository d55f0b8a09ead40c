//! A conditional relative branch to a later instruction of its own block
//! jumps there inside the block instead of leaving it (docs/CHOICES.md
//! §69). Taken or not, the block must end as the interpreter does (PoP,
//! BRANCH RELATIVE ON CONDITION, COMPARE AND BRANCH RELATIVE, BRANCH
//! RELATIVE ON COUNT: taken, the instructions between are not executed):
//! the registers, the PSW with its condition code (the one the way taken
//! set), the interruption and its old PSW, and the instructions counted.
//! The condition code the instruction before left in cl stays there over
//! instructions that neither read nor set it nor use rcx (ADD LOGICAL
//! WITH CARRY and SUBTRACT LOGICAL WITH BORROW read it there).

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;

mod common;
use common::DATA;

/// Beyond the end of storage: an addressing exception.
const OUTSIDE: u64 = 0x10_0000;

fn machine(code: &[u8], set: impl Fn(&mut Cpu)) -> (Cpu, DatBus) {
    let code = [code, &[0, 0]].concat();
    common::machine(0x10000, &code, &[0x11; 8], set)
}

/// What a run of `code` (then the invalid opcode 0) did on the jit, in
/// batches of `batch` instructions, checked against the interpreter's:
/// the jit's CPU, the interruption that ended it, the instructions run
/// before it and the blocks translated.
struct Run {
    cpu: Cpu,
    result: Result<(), Interruption>,
    instructions: u64,
    blocks: u64,
}

fn run_in_batches(code: &[u8], batch: u64, set: impl Fn(&mut Cpu)) -> Run {
    let (mut cpu, mut bus) = machine(code, &set);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let mut result = Ok(());
    let mut instructions = 0;
    for _ in 0..40 {
        let ran = jit.run(&mut cpu, &mut bus, batch);
        instructions += ran.instructions;
        result = ran.result;
        if result.is_err() {
            break;
        }
    }
    let (mut interp, mut interp_bus) = machine(code, &set);
    // The instruction that raises the interruption counts as run.
    let mut steps = 0;
    let expected = loop {
        steps += 1;
        if let Err(e) = interp.step(&mut interp_bus) {
            break Err(e);
        }
    };
    assert_eq!(result, expected, "the interruption");
    assert_eq!(cpu.gpr, interp.gpr, "the registers");
    assert_eq!(cpu.psw, interp.psw, "the PSW");
    assert_eq!(instructions, steps, "the instructions counted");
    Run {
        cpu,
        result,
        instructions,
        blocks: jit.stats().blocks,
    }
}

fn run(code: &[u8], set: impl Fn(&mut Cpu)) -> Run {
    run_in_batches(code, 64, set)
}

/// CGIJ r1,0 with mask `m3` to `halfwords` on.
fn cgij_zero(m3: u8, halfwords: i16) -> [u8; 6] {
    let [hi, lo] = halfwords.to_be_bytes();
    [0xec, 0x10 | m3, hi, lo, 0x00, 0x7c]
}

fn lghi(r: u8, i: i16) -> [u8; 4] {
    let [hi, lo] = i.to_be_bytes();
    [0xa7, r << 4 | 9, hi, lo]
}

/// `cgij r1,0,8,T; lghi r2,1; lghi r3,1; T: lghi r4,1`.
fn skip_two() -> Vec<u8> {
    [&cgij_zero(8, 7)[..], &lghi(2, 1), &lghi(3, 1), &lghi(4, 1)].concat()
}

#[test]
fn a_branch_taken_forward_skips_what_is_between_in_one_block() {
    for (r1, skipped) in [(0, true), (5, false)] {
        let ran = run(&skip_two(), |cpu| cpu.gpr[1] = r1);
        assert_eq!(ran.cpu.gpr[2] == 0, skipped);
        assert_eq!(ran.cpu.gpr[3] == 0, skipped);
        assert_eq!(ran.cpu.gpr[4], 1);
        assert_eq!(ran.instructions, if skipped { 3 } else { 5 });
        assert!(matches!(ran.result, Err(Interruption::Program { .. })));
        // The target is not a block of its own.
        assert_eq!(ran.blocks, 1, "one block (r1 = {r1})");
    }
}

#[test]
fn a_batch_ending_inside_the_block_counts_what_ran() {
    for batch in 1..6 {
        for r1 in [0, 5] {
            run_in_batches(&skip_two(), batch, |cpu| cpu.gpr[1] = r1);
        }
    }
}

#[test]
fn branch_on_count_forward_skips_while_the_count_is_not_zero() {
    // brct r1,T; lghi r2,1; T: lghi r4,1
    let code = [&[0xa7, 0x16, 0x00, 0x04][..], &lghi(2, 1), &lghi(4, 1)].concat();
    for r1 in [1, 2, 0] {
        let ran = run(&code, |cpu| cpu.gpr[1] = r1);
        assert_eq!(ran.cpu.gpr[2], u64::from(r1 == 1));
    }
}

#[test]
fn the_condition_code_after_the_join_is_the_one_of_the_way_taken() {
    // chi r1,0; jnz T; ahi r5,1; T: lgr r6,r5
    let code = [
        &[0xa7, 0x1e, 0x00, 0x00][..],
        &[0xa7, 0x74, 0x00, 0x04],
        &[0xa7, 0x5a, 0x00, 0x01],
        &[0xb9, 0x04, 0x00, 0x65],
    ]
    .concat();
    for (r1, r5) in [
        (0, 0),
        (0, u64::MAX),
        (0, 0x7fff_ffff),
        (3, 0),
        (-3i64 as u64, 7),
    ] {
        run(&code, |cpu| {
            cpu.gpr[1] = r1;
            cpu.gpr[5] = r5;
        });
    }
}

#[test]
fn a_fault_after_the_join_sees_the_condition_code_of_the_way_taken() {
    // ar r5,r5; cgij r1,0,8,T; ahi r5,1; T: lg r6,0(r8); ahi r9,1: the
    // adds' cc stays unstored over the compare and branch and the load
    // (docs/CHOICES.md §58a); the load faults (r8 outside storage) or not.
    let code = [
        &[0x1a, 0x55][..],
        &cgij_zero(8, 5),
        &[0xa7, 0x5a, 0x00, 0x01],
        &[0xe3, 0x60, 0x80, 0x00, 0x00, 0x04],
        &[0xa7, 0x9a, 0x00, 0x01],
    ]
    .concat();
    for r1 in [0, 1] {
        for r5 in [0, 1, 0x4000_0000, u64::MAX] {
            for r8 in [OUTSIDE, DATA] {
                let ran = run(&code, |cpu| {
                    cpu.gpr[1] = r1;
                    cpu.gpr[5] = r5;
                    cpu.gpr[8] = r8;
                });
                let faulted = ran.instructions < if r1 == 0 { 5 } else { 6 };
                assert_eq!(faulted, r8 == OUTSIDE);
            }
        }
    }
}

#[test]
fn a_register_written_between_the_branch_and_its_target_is_read_after_the_join() {
    // lgr r2,r3; cgij r1,0,8,T; (lr r2,r4 | lgr r2,r4 | lgr r9,r4);
    // lr r7,r7; T: agr r5,r2; agr r5,r9
    let writes: [&[u8]; 3] = [
        &[0x18, 0x24],
        &[0xb9, 0x04, 0x00, 0x24],
        &[0xb9, 0x04, 0x00, 0x94],
    ];
    for write in writes {
        let skip = (4 + write.len() as i16 + 2) / 2 + 1;
        let code = [
            &[0xb9, 0x04, 0x00, 0x23][..],
            &cgij_zero(8, skip),
            write,
            &[0x18, 0x77],
            &[0xb9, 0x08, 0x00, 0x52],
            &[0xb9, 0x08, 0x00, 0x59],
        ]
        .concat();
        for r1 in [0, 1] {
            let ran = run(&code, |cpu| {
                cpu.gpr[1] = r1;
                cpu.gpr[3] = 0x1111_2222_3333_4444;
                cpu.gpr[4] = 0x5555_6666_7777_8888;
                cpu.gpr[5] = 1;
                cpu.gpr[9] = 0x100;
            });
            assert_eq!(ran.blocks, 1);
        }
    }
}

/// CLGR r1,r2, then `between`, then `carry` (ALCGR r3,r3 or SLBGR
/// r3,r3): r3 = 0 plus the carry, or minus the borrow, of the compare's cc.
fn carry_after(between: &[u8], carry: [u8; 4]) {
    let code = [&[0xb9, 0x21, 0x00, 0x12][..], &lghi(3, 0), between, &carry].concat();
    for (r1, r2) in [(1, 2), (2, 1), (7, 7), (u64::MAX, 0)] {
        run(&code, |cpu| {
            cpu.gpr[1] = r1;
            cpu.gpr[2] = r2;
            cpu.gpr[4] = 0x8000_0001;
            cpu.gpr[6] = 33;
            cpu.gpr[7] = DATA;
        });
    }
}

const ALCGR: [u8; 4] = [0xb9, 0x88, 0x00, 0x33];
const SLBGR: [u8; 4] = [0xb9, 0x89, 0x00, 0x33];

#[test]
fn add_with_carry_and_subtract_with_borrow_read_the_compare_before_them() {
    for carry in [ALCGR, SLBGR] {
        // Only LGHI between.
        carry_after(&[], carry);
        // SLLG r4,r4,0(r6): shifts by cl.
        carry_after(&[0xeb, 0x44, 0x60, 0x00, 0x00, 0x0d], carry);
        // LG r4,0(r7): its probe uses rcx.
        carry_after(&[0xe3, 0x40, 0x70, 0x00, 0x00, 0x04], carry);
        // LGR r5,r4; SRLG r4,r4,3: neither touches rcx.
        carry_after(
            &[0xb9, 0x04, 0x00, 0x54, 0xeb, 0x44, 0x00, 0x03, 0x00, 0x0c],
            carry,
        );
    }
}
