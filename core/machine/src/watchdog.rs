//! The diag288 watchdog (`--device diag288`), as QEMU's `diag288` device
//! behaves: DIAGNOSE X'288' starts it (function 0, init), restarts it with
//! a new interval (1, change) or stops it (2, cancel); the interval is in
//! seconds of the machine's clock, at least 15. When it expires it stops,
//! and the machine does what `--watchdog-action` says (the run loop's
//! `Machine::watchdog_expiry`, in [`crate::diag`]): `reset` re-IPLs (zmmu
//! ends the run with [`crate::Stop::ReIpl`]), `poweroff` and `pause` end
//! the run ([`crate::Stop::WatchdogExpired`]), `none` does nothing,
//! `inject-nmi` makes a restart interruption pending (QEMU's NMI on s390x).

use zmmu_cpu::clock::{tod_to_ns, Clock, TimeSource, TOD_PER_US};
use zmmu_cpu::state::Cpu;
use zmmu_mmu::exception::{Code, Exception};

use crate::interrupt::next_timer;

/// Watchdog functions (R1).
pub mod function {
    /// Start the timer.
    pub const INIT: u64 = 0;
    /// Restart the running timer with a new interval.
    pub const CHANGE: u64 = 1;
    /// Stop the running timer.
    pub const CANCEL: u64 = 2;
}

/// The only action the DIAGNOSE may name (R3): 0, the machine's own
/// (`--watchdog-action`).
pub const ACTION_MACHINE: u64 = 0;

/// The shortest interval, in seconds, for init and change.
pub const MIN_SECONDS: u64 = 15;

/// TOD-clock units in a second.
pub const TOD_PER_SECOND: u64 = 1_000_000 * TOD_PER_US;

/// The watchdog's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watchdog {
    /// When it expires (the clock's monotonic time, TOD units); `None`
    /// while it is stopped.
    pub deadline: Option<u64>,
}

impl Watchdog {
    /// DIAGNOSE X'288' with `function` (R1), the interval in seconds
    /// (R1 + 1) and the action (R3), at monotonic time `now`, on a machine
    /// where the device is `installed`. In QEMU's order, a specification
    /// exception for: an action other than 0; an interval under 15 seconds
    /// (but for cancel); no diag288 device; change or cancel while stopped;
    /// an unknown function. (The odd R1 is the caller's check.)
    pub fn diagnose(
        &mut self,
        installed: bool,
        function: u64,
        seconds: u64,
        action: u64,
        now: u64,
    ) -> Result<(), Exception> {
        let refuse = Err(Exception::new(Code::SPECIFICATION));
        if action != ACTION_MACHINE {
            return refuse;
        }
        if function != function::CANCEL && seconds < MIN_SECONDS {
            return refuse;
        }
        if !installed {
            return refuse;
        }
        match function {
            function::INIT => self.start(now, seconds),
            function::CHANGE if self.deadline.is_some() => self.start(now, seconds),
            function::CANCEL if self.deadline.is_some() => self.deadline = None,
            _ => return refuse,
        }
        Ok(())
    }

    fn start(&mut self, now: u64, seconds: u64) {
        self.deadline = Some(now.saturating_add(seconds.saturating_mul(TOD_PER_SECOND)));
    }

    /// The watchdog has expired at monotonic time `now`: it stops, and
    /// `true` is returned once.
    pub fn expire(&mut self, now: u64) -> bool {
        match self.deadline {
            Some(deadline) if now >= deadline => {
                self.deadline = None;
                true
            }
            _ => false,
        }
    }
}

/// The earlier of a timer deadline and the watchdog's, for a CPU in the
/// enabled wait (the watchdog expires whatever the CPU waits for).
pub fn earliest(timer: Option<u64>, watchdog: &Watchdog) -> Option<u64> {
    match (timer, watchdog.deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Nanoseconds of `clock`'s monotonic time from now until the next enabled
/// timer interruption of `cpu` ([`next_timer`]) or the watchdog is due (0
/// once it is past); `None` when neither is: how long an engine that ends
/// its own batches may run before the machine must look.
pub fn ns_until_due<T: TimeSource>(
    cpu: &Cpu,
    clock: &mut Clock<T>,
    watchdog: &Watchdog,
) -> Option<u64> {
    let due = earliest(next_timer(cpu, clock), watchdog)?;
    Some(tod_to_ns(due.saturating_sub(clock.monotonic())))
}
