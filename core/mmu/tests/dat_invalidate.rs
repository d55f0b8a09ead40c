//! The storage effects of IPTE, IDTE and CSP/CSPG, and which cached
//! translations each requires to be dropped (PoP ch. 10, Control
//! Instructions; ch. 3, Translation-Lookaside Buffer; as far as the table
//! walk sees them).

mod common;

use common::*;
use zmmu_mmu::entry::{PageEntry, TableEntry};
use zmmu_mmu::invalidate::{csp, idte, ipte, CspOutcome, CspWidth, Invalidation, PendingFlush};
use zmmu_mmu::prelude::*;

/// A virtual address in segment 1, page 0x23, byte 0x456.
const VA: u64 = 0x0012_3456;

fn pte_at(px: u64) -> u64 {
    PT + px * 8
}

// ---- IPTE -----------------------------------------------------------------------

#[test]
fn ipte_sets_only_the_invalid_bit() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::P | 0xFF);
    let before = g.entry(Level::Page, VA);
    let done = ipte(&mut g.storage, PT, VA, 0).unwrap().into_invalidation();
    assert_eq!(g.entry(Level::Page, VA), before | PageEntry::I);
    assert_eq!(
        done,
        Invalidation::PageTableEntries {
            origin: AbsoluteAddress::new(PT),
            first: 0x23,
            extra: 0
        }
    );
    // The next walk sees the invalid entry.
    assert_eq!(code(g.read(VA)), Code::PAGE_TRANSLATION);
}

#[test]
fn ipte_ignores_the_low_bits_of_the_page_table_origin() {
    // Linux passes the PTE address itself in R1: bits 53-63 are ignored.
    let mut g = Guest::mapped(VA, FRAME_A);
    ipte(&mut g.storage, pte_at(0x23) | 7, VA, 0)
        .unwrap()
        .ignore();
    assert_eq!(g.entry(Level::Page, VA), FRAME_A | PageEntry::I);
}

#[test]
fn ipte_uses_only_the_page_index_of_r2() {
    let mut g = Guest::mapped(VA, FRAME_A);
    ipte(&mut g.storage, PT, 0xFFFF_FFFF_FFF2_3FFF, 0)
        .unwrap()
        .ignore();
    assert_eq!(g.entry(Level::Page, VA), FRAME_A | PageEntry::I);
}

#[test]
fn ipte_range_invalidates_the_following_entries() {
    let mut g = Guest::segment();
    for px in 0xFD..=0xFF {
        put(&mut g.storage, pte_at(px), FRAME_A);
    }
    put(&mut g.storage, pte_at(0xFC), FRAME_A);
    ipte(&mut g.storage, PT, 0xFD << 12, 2).unwrap().ignore();
    assert_eq!(get(&g.storage, pte_at(0xFC)), FRAME_A);
    for px in 0xFD..=0xFF {
        assert_eq!(
            get(&g.storage, pte_at(px)),
            FRAME_A | PageEntry::I,
            "px {px:#x}"
        );
    }
}

#[test]
fn ipte_range_past_255_is_specification() {
    let mut g = Guest::segment();
    for px in 0xFD..=0xFF {
        put(&mut g.storage, pte_at(px), FRAME_A);
    }
    assert_eq!(
        ipte(&mut g.storage, PT, 0xFD << 12, 3),
        Err(Exception::new(Code::SPECIFICATION))
    );
    for px in 0xFD..=0xFF {
        assert_eq!(get(&g.storage, pte_at(px)), FRAME_A, "px {px:#x} unchanged");
    }
}

#[test]
fn ipte_entry_outside_storage_is_addressing_and_changes_nothing() {
    // Storage ends in the middle of the page table: entry 0x7F exists, 0x80 does not.
    let mut storage = storage(PT + 0x400);
    put(&mut storage, PT + 0x7F * 8, FRAME_A);
    assert_eq!(
        ipte(&mut storage, PT, 0x7F << 12, 1),
        Err(Exception::addressing())
    );
    assert_eq!(get(&storage, PT + 0x7F * 8), FRAME_A);
    ipte(&mut storage, PT, 0x7F << 12, 0).unwrap().ignore();
    assert_eq!(get(&storage, PT + 0x7F * 8), FRAME_A | PageEntry::I);
}

#[test]
fn ipte_invalidation_covers_only_the_invalidated_entries() {
    let invalidation = Invalidation::PageTableEntries {
        origin: AbsoluteAddress::new(PT),
        first: 0x10,
        extra: 2,
    };
    let through = |pte: u64| {
        let at = move |level| (level == Level::Page).then_some(AbsoluteAddress::new(pte));
        invalidation.covers(at, None, AbsoluteAddress::new(FRAME_A))
    };
    assert!(!through(pte_at(0x0F)));
    assert!(through(pte_at(0x10)));
    assert!(through(pte_at(0x12)));
    assert!(!through(pte_at(0x13)));
    assert!(!through(PT2 + 0x10 * 8));
    // A large-frame translation used no page-table entry.
    assert!(!invalidation.covers(|_| None, None, AbsoluteAddress::new(FRAME_A)));
}

// ---- IDTE -----------------------------------------------------------------------

#[test]
fn idte_sets_invalid_bits_with_wrap() {
    // Entries 0x7FE, 0x7FF, 0 and 1 of a segment table: the index wraps.
    let mut g = Guest::segment();
    for sx in [0x7FD, 0x7FE, 0x7FF, 0, 1, 2] {
        put(
            &mut g.storage,
            ST + sx * 8,
            segment_entry(PT) | TableEntry::P,
        );
    }
    let r1 = asce(ST, Level::Segment, 3).value();
    let r2 = (0x7FE << 20) | 3;
    let done = idte(&mut g.storage, r1, r2, 0).unwrap().into_invalidation();
    assert_eq!(
        done,
        Invalidation::TableEntries {
            level: Level::Segment,
            origin: AbsoluteAddress::new(ST),
            first: 0x7FE,
            extra: 3
        }
    );
    for sx in [0x7FE, 0x7FF, 0, 1] {
        assert_eq!(
            get(&g.storage, ST + sx * 8),
            segment_entry(PT) | TableEntry::P | TableEntry::I,
            "sx {sx:#x}"
        );
    }
    for sx in [0x7FD, 2] {
        assert_eq!(
            get(&g.storage, ST + sx * 8),
            segment_entry(PT) | TableEntry::P,
            "sx {sx:#x} unchanged"
        );
    }
}

#[test]
fn idte_takes_the_index_of_r1s_level() {
    // R1 designates a region-second table: the index is RSX, bits 11-21.
    let mut g = Guest::new(Level::RegionSecond);
    let va = 0x123 << 42;
    g.link(va);
    let r1 = asce(RST, Level::RegionSecond, 3).value();
    idte(&mut g.storage, r1, va, 0).unwrap().ignore();
    assert!(TableEntry(g.entry(Level::RegionSecond, va)).invalid());
    assert_eq!(code(g.read(va)), Code::REGION_SECOND_TRANSLATION);
}

#[test]
fn idte_bits_44_to_51_of_r2_must_be_zero() {
    let mut g = Guest::segment();
    let r1 = asce(ST, Level::Segment, 3).value();
    for bits in [0x1000, 0x8_0000] {
        assert_eq!(
            idte(&mut g.storage, r1, bits, 0),
            Err(Exception::new(Code::SPECIFICATION))
        );
    }
}

#[test]
fn idte_clearing_by_asce_invalidates_nothing() {
    let mut g = Guest::mapped(VA, FRAME_A);
    let target = g.controls.cr1;
    let before = g.storage.clone();
    let done = idte(&mut g.storage, 0, 0x800, target.value())
        .unwrap()
        .into_invalidation();
    assert_eq!(done, Invalidation::Asce(target));
    assert_eq!(g.storage, before);
    assert_eq!(g.absolute(VA), FRAME_A + 0x456);
}

#[test]
fn idte_invalidation_covers_the_entries_and_everything_below() {
    let invalidation = Invalidation::TableEntries {
        level: Level::Segment,
        origin: AbsoluteAddress::new(ST),
        first: 0x7FF,
        extra: 1,
    };
    let through = |ste: u64| {
        let at = move |level| match level {
            Level::Segment => Some(AbsoluteAddress::new(ste)),
            Level::Page => Some(AbsoluteAddress::new(PT)),
            _ => None,
        };
        invalidation.covers(at, None, AbsoluteAddress::new(FRAME_A))
    };
    assert!(through(ST + 0x7FF * 8));
    assert!(through(ST));
    assert!(!through(ST + 8));
    assert!(!through(ST + 0x7FE * 8));
    assert!(!through(ST + 0x800 * 8));
}

// ---- CSP / CSPG -------------------------------------------------------------------

#[test]
fn csp_purges_only_when_equal() {
    let mut g = Guest::segment();
    let word = FRAME_A + 0x10;
    g.storage
        .write(AbsoluteAddress::new(word), &0x1111_2222u32.to_be_bytes())
        .unwrap();
    // Not equal: cc 1, the current value, nothing stored or purged.
    let at = AbsoluteAddress::new(word);
    let miss = csp(
        &mut g.storage,
        at,
        CspWidth::Word,
        0x1111_0000,
        0x3333_4444,
        true,
    );
    assert_eq!(
        miss,
        Ok(CspOutcome {
            cc: 1,
            found: 0x1111_2222,
            invalidation: None
        })
    );
    let mut buf = [0u8; 4];
    g.storage
        .read(AbsoluteAddress::new(word), &mut buf)
        .unwrap();
    assert_eq!(u32::from_be_bytes(buf), 0x1111_2222);
    // Equal: cc 0, stored, and with R2 bit 63 every TLB is purged.
    let hit = csp(
        &mut g.storage,
        at,
        CspWidth::Word,
        0x1111_2222,
        0x3333_4444,
        true,
    );
    assert_eq!(
        hit,
        Ok(CspOutcome {
            cc: 0,
            found: 0x1111_2222,
            invalidation: Some(PendingFlush::new(Invalidation::All))
        })
    );
    g.storage
        .read(AbsoluteAddress::new(word), &mut buf)
        .unwrap();
    assert_eq!(u32::from_be_bytes(buf), 0x3333_4444);
    // Equal without the purge bit: stored, not purged.
    let quiet = csp(
        &mut g.storage,
        at,
        CspWidth::Word,
        0x3333_4444,
        0x5555_6666,
        false,
    );
    assert_eq!(
        quiet,
        Ok(CspOutcome {
            cc: 0,
            found: 0x3333_4444,
            invalidation: None
        })
    );
}

#[test]
fn cspg_compares_and_swaps_a_doubleword() {
    let mut g = Guest::segment();
    let ste = g.at(Level::Segment, VA);
    g.map(VA, FRAME_A);
    let old = segment_entry(PT);
    let new = old | TableEntry::I;
    let done = csp(
        &mut g.storage,
        AbsoluteAddress::new(ste),
        CspWidth::Doubleword,
        old,
        new,
        true,
    )
    .unwrap();
    assert_eq!(
        done,
        CspOutcome {
            cc: 0,
            found: old,
            invalidation: Some(PendingFlush::new(Invalidation::All))
        }
    );
    assert_eq!(code(g.read(VA)), Code::SEGMENT_TRANSLATION);
}

#[test]
fn csp_ignores_the_low_bits_of_the_operand_address() {
    // Linux invalidates an STE with CSP on its low word: address + 4, bit 63 set.
    let mut g = Guest::segment();
    let ste = g.at(Level::Segment, VA);
    g.map(VA, FRAME_A);
    let low = segment_entry(PT) & 0xFFFF_FFFF;
    let r2 = ste + 4 + 1;
    assert_eq!(CspWidth::Word.operand_address(r2), ste + 4);
    assert!(CspWidth::purges_tlb(r2));
    let at = AbsoluteAddress::new(CspWidth::Word.operand_address(r2));
    let done = csp(
        &mut g.storage,
        at,
        CspWidth::Word,
        low,
        low | TableEntry::I,
        CspWidth::purges_tlb(r2),
    )
    .unwrap();
    assert_eq!(done.cc, 0);
    assert_eq!(
        g.entry(Level::Segment, VA),
        segment_entry(PT) | TableEntry::I
    );
}

#[test]
fn csp_outside_storage_is_addressing() {
    let mut g = Guest::segment();
    assert_eq!(
        csp(
            &mut g.storage,
            AbsoluteAddress::new(STORAGE),
            CspWidth::Word,
            0,
            1,
            false
        ),
        Err(Exception::addressing())
    );
}

#[test]
fn a_pending_flush_is_discharged_by_handing_its_invalidation_to_every_cache() {
    let mut g = Guest::mapped(VA, FRAME_A);
    let pending = ipte(&mut g.storage, PT, VA, 0).unwrap();
    let expected = *pending.invalidation();
    let mut caches = Vec::new();
    pending.apply(|invalidation| {
        caches.push(*invalidation);
        caches.push(*invalidation);
    });
    assert_eq!(caches, [expected, expected]);
    assert_eq!(
        PendingFlush::new(Invalidation::All).into_invalidation(),
        Invalidation::All
    );
}
