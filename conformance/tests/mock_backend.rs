//! The `mock` backend (the shadow pager on hv-mock's simulated MMU) reports
//! exactly what the `walk` backend (the core's DAT walk) reports, probe by
//! probe, on scenarios the vector generator plans for the reference
//! machines: outcome, LOAD REAL ADDRESS, key after the probe, and the
//! repeated access served by the host MMU. `MOCK_SCENARIOS` (default 3000)
//! scales it.

use zmmu_conformance::backend::{Backend, MockBackend, WalkBackend};
use zmmu_conformance::gen::driver::scenario_of;
use zmmu_conformance::gen::plan::generate;
use zmmu_conformance::gen::reference::Reference;
use zmmu_conformance::steps::{from_v1, Scenario};
use zmmu_conformance::vector::{Expect, Lra, Probe};

/// A scenario from a plan for a reference machine, with placeholder
/// expectations (only the backends' answers are compared).
fn scenario(seed: u64, reference: Reference) -> Scenario {
    let plan = generate(format!("plan-{seed}"), seed, seed, reference.caps());
    let probes = plan
        .probes
        .iter()
        .map(|p| Probe {
            addr: p.addr,
            space: p.space,
            amode: p.amode,
            access: p.access,
            key: p.key,
            expect: Expect::Exception { pic: 0, teid: None },
            // Asks the backends for LRAG after each access.
            lra: Some(Lra { cc: 0, r1: 0 }),
            key_after: None,
        })
        .collect();
    from_v1(scenario_of(&plan, probes))
}

#[test]
fn mock_backend_reports_what_the_dat_walk_reports() {
    let count = std::env::var("MOCK_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut probes = 0;
    for seed in 0..count {
        let reference = [Reference::Hercules, Reference::Qemu][seed as usize % 2];
        let scenario = scenario(seed, reference);
        let (walk, mock) = (WalkBackend.run(&scenario), MockBackend.run(&scenario));
        let (walk, mock) = match (walk, mock) {
            (Ok(walk), Ok(mock)) => (walk, mock),
            (Err(_), Err(_)) => continue,
            (walk, mock) => panic!("seed {seed}: walk {walk:?}, mock {mock:?}"),
        };
        for (i, (w, m)) in walk.iter().zip(&mock).enumerate() {
            let probe = &scenario.steps[i].op;
            assert_eq!(
                (w.outcome, w.lra, w.key_after),
                (m.outcome, m.lra, m.key_after),
                "seed {seed}, probe {i}: {probe:x?}"
            );
            assert_eq!(
                m.repeat,
                Some(m.outcome),
                "seed {seed}, probe {i} repeated: {probe:x?}"
            );
        }
        probes += walk.len();
    }
    assert!(probes > 0);
}
