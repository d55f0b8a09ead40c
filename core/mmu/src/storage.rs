//! Absolute storage: the main storage of the guest, with one storage key per
//! 4 KiB frame. Guest storage is untrusted input; every accessor is checked
//! and answers `None` for an address at or above the storage size.

use crate::addr::AbsoluteAddress;
use crate::keys::StorageKey;

/// Main storage as DAT and the protection rules see it.
///
/// Implementations must make [`Storage::read_u64`] *doubleword concurrent*:
/// a table entry is fetched as a whole, never torn by a concurrent store
/// (PoP ch. 5, Block-Concurrent References).
pub trait Storage {
    /// The size of absolute storage in bytes; addresses at or above it do
    /// not exist (addressing exception).
    fn size(&self) -> u64;

    /// The big-endian doubleword at an 8-byte-aligned absolute address, or
    /// `None` if it is outside storage. The default reads the 8 bytes
    /// with [`Storage::read`]: doubleword concurrent where that reads an
    /// aligned doubleword as one fetch.
    fn read_u64(&self, address: AbsoluteAddress) -> Option<u64> {
        let mut buf = [0; 8];
        self.read(address, &mut buf)?;
        Some(u64::from_be_bytes(buf))
    }

    /// Stores a big-endian doubleword at an 8-byte-aligned absolute address
    /// as one concurrent store; `None` if it is outside storage. The
    /// default writes the 8 bytes with [`Storage::write`]: one concurrent
    /// store where that stores an aligned doubleword as one.
    fn write_u64(&mut self, address: AbsoluteAddress, value: u64) -> Option<()> {
        self.write(address, &value.to_be_bytes())
    }

    /// Reads `buf.len()` bytes starting at `address`; `None` (and nothing
    /// read) if any of them is outside storage.
    fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()>;

    /// Writes `data` starting at `address`; `None` (and nothing written) if
    /// any byte is outside storage.
    fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()>;

    /// The storage key of the 4 KiB frame holding `address`.
    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey>;

    /// Sets the storage key of the 4 KiB frame holding `address`.
    fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()>;

    /// Changes the storage key of the frame holding `address` to
    /// `change(old)` as one interlocked update (reference and change
    /// recording by one CPU is not lost to another's, PoP "Storage Key"),
    /// and answers the old key. The default reads and sets: enough for a
    /// storage that one CPU uses.
    fn update_key(
        &mut self,
        address: AbsoluteAddress,
        change: &mut dyn FnMut(StorageKey) -> StorageKey,
    ) -> Option<StorageKey> {
        let old = self.key(address)?;
        let new = change(old);
        if new != old {
            self.set_key(address, new)?;
        }
        Some(old)
    }

    /// An interlocked update (PoP ch. 5 "Interlocked Update"): the
    /// `len`-byte operand at `address` (`len` 1, 2, 4, 8 or 16, `address`
    /// aligned on it), as a big-endian number, is fetched, and replaced
    /// with `update(old)` unless that is `None`, as one block-concurrent
    /// operation that no other CPU's access to the same bytes can come
    /// between. Answers the value fetched; `None` (nothing changed) if the
    /// operand is outside storage. The default reads and writes: enough for
    /// a storage that one CPU uses.
    fn interlocked(
        &mut self,
        address: AbsoluteAddress,
        len: usize,
        update: &mut dyn FnMut(u128) -> Option<u128>,
    ) -> Option<u128> {
        let mut buf = [0u8; 16];
        let buf = buf.get_mut(..len)?;
        self.read(address, buf)?;
        let old = buf.iter().fold(0u128, |v, b| v << 8 | u128::from(*b));
        if let Some(new) = update(old) {
            let bytes = new.to_be_bytes();
            self.write(address, &bytes[16 - len..])?;
        }
        Some(old)
    }

    /// Whether `address` exists.
    #[inline]
    fn contains(&self, address: AbsoluteAddress) -> bool {
        address.value() < self.size()
    }

    /// Whether the 4 KiB frame holding `address` is marked as holding
    /// translated code (see [`Storage::set_code_frame`]). The default: no
    /// frame is, as for a storage that does not track code frames.
    #[inline]
    fn code_frame(&self, address: AbsoluteAddress) -> bool {
        let _ = address;
        false
    }

    /// Marks (`code`) or unmarks the 4 KiB frame holding `address` as
    /// holding translated code, so that the software TLB never lets a store
    /// to it hit (`tlb::Tlb::mark_code` flags the entries already formed). Not an architected state: keys, R and C are
    /// untouched. `None` if the frame does not exist or the storage does
    /// not track code frames (the default).
    #[inline]
    fn set_code_frame(&mut self, address: AbsoluteAddress, code: bool) -> Option<()> {
        let _ = (address, code);
        None
    }
}

#[cfg(feature = "alloc")]
pub use owned::{KeyArray, OwnedStorage};

#[cfg(feature = "alloc")]
mod owned {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::Storage;
    use crate::addr::AbsoluteAddress;
    use crate::keys::StorageKey;
    use crate::PAGE_SHIFT;

    /// The storage keys of a storage of a given size, one per 4 KiB frame
    /// (the last frame may be partial), kept beside the bytes: keys are not
    /// addressable storage. Every accessor is checked against the size.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct KeyArray {
        size: u64,
        keys: Vec<u8>,
    }

    impl KeyArray {
        /// All-zero keys for a storage of `size` bytes.
        pub fn new(size: usize) -> Self {
            Self {
                size: size as u64,
                keys: vec![0; size.div_ceil(1 << PAGE_SHIFT)],
            }
        }

        /// The key of the frame holding `address`.
        pub fn get(&self, address: AbsoluteAddress) -> Option<StorageKey> {
            Some(StorageKey::new(self.keys[self.frame(address)?]))
        }

        /// Sets the key of the frame holding `address`.
        pub fn set(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
            let frame = self.frame(address)?;
            self.keys[frame] = key.value();
            Some(())
        }

        /// Sets every key to `key`.
        pub fn fill(&mut self, key: StorageKey) {
            self.keys.fill(key.value());
        }

        fn frame(&self, address: AbsoluteAddress) -> Option<usize> {
            if address.value() >= self.size {
                return None;
            }
            usize::try_from(address.value() >> PAGE_SHIFT).ok()
        }
    }

    /// Storage held in a heap buffer, for tests, tools and the conformance
    /// runner. All bytes and keys start as zero and no frame is marked as
    /// holding code.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct OwnedStorage {
        bytes: Vec<u8>,
        keys: KeyArray,
        /// One bit per 4 KiB frame: the frame holds translated code.
        code: Vec<u64>,
    }

    impl OwnedStorage {
        /// Zeroed storage of exactly `size` bytes.
        pub fn new(size: usize) -> Self {
            Self {
                bytes: vec![0; size],
                keys: KeyArray::new(size),
                code: vec![0; size.div_ceil(1 << PAGE_SHIFT).div_ceil(64)],
            }
        }

        /// All bytes, in absolute-address order.
        pub fn bytes(&self) -> &[u8] {
            &self.bytes
        }

        /// All bytes, writable: for loaders and tests (no key is recorded).
        pub fn bytes_mut(&mut self) -> &mut [u8] {
            &mut self.bytes
        }

        /// The word and bit of the code bitset for the frame of `address`.
        fn code_bit(&self, address: AbsoluteAddress) -> Option<(usize, u64)> {
            if !self.contains(address) {
                return None;
            }
            let frame = usize::try_from(address.value() >> PAGE_SHIFT).ok()?;
            Some((frame / 64, 1 << (frame % 64)))
        }

        /// The byte range `[address, address + len)` as indices, if it is
        /// entirely inside storage.
        fn range(&self, address: AbsoluteAddress, len: usize) -> Option<core::ops::Range<usize>> {
            let start = usize::try_from(address.value()).ok()?;
            let end = start.checked_add(len)?;
            (end <= self.bytes.len()).then_some(start..end)
        }
    }

    impl Storage for OwnedStorage {
        fn size(&self) -> u64 {
            self.bytes.len() as u64
        }

        fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
            let range = self.range(address, buf.len())?;
            buf.copy_from_slice(&self.bytes[range]);
            Some(())
        }

        fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()> {
            let range = self.range(address, data.len())?;
            self.bytes[range].copy_from_slice(data);
            Some(())
        }

        fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
            self.keys.get(address)
        }

        fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
            self.keys.set(address, key)
        }

        fn code_frame(&self, address: AbsoluteAddress) -> bool {
            self.code_bit(address)
                .is_some_and(|(word, bit)| self.code[word] & bit != 0)
        }

        fn set_code_frame(&mut self, address: AbsoluteAddress, code: bool) -> Option<()> {
            let (word, bit) = self.code_bit(address)?;
            if code {
                self.code[word] |= bit;
            } else {
                self.code[word] &= !bit;
            }
            Some(())
        }
    }
}
