//! docs/CHOICES.md §55a: a block is translated at its n-th entry
//! (`Jit::set_translate_after`); the interpreter runs it before, to its
//! end, and the architected results are the interpreter's either way.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;

mod common;
use common::DATA;

/// lhi %r2,0; loop: ahi %r2,1; ahi %r3,2; ahi %r4,3; brct %r7,loop; (0):
/// the loop's block is entered once per turn.
const LOOP: [u8; 22] = [
    0xa7, 0x28, 0x00, 0x00, 0xa7, 0x2a, 0x00, 0x01, 0xa7, 0x3a, 0x00, 0x02, 0xa7, 0x4a, 0x00, 0x03,
    0xa7, 0x76, 0xff, 0xfa, 0, 0,
];

fn machine(turns: u64) -> (Cpu, DatBus) {
    common::machine(0x10000, &LOOP, &[0; 16], |cpu| {
        cpu.gpr[3] = DATA;
        cpu.gpr[7] = turns;
    })
}

/// Runs the loop for `turns` on a jit translating at entry `after`, and
/// on the interpreter: both end alike (the operation exception at the
/// zeros); gives the jit.
fn run(turns: u64, after: u32) -> Jit {
    let mut jit = Jit::new(1 << 20).unwrap();
    jit.set_translate_after(after);
    let (mut cpu, mut bus) = machine(turns);
    let result = jit.run(&mut cpu, &mut bus, 1000).result;
    let (mut icpu, mut ibus) = machine(turns);
    let expected = loop {
        if let Err(e) = icpu.step(&mut ibus) {
            break Err::<(), Interruption>(e);
        }
    };
    assert_eq!(result, expected, "the interruption");
    assert_eq!(cpu.psw, icpu.psw, "the PSW");
    assert_eq!(cpu.gpr, icpu.gpr, "the registers");
    assert_eq!(cpu.gpr[2], turns);
    jit
}

#[test]
fn a_block_is_translated_at_its_nth_entry() {
    // The block at the LHI (which holds the first turn, entered once)
    // and entries 1 and 2 of the loop run in the interpreter; the third
    // translates the loop, which runs the last two turns natively.
    let jit = run(5, 3);
    let s = jit.stats();
    assert_eq!(s.blocks, 1, "the loop alone");
    assert_eq!(s.translated_instructions, 4);
    assert_eq!(
        s.steps,
        5 + 2 * 4 + 1,
        "the first block, two turns, the zeros"
    );
}

#[test]
fn the_interpreter_runs_a_cold_block_to_its_end() {
    // Each entry into the cold loop is counted at its start alone: the
    // AHIs after it are not blocks of their own, whatever the turns.
    let jit = run(50, 40);
    let s = jit.stats();
    assert_eq!(s.blocks, 1, "the loop, at its 40th entry");
    assert_eq!(s.translated_instructions, 4);
    assert_eq!(s.steps, 5 + 39 * 4 + 1);
}

#[test]
fn translated_at_the_first_entry_by_default() {
    // The blocks at the LHI, at the loop and at the zeros (whose
    // translation raises the operation exception).
    let s = run(5, 1).stats().clone();
    assert_eq!((s.blocks, s.steps), (3, 0));
}

#[test]
fn an_interpreted_instruction_that_enables_interruptions_ends_the_run() {
    // lhi %r2,0; stosm 0(%r0),0x01 (external interruptions enabled: one
    // pending is taken before the next instruction, so the machine must
    // look); ahi %r2,1; (0). Interpreted or translated, the run returns
    // after the STOSM.
    let code = [
        0xa7, 0x28, 0x00, 0x00, 0xad, 0x01, 0x00, 0x00, 0xa7, 0x2a, 0x00, 0x01, 0, 0,
    ];
    for after in [u32::MAX, 1] {
        let (mut cpu, mut bus) = common::machine(0x10000, &code, &[], |_| {});
        let mut jit = Jit::new(1 << 20).unwrap();
        jit.set_translate_after(after);
        let ran = jit.run(&mut cpu, &mut bus, 1000);
        assert_eq!(ran.result, Ok(()), "translate after {after}");
        assert_eq!(ran.instructions, 2, "translate after {after}");
        assert_eq!(cpu.psw.addr, common::CODE + 8);
        assert_eq!(cpu.gpr[2], 0);
    }
}
