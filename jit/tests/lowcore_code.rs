//! Code in the lowcore (Linux returns to the problem state through an
//! LPSWE there): the machine may store into the lowcore between two runs
//! (interruptions), so each run checks the blocks there against the bytes
//! they were translated from. A block whose bytes are unchanged is kept (no
//! new translation); one whose bytes the machine changed is dropped before
//! it runs again (self-modifying code stays exact).

use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

/// lghi %r2,IMM at 0x1000, then an invalid opcode (the run stops there).
fn code(imm: u8) -> [u8; 6] {
    [0xa7, 0x29, 0, imm, 0, 0]
}

fn run_from_lowcore(jit: &mut Jit, cpu: &mut Cpu, bus: &mut DatBus) -> u64 {
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: 0x1000,
    };
    let ran = jit.run(cpu, bus, 10);
    assert!(ran.result.is_err(), "the invalid opcode ends the run");
    cpu.gpr[2]
}

#[test]
fn lowcore_blocks_survive_runs_unless_their_bytes_change() {
    let mut storage = OwnedStorage::new(1 << 16);
    storage
        .write(AbsoluteAddress::new(0x1000), &code(7))
        .unwrap();
    let mut bus = DatBus::new(storage);
    let mut cpu = Cpu::new();
    let mut jit = Jit::new(1 << 20).unwrap();

    assert_eq!(run_from_lowcore(&mut jit, &mut cpu, &mut bus), 7);
    let translated = jit.stats().blocks;
    // Unchanged bytes: the block is kept.
    assert_eq!(run_from_lowcore(&mut jit, &mut cpu, &mut bus), 7);
    assert_eq!(jit.stats().blocks, translated, "no new translation");
    assert_eq!(jit.stats().smc_invalidations, 0);

    // The machine stores into the block's bytes between two runs (as an
    // interruption stores old PSWs): the next run executes the new code.
    bus.storage
        .write(AbsoluteAddress::new(0x1000), &code(9))
        .unwrap();
    assert_eq!(run_from_lowcore(&mut jit, &mut cpu, &mut bus), 9);
    assert_eq!(jit.stats().smc_invalidations, 1);
}
