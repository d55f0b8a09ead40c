//! The system-call loop kvm/tests/gate.rs and svc.rs run (a kernel in
//! the home space, a process in the primary space, back and forth
//! through the SVC and the LPSWE in the lowcore), and the two address
//! spaces syscalls.rs runs its own loop in.

use zmmu_cpu::clock::{Clock, TOD_2026};
use zmmu_kvm::{KvmEngine, TscTime};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

use super::{
    assert_same, bytes_at, on_both, page_table, program_machine, segment_table, write_words,
};

/// Turns of [`KERNEL`]'s loop.
pub const TURNS: u64 = 200;

/// From 0x2000 with DAT off: `larl r2` (the data at 0x2058), `lctlg
/// c13,c13,0(r2)`, `lctlg c1,c1,0(r2)` (space A, the kernel's), `lghi
/// r1,200`, `lgfi r3,0x13000` (space B's page table), `lgfi r4,0x59000`,
/// `lgfi r5,0x59000` (its entry for 0x59000), `lgfi r6,0x3000`, `lpswe
/// 16(r2)` (the kernel's PSW: DAT on, home-space mode, at 0x2032); there,
/// 200 times: `lctlg c1,c1,8(r2)` (space B, the process's), `b 0x400`
/// (the LPSWE in the lowcore); the SVC's new PSW is the kernel's at
/// 0x203c: `lctlg c1,c1,0(r2)`, `ipte r3,r4`, `xgr r5,r6`, `stg
/// r5,0x2c8(r3)` (0x59000 now in the other frame), `brctg r1` back; then
/// an invalid opcode. Data: the ASCEs of A and B, the kernel's PSW.
pub const KERNEL: [u8; 88] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x2c, 0xeb, 0xdd, 0x20, 0x00, 0x00, 0x2f, 0xeb, 0x11, 0x20, 0x00,
    0x00, 0x2f, 0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x31, 0x00, 0x01, 0x30, 0x00, 0xc0, 0x41, 0x00, 0x05,
    0x90, 0x00, 0xc0, 0x51, 0x00, 0x05, 0x90, 0x00, 0xc0, 0x61, 0x00, 0x00, 0x30, 0x00, 0xb2, 0xb2,
    0x20, 0x10, 0xeb, 0x11, 0x20, 0x08, 0x00, 0x2f, 0x47, 0xf0, 0x04, 0x00, 0xeb, 0x11, 0x20, 0x00,
    0x00, 0x2f, 0xb2, 0x21, 0x00, 0x34, 0xb9, 0x82, 0x00, 0x56, 0xe3, 0x50, 0x32, 0xc8, 0x00, 0x24,
    0xa7, 0x17, 0xff, 0xf1, 0x00, 0x00, 0x00, 0x00,
];

/// DAT on, home-space mode, 64-bit addressing (PoP "Program-Status Word").
pub const KERNEL_MASK: u64 = 0x0400_c001_8000_0000;
/// DAT on, problem state, primary-space mode, 64-bit addressing.
pub const PROCESS_MASK: u64 = 0x0401_0001_8000_0000;
/// The I/O and external masks (PSW bits 6 and 7).
pub const MASKS: u64 = 0x0300_0000_0000_0000;
/// The PSW key 1 (PSW bits 8-11).
pub const KEY_1: u64 = 0x0010_0000_0000_0000;
/// The PER mask (PSW bit 1).
pub const PER: u64 = 0x4000_0000_0000_0000;
/// The wait state (PSW bit 14).
pub const WAIT: u64 = 0x0002_0000_0000_0000;

/// The process: `ag r8,0x59000`, `svc 0`.
pub const PROCESS: [u8; 8] = [0xe3, 0x80, 0x00, 0x00, 0x59, 0x08, 0x0a, 0x00];

/// The tables of two address spaces that map the first MiB onto itself
/// but 0x58000: space A (segment table 0x10000, page table 0x11000)
/// leaves it invalid, space B (0x12000, 0x13000) maps it onto frame
/// 0x70000, the process's code.
pub fn two_spaces(machine: &mut Machine) {
    for (segments, pages, mapped) in [(0x10000, 0x11000, false), (0x12000, 0x13000, true)] {
        segment_table(machine, segments, pages);
        page_table(machine, pages, |at| match at {
            0x58000 if mapped => 0x70000,
            0x58000 => 0x400,
            at => at,
        });
    }
}

/// [`KERNEL`] with two address spaces that map the first MiB onto itself
/// but 0x58000: space A (segment table 0x10000, page table 0x11000) leaves
/// it invalid, space B (0x12000, 0x13000) maps it onto frame 0x70000, the
/// process's code (`code`); 0x59000 holds 2, 0x5a000 holds 3. The
/// lowcore holds `lpswe 0x210` at 0x400 and the process's PSW (`process`,
/// at 0x58000) at 0x210; the SVC new PSW is the kernel's. Under `time`.
pub fn machine(process: u64, code: &[u8], time: TscTime) -> Machine {
    let mut machine = program_machine(0x2000, &KERNEL);
    machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    write_words(
        &mut machine,
        &[
            (0x2058, 0x10000),
            (0x2060, 0x12000),
            (0x2068, KERNEL_MASK),
            (0x2070, 0x2032),
            (0x1c0, KERNEL_MASK),
            (0x1c8, 0x203c),
            (0x210, process),
            (0x218, 0x58000),
            (0x59000, 2),
            (0x5a000, 3),
        ],
    );
    two_spaces(&mut machine);
    let storage = &mut machine.bus.storage;
    let lowcore = [0xb2, 0xb2, 0x02, 0x10];
    storage
        .write(AbsoluteAddress::new(0x400), &lowcore)
        .unwrap();
    storage.write(AbsoluteAddress::new(0x70000), code).unwrap();
    machine
}

/// The machine `build` makes, run by the interpreter and the kvm engine
/// (`super::on_both`): the same registers and PSW, lowcore, kernel code
/// and data (0x2000-0x21ff) and process's page table; the kvm run and its
/// engine and the interpreter's run, or `None` where KVM is unavailable.
pub fn on_both_compared(build: impl Fn() -> Machine) -> Option<(Machine, KvmEngine, Machine)> {
    let (reference, kvm) = on_both(build, 100_000);
    let (machine, engine) = kvm?;
    assert_same(&machine, &reference);
    for (at, len) in [(0, 0x2000), (0x2000, 0x200), (0x13000, 0x1000)] {
        assert_eq!(bytes_at(&machine, at, len), bytes_at(&reference, at, len));
    }
    Some((machine, engine, reference))
}
