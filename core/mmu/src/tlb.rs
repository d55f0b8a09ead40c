//! A software TLB for the software paths (the interpreter, the conformance
//! `tlb` backend, addresses the host MMU cannot map), built like a fast
//! emulator TLB: direct-mapped, one tag compare per access kind on the hit
//! path, and the rules of checklist section 6:
//!
//! - no negative entries: a miss always walks the guest tables again;
//! - entries are formed only from successful, recorded accesses, so R is
//!   already set; a store is served from an entry only if the frame's C bit
//!   was already one when the entry was formed (the first store takes the
//!   slow path and records C);
//! - permissions derived from a storage key are cached per access key and
//!   dropped on SSKE and RRBE ([`Invalidation::Key`]);
//! - sub-page rules (low-address protection, the fetch-protection override)
//!   are never cached: such pages take the slow path;
//! - IPTE, IDTE, CSP/CSPG, PTLB, SPX drop exactly the entries formed through
//!   the invalidated table entries or ending in the affected frames
//!   ([`Invalidation::covers`]);
//! - each partition (real, primary, secondary, home) holds entries of one
//!   ASCE; [`Tlb::set_controls`] drops a partition whose ASCE changed and
//!   everything when CR0, the prefix or the facilities change.

use crate::access::{self, AccessKind, Fault, PagePermissions, Request};
use crate::addr::{AbsoluteAddress, RealAddress};
use crate::asce::{Asce, Level};
use crate::control::{AsceSource, Controls};
use crate::invalidate::Invalidation;
use crate::storage::Storage;
use crate::walk::TablePath;
use crate::PAGE_MASK;

/// Number of entries per partition (a power of two).
pub const ENTRIES: usize = 256;

/// A tag that no lookup produces: lookups always set bit 0.
const INVALID_TAG: u64 = 0;

/// The part of an entry the hit path reads: one tag per access kind
/// (indexed by [`AccessKind`]'s discriminant) and the addend that turns a
/// logical address into an absolute one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(32))]
struct Hot {
    tags: [u64; 3],
    addend: u64,
}

/// The part only fills, misses and invalidations read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cold {
    real_page: u64,
    absolute_page: u64,
    path: TablePath,
}

const EMPTY_HOT: Hot = Hot {
    tags: [INVALID_TAG; 3],
    addend: 0,
};
const EMPTY_COLD: Cold = Cold {
    real_page: 0,
    absolute_page: 0,
    path: TablePath::EMPTY,
};

/// The tag of a page for an access key: the page address, the key in bits
/// 1-4 and bit 0 set.
#[inline(always)]
const fn tag(address: u64, key: u8) -> u64 {
    (address & !PAGE_MASK) | ((key as u64 & 0xF) << 1) | 1
}

#[inline(always)]
const fn slot(address: u64) -> usize {
    (address >> 12) as usize & (ENTRIES - 1)
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Partition {
    asce: Option<Asce>,
    hot: [Hot; ENTRIES],
    cold: [Cold; ENTRIES],
}

impl Partition {
    const fn new() -> Self {
        Self {
            asce: None,
            hot: [EMPTY_HOT; ENTRIES],
            cold: [EMPTY_COLD; ENTRIES],
        }
    }

    fn clear(&mut self) {
        self.hot = [EMPTY_HOT; ENTRIES];
    }
}

/// A translation served by the TLB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Translated {
    /// The real address of the byte.
    pub real: RealAddress,
    /// The absolute address of the byte.
    pub absolute: AbsoluteAddress,
    /// Whether the TLB answered without walking.
    pub hit: bool,
}

/// The software TLB of one CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlb {
    partitions: [Partition; 4],
    controls: Controls,
}

impl Default for Tlb {
    fn default() -> Self {
        Self::new(&Controls::default())
    }
}

/// The partition an access uses: DAT off, or the control register its ASCE
/// comes from (like an emulator's "MMU index", callers can compute it once
/// per mode change and pass it to [`Tlb::lookup`]).
#[inline(always)]
pub fn partition_index(source: Option<AsceSource>) -> usize {
    match source {
        None => 0,
        Some(AsceSource::Primary) => 1,
        Some(AsceSource::Secondary) => 2,
        Some(AsceSource::Home) => 3,
    }
}

impl Tlb {
    /// An empty TLB for the given control state.
    pub fn new(controls: &Controls) -> Self {
        Self {
            partitions: core::array::from_fn(|_| Partition::new()),
            controls: *controls,
        }
    }

    /// Tells the TLB the control state changed (a control register load, SPX,
    /// a facility change). Partitions whose ASCE changed are dropped; a
    /// change of CR0, the prefix or the facilities drops everything. Must be
    /// called before the next access after any such change.
    pub fn set_controls(&mut self, controls: &Controls) {
        let old = self.controls;
        if old.cr0 != controls.cr0
            || old.prefix != controls.prefix
            || old.facilities != controls.facilities
        {
            self.flush();
        } else {
            for (source, index) in [
                (AsceSource::Primary, 1),
                (AsceSource::Secondary, 2),
                (AsceSource::Home, 3),
            ] {
                if old.asce(source) != controls.asce(source) {
                    self.partitions[index].clear();
                }
            }
        }
        self.controls = *controls;
    }

    /// Drops every entry (PTLB, CPU reset).
    pub fn flush(&mut self) {
        for partition in &mut self.partitions {
            partition.clear();
        }
    }

    /// Drops the entries an architected invalidation covers.
    pub fn invalidate(&mut self, invalidation: &Invalidation) {
        if *invalidation == Invalidation::All {
            return self.flush();
        }
        for partition in &mut self.partitions {
            let asce = partition.asce;
            for (hot, cold) in partition.hot.iter_mut().zip(&partition.cold) {
                // Fetch and store permission imply read permission: an entry
                // without a read tag is empty.
                if hot.tags[AccessKind::Read as usize] == INVALID_TAG {
                    continue;
                }
                let covered = invalidation.covers(
                    |level: Level| cold.path.entry(level),
                    asce,
                    AbsoluteAddress::new(cold.absolute_page),
                );
                if covered {
                    *hot = EMPTY_HOT;
                }
            }
        }
    }

    /// The hit path: the absolute address of `address` for an access of
    /// `kind` with access key `key` in partition `partition` (see
    /// [`partition_index`]), if an entry permits it. One load of the tag,
    /// one compare, one add.
    #[inline(always)]
    pub fn lookup(&self, partition: usize, address: u64, kind: AccessKind, key: u8) -> Option<u64> {
        let hot = &self.partitions[partition & 3].hot[slot(address)];
        (hot.tags[kind as usize] == tag(address, key)).then(|| address.wrapping_add(hot.addend))
    }

    /// Translates and records one access: the hit path, or on a miss a full
    /// [`access::access`] (walk, protection, R/C recording) that then forms
    /// an entry with the permissions the whole page allows.
    pub fn access<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        request: Request,
    ) -> Result<Translated, Fault> {
        let partition = partition_index(access::asce_source(request.space, request.kind)?);
        let address = request.address.value();
        if let Some(absolute) = self.lookup(partition, address, request.kind, request.key) {
            let cold = &self.partitions[partition].cold[slot(address)];
            let offset = address & PAGE_MASK;
            return Ok(Translated {
                real: RealAddress::new(cold.real_page | offset),
                absolute: AbsoluteAddress::new(absolute),
                hit: true,
            });
        }
        let controls = self.controls;
        let done = access::access(storage, &controls, request)?;
        let key_now = storage.key(done.absolute).unwrap_or(done.key);
        let perms = PagePermissions::of(&controls, &done, request.key, key_now);
        let partition = &mut self.partitions[partition];
        if partition.asce != done.asce {
            partition.clear();
            partition.asce = done.asce;
        }
        let page_tag = tag(address, request.key);
        let pick = |allowed: bool| if allowed { page_tag } else { INVALID_TAG };
        let mut tags = [INVALID_TAG; 3];
        tags[AccessKind::InstructionFetch as usize] = pick(perms.fetch);
        tags[AccessKind::Read as usize] = pick(perms.read);
        tags[AccessKind::Write as usize] = pick(perms.write);
        let absolute_page = done.absolute.page().value();
        partition.hot[slot(address)] = Hot {
            tags,
            addend: absolute_page.wrapping_sub(address & !PAGE_MASK),
        };
        partition.cold[slot(address)] = Cold {
            real_page: done.real.page().value(),
            absolute_page,
            path: done.path,
        };
        Ok(Translated {
            real: done.real,
            absolute: done.absolute,
            hit: false,
        })
    }

    /// The control state the TLB was last told about.
    pub fn controls(&self) -> &Controls {
        &self.controls
    }
}
