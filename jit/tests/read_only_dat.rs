//! The DAT instructions that only read (LRA, TPROT, LPTEA, ISKE) give their
//! results and the run goes on after them (docs/CHOICES.md §59c), in a
//! translated block and when interpreted: they make nothing pending, so
//! the machine has nothing to look at between them and the next
//! instruction.

use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

const SEGMENTS: u64 = 0x10000;
const PAGES: u64 = 0x11000;
/// Logical 0x100000 (segment 1, page 0) maps to this frame.
const FRAME: u64 = 0x30000;
/// The code, at real (DAT off) 0x2000: `lra %r1,0(%r2)`, `lghi %r3,5`,
/// then an invalid opcode.
const CODE: u64 = 0x2000;

fn machine() -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(0x40000);
    let w =
        |s: &mut OwnedStorage, at: u64, v: u64| s.write_u64(AbsoluteAddress::new(at), v).unwrap();
    for i in 0..512 {
        w(&mut storage, SEGMENTS + i * 8, 0x20);
    }
    for i in 0..256 {
        w(&mut storage, PAGES + i * 8, 0x400);
    }
    w(&mut storage, SEGMENTS + 8, PAGES);
    w(&mut storage, PAGES, FRAME);
    let code = [0xb1, 0x10, 0x20, 0x00, 0xa7, 0x39, 0x00, 0x05, 0x00, 0x00];
    storage.write(AbsoluteAddress::new(CODE), &code).unwrap();
    let mut cpu = Cpu::new();
    cpu.cr[1] = SEGMENTS;
    cpu.gpr[2] = 0x10_0123;
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    (cpu, DatBus::new(storage))
}

/// One run of the code: LRA's real address and cc 0, then the LGHI and the
/// invalid opcode, all in the same run.
fn runs_through(translate_after: u32) {
    let (mut cpu, mut bus) = machine();
    let mut jit = Jit::new(1 << 20).unwrap();
    jit.set_translate_after(translate_after);
    let ran = jit.run(&mut cpu, &mut bus, 10);
    assert_eq!(ran.instructions, 3, "lra, lghi and the invalid opcode");
    assert_eq!(ran.last, CODE + 8);
    assert!(ran.result.is_err());
    assert_eq!(cpu.gpr[1], FRAME | 0x123, "the real address");
    assert_eq!(cpu.psw.cc(), 0);
    assert_eq!(cpu.gpr[3], 5);
}

#[test]
fn a_translated_lra_goes_on_to_the_next_block() {
    runs_through(1);
}

#[test]
fn an_interpreted_lra_goes_on_to_the_next_instruction() {
    runs_through(2);
}
