//! STORE THEN OR SYSTEM MASK that enables I/O and external interruptions
//! runs in translated code (Linux's `local_irq_enable`, half a million
//! times in a boot), and still ends the run right after it, so that the
//! machine takes an interruption that was pending while they were
//! disabled before the next instruction (PoP STORE THEN OR SYSTEM MASK;
//! the `Engine` contract of `zmmu_machine::engine`).

mod common;

use common::disabled_wait_at;
use zmmu_cpu::interrupt::lowcore::{EXT_NEW_PSW, EXT_OLD_PSW};
use zmmu_jit::Jit;
use zmmu_machine::interrupt::CR0_SERVICE_SIGNAL;
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::prelude::*;

/// The 64-bit mode, DAT off, interruptions disabled.
const DISABLED: u64 = 0x0000_0001_8000_0000;

fn machine(code: &[u8]) -> Machine {
    let mut m = Machine::new(1 << 20);
    m.load(0x20000, code).unwrap();
    disabled_wait_at(&mut m, EXT_NEW_PSW, 0x88);
    disabled_wait_at(&mut m, 0x300, 0x77);
    m.start(0x20000);
    m
}

#[test]
fn a_pending_interruption_is_taken_right_after_the_stosm_that_enables_it() {
    let code: &[u8] = &[
        0xA7, 0x58, 0x00, 0x10, // lhi %r5,16
        0xAD, 0x03, 0x04, 0x00, // stosm 0x400,0x03
        0xA7, 0x5A, 0x00, 0x01, // ahi %r5,1
        0xA7, 0xF4, 0xFF, 0xFE, // j .-4
    ];
    let mut m = machine(code);
    // A service signal is pending and its subclass on: taken once the
    // external mask is one.
    m.cpu.cr[0] |= CR0_SERVICE_SIGNAL;
    m.services.signal_service(0x1234);
    m.cpu.psw.mask = DISABLED;
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let out = m.run_with(Some(10_000), &mut (), &mut jit);
    assert!(
        matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x88),
        "{:?}",
        out.stop
    );
    let at = |a: u64| m.bus.storage.read_u64(AbsoluteAddress::new(a)).unwrap();
    assert_eq!(at(EXT_OLD_PSW + 8), 0x20008, "the old PSW: after the STOSM");
    assert_eq!(m.cpu.gpr[5], 16, "nothing after it ran");
    assert_eq!(at(0x400) >> 56, 0, "the mask before: disabled");
    assert_eq!(jit.stats().slow_paths, 0, "the STOSM ran natively");
}

#[test]
fn a_loop_that_disables_and_enables_runs_without_the_interpreter() {
    let code: &[u8] = &[
        0xA7, 0x58, 0x03, 0xE8, // lhi %r5,1000
        0xAC, 0xFC, 0x04, 0x00, // stnsm 0x400,0xfc
        0xAD, 0x03, 0x04, 0x00, // stosm 0x400,0x03
        0xA7, 0x56, 0xFF, 0xFC, // brct %r5,stnsm
        0xB2, 0xB2, 0x03, 0x00, // lpswe 0x300
    ];
    let mut m = machine(code);
    m.cpu.psw.mask = DISABLED | zmmu_cpu::state::mask::IO | zmmu_cpu::state::mask::EXT;
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let out = m.run_with(Some(100_000), &mut (), &mut jit);
    assert!(
        matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x77),
        "{:?}",
        out.stop
    );
    assert_eq!(out.instructions, 1 + 3 * 1000 + 1);
    let stats = jit.stats();
    assert_eq!(stats.slow_paths, 0);
    assert_eq!(
        stats.fallbacks().len(),
        1,
        "LPSWE only: {:?}",
        stats.fallbacks()
    );
}
