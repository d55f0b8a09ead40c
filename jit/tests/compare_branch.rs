//! A branch on the condition code of the compare right before it, and
//! COMPARE AND BRANCH, jump on the host's flags of that compare
//! (docs/CHOICES.md §52a): the compare sets cc 0 when the operands are
//! equal, 1 when the first is low, 2 when it is high (signed for COMPARE
//! and LOAD AND TEST, unsigned for COMPARE LOGICAL; PoP, "COMPARE"), and
//! BRANCH ON CONDITION branches when mask bit 8 >> cc is one. Every mask,
//! for each compare and operands equal, low and high (signed and unsigned
//! disagreeing), must branch as the rule says and leave the interpreter's
//! registers and PSW (its condition code among them).

use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;

mod common;

/// How a compare compares: its width and signedness.
#[derive(Clone, Copy)]
struct Kind {
    wide: bool,
    logical: bool,
}

/// The condition code of comparing `a` with `b` (cc 0 equal, 1 low, 2
/// high), on the low 32 bits unless `wide`.
fn compare(a: u64, b: u64, kind: Kind) -> u8 {
    let order = match (kind.wide, kind.logical) {
        (true, true) => a.cmp(&b),
        (true, false) => (a as i64).cmp(&(b as i64)),
        (false, true) => (a as u32).cmp(&(b as u32)),
        (false, false) => (a as i32).cmp(&(b as i32)),
    };
    match order {
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Less => 1,
        core::cmp::Ordering::Greater => 2,
    }
}

/// First operands (in r1) and second operands (in r2, or the immediate)
/// where signed and unsigned, and 32 and 64 bits, disagree.
const PAIRS: [(u64, u64); 8] = [
    (0, 0),
    (1, 2),
    (2, 1),
    (u64::MAX, 1),
    (1, u64::MAX),
    (i64::MIN as u64, i64::MAX as u64),
    (0x1_0000_0000, 1),
    (0x8000_0000, 0x7fff_ffff),
];

/// LGHI r7,i.
fn lghi7(i: u8) -> [u8; 4] {
    [0xa7, 0x79, 0x00, i]
}

/// Runs `code` (r1 = a, r2 = b) on the jit and on the interpreter up to
/// the invalid opcode 0 it ends at; asserts that both leave the same
/// registers and PSW, and returns r7.
fn run(jit: &mut Jit, code: &[u8], a: u64, b: u64) -> u64 {
    let set = |cpu: &mut Cpu| {
        cpu.gpr[1] = a;
        cpu.gpr[2] = b;
    };
    let (mut cpu, mut bus) = common::machine(0x10000, code, &[], set);
    jit.flush(&mut bus);
    for _ in 0..10 {
        if jit.run(&mut cpu, &mut bus, 20).result.is_err() {
            break;
        }
    }
    let (mut interp, mut interp_bus) = common::machine(0x10000, code, &[], set);
    while interp.step(&mut interp_bus).is_ok() {}
    assert_eq!(cpu.gpr, interp.gpr, "registers");
    assert_eq!(cpu.psw, interp.psw, "PSW");
    cpu.gpr[7]
}

/// `compare` (r1 against r2 or an immediate), then BRC m to a LGHI r7,2;
/// not taken, LGHI r7,1.
fn compare_then_brc(compare: &[u8], m: u8) -> Vec<u8> {
    // brc, lghi, the invalid opcode: 10 bytes on to the target.
    let brc = [0xa7, m << 4 | 4, 0x00, 5];
    [compare, &brc, &lghi7(1), &[0, 0], &lghi7(2), &[0, 0]].concat()
}

#[test]
fn a_branch_after_a_compare_branches_as_its_condition_code_says() {
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let wide = |logical| Kind {
        wide: true,
        logical,
    };
    let narrow = |logical| Kind {
        wide: false,
        logical,
    };
    // (name, bytes, kind, the immediate replacing b, if any).
    let compares: [(&str, Vec<u8>, Kind, Option<u64>); 8] = [
        ("cgr", vec![0xb9, 0x20, 0x00, 0x12], wide(false), None),
        ("clgr", vec![0xb9, 0x21, 0x00, 0x12], wide(true), None),
        ("cr", vec![0x19, 0x12], narrow(false), None),
        ("clr", vec![0x15, 0x12], narrow(true), None),
        // cghi r1,-1
        (
            "cghi",
            vec![0xa7, 0x1f, 0xff, 0xff],
            wide(false),
            Some(u64::MAX),
        ),
        // clgfi r1,0x80000000
        (
            "clgfi",
            vec![0xc2, 0x1e, 0x80, 0x00, 0x00, 0x00],
            wide(true),
            Some(0x8000_0000),
        ),
        // chi r1,1
        ("chi", vec![0xa7, 0x1e, 0x00, 0x01], narrow(false), Some(1)),
        // ltgr r1,r1: a signed compare with zero.
        ("ltgr", vec![0xb9, 0x02, 0x00, 0x11], wide(false), Some(0)),
    ];
    for (name, bytes, kind, imm) in &compares {
        for m in 0..16u8 {
            for (a, b) in PAIRS {
                let b = imm.unwrap_or(b);
                let cc = compare(a, b, *kind);
                let taken = m & (8 >> cc) != 0;
                let r7 = run(&mut jit, &compare_then_brc(bytes, m), a, b);
                assert_eq!(
                    r7,
                    if taken { 2 } else { 1 },
                    "{name} {a:#x},{b:#x} (cc {cc}) then brc {m}"
                );
            }
        }
    }
}

#[test]
fn compare_and_branch_branches_as_its_compare_says_and_keeps_the_condition_code() {
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    // RIE-b (r1, r2) and RIE-c (r1, immediate 0xff: -1 signed, 255
    // unsigned): the branch 12 bytes on, past lghi and the invalid opcode.
    let rie_b = |op: u8, m: u8| vec![0xec, 0x12, 0x00, 6, m << 4, op];
    let rie_c = |op: u8, m: u8| vec![0xec, 0x10 | m, 0x00, 6, 0xff, op];
    type Form = (&'static str, u8, bool, bool, Option<u64>);
    let forms: [Form; 8] = [
        ("cgrj", 0x64, true, false, None),
        ("clgrj", 0x65, true, true, None),
        ("crj", 0x76, false, false, None),
        ("clrj", 0x77, false, true, None),
        ("cgij", 0x7c, true, false, Some(u64::MAX)),
        ("clgij", 0x7d, true, true, Some(0xff)),
        ("cij", 0x7e, false, false, Some(u64::MAX)),
        ("clij", 0x7f, false, true, Some(0xff)),
    ];
    for (name, op, wide, logical, imm) in forms {
        for m in 0..16u8 {
            for (a, b) in PAIRS {
                let b = imm.unwrap_or(b);
                let cc = compare(a, b, Kind { wide, logical });
                let taken = m & (8 >> cc) != 0;
                let insn = match imm {
                    Some(_) => rie_c(op, m),
                    None => rie_b(op, m),
                };
                let code = [&insn[..], &lghi7(1), &[0, 0], &lghi7(2), &[0, 0]].concat();
                let r7 = run(&mut jit, &code, a, b);
                assert_eq!(
                    r7,
                    if taken { 2 } else { 1 },
                    "{name} {a:#x},{b:#x} (cc {cc}) mask {m}"
                );
            }
        }
    }
}

#[test]
fn a_second_branch_reads_the_condition_code_the_compare_stored() {
    // clgr r1,r2; brc m1 (not taken); brc m2: the second branch is on the
    // same condition code, from the PSW.
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let kind = Kind {
        wide: true,
        logical: true,
    };
    for (a, b) in PAIRS {
        let cc = compare(a, b, kind);
        let not_taken = 8 >> cc ^ 15;
        for m in 0..16u8 {
            // The first brc jumps over everything to its own lghi r7,3.
            let code = [
                &[0xb9, 0x21, 0x00, 0x12][..],
                &[0xa7, not_taken << 4 | 4, 0x00, 10],
                &[0xa7, m << 4 | 4, 0x00, 5],
                &lghi7(1),
                &[0, 0],
                &lghi7(2),
                &[0, 0],
                &lghi7(3),
                &[0, 0],
            ]
            .concat();
            let taken = m & (8 >> cc) != 0;
            let r7 = run(&mut jit, &code, a, b);
            assert_eq!(r7, if taken { 2 } else { 1 }, "{a:#x},{b:#x} brc {m}");
        }
    }
}
