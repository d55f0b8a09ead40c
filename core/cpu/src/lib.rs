//! # zmmu-cpu
//!
//! The s390x CPU: instruction decoder and interpreter.
//!
//! - [`decode`] turns instruction bytes into a typed [`decode::Insn`] once;
//!   [`opcode`] is the single table mapping opcode bits to mnemonic,
//!   [`format::Format`] and semantic shape ([`sem::Sem`]).
//! - [`exec`] carries instructions out on a [`state::Cpu`] through a
//!   [`memory::Bus`]. Semantics are kept apart from dispatch: the table-driven
//!   shapes and the pure condition-code rules of [`cc`] are what a block
//!   translator reuses.
//! - [`memory::FlatMemory`] is an untranslated memory for user-level tests;
//!   the machine's bus (`zmmu_machine::bus::DatBus`) goes through the
//!   core's DAT, keys, prefixing and software TLB, and carries out the
//!   invalidations handed to [`memory::Memory::invalidate`].
//! - Program, supervisor-call and external interruptions are delivered
//!   through the lowcore by [`state::Cpu::deliver`] ([`interrupt`]).
//!
//! ## Run a few instructions
//!
//! ```
//! use zmmu_cpu::memory::FlatMemory;
//! use zmmu_cpu::state::Cpu;
//!
//! let mut mem = FlatMemory::new(0, 0x10000);
//! // lghi %r1,5 ; aghi %r1,-7
//! mem.load(0x1000, &[0xA7, 0x19, 0x00, 0x05, 0xA7, 0x1B, 0xFF, 0xF9]).unwrap();
//! let mut cpu = Cpu::user(0x1000);
//! cpu.step(&mut mem).unwrap();
//! cpu.step(&mut mem).unwrap();
//! assert_eq!(cpu.gpr[1] as i64, -2);
//! assert_eq!(cpu.psw.cc(), 1); // result < 0
//! ```

#![no_std]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod cc;
pub mod clock;
pub mod decode;
pub mod disasm;
pub mod exec;
pub mod format;
pub mod interrupt;
pub mod memory;
pub mod opcode;
pub mod sem;
pub mod state;
