//! When a batch must end for the timers: the earliest enabled CPU-timer
//! or clock-comparator interruption, or the watchdog (PoP "CPU Timer",
//! "Clock Comparator"; an interruption becomes pending when its condition
//! is met and is taken once enabled). Translated code does not look at
//! the clock: the vCPU is kicked when the deadline passes
//! ([`zmmu_hv_kvm::KvmHost::set_deadline`]), so a batch leaves the VM
//! only when a timer interruption is actually due, or every
//! [`HOST_LOOK`] for what only the host sees (console input).

use std::time::{Duration, Instant};

use zmmu_cpu::state::Cpu;
use zmmu_machine::system::Board;
use zmmu_machine::watchdog;

/// The longest a batch runs without the machine looking at the host's
/// side (console input typed for the guest, polled by the run loop): the
/// one exit it costs every 10 ms is 2% of the time on a PVM host.
pub(crate) const HOST_LOOK: Duration = Duration::from_millis(10);

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
    /// The deadline of the enabled timers and the watchdog, or the next
    /// look at the host's side.
    pub fn of(cpu: &Cpu, board: &mut Board<'_>) -> Self {
        let look = HOST_LOOK.as_nanos() as u64;
        let ns = watchdog::ns_until_due(cpu, &mut board.services.clock, &board.services.watchdog)
            .map_or(look, |ns| ns.min(look));
        let now = Instant::now();
        Self {
            at: now.checked_add(Duration::from_nanos(ns)).unwrap_or(now),
            instructions: ns.max(1),
        }
    }

    /// The deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }
}
