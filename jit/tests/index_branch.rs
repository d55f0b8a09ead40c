//! BRANCH RELATIVE ON INDEX HIGH and LOW OR EQUAL (BRXH, BRXLE and their
//! 64-bit forms BRXHG, BRXLG), translated natively: R3 is added to R1,
//! and the sum is compared, as a signed number of the instruction's
//! width, with the odd register of R3's pair; both R3 and that register
//! are read before R1 is replaced (PoP, "BRANCH RELATIVE ON INDEX"). BRXH
//! branches when the sum is high, BRXLE when it is low or equal; the
//! condition code is unchanged.

use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;

mod common;
use common::run_against_interpreter;

/// A form: its mnemonic, whether 64-bit, whether it branches on high.
struct Form {
    name: &'static str,
    wide: bool,
    high: bool,
}

const FORMS: [Form; 4] = [
    Form {
        name: "BRXH",
        wide: false,
        high: true,
    },
    Form {
        name: "BRXLE",
        wide: false,
        high: false,
    },
    Form {
        name: "BRXHG",
        wide: true,
        high: true,
    },
    Form {
        name: "BRXLG",
        wide: true,
        high: false,
    },
];

/// `form r1,r3` to `lghi r7,2`, else `lghi r7,1 ; j` past it; then the
/// invalid opcode 0.
fn program(form: &Form, r1: u8, r3: u8) -> Vec<u8> {
    let regs = r1 << 4 | r3;
    let mut code = match (form.wide, form.high) {
        (false, true) => vec![0x84, regs, 0x00, 0x06],
        (false, false) => vec![0x85, regs, 0x00, 0x06],
        (true, true) => vec![0xec, regs, 0x00, 0x07, 0x00, 0x44],
        (true, false) => vec![0xec, regs, 0x00, 0x07, 0x00, 0x45],
    };
    // Not taken: lghi r7,1 ; j +4 (over the taken side's lghi).
    code.extend([0xa7, 0x79, 0x00, 0x01, 0xa7, 0xf4, 0x00, 0x04]);
    // Taken: lghi r7,2.
    code.extend([0xa7, 0x79, 0x00, 0x02, 0x00, 0x00]);
    code
}

/// Whether the rule branches for registers `gpr` (before the
/// instruction).
fn branches(form: &Form, gpr: &[u64; 16], r1: u8, r3: u8) -> bool {
    let sum = gpr[usize::from(r1)].wrapping_add(gpr[usize::from(r3)]);
    let comparand = gpr[usize::from(r3 | 1)];
    let order = if form.wide {
        (sum as i64).cmp(&(comparand as i64))
    } else {
        (sum as i32).cmp(&(comparand as i32))
    };
    (order == core::cmp::Ordering::Greater) == form.high
}

/// Register values where 32-bit and 64-bit, signed and unsigned disagree.
const VALUES: [u64; 6] = [0, 1, u64::MAX, 0x7fff_ffff, 0x8000_0000, 0x1_0000_0005];

#[test]
fn each_form_branches_on_the_sum_against_the_odd_register_read_before() {
    // R3 even (the comparand the next register), R3 odd (R3 itself), R1
    // the same as R3, R1 the comparand's register.
    let pairs = [(1u8, 2u8), (1, 3), (2, 2), (3, 2), (3, 3)];
    for form in &FORMS {
        for &(r1, r3) in &pairs {
            for (i, &a) in VALUES.iter().enumerate() {
                for &b in &VALUES[i..] {
                    let set = |cpu: &mut Cpu| {
                        cpu.gpr[1] = a;
                        cpu.gpr[2] = b;
                        cpu.gpr[3] = b.wrapping_sub(a);
                    };
                    let mut before = Cpu::new();
                    set(&mut before);
                    let expected = if branches(form, &before.gpr, r1, r3) {
                        2
                    } else {
                        1
                    };
                    let code = program(form, r1, r3);
                    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
                    let ran = run_against_interpreter(jit, 20, 0x10000, || {
                        common::machine(0x10000, &code, &[], set)
                    });
                    assert_eq!(
                        ran.cpu.gpr[7], expected,
                        "{} r{r1},r{r3} with {a:#x}, {b:#x}",
                        form.name
                    );
                    assert!(ran.native(form.name), "{} ran natively", form.name);
                }
            }
        }
    }
}

/// `lghi r2,0 ; lghi r6,0 ; lghi r4,1 ; lghi r5,99`, then `aghi r2,1 ;
/// brxle r6,r4` back (an index from 0 by 1 up to 99), then the invalid
/// opcode 0.
const COUNT_UP: [u8; 26] = [
    0xa7, 0x29, 0x00, 0x00, 0xa7, 0x69, 0x00, 0x00, 0xa7, 0x49, 0x00, 0x01, 0xa7, 0x59, 0x00, 0x63,
    0xa7, 0x2b, 0x00, 0x01, 0x85, 0x64, 0xff, 0xfe, 0x00, 0x00,
];

#[test]
fn a_loop_on_an_index_runs_its_turns_natively() {
    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let ran = run_against_interpreter(jit, 1000, 0x10000, || {
        common::machine(0x10000, &COUNT_UP, &[], |_| {})
    });
    assert_eq!((ran.cpu.gpr[2], ran.cpu.gpr[6]), (100, 100));
    assert!(ran.native("BRXLE"));
}
