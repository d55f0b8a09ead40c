//! The engine backends: a vector's scenario run as the program the
//! reference machine ran, under `zmmu run --engine interp|jit|kvm`.
//!
//! A committed scenario is drawn again from its name (reference, format,
//! seed and index, [`Drawn`]), and must come out with the recorded initial
//! state; the probe program (`conformance/gen`) linked with the batch of
//! such scenarios runs under `zmmu run` with the reference's DAT
//! facilities, and its records are decoded by the reference's rules, as a
//! recording does. Each recorded step is then compared with the step zmmu
//! recorded for the same operation: zmmu's CPU executes every instruction
//! (the accesses, IPTE, IDTE, CSP, LRA, TPROT, SSKE, SPX, LCTLG...), its
//! interruptions and its lowcore, not the runner's executor.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use super::{Backend, BackendError, Observed};
use crate::gen::driver::{rerecord, Drawn, Job};
use crate::gen::reference::{Reference, ZmmuEngine};
use crate::steps::{format_op, Op, Outcome, Scenario, Step};
use zmmu_mmu::keys::StorageKey;

/// Scenarios per `zmmu run`.
const BATCH: usize = 50;

/// Time limit of one `zmmu run`.
const LIMIT: Duration = Duration::from_secs(600);

/// Runs scenarios under `zmmu run --engine E`, in batches prepared before
/// the runner asks for them one by one.
#[derive(Debug)]
pub struct EngineBackend {
    engine: ZmmuEngine,
    work: PathBuf,
    /// Each prepared scenario as zmmu recorded it, or why it has none.
    recorded: HashMap<String, Result<Scenario, String>>,
}

impl EngineBackend {
    /// The backend of `engine`, building and running in `work`; for `kvm`
    /// only if KVM is usable here (the error says what is missing).
    pub fn new(engine: ZmmuEngine, work: PathBuf) -> Result<Self, String> {
        if engine == ZmmuEngine::Kvm {
            zmmu_hv_kvm::vm::available().map_err(|e| e.to_string())?;
        }
        Ok(Self {
            engine,
            work: work.join(format!("engine-{}", engine.name())),
            recorded: HashMap::new(),
        })
    }
}

/// `got` as `want` records it where the two differ only by a reference bit
/// the engine set and the reference did not: the `kvm` engine maps pages
/// ahead of use and sets their R (`shadow::Config::speculative_reference`),
/// which the architecture allows (R may be set for a block not
/// referenced, never left zero for one that was). That shows in the key
/// after a step and in RRBE's condition code (R is its bit 1).
fn without_spurious_reference(want: &Step, mut got: Observed) -> Observed {
    let r = u64::from(StorageKey::R);
    if let (Some(w), Some(g)) = (want.key_after, got.key_after) {
        if g == w | r && w & r == 0 {
            got.key_after = Some(w);
        }
    }
    if let (Op::Rrbe { .. }, Outcome::Done { cc: Some(w), r1 }, Outcome::Done { cc: Some(g), .. }) =
        (&want.op, want.expect, got.outcome)
    {
        if g == w | 2 && w & 2 == 0 {
            got.outcome = Outcome::Done { cc: Some(w), r1 };
        }
    }
    got
}

/// Whether `a` and `b` start from the same state (everything but steps).
fn same_start(a: &Scenario, b: &Scenario) -> bool {
    let start = |s: &Scenario| Scenario {
        steps: Vec::new(),
        ..s.clone()
    };
    start(a) == start(b)
}

impl Backend for EngineBackend {
    fn name(&self) -> &'static str {
        match self.engine {
            ZmmuEngine::Interp => "engine interp",
            ZmmuEngine::Jit => "engine jit",
            ZmmuEngine::Kvm => "engine kvm",
        }
    }

    /// Runs every scenario the generator drew (by name), grouped by
    /// reference, format and seed, in batches under `zmmu run`.
    fn prepare(&mut self, scenarios: &[&Scenario]) {
        let mut groups: BTreeMap<(Reference, u8, u64), Vec<u64>> = BTreeMap::new();
        for s in scenarios {
            if let Some(d) = Drawn::parse(&s.name) {
                groups
                    .entry((d.reference, d.format, d.seed))
                    .or_default()
                    .push(d.index);
            }
        }
        for ((reference, format, seed), indices) in groups {
            let job = Job {
                reference,
                seed,
                scenarios: indices.len() as u64,
                batch: BATCH,
                out: PathBuf::new(),
                work: self.work.clone(),
                limit: LIMIT,
                engine: Some(self.engine),
            };
            match rerecord(&job, format, &indices) {
                Ok(done) => self.recorded.extend(done),
                Err(e) => self.recorded.extend(indices.iter().map(|&index| {
                    let name = Drawn {
                        reference,
                        format,
                        seed,
                        index,
                    }
                    .name();
                    (name, Err(e.clone()))
                })),
            }
        }
    }

    /// The outcome zmmu recorded for each step: the steps of both
    /// recordings are the plan's steps that were kept, in order, so each
    /// recorded step is matched with the next of zmmu's with the same
    /// operation.
    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
        let zmmu = match self.recorded.get(&scenario.name) {
            Some(Ok(zmmu)) => zmmu,
            Some(Err(e)) => return Err(BackendError::Backend(e.clone())),
            None => {
                return Err(BackendError::Unsupported(
                    "a scenario the generator did not draw (no seed and index in its name)".into(),
                ))
            }
        };
        if !same_start(scenario, zmmu) {
            return Err(BackendError::Backend(
                "the generator draws another initial state for this name today: \
                 regenerate the vectors (conformance/gen/regenerate.sh)"
                    .into(),
            ));
        }
        let mut theirs = zmmu.steps.iter();
        scenario
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let got = theirs.find(|s| s.op == step.op).ok_or_else(|| {
                    BackendError::Backend(format!(
                        "zmmu's records keep no step {i} ({}): an earlier step differs",
                        format_op(&step.op)
                    ))
                })?;
                let seen = Observed {
                    outcome: got.expect,
                    lra: got.lra,
                    key_after: got.key_after,
                    repeat: None,
                };
                Ok(match self.engine {
                    ZmmuEngine::Kvm => without_spurious_reference(step, seen),
                    _ => seen,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrbe(cc: u64, key_after: u64) -> Step {
        Step {
            op: Op::Rrbe { addr: 0x5000 },
            expect: Outcome::Done {
                cc: Some(cc),
                r1: None,
            },
            alt: Vec::new(),
            lra: None,
            key_after: Some(key_after),
        }
    }

    fn seen(step: &Step) -> Observed {
        Observed {
            outcome: step.expect,
            lra: None,
            key_after: step.key_after,
            repeat: None,
        }
    }

    #[test]
    fn a_spurious_reference_bit_is_allowed_a_missing_one_or_a_change_bit_is_not() {
        let want = rrbe(0, 0x10);
        // R set by the engine, not by the reference: allowed.
        let spurious = seen(&rrbe(2, 0x14));
        let kept = without_spurious_reference(&want, spurious);
        assert_eq!(kept.key_after, Some(0x10));
        assert_eq!(kept.outcome, want.expect);
        // R missing, or C differing: left as seen (a mismatch).
        let referenced = rrbe(2, 0x14);
        let missing = without_spurious_reference(&referenced, seen(&rrbe(0, 0x10)));
        assert_eq!(missing.key_after, Some(0x10));
        let changed = without_spurious_reference(&want, seen(&rrbe(1, 0x12)));
        assert_eq!(changed.key_after, Some(0x12));
    }
}
