//! The fixture the machine tests share: a machine with code at 0x20000 and
//! a disabled-wait new PSW per interruption class, and storage readers.
#![allow(dead_code)]

pub mod channel;

use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

pub const CODE: u64 = 0x20000;
pub const DISABLED_WAIT: u64 = 0x0002_0001_8000_0000;
pub const BITS64: u64 = 0x0000_0001_8000_0000;
pub const DAT: u64 = 0x0400_0000_0000_0000;
pub const EXT: u64 = 0x0100_0000_0000_0000;
pub const WAIT: u64 = 0x0002_0000_0000_0000;

/// A PSW as stored: mask, then address.
pub fn psw(mask: u64, addr: u64) -> Vec<u8> {
    [mask.to_be_bytes(), addr.to_be_bytes()].concat()
}

/// A machine with `code` at 0x20000 and every new PSW a disabled wait whose
/// address names the interruption class: external 0xE, SVC 0x5, program
/// 0xF, restart 0xA.
pub fn machine(code: &[u8]) -> Machine {
    let mut m = Machine::new(1 << 20);
    m.load(CODE, code).unwrap();
    m.load(0x1b0, &psw(DISABLED_WAIT, 0xE)).unwrap();
    m.load(0x1c0, &psw(DISABLED_WAIT, 0x5)).unwrap();
    m.load(0x1d0, &psw(DISABLED_WAIT, 0xF)).unwrap();
    m.load(0x1a0, &psw(DISABLED_WAIT, 0xA)).unwrap();
    m.start(CODE);
    m
}

/// The halfword at absolute `a`.
pub fn u16_at(m: &Machine, a: u64) -> u16 {
    let mut b = [0; 2];
    m.bus.storage.read(AbsoluteAddress::new(a), &mut b).unwrap();
    u16::from_be_bytes(b)
}

/// The doubleword at absolute `a`.
pub fn u64_at(m: &Machine, a: u64) -> u64 {
    m.bus.storage.read_u64(AbsoluteAddress::new(a)).unwrap()
}
