//! [`KvmPaging`]: the core's [`HostPaging`] on x86-64 4-level page tables
//! held in the pool of the system slot, which the vCPU walks in hardware.
//!
//! ## Who writes which entry
//! The lower half (PML4 entries 0-255) of each root maps s390x logical
//! addresses to guest-absolute storage, as the shadow pager orders. The
//! upper half entry 511 is the same in every root and maps the system slot
//! (runtime and pool) at [`RUNTIME_VA`](crate::runtime::RUNTIME_VA) and,
//! with the image, guest absolute storage at
//! [`ABSOLUTE_VA`] (the image's
//! absolute window).
//!
//! The host writes every entry into the pool directly, so its own view is
//! always current. A write that *fills* an empty entry of a table the guest
//! never wrote needs nothing more: the next access faults and the
//! hypervisor walks the new entry. A write that *changes a present entry*,
//! and every later write to a table the guest has written, is also queued
//! for the guest, which repeats it at CPL0 before it next runs translated
//! code. On an EPT/NPT host the repeat is redundant; on a shadow-paging
//! hypervisor (PVM on our machines) it is what makes the change visible at
//! all, because KVM only notices table writes that the guest makes: host
//! writes bypass its write tracking, a later INVLPG or CR3 load does not
//! re-read a table it believes unchanged, and once the guest has written an
//! entry as not present, KVM delivers the next fault on it straight to the
//! guest without looking at a host fill. `tests/flush.rs` measures both; the
//! repeat can be switched off with [`KvmPaging::set_guest_table_writes`] to
//! show it.
//!
//! Tables that are unlinked go to the pool's quarantine (see `pool`).
//!
//! Entries are plain `u64` words in the pool; their flag bits are the
//! `x86_64` crate's [`PageTableFlags`] (Intel SDM Vol. 3A, 4.5, Tables 4-15
//! to 4-20; AMD APM Vol. 2, 5.4).

use std::collections::BTreeSet;

use x86_64::structures::paging::PageTableFlags;
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::host::{FlushScope, HostPageSize, HostPaging, HostPerms, Mapping, LOWER_HALF_END};
use zmmu_vm_runtime::protocol::{ABSOLUTE_MAX, ABSOLUTE_VA, IMAGE_SIZE};

use crate::error::KvmError;
use crate::image::{Image, IMAGE_VA};
use crate::memory::SlotMemory;
use crate::pool::{Pool, PoolStats, SlotHandle};
use crate::runtime::{gate, off, va, CODE_CACHE_MAX, CODE_CACHE_VA, INVLPG_CAPACITY};

/// The address field of an entry (the next table's or the frame's
/// address): bits 51:12, every bit that is not a flag.
const ADDRESS: u64 = !PageTableFlags::all().bits();

/// The flags of a non-leaf entry: present, writable, user, accessed. Access
/// rights combine over all levels (Intel SDM Vol. 3A, 4.6.1), so the leaf
/// decides.
const TABLE: PageTableFlags = PageTableFlags::PRESENT
    .union(PageTableFlags::WRITABLE)
    .union(PageTableFlags::USER_ACCESSIBLE)
    .union(PageTableFlags::ACCESSED);

/// The flags of an entry read from memory (everything but [`ADDRESS`]).
#[inline]
const fn flags(entry: u64) -> PageTableFlags {
    PageTableFlags::from_bits_truncate(entry)
}

/// Whether `entry` is present.
#[inline]
const fn present(entry: u64) -> bool {
    flags(entry).contains(PageTableFlags::PRESENT)
}

/// Whether `entry` (in a PDPT or PD) maps a large page rather than a table.
#[inline]
const fn large(entry: u64) -> bool {
    flags(entry).contains(PageTableFlags::HUGE_PAGE)
}

/// One root: the guest-physical address of its PML4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KvmRoot(u64);

impl KvmRoot {
    /// The guest-physical address of the PML4 (the CR3 value).
    pub fn cr3(self) -> u64 {
        self.0
    }
}

/// What the guest must do before it next runs translated code.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Page-table writes to repeat at CPL0: (virtual address, value).
    pub writes: Vec<(u64, u64)>,
    /// Addresses to INVLPG.
    pub invlpg: Vec<u64>,
    /// A CR3 reload (flushes everything).
    pub reload: bool,
}

/// Counters of the paging backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagingStats {
    /// Mapping orders executed.
    pub maps: u64,
    /// Entries changed while present (each repeated in the guest).
    pub guest_writes: u64,
    /// INVLPGs requested.
    pub invlpgs: u64,
    /// Full flushes (CR3 reloads) requested.
    pub reloads: u64,
    /// 4 KiB leaves the guest wrote itself (the image's shadow fills).
    pub adopted: u64,
    /// The pool.
    pub pool: PoolStats,
}

/// x86-64 page tables in a KVM memory slot, driven through [`HostPaging`].
#[derive(Debug)]
pub struct KvmPaging {
    memory: SlotMemory,
    system_gpa: u64,
    pool: Pool,
    upper: u64,
    roots: BTreeSet<u64>,
    active: Option<KvmRoot>,
    loaded: Option<KvmRoot>,
    pending: Pending,
    storage_limit: u64,
    guest_table_writes: bool,
    zombies: Vec<u64>,
    /// Absolute frames (4 KiB, by address) that hold translated code.
    code_frames: BTreeSet<u64>,
    /// Per pool page: the guest has written one of its entries, so KVM may
    /// hold a shadow of it that host writes would not update.
    visible: Vec<bool>,
    stats: PagingStats,
    /// The in-VM runtime image and its slot's guest-physical address.
    image: Option<(Image, u64)>,
}

/// The index of `address` in the table at `level` (4 = PML4 .. 1 = PT).
#[inline]
fn index(address: u64, level: u32) -> u64 {
    (address >> (12 + 9 * (level - 1))) & 511
}

impl KvmPaging {
    /// Tables in `memory` (the system slot at `system_gpa`), mapping frames
    /// below `storage_limit`. Builds the shared upper half.
    pub(crate) fn new(
        memory: SlotMemory,
        system_gpa: u64,
        storage_limit: u64,
        slot: Option<SlotHandle>,
        code: Option<(u64, u64)>,
        image: Option<(Image, u64)>,
    ) -> Result<Self, KvmError> {
        if memory.len() > (1 << 30) {
            return Err(KvmError::Config(
                "the system slot (runtime + pool) is limited to 1 GiB".into(),
            ));
        }
        let pool = Pool::new(off::RUNTIME_END, memory.len(), slot);
        let pages = ((memory.len() - off::RUNTIME_END) / 4096) as usize;
        let mut paging = Self {
            memory,
            system_gpa,
            pool,
            upper: 0,
            roots: BTreeSet::new(),
            active: None,
            loaded: None,
            pending: Pending::default(),
            storage_limit,
            guest_table_writes: true,
            zombies: Vec::new(),
            code_frames: BTreeSet::new(),
            visible: Vec::new(),
            stats: PagingStats::default(),
            image,
        };
        paging.visible = vec![false; pages];
        paging.build_upper_half(code)?;
        Ok(paging)
    }

    /// Maps the system slot at RUNTIME_VA: runtime pages 4 KiB each with
    /// their own permissions, the pool with 2 MiB supervisor pages; and the
    /// code-cache slot `code` (guest-physical address, length), if any, at
    /// [`CODE_CACHE_VA`] with 2 MiB user pages, executable and read-only
    /// (translated code can run it, never write it).
    fn build_upper_half(&mut self, code: Option<(u64, u64)>) -> Result<(), KvmError> {
        let pdpt = self.pool.alloc(&self.memory)?;
        let pd = self.pool.alloc(&self.memory)?;
        let rt_va = va(0);
        let fail =
            || KvmError::Config("system slot: the upper-half tables lie outside the slot".into());
        self.memory
            .store_u64(pdpt + 8 * index(rt_va, 3), self.gpa(pd) | TABLE.bits())
            .ok_or_else(fail)?;
        let mut pt = 0;
        for page in 0..off::RUNTIME_END / 4096 {
            let at = page * 4096;
            if page % 512 == 0 {
                // A page table for each 2 MiB of the runtime area.
                pt = self.pool.alloc(&self.memory)?;
                self.memory
                    .store_u64(pd + 8 * (at >> 21), self.gpa(pt) | TABLE.bits())
                    .ok_or_else(fail)?;
            }
            let user_data = off::USTACK_TOP - 0x4000..off::USER_DATA + 0x1000;
            // The kernel stack's last page, read-only to CPL3 at
            // `off::KSTACK_ALIAS`: the frame of a page fault the #PF stub
            // hands to the image (docs/CHOICES.md 91).
            if at == off::KSTACK_ALIAS && self.image.is_some() {
                let alias = PageTableFlags::PRESENT
                    | PageTableFlags::USER_ACCESSIBLE
                    | PageTableFlags::ACCESSED
                    | PageTableFlags::NO_EXECUTE;
                self.memory
                    .store_u64(
                        pt + 8 * (page % 512),
                        self.gpa(off::KSTACK_TOP - 0x1000) | alias.bits(),
                    )
                    .ok_or_else(fail)?;
                continue;
            }
            let data = PageTableFlags::PRESENT
                | PageTableFlags::WRITABLE
                | PageTableFlags::ACCESSED
                | PageTableFlags::DIRTY
                | PageTableFlags::NO_EXECUTE;
            let flags = if (off::CODE..off::CODE_END).contains(&at) {
                PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE | PageTableFlags::ACCESSED
            } else if user_data.contains(&at) || at >= off::OPS {
                data | PageTableFlags::USER_ACCESSIBLE
            } else {
                data
            };
            self.memory
                .store_u64(pt + 8 * (page % 512), self.gpa(at) | flags.bits())
                .ok_or_else(fail)?;
        }
        // With the image, user too: its shadow fills write the tables
        // (docs/CHOICES.md 91). Translated code cannot reach the upper
        // half (every guest access it makes is checked below 2^47).
        let mut pool = PageTableFlags::PRESENT
            | PageTableFlags::WRITABLE
            | PageTableFlags::ACCESSED
            | PageTableFlags::DIRTY
            | PageTableFlags::HUGE_PAGE
            | PageTableFlags::NO_EXECUTE;
        pool.set(PageTableFlags::USER_ACCESSIBLE, self.image.is_some());
        let mut big = off::RUNTIME_END;
        while big < self.memory.len() {
            self.memory
                .store_u64(pd + 8 * (big >> 21), self.gpa(big) | pool.bits())
                .ok_or_else(fail)?;
            big += 1 << 21;
        }
        // The last 1 GiB: the code cache, then the image in its last 4 MiB.
        let last_pd = match (code, &self.image) {
            (None, None) => 0,
            _ => {
                let pd = self.pool.alloc(&self.memory)?;
                self.memory
                    .store_u64(
                        pdpt + 8 * index(CODE_CACHE_VA, 3),
                        self.gpa(pd) | TABLE.bits(),
                    )
                    .ok_or_else(fail)?;
                pd
            }
        };
        if let Some((image, gpa)) = &self.image {
            // The absolute window: guest absolute storage (slot 0, at
            // guest-physical 0) with 2 MiB user pages, writable, not
            // executable, a page directory per 1 GiB.
            let size = self.storage_limit.min(ABSOLUTE_MAX);
            let leaf = PageTableFlags::PRESENT
                | PageTableFlags::WRITABLE
                | PageTableFlags::USER_ACCESSIBLE
                | PageTableFlags::ACCESSED
                | PageTableFlags::DIRTY
                | PageTableFlags::HUGE_PAGE
                | PageTableFlags::NO_EXECUTE;
            for giant in (0..size).step_by(1 << 30) {
                let pd = self.pool.alloc(&self.memory)?;
                self.memory
                    .store_u64(
                        pdpt + 8 * index(ABSOLUTE_VA + giant, 3),
                        self.gpa(pd) | TABLE.bits(),
                    )
                    .ok_or_else(fail)?;
                for big in (giant..size.min(giant + (1 << 30))).step_by(1 << 21) {
                    self.memory
                        .store_u64(pd + 8 * index(big, 2), big | leaf.bits())
                        .ok_or_else(fail)?;
                }
            }
            image.area().set_absolute_size(size);
            image.area().set_pool(
                self.gpa(off::RUNTIME_END),
                self.memory.len() - off::RUNTIME_END,
                va(off::RUNTIME_END),
            );
            if let Some((_, len)) = code {
                image.area().set_code(CODE_CACHE_VA..CODE_CACHE_VA + len);
            }
            // A page table for each 2 MiB of the image's slot.
            let mut tables = Vec::new();
            for big in (0..IMAGE_SIZE).step_by(1 << 21) {
                let pt = self.pool.alloc(&self.memory)?;
                self.memory
                    .store_u64(
                        last_pd + 8 * index(IMAGE_VA + big, 2),
                        self.gpa(pt) | TABLE.bits(),
                    )
                    .ok_or_else(fail)?;
                tables.push(pt);
            }
            for &(offset, flags) in image.pages() {
                let pt = tables.get((offset >> 21) as usize).ok_or_else(fail)?;
                self.memory
                    .store_u64(pt + 8 * (offset >> 12 & 511), (gpa + offset) | flags.bits())
                    .ok_or_else(fail)?;
            }
        }
        if let Some((gpa, len)) = code {
            if len > CODE_CACHE_MAX || gpa % (1 << 21) != 0 {
                return Err(KvmError::Config(format!(
                    "code cache of {len:#x} bytes at {gpa:#x}: at most {CODE_CACHE_MAX:#x}, 2 MiB aligned"
                )));
            }
            let code_pd = last_pd;
            let leaf = PageTableFlags::PRESENT
                | PageTableFlags::USER_ACCESSIBLE
                | PageTableFlags::ACCESSED
                | PageTableFlags::HUGE_PAGE;
            for i in 0..len.div_ceil(1 << 21) {
                self.memory
                    .store_u64(code_pd + 8 * i, (gpa + (i << 21)) | leaf.bits())
                    .ok_or_else(fail)?;
            }
        }
        self.upper = self.gpa(pdpt) | TABLE.bits();
        Ok(())
    }

    /// The guest wrote the 4 KiB leaf of `logical` in `root` itself (the
    /// image's shadow fill, docs/CHOICES.md 91): KVM may shadow the table
    /// that holds it now, so the host's later writes to that table are
    /// repeated in the guest (see the module docs).
    pub fn adopted(&mut self, root: KvmRoot, logical: LogicalAddress) {
        let Ok(mut table) = self.root_offset(root) else {
            return;
        };
        for level in [4, 3, 2] {
            let e = self.entry(table, index(logical.value(), level));
            match self.table_of(e) {
                Some(next) if present(e) && !large(e) => table = next,
                _ => return,
            }
        }
        let page = self.page_index(table);
        if let Some(visible) = self.visible.get_mut(page) {
            *visible = true;
        }
        self.stats.adopted += 1;
    }

    /// The in-VM runtime image, if the VM has one.
    pub fn image(&self) -> Option<&Image> {
        self.image.as_ref().map(|(image, _)| image)
    }

    /// Whether narrowing changes are repeated in the guest (default on; see
    /// the module docs). Off only to measure why it is needed.
    pub fn set_guest_table_writes(&mut self, on: bool) {
        self.guest_table_writes = on;
    }

    /// The counters.
    pub fn stats(&self) -> PagingStats {
        PagingStats {
            pool: self.pool.stats(),
            ..self.stats
        }
    }

    /// The system slot's memory.
    pub(crate) fn memory(&self) -> &SlotMemory {
        &self.memory
    }

    /// The execution area of translated code.
    pub fn exec_area(&self) -> crate::exec::ExecArea<'_> {
        crate::exec::ExecArea::new(&self.memory)
    }

    /// The root currently active, if any.
    pub fn active(&self) -> Option<KvmRoot> {
        self.active
    }

    /// Takes what the guest must do before it runs again, and the CR3 to
    /// load (if the active root is not the loaded one, or a reload was asked).
    pub(crate) fn take_pending(&mut self) -> (Pending, Option<u64>) {
        let mut pending = std::mem::take(&mut self.pending);
        let overflow = pending.invlpg.len() > INVLPG_CAPACITY;
        let cr3 = match self.active {
            Some(active) if Some(active) != self.loaded || pending.reload || overflow => {
                Some(active.cr3())
            }
            _ => None,
        };
        if cr3.is_some() {
            pending.invlpg.clear();
            self.loaded = self.active;
        }
        pending.reload = false;
        (pending, cr3)
    }

    /// The vCPU has loaded the CR3 given by the last `take_pending`: roots
    /// released while loaded can now be recycled.
    pub(crate) fn cr3_consumed(&mut self) {
        if self
            .loaded
            .is_some_and(|l| self.zombies.contains(&(l.cr3() - self.system_gpa)))
        {
            return;
        }
        for page in std::mem::take(&mut self.zombies) {
            self.pool.release(page);
        }
    }

    /// Publishes `roots` for the gate (docs/CHOICES.md 77): entry `i` of
    /// the supervisor table the #BP handler loads CR3 from is the CR3 of
    /// `roots[i]` (past the list: zero, which the handler refuses). Only
    /// roots of this table: another is not written.
    pub fn publish_gate(&mut self, roots: &[KvmRoot]) {
        for i in 0..gate::ROOTS {
            let cr3 = roots
                .get(i)
                .copied()
                .filter(|root| self.roots.contains(&root.0))
                .map_or(0, KvmRoot::cr3);
            let _ = self.memory.store_u64(off::GATE + 8 * i as u64, cr3);
        }
    }

    /// The root the vCPU loaded through the gate since the host last
    /// looked, if it did (docs/CHOICES.md 77): it becomes the active and
    /// the loaded one (a flush of it is then an INVLPG, and the others
    /// were flushed by the CR3 load), and the roots released while the
    /// last one was loaded can be recycled.
    /// The table names only live roots (`release_root` takes a root
    /// out before the vCPU runs again), so anything else is an error.
    pub(crate) fn follow_gate(&mut self) -> Result<Option<KvmRoot>, KvmError> {
        let loaded = self.memory.load_u64(off::GATE + gate::LOADED).unwrap_or(0);
        if loaded == 0 {
            return Ok(None);
        }
        let _ = self.memory.store_u64(off::GATE + gate::LOADED, 0);
        let cr3 = usize::try_from(loaded - 1)
            .ok()
            .filter(|&i| i < gate::ROOTS)
            .and_then(|i| self.memory.load_u64(off::GATE + 8 * i as u64))
            .filter(|cr3| self.roots.contains(cr3))
            .ok_or_else(|| {
                KvmError::UnexpectedExit(format!("the gate loaded entry {loaded}, no root"))
            })?;
        let root = KvmRoot(cr3);
        self.active = Some(root);
        self.loaded = Some(root);
        self.cr3_consumed();
        Ok(Some(root))
    }

    /// Tells the image which of the gate's roots translated code runs
    /// under ([`Shared::active_root`](zmmu_vm_runtime::protocol::Shared::active_root)):
    /// the active root's index in the gate's CR3 table, if it is there.
    pub(crate) fn publish_active(&self) {
        let Some(image) = self.image() else {
            return;
        };
        let index = self.active.and_then(|root| {
            (0..gate::ROOTS)
                .find(|&i| self.memory.load_u64(off::GATE + 8 * i as u64) == Some(root.0))
        });
        image.area().set_active_root(index);
    }

    /// Forgets the root the gate loaded (the vCPU was reset: its CR3 is
    /// the host's again).
    pub(crate) fn forget_gate(&mut self) {
        let _ = self.memory.store_u64(off::GATE + gate::LOADED, 0);
    }

    /// The vCPU was reset to `cr3` (boot or recovery).
    pub(crate) fn set_loaded(&mut self, root: Option<KvmRoot>) {
        self.loaded = root;
    }

    #[inline]
    fn gpa(&self, offset: u64) -> u64 {
        self.system_gpa + offset
    }

    /// The pool offset of the table an entry points to, if it is one of ours.
    #[inline]
    fn table_of(&self, entry: u64) -> Option<u64> {
        let offset = (entry & ADDRESS).checked_sub(self.system_gpa)?;
        self.pool.contains(offset).then_some(offset)
    }

    fn root_offset(&self, root: KvmRoot) -> Result<u64, KvmError> {
        if !self.roots.contains(&root.0) {
            return Err(KvmError::UnknownRoot { cr3: root.0 });
        }
        Ok(root.0 - self.system_gpa)
    }

    #[inline]
    fn entry(&self, table: u64, i: u64) -> u64 {
        self.memory.load_u64(table + 8 * i).unwrap_or(0)
    }

    /// Writes an entry; a change to a present entry is queued for the guest.
    fn set_entry(&mut self, table: u64, i: u64, value: u64) {
        let at = table + 8 * i;
        let old = self.memory.load_u64(at).unwrap_or(0);
        if old == value {
            return;
        }
        let _ = self.memory.store_u64(at, value);
        let index = self.page_index(table);
        let visible = self.visible.get(index).copied().unwrap_or(false);
        if (present(old) || visible) && self.guest_table_writes {
            self.stats.guest_writes += 1;
            self.pending.writes.push((va(at), value));
            if let Some(v) = self.visible.get_mut(index) {
                *v = true;
            }
        }
    }

    fn invlpg(&mut self, address: u64) {
        self.stats.invlpgs += 1;
        self.pending.invlpg.push(address);
    }

    fn reload(&mut self) {
        self.stats.reloads += 1;
        self.pending.reload = true;
    }

    /// A zeroed table page. A purge makes KVM forget every table, so no
    /// page is guest-visible after one.
    fn alloc(&mut self) -> Result<u64, KvmError> {
        let purges = self.pool.stats().purges;
        let page = self.pool.alloc(&self.memory)?;
        if self.pool.stats().purges != purges {
            self.visible.fill(false);
        }
        let index = self.page_index(page);
        if let Some(v) = self.visible.get_mut(index) {
            *v = false;
        }
        Ok(page)
    }

    #[inline]
    fn page_index(&self, table: u64) -> usize {
        (table.saturating_sub(off::RUNTIME_END) / 4096) as usize
    }

    /// Quarantines the table at `table` (level `level`) and every table below it.
    fn free_tree(&mut self, table: u64, level: u32) {
        if level > 1 {
            for i in 0..512 {
                let e = self.entry(table, i);
                if present(e) && !large(e) {
                    if let Some(child) = self.table_of(e) {
                        self.free_tree(child, level - 1);
                    }
                }
            }
        }
        self.pool.release(table);
    }

    /// The table at `level - 1` below entry `i` of `table`, created (or
    /// split from a large leaf) if needed.
    fn descend(&mut self, table: u64, i: u64, level: u32) -> Result<u64, KvmError> {
        let e = self.entry(table, i);
        if present(e) && !large(e) {
            return self.table_of(e).ok_or_else(|| {
                KvmError::BadMapping(format!(
                    "entry {i} ({e:#x}) of the table at system-slot offset {table:#x} \
                         points outside the page-table pool"
                ))
            });
        }
        let child = self.alloc()?;
        if present(e) {
            // Split a large leaf into 512 leaves of the next size, same frame and perms.
            let step = 1u64 << (12 + 9 * (level - 2));
            let mut leaf_flags = flags(e);
            leaf_flags.set(PageTableFlags::HUGE_PAGE, level - 1 > 1);
            let frame = e & ADDRESS & !(step * 512 - 1);
            for j in 0..512 {
                let _ = self
                    .memory
                    .store_u64(child + 8 * j, (frame + j * step) | leaf_flags.bits());
            }
        }
        self.set_entry(table, i, self.gpa(child) | TABLE.bits());
        Ok(child)
    }

    /// Validates a mapping order.
    fn check(&self, mapping: &Mapping) -> Result<(), KvmError> {
        let size = mapping.size.bytes();
        let l = mapping.logical.value();
        let f = mapping.frame.value();
        let bad = |why: &str| Err(KvmError::BadMapping(format!("{why}: {mapping:?}")));
        if l % size != 0 || f % size != 0 {
            return bad("misaligned");
        }
        if l.checked_add(size).is_none_or(|end| end > LOWER_HALF_END) {
            return bad("outside the lower half");
        }
        if f.checked_add(size)
            .is_none_or(|end| end > self.storage_limit)
        {
            return bad("frame outside guest storage");
        }
        if !mapping.perms.contains(HostPerms::READ) {
            return bad("x86 cannot map without read permission");
        }
        Ok(())
    }

    /// Marks (or unmarks) the absolute 4 KiB frame at `frame` as holding
    /// translated code: mappings made from now on that cover it are never
    /// writable, so that a store into it faults (self-modifying code).
    /// Mappings that exist already are the caller's to drop.
    pub fn set_code_frame(&mut self, frame: AbsoluteAddress, code: bool) {
        let page = frame.value() & !0xFFF;
        if code {
            // The image stores through its absolute window only into
            // frames without translated code.
            if let Some(image) = self.image() {
                image.area().remove_storable(page);
            }
            self.code_frames.insert(page);
        } else {
            self.code_frames.remove(&page);
        }
    }

    /// Whether the absolute frame at `frame` holds translated code.
    pub fn is_code_frame(&self, frame: AbsoluteAddress) -> bool {
        self.code_frames.contains(&(frame.value() & !0xFFF))
    }

    /// Forgets every code frame.
    pub fn clear_code_frames(&mut self) {
        self.code_frames.clear();
    }

    /// Whether a frame of `len` bytes at `frame` holds a code frame.
    fn holds_code(&self, frame: u64, len: u64) -> bool {
        self.code_frames
            .range(frame..frame.saturating_add(len))
            .next()
            .is_some()
    }

    /// The leaf entry for a frame with perms: accessed, and dirty unless
    /// the first store is to be recorded (`track_stores`).
    fn leaf(frame: u64, perms: HostPerms, large: bool, track_stores: bool) -> u64 {
        let mut flags =
            PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE | PageTableFlags::ACCESSED;
        flags.set(PageTableFlags::DIRTY, !track_stores);
        flags.set(PageTableFlags::WRITABLE, perms.contains(HostPerms::WRITE));
        flags.set(
            PageTableFlags::NO_EXECUTE,
            !perms.contains(HostPerms::EXECUTE),
        );
        flags.set(PageTableFlags::HUGE_PAGE, large);
        frame | flags.bits()
    }

    /// A writable 2 MiB mapping of `frame` over frames that hold
    /// translated code, as entry `i` (now `old`) of the page directory
    /// `table`: a page table of 512 leaves, writable but for the code
    /// frames. A large leaf would make the whole 2 MiB read-only, and then
    /// every store into the data next to the code (a kernel's, in its own
    /// segment frames) a fault the shadow pager resolves to the same
    /// mapping, which the host's slow path makes instead, again and again.
    fn map_around_code(
        &mut self,
        table: u64,
        i: u64,
        old: u64,
        frame: u64,
        perms: HostPerms,
    ) -> Result<(), KvmError> {
        let child = self.alloc()?;
        for j in 0..512u64 {
            let at = frame + j * 4096;
            let mut page = perms;
            if self.holds_code(at, 4096) {
                page.remove(HostPerms::WRITE);
            }
            // Not linked yet: no table write for the guest to repeat.
            let _ = self
                .memory
                .store_u64(child + 8 * j, Self::leaf(at, page, false, false));
        }
        self.set_entry(table, i, self.gpa(child) | TABLE.bits());
        if present(old) {
            if !large(old) {
                if let Some(previous) = self.table_of(old) {
                    self.free_tree(previous, 1);
                }
            }
            self.reload();
        }
        Ok(())
    }

    fn map_one(
        &mut self,
        root: u64,
        logical: u64,
        frame: u64,
        size: HostPageSize,
        perms: HostPerms,
        track_stores: bool,
    ) -> Result<(), KvmError> {
        let leaf_level = match size {
            HostPageSize::Size4K => 1,
            _ => 2,
        };
        let mut table = root;
        let mut level = 4;
        while level > leaf_level {
            table = self.descend(table, index(logical, level), level)?;
            level -= 1;
        }
        let i = index(logical, level);
        let old = self.entry(table, i);
        let mut perms = perms;
        if self.holds_code(frame, size.bytes()) {
            if leaf_level == 2 && perms.contains(HostPerms::WRITE) {
                return self.map_around_code(table, i, old, frame, perms);
            }
            perms.remove(HostPerms::WRITE);
        }
        let new = Self::leaf(frame, perms, leaf_level == 2, track_stores);
        if present(old) && !large(old) && leaf_level == 2 {
            // A large page replaces a page table (empty, by the contract; a
            // full one is handled too): INVLPG of any address in the range
            // drops the paging-structure caches for it, and the TLB entries
            // of one page; a table with mappings needs a full flush.
            let mut mapped = false;
            if let Some(child) = self.table_of(old) {
                mapped = (0..512).any(|j| present(self.entry(child, j)));
                self.free_tree(child, 1);
            }
            self.set_entry(table, i, new);
            if mapped {
                self.reload();
            } else {
                self.invlpg(logical);
            }
            return Ok(());
        }
        self.set_entry(table, i, new);
        if present(old) && old != new {
            self.invlpg(logical);
        }
        Ok(())
    }

    /// Applies `edit` to every leaf inside the `size`-aligned range at
    /// `logical`, or to the large leaf that contains it.
    fn edit_range(
        &mut self,
        root: KvmRoot,
        logical: LogicalAddress,
        size: HostPageSize,
        edit: impl Fn(u64) -> u64,
    ) {
        let Ok(root) = self.root_offset(root) else {
            return;
        };
        let size_bytes = size.bytes();
        let start = logical.value() & !(size_bytes - 1);
        if start >= LOWER_HALF_END {
            return;
        }
        let mut address = start;
        let end = start.saturating_add(size_bytes).min(LOWER_HALF_END);
        while address < end {
            // Walk to the leaf (or hole) covering `address`.
            let mut table = root;
            let mut level = 4;
            let step = loop {
                let i = index(address, level);
                let e = self.entry(table, i);
                let span = 1u64 << (12 + 9 * (level - 1));
                if !present(e) {
                    break span;
                }
                if level == 1 || large(e) {
                    let new = edit(e);
                    if new != e {
                        let freed = !present(new) && level > 1 && !large(e);
                        self.set_entry(table, i, new);
                        if freed {
                            self.reload();
                        } else {
                            self.invlpg(address & !(span - 1));
                        }
                    }
                    break span;
                }
                // A whole table inside the range being removed: drop it at once.
                if address % span == 0 && address + span <= end && !present(edit(e)) {
                    if let Some(child) = self.table_of(e) {
                        self.free_tree(child, level - 1);
                    }
                    self.set_entry(table, i, 0);
                    self.reload();
                    break span;
                }
                match self.table_of(e) {
                    Some(child) => table = child,
                    None => break span,
                }
                level -= 1;
            };
            address = (address & !(step - 1)).saturating_add(step);
        }
    }

    /// The translation the x86 tables of `root` give `logical`: the frame
    /// address of the byte and the permissions, read from the tables as the
    /// CPU walks them.
    pub fn translate(
        &self,
        root: KvmRoot,
        logical: LogicalAddress,
    ) -> Option<(AbsoluteAddress, HostPerms)> {
        let address = logical.value();
        let (e, level, writable) = self.leaf_of(root, address)?;
        let span = 1u64 << (12 + 9 * (level - 1));
        let mut perms = HostPerms::READ;
        if writable {
            perms |= HostPerms::WRITE;
        }
        if !flags(e).contains(PageTableFlags::NO_EXECUTE) {
            perms |= HostPerms::EXECUTE;
        }
        let frame = e & ADDRESS & !(span - 1);
        Some((AbsoluteAddress::new(frame | (address & (span - 1))), perms))
    }

    /// The present leaf entry that maps `address` in `root`, its level (1
    /// for a PTE) and whether every entry on the way permits stores, as
    /// the CPU walks the tables.
    fn leaf_of(&self, root: KvmRoot, address: u64) -> Option<(u64, u32, bool)> {
        let mut table = self.root_offset(root).ok()?;
        if address >= LOWER_HALF_END {
            return None;
        }
        let mut level = 4;
        let mut writable = true;
        loop {
            let e = self.entry(table, index(address, level));
            if !present(e) {
                return None;
            }
            writable &= flags(e).contains(PageTableFlags::WRITABLE);
            if level == 1 || large(e) {
                return Some((e, level, writable));
            }
            table = self.table_of(e)?;
            level -= 1;
        }
    }
}

impl HostPaging for KvmPaging {
    type Root = KvmRoot;
    type Error = KvmError;

    fn create_root(&mut self) -> Result<KvmRoot, KvmError> {
        let page = self.alloc()?;
        self.memory
            .store_u64(page + 8 * 511, self.upper)
            .ok_or(KvmError::PoolExhausted)?;
        let root = KvmRoot(self.gpa(page));
        self.roots.insert(root.0);
        Ok(root)
    }

    fn release_root(&mut self, root: KvmRoot) {
        let Ok(table) = self.root_offset(root) else {
            return;
        };
        self.clear(root);
        self.roots.remove(&root.0);
        // The gate may no longer load it (docs/CHOICES.md 77).
        for i in 0..gate::ROOTS as u64 {
            if self.memory.load_u64(off::GATE + 8 * i) == Some(root.0) {
                let _ = self.memory.store_u64(off::GATE + 8 * i, 0);
            }
        }
        if self.active == Some(root) {
            self.active = None;
        }
        if self.loaded == Some(root) {
            // The vCPU still has it in CR3: the page may not become a table
            // elsewhere before the vCPU has loaded another root.
            self.zombies.push(table);
        } else {
            self.pool.release(table);
        }
    }

    fn map(&mut self, root: KvmRoot, mapping: Mapping) -> Result<(), KvmError> {
        self.check(&mapping)?;
        let table = self.root_offset(root)?;
        self.stats.maps += 1;
        let (l, f) = (mapping.logical.value(), mapping.frame.value());
        match mapping.size {
            HostPageSize::Size1G => {
                // No 1 GiB pages in the guest CPUID on every host: 512 x 2 MiB.
                for j in 0..512u64 {
                    let step = 1 << 21;
                    self.map_one(
                        table,
                        l + j * step,
                        f + j * step,
                        HostPageSize::Size2M,
                        mapping.perms,
                        false,
                    )?;
                }
                Ok(())
            }
            size => self.map_one(table, l, f, size, mapping.perms, mapping.track_stores),
        }
    }

    fn protect(
        &mut self,
        root: KvmRoot,
        logical: LogicalAddress,
        size: HostPageSize,
        perms: HostPerms,
    ) {
        if !perms.contains(HostPerms::READ) {
            return self.unmap(root, logical, size);
        }
        let keep_write = perms.contains(HostPerms::WRITE);
        let keep_exec = perms.contains(HostPerms::EXECUTE);
        self.edit_range(root, logical, size, |e| {
            let mut e = e;
            if !keep_write {
                e &= !PageTableFlags::WRITABLE.bits();
            }
            if !keep_exec {
                e |= PageTableFlags::NO_EXECUTE.bits();
            }
            e
        })
    }

    fn unmap(&mut self, root: KvmRoot, logical: LogicalAddress, size: HostPageSize) {
        self.edit_range(root, logical, size, |_| 0)
    }

    fn clear(&mut self, root: KvmRoot) {
        let Ok(table) = self.root_offset(root) else {
            return;
        };
        let mut any = false;
        for i in 0..256 {
            let e = self.entry(table, i);
            if present(e) {
                if let Some(child) = self.table_of(e) {
                    self.free_tree(child, 3);
                }
                self.set_entry(table, i, 0);
                any = true;
            }
        }
        if any && self.active == Some(root) {
            self.reload();
        }
    }

    fn flush(&mut self, root: KvmRoot, scope: FlushScope) {
        // Only the loaded root can hold TLB entries: without PCID every CR3
        // load flushes the others.
        if self.active != Some(root) {
            return;
        }
        match scope {
            FlushScope::Page(address) => self.invlpg(address.page().value()),
            FlushScope::All => self.reload(),
        }
    }

    fn activate(&mut self, root: KvmRoot) -> Result<(), KvmError> {
        self.root_offset(root)?;
        self.active = Some(root);
        Ok(())
    }

    /// The leaf's dirty flag, which the CPU sets at the first store (on
    /// PVM the host's shadow paging sets it in our entry as it makes its
    /// own writable).
    /// A 1 GiB mapping is 512 2 MiB leaves here (`map`).
    fn stored(&self, root: KvmRoot, logical: LogicalAddress, size: HostPageSize) -> bool {
        let dirty = |address: u64, level: u32| {
            self.leaf_of(root, address)
                .is_some_and(|(e, at, _)| at == level && flags(e).contains(PageTableFlags::DIRTY))
        };
        let address = logical.value();
        match size {
            HostPageSize::Size4K => dirty(address, 1),
            HostPageSize::Size2M => dirty(address, 2),
            HostPageSize::Size1G => (0..512u64).any(|j| dirty(address + (j << 21), 2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmmu_vm_runtime::protocol::page_leaf;

    /// The image's shadow fills write the same 4 KiB entries as the host
    /// (docs/CHOICES.md 91): present, user, accessed, dirty, not
    /// executable, writable as the permissions say.
    #[test]
    fn the_images_page_entries_are_the_hosts() {
        let rw = HostPerms::READ | HostPerms::WRITE;
        for (perms, writable) in [(HostPerms::READ, false), (rw, true)] {
            let frame = 0x12_3000;
            assert_eq!(
                KvmPaging::leaf(frame, perms, false, false),
                page_leaf(frame, writable)
            );
        }
    }
}
