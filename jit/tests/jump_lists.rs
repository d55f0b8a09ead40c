//! The jump cache's listed entries after a slot changes hands, and after a
//! purge of every translation (docs/CHOICES.md §59a): an entry is listed
//! under its address's page index, and the check after IPTE looks only at
//! the lists of the pages it purges, so an entry that replaces another's
//! in a slot must be listed under its own page, or an IPTE of its page
//! would leave it, and the code of the old translation would run. After
//! PTLB (or CSP, CSPG) every entry under DAT goes, those under DAT off
//! stay.

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
/// Where `ipte %r13,%r10` lies (page 30), and `ptlb` (page 29).
const IPTE: u64 = BASE + 30 * 0x1000;
const PTLB: u64 = BASE + 29 * 0x1000;
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
    run_under(jit, cpu, bus, at, mask::DAT)
}

/// Runs the code at `at` (64-bit, DAT as `dat`): the value it loads.
fn run_under(jit: &mut Jit, cpu: &mut Cpu, bus: &mut DatBus, at: u64, dat: u64) -> u64 {
    cpu.psw = Psw {
        mask: mask::EA | mask::BA | dat,
        addr: at,
    };
    cpu.gpr[2] = 0x99;
    let ran = jit.run(cpu, bus, 10);
    assert_eq!(ran.last, at + 4, "lghi, then the invalid opcode");
    assert!(ran.result.is_err());
    cpu.gpr[2]
}

/// Page tables mapping pages 0-31 (page-table entry `i` to frame
/// `FRAMES + i * 0x1000`), the code loading `value` at each absolute
/// address of `programs`, `IPTE` and `PTLB`.
fn machine(programs: &[(u64, u8)]) -> (Cpu, DatBus) {
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
    for &(at, value) in programs {
        storage
            .write(AbsoluteAddress::new(at), &code(value))
            .unwrap();
    }
    let put =
        |s: &mut OwnedStorage, at: u64, b: &[u8]| s.write(AbsoluteAddress::new(at), b).unwrap();
    put(&mut storage, frame(IPTE), &[0xb2, 0x21, 0x00, 0xda, 0, 0]);
    put(&mut storage, frame(PTLB), &[0xb2, 0x0d, 0, 0, 0, 0]);
    let mut cpu = Cpu::new();
    cpu.cr[1] = SEGMENTS;
    cpu.gpr[13] = PAGES;
    (cpu, DatBus::new(storage))
}

#[test]
fn a_purge_of_every_translation_drops_the_entries_under_dat_and_keeps_the_others() {
    // Real 0x3000 (DAT off), and the purged page's code under DAT.
    let real = 0x3000;
    let target = BASE + PURGED * 0x1000 + 0x100;
    let (mut cpu, mut bus) = machine(&[(real, 9), (frame(target), 7), (NEW_FRAME + 0x100, 8)]);
    let mut jit = Jit::new(1 << 20).unwrap();
    assert_eq!(run_under(&mut jit, &mut cpu, &mut bus, real, 0), 9);
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, target), 7);
    // The target's page maps to another frame, then PTLB.
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGES + PURGED * 8), NEW_FRAME)
        .unwrap();
    cpu.psw.addr = PTLB;
    let ran = jit.run(&mut cpu, &mut bus, 10);
    assert_eq!((ran.last, ran.result), (PTLB, Ok(())), "ptlb ran");
    let hits = jit.stats().jump_hits;
    assert_eq!(run_under(&mut jit, &mut cpu, &mut bus, real, 0), 9);
    assert_eq!(
        jit.stats().jump_hits,
        hits + 1,
        "the entry under DAT off stayed"
    );
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, target), 8);
    assert_eq!(jit.stats().jump_hits, hits + 1, "the entry under DAT went");
}

#[test]
fn an_entry_that_takes_another_pages_slot_is_dropped_by_an_ipte_of_its_own_page() {
    // The purged page's code, and four addresses of the same jump-cache
    // group in pages 0-18 (page indexes the IPTE's check does not look at),
    // which fill the group.
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
    let mut programs: Vec<(u64, u8)> = others
        .iter()
        .enumerate()
        .map(|(n, &a)| (frame(a), n as u8 + 1))
        .collect();
    programs.push((frame(target), 7));
    programs.push((NEW_FRAME + (target & 0xfff), 8));
    let (mut cpu, mut bus) = machine(&programs);
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
