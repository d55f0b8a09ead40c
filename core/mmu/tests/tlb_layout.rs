//! The software TLB as translated code sees it: the exported layout, the
//! inline probe made through [`Tlb::entries_ptr`] with the exported
//! offsets, and frames that hold translated code, whose stores never hit.

mod common;

use common::*;
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::prelude::*;
use zmmu_mmu::space::AsceSource;
use zmmu_mmu::tlb::{
    partition_index, slot, slot_mask_offset, tag, Entry, Tlb, ADDEND_OFFSET, ENTRIES, ENTRY_SIZE,
    MAX_ENTRIES, PAGE_INDEXES, PARTITIONS, PARTITION_STRIDE, TAG_CODE, TAG_OFFSET,
};

/// A virtual address in segment 1, page 0x23, byte 0x456.
const VA: u64 = 0x0012_3456;
/// The primary space's partition.
const PRIMARY: usize = 1;

/// The doubleword at `offset` bytes from the TLB's `entries_ptr`: a slot
/// mask (negative offsets) or a word of an entry.
fn word(tlb: &Tlb, offset: isize) -> u64 {
    assert!(offset >= slot_mask_offset(0) && offset % 8 == 0);
    assert!(offset + 8 <= (PARTITIONS * PARTITION_STRIDE) as isize);
    // SAFETY: the offset lies inside the allocation of the slot masks and
    // PARTITIONS * MAX_ENTRIES entries that `entries_ptr` points into
    // (asserted above), is a multiple of 8 in an allocation aligned to 8,
    // and nothing changes the TLB while `tlb` is borrowed.
    unsafe {
        tlb.entries_ptr()
            .cast::<u8>()
            .offset(offset)
            .cast::<u64>()
            .read()
    }
}

/// The probe that generated code makes (see the `tlb` module docs): the
/// partition's slot mask, the slot offset `(a >> 7) & mask`, the tag, one
/// compare at `TAG_OFFSET[kind]`, then the addend, read through the raw
/// pointer at the exported offsets.
fn probe(tlb: &Tlb, partition: usize, address: u64, kind: AccessKind, key: u8) -> Option<u64> {
    assert!(partition < PARTITIONS);
    let mask = word(tlb, slot_mask_offset(partition));
    let entry = (partition * PARTITION_STRIDE) as isize + ((address >> 7) & mask) as isize;
    let read = |offset: usize| word(tlb, entry + offset as isize);
    (read(TAG_OFFSET[kind as usize]) == tag(address, key))
        .then(|| address.wrapping_add(read(ADDEND_OFFSET)))
}

/// Reads real page `page` (DAT off: partition 0) through the TLB.
fn fill_real(g: &mut Guest, tlb: &mut Tlb, page: u64) -> bool {
    tlb.access(
        &mut g.storage,
        request(AddressSpace::Real, AccessKind::Read, page << 12, 0),
    )
    .unwrap()
    .hit
}

/// A guest with VA mapped to FRAME_A, whose key already has C (so that a
/// filled entry may serve stores), and an empty TLB for it.
fn guest() -> (Guest, Tlb) {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set_key(FRAME_A, StorageKey::R | StorageKey::C);
    let tlb = Tlb::new(&g.controls);
    (g, tlb)
}

fn primary(kind: AccessKind, va: u64) -> Request {
    request(AddressSpace::Primary, kind, va, 0)
}

fn mark(g: &mut Guest, code: bool) {
    g.storage
        .set_code_frame(AbsoluteAddress::new(FRAME_A), code)
        .expect("the frame exists");
}

// ---- layout -------------------------------------------------------------------

#[test]
fn an_entry_is_four_doublewords_fetch_read_store_tags_then_the_addend() {
    assert_eq!(ENTRY_SIZE, 32);
    assert_eq!(TAG_OFFSET, [0, 8, 16]);
    assert_eq!(ADDEND_OFFSET, 24);
    assert_eq!(PARTITION_STRIDE, MAX_ENTRIES * 32);
    let tlb = Tlb::default();
    assert_eq!(tlb.entries_ptr() as usize % ENTRY_SIZE, 0);
    // A new TLB's slots are empty: no tag a lookup forms, in every slot the
    // probe reads.
    for partition in 0..PARTITIONS {
        assert_eq!(tlb.entry(partition, VA), Entry::EMPTY);
        let mask = word(&tlb, slot_mask_offset(partition)) as isize;
        for offset in (0..=mask).step_by(ENTRY_SIZE) {
            let at = (partition * PARTITION_STRIDE) as isize + offset;
            assert_eq!(word(&tlb, at + TAG_OFFSET[1] as isize), 0);
        }
    }
}

#[test]
fn the_slot_masks_lie_below_the_entries_and_start_at_1023_times_32() {
    assert_eq!(ENTRIES, 1024);
    let tlb = Tlb::default();
    for partition in 0..PARTITIONS {
        assert_eq!(slot_mask_offset(partition), partition as isize * 8 - 32);
        assert_eq!(tlb.entries(partition), ENTRIES);
        assert_eq!(word(&tlb, slot_mask_offset(partition)), 0x7FE0);
    }
    for address in [0, VA, 0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_1234_5678] {
        assert_eq!(
            slot(address, ENTRIES) * ENTRY_SIZE,
            ((address >> 7) & 0x7FE0) as usize
        );
    }
}

#[test]
fn a_tag_is_the_page_the_key_in_bits_1_to_4_and_the_valid_bit() {
    assert_eq!(tag(VA, 0), 0x0012_3001);
    assert_eq!(tag(VA, 0xF), 0x0012_301F);
    assert_eq!(tag(VA, 0xF) & TAG_CODE, 0);
}

#[test]
fn the_inline_probe_finds_what_lookup_finds_in_every_partition_and_kind() {
    let (mut g, mut tlb) = guest();
    g.controls.cr13 = g.controls.cr1;
    tlb.set_controls(&g.controls);
    for space in [
        AddressSpace::Primary,
        AddressSpace::Home,
        AddressSpace::Real,
    ] {
        for kind in [
            AccessKind::Write,
            AccessKind::Read,
            AccessKind::InstructionFetch,
        ] {
            let va = if space == AddressSpace::Real {
                FRAME_B + 0x10
            } else {
                VA
            };
            tlb.access(&mut g.storage, request(space, kind, va, 0))
                .unwrap();
        }
    }
    let mut hits = 0;
    for partition in 0..PARTITIONS {
        for kind in AccessKind::ALL {
            for key in [0, 1] {
                for va in [VA, FRAME_B + 0x10, VA + 0x1000] {
                    let inline = probe(&tlb, partition, va, kind, key);
                    assert_eq!(inline, tlb.lookup(partition, va, kind, key));
                    hits += usize::from(inline.is_some());
                }
            }
        }
    }
    // Three partitions, three kinds, key 0.
    assert_eq!(hits, 9);
    let home = partition_index(Some(AsceSource::Home));
    assert_eq!(
        probe(&tlb, home, VA, AccessKind::Write, 0),
        Some(FRAME_A + 0x456)
    );
}

#[test]
fn the_entries_stay_at_one_address_when_the_tlb_moves_flushes_and_refills() {
    let (mut g, tlb) = guest();
    let at = tlb.entries_ptr();
    let mut moved = Box::new(tlb);
    let tlb = &mut *moved;
    tlb.access(&mut g.storage, primary(AccessKind::Read, VA))
        .unwrap();
    tlb.flush();
    tlb.set_controls(&Controls {
        cr1: Asce::new(0),
        ..g.controls
    });
    assert_eq!(tlb.entries_ptr(), at);
}

// ---- the partitions' sizes ----------------------------------------------------

#[test]
fn a_partition_that_refilled_as_many_entries_as_it_has_doubles_and_the_probe_follows() {
    let mut g = Guest::mapped(VA, FRAME_A);
    let mut tlb = Tlb::with_entries(&g.controls, 4);
    for page in 0..4 {
        assert!(!fill_real(&mut g, &mut tlb, page));
    }
    assert_eq!(tlb.entries(0), 4);
    // The fifth fill since the partition was sized doubles it first.
    assert!(!fill_real(&mut g, &mut tlb, 4));
    assert_eq!(tlb.entries(0), 8);
    assert_eq!(word(&tlb, slot_mask_offset(0)), 7 * 32);
    // Only partition 0 grew.
    assert_eq!(tlb.entries(1), 4);
    // Page 4 has a slot of its own now, and the inline probe finds it.
    assert_eq!(probe(&tlb, 0, 0x4010, AccessKind::Read, 0), Some(0x4010));
    for page in 5..8 {
        fill_real(&mut g, &mut tlb, page);
    }
    for page in 0..8 {
        assert!(fill_real(&mut g, &mut tlb, page), "page {page} refilled");
    }
}

#[test]
fn a_grown_partition_halves_when_cleared_after_few_fills_but_never_below_its_start() {
    let mut g = Guest::mapped(VA, FRAME_A);
    let mut tlb = Tlb::with_entries(&g.controls, 2);
    // The third fill doubles it to 4, the fifth after that to 8.
    for page in 0..8 {
        fill_real(&mut g, &mut tlb, page);
    }
    assert_eq!(tlb.entries(0), 8);
    // One fill since the partition doubled: 1 * 8 >= 8 keeps its size.
    fill_real(&mut g, &mut tlb, 8);
    tlb.flush();
    assert_eq!(tlb.entries(0), 8);
    assert_eq!(probe(&tlb, 0, 0x8000, AccessKind::Read, 0), None);
    // No fill since the flush: it halves on each clear down to its start.
    tlb.flush();
    assert_eq!(tlb.entries(0), 4);
    assert_eq!(word(&tlb, slot_mask_offset(0)), 3 * 32);
    tlb.flush();
    tlb.flush();
    assert_eq!(tlb.entries(0), 2);
    for page in 0..2 {
        assert!(!fill_real(&mut g, &mut tlb, page));
        assert!(fill_real(&mut g, &mut tlb, page));
    }
}

#[test]
fn a_partition_is_at_most_max_entries() {
    let tlb = Tlb::with_entries(&Controls::default(), 4 * MAX_ENTRIES);
    assert_eq!(tlb.entries(0), MAX_ENTRIES);
    assert_eq!(
        word(&tlb, slot_mask_offset(0)),
        ((MAX_ENTRIES - 1) * ENTRY_SIZE) as u64
    );
}

#[test]
fn an_ipte_drops_what_it_covers_and_takes_a_grown_partition_back_to_its_start() {
    let (mut g, _) = guest();
    let mut tlb = Tlb::with_entries(&g.controls, 1);
    let read = |key| request(AddressSpace::Primary, AccessKind::Read, VA, key);
    // VA's page 0x123 is in slot 0 of one entry; the second fill (another
    // access key, another tag) doubles the partition and lands in slot 1.
    for key in [0, 1] {
        tlb.access(&mut g.storage, read(key)).unwrap();
    }
    assert_eq!(tlb.entries(PRIMARY), 2);
    assert_eq!(
        probe(&tlb, PRIMARY, VA, AccessKind::Read, 1),
        Some(FRAME_A + 0x456)
    );
    // IPTE of VA's page-table entry (segment 1, page 0x23).
    let ipte = Invalidation::PageTableEntries {
        origin: AbsoluteAddress::new(PT),
        first: 0x23,
        extra: 0,
    };
    tlb.invalidate(&ipte);
    assert_eq!(tlb.entries(PRIMARY), 1);
    assert_eq!(word(&tlb, slot_mask_offset(PRIMARY)), 0);
    for key in [0, 1] {
        assert_eq!(probe(&tlb, PRIMARY, VA, AccessKind::Read, key), None);
        assert_eq!(tlb.lookup(PRIMARY, VA, AccessKind::Read, key), None);
    }
    // The fill counts start anew: two fills after the IPTE (the first
    // one refills slot 0) grow it again, not one.
    tlb.access(&mut g.storage, read(0)).unwrap();
    assert_eq!(tlb.entries(PRIMARY), 1);
    tlb.access(&mut g.storage, read(1)).unwrap();
    assert_eq!(tlb.entries(PRIMARY), 2);
}

/// A guest whose segments 1 and 2 both use the page table at PT, every
/// page mapped to FRAME_A, and a TLB of [`PAGE_INDEXES`] entries per
/// partition whose primary partition holds the 512 pages (so it grew to
/// 512).
fn two_segments_filled() -> Tlb {
    let mut g = Guest::mapped(VA, FRAME_A);
    let pages: Vec<u64> = (0x100..0x300).collect();
    for &page in &pages {
        g.map(page << 12, FRAME_A);
    }
    let mut tlb = Tlb::with_entries(&g.controls, PAGE_INDEXES);
    let read = |page: u64| request(AddressSpace::Primary, AccessKind::Read, page << 12, 0);
    for &page in &pages {
        tlb.access(&mut g.storage, read(page)).unwrap();
    }
    for &page in &pages {
        tlb.access(&mut g.storage, read(page)).unwrap();
    }
    assert_eq!(tlb.entries(PRIMARY), 2 * PAGE_INDEXES);
    tlb
}

#[test]
fn an_ipte_of_few_indexes_drops_exactly_what_it_covers_and_keeps_a_grown_partition() {
    let mut tlb = two_segments_filled();
    // IPTE of page index 0x23 of PT: pages 0x123 and 0x223 (segments 1
    // and 2 share the table), in whichever slot of the grown partition.
    tlb.invalidate(&Invalidation::PageTableEntries {
        origin: AbsoluteAddress::new(PT),
        first: 0x23,
        extra: 0,
    });
    assert_eq!(tlb.entries(PRIMARY), 2 * PAGE_INDEXES);
    for page in 0x100..0x300u64 {
        let hit = tlb
            .lookup(PRIMARY, page << 12, AccessKind::Read, 0)
            .is_some();
        assert_eq!(hit, page & 0xFF != 0x23, "page {page:#x}");
    }
}

#[test]
fn an_ipte_reaches_the_copy_a_growth_left_in_the_old_slot() {
    let mut g = Guest::mapped(VA, FRAME_A);
    for page in (0x100..0x200).chain([0x300]) {
        g.map(page << 12, FRAME_A);
    }
    let mut tlb = Tlb::with_entries(&g.controls, PAGE_INDEXES);
    let read = |page: u64| request(AddressSpace::Primary, AccessKind::Read, page << 12, 0);
    for page in 0x100..0x200 {
        tlb.access(&mut g.storage, read(page)).unwrap();
    }
    // The 257th fill doubles the partition: page 0x123's entry stays in
    // slot 0x23, where the probe of 512 slots no longer looks.
    tlb.access(&mut g.storage, read(0x300)).unwrap();
    assert_eq!(tlb.entries(PRIMARY), 2 * PAGE_INDEXES);
    tlb.invalidate(&Invalidation::PageTableEntries {
        origin: AbsoluteAddress::new(PT),
        first: 0x23,
        extra: 0,
    });
    // SSKE of a frame no entry ends in: the partition goes back to 256
    // slots, where page 0x123 is probed in slot 0x23 again.
    tlb.invalidate(&Invalidation::Key(AbsoluteAddress::new(FRAME_B)));
    assert_eq!(tlb.entries(PRIMARY), PAGE_INDEXES);
    assert_eq!(tlb.lookup(PRIMARY, 0x123 << 12, AccessKind::Read, 0), None);
    assert!(tlb
        .lookup(PRIMARY, 0x124 << 12, AccessKind::Read, 0)
        .is_some());
}

#[test]
fn an_ipte_naming_more_slots_than_the_initial_size_takes_a_grown_partition_back() {
    let mut tlb = two_segments_filled();
    // All 256 indexes name every one of the 512 slots, more than the
    // initial 256: the partition is scanned whole and shrinks first.
    tlb.invalidate(&Invalidation::PageTableEntries {
        origin: AbsoluteAddress::new(PT),
        first: 0,
        extra: 255,
    });
    assert_eq!(tlb.entries(PRIMARY), PAGE_INDEXES);
    for page in 0x100..0x300u64 {
        assert_eq!(tlb.lookup(PRIMARY, page << 12, AccessKind::Read, 0), None);
    }
}

#[test]
fn an_ipte_range_past_the_page_table_end_is_scanned_whole() {
    // IPTE itself refuses a range past entry 255 (a specification
    // exception); an invalidation made with one anyway names slots past
    // the 256 of a group: the partition is scanned whole, never sliced
    // past its slots.
    let mut tlb = two_segments_filled();
    tlb.invalidate(&Invalidation::PageTableEntries {
        origin: AbsoluteAddress::new(PT),
        first: 0xF0,
        extra: 0x20,
    });
    assert_eq!(tlb.entries(PRIMARY), PAGE_INDEXES);
    for page in 0x100..0x300u64 {
        let hit = tlb
            .lookup(PRIMARY, page << 12, AccessKind::Read, 0)
            .is_some();
        assert!(!hit || page & 0xFF < 0xF0, "page {page:#x}");
    }
}

#[test]
fn an_invalidation_that_covers_nothing_still_restarts_the_fill_count() {
    let (mut g, _) = guest();
    let mut tlb = Tlb::with_entries(&g.controls, 1);
    let read = |key| request(AddressSpace::Primary, AccessKind::Read, VA, key);
    tlb.access(&mut g.storage, read(0)).unwrap();
    // SSKE of another frame: nothing covered, yet one more fill (past the
    // partition's size since it was scanned) no longer doubles it.
    tlb.invalidate(&Invalidation::Key(AbsoluteAddress::new(FRAME_B)));
    assert!(tlb.access(&mut g.storage, read(0)).unwrap().hit);
    tlb.access(&mut g.storage, read(1)).unwrap();
    assert_eq!(tlb.entries(PRIMARY), 1);
}

// ---- frames that hold translated code -----------------------------------------

#[test]
fn a_store_to_a_code_frame_misses_the_inline_probe_every_time() {
    let (mut g, mut tlb) = guest();
    mark(&mut g, true);
    for _ in 0..3 {
        let done = tlb
            .access(&mut g.storage, primary(AccessKind::Write, VA))
            .unwrap();
        // Still translated (and C recorded): the caller drops its blocks.
        assert!(!done.hit);
        assert_eq!(done.absolute, AbsoluteAddress::new(FRAME_A + 0x456));
        assert_eq!(probe(&tlb, PRIMARY, VA, AccessKind::Write, 0), None);
        assert_eq!(tlb.lookup(PRIMARY, VA, AccessKind::Write, 0), None);
    }
    assert!(g.key(FRAME_A).changed());
}

#[test]
fn reads_and_fetches_of_a_code_frame_still_hit() {
    let (mut g, mut tlb) = guest();
    mark(&mut g, true);
    tlb.access(&mut g.storage, primary(AccessKind::Write, VA))
        .unwrap();
    for kind in [AccessKind::Read, AccessKind::InstructionFetch] {
        assert_eq!(probe(&tlb, PRIMARY, VA, kind, 0), Some(FRAME_A + 0x456));
        assert!(tlb.access(&mut g.storage, primary(kind, VA)).unwrap().hit);
    }
}

#[test]
fn marking_a_cached_frame_as_code_makes_its_stores_miss_and_keeps_its_fetches() {
    let (mut g, mut tlb) = guest();
    tlb.access(&mut g.storage, primary(AccessKind::Write, VA))
        .unwrap();
    assert_eq!(
        probe(&tlb, PRIMARY, VA, AccessKind::Write, 0),
        Some(FRAME_A + 0x456)
    );
    mark(&mut g, true);
    tlb.mark_code(AbsoluteAddress::new(FRAME_A));
    assert_eq!(probe(&tlb, PRIMARY, VA, AccessKind::Write, 0), None);
    assert_eq!(
        probe(&tlb, PRIMARY, VA, AccessKind::Read, 0),
        Some(FRAME_A + 0x456)
    );
    assert!(
        !tlb.access(&mut g.storage, primary(AccessKind::Write, VA))
            .unwrap()
            .hit
    );
    assert_eq!(probe(&tlb, PRIMARY, VA, AccessKind::Write, 0), None);
}

#[test]
fn marking_another_frame_as_code_leaves_the_entry_alone() {
    let (mut g, mut tlb) = guest();
    tlb.access(&mut g.storage, primary(AccessKind::Write, VA))
        .unwrap();
    tlb.mark_code(AbsoluteAddress::new(FRAME_B));
    assert_eq!(
        probe(&tlb, PRIMARY, VA, AccessKind::Write, 0),
        Some(FRAME_A + 0x456)
    );
}

#[test]
fn unmarking_a_code_frame_lets_stores_hit_again_after_the_next_fill() {
    let (mut g, mut tlb) = guest();
    mark(&mut g, true);
    let store = primary(AccessKind::Write, VA);
    tlb.access(&mut g.storage, store).unwrap();
    mark(&mut g, false);
    // The entry formed while the frame held code still refuses stores...
    assert_eq!(probe(&tlb, PRIMARY, VA, AccessKind::Write, 0), None);
    // ...until the next fill, after which they hit.
    assert!(!tlb.access(&mut g.storage, store).unwrap().hit);
    assert_eq!(
        probe(&tlb, PRIMARY, VA, AccessKind::Write, 0),
        Some(FRAME_A + 0x456)
    );
    assert!(tlb.access(&mut g.storage, store).unwrap().hit);
}

#[test]
fn owned_storage_tracks_code_per_4k_frame() {
    let mut s = storage(0x1_0000);
    let at = |a| AbsoluteAddress::new(a);
    assert!(!s.code_frame(at(0x3000)));
    assert_eq!(s.set_code_frame(at(0x3FFF), true), Some(()));
    assert!(s.code_frame(at(0x3000)));
    assert!(!s.code_frame(at(0x2FFF)) && !s.code_frame(at(0x4000)));
    assert_eq!(s.set_code_frame(at(0x3000), false), Some(()));
    assert!(!s.code_frame(at(0x3000)));
    // Outside storage: nothing to mark.
    assert_eq!(s.set_code_frame(at(0x1_0000), true), None);
    assert!(!s.code_frame(at(0x1_0000)));
}

#[test]
fn a_storage_that_does_not_track_code_frames_has_none() {
    let mut s = Sparse::new(0x1_0000);
    assert_eq!(s.set_code_frame(AbsoluteAddress::new(0x3000), true), None);
    assert!(!s.code_frame(AbsoluteAddress::new(0x3000)));
}
