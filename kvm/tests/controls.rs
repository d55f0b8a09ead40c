//! The control and multiple-register instructions the in-VM runtime image
//! completes without an exit (docs/CHOICES.md 50): STCTG and STCTL (PoP
//! ch. 10, "Store Control": the control registers are only read), VSTM,
//! STAM and LAM (one operand range in one page), and SCKC (PoP ch. 4,
//! "Clock Comparator") where the new comparator is neither pending nor
//! due before the batch's deadline. Their results equal the
//! interpreter's, a loop of them costs O(1) VM exits, and what the image
//! must leave to the host (a privileged instruction in the problem state,
//! a store into the protected lowcore, a comparator already past, any
//! comparator under virtual time) gives the interpreter's result.

mod common;

use common::{
    assert_same, bytes_at, count, host_time, in_vm, on_both, program_machine, write_words,
};
use zmmu_cpu::clock::{Clock, TOD_2026};
use zmmu_cpu::state::mask;
use zmmu_kvm::TscTime;
use zmmu_machine::interrupt::CR0_CLOCK_COMPARATOR;
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// CR0 bits 45 (AFP-register control) and 46 (vector enablement).
const AFP_AND_VECTOR: u64 = 1 << 18 | 1 << 17;

/// CR0 bit 35: low-address protection.
const LOW_ADDRESS_PROTECTION: u64 = 1 << 28;

/// Iterations of the loops.
const TURNS: u64 = 200;

/// lghi r3,200 ; lgr r4,r5 (the operands' base) ; X: stctg c0,c15,0(r4) ;
/// stctl c0,c1,128(r4) ; vstm v0,v15,0x100(r4) ; stam a0,a15,0x200(r4) ;
/// lam a1,a2,0x300(r4) ; brct r3,X ; then an invalid opcode.
const STORES: [u8; 36] = [
    0xa7, 0x39, 0x00, 0xc8, 0xb9, 0x04, 0x00, 0x45, 0xeb, 0x0f, 0x40, 0x00, 0x00, 0x25, 0xb6, 0x01,
    0x40, 0x80, 0xe7, 0x0f, 0x41, 0x00, 0x00, 0x3e, 0x9b, 0x0f, 0x42, 0x00, 0x9a, 0x12, 0x43, 0x00,
    0xa7, 0x36, 0xff, 0xf2,
];

/// [`STORES`] (and an invalid opcode) at 0x2000 with its operands at `base`,
/// distinct control, access and vector registers, and the words LAM loads
/// at `base + 0x300`; in the problem state if `problem`, with low-address
/// protection if `protected`.
fn stores_machine(base: u64, problem: bool, protected: bool) -> Machine {
    let mut program = STORES.to_vec();
    program.extend([0, 0]);
    let mut machine = program_machine(0x2000, &program);
    for r in 0..16 {
        machine.cpu.cr[r] |= 0x0100_0000_0000 * r as u64;
        machine.cpu.ar[r] = 0x1000 + r as u32;
        machine.cpu.vr[r] = [r as u64, !(r as u64)];
    }
    machine.cpu.cr[0] |= AFP_AND_VECTOR | if protected { LOW_ADDRESS_PROTECTION } else { 0 };
    machine.cpu.gpr[5] = base;
    if problem {
        machine.cpu.psw.mask |= mask::PROBLEM;
    }
    machine
        .bus
        .storage
        .write(
            AbsoluteAddress::new(base + 0x300),
            &[1, 2, 3, 4, 5, 6, 7, 8],
        )
        .unwrap();
    machine
}

/// What both runs must agree on ([`assert_same`]), and the access
/// registers and the operands at `base`.
fn assert_same_operands(machine: &Machine, reference: &Machine, base: u64) {
    assert_same(machine, reference);
    assert_eq!(machine.cpu.ar, reference.cpu.ar);
    assert_eq!(
        bytes_at(machine, base, 0x308),
        bytes_at(reference, base, 0x308)
    );
}

#[test]
fn control_and_access_register_stores_complete_in_the_vm() {
    let (reference, kvm) = on_both(|| stores_machine(0x3000, false, false), 100_000);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same_operands(&machine, &reference, 0x3000);
    assert_eq!(machine.cpu.ar[1], 0x0102_0304, "LAM's words");
    let completed = engine.completed_in_vm();
    for mnemonic in ["STCTG", "STCTL", "VSTM", "STAM", "LAM"] {
        assert!(
            completed.contains(&(mnemonic, TURNS)),
            "{mnemonic}: {completed:?}"
        );
    }
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for {TURNS} turns of the loop");
}

#[test]
fn store_control_in_the_problem_state_is_the_interpreters_privileged_operation() {
    let (reference, kvm) = on_both(|| stores_machine(0x3000, true, false), 100_000);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same_operands(&machine, &reference, 0x3000);
    assert_eq!(bytes_at(&machine, 0x8e, 2), [0, 2], "privileged operation");
    assert!(!engine.completed_in_vm().iter().any(|&(m, _)| m == "STCTG"));
}

#[test]
fn store_control_into_the_protected_lowcore_is_the_interpreters_protection_exception() {
    let (reference, kvm) = on_both(|| stores_machine(0x100, false, true), 100_000);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same_operands(&machine, &reference, 0x100);
    assert_eq!(bytes_at(&machine, 0x8e, 2), [0, 4], "protection");
    assert!(!engine.completed_in_vm().iter().any(|&(m, _)| m == "STCTG"));
}

/// lctlg c0,c0,0x110 (the clock-comparator subclass) ; stosm 0x118,0x01
/// (external interruptions on) ; lghi r1,200 ; X: sckc 0x100 ; sckc
/// 0x120 ; brctg r1,X ; sckc 0x108 ; then an invalid opcode.
const COMPARATORS: [u8; 32] = [
    0xeb, 0x00, 0x01, 0x10, 0x00, 0x2f, 0xad, 0x01, 0x01, 0x18, 0xa7, 0x19, 0x00, 0xc8, 0xb2, 0x06,
    0x01, 0x00, 0xb2, 0x06, 0x01, 0x20, 0xa7, 0x17, 0xff, 0xfc, 0xb2, 0x06, 0x01, 0x08, 0x00, 0x00,
];

/// Two comparators that never come due.
const FAR: u64 = u64::MAX - 1;
const FARTHER: u64 = u64::MAX;

/// [`COMPARATORS`] at 0x2000, the comparator at first [`FARTHER`],
/// setting it to [`FAR`] and [`FARTHER`] 200 times (each SCKC a change),
/// then to `last`, in host `time` if given (else virtual time), with a
/// disabled-wait external-new PSW (address 0x999).
fn comparators_machine(last: u64, time: Option<TscTime>) -> Machine {
    let mut machine = program_machine(0x2000, &COMPARATORS);
    machine.cpu.clock_comparator = FARTHER;
    if let Some(time) = time {
        machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    }
    let words = [
        (0x100, FAR),
        (0x120, FARTHER),
        (0x108, last),
        (0x110, CR0_CLOCK_COMPARATOR),
        (0x1b0, 0x0002_0001_8000_0000),
        (0x1b8, 0x999),
    ];
    write_words(&mut machine, &words);
    machine
}

#[test]
fn a_comparator_past_the_deadline_is_set_in_the_vm_under_the_hosts_clock() {
    let Some(time) = host_time() else {
        return;
    };
    let (reference, kvm) = on_both(|| comparators_machine(FAR, Some(time)), 10_000);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.clock_comparator, FAR);
    // Each of the loop's set the comparator in the VM.
    assert!(
        in_vm(&engine, "SCKC") >= 2 * TURNS,
        "{:?}",
        engine.completed_in_vm()
    );
    let stats = engine.host().stats();
    let exits = stats.exits - stats.kicks;
    assert!(exits < 64, "{exits} exits for {TURNS} SCKCs");
}

#[test]
fn a_comparator_already_past_is_the_hosts_and_its_interruption_taken_after_it() {
    // The TOD clock is past 0 at once: the interruption follows the last
    // SCKC, as in the interpreter.
    let Some(time) = host_time() else {
        return;
    };
    let (reference, kvm) = on_both(|| comparators_machine(0, Some(time)), 10_000);
    let Some((machine, _)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.psw.addr, 0x999);
    assert_eq!(
        bytes_at(&machine, 0x86, 2),
        [0x10, 0x04],
        "clock comparator"
    );
    assert_eq!(machine.cpu.clock_comparator, 0);
}

#[test]
fn under_virtual_time_every_comparator_is_the_hosts() {
    let (reference, kvm) = on_both(|| comparators_machine(FAR, None), 10_000);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.clock_comparator, FAR);
    assert_eq!(in_vm(&engine, "SCKC"), 0);
}

/// lghi r1,200 ; lghi r2,0 ; lghi r4,7 ; lgfi r7,0x3000 ; lgfi
/// r8,0x3100 ; larl r6,T1 ; X: ex r0,0(r6) ; exrl r4,T2 ; brctg r1,X ;
/// an invalid opcode ; T1: ahi r2,1 ; T2: mvc 0(1,r7),0(r8) (8 bytes
/// with r4's length).
const EXECUTES: [u8; 56] = [
    0xa7, 0x19, 0x00, 0xc8, 0xa7, 0x29, 0x00, 0x00, 0xa7, 0x49, 0x00, 0x07, 0xc0, 0x71, 0x00, 0x00,
    0x30, 0x00, 0xc0, 0x81, 0x00, 0x00, 0x31, 0x00, 0xc0, 0x60, 0x00, 0x00, 0x00, 0x0b, 0x44, 0x00,
    0x60, 0x00, 0xc6, 0x40, 0x00, 0x00, 0x00, 0x08, 0xa7, 0x17, 0xff, 0xfb, 0x00, 0x00, 0xa7, 0x2a,
    0x00, 0x01, 0xd2, 0x00, 0x70, 0x00, 0x80, 0x00,
];

/// [`EXECUTES`] at 0x2000 with the bytes MVC copies at 0x3100.
fn executes_machine() -> Machine {
    let mut machine = program_machine(0x2000, &EXECUTES);
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0x3100), &[1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    machine
}

/// EXECUTE and EXECUTE RELATIVE LONG fetch their targets through the
/// active root (PoP ch. 7, "EXECUTE") and run them in the VM: the
/// interpreter's registers and storage, O(1) exits.
#[test]
fn execute_targets_run_in_the_vm() {
    executes_run_in_the_vm(executes_machine);
}

/// Runs [`EXECUTES`] as `build` sets it up on both engines: the
/// interpreter's registers, PSW and storage, every EX (of AHI) completed
/// by the image and every EXRL (of MVC, in the block's page) by the
/// translated code, O(1) exits.
fn executes_run_in_the_vm(build: impl Fn() -> Machine) {
    let (reference, kvm) = on_both(build, 10_000);
    assert_eq!(reference.cpu.gpr[2], TURNS);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    assert_eq!(bytes_at(&machine, 0x3000, 8), [1, 2, 3, 4, 5, 6, 7, 8]);
    let completed = engine.completed_in_vm();
    assert!(completed.contains(&("EX", TURNS)), "{completed:?}");
    let reasons = engine.reasons();
    let calls = [
        completed,
        reasons.slow_paths_by_mnemonic(),
        reasons.untranslated_by_mnemonic(),
    ];
    assert!(
        calls.iter().all(|list| count(list, "EXRL") == 0),
        "{calls:?}"
    );
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for {TURNS} turns of the loop");
}

/// CR0 bit 43: instruction-execution protection (facility 130, which the
/// machine offers).
const IEP: u64 = 1 << 20;

/// `machine` with DAT on in the primary space and instruction-execution
/// protection in effect: the segment table at 0x10000 (the ASCE in CR1),
/// its first entry the page table at 0x11000 mapping the first MiB onto
/// itself, the entries of `protected` pages with their IEP bit (PoP ch. 3,
/// "Instruction-Execution Protection": no instruction fetched from them).
fn under_iep(mut machine: Machine, protected: &[u64]) -> Machine {
    let mut words = Vec::new();
    for segment in 0..512 {
        let entry = if segment == 0 { 0x11000 } else { 0x20 };
        words.push((0x10000 + segment * 8, entry));
    }
    for page in 0..256 {
        let iep = if protected.contains(&(page << 12)) {
            0x100
        } else {
            0
        };
        words.push((0x11000 + page * 8, page << 12 | iep));
    }
    write_words(&mut machine, &words);
    machine.cpu.cr[0] |= IEP;
    machine.cpu.cr[1] = 0x10000;
    machine.cpu.psw.mask |= mask::DAT;
    machine
}

/// Under instruction-execution protection the targets of [`EXECUTES`],
/// in the page of their EXECUTE, still run in the VM: that page's entry
/// allowed the EXECUTE's own fetch.
#[test]
fn under_iep_execute_targets_in_their_own_page_run_in_the_vm() {
    executes_run_in_the_vm(|| under_iep(executes_machine(), &[0x3000]));
}

/// The same in the home-space mode (CR13 the ASCE), where instructions
/// and operands both come from the home space, the active root's.
#[test]
fn in_the_home_space_mode_execute_targets_run_in_the_vm() {
    let build = || {
        let mut machine = under_iep(executes_machine(), &[0x3000]);
        machine.cpu.cr[13] = 0x10000;
        machine.cpu.psw.mask |= 3 << 46;
        machine
    };
    executes_run_in_the_vm(build);
}

/// `lgfi r6,0x4000 ; ex r0,0(r6)` of `ahi r2,1` at 0x4000, then an
/// invalid opcode.
const EXECUTE_ELSEWHERE: [u8; 12] = [
    0xc0, 0x61, 0x00, 0x00, 0x40, 0x00, 0x44, 0x00, 0x60, 0x00, 0x00, 0x00,
];

/// [`EXECUTE_ELSEWHERE`] at 0x2000 under instruction-execution
/// protection, page 0x4000 protected from execution if `protected`.
fn execute_elsewhere(protected: bool) -> Machine {
    let mut machine = program_machine(0x2000, &EXECUTE_ELSEWHERE);
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0x4000), &[0xa7, 0x2a, 0x00, 0x01])
        .unwrap();
    under_iep(machine, if protected { &[0x4000] } else { &[] })
}

/// An EXECUTE whose target is in another page is the host's under
/// instruction-execution protection (that page's entry may forbid the
/// fetch where reading is allowed): the interpreter's result, the target
/// run where its page allows it, the protection exception where not.
#[test]
fn under_iep_an_execute_target_in_another_page_is_the_interpreters() {
    for protected in [false, true] {
        let (reference, kvm) = on_both(|| execute_elsewhere(protected), 100);
        let (added, code) = if protected { (0, [0, 4]) } else { (1, [0, 1]) };
        assert_eq!(reference.cpu.gpr[2], added);
        assert_eq!(bytes_at(&reference, 0x8e, 2), code);
        let Some((machine, engine)) = kvm else {
            return;
        };
        assert_same(&machine, &reference);
        let completed = engine.completed_in_vm();
        assert!(
            !completed.iter().any(|&(mnemonic, _)| mnemonic == "EX"),
            "{completed:?}"
        );
    }
}

/// lghi r1,200 ; lgfi r5,0x105000 ; j X (the loop is a block of its
/// own) ; X: stctg c0,c0,0x100(r5) ; brctg r1,X ; lpswe 0x900 (a disabled
/// wait).
const INTO_A_NEW_PAGE: [u8; 28] = [
    0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x51, 0x00, 0x10, 0x50, 0x00, 0xa7, 0xf4, 0x00, 0x02, 0xeb, 0x00,
    0x51, 0x00, 0x00, 0x25, 0xa7, 0x17, 0xff, 0xfd, 0xb2, 0xb2, 0x09, 0x00,
];

/// The program-interruption handler at 0x2800: lgfi r8,0x105000 ; lgfi
/// r9,0x12028 ; stg r8,0(r9) (the page-table entry of 0x105000 made
/// valid) ; lpswe 0x150 (back to the instruction, nullified).
const MAP_THE_PAGE: [u8; 22] = [
    0xc0, 0x81, 0x00, 0x10, 0x50, 0x00, 0xc0, 0x91, 0x00, 0x01, 0x20, 0x28, 0xe3, 0x80, 0x90, 0x00,
    0x00, 0x24, 0xb2, 0xb2, 0x01, 0x50,
];

/// A machine with `program` at 0x2000 under the second MiB's page table
/// at 0x12000 (not the code's), its page at 0x105000 not mapped yet (the
/// doubleword at 0x105100 0x1122334455667788), the program-interruption
/// handler [`MAP_THE_PAGE`].
fn new_page_machine(program: &[u8]) -> Machine {
    let mut machine = program_machine(0x2000, program);
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0x2800), &MAP_THE_PAGE)
        .unwrap();
    let mut machine = under_iep(machine, &[]);
    let second_mib: Vec<(u64, u64)> = (0..256)
        .map(|page| (0x12000 + page * 8, 0x100000 + (page << 12)))
        .collect();
    write_words(&mut machine, &second_mib);
    write_words(
        &mut machine,
        &[
            (0x10008, 0x12000),
            (0x12028, 0x105000 | 0x400),
            (0x1d0, 0x0000_0001_8000_0000),
            (0x1d8, 0x2800),
            (0x900, 0x0002_0001_8000_0000),
            (0x908, 0x777),
            (0x105100, 0x1122_3344_5566_7788),
        ],
    );
    machine
}

/// [`INTO_A_NEW_PAGE`] with `lam a0,a1,0x100(r5) ; bcr 0,0` for the STCTG:
/// a load from the page not mapped yet.
const FROM_A_NEW_PAGE: [u8; 28] = [
    0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x51, 0x00, 0x10, 0x50, 0x00, 0xa7, 0xf4, 0x00, 0x02, 0x9a, 0x01,
    0x51, 0x00, 0x07, 0x00, 0xa7, 0x17, 0xff, 0xfd, 0xb2, 0xb2, 0x09, 0x00,
];

/// A load of the image from a page the guest has not mapped yet: as for a
/// store, the exception leaves that call to the host, not the site. The
/// image reads the host's mark of the fault where the host wrote it,
/// during the access (`Guest::take_transient`); read through the call's
/// own view of the shared page, the compiler took it for the zero the
/// call had stored and the site went to the host for good (VLBB's 59,000
/// host calls in Linux's boot).
#[test]
fn an_exception_at_a_load_in_the_vm_leaves_one_call_to_the_host_not_the_site() {
    let (reference, kvm) = on_both(|| new_page_machine(&FROM_A_NEW_PAGE), 10_000);
    assert_eq!(bytes_at(&reference, 0x8e, 2), [0, 0x11], "page translation");
    assert_eq!(reference.cpu.ar[..2], [0x1122_3344, 0x5566_7788]);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.ar, reference.cpu.ar);
    let completed = engine.completed_in_vm();
    assert!(completed.contains(&("LAM", TURNS)), "{completed:?}");
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for {TURNS} turns of the loop");
}

/// A store of the image into a page the guest has not mapped yet (demand
/// paging's first touch, the second MiB's page table at 0x12000, not the
/// code's): the page-translation exception is the host's to deliver, the
/// guest's handler maps the page, and the instruction, run again, and the
/// later turns complete in the VM: the exception left that call to the
/// host, not the site (docs/CHOICES.md 53c; the site went to the host for
/// good).
#[test]
fn an_exception_in_the_vm_leaves_one_call_to_the_host_not_the_site() {
    let build = || new_page_machine(&INTO_A_NEW_PAGE);
    let (reference, kvm) = on_both(build, 10_000);
    assert_eq!(bytes_at(&reference, 0x8e, 2), [0, 0x11], "page translation");
    assert_eq!(
        bytes_at(&reference, 0x105100, 8),
        reference.cpu.cr[0].to_be_bytes()
    );
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(
        bytes_at(&machine, 0x105100, 8),
        bytes_at(&reference, 0x105100, 8)
    );
    let completed = engine.completed_in_vm();
    assert!(completed.contains(&("STCTG", TURNS)), "{completed:?}");
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for {TURNS} turns of the loop");
}

/// lghi r1,200 ; X: lgfi r2,0x10000 + skew ; lghi r3,4096 ; lgfi
/// r4,0x20000 + skew ; lghi r5,4096 ; mvcle r2,r4,0 ; brctg r1,X ; then
/// an invalid opcode.
fn move_loop(skew: u8) -> Vec<u8> {
    vec![
        0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x21, 0x00, 0x01, 0x00, skew, 0xa7, 0x39, 0x10, 0x00, 0xc0,
        0x41, 0x00, 0x02, 0x00, skew, 0xa7, 0x59, 0x10, 0x00, 0xa8, 0x24, 0x00, 0x00, 0xa7, 0x17,
        0xff, 0xf4, 0x00, 0x00,
    ]
}

/// [`move_loop`] at 0x2000 with 8 KiB of distinct bytes at 0x20000.
fn move_machine(skew: u8) -> Machine {
    let mut machine = program_machine(0x2000, &move_loop(skew));
    let data: Vec<u8> = (0..0x2000u32).map(|i| (i * 7 + 3) as u8).collect();
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0x20000), &data)
        .unwrap();
    machine
}

/// MVCLE's CPU-determined amount (4 KiB) into one page is the translated
/// code's (docs/CHOICES.md 87); into two pages it is the host's. Both
/// give the interpreter's registers and bytes.
#[test]
fn a_page_moved_by_mvcle_is_no_call_into_two_pages_the_hosts() {
    // (in the VM, the host's).
    for (skew, calls) in [(0, (0, 0)), (8, (0, TURNS))] {
        let (reference, kvm) = on_both(|| move_machine(skew), 10_000);
        let Some((machine, engine)) = kvm else {
            return;
        };
        assert_eq!(machine.cpu.psw, reference.cpu.psw);
        assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
        assert_eq!(
            bytes_at(&machine, 0x10000, 0x1010),
            bytes_at(&reference, 0x10000, 0x1010)
        );
        let completed = engine.completed_in_vm();
        let reasons = engine.reasons();
        let host = count(&reasons.slow_paths_by_mnemonic(), "MVCLE")
            + count(&reasons.untranslated_by_mnemonic(), "MVCLE");
        let mvcle = (count(&completed, "MVCLE"), host);
        assert_eq!(mvcle, calls, "skew {skew}: {completed:?}");
    }
}

/// lghi r1,200 ; lgfi r9,0x3ff0 ; X: lmg r2,r5,0(r9) (32 bytes across
/// the page at 0x4000) ; brctg r1,X ; then an invalid opcode.
const ACROSS: [u8; 22] = [
    0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x91, 0x00, 0x00, 0x3f, 0xf0, 0xeb, 0x25, 0x90, 0x00, 0x00, 0x04,
    0xa7, 0x17, 0xff, 0xfd, 0x00, 0x00,
];

/// An LMG whose operand crosses a page runs in translated code at every
/// turn (its bytes copied before any register changes, docs/CHOICES.md
/// 88), no slow path and no call into the image: the interpreter's
/// registers in O(1) exits.
#[test]
fn a_load_multiple_across_a_page_runs_in_translated_code() {
    let build = || {
        let mut machine = program_machine(0x2000, &ACROSS);
        let words: Vec<(u64, u64)> = (0..4).map(|i| (0x3ff0 + 8 * i, 0x1111 * (i + 1))).collect();
        write_words(&mut machine, &words);
        machine
    };
    let (reference, kvm) = on_both(build, 10_000);
    assert_eq!(reference.cpu.gpr[2..6], [0x1111, 0x2222, 0x3333, 0x4444]);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    let completed = engine.completed_in_vm();
    assert_eq!(count(&completed, "LMG"), 0, "{completed:?}");
    assert_eq!(engine.reasons().slow_paths_by_mnemonic(), []);
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for {TURNS} turns of the loop");
}

/// Under instruction-execution protection: `lghi r1,200`, 200 times
/// `exrl r0` of `ahi r2,1` at 0x4000 (another page than the EXRL's) and
/// `brctg r1`; then the page-table entry of 0x4000 gets its IEP bit
/// (`lgfi r6,0x11000 ; lgfi r7,0x4100 ; stg r7,0x20(r6)`), `ptlb`, and
/// the same EXRL once more; then an invalid opcode.
const EXRL_ELSEWHERE: [u8; 46] = [
    0xa7, 0x19, 0x00, 0xc8, 0xc6, 0x00, 0x00, 0x00, 0x0f, 0xfe, 0xa7, 0x17, 0xff, 0xfd, 0xc0, 0x61,
    0x00, 0x01, 0x10, 0x00, 0xc0, 0x71, 0x00, 0x00, 0x41, 0x00, 0xe3, 0x70, 0x60, 0x20, 0x00, 0x24,
    0xb2, 0x0d, 0x00, 0x00, 0xc6, 0x00, 0x00, 0x00, 0x0f, 0xee, 0x00, 0x00, 0x00, 0x00,
];

/// An EXRL's target in another page runs in the VM once the host's own
/// fetch found the page executable (glibc's string functions in
/// busybox), until a purge of the TLB: after the page's entry gets its
/// IEP bit and PTLB, the EXRL is the host's again and gives the
/// interpreter's protection exception (PoP ch. 3,
/// "Instruction-Execution Protection").
#[test]
fn under_iep_an_exrl_target_in_another_page_runs_in_the_vm_until_a_purge() {
    let build = || {
        let mut machine = program_machine(0x2000, &EXRL_ELSEWHERE);
        machine
            .bus
            .storage
            .write(AbsoluteAddress::new(0x4000), &[0xa7, 0x2a, 0x00, 0x01])
            .unwrap();
        under_iep(machine, &[])
    };
    let (reference, kvm) = on_both(build, 10_000);
    assert_eq!(reference.cpu.gpr[2], TURNS);
    assert_eq!(bytes_at(&reference, 0x8e, 2), [0, 4], "protection");
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    let completed = engine.completed_in_vm();
    assert!(completed.contains(&("EXRL", TURNS - 1)), "{completed:?}");
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for {TURNS} turns of the loop");
}

/// `spka 0x80` (PSW key 8), `lghi r1,200 ; lgfi r5,0x20ffc`, 200 times
/// `X: stmg r2,r3,0(r5)` (16 bytes across into 0x21000) and `aghi r2,1`,
/// `brctg r1,X`; then `lghi r2,-1 ; lghi r6,0x90 ; lgfi r7,0x21000 ; sske
/// r6,r7` (the second page's key becomes 9) and `j X`: the same STMG
/// once more.
const STORE_ACROSS: [u8; 56] = [
    0xb2, 0x0a, 0x00, 0x80, 0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x51, 0x00, 0x02, 0x0f, 0xfc, 0xeb, 0x23,
    0x50, 0x00, 0x00, 0x24, 0xa7, 0x2b, 0x00, 0x01, 0xa7, 0x17, 0xff, 0xfb, 0xa7, 0x29, 0xff, 0xff,
    0xa7, 0x69, 0x00, 0x90, 0xc0, 0x71, 0x00, 0x02, 0x10, 0x00, 0xb2, 0x2b, 0x00, 0x67, 0xa7, 0xf4,
    0xff, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// A store across a page boundary (an STMG of a stack frame that
/// straddles a page) runs in translated code (the second page touched
/// before the first store, docs/CHOICES.md 88) until SSKE gives the
/// second page another key: the STMG then faults at that touch, takes
/// its slow path and gives the interpreter's protection exception, with
/// nothing stored in the first page (PoP ch. 3, "Key-Controlled
/// Protection": the instruction is suppressed).
#[test]
fn a_store_across_a_page_runs_in_translated_code_until_a_key_changes() {
    let build = || {
        let mut machine = program_machine(0x2000, &STORE_ACROSS);
        for page in [0x20000, 0x21000] {
            let key = zmmu_mmu::keys::StorageKey::new(0x80);
            machine
                .bus
                .storage
                .set_key(AbsoluteAddress::new(page), key)
                .unwrap();
        }
        machine
    };
    let (reference, kvm) = on_both(build, 10_000);
    assert_eq!(reference.cpu.gpr[2], u64::MAX);
    assert_eq!(bytes_at(&reference, 0x8e, 2), [0, 4], "protection");
    // The last turn's r2 (199), not the suppressed STMG's.
    assert_eq!(bytes_at(&reference, 0x20ffc, 4), [0, 0, 0, 0]);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    assert_eq!(
        bytes_at(&machine, 0x20ff0, 0x20),
        bytes_at(&reference, 0x20ff0, 0x20)
    );
    assert_eq!(
        bytes_at(&machine, 0x80, 0x180),
        bytes_at(&reference, 0x80, 0x180),
        "the lowcore's interruption fields"
    );
    let completed = engine.completed_in_vm();
    assert_eq!(count(&completed, "STMG"), 0, "{completed:?}");
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for {TURNS} turns of the loop");
}
