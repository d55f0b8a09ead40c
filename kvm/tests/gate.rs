//! The gate (docs/CHOICES.md 77): Linux's return to a process, a branch
//! to an LPSWE in the prefix area, completed in the VM. The image runs
//! the LPSWE as the interpreter does, asks the CPL0 #BP handler for the
//! process's root by its index in the table the host publishes, and the
//! chain goes on in the process's block; the host takes the root the VM
//! loaded into its mirror at its next exit. Here a kernel in the
//! home-space mode loads the process's ASCE into CR1 and branches to
//! `lpswe 0x210` at 0x400; the process (`ag r8,0x59000 ; svc 0`) comes
//! back through its SVC; at each turn the kernel purges the process's
//! page-table entry for 0x59000 (IPTE, in the process's root, which is
//! not loaded then) and points it at the other of two frames, so the
//! process reads the frame the tables give only if the purge reached the
//! root the gate switches to. Every run gives the interpreter's
//! registers, PSW, lowcore and storage.

mod common;

use common::system_call::{
    machine, on_both_compared, KEY_1, MASKS, PER, PROCESS, PROCESS_MASK, TURNS, WAIT,
};
use common::{host_time, write_words};
use zmmu_kvm::KvmEngine;
use zmmu_machine::Machine;

/// The machine with the process's PSW `process`, run by the interpreter
/// and the kvm engine: the same registers, PSW, lowcore and storage (the
/// page tables, the kernel's data); the kvm run and its engine, or `None`
/// where KVM or host time is unavailable.
fn run(process: u64) -> Option<(Machine, KvmEngine, Machine)> {
    run_with(process, |_| {})
}

/// [`run`] with `adjust` made to the machine first.
fn run_with(process: u64, adjust: fn(&mut Machine)) -> Option<(Machine, KvmEngine, Machine)> {
    let time = host_time()?;
    let build = || {
        let mut machine = machine(process, &PROCESS, time);
        adjust(&mut machine);
        machine
    };
    on_both_compared(build)
}

/// The turns of the loop with the process's PSW `process`: the
/// interpreter's result, the LPSWEs the image completed (all but the
/// first, whose root and block are not there yet) and the exits.
fn turns(process: u64) {
    let Some((machine, engine, _)) = run(process) else {
        return;
    };
    // 2 and 3 in turn: each turn read the frame the tables gave.
    assert_eq!((machine.cpu.gpr[8], machine.cpu.gpr[1]), (5 * TURNS / 2, 0));
    let lpswes = engine.lpswes_in_vm();
    // Not the kicks of the deadline, which come with the host's time.
    let stats = engine.host().stats();
    let exits = stats.exits - stats.kicks;
    eprintln!("{process:#x}: {TURNS} turns, {exits} exits, {lpswes} LPSWEs in the VM");
    assert!(lpswes >= TURNS - 2, "{lpswes} LPSWEs in the VM");
    // Per turn: the SVC's and the IPTE's host calls and the fault of the
    // page mapped anew, no exit for the return to the process (four with
    // it: the chain ends at the miss there).
    assert!(exits <= 3 * TURNS + TURNS / 4, "{exits} exits");
}

#[test]
fn the_return_to_a_process_through_the_lowcore_lpswe_runs_in_the_vm() {
    turns(PROCESS_MASK);
}

/// A process under the PSW key 1, whose blocks the host does not publish
/// (the image's fetch would need the storage key): the image completes
/// the LPSWE and the dispatcher finds the process's block in the jump
/// cache under the new bits.
#[test]
fn a_block_not_published_is_found_in_the_jump_cache_after_the_switch() {
    turns(PROCESS_MASK | KEY_1);
}

/// The I/O and external masks the LPSWE turns on (Linux's process PSW):
/// under host time on one CPU with nothing pending the host's mask floor
/// lets the image set them.
#[test]
fn the_interruption_masks_are_set_below_the_hosts_floor() {
    let Some((machine, engine, _)) = run(PROCESS_MASK | MASKS) else {
        return;
    };
    assert_eq!(machine.cpu.gpr[8], 5 * TURNS / 2);
    assert!(engine.lpswes_in_vm() >= TURNS - 2);
}

/// New PSWs the image refuses, which the host loads as the interpreter
/// does: PER on (PSW bit 1), the wait state (a disabled wait: the run
/// stops there), an invalid PSW (bit 0 on: a specification exception,
/// whose new PSW is a disabled wait), an odd address.
#[test]
fn a_new_psw_the_image_refuses_is_the_hosts() {
    for (process, lpswes) in [
        (PROCESS_MASK | PER, 0),
        (PROCESS_MASK | WAIT, 0),
        (PROCESS_MASK | 1 << 63, 0),
    ] {
        let Some((_, engine, _)) = run(process) else {
            return;
        };
        assert_eq!(engine.lpswes_in_vm(), lpswes, "{process:#x}");
    }
}

/// The LPSWE turns the external mask on while the clock comparator's
/// condition holds (CR0's clock-comparator subclass mask on, the
/// comparator 0): an interruption becomes takeable, the host's mask
/// floor is 0, and the machine takes it as the interpreter does (its new
/// PSW a disabled wait, where the run stops). The run stops at the first
/// LPSWE, whose process root is not published yet either: the floor's
/// own refusal is `zmmu_vm_runtime::gate`'s test
/// `the_masks_change_only_below_the_hosts_floor`.
#[test]
fn masks_with_an_interruption_pending_are_the_hosts() {
    let pending = |machine: &mut Machine| {
        machine.cpu.cr[0] |= 0x800;
        machine.cpu.clock_comparator = 0;
        write_words(machine, &[(0x1b0, 0x0002_0001_8000_0000), (0x1b8, 0x888)]);
    };
    let Some((machine, engine, _)) = run_with(PROCESS_MASK | MASKS, pending) else {
        return;
    };
    assert_eq!(machine.cpu.psw.addr, 0x888);
    assert_eq!(engine.lpswes_in_vm(), 0);
}
