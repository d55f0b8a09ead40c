//! `zmmu-hv-mock`: `HostPaging` in software.
//!
//! This crate will hold an x86-64 4-level guest page-table walker plus an
//! EPT-like second level from guest-physical to simulated host memory, walked
//! exactly as the CPU walks them, with a simulated TLB. It is the backend that
//! lets everything run without KVM.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]
