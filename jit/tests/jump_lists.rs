//! The jump cache's listed entries after a slot changes hands (docs/CHOICES.md
//! §59a): an entry is listed under its address's page index, and the check
//! after IPTE looks only at the lists of the pages it purges, so an entry
//! that replaces another's in a slot must be listed under its own page, or
//! an IPTE of its page would leave it, and the code of the old translation
//! would run.

use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;
use zmmu_translator::abi;

const SEGMENTS: u64 = 0x10000;
const PAGES: u64 = 0x11000;
/// Logical page `i` is `BASE + i * 0x1000` (page-table entry `i`), mapped
/// to frame `FRAMES + i * 0x1000`.
const BASE: u64 = 0x10_0000;
const FRAMES: u64 = 0x20000;
const MAPPED: u64 = 32;
/// The page whose entry is purged (page-table entry 20), and the frame it
/// maps to after the purge.
const PURGED: u64 = 20;
const NEW_FRAME: u64 = 0x60000;
/// Where `ipte %r13,%r10` lies (page 30).
const IPTE: u64 = BASE + 30 * 0x1000;
/// The jit's jump-cache entries (its `JUMP_ENTRIES`).
const ENTRIES: usize = 8192;

/// `lghi %r2,value`, then an invalid opcode that ends the run.
fn code(value: u8) -> [u8; 6] {
    [0xa7, 0x29, 0, value, 0, 0]
}

fn frame(logical: u64) -> u64 {
    FRAMES + (logical - BASE)
}

fn group(addr: u64) -> usize {
    abi::jump_slot_in(addr, ENTRIES) / abi::JUMP_WAYS
}

/// Runs the code at `at` (DAT on, 64-bit): the value it loads.
fn run(jit: &mut Jit, cpu: &mut Cpu, bus: &mut DatBus, at: u64) -> u64 {
    cpu.psw = Psw {
        mask: mask::EA | mask::BA | mask::DAT,
        addr: at,
    };
    cpu.gpr[2] = 0x99;
    let ran = jit.run(cpu, bus, 10);
    assert_eq!(ran.last, at + 4, "lghi, then the invalid opcode");
    assert!(ran.result.is_err());
    cpu.gpr[2]
}

#[test]
fn an_entry_that_takes_another_pages_slot_is_dropped_by_an_ipte_of_its_own_page() {
    let mut storage = OwnedStorage::new(0x80000);
    let w =
        |s: &mut OwnedStorage, at: u64, v: u64| s.write_u64(AbsoluteAddress::new(at), v).unwrap();
    for i in 0..512 {
        w(&mut storage, SEGMENTS + i * 8, 0x20);
    }
    w(&mut storage, SEGMENTS + 8, PAGES);
    for i in 0..256 {
        w(
            &mut storage,
            PAGES + i * 8,
            if i < MAPPED {
                FRAMES + i * 0x1000
            } else {
                0x400
            },
        );
    }
    // The purged page's code, and four addresses of the same jump-cache
    // group in pages 0-18 (page indexes the IPTE's check does not look at), which fill the group.
    let target = BASE + PURGED * 0x1000 + 0x100;
    let mut others: Vec<u64> = Vec::new();
    for a in (BASE..BASE + 19 * 0x1000).step_by(2) {
        let apart = others.last().is_none_or(|&b| a >= b + 6);
        if a & 0xfff <= 0xff0 && apart && group(a) == group(target) && others.len() < abi::JUMP_WAYS
        {
            others.push(a);
        }
    }
    assert_eq!(others.len(), abi::JUMP_WAYS, "pages 0-18 hold a full group");
    let put =
        |s: &mut OwnedStorage, at: u64, b: &[u8]| s.write(AbsoluteAddress::new(at), b).unwrap();
    for (n, &a) in others.iter().enumerate() {
        put(&mut storage, frame(a), &code(n as u8 + 1));
    }
    put(&mut storage, frame(target), &code(7));
    put(&mut storage, NEW_FRAME + (target & 0xfff), &code(8));
    put(&mut storage, frame(IPTE), &[0xb2, 0x21, 0x00, 0xda, 0, 0]);
    let mut bus = DatBus::new(storage);
    let mut cpu = Cpu::new();
    cpu.cr[1] = SEGMENTS;
    cpu.gpr[13] = PAGES;
    let mut jit = Jit::new(1 << 20).unwrap();
    for (n, &a) in others.iter().enumerate() {
        assert_eq!(run(&mut jit, &mut cpu, &mut bus, a), n as u64 + 1);
    }
    // The group is full: the target's entry takes a slot listed under
    // another page.
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, target), 7);
    let hits = jit.stats().jump_hits;
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, target), 7);
    assert_eq!(
        jit.stats().jump_hits,
        hits + 1,
        "the target's entry is in the cache"
    );
    // IPTE of the target's page, which then maps to another frame.
    cpu.gpr[10] = target;
    cpu.psw.addr = IPTE;
    let ran = jit.run(&mut cpu, &mut bus, 10);
    assert_eq!((ran.last, ran.result), (IPTE, Ok(())), "ipte ran");
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGES + PURGED * 8), NEW_FRAME)
        .unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, target), 8);
}
