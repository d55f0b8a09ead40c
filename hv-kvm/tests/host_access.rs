//! `KvmHost` as the core's `HostAccess`: the core's shadow engine (what the
//! conformance runner's `kvm` backend uses) agrees with the DAT walk, and
//! its second access is served by the VM's MMU.
#![forbid(unsafe_code)]

mod common;

use common::{map_page, SEGMENT_TABLE};
use zmmu_hv_kvm::GuestStorage;
use zmmu_mmu::host::HostPageSize;
use zmmu_mmu::prelude::*;
use zmmu_mmu::shadow::{self, Engine, EngineError, ServedBy};

#[test]
fn shadow_engine_on_kvm_agrees_with_the_walk() {
    let Some((host, mut storage)) = common::host_or_skip(8 << 20, 4 << 20) else {
        return;
    };
    let mut reference = OwnedStorage::new(8 << 20);
    for (page, bits) in [(1u64, 0u64), (2, 0x200), (3, 0x400), (4, 0)] {
        map_page(&mut storage, page, 0x40_0000 + page * 0x1000, bits);
        map_page(&mut reference, page, 0x40_0000 + page * 0x1000, bits);
    }
    let controls = Controls {
        cr1: Asce::new(SEGMENT_TABLE),
        ..Controls::default()
    };
    let config = shadow::Config {
        largest: HostPageSize::Size2M,
        ..shadow::Config::default()
    };
    let mut engine = Engine::new(host, config);
    let mut served_by_mmu = 0;
    for page in 1..=4u64 {
        for kind in [
            AccessKind::Read,
            AccessKind::Write,
            AccessKind::InstructionFetch,
        ] {
            let request = Request {
                address: LogicalAddress::new(page * 0x1000 + 0x10),
                space: AddressSpace::Primary,
                kind,
                key: 0,
            };
            let want = access(&mut reference, &controls, request).map(|a| (a.real, a.absolute));
            for _ in 0..2 {
                let got = match engine.access(&mut storage, &controls, request) {
                    Ok(served) => {
                        served_by_mmu += usize::from(served.by == ServedBy::HostMmu);
                        Ok((served.real, served.absolute))
                    }
                    Err(EngineError::Fault(fault)) => Err(fault),
                    Err(other) => panic!(
                        "backend failure: {other:?} {:?}",
                        engine.host_mut().take_error()
                    ),
                };
                assert_eq!(got, want, "page {page} {kind:?}");
            }
        }
    }
    assert!(
        served_by_mmu >= 4,
        "the repeats hit the VM's mapping ({served_by_mmu})"
    );
    for page in 1..=4u64 {
        let a = AbsoluteAddress::new(0x40_0000 + page * 0x1000);
        assert_eq!(storage.key(a), reference.key(a), "key of page {page}");
    }
}

#[test]
fn a_vm_keeps_its_storage_alive() {
    let Some((host, storage)) = common::host_or_skip(4 << 20, 1 << 20) else {
        return;
    };
    assert!(host.maps(&storage));
    let other = GuestStorage::new(4 << 20, false).unwrap();
    assert!(!host.maps(&other));
    drop(storage);
    drop(host);
}
