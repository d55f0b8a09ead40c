//! The `mock` backend: every probe through the shadow pager driving hv-mock's
//! simulated x86-64 MMU ([`Engine`] over [`MockHost`]), made twice so that
//! the second access is served by the host MMU wherever the first one mapped
//! the page (and mappings formed by earlier probes serve later ones).

use zmmu_hv_mock::MockHost;
use zmmu_mmu::access::{Fault, Request};
use zmmu_mmu::control::Controls;
use zmmu_mmu::shadow::{Config, Engine, EngineError};
use zmmu_mmu::storage::OwnedStorage;

use super::{outcome, Backend, BackendError, Observed};
use crate::machine;
use crate::vector::Scenario;

/// Runs each probe through an [`Engine`] on a fresh [`MockHost`] per
/// scenario, twice. The pager records references exactly (no speculative R),
/// so keys after each probe are those of a machine that makes no speculative
/// accesses.
#[derive(Debug, Default)]
pub struct MockBackend;

impl Backend for MockBackend {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
        let mut storage = machine::storage(scenario)?;
        let controls = machine::controls(scenario);
        let mut engine = Engine::new(MockHost::new(scenario.storage_size), Config::default());
        let mut outcomes = Vec::with_capacity(scenario.probes.len());
        for probe in &scenario.probes {
            let request = machine::request(probe);
            let first = access(&mut engine, &mut storage, &controls, request)?;
            let again = access(&mut engine, &mut storage, &controls, request)?;
            let mut result = outcome(&storage, &controls, probe, first)?;
            result.repeat = Some(outcome(&storage, &controls, probe, again)?.expect);
            outcomes.push(result);
        }
        Ok(outcomes)
    }
}

/// One access through the engine: the real and absolute address, or the
/// architected fault; a backend failure is an error of the run.
fn access(
    engine: &mut Engine<MockHost>,
    storage: &mut OwnedStorage,
    controls: &Controls,
    request: Request,
) -> Result<Result<(u64, u64), Fault>, BackendError> {
    match engine.access(storage, controls, request) {
        Ok(served) => Ok(Ok((served.real.value(), served.absolute.value()))),
        Err(EngineError::Fault(fault)) => Ok(Err(fault)),
        Err(other) => Err(BackendError::Backend(format!("{other:?}"))),
    }
}
