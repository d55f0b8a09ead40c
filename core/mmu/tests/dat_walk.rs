//! The DAT table walk: addressing modes, ASCE selection and format, the
//! virtual-address fields, and the per-level checks (PoP ch. 5, Address
//! Generation; ch. 3, Address-Space-Control Element, Translation Process).

mod common;

use common::*;
use zmmu_mmu::entry::{PageEntry, TableEntry};
use zmmu_mmu::prelude::*;
use zmmu_mmu::walk::{self, Frame, FrameSize, WalkControls};

/// A virtual address in segment 1, page 0x23, byte 0x456.
const VA: u64 = 0x0012_3456;

// ---- 1.2 Effective addresses ------------------------------------------------

#[test]
fn effective_addresses_wrap_to_the_addressing_mode() {
    let sum = 0xFFFF_FFFF_8123_4567;
    assert_eq!(AddressingMode::Bits24.wrap(sum), 0x23_4567);
    assert_eq!(AddressingMode::Bits31.wrap(sum), 0x0123_4567);
    assert_eq!(AddressingMode::Bits64.wrap(sum), sum);
}

#[test]
fn amode_24_wraps_addresses() {
    let mut g = Guest::mapped(VA, FRAME_A);
    // 16 MiB + VA wraps to VA in 24-bit mode and translates through VA's entries.
    let wrapped = AddressingMode::Bits24.wrap((1 << 24) + VA);
    assert_eq!(wrapped, VA);
    assert_eq!(g.absolute(wrapped), FRAME_A + 0x456);
}

#[test]
fn amode_31_top_address_is_inside_a_segment_table_with_tl_3() {
    // In 31-bit mode RFX = RSX = RTX = 0, so a segment table of length 3
    // (2048 entries) covers every address.
    let mut g = Guest::segment();
    let top = AddressingMode::Bits31.wrap(u64::MAX);
    assert_eq!(top, 0x7FFF_FFFF);
    g.map(top, FRAME_A);
    assert_eq!(g.absolute(top), FRAME_A + 0xFFF);
}

#[test]
fn dat_table_addresses_are_not_wrapped_by_the_addressing_mode() {
    // Segment and page tables above 16 MiB serve a 24-bit address.
    let (st, pt) = (0x100_0000, 0x100_4000);
    let mut storage = storage(0x101_0000);
    put(
        &mut storage,
        entry_address(st, Level::Segment, VA),
        segment_entry(pt),
    );
    put(
        &mut storage,
        entry_address(pt, Level::Page, VA),
        page_entry(FRAME_A),
    );
    let controls = Controls {
        cr1: asce(st, Level::Segment, 3),
        ..Controls::default()
    };
    let address = LogicalAddress::new(AddressingMode::Bits24.wrap(VA));
    let request = Request {
        address,
        space: AddressSpace::Primary,
        kind: AccessKind::Read,
        key: 0,
    };
    let done = access(&mut storage, &controls, request).unwrap();
    assert_eq!(done.absolute, AbsoluteAddress::new(FRAME_A + 0x456));
}

// ---- 1.3 ASCE selection -----------------------------------------------------

const ST7: u64 = 0x2_4000;
const PT7: u64 = 0x2_1000;
const ST13: u64 = 0x2_8000;
const PT13: u64 = 0x2_1800;

/// CR1 maps VA to FRAME_A, CR7 to FRAME_B, CR13 to FRAME_C.
fn three_spaces() -> Guest {
    let mut g = Guest::mapped(VA, FRAME_A);
    for (st, pt, frame) in [(ST7, PT7, FRAME_B), (ST13, PT13, FRAME_C)] {
        invalid_table(&mut g.storage, st, Level::Segment);
        invalid_table(&mut g.storage, pt, Level::Page);
        put(
            &mut g.storage,
            entry_address(st, Level::Segment, VA),
            segment_entry(pt),
        );
        put(
            &mut g.storage,
            entry_address(pt, Level::Page, VA),
            page_entry(frame),
        );
    }
    g.controls.cr7 = asce(ST7, Level::Segment, 3);
    g.controls.cr13 = asce(ST13, Level::Segment, 3);
    g
}

fn frame_reached(g: &mut Guest, space: AddressSpace, kind: AccessKind) -> u64 {
    g.access(space, kind, VA, 0)
        .unwrap()
        .absolute
        .page()
        .value()
}

#[test]
fn operand_accesses_use_the_asce_of_their_space() {
    let mut g = three_spaces();
    for (space, frame) in [
        (AddressSpace::Primary, FRAME_A),
        (AddressSpace::Secondary, FRAME_B),
        (AddressSpace::Home, FRAME_C),
    ] {
        for kind in [AccessKind::Read, AccessKind::Write] {
            assert_eq!(
                frame_reached(&mut g, space, kind),
                frame,
                "{space:?} {kind:?}"
            );
        }
    }
}

#[test]
fn alet_0_means_primary_and_alet_1_secondary() {
    let mut g = three_spaces();
    let ar = |alet| AddressSpace::AccessRegister { alet, ar: 3 };
    assert_eq!(frame_reached(&mut g, ar(0), AccessKind::Read), FRAME_A);
    assert_eq!(frame_reached(&mut g, ar(1), AccessKind::Write), FRAME_B);
}

#[test]
fn alet_other_than_0_1_is_unsupported() {
    let mut g = three_spaces();
    let space = AddressSpace::AccessRegister { alet: 2, ar: 3 };
    assert_eq!(
        g.access(space, AccessKind::Read, VA, 0),
        Err(Fault::ArtUnsupported { alet: 2 })
    );
    assert_eq!(
        g.access(space, AccessKind::Write, VA, 0),
        Err(Fault::ArtUnsupported { alet: 2 })
    );
}

#[test]
fn instruction_fetch_uses_primary_asce_in_secondary_mode() {
    let mut g = three_spaces();
    assert_eq!(
        frame_reached(
            &mut g,
            AddressSpace::Secondary,
            AccessKind::InstructionFetch
        ),
        FRAME_A
    );
}

#[test]
fn instruction_fetch_uses_primary_asce_in_access_register_mode() {
    let mut g = three_spaces();
    for alet in [0, 1, 2] {
        let space = AddressSpace::AccessRegister { alet, ar: 3 };
        assert_eq!(
            frame_reached(&mut g, space, AccessKind::InstructionFetch),
            FRAME_A,
            "alet {alet}"
        );
    }
}

#[test]
fn instruction_fetch_uses_home_asce_in_home_mode() {
    let mut g = three_spaces();
    assert_eq!(
        frame_reached(&mut g, AddressSpace::Home, AccessKind::InstructionFetch),
        FRAME_C
    );
}

#[test]
fn dat_off_logical_address_is_the_real_address() {
    // CR1 designates nothing usable: with DAT off it is not consulted.
    let mut g = Guest::segment();
    g.controls.cr1 = asce(STORAGE * 2, Level::Segment, 0);
    let done = g
        .access(AddressSpace::Real, AccessKind::Read, 0x5_6789, 0)
        .unwrap();
    assert_eq!(done.real, RealAddress::new(0x5_6789));
    assert_eq!(done.absolute, AbsoluteAddress::new(0x5_6789));
    assert_eq!(done.asce, None);
}

// ---- 1.4 ASCE format --------------------------------------------------------

#[test]
fn asce_fields_follow_ibm_bit_numbering() {
    let bit = |n: u32| 1u64 << (63 - n);
    assert_eq!(Asce::ORIGIN, 0xFFFF_FFFF_FFFF_F000);
    assert_eq!(Asce::G, bit(54));
    assert_eq!(Asce::P, bit(55));
    assert_eq!(Asce::S, bit(56));
    assert_eq!(Asce::X, bit(57));
    assert_eq!(Asce::R, bit(58));
    assert_eq!(Asce::DT, bit(60) | bit(61));
    assert_eq!(Asce::TL, bit(62) | bit(63));
    let a = Asce::new(0x1234_5000 | 0x8 | 0x2);
    assert_eq!(a.table_origin(), AbsoluteAddress::new(0x1234_5000));
    assert_eq!(a.designation_type(), Level::RegionSecond);
    assert_eq!(a.table_length(), 2);
    for level in Level::TABLES {
        assert_eq!(asce(0, level, 0).designation_type(), level);
    }
}

#[test]
fn real_space_asce_translates_without_a_walk() {
    // R = 1: the origin (outside storage), DT and TL are not used, and an
    // address far above 2 GiB is not an ASCE-type exception.
    let real_space = Asce::new((STORAGE * 16) | Asce::R | Asce::TL);
    let storage = storage(STORAGE);
    for va in [0x3_0123, 0x0123_4567_89AB_CDEF] {
        let w = walk::walk(&storage, real_space, va, WalkControls::default()).unwrap();
        assert_eq!(w.frame, Frame::Real(RealAddress::new(va & !0xFFF)));
        assert_eq!(w.real(va), RealAddress::new(va));
        assert!(!w.protected);
    }
}

#[test]
fn asce_reserved_and_event_bits_do_not_change_the_walk() {
    let mut g = Guest::mapped(VA, FRAME_A);
    let plain = g.controls.cr1.value();
    for extra in [
        Asce::G,
        Asce::S,
        Asce::X,
        0xC10,
        Asce::G | Asce::S | Asce::X | 0xC10,
    ] {
        g.controls.cr1 = Asce::new(plain | extra);
        assert_eq!(g.absolute(VA), FRAME_A + 0x456, "ASCE bits {extra:#x}");
    }
}

// ---- 2.1 Virtual-address fields ---------------------------------------------

#[test]
fn virtual_address_fields_follow_ibm_bit_numbering() {
    let (rfx, rsx, rtx, sx, px, bx) = (0x401u64, 0x302u64, 0x603u64, 0x104u64, 0x85u64, 0x6A7u64);
    let va = rfx << 53 | rsx << 42 | rtx << 31 | sx << 20 | px << 12 | bx;
    assert_eq!((va & 0xFFE0_0000_0000_0000) >> 53, rfx);
    assert_eq!((va & 0x001F_FC00_0000_0000) >> 42, rsx);
    assert_eq!((va & 0x0000_03FF_8000_0000) >> 31, rtx);
    assert_eq!((va & 0x0000_0000_7FF0_0000) >> 20, sx);
    assert_eq!((va & 0x0000_0000_000F_F000) >> 12, px);
    assert_eq!(Level::RegionFirst.index(va), rfx);
    assert_eq!(Level::RegionSecond.index(va), rsx);
    assert_eq!(Level::RegionThird.index(va), rtx);
    assert_eq!(Level::Segment.index(va), sx);
    assert_eq!(Level::Page.index(va), px);
    // The two leftmost bits of each 11-bit index, compared with TF and TL.
    assert_eq!(Level::RegionFirst.index_block(va), 2);
    assert_eq!(Level::RegionSecond.index_block(va), 1);
    assert_eq!(Level::RegionThird.index_block(va), 3);
    assert_eq!(Level::Segment.index_block(va), 0);
}

#[test]
fn one_entry_maps_the_architected_size() {
    let sizes = [
        (Level::RegionFirst, 1u64 << 53),
        (Level::RegionSecond, 1 << 42),
        (Level::RegionThird, 1 << 31),
        (Level::Segment, 1 << 20),
        (Level::Page, 1 << 12),
    ];
    for (level, bytes) in sizes {
        assert_eq!(1u64 << level.shift(), bytes, "{level:?}");
    }
    assert_eq!(FrameSize::Page4K.bytes(), 1 << 12);
    assert_eq!(FrameSize::Segment1M.bytes(), 1 << 20);
    assert_eq!(FrameSize::Region2G.bytes(), 1 << 31);
}

#[test]
fn page_table_origin_is_2k_aligned() {
    let mut g = Guest::mapped(VA, FRAME_A);
    // The STE designates the page table in the upper half of a 4 KiB block.
    g.set(Level::Segment, VA, segment_entry(PT2));
    put(
        &mut g.storage,
        entry_address(PT2, Level::Page, VA),
        page_entry(FRAME_B),
    );
    assert_eq!(g.absolute(VA), FRAME_B + 0x456);
}

#[test]
fn region_table_origin_is_4k_aligned() {
    // Bit 52 of a region entry is not part of the origin.
    let mut g = Guest::mapped_from(Level::RegionThird, VA, FRAME_A);
    g.set(
        Level::RegionThird,
        VA,
        region_entry(Level::RegionThird, ST | 0x800, 0, 3),
    );
    assert_eq!(g.absolute(VA), FRAME_A + 0x456);
}

#[test]
fn segment_entry_has_no_page_table_length() {
    // Page index 255, the last entry of a page table, through an STE whose
    // bits 62-63 are zero.
    let mut g = Guest::segment();
    let last = 0x1F_F000;
    g.map(last, FRAME_A);
    assert_eq!(g.entry(Level::Segment, last) & 3, 0);
    assert_eq!(g.absolute(last + 0x10), FRAME_A + 0x10);
}

#[test]
fn table_length_3_admits_entry_2047() {
    let mut g = Guest::new(Level::RegionFirst);
    let va = !0xFFF;
    g.map(va, FRAME_A);
    assert_eq!(g.absolute(va + 0xFFF), FRAME_A + 0xFFF);
}

// ---- 2.2 The ASCE step ------------------------------------------------------

#[test]
fn asce_type_exception_for_nonzero_rfx_with_region_second_asce() {
    let mut g = Guest::mapped_from(Level::RegionSecond, VA, FRAME_A);
    assert_eq!(code(g.read(1 << 53 | VA)), Code::ASCE_TYPE);
}

#[test]
fn asce_type_exception_for_any_index_above_the_designated_table() {
    let cases = [
        (Level::RegionThird, 1u64 << 53),
        (Level::RegionThird, 1 << 42),
        (Level::Segment, 1 << 53),
        (Level::Segment, 1 << 42),
        (Level::Segment, 1 << 31),
    ];
    for (top, va) in cases {
        let mut g = Guest::mapped_from(top, VA, FRAME_A);
        assert_eq!(code(g.read(va | VA)), Code::ASCE_TYPE, "{top:?} {va:#x}");
    }
    // The highest address each table type covers is no ASCE-type exception.
    for (top, va) in [
        (Level::RegionSecond, (1u64 << 53) - 1),
        (Level::RegionThird, (1 << 42) - 1),
    ] {
        let mut g = Guest::mapped_from(top, va, FRAME_A);
        assert_eq!(g.absolute(va), FRAME_A + 0xFFF, "{top:?}");
    }
}

#[test]
fn asce_table_length_violation_raises_the_top_levels_exception() {
    // Index block 1 (entries 512-1023) with ASCE TL = 0.
    let cases = [
        (
            Level::RegionFirst,
            512u64 << 53,
            Code::REGION_FIRST_TRANSLATION,
        ),
        (
            Level::RegionSecond,
            512 << 42,
            Code::REGION_SECOND_TRANSLATION,
        ),
        (
            Level::RegionThird,
            512 << 31,
            Code::REGION_THIRD_TRANSLATION,
        ),
        (Level::Segment, 512 << 20, Code::SEGMENT_TRANSLATION),
    ];
    for (top, va, expected) in cases {
        let mut g = Guest::mapped_from(top, va, FRAME_A);
        g.controls.cr1 = asce(origin(top), top, 0);
        assert_eq!(code(g.read(va)), expected, "{top:?}");
        // With TL = 1 the same address translates.
        g.controls.cr1 = asce(origin(top), top, 1);
        assert_eq!(g.absolute(va), FRAME_A, "{top:?}");
    }
}

#[test]
fn table_origin_designates_entry_zero_even_below_tf() {
    // The region-third entry says the segment table starts at block 2
    // (TF = 2): entry 0x400 is still at origin + 0x400 * 8.
    let mut g = Guest::new(Level::RegionThird);
    let va = 0x400 << 20;
    g.map(va, FRAME_A);
    g.set(
        Level::RegionThird,
        va,
        region_entry(Level::RegionThird, ST, 2, 3),
    );
    assert_eq!(g.at(Level::Segment, va), ST + 0x400 * 8);
    assert_eq!(g.absolute(va), FRAME_A);
}

#[test]
fn table_offset_violation_raises_next_levels_exception() {
    // Index block 0 with TF = 1 in the entry above.
    let cases = [
        (Level::RegionFirst, Code::REGION_SECOND_TRANSLATION),
        (Level::RegionSecond, Code::REGION_THIRD_TRANSLATION),
        (Level::RegionThird, Code::SEGMENT_TRANSLATION),
    ];
    for (level, expected) in cases {
        let mut g = Guest::mapped_from(Level::RegionFirst, VA, FRAME_A);
        g.set(level, VA, region_entry(level, origin(level.next()), 1, 3));
        assert_eq!(code(g.read(VA)), expected, "TF in {level:?}");
    }
}

#[test]
fn table_length_violation_raises_next_levels_exception() {
    // Index block 3 with TL = 2 in the entry above.
    let cases = [
        (
            Level::RegionFirst,
            0x600u64 << 42,
            Code::REGION_SECOND_TRANSLATION,
        ),
        (
            Level::RegionSecond,
            0x600 << 31,
            Code::REGION_THIRD_TRANSLATION,
        ),
        (Level::RegionThird, 0x600 << 20, Code::SEGMENT_TRANSLATION),
    ];
    for (level, va, expected) in cases {
        let mut g = Guest::mapped_from(Level::RegionFirst, va, FRAME_A);
        g.set(level, va, region_entry(level, origin(level.next()), 0, 2));
        assert_eq!(code(g.read(va)), expected, "TL in {level:?}");
        g.set(level, va, region_entry(level, origin(level.next()), 0, 3));
        assert_eq!(g.absolute(va), FRAME_A, "TL in {level:?}");
    }
}

// ---- 2.3 Entry fetch --------------------------------------------------------

#[test]
fn table_entry_outside_storage_is_addressing() {
    let outside = STORAGE * 4;
    for level in [
        Level::RegionFirst,
        Level::RegionSecond,
        Level::RegionThird,
        Level::Segment,
        Level::Page,
    ] {
        let mut g = Guest::mapped_from(Level::RegionFirst, VA, FRAME_A);
        // Make the table at `level` lie outside storage.
        match level {
            Level::RegionFirst => g.controls.cr1 = asce(outside, Level::RegionFirst, 3),
            Level::Page => {
                g.set(Level::Segment, VA, segment_entry(outside));
            }
            _ => {
                let above = Level::TABLES[level as usize - 1];
                g.set(above, VA, region_entry(above, outside, 0, 3));
            }
        }
        assert_eq!(
            g.read(VA),
            Err(Fault::Program(Exception {
                code: Code::ADDRESSING,
                teid: None,
                access_id: None,
                dxc: 0
            })),
            "{level:?} table outside storage"
        );
    }
}

#[test]
fn table_addresses_do_not_wrap_at_2_to_the_64() {
    // origin + SX * 8 overflows; wrapped it would reach a valid STE at 0x2FF8.
    let mut g = Guest::segment();
    let va = 0x7FF0_0000;
    g.controls.cr1 = asce(0xFFFF_FFFF_FFFF_F000, Level::Segment, 3);
    put(&mut g.storage, 0x2FF8, segment_entry(PT));
    put(
        &mut g.storage,
        entry_address(PT, Level::Page, va),
        page_entry(FRAME_A),
    );
    assert_eq!(code(g.read(va)), Code::ADDRESSING);
}

#[test]
fn table_fetches_are_not_subject_to_key_protection() {
    let mut g = Guest::mapped_from(Level::RegionThird, VA, FRAME_A);
    // Every table frame is fetch-protected with key 5; the data frame has key 3.
    for table in [RTT, ST, PT] {
        g.set_key(table, 0x58);
    }
    g.set_key(FRAME_A, 0x30);
    for kind in [
        AccessKind::Read,
        AccessKind::Write,
        AccessKind::InstructionFetch,
    ] {
        assert!(
            g.access(AddressSpace::Primary, kind, VA, 3).is_ok(),
            "{kind:?}"
        );
    }
}

#[test]
fn table_addresses_are_absolute_not_prefixed() {
    // With the prefix at the segment table, a prefixed table address would
    // land in absolute 0-8191, which holds no tables.
    let mut g = Guest::mapped(VA, FRAME_A);
    g.controls.prefix = Prefix::new(ST);
    assert_eq!(g.absolute(VA), FRAME_A + 0x456);
}

#[test]
fn table_fetch_does_not_set_the_reference_bit() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.read(VA).unwrap();
    assert!(!g.key(ST).referenced());
    assert!(!g.key(PT).referenced());
    assert!(g.key(FRAME_A).referenced());
}

// ---- 2.4 Region-table entries -----------------------------------------------

#[test]
fn invalid_region_entry_raises_its_levels_exception() {
    // The three region levels.
    for &(level, expected) in &TRANSLATION_EXCEPTIONS[..3] {
        let mut g = Guest::mapped_from(Level::RegionFirst, VA, FRAME_A);
        g.or(level, VA, TableEntry::I);
        assert_eq!(code(g.read(VA)), expected, "{level:?}");
    }
}

#[test]
fn invalid_entry_ignores_its_other_bits() {
    // I = 1 with a wrong table type, a common bit in a private space, FC
    // under EDAT-2 and a TF that the next index violates: still the
    // level's translation exception.
    for (level, expected) in TRANSLATION_EXCEPTIONS {
        let mut g = Guest::new(Level::RegionFirst);
        g.edat2();
        g.map(VA, FRAME_A);
        g.controls.cr1 = Asce::new(g.controls.cr1.value() | Asce::P);
        let wrong_tt = ((level.type_code() + 1) & 3) << 2;
        let junk = TableEntry::I | TableEntry::COMMON | TableEntry::FC | TableEntry::TF | wrong_tt;
        g.set(level, VA, junk);
        assert_eq!(code(g.read(VA)), expected, "{level:?}");
    }
}

#[test]
fn entry_with_wrong_table_type_is_translation_specification() {
    for level in Level::TABLES {
        let mut g = Guest::mapped_from(Level::RegionFirst, VA, FRAME_A);
        let wrong = (level.type_code() + 1) & 3;
        let entry = (g.entry(level, VA) & !TableEntry::TT) | (wrong << 2);
        g.set(level, VA, entry);
        assert_eq!(
            g.read(VA),
            Err(Fault::Program(Exception {
                code: Code::TRANSLATION_SPECIFICATION,
                teid: None,
                access_id: None,
                dxc: 0
            })),
            "{level:?}"
        );
    }
}

#[test]
fn common_region_in_private_space_is_translation_specification() {
    let mut g = Guest::new(Level::RegionThird);
    g.edat2();
    g.map(VA, FRAME_A);
    g.or(Level::RegionThird, VA, TableEntry::COMMON);
    g.controls.cr1 = Asce::new(g.controls.cr1.value() | Asce::P);
    assert_eq!(code(g.read(VA)), Code::TRANSLATION_SPECIFICATION);
    // The same common region in a space that is not private translates.
    g.controls.cr1 = asce(RTT, Level::RegionThird, 3);
    assert_eq!(g.absolute(VA), FRAME_A + 0x456);
}

#[test]
fn common_region_bit_is_ignored_without_edat2() {
    let mut g = Guest::new(Level::RegionThird);
    g.edat1();
    g.map(VA, FRAME_A);
    g.or(Level::RegionThird, VA, TableEntry::COMMON);
    g.controls.cr1 = Asce::new(g.controls.cr1.value() | Asce::P);
    assert_eq!(g.absolute(VA), FRAME_A + 0x456);
}

#[test]
fn reserved_bits_of_region_first_and_second_entries_are_ignored() {
    // Bits 52, 53 (FC), 55 and 59 (CR) are reserved above the region-third
    // level, even with EDAT-2 and a private space.
    let mut g = Guest::new(Level::RegionFirst);
    g.edat2();
    g.map(VA, FRAME_A);
    g.controls.cr1 = Asce::new(g.controls.cr1.value() | Asce::P);
    for level in [Level::RegionFirst, Level::RegionSecond] {
        g.or(
            level,
            VA,
            0x800 | TableEntry::FC | 0x100 | TableEntry::COMMON,
        );
    }
    assert_eq!(g.absolute(VA), FRAME_A + 0x456);
}

// ---- 2.5 Region-third entry, format 1 (EDAT-2) ------------------------------

/// The walk of `va` through the tables CR1 designates, expected to succeed.
fn walk_cr1(g: &Guest, va: u64) -> walk::Walk {
    walk::walk(
        &g.storage,
        g.controls.cr1,
        va,
        WalkControls::from(&g.controls),
    )
    .unwrap()
}

#[test]
fn edat2_region_third_entry_with_fc_is_a_2g_frame() {
    let mut g = Guest::new(Level::RegionThird);
    g.edat2();
    let va = (1 << 31) | 0x3_0123;
    g.set(Level::RegionThird, va, large_region(0));
    let done = g.read(va).unwrap();
    assert_eq!(done.size, FrameSize::Region2G);
    assert_eq!(done.absolute, AbsoluteAddress::new(0x3_0123));
    // RFAA is bits 0-32.
    let w = walk_cr1(&g, va);
    assert_eq!(w.frame, Frame::Absolute(AbsoluteAddress::new(0)));
    g.set(
        Level::RegionThird,
        va,
        large_region(0x1_8000_0000) | 0x7FFF_F000,
    );
    let w = walk_cr1(&g, va);
    assert_eq!(
        w.frame,
        Frame::Absolute(AbsoluteAddress::new(0x1_8000_0000))
    );
    assert_eq!(w.real(va), RealAddress::new(0x1_8003_0123));
}

#[test]
fn edat2_frame_ignored_without_facility_78() {
    // EDAT-1 only: FC in the region-third entry is ignored and the entry
    // designates the segment table.
    let mut g = Guest::new(Level::RegionThird);
    g.edat1();
    g.map(VA, FRAME_A);
    g.or(Level::RegionThird, VA, TableEntry::FC);
    let done = g.read(VA).unwrap();
    assert_eq!(done.size, FrameSize::Page4K);
    assert_eq!(done.absolute, AbsoluteAddress::new(FRAME_A + 0x456));
}

#[test]
fn region_frame_fc_ignored_with_edat_off() {
    let mut g = Guest::new(Level::RegionThird);
    g.facilities(Facilities::EDAT1 | Facilities::EDAT2);
    g.map(VA, FRAME_A);
    g.or(Level::RegionThird, VA, TableEntry::FC);
    assert_eq!(g.read(VA).unwrap().size, FrameSize::Page4K);
}

#[test]
fn large_frame_leaf_ends_the_walk_before_any_length_check() {
    // Bits 56-57 and 62-63 of a format-1 region-third entry are not TF/TL.
    let mut g = Guest::new(Level::RegionThird);
    g.edat2();
    let va = 0x7FF0_0000;
    g.set(Level::RegionThird, va, large_region(0) | TableEntry::TF);
    let w = walk_cr1(&g, va);
    assert_eq!(w.size, FrameSize::Region2G);
}

#[test]
fn access_past_end_of_storage_inside_a_large_frame_is_addressing() {
    let mut g = Guest::new(Level::RegionThird);
    g.edat2();
    g.set(Level::RegionThird, 0, large_region(0));
    assert!(g.read(STORAGE - 1).is_ok());
    assert_eq!(
        g.read(STORAGE),
        Err(Fault::Program(Exception::addressing()))
    );
    let mut g = Guest::segment();
    g.edat1();
    g.set(Level::Segment, 0, large_segment(STORAGE));
    assert_eq!(code(g.read(0x123)), Code::ADDRESSING);
}

// ---- 2.6 Segment-table entries ----------------------------------------------

#[test]
fn invalid_segment_entry_is_segment_translation() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Segment, VA, TableEntry::I);
    assert_eq!(code(g.read(VA)), Code::SEGMENT_TRANSLATION);
}

#[test]
fn common_segment_in_private_space_is_translation_specification() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Segment, VA, TableEntry::COMMON);
    assert_eq!(g.absolute(VA), FRAME_A + 0x456);
    g.controls.cr1 = Asce::new(g.controls.cr1.value() | Asce::P);
    assert_eq!(code(g.read(VA)), Code::TRANSLATION_SPECIFICATION);
}

#[test]
fn common_large_segment_in_private_space_is_translation_specification() {
    let mut g = Guest::segment();
    g.edat1();
    g.set(
        Level::Segment,
        VA,
        large_segment(0x20_0000) | TableEntry::COMMON,
    );
    assert_eq!(g.absolute(VA), 0x22_3456);
    g.controls.cr1 = Asce::new(g.controls.cr1.value() | Asce::P);
    assert_eq!(code(g.read(VA)), Code::TRANSLATION_SPECIFICATION);
}

#[test]
fn edat1_segment_entry_with_fc_is_a_1m_frame() {
    let mut g = Guest::segment();
    g.edat1();
    g.set(Level::Segment, VA, large_segment(0x20_0000));
    let done = g.read(VA).unwrap();
    assert_eq!(done.size, FrameSize::Segment1M);
    assert_eq!(done.absolute, AbsoluteAddress::new(0x22_3456));
    // SFAA is bits 0-43: bits 44-51 of the entry are not part of it.
    g.set(Level::Segment, VA, large_segment(0x20_0000) | 0xF_F000);
    assert_eq!(g.absolute(VA), 0x22_3456);
}

#[test]
fn segment_fc_ignored_without_edat1() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Segment, VA, TableEntry::FC);
    let done = g.read(VA).unwrap();
    assert_eq!(done.size, FrameSize::Page4K);
    assert_eq!(done.absolute, AbsoluteAddress::new(FRAME_A + 0x456));
}

#[test]
fn edat1_needs_cr0_bit_40_and_facility_8() {
    let cases = [
        (Cr0::empty(), Facilities::EDAT1, FrameSize::Page4K),
        (Cr0::EDAT, Facilities::empty(), FrameSize::Page4K),
        (Cr0::EDAT, Facilities::EDAT1, FrameSize::Segment1M),
    ];
    for (cr0, facilities, size) in cases {
        let mut g = Guest::mapped(VA, FRAME_A);
        g.or(Level::Segment, VA, TableEntry::FC);
        g.controls.cr0 = cr0;
        g.controls.facilities = facilities;
        assert_eq!(g.read(VA).unwrap().size, size, "{cr0:?} {facilities:?}");
    }
}

#[test]
fn page_table_entry_address_is_pto_plus_px_times_8() {
    let mut g = Guest::mapped(VA, FRAME_A);
    let done = g.read(VA).unwrap();
    assert_eq!(
        done.path.entry(Level::Segment),
        Some(AbsoluteAddress::new(ST + 8))
    );
    assert_eq!(
        done.path.entry(Level::Page),
        Some(AbsoluteAddress::new(PT + 0x23 * 8))
    );
}

// ---- 2.7 Page-table entries -------------------------------------------------

#[test]
fn invalid_pte_is_page_translation() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::I);
    assert_eq!(code(g.read(VA)), Code::PAGE_TRANSLATION);
}

#[test]
fn pte_bit_52_is_translation_specification() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::ZERO);
    assert_eq!(PageEntry::ZERO, 1 << (63 - 52));
    assert_eq!(
        g.read(VA),
        Err(Fault::Program(Exception::translation_specification()))
    );
}

#[test]
fn invalid_pte_ignores_bit_52() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::I | PageEntry::ZERO);
    assert_eq!(code(g.read(VA)), Code::PAGE_TRANSLATION);
}

#[test]
fn pte_software_bits_56_to_63_are_ignored() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, 0xFF);
    for kind in [
        AccessKind::Read,
        AccessKind::Write,
        AccessKind::InstructionFetch,
    ] {
        let done = g.access(AddressSpace::Primary, kind, VA, 0).unwrap();
        assert_eq!(
            done.absolute,
            AbsoluteAddress::new(FRAME_A + 0x456),
            "{kind:?}"
        );
    }
}

#[test]
fn pte_bit_55_is_ignored_without_iep() {
    // Before the IEP facility bit 55 was EDAT-1's change-recording override;
    // zmmu reads it only as IEP (docs/CHOICES.md).
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::IEP);
    for kind in [
        AccessKind::Read,
        AccessKind::Write,
        AccessKind::InstructionFetch,
    ] {
        assert!(
            g.access(AddressSpace::Primary, kind, VA, 0).is_ok(),
            "{kind:?} without EDAT"
        );
    }
    g.edat1();
    for kind in [
        AccessKind::Read,
        AccessKind::Write,
        AccessKind::InstructionFetch,
    ] {
        assert!(
            g.access(AddressSpace::Primary, kind, VA, 0).is_ok(),
            "{kind:?} with EDAT-1"
        );
    }
}

#[test]
fn entry_bit_masks_follow_ibm_bit_numbering() {
    let bit = |n: u32| 1u64 << (63 - n);
    assert_eq!(TableEntry::FC, bit(53));
    assert_eq!(TableEntry::P, bit(54));
    assert_eq!(TableEntry::IEP, bit(55));
    assert_eq!(TableEntry::TF, bit(56) | bit(57));
    assert_eq!(TableEntry::I, bit(58));
    assert_eq!(TableEntry::COMMON, bit(59));
    assert_eq!(TableEntry::TT, bit(60) | bit(61));
    assert_eq!(TableEntry::TL, bit(62) | bit(63));
    assert_eq!(TableEntry::PAGE_TABLE_ORIGIN, !0u64 << 11);
    assert_eq!(TableEntry::SFAA, !0u64 << 20);
    assert_eq!(TableEntry::RFAA, !0u64 << 31);
    assert_eq!(PageEntry::PFRA, !0u64 << 12);
    assert_eq!(PageEntry::I, bit(53));
    assert_eq!(PageEntry::P, bit(54));
    assert_eq!(PageEntry::IEP, bit(55));
}
