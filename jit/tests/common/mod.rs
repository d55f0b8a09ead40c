//! What the jit's rule tests share: a program in real storage.

use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

/// Where the program is.
pub const CODE: u64 = 0x2000;
/// Where its data is.
pub const DATA: u64 = 0x3000;

/// `size` bytes of storage with `code` at [`CODE`] and `data` at
/// [`DATA`], and a CPU about to run the code (DAT off, 64-bit), with `set`
/// applied to it.
pub fn machine(size: usize, code: &[u8], data: &[u8], set: impl FnOnce(&mut Cpu)) -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(size);
    storage.write(AbsoluteAddress::new(CODE), code).unwrap();
    storage.write(AbsoluteAddress::new(DATA), data).unwrap();
    let mut cpu = Cpu::new();
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    set(&mut cpu);
    (cpu, DatBus::new(storage))
}
