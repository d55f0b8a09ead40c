//! How long the jit's batches are (docs/CHOICES.md 54c): the jit watches
//! the clock itself, so the machine gives it batches up to the limit; it
//! ends one after 4,096 instructions while a timer interruption is enabled
//! (a timer is taken at most that late, as when the machine polls), else
//! after 65,536 (the machine looks at what only the host sees).

mod common;

use common::{run_million_loop, MILLION_LOOP};
use zmmu_cpu::state::mask;
use zmmu_jit::{ChainEnd, Jit};
use zmmu_machine::interrupt::CR0_CLOCK_COMPARATOR;
use zmmu_machine::Machine;

/// A loop of 1,000,000 instructions (lgfi %r5,1000000; brct %r5,.),
/// then a disabled wait at 0x77, on the jit; `timer` enables the clock
/// comparator's interruption (never due). Gives the machine's batches
/// that ended for the jit's budget.
fn budget_ends(timer: bool) -> u64 {
    let mut m = Machine::new(1 << 20);
    m.load(0x20000, MILLION_LOOP).unwrap();
    m.start(0x20000);
    if timer {
        m.cpu.psw.mask |= mask::EXT;
        m.cpu.cr[0] |= CR0_CLOCK_COMPARATOR;
        m.cpu.clock_comparator = u64::MAX;
    }
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    run_million_loop(&mut m, &mut jit);
    jit.stats().chain_ends[ChainEnd::Budget as usize]
}

#[test]
fn without_an_enabled_timer_a_batch_runs_65536_instructions() {
    // 1,000,002 instructions: 16 batches of 65,536 (the machine's poll
    // would make 245 of 4,096).
    let ends = budget_ends(false);
    assert!(ends <= 16, "{ends} batches ended for the budget");
}

#[test]
fn with_an_enabled_timer_a_batch_runs_4096_instructions() {
    let ends = budget_ends(true);
    assert!(
        ends >= 1_000_000 / 4096,
        "{ends} batches ended for the budget"
    );
}
