//! The tables the hv-mock tests share: segments `0..SEGMENTS` of one
//! segment table mapped page by page to consecutive frames.

use zmmu_hv_mock::MockHost;
use zmmu_mmu::access::{AccessKind, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::asce::Asce;
use zmmu_mmu::control::{AddressSpace, Controls};
use zmmu_mmu::shadow::{Engine, ServedBy};
use zmmu_mmu::storage::{OwnedStorage, Storage};

pub const SEGMENT_TABLE: u64 = 0x1000;
pub const PAGE_TABLES: u64 = 0x2000;
/// The frame of logical page 0; page `i` maps to `FRAMES + i * 4096`.
pub const FRAMES: u64 = 4 << 20;
pub const SEGMENTS: u64 = 12;
pub const PAGES: u64 = SEGMENTS * 256;

/// Storage with segments `0..SEGMENTS` mapped page by page to consecutive
/// frames, every key 0 (R and C zero).
pub fn storage() -> OwnedStorage {
    let mut storage = OwnedStorage::new((FRAMES + PAGES * 4096) as usize);
    for segment in 0..512 {
        let entry = if segment < SEGMENTS {
            PAGE_TABLES + segment * 0x800
        } else {
            0x20
        };
        storage
            .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + segment * 8), entry)
            .unwrap();
    }
    for page in 0..PAGES {
        storage
            .write_u64(
                AbsoluteAddress::new(PAGE_TABLES + page * 8),
                FRAMES + page * 4096,
            )
            .unwrap();
    }
    storage
}

pub fn controls() -> Controls {
    Controls {
        cr1: Asce::new(SEGMENT_TABLE),
        ..Controls::default()
    }
}

pub fn request(page: u64, kind: AccessKind, key: u8) -> Request {
    Request {
        address: LogicalAddress::new(page * 4096 + 8),
        space: AddressSpace::Primary,
        kind,
        key,
    }
}

pub fn frame(page: u64) -> AbsoluteAddress {
    AbsoluteAddress::new(FRAMES + page * 4096)
}

/// Accesses `page` through the engine (never refused here), answering
/// which path served it.
pub fn touch(
    engine: &mut Engine<MockHost>,
    storage: &mut OwnedStorage,
    page: u64,
    kind: AccessKind,
    key: u8,
) -> ServedBy {
    engine
        .access(storage, &controls(), request(page, kind, key))
        .unwrap()
        .by
}
