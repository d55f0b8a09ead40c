//! The shadow pager on hv-mock: faults resolved per second, memory
//! references per two-dimensional walk, and what fault-around and large
//! frames save on a sequential first touch of 64 MiB.
//!
//! `cargo bench -p zmmu-hv-mock --bench shadow`. Before the timings it prints
//! one line per configuration with the counts (faults, mappings, walks).
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use zmmu_hv_mock::pagetable::Kind;
use zmmu_hv_mock::MockHost;
use zmmu_mmu::host::{HostPageSize, HostPaging, HostPerms, Mapping};
use zmmu_mmu::prelude::*;
use zmmu_mmu::shadow::{Config, Engine};

/// The touched range.
const SPAN: u64 = 64 << 20;
/// Where the touched frames start in absolute storage.
const FRAMES: u64 = 64 << 20;
const STORAGE: u64 = FRAMES + SPAN;
const SEGMENT_TABLE: u64 = 0x1_0000;
const PAGE_TABLES: u64 = 0x2_0000;

/// Guest tables that map logical `[0, SPAN)` linearly onto the frames at
/// `FRAMES`: with page tables, or (`large`) with EDAT-1 1 MiB segment
/// frames. `referenced` presets R in every key (a guest that has touched
/// its memory before, or whose keys were initialized with R).
fn machine(large: bool, referenced: bool) -> (OwnedStorage, Controls) {
    let mut storage = OwnedStorage::new(STORAGE as usize);
    for segment in 0..SPAN >> 20 {
        let entry = if large {
            (FRAMES + (segment << 20)) | 0x400
        } else {
            PAGE_TABLES + segment * 0x800
        };
        storage
            .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + segment * 8), entry)
            .unwrap();
    }
    for segment in SPAN >> 20..2048 {
        storage
            .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + segment * 8), 0x20)
            .unwrap();
    }
    for page in 0..SPAN >> 12 {
        storage
            .write_u64(
                AbsoluteAddress::new(PAGE_TABLES + page * 8),
                FRAMES + (page << 12),
            )
            .unwrap();
    }
    if referenced {
        for frame in (FRAMES..STORAGE).step_by(4096) {
            storage
                .set_key(AbsoluteAddress::new(frame), StorageKey::new(StorageKey::R))
                .unwrap();
        }
    }
    let controls = Controls {
        cr0: Cr0::EDAT,
        cr1: Asce::new(SEGMENT_TABLE | 3),
        facilities: Facilities::EDAT1,
        ..Controls::default()
    };
    (storage, controls)
}

/// Accesses the first byte of every page of the span in order.
fn touch(
    engine: &mut Engine<MockHost>,
    storage: &mut OwnedStorage,
    controls: &Controls,
    kind: AccessKind,
) {
    for page in (0..SPAN).step_by(4096) {
        let request = Request {
            address: LogicalAddress::new(page),
            space: AddressSpace::Primary,
            kind,
            key: 0,
        };
        black_box(engine.access(storage, controls, request).unwrap());
    }
}

struct Case {
    name: &'static str,
    config: Config,
    large: bool,
    referenced: bool,
}

fn cases() -> Vec<Case> {
    let base = Config {
        fault_around: 0,
        largest: HostPageSize::Size4K,
        ..Config::default()
    };
    let around = Config {
        fault_around: 16,
        ..base
    };
    vec![
        Case {
            name: "4k",
            config: base,
            large: false,
            referenced: false,
        },
        Case {
            name: "4k+around16",
            config: around,
            large: false,
            referenced: false,
        },
        Case {
            name: "4k+around16+speculative_r",
            config: Config {
                speculative_reference: true,
                ..around
            },
            large: false,
            referenced: false,
        },
        Case {
            name: "4k+around16,r_preset",
            config: around,
            large: false,
            referenced: true,
        },
        Case {
            name: "edat1_as_4k",
            config: base,
            large: true,
            referenced: false,
        },
        Case {
            name: "edat1_2m+speculative_r",
            config: Config {
                largest: HostPageSize::Size2M,
                speculative_reference: true,
                ..base
            },
            large: true,
            referenced: false,
        },
        Case {
            name: "edat1_2m,r_preset",
            config: Config {
                largest: HostPageSize::Size2M,
                ..base
            },
            large: true,
            referenced: true,
        },
    ]
}

/// One untimed pass per case and access kind, printing the counts.
fn summary() {
    println!("first touch of 64 MiB, one access per 4 KiB page (16384 accesses):");
    for kind in [AccessKind::Read, AccessKind::Write] {
        for case in cases() {
            let (mut storage, controls) = machine(case.large, case.referenced);
            let mut engine = Engine::new(MockHost::new(STORAGE), case.config);
            touch(&mut engine, &mut storage, &controls, kind);
            let stats = engine.pager().stats();
            let host = engine.host().counters();
            println!(
                "  {kind:?} {:<28} host faults {:>6}  DAT walks {:>6}  4k maps {:>6} (+{:>6} around)  2m maps {:>3}  upgrades {:>6}  host walks {:>6}  refs/walk {:.1}",
                case.name,
                stats.faults,
                stats.dat_walks,
                stats.mapped_4k,
                stats.around,
                stats.mapped_2m,
                stats.upgraded,
                host.walks,
                host.references_per_walk()
            );
        }
    }
}

fn first_touch(c: &mut Criterion) {
    let mut group = c.benchmark_group("first_touch_64MiB");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(SPAN >> 12));
    for kind in [AccessKind::Read, AccessKind::Write] {
        for case in cases() {
            group.bench_function(format!("{kind:?}/{}", case.name), |b| {
                b.iter_batched(
                    || {
                        (
                            machine(case.large, case.referenced),
                            Engine::new(MockHost::new(STORAGE), case.config),
                        )
                    },
                    |((mut storage, controls), mut engine)| {
                        touch(&mut engine, &mut storage, &controls, kind)
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

/// One two-dimensional walk: loads that always miss a one-entry TLB.
fn walk(c: &mut Criterion) {
    let mut host = MockHost::with_tlb(STORAGE, 1);
    let root = host.create_root().unwrap();
    for page in 0..512u64 {
        let mapping = Mapping {
            logical: LogicalAddress::new(page << 12),
            frame: AbsoluteAddress::new(FRAMES + (page << 12)),
            size: HostPageSize::Size4K,
            perms: HostPerms::READ,
            track_stores: false,
        };
        host.map(root, mapping).unwrap();
    }
    let mut page = 0u64;
    c.bench_function("two_dimensional_walk_4k", |b| {
        b.iter(|| {
            page = (page + 1) & 511;
            black_box(
                host.load(root, LogicalAddress::new(page << 12), Kind::Read)
                    .unwrap(),
            )
        })
    });
    println!(
        "memory references per two-dimensional walk: {:.2}",
        host.counters().references_per_walk()
    );
}

/// Storage of 4 GiB whose bytes exist only below 64 KiB (the tables) but
/// whose 1048576 keys are an array, as in real storage: what the uniformity
/// check of a 1 GiB mapping reads.
#[derive(Debug)]
struct KeyedStorage {
    low: OwnedStorage,
    keys: Vec<u8>,
}

impl Storage for KeyedStorage {
    fn size(&self) -> u64 {
        4 << 30
    }
    fn read_u64(&self, address: AbsoluteAddress) -> Option<u64> {
        self.low.read_u64(address)
    }
    fn write_u64(&mut self, address: AbsoluteAddress, value: u64) -> Option<()> {
        self.low.write_u64(address, value)
    }
    fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
        self.low.read(address, buf)
    }
    fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()> {
        self.low.write(address, data)
    }
    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
        self.keys
            .get(usize::try_from(address.value() >> 12).ok()?)
            .map(|k| StorageKey::new(*k))
    }
    fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
        *self
            .keys
            .get_mut(usize::try_from(address.value() >> 12).ok()?)? = key.value();
        Some(())
    }
}

/// One fault in an EDAT-2 2 GiB region frame: the pager checks the 262144
/// keys of the 1 GiB host page and maps it.
fn large_fault(c: &mut Criterion) {
    let mut storage = KeyedStorage {
        low: OwnedStorage::new(1 << 16),
        keys: vec![StorageKey::R | StorageKey::C; 1 << 20],
    };
    // A region-third table at 0x1000 whose entry 1 is the 2 GiB frame at 2 GiB.
    storage
        .write_u64(AbsoluteAddress::new(0x1008), (2 << 30) | 0x400 | (1 << 2))
        .unwrap();
    let controls = Controls {
        cr0: Cr0::EDAT,
        cr1: Asce::new(0x1000 | (1 << 2)),
        facilities: Facilities::EDAT1 | Facilities::EDAT2,
        ..Controls::default()
    };
    let request = Request {
        address: LogicalAddress::new(0x8000_1000),
        space: AddressSpace::Primary,
        kind: AccessKind::Read,
        key: 0,
    };
    for (name, largest) in [
        ("resolve_fault_1g_page", HostPageSize::Size1G),
        ("resolve_fault_2m_page", HostPageSize::Size2M),
    ] {
        let config = Config {
            largest,
            fault_around: 0,
            ..Config::default()
        };
        c.bench_function(name, |b| {
            b.iter_batched(
                || Engine::new(MockHost::new(4 << 30), config),
                |mut engine| black_box(engine.access(&mut storage, &controls, request).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
}

fn main() {
    summary();
    let mut criterion = Criterion::default().configure_from_args();
    first_touch(&mut criterion);
    walk(&mut criterion);
    large_fault(&mut criterion);
    criterion.final_summary();
}
