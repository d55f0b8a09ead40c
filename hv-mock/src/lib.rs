//! `zmmu-hv-mock`: [`HostPaging`] in software.
//!
//! [`MockHost`] keeps x86-64 4-level page tables in a simulated
//! guest-physical memory, maps guest-physical memory to a simulated host
//! memory through an EPT-like second level, and walks both exactly as the
//! CPU does for a user-mode access ([`pagetable::walk`]): present, writable,
//! user and no-execute bits, 2 MiB and 1 GiB leaves, accessed and dirty
//! flags, and a count of the memory references of each two-dimensional
//! walk. A simulated TLB ([`tlb::X86Tlb`]) caches final translations per root
//! until INVLPG or a CR3 reload, so a flush the pager forgot shows up as a
//! stale translation. It is the backend that lets everything run without
//! KVM.
//!
//! Guest-physical layout: s390x absolute storage at `[0, storage size)`,
//! the x86 page tables from [`TABLE_GPA`] up.
//!
//! ## Resolve one host fault
//!
//! ```
//! use zmmu_mmu::prelude::*;
//! use zmmu_mmu::shadow::{Config, Engine, ServedBy};
//! use zmmu_hv_mock::MockHost;
//!
//! let mut storage = OwnedStorage::new(1 << 20);
//! storage.write_u64(AbsoluteAddress::new(0x1000), 0x2000).unwrap(); // STE 0 -> page table 0x2000
//! storage.write_u64(AbsoluteAddress::new(0x2000 + 5 * 8), 0x7_3000).unwrap(); // page 5 -> frame 0x73000
//! let controls = Controls { cr1: Asce::new(0x1000), ..Controls::default() };
//! let mut engine = Engine::new(MockHost::new(1 << 20), Config::default());
//!
//! let read = Request { address: LogicalAddress::new(0x5123), space: AddressSpace::Primary, kind: AccessKind::Read, key: 0 };
//! // The first access faults in the host MMU; the pager maps the page.
//! let first = engine.access(&mut storage, &controls, read).unwrap();
//! assert_eq!((first.absolute, first.by), (AbsoluteAddress::new(0x7_3123), ServedBy::Shadowed));
//! // The second one is a hardware walk (then a TLB hit).
//! let second = engine.access(&mut storage, &controls, read).unwrap();
//! assert_eq!(second.by, ServedBy::HostMmu);
//! assert_eq!(engine.host().counters().page_faults, 1);
//! ```
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

pub mod ept;
pub mod memory;
pub mod pagetable;
pub mod tlb;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use x86_64::structures::paging::PageTableFlags;
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::host::{
    FlushScope, HostAccess, HostAccessKind, HostFault, HostPageSize, HostPaging, HostPerms,
    Mapping, LOWER_HALF_END,
};

use ept::{index, leaf_level, level_bytes, Ept};
use memory::{HostPhysicalMemory, Hpa};
use pagetable::{is_leaf, is_present, Kind, PageFaultErrorCode, Translation, WalkError, ADDRESS};
use tlb::X86Tlb;

/// The guest-physical address of the first page-table page; storage must
/// lie below it.
pub const TABLE_GPA: u64 = 1 << 46;

/// The host-physical address that absolute storage starts at (storage
/// frames are addresses only: the mock never needs their bytes).
pub const STORAGE_HPA: u64 = 1 << 45;

/// The default TLB capacity (entries).
pub const TLB_ENTRIES: usize = 1536;

/// A root handle: a PCID-tagged PML4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MockRoot(u32);

/// Why an order was refused. The shadow pager never gives such orders; the
/// mock refuses them so that tests catch a pager that does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MockError {
    /// The root does not exist.
    UnknownRoot(MockRoot),
    /// The logical address is not below 2^47, or an address is not aligned
    /// to the page size.
    BadAddress(LogicalAddress),
    /// The frame is not inside storage.
    OutsideStorage(AbsoluteAddress),
    /// A mapping order without `READ`.
    NotReadable(LogicalAddress),
    /// The range holds another translation than the one being upgraded.
    Occupied(LogicalAddress),
    /// The page-table page budget is spent.
    OutOfMemory,
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownRoot(root) => {
                write!(f, "mock host: unknown or released root {}", root.0)
            }
            Self::BadAddress(at) => write!(
                f,
                "mock host: logical address {:#x} is not below 2^47 or not aligned to the page size",
                at.value()
            ),
            Self::OutsideStorage(frame) => write!(
                f,
                "mock host: frame at absolute {:#x} is not inside storage",
                frame.value()
            ),
            Self::NotReadable(at) => write!(
                f,
                "mock host: mapping at logical {:#x} without read permission (x86 cannot express it)",
                at.value()
            ),
            Self::Occupied(at) => write!(
                f,
                "mock host: the range at logical {:#x} holds another translation",
                at.value()
            ),
            Self::OutOfMemory => write!(f, "mock host: the page-table page budget is spent"),
        }
    }
}

impl std::error::Error for MockError {}

/// A page fault raised by a simulated access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    /// The faulting address (CR2).
    pub address: LogicalAddress,
    /// The x86 error code; empty with `ept` set.
    pub error_code: PageFaultErrorCode,
    /// An EPT violation rather than a page fault (a mapping outside storage).
    pub ept: bool,
}

impl fmt::Display for PageFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ept {
            write!(
                f,
                "EPT violation on an access to logical {:#x}",
                self.address.value()
            )
        } else {
            write!(
                f,
                "page fault at logical {:#x} (error code {:?})",
                self.address.value(),
                self.error_code
            )
        }
    }
}

impl std::error::Error for PageFault {}

/// What the simulated MMU did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    /// Two-dimensional walks (TLB misses that walked).
    pub walks: u64,
    /// Memory references of those walks: guest entries and EPT entries read.
    pub walk_references: u64,
    /// Accesses served by the TLB.
    pub tlb_hits: u64,
    /// Accesses that missed the TLB.
    pub tlb_misses: u64,
    /// Page faults (and EPT violations) raised.
    pub page_faults: u64,
    /// Mapping orders executed.
    pub maps: u64,
    /// Unmap and protect orders executed.
    pub unmaps: u64,
    /// INVLPG-style flushes.
    pub page_flushes: u64,
    /// CR3-reload flushes.
    pub root_flushes: u64,
}

impl Counters {
    /// The mean number of memory references of a two-dimensional walk.
    pub fn references_per_walk(&self) -> f64 {
        if self.walks == 0 {
            0.0
        } else {
            self.walk_references as f64 / self.walks as f64
        }
    }
}

/// `HostPaging` in software: see the crate docs.
#[derive(Debug)]
pub struct MockHost {
    memory: HostPhysicalMemory,
    ept: Ept,
    /// Guest-physical page of each page-table page, to its host page.
    tables: HashMap<u64, Hpa>,
    free_gpas: Vec<u64>,
    next_gpa: u64,
    max_tables: usize,
    roots: BTreeMap<MockRoot, u64>,
    next_root: u32,
    active: Option<MockRoot>,
    tlb: X86Tlb,
    storage_size: u64,
    counters: Counters,
}

impl MockHost {
    /// A host for `storage_size` bytes of absolute storage (below
    /// [`TABLE_GPA`]) with a TLB of [`TLB_ENTRIES`] entries.
    pub fn new(storage_size: u64) -> Self {
        Self::with_tlb(storage_size, TLB_ENTRIES)
    }

    /// A host with a TLB of `tlb_entries` entries.
    pub fn with_tlb(storage_size: u64, tlb_entries: usize) -> Self {
        let storage_size = storage_size.min(TABLE_GPA);
        let mut memory = HostPhysicalMemory::default();
        let mut ept = Ept::new(&mut memory);
        let mut gpa = 0;
        while gpa < storage_size {
            let size = [
                HostPageSize::Size1G,
                HostPageSize::Size2M,
                HostPageSize::Size4K,
            ]
            .into_iter()
            .find(|size| gpa % size.bytes() == 0 && gpa + size.bytes() <= storage_size)
            .unwrap_or(HostPageSize::Size4K);
            ept.map(&mut memory, gpa, STORAGE_HPA + gpa, size);
            gpa += size.bytes();
        }
        Self {
            memory,
            ept,
            tables: HashMap::new(),
            free_gpas: Vec::new(),
            next_gpa: TABLE_GPA,
            max_tables: 1 << 20,
            roots: BTreeMap::new(),
            next_root: 0,
            active: None,
            tlb: X86Tlb::new(tlb_entries),
            storage_size,
            counters: Counters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Zeroes the counters.
    pub fn reset_counters(&mut self) {
        self.counters = Counters::default();
    }

    /// The active root.
    pub fn active(&self) -> Option<MockRoot> {
        self.active
    }

    /// The number of page-table pages in use.
    pub fn table_pages(&self) -> usize {
        self.tables.len()
    }

    /// Simulates the CPU making a user-mode access of `kind` at `logical`
    /// with `root` loaded: a TLB lookup, else a two-dimensional walk that
    /// fills the TLB. Answers the guest-physical (s390x absolute) address
    /// reached, or the page fault; like the CPU, a fault drops the TLB entry
    /// of the address.
    pub fn load(
        &mut self,
        root: MockRoot,
        logical: LogicalAddress,
        kind: Kind,
    ) -> Result<AbsoluteAddress, PageFault> {
        let va = logical.value();
        let fault = |error_code, ept| PageFault {
            address: logical,
            error_code,
            ept,
        };
        let Some(&cr3) = self.roots.get(&root).filter(|_| va < LOWER_HALF_END) else {
            self.counters.page_faults += 1;
            return Err(fault(PageFaultErrorCode::USER_MODE, false));
        };
        if let Some(hit) = self.tlb.lookup(root.0, va) {
            match kind {
                Kind::Write if !hit.writable => {
                    return Err(self.tlb_fault(
                        root,
                        va,
                        fault(
                            PageFaultErrorCode::USER_MODE
                                | PageFaultErrorCode::CAUSED_BY_WRITE
                                | PageFaultErrorCode::PROTECTION_VIOLATION,
                            false,
                        ),
                    ))
                }
                Kind::Execute if hit.nx => {
                    return Err(self.tlb_fault(
                        root,
                        va,
                        fault(
                            PageFaultErrorCode::USER_MODE
                                | PageFaultErrorCode::INSTRUCTION_FETCH
                                | PageFaultErrorCode::PROTECTION_VIOLATION,
                            false,
                        ),
                    ))
                }
                // A store through a clean entry re-walks to set the dirty flag.
                Kind::Write if !hit.dirty => {}
                _ => {
                    self.counters.tlb_hits += 1;
                    return Ok(absolute(&hit, va));
                }
            }
        }
        self.counters.tlb_misses += 1;
        match self.walk(cr3, va, kind) {
            Ok(translation) => {
                self.tlb.insert(root.0, va, translation);
                Ok(absolute(&translation, va))
            }
            Err(WalkError::PageFault(code)) => Err(self.tlb_fault(root, va, fault(code, false))),
            Err(WalkError::EptViolation(_)) => {
                Err(self.tlb_fault(root, va, fault(PageFaultErrorCode::empty(), true)))
            }
        }
    }

    /// A two-dimensional walk of the tables at `cr3`, bypassing the TLB
    /// (counted).
    fn walk(&mut self, cr3: u64, va: u64, kind: Kind) -> Result<Translation, WalkError> {
        let mut references = 0;
        let result = pagetable::walk(&mut self.memory, &self.ept, cr3, va, kind, &mut references);
        self.counters.walks += 1;
        self.counters.walk_references += u64::from(references);
        result
    }

    fn tlb_fault(&mut self, root: MockRoot, va: u64, fault: PageFault) -> PageFault {
        self.counters.page_faults += 1;
        self.tlb.invalidate(root.0, va);
        fault
    }

    /// The host page that backs a page-table page.
    fn backing(&self, gpa: u64) -> Option<Hpa> {
        self.tables.get(&gpa).copied()
    }

    fn read(&self, table: u64, i: u64) -> u64 {
        self.backing(table)
            .and_then(|hpa| self.memory.read(hpa + i * 8))
            .unwrap_or(0)
    }

    fn write(&mut self, table: u64, i: u64, value: u64) {
        if let Some(hpa) = self.backing(table) {
            let _ = self.memory.write(hpa + i * 8, value);
        }
    }

    /// A zeroed page-table page in guest-physical memory, mapped by the EPT.
    fn alloc_table(&mut self) -> Result<u64, MockError> {
        if self.tables.len() >= self.max_tables {
            return Err(MockError::OutOfMemory);
        }
        let hpa = self.memory.alloc();
        let gpa = match self.free_gpas.pop() {
            Some(gpa) => gpa,
            None => {
                let gpa = self.next_gpa;
                self.next_gpa += 1 << 12;
                gpa
            }
        };
        self.ept
            .map(&mut self.memory, gpa, hpa, HostPageSize::Size4K);
        self.tables.insert(gpa, hpa);
        Ok(gpa)
    }

    /// Frees the table at `gpa` (at `level`) and every table below it.
    fn free_table(&mut self, gpa: u64, level: usize) {
        if level < 3 {
            for i in 0..512 {
                let entry = self.read(gpa, i);
                if is_present(entry) && !is_leaf(entry, level) {
                    self.free_table(entry & ADDRESS, level + 1);
                }
            }
        }
        if let Some(hpa) = self.tables.remove(&gpa) {
            self.memory.free(hpa);
            self.free_gpas.push(gpa);
        }
    }

    /// Whether the table at `gpa` (at `level`) maps nothing.
    fn empty(&self, gpa: u64, level: usize) -> bool {
        (0..512).all(|i| {
            let entry = self.read(gpa, i);
            !is_present(entry) || (!is_leaf(entry, level) && self.empty(entry & ADDRESS, level + 1))
        })
    }

    fn cr3(&self, root: MockRoot) -> Result<u64, MockError> {
        self.roots
            .get(&root)
            .copied()
            .ok_or(MockError::UnknownRoot(root))
    }

    /// Applies `change` to the entry that maps the `size`-aligned range at
    /// `logical`: the larger leaf holding it, or the entry at the range's
    /// own level (a leaf, or a table of smaller mappings).
    fn edit(
        &mut self,
        root: MockRoot,
        logical: LogicalAddress,
        size: HostPageSize,
        change: Change,
    ) {
        let Ok(mut table) = self.cr3(root) else {
            return;
        };
        let va = logical.value();
        let target = leaf_level(size);
        for level in 0..=target {
            let i = index(va, level);
            let entry = self.read(table, i);
            if !is_present(entry) {
                return;
            }
            if is_leaf(entry, level) || level == target {
                self.change(table, i, level, change);
                return;
            }
            table = entry & ADDRESS;
        }
    }

    /// Applies `change` to entry `i` of `table` at `level` and everything below it.
    fn change(&mut self, table: u64, i: u64, level: usize, change: Change) {
        let entry = self.read(table, i);
        if !is_present(entry) {
            return;
        }
        match change {
            Change::Remove => {
                if !is_leaf(entry, level) {
                    self.free_table(entry & ADDRESS, level + 1);
                }
                self.write(table, i, 0);
            }
            Change::Narrow {
                writable,
                executable,
            } => {
                if is_leaf(entry, level) {
                    let mut narrowed = entry;
                    if !writable {
                        narrowed &= !PageTableFlags::WRITABLE.bits();
                    }
                    if !executable {
                        narrowed |= PageTableFlags::NO_EXECUTE.bits();
                    }
                    self.write(table, i, narrowed);
                } else {
                    let next = entry & ADDRESS;
                    (0..512).for_each(|j| self.change(next, j, level + 1, change));
                }
            }
        }
    }
}

/// What `edit` does to the entries of a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Remove,
    Narrow { writable: bool, executable: bool },
}

fn absolute(translation: &Translation, va: u64) -> AbsoluteAddress {
    AbsoluteAddress::new(translation.gpa | (va & (translation.size.bytes() - 1)))
}

impl HostPaging for MockHost {
    type Root = MockRoot;
    type Error = MockError;

    fn create_root(&mut self) -> Result<MockRoot, MockError> {
        let pml4 = self.alloc_table()?;
        let root = MockRoot(self.next_root);
        self.next_root = self.next_root.wrapping_add(1);
        self.roots.insert(root, pml4);
        Ok(root)
    }

    fn release_root(&mut self, root: MockRoot) {
        if let Some(pml4) = self.roots.remove(&root) {
            self.free_table(pml4, 0);
            self.tlb.flush_root(root.0);
        }
        if self.active == Some(root) {
            self.active = None;
        }
    }

    fn map(&mut self, root: MockRoot, mapping: Mapping) -> Result<(), MockError> {
        // Every leaf starts clean and the walk sets its dirty flag at the
        // first store, tracked or not (`stored` is asked of tracked ones).
        let Mapping {
            logical,
            frame,
            size,
            perms,
            track_stores: _,
        } = mapping;
        let (va, bytes) = (logical.value(), size.bytes());
        if va >= LOWER_HALF_END || va % bytes != 0 || frame.value() % bytes != 0 {
            return Err(MockError::BadAddress(logical));
        }
        if frame
            .value()
            .checked_add(bytes)
            .is_none_or(|end| end > self.storage_size)
        {
            return Err(MockError::OutsideStorage(frame));
        }
        if !perms.contains(HostPerms::READ) {
            return Err(MockError::NotReadable(logical));
        }
        let target = leaf_level(size);
        let mut table = self.cr3(root)?;
        for level in 0..target {
            let i = index(va, level);
            let entry = self.read(table, i);
            table = if !is_present(entry) {
                let next = self.alloc_table()?;
                self.write(table, i, pagetable::table(next));
                next
            } else if is_leaf(entry, level) {
                return Err(MockError::Occupied(logical));
            } else {
                entry & ADDRESS
            };
        }
        let i = index(va, target);
        let entry = self.read(table, i);
        let new = pagetable::leaf(
            frame.value(),
            target,
            perms.contains(HostPerms::WRITE),
            perms.contains(HostPerms::EXECUTE),
        );
        if is_present(entry) {
            if !is_leaf(entry, target) {
                if !self.empty(entry & ADDRESS, target + 1) {
                    return Err(MockError::Occupied(logical));
                }
                self.free_table(entry & ADDRESS, target + 1);
            } else {
                let same_frame = entry & ADDRESS & !(level_bytes(target) - 1) == frame.value();
                let (old_flags, new_flags) = (pagetable::flags(entry), pagetable::flags(new));
                let narrower = (old_flags.contains(PageTableFlags::WRITABLE)
                    && !new_flags.contains(PageTableFlags::WRITABLE))
                    || (!old_flags.contains(PageTableFlags::NO_EXECUTE)
                        && new_flags.contains(PageTableFlags::NO_EXECUTE));
                if !same_frame || narrower {
                    return Err(MockError::Occupied(logical));
                }
            }
        }
        self.write(table, i, new);
        self.counters.maps += 1;
        Ok(())
    }

    fn protect(
        &mut self,
        root: MockRoot,
        logical: LogicalAddress,
        size: HostPageSize,
        perms: HostPerms,
    ) {
        self.counters.unmaps += 1;
        let change = if perms.contains(HostPerms::READ) {
            Change::Narrow {
                writable: perms.contains(HostPerms::WRITE),
                executable: perms.contains(HostPerms::EXECUTE),
            }
        } else {
            Change::Remove
        };
        self.edit(root, logical, size, change);
    }

    fn unmap(&mut self, root: MockRoot, logical: LogicalAddress, size: HostPageSize) {
        self.counters.unmaps += 1;
        self.edit(root, logical, size, Change::Remove);
    }

    fn clear(&mut self, root: MockRoot) {
        let Ok(pml4) = self.cr3(root) else { return };
        // The lower half only: the upper half is the host's (empty here).
        (0..256).for_each(|i| self.change(pml4, i, 0, Change::Remove));
    }

    fn flush(&mut self, root: MockRoot, scope: FlushScope) {
        match scope {
            FlushScope::Page(logical) => {
                self.counters.page_flushes += 1;
                self.tlb.invalidate(root.0, logical.value());
            }
            FlushScope::All => {
                self.counters.root_flushes += 1;
                self.tlb.flush_root(root.0);
            }
        }
    }

    fn activate(&mut self, root: MockRoot) -> Result<(), MockError> {
        self.cr3(root)?;
        self.active = Some(root);
        Ok(())
    }

    fn stored(&self, root: MockRoot, logical: LogicalAddress, size: HostPageSize) -> bool {
        let Ok(mut table) = self.cr3(root) else {
            return false;
        };
        let (va, target) = (logical.value(), leaf_level(size));
        for level in 0..=target {
            let entry = self.read(table, index(va, level));
            if !is_present(entry) {
                return false;
            }
            if is_leaf(entry, level) {
                return level == target && pagetable::flags(entry).contains(PageTableFlags::DIRTY);
            }
            table = entry & ADDRESS;
        }
        false
    }
}

impl HostAccess for MockHost {
    fn probe(
        &mut self,
        logical: LogicalAddress,
        kind: HostAccessKind,
    ) -> Result<AbsoluteAddress, HostFault> {
        let Some(root) = self.active else {
            self.counters.page_faults += 1;
            return Err(HostFault {
                address: logical,
                kind,
                present: false,
            });
        };
        self.load(root, logical, kind.into())
            .map_err(|fault| HostFault {
                address: logical,
                kind,
                present: fault
                    .error_code
                    .contains(PageFaultErrorCode::PROTECTION_VIOLATION),
            })
    }
}
