//! The system-call path of an operating system on the kvm engine: a
//! kernel in the home-space mode loads the process's ASCE into CR1 and
//! LPSWE's to the process in the problem state; its SVC comes back to the
//! kernel, which loads its own ASCE into CR1 again (Linux's entry and
//! exit). The kernel's LCTLGs complete in the VM (in the home-space mode
//! CR1 chooses neither the root nor the fetches), and the chain follows
//! each LPSWE into the new address space without leaving the VM (the root
//! switched during the host call), exactly as the interpreter runs it; it
//! leaves where the new state is one it cannot follow.

mod common;

use common::system_call::{two_spaces, KERNEL_MASK, PER, PROCESS_MASK};
use common::{count, host_time, on_both, program_machine, write_words};
use zmmu_cpu::clock::{Clock, TOD_2026};
use zmmu_kvm::reasons::Leave;
use zmmu_kvm::TscTime;
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Turns of [`KERNEL`]'s loop.
const TURNS: u64 = 200;

/// From 0x2000 with DAT off: `larl r2` (the data at 0x2038), `lctlg
/// c13,c13,0(r2)` and `lctlg c1,c1,0(r2)` (space A, the kernel's), `lghi
/// r1,200`, `lpswe 16(r2)` (the kernel's PSW: DAT on, home-space mode, at
/// 0x201a); there, 200 times: `lctlg c1,c1,8(r2)` (space B, the
/// process's), `lpswe 32(r2)` (the process's PSW, at 0x58000); its SVC's
/// new PSW is the kernel's at 0x2024: `lctlg c1,c1,0(r2)`, `brctg r1`
/// back; then an invalid opcode. Data: the ASCEs of A and B, the
/// kernel's PSW, the process's PSW.
const KERNEL: [u8; 56] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x1c, 0xeb, 0xdd, 0x20, 0x00, 0x00, 0x2f, 0xeb, 0x11, 0x20, 0x00,
    0x00, 0x2f, 0xa7, 0x19, 0x00, 0xc8, 0xb2, 0xb2, 0x20, 0x10, 0xeb, 0x11, 0x20, 0x08, 0x00, 0x2f,
    0xb2, 0xb2, 0x20, 0x20, 0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0xa7, 0x17, 0xff, 0xf8, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// [`KERNEL`] with two address spaces that map the first MiB onto itself
/// but 0x58000: space A (segment table 0x10000, page table 0x11000) leaves
/// it invalid, space B (0x12000, 0x13000) maps it onto frame 0x70000, the
/// process's code (`aghi r8,2 ; svc 0`); the process runs under
/// `process_mask`, under host time (`time`: under virtual time every
/// change of the PSW leaves the chain for the machine to look).
fn syscall_machine(process_mask: u64, time: TscTime) -> Machine {
    let mut machine = program_machine(0x2000, &KERNEL);
    machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    write_words(
        &mut machine,
        &[
            (0x2038, 0x10000),
            (0x2040, 0x12000),
            (0x2048, KERNEL_MASK),
            (0x2050, 0x201a),
            (0x2058, process_mask),
            (0x2060, 0x58000),
            // The SVC new PSW.
            (0x1c0, KERNEL_MASK),
            (0x1c8, 0x2024),
        ],
    );
    two_spaces(&mut machine);
    let process = [0xa7, 0x8b, 0x00, 0x02, 0x0a, 0x00];
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0x70000), &process)
        .unwrap();
    machine
}

/// Host calls of `mnemonic` after which the chain left: (for what the call
/// changed, for the batch's deadline, which host time may reach at any
/// call).
fn left(engine: &zmmu_kvm::KvmEngine, mnemonic: &str) -> (u64, u64) {
    let mut left = (0, 0);
    for ((m, why), n) in engine.reasons().left_by_mnemonic() {
        match why {
            _ if m != mnemonic => {}
            Leave::Deadline => left.1 += n,
            _ => left.0 += n,
        }
    }
    left
}

#[test]
fn a_system_call_path_switches_address_spaces_without_leaving_the_chain() {
    let Some(time) = host_time() else {
        return;
    };
    let (reference, kvm) = on_both(|| syscall_machine(PROCESS_MASK, time), 10_000);
    assert_eq!((reference.cpu.gpr[8], reference.cpu.gpr[1]), (2 * TURNS, 0));
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!((machine.cpu.gpr[8], machine.cpu.gpr[1]), (2 * TURNS, 0));
    let (lctlg, lpswe) = (left(&engine, "LCTLG"), left(&engine, "LPSWE"));
    assert_eq!(
        (lctlg.0, lpswe.0),
        (0, 0),
        "{:?}",
        engine.reasons().left_by_mnemonic()
    );
    // The kernel's LCTLGs of CR1 (the home space's root stays) complete
    // in the VM; each LPSWE (and the setup's LCTLG of CR13) switches the
    // root during its host call.
    let completed = engine.completed_in_vm();
    let lctlg_in_vm = count(&completed, "LCTLG");
    assert!(lctlg_in_vm >= 2 * TURNS, "{completed:?}");
    let switched = |mnemonic| count(&engine.reasons().switched_by_mnemonic(), mnemonic);
    assert_eq!(switched("LPSWE") + lpswe.1, TURNS + 1);
}

/// A PSW with the PER mask on (no PER event selected by CR9, so nothing
/// is recognized) is not one the chain follows: each LPSWE to it leaves,
/// and the machine runs it as the interpreter does.
#[test]
fn an_lpswe_to_a_psw_with_per_on_leaves_the_chain() {
    let Some(time) = host_time() else {
        return;
    };
    let (reference, kvm) = on_both(|| syscall_machine(PROCESS_MASK | PER, time), 10_000);
    assert_eq!(reference.cpu.gpr[8], 2 * TURNS);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.gpr[8], 2 * TURNS);
    let (changed, deadline) = left(&engine, "LPSWE");
    assert!(
        changed + deadline >= TURNS,
        "{changed} + {deadline} LPSWEs left"
    );
}

/// Linux's return to the problem state: the kernel branches to an LPSWE
/// in its lowcore (`b 0x400` in place of [`KERNEL`]'s `lpswe 32(r2)`),
/// which stores the process's PSW beside it first (`mvc 0x200(16),32(r2)
/// ; lpswe 0x200`), and each SVC stores its old PSW there too. The
/// interpreter runs what is in the prefix area (a block there would be
/// dropped at each such store and translated again): the interpreter's
/// registers and count, with a few blocks translated, not one a turn.
#[test]
fn an_lpswe_in_the_lowcore_is_not_translated_again_each_turn() {
    let Some(time) = host_time() else {
        return;
    };
    let build = || {
        let mut machine = syscall_machine(PROCESS_MASK, time);
        let storage = &mut machine.bus.storage;
        for (at, bytes) in [
            (0x2020, &[0x47, 0xf0, 0x04, 0x00][..]),
            (
                0x400,
                &[0xd2, 0x0f, 0x02, 0x00, 0x20, 0x20, 0xb2, 0xb2, 0x02, 0x00][..],
            ),
        ] {
            storage.write(AbsoluteAddress::new(at), bytes).unwrap();
        }
        machine
    };
    let (reference, kvm) = on_both(build, 10_000);
    assert_eq!((reference.cpu.gpr[8], reference.cpu.gpr[1]), (2 * TURNS, 0));
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!((machine.cpu.gpr[8], machine.cpu.gpr[1]), (2 * TURNS, 0));
    let stats = engine.stats();
    assert!(stats.blocks < 20, "{stats:?}");
    assert!(stats.steps >= 2 * TURNS, "{stats:?}");
}
