//! Binary-floating-point rules (PoP ch. 19), one architected rule per test,
//! and the arithmetic against the host's IEEE 754 (round to nearest even).

use zmmu_cpu::exec::bfp::ieee;
use zmmu_cpu::interrupt::{lowcore, Interruption};
use zmmu_cpu::memory::FlatMemory;
use zmmu_cpu::state::{mask, Cpu, Psw, CR0_AFP_REGISTER};
use zmmu_mmu::exception::{Code, Exception};
use zmmu_testkit::Rng;

const CODE: u64 = 0x1000;
const DATA: u64 = 0x2000;

/// FPC: IEEE masks (byte 0) and flags (byte 1).
fn masks(x: u8) -> u32 {
    u32::from(x) << 24
}
fn flags(x: u8) -> u32 {
    u32::from(x) << 16
}

/// An RRE instruction B3xx R1,R2.
fn rre(op: u8, r1: u8, r2: u8) -> Vec<u8> {
    vec![0xB3, op, 0, (r1 << 4) | r2]
}

/// An RRF-e instruction B3xx R1,M3,R2.
fn rrf(op: u8, r1: u8, m3: u8, r2: u8) -> Vec<u8> {
    vec![0xB3, op, m3 << 4, (r1 << 4) | r2]
}

/// An RXE instruction EDxx R1,D2(B2).
fn rxe(op: u8, r1: u8, d2: u16, b2: u8) -> Vec<u8> {
    vec![0xED, r1 << 4, (b2 << 4) | (d2 >> 8) as u8, d2 as u8, 0, op]
}

/// A 64-bit supervisor-state CPU with the AFP-register control on,
/// `code` at CODE.
fn machine(code: &[u8]) -> (Cpu, FlatMemory) {
    let mut mem = FlatMemory::new(0, 0x10000);
    mem.load(CODE, code).unwrap();
    let mut cpu = Cpu::new();
    cpu.cr[0] |= CR0_AFP_REGISTER;
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    (cpu, mem)
}

/// Runs `code` on FPRs `f` (pairs of register and contents) and FPC
/// `fpc`.
fn run(code: &[u8], fpc: u32, f: &[(u8, u64)]) -> (Cpu, Result<(), Interruption>) {
    let (mut cpu, mut mem) = machine(code);
    cpu.fpc = fpc;
    for &(r, v) in f {
        cpu.set_fpr(r, v);
    }
    let r = cpu.step(&mut mem);
    (cpu, r)
}

fn short(v: f32) -> u64 {
    u64::from(v.to_bits()) << 32
}

fn data_exception(r: Result<(), Interruption>) -> u8 {
    match r {
        Err(Interruption::Program { exception, .. }) if exception.code == Code::DATA => {
            exception.dxc
        }
        other => panic!("expected a data exception, got {other:?}"),
    }
}

const ADBR: u8 = 0x1A;
const AEBR: u8 = 0x0A;
const SDBR: u8 = 0x1B;
const MDBR: u8 = 0x1C;
const DDBR: u8 = 0x1D;
const MEEBR: u8 = 0x17;
const DEBR: u8 = 0x0D;
const CDBR: u8 = 0x19;
const KDBR: u8 = 0x18;
const SQDBR: u8 = 0x15;
const SQEBR: u8 = 0x14;
const LEDBR: u8 = 0x44;
const LDEBR: u8 = 0x04;
const LCDBR: u8 = 0x13;
const LTDBR: u8 = 0x12;
const CFDBR: u8 = 0x99;
const CGDBR: u8 = 0xA9;
const CDGBR: u8 = 0xA5;
const CEFBR: u8 = 0x94;

const QNAN: u64 = 0x7FF8_0000_0000_0000;
const DEFAULT_NAN: u64 = QNAN;

#[test]
fn a_bfp_instruction_without_the_afp_register_control_is_a_data_exception_dxc_2() {
    let (mut cpu, mut mem) = machine(&rre(ADBR, 0, 2));
    cpu.cr[0] &= !CR0_AFP_REGISTER;
    assert_eq!(data_exception(cpu.step(&mut mem)), 2);
}

#[test]
fn divide_long_from_storage_three_by_two_is_one_and_a_half() {
    // ddb %f0,160(%r15) (kvm-unit-tests' selftest: 3.0 / 2.0 == 1.5)
    let (mut cpu, mut mem) = machine(&rxe(0x1D, 0, 160, 15));
    cpu.gpr[15] = DATA - 160;
    mem.load(DATA, &2.0f64.to_bits().to_be_bytes()).unwrap();
    cpu.set_fpr(0, 3.0f64.to_bits());
    cpu.psw.set_cc(3);
    cpu.step(&mut mem).unwrap();
    assert_eq!(f64::from_bits(cpu.fpr(0)), 1.5);
    assert_eq!(cpu.psw.cc(), 3, "DIVIDE leaves the condition code");
}

#[test]
fn add_sets_the_cc_from_the_result_and_rounds_by_the_fpc_rounding_mode() {
    let tiny = 2f64.powi(-60);
    for (mode, want) in [
        (0, 1.0f64),
        (1, 1.0),
        (2, f64::from_bits(1.0f64.to_bits() + 1)),
        (3, 1.0),
    ] {
        let (cpu, r) = run(
            &rre(ADBR, 0, 2),
            mode,
            &[(0, 1f64.to_bits()), (2, tiny.to_bits())],
        );
        r.unwrap();
        assert_eq!(f64::from_bits(cpu.fpr(0)), want, "mode {mode}");
        assert_eq!(cpu.psw.cc(), 2);
        assert_eq!(cpu.fpc, mode | flags(ieee::INEXACT));
    }
    let (cpu, _) = run(
        &rre(SDBR, 0, 2),
        0,
        &[(0, 1f64.to_bits()), (2, 1f64.to_bits())],
    );
    assert_eq!(
        (cpu.fpr(0), cpu.psw.cc()),
        (0, 0),
        "x - x = +0 rounding to nearest"
    );
    let (cpu, _) = run(
        &rre(SDBR, 0, 2),
        3,
        &[(0, 1f64.to_bits()), (2, 1f64.to_bits())],
    );
    assert_eq!(cpu.fpr(0), 1 << 63, "x - x = -0 rounding toward -infinity");
}

#[test]
fn short_results_leave_bits_32_to_63_of_the_register_unchanged() {
    let (cpu, r) = run(
        &rre(AEBR, 1, 2),
        0,
        &[
            (1, short(1.5) | 0x1234_5678),
            (2, short(2.25) | 0xFFFF_FFFF),
        ],
    );
    r.unwrap();
    assert_eq!(cpu.fpr(1), short(3.75) | 0x1234_5678);
}

#[test]
fn invalid_operation_with_the_mask_off_gives_the_default_nan_and_sets_the_flag() {
    let inf = f64::INFINITY.to_bits();
    let (cpu, r) = run(&rre(SDBR, 0, 2), 0, &[(0, inf), (2, inf)]);
    r.unwrap();
    assert_eq!(cpu.fpr(0), DEFAULT_NAN);
    assert_eq!(cpu.psw.cc(), 3);
    assert_eq!(cpu.fpc, flags(ieee::INVALID));
    let (cpu, _) = run(&rre(MDBR, 0, 2), 0, &[(0, 0), (2, inf | 1 << 63)]);
    assert_eq!(cpu.fpr(0), DEFAULT_NAN, "0 * -inf");
}

#[test]
fn invalid_operation_with_the_mask_on_suppresses_with_dxc_80() {
    let inf = f64::INFINITY.to_bits();
    let (cpu, r) = run(
        &rre(SDBR, 0, 2),
        masks(ieee::INVALID),
        &[(0, inf), (2, inf)],
    );
    assert_eq!(data_exception(r), 0x80);
    assert_eq!(cpu.fpr(0), inf, "the result is not stored");
    assert_eq!(cpu.fpc, masks(ieee::INVALID), "no flag is set");
    assert_eq!(cpu.psw.addr, CODE + 4);
}

#[test]
fn a_signaling_nan_comes_before_a_quiet_one_and_is_quieted() {
    let snan = 0x7FF0_0000_0000_0001u64;
    let qnan = 0xFFF8_0000_0000_0002u64;
    let (cpu, _) = run(&rre(ADBR, 0, 2), 0, &[(0, qnan), (2, snan)]);
    assert_eq!(cpu.fpr(0), snan | 1 << 51);
    assert_eq!(cpu.fpc, flags(ieee::INVALID));
    let snan2 = 0xFFF0_0000_0000_0003u64;
    let (cpu, _) = run(&rre(ADBR, 0, 2), 0, &[(0, snan2), (2, snan)]);
    assert_eq!(cpu.fpr(0), snan2 | 1 << 51, "the first operand's SNaN");
}

#[test]
fn a_quiet_nan_of_the_first_operand_comes_before_the_second_without_exception() {
    let q1 = 0xFFF8_0000_0000_0001u64;
    let q2 = 0x7FF8_0000_0000_0002u64;
    let (cpu, _) = run(&rre(MDBR, 0, 2), 0, &[(0, q1), (2, q2)]);
    assert_eq!(cpu.fpr(0), q1);
    let (cpu, _) = run(&rre(MDBR, 0, 2), 0, &[(0, 1f64.to_bits()), (2, q2)]);
    assert_eq!(cpu.fpr(0), q2);
    assert_eq!(cpu.fpc, 0);
}

#[test]
fn division_by_zero_gives_a_signed_infinity_or_with_the_mask_on_dxc_40() {
    let one = 1f64.to_bits();
    let (cpu, _) = run(&rre(DDBR, 0, 2), 0, &[(0, one), (2, 1 << 63)]);
    assert_eq!(f64::from_bits(cpu.fpr(0)), f64::NEG_INFINITY);
    assert_eq!(cpu.fpc, flags(ieee::DIVIDE_BY_ZERO));
    let (cpu, r) = run(
        &rre(DDBR, 0, 2),
        masks(ieee::DIVIDE_BY_ZERO),
        &[(0, one), (2, 0)],
    );
    assert_eq!(data_exception(r), 0x40);
    assert_eq!(cpu.fpr(0), one);
}

#[test]
fn overflow_with_the_mask_off_rounds_to_infinity_or_the_largest_number_and_sets_both_flags() {
    let max = f64::MAX.to_bits();
    let (cpu, _) = run(&rre(ADBR, 0, 2), 0, &[(0, max), (2, max)]);
    assert_eq!(f64::from_bits(cpu.fpr(0)), f64::INFINITY);
    assert_eq!(cpu.fpc, flags(ieee::OVERFLOW | ieee::INEXACT));
    let (cpu, _) = run(&rre(ADBR, 0, 2), 1, &[(0, max), (2, max)]);
    assert_eq!(cpu.fpr(0), max, "toward zero");
    assert_eq!(cpu.fpc, 1 | flags(ieee::OVERFLOW | ieee::INEXACT));
}

#[test]
fn overflow_with_the_mask_on_stores_the_result_scaled_by_2_to_the_minus_1536() {
    // 2**1000 * 2**1000 = 2**2000, stored as 2**464; exact: DXC 20.
    let big = 2f64.powi(1000).to_bits();
    let (cpu, r) = run(
        &rre(MDBR, 0, 2),
        masks(ieee::OVERFLOW),
        &[(0, big), (2, big)],
    );
    assert_eq!(data_exception(r), 0x20);
    assert_eq!(f64::from_bits(cpu.fpr(0)), 2f64.powi(464));
    assert_eq!(cpu.fpc & flags(0xFF), 0, "no flag");
    assert_eq!(cpu.psw.addr, CODE + 4, "completed");
    // (2**1000 * (1 + 2**-52)) * (2**1000 * 1.5): inexact, rounded up to
    // nearest: DXC 2C.
    let a = f64::from_bits(big + 1).to_bits();
    let b = (2f64.powi(1000) * 1.5).to_bits();
    let (cpu, r) = run(&rre(MDBR, 0, 2), masks(ieee::OVERFLOW), &[(0, a), (2, b)]);
    assert_eq!(data_exception(r), 0x2C);
    let want = f64::from_bits(big + 1) * 2f64.powi(-1000) * 1.5 * 2f64.powi(464);
    assert_eq!(f64::from_bits(cpu.fpr(0)), want);
}

#[test]
fn underflow_with_the_mask_on_stores_the_short_result_scaled_by_2_to_the_192() {
    // 2**-100 * 2**-100 = 2**-200 (tiny, exact in the scaled format).
    let small = short(2f32.powi(-100));
    let (cpu, r) = run(
        &rre(MEEBR, 1, 2),
        masks(ieee::UNDERFLOW),
        &[(1, small), (2, small)],
    );
    assert_eq!(data_exception(r), 0x10);
    assert_eq!(cpu.fpr(1), short(2f32.powi(-8)));
}

#[test]
fn underflow_with_the_mask_off_is_flagged_only_when_the_tiny_result_is_inexact() {
    // 2**-1060 exactly: a denormal, exact: no flag.
    let (cpu, _) = run(
        &rre(MDBR, 0, 2),
        0,
        &[
            (0, 2f64.powi(-530).to_bits()),
            (2, 2f64.powi(-530).to_bits()),
        ],
    );
    assert_eq!(cpu.fpr(0), 1 << 14, "2**-1060");
    assert_eq!(cpu.fpc, 0);
    // 2**-1070 / 3: tiny and inexact.
    let (cpu, _) = run(&rre(DDBR, 0, 2), 0, &[(0, 1 << 4), (2, 3f64.to_bits())]);
    assert_eq!(cpu.fpr(0), 5, "2**-1070 / 3 = 5.33 * 2**-1074");
    assert_eq!(cpu.fpc, flags(ieee::UNDERFLOW | ieee::INEXACT));
}

#[test]
fn inexact_with_the_mask_on_completes_with_dxc_08_truncated_or_0c_incremented() {
    // 1 / 3 rounds down to nearest (truncated), 1 / 10 up.
    let three = 3f64.to_bits();
    let (cpu, r) = run(
        &rre(DDBR, 0, 2),
        masks(ieee::INEXACT),
        &[(0, 1f64.to_bits()), (2, three)],
    );
    assert_eq!(data_exception(r), 0x08);
    assert_eq!(
        f64::from_bits(cpu.fpr(0)),
        1.0 / 3.0,
        "the result is stored"
    );
    let (_, r) = run(
        &rre(DDBR, 0, 2),
        masks(ieee::INEXACT),
        &[(0, 1f64.to_bits()), (2, 10f64.to_bits())],
    );
    assert_eq!(data_exception(r), 0x0C);
}

#[test]
fn the_data_exception_code_of_an_ieee_trap_is_stored_in_fpc_byte_2_on_delivery() {
    let (mut cpu, mut mem) = machine(&rre(DDBR, 0, 2));
    cpu.fpc = masks(ieee::DIVIDE_BY_ZERO);
    cpu.set_fpr(0, 1f64.to_bits());
    let Err(intr) = cpu.step(&mut mem) else {
        panic!("no interruption")
    };
    cpu.deliver(&mut mem, intr).unwrap();
    assert_eq!(cpu.fpc, masks(ieee::DIVIDE_BY_ZERO) | 0x4000);
    assert_eq!(mem.slice(lowcore::DXC, 1).unwrap(), [0x40]);
}

#[test]
fn compare_sets_cc_3_for_a_quiet_nan_and_only_the_signaling_compare_raises_invalid() {
    let one = 1f64.to_bits();
    let (cpu, _) = run(&rre(CDBR, 0, 2), 0, &[(0, one), (2, QNAN)]);
    assert_eq!((cpu.psw.cc(), cpu.fpc), (3, 0));
    let (cpu, _) = run(&rre(KDBR, 0, 2), 0, &[(0, one), (2, QNAN)]);
    assert_eq!((cpu.psw.cc(), cpu.fpc), (3, flags(ieee::INVALID)));
    let (cpu, _) = run(&rre(CDBR, 0, 2), 0, &[(0, 1 << 63), (2, 0)]);
    assert_eq!(cpu.psw.cc(), 0, "-0 == +0");
    let (cpu, _) = run(&rre(CDBR, 0, 2), 0, &[(0, one), (2, 2f64.to_bits())]);
    assert_eq!(cpu.psw.cc(), 1);
    let (cpu, r) = run(
        &rre(KDBR, 0, 2),
        masks(ieee::INVALID),
        &[(0, one), (2, QNAN)],
    );
    assert_eq!(data_exception(r), 0x80);
    assert_eq!(cpu.psw.cc(), 0, "suppressed: cc unchanged");
}

#[test]
fn square_root_is_exact_for_squares_invalid_for_negatives_and_keeps_minus_zero() {
    let (cpu, _) = run(&rre(SQDBR, 0, 2), 0, &[(2, 9f64.to_bits())]);
    assert_eq!((f64::from_bits(cpu.fpr(0)), cpu.fpc), (3.0, 0));
    let (cpu, _) = run(&rre(SQDBR, 0, 2), 0, &[(2, 1 << 63)]);
    assert_eq!((cpu.fpr(0), cpu.fpc), (1 << 63, 0));
    let (cpu, _) = run(&rre(SQDBR, 0, 2), 0, &[(2, (-4f64).to_bits())]);
    assert_eq!((cpu.fpr(0), cpu.fpc), (DEFAULT_NAN, flags(ieee::INVALID)));
    let (cpu, _) = run(&rre(SQEBR, 0, 2), 0, &[(2, short(2.0))]);
    assert_eq!(cpu.fpr(0) >> 32, u64::from(2f32.sqrt().to_bits()));
    assert_eq!(cpu.fpc, flags(ieee::INEXACT));
}

#[test]
fn load_rounded_keeps_the_leftmost_fraction_bits_of_a_nan_and_quiets_a_signaling_one() {
    let snan = 0x7FF0_0000_2000_0000u64; // fraction bit 29 from the right
    let (cpu, _) = run(&rre(LEDBR, 0, 2), 0, &[(2, snan)]);
    assert_eq!(cpu.fpr(0) >> 32, 0x7FC0_0001);
    assert_eq!(cpu.fpc, flags(ieee::INVALID));
    let (cpu, _) = run(&rre(LDEBR, 0, 2), 0, &[(2, 0xFF80_0001u64 << 32)]);
    assert_eq!(cpu.fpr(0), 0xFFF8_0000_2000_0000);
    assert_eq!(cpu.fpc, flags(ieee::INVALID));
    let (cpu, _) = run(&rre(LEDBR, 0, 2), 0, &[(2, 0.1f64.to_bits())]);
    assert_eq!(cpu.fpr(0) >> 32, u64::from(0.1f32.to_bits()));
}

#[test]
fn load_complement_flips_the_sign_of_a_nan_without_exception_and_load_and_test_quiets() {
    let snan = 0x7FF0_0000_0000_0001u64;
    let (cpu, _) = run(&rre(LCDBR, 0, 2), 0, &[(2, snan)]);
    assert_eq!((cpu.fpr(0), cpu.psw.cc(), cpu.fpc), (snan | 1 << 63, 3, 0));
    let (cpu, _) = run(&rre(LTDBR, 0, 2), 0, &[(2, snan)]);
    assert_eq!((cpu.fpr(0), cpu.psw.cc()), (snan | 1 << 51, 3));
    assert_eq!(cpu.fpc, flags(ieee::INVALID));
    let (cpu, _) = run(&rre(LTDBR, 0, 2), 0, &[(2, (-2f64).to_bits())]);
    assert_eq!(cpu.psw.cc(), 1);
}

#[test]
fn convert_to_fixed_rounds_as_m3_says_and_sets_cc_from_the_source() {
    for (m3, v, want) in [
        (1u8, 2.5f64, 3i32),
        (4, 2.5, 2),
        (5, -2.7, -2),
        (6, 2.1, 3),
        (7, -2.1, -3),
        (0, 3.5, 4),
    ] {
        let (mut cpu, mut mem) = machine(&rrf(CFDBR, 1, m3, 2));
        cpu.gpr[1] = 0xAAAA_AAAA_0000_0000;
        cpu.set_fpr(2, v.to_bits());
        cpu.step(&mut mem).unwrap();
        assert_eq!(
            cpu.gpr[1],
            0xAAAA_AAAA_0000_0000 | u64::from(want as u32),
            "m3 {m3}"
        );
        assert_eq!(cpu.psw.cc(), if v < 0.0 { 1 } else { 2 });
        assert_eq!(cpu.fpc, flags(ieee::INEXACT));
    }
}

#[test]
fn convert_to_fixed_out_of_range_gives_the_limit_with_cc_3_and_a_nan_the_largest_negative() {
    let (mut cpu, mut mem) = machine(&rrf(CGDBR, 1, 5, 2));
    cpu.set_fpr(2, 1e19f64.to_bits());
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.gpr[1], cpu.psw.cc()), (i64::MAX as u64, 3));
    assert_eq!(cpu.fpc, flags(ieee::INVALID | ieee::INEXACT));
    let (mut cpu, mut mem) = machine(&rrf(CFDBR, 1, 5, 2));
    cpu.set_fpr(2, QNAN);
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.gpr[1] as u32, cpu.psw.cc()), (0x8000_0000, 3));
    assert_eq!(cpu.fpc, flags(ieee::INVALID));
}

#[test]
fn convert_to_fixed_with_m3_2_3_or_above_7_is_a_specification_exception() {
    for m3 in [2, 3, 8, 15] {
        let (cpu, r) = run(&rrf(CFDBR, 1, m3, 2), 0, &[]);
        let _ = cpu;
        assert!(
            matches!(r, Err(Interruption::Program { exception, .. }) if exception == Exception::new(Code::SPECIFICATION)),
            "m3 {m3}"
        );
    }
}

#[test]
fn convert_from_fixed_rounds_by_the_fpc_and_is_exact_for_small_integers() {
    let (mut cpu, mut mem) = machine(&rre(CDGBR, 0, 1));
    cpu.gpr[1] = (1u64 << 53) + 1;
    cpu.fpc = 2; // toward +infinity
    cpu.step(&mut mem).unwrap();
    assert_eq!(f64::from_bits(cpu.fpr(0)), ((1u64 << 53) + 2) as f64);
    assert_eq!(cpu.fpc, 2 | flags(ieee::INEXACT));
    let (mut cpu, mut mem) = machine(&rre(CEFBR, 0, 1));
    cpu.gpr[1] = 0xFFFF_FFFF_FFFF_FFFD; // -3 in bits 32-63
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.fpr(0) >> 32, u64::from((-3f32).to_bits()));
    assert_eq!(cpu.fpc, 0);
}

#[test]
fn long_and_short_arithmetic_match_the_hosts_ieee_754_rounding_to_nearest() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    type Op = (u8, fn(f64, f64) -> f64, fn(f32, f32) -> f32, u8);
    let ops: [Op; 5] = [
        (ADBR, |a, b| a + b, |a, b| a + b, AEBR),
        (SDBR, |a, b| a - b, |a, b| a - b, 0x0B),
        (MDBR, |a, b| a * b, |a, b| a * b, MEEBR),
        (DDBR, |a, b| a / b, |a, b| a / b, DEBR),
        (SQDBR, |_, b| b.sqrt(), |_, b| b.sqrt(), SQEBR),
    ];
    for i in 0..20_000 {
        let (long, host64, host32, short_op) = ops[i % ops.len()];
        let (a, b) = (rng.bits(), rng.bits());
        let (fa, fb) = (f64::from_bits(a), f64::from_bits(b));
        let want = host64(fa, fb);
        if !(fa.is_nan() || fb.is_nan() || want.is_nan()) {
            let (cpu, _) = run(&rre(long, 0, 2), 0, &[(0, a), (2, b)]);
            assert_eq!(cpu.fpr(0), want.to_bits(), "{long:02x} {fa:e} {fb:e}");
        }
        let (sa, sb) = (a as u32, b as u32);
        let (fa, fb) = (f32::from_bits(sa), f32::from_bits(sb));
        let want = host32(fa, fb);
        if !(fa.is_nan() || fb.is_nan() || want.is_nan()) {
            let (cpu, _) = run(
                &rre(short_op, 0, 2),
                0,
                &[(0, u64::from(sa) << 32), (2, u64::from(sb) << 32)],
            );
            assert_eq!(
                cpu.fpr(0) >> 32,
                u64::from(want.to_bits()),
                "{short_op:02x} {fa:e} {fb:e}"
            );
        }
    }
}

#[test]
fn multiply_and_add_of_zero_times_infinity_and_a_quiet_nan_gives_the_nan_without_invalid() {
    // madbr %f6,%f2,%f4: f6 = f2 * f4 + f6 with f2 = +inf, f4 = 0, f6 a
    // quiet NaN (QEMU 7.2 signals nothing there; IEEE 754 leaves it open).
    let qnan = 0xFFF8_2126_0000_0000;
    let code = vec![0xB3, 0x1E, 0x60, 0x24];
    let (cpu, r) = run(&code, masks(0x80), &[(2, 0x7FF0 << 48), (4, 0), (6, qnan)]);
    r.unwrap();
    assert_eq!((cpu.fpr(6), cpu.fpc), (qnan, masks(0x80)));
    // Without the NaN the product is an invalid operation (default NaN).
    let (cpu, r) = run(&code, 0, &[(2, 0x7FF0 << 48), (4, 0), (6, 0)]);
    r.unwrap();
    assert_eq!((cpu.fpr(6), cpu.fpc), (0x7FF8 << 48, flags(0x80)));
}

// The extended format (128 bits in the register pair R, R + 2).

const AXBR: u8 = 0x4A;
const MXBR: u8 = 0x4C;
const DXBR: u8 = 0x4D;
const SQXBR: u8 = 0x16;
const LDXBR: u8 = 0x45;
const LXDBR: u8 = 0x05;
const MXDBR: u8 = 0x07;
const MDEBR: u8 = 0x0C;
const CFXBR: u8 = 0x9A;
const CXGBR: u8 = 0xA6;
const FIXBR: u8 = 0x47;
const LXR: u8 = 0x65;
const LZXR: u8 = 0x76;
const TCXB: u8 = 0x12;

/// Extended `sign * 2**exp * (1 + fraction / 2**112)`.
fn ext(negative: bool, exp: i32, fraction: u128) -> u128 {
    (u128::from(negative) << 127) | (((exp + 16383) as u128) << 112) | fraction
}

/// An f64 (zero or normal) as extended: exact.
fn ext_of(v: f64) -> u128 {
    if v == 0.0 {
        return u128::from(v.is_sign_negative()) << 127;
    }
    let b = v.to_bits();
    let exp = ((b >> 52) & 0x7FF) as i32 - 1023;
    ext(v < 0.0, exp, u128::from(b & ((1 << 52) - 1)) << 60)
}

/// Runs `code` with extended values in register pairs (`(r, v)`: FPR r
/// the left half, FPR r + 2 the right).
fn run_ext(code: &[u8], fpc: u32, x: &[(u8, u128)]) -> (Cpu, Result<(), Interruption>) {
    let f: Vec<(u8, u64)> = x
        .iter()
        .flat_map(|&(r, v)| [(r, (v >> 64) as u64), (r + 2, v as u64)])
        .collect();
    run(code, fpc, &f)
}

/// The extended value in the pair `r`.
fn pair(cpu: &Cpu, r: u8) -> u128 {
    u128::from(cpu.fpr(r)) << 64 | u128::from(cpu.fpr(r + 2))
}

fn is_specification(r: &Result<(), Interruption>) -> bool {
    matches!(r, Err(Interruption::Program { exception, .. }) if exception.code == Code::SPECIFICATION)
}

#[test]
fn an_extended_operand_in_a_register_that_is_not_a_pair_is_a_specification_exception() {
    for code in [
        rre(AXBR, 2, 0),
        rre(AXBR, 0, 3),
        rre(AXBR, 14, 15),
        rre(LDXBR, 2, 0),
        rre(LXDBR, 6, 0),
        rre(MXDBR, 10, 0),
        rre(LXR, 0, 7),
        rre(LZXR, 11, 0),
        rrf(CFXBR, 0, 0, 2),
        rre(CXGBR, 3, 0),
        rxe(TCXB, 15, 0, 0),
    ] {
        let (cpu, r) = run(&code, 0, &[(0, 1), (2, 2)]);
        assert!(is_specification(&r), "{code:02x?}: {r:?}");
        assert_eq!(
            (cpu.fpr(0), cpu.fpr(2)),
            (1, 2),
            "{code:02x?} is suppressed"
        );
    }
    for r in [0, 1, 4, 5, 8, 9, 12, 13] {
        let (_, res) = run(&rre(AXBR, r, r), 0, &[]);
        assert!(res.is_ok(), "pair {r}");
    }
}

#[test]
fn extended_add_is_exact_to_113_bits_and_rounds_a_tie_by_the_fpc() {
    let one = ext_of(1.0);
    let (cpu, r) = run_ext(&rre(AXBR, 1, 5), 0, &[(1, one), (5, ext(false, -112, 0))]);
    r.unwrap();
    assert_eq!(pair(&cpu, 1), one + 1, "1 + 2**-112: the last fraction bit");
    assert_eq!((cpu.psw.cc(), cpu.fpc), (2, 0));
    // 1 + 2**-113 is halfway: to nearest even 1, toward +infinity 1 + 2**-112.
    let half = ext(false, -113, 0);
    let (cpu, _) = run_ext(&rre(AXBR, 1, 5), 0, &[(1, one), (5, half)]);
    assert_eq!((pair(&cpu, 1), cpu.fpc), (one, flags(ieee::INEXACT)));
    let (cpu, _) = run_ext(&rre(AXBR, 1, 5), 2, &[(1, one), (5, half)]);
    assert_eq!(pair(&cpu, 1), one + 1);
}

#[test]
fn extended_overflow_with_the_mask_on_stores_the_result_scaled_by_2_to_the_minus_24576() {
    let big = ext(false, 10000, 0);
    let (cpu, r) = run_ext(
        &rre(MXBR, 0, 4),
        masks(ieee::OVERFLOW),
        &[(0, big), (4, big)],
    );
    assert_eq!(data_exception(r), 0x20);
    assert_eq!(pair(&cpu, 0), ext(false, 20000 - 24576, 0));
    // Mask off: infinity, overflow and inexact.
    let (cpu, _) = run_ext(&rre(MXBR, 0, 4), 0, &[(0, big), (4, big)]);
    assert_eq!(pair(&cpu, 0), ext(false, 16384, 0), "+infinity");
    assert_eq!(cpu.fpc, flags(ieee::OVERFLOW | ieee::INEXACT));
}

#[test]
fn extended_underflow_with_the_mask_on_stores_the_result_scaled_by_2_to_the_24576() {
    // 2**-16382 / 3: tiny and inexact; scaled 2**8194 / 3, rounded to
    // nearest down (1/3 = 0.0101..., the bit after the last 0): DXC 18.
    let tiny = ext(false, -16382, 0);
    let (cpu, r) = run_ext(
        &rre(DXBR, 0, 4),
        masks(ieee::UNDERFLOW),
        &[(0, tiny), (4, ext_of(3.0))],
    );
    assert_eq!(data_exception(r), 0x18);
    let third = (u128::MAX / 3) >> 16; // 0x5555...: 112 fraction bits of 4/3 - 1
    assert_eq!(pair(&cpu, 0), ext(false, -16382 + 24576 - 2, third));
}

#[test]
fn extended_square_root_of_two_is_correctly_rounded_and_of_nine_exact() {
    let (cpu, _) = run_ext(&rre(SQXBR, 0, 4), 0, &[(4, ext_of(2.0))]);
    assert_eq!(pair(&cpu, 0), 0x3FFF_6A09_E667_F3BC_C908_B2FB_1366_EA95);
    assert_eq!(cpu.fpc, flags(ieee::INEXACT));
    let (cpu, _) = run_ext(&rre(SQXBR, 0, 4), 0, &[(4, ext_of(9.0))]);
    assert_eq!((pair(&cpu, 0), cpu.fpc), (ext_of(3.0), 0));
}

#[test]
fn multiply_to_a_longer_format_multiplies_the_first_operand_of_the_second_operands_format() {
    // (1 + 2**-52)**2 = 1 + 2**-51 + 2**-104: exact in extended.
    let a = (1.0 + f64::EPSILON).to_bits();
    let (cpu, r) = run(&rre(MXDBR, 0, 4), 0, &[(0, a), (2, 0xFFFF), (4, a)]);
    r.unwrap();
    assert_eq!(pair(&cpu, 0), ext(false, 0, (1 << 61) | (1 << 8)));
    assert_eq!(cpu.fpc, 0, "exact");
    // MDEBR: short times short, the exact long product.
    let s = short(1.0 + f32::EPSILON);
    let (cpu, _) = run(&rre(MDEBR, 1, 3), 0, &[(1, s | 0xDEAD), (3, s)]);
    let want = f64::from(1.0 + f32::EPSILON) * f64::from(1.0 + f32::EPSILON);
    assert_eq!(f64::from_bits(cpu.fpr(1)), want);
}

#[test]
fn load_rounded_from_extended_stores_the_left_register_of_the_pair_r1() {
    let x = ext(false, 0, 1); // 1 + 2**-112 rounds to 1.0 (long)
    let (cpu, r) = run_ext(&rre(LDXBR, 1, 4), 0, &[(4, x)]);
    r.unwrap();
    assert_eq!(f64::from_bits(cpu.fpr(1)), 1.0);
    assert_eq!(cpu.fpr(3), 0, "the right register is unchanged");
    assert_eq!(cpu.fpc, flags(ieee::INEXACT));
    // Lengthening is exact and keeps a NaN's fraction left-aligned,
    // quieting a signaling one (an invalid operation).
    let snan = 0x7FF4_0000_0000_0001;
    let (cpu, _) = run(&rre(LXDBR, 4, 0), 0, &[(0, snan)]);
    assert_eq!(pair(&cpu, 4), 0x7FFF_C000_0000_0000_1000_0000_0000_0000);
    assert_eq!(cpu.fpc, flags(ieee::INVALID));
}

#[test]
fn extended_conversions_to_and_from_fixed_round_as_m3_says() {
    let two_and_a_half = ext_of(2.5);
    let (cpu, _) = run_ext(&rrf(CFXBR, 1, 4, 4), 0, &[(4, two_and_a_half)]);
    assert_eq!((cpu.gpr[1] as u32, cpu.psw.cc()), (2, 2), "ties to even");
    let (cpu, _) = run_ext(&rrf(CFXBR, 1, 1, 4), 0, &[(4, two_and_a_half)]);
    assert_eq!(cpu.gpr[1] as u32, 3, "ties away from zero");
    let (mut cpu, mut mem) = machine(&rre(CXGBR, 8, 2));
    cpu.gpr[2] = i64::MIN as u64;
    cpu.step(&mut mem).unwrap();
    assert_eq!(
        pair(&cpu, 8),
        ext(true, 63, 0),
        "every 64-bit integer is exact"
    );
    let (cpu, _) = run_ext(&rrf(FIXBR, 0, 7, 4), 0, &[(4, ext_of(-2.5))]);
    assert_eq!(pair(&cpu, 0), ext_of(-3.0), "toward -infinity");
}

#[test]
fn load_and_load_zero_extended_move_both_registers_of_the_pair() {
    let x = 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210;
    let (cpu, r) = run_ext(&rre(LXR, 9, 12), 0, &[(12, x)]);
    r.unwrap();
    assert_eq!(pair(&cpu, 9), x);
    let (cpu, _) = run_ext(&rre(LZXR, 13, 0), 0, &[(13, x)]);
    assert_eq!(pair(&cpu, 13), 0);
}

#[test]
fn test_data_class_extended_selects_the_operands_class_and_sign() {
    // -infinity is bit 59 of the mask (position 7 of bits 52-63).
    let minus_inf = ext(true, 16384, 0);
    let (cpu, _) = run_ext(&rxe(TCXB, 1, 0x010, 0), 0, &[(1, minus_inf)]);
    assert_eq!(cpu.psw.cc(), 1);
    let (cpu, _) = run_ext(&rxe(TCXB, 1, 0x020, 0), 0, &[(1, minus_inf)]);
    assert_eq!(cpu.psw.cc(), 0, "+infinity not");
}

#[test]
fn extended_tininess_is_detected_before_rounding_as_for_the_other_formats() {
    // (1 - 2**-57) * 2**-8191 times (1 + 2**-57) * 2**-8191 is exactly
    // 2**-16382 * (1 - 2**-114), below the smallest normal number; it
    // rounds to it. Tiny before rounding: underflow and inexact (QEMU's
    // rule, as for long: docs/CHOICES.md 41a).
    let a = ext(false, -8192, (1 << 112) - (1 << 56));
    let b = ext(false, -8191, 1 << 55);
    let (cpu, _) = run_ext(&rre(MXBR, 0, 4), 0, &[(0, a), (4, b)]);
    assert_eq!(pair(&cpu, 0), ext(false, -16382, 0));
    assert_eq!(cpu.fpc, flags(ieee::UNDERFLOW | ieee::INEXACT));
}
