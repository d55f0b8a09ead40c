//! When a batch must end for the timers: the earliest enabled CPU-timer
//! or clock-comparator interruption, or the watchdog (PoP "CPU Timer",
//! "Clock Comparator"; an interruption becomes pending when its condition
//! is met and is taken once enabled). Translated code does not look at
//! the clock: the vCPU is kicked when the deadline passes
//! ([`zmmu_hv_kvm::KvmHost::set_deadline`]), so a batch leaves the VM
//! only when a timer interruption is actually due.

use std::time::{Duration, Instant};

use zmmu_cpu::clock::tod_to_ns;
use zmmu_cpu::state::Cpu;
use zmmu_machine::interrupt::next_timer;
use zmmu_machine::system::Board;
use zmmu_machine::watchdog;

/// A batch's time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadline {
    /// When the batch must end on the host's clock.
    pub at: Instant,
    /// The instructions it may run at most: as many as nanoseconds until
    /// the deadline (one nanosecond per instruction is how virtual time
    /// advances; the host's clock reaches the deadline first unless the
    /// guest runs faster than 1,000 MIPS, when the batch just ends early).
    pub instructions: u64,
}

impl Deadline {
    /// The deadline of the enabled timers and the watchdog, if any.
    pub fn of(cpu: &Cpu, board: &mut Board<'_>) -> Option<Self> {
        let clock = &mut board.services.clock;
        let due = watchdog::earliest(next_timer(cpu, clock), &board.services.watchdog)?;
        let ns = tod_to_ns(due.saturating_sub(clock.monotonic()));
        Some(Self {
            at: Instant::now().checked_add(Duration::from_nanos(ns))?,
            instructions: ns.max(1),
        })
    }

    /// The deadline has passed.
    pub fn passed(deadline: Option<Self>) -> bool {
        deadline.is_some_and(|d| Instant::now() >= d.at)
    }
}
