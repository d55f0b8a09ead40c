//! Which of the machine's interruptions can be taken, in which order, and
//! when a waiting CPU wakes up (PoP ch. 6 "Interruptions": priority, the
//! external subclass masks in CR0, the wait state). Delivery through the
//! lowcore is the CPU's ([`zmmu_cpu::interrupt`]).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use zmmu_cpu::clock::{Clock, TimeSource};
use zmmu_cpu::interrupt::{
    Interruption, CLOCK_COMPARATOR, CPU_TIMER, EMERGENCY_SIGNAL, EXTERNAL_CALL, SERVICE_SIGNAL,
};
use zmmu_cpu::state::{mask, Cpu, Psw};

/// CR0 bit 49: the emergency-signal subclass mask.
pub const CR0_EMERGENCY_SIGNAL: u64 = 1 << (63 - 49);
/// CR0 bit 50: the external-call subclass mask.
pub const CR0_EXTERNAL_CALL: u64 = 1 << (63 - 50);
/// CR0 bit 52: the clock-comparator subclass mask.
pub const CR0_CLOCK_COMPARATOR: u64 = 1 << (63 - 52);
/// CR0 bit 53: the CPU-timer subclass mask.
pub const CR0_CPU_TIMER: u64 = 1 << (63 - 53);
/// CR0 bit 54: the service-signal subclass mask.
pub const CR0_SERVICE_SIGNAL: u64 = 1 << (63 - 54);

/// The signals another CPU (or this one, by SIGP to itself) left pending
/// for a CPU, and the restart the operator or SIGP RESTART asked for.
#[derive(Debug, Default)]
pub struct Signals {
    /// Emergency signals and the external call: posted from other CPUs'
    /// threads, so shared with the CPU's configuration slot
    /// ([`crate::Machine::join`]).
    pub external: Arc<ExternalSignals>,
    /// A restart interruption is pending.
    pub restart: bool,
}

impl Signals {
    /// A CPU reset clears every pending interruption (PoP "CPU Reset").
    pub fn clear(&mut self) {
        self.external.clear();
        self.restart = false;
    }
}

/// Words of [`ExternalSignals`]' emergency-signal bitmap: one bit per CPU
/// address the configuration may have.
const EMERGENCY_WORDS: usize = (crate::sclp::MAX_CPUS as usize).div_ceil(64);

/// The emergency signals and the external call pending for a CPU (PoP
/// "Emergency Signal", "External Call"): the sending CPU makes them
/// pending from its own thread (as QEMU's SIGP does), and the CPU takes
/// them at an instruction boundary.
#[derive(Debug, Default)]
pub struct ExternalSignals {
    /// An emergency signal is pending from the CPU of each set bit's
    /// address: at most one per sender.
    emergency: [AtomicU64; EMERGENCY_WORDS],
    /// The sender's address + 1 of the pending external call; 0: none.
    external_call: AtomicU32,
}

impl ExternalSignals {
    /// Makes an emergency signal from the CPU at address `from` pending
    /// (one already pending from it stays the one). Addresses are below
    /// [`crate::sclp::MAX_CPUS`] (the configuration checks them).
    pub fn post_emergency(&self, from: u16) {
        let from = usize::from(from);
        debug_assert!(from < EMERGENCY_WORDS * 64, "CPU address {from}");
        if let Some(word) = self.emergency.get(from / 64) {
            word.fetch_or(1 << (from % 64), Ordering::SeqCst);
        }
    }

    /// Makes an external call from the CPU at address `from` pending;
    /// `false` if one is pending already (only one can be).
    pub fn post_external_call(&self, from: u16) -> bool {
        let sender = u32::from(from) + 1;
        self.external_call
            .compare_exchange(0, sender, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// An external call is pending.
    pub fn external_call_pending(&self) -> bool {
        self.external_call.load(Ordering::SeqCst) != 0
    }

    /// How many emergency signals are pending.
    pub fn emergencies(&self) -> u32 {
        let words = self.emergency.iter();
        words.map(|w| w.load(Ordering::SeqCst).count_ones()).sum()
    }

    /// Takes an emergency signal, the lowest sender's first.
    pub fn take_emergency(&self) -> Option<u16> {
        self.emergency.iter().enumerate().find_map(|(i, word)| {
            let bits = word.load(Ordering::SeqCst);
            let bit = bits.trailing_zeros();
            // Only the CPU itself takes: the bit stays set until then.
            (bits != 0).then(|| {
                word.fetch_and(!(1 << bit), Ordering::SeqCst);
                (i * 64) as u16 + bit as u16
            })
        })
    }

    /// Takes the external call, if one is pending: its sender's address.
    pub fn take_external_call(&self) -> Option<u16> {
        match self.external_call.swap(0, Ordering::SeqCst) {
            0 => None,
            sender => Some((sender - 1) as u16),
        }
    }

    /// Drops every pending signal.
    pub fn clear(&self) {
        for word in &self.emergency {
            word.store(0, Ordering::SeqCst);
        }
        self.external_call.store(0, Ordering::SeqCst);
    }
}

/// What decides which interruptions are enabled or due: the PSW mask, CR0
/// (external subclasses), CR6 (I/O subclasses), CR14 (machine-check
/// subclasses), the clock comparator and the CPU timer. When none of them
/// changed, an instruction that did not reach the machine cannot have made
/// an interruption takeable. The PSW's condition code is left out: it
/// enables nothing, and most instructions set it.
pub const fn interruption_controls(cpu: &Cpu) -> [u64; 6] {
    [
        cpu.psw.mask & !mask::CC,
        cpu.cr[0],
        cpu.cr[6],
        cpu.cr[14],
        cpu.clock_comparator,
        cpu.cpu_timer_zero,
    ]
}

/// Whether two readings of [`interruption_controls`] differ, compared word
/// by word in registers: the arrays' `!=` calls `memcmp`, which cost the
/// interpreter, comparing them after every instruction, a tenth of its time.
pub fn controls_differ(a: &[u64; 6], b: &[u64; 6]) -> bool {
    a.iter().zip(b).fold(0, |differ, (a, b)| differ | (a ^ b)) != 0
}

/// An external subclass is enabled: PSW bit 7 and its CR0 mask bit.
pub const fn external_enabled(cpu: &Cpu, subclass: u64) -> bool {
    cpu.psw.mask & mask::EXT != 0 && cpu.cr[0] & subclass != 0
}

/// The external interruption to take now, if any, in the priority order
/// of the architecture (emergency signal, external call, clock
/// comparator, CPU timer, service signal), taking it off its source. The
/// timers are looked at only with `check_timers`.
pub fn take_external<T: TimeSource>(
    cpu: &Cpu,
    clock: &mut Clock<T>,
    signals: &ExternalSignals,
    service_signal: &mut Option<u32>,
    check_timers: bool,
) -> Option<Interruption> {
    let external = |code, parameter, cpu_addr| Interruption::External {
        code,
        parameter,
        cpu_addr,
    };
    if cpu.psw.mask & mask::EXT == 0 {
        return None;
    }
    let cr0 = cpu.cr[0];
    if cr0 & CR0_EMERGENCY_SIGNAL != 0 {
        if let Some(from) = signals.take_emergency() {
            return Some(external(EMERGENCY_SIGNAL, 0, from));
        }
    }
    if cr0 & CR0_EXTERNAL_CALL != 0 {
        if let Some(from) = signals.take_external_call() {
            return Some(external(EXTERNAL_CALL, 0, from));
        }
    }
    // The timers stay pending while their condition holds; the program
    // ends it (a new comparator value, a new timer value).
    if check_timers {
        if cr0 & CR0_CLOCK_COMPARATOR != 0 && clock.peek_tod() > cpu.clock_comparator {
            return Some(external(CLOCK_COMPARATOR, 0, 0));
        }
        if cr0 & CR0_CPU_TIMER != 0 && cpu_timer_negative(cpu, clock.monotonic()) {
            return Some(external(CPU_TIMER, 0, 0));
        }
    }
    if cr0 & CR0_SERVICE_SIGNAL != 0 {
        if let Some(parameter) = service_signal.take() {
            return Some(external(SERVICE_SIGNAL, parameter, 0));
        }
    }
    None
}

/// The CPU timer is negative: its value `cpu_timer_zero - now` has bit 0
/// set (PoP "CPU Timer": an interruption is pending while it is negative).
pub const fn cpu_timer_negative(cpu: &Cpu, monotonic_now: u64) -> bool {
    (cpu.cpu_timer(monotonic_now) as i64) < 0
}

/// The earliest monotonic time (TOD units) at which an enabled timer
/// interruption becomes pending, for a CPU in the enabled wait.
pub fn next_timer<T: TimeSource>(cpu: &Cpu, clock: &Clock<T>) -> Option<u64> {
    let comparator = external_enabled(cpu, CR0_CLOCK_COMPARATOR)
        .then(|| clock.monotonic_at_tod(cpu.clock_comparator).wrapping_add(1));
    let timer = external_enabled(cpu, CR0_CPU_TIMER).then(|| cpu.cpu_timer_zero.wrapping_add(1));
    match (comparator, timer) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How a CPU's enabled waits went (`zmmu run --stats`), in monotonic TOD
/// units: how many, how long, and how late the waits whose timer
/// interruption came due ended after it (PoP "Wait State": the wait ends
/// when an enabled interruption is pending; a host that sleeps past the
/// timer delays it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waits {
    /// Enabled waits entered.
    pub entered: u64,
    /// Time spent in them.
    pub waited: u64,
    /// Waits still in progress when their timer came due: each ended by
    /// the timer's interruption, or by another taken at or after that
    /// time.
    pub timed_out: u64,
    /// Of those, the sum of the times from the timer's deadline to the
    /// end of the wait.
    pub late: u64,
    /// And the longest of them.
    pub late_max: u64,
    /// The wait under way: when it began, and its timer's deadline.
    current: Option<(u64, Option<u64>)>,
}

impl Waits {
    /// An enabled wait is under way at monotonic time `now`, with its
    /// timer due at `deadline` ([`next_timer`]); counted once, however
    /// often the CPU looks again.
    pub fn enter(&mut self, now: u64, deadline: Option<u64>) {
        if self.current.is_none() {
            self.entered += 1;
            self.current = Some((now, deadline));
        }
    }

    /// An interruption ended the wait at monotonic time `now`.
    pub fn leave(&mut self, now: u64) {
        let Some((began, deadline)) = self.current.take() else {
            return;
        };
        self.waited += now.saturating_sub(began);
        if let Some(deadline) = deadline.filter(|deadline| *deadline <= now) {
            let late = now - deadline;
            self.timed_out += 1;
            self.late += late;
            self.late_max = self.late_max.max(late);
        }
    }
}

/// The PSW is a wait PSW with I/O, external and machine-check
/// interruptions all disabled: nothing can ever end the wait (PoP
/// "Wait State"; QEMU's `disabled_wait`).
pub fn disabled_wait(psw: &Psw) -> bool {
    psw.mask & mask::WAIT != 0 && psw.mask & (mask::IO | mask::EXT | mask::MCHECK) == 0
}

/// Makes a service signal pending in `pending` with `parameter`, ORed into
/// the parameter of one already pending (as QEMU merges them).
pub fn merge_service_signal(pending: &mut Option<u32>, parameter: u32) {
    *pending = Some(pending.unwrap_or(0) | parameter);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condition_code_enables_no_interruption() {
        let mut cpu = Cpu::new();
        let before = interruption_controls(&cpu);
        cpu.psw.mask |= mask::CC;
        assert!(!controls_differ(&interruption_controls(&cpu), &before));
    }

    #[test]
    fn the_external_mask_and_the_clock_comparator_are_interruption_controls() {
        let mut cpu = Cpu::new();
        let before = interruption_controls(&cpu);
        cpu.psw.mask |= mask::EXT;
        assert!(controls_differ(&interruption_controls(&cpu), &before));
        let mut cpu = Cpu::new();
        cpu.clock_comparator = 1;
        assert!(controls_differ(&interruption_controls(&cpu), &before));
    }
}
