//! A program at 0x2000 under DAT over a data area of distinct bytes,
//! mapped onto itself but for a page whose entry is invalid and a page
//! mapped onto the frame of the next: the operands of the tests of
//! instructions translated under the host MMU, compared with the
//! interpreter's.

use zmmu_kvm::KvmEngine;
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

use super::{assert_same, bytes_at, count, in_vm, on_both, page_table, program_machine};

/// The data area.
pub const DATA: u64 = 0x2_0000;
pub const DATA_LEN: usize = 0x2_0000;
/// A page whose page-table entry is invalid.
pub const INVALID: u64 = 0x3_0000;
/// A page mapped onto the frame of the page after it, which is mapped
/// onto itself: two logical pages, one frame.
pub const ALIAS: u64 = 0x3_1000;

/// DAT on (PSW bit 5).
const DAT: u64 = 0x0400_0000_0000_0000;

/// `program` at 0x2000 under DAT (segment table 0x10000, page table
/// 0x11000 for the first MiB), the data area's bytes distinct in every
/// 251-byte run, the registers as `set` leaves them.
pub fn paged_machine(program: &[u8], set: impl Fn(&mut [u64; 16])) -> Machine {
    let mut machine = program_machine(0x2000, program);
    let pattern: Vec<u8> = (0..DATA_LEN).map(|i| (i * 7 + i / 251) as u8).collect();
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(DATA), &pattern)
        .unwrap();
    super::segment_table(&mut machine, 0x1_0000, 0x1_1000);
    page_table(&mut machine, 0x1_1000, |page| match page {
        INVALID => 0x400,
        ALIAS => ALIAS + 0x1000,
        _ => page,
    });
    machine.cpu.cr[1] = 0x1_0000;
    machine.cpu.psw.mask |= DAT;
    set(&mut machine.cpu.gpr);
    machine
}

/// Runs `build`'s machine on both engines: the kvm engine's registers,
/// PSW, lowcore, the low page and the program's, and the data area are
/// the interpreter's (`what` names the case); answers the reference and
/// the instructions named `mnemonics` the kvm engine ran other than in
/// translated code (by the host or the in-VM image, for a slow path or
/// untranslated), or `None` where KVM is unavailable.
pub fn run_paged(
    build: impl Fn() -> Machine,
    mnemonics: &[&str],
    what: &str,
) -> Option<(Machine, u64)> {
    let (reference, kvm) = on_both(build, 1000);
    let (machine, engine) = kvm?;
    assert_same(&machine, &reference);
    for (at, len) in [(0x1000, 0x2000), (DATA, DATA_LEN)] {
        let (ours, want) = (bytes_at(&machine, at, len), bytes_at(&reference, at, len));
        let differ = ours.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(
            differ, None,
            "{what}: the first byte that differs from {at:#x}"
        );
    }
    Some((reference, calls(&engine, mnemonics)))
}

/// The instructions named `mnemonics` `engine` ran other than in
/// translated code.
fn calls(engine: &KvmEngine, mnemonics: &[&str]) -> u64 {
    let reasons = engine.reasons();
    mnemonics
        .iter()
        .map(|m| {
            in_vm(engine, m)
                + count(&reasons.slow_paths_by_mnemonic(), m)
                + count(&reasons.untranslated_by_mnemonic(), m)
        })
        .sum()
}

/// The program-interruption code: 1 (operation) at a program's end.
pub fn interruption(machine: &Machine) -> u16 {
    let code = bytes_at(machine, 0x8e, 2);
    u16::from_be_bytes([code[0], code[1]])
}
