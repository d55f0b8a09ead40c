//! Shared test helpers: KVM availability with a visible SKIP.
#![allow(dead_code)]

use zmmu_hv_kvm::{GuestStorage, KvmConfig, KvmError, KvmHost};

/// A VM over new storage, or `None` after printing `SKIP` when KVM is not
/// usable on this machine (and only then).
pub fn host_or_skip(storage_size: u64, pool_size: u64) -> Option<(KvmHost, GuestStorage)> {
    let storage = GuestStorage::new(storage_size, false).expect("host memory");
    match KvmHost::new(
        &storage,
        KvmConfig {
            pool_size,
            ..KvmConfig::default()
        },
    ) {
        Ok(host) => Some((host, storage)),
        Err(e) if e.is_unavailable() => {
            eprintln!("SKIP: {e}");
            None
        }
        Err(e) => panic!("KVM is present but the backend failed: {e}"),
    }
}

/// Whether KVM is usable; prints SKIP otherwise.
pub fn kvm_or_skip() -> bool {
    match zmmu_hv_kvm::vm::available() {
        Ok(()) => true,
        Err(
            e @ (KvmError::DeviceMissing
            | KvmError::PermissionDenied
            | KvmError::Open(_)
            | KvmError::ApiVersion { .. }),
        ) => {
            eprintln!("SKIP: {e}");
            false
        }
        Err(e) => panic!("KVM is present but unusable: {e}"),
    }
}

use zmmu_hv_kvm::{AccessResult, BatchEngine, Context, EngineConfig};
use zmmu_mmu::prelude::*;

/// The segment table of the test address spaces (512 entries: 512 MiB).
pub const SEGMENT_TABLE: u64 = 0x1000;
/// Page tables, 2 KiB each, from here on: the one for segment `s` is at
/// `PAGE_TABLES + s * 0x800`.
pub const PAGE_TABLES: u64 = 0x10_0000;

/// An engine over `size` bytes of zeroed storage, or `None` (SKIP printed).
pub fn engine_or_skip(size: u64, config: EngineConfig) -> Option<BatchEngine> {
    let storage = GuestStorage::new(size, false).expect("host memory");
    match BatchEngine::new(storage, config) {
        Ok(engine) => Some(engine),
        Err(e) if e.is_unavailable() => {
            eprintln!("SKIP: {e}");
            None
        }
        Err(e) => panic!("KVM is present but the backend failed: {e}"),
    }
}

/// Maps logical page `page` (4 KiB units) to `frame` with the extra PTE
/// bits `bits` (0x400 invalid, 0x200 protected), creating its segment's
/// page table.
pub fn map_page<S: Storage + ?Sized>(storage: &mut S, page: u64, frame: u64, bits: u64) {
    let segment = page >> 8;
    let pt = PAGE_TABLES + segment * 0x800;
    storage
        .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + segment * 8), pt)
        .unwrap();
    storage
        .write_u64(AbsoluteAddress::new(pt + (page & 0xFF) * 8), frame | bits)
        .unwrap();
}

/// The program-interruption code of a refused access; panics on success or
/// on a refusal that is not a program interruption.
pub fn code(outcome: AccessResult) -> Code {
    match outcome {
        Err(Fault::Program(e)) => e.code,
        other => panic!("{other:?}"),
    }
}

/// Primary space through [`SEGMENT_TABLE`], key 0, with `cr0`.
pub fn primary(cr0: Cr0, facilities: Facilities) -> Context {
    Context {
        controls: Controls {
            cr0,
            cr1: Asce::new(SEGMENT_TABLE),
            facilities,
            ..Controls::default()
        },
        space: AddressSpace::Primary,
        key: 0,
    }
}
