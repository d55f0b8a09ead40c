//! The library behind `zmmu`: running a program on zmmu-machine with the
//! host's files and terminal ([`run`]), tracing it ([`trace`]) and
//! debugging it with gdb ([`gdb`]). The binary is a thin command-line
//! layer over it. The ELF loader it uses is `zmmu_machine::elf` (fuzzed by
//! `core/machine/fuzz`); the gdb stub's packet path is fuzzed by
//! `cli/fuzz`.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod drive;
pub mod engine;
pub mod gdb;
pub mod lazy_alloc;
pub mod report;
pub mod run;
pub mod smp;
mod stats_signal;
pub mod terminal;
pub mod trace;
