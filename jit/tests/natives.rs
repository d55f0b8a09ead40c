//! The instructions Linux ran in the interpreter on the jit, translated
//! natively (docs/CHOICES.md 39): each rule below is checked on the jit,
//! with the instruction counted as native (no fallback, no slow path)
//! where the rule says so.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{Cpu, CR0_AFP_REGISTER, CR0_VECTOR};
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

mod common;
use common::{CODE, DATA};
/// Beyond the end of storage: an addressing exception.
const OUTSIDE: u64 = 0x10_0000;

struct Ran {
    cpu: Cpu,
    bus: DatBus,
    jit: Jit,
    result: Result<(), Interruption>,
}

/// Runs `code` at CODE (DAT off, 64-bit) with `set` applied to the CPU,
/// then the invalid opcode 0 that ends the run; DATA holds `data`.
fn run(code: &[u8], data: &[u8], set: impl FnOnce(&mut Cpu)) -> Ran {
    let (mut cpu, mut bus) = common::machine(0x10000, code, data, set);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let ran = jit.run(&mut cpu, &mut bus, 20);
    Ran {
        cpu,
        bus,
        jit,
        result: ran.result,
    }
}

impl Ran {
    /// `mnemonic` ran natively: neither a fallback nor a slow path.
    fn native(&self, mnemonic: &str) -> bool {
        let s = self.jit.stats();
        let ran = |list: Vec<(&str, u64)>| list.iter().any(|&(m, _)| m == mnemonic);
        s.steps == 0 && !ran(s.fallbacks()) && !ran(s.slow())
    }

    fn code(&self) -> Option<Code> {
        match self.result {
            Err(Interruption::Program { exception, .. }) => Some(exception.code),
            _ => None,
        }
    }
}

#[test]
fn load_on_condition_not_met_accesses_no_storage() {
    // cr 1,1 (cc 0); loc %r2,0(%r3),3 (cc 2 or 3): the operand is outside
    // storage, yet no addressing exception.
    let code = [0x19, 0x11, 0xeb, 0x23, 0x30, 0x00, 0x00, 0xf2, 0, 0];
    let r = run(&code, &[], |cpu| {
        cpu.gpr[3] = OUTSIDE;
        cpu.gpr[2] = 5;
    });
    assert_eq!(r.cpu.gpr[2], 5);
    assert_eq!(r.cpu.psw.addr, CODE + 10, "ran past the invalid opcode");
    assert_eq!(r.code(), Some(Code::OPERATION));
    assert!(r.native("LOC"));
}

#[test]
fn load_on_condition_met_loads_or_takes_the_access_exception() {
    // cr 1,1; locg %r2,0(%r3),8 (cc 0).
    let code = [0x19, 0x11, 0xeb, 0x28, 0x30, 0x00, 0x00, 0xe2, 0, 0];
    let r = run(&code, &0x1122_3344_5566_7788u64.to_be_bytes(), |cpu| {
        cpu.gpr[3] = DATA;
    });
    assert_eq!(r.cpu.gpr[2], 0x1122_3344_5566_7788);
    assert!(r.native("LOCG"));
    let r = run(&code, &[], |cpu| cpu.gpr[3] = OUTSIDE);
    assert_eq!(r.code(), Some(Code::ADDRESSING));
    assert_eq!(r.cpu.psw.addr, CODE + 8, "suppressed: the PSW after it");
}

#[test]
fn store_on_condition_stores_only_when_the_mask_selects_the_cc() {
    // cr 1,1; stoc %r2,0(%r3),8 (cc 0: stored); stoc %r2,4(%r3),7 (not).
    let code = [
        0x19, 0x11, 0xeb, 0x28, 0x30, 0x00, 0x00, 0xf3, 0xeb, 0x27, 0x30, 0x04, 0x00, 0xf3, 0, 0,
    ];
    let r = run(&code, &[0xff; 8], |cpu| {
        cpu.gpr[3] = DATA;
        cpu.gpr[2] = 0xaabb_ccdd;
    });
    let word = r.bus.storage.read_u64(AbsoluteAddress::new(DATA)).unwrap();
    assert_eq!(word, 0xaabb_ccdd_ffff_ffff);
    assert!(r.native("STOC"));
}

#[test]
fn load_and_and_is_interlocked_with_the_cc_of_the_result() {
    // lan %r2,%r4,0(%r3): r2 = the old word, the word = old & r4.
    let code = [0xeb, 0x24, 0x30, 0x00, 0x00, 0xf4, 0, 0];
    let r = run(&code, &[0x0f, 0xf0, 0x00, 0xff], |cpu| {
        cpu.gpr[3] = DATA;
        cpu.gpr[4] = 0xf0f0_f000;
    });
    assert_eq!(r.cpu.gpr[2], 0x0ff0_00ff);
    let word = r.bus.storage.read_u64(AbsoluteAddress::new(DATA)).unwrap() >> 32;
    assert_eq!(word, 0x00f0_0000);
    assert_eq!(r.cpu.psw.cc(), 1, "nonzero result");
    assert!(r.native("LAN"));
}

#[test]
fn compare_under_mask_compares_the_selected_bytes_as_one_number() {
    // clm %r2,5,0(%r3): bytes 1 and 3 of r2's low word (0x22, 0x44)
    // against 0x22, 0x45: low, cc 1.
    let code = [0xbd, 0x25, 0x30, 0x00, 0, 0];
    let r = run(&code, &[0x22, 0x45], |cpu| {
        cpu.gpr[3] = DATA;
        cpu.gpr[2] = 0x1122_3344;
    });
    assert_eq!(r.cpu.psw.cc(), 1);
    assert!(r.native("CLM"));
}

#[test]
fn search_string_finds_the_character_or_reaches_the_end() {
    // srst %r4,%r5: the character 'x' from r5 up to r4.
    let code = [0xb2, 0x5e, 0x00, 0x45, 0, 0];
    let text = b"abcxdef";
    let r = run(&code, text, |cpu| {
        cpu.gpr[0] = u64::from(b'x');
        (cpu.gpr[4], cpu.gpr[5]) = (DATA + 7, DATA);
    });
    assert_eq!((r.cpu.psw.cc(), r.cpu.gpr[4]), (1, DATA + 3));
    assert!(r.native("SRST"));
    let r = run(&code, text, |cpu| {
        cpu.gpr[0] = u64::from(b'x');
        (cpu.gpr[4], cpu.gpr[5]) = (DATA + 3, DATA);
    });
    assert_eq!(
        (r.cpu.psw.cc(), r.cpu.gpr[4], r.cpu.gpr[5]),
        (2, DATA + 3, DATA)
    );
    assert!(r.native("SRST"));
}

#[test]
fn search_string_with_r0_bits_32_to_55_set_is_a_specification_exception() {
    let code = [0xb2, 0x5e, 0x00, 0x45, 0, 0];
    let r = run(&code, b"x", |cpu| {
        cpu.gpr[0] = 0x100 | u64::from(b'x');
        (cpu.gpr[4], cpu.gpr[5]) = (DATA + 7, DATA);
    });
    assert_eq!(r.code(), Some(Code::SPECIFICATION));
    assert_eq!(r.cpu.gpr[4], DATA + 7);
}

#[test]
fn search_string_past_its_page_completes_as_the_interpreter_does() {
    // From 8 bytes before the end of DATA's page, 'x' 4 bytes into the
    // next page: not decided within the page, the slow path finds it.
    let code = [0xb2, 0x5e, 0x00, 0x45, 0, 0];
    let mut data = vec![b'a'; 0x1010];
    data[0x1004] = b'x';
    let r = run(&code, &data, |cpu| {
        cpu.gpr[0] = u64::from(b'x');
        (cpu.gpr[4], cpu.gpr[5]) = (DATA + 0x1010, DATA + 0xff8);
    });
    assert_eq!((r.cpu.psw.cc(), r.cpu.gpr[4]), (1, DATA + 0x1004));
}

#[test]
fn compare_string_leaves_the_registers_at_the_deciding_bytes() {
    // clst %r4,%r5 of "abcd\0" and "abce\0": cc 1 at offset 3.
    let code = [0xb2, 0x5d, 0x00, 0x45, 0, 0];
    let r = run(&code, b"abcd\0abce\0", |cpu| {
        (cpu.gpr[4], cpu.gpr[5]) = (DATA, DATA + 5);
    });
    assert_eq!(
        (r.cpu.psw.cc(), r.cpu.gpr[4], r.cpu.gpr[5]),
        (1, DATA + 3, DATA + 8)
    );
    assert!(r.native("CLST"));
    // Equal strings: cc 0, the registers unchanged.
    let r = run(&code, b"abc\0abc\0", |cpu| {
        (cpu.gpr[4], cpu.gpr[5]) = (DATA, DATA + 4);
    });
    assert_eq!(
        (r.cpu.psw.cc(), r.cpu.gpr[4], r.cpu.gpr[5]),
        (0, DATA, DATA + 4)
    );
}

#[test]
fn load_and_test_of_a_signaling_nan_is_the_interpreters_invalid_operation() {
    // ltdbr %f0,%f2 with the invalid-operation mask on: a data exception
    // (DXC 80 hex), f0 unchanged.
    let code = [0xb3, 0x12, 0x00, 0x02, 0, 0];
    let r = run(&code, &[], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.fpc = 0x8000_0000;
        cpu.vr[2][0] = 0x7ff0_0000_0000_0001;
        cpu.vr[0][0] = 7;
    });
    assert_eq!(r.code(), Some(Code::DATA));
    assert_eq!(r.cpu.vr[0][0], 7);
}

#[test]
fn load_complement_inverts_the_sign_of_any_value_and_sets_the_cc() {
    // lcdbr %f0,%f2: -(+1.0) is negative (cc 1); of a NaN, cc 3.
    let code = [0xb3, 0x13, 0x00, 0x02, 0, 0];
    let r = run(&code, &[], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.vr[2][0] = 0x3ff0_0000_0000_0000;
    });
    assert_eq!((r.cpu.vr[0][0], r.cpu.psw.cc()), (0xbff0_0000_0000_0000, 1));
    assert!(r.native("LCDBR"));
    let r = run(&code, &[], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.vr[2][0] = 0x7ff0_0000_0000_0001;
    });
    assert_eq!((r.cpu.vr[0][0], r.cpu.psw.cc()), (0xfff0_0000_0000_0001, 3));
}

#[test]
fn bfp_instructions_need_the_afp_register_control() {
    // lcdbr %f0,%f2 with CR0 bit 45 zero: a data exception.
    let code = [0xb3, 0x13, 0x00, 0x02, 0, 0];
    let r = run(&code, &[], |_| {});
    assert_eq!(r.code(), Some(Code::DATA));
}

#[test]
fn vector_element_moves_count_elements_from_the_left() {
    // vlvg %v1,%r2,5,1 (halfword 5 = r2); vlgv %r3,%v1,1(%r0),3
    // (doubleword 1); vrep %v4,%v1,2,2 (word 2 everywhere).
    let code = [
        0xe7, 0x12, 0x00, 0x05, 0x10, 0x22, //
        0xe7, 0x31, 0x00, 0x01, 0x30, 0x21, //
        0xe7, 0x41, 0x00, 0x02, 0x20, 0x4d, //
        0, 0,
    ];
    let r = run(&code, &[], |cpu| {
        cpu.cr[0] |= CR0_VECTOR;
        cpu.gpr[2] = 0xabcd;
    });
    assert_eq!(r.cpu.vr[1], [0, 0x0000_abcd_0000_0000]);
    assert_eq!(r.cpu.gpr[3], 0x0000_abcd_0000_0000);
    assert_eq!(r.cpu.vr[4], [0x0000_abcd_0000_abcd, 0x0000_abcd_0000_abcd]);
    for m in ["VLVG", "VLGV", "VREP"] {
        assert!(r.native(m), "{m}");
    }
}

#[test]
fn vector_instructions_need_the_vector_enablement_control() {
    let code = [0xe7, 0x31, 0x00, 0x01, 0x30, 0x21, 0, 0];
    let r = run(&code, &[], |_| {});
    assert_eq!(r.code(), Some(Code::DATA));
}

#[test]
fn compare_of_ordered_operands_is_native_and_zeros_are_equal() {
    // cdbr %f0,%f2 of -0 and +0: equal, cc 0.
    let code = [0xb3, 0x19, 0x00, 0x02, 0, 0];
    let r = run(&code, &[], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        (cpu.vr[0][0], cpu.vr[2][0]) = (1 << 63, 0);
        cpu.psw.mask |= 3 << 44;
    });
    assert_eq!(r.cpu.psw.cc(), 0);
    assert!(r.native("CDBR"));
    // kdbr %f0,%f2 with a quiet NaN: an invalid operation, a data
    // exception with the mask on.
    let code = [0xb3, 0x18, 0x00, 0x02, 0, 0];
    let r = run(&code, &[], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.fpc = 0x8000_0000;
        (cpu.vr[0][0], cpu.vr[2][0]) = (0, 0x7ff8_0000_0000_0000);
    });
    assert_eq!(r.code(), Some(Code::DATA));
}

#[test]
fn convert_from_fixed_is_exact_up_to_2_to_the_53() {
    // cdgbr %f0,%r2.
    let code = [0xb3, 0xa5, 0x00, 0x02, 0, 0];
    let r = run(&code, &[], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.gpr[2] = (-3i64) as u64;
    });
    assert_eq!(r.cpu.vr[0][0], (-3.0f64).to_bits());
    assert!(r.native("CDGBR"));
    // 2^53 + 1 rounds (to even, 2^53) and is inexact: the interpreter's.
    let r = run(&code, &[], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.gpr[2] = (1 << 53) + 1;
    });
    assert_eq!(r.cpu.vr[0][0], 9_007_199_254_740_992f64.to_bits());
    assert_eq!(r.cpu.fpc & 0x0008_0000, 0x0008_0000, "the inexact flag");
    assert!(!r.native("CDGBR"));
}

#[test]
fn load_multiple_across_a_page_boundary_is_native() {
    // lmg %r2,%r5,0(%r3) from 12 bytes before the end of DATA's page.
    let code = [0xeb, 0x25, 0x30, 0x00, 0x00, 0x04, 0, 0];
    let words: Vec<u8> = (1..=4u64)
        .flat_map(|v| (v * 0x0101).to_be_bytes())
        .collect();
    let mut data = vec![0u8; 0x1000 - 12];
    data.extend_from_slice(&words);
    let r = run(&code, &data, |cpu| cpu.gpr[3] = DATA + 0x1000 - 12);
    assert_eq!(r.cpu.gpr[2..6], [0x101, 0x202, 0x303, 0x404]);
    assert!(r.native("LMG"));
    // Into a page beyond storage: the interpreter's addressing exception,
    // no register loaded.
    let r = run(&code, &[], |cpu| cpu.gpr[3] = 0x10000 - 12);
    assert_eq!(r.code(), Some(Code::ADDRESSING));
    assert_eq!(r.cpu.gpr[2], 0);
}

#[test]
fn store_multiple_across_a_page_boundary_is_native_once_both_pages_are_in_the_tlb() {
    // lhi %r5,3; stmg %r2,%r3,0(%r6) from 4 bytes before the end of
    // DATA's page; brct %r5,stmg.
    let code = [
        0xa7, 0x58, 0x00, 0x03, //
        0xeb, 0x23, 0x60, 0x00, 0x00, 0x24, //
        0xa7, 0x56, 0xff, 0xfd, //
        0, 0,
    ];
    let r = run(&code, &[], |cpu| {
        cpu.gpr[6] = DATA + 0x1000 - 4;
        (cpu.gpr[2], cpu.gpr[3]) = (0x0102_0304_0506_0708, 0x1112_1314_1516_1718);
    });
    let at = |a: u64| r.bus.storage.read_u64(AbsoluteAddress::new(a)).unwrap();
    assert_eq!(at(DATA + 0x1000 - 4), 0x0102_0304_0506_0708);
    assert_eq!(at(DATA + 0x1000 + 4), 0x1112_1314_1516_1718);
    let slow = r.jit.stats().slow();
    let stmg = slow
        .iter()
        .find(|&&(m, _)| m == "STMG")
        .map_or(0, |&(_, n)| n);
    assert!(stmg <= 1, "the first only, which fills the TLB: {stmg}");
}
