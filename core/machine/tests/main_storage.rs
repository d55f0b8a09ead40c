//! Main storage shared by CPU threads: block concurrency, interlocked
//! update and key recording hold against concurrent handles.

use std::thread;

use zmmu_machine::main_storage::MainStorage;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::storage::Storage;

const THREADS: usize = 4;
const ROUNDS: u64 = 20_000;

fn at(a: u64) -> AbsoluteAddress {
    AbsoluteAddress::new(a)
}

/// Every thread adds one `ROUNDS` times with an interlocked update of a
/// `len`-byte counter: none of the additions is lost.
fn interlocked_counter_loses_nothing(len: usize, address: u64) {
    let storage = MainStorage::new(1 << 16);
    thread::scope(|s| {
        for _ in 0..THREADS {
            let mut mine = storage.share();
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    mine.interlocked(at(address), len, &mut |old| Some(old + 1))
                        .unwrap();
                }
            });
        }
    });
    let mut buf = vec![0u8; len];
    storage.read(at(address), &mut buf).unwrap();
    let total = buf.iter().fold(0u128, |v, b| v << 8 | u128::from(*b));
    assert_eq!(total, u128::from(ROUNDS) * THREADS as u128);
}

#[test]
fn interlocked_word_updates_are_not_lost() {
    interlocked_counter_loses_nothing(4, 0x104);
}

#[test]
fn interlocked_doubleword_updates_are_not_lost() {
    interlocked_counter_loses_nothing(8, 0x108);
}

#[test]
fn interlocked_quadword_updates_are_not_lost() {
    interlocked_counter_loses_nothing(16, 0x110);
}

#[test]
fn a_refused_interlocked_update_stores_nothing() {
    let mut storage = MainStorage::new(1 << 16);
    storage.write_u64(at(0x200), 7).unwrap();
    let found = storage.interlocked(at(0x200), 8, &mut |_| None).unwrap();
    assert_eq!(found, 7);
    assert_eq!(storage.read_u64(at(0x200)), Some(7));
    // Misaligned or outside storage: refused.
    assert_eq!(storage.interlocked(at(0x204), 8, &mut |v| Some(v)), None);
    assert_eq!(storage.interlocked(at(1 << 16), 4, &mut |v| Some(v)), None);
}

#[test]
fn stores_to_neighbouring_bytes_of_one_doubleword_do_not_clobber_each_other() {
    let storage = MainStorage::new(1 << 16);
    thread::scope(|s| {
        for byte in 0..THREADS as u64 {
            let mut mine = storage.share();
            s.spawn(move || {
                for round in 0..ROUNDS {
                    mine.write(at(0x300 + byte), &[(round as u8) | 1]).unwrap();
                }
            });
        }
    });
    let mut buf = [0u8; THREADS];
    storage.read(at(0x300), &mut buf).unwrap();
    assert!(buf.iter().all(|b| *b == ((ROUNDS - 1) as u8 | 1)));
}

#[test]
fn reference_and_change_recorded_by_different_cpus_are_both_kept() {
    let storage = MainStorage::new(1 << 16);
    for round in 0..200u64 {
        let frame = at((round % 16) * 0x1000);
        let mut reset = storage.share();
        reset.set_key(frame, StorageKey::new(0x30)).unwrap();
        thread::scope(|s| {
            for bit in [StorageKey::R, StorageKey::C] {
                let mut mine = storage.share();
                s.spawn(move || {
                    mine.update_key(frame, &mut |k| StorageKey::new(k.value() | bit))
                        .unwrap();
                });
            }
        });
        let key = storage.key(frame).unwrap();
        assert_eq!(key.value(), 0x30 | StorageKey::R | StorageKey::C);
    }
}

#[test]
fn a_clone_is_a_copy_and_a_share_is_the_same_storage() {
    let mut storage = MainStorage::new(1 << 16);
    storage.write_u64(at(0x10), 1).unwrap();
    storage.set_key(at(0x1000), StorageKey::new(0x40)).unwrap();
    let copy = storage.clone();
    let shared = storage.share();
    storage.write_u64(at(0x10), 2).unwrap();
    assert_eq!(copy.read_u64(at(0x10)), Some(1));
    assert_eq!(copy.key(at(0x1000)), Some(StorageKey::new(0x40)));
    assert_eq!(shared.read_u64(at(0x10)), Some(2));
    assert_eq!(storage.to_vec()[0x17], 2);
}

#[test]
fn accesses_outside_storage_are_refused_whole() {
    let mut storage = MainStorage::new(0x10001);
    assert_eq!(storage.write(at(0x10000), &[1, 2]), None);
    assert_eq!(storage.write(at(0x10000), &[1]), Some(()));
    let mut buf = [0u8; 2];
    assert_eq!(storage.read(at(0xFFFF), &mut buf), Some(()));
    assert_eq!(buf, [0, 1]);
    assert_eq!(storage.read(at(u64::MAX), &mut buf), None);
    assert_eq!(storage.key(at(0x10001)), None);
}

#[test]
fn storage_of_any_size_is_page_aligned_in_host_memory_as_kvm_maps_it() {
    // KVM maps guest storage only in whole pages at a page-aligned host
    // address; storage below the binary's lazy-mapping threshold comes
    // from the system allocator, which aligns less by itself.
    for size in [4096, 1 << 20, 32 << 20, (1 << 20) + 16] {
        let storage = MainStorage::new(size);
        assert_eq!(storage.host_base() as usize % 4096, 0, "{size:#x} bytes");
        assert_eq!(storage.size(), size as u64);
    }
}

#[test]
fn a_write_of_any_length_at_any_alignment_reads_back_and_leaves_its_neighbours() {
    let mut storage = MainStorage::new(0x1000);
    for offset in 0..16u64 {
        for len in 0..40usize {
            storage.write(at(0x100), &[0xee; 64]).unwrap();
            let data: Vec<u8> = (1..=len as u8).collect();
            storage.write(at(0x108 + offset), &data).unwrap();
            let mut back = [0u8; 64];
            storage.read(at(0x100), &mut back).unwrap();
            let (before, rest) = back.split_at(8 + offset as usize);
            let (written, after) = rest.split_at(len);
            assert!(before.iter().all(|&b| b == 0xee), "{offset} {len}");
            assert_eq!(written, &data[..], "{offset} {len}");
            assert!(after.iter().all(|&b| b == 0xee), "{offset} {len}");
        }
    }
}
