//! When a host call leaves the chain of blocks: only when what follows
//! cannot go on in translated code as it is (an interruption, a taken
//! branch, changed controls, PSW bits or translations, a store into the
//! running block). An EXECUTE of a sequential instruction, a branch not
//! taken, or a DAT instruction that only reads (TPROT, LRA) goes on in the
//! chain: on a PVM host each chain end is one more exit.

mod common;

use common::{host_time, on_both, program_machine, run_like, write_words, Quiet};
use zmmu_cpu::clock::{Clock, TOD_2026};
use zmmu_kvm::reasons::{ChainEnd, Leave};
use zmmu_kvm::TscTime;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Iterations of [`STAY`].
const TURNS: u64 = 200;

/// `lghi r1,200 ; lghi r2,0 ; larl r6,add`, then 200 times `ex r0,0(r6)`
/// (`ahi r2,1`), `exrl r0` (`brc 0`, never taken), `tprot 0xf00,0`, `ipm
/// r3`, `brctg r1` back; then an invalid opcode.
const STAY: [u8; 52] = [
    0xa7, 0x19, 0x00, 0xc8, 0xa7, 0x29, 0x00, 0x00, 0xc0, 0x60, 0x00, 0x00, 0x00, 0x11, 0x44, 0x00,
    0x60, 0x00, 0xc6, 0x00, 0x00, 0x00, 0x00, 0x0e, 0xe5, 0x01, 0x0f, 0x00, 0x00, 0x00, 0xb2, 0x22,
    0x00, 0x30, 0xa7, 0x17, 0xff, 0xf6, 0x00, 0x00, 0x00, 0x00, 0xa7, 0x2a, 0x00, 0x01, 0xa7, 0x04,
    0xff, 0xf0, 0x07, 0x07,
];

#[test]
fn host_calls_that_change_nothing_the_chain_depends_on_stay_in_it() {
    let (reference, kvm) = on_both(|| program_machine(0x2000, &STAY), 10_000);
    assert_eq!(reference.cpu.gpr[2], TURNS);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!(machine.cpu.gpr[..4], reference.cpu.gpr[..4]);
    // The batch's deadline (a look at the host's side every 10 ms) and
    // the invalid opcode at the end may leave; nothing in the loop does.
    let left: Vec<_> = engine
        .reasons()
        .left_by_mnemonic()
        .into_iter()
        .filter(|((_, why), _)| {
            !matches!(why, Leave::Deadline | Leave::Machine | Leave::Interruption)
        })
        .collect();
    assert!(left.is_empty(), "host calls left the chain: {left:?}");
    // Nor does a chain end in the loop for another reason.
    let reasons = engine.reasons();
    let looks = reasons.chains(ChainEnd::Deadline) + reasons.chains(ChainEnd::Left);
    let chains = engine.stats().chains;
    assert!(
        chains <= looks + 3,
        "{chains} chains in {TURNS} turns, {looks} of them ended by the machine's look"
    );
}

/// `lghi r2,0`, `exrl r0` (`j skip`: taken), `ahi r2,1` (skipped), skip:
/// `larl r4 ; exrl r0` (`lctlg c0,c0,0(r4)`: low-address protection on),
/// `ahi r2,16`, `stctg c0,c0,0x300`; then an invalid opcode.
const LEAVE: [u8; 64] = [
    0xa7, 0x29, 0x00, 0x00, 0xc6, 0x00, 0x00, 0x00, 0x00, 0x12, 0xa7, 0x2a, 0x00, 0x01, 0xc0, 0x40,
    0x00, 0x00, 0x00, 0x15, 0xc6, 0x00, 0x00, 0x00, 0x00, 0x0c, 0xa7, 0x2a, 0x00, 0x10, 0xeb, 0x00,
    0x03, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00, 0x00, 0xa7, 0xf4, 0xff, 0xf3, 0xeb, 0x00, 0x40, 0x00,
    0x00, 0x2f, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
];

/// An executed branch that is taken and an executed control load both
/// leave, and the run goes on where the interpreter's does.
#[test]
fn executed_branches_and_control_loads_leave_the_chain() {
    let mut reference = program_machine(0x2000, &LEAVE);
    let expected = reference.run(Some(100), &mut Quiet);
    assert_eq!(reference.cpu.gpr[2], 16, "the branch skipped `ahi r2,1`");
    let Some((machine, engine)) = run_like(&expected, program_machine(0x2000, &LEAVE), 100) else {
        return;
    };
    assert_eq!(machine.cpu.gpr[2], 16);
    let cr0 = |m: &zmmu_machine::Machine| m.bus.storage.read_u64(AbsoluteAddress::new(0x300));
    assert_eq!(cr0(&machine), cr0(&reference));
    let left = engine.reasons().left_by_mnemonic();
    assert!(
        left.iter().any(|((m, _), _)| *m == "EXRL"),
        "EXRL left: {left:?}"
    );
}

/// `lghi r1,200`, then 200 times `stcke 0xff4`, `stpt 0x310`, `brctg r1`
/// back; then an invalid opcode. STCKE's operand crosses into the next
/// page, so the in-VM runtime image leaves it to the host (a host call
/// under either clock, `docs/CHOICES.md` 37); the image completes STPT.
const CLOCK: [u8; 20] = [
    0xa7, 0x19, 0x00, 0xc8, 0xb2, 0x78, 0x0f, 0xf4, 0xb2, 0x09, 0x03, 0x10, 0xa7, 0x17, 0xff, 0xfc,
    0x00, 0x00, 0x00, 0x00,
];

/// The host calls of [`CLOCK`] that left for the machine's look, but at
/// the deadline: `None` where KVM is unavailable.
fn clock_leaves(on_host_time: bool) -> Option<u64> {
    let time = match on_host_time {
        true => Some(host_time()?),
        false => None,
    };
    let machine = || {
        let mut machine = program_machine(0x2000, &CLOCK);
        if let Some(time) = time {
            machine.services.clock = Clock::new(Box::new(time), TOD_2026);
        }
        machine
    };
    let expected = machine().run(Some(10_000), &mut Quiet);
    let (_, engine) = run_like(&expected, machine(), 10_000)?;
    Some(
        engine
            .reasons()
            .left_by_mnemonic()
            .iter()
            .filter(|((_, why), _)| *why == Leave::Machine)
            .map(|(_, n)| n)
            .sum(),
    )
}

/// Under virtual time a clock read the host runs ends the chain, so that
/// the next read counts the instructions before it; under the host's
/// clock it does not.
#[test]
fn clock_reads_leave_the_chain_only_under_virtual_time() {
    let Some(virtual_time) = clock_leaves(false) else {
        return;
    };
    assert_eq!(virtual_time, TURNS, "STCKE, every turn");
    let Some(host_time) = clock_leaves(true) else {
        return;
    };
    assert_eq!(host_time, 0, "no clock read asks the machine to look");
}

/// `sckc 0x100 ; lctlg c0,c0,0x108` (clock-comparator subclass on), `lghi
/// r1,200 ; lghi r3,0x3000`, then 200 times `stosm 0x110(r3),0x01`
/// (external interruptions on), `stnsm 0x110(r3),0xfe` (off), `brctg r1`
/// back; then an invalid opcode.
const MASKS: [u8; 34] = [
    0xb2, 0x06, 0x01, 0x00, 0xeb, 0x00, 0x01, 0x08, 0x00, 0x2f, 0xa7, 0x19, 0x00, 0xc8, 0xa7, 0x39,
    0x30, 0x00, 0xad, 0x01, 0x31, 0x10, 0xac, 0xfe, 0x31, 0x10, 0xa7, 0x17, 0xff, 0xfc, 0x00, 0x00,
    0x00, 0x00,
];

/// [`MASKS`] under host `time` with the clock comparator at
/// `comparator` and a disabled-wait external-new PSW (address 0x999).
fn masks_machine(time: TscTime, comparator: u64) -> zmmu_machine::Machine {
    let mut machine = program_machine(0x2000, &MASKS);
    machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    let words = [
        (0x100, comparator),
        (0x108, zmmu_machine::interrupt::CR0_CLOCK_COMPARATOR),
        (0x1b0, 0x0002_0001_8000_0000),
        (0x1b8, 0x999),
    ];
    write_words(&mut machine, &words);
    machine
}

/// Enabling external interruptions with none pending and no timer due
/// before the batch's deadline does not end the chain (each end is an
/// exit on a PVM host); with the clock comparator's condition met, the
/// interruption is taken right after the STOSM that enables it, as the
/// interpreter takes it (PoP "Clock Comparator": pending while the TOD
/// clock is past it, taken once enabled).
#[test]
fn enabling_interruptions_leaves_the_chain_only_when_one_may_be_taken() {
    let Some(time) = host_time() else {
        return;
    };
    let expected = masks_machine(time, u64::MAX).run(Some(10_000), &mut Quiet);
    assert_eq!(expected.instructions, 4 + 3 * TURNS + 1);
    let Some((_, engine)) = run_like(&expected, masks_machine(time, u64::MAX), 10_000) else {
        return;
    };
    let left: Vec<_> = engine
        .reasons()
        .left_by_mnemonic()
        .into_iter()
        .filter(|((m, why), _)| ["STOSM", "STNSM"].contains(m) && *why != Leave::Deadline)
        .collect();
    assert!(left.is_empty(), "the mask changes left the chain: {left:?}");
    // Nothing can be taken whatever the masks, no timer comes due before
    // the deadline: the image sets them (docs/CHOICES.md 57g).
    // (The STNSMs, which disable, are translated code's own.)
    let completed = engine.completed_in_vm();
    assert!(
        completed
            .iter()
            .any(|&(m, n)| m == "STOSM" && n >= TURNS - 2),
        "{completed:?}"
    );

    let mut reference = masks_machine(time, 0);
    let expected = reference.run(Some(10_000), &mut Quiet);
    assert_eq!(expected.instructions, 5, "taken after the first STOSM");
    let (machine, _) = run_like(&expected, masks_machine(time, 0), 10_000).unwrap();
    let code = |m: &zmmu_machine::Machine| {
        let mut code = [0u8; 2];
        m.bus
            .storage
            .read(AbsoluteAddress::new(0x86), &mut code)
            .unwrap();
        u16::from_be_bytes(code)
    };
    assert_eq!(code(&machine), 0x1004, "external: clock comparator");
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
}

/// `stck 0x120 ; lg r5,0x120 ; agfi r5,5 ms ; stg r5,0x100 ; sckc 0x100`
/// (the clock comparator 5 ms from now), `lctlg c0,c0,0x108`
/// (clock-comparator subclass on), `lghi r1,20 ; lghi r3,0x3000`, then
/// 20 times `stosm 0x110(r3),0x01` (external interruptions on), `stnsm
/// 0x110(r3),0xfe` (off), `brctg r1` back; then an invalid opcode. Few
/// turns: a host call for each STOSM stays well within the 5 ms too.
const SOON: [u8; 56] = [
    0xb2, 0x05, 0x01, 0x20, 0xe3, 0x50, 0x01, 0x20, 0x00, 0x04, 0xc2, 0x58, 0x01, 0x38, 0x80, 0x00,
    0xe3, 0x50, 0x01, 0x00, 0x00, 0x24, 0xb2, 0x06, 0x01, 0x00, 0xeb, 0x00, 0x01, 0x08, 0x00, 0x2f,
    0xa7, 0x19, 0x00, 0x14, 0xa7, 0x39, 0x30, 0x00, 0xad, 0x01, 0x31, 0x10, 0xac, 0xfe, 0x31, 0x10,
    0xa7, 0x17, 0xff, 0xfc, 0x00, 0x00, 0x00, 0x00,
];

/// Turns of [`SOON`].
const SOON_TURNS: u64 = 20;

/// Enabling external interruptions while the clock comparator comes due
/// soon, before the batch's deadline, but is not due yet: the image sets
/// the masks (the host brought the deadline forward to the comparator
/// with the masks on, so the vCPU is kicked when it comes due whatever
/// the masks are then), and no STOSM leaves the chain.
#[test]
fn enabling_interruptions_before_a_timer_comes_due_stays_in_the_vm() {
    let Some(time) = host_time() else {
        return;
    };
    let mut machine = program_machine(0x2000, &SOON);
    machine.services.clock = Clock::new(Box::new(time), TOD_2026);
    let words = [
        (0x108, zmmu_machine::interrupt::CR0_CLOCK_COMPARATOR),
        (0x1b0, 0x0002_0001_8000_0000),
        (0x1b8, 0x999),
    ];
    write_words(&mut machine, &words);
    let Some(mut engine) = common::engine(&machine.bus.storage) else {
        return;
    };
    let outcome = machine.run_with(Some(10_000), &mut Quiet, &mut engine);
    assert!(engine.failure().is_none(), "{:?}", engine.failure());
    if machine.cpu.psw.addr == 0x999 {
        // The loop took longer than 5 ms (a loaded host): the
        // interruption was taken, as it must be once due.
        eprintln!("SKIP: the clock comparator came due during the loop");
        return;
    }
    assert_eq!(outcome.instructions, 8 + 3 * SOON_TURNS + 1);
    let completed = engine.completed_in_vm();
    assert!(
        completed
            .iter()
            .any(|&(m, n)| m == "STOSM" && n >= SOON_TURNS - 2),
        "{completed:?}"
    );
}
