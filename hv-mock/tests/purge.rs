//! A purge of the TLB (PTLB, CSP and CSPG with purge) on hv-mock: after it
//! every access translates through the tables as they are now (PoP ch. 3,
//! "Translation-Lookaside Buffer"). The shadow pager keeps a mapping only
//! when a walk of those tables makes it again (`ShadowPager::purge`), so a
//! page used again costs no fault, and a changed entry is never served.
#![forbid(unsafe_code)]

mod common;

use common::{controls, frame, request, storage, touch, FRAMES, PAGES, PAGE_TABLES, SEGMENT_TABLE};
use zmmu_hv_mock::MockHost;
use zmmu_mmu::access::{AccessKind, Fault};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::invalidate;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::shadow::{Config, Engine, EngineError, ServedBy};
use zmmu_mmu::storage::{OwnedStorage, Storage};

const PAGE: u64 = 5;
/// The page-invalid and page-protection bits of a page-table entry.
const INVALID: u64 = 0x400;
const PROTECTED: u64 = 0x200;

/// Storage whose frames are referenced and changed (every page may be
/// mapped writable at once), and an engine over it.
fn machine() -> (OwnedStorage, Engine<MockHost>) {
    let mut storage = storage();
    for page in 0..PAGES {
        storage
            .set_key(frame(page), StorageKey::new(StorageKey::R | StorageKey::C))
            .unwrap();
    }
    let engine = Engine::new(
        MockHost::with_tlb(FRAMES + PAGES * 4096, 64),
        Config::default(),
    );
    (storage, engine)
}

fn pte(page: u64) -> AbsoluteAddress {
    AbsoluteAddress::new(PAGE_TABLES + page * 8)
}

fn purge(engine: &mut Engine<MockHost>, storage: &OwnedStorage) {
    engine.purge(storage, &controls());
}

fn store(
    engine: &mut Engine<MockHost>,
    storage: &mut OwnedStorage,
    page: u64,
) -> Result<AbsoluteAddress, EngineError<<MockHost as zmmu_mmu::host::HostPaging>::Error>> {
    engine
        .access(storage, &controls(), request(page, AccessKind::Write, 0))
        .map(|served| served.absolute.page())
}

#[test]
fn a_purge_keeps_a_mapping_the_unchanged_tables_make_again() {
    let (mut storage, mut engine) = machine();
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Write, 0),
        ServedBy::Shadowed
    );
    purge(&mut engine, &storage);
    assert!(engine.pager().stats().kept_by_purges > 0);
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Write, 0),
        ServedBy::HostMmu
    );
}

#[test]
fn after_a_purge_a_page_table_entry_changed_by_a_plain_store_is_used() {
    let (mut storage, mut engine) = machine();
    assert_eq!(store(&mut engine, &mut storage, PAGE), Ok(frame(PAGE)));
    storage
        .write_u64(pte(PAGE), frame(PAGE + 1).value())
        .unwrap();
    purge(&mut engine, &storage);
    assert_eq!(store(&mut engine, &mut storage, PAGE), Ok(frame(PAGE + 1)));
}

#[test]
fn after_a_purge_a_store_into_a_page_made_protected_is_refused() {
    let (mut storage, mut engine) = machine();
    assert_eq!(store(&mut engine, &mut storage, PAGE), Ok(frame(PAGE)));
    storage
        .write_u64(pte(PAGE), frame(PAGE).value() | PROTECTED)
        .unwrap();
    purge(&mut engine, &storage);
    match store(&mut engine, &mut storage, PAGE) {
        Err(EngineError::Fault(Fault::Program(exception))) => {
            assert_eq!(exception.code, Code::PROTECTION)
        }
        other => panic!("a store into a DAT-protected page was {other:?}"),
    }
    // Loads are still served, and still without a fault after a purge.
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Read, 0),
        ServedBy::Shadowed
    );
    purge(&mut engine, &storage);
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Read, 0),
        ServedBy::HostMmu
    );
}

/// A mapping reached after the purge through other table entries (the same
/// frame through a copy of the page table) is not kept: an IPTE of the
/// entry now used must find it.
#[test]
fn after_a_purge_an_ipte_of_the_page_table_now_used_reaches_the_page() {
    let (mut storage, mut engine) = machine();
    assert_eq!(store(&mut engine, &mut storage, PAGE), Ok(frame(PAGE)));
    let copy = PAGE_TABLES + PAGES * 8;
    for index in 0..256 {
        let entry = storage.read_u64(pte(index)).unwrap();
        storage
            .write_u64(AbsoluteAddress::new(copy + index * 8), entry)
            .unwrap();
    }
    storage
        .write_u64(AbsoluteAddress::new(SEGMENT_TABLE), copy)
        .unwrap();
    purge(&mut engine, &storage);
    let ipte = invalidate::ipte(&mut storage, copy, PAGE << 12, 0).unwrap();
    engine.invalidate(&ipte.into_invalidation());
    match store(&mut engine, &mut storage, PAGE) {
        Err(EngineError::Fault(Fault::Program(exception))) => {
            assert_eq!(exception.code, Code::PAGE_TRANSLATION)
        }
        other => panic!("a page invalidated by IPTE was {other:?}"),
    }
}

#[test]
fn after_a_purge_a_page_made_invalid_by_a_plain_store_is_a_page_translation_exception() {
    let (mut storage, mut engine) = machine();
    assert_eq!(store(&mut engine, &mut storage, PAGE), Ok(frame(PAGE)));
    storage
        .write_u64(pte(PAGE), frame(PAGE).value() | INVALID)
        .unwrap();
    purge(&mut engine, &storage);
    match store(&mut engine, &mut storage, PAGE) {
        Err(EngineError::Fault(Fault::Program(exception))) => {
            assert_eq!(exception.code, Code::PAGE_TRANSLATION)
        }
        other => panic!("a page made invalid was {other:?}"),
    }
}
