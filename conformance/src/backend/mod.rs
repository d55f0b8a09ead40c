//! Backends: each runs a scenario's probes in order, from the scenario's
//! initial state, and reports what happened in the vector format's terms.
//!
//! Every backend shares [`outcome`] and [`frame_key`], so that they differ
//! only in *how* an access is translated, never in how a result is
//! reported.

mod kvm;
mod mock;
mod tlb;
mod walk;

pub use kvm::KvmBackend;
pub use mock::MockBackend;
pub use tlb::TlbBackend;
pub use walk::WalkBackend;

use zmmu_mmu::access::{self, Fault};
use zmmu_mmu::addr::RealAddress;
use zmmu_mmu::control::Controls;
use zmmu_mmu::lra;
use zmmu_mmu::storage::Storage;

use crate::machine::{self, SetupError};
use crate::vector::{Expect, Lra, Probe, Scenario};

/// R1 before the LOAD REAL ADDRESS whose result a vector's `lra` records:
/// the probe program loads all ones (`conformance/vectors/README.md`), so
/// bits the instruction leaves unchanged read as ones.
pub const LRA_R1_BEFORE: u64 = u64::MAX;

/// What a backend observed for one probe, in the vector format's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The access outcome.
    pub expect: Expect,
    /// LOAD REAL ADDRESS (64-bit form), where it completes with a condition code.
    pub lra: Option<Lra>,
    /// The storage key of the frame the probe's address translates to, after the probe.
    pub key_after: Option<u64>,
    /// The outcome of the same access made again right after, for backends
    /// that exercise a cache (it must equal `expect` too).
    pub repeat: Option<Expect>,
}

/// Why a backend could not run a scenario (as opposed to a probe outcome
/// that differs from the expectation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The scenario's state cannot be set up.
    Setup(SetupError),
    /// The backend refused an access it does not implement.
    Unsupported(String),
    /// The backend itself failed (for example a KVM ioctl).
    Backend(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Setup(e) => write!(f, "cannot set up the scenario: {e}"),
            Self::Unsupported(what) => write!(f, "unsupported: {what}"),
            Self::Backend(what) => write!(f, "backend failure: {what}"),
        }
    }
}

impl From<SetupError> for BackendError {
    fn from(e: SetupError) -> Self {
        Self::Setup(e)
    }
}

/// A way of translating accesses that the runner can check.
pub trait Backend {
    /// The name used on the command line and in reports.
    fn name(&self) -> &'static str;

    /// Runs every probe of `scenario` in order, starting from its initial
    /// state, and returns one outcome per probe.
    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError>;
}

/// The outcome of one probe given the result of its access, computed from
/// the storage state *after* the access: the LRA answer and the key of the
/// frame the address translates to.
pub fn outcome<S: Storage + ?Sized>(
    storage: &S,
    controls: &Controls,
    probe: &Probe,
    result: Result<(u64, u64), Fault>,
) -> Result<Observed, BackendError> {
    let expect = match result {
        Ok((real, abs)) => Expect::Success { real, abs },
        Err(Fault::Program(e)) => Expect::Exception {
            pic: u64::from(e.code.0),
            teid: e.teid.map(|t| t.0),
        },
        Err(Fault::ArtUnsupported { alet }) => {
            return Err(BackendError::Unsupported(format!(
                "access-register translation for ALET {alet:#x}"
            )))
        }
    };
    let request = machine::request(probe);
    let lra = match probe.space {
        crate::vector::ProbeSpace::Real => None,
        _ => lra::lra(storage, controls, request.space, request.address, true)
            .ok()
            .map(|r| Lra {
                cc: u64::from(r.cc),
                r1: r.lra_register(LRA_R1_BEFORE, true),
            }),
    };
    Ok(Observed {
        expect,
        lra,
        key_after: frame_key(storage, controls, probe),
        repeat: None,
    })
}

/// The storage key of the frame a probe's address translates to, if it
/// translates to an existing frame (protection is not considered).
pub fn frame_key<S: Storage + ?Sized>(
    storage: &S,
    controls: &Controls,
    probe: &Probe,
) -> Option<u64> {
    let request = machine::request(probe);
    let absolute = match access::asce_source(request.space, request.kind).ok()? {
        None => controls.prefix.to_absolute(RealAddress::new(probe.addr)),
        Some(source) => {
            zmmu_mmu::walk::walk(storage, controls.asce(source), probe.addr, controls.into())
                .ok()?
                .absolute(probe.addr, controls.prefix)
        }
    };
    storage.key(absolute).map(|k| u64::from(k.value()))
}
