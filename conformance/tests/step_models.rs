//! The software TLB (`tlb`) and the shadow pager on hv-mock's simulated MMU
//! (`mock`) against the uncached DAT walk (`walk`), on step sequences drawn
//! from the format-2 vocabulary by the vector planner (accesses of 1-16
//! bytes, IPTE, IDTE, CSP/CSPG, PTLB, SSKE, RRBE, SPX, table stores,
//! control loads, the DAT queries): every step answers as the walk does,
//! except in a stale window, where a cache may also answer as the walk did
//! before the unpurged change. `STEP_MODEL_SCENARIOS` (default 400) scales
//! it.

use zmmu_conformance::backend::{Backend, MockBackend, Observed, TlbBackend, WalkBackend};
use zmmu_conformance::gen::driver::scenario_of;
use zmmu_conformance::gen::reference::Reference;
use zmmu_conformance::gen::sequence::{generate_steps, StepPlan};
use zmmu_conformance::steps::{Outcome, Scenario, Step};

/// A scenario of the plan's steps with placeholder expectations (only the
/// backends' answers are compared).
fn scenario(plan: &StepPlan) -> Scenario {
    let base = scenario_of(&plan.base, Vec::new());
    Scenario {
        name: base.name,
        facilities: base.facilities,
        storage_size: base.storage_size,
        prefix: base.prefix,
        cr0: base.cr0,
        cr1: base.cr1,
        cr7: base.cr7,
        cr13: base.cr13,
        mem: base.mem,
        keys: base.keys,
        steps: plan
            .steps
            .iter()
            .map(|&op| Step {
                op,
                expect: Outcome::Done { cc: None, r1: None },
                alt: Vec::new(),
                lra: None,
                key_after: None,
            })
            .collect(),
        version: 2,
    }
}

fn compare(name: &str, plan: &StepPlan, walk: &[Observed], cached: &[Observed]) {
    assert_eq!(walk.len(), cached.len(), "{name}");
    for (i, (w, c)) in walk.iter().zip(cached).enumerate() {
        let allowed: Vec<Outcome> = std::iter::once(w.outcome)
            .chain(plan.alt_from[i].iter().map(|&j| walk[j].outcome))
            .collect();
        let op = &plan.steps[i];
        assert!(
            allowed.contains(&c.outcome),
            "{name} step {i} {op:x?}: walk {allowed:x?}, cache {:x?}",
            c.outcome
        );
        if let Some(repeat) = c.repeat {
            assert!(allowed.contains(&repeat), "{name} step {i} repeated");
        }
        if plan.window_start.is_none_or(|start| i < start) {
            assert_eq!(
                w.key_after, c.key_after,
                "{name} step {i} {op:x?}: key after"
            );
        }
    }
}

#[test]
fn caches_answer_as_the_walk_on_format_2_step_sequences() {
    let count = std::env::var("STEP_MODEL_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut steps = 0;
    for seed in 0..count {
        let reference = [Reference::Hercules, Reference::Qemu][seed as usize % 2];
        let plan = generate_steps(format!("model-{seed}"), 1000 + seed, seed, reference.caps());
        let s = scenario(&plan);
        let walk = WalkBackend.run(&s).unwrap_or_else(|e| panic!("{e}"));
        let tlb = TlbBackend.run(&s).unwrap_or_else(|e| panic!("{e}"));
        let mock = MockBackend.run(&s).unwrap_or_else(|e| panic!("{e}"));
        compare(&format!("tlb {}", s.name), &plan, &walk, &tlb);
        compare(&format!("mock {}", s.name), &plan, &walk, &mock);
        steps += walk.len();
    }
    assert!(steps > 0);
}
