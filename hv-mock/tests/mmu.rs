//! hv-mock's MMU behaves as x86-64 hardware: bit by bit, walk by walk,
//! flush by flush.
#![forbid(unsafe_code)]

use zmmu_hv_mock::pagetable::{Kind, PageFaultErrorCode};
use zmmu_hv_mock::{MockError, MockHost, MockRoot};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::host::{FlushScope, HostPageSize, HostPaging, HostPerms, Mapping};

const RW: HostPerms = HostPerms::READ.union(HostPerms::WRITE);

fn mapping(logical: u64, frame: u64, size: HostPageSize, perms: HostPerms) -> Mapping {
    Mapping {
        logical: LogicalAddress::new(logical),
        frame: AbsoluteAddress::new(frame),
        size,
        perms,
        track_stores: false,
    }
}

fn at(address: u64) -> LogicalAddress {
    LogicalAddress::new(address)
}

/// A host over `storage` bytes with a new root in which `mapping` is made.
fn host_with_root_mapping(storage: u64, mapping: Mapping) -> (MockHost, MockRoot) {
    let mut host = MockHost::new(storage);
    let root = host.create_root().unwrap();
    host.map(root, mapping).unwrap();
    (host, root)
}

#[test]
fn a_read_only_page_faults_on_store_with_present_and_write_in_the_error_code() {
    let (mut host, root) = host_with_root_mapping(
        16 << 20,
        mapping(0x5000, 0x7000, HostPageSize::Size4K, HostPerms::READ),
    );

    assert_eq!(
        host.load(root, at(0x5123), Kind::Read),
        Ok(AbsoluteAddress::new(0x7123))
    );
    let fault = host.load(root, at(0x5123), Kind::Write).unwrap_err();
    assert_eq!(
        fault.error_code,
        PageFaultErrorCode::USER_MODE
            | PageFaultErrorCode::CAUSED_BY_WRITE
            | PageFaultErrorCode::PROTECTION_VIOLATION
    );
    let missing = host.load(root, at(0x6000), Kind::Read).unwrap_err();
    assert_eq!(missing.error_code, PageFaultErrorCode::USER_MODE);
}

#[test]
fn no_mapping_is_executable() {
    let (mut host, root) = host_with_root_mapping(
        16 << 20,
        mapping(0x20_0000, 0x40_0000, HostPageSize::Size2M, RW),
    );
    assert!(host.load(root, at(0x20_0000), Kind::Execute).is_err());
}

#[test]
fn large_pages_translate_the_offset_inside_them() {
    let (mut host, root) = host_with_root_mapping(
        4 << 30,
        mapping(0x20_0000, 0x40_0000, HostPageSize::Size2M, RW),
    );
    host.map(root, mapping(1 << 30, 2 << 30, HostPageSize::Size1G, RW))
        .unwrap();

    assert_eq!(
        host.load(root, at(0x2F_1234), Kind::Write),
        Ok(AbsoluteAddress::new(0x4F_1234))
    );
    assert_eq!(
        host.load(root, at((1 << 30) + 0x123_4567), Kind::Read),
        Ok(AbsoluteAddress::new((2 << 30) + 0x123_4567))
    );
}

#[test]
fn an_unmapped_page_stays_visible_until_invlpg() {
    let (mut host, root) =
        host_with_root_mapping(16 << 20, mapping(0x5000, 0x7000, HostPageSize::Size4K, RW));
    host.load(root, at(0x5000), Kind::Read).unwrap();

    host.unmap(root, at(0x5000), HostPageSize::Size4K);
    assert_eq!(
        host.load(root, at(0x5000), Kind::Read),
        Ok(AbsoluteAddress::new(0x7000)),
        "the TLB is stale"
    );
    host.flush(root, FlushScope::Page(at(0x5000)));
    assert!(host.load(root, at(0x5000), Kind::Read).is_err());
}

#[test]
fn a_cr3_reload_drops_every_translation_of_the_root_only() {
    let mut host = MockHost::new(16 << 20);
    let (a, b) = (host.create_root().unwrap(), host.create_root().unwrap());
    for root in [a, b] {
        host.map(root, mapping(0x5000, 0x7000, HostPageSize::Size4K, RW))
            .unwrap();
        host.load(root, at(0x5000), Kind::Read).unwrap();
        host.clear(root);
    }
    host.flush(a, FlushScope::All);
    assert!(host.load(a, at(0x5000), Kind::Read).is_err());
    assert!(
        host.load(b, at(0x5000), Kind::Read).is_ok(),
        "root b kept its tagged entry"
    );
}

#[test]
fn protect_narrows_and_an_upgrade_needs_no_flush() {
    let (mut host, root) = host_with_root_mapping(
        16 << 20,
        mapping(0x5000, 0x7000, HostPageSize::Size4K, HostPerms::READ),
    );
    host.load(root, at(0x5000), Kind::Read).unwrap();

    // The stale read-only TLB entry only makes the first store fault.
    host.map(root, mapping(0x5000, 0x7000, HostPageSize::Size4K, RW))
        .unwrap();
    assert!(host.load(root, at(0x5000), Kind::Write).is_err());
    assert!(host.load(root, at(0x5000), Kind::Write).is_ok());

    host.protect(root, at(0x5000), HostPageSize::Size4K, HostPerms::READ);
    host.flush(root, FlushScope::Page(at(0x5000)));
    assert!(host.load(root, at(0x5000), Kind::Write).is_err());
}

#[test]
fn map_refuses_orders_that_would_need_a_flush() {
    let (mut host, root) =
        host_with_root_mapping(16 << 20, mapping(0x5000, 0x7000, HostPageSize::Size4K, RW));

    let other_frame = host.map(root, mapping(0x5000, 0x8000, HostPageSize::Size4K, RW));
    let narrower = host.map(
        root,
        mapping(0x5000, 0x7000, HostPageSize::Size4K, HostPerms::READ),
    );
    let over_it = host.map(root, mapping(0, 0, HostPageSize::Size2M, RW));
    let outside = host.map(root, mapping(0x20_0000, 16 << 20, HostPageSize::Size2M, RW));

    assert_eq!(other_frame, Err(MockError::Occupied(at(0x5000))));
    assert_eq!(narrower, Err(MockError::Occupied(at(0x5000))));
    assert_eq!(over_it, Err(MockError::Occupied(at(0))));
    assert_eq!(
        outside,
        Err(MockError::OutsideStorage(AbsoluteAddress::new(16 << 20)))
    );
}

#[test]
fn accessed_and_dirty_flags_make_a_store_through_a_clean_entry_walk_again() {
    let (mut host, root) =
        host_with_root_mapping(16 << 20, mapping(0x5000, 0x7000, HostPageSize::Size4K, RW));
    host.load(root, at(0x5000), Kind::Read).unwrap();
    host.load(root, at(0x5000), Kind::Read).unwrap();
    host.load(root, at(0x5000), Kind::Write).unwrap();
    host.load(root, at(0x5000), Kind::Write).unwrap();
    let counters = host.counters();
    assert_eq!((counters.walks, counters.tlb_hits), (2, 2));
}

#[test]
fn a_two_dimensional_walk_of_a_4k_page_makes_24_references_with_4k_ept_pages() {
    // Storage that is not a multiple of 2 MiB is mapped by 4 KiB EPT pages.
    let (mut host, root) = host_with_root_mapping(
        0x10_1000,
        mapping(0x10_0000, 0x10_0000, HostPageSize::Size4K, RW),
    );
    host.load(root, at(0x10_0000), Kind::Read).unwrap();
    assert_eq!(host.counters().walk_references, 24);
}

#[test]
fn releasing_a_root_frees_its_tables_and_deactivates_it() {
    let mut host = MockHost::new(16 << 20);
    let root = host.create_root().unwrap();
    host.activate(root).unwrap();
    host.map(root, mapping(0x5000, 0x7000, HostPageSize::Size4K, RW))
        .unwrap();
    assert_eq!(host.table_pages(), 4);

    host.release_root(root);

    assert_eq!((host.table_pages(), host.active()), (0, None));
    assert_eq!(
        host.map(root, mapping(0x5000, 0x7000, HostPageSize::Size4K, RW)),
        Err(MockError::UnknownRoot(root))
    );
}
