//! A page fault of translated code resolved in the VM: the shadow fill
//! (docs/CHOICES.md 91). The CPL0 #PF stub hands a fault of translated
//! code to the image instead of the host (`Shared::faults`); the image
//! walks the DAT tables through the absolute window as the host's shadow
//! pager would (`zmmu_mmu::access::check`: DAT, protection, prefixing,
//! addressing), and where the access is permitted and its frame is one
//! the host listed (`protocol::STORABLE`: a fetch or, storable, a store
//! there with the access key 0 records nothing new), it writes the x86
//! page-table entry of the page into the active root's tables, with the
//! permissions the host's pager would give (`shadow::page_permissions`
//! under [`PAGER`]), and maps the page's fault-around window as the pager
//! would; the faulting instruction then runs again. The host takes each
//! fill into its pager's records at its next exit ([`Fills`](crate::protocol::Fills),
//! `ShadowPager::adopt`), before anything looks at the tables.
//!
//! Anything else is forwarded to the host, nothing changed: an s390x
//! exception (the host delivers it, or hands it back to the image at the
//! instruction's slow path, docs/CHOICES.md 82), a frame not listed, a
//! store where the frame's change bit may still be zero, a present entry
//! (a protection fault: a store into a read-only or code page), a key
//! other than 0, DAT off, a root the gate does not name, a table level
//! missing in the x86 tables, a full log, a fault outside translated
//! code.

use zmmu_cpu::memory::logical_space;
use zmmu_mmu::access::{check, Request};
use zmmu_mmu::addr::LogicalAddress;
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::host::{HostPerms, LOWER_HALF_END};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::shadow::{page_permissions, Purpose, RootTag};

use crate::call::load_cpu;
use crate::guest::{CpuPage, Guest, Window};
use crate::protocol::{
    frame_state, page_leaf, root_words, Fill, Gate, Shared, COMPLETED, FILL_ENTRIES,
    FRAME_REFERENCED, FRAME_STORABLE, GATE_ROOTS, HOST, PAGER, WINDOW_PAGES,
};

/// The #PF error code's bits (Intel SDM Vol. 3A, 4.7).
const PRESENT: u64 = 1;
const WRITE: u64 = 1 << 1;

/// The x86 entry's present and page-size bits, and its address field.
const ENTRY_PRESENT: u64 = 1;
const ENTRY_LARGE: u64 = 1 << 7;
const ENTRY_ADDRESS: u64 = 0x000F_FFFF_FFFF_F000;

/// The fault in [`Shared::fault`], resolved: [`COMPLETED`] when the page
/// is mapped now (the instruction runs again), [`HOST`] when the host
/// must look (nothing changed).
pub fn resolve(
    shared: &mut Shared,
    gate: &Gate,
    frames: &[u64],
    page: &CpuPage,
    guest: &mut impl Guest,
) -> u64 {
    if fill(shared, gate, frames, page, guest).is_some() {
        shared.filled += 1;
        COMPLETED
    } else {
        shared.forwarded += 1;
        HOST
    }
}

/// Maps the faulting page and its window, logs the fill; `None` where
/// the host must look, nothing written.
fn fill(
    shared: &mut Shared,
    gate: &Gate,
    frames: &[u64],
    page: &CpuPage,
    guest: &mut impl Guest,
) -> Option<()> {
    let fault = shared.fault;
    let translated = (shared.code_start..shared.code_end).contains(&fault.rip);
    if !translated || fault.err & PRESENT != 0 || fault.cr2 >= LOWER_HALF_END {
        return None;
    }
    let logged = usize::try_from(shared.fills.len).ok()?;
    if logged >= FILL_ENTRIES {
        return None;
    }
    let index = usize::try_from(shared.active_root.checked_sub(1)?)
        .ok()
        .filter(|&i| i < GATE_ROOTS)?;
    let cpu = load_cpu(page, &shared.clock);
    let facilities = Facilities::from_bits_truncate(shared.facilities as u32);
    let controls = Controls::from_registers(&cpu.cr, cpu.prefix, facilities);
    let kind = if fault.err & WRITE != 0 {
        AccessKind::Write
    } else {
        AccessKind::Read
    };
    let request = Request {
        address: LogicalAddress::new(fault.cr2),
        space: logical_space(&cpu, 0),
        kind,
        key: cpu.psw.key(),
    };
    let tag = RootTag::for_request(&controls, &request).ok()?;
    if tag.key != 0 || tag.asce.is_none() || root_words(&tag) != gate.roots[index] {
        return None;
    }
    let table = page_table(shared, &*guest, gate.tables[index], fault.cr2)?;
    let needs = Purpose::needs(kind);
    let at = |logical: u64| table + 8 * ((logical >> 12) & 511);
    let faulting = fault.cr2 & !0xfff;
    if guest.load_table(at(faulting)) & ENTRY_PRESENT != 0 {
        return None;
    }
    let mapped = |logical: u64, kind: AccessKind| {
        let probe = Request {
            address: LogicalAddress::new(logical),
            kind,
            ..request
        };
        mappable(shared, frames, &controls, probe, &*guest)
    };
    let (frame, perms) = mapped(faulting, kind).ok()??;
    if !perms.contains(needs) {
        return None;
    }
    let base = faulting & !(WINDOW_PAGES * 4096 - 1);
    let mut pages = 1u64 << ((faulting - base) >> 12);
    let mut around = [(0u64, 0u64); WINDOW_PAGES as usize];
    let mut found = 0;
    // The window's other pages, as the pager's fault-around maps them:
    // those DAT translates and that are not mapped yet, up to the first
    // that does not permit the faulting kind of access (or is not listed).
    for logical in (base..base + WINDOW_PAGES * 4096).step_by(4096) {
        if logical == faulting || guest.load_table(at(logical)) & ENTRY_PRESENT != 0 {
            continue;
        }
        let Ok(neighbour) = mapped(logical, Purpose::Data.probe_kind()) else {
            continue;
        };
        let Some((frame, perms)) = neighbour.filter(|(_, perms)| perms.contains(needs)) else {
            break;
        };
        around[found] = (logical, page_leaf(frame, perms.contains(HostPerms::WRITE)));
        found += 1;
    }
    guest.store_table(
        at(faulting),
        page_leaf(frame, perms.contains(HostPerms::WRITE)),
    );
    for &(logical, leaf) in &around[..found] {
        guest.store_table(at(logical), leaf);
        pages |= 1 << ((logical - base) >> 12);
    }
    shared.fills.entries[logged] = Fill {
        root: index as u64,
        base,
        pages,
    };
    shared.fills.len += 1;
    Some(())
}

/// The absolute frame and host permissions of the page `request` reaches
/// when the image may map it: `Err` where DAT refuses the access, `None`
/// where the frame is not listed or would need its stores tracked (its
/// change bit zero, a store).
fn mappable(
    shared: &Shared,
    frames: &[u64],
    controls: &Controls,
    request: Request,
    guest: &impl Guest,
) -> Result<Option<(u64, HostPerms)>, ()> {
    let window = Window::new(guest, shared.absolute_size);
    let access = check(&window, controls, request).map_err(|_| ())?;
    let frame = access.absolute.page().value();
    let key_now = match frame_state(frames, frame) {
        FRAME_STORABLE => StorageKey::new(StorageKey::R | StorageKey::C),
        FRAME_REFERENCED => StorageKey::new(StorageKey::R),
        _ => return Ok(None),
    };
    let (perms, tracked) = page_permissions(
        &PAGER,
        controls,
        &access,
        request.key,
        key_now,
        Purpose::Data,
    );
    // A page whose first store the host would record (C zero): read-only
    // here, its store the host's.
    let perms = if tracked {
        perms.difference(HostPerms::WRITE)
    } else {
        perms
    };
    Ok(Some((frame, perms)))
}

/// The virtual address of the x86 page table that maps `logical` in the
/// root whose PML4 is at guest-physical `pml4`: every level above it
/// present and not a large page, each table in the pool
/// ([`Shared::pool_gpa`]); `None` otherwise.
fn page_table(shared: &Shared, guest: &impl Guest, pml4: u64, logical: u64) -> Option<u64> {
    let mut table = table_va(shared, pml4)?;
    for level in [4u32, 3, 2] {
        let index = (logical >> (12 + 9 * (level - 1))) & 511;
        let entry = guest.load_table(table + 8 * index);
        if entry & ENTRY_PRESENT == 0 || entry & ENTRY_LARGE != 0 {
            return None;
        }
        table = table_va(shared, entry & ENTRY_ADDRESS)?;
    }
    Some(table)
}

/// The virtual address of the 4 KiB table at guest-physical `gpa`, if it
/// lies in the pool.
fn table_va(shared: &Shared, gpa: u64) -> Option<u64> {
    let offset = gpa.checked_sub(shared.pool_gpa)?;
    (gpa % 4096 == 0 && offset < shared.pool_len && shared.pool_va != 0)
        .then(|| shared.pool_va + offset)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::protocol::{frame_bits, with_frame_state, STORABLE_WORDS};
    use std::collections::BTreeMap;
    use std::vec;
    use std::vec::Vec;
    use zmmu_cpu::state::{mask, offset};
    use zmmu_mmu::asce::Asce;

    /// Guest storage (1 MiB) with a segment table at 0x10000 whose
    /// segment 1 (logical 0x100000) uses the page table at 0x11000, page
    /// `i` mapping frame 0x40000 + i * 4096 (page 9 invalid, page 12
    /// DAT-protected); and x86 tables in a pool at guest-physical
    /// 0x800000, seen at [`POOL_VA`]: a root whose PML4, PDPT and PD lead
    /// to an empty page table for logical 0x100000.
    struct Machine {
        storage: Vec<u8>,
        tables: BTreeMap<u64, u64>,
    }

    const POOL_GPA: u64 = 0x80_0000;
    const POOL_VA: u64 = 0xFFFF_8000_0000_0000;
    const PML4: u64 = POOL_GPA;
    const PT_VA: u64 = POOL_VA + 0x3000;
    const SEGMENT: u64 = 0x10_0000;
    const FRAMES: u64 = 0x4_0000;

    impl Machine {
        fn new() -> Self {
            let mut storage = vec![0u8; 1 << 20];
            let mut put = |at: u64, value: u64| {
                storage[at as usize..at as usize + 8].copy_from_slice(&value.to_be_bytes())
            };
            for segment in 0..2048 {
                put(0x1_0000 + 8 * segment, 0x20);
            }
            put(0x1_0000 + 8, 0x1_1000);
            for page in 0..256 {
                put(0x1_1000 + 8 * page, FRAMES + page * 4096);
            }
            put(0x1_1000 + 8 * 9, 0x400);
            put(0x1_1000 + 8 * 12, (FRAMES + 12 * 4096) | 0x200);
            let tables = BTreeMap::from([
                (POOL_VA, (POOL_GPA + 0x1000) | 7),
                (POOL_VA + 0x1000, (POOL_GPA + 0x2000) | 7),
                (POOL_VA + 0x2000, (POOL_GPA + 0x3000) | 7),
            ]);
            Self { storage, tables }
        }

        /// The entry of the x86 page table for logical page `page` of the
        /// segment.
        fn pte(&self, page: u64) -> u64 {
            self.load_table(PT_VA + 8 * (((SEGMENT >> 12) + page) & 511))
        }
    }

    impl Guest for Machine {
        fn load(&mut self, _: u64, _: &mut [u8]) -> bool {
            unreachable!("the fill reads the guest through the window only")
        }
        fn store(&mut self, _: u64, _: &[u8]) -> bool {
            unreachable!("the fill stores nothing into the guest")
        }
        fn compare_swap(&mut self, _: u64, _: usize, _: u128, _: u128) -> Option<u128> {
            unreachable!("the fill stores nothing into the guest")
        }
        fn read_absolute(&self, addr: u64, buf: &mut [u8]) {
            buf.copy_from_slice(&self.storage[addr as usize..addr as usize + buf.len()]);
        }
        fn store_absolute(&mut self, _: u64, _: &[u8]) {
            unreachable!("the fill stores nothing into the guest")
        }
        fn tsc(&mut self) -> u64 {
            0
        }
        fn take_transient(&mut self) -> bool {
            false
        }
        fn gate(&mut self, _: u64) -> bool {
            false
        }
        fn load_table(&self, at: u64) -> u64 {
            self.tables.get(&at).copied().unwrap_or(0)
        }
        fn store_table(&mut self, at: u64, entry: u64) {
            self.tables.insert(at, entry);
        }
    }

    /// The CPU page: 64-bit, DAT on, primary space, `key`, CR1 the
    /// segment table.
    fn page(key: u64) -> CpuPage {
        let mut page = [0u64; 512];
        page[offset::PSW_MASK / 8] = mask::EA | mask::BA | mask::DAT | key << 52;
        page[offset::CR / 8 + 1] = 0x1_0000;
        page
    }

    /// The gate naming the root of the segment table, key 0, at index 2.
    fn gate() -> Gate {
        let tag = RootTag {
            asce: Some(Asce::new(0x1_0000).tag()),
            key: 0,
            purpose: Purpose::Data,
        };
        let mut gate = Gate {
            roots: [[0; 2]; GATE_ROOTS],
            spaces: [[0; 6]; crate::protocol::GATE_SPACES],
            spaces_len: 0,
            tables: [0; GATE_ROOTS],
        };
        gate.roots[2] = root_words(&tag);
        gate.tables[2] = PML4;
        gate
    }

    /// A fault of translated code at `cr2` with error code `err`.
    fn shared(cr2: u64, err: u64) -> Shared {
        let mut shared = Shared {
            absolute_size: 1 << 20,
            code_start: 0x1000,
            code_end: 0x2000,
            active_root: 3,
            pool_gpa: POOL_GPA,
            pool_len: 0x10_0000,
            pool_va: POOL_VA,
            ..Shared::default()
        };
        shared.fault.cr2 = cr2;
        shared.fault.err = err;
        shared.fault.rip = 0x1800;
        shared
    }

    /// The table of listed frames with pages `first..end` of the segment
    /// in `state`.
    fn listed(pages: core::ops::Range<u64>, state: u64) -> Vec<u64> {
        let mut table = vec![0u64; STORABLE_WORDS];
        for page in pages {
            let (word, shift) = frame_bits(FRAMES + page * 4096).unwrap();
            table[word] = with_frame_state(table[word], shift, state);
        }
        table
    }

    const READ: u64 = 4;
    const STORE: u64 = 4 | WRITE;

    fn leaf(page: u64, writable: bool) -> u64 {
        page_leaf(FRAMES + page * 4096, writable)
    }

    #[test]
    fn a_read_maps_its_page_and_the_windows_listed_pages_up_to_the_first_not_listed() {
        let mut machine = Machine::new();
        let mut shared = shared(SEGMENT + 5 * 4096 + 8, READ);
        // Pages 0-20 listed but for 9 (DAT: invalid, skipped) and 16 on.
        let frames = listed(0..16, FRAME_REFERENCED);

        let answer = resolve(&mut shared, &gate(), &frames, &page(0), &mut machine);

        assert_eq!(answer, COMPLETED);
        assert_eq!(machine.pte(5), leaf(5, false));
        for page in (0..16).filter(|&p| p != 9) {
            assert_eq!(machine.pte(page), leaf(page, false), "page {page}");
        }
        assert_eq!(machine.pte(9), 0);
        assert_eq!(machine.pte(16), 0);
        assert_eq!(machine.pte(17), 0);
        assert_eq!((shared.filled, shared.forwarded), (1, 0));
        assert_eq!(shared.fills.len, 1);
        assert_eq!(
            shared.fills.entries[0],
            Fill {
                root: 2,
                base: SEGMENT,
                pages: ((1 << 16) - 1) & !(1 << 9),
            }
        );
    }

    #[test]
    fn a_store_maps_a_storable_page_writable_and_leaves_a_referenced_one_to_the_host() {
        let mut machine = Machine::new();
        let mut storable = listed(0..4, FRAME_STORABLE);
        let (word, shift) = frame_bits(FRAMES + 2 * 4096).unwrap();
        storable[word] = with_frame_state(storable[word], shift, FRAME_REFERENCED);

        let mut at_one = shared(SEGMENT + 4096, STORE);
        let answer = resolve(&mut at_one, &gate(), &storable, &page(0), &mut machine);
        assert_eq!(answer, COMPLETED);
        assert_eq!(machine.pte(1), leaf(1, true));
        assert_eq!(machine.pte(0), leaf(0, true));
        // The window ends at page 2, which a store could not use yet.
        assert_eq!(machine.pte(2), 0);
        assert_eq!(machine.pte(3), 0);

        let mut at_two = shared(SEGMENT + 2 * 4096, STORE);
        let answer = resolve(&mut at_two, &gate(), &storable, &page(0), &mut machine);
        assert_eq!(answer, HOST);
        assert_eq!(machine.pte(2), 0);
        assert_eq!(
            (at_two.filled, at_two.forwarded, at_two.fills.len),
            (0, 1, 0)
        );
    }

    #[test]
    fn dat_protection_maps_a_storable_page_read_only_and_leaves_its_stores_to_the_host() {
        let mut machine = Machine::new();
        let frames = listed(12..13, FRAME_STORABLE);

        let mut store = shared(SEGMENT + 12 * 4096, STORE);
        assert_eq!(
            resolve(&mut store, &gate(), &frames, &page(0), &mut machine),
            HOST
        );
        assert_eq!(machine.pte(12), 0);

        let mut read = shared(SEGMENT + 12 * 4096, READ);
        assert_eq!(
            resolve(&mut read, &gate(), &frames, &page(0), &mut machine),
            COMPLETED
        );
        assert_eq!(machine.pte(12), leaf(12, false));
    }

    /// A fault the host must look at leaves the tables and the log as
    /// they were.
    fn forwarded(
        mut shared: Shared,
        gate: &Gate,
        frames: &[u64],
        page: &CpuPage,
        mut machine: Machine,
    ) {
        let tables = machine.tables.clone();
        assert_eq!(resolve(&mut shared, gate, frames, page, &mut machine), HOST);
        assert_eq!(machine.tables, tables);
        assert_eq!(
            (shared.filled, shared.forwarded, shared.fills.len),
            (0, 1, 0)
        );
    }

    #[test]
    fn an_s390x_exception_is_the_hosts() {
        let frames = listed(0..256, FRAME_STORABLE);
        forwarded(
            shared(SEGMENT + 9 * 4096, READ),
            &gate(),
            &frames,
            &page(0),
            Machine::new(),
        );
        // Segment 2 is invalid.
        forwarded(
            shared(0x20_0000, READ),
            &gate(),
            &frames,
            &page(0),
            Machine::new(),
        );
    }

    #[test]
    fn a_fault_outside_translated_code_on_a_present_entry_or_in_an_unknown_root_is_the_hosts() {
        let frames = listed(0..256, FRAME_STORABLE);
        let mut outside = shared(SEGMENT, READ);
        outside.fault.rip = 0x2000;
        forwarded(outside, &gate(), &frames, &page(0), Machine::new());
        // A protection fault: the entry is present.
        forwarded(
            shared(SEGMENT, STORE | 1),
            &gate(),
            &frames,
            &page(0),
            Machine::new(),
        );
        let mut mapped = Machine::new();
        mapped.store_table(PT_VA + 8 * 256, leaf(0, false));
        forwarded(shared(SEGMENT, READ), &gate(), &frames, &page(0), mapped);
        let mut unknown = shared(SEGMENT, READ);
        unknown.active_root = 1;
        forwarded(unknown, &gate(), &frames, &page(0), Machine::new());
        let mut none = shared(SEGMENT, READ);
        none.active_root = 0;
        forwarded(none, &gate(), &frames, &page(0), Machine::new());
    }

    #[test]
    fn a_key_other_than_0_an_unlisted_frame_a_missing_table_or_a_full_log_is_the_hosts() {
        let frames = listed(0..256, FRAME_STORABLE);
        forwarded(
            shared(SEGMENT, READ),
            &gate(),
            &frames,
            &page(3),
            Machine::new(),
        );
        forwarded(
            shared(SEGMENT, READ),
            &gate(),
            &listed(1..256, FRAME_STORABLE),
            &page(0),
            Machine::new(),
        );
        let mut no_pd = Machine::new();
        no_pd.tables.remove(&(POOL_VA + 0x2000));
        forwarded(shared(SEGMENT, READ), &gate(), &frames, &page(0), no_pd);
        let mut full = shared(SEGMENT, READ);
        full.fills.len = FILL_ENTRIES as u64;
        let tables = Machine::new().tables;
        let mut machine = Machine::new();
        assert_eq!(
            resolve(&mut full, &gate(), &frames, &page(0), &mut machine),
            HOST
        );
        assert_eq!(machine.tables, tables);
    }
}
