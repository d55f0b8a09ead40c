//! DAT protection, instruction-execution protection and low-address
//! protection (PoP ch. 3, Protection: DAT Protection, Low-Address
//! Protection; Translation Tables).

mod common;

use common::*;
use zmmu_mmu::entry::{PageEntry, TableEntry};
use zmmu_mmu::prelude::*;

/// A virtual address in segment 1, page 0x23, byte 0x456.
const VA: u64 = 0x0012_3456;

fn private(g: &mut Guest) {
    g.controls.cr1 = Asce::new(g.controls.cr1.value() | Asce::P);
}

// ---- 5.1 CR0 ----------------------------------------------------------------

#[test]
fn cr0_controls_follow_ibm_bit_numbering() {
    let bit = |n: u32| 1u64 << (63 - n);
    assert_eq!(Cr0::LOW_ADDRESS_PROTECTION.bits(), bit(35));
    assert_eq!(Cr0::SECONDARY_SPACE.bits(), bit(37));
    assert_eq!(Cr0::FETCH_PROTECTION_OVERRIDE.bits(), bit(38));
    assert_eq!(Cr0::STORAGE_PROTECTION_OVERRIDE.bits(), bit(39));
    assert_eq!(Cr0::EDAT.bits(), bit(40));
    assert_eq!(Cr0::IEP.bits(), bit(43));
}

// ---- DAT protection ---------------------------------------------------------

#[test]
fn page_protection_refuses_stores_only() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::P);
    assert_eq!(code(g.write(VA)), Code::PROTECTION);
    assert!(g.read(VA).is_ok());
    assert!(g.fetch(VA).is_ok());
}

#[test]
fn segment_protection_applies_without_edat() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Segment, VA, TableEntry::P);
    assert!(!g.controls.edat1());
    assert_eq!(code(g.write(VA)), Code::PROTECTION);
    assert!(g.read(VA).is_ok());
}

#[test]
fn region_protection_needs_edat1() {
    for level in [Level::RegionFirst, Level::RegionSecond, Level::RegionThird] {
        let mut g = Guest::mapped_from(Level::RegionFirst, VA, FRAME_A);
        g.or(level, VA, TableEntry::P);
        assert!(g.write(VA).is_ok(), "{level:?} P without EDAT-1");
        g.edat1();
        assert_eq!(
            code(g.write(VA)),
            Code::PROTECTION,
            "{level:?} P with EDAT-1"
        );
        assert!(g.read(VA).is_ok(), "{level:?}");
    }
}

#[test]
fn large_frame_protection_refuses_stores() {
    let mut g = Guest::new(Level::RegionThird);
    g.edat2();
    g.set(Level::RegionThird, VA, large_region(0) | TableEntry::P);
    assert_eq!(code(g.write(VA)), Code::PROTECTION);
    let mut g = Guest::segment();
    g.edat1();
    g.set(Level::Segment, VA, large_segment(0x20_0000) | TableEntry::P);
    assert_eq!(code(g.write(VA)), Code::PROTECTION);
    assert!(g.read(VA).is_ok());
}

#[test]
fn region_protection_reaches_a_large_segment_frame() {
    let mut g = Guest::new(Level::RegionThird);
    g.edat1();
    g.link(VA);
    g.or(Level::RegionThird, VA, TableEntry::P);
    g.set(Level::Segment, VA, large_segment(0x20_0000));
    assert_eq!(code(g.write(VA)), Code::PROTECTION);
}

#[test]
fn dat_protection_does_not_apply_with_dat_off() {
    // The same location, reached through DAT-protected tables and with DAT off.
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::P);
    assert_eq!(code(g.write(VA)), Code::PROTECTION);
    assert!(g
        .access(AddressSpace::Real, AccessKind::Write, FRAME_A + 0x456, 0)
        .is_ok());
}

// ---- IEP ----------------------------------------------------------------------

#[test]
fn iep_refuses_instruction_fetch_only() {
    let mut g = Guest::segment();
    g.iep();
    g.map(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::IEP);
    assert_eq!(code(g.fetch(VA)), Code::PROTECTION);
    assert!(g.read(VA).is_ok());
    assert!(g.write(VA).is_ok());
}

#[test]
fn iep_needs_cr0_bit_43_and_facility_130() {
    let cases = [
        (Cr0::empty(), Facilities::IEP, true),
        (Cr0::IEP, Facilities::empty(), true),
        (Cr0::IEP, Facilities::IEP, false),
    ];
    for (cr0, facilities, fetch_ok) in cases {
        let mut g = Guest::mapped(VA, FRAME_A);
        g.or(Level::Page, VA, PageEntry::IEP);
        g.controls.cr0 = cr0;
        g.controls.facilities = facilities;
        assert_eq!(g.fetch(VA).is_ok(), fetch_ok, "{cr0:?} {facilities:?}");
    }
}

#[test]
fn iep_comes_from_the_leaf_entry_only() {
    // Bit 55 of a format-0 segment entry (and of a region entry) is not IEP.
    let mut g = Guest::new(Level::RegionThird);
    g.iep();
    g.map(VA, FRAME_A);
    g.or(Level::RegionThird, VA, TableEntry::IEP);
    g.or(Level::Segment, VA, TableEntry::IEP);
    assert!(g.fetch(VA).is_ok());
    // IEP in a format-1 segment entry (the leaf) is honoured.
    g.edat1();
    g.set(
        Level::Segment,
        VA,
        large_segment(0x20_0000) | TableEntry::IEP,
    );
    assert_eq!(code(g.fetch(VA)), Code::PROTECTION);
    // And in a format-1 region-third entry.
    g.edat2();
    g.set(Level::RegionThird, VA, large_region(0) | TableEntry::IEP);
    assert_eq!(code(g.fetch(VA)), Code::PROTECTION);
    g.set(Level::RegionThird, VA, large_region(0));
    assert!(g.fetch(VA).is_ok());
}

#[test]
fn iep_does_not_apply_with_dat_off() {
    let mut g = Guest::segment();
    g.iep();
    g.map(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::IEP);
    assert!(g
        .access(AddressSpace::Real, AccessKind::InstructionFetch, FRAME_A, 0)
        .is_ok());
}

// ---- 5.2 Low-address protection ---------------------------------------------

#[test]
fn lap_refuses_stores_to_0_511_and_4096_4607() {
    let cases = [
        (0u64, true),
        (511, true),
        (512, false),
        (4095, false),
        (4096, true),
        (4607, true),
        (4608, false),
        (8192, false),
        (8192 + 100, false),
        (1 << 31, false),
        ((1 << 32) | 0x100, false),
    ];
    for (address, refused) in cases {
        let mut g = Guest::segment();
        g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
        // DAT off: the address is real.
        let result = g.access(AddressSpace::Real, AccessKind::Write, address, 0);
        if refused {
            assert_eq!(code(result), Code::PROTECTION, "{address:#x}");
        } else {
            assert!(
                !matches!(
                    result,
                    Err(Fault::Program(Exception {
                        code: Code::PROTECTION,
                        ..
                    }))
                ),
                "{address:#x}"
            );
        }
    }
}

#[test]
fn lap_does_not_refuse_fetches() {
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    for kind in [AccessKind::Read, AccessKind::InstructionFetch] {
        assert!(
            g.access(AddressSpace::Real, kind, 0x100, 0).is_ok(),
            "{kind:?}"
        );
    }
}

#[test]
fn lap_needs_cr0_bit_35() {
    let mut g = Guest::segment();
    assert!(g
        .access(AddressSpace::Real, AccessKind::Write, 0x100, 0)
        .is_ok());
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    assert_eq!(
        code(g.access(AddressSpace::Real, AccessKind::Write, 0x100, 0)),
        Code::PROTECTION
    );
}

#[test]
fn lap_applies_to_the_logical_address_before_translation() {
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    // Logical 0x1100 maps to a high frame: refused.
    g.map(0x1100, FRAME_A);
    assert_eq!(code(g.write(0x1100)), Code::PROTECTION);
    // Logical 0x5100 maps to real page 0: permitted.
    g.map(0x5100, 0);
    assert_eq!(g.write(0x5100).unwrap().real, RealAddress::new(0x100));
}

#[test]
fn lap_is_checked_before_translation() {
    // Nothing is mapped at 0: the store is refused by LAP, not by DAT.
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    g.facilities(Facilities::ESOP2);
    let refused = exception(g.write(0x10));
    assert_eq!(refused.code, Code::PROTECTION);
    assert_eq!(refused.teid, Some(Teid(Teid::STORE | 0x80)));
    assert_eq!(code(g.read(0x10)), Code::SEGMENT_TRANSLATION);
}

#[test]
fn lap_off_in_private_space() {
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    g.map(0x100, FRAME_A);
    assert_eq!(code(g.write(0x100)), Code::PROTECTION);
    private(&mut g);
    assert!(g.write(0x100).is_ok());
}

#[test]
fn lap_follows_the_asce_of_the_space_used() {
    // CR1 private, CR7 not: a secondary-space store is refused, a primary one is not.
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    g.map(0x100, FRAME_A);
    g.controls.cr7 = g.controls.cr1;
    private(&mut g);
    assert!(g
        .access(AddressSpace::Primary, AccessKind::Write, 0x100, 0)
        .is_ok());
    assert_eq!(
        code(g.access(AddressSpace::Secondary, AccessKind::Write, 0x100, 0)),
        Code::PROTECTION
    );
}

#[test]
fn a_real_space_is_private_for_low_address_protection() {
    // zmmu follows Hercules: a real-space ASCE (R = 1) counts as private
    // even with P = 0 (QEMU looks at P only; docs/CHOICES.md).
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    g.controls.cr1 = Asce::new(Asce::R);
    assert!(g.write(0x100).is_ok());
    g.controls.cr1 = Asce::new(Asce::R | Asce::P);
    assert!(g.write(0x100).is_ok());
    g.controls.cr1 = Asce::new(0x1000);
    assert_eq!(code(g.write(0x100)), Code::PROTECTION);
}

#[test]
fn lap_precedes_dat_protection() {
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    g.facilities(Facilities::ESOP2);
    g.map(0x100, FRAME_A);
    g.or(Level::Page, 0x100, PageEntry::P);
    assert_eq!(
        exception(g.write(0x100)).teid,
        Some(Teid(Teid::STORE | 0x80))
    );
}
