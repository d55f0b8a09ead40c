//! Where the time of a forwarded page fault goes: runs a sequential store
//! pass over 16 MiB mapped with 4 KiB pages, one fault per page (no
//! fault-around), and splits the wall time into time inside `KVM_RUN` and
//! time resolving on the host. `cargo run --release --example fault_cost`.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::time::Instant;

use zmmu_hv_kvm::{BatchEngine, Context, EngineConfig, GuestStorage, KvmError, Pattern};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::control::{AddressSpace, Controls};
use zmmu_mmu::host::HostPageSize;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::prelude::Asce;
use zmmu_mmu::shadow;
use zmmu_mmu::storage::Storage;

/// The bytes the store pass covers, from logical 16 MiB on.
const SIZE: u64 = 16 << 20;

/// One sequential store pass over [`SIZE`] bytes from logical 16 MiB, which
/// must not fault to the guest.
fn store_pass(engine: &mut BatchEngine, context: &Context) -> Result<(), KvmError> {
    engine
        .run_pattern(
            context,
            Pattern::Sequential,
            true,
            LogicalAddress::new(16 << 20),
            SIZE,
            SIZE / 8,
            0,
        )?
        .unwrap();
    Ok(())
}

fn main() -> Result<(), KvmError> {
    if std::env::args().any(|a| a == "--round-trips") {
        return round_trips();
    }
    let mut storage = GuestStorage::new(32 << 20, false)?;
    storage.memory().populate();
    // Segments 16..32 (logical 16-32 MiB) -> frames 16-32 MiB, 4 KiB pages.
    for s in 0..16u64 {
        let pt = 0x10_0000 + s * 0x800;
        for i in 0..256 {
            storage
                .write_u64(
                    AbsoluteAddress::new(pt + i * 8),
                    (16 << 20) + s * (1 << 20) + i * 4096,
                )
                .unwrap();
        }
        storage
            .write_u64(AbsoluteAddress::new(0x1000 + (16 + s) * 8), pt)
            .unwrap();
    }
    storage.fill_keys(StorageKey::new(StorageKey::R | StorageKey::C));
    let context = Context {
        controls: Controls {
            cr1: Asce::new(0x1000),
            ..Controls::default()
        },
        space: AddressSpace::Primary,
        key: 0,
    };
    for around in [1u16, 16, 512] {
        let mut storage2 = GuestStorage::new(32 << 20, false)?;
        let mut bytes = vec![0u8; 32 << 20];
        storage.read(AbsoluteAddress::new(0), &mut bytes).unwrap();
        storage2.write(AbsoluteAddress::new(0), &bytes).unwrap();
        storage2.fill_keys(StorageKey::new(StorageKey::R | StorageKey::C));
        storage2.memory().populate();
        let shadow = shadow::Config {
            fault_around: around,
            largest: HostPageSize::Size4K,
            ..shadow::Config::default()
        };
        let mut engine = match BatchEngine::new(
            storage2,
            EngineConfig {
                shadow,
                ..EngineConfig::default()
            },
        ) {
            Ok(e) => e,
            Err(e) if e.is_unavailable() => {
                eprintln!("SKIP: {e}");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let t = Instant::now();
        store_pass(&mut engine, &context)?;
        let wall = t.elapsed().as_nanos() as f64;
        let s = engine.host().stats();
        let pages = (SIZE / 4096) as f64;
        println!(
            "fault-around {around:3}: {:.1} us/page wall, {} faults, {:.1} us/fault in KVM_RUN, {:.1} us/fault resolving",
            wall / pages / 1e3,
            s.faults,
            s.vcpu_ns as f64 / s.faults as f64 / 1e3,
            s.resolve_ns as f64 / s.faults as f64 / 1e3
        );
        // A second pass: every page mapped, nothing faults.
        let t = Instant::now();
        store_pass(&mut engine, &context)?;
        println!("   second pass: {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(())
}

/// Round trips without resolution: an empty run, and faults answered at once.
#[allow(dead_code)]
pub fn round_trips() -> Result<(), KvmError> {
    use zmmu_hv_kvm::{AccessWidth, KvmConfig, KvmHost, Operation};
    use zmmu_mmu::host::HostPaging;
    let storage = GuestStorage::new(4 << 20, false)?;
    let mut host = KvmHost::new(&storage, KvmConfig::default())?;
    let root = host.create_root()?;
    host.activate(root)?;
    host.run_raw(&[])?;
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        host.run_raw(&[])?;
    }
    println!(
        "empty run: {:.1} us",
        t.elapsed().as_nanos() as f64 / n as f64 / 1e3
    );
    let t = Instant::now();
    for _ in 0..n {
        host.apply_pending()?;
    }
    println!(
        "flush-only run (CPL0 only): {:.1} us",
        t.elapsed().as_nanos() as f64 / n as f64 / 1e3
    );
    let ops: Vec<Operation> = (0..n)
        .map(|i| Operation::read(0x10_0000 + i * 4096, AccessWidth::Byte))
        .collect();
    let t = Instant::now();
    let out = host.run_raw(&ops)?;
    assert!(out.iter().all(|o| o.is_err()));
    println!(
        "fault skipped by the host: {:.1} us",
        t.elapsed().as_nanos() as f64 / n as f64 / 1e3
    );
    let before = vcpu_stats();
    for _ in 0..100 {
        host.run_raw(&[])?;
    }
    let after = vcpu_stats();
    let mut delta: Vec<String> = after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before
                .iter()
                .find(|(b, _)| b == k)
                .map(|(_, v)| *v)
                .unwrap_or(0);
            (d != 0 && !k.contains("_ns") && !k.contains("halt") && !k.contains("hist"))
                .then(|| format!("{k}={d}"))
        })
        .collect();
    delta.sort();
    println!("vcpu stats over 100 empty runs: {}", delta.join(" "));
    Ok(())
}

/// The vCPU's binary statistics (KVM_GET_STATS_FD), summed per name.
fn vcpu_stats() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if !link.to_string_lossy().contains("kvm-vcpu") {
            continue;
        }
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: an ioctl on our own vCPU fd that returns a new fd.
        let sfd = unsafe { libc::ioctl(fd, 0xAECE, 0) };
        if sfd < 0 {
            continue;
        }
        let mut hdr = [0u32; 6];
        // SAFETY: reads into a local buffer of the stated size.
        unsafe { libc::pread(sfd, hdr.as_mut_ptr() as *mut _, 24, 0) };
        let (name_size, num, desc_off, data_off) = (
            hdr[1] as usize,
            hdr[2] as usize,
            hdr[4] as i64,
            hdr[5] as i64,
        );
        let dsz = 16 + name_size;
        let mut buf = vec![0u8; dsz * num];
        // SAFETY: reads into a local buffer of the stated size.
        unsafe { libc::pread(sfd, buf.as_mut_ptr() as *mut _, buf.len(), desc_off) };
        for i in 0..num {
            let d = &buf[i * dsz..(i + 1) * dsz];
            let size = u16::from_le_bytes([d[6], d[7]]) as usize;
            let off = u32::from_le_bytes([d[8], d[9], d[10], d[11]]) as i64;
            let name = String::from_utf8_lossy(d[16..].split(|&c| c == 0).next().unwrap_or(&[]))
                .into_owned();
            let mut v = vec![0u64; size];
            // SAFETY: reads into a local buffer of the stated size.
            unsafe { libc::pread(sfd, v.as_mut_ptr() as *mut _, size * 8, data_off + off) };
            out.push((name, v.iter().sum()));
        }
        // SAFETY: closing the fd we opened.
        unsafe { libc::close(sfd) };
    }
    out
}
