//! COMPARE DOUBLE AND SWAP (CDSG) runs natively (one `lock cmpxchg16b`)
//! with the architected results: equal, the third operand pair is stored
//! and the cc is 0; unequal, the first operand pair receives the storage
//! operand and the cc is 1; an operand off a quadword boundary is the
//! interpreter's specification exception, with nothing changed.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

const CODE: u64 = 0x2000;
const DATA: u64 = 0x3000;

/// `cdsg %r2,%r4,D(%r9)`, then an invalid opcode that ends the run; the
/// quadword at DATA is (0x11, 0x22), r2:r3 = `first`, r4:r5 = (0x44, 0x55).
fn run(d: u8, first: (u64, u64)) -> (Cpu, DatBus, Jit, Result<(), Interruption>) {
    let mut storage = OwnedStorage::new(0x10000);
    let cdsg = [0xeb, 0x24, 0x90, d, 0x00, 0x3e, 0x00, 0x00];
    storage.write(AbsoluteAddress::new(CODE), &cdsg).unwrap();
    storage.write_u64(AbsoluteAddress::new(DATA), 0x11).unwrap();
    storage
        .write_u64(AbsoluteAddress::new(DATA + 8), 0x22)
        .unwrap();
    let mut cpu = Cpu::new();
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    cpu.gpr[9] = DATA;
    (cpu.gpr[2], cpu.gpr[3]) = first;
    (cpu.gpr[4], cpu.gpr[5]) = (0x44, 0x55);
    let mut bus = DatBus::new(storage);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let ran = jit.run(&mut cpu, &mut bus, 10);
    (cpu, bus, jit, ran.result)
}

fn quadword(bus: &DatBus) -> (u64, u64) {
    let at = |a| bus.storage.read_u64(AbsoluteAddress::new(a)).unwrap();
    (at(DATA), at(DATA + 8))
}

fn native(jit: &Jit) -> bool {
    !jit.stats().fallbacks().iter().any(|&(m, _)| m == "CDSG")
}

#[test]
fn equal_operands_store_the_third_operand_with_cc_0() {
    let (cpu, bus, jit, _) = run(0, (0x11, 0x22));
    assert_eq!(quadword(&bus), (0x44, 0x55));
    assert_eq!((cpu.gpr[2], cpu.gpr[3]), (0x11, 0x22));
    assert_eq!(cpu.psw.cc(), 0);
    assert!(native(&jit));
}

#[test]
fn unequal_operands_load_the_storage_operand_with_cc_1() {
    // Only the second doubleword differs: both halves are compared.
    let (cpu, bus, jit, _) = run(0, (0x11, 0x23));
    assert_eq!(quadword(&bus), (0x11, 0x22));
    assert_eq!((cpu.gpr[2], cpu.gpr[3]), (0x11, 0x22));
    assert_eq!(cpu.psw.cc(), 1);
    assert!(native(&jit));
}

#[test]
fn an_operand_off_a_quadword_boundary_is_a_specification_exception() {
    let (cpu, bus, _, result) = run(8, (0x22, 0));
    assert!(
        matches!(result, Err(Interruption::Program { exception, .. }) if exception.code == Code::SPECIFICATION),
        "{result:?}"
    );
    assert_eq!(quadword(&bus), (0x11, 0x22));
    assert_eq!((cpu.gpr[2], cpu.gpr[3]), (0x22, 0));
}
