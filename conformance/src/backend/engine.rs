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
use crate::steps::{format_op, Scenario};

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
                Ok(Observed {
                    outcome: got.expect,
                    lra: got.lra,
                    key_after: got.key_after,
                    repeat: None,
                })
            })
            .collect()
    }
}
