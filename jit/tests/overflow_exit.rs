//! The signed adds and subtracts whose condition code the block leaves
//! unstored over the loads and stores after them (docs/CHOICES.md §58a):
//! an overflow sets cc 3 and, with the fixed-point-overflow mask (PSW bit
//! 20) one, raises the fixed-point-overflow exception after the result is
//! stored (PoP, "ADD", "SUBTRACT": the operation is completed). With the
//! mask zero the jit completes it natively (cc 3, the block left at the
//! next instruction, docs/CHOICES.md §78a), with no slow path.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;
use zmmu_mmu::prelude::*;

mod common;
use common::{run_against_interpreter, CODE, DATA};

/// Outside the storage of the test machines: an access there is an
/// addressing exception.
const OUTSIDE: u64 = 0x10_0000;
const SIZE: usize = 0x10000;

/// The fixed-point-overflow mask, PSW bit 20.
const OVERFLOW_MASK: u64 = 1 << (63 - 20);

/// How a form takes its second operand.
#[derive(Clone, Copy)]
enum Second {
    /// General register 3 (all of it, or bits 32-63 for a 32-bit form).
    Reg,
    /// Bits 32-63 of general register 3, sign-extended (AGFR, SGFR).
    RegExt,
    /// A signed immediate of the instruction.
    Imm,
}

/// A form: its mnemonic, its bytes with the operands (first operand and
/// result in `target`, the other register operands r2 and r3, the
/// immediate `imm`), whether it is 64-bit, whether it subtracts, and how
/// it takes its second operand.
struct Form {
    name: &'static str,
    wide: bool,
    sub: bool,
    second: Second,
    /// Where the result goes: r2 for the two-operand forms, r4 for the
    /// three-operand ones (whose first operand is r2).
    target: u8,
    bytes: fn(imm: i32) -> Vec<u8>,
}

const FORMS: [Form; 14] = [
    Form {
        name: "AR",
        wide: false,
        sub: false,
        second: Second::Reg,
        target: 2,
        bytes: |_| vec![0x1a, 0x23],
    },
    Form {
        name: "SR",
        wide: false,
        sub: true,
        second: Second::Reg,
        target: 2,
        bytes: |_| vec![0x1b, 0x23],
    },
    Form {
        name: "AGR",
        wide: true,
        sub: false,
        second: Second::Reg,
        target: 2,
        bytes: |_| vec![0xb9, 0x08, 0x00, 0x23],
    },
    Form {
        name: "SGR",
        wide: true,
        sub: true,
        second: Second::Reg,
        target: 2,
        bytes: |_| vec![0xb9, 0x09, 0x00, 0x23],
    },
    Form {
        name: "AGFR",
        wide: true,
        sub: false,
        second: Second::RegExt,
        target: 2,
        bytes: |_| vec![0xb9, 0x18, 0x00, 0x23],
    },
    Form {
        name: "SGFR",
        wide: true,
        sub: true,
        second: Second::RegExt,
        target: 2,
        bytes: |_| vec![0xb9, 0x19, 0x00, 0x23],
    },
    Form {
        name: "ARK",
        wide: false,
        sub: false,
        second: Second::Reg,
        target: 4,
        bytes: |_| vec![0xb9, 0xf8, 0x30, 0x42],
    },
    Form {
        name: "SGRK",
        wide: true,
        sub: true,
        second: Second::Reg,
        target: 4,
        bytes: |_| vec![0xb9, 0xe9, 0x30, 0x42],
    },
    Form {
        name: "AHI",
        wide: false,
        sub: false,
        second: Second::Imm,
        target: 2,
        bytes: |i| [&[0xa7, 0x2a][..], &(i as i16).to_be_bytes()].concat(),
    },
    Form {
        name: "AGHI",
        wide: true,
        sub: false,
        second: Second::Imm,
        target: 2,
        bytes: |i| [&[0xa7, 0x2b][..], &(i as i16).to_be_bytes()].concat(),
    },
    Form {
        name: "AFI",
        wide: false,
        sub: false,
        second: Second::Imm,
        target: 2,
        bytes: |i| [&[0xc2, 0x29][..], &i.to_be_bytes()].concat(),
    },
    Form {
        name: "AGFI",
        wide: true,
        sub: false,
        second: Second::Imm,
        target: 2,
        bytes: |i| [&[0xc2, 0x28][..], &i.to_be_bytes()].concat(),
    },
    Form {
        name: "AHIK",
        wide: false,
        sub: false,
        second: Second::Imm,
        target: 4,
        bytes: |i| [&[0xec, 0x42][..], &(i as i16).to_be_bytes(), &[0x00, 0xd8]].concat(),
    },
    Form {
        name: "AGHIK",
        wide: true,
        sub: false,
        second: Second::Imm,
        target: 4,
        bytes: |i| [&[0xec, 0x42][..], &(i as i16).to_be_bytes(), &[0x00, 0xd9]].concat(),
    },
];

impl Form {
    /// Whether its immediate is a halfword.
    fn halfword(&self) -> bool {
        matches!(self.name, "AHI" | "AGHI" | "AHIK" | "AGHIK")
    }

    /// The second operand, sign-extended to 64 bits, for r3 = `b` (the
    /// immediate forms take `b` as their immediate, cut to its size).
    fn operand(&self, b: u64) -> i64 {
        match self.second {
            Second::Reg if self.wide => b as i64,
            Second::Reg | Second::RegExt => i64::from(b as i32),
            Second::Imm if self.halfword() => i64::from(b as i16),
            Second::Imm => i64::from(b as i32),
        }
    }

    /// The rule: the target register and the condition code after the
    /// form with r2 = `a`, second operand `b` (0 zero, 1 negative, 2
    /// positive, 3 overflow; a 32-bit form leaves bits 0-31 of the target
    /// as they were, `old`).
    fn rule(&self, a: u64, b: u64, old: u64) -> (u64, u8) {
        let y = self.operand(b);
        let (value, overflow) = if self.wide {
            let x = a as i64;
            let (r, o) = if self.sub {
                x.overflowing_sub(y)
            } else {
                x.overflowing_add(y)
            };
            (r, o)
        } else {
            let (x, y) = (a as i32, y as i32);
            let (r, o) = if self.sub {
                x.overflowing_sub(y)
            } else {
                x.overflowing_add(y)
            };
            (i64::from(r), o)
        };
        let reg = if self.wide {
            value as u64
        } else {
            old & 0xffff_ffff_0000_0000 | u64::from(value as u32)
        };
        let cc = match value {
            _ if overflow => 3,
            0 => 0,
            v if v < 0 => 1,
            _ => 2,
        };
        (reg, cc)
    }

    /// `form ; stg target,0(r5) ; lg r6,0(r8) ; ltgr r7,r7`, then the
    /// invalid opcode 0: the form's cc stays unstored over the store and
    /// the load, whose slow path (r8 outside storage) sees it, and LTGR
    /// sets it again.
    fn program(&self, imm: i32) -> Vec<u8> {
        let t = self.target;
        [
            &(self.bytes)(imm)[..],
            &[0xe3, t << 4 | 5, 0x00, 0x00, 0x00, 0x24],
            &[0xe3, 0x68, 0x00, 0x00, 0x00, 0x04],
            &[0xb9, 0x02, 0x00, 0x77],
            &[0, 0],
        ]
        .concat()
    }
}

/// Operand values where 32-bit and 64-bit, signed and unsigned
/// disagree: each pair overflows in some width and not in another.
const VALUES: [u64; 8] = [
    0,
    1,
    u64::MAX,
    0x7fff_ffff,
    0x8000_0000,
    0x1234_5678_7fff_fffe,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
];

/// Runs `form` with r2 = `a`, second operand `b` (r3, or the immediate),
/// the fixed-point-overflow mask `masked`, the load at `load` (r8),
/// against the interpreter; checks the rule and gives the jit's run.
fn check(form: &Form, a: u64, b: u64, masked: bool, load: u64) -> common::Ran {
    let old = 0xdead_beef_0000_0000 | a & 0xffff_ffff;
    let code = form.program(b as i32);
    let set = |cpu: &mut Cpu| {
        if masked {
            cpu.psw.mask |= OVERFLOW_MASK;
        }
        cpu.gpr[2] = a;
        cpu.gpr[3] = b;
        cpu.gpr[4] = old;
        cpu.gpr[5] = DATA;
        cpu.gpr[8] = load;
    };
    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let ran = run_against_interpreter(jit, 20, SIZE, || {
        common::machine(SIZE, &code, &[0; 16], set)
    });
    let before = if form.target == 2 { a } else { old };
    let (reg, cc) = form.rule(a, b, before);
    let what = format!("{} with {a:#x}, {b:#x}, mask {masked}", form.name);
    assert_eq!(ran.cpu.gpr[usize::from(form.target)], reg, "{what}");
    let len = form.program(0).len() as u64 - 18;
    match ran.result {
        Err(Interruption::Program { exception, ilc }) if cc == 3 && masked => {
            // Completed, then the exception: the PSW after it.
            assert_eq!(exception.code, Code::FIXED_POINT_OVERFLOW, "{what}");
            assert_eq!(u64::from(ilc) * 2, len, "{what}");
            assert_eq!(ran.cpu.psw.addr, CODE + len, "{what}");
            assert_eq!(ran.cpu.psw.cc(), 3, "{what}");
        }
        Err(Interruption::Program { exception, .. }) if load == OUTSIDE => {
            // The load's fault sees the form's cc.
            assert_eq!(exception.code, Code::ADDRESSING, "{what}");
            assert_eq!(ran.cpu.psw.cc(), cc, "{what}");
        }
        Err(Interruption::Program { exception, .. }) => {
            // The invalid opcode after LTGR of r7 (zero): cc 0.
            assert_eq!(exception.code, Code::OPERATION, "{what}");
            assert_eq!(ran.cpu.psw.cc(), 0, "{what}");
        }
        ref other => panic!("{what}: {other:?}"),
    }
    ran
}

#[test]
fn each_form_completes_an_overflow_natively_with_the_mask_zero() {
    for form in &FORMS {
        for &a in &VALUES {
            for &b in &VALUES {
                for load in [DATA + 8, OUTSIDE] {
                    let ran = check(form, a, b, false, load);
                    assert!(ran.native(form.name), "{} ran natively", form.name);
                }
            }
        }
    }
}

#[test]
fn each_form_raises_the_exception_after_an_overflow_with_the_mask_one() {
    for form in &FORMS {
        for &a in &VALUES {
            for &b in &VALUES {
                for load in [DATA + 8, OUTSIDE] {
                    check(form, a, b, true, load);
                }
            }
        }
    }
}

/// `lghi r1,200`, then the loop `ar r2,r3 ; rll r3,r2,7 ; st r2,0(r5) ;
/// xr r3,r2 ; brct r1` (a hash's mixing: AR's cc unstored over RLL and
/// the store, XR sets it again), then the invalid opcode 0.
const MIXING: [u8; 26] = [
    0xa7, 0x18, 0x00, 0xc8, // lghi r1,200
    0x1a, 0x23, // ar r2,r3
    0xeb, 0x32, 0x00, 0x07, 0x00, 0x1d, // rll r3,r2,7
    0x50, 0x20, 0x50, 0x00, // st r2,0(r5)
    0x17, 0x32, // xr r3,r2
    0xa7, 0x16, 0xff, 0xf9, // brct r1,ar
    0x00, 0x00, // (invalid)
    0x00, 0x00,
];

#[test]
fn a_loop_whose_adds_overflow_on_some_turns_runs_them_natively() {
    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let ran = run_against_interpreter(jit, 2000, SIZE, || {
        common::machine(SIZE, &MIXING, &[0; 8], |cpu| {
            cpu.gpr[2] = 0x9e37_79b9;
            cpu.gpr[3] = 0x7f4a_7c15;
            cpu.gpr[5] = DATA;
        })
    });
    assert_eq!(ran.cpu.gpr[1], 0);
    assert!(ran.native("AR"));
}
