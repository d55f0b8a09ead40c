//! `zmmu`, the command-line front end.
//!
//! `zmmu run PROGRAM.elf` runs a bare-metal s390x program the way
//! `qemu-system-s390x -machine s390-ccw-virtio -nographic -kernel
//! PROGRAM.elf` does; see [`zmmu_cli::run`] for the exit-status convention.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zmmu_cli::run;

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
    /// end, 3 when the program cannot be loaded.
    Run {
        /// The program.
        program: PathBuf,
        /// Stop after this many instructions.
        #[arg(long, value_name = "N")]
        max_insns: Option<u64>,
        /// Print every instruction and interruption to stderr.
        #[arg(long)]
        trace: bool,
        /// Guest storage size, with an optional K, M or G suffix.
        #[arg(long, value_name = "SIZE", default_value = "128M", value_parser = run::parse_size)]
        memory: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            program,
            max_insns,
            trace,
            memory,
        } => run::run(&program, max_insns, trace, memory),
    }
}
