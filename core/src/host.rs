//! `HostPaging`: the interface through which the core orders a host MMU
//! around. An implementation holds x86-64 page tables (in software, in a KVM
//! guest's physical memory, or elsewhere) and executes mapping orders; it
//! never interprets s390x tables itself.
//!
//! Addresses on this interface are s390x *logical* addresses (the x86-64
//! virtual addresses of the lower half) and s390x *absolute* addresses (the
//! guest-physical addresses of guest storage).
//!
//! ## Contract
//! - `map` may only fill a slot that is empty, or replace a mapping with one
//!   that is at least as permissive to the same frame; anything that removes
//!   or narrows a mapping goes through `unmap`/`protect` and is followed by
//!   `flush` before guest code runs again in that root.
//! - `flush` may be deferred by the implementation (for example batched into
//!   an in-guest INVLPG before the next run) but must take effect before the
//!   next access made through the host MMU.

use bitflags::bitflags;

use crate::addr::{AbsoluteAddress, LogicalAddress};

/// The lowest logical address that 4-level x86-64 paging cannot map in the
/// lower half: accesses at or above it take the software path.
pub const LOWER_HALF_END: u64 = 1 << 47;

/// An x86-64 page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPageSize {
    /// 4 KiB (a PTE).
    Size4K,
    /// 2 MiB (a PDE with PS).
    Size2M,
    /// 1 GiB (a PDPTE with PS).
    Size1G,
}

impl HostPageSize {
    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Size4K => 1 << 12,
            Self::Size2M => 1 << 21,
            Self::Size1G => 1 << 30,
        }
    }
}

bitflags! {
    /// What a host mapping permits. Guest pages are data to the host, so no
    /// mapping the shadow pager makes is executable.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct HostPerms: u8 {
        /// Loads.
        const READ = 1 << 0;
        /// Stores.
        const WRITE = 1 << 1;
        /// Instruction fetches (never set by the shadow pager).
        const EXECUTE = 1 << 2;
    }
}

/// What a flush must cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushScope {
    /// The translation of one page (INVLPG).
    Page(LogicalAddress),
    /// Every translation of the root (a CR3 reload).
    All,
}

/// One mapping order: a naturally aligned logical range of `size` mapped to
/// the absolute frame at `frame` with `perms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// The logical (x86 virtual) address, aligned to `size`.
    pub logical: LogicalAddress,
    /// The absolute (x86 guest-physical) address, aligned to `size`.
    pub frame: AbsoluteAddress,
    /// The page size.
    pub size: HostPageSize,
    /// The permissions.
    pub perms: HostPerms,
}

/// A host MMU that the shadow pager drives.
pub trait HostPaging {
    /// A handle on one address-space root (an x86-64 PML4).
    type Root: Copy + Eq + core::fmt::Debug;
    /// Why an order failed (out of table memory, a backend failure).
    type Error: core::fmt::Debug;

    /// Creates an empty root.
    fn create_root(&mut self) -> Result<Self::Root, Self::Error>;

    /// Releases a root and every table below it. The root must not be active.
    fn release_root(&mut self, root: Self::Root);

    /// Installs a mapping (see the contract in the module docs). A larger
    /// page replaces any smaller mappings inside its range.
    fn map(&mut self, root: Self::Root, mapping: Mapping) -> Result<(), Self::Error>;

    /// Narrows the permissions of whatever maps the `size`-aligned range at
    /// `logical` to at most `perms` (a mapping of a different size inside
    /// the range is narrowed too). Needs a flush.
    fn protect(&mut self, root: Self::Root, logical: LogicalAddress, size: HostPageSize, perms: HostPerms)
        -> Result<(), Self::Error>;

    /// Removes whatever maps the `size`-aligned range at `logical`. Needs a flush.
    fn unmap(&mut self, root: Self::Root, logical: LogicalAddress, size: HostPageSize) -> Result<(), Self::Error>;

    /// Removes every mapping of the root (its tables are kept for reuse or
    /// freed, as the implementation likes). Needs a flush.
    fn clear(&mut self, root: Self::Root) -> Result<(), Self::Error>;

    /// Makes narrowed or removed mappings of `root` take effect.
    fn flush(&mut self, root: Self::Root, scope: FlushScope);

    /// Makes `root` the active address space (a CR3 load).
    fn activate(&mut self, root: Self::Root) -> Result<(), Self::Error>;
}
