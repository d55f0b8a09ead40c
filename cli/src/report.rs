//! What a run tells: the console and the trace as it goes (`Report`, the
//! observer of each CPU), and how it ended, as an exit status and in
//! words ([`stop_status`]).
//!
//! Exit status (QEMU itself always exits 0 on a disabled wait; the final
//! PSW is what `-d guest_errors` logs, and the tests compare against it):
//!
//! | stop | status |
//! |---|---|
//! | every CPU stopped (SIGP STOP to itself, a CPU reset) | 0, as QEMU |
//! | gdb killed the guest (`--gdb`, gdb's `kill`) | 0 |
//! | disabled-wait PSW | its instruction address modulo 256 (bits 56-63) |
//! | the diag288 watchdog expired with `--watchdog-action poweroff` | 0, as QEMU |
//! | a re-IPL: DIAGNOSE X'308' load clear, or the watchdog with `reset` (QEMU restarts the program; zmmu does not) | 122 |
//! | the watchdog expired with `--watchdog-action pause` (QEMU pauses) | 123 |
//! | instruction limit reached | 124 |
//! | unimplemented instruction | 125 |
//! | check-stop, or a wait that nothing can end | 126 |
//! | the program cannot be read or loaded | 3 |
//!
//! The stop reason is always printed to stderr, so a guest status that
//! collides with 124-126 or 3 can be told apart there.

use std::io::{self, BufWriter, Write};

use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{Cpu, Psw};
use zmmu_machine::bus::DatBus;
use zmmu_machine::config::WatchdogAction;
use zmmu_machine::{Observer, Stop};

use crate::terminal::Keyboard;
use crate::trace::Tracer;

/// Exit status when the program asks for a re-IPL (DIAGNOSE X'308' load
/// clear) or the watchdog expires with the `reset` action.
pub const EXIT_REIPL: u8 = 122;
/// Exit status when the watchdog expires with the `pause` action.
pub const EXIT_PAUSED: u8 = 123;
/// Exit status when the instruction limit is reached.
pub const EXIT_LIMIT: u8 = 124;
/// Exit status for an unimplemented instruction.
pub const EXIT_UNIMPLEMENTED: u8 = 125;
/// Exit status for a check-stop or an endless wait.
pub const EXIT_CHECK_STOP: u8 = 126;
/// Exit status when the program cannot be loaded.
pub const EXIT_LOAD: u8 = 3;
/// Exit status when an option cannot be honoured here (as clap's usage
/// errors): `--engine kvm` without a usable /dev/kvm.
pub const EXIT_USAGE: u8 = 2;

/// Console to stdout (flushed at once: an interactive guest's prompt must
/// show; not locked for the run: other CPUs' threads write to it too),
/// keys from stdin ([`crate::terminal`]) where this CPU reads them, the
/// trace to its [`Tracer`].
#[derive(Debug)]
pub(crate) struct Report {
    console: BufWriter<io::Stdout>,
    keyboard: Option<Keyboard>,
    tracer: Option<Tracer>,
}

impl Report {
    /// The observer of a CPU that reads the keyboard if `keyboard`.
    pub(crate) fn new(keyboard: Option<Keyboard>, tracer: Option<Tracer>) -> Self {
        Self {
            console: BufWriter::new(io::stdout()),
            keyboard,
            tracer,
        }
    }

    /// At the end of the run: flushes the console and what the trace
    /// still holds.
    pub(crate) fn finish(&mut self, cpu: &Cpu, bus: &mut DatBus) {
        let _ = self.console.flush();
        if let Some(tracer) = &mut self.tracer {
            tracer.finish(cpu, bus);
        }
    }
}

impl Observer for Report {
    fn console(&mut self, bytes: &[u8]) {
        // A closed stdout does not stop the guest.
        let _ = self.console.write_all(bytes);
        let _ = self.console.flush();
    }

    fn console_input(&mut self) -> &[u8] {
        self.keyboard.as_mut().map_or(&[], Keyboard::pending)
    }

    fn console_taken(&mut self, n: usize) {
        if let Some(keyboard) = &mut self.keyboard {
            keyboard.take(n);
        }
    }

    fn tracing(&self) -> bool {
        self.tracer.is_some()
    }

    fn trace(&mut self, cpu: &Cpu, insn: &Insn) {
        if let Some(tracer) = &mut self.tracer {
            tracer.instruction(cpu, insn);
        }
    }

    fn interruption(&mut self, cpu: &Cpu, interruption: &Interruption, old: &Psw) {
        if let Some(tracer) = &mut self.tracer {
            tracer.interruption(cpu, interruption, old);
        }
    }

    fn boundary(&mut self, cpu: &Cpu, bus: &mut DatBus) -> bool {
        if let Some(tracer) = &mut self.tracer {
            tracer.boundary(cpu, bus);
        }
        false
    }
}

/// The exit status of a run that stopped with `stop` (the module docs),
/// and the stop told in words; `current` is the PSW at the stop.
pub fn stop_status(stop: &Stop, current: &Psw) -> (u8, String) {
    match stop {
        Stop::Stopped { psw } => (
            0,
            format!("CPU stopped, PSW {:016x} {:016x}", psw.mask, psw.addr),
        ),
        Stop::DisabledWait { psw } => (
            (psw.addr & 0xFF) as u8,
            format!("disabled wait, PSW {:016x} {:016x}", psw.mask, psw.addr),
        ),
        Stop::EnabledWaitForever { psw } => (
            EXIT_CHECK_STOP,
            format!(
                "enabled wait with nothing pending, PSW {:016x} {:016x}",
                psw.mask, psw.addr
            ),
        ),
        // Only gdb's `kill` ends a run paused (breakpoints resume it): 0,
        // as QEMU's gdb stub exits.
        Stop::Paused => (0, format!("ended by gdb at {:016x}", current.addr)),
        Stop::LimitReached => (
            EXIT_LIMIT,
            format!("instruction limit reached at {:016x}", current.addr),
        ),
        Stop::Unimplemented {
            mnemonic,
            detail,
            address,
        } => (
            EXIT_UNIMPLEMENTED,
            match detail {
                Some(d) => format!("unimplemented: {mnemonic} ({d}) at {address:#x}"),
                None => format!("unimplemented instruction {mnemonic} at {address:#x}"),
            },
        ),
        Stop::ReIpl { watchdog, psw } => (
            EXIT_REIPL,
            format!(
                "re-IPL requested by {} (zmmu does not re-IPL), PSW {:016x} {:016x}",
                if *watchdog {
                    "the diag288 watchdog"
                } else {
                    "DIAGNOSE X'308'"
                },
                psw.mask,
                psw.addr
            ),
        ),
        Stop::WatchdogExpired { action, psw } => (
            if *action == WatchdogAction::Pause {
                EXIT_PAUSED
            } else {
                0
            },
            format!(
                "the diag288 watchdog expired: {action:?}, PSW {:016x} {:016x}",
                psw.mask, psw.addr
            ),
        ),
        Stop::CheckStop { reason, psw } => (
            EXIT_CHECK_STOP,
            format!(
                "check-stop: {reason}, PSW {:016x} {:016x}",
                psw.mask, psw.addr
            ),
        ),
    }
}
