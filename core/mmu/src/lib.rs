//! # zmmu-mmu
//!
//! IBM z/Architecture Dynamic Address Translation (DAT), storage keys and
//! protection, prefixing, and a software TLB, in `no_std` Rust. The DAT walk
//! here is the single source of truth for every zmmu backend.
//!
//! ## Translate one address
//!
//! ```
//! use zmmu_mmu::prelude::*;
//!
//! // 1 MiB of storage with a segment table at 0x1000 and a page table at 0x2000.
//! let mut storage = OwnedStorage::new(1 << 20);
//! storage.write_u64(AbsoluteAddress::new(0x1000), 0x2000).unwrap(); // STE 0 -> page table 0x2000
//! storage.write_u64(AbsoluteAddress::new(0x2000 + 5 * 8), 0x7_3000).unwrap(); // page 5 -> frame 0x73000
//! let controls = Controls { cr1: Asce::new(0x1000), ..Controls::default() };
//!
//! let request = Request {
//!     address: LogicalAddress::new(0x5123),
//!     space: AddressSpace::Primary,
//!     kind: AccessKind::Read,
//!     key: 0,
//! };
//! let done = access(&mut storage, &controls, request).unwrap();
//! assert_eq!(done.absolute, AbsoluteAddress::new(0x7_3123));
//! // The reference bit of the frame is now set.
//! assert!(storage.key(done.absolute).unwrap().referenced());
//! ```
//!
//! ## Resolve one host fault
//!
//! The shadow pager mirrors a translation into host page tables when the
//! host MMU faults on it; here the host is `zmmu-hv-mock`'s software x86-64
//! MMU (with `zmmu-hv-kvm` it is a real VM).
//!
//! ```
//! use zmmu_mmu::host::{HostAccess, HostAccessKind};
//! use zmmu_mmu::prelude::*;
//! use zmmu_mmu::shadow::{Config, Resolution, RootTag, ShadowPager};
//! use zmmu_hv_mock::MockHost;
//!
//! let mut storage = OwnedStorage::new(1 << 20);
//! storage.write_u64(AbsoluteAddress::new(0x1000), 0x2000).unwrap();
//! storage.write_u64(AbsoluteAddress::new(0x2000 + 5 * 8), 0x7_3000).unwrap();
//! let controls = Controls { cr1: Asce::new(0x1000), ..Controls::default() };
//! let request = Request {
//!     address: LogicalAddress::new(0x5123),
//!     space: AddressSpace::Primary,
//!     kind: AccessKind::Read,
//!     key: 0,
//! };
//!
//! let mut host = MockHost::new(1 << 20);
//! let mut pager = ShadowPager::new(Config::default());
//! pager.activate(&mut host, RootTag::for_request(&controls, &request).unwrap()).unwrap();
//! // The host MMU has no mapping yet: it faults.
//! assert!(host.probe(request.address, HostAccessKind::Read).is_err());
//! // The pager walks DAT, records R, and maps the page (read-only: C is 0).
//! let resolved = pager.resolve_fault(&mut host, &mut storage, &controls, request).unwrap();
//! assert!(matches!(resolved, Resolution::Mapped(done) if done.absolute == AbsoluteAddress::new(0x7_3123)));
//! // Now the host MMU translates the address by itself.
//! assert_eq!(host.probe(request.address, HostAccessKind::Read), Ok(AbsoluteAddress::new(0x7_3123)));
//! assert!(host.probe(request.address, HostAccessKind::Write).is_err());
//! ```
#![no_std]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod access;
pub mod addr;
pub mod asce;
pub mod control;
pub mod entry;
pub mod exception;
pub mod host;
pub mod invalidate;
pub mod keys;
pub mod kind;
pub mod lap;
pub mod lra;
pub mod prefix;
pub mod range;
#[cfg(feature = "alloc")]
pub mod shadow;
pub mod space;
pub mod storage;
pub mod tlb;
pub mod walk;

/// log2 of the 4 KiB page size.
pub const PAGE_SHIFT: u32 = 12;
/// The byte-offset bits of a 4 KiB page.
pub const PAGE_MASK: u64 = (1 << PAGE_SHIFT) - 1;

/// The types most users need, in one import.
pub mod prelude {
    pub use crate::access::{access, check, Fault, Request};
    pub use crate::addr::{AbsoluteAddress, AddressingMode, LogicalAddress, RealAddress};
    pub use crate::asce::{Asce, Level};
    pub use crate::control::{Controls, Cr0, Facilities};
    pub use crate::exception::{Code, Exception, ProtectionKind, Teid};
    pub use crate::keys::StorageKey;
    pub use crate::kind::AccessKind;
    pub use crate::prefix::Prefix;
    pub use crate::space::AddressSpace;
    #[cfg(feature = "alloc")]
    pub use crate::storage::OwnedStorage;
    pub use crate::storage::Storage;
}
