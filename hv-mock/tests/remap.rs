//! A frame the backend maps narrower from now on (hv-kvm: a frame that
//! holds translated code is never writable): `ShadowPager::remap_frame`
//! gives its writable mappings to the backend again. On hv-mock, whose
//! rules never change, the mapping must come back as it was, served
//! without a fault, with the stores recorded through it before kept for
//! the next harvest (PoP "Change Recording").
#![forbid(unsafe_code)]

mod common;

use common::{frame, storage, touch, FRAMES, PAGES};
use zmmu_hv_mock::MockHost;
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::shadow::{Config, Engine, ServedBy};
use zmmu_mmu::storage::Storage;

const PAGE: u64 = 9;

fn engine() -> Engine<MockHost> {
    let config = Config {
        change_by_host: true,
        fault_around: 1,
        ..Config::default()
    };
    Engine::new(MockHost::with_tlb(FRAMES + PAGES * 4096, 64), config)
}

#[test]
fn a_writable_mapping_given_again_keeps_the_stores_recorded_through_it() {
    let mut storage = storage();
    let mut engine = engine();
    // The first load maps the page writable with stores tracked; the store
    // then goes through the host MMU and is recorded there only.
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Read, 0),
        ServedBy::Shadowed
    );
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Write, 0),
        ServedBy::HostMmu
    );
    assert!(!storage.key(frame(PAGE)).unwrap().changed());
    engine.remap_frame(frame(PAGE));
    assert_eq!(engine.pager().stats().remapped, 1);
    engine.harvest(&mut storage);
    assert!(
        storage.key(frame(PAGE)).unwrap().changed(),
        "the store made before the mapping was given again is lost"
    );
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Write, 0),
        ServedBy::HostMmu
    );
}

#[test]
fn a_read_only_mapping_is_not_given_again() {
    let mut storage = storage();
    let mut engine = Engine::new(
        MockHost::with_tlb(FRAMES + PAGES * 4096, 64),
        Config::default(),
    );
    // Without change recording by the host, C zero keeps the page
    // read-only: there is nothing narrower to give.
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Read, 0),
        ServedBy::Shadowed
    );
    engine.remap_frame(frame(PAGE));
    assert_eq!(engine.pager().stats().remapped, 0);
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Read, 0),
        ServedBy::HostMmu
    );
}

#[test]
fn a_tracked_mapping_given_again_without_a_store_leaves_c_zero() {
    let mut storage = storage();
    let mut engine = engine();
    assert_eq!(
        touch(&mut engine, &mut storage, PAGE, AccessKind::Read, 0),
        ServedBy::Shadowed
    );
    engine.remap_frame(frame(PAGE));
    engine.harvest(&mut storage);
    assert!(
        !storage.key(frame(PAGE)).unwrap().changed(),
        "C set for a frame nothing stored into"
    );
}
