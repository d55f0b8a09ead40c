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
//! - `map` fills a range that holds no translation (empty intermediate
//!   tables may be there), or upgrades the mapping already there: same
//!   size, same frame, a superset of its permissions. An upgrade needs no
//!   flush (a stale narrower TLB entry only causes a spurious fault, after
//!   which the CPU re-walks). Anything else that changes a mapping goes
//!   through `unmap`/`protect`/`clear` first.
//! - Removing and narrowing never allocate (a larger mapping is removed or
//!   narrowed whole, never split), so `unmap`, `protect` and `clear` cannot
//!   fail: an invalidation that failed half-way would leave a stale grant.
//! - After `unmap`, `protect` or `clear`, the caller calls `flush` for what
//!   it removed or narrowed before the next access through that root.
//!   `flush` may be deferred by the implementation (for example batched
//!   into an in-guest INVLPG before the next run) but must take effect
//!   before the next access made through the host MMU in that root.
//! - An implementation must not reuse the memory of a page table it freed
//!   while a paging-structure cache may still hold it, that is, before the
//!   flush that follows the order that freed it.
//! - Roots are tagged address spaces (PCIDs on x86-64): `activate` does not
//!   flush, and a flush of a root that is not active still takes effect.
//!
//! ## Example
//!
//! A backend is driven by the shadow pager, but the orders read plainly:
//!
//! ```
//! use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
//! use zmmu_mmu::host::{FlushScope, HostPageSize, HostPaging, HostPerms, Mapping};
//!
//! fn map_then_drop<H: HostPaging>(host: &mut H) -> Result<(), H::Error> {
//!     let root = host.create_root()?;
//!     host.activate(root)?;
//!     let logical = LogicalAddress::new(0x20_0000);
//!     // Read-only while the frame's change bit is zero...
//!     let mapping = Mapping {
//!         logical,
//!         frame: AbsoluteAddress::new(0x40_0000),
//!         size: HostPageSize::Size2M,
//!         perms: HostPerms::READ,
//!         track_stores: false,
//!     };
//!     host.map(root, mapping)?;
//!     // ...then upgraded after a write fault recorded C: no flush needed.
//!     host.map(root, Mapping { perms: HostPerms::READ | HostPerms::WRITE, ..mapping })?;
//!     // An IPTE covering it removes it: unmap, then flush.
//!     host.unmap(root, logical, HostPageSize::Size2M);
//!     host.flush(root, FlushScope::Page(logical));
//!     Ok(())
//! }
//! ```

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
    /// mapping the shadow pager makes is executable. x86-64 cannot express a
    /// present page that is not readable: a mapping order always has `READ`,
    /// and `protect` to permissions without `READ` removes the mapping.
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
    /// The translation of the page, of whatever size, that holds this
    /// address (INVLPG).
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
    /// The host MMU records the first store through the mapping (x86's
    /// dirty flag made clear), for [`HostPaging::stored`]; otherwise the
    /// mapping may be made as already stored through.
    pub track_stores: bool,
}

/// A host MMU that the shadow pager drives.
pub trait HostPaging {
    /// A handle on one address-space root (an x86-64 PML4).
    type Root: Copy + Eq + core::fmt::Debug;
    /// Why a `create_root`, `map` or `activate` order failed (out of table
    /// memory, a backend failure).
    type Error: core::fmt::Debug;

    /// Creates an empty root.
    fn create_root(&mut self) -> Result<Self::Root, Self::Error>;

    /// Releases a root and every table below it. The root must not be active.
    fn release_root(&mut self, root: Self::Root);

    /// Installs a mapping, or upgrades the one already at its range (see
    /// the contract in the module docs). `mapping.logical` is below
    /// [`LOWER_HALF_END`], and both addresses are aligned to its size.
    fn map(&mut self, root: Self::Root, mapping: Mapping) -> Result<(), Self::Error>;

    /// Narrows the permissions of whatever maps the `size`-aligned range at
    /// `logical` to at most `perms`: smaller mappings inside the range, or
    /// the larger mapping that holds it, whole. Needs a flush.
    fn protect(
        &mut self,
        root: Self::Root,
        logical: LogicalAddress,
        size: HostPageSize,
        perms: HostPerms,
    );

    /// Removes whatever maps the `size`-aligned range at `logical`: smaller
    /// mappings inside the range, or the larger mapping that holds it,
    /// whole. Needs a flush.
    fn unmap(&mut self, root: Self::Root, logical: LogicalAddress, size: HostPageSize);

    /// Removes every mapping of the root (its tables are kept for reuse or
    /// freed, as the implementation likes). Needs a flush.
    fn clear(&mut self, root: Self::Root);

    /// Makes narrowed or removed mappings of `root` take effect.
    fn flush(&mut self, root: Self::Root, scope: FlushScope);

    /// Makes `root` the active address space (a CR3 load that keeps the
    /// root's tagged TLB entries).
    fn activate(&mut self, root: Self::Root) -> Result<(), Self::Error>;

    /// Whether a store went through the mapping of `size` at `logical`
    /// since it was made with [`Mapping::track_stores`] (x86's dirty
    /// flag); `false` where nothing of that size maps `logical`.
    fn stored(&self, root: Self::Root, logical: LogicalAddress, size: HostPageSize) -> bool;
}

/// The kind of an access made through the host MMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostAccessKind {
    /// A load.
    Read,
    /// A store.
    Write,
}

/// A host page fault: the host MMU refused an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostFault {
    /// The faulting logical address.
    pub address: LogicalAddress,
    /// The kind of the access.
    pub kind: HostAccessKind,
    /// A translation was present but did not permit the access (x86 error
    /// code bit 0); otherwise nothing was mapped.
    pub present: bool,
}

impl core::fmt::Display for HostAccessKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Read => "load",
            Self::Write => "store",
        })
    }
}

/// `host page fault: store at logical 0x5000 (not permitted)`.
impl core::fmt::Display for HostFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let why = if self.present {
            "not permitted"
        } else {
            "not mapped"
        };
        write!(
            f,
            "host page fault: {} at logical {:#x} ({why})",
            self.kind,
            self.address.value()
        )
    }
}

impl core::error::Error for HostFault {}

/// A host MMU that can make one access through its active root: how the
/// shadow pager's `Engine` (`zmmu_mmu::shadow`, with `alloc`) tries the
/// fast path. hv-mock
/// answers with a software walk of its tables; hv-kvm runs a load or store
/// in the VM.
pub trait HostAccess: HostPaging {
    /// Performs an access of `kind` at `logical` through the active root and
    /// answers the absolute (guest-physical) address it reached, or the
    /// page fault the host MMU raised.
    fn probe(
        &mut self,
        logical: LogicalAddress,
        kind: HostAccessKind,
    ) -> Result<AbsoluteAddress, HostFault>;
}
