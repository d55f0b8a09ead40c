//! `zmmu-hv-kvm`: `HostPaging` on a real KVM virtual machine.
//!
//! This crate will hold guest-absolute storage in a KVM memory slot, shadow
//! page tables in a second slot, a small long-mode runtime in the upper half
//! of the address space and an access engine that runs s390x accesses at CPL3.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]
