//! A simulated TLB: final translations tagged by root (as with PCIDs) and
//! virtual page, of any page size; never negative entries; INVLPG drops the
//! entry holding one address, a CR3 reload (or INVPCID) all of a root's; a
//! bounded capacity evicts the oldest entry. A mapping removed or narrowed
//! without a flush stays visible here, so a missing flush shows up in tests
//! as a stale translation.

use std::collections::{HashMap, VecDeque};

use zmmu_mmu::host::HostPageSize;

use crate::pagetable::Translation;

/// An entry's key: root, page base, page size.
type Key = (u32, u64, HostPageSize);

const SIZES: [HostPageSize; 3] = [
    HostPageSize::Size4K,
    HostPageSize::Size2M,
    HostPageSize::Size1G,
];

/// The TLB.
#[derive(Debug)]
pub struct X86Tlb {
    entries: HashMap<Key, Translation>,
    order: VecDeque<Key>,
    capacity: usize,
}

impl X86Tlb {
    /// An empty TLB of `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The cached translation of `va` in `root`.
    pub fn lookup(&self, root: u32, va: u64) -> Option<Translation> {
        SIZES.iter().find_map(|size| {
            self.entries
                .get(&(root, va & !(size.bytes() - 1), *size))
                .copied()
        })
    }

    /// Caches a translation of `va`.
    pub fn insert(&mut self, root: u32, va: u64, translation: Translation) {
        let key = (root, va & !(translation.size.bytes() - 1), translation.size);
        if self.entries.insert(key, translation).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        if self.order.len() > 4 * self.capacity {
            self.order.retain(|key| self.entries.contains_key(key));
        }
    }

    /// INVLPG: drops the translation of `va`, whatever its size.
    pub fn invalidate(&mut self, root: u32, va: u64) {
        for size in SIZES {
            self.entries.remove(&(root, va & !(size.bytes() - 1), size));
        }
    }

    /// A CR3 reload of `root`: drops all of its translations.
    pub fn flush_root(&mut self, root: u32) {
        self.entries.retain(|key, _| key.0 != root);
    }
}
