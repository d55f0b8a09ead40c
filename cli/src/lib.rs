//! The library behind `zmmu`: loading bare-metal s390x ELF files ([`elf`])
//! and running them on the core's machine ([`run`]). The binary is a thin
//! command-line layer over it; the library exists so that the ELF loader,
//! which reads untrusted files, can be fuzzed (`cli/fuzz`).
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod elf;
pub mod run;
