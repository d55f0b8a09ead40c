//! The flush protocol, measured on this hypervisor: a narrowed or removed
//! mapping is seen by the vCPU before it runs again, through the guest's
//! own table writes and INVLPG/CR3 loads.
#![forbid(unsafe_code)]

mod common;

use zmmu_hv_kvm::{AccessWidth, GuestStorage, KvmHost, KvmRoot, Operation, PageFault};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::host::{FlushScope, HostPageSize, HostPaging, HostPerms, Mapping};
use zmmu_mmu::storage::Storage;

const L: u64 = 0x10_0000;

fn mapping(logical: u64, frame: u64, perms: HostPerms) -> Mapping {
    Mapping {
        logical: LogicalAddress::new(logical),
        frame: AbsoluteAddress::new(frame),
        size: HostPageSize::Size4K,
        perms,
        track_stores: false,
    }
}

const RW: HostPerms = HostPerms::READ.union(HostPerms::WRITE);

/// A VM over 4 MiB whose frame 0x2_0000 starts with 0xAA and frame 0x3_0000
/// with 0xBB, or `None` (SKIP printed).
fn host_with_marked_frames() -> Option<(KvmHost, GuestStorage)> {
    let (host, mut storage) = common::host_or_skip(4 << 20, 4 << 20)?;
    for (frame, byte) in [(0x2_0000, 0xAA), (0x3_0000, 0xBB)] {
        storage.write(AbsoluteAddress::new(frame), &[byte]).unwrap();
    }
    Some((host, storage))
}

/// A new active root in which `L` maps read-write to `frame`.
fn active_root_mapping_l(host: &mut KvmHost, frame: u64) -> KvmRoot {
    let root = host.create_root().unwrap();
    host.activate(root).unwrap();
    host.map(root, mapping(L, frame, RW)).unwrap();
    root
}

/// What the vCPU reads at byte `L`.
fn read_l(host: &mut KvmHost) -> Result<u64, PageFault> {
    host.run_raw(&[Operation::read(L, AccessWidth::Byte)])
        .unwrap()[0]
}

/// Removes the 4 KiB mapping of `L` from `root` and flushes that page.
fn unmap_l_and_flush_page(host: &mut KvmHost, root: KvmRoot) {
    host.unmap(root, LogicalAddress::new(L), HostPageSize::Size4K);
    host.flush(root, FlushScope::Page(LogicalAddress::new(L)));
}

#[test]
fn removed_mapping_faults_after_flush() {
    let Some((mut host, _storage)) = host_with_marked_frames() else {
        return;
    };
    let root = active_root_mapping_l(&mut host, 0x2_0000);
    assert_eq!(read_l(&mut host), Ok(0xAA));
    unmap_l_and_flush_page(&mut host, root);
    assert!(read_l(&mut host).is_err());
}

#[test]
fn remapped_page_reads_the_new_frame() {
    let Some((mut host, _storage)) = host_with_marked_frames() else {
        return;
    };
    let root = active_root_mapping_l(&mut host, 0x2_0000);
    assert_eq!(read_l(&mut host), Ok(0xAA));
    unmap_l_and_flush_page(&mut host, root);
    host.map(root, mapping(L, 0x3_0000, RW)).unwrap();
    assert_eq!(read_l(&mut host), Ok(0xBB));
}

#[test]
fn write_protected_page_refuses_stores_after_flush() {
    let Some((mut host, _storage)) = common::host_or_skip(4 << 20, 4 << 20) else {
        return;
    };
    let root = active_root_mapping_l(&mut host, 0x2_0000);
    assert!(host
        .run_raw(&[Operation::write(L, AccessWidth::Byte, 1)])
        .unwrap()[0]
        .is_ok());
    host.protect(
        root,
        LogicalAddress::new(L),
        HostPageSize::Size4K,
        HostPerms::READ,
    );
    host.flush(root, FlushScope::Page(LogicalAddress::new(L)));
    let out = host
        .run_raw(&[
            Operation::write(L, AccessWidth::Byte, 2),
            Operation::read(L, AccessWidth::Byte),
        ])
        .unwrap();
    let fault = out[0].expect_err("store to a read-only page");
    assert!(fault.is_write() && fault.error_code & 1 != 0, "{fault:?}");
    assert_eq!(out[1], Ok(1));
}

#[test]
fn cleared_root_faults_everywhere_and_roots_switch() {
    let Some((mut host, _storage)) = host_with_marked_frames() else {
        return;
    };
    let a = host.create_root().unwrap();
    let b = host.create_root().unwrap();
    host.map(a, mapping(L, 0x2_0000, RW)).unwrap();
    host.map(b, mapping(L, 0x3_0000, RW)).unwrap();
    for _ in 0..3 {
        host.activate(a).unwrap();
        assert_eq!(read_l(&mut host), Ok(0xAA));
        host.activate(b).unwrap();
        assert_eq!(read_l(&mut host), Ok(0xBB));
    }
    host.clear(a);
    host.flush(a, FlushScope::All);
    host.activate(a).unwrap();
    assert!(read_l(&mut host).is_err());
    host.activate(b).unwrap();
    assert_eq!(read_l(&mut host), Ok(0xBB));
}

/// The reason behind the guest-side table writes: with them switched off,
/// does this hypervisor still see a removed mapping? Printed, not asserted
/// (on EPT/NPT it does; on a shadow-paging hypervisor it may not).
#[test]
fn host_only_table_writes_observation() {
    let Some((mut host, _storage)) = host_with_marked_frames() else {
        return;
    };
    host.paging_mut().set_guest_table_writes(false);
    let root = active_root_mapping_l(&mut host, 0x2_0000);
    assert_eq!(read_l(&mut host), Ok(0xAA));
    // Remove, INVLPG in the guest, then look.
    unmap_l_and_flush_page(&mut host, root);
    let after_invlpg = read_l(&mut host);
    // Remove, reload CR3, then look.
    host.map(root, mapping(L, 0x3_0000, RW)).unwrap();
    let _ = host
        .run_raw(&[Operation::read(L, AccessWidth::Byte)])
        .unwrap();
    host.unmap(root, LogicalAddress::new(L), HostPageSize::Size4K);
    host.flush(root, FlushScope::All);
    let after_reload = read_l(&mut host);
    eprintln!(
        "host-only table writes: read after unmap+INVLPG = {after_invlpg:x?}, after unmap+CR3 reload = {after_reload:x?} \
         (a value is a stale translation)"
    );
}

#[test]
fn pool_purges_keep_translations_right() {
    // A 1 MiB pool: 256 table pages, so clearing and remapping 64 pages in
    // 64 different 2 MiB regions (a table each) forces purges.
    let Some((mut host, mut storage)) = common::host_or_skip(4 << 20, 1 << 20) else {
        return;
    };
    for i in 0..64u64 {
        storage
            .write(AbsoluteAddress::new(i * 0x1000), &[i as u8])
            .unwrap();
    }
    let root = host.create_root().unwrap();
    host.activate(root).unwrap();
    for round in 0..8u64 {
        for i in 0..64u64 {
            let frame = ((i + round) % 64) * 0x1000;
            host.map(root, mapping(i << 21, frame, RW)).unwrap();
        }
        let ops: Vec<Operation> = (0..64u64)
            .map(|i| Operation::read(i << 21, AccessWidth::Byte))
            .collect();
        let out = host.run_raw(&ops).unwrap();
        for (i, got) in out.iter().enumerate() {
            assert_eq!(*got, Ok((i as u64 + round) % 64), "round {round} page {i}");
        }
        host.clear(root);
        host.flush(root, FlushScope::All);
    }
    assert!(
        host.paging().stats().pool.purges > 0,
        "{:?}",
        host.paging().stats()
    );
}

/// The 2 MiB page of logical `LARGE` over absolute 0: its frame 0x2_0000
/// marked as holding translated code, 0x3_0000 data.
const LARGE: u64 = 0x20_0000;

fn large_mapping() -> Mapping {
    Mapping {
        size: HostPageSize::Size2M,
        ..mapping(LARGE, 0, RW)
    }
}

/// Through the large mapping, a store into the data frame goes through and
/// one into the code frame faults, changing nothing.
fn writable_but_for_the_code_frame(host: &mut KvmHost, storage: &GuestStorage) {
    let data = host
        .run_raw(&[Operation::write(LARGE + 0x3_0000, AccessWidth::Byte, 0xCC)])
        .unwrap()[0];
    assert!(data.is_ok(), "{data:?}");
    let code = host
        .run_raw(&[Operation::write(LARGE + 0x2_0000, AccessWidth::Byte, 1)])
        .unwrap()[0];
    assert!(code.is_err(), "a store into the code frame went through");
    for (frame, byte) in [(0x2_0000, 0xAA), (0x3_0000, 0xCC)] {
        let mut got = [0u8];
        storage.read(AbsoluteAddress::new(frame), &mut got).unwrap();
        assert_eq!(got, [byte], "frame {frame:#x}");
    }
}

/// A 2 MiB mapping over a frame that holds translated code stays writable
/// but for that frame (so that the code's blocks go first).
#[test]
fn a_large_mapping_over_a_code_frame_is_writable_but_for_it() {
    let Some((mut host, storage)) = host_with_marked_frames() else {
        return;
    };
    host.paging_mut()
        .set_code_frame(AbsoluteAddress::new(0x2_0000), true);
    let root = host.create_root().unwrap();
    host.activate(root).unwrap();
    host.map(root, large_mapping()).unwrap();
    writable_but_for_the_code_frame(&mut host, &storage);
}

/// A writable 2 MiB mapping made before one of its frames held translated
/// code, given again (what `ShadowPager::remap_frame` does when a block is
/// translated from the frame) and the frame's page flushed: writable but
/// for that frame.
#[test]
fn a_large_mapping_given_again_after_a_frame_became_code_is_writable_but_for_it() {
    let Some((mut host, storage)) = host_with_marked_frames() else {
        return;
    };
    let root = host.create_root().unwrap();
    host.activate(root).unwrap();
    host.map(root, large_mapping()).unwrap();
    let before = host
        .run_raw(&[Operation::read(LARGE + 0x2_0000, AccessWidth::Byte)])
        .unwrap()[0];
    assert_eq!(before, Ok(0xAA));
    host.paging_mut()
        .set_code_frame(AbsoluteAddress::new(0x2_0000), true);
    host.map(root, large_mapping()).unwrap();
    host.flush(
        root,
        FlushScope::Page(LogicalAddress::new(LARGE + 0x2_0000)),
    );
    writable_but_for_the_code_frame(&mut host, &storage);
}
