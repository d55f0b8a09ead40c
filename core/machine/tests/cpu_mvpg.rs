//! MOVE PAGE with DAT on, through the machine's [`DatBus`]: the
//! condition-code option, the operand access identification stored with a
//! page-translation exception, and protection.

use zmmu_cpu::exec::page::OPERAND_ACCESS_ID;
use zmmu_cpu::interrupt::{lowcore, Interruption};
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_machine::bus::DatBus;
use zmmu_mmu::exception::Code;
use zmmu_mmu::prelude::*;

const SEGMENT_TABLE: u64 = 0x10000;
const PAGE_TABLE: u64 = 0x11000;
/// Page-table entry bits: page invalid (53) and DAT protection (54).
const PAGE_INVALID: u64 = 0x400;
const PAGE_PROTECTED: u64 = 0x200;

/// Virtual pages: 1 the code, 5 -> 0x73000 (the source, filled with a
/// pattern), 6 -> 0x74000, 7 invalid, 8 -> 0x75000 DAT-protected; a CPU in
/// 64-bit supervisor state with DAT on; `mvpg %r1,%r2` at 0x1000.
fn machine() -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(1 << 20);
    let w =
        |s: &mut OwnedStorage, at: u64, v: u64| s.write_u64(AbsoluteAddress::new(at), v).unwrap();
    w(&mut storage, SEGMENT_TABLE, PAGE_TABLE);
    for page in 0..256 {
        w(&mut storage, PAGE_TABLE + page * 8, PAGE_INVALID);
    }
    w(&mut storage, PAGE_TABLE + 8, 0x1000);
    w(&mut storage, PAGE_TABLE + 5 * 8, 0x7_3000);
    w(&mut storage, PAGE_TABLE + 6 * 8, 0x7_4000);
    w(&mut storage, PAGE_TABLE + 8 * 8, 0x7_5000 | PAGE_PROTECTED);
    let pattern: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 42) as u8).collect();
    storage
        .write(AbsoluteAddress::new(0x7_3000), &pattern)
        .unwrap();
    storage
        .write(AbsoluteAddress::new(0x1000), &[0xB2, 0x54, 0x00, 0x12])
        .unwrap();
    let mut cpu = Cpu::new();
    cpu.cr[1] = SEGMENT_TABLE;
    cpu.psw = Psw {
        mask: mask::DAT | mask::EA | mask::BA,
        addr: 0x1000,
    };
    (cpu, DatBus::new(storage))
}

fn page(bus: &DatBus, at: u64) -> Vec<u8> {
    let mut v = vec![0; 4096];
    bus.storage.read(AbsoluteAddress::new(at), &mut v).unwrap();
    v
}

/// MVPG from virtual `src` to virtual `dst` with GR0 = `gr0`.
fn mvpg(gr0: u64, dst: u64, src: u64) -> (Cpu, DatBus, Result<(), Interruption>) {
    let (mut cpu, mut bus) = machine();
    cpu.gpr[0] = gr0;
    cpu.gpr[1] = dst;
    cpu.gpr[2] = src;
    let r = cpu.step(&mut bus);
    (cpu, bus, r)
}

fn program_code(r: Result<(), Interruption>) -> Code {
    match r {
        Err(Interruption::Program { exception, .. }) => exception.code,
        other => panic!("expected a program interruption, got {other:?}"),
    }
}

const CCO: u64 = 0x100;

#[test]
fn move_page_moves_the_page_through_dat_ignoring_the_low_12_bits() {
    let (cpu, bus, r) = mvpg(0, 0x6ABC, 0x5123);
    r.unwrap();
    assert_eq!(page(&bus, 0x7_4000), page(&bus, 0x7_3000));
    assert_eq!(cpu.psw.cc(), 0);
}

#[test]
fn move_page_reads_a_protected_source_page() {
    let (cpu, bus, r) = mvpg(0, 0x6000, 0x8000);
    r.unwrap();
    assert_eq!(page(&bus, 0x7_4000), page(&bus, 0x7_5000));
    assert_eq!(cpu.psw.cc(), 0);
}

#[test]
fn an_invalid_page_without_cco_nullifies_and_stores_r1_and_r2_as_the_operand_access_id() {
    for (dst, src) in [(0x6000, 0x7000), (0x7000, 0x5000)] {
        let (mut cpu, mut bus, r) = mvpg(0, dst, src);
        let Err(intr) = r else {
            panic!("no interruption")
        };
        assert_eq!(program_code(r), Code::PAGE_TRANSLATION);
        assert_eq!(cpu.psw.addr, 0x1000, "nullified");
        cpu.deliver(&mut bus, intr).unwrap();
        let mut id = [0u8];
        bus.storage
            .read(AbsoluteAddress::new(OPERAND_ACCESS_ID), &mut id)
            .unwrap();
        assert_eq!(id, [0x12]);
        let mut code = [0u8; 2];
        bus.storage
            .read(AbsoluteAddress::new(lowcore::PGM_CODE), &mut code)
            .unwrap();
        assert_eq!(u16::from_be_bytes(code), 0x11);
        assert_eq!(page(&bus, 0x7_4000), vec![0; 4096], "nothing moved");
    }
}

#[test]
fn with_cco_an_invalid_first_operand_page_is_cc_1_and_an_invalid_second_operand_page_cc_2() {
    let (cpu, bus, r) = mvpg(CCO, 0x7000, 0x5000);
    r.unwrap();
    assert_eq!((cpu.psw.cc(), cpu.psw.addr), (1, 0x1004));
    assert_eq!(page(&bus, 0x7_4000), vec![0; 4096]);
    let (cpu, _, r) = mvpg(CCO, 0x6000, 0x7000);
    r.unwrap();
    assert_eq!(cpu.psw.cc(), 2);
    let (cpu, _, r) = mvpg(CCO, 0x7000, 0x7000);
    r.unwrap();
    assert_eq!(cpu.psw.cc(), 2, "the second operand is checked first");
}

#[test]
fn with_or_without_cco_a_protected_first_operand_page_is_a_protection_exception() {
    for gr0 in [0, CCO] {
        let (_, _, r) = mvpg(gr0, 0x8000, 0x5000);
        assert_eq!(program_code(r), Code::PROTECTION);
    }
}
