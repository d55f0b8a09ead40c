//! The bounded cache of shadow roots: one host root per [`RootTag`], each
//! with the table of the mappings installed in it, evicted least recently
//! used first.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::access::Access;
use crate::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use crate::asce::Asce;
use crate::host::{HostPageSize, HostPerms, Mapping};
use crate::prefix::Prefix;
use crate::storage::Storage;
use crate::walk::{walk, TablePath, Walk, WalkControls};

use super::RootTag;

/// The cache's name for a root: never reused, so a stale id finds nothing.
pub(crate) type RootId = u32;

/// One installed mapping, with what it was derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shadow {
    /// The host page size.
    pub size: HostPageSize,
    /// The absolute frame the logical base maps to.
    pub frame: AbsoluteAddress,
    /// The real address of the logical base (equal to `frame` for large
    /// frames, the unprefixed page address for 4 KiB page frames).
    pub real: RealAddress,
    /// The permissions installed.
    pub perms: HostPerms,
    /// The guest table entries of the s390x translations the mapping is made
    /// of (two when two 1 MiB segment frames form one 2 MiB page).
    pub paths: [TablePath; 2],
}

impl Shadow {
    /// The mapping order for this shadow at `logical`, its stores tracked
    /// ([`Mapping::track_stores`]) if `track_stores`.
    pub fn mapping(&self, logical: u64, track_stores: bool) -> Mapping {
        Mapping {
            logical: LogicalAddress::new(logical),
            frame: self.frame,
            size: self.size,
            perms: self.perms,
            track_stores,
        }
    }

    /// The 4 KiB page of a permitted `access`, with `perms`.
    pub fn page(access: &Access, perms: HostPerms) -> Self {
        Self {
            size: HostPageSize::Size4K,
            frame: access.absolute.page(),
            real: access.real.page(),
            perms,
            paths: [access.path, TablePath::EMPTY],
        }
    }

    /// Whether the absolute page `page` lies in the mapped frame.
    pub fn holds_frame(&self, page: AbsoluteAddress) -> bool {
        page.value().wrapping_sub(self.frame.value()) < self.size.bytes()
    }

    /// Whether DAT through the tables `asce` designates, as they are now,
    /// translates the mapping at `base` as it was made: each s390x frame in
    /// it through the same table entries to the same absolute frame, with
    /// no DAT protection or IEP its permissions do not honour (a narrower
    /// mapping only faults sooner). Such a mapping is what a fresh access
    /// after a TLB purge would map.
    pub fn walks_again<S: Storage + ?Sized>(
        &self,
        storage: &S,
        asce: Asce,
        base: u64,
        controls: WalkControls,
        prefix: Prefix,
    ) -> bool {
        let Ok(first) = walk(storage, asce, base, controls) else {
            return false;
        };
        let same = |at: u64, now: &Walk| {
            now.size == first.size
                && self.paths.contains(&now.path)
                && now.absolute(at, prefix).value() == self.frame.value() + (at - base)
                && !(now.protected && self.perms.contains(HostPerms::WRITE))
                && !(now.iep && self.perms.contains(HostPerms::EXECUTE))
        };
        if !same(base, &first) {
            return false;
        }
        // The s390x frames after the first, if the mapping holds several
        // (a purge walks some 3,600 mappings, nearly all of one frame: a
        // range stepped by a size not known to be a power of two divided).
        let step = first.size.bytes();
        let mut at = base + step;
        while at < base + self.size.bytes() {
            if !walk(storage, asce, at, controls).is_ok_and(|now| same(at, &now)) {
                return false;
            }
            at += step;
        }
        true
    }
}

/// A root and its mappings, by logical base address.
#[derive(Debug)]
pub(crate) struct RootState<R> {
    /// The host's handle.
    pub root: R,
    /// What the root translates for.
    pub tag: RootTag,
    /// The cache clock at the last use.
    last_use: u64,
    /// The mappings, by logical base; they never overlap.
    pub mappings: BTreeMap<u64, Shadow>,
}

impl<R> RootState<R> {
    /// The mapping that holds `logical`, with its base.
    pub fn covering(&self, logical: u64) -> Option<(u64, &Shadow)> {
        self.mappings
            .range(..=logical)
            .next_back()
            .filter(|(base, shadow)| logical - **base < shadow.size.bytes())
            .map(|(base, shadow)| (*base, shadow))
    }

    /// The bases of the mappings that overlap `[base, base + size)`.
    pub fn overlapping(&self, base: u64, size: HostPageSize) -> Vec<u64> {
        let mut found: Vec<u64> = self.covering(base).map(|(b, _)| b).into_iter().collect();
        found.extend(
            self.mappings
                .range(base..base + size.bytes())
                .map(|(b, _)| *b),
        );
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// The roots, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct RootCache<R> {
    roots: BTreeMap<RootId, RootState<R>>,
    by_tag: BTreeMap<RootTag, RootId>,
    next_id: RootId,
    clock: u64,
    capacity: usize,
}

impl<R: Copy> RootCache<R> {
    /// An empty cache for `capacity` roots (at least two, so that the active
    /// root never has to be evicted).
    pub fn new(capacity: usize) -> Self {
        Self {
            roots: BTreeMap::new(),
            by_tag: BTreeMap::new(),
            next_id: 0,
            clock: 0,
            capacity: capacity.max(2),
        }
    }

    /// The root for `tag`, marked as used now.
    pub fn lookup(&mut self, tag: RootTag) -> Option<(RootId, R)> {
        let id = *self.by_tag.get(&tag)?;
        self.clock += 1;
        let state = self.roots.get_mut(&id)?;
        state.last_use = self.clock;
        Some((id, state.root))
    }

    /// The root for `tag`, without marking it used.
    pub fn find(&self, tag: RootTag) -> Option<&RootState<R>> {
        self.by_tag.get(&tag).and_then(|id| self.roots.get(id))
    }

    /// Whether a new root needs an eviction first.
    pub fn full(&self) -> bool {
        self.roots.len() >= self.capacity
    }

    /// The least recently used root other than `keep`.
    pub fn victim(&self, keep: Option<RootId>) -> Option<RootId> {
        self.roots
            .iter()
            .filter(|(id, _)| Some(**id) != keep)
            .min_by_key(|(_, s)| s.last_use)
            .map(|(id, _)| *id)
    }

    /// Adds a root for `tag`.
    pub fn insert(&mut self, tag: RootTag, root: R) -> RootId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.clock += 1;
        self.roots.insert(
            id,
            RootState {
                root,
                tag,
                last_use: self.clock,
                mappings: BTreeMap::new(),
            },
        );
        self.by_tag.insert(tag, id);
        id
    }

    /// Removes a root and answers its state.
    pub fn remove(&mut self, id: RootId) -> Option<RootState<R>> {
        let state = self.roots.remove(&id)?;
        self.by_tag.remove(&state.tag);
        Some(state)
    }

    /// A root's state.
    pub fn get(&self, id: RootId) -> Option<&RootState<R>> {
        self.roots.get(&id)
    }

    /// A root's state, to change its mappings.
    pub fn get_mut(&mut self, id: RootId) -> Option<&mut RootState<R>> {
        self.roots.get_mut(&id)
    }

    /// Every root, by id.
    pub fn iter(&self) -> impl Iterator<Item = (RootId, &RootState<R>)> {
        self.roots.iter().map(|(id, s)| (*id, s))
    }
}
