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

use common::{assert_same, bytes_at, host_time, on_both, program_machine, write_words};
use zmmu_cpu::clock::{Clock, TOD_2026};
use zmmu_kvm::{KvmEngine, TscTime};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Turns of [`KERNEL`]'s loop.
const TURNS: u64 = 200;

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
const KERNEL: [u8; 88] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x2c, 0xeb, 0xdd, 0x20, 0x00, 0x00, 0x2f, 0xeb, 0x11, 0x20, 0x00,
    0x00, 0x2f, 0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x31, 0x00, 0x01, 0x30, 0x00, 0xc0, 0x41, 0x00, 0x05,
    0x90, 0x00, 0xc0, 0x51, 0x00, 0x05, 0x90, 0x00, 0xc0, 0x61, 0x00, 0x00, 0x30, 0x00, 0xb2, 0xb2,
    0x20, 0x10, 0xeb, 0x11, 0x20, 0x08, 0x00, 0x2f, 0x47, 0xf0, 0x04, 0x00, 0xeb, 0x11, 0x20, 0x00,
    0x00, 0x2f, 0xb2, 0x21, 0x00, 0x34, 0xb9, 0x82, 0x00, 0x56, 0xe3, 0x50, 0x32, 0xc8, 0x00, 0x24,
    0xa7, 0x17, 0xff, 0xf1, 0x00, 0x00, 0x00, 0x00,
];

/// DAT on, home-space mode, 64-bit addressing (PoP "Program-Status Word").
const KERNEL_MASK: u64 = 0x0400_c001_8000_0000;
/// DAT on, problem state, primary-space mode, 64-bit addressing.
const PROCESS_MASK: u64 = 0x0401_0001_8000_0000;
/// The I/O and external masks (PSW bits 6 and 7).
const MASKS: u64 = 0x0300_0000_0000_0000;
/// The PSW key 1 (PSW bits 8-11).
const KEY_1: u64 = 0x0010_0000_0000_0000;
/// The PER mask (PSW bit 1).
const PER: u64 = 0x4000_0000_0000_0000;
/// The wait state (PSW bit 14).
const WAIT: u64 = 0x0002_0000_0000_0000;

/// [`KERNEL`] with two address spaces that map the first MiB onto itself
/// but 0x58000: space A (segment table 0x10000, page table 0x11000) leaves
/// it invalid, space B (0x12000, 0x13000) maps it onto frame 0x70000, the
/// process's code; 0x59000 holds 2, 0x5a000 holds 3. The lowcore holds
/// `lpswe 0x210` at 0x400 and the process's PSW (`process`, at 0x58000) at
/// 0x210; the SVC new PSW is the kernel's. Under `time`.
fn machine(process: u64, time: TscTime) -> Machine {
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
    let storage = &mut machine.bus.storage;
    let mut put = |at: u64, value: u64| {
        storage.write_u64(AbsoluteAddress::new(at), value).unwrap();
    };
    for (segments, pages, mapped) in [(0x10000, 0x11000, false), (0x12000, 0x13000, true)] {
        for segment in 0..512 {
            put(
                segments + segment * 8,
                if segment == 0 { pages } else { 0x20 },
            );
        }
        for page in 0..256 {
            let entry = match page << 12 {
                0x58000 if mapped => 0x70000,
                0x58000 => 0x400,
                at => at,
            };
            put(pages + page * 8, entry);
        }
    }
    let lowcore = [0xb2, 0xb2, 0x02, 0x10];
    storage
        .write(AbsoluteAddress::new(0x400), &lowcore)
        .unwrap();
    let code = [0xe3, 0x80, 0x00, 0x00, 0x59, 0x08, 0x0a, 0x00];
    storage.write(AbsoluteAddress::new(0x70000), &code).unwrap();
    machine
}

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
        let mut machine = machine(process, time);
        adjust(&mut machine);
        machine
    };
    let (reference, kvm) = on_both(build, 100_000);
    let (machine, engine) = kvm?;
    assert_same(&machine, &reference);
    for (at, len) in [(0, 0x2000), (0x2000, 0x80), (0x13000, 0x1000)] {
        assert_eq!(bytes_at(&machine, at, len), bytes_at(&reference, at, len));
    }
    Some((machine, engine, reference))
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
