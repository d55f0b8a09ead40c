//! A purge of the TLB keeps a 2 MiB host page made of two 1 MiB segment
//! frames only if the tables make both again (PoP ch. 3,
//! "Translation-Lookaside Buffer": after a purge every access translates
//! through the tables as they are now; `Shadow::walks_again`).
#![forbid(unsafe_code)]

use zmmu_hv_mock::MockHost;
use zmmu_mmu::prelude::*;
use zmmu_mmu::shadow::{Config, Engine, ServedBy};

const SEGMENT_TABLE: u64 = 0x1000;

fn edat_controls() -> Controls {
    Controls {
        cr0: Cr0::EDAT,
        cr1: Asce::new(SEGMENT_TABLE),
        facilities: Facilities::EDAT1,
        ..Controls::default()
    }
}

fn read(address: u64) -> Request {
    Request {
        address: LogicalAddress::new(address),
        space: AddressSpace::Primary,
        kind: AccessKind::Read,
        key: 0,
    }
}

/// 8 MiB of storage, referenced and changed, whose segment table maps
/// the first two segments to the contiguous frames at 2 and 3 MiB.
fn storage() -> OwnedStorage {
    let mut storage = OwnedStorage::new(8 << 20);
    for frame in (0..8u64 << 20).step_by(4096) {
        storage
            .set_key(
                AbsoluteAddress::new(frame),
                StorageKey::new(StorageKey::R | StorageKey::C),
            )
            .unwrap();
    }
    for (segment, frame) in [(0, 0x20_0000), (1, 0x30_0000)] {
        storage
            .write_u64(
                AbsoluteAddress::new(SEGMENT_TABLE + segment * 8),
                frame | 0x400,
            )
            .unwrap();
    }
    storage
}

#[test]
fn a_purge_keeps_a_2m_page_whose_two_segments_translate_again() {
    let mut storage = storage();
    let controls = edat_controls();
    let mut engine = Engine::new(MockHost::new(8 << 20), Config::default());
    engine
        .access(&mut storage, &controls, read(0x1234))
        .unwrap();
    assert_eq!(engine.pager().stats().mapped_2m, 1);
    engine.purge(&storage, &controls);
    let second = engine
        .access(&mut storage, &controls, read(0x18_0000))
        .unwrap();
    assert_eq!(
        (second.absolute, second.by),
        (AbsoluteAddress::new(0x38_0000), ServedBy::HostMmu)
    );
}

#[test]
fn after_a_purge_the_second_segment_of_a_2m_page_translates_through_its_new_entry() {
    let mut storage = storage();
    let controls = edat_controls();
    let mut engine = Engine::new(MockHost::new(8 << 20), Config::default());
    engine
        .access(&mut storage, &controls, read(0x1234))
        .unwrap();
    assert_eq!(engine.pager().stats().mapped_2m, 1);
    storage
        .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + 8), 0x50_0000 | 0x400)
        .unwrap();
    engine.purge(&storage, &controls);
    let second = engine
        .access(&mut storage, &controls, read(0x18_0000))
        .unwrap();
    assert_eq!(second.absolute, AbsoluteAddress::new(0x58_0000));
}
