//! The access engine end to end in a KVM VM: each test is one rule.
#![forbid(unsafe_code)]

mod common;

use common::{code, engine_or_skip, map_page, primary, PAGE_TABLES};
use zmmu_hv_kvm::{software_access, AccessWidth, Context, EngineConfig, Operation};
use zmmu_mmu::invalidate;
use zmmu_mmu::prelude::*;

fn byte_at(engine: &zmmu_hv_kvm::BatchEngine, address: u64) -> u8 {
    let mut b = [0];
    engine
        .storage()
        .read(AbsoluteAddress::new(address), &mut b)
        .unwrap();
    b[0]
}

#[test]
fn loads_and_stores_of_every_width_are_big_endian() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    map_page(engine.storage_mut(), 5, 0x40_0000, 0);
    map_page(engine.storage_mut(), 6, 0x7F_0000, 0);
    let ctx = primary(Cr0::empty(), Facilities::empty());
    let out = engine
        .run(
            &ctx,
            &[
                Operation::write(0x5000, AccessWidth::Byte, 0x11),
                Operation::write(0x5002, AccessWidth::Half, 0x2233),
                Operation::write(0x5004, AccessWidth::Word, 0x4455_6677),
                Operation::write(0x5008, AccessWidth::Double, 0x8899_AABB_CCDD_EEFF),
                Operation::read(0x5000, AccessWidth::Double),
                Operation::read(0x5008, AccessWidth::Word),
                Operation::read(0x5002, AccessWidth::Half),
                // Crosses from page 5 into page 6 (frames far apart).
                Operation::write(0x5FFC, AccessWidth::Double, 0x0102_0304_0506_0708),
                Operation::read(0x5FFE, AccessWidth::Word),
            ],
        )
        .unwrap();
    assert_eq!(out[4], Ok(0x1100_2233_4455_6677));
    assert_eq!(out[5], Ok(0x8899_AABB));
    assert_eq!(out[6], Ok(0x2233));
    assert_eq!(out[8], Ok(0x0304_0506));
    assert_eq!(byte_at(&engine, 0x40_0FFC), 0x01);
    assert_eq!(byte_at(&engine, 0x40_0FFF), 0x04);
    assert_eq!(byte_at(&engine, 0x7F_0000), 0x05);
    assert_eq!(byte_at(&engine, 0x7F_0003), 0x08);
    assert!(engine.stats().hardware >= 9, "{:?}", engine.stats());
    assert!(
        engine.host().stats().faults >= 2,
        "{:?}",
        engine.host().stats()
    );
}

#[test]
fn invalid_page_raises_page_translation_and_the_batch_goes_on() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    map_page(engine.storage_mut(), 5, 0x40_0000, 0);
    map_page(engine.storage_mut(), 9, 0, 0x400);
    let ctx = primary(Cr0::empty(), Facilities::empty());
    let out = engine
        .run(
            &ctx,
            &[
                Operation::read(0x9008, AccessWidth::Double),
                Operation::write(0x5000, AccessWidth::Byte, 7),
            ],
        )
        .unwrap();
    assert_eq!(code(out[0]), Code::PAGE_TRANSLATION);
    assert_eq!(out[1], Ok(7));
    assert_eq!(byte_at(&engine, 0x40_0000), 7);
}

#[test]
fn store_to_a_dat_protected_page_is_refused_and_not_performed() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    map_page(engine.storage_mut(), 5, 0x40_0000, 0x200);
    engine
        .storage_mut()
        .write(AbsoluteAddress::new(0x40_0010), &[0x5A])
        .unwrap();
    let ctx = primary(Cr0::empty(), Facilities::empty());
    let out = engine
        .run(
            &ctx,
            &[
                Operation::read(0x5010, AccessWidth::Byte),
                Operation::write(0x5010, AccessWidth::Byte, 1),
            ],
        )
        .unwrap();
    assert_eq!(out[0], Ok(0x5A));
    assert_eq!(code(out[1]), Code::PROTECTION);
    assert_eq!(byte_at(&engine, 0x40_0010), 0x5A);
}

#[test]
fn reference_and_change_bits_are_recorded_by_the_first_load_and_store() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    map_page(engine.storage_mut(), 5, 0x40_0000, 0);
    let ctx = primary(Cr0::empty(), Facilities::empty());
    let key =
        |e: &zmmu_hv_kvm::BatchEngine| e.storage().key(AbsoluteAddress::new(0x40_0000)).unwrap();
    engine
        .run(&ctx, &[Operation::read(0x5000, AccessWidth::Double)])
        .unwrap();
    assert!(key(&engine).referenced() && !key(&engine).changed());
    // Mapped read-only: the store faults, records C and upgrades the mapping.
    engine
        .run(&ctx, &[Operation::write(0x5008, AccessWidth::Double, 1)])
        .unwrap();
    assert!(key(&engine).changed());
    let faults = engine.host().stats().faults;
    engine
        .run(
            &ctx,
            &[
                Operation::write(0x5010, AccessWidth::Double, 2),
                Operation::read(0x5008, AccessWidth::Double),
            ],
        )
        .unwrap();
    assert_eq!(
        engine.host().stats().faults,
        faults,
        "the upgraded mapping serves without faults"
    );
}

#[test]
fn key_controlled_protection_follows_sske() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    map_page(engine.storage_mut(), 5, 0x40_0000, 0);
    let mut ctx = primary(Cr0::empty(), Facilities::empty());
    ctx.key = 3;
    engine
        .storage_mut()
        .set_key(AbsoluteAddress::new(0x40_0000), StorageKey::new(0x30))
        .unwrap();
    assert_eq!(
        engine
            .run(&ctx, &[Operation::write(0x5000, AccessWidth::Byte, 9)])
            .unwrap()[0],
        Ok(9)
    );
    let prefix = ctx.controls.prefix;
    let inv = invalidate::sske(
        engine.storage_mut(),
        prefix,
        RealAddress::new(0x40_0000),
        0x50,
    )
    .unwrap();
    engine.invalidate(&inv.into_invalidation());
    let out = engine
        .run(
            &ctx,
            &[
                Operation::write(0x5000, AccessWidth::Byte, 10),
                Operation::read(0x5000, AccessWidth::Byte),
            ],
        )
        .unwrap();
    assert_eq!(code(out[0]), Code::PROTECTION);
    assert_eq!(out[1], Ok(9));
}

#[test]
fn ipte_removes_the_translation_from_the_vm() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    map_page(engine.storage_mut(), 5, 0x40_0000, 0);
    let ctx = primary(Cr0::empty(), Facilities::empty());
    assert!(engine
        .run(&ctx, &[Operation::read(0x5000, AccessWidth::Byte)])
        .unwrap()[0]
        .is_ok());
    let inv = invalidate::ipte(engine.storage_mut(), PAGE_TABLES, 0x5000, 0).unwrap();
    engine.invalidate(&inv.into_invalidation());
    let out = engine
        .run(&ctx, &[Operation::read(0x5000, AccessWidth::Byte)])
        .unwrap();
    assert_eq!(code(out[0]), Code::PAGE_TRANSLATION);
}

#[test]
fn low_address_protection_is_enforced_below_the_page_granularity() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    let ctx = Context {
        controls: Controls {
            cr0: Cr0::LOW_ADDRESS_PROTECTION,
            facilities: Facilities::LAP,
            ..Controls::default()
        },
        space: AddressSpace::Real,
        key: 0,
    };
    let out = engine
        .run(
            &ctx,
            &[
                Operation::write(0x100, AccessWidth::Byte, 1),
                Operation::write(0x900, AccessWidth::Byte, 2),
            ],
        )
        .unwrap();
    assert_eq!(code(out[0]), Code::PROTECTION);
    assert_eq!(out[1], Ok(2));
    assert_eq!(byte_at(&engine, 0x900), 2);
    assert_eq!(byte_at(&engine, 0x100), 0);
}

#[test]
fn fetches_and_addresses_above_the_lower_half_take_the_software_path() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    map_page(engine.storage_mut(), 5, 0x40_0000, 0);
    engine
        .storage_mut()
        .write(AbsoluteAddress::new(0x40_0000), &[0x47, 0xF0])
        .unwrap();
    let ctx = primary(Cr0::empty(), Facilities::empty());
    let out = engine
        .run(&ctx, &[Operation::fetch(0x5000, AccessWidth::Half)])
        .unwrap();
    assert_eq!(out[0], Ok(0x47F0));
    let real = Context {
        space: AddressSpace::Real,
        ..ctx
    };
    let out = engine
        .run(&real, &[Operation::read(1 << 50, AccessWidth::Byte)])
        .unwrap();
    assert_eq!(code(out[0]), Code::ADDRESSING);
    assert_eq!(engine.stats().software, 2);
}

#[test]
fn edat1_frame_pairs_map_as_two_megabyte_pages() {
    let Some(mut engine) = engine_or_skip(16 << 20, EngineConfig::default()) else {
        return;
    };
    // Segments 4 and 5 (logical 4-6 MiB) -> 1 MiB frames at 8 and 9 MiB.
    let storage = engine.storage_mut();
    for s in 4..6u64 {
        storage
            .write_u64(AbsoluteAddress::new(0x1000 + s * 8), (s + 4) << 20 | 0x400)
            .unwrap();
    }
    storage.fill_keys(StorageKey::new(StorageKey::R | StorageKey::C));
    storage
        .write_u64(AbsoluteAddress::new(9 << 20 | 0x18), 0xDEAD_BEEF)
        .unwrap();
    let ctx = primary(Cr0::EDAT, Facilities::EDAT1);
    let out = engine
        .run(
            &ctx,
            &[Operation::read(5 << 20 | 0x18, AccessWidth::Double)],
        )
        .unwrap();
    assert_eq!(out[0], Ok(0xDEAD_BEEF));
    assert_eq!(
        engine.pager().stats().mapped_2m,
        1,
        "{:?}",
        engine.pager().stats()
    );
    let faults = engine.host().stats().faults;
    let ops: Vec<Operation> = (0..512)
        .map(|i| Operation::write((4 << 20) + i * 4096, AccessWidth::Double, i))
        .collect();
    assert!(engine.run(&ctx, &ops).unwrap().iter().all(|o| o.is_ok()));
    assert_eq!(
        engine.host().stats().faults,
        faults,
        "one 2 MiB mapping serves the whole range"
    );
}

/// Every outcome and every key equal the core's software path on the same
/// initial state, over a mix of valid, invalid and protected pages.
#[test]
fn batches_agree_with_the_software_path() {
    let Some(mut engine) = engine_or_skip(8 << 20, EngineConfig::default()) else {
        return;
    };
    let mut reference = OwnedStorage::new(8 << 20);
    let mut state = 0x1234_5678_9ABC_DEF0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for page in 0..64u64 {
        let bits = match next() % 8 {
            0 => 0x400,
            1 => 0x200,
            _ => 0,
        };
        let frame = 0x20_0000 + (next() % 1024) * 0x1000;
        map_page(engine.storage_mut(), page, frame, bits);
        map_page(&mut reference, page, frame, bits);
    }
    let ctx = primary(Cr0::empty(), Facilities::empty());
    for round in 0..4 {
        let ops: Vec<Operation> = (0..2000)
            .map(|_| {
                let address = next() % (64 * 4096 + 4096);
                let width = [
                    AccessWidth::Byte,
                    AccessWidth::Half,
                    AccessWidth::Word,
                    AccessWidth::Double,
                ][(next() % 4) as usize];
                if next() % 2 == 0 {
                    Operation::write(address, width, next())
                } else {
                    Operation::read(address, width)
                }
            })
            .collect();
        let got = engine.run(&ctx, &ops).unwrap();
        for (i, op) in ops.iter().enumerate() {
            let want = software_access(&mut reference, &ctx, op);
            assert_eq!(got[i], want, "round {round} op {i}: {op:?}");
        }
    }
    for frame in (0..8u64 << 20).step_by(4096) {
        let a = AbsoluteAddress::new(frame);
        assert_eq!(
            engine.storage().key(a),
            reference.key(a),
            "key of {frame:#x}"
        );
    }
    let mut a = vec![0u8; 8 << 20];
    let mut b = vec![0u8; 8 << 20];
    engine
        .storage()
        .read(AbsoluteAddress::new(0), &mut a)
        .unwrap();
    reference.read(AbsoluteAddress::new(0), &mut b).unwrap();
    assert!(a == b, "storage contents differ");
    assert!(engine.stats().hardware > 0 && engine.host().stats().faults > 0);
}

/// Guest tables are untrusted input: storage full of random bytes, random
/// ASCEs of every designation type, random addresses (also at and above
/// 2^47). Nothing panics, nothing escapes storage, and every outcome and key
/// equals the software path.
#[test]
fn random_tables_never_panic_and_agree_with_the_software_path() {
    let Some(mut engine) = engine_or_skip(4 << 20, EngineConfig::default()) else {
        return;
    };
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut reference = OwnedStorage::new(4 << 20);
    // Random tables in the first MiB, with many entries made valid-looking
    // (small origins, low bits mostly clear) so that walks go deep.
    for at in (0..(1u64 << 20)).step_by(8) {
        let raw = next();
        let entry = match raw % 4 {
            0 => raw,
            _ => (raw & 0x000F_F000) | (raw >> 60 & 0x0C) | (raw >> 56 & 0x3),
        };
        engine
            .storage_mut()
            .write_u64(AbsoluteAddress::new(at), entry)
            .unwrap();
        reference
            .write_u64(AbsoluteAddress::new(at), entry)
            .unwrap();
    }
    // The tables' frames have ACC 15 and the access keys are 1-14, so no
    // store changes a table behind the engine's back (that would make its
    // cached translations legitimately stale, as a TLB's may be).
    for frame in (0..4u64 << 20).step_by(4096) {
        let random = (next() & 0xF6) as u8;
        let key = StorageKey::new(if frame < 1 << 20 {
            0xF0 | (random & 0x06)
        } else {
            random
        });
        engine
            .storage_mut()
            .set_key(AbsoluteAddress::new(frame), key)
            .unwrap();
        reference.set_key(AbsoluteAddress::new(frame), key).unwrap();
    }
    for round in 0..24 {
        let asce = (next() & 0xF_F000) | (next() & 0x3FF);
        let cr0 = if round % 2 == 0 {
            Cr0::EDAT
        } else {
            Cr0::empty()
        };
        let space = [
            AddressSpace::Primary,
            AddressSpace::Secondary,
            AddressSpace::Home,
            AddressSpace::Real,
        ][round % 4];
        let ctx = Context {
            controls: Controls {
                cr0,
                cr1: Asce::new(asce),
                cr7: Asce::new(asce ^ 0x4),
                cr13: Asce::new(asce ^ 0x8),
                facilities: Facilities::EDAT1,
                ..Controls::default()
            },
            space,
            key: 1 + (next() % 14) as u8,
        };
        let ops: Vec<Operation> = (0..300)
            .map(|_| {
                let address = match next() % 4 {
                    0 => next(),
                    1 => (1 << 47) - (next() % 16),
                    _ => next() % (1 << 33),
                };
                let width = [
                    AccessWidth::Byte,
                    AccessWidth::Half,
                    AccessWidth::Word,
                    AccessWidth::Double,
                ][(next() % 4) as usize];
                match next() % 3 {
                    0 => Operation::write(address, width, next()),
                    1 => Operation::read(address, width),
                    _ => Operation::fetch(address, width),
                }
            })
            .collect();
        let got = engine.run(&ctx, &ops).unwrap();
        for (i, op) in ops.iter().enumerate() {
            let want = software_access(&mut reference, &ctx, op);
            assert_eq!(got[i], want, "round {round} op {i}: {op:?} in {ctx:?}");
        }
        // A table change the engine is told about: PTLB.
        engine.invalidate(&zmmu_mmu::invalidate::Invalidation::All);
    }
    for frame in (0..4u64 << 20).step_by(4096) {
        let a = AbsoluteAddress::new(frame);
        assert_eq!(
            engine.storage().key(a),
            reference.key(a),
            "key of {frame:#x}"
        );
    }
}
