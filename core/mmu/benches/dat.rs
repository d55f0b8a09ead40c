//! Translation cost by table depth and frame size, and the software TLB's
//! hit and miss paths, side by side in one process.
//!
//! `cargo bench -p zmmu-mmu --bench dat`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use zmmu_mmu::access::{self, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::asce::{Asce, Level};
use zmmu_mmu::control::{Controls, Cr0, Facilities};
use zmmu_mmu::entry::TableEntry;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::space::{AddressSpace, AsceSource};
use zmmu_mmu::storage::{OwnedStorage, Storage};
use zmmu_mmu::tlb::{self, Tlb};
use zmmu_mmu::walk::{self, WalkControls};

const STORAGE: usize = 64 << 20;
/// The logical address translated: nonzero indexes at every level.
const ADDRESS: u64 = 0x0040_2010_8030_5123;

/// Builds tables from `top` down to the leaf for `ADDRESS` (and the 255
/// pages after it), ending in a frame of the given level (`Level::Page`
/// for 4 KiB, `Segment` for 1 MiB, `RegionThird` for 2 GiB). Returns the
/// storage and the ASCE.
fn tables(top: Level, leaf: Level) -> (OwnedStorage, Asce) {
    let mut storage = OwnedStorage::new(STORAGE);
    let mut next_table = 0x10_0000u64;
    let mut alloc = |bytes: u64| {
        let at = next_table;
        next_table += bytes.max(0x1000);
        at
    };
    let address = masked(top);
    let origin = alloc(0x4000);
    let asce = Asce::new(origin | (top.type_code() << 2) | 3);
    let mut table = origin;
    let mut level = top;
    loop {
        let at = AbsoluteAddress::new(table + level.index(address) * 8);
        if level == leaf {
            // A 1 MiB frame at 32 MiB, or the 2 GiB frame at 0.
            let entry = match leaf {
                Level::Segment => 0x200_0000 | TableEntry::FC,
                _ => TableEntry::FC | (Level::RegionThird.type_code() << 2),
            };
            storage.write_u64(at, entry).unwrap();
            break;
        }
        if level == Level::Segment {
            // Two segments share one page table, so that pages 1 MiB apart
            // exist (they collide in the software TLB).
            let pt = alloc(0x800);
            storage.write_u64(at, pt).unwrap();
            storage
                .write_u64(AbsoluteAddress::new(at.value() + 8), pt)
                .unwrap();
            for page in 0..256 {
                storage
                    .write_u64(
                        AbsoluteAddress::new(pt + page * 8),
                        0x100_0000 + page * 0x1000,
                    )
                    .unwrap();
            }
            break;
        }
        let child = alloc(0x4000);
        storage
            .write_u64(at, child | (level.type_code() << 2) | 3)
            .unwrap();
        table = child;
        level = level.next();
    }
    (storage, asce)
}

fn controls(asce: Asce) -> Controls {
    Controls {
        cr0: Cr0::EDAT,
        cr1: asce,
        facilities: Facilities::EDAT1 | Facilities::EDAT2,
        ..Controls::default()
    }
}

fn masked(top: Level) -> u64 {
    if top == Level::RegionFirst {
        ADDRESS
    } else {
        ADDRESS & ((1 << (top.shift() + 11)) - 1)
    }
}

fn by_depth(c: &mut Criterion) {
    let mut group = c.benchmark_group("walk_4k_by_depth");
    for top in [
        Level::Segment,
        Level::RegionThird,
        Level::RegionSecond,
        Level::RegionFirst,
    ] {
        let (storage, asce) = tables(top, Level::Page);
        let wc = WalkControls::from(&controls(asce));
        let address = masked(top);
        assert!(walk::walk(&storage, asce, address, wc).is_ok());
        group.bench_function(BenchmarkId::from_parameter(format!("{top:?}")), |b| {
            b.iter(|| walk::walk(black_box(&storage), black_box(asce), black_box(address), wc))
        });
    }
    group.finish();
}

fn by_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("access_by_frame_size_region_first");
    for leaf in [Level::Page, Level::Segment, Level::RegionThird] {
        let (storage, asce) = tables(Level::RegionFirst, leaf);
        let controls = controls(asce);
        let request = Request {
            address: LogicalAddress::new(ADDRESS),
            space: AddressSpace::Primary,
            kind: AccessKind::Read,
            key: 0,
        };
        assert!(
            access::check(&storage, &controls, request).is_ok(),
            "{leaf:?}"
        );
        let name = match leaf {
            Level::Page => "4KiB",
            Level::Segment => "1MiB",
            _ => "2GiB",
        };
        group.bench_function(name, |b| {
            b.iter(|| access::check(black_box(&storage), &controls, black_box(request)))
        });
    }
    group.finish();
}

fn tlb(c: &mut Criterion) {
    let mut group = c.benchmark_group("soft_tlb");
    let (mut storage, asce) = tables(Level::RegionFirst, Level::Page);
    let controls = controls(asce);
    let mut tlb = Tlb::new(&controls);
    let request = Request {
        address: LogicalAddress::new(ADDRESS),
        space: AddressSpace::Primary,
        kind: AccessKind::Read,
        key: 0,
    };
    tlb.access(&mut storage, request).unwrap();
    group.bench_function("hit_lookup", |b| {
        let partition = tlb::partition_index(Some(AsceSource::Primary));
        b.iter(|| {
            tlb.lookup(
                black_box(partition),
                black_box(ADDRESS),
                AccessKind::Read,
                0,
            )
        })
    });
    group.bench_function("hit_access", |b| {
        b.iter(|| tlb.access(&mut storage, black_box(request)))
    });
    // Pages 256 apart share a TLB slot: alternating between two always misses.
    let other = Request {
        address: LogicalAddress::new(ADDRESS + (1 << 20)),
        ..request
    };
    assert!(!tlb.access(&mut storage, other).unwrap().hit);
    group.bench_function("miss_region_first_4k", |b| {
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            let r = if flip { request } else { other };
            tlb.access(&mut storage, black_box(r))
        })
    });
    group.finish();
}

criterion_group!(benches, by_depth, by_frame, tlb);
criterion_main!(benches);
