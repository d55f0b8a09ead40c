//! Host memory that backs a KVM memory slot, and guest-absolute storage on
//! top of it.
//!
//! [`SlotMemory`] is the host side of one memory slot (guest storage, or
//! the runtime and page-table pool), addressed by offset from the slot's
//! first byte: an anonymous, 2 MiB-aligned mapping owned by this crate;
//! every accessor checks its bounds, so no address a guest or caller
//! supplies can reach outside it. [`GuestStorage`] is s390x absolute storage
//! (slot 0 at guest-physical 0) with one storage key per 4 KiB frame; it
//! implements the core's [`Storage`].

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::storage::KeyArray;
use zmmu_mmu::storage::Storage;

use crate::error::KvmError;

/// 2 MiB: the alignment of every host mapping, so that the host kernel can
/// back guest memory with transparent huge pages.
pub const HUGE: u64 = 2 << 20;

/// The lifetime of a host mapping: unmapped when the last handle goes. A VM
/// whose memory slot points into the mapping holds a handle, so the
/// mapping outlives every VM that can reach it.
#[derive(Debug)]
pub(crate) struct Region {
    base: *mut libc::c_void,
    len: usize,
}

// SAFETY: a `Region` gives no access to the memory; it only unmaps it when
// dropped, which any thread may do.
unsafe impl Send for Region {}
// SAFETY: as above: no method reads or writes through a shared `Region`.
unsafe impl Sync for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `SlotMemory::new`,
        // after every handle (including those of VMs) is gone.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// The host memory behind one KVM memory slot, addressed by offset: an
/// anonymous host mapping, zero-filled, aligned to 2 MiB.
#[derive(Debug)]
pub struct SlotMemory {
    base: NonNull<u8>,
    len: usize,
    region: Arc<Region>,
}

// SAFETY: the mapping is plain memory owned by this value, not tied to the
// thread that created it. (It is deliberately not `Sync`: `write` and
// `zero` copy through `&self`, so two threads must not share one.)
unsafe impl Send for SlotMemory {}

impl SlotMemory {
    /// Maps `len` bytes (rounded up to 2 MiB). `huge` asks the kernel for
    /// transparent huge pages (`MADV_HUGEPAGE`), otherwise they are refused
    /// (`MADV_NOHUGEPAGE`), so that measurements say what they measure.
    pub fn new(len: u64, huge: bool, what: &'static str) -> Result<Self, KvmError> {
        let len = len
            .checked_next_multiple_of(HUGE)
            .filter(|&l| l > 0)
            .ok_or_else(|| {
                KvmError::Config(format!("{what}: size {len:#x} is zero or too large"))
            })?;
        let len = usize::try_from(len)
            .map_err(|_| KvmError::Config(format!("{what}: size too large")))?;
        let map_len = len + HUGE as usize;
        // SAFETY: an anonymous private mapping at an address the kernel picks;
        // no existing memory is affected.
        let map_base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if map_base == libc::MAP_FAILED {
            return Err(KvmError::Memory {
                what,
                source: std::io::Error::last_os_error(),
            });
        }
        let aligned = (map_base as usize).next_multiple_of(HUGE as usize);
        let advice = if huge {
            libc::MADV_HUGEPAGE
        } else {
            libc::MADV_NOHUGEPAGE
        };
        // SAFETY: the range lies inside the mapping just created. Advice is a
        // hint; failure (no THP in this kernel) is harmless.
        unsafe { libc::madvise(aligned as *mut libc::c_void, len, advice) };
        let region = Arc::new(Region {
            base: map_base,
            len: map_len,
        });
        let base = NonNull::new(aligned as *mut u8)
            .ok_or(KvmError::Config(format!("{what}: null mapping")))?;
        Ok(Self { base, len, region })
    }

    /// The length in bytes.
    #[inline]
    pub fn len(&self) -> u64 {
        self.len as u64
    }

    /// Whether the mapping is empty (never: mappings are at least 2 MiB).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A handle that keeps the mapping alive (what a VM holds for its slot).
    pub(crate) fn keep_alive(&self) -> Arc<Region> {
        Arc::clone(&self.region)
    }

    /// The host address of byte 0, for KVM and for native benchmark loops.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    #[inline]
    fn range(&self, offset: u64, len: usize) -> Option<usize> {
        let start = usize::try_from(offset).ok()?;
        (start.checked_add(len)? <= self.len).then_some(start)
    }

    /// The 64-bit word at an 8-aligned `offset` as an atomic (relaxed
    /// loads and stores are single instructions: page-table entries are
    /// never torn).
    #[inline]
    fn word(&self, offset: u64) -> Option<&AtomicU64> {
        if offset % 8 != 0 {
            return None;
        }
        let start = self.range(offset, 8)?;
        // SAFETY: in bounds and 8-aligned (the base is 2 MiB aligned); the
        // memory lives as long as `self`, and AtomicU64 has u64's layout.
        Some(unsafe { &*(self.base.as_ptr().add(start) as *const AtomicU64) })
    }

    /// Loads the little-endian (host order) word at an 8-aligned offset.
    #[inline]
    pub fn load_u64(&self, offset: u64) -> Option<u64> {
        self.word(offset).map(|w| w.load(Ordering::Relaxed))
    }

    /// Stores a host-order word at an 8-aligned offset.
    #[inline]
    pub fn store_u64(&self, offset: u64, value: u64) -> Option<()> {
        self.word(offset).map(|w| w.store(value, Ordering::Relaxed))
    }

    /// Copies bytes out.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Option<()> {
        let start = self.range(offset, buf.len())?;
        // SAFETY: the source range is inside the mapping; the destination is
        // a distinct Rust buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(start),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Some(())
    }

    /// Copies bytes in.
    pub fn write(&self, offset: u64, data: &[u8]) -> Option<()> {
        let start = self.range(offset, data.len())?;
        // SAFETY: the destination range is inside the mapping; the source is
        // a distinct Rust buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(start), data.len())
        };
        Some(())
    }

    /// Makes the host kernel back every page now (a store of each page's
    /// first word, unchanged), so that later guest accesses measure
    /// translation and not host demand paging.
    pub fn populate(&self) {
        let mut offset = 0;
        while offset < self.len() {
            if let Some(word) = self.word(offset) {
                let _ = word.fetch_add(0, Ordering::Relaxed);
            }
            offset += 4096;
        }
    }

    /// Zeroes a range.
    pub fn zero(&self, offset: u64, len: u64) -> Option<()> {
        let start = self.range(offset, usize::try_from(len).ok()?)?;
        // SAFETY: the range is inside the mapping.
        unsafe { std::ptr::write_bytes(self.base.as_ptr().add(start), 0, len as usize) };
        Some(())
    }
}

/// s390x absolute storage in a KVM memory slot: the bytes at guest-physical
/// 0.., big-endian as the architecture stores them, plus a storage key per
/// 4 KiB frame (kept on the host side: keys are not addressable storage).
///
/// The memory is shared with every [`KvmHost`](crate::KvmHost) that maps it
/// as its slot 0, so it stays mapped as long as a VM can reach it.
#[derive(Debug)]
pub struct GuestStorage {
    memory: SlotMemory,
    size: u64,
    keys: KeyArray,
}

impl GuestStorage {
    /// Zeroed storage of `size` bytes (the slot is rounded up to 2 MiB; bytes
    /// at or above `size` do not exist for the architecture and are never
    /// mapped).
    pub fn new(size: u64, huge: bool) -> Result<Self, KvmError> {
        let bytes = usize::try_from(size).map_err(|_| {
            KvmError::Config(format!(
                "guest storage of {size:#x} bytes is too large for this host"
            ))
        })?;
        let memory = SlotMemory::new(size, huge, "guest storage")?;
        Ok(Self {
            memory,
            size,
            keys: KeyArray::new(bytes),
        })
    }

    /// The host memory behind storage (for the memory slot and for native
    /// comparison loops).
    pub fn memory(&self) -> &SlotMemory {
        &self.memory
    }

    /// A handle that keeps the memory mapped (what a VM keeps for its slot).
    pub(crate) fn shared(&self) -> Arc<Region> {
        self.memory.keep_alive()
    }

    /// Sets every storage key to `key` (for example `R | C` to model frames
    /// already referenced and changed).
    pub fn fill_keys(&mut self, key: StorageKey) {
        self.keys.fill(key);
    }

    /// Zeroes all bytes and keys.
    pub fn reset(&mut self) {
        let _ = self.memory.zero(0, self.size);
        self.keys.fill(StorageKey::default());
    }

    fn check(&self, address: AbsoluteAddress, len: usize) -> Option<u64> {
        let end = address.value().checked_add(len as u64)?;
        (end <= self.size).then_some(address.value())
    }
}

impl Storage for GuestStorage {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_u64(&self, address: AbsoluteAddress) -> Option<u64> {
        let at = self.check(address, 8)?;
        // Aligned: one atomic load (doubleword concurrent, as the trait asks).
        self.memory.load_u64(at).map(u64::from_be)
    }

    fn write_u64(&mut self, address: AbsoluteAddress, value: u64) -> Option<()> {
        let at = self.check(address, 8)?;
        self.memory.store_u64(at, value.to_be())
    }

    fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
        let at = self.check(address, buf.len())?;
        self.memory.read(at, buf)
    }

    fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()> {
        let at = self.check(address, data.len())?;
        self.memory.write(at, data)
    }

    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
        self.keys.get(address)
    }

    fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
        self.keys.set(address, key)
    }
}
