//! The `tlb` backend: every probe through the core's software TLB, made
//! twice so that the second access exercises the hit path (and entries
//! formed by earlier probes serve later ones).

use zmmu_mmu::tlb::Tlb;

use super::{outcome, Backend, BackendError, Observed};
use crate::machine;
use crate::vector::Scenario;

/// Runs each probe through a [`Tlb`], twice.
#[derive(Debug, Default)]
pub struct TlbBackend;

impl Backend for TlbBackend {
    fn name(&self) -> &'static str {
        "tlb"
    }

    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
        let mut storage = machine::storage(scenario)?;
        let controls = machine::controls(scenario);
        let mut tlb = Tlb::new(&controls);
        let mut outcomes = Vec::with_capacity(scenario.probes.len());
        for probe in &scenario.probes {
            let request = machine::request(probe);
            let first = tlb
                .access(&mut storage, request)
                .map(|t| (t.real.value(), t.absolute.value()));
            let again = tlb
                .access(&mut storage, request)
                .map(|t| (t.real.value(), t.absolute.value()));
            let mut result = outcome(&storage, &controls, probe, first)?;
            result.repeat = Some(outcome(&storage, &controls, probe, again)?.expect);
            outcomes.push(result);
        }
        Ok(outcomes)
    }
}
