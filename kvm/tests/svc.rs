//! Linux's system call completed in the VM (docs/CHOICES.md 80): a
//! process in the primary space makes an SVC, the image delivers its
//! interruption with the interpreter's code (`Cpu::deliver`: the
//! interruption code and ILC at real 0x88-0x8b, the old PSW at 0x140,
//! the new PSW from 0x1c0) into the lowcore frame the host listed
//! storable after its own delivery there, switches to the kernel's root
//! (the home space) through the gate and sends the chain to the
//! dispatcher at the new PSW's address; the kernel comes back through the
//! lowcore LPSWE (docs/CHOICES.md 77). The loop is kvm/tests/gate.rs's
//! (the kernel purges and remaps the process's data page at each turn).
//! Every run gives the interpreter's registers, PSW, lowcore (old PSW,
//! interruption code, ILC) and storage, and the lowcore frame's storage
//! key.

mod common;

use common::system_call::{
    machine, on_both_compared, KERNEL_MASK, MASKS, PER, PROCESS, PROCESS_MASK, TURNS, WAIT,
};
use common::{host_time, in_vm, write_words};
use zmmu_kvm::reasons::ChainEnd;
use zmmu_kvm::KvmEngine;
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// The kernel's entry saves a register in the lowcore, as Linux's does
/// (`stg r9,0x300`): its store sets the frame's change bit, which the
/// interruption's stores do not (core/cpu's delivery). The host lists
/// the frame after its next delivery.
const SAVE: [u8; 6] = [0xe3, 0x90, 0x03, 0x00, 0x00, 0x24];

/// The machine with the process's PSW `process` and code `code`, the
/// kernel entered at 0x2100 ([`SAVE`]), `adjust` made to it, run by the interpreter and the kvm engine: the same
/// registers, PSW, lowcore, storage (the page tables, the kernel's data)
/// and the lowcore frame's storage key; the kvm run, its engine and the
/// SVCs the image completed, or `None` where KVM or host time is
/// unavailable.
fn run(process: u64, code: &[u8], adjust: fn(&mut Machine)) -> Option<(Machine, KvmEngine, u64)> {
    let time = host_time()?;
    let build = || {
        let mut machine = machine(process, code, time);
        entered_at_0x2100(&mut machine, &SAVE);
        adjust(&mut machine);
        machine
    };
    let (machine, engine, reference) = on_both_compared(build)?;
    let key = |m: &Machine| m.bus.storage.key(AbsoluteAddress::new(0));
    assert_eq!(key(&machine), key(&reference), "the lowcore frame's key");
    let svcs = in_vm(&engine, "SVC");
    Some((machine, engine, svcs))
}

/// The SVC's new PSW: the kernel's at 0x2100, ahead of its code at
/// 0x203c, there `prologue` (a branch back to 0x203c after it).
fn entered_at_0x2100(machine: &mut Machine, prologue: &[u8]) {
    write_words(machine, &[(0x1c8, 0x2100)]);
    let mut code = prologue.to_vec();
    // `j 0x203c`.
    let back = (0x203c - (0x2100 + code.len() as i64)) / 2;
    code.extend_from_slice(&[0xa7, 0xf4]);
    code.extend_from_slice(&(back as i16).to_be_bytes());
    let storage = &mut machine.bus.storage;
    storage.write(AbsoluteAddress::new(0x2100), &code).unwrap();
}

fn no_change(_: &mut Machine) {}

/// The loop's turns: the interpreter's result, the SVCs and LPSWEs the
/// image completed (all but the first two: the host lists the lowcore
/// frame after its own delivery once the kernel's store changed it, and
/// the kernel's root must be published) and the exits.
fn turns(process: u64, adjust: fn(&mut Machine)) {
    let Some((machine, engine, svcs)) = run(process, &PROCESS, adjust) else {
        return;
    };
    assert_eq!((machine.cpu.gpr[8], machine.cpu.gpr[1]), (5 * TURNS / 2, 0));
    let stats = engine.host().stats();
    let exits = stats.exits - stats.kicks;
    let lpswes = engine.lpswes_in_vm();
    eprintln!(
        "{process:#x}: {TURNS} turns, {exits} exits, {svcs} SVCs and {lpswes} LPSWEs in the VM"
    );
    assert!(svcs >= TURNS - 3, "{svcs} SVCs in the VM");
    // A kick at the deadline (the host's look every 10 ms: many in a
    // debug build) that ends the chain at the block boundary before the
    // LPSWE leaves that LPSWE to the host, which runs it at once.
    let kicked = engine.reasons().chains(ChainEnd::Deadline);
    assert!(
        lpswes + kicked >= TURNS - 2,
        "{lpswes} LPSWEs in the VM, {kicked} chains ended at the deadline"
    );
    // Per turn: the IPTE's host call and the fault of the page mapped
    // anew; none for the SVC (three with it: the chain left there).
    assert!(exits <= 2 * TURNS + TURNS / 4, "{exits} exits");
}

#[test]
fn the_system_call_is_delivered_in_the_vm() {
    turns(PROCESS_MASK, no_change);
}

/// Linux's process PSW has the I/O and external masks on, its SVC new
/// PSW has them off: nothing can be taken after the switch, the image
/// turns them off whatever the floor (and the LPSWE on, below it).
#[test]
fn the_masks_turned_off_by_the_system_call() {
    turns(PROCESS_MASK | MASKS, no_change);
}

/// An SVC the target of an EXECUTE (`exrl 0,svc`: the ILC is 2, the
/// old PSW after the EXRL) is the host's.
#[test]
fn an_executed_svc_is_the_hosts() {
    // `ag r8,0x59000`, `exrl 0,+8`, `svc 0` (the target, after a `nopr`
    // the process never runs to).
    let code = [
        0xe3, 0x80, 0x00, 0x00, 0x59, 0x08, 0xc6, 0x00, 0x00, 0x00, 0x00, 0x04, 0x07, 0x00, 0x0a,
        0x00,
    ];
    let Some((machine, _, svcs)) = run(PROCESS_MASK, &code, no_change) else {
        return;
    };
    assert_eq!(machine.cpu.gpr[8], 5 * TURNS / 2);
    assert_eq!(svcs, 0);
}

/// New PSWs the image refuses, which the host loads as the interpreter
/// does: the wait state (a disabled wait: the run stops at the first
/// SVC), an invalid PSW (bit 0: a specification exception, whose new
/// PSW is a disabled wait), PER on, an odd address.
#[test]
fn a_new_psw_the_image_refuses_is_the_hosts() {
    for adjust in [
        (|m: &mut Machine| write_words(m, &[(0x1c0, KERNEL_MASK | WAIT)])) as fn(&mut Machine),
        |m| write_words(m, &[(0x1c0, KERNEL_MASK | 1 << 63)]),
        |m| write_words(m, &[(0x1c0, KERNEL_MASK | PER)]),
        |m| write_words(m, &[(0x1c8, 0x2101)]),
    ] {
        let Some((_, _, svcs)) = run(PROCESS_MASK, &PROCESS, adjust) else {
            return;
        };
        assert_eq!(svcs, 0);
    }
}

/// The kernel's entry stores nothing in the lowcore frame: after the
/// host's delivery its change bit is off, the host lists it referenced,
/// not storable, and every SVC stays the host's.
#[test]
fn a_lowcore_frame_only_referenced_is_the_hosts() {
    let Some((machine, _, svcs)) = run(PROCESS_MASK, &PROCESS, |m| entered_at_0x2100(m, &[]))
    else {
        return;
    };
    assert_eq!(machine.cpu.gpr[8], 5 * TURNS / 2);
    assert_eq!(svcs, 0);
}

/// The kernel's entry sets the lowcore frame's storage key to zero after
/// its store (`sske r7,r9`: R and C off) at every turn: the host finds
/// the change bit off after each delivery and does not list the frame
/// storable, so no SVC is the image's.
#[test]
fn a_lowcore_frame_not_listed_storable_is_the_hosts() {
    let reset_key = |m: &mut Machine| {
        let mut prologue = SAVE.to_vec();
        prologue.extend_from_slice(&[0xb2, 0x2b, 0x00, 0x79]);
        entered_at_0x2100(m, &prologue);
    };
    let Some((machine, _, svcs)) = run(PROCESS_MASK, &PROCESS, reset_key) else {
        return;
    };
    assert_eq!(machine.cpu.gpr[8], 5 * TURNS / 2);
    assert_eq!(svcs, 0);
}
