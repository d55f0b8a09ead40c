//! The page-table pool: 4 KiB pages of the system slot that hold shadow
//! page tables, with a free list and a quarantine.
//!
//! A page whose entries changed behind KVM's back (host writes to a table
//! that KVM's shadow MMU may have cached, see `paging`) must not be reused
//! as a table until KVM has forgotten it: freed pages go to a quarantine,
//! and `Pool::purge` (re-registering the slot, which makes KVM zap every
//! shadow page built from it) returns them to the free list. On an EPT/NPT
//! host the purge is merely a few microseconds of wasted caution.

use std::sync::Arc;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;

use crate::error::KvmError;
use crate::memory::SlotMemory;

/// The system slot's memory region, re-registrable.
#[derive(Debug)]
pub(crate) struct SlotHandle {
    // Drop order: the VM closes before the mapping can go.
    pub vm: Arc<VmFd>,
    pub region: kvm_userspace_memory_region,
    pub _memory: Arc<crate::memory::Region>,
}

impl SlotHandle {
    /// Deletes and re-adds the slot: KVM drops every shadow page and TLB
    /// entry derived from it; the memory contents are kept.
    pub fn reregister(&self) -> Result<(), KvmError> {
        let deleted = kvm_userspace_memory_region {
            memory_size: 0,
            ..self.region
        };
        // SAFETY: deleting a slot this backend registered; the vCPU is not
        // running (the backend is single-threaded and only runs the vCPU
        // inside its own run loop).
        unsafe { self.vm.set_user_memory_region(deleted) }
            .map_err(|e| KvmError::ioctl("delete memory slot", e))?;
        // SAFETY: the region names the system slot's host memory, which
        // outlives the VM (it is dropped after it).
        unsafe { self.vm.set_user_memory_region(self.region) }
            .map_err(|e| KvmError::ioctl("re-add memory slot", e))
    }
}

/// Counters of the pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Pages in use as tables.
    pub in_use: u64,
    /// Pages waiting in quarantine.
    pub quarantined: u64,
    /// Purges done.
    pub purges: u64,
}

/// Allocator of table pages, by offset in the system slot.
#[derive(Debug)]
pub(crate) struct Pool {
    start: u64,
    end: u64,
    fresh: u64,
    free: Vec<u64>,
    quarantine: Vec<u64>,
    slot: Option<SlotHandle>,
    stats: PoolStats,
}

impl Pool {
    /// A pool of the pages `[start, end)` (offsets in the system slot).
    pub fn new(start: u64, end: u64, slot: Option<SlotHandle>) -> Self {
        Self {
            start,
            end,
            fresh: start,
            free: Vec::new(),
            quarantine: Vec::new(),
            slot,
            stats: PoolStats::default(),
        }
    }

    /// Whether `offset` is a pool page.
    pub fn contains(&self, offset: u64) -> bool {
        (self.start..self.end).contains(&offset) && offset % 4096 == 0
    }

    /// A zeroed page, purging the quarantine if nothing else is left.
    pub fn alloc(&mut self, memory: &SlotMemory) -> Result<u64, KvmError> {
        let page = match self.free.pop() {
            Some(page) => page,
            None if self.fresh < self.end => {
                self.fresh += 4096;
                self.fresh - 4096
            }
            None if !self.quarantine.is_empty() => {
                self.purge()?;
                self.free.pop().ok_or(KvmError::PoolExhausted)?
            }
            None => return Err(KvmError::PoolExhausted),
        };
        memory.zero(page, 4096).ok_or(KvmError::PoolExhausted)?;
        self.stats.in_use += 1;
        Ok(page)
    }

    /// Retires a page that may be cached by KVM as a table.
    pub fn release(&mut self, page: u64) {
        self.quarantine.push(page);
        self.stats.in_use = self.stats.in_use.saturating_sub(1);
        self.stats.quarantined = self.quarantine.len() as u64;
    }

    /// Makes KVM forget the slot and frees the quarantine.
    pub fn purge(&mut self) -> Result<(), KvmError> {
        if let Some(slot) = &self.slot {
            slot.reregister()?;
        }
        self.free.append(&mut self.quarantine);
        self.stats.quarantined = 0;
        self.stats.purges += 1;
        Ok(())
    }

    pub fn stats(&self) -> PoolStats {
        self.stats
    }
}
