//! The engine on hv-mock, rule by rule.
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

/// Storage of `size` bytes whose frames all have `key`.
fn storage_with_key(size: usize, key: u8) -> OwnedStorage {
    let mut storage = OwnedStorage::new(size);
    for frame in (0..size as u64).step_by(4096) {
        storage
            .set_key(AbsoluteAddress::new(frame), StorageKey::new(key))
            .unwrap();
    }
    storage
}

fn read(address: u64) -> Request {
    Request {
        address: LogicalAddress::new(address),
        space: AddressSpace::Primary,
        kind: AccessKind::Read,
        key: 0,
    }
}

#[test]
fn two_contiguous_segment_frames_map_as_one_2m_page() {
    let mut storage = storage_with_key(8 << 20, StorageKey::R | StorageKey::C);
    storage
        .write_u64(AbsoluteAddress::new(SEGMENT_TABLE), 0x20_0000 | 0x400)
        .unwrap();
    storage
        .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + 8), 0x30_0000 | 0x400)
        .unwrap();
    let controls = edat_controls();
    let mut engine = Engine::new(MockHost::new(8 << 20), Config::default());

    let first = engine
        .access(&mut storage, &controls, read(0x1234))
        .unwrap();
    assert_eq!(first.absolute, AbsoluteAddress::new(0x20_1234));
    assert_eq!(engine.pager().stats().mapped_2m, 1);
    // The other segment is served by the same host page.
    let second = engine
        .access(&mut storage, &controls, read(0x18_0000))
        .unwrap();
    assert_eq!(
        (second.absolute, second.by),
        (AbsoluteAddress::new(0x38_0000), ServedBy::HostMmu)
    );
}
