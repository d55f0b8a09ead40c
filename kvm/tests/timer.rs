//! Timer interruptions under the kvm engine, which runs translated code
//! without looking at the clock: a CPU-timer interruption ends a loop
//! that never leaves the VM (PoP "CPU Timer": pending while the timer is
//! negative, taken once enabled), with virtual time (the batch ends at the
//! deadline in instructions) and with the host's clock (the vCPU is
//! kicked at the deadline), and every instruction is counted.

mod common;

use common::{host_time, write_words, Quiet};
use zmmu_cpu::clock::{Clock, TOD_2026, TOD_PER_US};
use zmmu_machine::interrupt::{CR0_CLOCK_COMPARATOR, CR0_CPU_TIMER};
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// spt 0x100 ; lctlg c0,c0,0x108 ; stosm 0x110,0x01 (external
/// interruptions on) ; X: aghi r3,1 ; j X
const PROGRAM: [u8; 22] = [
    0xb2, 0x08, 0x01, 0x00, 0xeb, 0x00, 0x01, 0x08, 0x00, 0x2f, 0xad, 0x01, 0x01, 0x10, 0xa7, 0x3b,
    0x00, 0x01, 0xa7, 0xf4, 0xff, 0xfe,
];

/// Instructions before the loop.
const PROLOGUE: u64 = 3;

/// External-new PSW: a disabled wait at this address.
const WAIT_AT: u64 = 0x999;

/// The machine with a CPU timer of `ms` milliseconds.
fn machine(ms: u64) -> Machine {
    let mut machine = Machine::new(16 << 20);
    let storage = &mut machine.bus.storage;
    storage
        .write(AbsoluteAddress::new(0x2000), &PROGRAM)
        .unwrap();
    let words = [
        (0x100, ms * 1000 * TOD_PER_US),
        (0x108, CR0_CPU_TIMER),
        (0x1b0, 0x0002_0001_8000_0000),
        (0x1b8, WAIT_AT),
    ];
    write_words(&mut machine, &words);
    machine.start(0x2000);
    machine
}

/// Runs `machine` on the kvm engine; checks that the external
/// interruption `code` ended the loop after `prologue` and that the
/// instructions counted are the ones the loop counter says ran.
fn timer_ends_the_loop(mut machine: Machine, prologue: u64, code: u16) -> Option<u64> {
    let mut engine = common::engine(&machine.bus.storage)?;
    let outcome = machine.run_with(Some(50_000_000), &mut Quiet, &mut engine);
    assert!(engine.failure().is_none(), "{:?}", engine.failure());
    let Stop::DisabledWait { psw } = outcome.stop else {
        panic!("{:?}", outcome.stop);
    };
    assert_eq!(psw.addr, WAIT_AT);
    let mut taken = [0u8; 2];
    machine
        .bus
        .storage
        .read(AbsoluteAddress::new(0x86), &mut taken)
        .unwrap();
    assert_eq!(
        u16::from_be_bytes(taken),
        code,
        "external interruption code"
    );
    // k passes of the loop: AGHI k times, J k or k - 1 times.
    let k = machine.cpu.gpr[3];
    assert!(
        [prologue + 2 * k - 1, prologue + 2 * k].contains(&outcome.instructions),
        "{} instructions counted, {k} passes of the loop; {:?}",
        outcome.instructions,
        engine.host().stats(),
    );
    eprintln!("{:?}", engine.report());
    Some(k)
}

/// The loop ran `k` times, in the VM.
fn ran_long(k: Option<u64>) {
    assert!(k.is_none_or(|k| k > 1000), "the loop ran {k:?} times");
}

#[test]
fn a_cpu_timer_interruption_ends_a_loop_in_the_vm_in_virtual_time() {
    ran_long(timer_ends_the_loop(machine(1), PROLOGUE, 0x1005));
}

#[test]
fn a_cpu_timer_interruption_ends_a_loop_in_the_vm_in_host_time() {
    let Some(time) = host_time() else {
        return;
    };
    let mut machine = machine(20);
    machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    ran_long(timer_ends_the_loop(machine, PROLOGUE, 0x1005));
}

/// sckc 0x118 (never) ; lctlg c0,c0,0x108 ; stosm 0x110,0x01 (external
/// interruptions on: none pending, the chain goes on) ; stck 0x120 ; lg
/// r1,0x120 ; agfi r1,5 ms ; stg r1,0x100 ; sckc 0x100 (the batch's
/// deadline, 10 ms at most, comes forward) ; X: aghi r3,1 ; j X
const COMPARATOR: [u8; 48] = [
    0xb2, 0x06, 0x01, 0x18, 0xeb, 0x00, 0x01, 0x08, 0x00, 0x2f, 0xad, 0x01, 0x01, 0x10, 0xb2, 0x05,
    0x01, 0x20, 0xe3, 0x10, 0x01, 0x20, 0x00, 0x04, 0xc2, 0x18, 0x01, 0x38, 0x80, 0x00, 0xe3, 0x10,
    0x01, 0x00, 0x00, 0x24, 0xb2, 0x06, 0x01, 0x00, 0xa7, 0x3b, 0x00, 0x01, 0xa7, 0xf4, 0xff, 0xfe,
];

/// A clock comparator set sooner than the batch's deadline, in a chain
/// that an enabling STOSM did not end, still ends the loop with its
/// interruption (PoP "Clock Comparator": pending once the TOD clock is
/// past it), every instruction counted.
#[test]
fn a_clock_comparator_set_in_the_chain_ends_a_loop_in_the_vm_in_host_time() {
    let Some(time) = host_time() else {
        return;
    };
    let mut machine = machine(0);
    let storage = &mut machine.bus.storage;
    storage
        .write(AbsoluteAddress::new(0x2000), &COMPARATOR)
        .unwrap();
    write_words(
        &mut machine,
        &[(0x108, CR0_CLOCK_COMPARATOR), (0x118, u64::MAX)],
    );
    machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    // The loop may not run if the host stalls 5 ms between STCK and SCKC.
    let _ = timer_ends_the_loop(machine, 8, 0x1004);
}

#[test]
fn the_instruction_limit_holds_while_the_vcpu_is_kicked_at_every_deadline() {
    // The CPU timer far away: the loop runs until the limit, the vCPU
    // kicked every 10 ms for the host's look (console input) meanwhile;
    // a kick between a block's budget check and its subtraction must not
    // let the chain run past its budget.
    let Some(time) = host_time() else {
        return;
    };
    let mut machine = machine(60_000);
    machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    let Some(mut engine) = common::engine(&machine.bus.storage) else {
        return;
    };
    let limit = 400_000_000;
    let outcome = machine.run_with(Some(limit), &mut Quiet, &mut engine);
    assert!(engine.failure().is_none(), "{:?}", engine.failure());
    assert_eq!(outcome.stop, Stop::LimitReached);
    assert_eq!(outcome.instructions, limit);
    let k = machine.cpu.gpr[3];
    assert!(
        [PROLOGUE + 2 * k - 1, PROLOGUE + 2 * k].contains(&limit),
        "{k} passes of the loop in {limit} instructions; {:?}",
        engine.report(),
    );
}
