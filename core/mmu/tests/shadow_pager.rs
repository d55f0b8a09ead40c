//! The shadow pager against mockall doubles of `HostPaging`: which orders
//! it gives for each architected rule.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mockall::mock;
use mockall::predicate::eq;

use zmmu_mmu::access::{Fault, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use zmmu_mmu::asce::Asce;
use zmmu_mmu::control::{Controls, Cr0, Facilities};
use zmmu_mmu::exception::Code;
use zmmu_mmu::host::{FlushScope, HostPageSize, HostPaging, HostPerms, Mapping, LOWER_HALF_END};
use zmmu_mmu::invalidate;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::shadow::{Config, Purpose, Resolution, RootTag, ShadowError, ShadowPager};
use zmmu_mmu::space::AddressSpace;
use zmmu_mmu::storage::{OwnedStorage, Storage};

mock! {
    Host {}
    impl HostPaging for Host {
        type Root = u32;
        type Error = ();
        fn create_root(&mut self) -> Result<u32, ()>;
        fn release_root(&mut self, root: u32);
        fn map(&mut self, root: u32, mapping: Mapping) -> Result<(), ()>;
        fn protect(&mut self, root: u32, logical: LogicalAddress, size: HostPageSize, perms: HostPerms);
        fn unmap(&mut self, root: u32, logical: LogicalAddress, size: HostPageSize);
        fn clear(&mut self, root: u32);
        fn flush(&mut self, root: u32, scope: FlushScope);
        fn activate(&mut self, root: u32) -> Result<(), ()>;
        fn stored(&self, root: u32, logical: LogicalAddress, size: HostPageSize) -> bool;
    }
}

/// An order the pager gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Create(u32),
    Release(u32),
    Map(u32, Mapping),
    Unmap(u32, u64, HostPageSize),
    Clear(u32),
    Flush(u32, FlushScope),
}

type Log = Arc<Mutex<Vec<Order>>>;

/// A double that accepts every order, numbers roots from 1 and logs orders.
fn recording_host() -> (MockHost, Log) {
    let log: Log = Arc::default();
    let mut host = MockHost::new();
    let next = Arc::new(Mutex::new(0u32));
    let l = log.clone();
    host.expect_create_root().returning(move || {
        let mut n = next.lock().unwrap();
        *n += 1;
        l.lock().unwrap().push(Order::Create(*n));
        Ok(*n)
    });
    let l = log.clone();
    host.expect_release_root()
        .returning(move |root| l.lock().unwrap().push(Order::Release(root)));
    let l = log.clone();
    host.expect_map().returning(move |root, mapping| {
        l.lock().unwrap().push(Order::Map(root, mapping));
        Ok(())
    });
    let l = log.clone();
    host.expect_unmap().returning(move |root, logical, size| {
        l.lock()
            .unwrap()
            .push(Order::Unmap(root, logical.value(), size))
    });
    let l = log.clone();
    host.expect_clear()
        .returning(move |root| l.lock().unwrap().push(Order::Clear(root)));
    let l = log.clone();
    host.expect_flush()
        .returning(move |root, scope| l.lock().unwrap().push(Order::Flush(root, scope)));
    host.expect_activate().returning(|_| Ok(()));
    (host, log)
}

fn take(log: &Log) -> Vec<Order> {
    std::mem::take(&mut *log.lock().unwrap())
}

const SEGMENT_TABLE: u64 = 0x1000;
const PAGE_TABLE: u64 = 0x2000;

/// 4 MiB of storage, every frame with `key`, a segment table at 0x1000
/// whose segment 0 uses the page table at 0x2000, where page `i` maps to
/// frame `0x100000 + i * 4096`.
fn storage(key: u8) -> OwnedStorage {
    let mut storage = OwnedStorage::new(4 << 20);
    for frame in (0..4u64 << 20).step_by(4096) {
        storage
            .set_key(AbsoluteAddress::new(frame), StorageKey::new(key))
            .unwrap();
    }
    for segment in 1..512 {
        storage
            .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + segment * 8), 0x20)
            .unwrap();
    }
    storage
        .write_u64(AbsoluteAddress::new(SEGMENT_TABLE), PAGE_TABLE)
        .unwrap();
    for page in 0..256 {
        storage
            .write_u64(
                AbsoluteAddress::new(PAGE_TABLE + page * 8),
                0x10_0000 + page * 4096,
            )
            .unwrap();
    }
    storage
}

fn controls() -> Controls {
    Controls {
        cr1: Asce::new(SEGMENT_TABLE),
        ..Controls::default()
    }
}

fn request(address: u64, kind: AccessKind) -> Request {
    Request {
        address: LogicalAddress::new(address),
        space: AddressSpace::Primary,
        kind,
        key: 0,
    }
}

fn no_around() -> Config {
    Config {
        fault_around: 0,
        ..Config::default()
    }
}

fn page(logical: u64, frame: u64, perms: HostPerms) -> Mapping {
    Mapping {
        logical: LogicalAddress::new(logical),
        frame: AbsoluteAddress::new(frame),
        size: HostPageSize::Size4K,
        perms,
        track_stores: false,
    }
}

const RC: u8 = StorageKey::R | StorageKey::C;

/// A recording host and a pager without fault-around over `storage(key)`,
/// after read faults at `addresses` were resolved and their orders taken.
fn pager_after_reads(
    key: u8,
    addresses: &[u64],
) -> (MockHost, Log, ShadowPager<MockHost>, OwnedStorage) {
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage(key);
    read_in(&mut pager, &mut host, &mut storage, &controls(), addresses);
    take(&log);
    (host, log, pager, storage)
}

/// Resolves each of `requests` in turn, each expected to succeed.
fn resolve_all<S: Storage + ?Sized>(
    pager: &mut ShadowPager<MockHost>,
    host: &mut MockHost,
    storage: &mut S,
    controls: &Controls,
    requests: impl IntoIterator<Item = Request>,
) {
    for request in requests {
        pager
            .resolve_fault(host, storage, controls, request)
            .unwrap();
    }
}

/// Resolves a primary-space read fault at each of `addresses` in turn, each
/// expected to succeed.
fn read_in<S: Storage + ?Sized>(
    pager: &mut ShadowPager<MockHost>,
    host: &mut MockHost,
    storage: &mut S,
    controls: &Controls,
    addresses: &[u64],
) {
    let reads = addresses.iter().map(|&a| request(a, AccessKind::Read));
    resolve_all(pager, host, storage, controls, reads);
}

#[test]
fn read_fault_maps_the_page_read_only_while_its_change_bit_is_zero() {
    let mut host = MockHost::new();
    host.expect_create_root().times(1).returning(|| Ok(7));
    host.expect_map()
        .times(1)
        .with(eq(7), eq(page(0x5000, 0x10_5000, HostPerms::READ)))
        .returning(|_, _| Ok(()));
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage(0);

    let resolved = pager.resolve_fault(
        &mut host,
        &mut storage,
        &controls(),
        request(0x5123, AccessKind::Read),
    );

    assert!(
        matches!(resolved, Ok(Resolution::Mapped(a)) if a.absolute == AbsoluteAddress::new(0x10_5123))
    );
    assert_eq!(
        storage
            .key(AbsoluteAddress::new(0x10_5000))
            .unwrap()
            .value(),
        StorageKey::R
    );
}

#[test]
fn store_fault_records_change_and_maps_the_page_writable() {
    let mut host = MockHost::new();
    host.expect_create_root().returning(|| Ok(1));
    host.expect_map()
        .times(1)
        .with(
            eq(1),
            eq(page(0x5000, 0x10_5000, HostPerms::READ | HostPerms::WRITE)),
        )
        .returning(|_, _| Ok(()));
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage(0);

    pager
        .resolve_fault(
            &mut host,
            &mut storage,
            &controls(),
            request(0x5123, AccessKind::Write),
        )
        .unwrap();

    assert_eq!(
        storage
            .key(AbsoluteAddress::new(0x10_5000))
            .unwrap()
            .value(),
        RC
    );
}

#[test]
fn store_to_a_read_only_page_upgrades_it_in_place_without_a_flush() {
    let (mut host, log, mut pager, mut storage) = pager_after_reads(0, &[0x5000]);

    pager
        .resolve_fault(
            &mut host,
            &mut storage,
            &controls(),
            request(0x5008, AccessKind::Write),
        )
        .unwrap();

    assert_eq!(
        take(&log),
        [Order::Map(
            1,
            page(0x5000, 0x10_5000, HostPerms::READ | HostPerms::WRITE)
        )]
    );
    assert_eq!(pager.stats().upgraded, 1);
}

#[test]
fn dat_protection_refuses_stores_and_keeps_the_page_read_only() {
    let mut storage = storage(RC);
    storage
        .write_u64(AbsoluteAddress::new(PAGE_TABLE + 5 * 8), 0x10_5000 | 0x200)
        .unwrap();
    let mut host = MockHost::new();
    let mut pager = ShadowPager::new(no_around());

    let store = pager.resolve_fault(
        &mut host,
        &mut storage,
        &controls(),
        request(0x5000, AccessKind::Write),
    );
    assert!(
        matches!(store, Err(ShadowError::Fault(Fault::Program(e))) if e.code == Code::PROTECTION)
    );

    host.expect_create_root().returning(|| Ok(1));
    host.expect_map()
        .times(1)
        .with(eq(1), eq(page(0x5000, 0x10_5000, HostPerms::READ)))
        .returning(|_, _| Ok(()));
    read_in(&mut pager, &mut host, &mut storage, &controls(), &[0x5000]);
}

#[test]
fn translation_exception_is_raised_exactly_and_nothing_is_mapped() {
    let mut storage = storage(0);
    storage
        .write_u64(AbsoluteAddress::new(PAGE_TABLE + 5 * 8), 0x400)
        .unwrap();
    let mut host = MockHost::new();
    let mut pager = ShadowPager::new(no_around());

    let resolved = pager.resolve_fault(
        &mut host,
        &mut storage,
        &controls(),
        request(0x5123, AccessKind::Read),
    );

    assert!(
        matches!(resolved, Err(ShadowError::Fault(Fault::Program(e))) if e.code == Code::PAGE_TRANSLATION)
    );
}

#[test]
fn key_protection_keeps_the_page_read_only_for_other_keys() {
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage((3 << 4) | RC);
    let key5 = Request {
        key: 5,
        ..request(0x5000, AccessKind::Read)
    };

    pager
        .resolve_fault(&mut host, &mut storage, &controls(), key5)
        .unwrap();
    let store = pager.resolve_fault(
        &mut host,
        &mut storage,
        &controls(),
        Request {
            kind: AccessKind::Write,
            ..key5
        },
    );

    assert_eq!(
        take(&log),
        [
            Order::Create(1),
            Order::Map(1, page(0x5000, 0x10_5000, HostPerms::READ))
        ]
    );
    assert!(
        matches!(store, Err(ShadowError::Fault(Fault::Program(e))) if e.code == Code::PROTECTION)
    );
}

#[test]
fn roots_are_tagged_by_access_key() {
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage((3 << 4) | RC);

    let keyed = |key| Request {
        key,
        ..request(0x5000, AccessKind::Read)
    };
    resolve_all(
        &mut pager,
        &mut host,
        &mut storage,
        &controls(),
        [keyed(3), keyed(4)],
    );

    assert_eq!(
        take(&log),
        [
            Order::Create(1),
            Order::Map(
                1,
                page(0x5000, 0x10_5000, HostPerms::READ | HostPerms::WRITE)
            ),
            Order::Create(2),
            Order::Map(2, page(0x5000, 0x10_5000, HostPerms::READ)),
        ]
    );
}

#[test]
fn instruction_fetch_roots_never_map_iep_pages() {
    let mut storage = storage(RC);
    storage
        .write_u64(AbsoluteAddress::new(PAGE_TABLE + 5 * 8), 0x10_5000 | 0x100)
        .unwrap();
    let controls = Controls {
        cr0: Cr0::IEP,
        facilities: Facilities::IEP,
        ..controls()
    };
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());

    let fetch = pager.resolve_fault(
        &mut host,
        &mut storage,
        &controls,
        request(0x5000, AccessKind::InstructionFetch),
    );
    pager
        .resolve_fault(
            &mut host,
            &mut storage,
            &controls,
            request(0x6000, AccessKind::InstructionFetch),
        )
        .unwrap();

    assert!(
        matches!(fetch, Err(ShadowError::Fault(Fault::Program(e))) if e.code == Code::PROTECTION)
    );
    assert_eq!(
        take(&log),
        [
            Order::Create(1),
            Order::Map(1, page(0x6000, 0x10_6000, HostPerms::READ))
        ]
    );
    let tag = RootTag {
        asce: Some(Asce::new(SEGMENT_TABLE).tag()),
        key: 0,
        purpose: Purpose::Instruction,
    };
    assert_eq!(pager.root(tag), Some(1));
}

#[test]
fn low_address_protected_page_is_never_mapped_writable() {
    let controls = Controls {
        cr0: Cr0::LOW_ADDRESS_PROTECTION,
        ..controls()
    };
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage(RC);
    let real = |address, kind| Request {
        space: AddressSpace::Real,
        ..request(address, kind)
    };

    // 0x1300 is not protected, but 0x1000-0x11FF in its page is.
    let store = pager.resolve_fault(
        &mut host,
        &mut storage,
        &controls,
        real(0x1300, AccessKind::Write),
    );
    assert!(
        matches!(store, Ok(Resolution::Software(a)) if a.absolute == AbsoluteAddress::new(0x1300))
    );
    pager
        .resolve_fault(
            &mut host,
            &mut storage,
            &controls,
            real(0x1300, AccessKind::Read),
        )
        .unwrap();

    assert_eq!(
        take(&log),
        [
            Order::Create(1),
            Order::Map(1, page(0x1000, 0x1000, HostPerms::READ))
        ]
    );
}

/// Where every store checks logical 0-511 and 4096-4607 itself, a store
/// to the rest of a low page maps it writable; a store to a protected
/// byte is still refused with the protection exception.
#[test]
fn low_pages_are_mapped_writable_where_stores_check_low_addresses() {
    let controls = Controls {
        cr0: Cr0::LOW_ADDRESS_PROTECTION,
        ..controls()
    };
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(Config {
        stores_check_low_addresses: true,
        ..no_around()
    });
    let mut storage = storage(RC);
    let real = |address, kind| Request {
        space: AddressSpace::Real,
        ..request(address, kind)
    };

    let refused = pager.resolve_fault(
        &mut host,
        &mut storage,
        &controls,
        real(0x1100, AccessKind::Write),
    );
    assert!(
        matches!(refused, Err(ShadowError::Fault(Fault::Program(e))) if e.code == Code::PROTECTION),
        "{refused:?}"
    );
    pager
        .resolve_fault(
            &mut host,
            &mut storage,
            &controls,
            real(0x1300, AccessKind::Write),
        )
        .unwrap();
    let writable = HostPerms::READ | HostPerms::WRITE;
    assert_eq!(
        take(&log),
        [
            Order::Create(1),
            Order::Map(1, page(0x1000, 0x1000, writable))
        ]
    );

    // Turning the protection off drops nothing: no mapping depended on it.
    pager.controls_changed(&mut host, &controls, &self::controls());
    assert_eq!(take(&log), []);
}

#[test]
fn fetch_protection_override_page_takes_the_software_path() {
    let controls = Controls {
        cr0: Cr0::FETCH_PROTECTION_OVERRIDE,
        ..controls()
    };
    let mut host = MockHost::new();
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage((3 << 4) | StorageKey::F | RC);
    let read = Request {
        space: AddressSpace::Real,
        key: 5,
        ..request(0x100, AccessKind::Read)
    };

    let resolved = pager.resolve_fault(&mut host, &mut storage, &controls, read);

    assert!(
        matches!(resolved, Ok(Resolution::Software(a)) if a.absolute == AbsoluteAddress::new(0x100))
    );
}

#[test]
fn addresses_at_or_above_2_pow_47_are_refused_as_unmappable() {
    let mut host = MockHost::new();
    let mut pager = ShadowPager::new(no_around());
    let resolved = pager.resolve_fault(
        &mut host,
        &mut storage(0),
        &controls(),
        request(LOWER_HALF_END, AccessKind::Read),
    );
    assert_eq!(
        resolved.unwrap_err(),
        ShadowError::Unmappable(LogicalAddress::new(LOWER_HALF_END))
    );
}

#[test]
fn ipte_drops_exactly_the_mappings_built_through_the_invalidated_entries() {
    let (mut host, log, mut pager, mut storage) = pager_after_reads(RC, &[0x5000, 0x6000]);

    let inv = invalidate::ipte(&mut storage, PAGE_TABLE, 0x5000, 0).unwrap();
    inv.apply(|inv| pager.invalidate(&mut host, inv));

    assert_eq!(
        take(&log),
        [
            Order::Unmap(1, 0x5000, HostPageSize::Size4K),
            Order::Flush(1, FlushScope::Page(LogicalAddress::new(0x5000)))
        ]
    );
    let tag = RootTag::for_request(&controls(), &request(0, AccessKind::Read)).unwrap();
    assert_eq!(
        pager.real_address(tag, LogicalAddress::new(0x6010)),
        Some(RealAddress::new(0x10_6010))
    );
    assert_eq!(pager.real_address(tag, LogicalAddress::new(0x5010)), None);
}

#[test]
fn idte_drops_every_mapping_below_the_segment_entry() {
    let (mut host, log, mut pager, mut storage) = pager_after_reads(RC, &[0x5000, 0x6000]);

    let inv = invalidate::idte(&mut storage, SEGMENT_TABLE, 0, 0).unwrap();
    inv.apply(|inv| pager.invalidate(&mut host, inv));

    let orders = take(&log);
    assert!(orders.contains(&Order::Unmap(1, 0x5000, HostPageSize::Size4K)));
    assert!(orders.contains(&Order::Unmap(1, 0x6000, HostPageSize::Size4K)));
    assert_eq!(pager.mappings(), 0);
}

#[test]
fn sske_drops_every_mapping_of_the_frame_in_every_root() {
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage(RC);
    let real = Request {
        space: AddressSpace::Real,
        ..request(0x10_5000, AccessKind::Read)
    };
    let reads = [
        request(0x5000, AccessKind::Read),
        real,
        request(0x6000, AccessKind::Read),
    ];
    resolve_all(&mut pager, &mut host, &mut storage, &controls(), reads);
    take(&log);

    let inv = invalidate::sske(
        &mut storage,
        Prefix::default(),
        RealAddress::new(0x10_5000),
        RC,
    )
    .unwrap();
    inv.apply(|inv| pager.invalidate(&mut host, inv));

    let orders = take(&log);
    assert!(orders.contains(&Order::Unmap(1, 0x5000, HostPageSize::Size4K)));
    assert!(orders.contains(&Order::Unmap(2, 0x10_5000, HostPageSize::Size4K)));
    assert_eq!(pager.mappings(), 1);
}

#[test]
fn spx_drops_the_mappings_of_both_prefix_areas_and_of_absolute_zero() {
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());
    let mut storage = storage(RC);
    let real = |address| Request {
        space: AddressSpace::Real,
        ..request(address, AccessKind::Read)
    };
    let reads = [0x0, 0x8000, 0x20000].map(real);
    resolve_all(&mut pager, &mut host, &mut storage, &controls(), reads);
    take(&log);

    let (_, inv) = invalidate::spx(&storage, Prefix::default(), 0x8000).unwrap();
    inv.apply(|inv| pager.invalidate(&mut host, inv));

    let orders = take(&log);
    assert!(orders.contains(&Order::Unmap(1, 0x0, HostPageSize::Size4K)));
    assert!(orders.contains(&Order::Unmap(1, 0x8000, HostPageSize::Size4K)));
    assert!(!orders.contains(&Order::Unmap(1, 0x20000, HostPageSize::Size4K)));
}

#[test]
fn cr0_change_clears_every_root_but_a_new_asce_keeps_them() {
    let (mut host, log, mut pager, _) = pager_after_reads(RC, &[0x5000]);

    let other_asce = Controls {
        cr1: Asce::new(0x3000),
        ..controls()
    };
    pager.controls_changed(&mut host, &controls(), &other_asce);
    assert_eq!(take(&log), []);

    let edat = Controls {
        cr0: Cr0::EDAT,
        ..controls()
    };
    pager.controls_changed(&mut host, &controls(), &edat);
    assert_eq!(
        take(&log),
        [Order::Clear(1), Order::Flush(1, FlushScope::All)]
    );
    assert_eq!(pager.mappings(), 0);
}

#[test]
fn the_least_recently_used_root_is_released_first() {
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(Config {
        max_roots: 2,
        ..no_around()
    });
    let mut storage = storage(RC);
    let keyed = |key| Request {
        key,
        ..request(0x5000, AccessKind::Read)
    };
    let reads = [0, 1, 0, 2].map(keyed);
    resolve_all(&mut pager, &mut host, &mut storage, &controls(), reads);
    let orders = take(&log);
    assert!(orders.contains(&Order::Release(2)));
    assert!(!orders.contains(&Order::Release(1)));
    assert_eq!(pager.stats().roots_evicted, 1);
}

/// EDAT-1 storage: segments 0 and 1 are the 1 MiB frames `first` and `second`.
fn segment_frames(first: u64, second: u64) -> (OwnedStorage, Controls) {
    let mut storage = storage(RC);
    storage
        .write_u64(AbsoluteAddress::new(SEGMENT_TABLE), first | 0x400)
        .unwrap();
    storage
        .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + 8), second | 0x400)
        .unwrap();
    let controls = Controls {
        cr0: Cr0::EDAT,
        facilities: Facilities::EDAT1,
        ..controls()
    };
    (storage, controls)
}

#[test]
fn two_contiguous_aligned_segment_frames_map_as_one_2m_page() {
    let (mut storage, controls) = segment_frames(0x20_0000, 0x30_0000);
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(Config::default());

    pager
        .resolve_fault(
            &mut host,
            &mut storage,
            &controls,
            request(0x1_2345, AccessKind::Write),
        )
        .unwrap();

    let mapping = Mapping {
        logical: LogicalAddress::new(0),
        frame: AbsoluteAddress::new(0x20_0000),
        size: HostPageSize::Size2M,
        perms: HostPerms::READ | HostPerms::WRITE,
        track_stores: false,
    };
    assert_eq!(take(&log), [Order::Create(1), Order::Map(1, mapping)]);
}

#[test]
fn segment_frames_that_are_not_contiguous_map_as_4k_pages() {
    let (mut storage, controls) = segment_frames(0x20_0000, 0x10_0000);
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());

    read_in(&mut pager, &mut host, &mut storage, &controls, &[0x1_2345]);

    assert_eq!(
        take(&log),
        [
            Order::Create(1),
            Order::Map(
                1,
                page(0x1_2000, 0x21_2000, HostPerms::READ | HostPerms::WRITE)
            )
        ]
    );
}

#[test]
fn a_key_change_inside_a_large_mapping_demotes_it() {
    let (mut storage, controls) = segment_frames(0x20_0000, 0x30_0000);
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(no_around());
    read_in(&mut pager, &mut host, &mut storage, &controls, &[0x1_2345]);
    take(&log);

    let inv = invalidate::sske(
        &mut storage,
        Prefix::default(),
        RealAddress::new(0x38_0000),
        0,
    )
    .unwrap();
    inv.apply(|inv| pager.invalidate(&mut host, inv));
    read_in(&mut pager, &mut host, &mut storage, &controls, &[0x1_2345]);

    assert_eq!(
        take(&log),
        [
            Order::Unmap(1, 0, HostPageSize::Size2M),
            Order::Flush(1, FlushScope::Page(LogicalAddress::new(0))),
            Order::Map(
                1,
                page(0x1_2000, 0x21_2000, HostPerms::READ | HostPerms::WRITE)
            ),
        ]
    );
}

#[test]
fn fault_around_maps_referenced_neighbours_up_to_the_first_unreferenced_one() {
    // Window 0x0-0x3fff: page 0 referenced, the faulting page 1, page 2 not
    // referenced (the scan ends there), page 3 referenced.
    let mut storage = storage(StorageKey::C);
    for frame in [0x10_0000, 0x10_3000] {
        storage
            .set_key(AbsoluteAddress::new(frame), StorageKey::new(RC))
            .unwrap();
    }
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(Config {
        fault_around: 4,
        ..Config::default()
    });

    read_in(&mut pager, &mut host, &mut storage, &controls(), &[0x1000]);

    let rw = HostPerms::READ | HostPerms::WRITE;
    assert_eq!(
        take(&log),
        [
            Order::Create(1),
            Order::Map(1, page(0x1000, 0x10_1000, rw)),
            Order::Map(1, page(0x0, 0x10_0000, rw))
        ]
    );
    assert_eq!(pager.stats().around, 1);
}

#[test]
fn speculative_reference_recording_maps_the_whole_window_and_sets_r() {
    let mut storage = storage(0);
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(Config {
        fault_around: 4,
        speculative_reference: true,
        ..Config::default()
    });

    read_in(&mut pager, &mut host, &mut storage, &controls(), &[0x1000]);

    assert_eq!(take(&log).len(), 5);
    assert!(storage
        .key(AbsoluteAddress::new(0x10_3000))
        .unwrap()
        .referenced());
    assert!(!storage
        .key(AbsoluteAddress::new(0x10_4000))
        .unwrap()
        .referenced());
}

/// Sparse storage with a default key, for frames beyond what a test can allocate.
#[derive(Debug)]
struct Sparse {
    size: u64,
    words: BTreeMap<u64, u64>,
    keys: BTreeMap<u64, StorageKey>,
    default_key: StorageKey,
}

impl Storage for Sparse {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_u64(&self, address: AbsoluteAddress) -> Option<u64> {
        self.contains(address)
            .then(|| self.words.get(&address.value()).copied().unwrap_or(0))
    }
    fn write_u64(&mut self, address: AbsoluteAddress, value: u64) -> Option<()> {
        self.contains(address).then(|| {
            self.words.insert(address.value(), value);
        })
    }
    fn read(&self, _: AbsoluteAddress, _: &mut [u8]) -> Option<()> {
        None
    }
    fn write(&mut self, _: AbsoluteAddress, _: &[u8]) -> Option<()> {
        None
    }
    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
        self.contains(address).then(|| {
            self.keys
                .get(&address.page().value())
                .copied()
                .unwrap_or(self.default_key)
        })
    }
    fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
        self.contains(address).then(|| {
            self.keys.insert(address.page().value(), key);
        })
    }
}

#[test]
fn a_2g_region_frame_maps_as_1g_pages() {
    // A region-third table at 0x1000 whose entry 1 is the 2 GiB frame at 4 GiB.
    let mut storage = Sparse {
        size: 6 << 30,
        words: BTreeMap::new(),
        keys: BTreeMap::new(),
        default_key: StorageKey::new(RC),
    };
    storage
        .write_u64(AbsoluteAddress::new(0x1008), (4 << 30) | 0x400 | (1 << 2))
        .unwrap();
    let controls = Controls {
        cr0: Cr0::EDAT,
        cr1: Asce::new(0x1000 | (1 << 2)),
        facilities: Facilities::EDAT1 | Facilities::EDAT2,
        ..Controls::default()
    };
    let (mut host, log) = recording_host();
    let mut pager = ShadowPager::new(Config::default());

    read_in(
        &mut pager,
        &mut host,
        &mut storage,
        &controls,
        &[0xC000_1234],
    );

    let mapping = Mapping {
        logical: LogicalAddress::new(0xC000_0000),
        frame: AbsoluteAddress::new((4 << 30) + (1 << 30)),
        size: HostPageSize::Size1G,
        perms: HostPerms::READ | HostPerms::WRITE,
        track_stores: false,
    };
    assert_eq!(take(&log), [Order::Create(1), Order::Map(1, mapping)]);
}

/// The tag of the primary-space data root of `controls()` with key 0.
fn data_tag() -> RootTag {
    RootTag::for_request(&controls(), &request(0, AccessKind::Read)).unwrap()
}

/// `pager.adopt` of the 4 KiB mapping of `logical` to `frame` with
/// `perms` in the data root of `controls()`.
fn adopt(
    pager: &mut ShadowPager<MockHost>,
    host: &mut MockHost,
    storage: &OwnedStorage,
    logical: u64,
    frame: u64,
    perms: HostPerms,
) -> bool {
    let mapping = page(logical, frame, perms);
    pager.adopt(host, storage, &controls(), data_tag(), mapping)
}

#[test]
fn a_mapping_made_elsewhere_is_kept_where_the_tables_translate_it_and_goes_with_its_ipte() {
    let (mut host, log, mut pager, mut storage) = pager_after_reads(RC, &[0x5000]);

    let kept = adopt(
        &mut pager,
        &mut host,
        &storage,
        0x7000,
        0x10_7000,
        HostPerms::READ,
    );

    assert!(kept);
    assert_eq!(take(&log), []);
    assert_eq!(pager.stats().adopted, 1);
    assert_eq!(
        pager.real_address(data_tag(), LogicalAddress::new(0x7010)),
        Some(RealAddress::new(0x10_7010))
    );
    let inv = invalidate::ipte(&mut storage, PAGE_TABLE, 0x7000, 0).unwrap();
    inv.apply(|inv| pager.invalidate(&mut host, inv));
    assert_eq!(
        take(&log),
        [
            Order::Unmap(1, 0x7000, HostPageSize::Size4K),
            Order::Flush(1, FlushScope::Page(LogicalAddress::new(0x7000)))
        ]
    );
}

#[test]
fn a_mapping_made_elsewhere_to_a_frame_the_tables_do_not_give_is_removed() {
    let (mut host, log, mut pager, storage) = pager_after_reads(RC, &[0x5000]);

    let kept = adopt(
        &mut pager,
        &mut host,
        &storage,
        0x7000,
        0x10_8000,
        HostPerms::READ,
    );

    assert!(!kept);
    assert_eq!(
        take(&log),
        [
            Order::Unmap(1, 0x7000, HostPageSize::Size4K),
            Order::Flush(1, FlushScope::Page(LogicalAddress::new(0x7000)))
        ]
    );
    assert_eq!(pager.stats().disowned, 1);
    assert_eq!(
        pager.real_address(data_tag(), LogicalAddress::new(0x7000)),
        None
    );
}

#[test]
fn a_writable_mapping_made_elsewhere_needs_the_change_bit_and_no_dat_protection() {
    let rw = HostPerms::READ | HostPerms::WRITE;
    // R alone: a store would have to record C, which no fault would.
    let (mut host, log, mut pager, mut storage) = pager_after_reads(StorageKey::R, &[0x5000]);
    assert!(!adopt(
        &mut pager, &mut host, &storage, 0x7000, 0x10_7000, rw
    ));
    assert_eq!(take(&log).len(), 2);
    // R and C: kept.
    storage
        .set_key(AbsoluteAddress::new(0x10_7000), StorageKey::new(RC))
        .unwrap();
    assert!(adopt(
        &mut pager, &mut host, &storage, 0x7000, 0x10_7000, rw
    ));
    // DAT protection refuses stores: removed.
    storage
        .write_u64(AbsoluteAddress::new(PAGE_TABLE + 8 * 8), 0x10_8000 | 0x200)
        .unwrap();
    storage
        .set_key(AbsoluteAddress::new(0x10_8000), StorageKey::new(RC))
        .unwrap();
    take(&log);
    assert!(!adopt(
        &mut pager, &mut host, &storage, 0x8000, 0x10_8000, rw
    ));
    assert_eq!(take(&log).len(), 2);
}

#[test]
fn a_mapping_made_elsewhere_of_a_frame_whose_reference_bit_is_zero_is_removed() {
    let (mut host, log, mut pager, storage) = pager_after_reads(0, &[0x5000]);

    assert!(!adopt(
        &mut pager,
        &mut host,
        &storage,
        0x7000,
        0x10_7000,
        HostPerms::READ
    ));
    assert_eq!(take(&log).len(), 2);
}
