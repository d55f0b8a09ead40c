//! Executing channel-subsystem instructions on a machine (the fixture of
//! the I/O tests): one instruction at a time with all interruptions
//! disabled, channel programs of format-1 CCWs, TEST SUBCHANNEL's IRB.

use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::storage::Storage;

use super::{u16_at, BITS64, CODE};

/// Where STSCH and MSCH keep their SCHIB.
pub const BLOCK: u64 = 0x30000;
pub const CCWS: u64 = 0x31000;
pub const DATA: u64 = 0x40000;
pub const IO: u64 = 0x0200_0000_0000_0000;
pub const PROBLEM: u64 = 0x0001_0000_0000_0000;
/// The first subchannel, as GR1 names it.
pub const SID: u64 = 0x0001_0000;
/// The interruption subclass [`enable`] gives the subchannel.
pub const ISC: u16 = 3;

/// The result of one instruction.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Ended with this condition code.
    Cc(u8),
    /// Ended with this program interruption.
    Program(Code),
}

/// Executes one instruction (`bytes`) with GR1 = `gr1` and GR2 = `gr2`,
/// all interruptions disabled.
pub fn exec(m: &mut Machine, bytes: &[u8], gr1: u64, gr2: u64) -> Ended {
    m.load(CODE, bytes).unwrap();
    m.cpu.psw.mask = BITS64;
    m.cpu.psw.addr = CODE;
    m.cpu.gpr[1] = gr1;
    m.cpu.gpr[2] = gr2;
    m.run(Some(1), &mut ());
    if m.cpu.psw.addr == 0xF {
        Ended::Program(Code(u16_at(m, 0x8E)))
    } else {
        Ended::Cc(m.cpu.psw.cc())
    }
}

/// An S-format I/O instruction 0xB2xx with its operand at D2(GR2).
pub fn s(op: u8, d2: u16) -> [u8; 4] {
    [0xB2, op, 0x20 | (d2 >> 8) as u8, d2 as u8]
}

pub const CSCH: u8 = 0x30;
pub const HSCH: u8 = 0x31;
pub const MSCH: u8 = 0x32;
pub const SSCH: u8 = 0x33;
pub const STSCH: u8 = 0x34;
pub const TSCH: u8 = 0x35;
pub const TPI: u8 = 0x36;
pub const RSCH: u8 = 0x38;
pub const STCRW: u8 = 0x39;
pub const RCHP: u8 = 0x3B;
pub const SCHM: u8 = 0x3C;
pub const XSCH: u8 = 0x76;

pub fn u32_at(m: &Machine, a: u64) -> u32 {
    let mut b = [0; 4];
    m.bus.storage.read(AbsoluteAddress::new(a), &mut b).unwrap();
    u32::from_be_bytes(b)
}

pub fn bytes_at(m: &Machine, a: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    m.bus.storage.read(AbsoluteAddress::new(a), &mut b).unwrap();
    b
}

/// Enables the subchannel with subclass [`ISC`] (STSCH, MSCH).
pub fn enable(m: &mut Machine) {
    assert_eq!(exec(m, &s(STSCH, 0), SID, BLOCK), Ended::Cc(0));
    let flags = u16_at(m, BLOCK + 4) | 0x0080 | ISC << 11;
    m.load(BLOCK + 4, &flags.to_be_bytes()).unwrap();
    assert_eq!(exec(m, &s(MSCH, 0), SID, BLOCK), Ended::Cc(0));
}

/// A format-1 CCW.
pub fn ccw1(command: u8, flags: u8, count: u16, address: u32) -> Vec<u8> {
    let mut b = vec![command, flags];
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(&address.to_be_bytes());
    b
}

/// Starts the channel program at [`CCWS`] (`ccws`, format 1) with
/// interruption parameter 0x1234_5678; the ORB at 0x32000.
pub fn start(m: &mut Machine, ccws: &[u8], ctrl0: u16) -> Ended {
    m.load(CCWS, ccws).unwrap();
    let mut orb = 0x1234_5678u32.to_be_bytes().to_vec();
    orb.extend_from_slice(&(ctrl0 | 0x0080).to_be_bytes());
    orb.extend_from_slice(&[0x80, 0]);
    orb.extend_from_slice(&(CCWS as u32).to_be_bytes());
    orb.extend_from_slice(&[0; 20]);
    m.load(0x32000, &orb).unwrap();
    exec(m, &s(SSCH, 0), SID, 0x32000)
}

/// TSCH into 0x33000: the condition code, and the SCSW's control
/// halfword, device and subchannel status and count.
pub fn test(m: &mut Machine) -> (Ended, u16, u8, u8, u16) {
    let cc = exec(m, &s(TSCH, 0), SID, 0x33000);
    (
        cc,
        u16_at(m, 0x33002),
        bytes_at(m, 0x33008, 1)[0],
        bytes_at(m, 0x33009, 1)[0],
        u16_at(m, 0x3300A),
    )
}

pub const SENSE_ID: u8 = 0xE4;
pub const NOOP: u8 = 0x03;
pub const TIC: u8 = 0x08;
pub const SLI: u8 = 0x20;
pub const CC: u8 = 0x40;
pub const IDA: u8 = 0x04;
