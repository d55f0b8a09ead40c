//! Real and absolute addresses: prefixing, what it applies to, DAT off, and
//! SET PREFIX (PoP ch. 3, Prefixing; ch. 10, SET PREFIX).

mod common;

use common::*;
use zmmu_mmu::invalidate::{spx, Invalidation, PendingFlush};
use zmmu_mmu::prelude::*;

const P: u64 = 0x6_0000;

#[test]
fn prefix_keeps_bits_33_to_50_of_the_spx_operand() {
    assert_eq!(Prefix::new(u64::MAX).value(), 0x7FFF_E000);
    assert_eq!(Prefix::new(0x6_1FFF).value(), 0x6_0000);
    assert_eq!(Prefix::MASK, 0x7FFF_E000);
}

#[test]
fn real_to_absolute_swaps_low_and_prefix_areas() {
    let prefix = Prefix::new(P);
    let cases = [
        (0, P),
        (0x1FFF, P + 0x1FFF),
        (P, 0),
        (P + 0x1FFF, 0x1FFF),
        (0x2000, 0x2000),
        (P - 1, P - 1),
        (P + 0x2000, P + 0x2000),
        (0x1_0000_0000, 0x1_0000_0000),
    ];
    for (real, absolute) in cases {
        assert_eq!(
            prefix.to_absolute(RealAddress::new(real)),
            AbsoluteAddress::new(absolute),
            "real {real:#x}"
        );
        assert_eq!(
            prefix.to_real(AbsoluteAddress::new(absolute)),
            RealAddress::new(real),
            "absolute {absolute:#x}"
        );
    }
}

#[test]
fn prefix_zero_leaves_addresses_unchanged() {
    for real in [0, 0x1FFF, 0x2000, 0x12_3456] {
        assert_eq!(
            Prefix::new(0).to_absolute(RealAddress::new(real)),
            AbsoluteAddress::new(real)
        );
    }
}

#[test]
fn prefixing_applies_with_dat_off() {
    let mut g = Guest::segment();
    g.controls.prefix = Prefix::new(P);
    let low = g
        .access(AddressSpace::Real, AccessKind::Read, 0x123, 0)
        .unwrap();
    assert_eq!(
        (low.real, low.absolute),
        (RealAddress::new(0x123), AbsoluteAddress::new(P + 0x123))
    );
    let area = g
        .access(AddressSpace::Real, AccessKind::Read, P + 0x123, 0)
        .unwrap();
    assert_eq!(area.absolute, AbsoluteAddress::new(0x123));
}

#[test]
fn page_frame_real_address_is_prefixed() {
    let mut g = Guest::segment();
    g.controls.prefix = Prefix::new(P);
    g.map(0x5_0000, 0x1000);
    let done = g.read(0x5_0123).unwrap();
    assert_eq!(done.real, RealAddress::new(0x1123));
    assert_eq!(done.absolute, AbsoluteAddress::new(P + 0x1123));
}

#[test]
fn real_space_asce_result_is_prefixed() {
    let mut g = Guest::segment();
    g.controls.prefix = Prefix::new(P);
    g.controls.cr1 = Asce::new(Asce::R);
    let done = g.read(0x123).unwrap();
    assert_eq!(done.real, RealAddress::new(0x123));
    assert_eq!(done.absolute, AbsoluteAddress::new(P + 0x123));
}

#[test]
fn large_frame_bypasses_prefixing() {
    // A 1 MiB frame at absolute 0: its first 8 KiB are absolute 0-8191,
    // not the prefix area.
    let mut g = Guest::segment();
    g.edat1();
    g.controls.prefix = Prefix::new(P);
    g.set(Level::Segment, 0, large_segment(0));
    assert_eq!(g.absolute(0x123), 0x123);
    assert_eq!(g.absolute(P + 0x123), P + 0x123);
    // The same for a 2 GiB frame.
    let mut g = Guest::new(Level::RegionThird);
    g.edat2();
    g.controls.prefix = Prefix::new(P);
    g.set(Level::RegionThird, 0, large_region(0));
    assert_eq!(g.absolute(0x123), 0x123);
    assert_eq!(g.absolute(P + 0x123), P + 0x123);
}

#[test]
fn prefixing_is_per_cpu() {
    // Two CPUs share storage and tables but not the prefix.
    let mut g = Guest::mapped(0x5_0000, 0);
    let mut cpu1 = g.controls;
    cpu1.prefix = Prefix::new(0x6_0000);
    let mut cpu2 = g.controls;
    cpu2.prefix = Prefix::new(0x8_0000);
    let request = request(AddressSpace::Primary, AccessKind::Read, 0x5_0010, 0);
    assert_eq!(
        access(&mut g.storage, &cpu1, request).unwrap().absolute,
        AbsoluteAddress::new(0x6_0010)
    );
    assert_eq!(
        access(&mut g.storage, &cpu2, request).unwrap().absolute,
        AbsoluteAddress::new(0x8_0010)
    );
}

#[test]
fn dat_off_applies_lap_and_key_protection() {
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    assert_eq!(
        code(g.access(AddressSpace::Real, AccessKind::Write, 0x10, 0)),
        Code::PROTECTION
    );
    g.set_key(FRAME_A, 0x58);
    assert_eq!(
        code(g.access(AddressSpace::Real, AccessKind::Write, FRAME_A, 3)),
        Code::PROTECTION
    );
    assert_eq!(
        code(g.access(AddressSpace::Real, AccessKind::Read, FRAME_A, 3)),
        Code::PROTECTION
    );
}

#[test]
fn operand_outside_storage_is_addressing_after_prefixing() {
    let mut g = Guest::segment();
    assert_eq!(
        g.access(AddressSpace::Real, AccessKind::Read, STORAGE, 0),
        Err(Fault::Program(Exception::addressing()))
    );
    // A page-table entry naming a frame beyond storage.
    g.map(0x5_0000, STORAGE);
    assert_eq!(
        g.read(0x5_0000),
        Err(Fault::Program(Exception::addressing()))
    );
}

// ---- SET PREFIX -----------------------------------------------------------------

#[test]
fn spx_checks_new_prefix_area_exists() {
    let g = Guest::segment();
    let old = Prefix::new(P);
    // The last 8 KiB of storage is a valid prefix area; the next is not.
    let last = STORAGE - 0x2000;
    assert_eq!(
        spx(&g.storage, old, last),
        Ok((
            Prefix::new(last),
            PendingFlush::local(Invalidation::Prefix {
                old,
                new: Prefix::new(last)
            })
        ))
    );
    assert_eq!(spx(&g.storage, old, STORAGE), Err(Exception::addressing()));
    // Operand bits outside 33-50 are ignored, before the check.
    assert_eq!(
        spx(&g.storage, old, 0xFFFF_FFFF_0000_1FFF).map(|(p, _)| p),
        Ok(Prefix::new(0))
    );
    // A storage size that ends inside the area.
    let odd = storage(0x5_1000);
    assert_eq!(spx(&odd, old, 0x5_0000), Err(Exception::addressing()));
}

#[test]
fn spx_invalidates_translations_to_the_low_and_both_prefix_areas() {
    // zmmu drops cached translations ending in absolute 0-8191 and in the
    // old and new prefix areas only (docs/CHOICES.md).
    let old = Prefix::new(0x6_0000);
    let new = Prefix::new(0x8_0000);
    let invalidation = Invalidation::Prefix { old, new };
    let covers =
        |absolute: u64| invalidation.covers(|_| None, None, AbsoluteAddress::new(absolute));
    for absolute in [0, 0x1000, 0x1FFF, 0x6_0000, 0x6_1FFF, 0x8_0000, 0x8_1FFF] {
        assert!(covers(absolute), "{absolute:#x}");
    }
    for absolute in [0x2000, 0x5_F000, 0x6_2000, 0x7_E000, 0x8_2000] {
        assert!(!covers(absolute), "{absolute:#x}");
    }
}
