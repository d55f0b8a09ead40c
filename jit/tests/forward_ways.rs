//! A conditional branch to a later instruction of its block (PoP, BRANCH
//! RELATIVE ON CONDITION: taken, the instructions between are not
//! executed) reaches its join with the registers it holds dirty still in
//! host registers; at the join it writes back those the fall-through does
//! not hold there as it does (another register in the host register, or
//! only bits 32-63 of it), docs/CHOICES.md §85. Either way the loop must
//! end as the interpreter does: the registers, the PSW with its condition
//! code, the storage and the interruption at the invalid opcode after it.

use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;

mod common;
use common::{run_against_interpreter, DATA};

const SIZE: usize = 0x10000;

/// Runs `code` (then the invalid opcode 0) on the jit and on the
/// interpreter with `set` applied to both CPUs: they end alike, with the
/// loop's branch forward run natively.
fn check(code: &[u8], set: impl Fn(&mut Cpu) + Copy) {
    let code = [code, &[0, 0]].concat();
    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let ran = run_against_interpreter(jit, 1000, SIZE, || {
        common::machine(SIZE, &code, &[0; 8], set)
    });
    assert!(ran.program().is_some(), "ended at the invalid opcode");
    assert!(ran.native("BRC"), "the branch forward ran natively");
}

/// Register values whose 32-bit and 64-bit halves differ, even and odd.
const VALUES: [u64; 7] = [
    0,
    1,
    0x1_0000_0002,
    0x1_ffff_fff8,
    0xffff_ffff_ffff_fffe,
    0x7fff_fffd,
    0x8000_0000_8000_0001,
];

#[test]
fn a_skip_whose_join_keeps_the_registers_ends_as_the_interpreter() {
    // L: lgr r3,r4; aghi r3,1; cgr r3,r5; jne J; lghi r3,0; J: lgr r4,r3;
    // brctg r1,L (an index that wraps at the end of a buffer, as the XZ
    // decompressor's LZ copy): both ways hold r3 and r4 dirty in the same
    // host registers at the join.
    let code = [
        0xb9, 0x04, 0x00, 0x34, 0xa7, 0x3b, 0x00, 0x01, 0xb9, 0x20, 0x00, 0x35, 0xa7, 0x74, 0x00,
        0x04, 0xa7, 0x39, 0x00, 0x00, 0xb9, 0x04, 0x00, 0x43, 0xa7, 0x17, 0xff, 0xf4,
    ];
    for (start, end) in [(0, 3), (2, 3), (5, 1), (0, 0), (7, 100)] {
        for turns in [1, 2, 9] {
            check(&code, |cpu| {
                cpu.gpr[1] = turns;
                cpu.gpr[4] = start;
                cpu.gpr[5] = end;
            });
        }
    }
}

#[test]
fn a_skip_over_code_that_takes_other_registers_writes_back_at_the_join() {
    // L: aghi r2,1; aghi r3,1; tmll r2,1; jz J; agr r6,r7; agr r8,r9;
    // agr r10,r6; ahi r2,5; J: agr r11,r2; agr r11,r3; stg r11,0(r12);
    // brctg r1,L: the fall-through gives the host registers of r3 and r1
    // to others, so the way taken writes them back at the join.
    let code = [
        0xa7, 0x2b, 0x00, 0x01, 0xa7, 0x3b, 0x00, 0x01, 0xa7, 0x21, 0x00, 0x01, 0xa7, 0x84, 0x00,
        0x0a, 0xb9, 0x08, 0x00, 0x67, 0xb9, 0x08, 0x00, 0x89, 0xb9, 0x08, 0x00, 0xa6, 0xa7, 0x2a,
        0x00, 0x05, 0xb9, 0x08, 0x00, 0xb2, 0xb9, 0x08, 0x00, 0xb3, 0xe3, 0xb0, 0xc0, 0x00, 0x00,
        0x24, 0xa7, 0x17, 0xff, 0xe9,
    ];
    for &r2 in &VALUES {
        for &r3 in &VALUES {
            for turns in [1, 2, 7] {
                check(&code, |cpu| {
                    cpu.gpr[1] = turns;
                    cpu.gpr[2] = r2;
                    cpu.gpr[3] = r3;
                    cpu.gpr[7] = r3 ^ 0x55;
                    cpu.gpr[9] = r2 ^ 0xaa;
                    cpu.gpr[12] = DATA;
                });
            }
        }
    }
}

#[test]
fn a_join_where_one_way_holds_bits_32_to_63_only_ends_as_the_interpreter() {
    // L: ahi r5,3; lr r6,r5; nr r6,r7; jz J; aghi r5,7; J: ar r11,r5;
    // brctg r1,L: the way taken holds r5's bits 32-63 only (AHI, LR,
    // AR), the fall-through all of it (AGHI, which may carry into bits
    // 0-31), so that the fall-through writes it back at the join.
    let code = [
        0xa7, 0x5a, 0x00, 0x03, 0x18, 0x65, 0x14, 0x67, 0xa7, 0x84, 0x00, 0x04, 0xa7, 0x5b, 0x00,
        0x07, 0x1a, 0xb5, 0xa7, 0x17, 0xff, 0xf7,
    ];
    for &r5 in &VALUES {
        for turns in [1, 2, 7] {
            check(&code, |cpu| {
                cpu.gpr[1] = turns;
                cpu.gpr[5] = r5;
                cpu.gpr[7] = 1;
            });
        }
    }
}

/// A compare with storage, its operand across a page boundary (the
/// interpreter runs it in the compare's slow path), then a branch on its
/// condition code (PoP, COMPARE: cc 0 equal, 1 first operand low, 2
/// high): the slow path makes the compare's host flags again from that
/// cc before it rejoins at the branch (docs/CHOICES.md §85), so the
/// branch goes as the interpreter's for every mask.
#[test]
fn a_branch_after_a_compare_run_in_its_slow_path_goes_as_the_interpreter() {
    // (form, opcode byte, operand length): CG, CLG and LTG (signed,
    // logical, and a compare with zero that loads), CY and CLY.
    let forms = [
        ("CG", 0x20, 8),
        ("CLG", 0x21, 8),
        ("LTG", 0x02, 8),
        ("CY", 0x59, 4),
        ("CLY", 0x55, 4),
    ];
    let operands = [0, 1, 0x8000_0000_0000_0000, 0x8000_0000, u64::MAX];
    for (name, op, len) in forms {
        for &second in &operands {
            for &r2 in &[0, 1, 0x8000_0000, u64::MAX] {
                // Each set of cc 0-2 a mask selects (bit 1, cc 3, never).
                for mask in [2u8, 4, 6, 8, 10, 12, 13] {
                    // form r2,0(r6); brc mask,T; lghi r7,1; T: lghi r8,1.
                    let code = [
                        0xe3,
                        0x20,
                        0x60,
                        0x00,
                        0x00,
                        op,
                        0xa7,
                        mask << 4 | 4,
                        0x00,
                        0x04,
                        0xa7,
                        0x79,
                        0x00,
                        0x01,
                        0xa7,
                        0x89,
                        0x00,
                        0x01,
                        0,
                        0,
                    ];
                    // The operand from `len` / 2 bytes before DATA's page
                    // ends.
                    let at = 0x1000 - len / 2;
                    let mut data = vec![0; 0x1000 + len];
                    data[at..at + len].copy_from_slice(&second.to_be_bytes()[8 - len..]);
                    let set = |cpu: &mut Cpu| {
                        cpu.gpr[2] = r2;
                        cpu.gpr[6] = DATA + at as u64;
                    };
                    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
                    let ran = run_against_interpreter(jit, 100, SIZE, || {
                        common::machine(SIZE, &code, &data, set)
                    });
                    assert!(!ran.native(name), "{name} ran in its slow path");
                }
            }
        }
    }
}
