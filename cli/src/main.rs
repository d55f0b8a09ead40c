//! `zmmu`, the command-line front end.
//!
//! `zmmu run PROGRAM.elf` runs a bare-metal s390x program the way
//! `qemu-system-s390x -machine s390-ccw-virtio -nographic -kernel
//! PROGRAM.elf` does; see [`zmmu_cli::run`] for the exit-status convention.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zmmu_cli::lazy_alloc::LazyZeroed;
use zmmu_cli::run;

/// Guest storage is reserved lazily (see [`zmmu_cli::lazy_alloc`]).
#[global_allocator]
static ALLOCATOR: LazyZeroed = LazyZeroed;

/// zmmu: IBM z/Architecture guest memory through the host MMU.
#[derive(Debug, Parser)]
#[command(name = "zmmu", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a bare-metal s390x ELF as `qemu-system-s390x -kernel` would:
    /// console output (SCLP) on stdout, the stop reason on stderr, and the
    /// exit status from the final disabled-wait PSW (its address, modulo
    /// 256); 124 when the instruction limit is reached, 125 for an
    /// unimplemented instruction, 126 for a check-stop or a wait nothing can
    /// end, 3 when the program cannot be loaded or the options do not fit
    /// the machine; 0 when every CPU has stopped (SIGP STOP to itself) or
    /// the diag288 watchdog powered the machine off, as QEMU exits; 122 for
    /// a re-IPL (DIAGNOSE X'308' load clear, the watchdog's reset), 123
    /// when the watchdog paused the machine.
    #[command(after_long_help = MACHINE)]
    Run(run::RunOptions),
}

/// What `zmmu run` emulates, for `zmmu run --help`.
const MACHINE: &str = "\
Linux: zmmu run vmlinuz --initrd initrd.img --append console=ttysclp0
  --memory 512M --engine jit boots an s390x kernel image as QEMU's -kernel
  and -initrd load it; the terminal is its console (Ctrl-A x leaves).

The machine (as QEMU's s390-ccw-virtio with -kernel; --smp N CPUs, each on
its own host thread):
  z/Architecture DAT with storage keys, low-address protection, ESOP-1,
  EDAT-1 (off with --cpu max,edat=off) and instruction-execution
  protection (ESOP-2 with --cpu max,sea_esop2=on); the general, control,
  vector (129), MVCOS and CSST, and binary floating-point (short, long)
  instructions; the message-security assist (query functions only);
  SCLP (read SCP/CPU info, VT220 and line-mode consoles, input); SIGP
  between the CPUs; STSI, STIDP, STFLE (only what is implemented); DIAG
  0x10, 0x44, 0x9c, 0x288, 0x308; the TOD clock, clock comparator and CPU
  timer; the restart interruption; a channel subsystem with virtio-net-ccw
  (no backend). Anything else stops the run by name (exit status 125).";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(options) => run::run(&options),
    }
}
