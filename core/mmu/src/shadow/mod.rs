//! The shadow pager: mirrors s390x DAT translations into host page tables
//! through a [`HostPaging`] backend, on demand, as an architected TLB would
//! cache them (PoP ch. 3, Translation-Lookaside Buffer).
//!
//! - **On a host fault** ([`ShadowPager::resolve_fault`]) it performs the
//!   access with [`access::access`] (the DAT walk, protection, keys, R and
//!   C recording), so that a refused access raises the exact s390x
//!   exception, and installs the page with the narrowest permission that is
//!   still correct ([`PagePermissions::of`]): read-only while the frame's C
//!   bit is zero or while DAT, key or low-address protection forbid stores,
//!   never executable. A later store faults again, records C and upgrades
//!   the mapping in place.
//! - **Change recording by the host** ([`Config::change_by_host`]): a
//!   data page that only its zero C bit keeps read-only is mapped writable
//!   with the host MMU recording the first store (x86's dirty flag,
//!   [`Mapping::track_stores`](crate::host::Mapping::track_stores)) instead, so a first store costs no fault and
//!   fault-around maps writable runs; [`ShadowPager::harvest`] moves those
//!   records into the C bits (PoP "Change Recording": C is set by stores
//!   only) and must run before anything reads or sets a storage key, while
//!   nothing accesses storage through the roots. A mapping that goes
//!   before a harvest leaves its record with the pager. Large mappings are
//!   never tracked: one dirty flag cannot say which 4 KiB frames changed.
//! - **Sub-page rules.** A page on which low-address protection or the
//!   fetch-protection override make only part of the page accessible is
//!   never mapped with the permission that only part of it has; the access
//!   that faulted is answered as [`Resolution::Software`]. Where every
//!   store checks the low addresses itself
//!   ([`Config::stores_check_low_addresses`]), low-address protection
//!   keeps no page read-only.
//! - **R.** A page is mapped only once its reference bit is one: the
//!   faulting page's is set by the access; neighbours (fault-around) and
//!   the other pages of a large mapping are mapped only if theirs is
//!   already one, unless [`Config::speculative_reference`] lets the pager
//!   set it (the architecture permits spurious R, never a missed one).
//! - **Roots.** One host root per [`RootTag`]: the ASCE (or the real space
//!   with DAT off, logical = real, prefixed), the access key and the
//!   purpose (operand data or instruction fetch). Cached write permission
//!   depends on the access key, so roots are tagged by key rather than
//!   mapped for the most restrictive key: a switch of PSW key is a switch of
//!   root, and a key that may not store can never use a writable mapping
//!   made for another. Roots live in a bounded least-recently-used cache.
//! - **Large frames.** A 2 GiB EDAT-2 region frame maps as 1 GiB host pages
//!   and a pair of 1 MiB EDAT-1 segment frames that are contiguous in
//!   absolute storage, 2 MiB aligned and equally protected maps as one
//!   2 MiB host page, when every 4 KiB frame in the host page has the same
//!   permissions (keys are per 4 KiB frame: the pager checks all of them,
//!   512 for a 2 MiB page and 262144 for a 1 GiB page, on the fault that
//!   installs it; `docs/PERFORMANCE.md` measures it). Otherwise the frame
//!   maps as 4 KiB pages. A key change in the range drops the large
//!   mapping; the next fault maps what is uniform again.
//! - **Fault-around** ([`Config::fault_around`]): a fault that maps a 4 KiB
//!   page also maps the other pages of its aligned window that DAT
//!   translates now and that permit the faulting kind of access, each with
//!   its own permissions, in one step, up to the first neighbour that does
//!   not (or, without speculative reference recording, whose R bit is
//!   zero): untouched and unchanged storage come in runs.
//! - **Invalidation** ([`ShadowPager::invalidate`]) drops exactly the
//!   mappings that [`Invalidation::covers`] names, found through reverse maps
//!   from guest table-entry addresses and from absolute frames; a purge of
//!   the TLB ([`ShadowPager::purge`]) keeps the mappings the tables as they
//!   are now translate again (a walk each) and the real space's; a control
//!   change ([`ShadowPager::controls_changed`])
//!   drops everything when CR0's DAT controls or protection overrides or
//!   the facilities change, the low pages when low-address protection
//!   changes, the prefix areas when the prefix changes, and nothing for a
//!   new ASCE (roots are per ASCE, and loading a control register does not
//!   purge a TLB).
//! - **Limits.** Logical addresses at or above [`LOWER_HALF_END`] are refused
//!   with [`ShadowError::Unmappable`] so that the caller takes the software
//!   path.
//!
//! [`Engine`] combines a pager, a backend and the software path into one
//! `access` call, for the conformance runner and the hypervisor backends.

mod engine;
mod reverse;
mod roots;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

pub use engine::{Engine, EngineError, Served, ServedBy};

use crate::access::{self, Access, Fault, PagePermissions, Request};
use crate::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use crate::asce::Asce;
use crate::control::{Controls, Cr0};
use crate::host::{
    FlushScope, HostAccessKind, HostPageSize, HostPaging, HostPerms, Mapping, LOWER_HALF_END,
};
use crate::invalidate::Invalidation;
use crate::keys::StorageKey;
use crate::kind::AccessKind;
use crate::storage::Storage;
use crate::walk::{FrameSize, TablePath, WalkControls};
use crate::PAGE_SHIFT;

use reverse::{MappingId, ReverseMap};
use roots::{RootCache, RootId, Shadow};

const PAGE: u64 = 1 << PAGE_SHIFT;

/// Above this many pages removed from one root by one invalidation, the
/// root is flushed whole rather than page by page.
const FLUSH_PAGES_MAX: usize = 32;

/// The most mappings kept with stores tracked after a harvest; the rest
/// become read-only (a store faults and records C as without tracking),
/// which bounds what each [`ShadowPager::harvest`] reads.
pub const TRACKED_MAX: usize = 2048;

/// The CR0 bits whose change alters translations or the permissions derived
/// from them: [`Cr0::TRANSLATION_BITS`] but the secondary-space control
/// (bits 35, 38, 39, 40, 43).
const CR0_RULES: Cr0 = Cr0::TRANSLATION_BITS.difference(Cr0::SECONDARY_SPACE);

/// Tuning of the shadow pager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The most roots kept (at least 2); the least recently used is
    /// released first.
    pub max_roots: usize,
    /// Fault-around window in 4 KiB pages (rounded up to a power of two, at
    /// most 512): on a fault that maps a 4 KiB page, the other pages of the
    /// aligned window that DAT translates are mapped too. 0 or 1 disables it.
    pub fault_around: u16,
    /// The largest host page used (`Size4K` disables large pages; 1 GiB
    /// pages need the host CPU's PDPE1GB).
    pub largest: HostPageSize,
    /// Set R in the keys of the neighbours and large-frame pages mapped
    /// ahead of use, instead of leaving pages with R = 0 unmapped. The
    /// architecture allows spurious R; a conformance run that compares keys
    /// after each access wants it off.
    pub speculative_reference: bool,
    /// The most mappings kept over all roots; past it a root is emptied (any
    /// cached translation may be dropped at any time).
    pub max_mappings: usize,
    /// Every store made through the roots checks the addresses that
    /// low-address protection covers (logical 0-511 and 4096-4607) itself
    /// and goes elsewhere when it touches them (the kvm engine's translated
    /// code, `MemoryAccess::HostMmu`): the two low pages are then mapped
    /// writable for the rest of their bytes, and a change of the
    /// protection drops nothing.
    pub stores_check_low_addresses: bool,
    /// Data pages whose C bit is zero are mapped writable where nothing but
    /// that bit keeps them read-only, the host MMU recording their first
    /// store, which [`ShadowPager::harvest`] moves into C (see the module
    /// docs). The caller harvests before any storage key is read or set.
    pub change_by_host: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_roots: 32,
            fault_around: 16,
            largest: HostPageSize::Size1G,
            speculative_reference: false,
            max_mappings: 1 << 20,
            stores_check_low_addresses: false,
            change_by_host: false,
        }
    }
}

/// What a root's mappings are for: the permissions of operand accesses and
/// of instruction fetches differ (IEP), and instruction fetches use CR1 in
/// every mode but home.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// Operand fetches and stores.
    Data,
    /// Instruction fetches, made by the host as loads.
    Instruction,
}

impl Purpose {
    /// The purpose of an access of `kind`.
    pub const fn of(kind: AccessKind) -> Self {
        match kind {
            AccessKind::InstructionFetch => Self::Instruction,
            AccessKind::Read | AccessKind::Write => Self::Data,
        }
    }

    /// The host access that performs an s390x access of `kind`.
    pub const fn host_kind(kind: AccessKind) -> HostAccessKind {
        match kind {
            AccessKind::Write => HostAccessKind::Write,
            AccessKind::Read | AccessKind::InstructionFetch => HostAccessKind::Read,
        }
    }

    /// The host permissions of a page with `perms` in a root of this purpose.
    fn perms(self, perms: PagePermissions) -> HostPerms {
        let mut host = HostPerms::empty();
        match self {
            Self::Data => {
                host.set(HostPerms::READ, perms.read);
                // x86 cannot map a page writable but not readable.
                host.set(HostPerms::WRITE, perms.read && perms.write);
            }
            Self::Instruction => host.set(HostPerms::READ, perms.fetch),
        }
        host
    }

    /// The permission an access of `kind` needs in a mapping.
    pub const fn needs(kind: AccessKind) -> HostPerms {
        match kind {
            AccessKind::Write => HostPerms::WRITE,
            AccessKind::Read | AccessKind::InstructionFetch => HostPerms::READ,
        }
    }

    /// The access kind that checks a page mapped ahead of use.
    pub const fn probe_kind(self) -> AccessKind {
        match self {
            Self::Data => AccessKind::Read,
            Self::Instruction => AccessKind::InstructionFetch,
        }
    }
}

/// What a shadow root translates for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RootTag {
    /// The [`Asce::tag`] of the ASCE the accesses use, `None` with DAT off.
    pub asce: Option<u64>,
    /// The access key, as the request gives it (0-15 for a PSW key).
    pub key: u8,
    /// Operand data or instruction fetches.
    pub purpose: Purpose,
}

impl RootTag {
    /// The root an access uses under `controls`: its ASCE (chosen as
    /// [`access::asce_source`] chooses it), its key and its purpose.
    /// Access-register mode with an ALET other than 0 or 1 is
    /// [`Fault::ArtUnsupported`].
    pub fn for_request(controls: &Controls, request: &Request) -> Result<Self, Fault> {
        let source = access::asce_source(request.space, request.kind)?;
        Ok(Self {
            asce: source.map(|source| controls.asce(source).tag()),
            key: request.key,
            purpose: Purpose::of(request.kind),
        })
    }
}

/// A resolved host fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The access was checked and recorded and its page is mapped with the
    /// permission it needs: retry it through the host MMU.
    Mapped(Access),
    /// The access was checked and recorded but its page cannot be mapped
    /// with the permission it needs (a sub-page rule): perform it in
    /// software at `access.absolute`.
    Software(Access),
}

/// Why a host fault was not resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadowError<E> {
    /// DAT, protection or keys refuse the access: deliver this fault.
    Fault(Fault),
    /// The address is at or above [`LOWER_HALF_END`]: the host MMU cannot
    /// map it; take the software path.
    Unmappable(LogicalAddress),
    /// The backend failed to create a root or install a mapping.
    Host(E),
}

impl<E: core::fmt::Debug> core::fmt::Display for ShadowError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Fault(fault) => write!(f, "{fault}"),
            Self::Unmappable(address) => write!(
                f,
                "logical address {:#x} is beyond what the host MMU maps",
                address.value()
            ),
            Self::Host(error) => write!(f, "host paging backend failed: {error:?}"),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for ShadowError<E> {}

impl<E> From<Fault> for ShadowError<E> {
    fn from(fault: Fault) -> Self {
        Self::Fault(fault)
    }
}

/// Counters of the pager's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    /// Host faults resolved (whether mapped or answered in software).
    pub faults: u64,
    /// DAT walks made: one per resolved fault, one per fault-around
    /// neighbour and per other half of a 2 MiB page checked.
    pub dat_walks: u64,
    /// 4 KiB mappings installed for a faulting page.
    pub mapped_4k: u64,
    /// 2 MiB mappings installed.
    pub mapped_2m: u64,
    /// 1 GiB mappings installed.
    pub mapped_1g: u64,
    /// 4 KiB neighbours mapped by fault-around.
    pub around: u64,
    /// Mappings upgraded in place (a store recorded C).
    pub upgraded: u64,
    /// 4 KiB mappings made writable with stores tracked
    /// ([`Config::change_by_host`]).
    pub tracked: u64,
    /// C bits set from stores the host recorded ([`ShadowPager::harvest`]).
    pub harvested: u64,
    /// Tracked mappings made read-only past the bound on tracked mappings.
    pub untracked: u64,
    /// Harvests that read at least one tracked mapping.
    pub harvests: u64,
    /// Mappings removed by invalidations, evictions and demotions.
    pub dropped: u64,
    /// Mappings a TLB purge kept: the tables translate them again
    /// ([`ShadowPager::purge`]).
    pub kept_by_purges: u64,
    /// Writable mappings given to the backend again because it maps one of
    /// their frames narrower ([`ShadowPager::remap_frame`]).
    pub remapped: u64,
    /// Roots created.
    pub roots_created: u64,
    /// Roots released to make room.
    pub roots_evicted: u64,
    /// Mappings made outside the pager and taken into its records
    /// ([`ShadowPager::adopt`]).
    pub adopted: u64,
    /// Mappings made outside the pager that it removed instead
    /// ([`ShadowPager::adopt`]).
    pub disowned: u64,
}

/// [`PagePermissions::of`] the page of a permitted `access`, but with
/// low-address protection left to the stores themselves when they check
/// it ([`Config::stores_check_low_addresses`]): the rule protects only
/// 1 KiB of the two low pages, never a whole page.
fn permissions(
    config: &Config,
    controls: &Controls,
    access: &Access,
    access_key: u8,
    key_now: StorageKey,
) -> PagePermissions {
    if config.stores_check_low_addresses {
        let unprotected = Controls {
            cr0: controls.cr0.difference(Cr0::LOW_ADDRESS_PROTECTION),
            ..*controls
        };
        PagePermissions::of(&unprotected, access, access_key, key_now)
    } else {
        PagePermissions::of(controls, access, access_key, key_now)
    }
}

/// The host permissions a pager with `config` gives the 4 KiB page of a
/// permitted `access` in a root of `purpose` whose frame's key is now
/// `key_now`, and whether its stores are tracked: with
/// [`Config::change_by_host`], a data page that only its zero C bit would
/// keep read-only is writable, the host recording its first store. For a
/// backend that maps pages itself (the kvm engine's fills in the VM, which
/// [`ShadowPager::adopt`] takes into the pager's records).
pub fn page_permissions(
    config: &Config,
    controls: &Controls,
    access: &Access,
    access_key: u8,
    key_now: StorageKey,
    purpose: Purpose,
) -> (HostPerms, bool) {
    let strict = purpose.perms(permissions(config, controls, access, access_key, key_now));
    if !config.change_by_host || purpose != Purpose::Data || key_now.changed() {
        return (strict, false);
    }
    let changed = key_now.recorded(AccessKind::Write);
    let loose = purpose.perms(permissions(config, controls, access, access_key, changed));
    (loose, loose != strict)
}

/// The shadow pager for one CPU, generic over the host MMU backend. It holds
/// the backend's root handles and the bookkeeping of what it mapped; the
/// backend itself is passed to each call, so that the caller (for example
/// the [`Engine`], or a hypervisor's vCPU loop) owns it.
#[derive(Debug)]
pub struct ShadowPager<H: HostPaging> {
    config: Config,
    roots: RootCache<H::Root>,
    reverse: ReverseMap,
    active: Option<RootId>,
    mapped: usize,
    /// The mappings made with stores tracked, with their root and frame.
    tracked: BTreeMap<MappingId, (H::Root, AbsoluteAddress)>,
    /// Frames stored into through tracked mappings that went before a
    /// harvest: their C bits are set at the next one.
    stored: Vec<AbsoluteAddress>,
    stats: Stats,
}

impl<H: HostPaging> ShadowPager<H> {
    /// A pager with no roots.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            roots: RootCache::new(config.max_roots),
            reverse: ReverseMap::default(),
            active: None,
            mapped: 0,
            tracked: BTreeMap::new(),
            stored: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The number of mappings installed over all roots.
    pub fn mappings(&self) -> usize {
        self.mapped
    }

    /// The root for `tag`, if one exists (without creating one or counting
    /// it as used).
    pub fn root(&self, tag: RootTag) -> Option<H::Root> {
        self.roots.find(tag).map(|state| state.root)
    }

    /// The roots there are, each with its tag.
    pub fn roots(&self) -> impl Iterator<Item = (RootTag, H::Root)> + '_ {
        self.roots.iter().map(|(_, state)| (state.tag, state.root))
    }

    /// Records that the root for `tag` became the active one without the
    /// pager (the host's VM switched to it itself) and answers it; `None`
    /// (nothing changed) when there is no root for `tag`.
    pub fn follow(&mut self, tag: RootTag) -> Option<H::Root> {
        let (id, root) = self.roots.lookup(tag)?;
        self.active = Some(id);
        Some(root)
    }

    /// Makes the root for `tag` the active one, creating it if needed, and
    /// answers it.
    pub fn activate(&mut self, host: &mut H, tag: RootTag) -> Result<H::Root, H::Error> {
        let (id, root) = self.root_for(host, tag)?;
        if self.active != Some(id) {
            host.activate(root)?;
            self.active = Some(id);
        }
        Ok(root)
    }

    /// The real address that the mapping of `logical` in the root for `tag`
    /// was made from, if `logical` is mapped there. The host MMU answers
    /// only absolute addresses; this is how a served access reports its real
    /// address.
    pub fn real_address(&self, tag: RootTag, logical: LogicalAddress) -> Option<RealAddress> {
        let (base, shadow) = self.roots.find(tag)?.covering(logical.value())?;
        Some(shadow.real.wrapping_add(logical.value() - base))
    }

    /// Resolves a host fault of an access: performs it with
    /// [`access::access`] under `controls` (recording R, and C for a store)
    /// and maps its page, its fault-around neighbours or the large frame it
    /// lies in, in the root for the access (see the module docs).
    ///
    /// # Errors
    /// [`ShadowError::Fault`] with the exact program interruption when the
    /// architecture refuses the access (nothing is mapped),
    /// [`ShadowError::Unmappable`] for addresses the host cannot map,
    /// [`ShadowError::Host`] when the backend fails.
    pub fn resolve_fault<S: Storage + ?Sized>(
        &mut self,
        host: &mut H,
        storage: &mut S,
        controls: &Controls,
        request: Request,
    ) -> Result<Resolution, ShadowError<H::Error>> {
        if request.address.value() >= LOWER_HALF_END {
            return Err(ShadowError::Unmappable(request.address));
        }
        let tag = RootTag::for_request(controls, &request)?;
        self.stats.dat_walks += 1;
        let access = access::access(storage, controls, request)?;
        self.stats.faults += 1;
        let key_now = access.key.recorded(request.kind);
        let perms = tag.purpose.perms(permissions(
            &self.config,
            controls,
            &access,
            request.key,
            key_now,
        ));
        if !perms.contains(Purpose::needs(request.kind)) {
            return Ok(Resolution::Software(access));
        }
        let (id, _) = self.root_for(host, tag).map_err(ShadowError::Host)?;
        let (base, shadow, track) =
            self.plan(storage, controls, &request, tag.purpose, &access, perms);
        self.install(host, id, base, shadow, track)
            .map_err(ShadowError::Host)?;
        match shadow.size {
            HostPageSize::Size4K => {
                self.stats.mapped_4k += 1;
                self.fault_around(host, storage, controls, request, tag.purpose, id)?;
            }
            HostPageSize::Size2M => self.stats.mapped_2m += 1,
            HostPageSize::Size1G => self.stats.mapped_1g += 1,
        }
        Ok(Resolution::Mapped(access))
    }

    /// Takes into the pager's records a 4 KiB data mapping the backend got
    /// from elsewhere (the kvm engine's shadow fills in the VM,
    /// docs/CHOICES.md 91): `mapping` (a logical page mapped to an absolute
    /// frame with some permissions, its stores not tracked) in the root
    /// for `tag`. It is kept, as [`Self::resolve_fault`] would have made it,
    /// only where the root exists and has no mapping of the page yet, and
    /// DAT through the tables as they are now in `storage` (under
    /// `controls`, with the tag's ASCE) translates the page to the frame
    /// under a key whose reference bit is one and that, with the tag's
    /// access key, permits at least its permissions with no tracking of stores (a
    /// writable page's change bit is one). Otherwise the backend's mapping
    /// is removed and flushed (a cached translation may go at any time;
    /// the next access faults). Answers whether it was kept.
    pub fn adopt<S: Storage + ?Sized>(
        &mut self,
        host: &mut H,
        storage: &S,
        controls: &Controls,
        tag: RootTag,
        mapping: Mapping,
    ) -> bool {
        let (page, frame, perms) = (mapping.logical, mapping.frame, mapping.perms);
        let Some((id, root)) = self.roots.lookup(tag) else {
            return false;
        };
        let base = page.page().value();
        let covered = self
            .roots
            .get(id)
            .and_then(|state| state.covering(base))
            .map(|(_, shadow)| *shadow);
        if let Some(shadow) = covered {
            // Recorded already (the tables hold what the pager put there).
            return shadow.holds_frame(frame.page());
        }
        self.stats.dat_walks += 1;
        let kept = tag.asce.and_then(|asce| {
            let controls = Controls {
                cr1: Asce::new(asce),
                ..*controls
            };
            let request = Request {
                address: LogicalAddress::new(base),
                space: crate::space::AddressSpace::Primary,
                kind: tag.purpose.probe_kind(),
                key: tag.key,
            };
            let access = access::check(storage, &controls, request).ok()?;
            let strict = tag.purpose.perms(permissions(
                &self.config,
                &controls,
                &access,
                tag.key,
                access.key,
            ));
            (access.absolute.page() == frame.page()
                && mapping.size == HostPageSize::Size4K
                && !mapping.track_stores
                && access.key.referenced()
                && strict.contains(perms)
                && perms.contains(HostPerms::READ))
            .then_some(access)
        });
        let Some(access) = kept.filter(|_| self.mapped < self.config.max_mappings) else {
            host.unmap(root, LogicalAddress::new(base), HostPageSize::Size4K);
            host.flush(root, FlushScope::Page(LogicalAddress::new(base)));
            self.stats.disowned += 1;
            return false;
        };
        let shadow = Shadow::page(&access, perms);
        if let Some(state) = self.roots.get_mut(id) {
            state.mappings.insert(base, shadow);
            self.reverse.insert((id, base), &shadow);
            self.mapped += 1;
            self.stats.adopted += 1;
        }
        true
    }

    /// Drops every mapping that `invalidation` covers, in every root, and
    /// flushes the host TLB for them.
    pub fn invalidate(&mut self, host: &mut H, invalidation: &Invalidation) {
        let candidates: Vec<(MappingId, AbsoluteAddress)> = match *invalidation {
            Invalidation::All => {
                let ids: Vec<RootId> = self.roots.iter().map(|(id, _)| id).collect();
                ids.into_iter().for_each(|id| self.clear_root(host, id));
                return;
            }
            Invalidation::Asce(_) => {
                let ids: Vec<RootId> = self
                    .roots
                    .iter()
                    .filter(|(_, state)| {
                        invalidation.covers(
                            |_| None,
                            state.tag.asce.map(Asce::new),
                            AbsoluteAddress::default(),
                        )
                    })
                    .map(|(id, _)| id)
                    .collect();
                ids.into_iter().for_each(|id| self.clear_root(host, id));
                return;
            }
            Invalidation::PageTableEntries {
                origin,
                first,
                extra,
            } => {
                let first = origin.value().saturating_add(u64::from(first) * 8);
                self.with_frames(
                    self.reverse
                        .through_entries(first, first.saturating_add(u64::from(extra) * 8)),
                )
            }
            Invalidation::TableEntries { origin, .. } => self.with_frames(
                self.reverse
                    .through_entries(origin.value(), origin.value().saturating_add(2047 * 8)),
            ),
            Invalidation::Key(frame) => self
                .reverse
                .ending_in(frame.page())
                .into_iter()
                .map(|id| (id, frame.page()))
                .collect(),
            Invalidation::Prefix { old, new } => [0, old.value(), new.value()]
                .into_iter()
                .flat_map(|block| [block, block + PAGE])
                .flat_map(|page| {
                    let page = AbsoluteAddress::new(page);
                    self.reverse
                        .ending_in(page)
                        .into_iter()
                        .map(move |id| (id, page))
                })
                .collect(),
        };
        let covered: Vec<MappingId> = candidates
            .into_iter()
            .filter(|((root, base), absolute)| {
                let Some(state) = self.roots.get(*root) else {
                    return false;
                };
                let Some(shadow) = state.mappings.get(base) else {
                    return false;
                };
                let asce = state.tag.asce.map(Asce::new);
                shadow.holds_frame(*absolute)
                    && shadow
                        .paths
                        .iter()
                        .any(|path| invalidation.covers(|level| path.entry(level), asce, *absolute))
            })
            .map(|(id, _)| id)
            .collect();
        self.drop_mappings(host, covered);
    }

    /// What a purge of the TLB requires (PTLB, CSP and CSPG with purge:
    /// PoP ch. 3, "Translation-Lookaside Buffer"): after it, an access
    /// translates through the tables as they are in `storage` now, under
    /// `controls`. A mapping formed through DAT tables stays only if they
    /// translate it again (the same table entries to the same frames, no
    /// DAT protection or IEP the mapping does not honour): then it is what the
    /// access would map, with its R bit already one (a reset of R, RRBE or
    /// SSKE, drops it), so a purge costs a walk per mapping instead of a
    /// host fault per page used again. The others go. The mappings of the
    /// real space (DAT off) are formed through no table entry; what they
    /// depend on, the prefix (SPX), the storage keys (SSKE, RRBE) and CR0
    /// ([`Self::controls_changed`]), has invalidations of its own, so they
    /// stay. [`Invalidation::All`] (a reset) drops everything.
    pub fn purge<S: Storage + ?Sized>(&mut self, host: &mut H, storage: &S, controls: &Controls) {
        let walk_controls = WalkControls::from(controls);
        let mut kept = 0;
        let mut stale: Vec<MappingId> = Vec::new();
        for (id, state) in self.roots.iter() {
            let Some(asce) = state.tag.asce.map(Asce::new) else {
                continue;
            };
            for (base, shadow) in &state.mappings {
                if shadow.walks_again(storage, asce, *base, walk_controls, controls.prefix) {
                    kept += 1;
                } else {
                    stale.push((id, *base));
                }
            }
        }
        self.stats.kept_by_purges += kept;
        self.drop_mappings(host, stale);
    }

    /// Drops what a change of control state from `old` to `new` makes
    /// stale: everything when CR0's DAT controls or protection overrides
    /// (bits 38, 39, 40, 43) or the facilities change; when low-address
    /// protection (bit 35) changes, the mappings holding logical addresses
    /// 0-511 and 4096-4607 in every root (the addresses it protects; a
    /// large mapping there goes whole), unless the stores check those
    /// addresses themselves; the prefix areas when the prefix
    /// changes. A new ASCE in CR1, CR7 or CR13 drops nothing: its accesses
    /// use another root.
    pub fn controls_changed(&mut self, host: &mut H, old: &Controls, new: &Controls) {
        let changed = (old.cr0 ^ new.cr0).intersection(CR0_RULES);
        if old.facilities != new.facilities
            || changed.intersects(CR0_RULES.difference(Cr0::LOW_ADDRESS_PROTECTION))
        {
            self.invalidate(host, &Invalidation::All);
            return;
        }
        if changed.contains(Cr0::LOW_ADDRESS_PROTECTION) && !self.config.stores_check_low_addresses
        {
            let low: Vec<MappingId> = self
                .roots
                .iter()
                .flat_map(|(id, state)| {
                    [0, PAGE]
                        .into_iter()
                        .filter_map(move |page| state.covering(page).map(|(base, _)| (id, base)))
                })
                .collect();
            self.drop_mappings(host, low);
        }
        if old.prefix != new.prefix {
            self.invalidate(
                host,
                &Invalidation::Prefix {
                    old: old.prefix,
                    new: new.prefix,
                },
            );
        }
    }

    /// The root for `tag`, created (after evicting the least recently used
    /// root that is not active, if the cache is full) when missing.
    fn root_for(&mut self, host: &mut H, tag: RootTag) -> Result<(RootId, H::Root), H::Error> {
        if let Some(found) = self.roots.lookup(tag) {
            return Ok(found);
        }
        if self.roots.full() {
            if let Some(victim) = self.roots.victim(self.active) {
                if let Some(state) = self.roots.remove(victim) {
                    for (base, shadow) in &state.mappings {
                        self.retire(host, (victim, *base));
                        self.reverse.remove((victim, *base), shadow);
                    }
                    self.mapped -= state.mappings.len();
                    self.stats.dropped += state.mappings.len() as u64;
                    self.stats.roots_evicted += 1;
                    host.release_root(state.root);
                }
            }
        }
        let root = host.create_root()?;
        self.stats.roots_created += 1;
        Ok((self.roots.insert(tag, root), root))
    }

    /// Pairs each candidate mapping with its frame, for [`Invalidation::covers`].
    fn with_frames(&self, ids: Vec<MappingId>) -> Vec<(MappingId, AbsoluteAddress)> {
        ids.into_iter()
            .filter_map(|(root, base)| {
                let frame = self.roots.get(root)?.mappings.get(&base)?.frame;
                Some(((root, base), frame))
            })
            .collect()
    }

    /// The mapping for a permitted `access` whose page may have `perms`:
    /// the largest host page the guest layout allows, else the 4 KiB page;
    /// and whether its stores are tracked ([`Self::page_perms`]).
    fn plan<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        controls: &Controls,
        request: &Request,
        purpose: Purpose,
        access: &Access,
        perms: HostPerms,
    ) -> (u64, Shadow, bool) {
        let sizes: &[HostPageSize] = match access.size {
            FrameSize::Page4K => &[],
            FrameSize::Segment1M => &[HostPageSize::Size2M],
            FrameSize::Region2G => &[HostPageSize::Size1G, HostPageSize::Size2M],
        };
        let largest = self.config.largest;
        sizes
            .iter()
            .filter(|size| **size <= largest)
            .find_map(|size| self.large(storage, controls, request, purpose, access, perms, *size))
            .map(|(base, shadow)| (base, shadow, false))
            .unwrap_or_else(|| {
                let key_now = access.key.recorded(request.kind);
                let (perms, track) = page_permissions(
                    &self.config,
                    controls,
                    access,
                    request.key,
                    key_now,
                    purpose,
                );
                (
                    access.address.page().value(),
                    Shadow::page(access, perms),
                    track,
                )
            })
    }

    /// A host page of `size` around the large-frame `access`, if the
    /// s390x frames covering it are contiguous in absolute storage, aligned,
    /// equally protected, and every 4 KiB frame in it has `perms` and R set
    /// (or may have R set, with speculative reference recording).
    #[allow(clippy::too_many_arguments)]
    fn large<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        controls: &Controls,
        request: &Request,
        purpose: Purpose,
        access: &Access,
        perms: HostPerms,
        size: HostPageSize,
    ) -> Option<(u64, Shadow)> {
        let bytes = size.bytes();
        let logical = access.address.value();
        let base = logical & !(bytes - 1);
        let frame = access.absolute.value().checked_sub(logical - base)?;
        if frame & (bytes - 1) != 0 {
            return None;
        }
        // The s390x frames that make up the host page (one or two).
        let step = access.size.bytes();
        let mut paths = [access.path, TablePath::EMPTY];
        let mut start = base & !(step - 1);
        while start < base + bytes {
            if !(start..start + step).contains(&logical) {
                let probe = Request {
                    address: LogicalAddress::new(start),
                    kind: purpose.probe_kind(),
                    ..*request
                };
                self.stats.dat_walks += 1;
                let other = access::check(storage, controls, probe).ok()?;
                let same = other.size == access.size
                    && other.absolute.value() == frame + (start - base)
                    && other.dat_protected == access.dat_protected
                    && other.iep == access.iep;
                if !same {
                    return None;
                }
                paths[1] = other.path;
            }
            start += step;
        }
        // Keys are per 4 KiB frame: every one must give the same permissions.
        // The scan starts at the faulting page and wraps, so that a
        // sequential first touch finds the next page's different key at once.
        let mut unreferenced = false;
        let first = logical - base;
        for offset in (0..bytes)
            .step_by(PAGE as usize)
            .map(|o| (o + first) & (bytes - 1) & !(PAGE - 1))
        {
            let absolute = AbsoluteAddress::new(frame + offset);
            let key = storage.key(absolute)?;
            unreferenced |= !key.referenced();
            let page = Access {
                address: LogicalAddress::new(base + offset),
                absolute,
                key,
                ..*access
            };
            if (!key.referenced() && !self.config.speculative_reference)
                || purpose.perms(permissions(&self.config, controls, &page, request.key, key))
                    != perms
            {
                return None;
            }
        }
        if unreferenced {
            for offset in (0..bytes).step_by(PAGE as usize) {
                let absolute = AbsoluteAddress::new(frame + offset);
                if let Some(key) = storage.key(absolute) {
                    access::record(storage, absolute, key, AccessKind::Read);
                }
            }
        }
        let shadow = Shadow {
            size,
            frame: AbsoluteAddress::new(frame),
            real: RealAddress::new(frame),
            perms,
            paths,
        };
        Some((base, shadow))
    }

    /// Maps the other pages of the fault-around window that DAT translates
    /// and that are not mapped yet, each with its own permissions, if they
    /// permit the kind of access that faulted (a read fault maps readable
    /// neighbours, a store fault writable ones). The scan ends at the first
    /// neighbour that fails that test or, without speculative reference
    /// recording, whose R bit is zero.
    fn fault_around<S: Storage + ?Sized>(
        &mut self,
        host: &mut H,
        storage: &mut S,
        controls: &Controls,
        request: Request,
        purpose: Purpose,
        id: RootId,
    ) -> Result<(), ShadowError<H::Error>> {
        let window = u64::from(self.config.fault_around)
            .next_power_of_two()
            .min(512);
        if window <= 1 {
            return Ok(());
        }
        let span = window * PAGE;
        let start = request.address.value() & !(span - 1);
        for page in (start..start + span).step_by(PAGE as usize) {
            // At the limit a neighbour would empty the root, the faulting
            // page's mapping with it.
            if self.mapped >= self.config.max_mappings {
                break;
            }
            let mapped = self
                .roots
                .get(id)
                .is_none_or(|state| state.covering(page).is_some());
            if mapped || page == request.address.page().value() {
                continue;
            }
            let probe = Request {
                address: LogicalAddress::new(page),
                kind: purpose.probe_kind(),
                ..request
            };
            self.stats.dat_walks += 1;
            let Ok(access) = access::check(storage, controls, probe) else {
                continue;
            };
            // R plays no part in the permissions.
            let (perms, track) = page_permissions(
                &self.config,
                controls,
                &access,
                request.key,
                access.key,
                purpose,
            );
            // After a store fault, a neighbour that cannot be writable yet
            // (C is zero, and the host does not record stores) would only
            // fault again on its own first store. Unchanged and untouched
            // storage come in runs: the scan ends at the first such
            // neighbour.
            if !perms.contains(Purpose::needs(request.kind)) {
                break;
            }
            if !access.key.referenced() {
                if !self.config.speculative_reference {
                    break;
                }
                access::record(storage, access.absolute, access.key, AccessKind::Read);
            }
            let shadow = Shadow::page(&access, perms);
            self.install(host, id, page, shadow, track)
                .map_err(ShadowError::Host)?;
            self.stats.around += 1;
        }
        Ok(())
    }

    /// Installs `shadow` at `base` in root `id`, its stores tracked if
    /// `track` (then entered in `tracked`, the one record of it): an
    /// in-place upgrade of the same mapping, or a fresh mapping after
    /// whatever overlapped it was removed and flushed.
    fn install(
        &mut self,
        host: &mut H,
        id: RootId,
        base: u64,
        shadow: Shadow,
        track: bool,
    ) -> Result<(), H::Error> {
        if self.mapped >= self.config.max_mappings {
            self.clear_root(host, id);
        }
        let Some(state) = self.roots.get(id) else {
            return Ok(());
        };
        let root = state.root;
        let overlapping = state.overlapping(base, shadow.size);
        let upgrade = match overlapping.as_slice() {
            [only] if *only == base => state.mappings.get(only).is_some_and(|old| {
                old.size == shadow.size
                    && old.frame == shadow.frame
                    && shadow.perms.contains(old.perms)
            }),
            _ => false,
        };
        if upgrade {
            // The new entry replaces the old one's record of stores.
            self.retire(host, (id, base));
        } else {
            self.drop_mappings(host, overlapping.into_iter().map(|b| (id, b)).collect());
        }
        host.map(root, shadow.mapping(base, track))?;
        if let Some(state) = self.roots.get_mut(id) {
            if let Some(old) = state.mappings.insert(base, shadow) {
                self.reverse.remove((id, base), &old);
                self.stats.upgraded += 1;
            } else {
                self.mapped += 1;
            }
            self.reverse.insert((id, base), &shadow);
            if track {
                self.tracked.insert((id, base), (root, shadow.frame));
                self.stats.tracked += 1;
            }
        }
        Ok(())
    }

    /// Before a mapping made with stores tracked is removed or rewritten:
    /// keeps its frame for the next harvest if a store went through it.
    fn retire(&mut self, host: &H, id: MappingId) {
        if let Some((root, frame)) = self.tracked.remove(&id) {
            if host.stored(root, LogicalAddress::new(id.1), HostPageSize::Size4K) {
                self.stored.push(frame);
            }
        }
    }

    /// The backend maps the absolute frame `frame` narrower from now on
    /// (hv-kvm keeps a frame that holds translated code read-only, so that
    /// a store into it faults): the writable mappings that end in it are
    /// given to the backend again, each after its record of stores is kept
    /// for the next harvest, and flushed. A mapping the backend cannot give
    /// again (it would need a table it cannot allocate) is dropped. Unlike
    /// an invalidation, the other frames of a large mapping stay mapped.
    pub fn remap_frame(&mut self, host: &mut H, frame: AbsoluteAddress) {
        let page = frame.page();
        for (id, base) in self.reverse.ending_in(page) {
            let Some(state) = self.roots.get(id) else {
                continue;
            };
            let Some(shadow) = state.mappings.get(&base).copied() else {
                continue;
            };
            if !shadow.holds_frame(page) || !shadow.perms.contains(HostPerms::WRITE) {
                continue;
            }
            let root = state.root;
            self.retire(host, (id, base));
            if host.map(root, shadow.mapping(base, false)).is_err() {
                self.drop_mappings(host, Vec::from([(id, base)]));
                continue;
            }
            let logical = base + (page.value() - shadow.frame.value());
            host.flush(root, FlushScope::Page(LogicalAddress::new(logical)));
            self.stats.remapped += 1;
        }
    }

    /// Sets the C bit of every frame a store reached through a mapping made
    /// with stores tracked ([`Config::change_by_host`]) since the last
    /// harvest (PoP "Change Recording"), and answers how many. Call it
    /// before any storage key is read or set, while nothing accesses
    /// storage through the roots. Past [`TRACKED_MAX`] tracked mappings
    /// left unstored, the rest are made read-only: their first store
    /// faults and records C as without tracking.
    pub fn harvest<S: Storage + ?Sized>(&mut self, host: &mut H, storage: &mut S) -> usize {
        self.harvest_with(host, storage, |_| {})
    }

    /// [`Self::harvest`], telling `changed` each frame whose C bit it set.
    pub fn harvest_with<S: Storage + ?Sized>(
        &mut self,
        host: &mut H,
        storage: &mut S,
        mut changed: impl FnMut(AbsoluteAddress),
    ) -> usize {
        let mut frames = core::mem::take(&mut self.stored);
        if !self.tracked.is_empty() {
            self.stats.harvests += 1;
        }
        let stored: Vec<MappingId> = self
            .tracked
            .iter()
            .filter(|((_, base), (root, _))| {
                host.stored(*root, LogicalAddress::new(*base), HostPageSize::Size4K)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stored {
            if let Some((_, frame)) = self.tracked.remove(&id) {
                frames.push(frame);
            }
        }
        self.narrow_tracked(host, self.tracked.len().saturating_sub(TRACKED_MAX));
        for frame in &frames {
            let _ = storage.update_key(*frame, &mut |key| key.recorded(AccessKind::Write));
            changed(*frame);
        }
        self.stats.harvested += frames.len() as u64;
        frames.len()
    }

    /// Turns [`Config::change_by_host`] on or off; turning it off
    /// harvests and makes every tracked mapping read-only, so that from
    /// then on every C bit is set at its store's fault.
    pub fn set_change_by_host<S: Storage + ?Sized>(
        &mut self,
        host: &mut H,
        storage: &mut S,
        on: bool,
    ) {
        if !on && self.config.change_by_host {
            self.harvest(host, storage);
            self.narrow_tracked(host, self.tracked.len());
        }
        self.config.change_by_host = on;
    }

    /// Makes `count` tracked mappings read-only and no longer tracked
    /// (after a harvest: none of them was stored through).
    fn narrow_tracked(&mut self, host: &mut H, count: usize) {
        let narrowed: Vec<(MappingId, H::Root)> = self
            .tracked
            .iter()
            .take(count)
            .map(|(id, (root, _))| (*id, *root))
            .collect();
        for (id, root) in narrowed {
            self.tracked.remove(&id);
            let logical = LogicalAddress::new(id.1);
            host.protect(root, logical, HostPageSize::Size4K, HostPerms::READ);
            host.flush(root, FlushScope::Page(logical));
            if let Some(shadow) = self
                .roots
                .get_mut(id.0)
                .and_then(|state| state.mappings.get_mut(&id.1))
            {
                shadow.perms = HostPerms::READ;
            }
            self.stats.untracked += 1;
        }
    }

    /// Removes mappings and flushes them, page by page or, past
    /// [`FLUSH_PAGES_MAX`] in one root, the whole root.
    fn drop_mappings(&mut self, host: &mut H, ids: Vec<MappingId>) {
        let mut flushes: BTreeMap<RootId, Vec<u64>> = BTreeMap::new();
        for (id, base) in ids {
            self.retire(host, (id, base));
            let Some(state) = self.roots.get_mut(id) else {
                continue;
            };
            let Some(shadow) = state.mappings.remove(&base) else {
                continue;
            };
            let root = state.root;
            self.reverse.remove((id, base), &shadow);
            self.mapped -= 1;
            self.stats.dropped += 1;
            host.unmap(root, LogicalAddress::new(base), shadow.size);
            flushes.entry(id).or_default().push(base);
        }
        for (id, pages) in flushes {
            let Some(root) = self.roots.get(id).map(|state| state.root) else {
                continue;
            };
            if pages.len() > FLUSH_PAGES_MAX {
                host.flush(root, FlushScope::All);
            } else {
                pages
                    .into_iter()
                    .for_each(|page| host.flush(root, FlushScope::Page(LogicalAddress::new(page))));
            }
        }
    }

    /// Removes every mapping of a root and flushes it.
    fn clear_root(&mut self, host: &mut H, id: RootId) {
        let Some(state) = self.roots.get_mut(id) else {
            return;
        };
        let mappings = core::mem::take(&mut state.mappings);
        let root = state.root;
        for (base, shadow) in &mappings {
            self.retire(host, (id, *base));
            self.reverse.remove((id, *base), shadow);
        }
        self.mapped -= mappings.len();
        self.stats.dropped += mappings.len() as u64;
        host.clear(root);
        host.flush(root, FlushScope::All);
    }
}
