//! The timing instructions the in-VM runtime image completes without an
//! exit (STCK, STCKF, STCKE, STPT; PoP ch. 4 "Timing" and ch. 10): they
//! store what the interpreter stores (one TOD clock, stepped past the last
//! value handed out, read as the machine's time source says; the CPU
//! timer), a loop of them costs O(1) VM exits, and a store the shadow
//! root refuses is left to the host, with the interpreter's exception.

mod common;

use common::{bytes_at, engine, host_time, on_both, program_machine, run_like, Quiet};
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// lghi r3,N ; lghi r4,0x3000 ; X: stck 0(r4) ; stcke 16(r4) ;
/// stpt 32(r4) ; stckf 40(r4) ; brct r3,X ; then an invalid opcode.
fn clock_loop(n: u16) -> Vec<u8> {
    let [hi, lo] = n.to_be_bytes();
    vec![
        0xa7, 0x39, hi, lo, 0xa7, 0x49, 0x30, 0x00, 0xb2, 0x05, 0x40, 0x00, 0xb2, 0x78, 0x40, 0x10,
        0xb2, 0x09, 0x40, 0x20, 0xb2, 0x7c, 0x40, 0x28, 0xa7, 0x36, 0xff, 0xf8, 0x00, 0x00,
    ]
}

/// The operands the loop stores: STCK, STCKE (16 bytes), STPT, STCKF.
fn operands(machine: &Machine) -> Vec<u8> {
    bytes_at(machine, 0x3000, 48)
}

fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
}

#[test]
fn the_clock_instructions_store_what_the_interpreter_stores() {
    let program = clock_loop(100);
    let (reference, kvm) = on_both(|| program_machine(0x2000, &program), 10_000);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(operands(&machine), operands(&reference));
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    let completed = engine.completed_in_vm();
    for mnemonic in ["STCK", "STCKE", "STPT", "STCKF"] {
        assert!(completed.contains(&(mnemonic, 100)), "{completed:?}");
    }
}

#[test]
fn a_loop_of_clock_instructions_costs_o1_exits() {
    let program = clock_loop(2000);
    let mut reference = program_machine(0x2000, &program);
    let expected = reference.run(Some(100_000), &mut Quiet);
    let Some((machine, engine)) = run_like(&expected, program_machine(0x2000, &program), 100_000)
    else {
        return;
    };
    let completed: u64 = engine.completed_in_vm().iter().map(|&(_, n)| n).sum();
    assert_eq!(completed, 8000);
    // The deadline's kicks (signals when the machine's timer poll is due,
    // in host time, so as many as the host's load makes the run last)
    // aside: the clock instructions themselves leave the VM O(1) times.
    let stats = engine.host().stats();
    let exits = stats.exits - stats.kicks;
    assert!(
        exits < 64,
        "{exits} exits ({} kicks aside) for 8000 clock instructions",
        stats.kicks
    );
    // The last pass: STCK, then STCKE's clock, then STCKF, each past the
    // one before (the clock is unique and increasing).
    let bytes = operands(&machine);
    let stcke = u64::from_be_bytes(bytes[17..25].try_into().unwrap());
    assert!(
        word(&bytes, 0) < stcke && stcke < word(&bytes, 40),
        "{bytes:x?}"
    );
}

/// `program` at 0x2000 with low-address protection on (CR0 bit 35), run
/// for at most `limit` instructions by the interpreter and by the kvm
/// engine, which must end alike: the interpreter's machine, the engine's
/// and the engine (`None` where KVM is unavailable).
fn under_low_address_protection(
    program: &[u8],
    limit: u64,
) -> Option<(Machine, Machine, zmmu_kvm::KvmEngine)> {
    let build = || {
        let mut machine = program_machine(0x2000, program);
        machine.cpu.cr[0] |= 1 << 28;
        machine
    };
    let (reference, kvm) = on_both(build, limit);
    let (machine, engine) = kvm?;
    Some((reference, machine, engine))
}

#[test]
fn a_clock_store_the_root_refuses_is_left_to_the_host() {
    // stck 0x100 with low-address protection on: a protection exception,
    // which the host delivers; the program-new PSW is a disabled wait.
    let program = [0xb2, 0x05, 0x01, 0x00, 0x00, 0x00];
    let Some((reference, machine, engine)) = under_low_address_protection(&program, 100) else {
        return;
    };
    let code = |m: &Machine| m.bus.storage.read_u64(AbsoluteAddress::new(0x88)).unwrap();
    assert_eq!(code(&machine), code(&reference), "the program interruption");
    assert!(engine.completed_in_vm().is_empty());
    assert!(engine.stats().helper_calls >= 1, "the host ran it");
}

#[test]
fn the_stats_name_the_calls_completed_in_the_vm() {
    let machine = program_machine(0x2000, &clock_loop(3));
    let Some(mut engine) = engine(&machine.bus.storage) else {
        return;
    };
    let mut machine = machine;
    machine.run_with(Some(1000), &mut Quiet, &mut engine);
    let report = engine.report();
    let line = report
        .iter()
        .find(|l| l.starts_with("kvm: host calls completed in the VM by mnemonic"))
        .expect("the line");
    assert!(
        line.contains(": 12 (") && line.contains("STCKE 3"),
        "{line}"
    );
}

#[test]
fn in_host_time_the_clock_moves_with_the_tsc_and_stays_past_the_hosts_values() {
    let mut machine = program_machine(0x2000, &clock_loop(2000));
    let (Some(mut engine), Some(time)) = (engine(&machine.bus.storage), host_time()) else {
        return;
    };
    machine.services.clock = zmmu_cpu::clock::Clock::new(Box::new(time), zmmu_cpu::clock::TOD_2026);
    machine.cpu.cpu_timer_zero = u64::MAX / 2;
    let before = machine.services.clock.tod();
    let outcome = machine.run_with(Some(100_000), &mut Quiet, &mut engine);
    assert!(
        matches!(outcome.stop, Stop::DisabledWait { .. }),
        "{:?}",
        outcome.stop
    );
    let after = machine.services.clock.tod();
    let completed: u64 = engine.completed_in_vm().iter().map(|&(_, n)| n).sum();
    assert_eq!(completed, 8000);
    let bytes = operands(&machine);
    let stck = word(&bytes, 0);
    // Unique and increasing across the host's copy of the clock and the image's.
    assert!(before < stck && stck < word(&bytes, 40) && word(&bytes, 40) < after);
    // 8000 values stepped past one another would move it by 8000 units;
    // the TSC moved it further (1 ns is 4.096 units).
    assert!(stck - before > 8000, "{} units", stck - before);
    // The CPU timer runs down with the same time base.
    assert!(word(&bytes, 32) < u64::MAX / 2);
}

#[test]
fn clock_stores_into_the_lowcores_unprotected_bytes_complete_in_the_vm() {
    // lghi r3,100 ; X: stpt 0x300 ; brct r3,X ; then an invalid opcode.
    // With low-address protection on, bytes 0-511 are protected and 0x300
    // is not (PoP ch. 3): the shadow maps the low pages writable and
    // translated stores check the protected ranges (docs/CHOICES.md 34),
    // so Linux's STPT into its lowcore is no host call and no fault. (A
    // site whose store the root refuses is the host's from then on:
    // vm-runtime's call tests.)
    let program = [
        0xa7, 0x39, 0x00, 0x64, 0xb2, 0x09, 0x03, 0x00, 0xa7, 0x36, 0xff, 0xfe, 0x00, 0x00,
    ];
    let Some((reference, machine, engine)) = under_low_address_protection(&program, 1000) else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    let completed = engine.completed_in_vm();
    assert!(completed.contains(&("STPT", 100)), "{completed:?}");
    let faults = engine.host().stats().faults;
    assert!(faults < 10, "{faults} page faults for 100 stores");
}

#[test]
fn a_clock_store_into_the_protected_lowcore_is_refused_after_a_store_mapped_the_page() {
    // mvi 0x300,1 ; stpt 0x100 ; then an invalid opcode. The MVI makes
    // page 0 writable in the shadow (0x300 is not protected); the STPT
    // must still be a protection exception with low-address protection
    // on (PoP ch. 3: bytes 0-511), stored nowhere.
    let program = [0x92, 0x01, 0x03, 0x00, 0xb2, 0x09, 0x01, 0x00, 0x00, 0x00];
    let Some((reference, machine, _)) = under_low_address_protection(&program, 100) else {
        return;
    };
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    let lowcore = |m: &Machine| bytes_at(m, 0, 0x200);
    assert_eq!(lowcore(&machine), lowcore(&reference));
}
