//! The `walk` backend: every access through the core's DAT walk and access
//! checks, nothing cached.

use zmmu_mmu::access::{self, Fault, Request};
use zmmu_mmu::control::Controls;
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::storage::OwnedStorage;

use super::{Backend, BackendError, Observed};
use crate::execute::{self, Translator};
use crate::machine;
use crate::steps::Scenario;

/// Runs each access through [`access::access`].
#[derive(Debug, Default)]
pub struct WalkBackend;

struct Walk(OwnedStorage);

impl Translator for Walk {
    type Storage = OwnedStorage;

    fn storage(&mut self) -> &mut OwnedStorage {
        &mut self.0
    }

    fn access(
        &mut self,
        controls: &Controls,
        request: Request,
    ) -> Result<Result<(u64, u64), Fault>, BackendError> {
        Ok(access::access(&mut self.0, controls, request)
            .map(|done| (done.real.value(), done.absolute.value())))
    }

    fn invalidate(&mut self, _: &Invalidation) {}

    fn controls_changed(&mut self, _: &Controls, _: &Controls) {}

    fn caches(&self) -> bool {
        false
    }
}

impl Backend for WalkBackend {
    fn name(&self) -> &'static str {
        "walk"
    }

    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
        execute::run(&mut Walk(machine::storage(scenario)?), scenario)
    }
}
