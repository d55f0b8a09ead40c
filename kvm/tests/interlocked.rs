//! COMPARE AND SWAP and LOAD AND ADD in translated code (one host `lock
//! cmpxchg` on the operand): every register, condition code, storage
//! operand and exception as the interpreter leaves them (PoP "COMPARE AND
//! SWAP": equal, the third operand is stored, cc 0; unequal, the operand
//! is loaded into R1, cc 1; "LOAD AND ADD": R1 receives the original
//! operand, the sum's cc, a fixed-point overflow raised after the store
//! when the mask is one; an operand not aligned on its size is a
//! specification exception).

mod common;

use common::{on_both, program_machine, run_like, Quiet};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// The operands.
const DATA: u64 = 0x3000;

/// r9 = DATA; CS equal, then unequal; CSG unequal, then equal; LAA that
/// overflows (mask zero: cc 3); LAAL that carries; LAAG; LAALG with R1 =
/// R3; each followed by IPM into a register of its own; then CS of an
/// operand not on a word boundary.
const SEQUENCE: [u8; 104] = [
    0xa7, 0x99, 0x30, 0x00, // lghi r9,DATA
    0xa7, 0x19, 0x00, 0x05, // lghi r1,5
    0xa7, 0x39, 0x00, 0x09, // lghi r3,9
    0xba, 0x13, 0x90, 0x00, // cs r1,r3,0(r9): 5 = 5, stores 9
    0xb2, 0x22, 0x00, 0xa0, // ipm r10
    0xa7, 0x49, 0x00, 0x01, // lghi r4,1
    0xa7, 0x59, 0x00, 0x02, // lghi r5,2
    0xba, 0x45, 0x90, 0x00, // cs r4,r5,0(r9): 1 != 9, r4 = 9
    0xb2, 0x22, 0x00, 0xb0, // ipm r11
    0xeb, 0x45, 0x90, 0x08, 0x00, 0x30, // csg r4,r5,8(r9): 9 != 7, r4 = 7
    0xb2, 0x22, 0x00, 0xc0, // ipm r12
    0xeb, 0x45, 0x90, 0x08, 0x00, 0x30, // csg r4,r5,8(r9): 7 = 7, stores 2
    0xb2, 0x22, 0x00, 0xd0, // ipm r13
    0xa7, 0x79, 0x00, 0x03, // lghi r7,3
    0xeb, 0x67, 0x90, 0x10, 0x00, 0xf8, // laa r6,r7,16(r9): overflows
    0xb2, 0x22, 0x00, 0xe0, // ipm r14
    0xeb, 0x87, 0x90, 0x14, 0x00, 0xfa, // laal r8,r7,20(r9): carries
    0xb2, 0x22, 0x00, 0xf0, // ipm r15
    0xeb, 0x07, 0x90, 0x18, 0x00, 0xe8, // laag r0,r7,24(r9)
    0xb2, 0x22, 0x00, 0x20, // ipm r2
    0xeb, 0x77, 0x90, 0x20, 0x00, 0xea, // laalg r7,r7,32(r9)
    0xb2, 0x22, 0x00, 0x30, // ipm r3
    0xba, 0x13, 0x90, 0x02, // cs r1,r3,2(r9): specification
];

/// The fixed-point-overflow mask on (SPM), then LAA that overflows: the
/// sum is stored, then the exception.
const OVERFLOW: [u8; 24] = [
    0xc0, 0xa1, 0x08, 0x00, 0x00, 0x00, // lgfi r10,0x08000000
    0x04, 0xa0, // spm r10
    0xa7, 0x99, 0x30, 0x00, // lghi r9,DATA
    0xa7, 0x79, 0x00, 0x03, // lghi r7,3
    0xeb, 0x67, 0x90, 0x10, 0x00, 0xf8, // laa r6,r7,16(r9)
    0x00, 0x00,
];

fn machine(program: &[u8]) -> Machine {
    let mut machine = program_machine(0x2000, program);
    let storage = &mut machine.bus.storage;
    for (at, value) in [
        (0, 0x0000_0005_0000_0000),
        (8, 7),
        (16, 0x7fff_ffff_ffff_ffff),
        (24, 10),
        (32, 0),
    ] {
        storage
            .write_u64(AbsoluteAddress::new(DATA + at), value)
            .unwrap();
    }
    machine
}

/// The registers, the program-interruption code and the operands.
fn state(machine: &Machine) -> ([u64; 16], u16, [u64; 5]) {
    let storage = &machine.bus.storage;
    let mut code = [0u8; 2];
    storage.read(AbsoluteAddress::new(0x8e), &mut code).unwrap();
    let operand = |at: u64| storage.read_u64(AbsoluteAddress::new(DATA + at)).unwrap();
    (
        machine.cpu.gpr,
        u16::from_be_bytes(code),
        [0, 8, 16, 24, 32].map(operand),
    )
}

fn same_as_the_interpreter(program: &[u8]) -> ([u64; 16], u16, [u64; 5]) {
    let mut reference = machine(program);
    let expected = reference.run(Some(100), &mut Quiet);
    let want = state(&reference);
    if let Some((kvm, _)) = run_like(&expected, machine(program), 100) {
        assert_eq!(state(&kvm), want);
    }
    want
}

#[test]
fn compare_and_swap_and_load_and_add_leave_what_the_interpreter_leaves() {
    let (gpr, code, operands) = same_as_the_interpreter(&SEQUENCE);
    // The interpreter's results, as the PoP gives them.
    assert_eq!(code, 6, "specification exception");
    assert_eq!(operands[0] >> 32, 9);
    assert_eq!(operands[1], 2);
    assert_eq!(operands[2] >> 32, 0x8000_0002);
    assert_eq!(operands[2] as u32, 2);
    assert_eq!((operands[3], operands[4], gpr[7]), (13, 3, 0));
    let cc = |r: usize| (gpr[r] >> 28) & 3;
    assert_eq!(
        [10, 11, 12, 13, 14, 15, 2, 3].map(cc),
        [0, 1, 1, 0, 3, 3, 2, 1]
    );
}

#[test]
fn load_and_add_stores_the_sum_before_a_fixed_point_overflow() {
    let (gpr, code, operands) = same_as_the_interpreter(&OVERFLOW);
    assert_eq!(code, 8, "fixed-point overflow");
    assert_eq!((gpr[6], operands[2] >> 32), (0x7fff_ffff, 0x8000_0002));
}

/// Iterations of [`DOUBLE`]'s loop.
const TURNS: u64 = 200;

/// lghi r1,200 ; lghi r9,DATA ; X: cdsg r4,r6,0(r9) ; aghi r7,1 ;
/// brctg r1,X ; then an invalid opcode: the quadword is swapped (cc 0)
/// and loaded (cc 1) in turns.
const DOUBLE: [u8; 24] = [
    0xa7, 0x19, 0x00, 0xc8, // lghi r1,200
    0xa7, 0x99, 0x30, 0x00, // lghi r9,DATA
    0xeb, 0x46, 0x90, 0x00, 0x00, 0x3e, // cdsg r4,r6,0(r9)
    0xa7, 0x7b, 0x00, 0x01, // aghi r7,1
    0xa7, 0x17, 0xff, 0xfb, // brctg r1,X
    0x00, 0x00,
];

/// COMPARE DOUBLE AND SWAP completes in translated code (one `LOCK
/// CMPXCHG16B`: docs/CHOICES.md 87) with the interpreter's registers,
/// condition code and quadword, in O(1) exits.
#[test]
fn compare_double_and_swap_completes_in_translated_code() {
    let (reference, kvm) = on_both(|| machine(&DOUBLE), 10_000);
    let quadword = |machine: &Machine| {
        let storage = &machine.bus.storage;
        [0, 8].map(|at| storage.read_u64(AbsoluteAddress::new(DATA + at)).unwrap())
    };
    // The first turn loads the quadword (5 << 32, 7); each even turn then
    // swaps in r6:r7 (0, turn - 1), each odd one loads it.
    assert_eq!(quadword(&reference), [0, TURNS - 1]);
    assert_eq!(reference.cpu.gpr[4..8], [0, TURNS - 3, 0, TURNS]);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    assert_eq!(quadword(&machine), quadword(&reference));
    let completed = engine.completed_in_vm();
    assert!(
        !completed.iter().any(|&(m, _)| m == "CDSG"),
        "{completed:?}"
    );
    let untranslated = engine.reasons().untranslated_by_mnemonic();
    assert!(
        !untranslated.iter().any(|&(m, _)| m == "CDSG"),
        "{untranslated:?}"
    );
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for {TURNS} turns of the loop");
}

/// A quadword in the page of the translated loop itself (a code frame,
/// which the root keeps read-only): the host's store path, the
/// interpreter's results.
#[test]
fn compare_double_and_swap_into_a_code_frame_is_the_interpreters() {
    let mut program = DOUBLE;
    program[6] = 0x21; // lghi r9,0x2100
    let (reference, kvm) = on_both(|| machine(&program), 10_000);
    let Some((machine, _)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    let quadword = |machine: &Machine| {
        let storage = &machine.bus.storage;
        [0, 8].map(|at| storage.read_u64(AbsoluteAddress::new(0x2100 + at)).unwrap())
    };
    assert_eq!(quadword(&machine), quadword(&reference));
    assert_eq!(quadword(&reference), [0, TURNS - 1]);
}
