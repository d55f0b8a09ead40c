//! A periodic tick under the kvm engine, as Linux keeps one: each clock-
//! comparator interruption's handler sets the comparator one period past
//! the one that came due (PoP "Clock Comparator"). The engine learns the
//! period and kicks the vCPU as the next tick comes due, so the handler's
//! SCKC completes in the VM, and so do the mask changes after it; no
//! interruption is taken before its comparator.

mod common;

use common::{host_time, in_vm, write_words, Quiet};
use zmmu_cpu::clock::{Clock, TOD_2026, TOD_PER_US};
use zmmu_machine::interrupt::CR0_CLOCK_COMPARATOR;
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Ticks the handler counts before it stops the machine.
const TICKS: u64 = 25;

/// The tick's period, Linux's (HZ=250).
const PERIOD: u64 = 4_000 * TOD_PER_US;

/// From 0x2000, DAT off: `stck 0x300`, `lg r1,0x300`, `ag r1,0x308` (the
/// period), `stg r1,0x310`, `sckc 0x310`, `lctlg c0,c0,0x318` (the
/// comparator's subclass), `stosm 0x320,0x01`; the loop `aghi r3,1`,
/// `j` back. The external-new PSW's handler at 0x202c: `aghi r4,1`,
/// `stckc 0x310`, `lg r1,0x310`, `stck 0x328`, `clg r1,0x328`, `jh`
/// early (the comparator still ahead of the clock); then, as Linux's
/// periodic timer forwards itself past the ticks it missed, `ag
/// r1,0x308`, `clg r1,0x328`, `jnh` back while not ahead of the clock;
/// `stg r1,0x310`, `sckc 0x310` (the next tick), `stosm 0x320,0x01` and
/// `stnsm 0x320,0xfe` (external interruptions on and off, as Linux's
/// handler may with the tick set), `cghi r4,25`, `je` done,
/// `lpswe 0x130` (back to the loop); early: `lpswe 0x340` (a disabled
/// wait at 0xeee); done: `lpswe 0x350` (a disabled wait at 0x999).
const PROGRAM: [u8; 126] = [
    0xb2, 0x05, 0x03, 0x00, 0xe3, 0x10, 0x03, 0x00, 0x00, 0x04, 0xe3, 0x10, 0x03, 0x08, 0x00, 0x08,
    0xe3, 0x10, 0x03, 0x10, 0x00, 0x24, 0xb2, 0x06, 0x03, 0x10, 0xeb, 0x00, 0x03, 0x18, 0x00, 0x2f,
    0xad, 0x01, 0x03, 0x20, 0xa7, 0x3b, 0x00, 0x01, 0xa7, 0xf4, 0xff, 0xfe, 0xa7, 0x4b, 0x00, 0x01,
    0xb2, 0x07, 0x03, 0x10, 0xe3, 0x10, 0x03, 0x10, 0x00, 0x04, 0xb2, 0x05, 0x03, 0x28, 0xe3, 0x10,
    0x03, 0x28, 0x00, 0x21, 0xa7, 0x24, 0x00, 0x19, 0xe3, 0x10, 0x03, 0x08, 0x00, 0x08, 0xe3, 0x10,
    0x03, 0x28, 0x00, 0x21, 0xa7, 0xd4, 0xff, 0xfa, 0xe3, 0x10, 0x03, 0x10, 0x00, 0x24, 0xb2, 0x06,
    0x03, 0x10, 0xad, 0x01, 0x03, 0x20, 0xac, 0xfe, 0x03, 0x20, 0xa7, 0x4f, 0x00, 0x19, 0xa7, 0x84,
    0x00, 0x06, 0xb2, 0xb2, 0x01, 0x30, 0xb2, 0xb2, 0x03, 0x40, 0xb2, 0xb2, 0x03, 0x50,
];

/// 64-bit addressing, external interruptions off.
const DISABLED: u64 = 0x0000_0001_8000_0000;
/// The same, in the wait state.
const WAIT: u64 = 0x0002_0001_8000_0000;

#[test]
fn a_periodic_ticks_sckc_completes_in_the_vm_and_no_tick_comes_early() {
    let Some(time) = host_time() else {
        return;
    };
    let mut machine = Machine::new(16 << 20);
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0x2000), &PROGRAM)
        .unwrap();
    write_words(
        &mut machine,
        &[
            (0x1b0, DISABLED),
            (0x1b8, 0x202c),
            (0x308, PERIOD),
            (0x318, CR0_CLOCK_COMPARATOR),
            (0x340, WAIT),
            (0x348, 0xeee),
            (0x350, WAIT),
            (0x358, 0x999),
        ],
    );
    machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    machine.start(0x2000);
    let Some(mut engine) = common::engine(&machine.bus.storage) else {
        return;
    };
    let outcome = machine.run_with(Some(2_000_000_000), &mut Quiet, &mut engine);
    assert!(engine.failure().is_none(), "{:?}", engine.failure());
    let Stop::DisabledWait { psw } = outcome.stop else {
        panic!("{:?}", outcome.stop);
    };
    assert_eq!(psw.addr, 0x999, "a tick taken before its comparator");
    assert_eq!(machine.cpu.gpr[4], TICKS);
    // The first handler's SCKC teaches the period; a host that stalls may
    // miss a prediction now and then.
    let completed = in_vm(&engine, "SCKC");
    assert!(
        completed >= TICKS / 2,
        "{completed} of {TICKS} SCKCs completed in the VM; {:?}",
        engine.report()
    );
    // With the tick set, nothing may become pending before the deadline:
    // the masks are the image's to change.
    let enabled = in_vm(&engine, "STOSM");
    assert!(
        enabled >= TICKS / 2,
        "{enabled} of {TICKS} STOSMs completed in the VM; {:?}",
        engine.report()
    );
}
