//! The reverse maps that make invalidation precise: from the absolute
//! address of a guest table entry to the shadow mappings built through it
//! (IPTE, IDTE), and from an absolute frame to the mappings that end in it
//! (SSKE, RRBE, SPX). They only select candidates; whether a candidate is
//! dropped is decided by [`Invalidation::covers`](crate::invalidate::Invalidation::covers).

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use crate::addr::AbsoluteAddress;
use crate::asce::Level;
use crate::host::HostPageSize;

use super::roots::{RootId, Shadow};

/// A mapping: its root and its logical base.
pub(crate) type MappingId = (RootId, u64);

/// The host page sizes, smallest first.
const SIZES: [HostPageSize; 3] = [
    HostPageSize::Size4K,
    HostPageSize::Size2M,
    HostPageSize::Size1G,
];

/// Table-entry and frame indexes over every root's mappings.
#[derive(Debug, Default)]
pub(crate) struct ReverseMap {
    /// (entry address, root, logical base) for every table entry of every
    /// path of every mapping.
    by_entry: BTreeSet<(u64, RootId, u64)>,
    /// (absolute frame base, root, logical base) for every mapping.
    by_frame: BTreeSet<(u64, RootId, u64)>,
}

const LEVELS: [Level; 5] = [
    Level::RegionFirst,
    Level::RegionSecond,
    Level::RegionThird,
    Level::Segment,
    Level::Page,
];

fn entries(shadow: &Shadow) -> impl Iterator<Item = u64> + '_ {
    shadow
        .paths
        .iter()
        .flat_map(|path| LEVELS.iter().filter_map(|level| path.entry(*level)))
        .map(AbsoluteAddress::value)
}

impl ReverseMap {
    /// Indexes a mapping.
    pub fn insert(&mut self, (root, base): MappingId, shadow: &Shadow) {
        for entry in entries(shadow) {
            self.by_entry.insert((entry, root, base));
        }
        self.by_frame.insert((shadow.frame.value(), root, base));
    }

    /// Forgets a mapping.
    pub fn remove(&mut self, (root, base): MappingId, shadow: &Shadow) {
        for entry in entries(shadow) {
            self.by_entry.remove(&(entry, root, base));
        }
        self.by_frame.remove(&(shadow.frame.value(), root, base));
    }

    /// The mappings built through a table entry whose address lies in
    /// `first ..= last`.
    pub fn through_entries(&self, first: u64, last: u64) -> Vec<MappingId> {
        if first > last {
            return Vec::new();
        }
        let mut found: Vec<MappingId> = self
            .by_entry
            .range((first, 0, 0)..=(last, RootId::MAX, u64::MAX))
            .map(|(_, root, base)| (*root, *base))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The mappings whose frame base is the `size`-aligned block that holds
    /// the absolute page `page`: every mapping that may end in it.
    pub fn ending_in(&self, page: AbsoluteAddress) -> Vec<MappingId> {
        let mut found: Vec<MappingId> = SIZES
            .iter()
            .flat_map(|size| {
                let base = page.value() & !(size.bytes() - 1);
                self.by_frame
                    .range((base, 0, 0)..=(base, RootId::MAX, u64::MAX))
            })
            .map(|(_, root, base)| (*root, *base))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}
