//! `--stats` on demand: SIGUSR1 prints the counters so far to stderr and
//! the run goes on; SIGINT and SIGTERM print them and then end zmmu as
//! the signal's default action would (the terminal restored first). A
//! long run (Linux on `--engine kvm`) can so be measured without ending
//! it.
//!
//! The handler only records the request (async-signal-safe: atomics).
//! The engine's own thread prints, between two of its batches
//! ([`Watched`]): a batch ends at the machine's timer poll (the
//! interpreter, the jit) or every 10 ms at most (the kvm engine's host
//! look), so the lines come that soon. Each CPU prints its own lines
//! (tagged `cpuN` with `--smp`); a traced run (one instruction at a time,
//! outside the engine) and a run under `--gdb` print at exit only.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zmmu_cpu::state::Cpu;
use zmmu_machine::board::Board;
use zmmu_machine::engine::{Engine, Interpreter, Ran};
use zmmu_mmu::invalidate::Invalidation;

/// How many times the counters were asked for (SIGUSR1, SIGINT, SIGTERM).
static ASKED: AtomicU64 = AtomicU64::new(0);
/// The signal that ends the run once the counters are printed; 0 for none.
static ENDING: AtomicI32 = AtomicI32::new(0);

/// Records the request; for SIGINT and SIGTERM also the end.
extern "C" fn on_signal(signal: libc::c_int) {
    if signal != libc::SIGUSR1 {
        ENDING.store(signal, Ordering::SeqCst);
    }
    ASKED.fetch_add(1, Ordering::SeqCst);
}

/// Installs the handler of SIGUSR1, SIGINT and SIGTERM (after raw mode is
/// entered: it replaces the terminal's SIGTERM handler, and restores the
/// terminal itself before it ends the run).
pub(crate) fn install() {
    for signal in [libc::SIGUSR1, libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid (an empty mask); the handler
        // only touches atomics, so it is async-signal-safe; SA_RESTART
        // lets the host's other system calls (the keyboard's read) go on.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// `--stats`' first line: the instruction count and rate.
pub(crate) fn instructions_line(instructions: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let mips = if seconds > 0.0 {
        instructions as f64 / seconds / 1e6
    } else {
        0.0
    };
    format!("instructions {instructions}, {mips:.1} MIPS")
}

/// `--stats`: how a CPU's enabled waits went: how many, the time in them,
/// and how late those whose timer came due ended after it (the host's
/// sleep past the deadline).
pub(crate) fn wait_stats(waits: &zmmu_machine::interrupt::Waits) -> String {
    let ms = |tod: u64| zmmu_cpu::clock::tod_to_ns(tod) as f64 / 1e6;
    let mean = match waits.timed_out {
        0 => 0.0,
        n => ms(waits.late) / n as f64,
    };
    format!(
        "waits {}, {:.1} ms in them; {} ended after their timer was due, {:.3} ms late on average, {:.3} ms at most",
        waits.entered,
        ms(waits.waited),
        waits.timed_out,
        mean,
        ms(waits.late_max)
    )
}

/// An engine's `--stats` lines.
pub(crate) trait Counters {
    /// The counters so far, one line each.
    fn report(&self) -> Vec<String>;
}

impl Counters for Interpreter {
    fn report(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Counters for zmmu_jit::Jit {
    fn report(&self) -> Vec<String> {
        zmmu_jit::Jit::report(self)
    }
}

impl Counters for zmmu_kvm::KvmEngine {
    fn report(&self) -> Vec<String> {
        zmmu_kvm::KvmEngine::report(self)
    }
}

/// An engine that prints its counters between two batches when a signal
/// asked for them.
pub(crate) struct Watched<'a, E> {
    engine: &'a mut E,
    /// Before each line: `cpuN ` with several CPUs.
    tag: String,
    started: Instant,
    instructions: u64,
    /// The requests answered so far.
    answered: u64,
}

impl<E> std::fmt::Debug for Watched<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").field("tag", &self.tag).finish()
    }
}

impl<'a, E: Engine + Counters> Watched<'a, E> {
    /// `engine`, its lines tagged with `tag`.
    pub(crate) fn new(engine: &'a mut E, tag: String) -> Self {
        Self {
            engine,
            tag,
            started: Instant::now(),
            instructions: 0,
            answered: ASKED.load(Ordering::SeqCst),
        }
    }

    /// Prints the counters if asked since the last time; ends the run if
    /// the request was SIGINT or SIGTERM.
    fn answer(&mut self) {
        let asked = ASKED.load(Ordering::SeqCst);
        if asked == self.answered {
            return;
        }
        self.answered = asked;
        // Read after the request: a SIGTERM that comes while the lines
        // are printed is answered by the next batch's.
        let ending = ENDING.load(Ordering::SeqCst);
        let tag = &self.tag;
        let first = instructions_line(self.instructions, self.started.elapsed());
        eprintln!("{tag}stats: {first}");
        for line in self.engine.report() {
            eprintln!("{tag}stats: {line}");
        }
        if ending != 0 {
            crate::terminal::restore();
            // SAFETY: the default disposition ends the process with the
            // signal, as if no handler had been installed.
            unsafe {
                libc::signal(ending, libc::SIG_DFL);
                libc::raise(ending);
            }
        }
    }
}

impl<E: Engine + Counters> Engine for Watched<'_, E> {
    fn run(&mut self, cpu: &mut Cpu, board: &mut Board<'_>, max: u64) -> Ran {
        let ran = self.engine.run(cpu, board, max);
        self.instructions += ran.instructions;
        self.answer();
        ran
    }

    fn watches_clock(&self) -> bool {
        self.engine.watches_clock()
    }

    fn leaves_when_kicked(&self) -> bool {
        self.engine.leaves_when_kicked()
    }

    fn invalidate(&mut self, invalidation: &Invalidation) {
        self.engine.invalidate(invalidation);
    }
}
