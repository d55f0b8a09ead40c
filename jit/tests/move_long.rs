//! MOVE LONG EXTENDED on the jit (docs/CHOICES.md 54b): an execution that
//! is one run within one page of each operand (n = min(R1 + 1, 4096)
//! bytes) is native, whether it moves or pads; everything else is the
//! interpreter's. Each case is checked against the interpreter stepping
//! the same code: the registers, the PSW, storage and the interruption.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

mod common;
use common::{Ran, DATA};

/// Storage: 128 KiB.
const SIZE: usize = 0x20000;
/// The pattern at DATA .. DATA + PATTERN: byte i is i * 7 + (i >> 8).
const PATTERN: usize = 0x6000;
/// Where first operands go, above the pattern.
const DEST: u64 = 0xA000;

/// mvcle %r2,%r4,0x1ab(%r0) (pad 0xab); jo .-4 (again while cc 3); then
/// the invalid opcode 0 that ends the run.
const CODE: [u8; 10] = [0xa8, 0x24, 0x01, 0xab, 0xa7, 0x14, 0xff, 0xfe, 0, 0];

/// r2/r3 the first operand's address and length, r4/r5 the second's.
fn machine(first: (u64, u64), second: (u64, u64)) -> (Cpu, DatBus) {
    let pattern: Vec<u8> = (0..PATTERN).map(|i| (i * 7 + (i >> 8)) as u8).collect();
    common::machine(SIZE, &CODE, &pattern, |cpu| {
        (cpu.gpr[2], cpu.gpr[3]) = first;
        (cpu.gpr[4], cpu.gpr[5]) = second;
    })
}

/// Runs MVCLE (again while cc 3) on the jit and on the interpreter up to
/// the first interruption; checks that both end alike and gives the jit's.
fn run(first: (u64, u64), second: (u64, u64)) -> Ran {
    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    common::run_against_interpreter(jit, 100, SIZE, || machine(first, second))
}

fn operation_ended(ran: &Ran) {
    assert!(matches!(
        ran.result,
        Err(Interruption::Program { exception, .. }) if exception.code == Code::OPERATION
    ));
}

#[test]
fn a_move_within_a_page_of_each_operand_completes_natively() {
    // cc 0: the operands were as long.
    let ran = run((DEST + 0x10, 0x100), (DATA + 0x20, 0x100));
    operation_ended(&ran);
    assert_eq!(ran.cpu.gpr[2..6], [DEST + 0x110, 0, DATA + 0x120, 0]);
    assert_eq!(ran.cpu.psw.cc(), 0);
    assert!(ran.native("MVCLE"));
    // cc 1: the second was longer; the rest of it is left.
    let ran = run((DEST, 0x100), (DATA + 0x20, 0x180));
    assert_eq!(ran.cpu.gpr[2..6], [DEST + 0x100, 0, DATA + 0x120, 0x80]);
    assert_eq!(ran.cpu.psw.cc(), 1);
    assert!(ran.native("MVCLE"));
}

#[test]
fn a_move_longer_than_a_page_goes_a_page_per_execution_then_pads() {
    // Two pages moved (cc 3 each), the third page padded (cc 2).
    let ran = run((DEST, 0x3000), (DATA + 0x1000, 0x2000));
    operation_ended(&ran);
    assert_eq!(ran.cpu.gpr[2..6], [DEST + 0x3000, 0, DATA + 0x3000, 0]);
    assert_eq!(ran.cpu.psw.cc(), 2);
    assert!(ran.native("MVCLE"));
    // Padding alone, a page per execution.
    let ran = run((DEST, 0x2800), (0, 0));
    assert_eq!(ran.cpu.gpr[2..4], [DEST + 0x2800, 0]);
    assert_eq!(ran.cpu.psw.cc(), 2);
    assert!(ran.native("MVCLE"));
}

#[test]
fn a_first_operand_that_starts_inside_the_run_of_the_second_is_the_interpreters() {
    // 0x10 bytes after the second: the interpreter's run ends there.
    let ran = run((DATA + 0x110, 0x100), (DATA + 0x100, 0x100));
    assert_eq!(ran.cpu.psw.cc(), 0);
    assert!(!ran.native("MVCLE"));
    // Before the second, the same bytes, or just past the run: one run.
    for first in [DATA + 0xf0, DATA + 0x100, DATA + 0x200] {
        let ran = run((first, 0x100), (DATA + 0x100, 0x100));
        assert_eq!(ran.cpu.psw.cc(), 0);
        assert!(ran.native("MVCLE"), "first operand at {first:#x}");
    }
}

#[test]
fn runs_across_a_page_or_in_the_low_pages_are_the_interpreters() {
    // The second operand crosses into the next page.
    let ran = run((DEST, 0x100), (DATA + 0xff0, 0x100));
    assert_eq!(ran.cpu.psw.cc(), 0);
    assert!(!ran.native("MVCLE"));
    // The first operand does.
    let ran = run((DEST + 0xf80, 0x100), (DATA, 0x100));
    assert!(!ran.native("MVCLE"));
    // The second operand is shorter: a move, then padding, one execution.
    let ran = run((DEST, 0x100), (DATA, 0x10));
    assert_eq!(ran.cpu.psw.cc(), 2);
    assert!(!ran.native("MVCLE"));
    // The second operand in the low pages (low-address protection's units).
    let ran = run((DEST, 0x100), (0x1100, 0x100));
    assert!(!ran.native("MVCLE"));
}

#[test]
fn an_access_exception_is_the_interpreters_with_nothing_stored() {
    // The second operand beyond storage: addressing, nothing moved.
    let ran = run((DEST, 0x100), (0x10_0000, 0x100));
    assert!(matches!(
        ran.result,
        Err(Interruption::Program { exception, .. }) if exception.code == Code::ADDRESSING
    ));
    assert_eq!(ran.cpu.gpr[2..6], [DEST, 0x100, 0x10_0000, 0x100]);
    // The first operand beyond storage.
    let ran = run((0x10_0000, 0x100), (DATA, 0x100));
    assert!(matches!(
        ran.result,
        Err(Interruption::Program { exception, .. }) if exception.code == Code::ADDRESSING
    ));
    assert_eq!(ran.cpu.gpr[2..6], [0x10_0000, 0x100, DATA, 0x100]);
}
