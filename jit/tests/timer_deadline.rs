//! The jit ends its batches itself when a timer interruption comes due in
//! host time (docs/CHOICES.md 61): the machine gives it batches up to
//! 65,536 instructions however the timers stand, and an enabled clock
//! comparator or CPU timer still interrupts a loop that never leaves
//! translated code (PoP "Clock Comparator", "CPU Timer": the interruption
//! becomes pending when the condition is met and is taken once enabled),
//! as it does under the interpreter.

mod common;

use std::time::Instant;

use common::{disabled_wait_at, run_million_loop, MILLION_LOOP};

use zmmu_cpu::clock::{Clock, TimeSource, TOD_2026};
use zmmu_cpu::interrupt::lowcore;
use zmmu_cpu::state::mask;
use zmmu_jit::Jit;
use zmmu_machine::interrupt::{CR0_CLOCK_COMPARATOR, CR0_CPU_TIMER};
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::prelude::*;

/// One millisecond in TOD units (bit 51 is a microsecond).
const MS: u64 = 4096 * 1000;

/// The host's monotonic clock, as `zmmu run` keeps it for the jit.
#[derive(Debug)]
struct Host(Instant);

impl TimeSource for Host {
    fn now_ns(&mut self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn wait_until_ns(&mut self, deadline: u64) {
        let now = self.now_ns();
        std::thread::sleep(std::time::Duration::from_nanos(
            deadline.saturating_sub(now),
        ));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The clock comparator, this far ahead of the clock.
    Comparator(u64),
    /// The CPU timer, with this value.
    CpuTimer(u64),
}

/// A machine in host time at `code` (at 0x20000), the external new PSW a
/// disabled wait at 0x55, `timer` enabled with the external mask.
fn machine(code: &[u8], timer: Timer) -> Machine {
    let mut m = Machine::new(1 << 20);
    m.services.clock = Clock::new(Box::new(Host(Instant::now())), TOD_2026);
    m.load(0x20000, code).unwrap();
    disabled_wait_at(&mut m, lowcore::EXT_NEW_PSW, 0x55);
    m.start(0x20000);
    m.cpu.psw.mask |= mask::EXT;
    match timer {
        Timer::Comparator(ahead) => {
            m.cpu.cr[0] |= CR0_CLOCK_COMPARATOR;
            m.cpu.clock_comparator = m.services.clock.tod().saturating_add(ahead);
        }
        Timer::CpuTimer(value) => {
            m.cpu.cr[0] |= CR0_CPU_TIMER;
            m.cpu.cpu_timer_zero = m.services.clock.monotonic() + value;
        }
    }
    m
}

/// `j .` forever.
const LOOP: &[u8] = &[0xA7, 0xF4, 0x00, 0x00];

/// Runs `LOOP` with `timer` on the jit (`jit`) or the interpreter until
/// the interruption's disabled wait; gives the interruption code stored
/// and the old PSW's address, and the batches the jit ended at the
/// clock's deadline.
fn interrupted(timer: Timer, jit: bool) -> (u16, u64, u64) {
    let mut m = machine(LOOP, timer);
    // Far more than the loop runs in a second on either engine: a timer
    // that is never taken ends the run at the limit.
    let limit = Some(if jit { 1 << 36 } else { 1 << 32 });
    let (out, deadline_ends) = if jit {
        let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
        let out = m.run_with(limit, &mut (), &mut jit);
        (out, jit.stats().deadline_ends)
    } else {
        (m.run(limit, &mut ()), 0)
    };
    assert!(
        matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x55),
        "{:?} after {} instructions",
        out.stop,
        out.instructions
    );
    let mut code = [0u8; 2];
    let at = AbsoluteAddress::new;
    m.bus
        .storage
        .read(at(lowcore::EXT_CODE), &mut code)
        .unwrap();
    let old = m
        .bus
        .storage
        .read_u64(at(lowcore::EXT_OLD_PSW + 8))
        .unwrap();
    (u16::from_be_bytes(code), old, deadline_ends)
}

#[test]
fn the_clock_comparator_interrupts_a_translated_loop_as_the_interpreter() {
    let timer = Timer::Comparator(MS);
    let (code, old, deadline_ends) = interrupted(timer, true);
    let (interpreted, interpreted_old, _) = interrupted(timer, false);
    assert_eq!((code, old), (interpreted, interpreted_old));
    assert_eq!((code, old), (0x1004, 0x20000));
    assert!(deadline_ends >= 1, "the machine polled the timer");
}

#[test]
fn the_cpu_timer_interrupts_a_translated_loop_as_the_interpreter() {
    let timer = Timer::CpuTimer(MS);
    let (code, old, deadline_ends) = interrupted(timer, true);
    let (interpreted, interpreted_old, _) = interrupted(timer, false);
    assert_eq!((code, old), (interpreted, interpreted_old));
    assert_eq!((code, old), (0x1005, 0x20000));
    assert!(deadline_ends >= 1, "the machine polled the timer");
}

#[test]
fn with_a_timer_enabled_in_host_time_a_batch_runs_65536_instructions() {
    // MILLION_LOOP: 1,000,002 instructions, the clock comparator an hour
    // away.
    let mut m = machine(MILLION_LOOP, Timer::Comparator(3600 * 1000 * MS));
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    run_million_loop(&mut m, &mut jit);
    // 16 batches of 65,536 and the rest (the machine's poll would make
    // 245 of 4,096).
    let batches = jit.stats().batches;
    assert!(batches <= 17, "{batches} batches");
    assert_eq!(jit.stats().deadline_ends, 0);
}
