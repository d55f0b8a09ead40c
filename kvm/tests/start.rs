//! What the kvm engine makes at its start, and what it spares: the host
//! time `zmmu run` reads on one CPU comes from the engine's own vCPU (no
//! VM made only to ask the TSC's rate), at the rate every new vCPU reads
//! the TSC, which the in-VM runtime's clock follows (PoP "TOD Clock":
//! one clock, in and out of the VM; docs/CHOICES.md 49 and 71).

mod common;

use zmmu_cpu::clock::{Pace, TimeSource};
use zmmu_machine::main_storage::MainStorage;

/// The scale of a TSC time source (nanoseconds per tick).
fn rate(time: &impl TimeSource) -> (u64, u32) {
    match time.pace() {
        Some(Pace::Tsc(scale)) => (scale.mult, scale.shift),
        other => panic!("host time not on the TSC: {other:?}"),
    }
}

#[test]
fn the_engines_host_time_runs_at_the_rate_a_new_vcpu_reads_the_tsc() {
    let Some(probed) = common::host_time() else {
        return;
    };
    let storage = MainStorage::new(16 << 20);
    let Some(engine) = common::engine(&storage) else {
        return;
    };
    let own = engine.tsc_time().expect("the engine's vCPU tells the rate");
    assert_eq!(rate(&own), rate(&probed));
}
