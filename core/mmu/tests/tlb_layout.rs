//! The software TLB as translated code sees it: the exported layout, the
//! inline probe made through [`Tlb::entries_ptr`] with the exported
//! offsets, and frames that hold translated code, whose stores never hit.

mod common;

use common::*;
use zmmu_mmu::prelude::*;
use zmmu_mmu::space::AsceSource;
use zmmu_mmu::tlb::{
    partition_index, slot, tag, Tlb, ADDEND_OFFSET, ENTRIES, ENTRY_SIZE, PARTITIONS,
    PARTITION_STRIDE, TAG_CODE, TAG_OFFSET,
};

/// A virtual address in segment 1, page 0x23, byte 0x456.
const VA: u64 = 0x0012_3456;
/// The primary space's partition.
const PRIMARY: usize = 1;

/// The probe that generated code makes (see the `tlb` module docs): slot,
/// tag, one compare at `TAG_OFFSET[kind]`, then the addend, read through the
/// raw pointer at the exported offsets.
fn probe(tlb: &Tlb, partition: usize, address: u64, kind: AccessKind, key: u8) -> Option<u64> {
    assert!(partition < PARTITIONS);
    let entry = partition * PARTITION_STRIDE + slot(address) * ENTRY_SIZE;
    let base = tlb.entries_ptr().cast::<u8>();
    let read = |offset: usize| {
        assert!(entry + offset + 8 <= PARTITIONS * PARTITION_STRIDE);
        // SAFETY: the offset lies inside the allocation of PARTITIONS *
        // ENTRIES entries that `entries_ptr` points to (asserted above), is
        // a multiple of 8 in an allocation aligned to ENTRY_SIZE, and
        // nothing changes the TLB while `tlb` is borrowed.
        unsafe { base.add(entry + offset).cast::<u64>().read() }
    };
    (read(TAG_OFFSET[kind as usize]) == tag(address, key))
        .then(|| address.wrapping_add(read(ADDEND_OFFSET)))
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
    assert_eq!(PARTITION_STRIDE, ENTRIES * 32);
    let tlb = Tlb::default();
    assert_eq!(tlb.entries().len(), PARTITIONS * ENTRIES);
    assert_eq!(tlb.entries_ptr() as usize % ENTRY_SIZE, 0);
}

#[test]
fn the_slot_offset_is_the_address_shifted_right_by_7_masked_with_0x7fe0() {
    assert_eq!(ENTRIES, 1024);
    for address in [0, VA, 0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_1234_5678] {
        assert_eq!(
            slot(address) * ENTRY_SIZE,
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
