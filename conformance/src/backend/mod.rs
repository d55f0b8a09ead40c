//! Backends: each runs a scenario's steps in order, from the scenario's
//! initial state, and reports what happened in the vector format's terms.
//!
//! Every backend but the engines runs its steps through [`crate::execute`],
//! so that they differ only in *how* an access is translated and which
//! translations they cache, never in how an operation or a result is
//! handled. The engine backends ([`EngineBackend`]) run the scenarios as
//! the reference did, as s390x instructions, under `zmmu run`.

mod engine;
mod kvm;
mod mock;
mod tlb;
mod walk;

pub use engine::EngineBackend;
pub use kvm::KvmBackend;
pub use mock::MockBackend;
pub use tlb::TlbBackend;
pub use walk::WalkBackend;

pub use crate::execute::{BackendError, Observed};
use crate::steps::Scenario;

/// A way of translating accesses that the runner can check.
pub trait Backend {
    /// The name used on the command line and in reports.
    fn name(&self) -> &'static str;

    /// Told every scenario before the first [`Backend::run`]: a backend
    /// that runs scenarios in batches (the engines) runs them here.
    fn prepare(&mut self, _scenarios: &[&Scenario]) {}

    /// Runs every step of `scenario` in order, starting from its initial
    /// state, and returns one observation per step.
    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError>;
}
