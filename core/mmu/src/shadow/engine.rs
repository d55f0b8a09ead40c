//! [`Engine`]: one storage access through the host MMU, with the shadow
//! pager behind it and the software path beside it. This is what a
//! conformance runner backend and a hypervisor's access loop call.

use crate::access::{self, Fault, Request};
use crate::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use crate::control::Controls;
use crate::host::{HostAccess, LOWER_HALF_END};
use crate::invalidate::Invalidation;
use crate::storage::Storage;

use super::{Config, Purpose, Resolution, RootTag, ShadowError, ShadowPager};

/// How an access was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServedBy {
    /// The host MMU translated it from an existing mapping.
    HostMmu,
    /// The host MMU faulted, the shadow pager mapped the page, and the retry
    /// through the host MMU succeeded.
    Shadowed,
    /// The software path: the address is above what the host can map, or a
    /// sub-page rule keeps the page out of the host tables.
    Software,
}

/// A performed access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Served {
    /// The real address of the byte.
    pub real: RealAddress,
    /// The absolute address of the byte.
    pub absolute: AbsoluteAddress,
    /// Which path served it.
    pub by: ServedBy,
}

/// Why an access was not performed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineError<E> {
    /// The architecture refuses the access: deliver this fault. Always the
    /// result of the DAT walk on the current state.
    Fault(Fault),
    /// The backend failed to create a root, map a page or switch roots.
    Host(E),
    /// The host MMU disagreed with the pager about a mapping it was just
    /// given (a backend bug; never caused by guest data).
    Inconsistent(LogicalAddress),
}

impl<E: core::fmt::Debug> core::fmt::Display for EngineError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Fault(fault) => write!(f, "{fault}"),
            Self::Host(error) => write!(f, "host paging backend failed: {error:?}"),
            Self::Inconsistent(address) => write!(
                f,
                "the host MMU disagrees with the shadow pager at logical {:#x}",
                address.value()
            ),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for EngineError<E> {}

/// A host MMU backend, the shadow pager that drives it, and the software
/// path, behind one [`Engine::access`]:
///
/// 1. addresses at or above [`LOWER_HALF_END`] go to [`access::access`];
/// 2. otherwise the root for the access ([`RootTag::for_request`]) is
///    activated and the host MMU tries the access ([`HostAccess::probe`]);
/// 3. on a host page fault the pager resolves it
///    ([`ShadowPager::resolve_fault`]): a refused access is returned as its
///    exact [`Fault`]; a mapped page is retried through the host MMU; a page
///    kept out by a sub-page rule is served in software.
///
/// The owner reports every invalidating operation ([`Engine::invalidate`],
/// with the [`Invalidation`] the core's operation returned) and every change
/// of control registers ([`Engine::controls_changed`]). Storage is passed to
/// each call: the caller owns it. A new machine state (new storage, new
/// keys) starts with `invalidate(&Invalidation::All)` or a new engine.
///
/// ```
/// # use zmmu_mmu::prelude::*;
/// # use zmmu_mmu::shadow::{Engine, EngineError};
/// # use zmmu_mmu::host::HostAccess;
/// /// One conformance probe: the real and absolute address, or the fault.
/// fn probe<H: HostAccess>(
///     engine: &mut Engine<H>,
///     storage: &mut OwnedStorage,
///     controls: &Controls,
///     request: Request,
/// ) -> Result<(RealAddress, AbsoluteAddress), Fault> {
///     match engine.access(storage, controls, request) {
///         Ok(served) => Ok((served.real, served.absolute)),
///         Err(EngineError::Fault(fault)) => Err(fault),
///         Err(other) => panic!("backend failure: {other:?}"),
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Engine<H: HostAccess> {
    pager: ShadowPager<H>,
    host: H,
}

impl<H: HostAccess> Engine<H> {
    /// An engine over `host` with a pager configured by `config`.
    pub fn new(host: H, config: Config) -> Self {
        Self {
            pager: ShadowPager::new(config),
            host,
        }
    }

    /// Performs one access (see the type's docs). R and C are recorded in
    /// `storage` as the architecture requires; a mapped page already has
    /// them.
    pub fn access<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        controls: &Controls,
        request: Request,
    ) -> Result<Served, EngineError<H::Error>> {
        if request.address.value() >= LOWER_HALF_END {
            return software(storage, controls, request);
        }
        let tag = RootTag::for_request(controls, &request).map_err(EngineError::Fault)?;
        self.pager
            .activate(&mut self.host, tag)
            .map_err(EngineError::Host)?;
        let kind = Purpose::host_kind(request.kind);
        if let Ok(absolute) = self.host.probe(request.address, kind) {
            let real = self
                .pager
                .real_address(tag, request.address)
                .ok_or(EngineError::Inconsistent(request.address))?;
            return Ok(Served {
                real,
                absolute,
                by: ServedBy::HostMmu,
            });
        }
        match self
            .pager
            .resolve_fault(&mut self.host, storage, controls, request)
        {
            Ok(Resolution::Mapped(access)) => match self.host.probe(request.address, kind) {
                Ok(absolute) if absolute == access.absolute => Ok(Served {
                    real: access.real,
                    absolute,
                    by: ServedBy::Shadowed,
                }),
                _ => Err(EngineError::Inconsistent(request.address)),
            },
            Ok(Resolution::Software(access)) => Ok(Served {
                real: access.real,
                absolute: access.absolute,
                by: ServedBy::Software,
            }),
            Err(ShadowError::Unmappable(_)) => software(storage, controls, request),
            Err(ShadowError::Fault(fault)) => Err(EngineError::Fault(fault)),
            Err(ShadowError::Host(error)) => Err(EngineError::Host(error)),
        }
    }

    /// Drops what an invalidating operation (IPTE, IDTE, SSKE, RRBE, SPX)
    /// requires; [`Invalidation::All`] drops everything (a reset: a purge
    /// of the TLB needs less, [`Engine::purge`]).
    pub fn invalidate(&mut self, invalidation: &Invalidation) {
        self.pager.invalidate(&mut self.host, invalidation);
    }

    /// What a purge of the TLB (PTLB, CSP/CSPG with purge) requires, with
    /// the tables as they are in `storage` now ([`ShadowPager::purge`]).
    pub fn purge<S: Storage + ?Sized>(&mut self, storage: &S, controls: &Controls) {
        self.pager.purge(&mut self.host, storage, controls);
    }

    /// Drops what a change of control registers, prefix or facilities
    /// requires ([`ShadowPager::controls_changed`]).
    pub fn controls_changed(&mut self, old: &Controls, new: &Controls) {
        self.pager.controls_changed(&mut self.host, old, new);
    }

    /// The backend maps `frame` narrower from now on: its writable mappings
    /// are given again ([`ShadowPager::remap_frame`]).
    pub fn remap_frame(&mut self, frame: AbsoluteAddress) {
        self.pager.remap_frame(&mut self.host, frame);
    }

    /// Sets the C bits of the frames the host recorded stores into
    /// ([`ShadowPager::harvest`]); before storage keys are read or set.
    pub fn harvest<S: Storage + ?Sized>(&mut self, storage: &mut S) -> usize {
        self.pager.harvest(&mut self.host, storage)
    }

    /// Turns change recording by the host on or off
    /// ([`ShadowPager::set_change_by_host`]).
    pub fn set_change_by_host<S: Storage + ?Sized>(&mut self, storage: &mut S, on: bool) {
        self.pager.set_change_by_host(&mut self.host, storage, on);
    }

    /// The shadow pager (its roots, counters and configuration).
    pub fn pager(&self) -> &ShadowPager<H> {
        &self.pager
    }

    /// The backend, for its counters.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The backend, to probe it directly (tests). Mapping orders given
    /// through it bypass the pager's bookkeeping and void its guarantees.
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }
}

/// The software path: the access checked and recorded by the core.
fn software<S: Storage + ?Sized, E>(
    storage: &mut S,
    controls: &Controls,
    request: Request,
) -> Result<Served, EngineError<E>> {
    let access = access::access(storage, controls, request).map_err(EngineError::Fault)?;
    Ok(Served {
        real: access.real,
        absolute: access.absolute,
        by: ServedBy::Software,
    })
}
