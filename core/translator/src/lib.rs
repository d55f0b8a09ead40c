//! # zmmu-translator
//!
//! s390x translation blocks to x86-64 machine code, for the `jit` engine
//! (and later the in-VM `kvm` engine): `no_std` + `alloc`, no `unsafe`. The
//! code is emitted with iced-x86's `code_asm` for a caller-chosen address
//! and executed elsewhere (`zmmu-jit` owns the executable memory).
//!
//! - [`decode_block`] decodes straight-line code: up to an instruction that
//!   [ends a block](zmmu_cpu::opcode::Opcode::ends_block) (a conditional
//!   relative branch is a [`side_exit`] instead, up to [`MAX_SIDE_EXITS`];
//!   EXECUTE goes on, its helper leaving when the target branched),
//!   the end of the page (an instruction that crosses into the next page
//!   ends the block), or [`MAX_BLOCK`] instructions.
//! - [`translate`] emits one function per block with the ABI of [`abi`]:
//!   guest registers stay in the `#[repr(C)]` [`zmmu_cpu::state::Cpu`]
//!   (addressed from `rbx` with `state::offset`), the condition code is
//!   stored into the PSW mask by every instruction that sets it and kept
//!   in `cl` for a branch right after it.
//! - Instructions without a native translation, and every native one whose
//!   fast path gives up (a TLB miss the fill does not resolve, an access
//!   crossing a page, an overflow with its mask on), call the helper
//!   ([`abi::CTX_HELPER`]) that runs the interpreter's semantics for that
//!   one instruction. A native fast path gives up before it changes any
//!   architected state, so an exception is always raised by the
//!   interpreter, with its PSW, ILC, registers and storage: exceptions are
//!   precise without a restore table.
//! - Storage operands use the software TLB inline (see [`zmmu_mmu::tlb`],
//!   [`MemoryAccess::SoftTlb`]): slot, tag compare for the block's
//!   partition, kind and key, add the addend, then a big-endian load or
//!   store (MOVBE when [`Env::movbe`], else BSWAP).
//!
//! The modules: [`abi`] (the contract with the runner), `stubs` (shared
//! entry, dispatch and return code), `block` (decoding, side exits),
//! `emit` (one block's generator), `native` (which emission an
//! instruction gets), one module per instruction class (`alu`, `branch`,
//! `shift`, `field`, `ss`, `multiple`, `interlocked`, `conditional`, `moves`, `strings`, `long`, `bfp`, `vload`, `execute`), `cc` (the condition code), `liveness` (where it need not be stored),
//! `memory` (how a guest storage access is emitted: [`MemoryAccess`]) and
//! `fill` (the out-of-line miss paths it leaves for the end of the block).
//!
//! ```
//! use zmmu_mmu::addr::AddressingMode;
//! use zmmu_translator::{decode_block, stubs, translate, Env, MemoryAccess};
//!
//! // agr %r1,%r2 ; lg %r3,8(%r1) ; brc 15,.-10 ; the block ends at the branch.
//! let code = [0xb9, 0x08, 0x00, 0x12, 0xe3, 0x30, 0x10, 0x08, 0x00, 0x04, 0xa7, 0xf4, 0xff, 0xfb];
//! let block = decode_block(&code, 0x2_0000, AddressingMode::Bits64, 64);
//! assert_eq!(block.len(), 3);
//! let memory = MemoryAccess::SoftTlb { partition: 0, whole_pages: true, fma: false };
//! let env = Env { amode: AddressingMode::Bits64, key: 0, memory, movbe: false };
//! // The shared stubs and the block, for code placed at host address 0x1000.
//! let (shared, stubs) = stubs(0x1000).unwrap();
//! let ip = 0x1000 + shared.len() as u64;
//! let translated = translate(&block, &env, ip, 0, &stubs, &[]).unwrap();
//! assert_eq!(translated.native, [true, true, true]);
//! assert!(!translated.code.is_empty());
//! ```

#![no_std]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod abi;
mod alu;
mod bfp;
mod block;
mod branch;
mod cc;
mod conditional;
mod divide;
mod emit;
mod encode;
mod execute;
mod field;
mod fill;
mod interlocked;
mod liveness;
mod long;
mod memory;
mod moves;
mod multiple;
mod native;
mod psw;
mod regs;
mod shift;
mod ss;
mod strings;
mod stubs;
mod vload;
mod vstring;

pub use block::{
    decode_block, direct_targets, relative_target, side_exit, Guest, Target, MAX_BLOCK,
    MAX_SIDE_EXITS,
};
pub use emit::{translate, Site, Translated, Translator};
pub use execute::{fetch_targets, known_target, target_range};
pub use memory::MemoryAccess;
pub use stubs::{stubs, stubs_for, stubs_with_miss, Stubs};

use zmmu_mmu::addr::AddressingMode;

/// What the code of a block depends on besides its bytes: the block cache
/// keys blocks by these (with the absolute address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Env {
    /// The addressing mode.
    pub amode: AddressingMode,
    /// The PSW key (the key of every tag the inline probe forms).
    pub key: u8,
    /// How storage operands are reached.
    pub memory: MemoryAccess,
    /// The host has MOVBE.
    pub movbe: bool,
}
