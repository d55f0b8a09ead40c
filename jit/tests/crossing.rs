//! An instruction that crosses a page is the last instruction of a block
//! that then depends on the next page's translation and bytes too
//! (docs/CHOICES.md §30): remapping that page (IPTE, then a new frame with
//! other bytes) makes the jit run the new bytes, and an invalid next page
//! raises the instruction fetch's exception exactly as the interpreter
//! does.

use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::prelude::*;

const SEGMENT_TABLE: u64 = 0x10000;
const PAGE_TABLE: u64 = 0x11000;
/// Logical pages 0x100000, 0x101000, 0x102000 (page-table entries 0-2).
const CODE: u64 = 0x10_0000;
/// The first code page's frame; the next page maps to `NEXT` or `OTHER`;
/// the third (the IPTE) to `IPTE_FRAME`.
const FIRST: u64 = 0x20000;
const NEXT: u64 = 0x21000;
const OTHER: u64 = 0x22000;
const IPTE_FRAME: u64 = 0x23000;
const PAGE_INVALID: u64 = 0x400;

/// At 0x100ffa: `lghi %r2,0`; at 0x100ffe: `aghi %r2,imm`, whose last two
/// bytes (0x00, imm) lie in the next page; then an invalid opcode at
/// 0x101002, which ends the run.
fn machine(next_page: u64) -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(0x40000);
    let w =
        |s: &mut OwnedStorage, at: u64, v: u64| s.write_u64(AbsoluteAddress::new(at), v).unwrap();
    for i in 0..512 {
        w(&mut storage, SEGMENT_TABLE + i * 8, 0x20);
    }
    for i in 0..256 {
        w(&mut storage, PAGE_TABLE + i * 8, PAGE_INVALID);
    }
    w(&mut storage, SEGMENT_TABLE + 8, PAGE_TABLE);
    w(&mut storage, PAGE_TABLE, FIRST);
    w(&mut storage, PAGE_TABLE + 8, next_page);
    w(&mut storage, PAGE_TABLE + 16, IPTE_FRAME);
    let put =
        |s: &mut OwnedStorage, at: u64, b: &[u8]| s.write(AbsoluteAddress::new(at), b).unwrap();
    put(&mut storage, FIRST + 0xffa, &[0xa7, 0x29, 0, 0, 0xa7, 0x2b]);
    put(&mut storage, NEXT, &[0x00, 0x11, 0x00, 0x00]);
    put(&mut storage, OTHER, &[0x00, 0x22, 0x00, 0x00]);
    // ipte %r13,%r10 ; then an invalid opcode.
    put(
        &mut storage,
        IPTE_FRAME,
        &[0xb2, 0x21, 0x00, 0xda, 0x00, 0x00],
    );
    let mut cpu = Cpu::new();
    cpu.cr[1] = SEGMENT_TABLE;
    cpu.gpr[10] = CODE + 0x1000;
    cpu.gpr[13] = PAGE_TABLE;
    (cpu, DatBus::new(storage))
}

fn psw(addr: u64) -> Psw {
    Psw {
        mask: mask::EA | mask::BA | mask::DAT,
        addr,
    }
}

/// Runs from 0x100ffa to the invalid opcode; the value `aghi` added.
fn run(jit: &mut Jit, cpu: &mut Cpu, bus: &mut DatBus) -> u64 {
    cpu.psw = psw(CODE + 0xffa);
    cpu.gpr[2] = 0x99;
    let ran = jit.run(cpu, bus, 10);
    assert_eq!(ran.instructions, 3, "lghi, aghi, the invalid opcode");
    assert_eq!(ran.last, CODE + 0x1002);
    assert!(ran.result.is_err());
    cpu.gpr[2]
}

fn set_referenced(bus: &mut DatBus, frame: u64) {
    bus.storage
        .set_key(AbsoluteAddress::new(frame), StorageKey::new(StorageKey::R))
        .unwrap();
}

#[test]
fn a_block_crossing_into_a_remapped_page_runs_the_new_frames_bytes() {
    let (mut cpu, mut bus) = machine(NEXT);
    set_referenced(&mut bus, NEXT);
    let mut jit = Jit::new(1 << 20).unwrap();
    assert_eq!(run(&mut jit, &mut cpu, &mut bus), 0x11);
    assert_eq!(
        jit.stats().steps,
        0,
        "no instruction interpreted outside a block"
    );
    assert_eq!(run(&mut jit, &mut cpu, &mut bus), 0x11);
    let blocks = jit.stats().blocks;

    // IPTE of the next page (guest code), then its entry names another
    // frame with other bytes (an invalid entry is in no TLB: no purge).
    cpu.psw = psw(CODE + 0x2000);
    let ran = jit.run(&mut cpu, &mut bus, 10);
    // (The run returns after a DAT instruction.)
    assert_eq!((ran.last, ran.result), (CODE + 0x2000, Ok(())), "ipte ran");
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGE_TABLE + 8), OTHER)
        .unwrap();
    set_referenced(&mut bus, OTHER);
    let steps = jit.stats().steps;
    assert_eq!(run(&mut jit, &mut cpu, &mut bus), 0x22);
    assert_eq!(jit.stats().steps, steps, "aghi ran in a block again");
    assert!(jit.stats().blocks > blocks, "translated again");
    assert!(
        jit.stats()
            .drops_by_cause()
            .iter()
            .any(|&(cause, n)| cause == "next-page" && n > 0),
        "{:?}",
        jit.stats().drops_by_cause()
    );
}

#[test]
fn an_instruction_crossing_into_an_invalid_page_raises_the_fetch_exception_as_the_interpreter() {
    let (mut cpu, mut bus) = machine(PAGE_INVALID);
    let mut interp_cpu = cpu.clone();
    let mut interp_bus = DatBus::over(bus.storage.clone());
    let mut jit = Jit::new(1 << 20).unwrap();
    for _ in 0..2 {
        cpu.psw = psw(CODE + 0xffa);
        interp_cpu.psw = cpu.psw;
        let ran = jit.run(&mut cpu, &mut bus, 10);
        let first = interp_cpu.step(&mut interp_bus);
        let second = interp_cpu.step(&mut interp_bus);
        assert!(
            first.is_ok() && second.is_err(),
            "lghi, then the fetch fails"
        );
        assert_eq!((ran.instructions, ran.last), (2, CODE + 0xffe));
        assert_eq!(ran.result, second);
        assert_eq!(cpu, interp_cpu);
    }
}

#[test]
fn the_next_pages_reference_bit_is_recorded_only_by_the_fetch_that_crosses() {
    // The block runs lghi only (a budget of one instruction): the frame
    // of the next page stays unreferenced, as on the interpreter.
    let (mut cpu, mut bus) = machine(NEXT);
    let mut jit = Jit::new(1 << 20).unwrap();
    cpu.psw = psw(CODE + 0xffa);
    let ran = jit.run(&mut cpu, &mut bus, 1);
    assert_eq!(ran.instructions, 1);
    let key = |bus: &DatBus| bus.storage.key(AbsoluteAddress::new(NEXT)).unwrap();
    assert_eq!(key(&bus).value() & StorageKey::R, 0);
    let ran = jit.run(&mut cpu, &mut bus, 1);
    assert_eq!((ran.instructions, cpu.gpr[2]), (1, 0x11));
    assert_ne!(key(&bus).value() & StorageKey::R, 0);
}
