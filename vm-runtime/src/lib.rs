//! # zmmu-vm-runtime
//!
//! The kvm engine's runtime inside the VM (issue 12, "the emulator inside
//! the VM"): built from the same `no_std` crates as the interpreter, for
//! `x86_64-unknown-none`, it runs at CPL3 in the upper half every shadow
//! root maps, so the instructions it completes cost no VM exit.
//!
//! - The library part ([`protocol`], [`call`], [`miss`], [`gate`],
//!   [`translate`]) is ordinary Rust that builds and is tested on the
//!   host: the layout the host and the image share, the call logic over a
//!   [`call::Guest`] trait, the resolution of the dispatcher's jump-cache
//!   misses, the LPSWE in the prefix area that switches the shadow root
//!   through the gate (docs/CHOICES.md 77), and the translation of a
//!   block with the host's translator (docs/CHOICES.md 89).
//! - The image (`src/bin/image.rs`, feature `image`) is the binary
//!   `zmmu-hv-kvm`'s build script builds with a nested cargo (code model
//!   `kernel`, static relocation, linked at [`protocol::IMAGE_VA`] by
//!   `image.ld`) and embeds; the host loads it from its ELF program
//!   headers (`zmmu_hv_kvm::image`).
//!
//! The host-call stub of translated code calls the image first; the image
//! completes the instruction ([`protocol::COMPLETED`]) or answers
//! [`protocol::HOST`], and the stub exits to the host as before. At a
//! jump-cache miss the dispatcher calls the image too ([`miss`]): it goes
//! on at a block the host published, or the chain ends as before. A
//! page fault of translated code comes to the image too ([`fill`]): it
//! maps the page in the shadow root itself, or forwards the fault to the
//! host.

#![no_std]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod call;
pub mod fill;
pub mod gate;
pub mod guest;
pub mod lowcore;
pub mod miss;
pub mod protocol;
pub mod translate;
