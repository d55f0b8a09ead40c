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

/// How many interruptions an interrupted loop takes before it stops: a
/// deadline that passes while the host has the thread off its CPU, between
/// two batches, is the machine's to take (on a loaded host most of them
/// may be; ten were all so once), so the jit's own deadline ends are
/// counted over many.
const INTERRUPTIONS: u8 = 60;

/// Where the external new PSW of an interrupted loop points.
const HANDLER: u64 = 0x21000;

/// The next comparator value (or the CPU timer's value) the handler sets.
const REARM: u64 = 0x400;

/// The disabled wait (at 0x55) the handler loads after the last
/// interruption.
const DONE: u64 = 0x410;

/// The external interruption handler: counts the interruption in R2 and,
/// before the [`INTERRUPTIONS`]th, sets `timer` again one millisecond on
/// and returns to the loop (LPSWE of the external old PSW); the last
/// loads the disabled wait at [`DONE`].
fn handler(timer: Timer) -> Vec<u8> {
    let rearm: &[u8] = match timer {
        Timer::Comparator(_) => &[
            0xE3, 0x30, 0x04, 0x00, 0x00, 0x04, // lg %r3,0x400
            0xC2, 0x38, 0x00, 0x3E, 0x80, 0x00, // agfi %r3,4096000 (1 ms)
            0xE3, 0x30, 0x04, 0x00, 0x00, 0x24, // stg %r3,0x400
            0xB2, 0x06, 0x04, 0x00, // sckc 0x400
        ],
        Timer::CpuTimer(_) => &[0xB2, 0x08, 0x04, 0x00], // spt 0x400
    };
    let to_done = u16::try_from((4 + rearm.len() + 4) / 2).unwrap();
    [
        &[0xA7, 0x2B, 0x00, 0x01][..],      // aghi %r2,1
        &[0xA7, 0x2F, 0x00, INTERRUPTIONS], // cghi %r2,INTERRUPTIONS
        &[0xA7, 0x84],                      // je done
        &to_done.to_be_bytes(),
        rearm,
        &[0xB2, 0xB2, 0x01, 0x30], // lpswe EXT_OLD_PSW
        &[0xB2, 0xB2, 0x04, 0x10], // done: lpswe DONE
    ]
    .concat()
}

/// Runs `LOOP` with `timer` on the jit (`jit`) or the interpreter until
/// the last interruption's disabled wait; gives the interruption code
/// stored and the old PSW's address at the last, the interruptions taken
/// (R2), and the batches the jit ended at the clock's deadline.
fn interrupted(timer: Timer, jit: bool) -> (u16, u64, u64, u64) {
    let mut m = machine(LOOP, timer);
    m.load(HANDLER, &handler(timer)).unwrap();
    let psw = [
        0x0000_0001_8000_0000u64.to_be_bytes(),
        HANDLER.to_be_bytes(),
    ]
    .concat();
    m.load(lowcore::EXT_NEW_PSW, &psw).unwrap();
    disabled_wait_at(&mut m, DONE, 0x55);
    let rearm = match timer {
        Timer::Comparator(_) => m.cpu.clock_comparator,
        Timer::CpuTimer(_) => MS,
    };
    m.load(REARM, &rearm.to_be_bytes()).unwrap();
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
    (u16::from_be_bytes(code), old, m.cpu.gpr[2], deadline_ends)
}

/// Both engines take every interruption of `timer` in the loop, with the
/// same code and old PSW; the jit ends some of its batches at the clock's
/// deadline itself (a deadline may also pass between two batches, where
/// the machine takes the interruption: not at all of them).
fn interrupts_a_translated_loop_as_the_interpreter(timer: Timer, code: u16) {
    let (jit_code, old, taken, deadline_ends) = interrupted(timer, true);
    let (interpreted, interpreted_old, interpreted_taken, _) = interrupted(timer, false);
    assert_eq!(
        (jit_code, old, taken),
        (interpreted, interpreted_old, interpreted_taken)
    );
    assert_eq!(
        (jit_code, old, taken),
        (code, 0x20000, u64::from(INTERRUPTIONS))
    );
    assert!(
        deadline_ends >= 1,
        "the jit never ended a batch at the deadline"
    );
}

#[test]
fn the_clock_comparator_interrupts_a_translated_loop_as_the_interpreter() {
    interrupts_a_translated_loop_as_the_interpreter(Timer::Comparator(MS), 0x1004);
}

#[test]
fn the_cpu_timer_interrupts_a_translated_loop_as_the_interpreter() {
    interrupts_a_translated_loop_as_the_interpreter(Timer::CpuTimer(MS), 0x1005);
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
