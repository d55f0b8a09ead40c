//! The jit's form of docs/CHOICES.md §64a: EXECUTE RELATIVE LONG, and
//! EXECUTE whose base register the LARL before it set, of an MVC or XC in
//! the block's page run natively, with the length from bits 56-63 of R1;
//! a target changed by a store runs as changed, and whatever the fast
//! path cannot do (a page crossing, an access exception, an overlap the
//! logical addresses do not show) is the interpreter's.
//! Each rule is checked against the interpreter stepping the same code:
//! the registers, the PSW, storage and the interruption (code and ILC).

use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

mod common;
use common::{Ran, CODE, DATA};

/// Storage size: 128 KiB.
const SIZE: usize = 0x20000;

impl Ran {
    fn data(&self, at: u64, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        self.bus
            .storage
            .read(AbsoluteAddress::new(at), &mut bytes)
            .unwrap();
        bytes
    }
}

/// A machine with `code` at [`CODE`], the 64 bytes at [`DATA`] 0, 1, 2
/// ..., r3 = DATA, r4 = DATA + 32, then `set`.
fn machine(code: &[u8], set: &dyn Fn(&mut Cpu, &mut DatBus)) -> (Cpu, DatBus) {
    let data: Vec<u8> = (0..64).collect();
    let (mut cpu, mut bus) = common::machine(SIZE, code, &data, |cpu| {
        cpu.gpr[3] = DATA;
        cpu.gpr[4] = DATA + 32;
    });
    set(&mut cpu, &mut bus);
    (cpu, bus)
}

/// Runs `code` on the jit and on the interpreter up to the first
/// interruption (at most 20 instructions); checks that both end alike
/// and gives the jit's run.
fn run(code: &[u8], set: impl Fn(&mut Cpu, &mut DatBus)) -> Ran {
    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    common::run_against_interpreter(jit, 20, SIZE, || machine(code, &set))
}

/// EXRL with R1 `r1` at offset `at` of the instruction at offset `target`.
fn exrl(r1: u8, at: i32, target: i32) -> [u8; 6] {
    let [a, b, c, d] = ((target - at) / 2).to_be_bytes();
    [0xc6, r1 << 4, a, b, c, d]
}

/// LARL %r5 at offset `at` of offset `target`, and EX with R1 `r1` of
/// 0(%r5) after it.
fn larl_ex(r1: u8, at: i32, target: i32) -> [u8; 10] {
    let [a, b, c, d] = ((target - at) / 2).to_be_bytes();
    [0xc0, 0x50, a, b, c, d, 0x44, r1 << 4, 0x50, 0x00]
}

/// `mvc d1(1,%r3),d2(%r4)`-like SS instruction `op` with length field
/// `l`, bases `b1`, `b2` and displacements `d1`, `d2`.
fn ss(op: u8, l: u8, b1: u8, d1: u16, b2: u8, d2: u16) -> [u8; 6] {
    [
        op,
        l,
        b1 << 4 | (d1 >> 8) as u8,
        d1 as u8,
        b2 << 4 | (d2 >> 8) as u8,
        d2 as u8,
    ]
}

/// The code of [`next_page`] with `before` at its start.
fn next_page_code(before: &[u8]) -> Vec<u8> {
    // brc 15,0xfe0 to the block at CODE + 0xfe0: `before`, then
    // exrl %r1,target; ahi %r2,1; (0), the target mvc 0(1,%r3),0(%r4) at
    // CODE + 0x1040 (past the data at DATA, the next page).
    let mut code = vec![0u8; 0x1046];
    code[..4].copy_from_slice(&[0xa7, 0xf4, 0x07, 0xf0]);
    let at = 0xfe0 + before.len();
    code[0xfe0..at].copy_from_slice(before);
    code[at..at + 6].copy_from_slice(&exrl(1, at as i32, 0x1040));
    code[at + 6..at + 10].copy_from_slice(&[0xa7, 0x2a, 0x00, 0x01]);
    code[0x1040..].copy_from_slice(&ss(MVC, 0, 3, 0, 4, 0));
    code
}

/// Where the operands of [`next_page_code`]'s target are (the next page
/// holds code now: stores there go to the interpreter).
const OTHER: u64 = 0x5000;

/// The frame of the next page referenced, as an instruction fetch from it
/// leaves it; the operands at [`OTHER`] (0, 1, 2 ...) and OTHER + 32.
fn referenced(cpu: &mut Cpu, bus: &mut DatBus) {
    let key = StorageKey::new(StorageKey::R);
    bus.storage
        .set_key(AbsoluteAddress::new(DATA), key)
        .unwrap();
    let data: Vec<u8> = (0..64).collect();
    bus.storage
        .write(AbsoluteAddress::new(OTHER), &data)
        .unwrap();
    cpu.gpr[3] = OTHER;
    cpu.gpr[4] = OTHER + 32;
}

const MVC: u8 = 0xd2;
const XC: u8 = 0xd7;

#[test]
fn exrl_of_mvc_moves_the_length_r1_gives_natively() {
    // exrl %r1,mvc; ahi %r2,1; (0); mvc 0(1,%r3),0(%r4): R1's low byte 9
    // ORed into the length field 0 moves 10 bytes.
    let code = [
        &exrl(1, 0, 12)[..],
        &[0xa7, 0x2a, 0x00, 0x01, 0, 0],
        &ss(MVC, 0, 3, 0, 4, 0),
    ]
    .concat();
    let ran = run(&code, |cpu, _| cpu.gpr[1] = 0xffff_ff09);
    assert_eq!(
        ran.data(DATA, 11),
        [32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 10]
    );
    assert_eq!(ran.cpu.gpr[2], 1);
    assert!(ran.native("EXRL"), "{:?}", ran.stats.fallbacks());
}

#[test]
fn r1_zero_leaves_the_length_field_as_it_is() {
    // exrl %r0,mvc; (0); mvc 0(4,%r3),0(%r4): 5 bytes.
    let code = [&exrl(0, 0, 8)[..], &[0, 0], &ss(MVC, 4, 3, 0, 4, 0)].concat();
    let ran = run(&code, |_, _| {});
    assert_eq!(ran.data(DATA, 6), [32, 33, 34, 35, 36, 5]);
    assert!(ran.native("EXRL"));
}

#[test]
fn ex_after_larl_of_xc_with_itself_clears_natively_with_cc_0() {
    // larl %r5,xc; ex %r1,0(%r5); ipm %r6; (0); xc 2(1,%r3),2(%r3):
    // R1's byte 0x13 clears 20 bytes from DATA + 2; the cc was 3 before.
    let code = [
        &larl_ex(1, 0, 16)[..],
        &[0xb2, 0x22, 0x00, 0x60, 0, 0],
        &ss(XC, 0, 3, 2, 3, 2),
    ]
    .concat();
    let ran = run(&code, |cpu, _| {
        cpu.gpr[1] = 0x13;
        cpu.psw.mask |= 3 << 44;
    });
    let mut expected: Vec<u8> = (0..24).collect();
    expected[2..22].fill(0);
    assert_eq!(ran.data(DATA, 24), expected);
    assert_eq!((ran.cpu.gpr[6] >> 28) & 3, 0, "cc 0");
    assert!(ran.native("EX"), "{:?}", ran.stats.fallbacks());
}

#[test]
fn xc_of_two_operands_sets_cc_1_when_a_byte_is_left_and_0_when_none() {
    for (r1, cc) in [(0x07u64, 1), (0x00, 0)] {
        // exrl %r1,xc; ipm %r6; (0); xc 0(1,%r3),0(%r4), where the
        // second operand is a copy of the first's bytes but for byte 1
        // (made so by mvc 0(8,%r4),0(%r3); mvi 33(%r3),0xff before).
        let code = [
            &ss(MVC, 7, 4, 0, 3, 0)[..],
            &[0x92, 0xff, 0x30, 0x21],
            &exrl(1, 10, 22),
            &[0xb2, 0x22, 0x00, 0x60, 0, 0],
            &ss(XC, 0, 3, 0, 4, 0),
        ]
        .concat();
        let ran = run(&code, |cpu, _| cpu.gpr[1] = r1);
        assert_eq!((ran.cpu.gpr[6] >> 28) & 3, cc, "R1 {r1:#x}");
        assert!(ran.native("EXRL"));
    }
}

#[test]
fn an_mvc_one_byte_ahead_propagates_the_byte() {
    // exrl %r1,mvc; (0); mvc 1(1,%r3),0(%r3): Linux's memset fill,
    // R1's byte 14 makes 15 copies of byte 0.
    let code = [&exrl(1, 0, 8)[..], &[0, 0], &ss(MVC, 0, 3, 1, 3, 0)].concat();
    let ran = run(&code, |cpu, _| cpu.gpr[1] = 14);
    assert_eq!(ran.data(DATA, 17), [[0u8; 16].as_slice(), &[16]].concat());
    assert!(ran.native("EXRL"));
}

#[test]
fn a_target_changed_before_the_execute_runs_as_changed() {
    // mvi 0(%r6),xc turns the target `mvc 0(8,%r3),0(%r4)` into an XC
    // in the block that executes it: exrl %r0,target; (0).
    let code = [
        &[0x92, XC, 0x60, 0x00][..],
        &exrl(0, 4, 12),
        &[0, 0],
        &ss(MVC, 7, 3, 0, 4, 0),
    ]
    .concat();
    let ran = run(&code, |cpu, _| cpu.gpr[6] = CODE + 12);
    let xored: Vec<u8> = (0..8).map(|i| i ^ (32 + i)).collect();
    assert_eq!(ran.data(DATA, 8), xored);
}

#[test]
fn operands_near_the_end_of_their_page_are_native_up_to_it() {
    // exrl %r1,mvc; exrl %r1,xc; (0); mvc 0(1,%r3),0(%r4);
    // xc 0(1,%r5),0(%r5): R1's 0x1f, 32 bytes ending exactly at the end
    // of DATA's page (moved there, then cleared), where 256 bytes would
    // cross it.
    let code = [
        &exrl(1, 0, 14)[..],
        &exrl(1, 6, 20),
        &[0, 0],
        &ss(MVC, 0, 3, 0, 4, 0),
        &ss(XC, 0, 5, 0, 5, 0),
    ]
    .concat();
    let ran = run(&code, |cpu, _| {
        cpu.gpr[1] = 0x1f;
        cpu.gpr[3] = DATA + 0xfe0;
        cpu.gpr[4] = DATA;
        cpu.gpr[5] = DATA + 0xfe0;
    });
    assert!(ran.native("EXRL"), "{:?}", ran.stats.slow());
    assert_eq!(ran.data(DATA + 0xfe0, 32), [0; 32]);
    assert_eq!(ran.data(DATA + 0x1f, 2), [0x1f, 0x20]);
}

#[test]
fn an_operand_crossing_a_page_or_out_of_storage_is_the_interpreters() {
    // exrl %r1,mvc; (0); mvc 0(1,%r3),0(%r4) with the first operand
    // 0xff0 bytes into DATA's page (crossing with R1's 0x1f), then beyond
    // storage (an addressing exception, ILC 3).
    let code = [&exrl(1, 0, 8)[..], &[0, 0], &ss(MVC, 0, 3, 0, 4, 0)].concat();
    let ran = run(&code, |cpu, _| {
        cpu.gpr[1] = 0x1f;
        cpu.gpr[3] = DATA + 0xff0;
    });
    assert!(!ran.native("EXRL"));
    assert_eq!(ran.program(), Some((Code::OPERATION, 1)));
    let ran = run(&code, |cpu, _| {
        cpu.gpr[1] = 0x1f;
        cpu.gpr[3] = SIZE as u64 + 0x100;
    });
    assert_eq!(ran.program(), Some((Code::ADDRESSING, 3)));
}

#[test]
fn an_ex_runs_natively_at_the_address_its_registers_had_at_translation() {
    // ex %r1,0(%r5) with r5 = the MVC since before the block (Linux's
    // `bras %r1,1f; mvc ...; 1: ex %r10,0(%r1)`).
    let code = [
        &[0x44, 0x10, 0x50, 0x00][..],
        &[0, 0],
        &ss(MVC, 0, 3, 0, 4, 0),
    ]
    .concat();
    let ran = run(&code, |cpu, _| {
        cpu.gpr[1] = 3;
        cpu.gpr[5] = CODE + 6;
    });
    assert_eq!(ran.data(DATA, 5), [32, 33, 34, 35, 4]);
    assert!(ran.native("EX"));
    // lr %r5,%r6 before it names its base: the helper's.
    let code = [
        &[0x18, 0x56, 0x44, 0x10, 0x50, 0x00][..],
        &[0, 0],
        &ss(MVC, 0, 3, 0, 4, 0),
    ]
    .concat();
    let ran = run(&code, |cpu, _| {
        cpu.gpr[1] = 3;
        cpu.gpr[6] = CODE + 8;
    });
    assert_eq!(ran.data(DATA, 5), [32, 33, 34, 35, 4]);
    assert!(!ran.native("EX"));
}

#[test]
fn an_ex_whose_address_is_not_the_one_translation_saw_is_the_helpers() {
    // loop: ex %r1,0(%r5); la %r5,6(%r5); brct %r7,loop; (0); then
    // mvc 0(1,%r3),0(%r4) and xc 0(1,%r3),0(%r4): the first turn runs
    // the MVC the block was translated with, the second the XC at the
    // address r5 has then.
    let code = [
        &[0x44, 0x10, 0x50, 0x00, 0x41, 0x50, 0x50, 0x06][..],
        &[0xa7, 0x76, 0xff, 0xfc, 0, 0],
        &ss(MVC, 0, 3, 0, 4, 0),
        &ss(XC, 0, 3, 0, 4, 0),
    ]
    .concat();
    let ran = run(&code, |cpu, _| {
        cpu.gpr[1] = 1;
        cpu.gpr[5] = CODE + 14;
        cpu.gpr[7] = 2;
    });
    assert_eq!(ran.data(DATA, 3), [0, 0, 2]);
    assert!(!ran.native("EX"));
}

#[test]
fn a_target_in_the_next_page_runs_natively_once_that_page_is_referenced() {
    // R1's byte 5: 6 bytes moved; AHI after it in the block.
    let code = next_page_code(&[]);
    let ran = run(&code, |cpu, bus| {
        referenced(cpu, bus);
        cpu.gpr[1] = 5;
    });
    assert_eq!(ran.data(OTHER, 7), [32, 33, 34, 35, 36, 37, 6]);
    assert_eq!(ran.cpu.gpr[2], 1);
    assert!(ran.native("EXRL"), "{:?}", ran.stats.fallbacks());
    // Not referenced: the interpreter's fetch records the reference.
    let ran = run(&code, |cpu, bus| {
        referenced(cpu, bus);
        bus.storage
            .set_key(AbsoluteAddress::new(DATA), StorageKey::new(0))
            .unwrap();
        cpu.gpr[1] = 5;
    });
    assert!(!ran.native("EXRL"));
}

#[test]
fn a_store_into_a_target_in_the_next_page_drops_the_block() {
    // mvi 0(%r6),xc before the EXRL turns its target in the next page
    // into an XC: the block runs it as changed.
    let code = next_page_code(&[0x92, XC, 0x60, 0x00]);
    let ran = run(&code, |cpu, bus| {
        referenced(cpu, bus);
        cpu.gpr[1] = 1;
        cpu.gpr[6] = CODE + 0x1040;
    });
    assert_eq!(ran.data(OTHER, 3), [32, 32, 2]);
}
