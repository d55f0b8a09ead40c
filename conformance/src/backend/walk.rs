//! The `walk` backend: every probe through the core's DAT walk and access
//! checks, nothing cached.

use zmmu_mmu::access;

use super::{outcome, Backend, BackendError, Observed};
use crate::machine;
use crate::vector::Scenario;

/// Runs each probe through [`access::access`].
#[derive(Debug, Default)]
pub struct WalkBackend;

impl Backend for WalkBackend {
    fn name(&self) -> &'static str {
        "walk"
    }

    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
        let mut storage = machine::storage(scenario)?;
        let controls = machine::controls(scenario);
        scenario
            .probes
            .iter()
            .map(|probe| {
                let result = access::access(&mut storage, &controls, machine::request(probe))
                    .map(|done| (done.real.value(), done.absolute.value()));
                outcome(&storage, &controls, probe, result)
            })
            .collect()
    }
}
