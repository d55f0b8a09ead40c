//! The `mock` backend: every access through the shadow pager driving
//! hv-mock's simulated x86-64 MMU ([`Engine`] over [`MockHost`]), made twice
//! so that the second access is served by the host MMU wherever the first
//! one mapped the page (and mappings formed by earlier accesses serve later
//! ones until an operation drops them).

use zmmu_hv_mock::MockHost;
use zmmu_mmu::access::{Fault, Request};
use zmmu_mmu::control::Controls;
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::shadow::{Config, Engine, EngineError};
use zmmu_mmu::storage::OwnedStorage;

use super::{Backend, BackendError, Observed};
use crate::execute::{self, Translator};
use crate::machine;
use crate::steps::Scenario;

/// Runs each access through an [`Engine`] on a fresh [`MockHost`] per
/// scenario, twice. The pager records references exactly (no speculative R),
/// so keys after each access are those of a machine that makes no
/// speculative accesses.
#[derive(Debug, Default)]
pub struct MockBackend;

struct Shadowed {
    storage: OwnedStorage,
    engine: Engine<MockHost>,
}

impl Translator for Shadowed {
    type Storage = OwnedStorage;

    fn storage(&mut self) -> &mut OwnedStorage {
        &mut self.storage
    }

    fn access(
        &mut self,
        controls: &Controls,
        request: Request,
    ) -> Result<Result<(u64, u64), Fault>, BackendError> {
        match self.engine.access(&mut self.storage, controls, request) {
            Ok(served) => Ok(Ok((served.real.value(), served.absolute.value()))),
            Err(EngineError::Fault(fault)) => Ok(Err(fault)),
            Err(other) => Err(BackendError::Backend(format!("{other:?}"))),
        }
    }

    fn invalidate(&mut self, invalidation: &Invalidation) {
        self.engine.invalidate(invalidation);
    }

    fn controls_changed(&mut self, old: &Controls, new: &Controls) {
        self.engine.controls_changed(old, new);
    }

    fn caches(&self) -> bool {
        true
    }
}

impl Backend for MockBackend {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
        let mut shadowed = Shadowed {
            storage: machine::storage(scenario)?,
            engine: Engine::new(MockHost::new(scenario.storage_size), Config::default()),
        };
        execute::run(&mut shadowed, scenario)
    }
}
