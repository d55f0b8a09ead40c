//! The time-of-day clock and the time base of the CPU timer and clock
//! comparator (PoP ch. 4 "Timing"). TOD units: bit 51 of the clock is one
//! microsecond, so one unit is 2^-12 µs and 1 ns is 4.096 units.
//!
//! Time comes from a [`TimeSource`]: the host's monotonic clock for a
//! machine that runs in real time, or [`VirtualTime`], which a machine
//! advances by the instructions it executes (reproducible runs, tests).

/// TOD units per microsecond (bit 51).
pub const TOD_PER_US: u64 = 1 << 12;

/// Nanoseconds as TOD units (4.096 per ns), wrapping like the clock.
pub const fn ns_to_tod(ns: u64) -> u64 {
    ((ns as u128 * 512 / 125) & u64::MAX as u128) as u64
}

/// TOD units as nanoseconds, rounded up (a deadline is never early).
pub const fn tod_to_ns(tod: u64) -> u64 {
    ((tod as u128 * 125).div_ceil(512)) as u64
}

/// How a [`TimeSource`] moves between the calls that tell it about
/// instructions: what a copy of the clock elsewhere (the kvm engine's
/// in-VM runtime, `zmmu-vm-runtime`) must do to read the same time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Only [`TimeSource::executed`] and [`TimeSource::wait_until_ns`]
    /// move it: between them it stands still ([`VirtualTime`]). Time
    /// advances with the instructions told at the end of each batch, so an
    /// engine must end its batch after a clock read for the next read to
    /// count the instructions before it.
    Instructions,
    /// It is a function of the host's time-stamp counter, the same on
    /// every host CPU (an invariant TSC the host kernel keeps in step):
    /// code that reads the TSC elsewhere (in a VM, given the VM's offset
    /// from the host's TSC) computes the very nanoseconds the host would at
    /// that moment, so reads on different CPUs and in and out of the VM
    /// never go back against each other (docs/CHOICES.md 49).
    Tsc(TscScale),
}

/// Nanoseconds as a linear function of a TSC: `((tsc - at) * mult) >>
/// shift`, wrapping like the counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TscScale {
    /// The TSC value at nanosecond zero.
    pub at: u64,
    /// Nanoseconds per tick, times 2^`shift` (0: time stands still).
    pub mult: u64,
    /// See `mult`.
    pub shift: u32,
}

impl TscScale {
    /// The fraction bits of [`TscScale::mult`].
    pub const SHIFT: u32 = 32;

    /// The scale of a TSC ticking at `khz` kHz that reads `at` at
    /// nanosecond zero (`None` for a rate of 0).
    pub const fn new(khz: u32, at: u64) -> Option<Self> {
        if khz == 0 {
            return None;
        }
        Some(Self {
            at,
            mult: (1_000_000u64 << Self::SHIFT) / khz as u64,
            shift: Self::SHIFT,
        })
    }

    /// The nanoseconds at TSC value `tsc`.
    pub const fn ns(&self, tsc: u64) -> u64 {
        let ticks = tsc.wrapping_sub(self.at) as u128;
        ((ticks * self.mult as u128) >> (self.shift & 127)) as u64
    }
}

/// Where time comes from.
pub trait TimeSource: core::fmt::Debug {
    /// Monotonic nanoseconds since the machine started.
    fn now_ns(&mut self) -> u64;

    /// Waits until [`TimeSource::now_ns`] reaches `deadline` (an enabled
    /// wait): a host source sleeps, virtual time jumps.
    fn wait_until_ns(&mut self, deadline: u64);

    /// Tells the source that `instructions` more were executed (virtual
    /// time advances with them; a host source ignores it).
    fn executed(&mut self, instructions: u64) {
        let _ = instructions;
    }

    /// How the source moves between calls; `None` (the default) when no
    /// copy elsewhere can follow it.
    fn pace(&self) -> Option<Pace> {
        None
    }
}

#[cfg(feature = "alloc")]
impl<T: TimeSource + ?Sized> TimeSource for alloc::boxed::Box<T> {
    fn now_ns(&mut self) -> u64 {
        (**self).now_ns()
    }
    fn wait_until_ns(&mut self, deadline: u64) {
        (**self).wait_until_ns(deadline);
    }
    fn executed(&mut self, instructions: u64) {
        (**self).executed(instructions);
    }
    fn pace(&self) -> Option<Pace> {
        (**self).pace()
    }
}

/// What instructions need of the clock (STORE CLOCK, SET CLOCK, the CPU
/// timer's time base), object-safe for [`crate::memory::System::clock`].
pub trait Timing {
    /// The TOD clock now, unique and increasing.
    fn tod(&mut self) -> u64;
    /// SET CLOCK.
    fn set_tod(&mut self, tod: u64);
    /// The monotonic time base in TOD units.
    fn monotonic(&mut self) -> u64;
}

impl<T: TimeSource> Timing for Clock<T> {
    fn tod(&mut self) -> u64 {
        Clock::tod(self)
    }
    fn set_tod(&mut self, tod: u64) {
        Clock::set_tod(self, tod);
    }
    fn monotonic(&mut self) -> u64 {
        Clock::monotonic(self)
    }
}

/// Time that advances one nanosecond per executed instruction and jumps
/// across waits: runs are reproducible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtualTime {
    /// Nanoseconds so far.
    pub ns: u64,
}

impl TimeSource for VirtualTime {
    fn now_ns(&mut self) -> u64 {
        self.ns
    }

    fn wait_until_ns(&mut self, deadline: u64) {
        self.ns = self.ns.max(deadline);
    }

    fn executed(&mut self, instructions: u64) {
        self.ns = self.ns.wrapping_add(instructions);
    }

    fn pace(&self) -> Option<Pace> {
        Some(Pace::Instructions)
    }
}

/// The configuration's TOD clock over a time source: SET CLOCK moves its
/// epoch, never the time base of the CPU timers; successive values are
/// unique and increasing (PoP "STORE CLOCK": the clock is stepped past the
/// last value stored).
#[derive(Clone, Debug)]
pub struct Clock<T: TimeSource> {
    /// The time source.
    pub source: T,
    /// TOD value at monotonic time zero.
    epoch: u64,
    /// The last TOD value handed out.
    last: u64,
}

/// The state of a [`Clock`] besides its time source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockState {
    /// The TOD value at monotonic time zero.
    pub epoch: u64,
    /// The last TOD value handed out.
    pub last: u64,
}

/// 2026-01-01 00:00:00 UTC as a TOD value (the clock counts from
/// 1900-01-01): where a virtual clock starts.
pub const TOD_2026: u64 = ((126 * 365 + 31) * 86_400u64) * 1_000_000 * TOD_PER_US;

impl<T: TimeSource> Clock<T> {
    /// A clock whose TOD value is `tod_now` at this moment.
    pub fn new(mut source: T, tod_now: u64) -> Self {
        let epoch = tod_now.wrapping_sub(ns_to_tod(source.now_ns()));
        Self {
            source,
            epoch,
            last: 0,
        }
    }

    /// A clock over `source` that goes on from `state` (another copy's
    /// [`Clock::state`]): the same epoch and the same last value handed out.
    pub const fn with_state(source: T, state: ClockState) -> Self {
        Self {
            source,
            epoch: state.epoch,
            last: state.last,
        }
    }

    /// What a copy of this clock over another source needs to hand out
    /// the values this one would (`Clock::with_state`).
    pub const fn state(&self) -> ClockState {
        ClockState {
            epoch: self.epoch,
            last: self.last,
        }
    }

    /// Another copy of this clock (`Clock::with_state`) handed values out
    /// up to `last`: the next value is stepped past it.
    pub fn handed_out(&mut self, last: u64) {
        self.last = self.last.max(last);
    }

    /// Monotonic time in TOD units since the machine started: the time
    /// base of the CPU timer, which SET CLOCK does not move.
    pub fn monotonic(&mut self) -> u64 {
        ns_to_tod(self.source.now_ns())
    }

    /// The TOD clock now, stepped past the last value handed out.
    pub fn tod(&mut self) -> u64 {
        let now = self.epoch.wrapping_add(self.monotonic());
        let tod = if now > self.last { now } else { self.last + 1 };
        self.last = tod;
        tod
    }

    /// The TOD clock now, without handing the value out (for comparing it
    /// with the clock comparator).
    pub fn peek_tod(&mut self) -> u64 {
        self.epoch.wrapping_add(self.monotonic())
    }

    /// SET CLOCK: the TOD clock is `tod` from now on.
    pub fn set_tod(&mut self, tod: u64) {
        self.epoch = tod.wrapping_sub(self.monotonic());
        self.last = tod.wrapping_sub(1);
    }

    /// The monotonic time (TOD units) at which the TOD clock reaches
    /// `tod`: for a clock-comparator deadline.
    pub fn monotonic_at_tod(&self, tod: u64) -> u64 {
        tod.wrapping_sub(self.epoch)
    }

    /// Waits until monotonic time `deadline` (TOD units).
    pub fn wait_until(&mut self, deadline: u64) {
        self.source.wait_until_ns(tod_to_ns(deadline));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_microsecond_is_bit_51() {
        assert_eq!(ns_to_tod(1000), TOD_PER_US);
        assert_eq!(tod_to_ns(TOD_PER_US), 1000);
        assert_eq!(tod_to_ns(1), 1, "rounded up");
    }

    #[test]
    fn a_tsc_scale_counts_nanoseconds_from_its_start_at_the_tsc_rate() {
        let scale = TscScale::new(2_100_000, 1_000).unwrap();
        assert_eq!(scale.ns(1_000), 0);
        // 2.1 GHz: 2.1e9 ticks are a second, to within the fraction's rounding.
        assert!((scale.ns(1_000 + 2_100_000_000)).abs_diff(1_000_000_000) <= 1);
        // A later TSC value is never fewer nanoseconds, even across a wrap.
        let wrapping = TscScale::new(3_000_000, u64::MAX - 10).unwrap();
        assert!(wrapping.ns(5) > wrapping.ns(u64::MAX - 1));
        assert_eq!(TscScale::new(0, 0), None);
    }

    #[test]
    fn successive_values_are_unique_and_increasing() {
        let mut clock = Clock::new(VirtualTime::default(), 0x1000);
        let a = clock.tod();
        let b = clock.tod();
        assert!(b > a);
        clock.source.executed(1000);
        assert_eq!(clock.tod(), 0x1000 + TOD_PER_US);
    }

    #[test]
    fn a_copy_with_the_state_hands_out_the_next_values() {
        let mut clock = Clock::new(VirtualTime::default(), 0x1000);
        let first = clock.tod();
        let mut copy = Clock::with_state(clock.source, clock.state());
        let second = copy.tod();
        assert_eq!(
            second,
            first + 1,
            "stepped past the value the original handed out"
        );
        clock.handed_out(copy.state().last);
        assert_eq!(clock.tod(), second + 1);
    }

    #[test]
    fn set_clock_moves_the_tod_but_not_the_monotonic_base() {
        let mut clock = Clock::new(VirtualTime::default(), TOD_2026);
        clock.source.executed(5);
        let base = clock.monotonic();
        clock.set_tod(42 << 12);
        assert_eq!(clock.monotonic(), base);
        assert_eq!(clock.tod(), 42 << 12);
        assert_eq!(clock.monotonic_at_tod(43 << 12), base + (1 << 12));
    }
}
