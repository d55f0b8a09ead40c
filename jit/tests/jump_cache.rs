//! The jump cache across changes of the primary ASCE (docs/CHOICES.md §38):
//! the entries of one ASCE are set aside while another is in CR1 and are
//! valid again when it comes back, as a TLB may keep translations of
//! several ASCEs; a purge in between (here IPTE) drops them, so the code
//! run is always that of the current translation.

use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

/// Two address spaces: segment and page tables of each.
const SEGMENTS_A: u64 = 0x10000;
const PAGES_A: u64 = 0x11000;
const SEGMENTS_B: u64 = 0x12000;
const PAGES_B: u64 = 0x13000;
/// Logical page 0x100000 (page-table entry 0): space A maps it to
/// `FRAME_A`, space B to `FRAME_B`; `FRAME_C` is mapped in neither.
const CODE: u64 = 0x10_0000;
const FRAME_A: u64 = 0x20000;
const FRAME_B: u64 = 0x21000;
const FRAME_C: u64 = 0x22000;
/// Logical page 0x101000 (entry 1), in both spaces: `ipte %r13,%r10`
/// (R10 the page, R13 space A's page table).
const IPTE: u64 = 0x10_1000;
const IPTE_FRAME: u64 = 0x23000;
/// Logical page 0x102000 (entry 2), in both spaces: `mvi 3(%r10),5`, which
/// makes the code at `CODE` (R10) load 5.
const STORE: u64 = 0x10_2000;
const STORE_FRAME: u64 = 0x24000;
const PAGE_INVALID: u64 = 0x400;

/// `lghi %r2,value`, then an invalid opcode that ends the run.
fn code(value: u8) -> [u8; 6] {
    [0xa7, 0x29, 0, value, 0, 0]
}

fn machine() -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(0x40000);
    let w =
        |s: &mut OwnedStorage, at: u64, v: u64| s.write_u64(AbsoluteAddress::new(at), v).unwrap();
    for (segments, pages, frame) in [
        (SEGMENTS_A, PAGES_A, FRAME_A),
        (SEGMENTS_B, PAGES_B, FRAME_B),
    ] {
        for i in 0..512 {
            w(&mut storage, segments + i * 8, 0x20);
        }
        for i in 0..256 {
            w(&mut storage, pages + i * 8, PAGE_INVALID);
        }
        w(&mut storage, segments + 8, pages);
        w(&mut storage, pages, frame);
        w(&mut storage, pages + 8, IPTE_FRAME);
        w(&mut storage, pages + 16, STORE_FRAME);
    }
    let put =
        |s: &mut OwnedStorage, at: u64, b: &[u8]| s.write(AbsoluteAddress::new(at), b).unwrap();
    put(&mut storage, FRAME_A, &code(1));
    put(&mut storage, FRAME_B, &code(2));
    put(&mut storage, FRAME_C, &code(3));
    put(&mut storage, IPTE_FRAME, &[0xb2, 0x21, 0x00, 0xda, 0, 0]);
    put(&mut storage, STORE_FRAME, &[0x92, 0x05, 0xa0, 0x03, 0, 0]);
    let mut cpu = Cpu::new();
    cpu.gpr[10] = CODE;
    cpu.gpr[13] = PAGES_A;
    (cpu, DatBus::new(storage))
}

/// Runs the code at `CODE` in the space whose segment table is at
/// `segments` (loaded into CR1 between runs, as LCTLG would): the value it
/// loads.
fn run(jit: &mut Jit, cpu: &mut Cpu, bus: &mut DatBus, segments: u64) -> u64 {
    cpu.cr[1] = segments;
    cpu.psw = Psw {
        mask: mask::EA | mask::BA | mask::DAT,
        addr: CODE,
    };
    cpu.gpr[2] = 0x99;
    let ran = jit.run(cpu, bus, 10);
    assert_eq!(ran.last, CODE + 4, "lghi, then the invalid opcode");
    assert!(ran.result.is_err());
    cpu.gpr[2]
}

#[test]
fn the_code_of_an_asce_that_comes_back_is_found_in_the_jump_cache() {
    let (mut cpu, mut bus) = machine();
    let mut jit = Jit::new(1 << 20).unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_B), 2);
    let (hits, lookups) = (jit.stats().jump_hits, jit.stats().cache_hits);
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    assert_eq!(jit.stats().jump_hits, hits + 1, "A's entry was set aside");
    assert_eq!(jit.stats().cache_hits, lookups, "no block-cache lookup");
    assert_eq!(jit.stats().blocks, 2, "one block per frame");
}

#[test]
fn a_purge_while_another_asce_is_loaded_drops_the_entries_set_aside() {
    let (mut cpu, mut bus) = machine();
    let mut jit = Jit::new(1 << 20).unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_B), 2);
    // In space B: IPTE of space A's entry for CODE, which then names
    // another frame (an invalid entry is in no TLB: no purge needed).
    ipte(&mut jit, &mut cpu, &mut bus, CODE);
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGES_A), FRAME_C)
        .unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 3);
}

/// Runs `ipte %r13,%r10` (in the space in CR1) for logical page `page` of
/// space A's page table.
fn ipte(jit: &mut Jit, cpu: &mut Cpu, bus: &mut DatBus, page: u64) {
    cpu.gpr[10] = page;
    cpu.psw.addr = IPTE;
    let ran = jit.run(cpu, bus, 10);
    assert_eq!((ran.last, ran.result), (IPTE, Ok(())), "ipte ran");
}

#[test]
fn an_ipte_drops_the_entries_of_the_page_it_purges_and_keeps_the_others() {
    let (mut cpu, mut bus) = machine();
    let mut jit = Jit::new(1 << 20).unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    // Another page (entry 5).
    ipte(&mut jit, &mut cpu, &mut bus, CODE + 0x5000);
    let hits = jit.stats().jump_hits;
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    assert_eq!(jit.stats().jump_hits, hits + 1, "the entry stayed");
    // The code's page, which then maps to another frame.
    ipte(&mut jit, &mut cpu, &mut bus, CODE);
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGES_A), FRAME_C)
        .unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 3);
}

/// Runs `mvi 3(%r10),5` on the code at `CODE`.
fn store(jit: &mut Jit, cpu: &mut Cpu, bus: &mut DatBus) {
    cpu.gpr[10] = CODE;
    cpu.psw.addr = STORE;
    let ran = jit.run(cpu, bus, 10);
    assert_eq!(ran.last, STORE + 4, "mvi, then the invalid opcode");
}

#[test]
fn a_store_into_a_block_drops_its_entry_and_keeps_the_others() {
    let (mut cpu, mut bus) = machine();
    let mut jit = Jit::new(1 << 20).unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    store(&mut jit, &mut cpu, &mut bus);
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 5);
    let hits = jit.stats().jump_hits;
    store(&mut jit, &mut cpu, &mut bus);
    assert_eq!(jit.stats().jump_hits, hits + 1, "the store's entry stayed");
}

#[test]
fn an_ipte_of_another_page_keeps_the_entries_set_aside() {
    let (mut cpu, mut bus) = machine();
    let mut jit = Jit::new(1 << 20).unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_B), 2);
    // In space B: IPTE of space A's entry 5, through which A's entry for
    // CODE (entry 0) was not formed.
    ipte(&mut jit, &mut cpu, &mut bus, CODE + 0x5000);
    let (hits, lookups) = (jit.stats().jump_hits, jit.stats().cache_hits);
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    assert_eq!(jit.stats().jump_hits, hits + 1, "A's entry stayed aside");
    assert_eq!(jit.stats().cache_hits, lookups, "no block-cache lookup");
}

#[test]
fn an_ipte_keeps_an_entry_the_tlb_lost_whose_tables_still_translate_it() {
    let (mut cpu, mut bus) = machine();
    let mut jit = Jit::new(1 << 20).unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    // The TLB loses its translations (a TLB is a cache: it may), then
    // IPTE of space B's entry 0, which has CODE's page index but is not
    // the entry space A's translation of CODE was formed through.
    bus.tlb.flush();
    cpu.gpr[13] = PAGES_B;
    ipte(&mut jit, &mut cpu, &mut bus, CODE);
    let (hits, lookups) = (jit.stats().jump_hits, jit.stats().cache_hits);
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 1);
    assert_eq!(jit.stats().jump_hits, hits + 1, "the entry stayed");
    assert_eq!(jit.stats().cache_hits, lookups, "no block-cache lookup");
    // IPTE of space A's entry 0 itself, which then names another frame.
    cpu.gpr[13] = PAGES_A;
    bus.tlb.flush();
    ipte(&mut jit, &mut cpu, &mut bus, CODE);
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGES_A), FRAME_C)
        .unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus, SEGMENTS_A), 3);
}
