//! Change recording by the host MMU (`shadow::Config::change_by_host`) on
//! hv-mock, whose walk sets x86's dirty flag at the first store: a page
//! whose C bit is zero is mapped writable, and after each harvest the C bit
//! of a frame is one exactly when a store reached it since C was last made
//! zero (PoP "Change Recording": C is set by stores, and only by them),
//! whatever invalidations, key changes, root evictions and mapping limits
//! removed its mappings in between.
#![forbid(unsafe_code)]

mod common;

use common::{frame, storage, touch, FRAMES, PAGES, PAGE_TABLES};
use zmmu_hv_mock::MockHost;
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::shadow::{Config, Engine, ServedBy};
use zmmu_mmu::storage::{OwnedStorage, Storage};
use zmmu_testkit::Rng;

fn engine(config: Config) -> Engine<MockHost> {
    let config = Config {
        change_by_host: true,
        speculative_reference: true,
        ..config
    };
    Engine::new(MockHost::with_tlb(FRAMES + PAGES * 4096, 64), config)
}

fn changed(storage: &OwnedStorage, page: u64) -> bool {
    storage.key(frame(page)).unwrap().changed()
}

#[test]
fn a_first_store_into_a_page_with_c_zero_faults_not_and_sets_c_at_the_harvest() {
    let mut storage = storage();
    let mut engine = engine(Config {
        fault_around: 8,
        ..Config::default()
    });
    let read = touch(&mut engine, &mut storage, 3, AccessKind::Read, 0);
    assert_eq!(read, ServedBy::Shadowed);
    // The page and its neighbours are writable already: no fault.
    for page in [3, 4] {
        let store = touch(&mut engine, &mut storage, page, AccessKind::Write, 0);
        assert_eq!(store, ServedBy::HostMmu, "page {page}");
    }
    assert!(!changed(&storage, 3), "C is set by the harvest, not before");
    assert_eq!(engine.harvest(&mut storage), 2);
    assert!(changed(&storage, 3) && changed(&storage, 4));
    assert!(
        !changed(&storage, 2) && !changed(&storage, 5),
        "not stored into"
    );
    // Recorded once: a second harvest finds nothing new.
    assert_eq!(engine.harvest(&mut storage), 0);
}

#[test]
fn after_each_harvest_c_is_one_exactly_for_the_frames_stored_into() {
    let mut rng = Rng::new(7);
    let mut storage = storage();
    // Two roots at most and few mappings: evictions and emptied roots
    // remove tracked mappings between harvests.
    let mut engine = engine(Config {
        fault_around: 16,
        max_roots: 2,
        max_mappings: 200,
        ..Config::default()
    });
    let pages = 300;
    let mut expected = vec![false; pages as usize];
    for step in 0..20_000 {
        let page = rng.below(pages);
        match rng.below(100) {
            0..=44 => {
                // Keys 3 and 5 read (ACC 0 lets them fetch, not store)
                // through roots of their own.
                let key = rng.pick(&[0, 0, 0, 0, 0, 0, 0, 3, 5]);
                touch(&mut engine, &mut storage, page, AccessKind::Read, key);
            }
            45..=84 => {
                touch(&mut engine, &mut storage, page, AccessKind::Write, 0);
                expected[page as usize] = true;
            }
            85..=89 => {
                // IPTE of a run of entries (the tables stay as they are).
                let origin = AbsoluteAddress::new(PAGE_TABLES + (page / 256) * 0x800);
                engine.invalidate(&Invalidation::PageTableEntries {
                    origin,
                    first: (page % 256) as u8,
                    extra: rng.below(8) as u8,
                });
            }
            90..=94 => {
                // SSKE with C zero: the keys are exact first.
                engine.harvest(&mut storage);
                storage
                    .set_key(frame(page), StorageKey::new(StorageKey::R))
                    .unwrap();
                engine.invalidate(&Invalidation::Key(frame(page)));
                expected[page as usize] = false;
            }
            95 => engine.invalidate(&Invalidation::All),
            _ => {
                engine.harvest(&mut storage);
                for p in 0..pages {
                    assert_eq!(
                        changed(&storage, p),
                        expected[p as usize],
                        "page {p} after step {step}"
                    );
                }
            }
        }
    }
    // Hundreds of the C bits came from stores the host recorded.
    assert!(engine.pager().stats().harvested > 200);
}

#[test]
fn past_the_bound_tracked_pages_become_read_only_and_a_store_still_sets_c() {
    let mut storage = storage();
    let mut engine = engine(Config {
        fault_around: 256,
        ..Config::default()
    });
    for page in (0..PAGES).step_by(256) {
        touch(&mut engine, &mut storage, page, AccessKind::Read, 0);
    }
    assert_eq!(engine.pager().stats().tracked, PAGES);
    assert_eq!(engine.harvest(&mut storage), 0);
    let untracked = engine.pager().stats().untracked;
    assert!(untracked > 0 && untracked < PAGES);
    for page in 0..PAGES {
        touch(&mut engine, &mut storage, page, AccessKind::Write, 0);
    }
    engine.harvest(&mut storage);
    assert!((0..PAGES).all(|page| changed(&storage, page)));
}

#[test]
fn with_tracking_turned_off_a_store_sets_c_at_once() {
    let mut storage = storage();
    let mut engine = engine(Config {
        fault_around: 8,
        ..Config::default()
    });
    touch(&mut engine, &mut storage, 3, AccessKind::Read, 0);
    touch(&mut engine, &mut storage, 4, AccessKind::Write, 0);
    engine.set_change_by_host(&mut storage, false);
    assert!(changed(&storage, 4), "the record so far is harvested");
    assert!(!changed(&storage, 5));
    let store = touch(&mut engine, &mut storage, 5, AccessKind::Write, 0);
    assert_eq!(store, ServedBy::Shadowed, "a read-only page faults");
    assert!(changed(&storage, 5), "and its fault sets C");
}
