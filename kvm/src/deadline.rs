//! When a batch must end for the timers: the earliest enabled CPU-timer
//! or clock-comparator interruption, or the watchdog (PoP "CPU Timer",
//! "Clock Comparator"; an interruption becomes pending when its condition
//! is met and is taken once enabled). Translated code does not look at
//! the clock: the vCPU is kicked when the deadline passes
//! ([`zmmu_hv_kvm::KvmHost::set_deadline`]), so a batch leaves the VM
//! only when a timer interruption is actually due, or every
//! [`HOST_LOOK`] for what only the host sees (console input).

use std::time::{Duration, Instant};

use zmmu_cpu::clock::{tod_to_ns, Pace, TOD_PER_US};
use zmmu_cpu::state::Cpu;
use zmmu_machine::interrupt::{next_timer, CR0_CLOCK_COMPARATOR};
use zmmu_machine::system::Board;
use zmmu_machine::watchdog;

/// The longest a batch runs without the machine looking at the host's
/// side (console input typed for the guest, polled by the run loop): the
/// one exit it costs every 10 ms is 2% of the time on a PVM host.
pub(crate) const HOST_LOOK: Duration = Duration::from_millis(10);

/// How long before a predicted tick ([`Tick`]) the vCPU is kicked: Linux
/// sets each tick's comparator to the TOD clock read then plus the time
/// left to the tick, within a microsecond of the last comparator plus the
/// period in 96% of a boot's ticks and within ten in 99.7%.
const TICK_EARLY: u64 = 16 * TOD_PER_US;

/// A timer due sooner than this is waited for on the host instead of
/// being run up to in the VM: entering the VM and the exit at the kick
/// cost more (160-340 us each on a PVM host), and the guest could run
/// little of the time left.
const NEAR_NS: u64 = 50_000;

/// The program's clock-comparator period, learnt from what it did: a
/// comparator that had come due moved forward by the same step each time
/// (a periodic tick, Linux's 4 ms). While the comparator is due and its
/// interruption cannot be taken (the tick's handler runs with external
/// interruptions off), the batch's deadline is the next tick, a little
/// early: the comparator floor the image may set comparators at or past
/// is the TOD clock at the deadline (`exits::comparator_floor`), so the
/// handler's SCKC completes in the VM, and the kick comes as the tick
/// comes due, one exit per tick where the host's SCKC made two. Only
/// when the batch ends is predicted: a wrong prediction costs a look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tick {
    /// The comparator when the engine last looked.
    comparator: u64,
    /// The last step of a comparator that had come due.
    step: Option<u64>,
}

impl Tick {
    /// The longest period taken for a tick.
    const LONGEST: u64 = 1_000_000 * TOD_PER_US;

    /// Looks at the comparator after the program ran: a comparator that
    /// was due at `now` (TOD) and moved forward by at most
    /// [`Self::LONGEST`] gives the step, unless the step is a multiple of
    /// the one known (ticks the program let pass).
    pub fn learn(&mut self, cpu: &Cpu, now: u64) {
        let (old, new) = (self.comparator, cpu.clock_comparator);
        self.comparator = new;
        if new == old || old > now || new < old || new - old > Self::LONGEST {
            return;
        }
        let step = new - old;
        let multiple = self.step.is_some_and(|known| {
            let rest = step % known;
            rest.min(known - rest) <= TICK_EARLY
        });
        if !multiple {
            self.step = Some(step);
        }
    }

    /// TOD units from `now` to shortly before the next tick, if the
    /// comparator's interruption is enabled in CR0 and its condition
    /// holds (it is due: the PSW must have external interruptions off, or
    /// it would have been taken): the first of the comparator plus a
    /// multiple of the step that is still ahead, as the program's
    /// periodic timer forwards itself past the ticks it missed.
    fn until_next(&self, cpu: &Cpu, now: u64) -> Option<u64> {
        let step = self.step?;
        let comparator = cpu.clock_comparator;
        if cpu.cr[0] & CR0_CLOCK_COMPARATOR == 0 || comparator > now {
            return None;
        }
        let steps = now.checked_add(TICK_EARLY)?.wrapping_sub(comparator) / step + 1;
        let next = comparator.checked_add(steps.checked_mul(step)?)?;
        Some(next - TICK_EARLY - now)
    }
}

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
    /// The program's tick, for the deadlines a host call recomputes.
    pub tick: Tick,
}

impl Deadline {
    /// The deadline of the enabled timers and the watchdog, or of the
    /// program's next tick ([`Tick`]), or the next look at the host's
    /// side.
    pub fn of(cpu: &Cpu, board: &mut Board<'_>, tick: Tick) -> Self {
        let look = HOST_LOOK.as_nanos() as u64;
        let clock = &mut board.services.clock;
        let timers = watchdog::ns_until_due(cpu, clock, &board.services.watchdog);
        let now = clock.peek_tod();
        let next_tick = tick.until_next(cpu, now).map(tod_to_ns);
        let ns = [timers, next_tick]
            .into_iter()
            .flatten()
            .fold(look, u64::min);
        let now = Instant::now();
        Self {
            at: now.checked_add(Duration::from_nanos(ns)).unwrap_or(now),
            instructions: ns.max(1),
            tick,
        }
    }

    /// Under the host's time, waits for an enabled timer or the watchdog
    /// due within [`NEAR_NS`] (and not yet), and says whether it did: the
    /// machine takes its interruption sooner than if the VM ran until
    /// the kick. Virtual time moves only with instructions: never there.
    pub fn wait_if_near(cpu: &Cpu, board: &mut Board<'_>) -> bool {
        let clock = &mut board.services.clock;
        if matches!(clock.source.pace(), Some(Pace::Instructions)) {
            return false;
        }
        let Some(due) = watchdog::earliest(next_timer(cpu, clock), &board.services.watchdog) else {
            return false;
        };
        let now = clock.monotonic();
        if due <= now || tod_to_ns(due - now) >= NEAR_NS {
            return false;
        }
        while clock.monotonic() < due {
            std::hint::spin_loop();
        }
        true
    }

    /// The deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's tick period (HZ=250).
    const PERIOD: u64 = 4_000 * TOD_PER_US;
    const T0: u64 = 1 << 60;

    fn cpu(comparator: u64) -> Cpu {
        let mut cpu = Cpu::new();
        cpu.cr[0] = CR0_CLOCK_COMPARATOR;
        cpu.clock_comparator = comparator;
        cpu
    }

    /// The tick of `tick` after it saw the comparator go from `T0` (due)
    /// to `T0 + step`.
    fn learnt(mut tick: Tick, step: u64) -> Tick {
        tick.learn(&cpu(T0), T0 - 1);
        tick.learn(&cpu(T0 + step), T0 + 10);
        tick
    }

    #[test]
    fn a_due_comparator_moved_forward_gives_the_step() {
        assert_eq!(learnt(Tick::default(), PERIOD).step, Some(PERIOD));
    }

    #[test]
    fn a_comparator_not_due_when_moved_gives_no_step() {
        let mut tick = Tick::default();
        tick.learn(&cpu(T0), T0 - 1);
        tick.learn(&cpu(T0 + PERIOD), T0 - 1);
        assert_eq!(tick.step, None);
    }

    #[test]
    fn missed_ticks_keep_the_step_and_another_period_replaces_it() {
        let tick = learnt(Tick::default(), PERIOD);
        assert_eq!(learnt(tick, 3 * PERIOD + 3).step, Some(PERIOD));
        assert_eq!(learnt(tick, PERIOD / 2).step, Some(PERIOD / 2));
        assert_eq!(learnt(tick, Tick::LONGEST + 1).step, Some(PERIOD));
    }

    #[test]
    fn the_kick_comes_just_before_the_first_tick_still_ahead() {
        let tick = learnt(Tick::default(), PERIOD);
        let due = cpu(T0);
        assert_eq!(
            tick.until_next(&due, T0 + 100),
            Some(PERIOD - TICK_EARLY - 100)
        );
        // Two ticks missed: the third.
        let now = T0 + 2 * PERIOD + 5;
        assert_eq!(
            tick.until_next(&due, now),
            Some(3 * PERIOD - TICK_EARLY - 2 * PERIOD - 5)
        );
        // Within TICK_EARLY of the next tick: the one after.
        let now = T0 + PERIOD - TICK_EARLY;
        assert_eq!(tick.until_next(&due, now), Some(PERIOD));
    }

    #[test]
    fn no_prediction_while_the_comparator_is_ahead_or_not_enabled() {
        let tick = learnt(Tick::default(), PERIOD);
        assert_eq!(tick.until_next(&cpu(T0 + 5), T0), None);
        let mut off = cpu(T0);
        off.cr[0] = 0;
        assert_eq!(tick.until_next(&off, T0 + 5), None);
        assert_eq!(Tick::default().until_next(&cpu(T0), T0 + 5), None);
    }
}
