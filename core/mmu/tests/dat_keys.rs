//! Storage keys, key-controlled protection, the two overrides, and
//! reference and change recording (PoP ch. 3, Storage Key, Key-Controlled
//! Protection, Reference Recording, Change Recording).

mod common;

use common::*;
use zmmu_mmu::access::{check, PagePermissions};
use zmmu_mmu::entry::TableEntry;
use zmmu_mmu::invalidate::{rrbe, sske, Invalidation};
use zmmu_mmu::prelude::*;

/// A virtual address in segment 1, page 0x23, byte 0x456.
const VA: u64 = 0x0012_3456;

/// ISKE byte: ACC in bits 56-59, then F, R, C.
const fn key(acc: u8, f: bool) -> u8 {
    (acc << 4) | if f { StorageKey::F } else { 0 }
}

/// A guest with VA mapped to FRAME_A, whose key is `frame_key`.
fn keyed(frame_key: u8) -> Guest {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set_key(FRAME_A, frame_key);
    g
}

fn permitted(g: &mut Guest, kind: AccessKind, va: u64, access_key: u8) -> bool {
    match g.access(AddressSpace::Primary, kind, va, access_key) {
        Ok(_) => true,
        Err(Fault::Program(e)) if e.code == Code::PROTECTION => false,
        other => panic!("{other:?}"),
    }
}

// ---- 5.3 Keys -----------------------------------------------------------------

#[test]
fn storage_key_has_iske_layout() {
    let k = StorageKey::new(0x5F);
    assert_eq!(k.acc(), 5);
    assert!(k.fetch_protected());
    assert!(k.referenced());
    assert!(k.changed());
    // Bit 63 is not part of the key.
    assert_eq!(k.value(), 0x5E);
    assert_eq!(
        (StorageKey::F, StorageKey::R, StorageKey::C),
        (0x08, 0x04, 0x02)
    );
}

#[test]
fn keys_belong_to_absolute_frames() {
    // Real 0x10 with the prefix at 0x6_0000 is absolute 0x6_0010: the key of
    // that frame records the access, the key of absolute frame 0 does not.
    let mut g = Guest::segment();
    g.controls.prefix = Prefix::new(0x6_0000);
    g.access(AddressSpace::Real, AccessKind::Write, 0x10, 0)
        .unwrap();
    assert_eq!(g.key(0x6_0000).value(), StorageKey::R | StorageKey::C);
    assert_eq!(g.key(0).value(), 0);
}

#[test]
fn sske_sets_the_key_of_the_prefixed_real_frame() {
    let mut g = Guest::segment();
    let prefix = Prefix::new(0x6_0000);
    let done = sske(&mut g.storage, prefix, RealAddress::new(0x1234), 0x5A)
        .unwrap()
        .into_invalidation();
    assert_eq!(g.key(0x6_1000).value(), 0x5A);
    assert_eq!(g.key(0x1000).value(), 0);
    assert_eq!(done, Invalidation::Key(AbsoluteAddress::new(0x6_1000)));
    // Bit 63 of the operand is dropped.
    sske(
        &mut g.storage,
        Prefix::default(),
        RealAddress::new(0x7000),
        0x31,
    )
    .unwrap()
    .ignore();
    assert_eq!(g.key(0x7000).value(), 0x30);
}

#[test]
fn sske_outside_storage_is_addressing() {
    let mut g = Guest::segment();
    assert_eq!(
        sske(
            &mut g.storage,
            Prefix::default(),
            RealAddress::new(STORAGE),
            0x10
        ),
        Err(Exception::addressing())
    );
}

#[test]
fn rrbe_returns_old_r_and_c() {
    // cc = 2 * R + C; only R is cleared.
    let cases = [(0x50u8, 0u8), (0x52, 1), (0x54, 2), (0x56, 3)];
    for (before, cc) in cases {
        let mut g = Guest::segment();
        g.set_key(FRAME_A, before);
        let (got, invalidation) = rrbe(
            &mut g.storage,
            Prefix::default(),
            RealAddress::new(FRAME_A + 8),
        )
        .unwrap();
        assert_eq!(got, cc, "key {before:#x}");
        assert_eq!(
            g.key(FRAME_A).value(),
            before & !StorageKey::R,
            "key {before:#x}"
        );
        assert_eq!(
            invalidation.into_invalidation(),
            Invalidation::Key(AbsoluteAddress::new(FRAME_A))
        );
    }
}

#[test]
fn rrbe_takes_a_prefixed_real_address() {
    let mut g = Guest::segment();
    g.set_key(0x6_0000, 0x06);
    let (cc, _) = rrbe(&mut g.storage, Prefix::new(0x6_0000), RealAddress::new(0)).unwrap();
    assert_eq!(cc, 3);
    assert_eq!(g.key(0x6_0000).value(), 0x02);
    assert_eq!(
        rrbe(&mut g.storage, Prefix::default(), RealAddress::new(STORAGE)),
        Err(Exception::addressing())
    );
}

// ---- 5.4 Key-controlled protection ------------------------------------------

#[test]
fn key_zero_stores_anywhere() {
    let mut g = keyed(key(7, true));
    assert!(permitted(&mut g, AccessKind::Write, VA, 0));
    assert!(permitted(&mut g, AccessKind::Read, VA, 0));
}

#[test]
fn matching_key_stores_and_fetches() {
    let mut g = keyed(key(7, true));
    for kind in [
        AccessKind::Write,
        AccessKind::Read,
        AccessKind::InstructionFetch,
    ] {
        assert!(permitted(&mut g, kind, VA, 7), "{kind:?}");
    }
}

#[test]
fn mismatched_key_store_is_protection() {
    let mut g = keyed(key(7, false));
    assert!(!permitted(&mut g, AccessKind::Write, VA, 6));
}

#[test]
fn mismatched_key_fetch_needs_fetch_protection_off() {
    let mut g = keyed(key(7, false));
    assert!(permitted(&mut g, AccessKind::Read, VA, 6));
    assert!(permitted(&mut g, AccessKind::InstructionFetch, VA, 6));
    let mut g = keyed(key(7, true));
    assert!(!permitted(&mut g, AccessKind::Read, VA, 6));
}

#[test]
fn key_protection_applies_to_instruction_fetch() {
    let mut g = keyed(key(7, true));
    assert!(!permitted(&mut g, AccessKind::InstructionFetch, VA, 6));
}

#[test]
fn storage_protection_override_acc9() {
    // ACC 9 with CR0 bit 39: any key may store (and so fetch).
    let mut g = keyed(key(9, true));
    assert!(!permitted(&mut g, AccessKind::Write, VA, 3));
    g.cr0(Cr0::STORAGE_PROTECTION_OVERRIDE);
    assert!(permitted(&mut g, AccessKind::Write, VA, 3));
    assert!(permitted(&mut g, AccessKind::Read, VA, 3));
    // Only ACC 9.
    let mut g = keyed(key(8, false));
    g.cr0(Cr0::STORAGE_PROTECTION_OVERRIDE);
    assert!(!permitted(&mut g, AccessKind::Write, VA, 3));
}

#[test]
fn fetch_protection_override_covers_0_2047_only() {
    // DAT off; frame 0 is fetch-protected with key 5, the access key is 3.
    let mut g = Guest::segment();
    g.set_key(0, key(5, true));
    let read = |g: &mut Guest, a: u64| g.access(AddressSpace::Real, AccessKind::Read, a, 3).is_ok();
    assert!(!read(&mut g, 0));
    g.cr0(Cr0::FETCH_PROTECTION_OVERRIDE);
    assert!(read(&mut g, 0));
    assert!(read(&mut g, 2047));
    assert!(!read(&mut g, 2048));
    assert!(!read(&mut g, 4095));
    // Instruction fetches too, but never stores.
    assert!(g
        .access(AddressSpace::Real, AccessKind::InstructionFetch, 0x100, 3)
        .is_ok());
    assert_eq!(
        code(g.access(AddressSpace::Real, AccessKind::Write, 0x100, 3)),
        Code::PROTECTION
    );
}

#[test]
fn fetch_protection_override_off_in_private_space() {
    let mut g = Guest::mapped(0x100, FRAME_A);
    g.set_key(FRAME_A, key(5, true));
    g.cr0(Cr0::FETCH_PROTECTION_OVERRIDE);
    assert!(permitted(&mut g, AccessKind::Read, 0x100, 3));
    g.controls.cr1 = Asce::new(g.controls.cr1.value() | Asce::P);
    assert!(!permitted(&mut g, AccessKind::Read, 0x100, 3));
}

#[test]
fn fetch_protection_override_uses_the_logical_address() {
    // Logical 0x5100 reaches real 0x100, logical 0x100 reaches FRAME_A + 0x100.
    let mut g = Guest::mapped(0x5100, 0);
    g.map(0x100, FRAME_A);
    g.set_key(0, key(5, true));
    g.set_key(FRAME_A, key(5, true));
    g.cr0(Cr0::FETCH_PROTECTION_OVERRIDE);
    assert!(!permitted(&mut g, AccessKind::Read, 0x5100, 3));
    assert!(permitted(&mut g, AccessKind::Read, 0x100, 3));
}

// ---- 5.5 EDAT ACCF --------------------------------------------------------------

#[test]
fn large_frame_acc_and_f_are_ignored_storage_keys_decide() {
    // A format-1 STE with AV = 1, ACC = 3, F = 1; the frame's key is ACC 5,
    // F = 0. zmmu uses the storage key (docs/CHOICES.md).
    const AV: u64 = 0x1_0000;
    let mut g = Guest::segment();
    g.edat1();
    g.set(
        Level::Segment,
        VA,
        large_segment(0x20_0000) | AV | 0x3000 | 0x800,
    );
    g.set_key(0x22_3000, key(5, false));
    assert!(permitted(&mut g, AccessKind::Write, VA, 5));
    assert!(!permitted(&mut g, AccessKind::Write, VA, 3));
    assert!(permitted(&mut g, AccessKind::Read, VA, 4));
    // Entry bits 47-52 are not taken for a table offset or anything else.
    assert_eq!(TableEntry::SFAA & (AV | 0xF800), 0);
}

// ---- 5.6 Reference and change -----------------------------------------------

#[test]
fn reference_bit_set_on_fetch_change_bit_on_store() {
    let cases = [
        (AccessKind::Read, StorageKey::R),
        (AccessKind::InstructionFetch, StorageKey::R),
        (AccessKind::Write, StorageKey::R | StorageKey::C),
    ];
    for (kind, recorded) in cases {
        let mut g = keyed(key(6, false));
        g.access(AddressSpace::Primary, kind, VA, 6).unwrap();
        assert_eq!(g.key(FRAME_A).value(), key(6, false) | recorded, "{kind:?}");
    }
}

#[test]
fn recording_keeps_bits_already_set() {
    let mut g = keyed(key(6, false) | StorageKey::C);
    g.read(VA).unwrap();
    assert_eq!(
        g.key(FRAME_A).value(),
        key(6, false) | StorageKey::R | StorageKey::C
    );
}

#[test]
fn no_recording_on_refused_access() {
    use zmmu_mmu::entry::PageEntry;
    // Key protection.
    let mut g = keyed(key(7, true));
    assert!(g
        .access(AddressSpace::Primary, AccessKind::Write, VA, 6)
        .is_err());
    assert!(g
        .access(AddressSpace::Primary, AccessKind::Read, VA, 6)
        .is_err());
    assert_eq!(g.key(FRAME_A).value(), key(7, true));
    // DAT protection.
    let mut g = keyed(0);
    g.or(Level::Page, VA, PageEntry::P);
    assert!(g.write(VA).is_err());
    assert_eq!(g.key(FRAME_A).value(), 0);
    // Low-address protection with DAT off.
    let mut g = Guest::segment();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    assert!(g
        .access(AddressSpace::Real, AccessKind::Write, 0x100, 0)
        .is_err());
    assert_eq!(g.key(0).value(), 0);
}

#[test]
fn check_alone_records_nothing() {
    let g = keyed(0);
    let request = request(AddressSpace::Primary, AccessKind::Write, VA, 0);
    let done = check(&g.storage, &g.controls, request).unwrap();
    assert_eq!(done.key.value(), 0);
    assert_eq!(g.key(FRAME_A).value(), 0);
}

#[test]
fn cached_write_permission_needs_change_bit() {
    // A cached writable translation is legal only while C = 1, so that no
    // store goes unrecorded.
    let mut g = keyed(key(6, false));
    let done = g
        .access(AddressSpace::Primary, AccessKind::Read, VA, 6)
        .unwrap();
    let after_read = g.key(FRAME_A);
    let perms = PagePermissions::of(&g.controls, &done, 6, after_read);
    assert!(perms.read && perms.fetch && !perms.write);
    let done = g
        .access(AddressSpace::Primary, AccessKind::Write, VA, 6)
        .unwrap();
    let perms = PagePermissions::of(&g.controls, &done, 6, g.key(FRAME_A));
    assert!(perms.read && perms.fetch && perms.write);
}

#[test]
fn cached_permissions_leave_sub_page_rules_to_the_slow_path() {
    // Page 0 under LAP: never cached writable.
    let mut g = keyed(StorageKey::C);
    g.map(0x100, FRAME_B);
    g.set_key(FRAME_B, StorageKey::C);
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    let done = g.read(0x100).unwrap();
    assert!(!PagePermissions::of(&g.controls, &done, 0, g.key(FRAME_B)).write);
    // The fetch-protection override covers half a page: never cached readable.
    let mut g = Guest::mapped(0x100, FRAME_B);
    g.set_key(FRAME_B, key(5, true));
    g.cr0(Cr0::FETCH_PROTECTION_OVERRIDE);
    let done = g
        .access(AddressSpace::Primary, AccessKind::Read, 0x100, 3)
        .unwrap();
    let perms = PagePermissions::of(&g.controls, &done, 3, g.key(FRAME_B));
    assert!(!perms.read && !perms.fetch && !perms.write);
}
