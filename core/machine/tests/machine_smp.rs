//! SIGNAL PROCESSOR orders as the addressed CPU carries them out, and the
//! end of a run of several CPUs (PoP ch. 4 "Signal-Processor Orders",
//! QEMU's `target/s390x/sigp.c`).

mod common;

use std::sync::Arc;

use common::{machine, psw, BITS64, EXT, WAIT};
use zmmu_cpu::clock::{Clock, TimeSource, VirtualTime, TOD_2026};
use zmmu_cpu::state::Psw;
use zmmu_machine::board::{CpuState, StopRequest};
use zmmu_machine::configuration::{Activity, Answer, Configuration, Member, Order, Park};
use zmmu_machine::secondary::Seed;
use zmmu_machine::sigp::{carry_out, order, status, Target};
use zmmu_machine::{Machine, Stop};

/// Parking that never blocks: these tests run no CPU threads.
struct NoPark;

impl Park for NoPark {
    fn park(&self, _index: usize, _longest_ns: u64) {}
    fn unpark(&self, _index: usize) {}
    fn relax(&self, _before: u32) {}
}

fn clock() -> Clock<Box<dyn TimeSource>> {
    Clock::new(Box::new(VirtualTime::default()), TOD_2026)
}

/// CPU 1 of a machine whose CPU 0 runs a disabled wait: stopped, as QEMU
/// starts it.
fn second_cpu() -> (Machine, Machine) {
    let first = machine(&[0x00, 0x00]);
    let second = Seed::of(&first).cpu(1, clock());
    (first, second)
}

fn order_from_0(code: u8, parameter: u64) -> Order {
    Order {
        code,
        parameter,
        from: 0,
    }
}

fn carry(m: &mut Machine, code: u8, parameter: u64) -> Answer {
    let mut target = Target {
        cpu: &mut m.cpu,
        services: &mut m.services,
        bus: &mut m.bus,
    };
    carry_out(&mut target, order_from_0(code, parameter))
}

#[test]
fn other_cpus_start_stopped_with_their_own_address() {
    let (_, cpu1) = second_cpu();
    assert_eq!(cpu1.services.state, CpuState::Stopped);
    assert_eq!(cpu1.cpu.cpu_addr, 1);
}

#[test]
fn sense_reports_a_stopped_cpu_and_a_pending_external_call() {
    let (_, mut cpu1) = second_cpu();
    assert_eq!(
        carry(&mut cpu1, order::SENSE, 0),
        Answer::Status(status::STOPPED)
    );
    assert_eq!(carry(&mut cpu1, order::START, 0), Answer::Accepted);
    assert_eq!(carry(&mut cpu1, order::SENSE, 0), Answer::Accepted);
    assert_eq!(carry(&mut cpu1, order::EXTERNAL_CALL, 0), Answer::Accepted);
    assert_eq!(
        carry(&mut cpu1, order::SENSE, 0),
        Answer::Status(status::EXTERNAL_CALL_PENDING)
    );
}

#[test]
fn a_second_external_call_is_refused_while_one_is_pending() {
    let (_, mut cpu1) = second_cpu();
    assert_eq!(carry(&mut cpu1, order::EXTERNAL_CALL, 0), Answer::Accepted);
    assert_eq!(
        carry(&mut cpu1, order::EXTERNAL_CALL, 0),
        Answer::Status(status::EXTERNAL_CALL_PENDING)
    );
    assert_eq!(cpu1.services.signals.external.take_external_call(), Some(0));
}

#[test]
fn emergency_signals_are_pending_once_per_sending_cpu() {
    let (_, mut cpu1) = second_cpu();
    carry(&mut cpu1, order::EMERGENCY_SIGNAL, 0);
    carry(&mut cpu1, order::EMERGENCY_SIGNAL, 0);
    assert_eq!(cpu1.services.signals.external.emergencies(), 1);
}

#[test]
fn only_a_stopped_cpu_takes_a_new_prefix() {
    let (_, mut cpu1) = second_cpu();
    assert_eq!(
        carry(&mut cpu1, order::SET_PREFIX, 0x8000),
        Answer::Accepted
    );
    assert_eq!(cpu1.cpu.prefix.value(), 0x8000);
    carry(&mut cpu1, order::START, 0);
    assert_eq!(
        carry(&mut cpu1, order::SET_PREFIX, 0x4000),
        Answer::Status(status::INCORRECT_STATE)
    );
    assert_eq!(cpu1.cpu.prefix.value(), 0x8000);
}

#[test]
fn a_prefix_area_outside_storage_is_an_invalid_parameter() {
    let (_, mut cpu1) = second_cpu();
    assert_eq!(
        carry(&mut cpu1, order::SET_PREFIX, 1 << 20),
        Answer::Status(status::INVALID_PARAMETER)
    );
}

#[test]
fn store_status_at_address_needs_a_stopped_cpu() {
    let (_, mut cpu1) = second_cpu();
    cpu1.cpu.gpr[5] = 0x1234;
    assert_eq!(
        carry(&mut cpu1, order::STORE_STATUS_AT_ADDRESS, 0x3000),
        Answer::Accepted
    );
    assert_eq!(common::u64_at(&cpu1, 0x3000 + 0x80 + 5 * 8), 0x1234);
    carry(&mut cpu1, order::START, 0);
    assert_eq!(
        carry(&mut cpu1, order::STORE_STATUS_AT_ADDRESS, 0x3000),
        Answer::Status(status::INCORRECT_STATE)
    );
}

#[test]
fn restarting_a_stopped_cpu_loads_its_restart_new_psw() {
    let (_, mut cpu1) = second_cpu();
    cpu1.load(0x1a0, &psw(BITS64, 0x4242)).unwrap();
    assert_eq!(carry(&mut cpu1, order::RESTART, 0), Answer::Accepted);
    assert_eq!(cpu1.services.state, CpuState::Operating);
    assert_eq!(
        cpu1.cpu.psw,
        Psw {
            mask: BITS64,
            addr: 0x4242
        }
    );
}

#[test]
fn a_running_cpu_stops_after_its_instruction_and_is_busy_until_then() {
    let (_, mut cpu1) = second_cpu();
    carry(&mut cpu1, order::START, 0);
    assert_eq!(carry(&mut cpu1, order::STOP, 0), Answer::Accepted);
    assert_eq!(cpu1.services.stop, Some(StopRequest::Stop));
    assert_eq!(carry(&mut cpu1, order::SENSE, 0), Answer::Busy);
    // The resets break a pending stop.
    assert_eq!(carry(&mut cpu1, order::CPU_RESET, 0), Answer::Accepted);
    assert_eq!(cpu1.services.stop, Some(StopRequest::CpuReset));
}

#[test]
fn a_waiting_cpu_stops_at_once_and_does_not_run() {
    let (_, mut cpu1) = second_cpu();
    carry(&mut cpu1, order::START, 0);
    cpu1.cpu.psw = Psw {
        mask: BITS64 | EXT | WAIT,
        addr: 0x100,
    };
    assert_eq!(
        carry(&mut cpu1, order::SENSE_RUNNING_STATUS, 0),
        Answer::Status(status::NOT_RUNNING)
    );
    assert_eq!(carry(&mut cpu1, order::STOP, 0), Answer::Accepted);
    assert_eq!(cpu1.services.state, CpuState::Stopped);
}

fn configuration(cpus: usize) -> Vec<Member> {
    let addresses: Vec<u16> = (0..cpus as u16).collect();
    let configuration = Configuration::new(&addresses, 8, Default::default(), Box::new(NoPark));
    (0..cpus)
        .map(|index| Member {
            configuration: Arc::clone(&configuration),
            index,
        })
        .collect()
}

#[test]
fn an_order_to_a_missing_cpu_is_not_operational() {
    let cpus = configuration(2);
    let order = order_from_0(order::SENSE, 0);
    assert_eq!(cpus[0].signal(5, order, |_| None), Answer::NotOperational);
}

#[test]
fn the_run_ends_when_the_last_running_cpu_stops() {
    let cpus = configuration(2);
    let psw = Psw::default();
    // CPU 1 starts stopped: CPU 0's disabled wait leaves none running.
    let end = cpus[0].settle(Activity::DisabledWait, || Stop::DisabledWait { psw });
    assert_eq!(end, Some(Stop::DisabledWait { psw }));
    assert!(cpus[0].configuration.ended());
}

#[test]
fn a_cpu_running_keeps_the_run_going() {
    let cpus = configuration(2);
    let psw = Psw::default();
    assert_eq!(
        cpus[1].settle(Activity::Running, || Stop::Stopped { psw }),
        None
    );
    assert_eq!(
        cpus[0].settle(Activity::Stopped, || Stop::Stopped { psw }),
        None
    );
    assert!(!cpus[0].configuration.ended());
    let end = cpus[1].settle(Activity::Stopped, || Stop::Stopped { psw });
    assert_eq!(end, Some(Stop::Stopped { psw }));
}

#[test]
fn cpus_that_only_wait_for_each_other_wait_forever() {
    let cpus = configuration(2);
    let psw = Psw::default();
    assert_eq!(
        cpus[1].settle(Activity::WaitingForOthers, || Stop::Stopped { psw }),
        None
    );
    let end = cpus[0].settle(Activity::Stopped, || Stop::Stopped { psw });
    assert_eq!(end, Some(Stop::EnabledWaitForever { psw }));
}
