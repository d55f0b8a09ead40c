//! The block-local register cache (docs/CHOICES.md §44): within a block a
//! guest register the block loaded or computed is read from a host
//! register, so whatever writes guest registers behind the translated
//! code's back (the helper, a slow path, the interpreter after a fault,
//! LM, EX) and whatever clobbers host registers (the calls of a TLB fill)
//! must leave the cache exact. Each rule runs one block on the jit and on
//! the interpreter: the registers must be the rule's and the same.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

mod common;
use common::{CODE, DATA};
/// Beyond the end of storage: an addressing exception.
const OUTSIDE: u64 = 0x10_0000;

/// The machine that runs `code` at CODE (DAT off, 64-bit), then the
/// invalid opcode 0; DATA holds `data`.
fn machine(code: &[u8], data: &[u8], set: impl Fn(&mut Cpu)) -> (Cpu, DatBus) {
    common::machine(0x10000, code, data, set)
}

/// Runs the block on the jit and on the interpreter; the jit's CPU after
/// its result, which must equal the interpreter's.
fn run(code: &[u8], data: &[u8], set: impl Fn(&mut Cpu)) -> (Cpu, Result<(), Interruption>) {
    let (mut cpu, mut bus) = machine(code, data, &set);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    // Until the invalid opcode at the end (a run may leave early, after
    // an instruction that changes the PSW).
    let mut result = Ok(());
    for _ in 0..10 {
        result = jit.run(&mut cpu, &mut bus, 20).result;
        if result.is_err() {
            break;
        }
    }
    let (mut interp, mut interp_bus) = machine(code, data, &set);
    let expected = loop {
        if let Err(e) = interp.step(&mut interp_bus) {
            break Err(e);
        }
    };
    assert_eq!(result, expected, "the jit's result is the interpreter's");
    assert_eq!(
        cpu.gpr, interp.gpr,
        "the jit's registers are the interpreter's"
    );
    assert_eq!(cpu.psw, interp.psw, "the jit's PSW is the interpreter's");
    (cpu, result)
}

fn lgr(r1: u8, r2: u8) -> [u8; 4] {
    [0xb9, 0x04, 0x00, r1 << 4 | r2]
}

fn agr(r1: u8, r2: u8) -> [u8; 4] {
    [0xb9, 0x08, 0x00, r1 << 4 | r2]
}

/// LG r1,d(b) (RXY-a, index 0).
fn lg(r1: u8, b: u8, d: u16) -> [u8; 6] {
    [0xe3, r1 << 4, b << 4 | (d >> 8) as u8, d as u8, 0, 0x04]
}

const HIGH: u64 = 0x1234_5678_0000_0000;

#[test]
fn a_register_cached_before_a_tlb_fill_keeps_its_value_after_it() {
    // lgr r5,r6 (r5 cached); lg r2,0(r5) (the first access misses the
    // TLB: the fill helper is called); agr r5,r2 reads r5 again.
    let code = [&lgr(5, 6)[..], &lg(2, 5, 0), &agr(5, 2), &[0, 0]].concat();
    let (cpu, _) = run(&code, &7u64.to_be_bytes(), |cpu| cpu.gpr[6] = DATA);
    assert_eq!(cpu.gpr[5], DATA + 7);
}

#[test]
fn a_register_the_interpreter_writes_in_a_slow_path_is_read_afresh() {
    // lgr r2,r6 (r2 cached); lg r2 across a page end (the slow path:
    // the interpreter loads r2); agr r4,r2 sees the loaded value.
    let mut data = vec![0u8; 0x1004];
    data[0xffc..].copy_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    let code = [&lgr(2, 6)[..], &lg(2, 5, 0xffc), &agr(4, 2), &[0, 0]].concat();
    let (cpu, _) = run(&code, &data, |cpu| {
        cpu.gpr[5] = DATA;
        cpu.gpr[6] = 99;
    });
    assert_eq!(cpu.gpr[4], 0x0102_0304_0506_0708);
}

#[test]
fn a_register_the_helper_writes_is_read_afresh() {
    // lgr r2,r6 (r2 cached); sla r2,1 (the interpreter's, for the jit);
    // agr r4,r2 sees the shifted value.
    let code = [
        &lgr(2, 6)[..],
        &[0x8b, 0x20, 0x00, 0x01],
        &agr(4, 2),
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| cpu.gpr[6] = 21);
    assert_eq!(cpu.gpr[4], 42);
}

#[test]
fn load_multiple_replaces_cached_registers() {
    // lgr r2,r6; lmg r2,r3,0(r5); agr r4,r2 sees the loaded r2.
    let code = [
        &lgr(2, 6)[..],
        &[0xeb, 0x23, 0x50, 0x00, 0x00, 0x04],
        &agr(4, 2),
        &[0, 0],
    ]
    .concat();
    let data = [5u64.to_be_bytes(), 6u64.to_be_bytes()].concat();
    let (cpu, _) = run(&code, &data, |cpu| {
        cpu.gpr[5] = DATA;
        cpu.gpr[6] = 99;
    });
    assert_eq!((cpu.gpr[2], cpu.gpr[3], cpu.gpr[4]), (5, 6, 5));
}

#[test]
fn a_32_bit_result_leaves_bits_0_to_31_of_a_cached_register() {
    // lgr r2,r6 (r2 cached, high half set); ar r2,r7 (32 bits);
    // lr r3,r2; agr r4,r2 sees the high half and the new low half.
    let code = [
        &lgr(2, 6)[..],
        &[0x1a, 0x27],
        &[0x18, 0x32],
        &agr(4, 2),
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| {
        cpu.gpr[6] = HIGH | 0xffff_ffff;
        cpu.gpr[7] = 2;
        cpu.gpr[3] = HIGH;
    });
    assert_eq!(cpu.gpr[2], HIGH | 1);
    assert_eq!(cpu.gpr[3], HIGH | 1);
    assert_eq!(cpu.gpr[4], HIGH | 1);
}

#[test]
fn a_branch_on_count_of_a_cached_register_counts_its_low_half() {
    // lgr r2,r6; brct r2,+0 (not taken: r2 becomes 0 in bits 32-63);
    // agr r4,r2.
    let code = [
        &lgr(2, 6)[..],
        &[0xa7, 0x26, 0x00, 0x00],
        &agr(4, 2),
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| cpu.gpr[6] = HIGH | 1);
    assert_eq!(cpu.gpr[4], HIGH);
}

#[test]
fn the_target_of_execute_writes_a_cached_register() {
    // lgr r2,r6; ex 0,14(r9) (the lr r2,r7 after the end); agr r4,r2.
    let code = [
        &lgr(2, 6)[..],
        &[0x44, 0x00, 0x90, 14],
        &agr(4, 2),
        &[0, 0],
        &[0x18, 0x27],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| {
        cpu.gpr[6] = 1;
        cpu.gpr[7] = 40;
        cpu.gpr[9] = CODE;
    });
    assert_eq!(cpu.gpr[4], 40);
}

#[test]
fn a_fault_in_the_middle_of_a_block_leaves_the_registers_written_before_it() {
    // lgr r2,r6; agr r2,r7; lg r3,0(r8) outside storage: an addressing
    // exception, with r2 written and r3 unchanged.
    let code = [&lgr(2, 6)[..], &agr(2, 7), &lg(3, 8, 0), &[0, 0]].concat();
    let (cpu, result) = run(&code, &[], |cpu| {
        cpu.gpr[6] = 3;
        cpu.gpr[7] = 4;
        cpu.gpr[8] = OUTSIDE;
        cpu.gpr[3] = 11;
    });
    assert!(matches!(
        result,
        Err(Interruption::Program { exception, .. }) if exception.code == Code::ADDRESSING
    ));
    assert_eq!((cpu.gpr[2], cpu.gpr[3]), (7, 11));
}

/// agr r,r for each of `regs` (each result kept in a host register only
/// under write-back, docs/CHOICES.md §70), then `rest`.
fn doubling(regs: core::ops::RangeInclusive<u8>, rest: &[&[u8]]) -> Vec<u8> {
    let mut code: Vec<u8> = regs.flat_map(|r| agr(r, r)).collect();
    code.extend(rest.concat());
    code
}

/// Registers 1 to `n` = their numbers.
fn numbered(cpu: &mut Cpu, n: usize) {
    for r in 1..=n {
        cpu.gpr[r] = r as u64;
    }
}

#[test]
fn a_fault_where_every_cached_register_is_dirty_leaves_them_all_in_the_state() {
    // Five registers written (every slot of the cache holds a result the
    // state does not have yet), then lg r6,0(r7): r7 and r6 need slots of
    // their own, taken from dirty registers, and the access raises an
    // addressing exception; the interruption sees all five results, r6
    // unchanged.
    let code = doubling(1..=5, &[&lg(6, 7, 0), &[0, 0]]);
    let (cpu, result) = run(&code, &[], |cpu| {
        numbered(cpu, 5);
        cpu.gpr[6] = 66;
        cpu.gpr[7] = OUTSIDE;
    });
    assert!(addressing(&result));
    assert_eq!(cpu.gpr[1..7], [2, 4, 6, 8, 10, 66]);
}

#[test]
fn a_slow_path_after_register_writes_finds_them_in_the_state() {
    // agr r1,r1 (kept in a host register only, docs/CHOICES.md §70); ar
    // r2,r3 overflows with the fixed-point-overflow mask on: its slow
    // path, where the interpreter completes it and raises the exception,
    // which must see r1 doubled.
    let code = [&agr(1, 1)[..], &[0x1a, 0x23], &agr(4, 1), &[0, 0]].concat();
    let (cpu, result) = run(&code, &[], |cpu| {
        cpu.psw.mask |= 1 << (63 - 20);
        cpu.gpr[1] = 10;
        cpu.gpr[2] = 0x7fff_ffff;
        cpu.gpr[3] = 1;
    });
    assert!(matches!(
        result,
        Err(Interruption::Program { exception, .. }) if exception.code == Code::FIXED_POINT_OVERFLOW
    ));
    assert_eq!(cpu.gpr[1..3], [20, 0x8000_0000]);
}

#[test]
fn a_load_into_a_slot_given_up_by_a_dirty_register_reads_the_storage() {
    // As above, the access in storage: r6 loaded, the five results kept.
    let code = doubling(1..=5, &[&lg(6, 7, 0), &agr(6, 1), &[0, 0]]);
    let (cpu, _) = run(&code, &100u64.to_be_bytes(), |cpu| {
        numbered(cpu, 5);
        cpu.gpr[7] = DATA;
    });
    assert_eq!(cpu.gpr[1..7], [2, 4, 6, 8, 10, 102]);
}

#[test]
fn an_operand_read_already_keeps_its_slot_when_the_next_one_needs_one() {
    // Four registers written (dirty), then cgrj r5,r6,4,+10: r5 takes the
    // last free slot; r6 must take a dirty register's (written back),
    // not r5's, which holds the first operand of the compare (5 < 6: the
    // branch over lghi r7,1 is taken).
    let code = doubling(
        1..=4,
        &[
            &[0xec, 0x56, 0x00, 0x05, 0x40, 0x64],
            &[0xa7, 0x79, 0x00, 0x01],
            &[0, 0],
        ],
    );
    let (cpu, _) = run(&code, &[], |cpu| numbered(cpu, 6));
    assert_eq!(cpu.gpr[1..8], [2, 4, 6, 8, 5, 6, 0]);
}

#[test]
fn registers_written_on_either_way_to_a_join_reach_the_state() {
    // agr r2,r2; cgij r1,0,8,+14 (taken: over the next two); agr r3,r3;
    // agr r2,r2; then the join: agr r4,r2; lg r5,0(r6) outside storage.
    // Whichever way came, the fault sees every register written on it
    // (write-back, docs/CHOICES.md §70: the branch writes back what it
    // holds dirty, the fall-through what the join does not keep).
    let code = [
        &agr(2, 2)[..],
        &[0xec, 0x18, 0x00, 0x07, 0x00, 0x7c],
        &agr(3, 3),
        &agr(2, 2),
        &agr(4, 2),
        &lg(5, 6, 0),
        &[0, 0],
    ]
    .concat();
    for (r1, expected) in [(0, [0, 4, 3, 8, 5]), (1, [1, 8, 6, 12, 5])] {
        let (cpu, result) = run(&code, &[], |cpu| {
            numbered(cpu, 5);
            cpu.gpr[1] = r1;
            cpu.gpr[6] = OUTSIDE;
        });
        assert!(addressing(&result));
        assert_eq!(cpu.gpr[1..6], expected, "r1 = {r1}");
    }
}

#[test]
fn a_loop_ended_by_the_budget_leaves_its_registers_in_the_state() {
    // aghi r2,1; brctg r1,-4: the loop keeps r1 and r2 in host registers
    // (write-back, docs/CHOICES.md §70) and branches back without storing
    // them; wherever the budget ends a run, the state has both as the
    // instructions run so far left them.
    let code = [
        &[0xa7, 0x2b, 0x00, 0x01][..],
        &[0xa7, 0x17, 0xff, 0xfe],
        &[0, 0],
    ]
    .concat();
    let (mut cpu, mut bus) = machine(&code, &[], |cpu| {
        cpu.gpr[1] = 1000;
        cpu.gpr[2] = 0;
    });
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let mut total = 0;
    for run in 0..100 {
        let ran = jit.run(&mut cpu, &mut bus, 7 + run % 5);
        assert!(ran.result.is_ok(), "{:?}", ran.result);
        total += ran.instructions;
        // From the AGHI: AGHIs and BRCTGs alternate.
        let (aghis, brctgs) = (total.div_ceil(2), total / 2);
        assert_eq!(
            (cpu.gpr[1], cpu.gpr[2]),
            (1000 - brctgs, aghis),
            "after run {run}"
        );
    }
    assert!(total > 600);
}

#[test]
fn the_program_mask_set_in_the_middle_of_a_block_survives_later_condition_codes() {
    // ar r1,r2 (sets the cc: the block saves the rest of the PSW byte);
    // spm r3 (a new program mask and cc); ar r1,r2 (cc 2); ipm r4.
    let code = [
        &[0x1a, 0x12][..],
        &[0x04, 0x30],
        &[0x1a, 0x12],
        &[0xb2, 0x22, 0x00, 0x40],
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| {
        cpu.gpr[1] = 1;
        cpu.gpr[2] = 1;
        // Program mask 0111 (no fixed-point overflow), cc 1.
        cpu.gpr[3] = 0x1700_0000;
    });
    // IPM: bits 34-35 the cc (2), 36-39 the program mask.
    assert_eq!(cpu.gpr[4] >> 24 & 0x3f, 0x27);
}

/// RISBG, RNSBG, ROSBG, RXSBG r1,r2,i3,i4,i5 (RIE-f).
fn rotate_then(op: u8, r1: u8, r2: u8, i3: u8, i4: u8, i5: u8) -> [u8; 6] {
    [0xec, r1 << 4 | r2, i3, i4, i5, op]
}

const RISBG: u8 = 0x55;
const RNSBG: u8 = 0x54;
const RXSBG: u8 = 0x57;

#[test]
fn rotate_then_insert_reads_all_64_bits_of_a_register_cached_as_32() {
    // lr r2,r6 (the cache holds bits 32-63 of r2); risbg r3,r2,0,63,32
    // (r2 rotated by 32: its bits 0-31 become the low half of r3).
    let code = [
        &[0x18, 0x26][..],
        &rotate_then(RISBG, 3, 2, 0, 63, 32),
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| {
        cpu.gpr[2] = HIGH;
        cpu.gpr[6] = 7;
    });
    assert_eq!(cpu.gpr[3], 7 << 32 | HIGH >> 32);
}

#[test]
fn rotate_then_insert_leaves_the_unselected_bits_of_a_cached_register() {
    // lgr r3,r6 (r3 cached); risbg r3,r2,56,63,8 (bits 56-63 of r3 = the
    // byte at bits 0-7 of r2); agr r4,r3 reads r3 from the cache.
    let code = [
        &lgr(3, 6)[..],
        &rotate_then(RISBG, 3, 2, 56, 63, 8),
        &agr(4, 3),
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| {
        cpu.gpr[2] = 0xab00_0000_0000_0000;
        cpu.gpr[6] = HIGH | 0x1234;
    });
    assert_eq!(cpu.gpr[4], HIGH | 0x12ab);
}

#[test]
fn rotate_then_insert_sets_the_cc_of_its_result_for_a_branch_after_it() {
    // risbg r3,r2,0,63,0 (a negative result: cc 1); jl +8 (taken: over
    // the lhi r7,1) ; lhi r8,1. Then zero (cc 0, not taken).
    let code = [
        &rotate_then(RISBG, 3, 2, 0, 63, 0)[..],
        &[0xa7, 0x44, 0x00, 0x04],
        &[0xa7, 0x78, 0x00, 0x01],
        &[0xa7, 0x88, 0x00, 0x01],
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| cpu.gpr[2] = 1 << 63);
    assert_eq!((cpu.gpr[7], cpu.gpr[8]), (0, 1));
    assert_eq!(cpu.psw.cc(), 1);
    let (cpu, _) = run(&code, &[], |cpu| cpu.gpr[2] = 0);
    assert_eq!((cpu.gpr[7], cpu.gpr[8]), (1, 1));
    assert_eq!(cpu.psw.cc(), 0);
}

#[test]
fn rotate_then_and_with_the_test_control_changes_no_register() {
    // lgr r3,r6; rnsbg r3,r2,128+0,63,0 (test only: cc 1, the selected
    // and is nonzero); lgr r4,r3 reads r3 unchanged.
    let code = [
        &lgr(3, 6)[..],
        &rotate_then(RNSBG, 3, 2, 0x80, 63, 0),
        &lgr(4, 3),
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| {
        cpu.gpr[2] = 0xff;
        cpu.gpr[6] = 0x0f;
    });
    assert_eq!((cpu.gpr[3], cpu.gpr[4]), (0x0f, 0x0f));
    assert_eq!(cpu.psw.cc(), 1);
}

#[test]
fn rotate_then_exclusive_or_in_a_table_driven_crc_step() {
    // The kernel decompressor's CRC-32 step: xr r7,r11; risbgz
    // r7,r7,54,61,2; l r7,16(r7,r3); rxsbg r7,r11,40,63,56; lr r11,r7
    // (the cc of xr and risbg overwritten, the last one rxsbg's).
    let code = [
        &[0x17, 0x7b][..],
        &rotate_then(RISBG, 7, 7, 54, 0x80 | 61, 2),
        &[0x58, 0x77, 0x30, 0x10],
        &rotate_then(RXSBG, 7, 11, 40, 63, 56),
        &[0x18, 0xb7],
        &[0, 0],
    ]
    .concat();
    let table: Vec<u8> = (0..0x410u32)
        .flat_map(|i| (i * 0x0101_0101).to_be_bytes())
        .collect();
    let (cpu, _) = run(&code, &table, |cpu| {
        cpu.gpr[3] = DATA - 16;
        cpu.gpr[7] = 0x5a;
        cpu.gpr[11] = HIGH | 0x1234_5678;
    });
    let index = (0x5a ^ 0x78) as u32;
    let entry = index * 0x0101_0101;
    let crc = entry ^ (0x1234_5678 >> 8);
    assert_eq!(cpu.gpr[11] & 0xffff_ffff, u64::from(crc));
    assert_eq!(cpu.psw.cc(), u8::from(crc & 0xff_ffff != 0));
}

#[test]
fn insert_character_into_a_cached_register_keeps_its_other_bytes() {
    // lgr r2,r6 (r2 cached); ic r2,0(r5); lgr r4,r2; stc r2,1(r5).
    let code = [
        &lgr(2, 6)[..],
        &[0x43, 0x20, 0x50, 0x00],
        &lgr(4, 2),
        &[0x42, 0x20, 0x50, 0x01],
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[0x9c, 0], |cpu| {
        cpu.gpr[5] = DATA;
        cpu.gpr[6] = HIGH | 0x1122_3344;
    });
    assert_eq!(cpu.gpr[4], HIGH | 0x1122_339c);
}

#[test]
fn a_shift_right_single_whose_cc_is_overwritten_leaves_the_next_one() {
    // sra r2,5 (cc 1: negative); ar r3,r4 (cc 2: positive, the last).
    let code = [&[0x8a, 0x20, 0x00, 0x05][..], &[0x1a, 0x34], &[0, 0]].concat();
    let (cpu, _) = run(&code, &[], |cpu| {
        cpu.gpr[2] = 0x8000_0000;
        cpu.gpr[3] = 1;
        cpu.gpr[4] = 1;
    });
    assert_eq!(cpu.psw.cc(), 2);
    assert_eq!(cpu.gpr[2], 0xfc00_0000);
}

// The condition code left unstored over loads and stores up to the next
// instruction that sets it (docs/CHOICES.md §58a): an exception in
// between must see it in the old PSW, exactly as the interpreter's.

/// The PSW's cc set to `cc` (of the cc byte's bits) before the run.
fn cc(cpu: &mut Cpu, cc: u8) {
    cpu.psw.set_cc(cc);
}

/// `ahi r,i` (RI-a).
fn ahi(r: u8, i: i16) -> [u8; 4] {
    let [hi, lo] = i.to_be_bytes();
    [0xa7, r << 4 | 0xa, hi, lo]
}

/// `st r1,d(b)` (RX-a, index 0).
fn st(r1: u8, b: u8, d: u16) -> [u8; 4] {
    [0x50, r1 << 4, b << 4 | (d >> 8) as u8, d as u8]
}

fn addressing(result: &Result<(), Interruption>) -> bool {
    matches!(
        result,
        Err(Interruption::Program { exception, .. }) if exception.code == Code::ADDRESSING
    )
}

#[test]
fn a_fault_after_an_add_whose_cc_a_later_add_overwrites_sees_the_first_add_s_cc() {
    // ahi r2,1 (cc 2); st r2 at 0(r5); lg r3,0(r8) outside storage: the
    // addressing exception's PSW has cc 2; ahi r4,-1 never runs.
    let code = [
        &ahi(2, 1)[..],
        &st(2, 5, 0),
        &lg(3, 8, 0),
        &ahi(4, -1),
        &[0, 0],
    ]
    .concat();
    let (cpu, result) = run(&code, &[0; 8], |cpu| {
        cc(cpu, 1);
        cpu.gpr[2] = 5;
        cpu.gpr[4] = 0;
        cpu.gpr[5] = DATA;
        cpu.gpr[8] = OUTSIDE;
    });
    assert!(addressing(&result));
    assert_eq!(cpu.psw.cc(), 2);
    assert_eq!(cpu.gpr[4], 0);
}

#[test]
fn a_fault_after_an_overflowing_add_sees_cc_3() {
    // ar r2,r3 overflows (the fixed-point-overflow mask off: cc 3); lg
    // r3,0(r8) outside storage; ar r4,r4.
    let code = [&[0x1a, 0x23][..], &lg(3, 8, 0), &[0x1a, 0x44], &[0, 0]].concat();
    let (cpu, result) = run(&code, &[], |cpu| {
        cpu.gpr[2] = 0x7fff_ffff;
        cpu.gpr[3] = 1;
        cpu.gpr[8] = OUTSIDE;
    });
    assert!(addressing(&result));
    assert_eq!(cpu.psw.cc(), 3);
    assert_eq!(cpu.gpr[2], 0x8000_0000);
}

#[test]
fn a_fault_after_a_logical_operation_sees_its_cc() {
    // ngr r2,r3 (zero: cc 0, the cc before 1); lg r3 outside; ngr r4,r4.
    let code = [
        &[0xb9, 0x80, 0x00, 0x23][..],
        &lg(3, 8, 0),
        &[0xb9, 0x80, 0x00, 0x44],
        &[0, 0],
    ]
    .concat();
    let (cpu, result) = run(&code, &[], |cpu| {
        cc(cpu, 1);
        cpu.gpr[2] = 0xf0;
        cpu.gpr[3] = 0x0f;
        cpu.gpr[8] = OUTSIDE;
    });
    assert!(addressing(&result));
    assert_eq!(cpu.psw.cc(), 0);
}

#[test]
fn a_fault_after_a_32_bit_load_and_test_sees_the_sign_of_bits_32_to_63() {
    // ltr r2,r3 (bit 32 one: cc 1, although the 64-bit register is
    // positive); lg r3 outside storage (r3 not written: the fault comes
    // first); ltr r4,r4.
    let code = [&[0x12, 0x23][..], &lg(3, 8, 0), &[0x12, 0x44], &[0, 0]].concat();
    let (cpu, result) = run(&code, &[], |cpu| {
        cpu.gpr[3] = 0x8000_0000;
        cpu.gpr[8] = OUTSIDE;
    });
    assert!(addressing(&result));
    assert_eq!(cpu.psw.cc(), 1);
}

#[test]
fn a_load_across_a_page_end_between_two_settings_ends_with_the_second_cc() {
    // ahi r2,1; lg r3 across a page end (the slow path: the interpreter
    // loads it, the block resumes); ahi r4,-1 (cc 1).
    let mut data = vec![0u8; 0x1004];
    data[0xffc..].copy_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    let code = [&ahi(2, 1)[..], &lg(3, 5, 0xffc), &ahi(4, -1), &[0, 0]].concat();
    let (cpu, result) = run(&code, &data, |cpu| {
        cpu.gpr[5] = DATA;
    });
    assert!(matches!(result, Err(Interruption::Program { .. })));
    assert_eq!(cpu.gpr[3], 0x0102_0304_0506_0708);
    assert_eq!(cpu.psw.cc(), 1);
}

/// An RS-a shift (SLL 0x89, SRL 0x88, SRA 0x8a) of r1 by the
/// displacement `d` (no base register: the amount is its low 6 bits).
fn shift(op: u8, r1: u8, d: u16) -> [u8; 4] {
    [op, r1 << 4, (d >> 8) as u8, d as u8]
}

#[test]
fn shifts_by_a_displacement_count_its_low_6_bits() {
    // sll r2,35 (a 32-bit shift by 35: zero); srl r3,0x41 (by 1); sra
    // r4,40 (the sign in all 32 bits, cc 1); rll r5,r6,33 (by 1, modulo
    // 32); sllg r7,r8,0 (a copy); the high halves of r2-r4 unchanged.
    let code = [
        &shift(0x89, 2, 35)[..],
        &shift(0x88, 3, 0x41),
        &shift(0x8a, 4, 40),
        &[0xeb, 0x56, 0x00, 0x21, 0x00, 0x1d],
        &[0xeb, 0x78, 0x00, 0x00, 0x00, 0x0d],
        &[0, 0],
    ]
    .concat();
    let (cpu, _) = run(&code, &[], |cpu| {
        cpu.gpr[2] = HIGH | 0xffff_ffff;
        cpu.gpr[3] = HIGH | 0x8000_0002;
        cpu.gpr[4] = HIGH | 0x8000_0000;
        cpu.gpr[6] = 0x8000_0001;
        cpu.gpr[8] = HIGH | 5;
    });
    assert_eq!(cpu.gpr[2], HIGH);
    assert_eq!(cpu.gpr[3], HIGH | 0x4000_0001);
    assert_eq!(cpu.gpr[4], HIGH | 0xffff_ffff);
    assert_eq!(cpu.gpr[5] & 0xffff_ffff, 3);
    assert_eq!(cpu.gpr[7], HIGH | 5);
    assert_eq!(cpu.psw.cc(), 1);
}

#[test]
fn a_fault_in_a_compare_with_storage_after_an_add_sees_the_add_s_cc() {
    // ahi r2,-9 (cc 1); ic r3,0(r5); cg r4,0(r8) outside storage: the
    // exception leaves the cc of ahi (cg sets it only when it completes).
    let code = [
        &ahi(2, -9)[..],
        &[0x43, 0x30, 0x50, 0x00],
        &[0xe3, 0x40, 0x80, 0x00, 0x00, 0x20],
        &[0, 0],
    ]
    .concat();
    let (cpu, result) = run(&code, &[0x77], |cpu| {
        cpu.gpr[5] = DATA;
        cpu.gpr[8] = OUTSIDE;
    });
    assert!(addressing(&result));
    assert_eq!(cpu.psw.cc(), 1);
    assert_eq!(cpu.gpr[3] & 0xff, 0x77);
}

#[test]
fn a_fault_in_insert_character_after_an_add_sees_the_add_s_cc() {
    // ahi r2,1 (cc 2); ic r3,0(r8) outside storage; ahi r4,1.
    let code = [
        &ahi(2, 1)[..],
        &[0x43, 0x30, 0x80, 0x00],
        &ahi(4, 1),
        &[0, 0],
    ]
    .concat();
    let (cpu, result) = run(&code, &[], |cpu| cpu.gpr[8] = OUTSIDE);
    assert!(addressing(&result));
    assert_eq!(cpu.psw.cc(), 2);
}

#[test]
fn a_fault_after_rotate_then_insert_sees_its_cc() {
    // risbg r2,r6,0,128+63,0 (a negative result: cc 1); l r3,0(r8)
    // outside storage; ar r4,r4. And with the result zero (cc 0), and an
    // extraction of bits at the right end (an immediate mask).
    let code = [
        &rotate_then(RISBG, 2, 6, 0, 0x80 | 63, 0)[..],
        &[0x58, 0x30, 0x80, 0x00],
        &[0x1a, 0x44],
        &[0, 0],
    ]
    .concat();
    for (value, expected) in [(1u64 << 63, 1), (0, 0)] {
        let (cpu, result) = run(&code, &[], |cpu| {
            cc(cpu, 2);
            cpu.gpr[6] = value;
            cpu.gpr[8] = OUTSIDE;
        });
        assert!(addressing(&result));
        assert_eq!(cpu.psw.cc(), expected);
    }
    let code = [
        &rotate_then(RISBG, 2, 6, 54, 0x80 | 61, 2)[..],
        &[0x58, 0x30, 0x80, 0x00],
        &[0x1a, 0x44],
        &[0, 0],
    ]
    .concat();
    let (cpu, result) = run(&code, &[], |cpu| {
        cpu.gpr[6] = HIGH | 0xff;
        cpu.gpr[8] = OUTSIDE;
    });
    assert!(addressing(&result));
    assert_eq!((cpu.gpr[2], cpu.psw.cc()), (0x3fc, 2));
}

#[test]
fn a_fault_in_a_store_or_compare_of_an_immediate_after_an_add_sees_the_add_s_cc() {
    // ahi r2,1 (cc 2); mvi 0(r8),1 outside storage (cli 0(r5),1 after
    // it); then ahi r2,1; cli 0(r8),1 outside storage.
    let code = [
        &ahi(2, 1)[..],
        &[0x92, 0x01, 0x80, 0x00],
        &[0x95, 0x01, 0x50, 0x00],
        &[0, 0],
    ]
    .concat();
    let (cpu, result) = run(&code, &[0], |cpu| {
        cpu.gpr[5] = DATA;
        cpu.gpr[8] = OUTSIDE;
    });
    assert!(addressing(&result));
    assert_eq!(cpu.psw.cc(), 2);
    let code = [&ahi(2, 1)[..], &[0x95, 0x01, 0x80, 0x00], &[0, 0]].concat();
    let (cpu, result) = run(&code, &[], |cpu| cpu.gpr[8] = OUTSIDE);
    assert!(addressing(&result));
    assert_eq!(cpu.psw.cc(), 2);
}
