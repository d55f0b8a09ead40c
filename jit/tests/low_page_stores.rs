//! The jit's form of docs/CHOICES.md §64b: a store into the two low pages
//! (Linux's lowcore save areas), whose write permission the TLB never
//! holds under low-address protection, goes ahead from translated code
//! after the fill's translation (no interpreter step) where it touches
//! neither the protected bytes nor translated code; a store into the
//! protected bytes is the interpreter's protection exception, one into a
//! block's code drops it. Each run is checked against the interpreter:
//! registers, PSW, storage and the interruption.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_jit::{Jit, Stats};
use zmmu_mmu::control::Cr0;
use zmmu_mmu::prelude::*;

mod common;
use common::CODE;

/// r1 at the start of every run.
const R1: u64 = 0x1122_3344_5566_7788;

/// Storage size: 64 KiB.
const SIZE: usize = 0x10000;

/// Runs `code` at `at` (DAT off, 64-bit, low-address protection on,
/// r1 = [`R1`]) on the jit and on the interpreter up to the first
/// interruption; checks that both end alike and gives the jit's
/// interruption and statistics.
fn run(at: u64, code: &[u8], set: impl Fn(&mut Cpu)) -> (Result<(), Interruption>, Stats) {
    let machine = || {
        let (cpu, mut bus) = common::machine(SIZE, &[], &[], |cpu| {
            cpu.cr[0] |= Cr0::LOW_ADDRESS_PROTECTION.bits();
            cpu.gpr[1] = R1;
            cpu.psw.addr = at;
            set(cpu);
        });
        bus.storage.write(AbsoluteAddress::new(at), code).unwrap();
        (cpu, bus)
    };
    let jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let ran = common::run_against_interpreter(jit, 50, SIZE, machine);
    (ran.result, ran.stats)
}

/// The STGs that went to the helper.
fn helped(stats: &Stats) -> u64 {
    stats
        .slow()
        .iter()
        .chain(stats.fallbacks().iter())
        .filter(|&&(m, _)| m == "STG")
        .map(|&(_, n)| n)
        .sum()
}

/// `stg %r1,d(%r0)` (DL the low 12 bits of `d`, DH the rest).
fn stg(d: u16) -> [u8; 6] {
    [
        0xe3,
        0x10,
        (d >> 8 & 0xf) as u8,
        d as u8,
        (d >> 12) as u8,
        0x24,
    ]
}

#[test]
fn stores_above_the_protected_bytes_of_the_low_pages_are_native() {
    // stg %r1,0x200; stg %r1,0x1ff8; stg %r1,0x1200 (page 1 above its
    // protected bytes); (0).
    let code = [&stg(0x200)[..], &stg(0x1ff8), &stg(0x1200), &[0, 0]].concat();
    let (result, stats) = run(CODE, &code, |_| {});
    assert!(matches!(result, Err(Interruption::Program { .. })));
    assert_eq!(helped(&stats), 0, "{:?}", stats.slow());
}

#[test]
fn a_store_into_the_protected_bytes_is_the_interpreters_protection_exception() {
    for d in [0x1f8u16, 0x1000, 0x11f8] {
        let code = [&stg(d)[..], &[0, 0]].concat();
        let (result, stats) = run(CODE, &code, |_| {});
        let Err(Interruption::Program { exception, ilc: 3 }) = result else {
            panic!("{result:?} for {d:#x}");
        };
        assert_eq!(exception.code, Code::PROTECTION, "{d:#x}");
        assert_eq!(helped(&stats), 1);
    }
    // Without low-address protection the same store goes ahead.
    let code = [&stg(0x1f8)[..], &[0, 0]].concat();
    let (result, _) = run(CODE, &code, |cpu| {
        cpu.cr[0] &= !Cr0::LOW_ADDRESS_PROTECTION.bits();
    });
    assert!(matches!(
        result,
        Err(Interruption::Program { exception, .. }) if exception.code == Code::OPERATION
    ));
}

#[test]
fn a_store_into_code_in_a_low_page_drops_it() {
    // At 0x1800 (a low page, above its protected bytes): stg %r1,0x1808;
    // lghi %r2,1; lghi %r3,3; lghi %r4,4; (0). The STG rewrites the
    // block's own code from 0x1808: lghi %r2,5; lghi %r3,7, which run.
    let code = [
        &stg(0x1808)[..],
        &[0xa7, 0x29, 0x00, 0x01],
        &[0xa7, 0x39, 0x00, 0x03],
        &[0xa7, 0x49, 0x00, 0x04],
        &[0, 0],
    ]
    .concat();
    let (result, _) = run(0x1800, &code, |cpu| cpu.gpr[1] = 0x0005_a739_0007_a749);
    assert!(matches!(result, Err(Interruption::Program { .. })));
}
