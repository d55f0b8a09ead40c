//! The `tlb` backend: every access through the core's software TLB, made
//! twice so that the second access exercises the hit path (and entries
//! formed by earlier accesses serve later ones until an operation drops
//! them).

use zmmu_mmu::access::{Fault, Request};
use zmmu_mmu::control::Controls;
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::storage::OwnedStorage;
use zmmu_mmu::tlb::Tlb;

use super::{Backend, BackendError, Observed};
use crate::execute::{self, Translator};
use crate::machine;
use crate::steps::Scenario;

/// Runs each access through a [`Tlb`], twice.
#[derive(Debug, Default)]
pub struct TlbBackend;

struct Cached {
    storage: OwnedStorage,
    tlb: Tlb,
}

impl Translator for Cached {
    type Storage = OwnedStorage;

    fn storage(&mut self) -> &mut OwnedStorage {
        &mut self.storage
    }

    fn access(
        &mut self,
        _: &Controls,
        request: Request,
    ) -> Result<Result<(u64, u64), Fault>, BackendError> {
        Ok(self
            .tlb
            .access(&mut self.storage, request)
            .map(|t| (t.real.value(), t.absolute.value())))
    }

    fn invalidate(&mut self, invalidation: &Invalidation) {
        self.tlb.invalidate(invalidation);
    }

    fn controls_changed(&mut self, _: &Controls, new: &Controls) {
        self.tlb.set_controls(new);
    }

    fn caches(&self) -> bool {
        true
    }
}

impl Backend for TlbBackend {
    fn name(&self) -> &'static str {
        "tlb"
    }

    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
        let mut cached = Cached {
            storage: machine::storage(scenario)?,
            tlb: Tlb::new(&machine::controls(scenario)),
        };
        execute::run(&mut cached, scenario)
    }
}
