//! Fuzzes the DAT walk, the access checks, the translation instructions and
//! the software TLB over arbitrary storage contents, ASCEs, addresses and
//! controls: no panic, no hang, no access outside storage (OwnedStorage
//! checks every access), and the TLB agrees with a fresh walk.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zmmu_mmu::access::{self, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::asce::Asce;
use zmmu_mmu::control::{Controls, Cr0, Facilities};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::space::AddressSpace;
use zmmu_mmu::storage::{OwnedStorage, Storage};
use zmmu_mmu::tlb::Tlb;
use zmmu_mmu::{invalidate, lra};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Storage size in 4 KiB frames (1-64).
    frames: u8,
    /// Doublewords written at (index * 8) modulo storage; with the flag set
    /// the value's origin bits are folded into storage, so that table entries
    /// designate tables that exist.
    words: Vec<(u16, u64, bool)>,
    keys: Vec<(u8, u8)>,
    cr0: u64,
    /// ASCEs; with the flag set their origins are folded into storage.
    asces: [(u64, bool); 3],
    prefix: u64,
    facilities: u8,
    probes: Vec<(u64, u8, u8, u8)>,
    idte: Option<(u64, u64, u64)>,
    ipte: Option<(u64, u64, u8)>,
}

fuzz_target!(|input: Input| {
    let size = (usize::from(input.frames % 64) + 1) << 12;
    let mut storage = OwnedStorage::new(size);
    let fold = |value: u64| (value & 0xFFF) | (value & 0xFFFF_F000) % size as u64;
    for &(index, value, inside) in &input.words {
        let at = (u64::from(index) * 8) % size as u64;
        let value = if inside { fold(value) } else { value };
        storage.write_u64(AbsoluteAddress::new(at), value).unwrap();
    }
    for &(frame, key) in &input.keys {
        let _ = storage.set_key(
            AbsoluteAddress::new(u64::from(frame) << 12),
            StorageKey::new(key),
        );
    }
    let asce = |i: usize| {
        let (value, inside) = input.asces[i];
        if inside {
            fold(value)
        } else {
            value
        }
    };
    let controls = Controls {
        cr0: Cr0::from_bits_retain(input.cr0),
        cr1: Asce::new(asce(0)),
        cr7: Asce::new(asce(1)),
        cr13: Asce::new(asce(2)),
        prefix: Prefix::new(input.prefix),
        facilities: Facilities::from_bits_truncate(u32::from(input.facilities)),
    };
    let mut tlb = Tlb::new(&controls);
    let mut cached = storage.clone();
    for &(address, space, kind, key) in input.probes.iter().take(64) {
        let space = match space % 5 {
            0 => AddressSpace::Real,
            1 => AddressSpace::Primary,
            2 => AddressSpace::Secondary,
            3 => AddressSpace::Home,
            _ => AddressSpace::AccessRegister {
                alet: u32::from(space >> 4),
                ar: space >> 4,
            },
        };
        let kind = [
            AccessKind::Read,
            AccessKind::Write,
            AccessKind::InstructionFetch,
        ][usize::from(kind % 3)];
        let request = Request {
            address: LogicalAddress::new(address),
            space,
            kind,
            key: key & 0xF,
        };
        let fresh = access::access(&mut storage, &controls, request).map(|a| (a.real, a.absolute));
        let served = tlb
            .access(&mut cached, request)
            .map(|t| (t.real, t.absolute));
        assert_eq!(fresh, served);
        if let Ok((_, absolute)) = fresh {
            assert!(storage.contains(absolute));
        }
        let _ = lra::lra(&storage, &controls, space, request.address, true);
        let _ = lra::tprot(&storage, &controls, space, request.address, key);
        let _ = lra::strag(&storage, &controls, space, request.address);
        let _ = lra::lptea(&storage, &controls, controls.cr1, request.address);
    }
    if let Some((r1, r2, r3)) = input.idte {
        if let Ok(pending) = invalidate::idte(&mut storage, r1, r2, r3) {
            pending.apply(|invalidation| tlb.invalidate(invalidation));
        }
    }
    if let Some((r1, r2, extra)) = input.ipte {
        if let Ok(pending) = invalidate::ipte(&mut storage, r1, r2, extra) {
            pending.apply(|invalidation| tlb.invalidate(invalidation));
        }
    }
});
