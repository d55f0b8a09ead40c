//! The instructions that expose translation: LOAD REAL ADDRESS, STORE REAL
//! ADDRESS, TEST PROTECTION and LOAD PAGE-TABLE-ENTRY ADDRESS (PoP ch. 10,
//! Control Instructions).

mod common;

use common::*;
use zmmu_mmu::entry::{PageEntry, TableEntry};
use zmmu_mmu::lra::{lptea, lra, strag, tprot, CcResult};
use zmmu_mmu::prelude::*;

/// A virtual address in segment 1, page 0x23, byte 0x456.
const VA: u64 = 0x0012_3456;
const STE_VA: u64 = ST + 8;
const PTE_VA: u64 = PT + 0x23 * 8;
/// R1 bit 32: LRA stored an exception code.
const FLAG: u64 = 0x8000_0000;

fn cc(cc: u8, r1: u64) -> CcResult {
    CcResult { cc, r1 }
}

fn lra_in(g: &Guest, space: AddressSpace, va: u64, wide: bool) -> Result<CcResult, Fault> {
    lra(
        &g.storage,
        &g.controls,
        space,
        LogicalAddress::new(va),
        wide,
    )
}

fn lrag(g: &Guest, va: u64) -> Result<CcResult, Fault> {
    lra_in(g, AddressSpace::Primary, va, true)
}

fn lra31(g: &Guest, va: u64) -> Result<CcResult, Fault> {
    lra_in(g, AddressSpace::Primary, va, false)
}

// ---- 7.1 LOAD REAL ADDRESS ------------------------------------------------------

#[test]
fn lra_cc0_returns_the_real_address_not_the_absolute() {
    let mut g = Guest::segment();
    g.controls.prefix = Prefix::new(0x6_0000);
    g.map(VA, 0x1000);
    assert_eq!(lrag(&g, VA), Ok(cc(0, 0x1456)));
    assert_eq!(lra31(&g, VA), Ok(cc(0, 0x1456)));
}

#[test]
fn lra_translates_regardless_of_the_psw_dat_bit() {
    let g = Guest::mapped(VA, FRAME_A);
    assert_eq!(
        lra_in(&g, AddressSpace::Real, VA, true),
        Ok(cc(0, FRAME_A + 0x456))
    );
}

#[test]
fn lra_uses_the_asce_of_the_current_space() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.controls.cr7 = asce(STORAGE * 2, Level::Segment, 3);
    g.controls.cr13 = g.controls.cr1;
    assert_eq!(
        lra_in(&g, AddressSpace::Home, VA, true),
        Ok(cc(0, FRAME_A + 0x456))
    );
    assert_eq!(
        code(lra_in(&g, AddressSpace::Secondary, VA, true)),
        Code::ADDRESSING
    );
}

#[test]
fn lra_cc1_for_invalid_ste_with_its_address() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Segment, VA, TableEntry::I);
    assert_eq!(lrag(&g, VA), Ok(cc(1, STE_VA)));
    assert_eq!(lra31(&g, VA), Ok(cc(1, STE_VA)));
}

#[test]
fn lra_cc2_for_invalid_pte_with_its_address() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::I);
    assert_eq!(lrag(&g, VA), Ok(cc(2, PTE_VA)));
    assert_eq!(lra31(&g, VA), Ok(cc(2, PTE_VA)));
}

/// A guest mapping `va` whose region-first entry for it gives the
/// region-second table TL = 2, too short for `va`'s RSX: a region-second
/// translation exception.
fn region_second_index_past_its_length() -> (Guest, u64) {
    let va = 0x600 << 42;
    let mut g = Guest::mapped_from(Level::RegionFirst, va, FRAME_A);
    g.set(
        Level::RegionFirst,
        va,
        region_entry(Level::RegionFirst, RST, 0, 2),
    );
    (g, va)
}

#[test]
fn lra_cc3_with_code_for_asce_type_and_region_exceptions() {
    // ASCE-type.
    let g = Guest::segment();
    assert_eq!(lrag(&g, 1 << 31), Ok(cc(3, FLAG | 0x38)));
    // Invalid region entries.
    let levels = [
        (Level::RegionFirst, 0x39),
        (Level::RegionSecond, 0x3A),
        (Level::RegionThird, 0x3B),
    ];
    for (level, code) in levels {
        let mut g = Guest::mapped_from(Level::RegionFirst, VA, FRAME_A);
        g.or(level, VA, TableEntry::I);
        assert_eq!(lrag(&g, VA), Ok(cc(3, FLAG | code)), "{level:?} invalid");
    }
    // Region length violations: ASCE TL, and a region entry's TL.
    let mut g = Guest::new(Level::RegionFirst);
    g.controls.cr1 = asce(RFT, Level::RegionFirst, 0);
    assert_eq!(lrag(&g, 512 << 53), Ok(cc(3, FLAG | 0x39)));
    let (g, va) = region_second_index_past_its_length();
    assert_eq!(lrag(&g, va), Ok(cc(3, FLAG | 0x3A)));
}

#[test]
fn lra_cc3_with_ste_address_for_segment_table_length_violation() {
    // Hercules: the address the segment-table entry would have had, with
    // cc 3 (docs/CHOICES.md). Through the ASCE's TL ...
    let va = 0x600 << 20;
    let mut g = Guest::segment();
    g.controls.cr1 = asce(ST, Level::Segment, 2);
    assert_eq!(lrag(&g, va), Ok(cc(3, ST + 0x600 * 8)));
    assert_eq!(lra31(&g, va), Ok(cc(3, ST + 0x600 * 8)));
    // ... and through a region-third entry's TL.
    let mut g = Guest::mapped_from(Level::RegionThird, va, FRAME_A);
    g.set(
        Level::RegionThird,
        va,
        region_entry(Level::RegionThird, ST, 0, 2),
    );
    assert_eq!(lrag(&g, va), Ok(cc(3, ST + 0x600 * 8)));
}

#[test]
fn lra_narrow_real_address_above_2g_is_special_operation() {
    let g = Guest::mapped(VA, 0x1_0000_0000);
    assert_eq!(lrag(&g, VA), Ok(cc(0, 0x1_0000_0456)));
    assert_eq!(
        lra31(&g, VA),
        Err(Fault::Program(Exception::new(Code::SPECIAL_OPERATION)))
    );
}

#[test]
fn lra_narrow_entry_address_above_2g_becomes_cc3() {
    // Segment and page tables above 2 GiB.
    let (st, pt) = (0x1_0000_0000, 0x1_0001_0000);
    let mut storage = Sparse::new(1 << 33);
    storage.put(entry_address(st, Level::Segment, VA), segment_entry(pt));
    storage.put(entry_address(pt, Level::Page, VA), PageEntry::I);
    storage.put(entry_address(st, Level::Segment, 0x20_0000), TableEntry::I);
    let controls = Controls {
        cr1: asce(st, Level::Segment, 3),
        ..Controls::default()
    };
    let lra_of = |va, wide| {
        lra(
            &storage,
            &controls,
            AddressSpace::Primary,
            LogicalAddress::new(va),
            wide,
        )
    };
    assert_eq!(lra_of(0x20_0000, true), Ok(cc(1, st + 2 * 8)));
    assert_eq!(lra_of(0x20_0000, false), Ok(cc(3, FLAG | 0x10)));
    assert_eq!(lra_of(VA, true), Ok(cc(2, pt + 0x23 * 8)));
    assert_eq!(lra_of(VA, false), Ok(cc(3, FLAG | 0x11)));
    // A segment-table length violation above 2 GiB in the 31-bit form.
    let short = Controls {
        cr1: asce(st, Level::Segment, 0),
        ..controls
    };
    let va = 0x600 << 20;
    for wide in [false, true] {
        // cc 3 loads only bits 32-63: in every form an entry address above
        // 2 GiB becomes bit 32 plus the code (Hercules).
        assert_eq!(
            lra(
                &storage,
                &short,
                AddressSpace::Primary,
                LogicalAddress::new(va),
                wide
            ),
            Ok(cc(3, FLAG | 0x10))
        );
    }
}

#[test]
fn lra_interrupts_on_addressing_and_translation_specification() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::ZERO);
    assert_eq!(
        lrag(&g, VA),
        Err(Fault::Program(Exception::translation_specification()))
    );
    g.set(Level::Segment, VA, segment_entry(STORAGE));
    assert_eq!(lrag(&g, VA), Err(Fault::Program(Exception::addressing())));
}

#[test]
fn lra_checks_no_protection() {
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    g.iep();
    g.map(0x100, FRAME_A);
    g.or(Level::Page, 0x100, PageEntry::P | PageEntry::IEP);
    g.set_key(FRAME_A, 0x78);
    assert_eq!(lrag(&g, 0x100), Ok(cc(0, FRAME_A + 0x100)));
}

#[test]
fn lra_of_a_large_frame_returns_the_frame_address() {
    // The frame address of a format-1 entry is absolute; zmmu returns it as
    // the real address without converting it (docs/CHOICES.md).
    let mut g = Guest::segment();
    g.edat1();
    g.controls.prefix = Prefix::new(0x6_0000);
    g.set(Level::Segment, 0, large_segment(0));
    assert_eq!(lrag(&g, 0x123), Ok(cc(0, 0x123)));
}

#[test]
fn lra_with_alet_other_than_0_1_is_unsupported() {
    let g = Guest::segment();
    let space = AddressSpace::AccessRegister { alet: 7, ar: 2 };
    assert_eq!(
        lra_in(&g, space, VA, true),
        Err(Fault::ArtUnsupported { alet: 7 })
    );
}

// ---- 7.2 STORE REAL ADDRESS -----------------------------------------------------

fn strag_in(g: &Guest, space: AddressSpace, va: u64) -> Result<RealAddress, Fault> {
    strag(&g.storage, &g.controls, space, LogicalAddress::new(va))
}

#[test]
fn strag_returns_the_64_bit_real_address() {
    let mut g = Guest::segment();
    g.controls.prefix = Prefix::new(0x6_0000);
    g.map(VA, 0x1_0000_0000);
    let real = strag_in(&g, AddressSpace::Primary, VA);
    assert_eq!(real, Ok(RealAddress::new(0x1_0000_0456)));
    g.map(VA, 0x1000);
    let real = strag_in(&g, AddressSpace::Primary, VA);
    assert_eq!(real, Ok(RealAddress::new(0x1456)));
}

#[test]
fn strag_translation_exceptions_interrupt() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::I);
    assert_eq!(
        code(strag_in(&g, AddressSpace::Primary, VA)),
        Code::PAGE_TRANSLATION
    );
    g.or(Level::Segment, VA, TableEntry::I);
    assert_eq!(
        code(strag_in(&g, AddressSpace::Primary, VA)),
        Code::SEGMENT_TRANSLATION
    );
}

#[test]
fn strag_translation_exception_teid_indicates_neither_fetch_nor_store() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::I);
    let teid = match strag_in(&g, AddressSpace::Primary, VA) {
        Err(Fault::Program(e)) => e.teid.map(|t| t.0),
        other => panic!("{other:?}"),
    };
    assert_eq!(teid, Some(VA & !0xFFF), "page, F/S 00, primary ASCE id");
}

#[test]
fn strag_translates_regardless_of_the_psw_dat_bit() {
    let g = Guest::mapped(VA, FRAME_A);
    let real = strag_in(&g, AddressSpace::Real, VA);
    assert_eq!(real, Ok(RealAddress::new(FRAME_A + 0x456)));
}

// ---- 7.3 TEST PROTECTION ----------------------------------------------------------

fn tprot_in(g: &Guest, space: AddressSpace, va: u64, key: u8) -> Result<u8, Fault> {
    tprot(&g.storage, &g.controls, space, LogicalAddress::new(va), key)
}

fn tprot_at(g: &Guest, va: u64, key: u8) -> Result<u8, Fault> {
    tprot_in(g, AddressSpace::Primary, va, key)
}

#[test]
fn tprot_cc0_when_fetch_and_store_are_permitted() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set_key(FRAME_A, 0x68);
    assert_eq!(tprot_at(&g, VA, 6), Ok(0));
    assert_eq!(tprot_at(&g, VA, 0), Ok(0));
}

#[test]
fn tprot_cc1_for_dat_protection() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::P);
    assert_eq!(tprot_at(&g, VA, 0), Ok(1));
}

#[test]
fn tprot_cc1_for_low_address_protection() {
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    g.map(0x100, FRAME_A);
    assert_eq!(tprot_at(&g, 0x100, 0), Ok(1));
    assert_eq!(tprot_in(&g, AddressSpace::Real, 0x100, 0), Ok(1));
}

#[test]
fn tprot_cc1_for_key_mismatch_without_fetch_protection() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set_key(FRAME_A, 0x70);
    assert_eq!(tprot_at(&g, VA, 6), Ok(1));
}

#[test]
fn tprot_cc2_for_fetch_protection() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set_key(FRAME_A, 0x78);
    assert_eq!(tprot_at(&g, VA, 6), Ok(2));
}

#[test]
fn tprot_cc3_when_translation_is_not_available() {
    let mut g = Guest::mapped_from(Level::RegionThird, VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::I);
    assert_eq!(tprot_at(&g, VA, 0), Ok(3), "page invalid");
    g.or(Level::Segment, VA, TableEntry::I);
    assert_eq!(tprot_at(&g, VA, 0), Ok(3), "segment invalid");
    g.or(Level::RegionThird, VA, TableEntry::I);
    assert_eq!(tprot_at(&g, VA, 0), Ok(3), "region invalid");
    assert_eq!(tprot_at(&g, 1 << 42, 0), Ok(3), "ASCE type");
}

#[test]
fn tprot_interrupts_on_pte_bit_52_and_addressing() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::ZERO);
    assert_eq!(code(tprot_at(&g, VA, 0)), Code::TRANSLATION_SPECIFICATION);
    g.map(VA, STORAGE);
    assert_eq!(code(tprot_at(&g, VA, 0)), Code::ADDRESSING);
}

#[test]
fn tprot_honours_both_overrides() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set_key(FRAME_A, 0x98);
    assert_eq!(tprot_at(&g, VA, 6), Ok(2));
    g.cr0(Cr0::STORAGE_PROTECTION_OVERRIDE);
    assert_eq!(tprot_at(&g, VA, 6), Ok(0));
    // Fetch-protection override: fetch permitted at 0-2047, store not.
    let mut g = Guest::mapped(0x100, FRAME_A);
    g.set_key(FRAME_A, 0x78);
    assert_eq!(tprot_at(&g, 0x100, 6), Ok(2));
    g.cr0(Cr0::FETCH_PROTECTION_OVERRIDE);
    assert_eq!(tprot_at(&g, 0x100, 6), Ok(1));
    assert_eq!(tprot_at(&g, 0x900, 6), Ok(2));
}

#[test]
fn tprot_ignores_iep() {
    let mut g = Guest::segment();
    g.iep();
    g.map(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::IEP);
    assert_eq!(tprot_at(&g, VA, 0), Ok(0));
}

#[test]
fn tprot_records_neither_reference_nor_change() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set_key(FRAME_A, 0x60);
    assert_eq!(tprot_at(&g, VA, 6), Ok(0));
    assert_eq!(g.key(FRAME_A).value(), 0x60);
}

#[test]
fn tprot_with_dat_off_tests_the_real_address() {
    let mut g = Guest::segment();
    g.set_key(FRAME_A, 0x78);
    assert_eq!(tprot_in(&g, AddressSpace::Real, FRAME_A, 6), Ok(2));
    assert_eq!(tprot_in(&g, AddressSpace::Real, FRAME_A, 7), Ok(0));
}

// ---- 7.4 LOAD PAGE-TABLE-ENTRY ADDRESS ----------------------------------------------

fn lptea_of(g: &Guest, va: u64) -> Result<CcResult, Exception> {
    lptea(
        &g.storage,
        &g.controls,
        g.controls.cr1,
        LogicalAddress::new(va),
    )
}

#[test]
fn lptea_cc0_returns_the_pte_address_without_fetching_it() {
    // The page table lies outside storage: its entry is never fetched.
    let mut g = Guest::segment();
    g.set(Level::Segment, VA, segment_entry(STORAGE * 4));
    assert_eq!(lptea_of(&g, VA), Ok(cc(0, STORAGE * 4 + 0x23 * 8)));
}

#[test]
fn lptea_cc1_when_the_segment_is_protected() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Segment, VA, TableEntry::P);
    assert_eq!(lptea_of(&g, VA), Ok(cc(1, PTE_VA)));
    // Page protection is not looked at.
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::P);
    assert_eq!(lptea_of(&g, VA), Ok(cc(0, PTE_VA)));
}

#[test]
fn lptea_cc1_for_region_protection_needs_edat1() {
    let mut g = Guest::mapped_from(Level::RegionThird, VA, FRAME_A);
    g.or(Level::RegionThird, VA, TableEntry::P);
    assert_eq!(lptea_of(&g, VA), Ok(cc(0, PTE_VA)));
    g.edat1();
    assert_eq!(lptea_of(&g, VA), Ok(cc(1, PTE_VA)));
}

#[test]
fn lptea_cc2_for_an_invalid_entry_with_its_table_type() {
    let cases = [
        (Level::RegionFirst, 3),
        (Level::RegionSecond, 2),
        (Level::RegionThird, 1),
        (Level::Segment, 0),
    ];
    for (level, tt) in cases {
        let mut g = Guest::mapped_from(Level::RegionFirst, VA, FRAME_A);
        g.or(level, VA, TableEntry::I);
        assert_eq!(
            lptea_of(&g, VA),
            Ok(cc(2, g.at(level, VA) | tt)),
            "{level:?}"
        );
    }
}

#[test]
fn lptea_cc2_for_a_large_segment_with_its_protection() {
    let mut g = Guest::new(Level::RegionThird);
    g.edat1();
    g.link(VA);
    g.set(Level::Segment, VA, large_segment(0x20_0000));
    assert_eq!(lptea_of(&g, VA), Ok(cc(2, STE_VA)));
    g.or(Level::Segment, VA, TableEntry::P);
    assert_eq!(lptea_of(&g, VA), Ok(cc(2, STE_VA | 0x4)));
    // Region protection counts too.
    g.set(Level::Segment, VA, large_segment(0x20_0000));
    g.or(Level::RegionThird, VA, TableEntry::P);
    assert_eq!(lptea_of(&g, VA), Ok(cc(2, STE_VA | 0x4)));
}

#[test]
fn lptea_cc3_with_code_for_asce_type_and_length() {
    let g = Guest::segment();
    assert_eq!(lptea_of(&g, 1 << 31), Ok(cc(3, 0x38)));
    let mut g = Guest::segment();
    g.controls.cr1 = asce(ST, Level::Segment, 0);
    assert_eq!(lptea_of(&g, 0x600 << 20), Ok(cc(3, 0x10)));
    let (g, va) = region_second_index_past_its_length();
    assert_eq!(lptea_of(&g, va), Ok(cc(3, 0x3A)));
}

#[test]
fn lptea_for_a_real_space_is_special_operation() {
    let g = Guest::segment();
    let real = Asce::new(Asce::R);
    assert_eq!(
        lptea(&g.storage, &g.controls, real, LogicalAddress::new(VA)),
        Err(Exception::new(Code::SPECIAL_OPERATION))
    );
}

#[test]
fn lptea_interrupts_on_addressing_and_translation_specification() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set(Level::Segment, VA, PT | tt(Level::RegionThird));
    assert_eq!(
        lptea_of(&g, VA),
        Err(Exception::translation_specification())
    );
    g.controls.cr1 = asce(STORAGE, Level::Segment, 3);
    assert_eq!(lptea_of(&g, VA), Err(Exception::addressing()));
}
