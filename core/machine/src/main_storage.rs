//! Main storage as every CPU of the configuration sees it at once (PoP
//! ch. 5 "Storage"): one copy of the bytes, the storage keys and the
//! code-frame marks, reached by each CPU's host thread through its own
//! [`MainStorage`] handle ([`MainStorage::share`]).
//!
//! Concurrent CPUs need three things from it, and it gives them with host
//! atomics on the very bytes of guest storage:
//! - *block concurrency*: an aligned halfword, word or doubleword operand
//!   is fetched or stored as a whole, never torn by another CPU's store
//!   (each lies in one host doubleword, loaded or stored at once; a store
//!   of part of a doubleword is a compare-and-swap of the doubleword);
//! - *interlocked update* ([`Storage::interlocked`]): CS, CDS, LAA, CSP
//!   and the others fetch, compare and store with one host
//!   `lock cmpxchg` (`lock cmpxchg16b` for the quadword of CDSG);
//! - *reference and change recording* that no CPU loses to another
//!   ([`Storage::update_key`]: a compare-and-swap of the key byte).
//!
//! Ordering: fetches are acquire and stores release, which on an x86-64
//! host are plain moves and give the conceptual sequence the architecture
//! promises between CPUs (stores seen in the order made); interlocked
//! updates are sequentially consistent, as serializing as the
//! architecture makes them. Translated code reaches the same bytes at
//! [`MainStorage::host_base`] with plain host loads and stores, which the
//! host makes block-concurrent for aligned operands too.
//!
//! The storage is zeroed and reserved lazily: a large guest costs host
//! memory only for what it touches (the `zmmu` binary's allocator maps
//! large zeroed blocks on demand).

// The one module of the crate with `unsafe`: a zeroed allocation of
// atomics and the host's 16-byte compare-and-swap.
#![allow(unsafe_code)]

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};

use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::storage::{OwnedStorage, Storage};
use zmmu_mmu::PAGE_SHIFT;

/// Two doublewords of storage, a quadword-aligned pair (CDSG's operand).
#[repr(C, align(16))]
struct Quadword([AtomicU64; 2]);

/// One 4 KiB frame of quadwords, page-aligned in host memory: KVM maps
/// guest storage only in whole host pages at a page-aligned address (the
/// `kvm` engine), whatever the storage size and allocator.
#[repr(C, align(4096))]
struct Frame([Quadword; 256]);

/// The shared part: bytes in host doublewords (in address order in host
/// memory, page-aligned), one key per 4 KiB frame, one code bit per
/// frame.
struct Shared {
    size: u64,
    frames: Box<[Frame]>,
    keys: Box<[AtomicU8]>,
    code: Box<[AtomicU64]>,
}

/// A handle on main storage. Handles made by [`MainStorage::share`] reach
/// the same storage; [`Clone`] makes an independent copy (for tests that
/// run the same program twice).
pub struct MainStorage {
    shared: Arc<Shared>,
    /// While `Some`, the frames marked as holding code that writes through
    /// this handle reached ([`MainStorage::note_code_writes`]).
    code_writes: Option<Vec<u64>>,
}

impl core::fmt::Debug for MainStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MainStorage")
            .field("size", &self.shared.size)
            .field("handles", &Arc::strong_count(&self.shared))
            .finish()
    }
}

/// Types whose all-zero bit pattern is a valid value.
trait ZeroValid {}
impl ZeroValid for AtomicU8 {}
impl ZeroValid for AtomicU64 {}
impl ZeroValid for Quadword {}
impl ZeroValid for Frame {}

impl Shared {
    /// The storage's quadwords, in address order.
    fn quadwords(&self) -> &[Quadword] {
        let n = (self.size as usize).div_ceil(16);
        // SAFETY: `Frame` is `repr(C)` over 256 quadwords with no padding
        // (256 * 16 = 4096 bytes, its alignment), so the frames are
        // `frames.len() * 256` contiguous, initialised quadwords, of which
        // the first `n` are taken (`new` allocates at least that many).
        unsafe { core::slice::from_raw_parts(self.frames.as_ptr().cast::<Quadword>(), n) }
    }
}

/// `n` zeroed values, allocated as one zeroed block (lazily materialised
/// by the host when large).
fn zeroed<T: ZeroValid>(n: usize) -> Box<[T]> {
    use alloc::alloc::{alloc_zeroed, handle_alloc_error, Layout};
    let layout = match Layout::array::<T>(n) {
        Ok(layout) if layout.size() > 0 => layout,
        _ => return Vec::new().into_boxed_slice(),
    };
    // SAFETY: the layout has a nonzero size (checked above).
    let block = unsafe { alloc_zeroed(layout) }.cast::<T>();
    if block.is_null() {
        handle_alloc_error(layout);
    }
    // SAFETY: `block` is a fresh allocation of the global allocator with
    // the layout of `[T; n]`, which `Box` frees with that same layout, and
    // all its bytes are zero: `ZeroValid` holds only for the atomic
    // integers (and pairs of them), whose all-zero value is 0.
    unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(block, n)) }
}

/// The big-endian number in `bytes`.
fn be(bytes: &[u8]) -> u128 {
    bytes.iter().fold(0, |v, b| v << 8 | u128::from(*b))
}

impl MainStorage {
    /// Zeroed storage of exactly `size` bytes, all keys zero.
    pub fn new(size: usize) -> Self {
        let frames = size.div_ceil(1 << PAGE_SHIFT);
        Self {
            shared: Arc::new(Shared {
                size: size as u64,
                frames: zeroed(frames),
                keys: zeroed(frames),
                code: zeroed(frames.div_ceil(64)),
            }),
            code_writes: None,
        }
    }

    /// Another handle on the same storage, for another CPU's thread.
    pub fn share(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            code_writes: None,
        }
    }

    /// Starts noting the frames marked as holding code
    /// ([`Storage::set_code_frame`]) that writes and interlocked updates
    /// through this handle reach: the jit learns so which of its blocks
    /// a device may have overwritten during one instruction of the
    /// machine's (the devices store through the issuing CPU's handle).
    pub fn note_code_writes(&mut self) {
        self.code_writes = Some(Vec::new());
    }

    /// Stops noting; the frames noted since [`MainStorage::note_code_writes`]
    /// (absolute addresses, in the order written, possibly repeated), or
    /// `None` if it was not called.
    pub fn noted_code_writes(&mut self) -> Option<Vec<u64>> {
        self.code_writes.take()
    }

    /// Notes the code frames of `len` bytes at `address`, while noting.
    fn note(&mut self, address: AbsoluteAddress, len: usize) {
        if self.code_writes.is_none() || len == 0 {
            return;
        }
        let first = address.value() >> PAGE_SHIFT;
        let last = address.value().saturating_add(len as u64 - 1) >> PAGE_SHIFT;
        for frame in first..=last {
            let at = AbsoluteAddress::new(frame << PAGE_SHIFT);
            if self.code_frame(at) {
                if let Some(noted) = &mut self.code_writes {
                    noted.push(at.value());
                }
            }
        }
    }

    /// Where absolute address 0 is in host memory, for translated code
    /// (host address = base + absolute address, below [`Storage::size`]).
    pub fn host_base(&self) -> *mut u8 {
        self.shared.frames.as_ptr().cast_mut().cast()
    }

    /// A copy of every byte, in absolute-address order.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = alloc::vec![0; self.shared.size as usize];
        let _ = self.read(AbsoluteAddress::new(0), &mut bytes);
        bytes
    }

    /// The doubleword index and the offset in it of `address`, if the
    /// `len` bytes from it exist.
    fn locate(&self, address: AbsoluteAddress, len: usize) -> Option<(usize, usize)> {
        let end = address.value().checked_add(len as u64)?;
        if end > self.shared.size {
            return None;
        }
        let at = usize::try_from(address.value()).ok()?;
        Some((at / 8, at % 8))
    }

    /// Doubleword `index` of storage.
    fn word(&self, index: usize) -> &AtomicU64 {
        &self.shared.quadwords()[index / 2].0[index % 2]
    }

    /// Every doubleword, in address order.
    fn words(&self) -> impl Iterator<Item = &AtomicU64> {
        self.shared.quadwords().iter().flat_map(|q| q.0.iter())
    }

    /// The key byte of the frame holding `address`.
    fn key_cell(&self, address: AbsoluteAddress) -> Option<&AtomicU8> {
        if !self.contains(address) {
            return None;
        }
        self.shared
            .keys
            .get(usize::try_from(address.value() >> PAGE_SHIFT).ok()?)
    }

    /// The code-bit word and bit of the frame holding `address`.
    fn code_bit(&self, address: AbsoluteAddress) -> Option<(&AtomicU64, u64)> {
        if !self.contains(address) {
            return None;
        }
        let frame = usize::try_from(address.value() >> PAGE_SHIFT).ok()?;
        Some((self.shared.code.get(frame / 64)?, 1 << (frame % 64)))
    }

    /// Interlocked update of `len` (1-8) bytes inside one doubleword.
    fn interlocked_in_word(
        word: &AtomicU64,
        offset: usize,
        len: usize,
        update: &mut dyn FnMut(u128) -> Option<u128>,
    ) -> u128 {
        let mut current = word.load(Ordering::Acquire);
        loop {
            let mut bytes = current.to_ne_bytes();
            let old = be(&bytes[offset..offset + len]);
            let Some(new) = update(old) else {
                fence(Ordering::SeqCst);
                return old;
            };
            bytes[offset..offset + len].copy_from_slice(&new.to_be_bytes()[16 - len..]);
            let replaced = u64::from_ne_bytes(bytes);
            match word.compare_exchange_weak(current, replaced, Ordering::SeqCst, Ordering::Acquire)
            {
                Ok(_) => return old,
                Err(now) => current = now,
            }
        }
    }

    /// Interlocked update of the quadword that starts at doubleword
    /// `index` (even).
    fn interlocked_quadword(
        &self,
        index: usize,
        update: &mut dyn FnMut(u128) -> Option<u128>,
    ) -> Option<u128> {
        let pair = &self.shared.quadwords().get(index / 2)?.0;
        let join = |lo: u64, hi: u64| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&lo.to_ne_bytes());
            bytes[8..].copy_from_slice(&hi.to_ne_bytes());
            u128::from_be_bytes(bytes)
        };
        // A first guess (it may be torn: the compare-and-swap tells).
        let mut current = (
            pair[0].load(Ordering::Acquire),
            pair[1].load(Ordering::Acquire),
        );
        loop {
            let old = join(current.0, current.1);
            let Some(new) = update(old) else {
                // The guess is what the update saw: confirm it whole.
                match cmpxchg16b(&pair[0], current, current) {
                    Ok(()) => return Some(old),
                    Err(now) => {
                        current = now;
                        continue;
                    }
                }
            };
            let bytes = new.to_be_bytes();
            let half = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[i..i + 8]);
                u64::from_ne_bytes(b)
            };
            match cmpxchg16b(&pair[0], current, (half(0), half(8))) {
                Ok(()) => return Some(old),
                Err(now) => current = now,
            }
        }
    }
}

/// `lock cmpxchg16b` on the quadword that starts at `first` (the first
/// doubleword of a [`Quadword`]): replaces `expected` (low, high
/// doubleword in address order) with `new`, or answers what is there.
fn cmpxchg16b(first: &AtomicU64, expected: (u64, u64), new: (u64, u64)) -> Result<(), (u64, u64)> {
    let ptr = first.as_ptr();
    let (lo, hi): (u64, u64);
    let equal: u8;
    // SAFETY: `ptr` is the first doubleword of a `Quadword` of main
    // storage (16-byte aligned by its type, the second doubleword
    // following it), so the 16 bytes belong to us and may be changed through a shared reference (atomics
    // are interior-mutable). `lock cmpxchg16b` is atomic against every
    // other access to them. rbx, which the assembler reserves, is saved
    // and restored around the instruction.
    unsafe {
        core::arch::asm!(
            "xchg {new_lo}, rbx",
            "lock cmpxchg16b xmmword ptr [{ptr}]",
            "sete {equal}",
            "mov rbx, {new_lo}",
            ptr = in(reg) ptr,
            new_lo = inout(reg) new.0 => _,
            equal = out(reg_byte) equal,
            in("rcx") new.1,
            inout("rax") expected.0 => lo,
            inout("rdx") expected.1 => hi,
            options(nostack),
        );
    }
    if equal != 0 {
        Ok(())
    } else {
        Err((lo, hi))
    }
}

impl Clone for MainStorage {
    /// An independent copy of the bytes, keys and code marks.
    fn clone(&self) -> Self {
        let copy = Self::new(self.shared.size as usize);
        let copy_words = |from: &AtomicU64, to: &AtomicU64| {
            to.store(from.load(Ordering::Acquire), Ordering::Release);
        };
        self.words()
            .zip(copy.words())
            .for_each(|(from, to)| copy_words(from, to));
        self.shared
            .code
            .iter()
            .zip(copy.shared.code.iter())
            .for_each(|(from, to)| copy_words(from, to));
        for (from, to) in self.shared.keys.iter().zip(copy.shared.keys.iter()) {
            to.store(from.load(Ordering::Acquire), Ordering::Release);
        }
        copy
    }
}

impl From<&OwnedStorage> for MainStorage {
    /// The bytes, keys and code marks of `owned`, in main storage.
    fn from(owned: &OwnedStorage) -> Self {
        let mut main = Self::new(owned.bytes().len());
        let _ = main.write(AbsoluteAddress::new(0), owned.bytes());
        for frame in (0..main.size()).step_by(1 << PAGE_SHIFT) {
            let at = AbsoluteAddress::new(frame);
            if let Some(key) = owned.key(at) {
                let _ = main.set_key(at, key);
            }
            if owned.code_frame(at) {
                let _ = main.set_code_frame(at, true);
            }
        }
        main
    }
}

impl Storage for MainStorage {
    fn size(&self) -> u64 {
        self.shared.size
    }

    fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
        let (mut index, mut offset) = self.locate(address, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            let n = (8 - offset).min(buf.len() - done);
            let bytes = self.word(index).load(Ordering::Acquire).to_ne_bytes();
            buf[done..done + n].copy_from_slice(&bytes[offset..offset + n]);
            done += n;
            index += 1;
            offset = 0;
        }
        Some(())
    }

    fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()> {
        self.note(address, data.len());
        let (index, offset) = self.locate(address, data.len())?;
        // `word` with the quadwords taken once for the whole write, not
        // for each doubleword (the zeroing of a program's bss is millions).
        let quads = self.shared.quadwords();
        let word = |index: usize| &quads[index / 2].0[index % 2];
        // Part of a doubleword: the rest of it is another CPU's to change
        // meanwhile.
        let merge = |index: usize, offset: usize, part: &[u8]| {
            let _ = word(index).fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                let mut bytes = now.to_ne_bytes();
                bytes[offset..offset + part.len()].copy_from_slice(part);
                Some(u64::from_ne_bytes(bytes))
            });
        };
        let head = if offset == 0 {
            0
        } else {
            (8 - offset).min(data.len())
        };
        let (first, rest) = data.split_at(head);
        if head > 0 {
            merge(index, offset, first);
        }
        let start = index + usize::from(head > 0);
        let whole = rest.chunks_exact(8);
        let tail = whole.remainder();
        for (k, bytes) in whole.enumerate() {
            let mut value = [0u8; 8];
            value.copy_from_slice(bytes);
            word(start + k).store(u64::from_ne_bytes(value), Ordering::Release);
        }
        if !tail.is_empty() {
            merge(start + rest.len() / 8, 0, tail);
        }
        Some(())
    }

    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
        Some(StorageKey::new(
            self.key_cell(address)?.load(Ordering::Acquire),
        ))
    }

    fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
        self.key_cell(address)?
            .store(key.value(), Ordering::Release);
        Some(())
    }

    fn update_key(
        &mut self,
        address: AbsoluteAddress,
        change: &mut dyn FnMut(StorageKey) -> StorageKey,
    ) -> Option<StorageKey> {
        let cell = self.key_cell(address)?;
        let old = cell
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(change(StorageKey::new(now)).value())
            })
            .unwrap_or_else(|now| now);
        Some(StorageKey::new(old))
    }

    /// Callers check the alignment first (a specification exception): an
    /// operand that is not aligned on its length, or longer than 16
    /// bytes, is refused as if outside storage.
    fn interlocked(
        &mut self,
        address: AbsoluteAddress,
        len: usize,
        update: &mut dyn FnMut(u128) -> Option<u128>,
    ) -> Option<u128> {
        if len > 16 || !len.is_power_of_two() || address.value() % len as u64 != 0 {
            return None;
        }
        self.note(address, len);
        let (index, offset) = self.locate(address, len)?;
        if len == 16 {
            return self.interlocked_quadword(index, update);
        }
        Some(Self::interlocked_in_word(
            self.word(index),
            offset,
            len,
            update,
        ))
    }

    fn code_frame(&self, address: AbsoluteAddress) -> bool {
        self.code_bit(address)
            .is_some_and(|(word, bit)| word.load(Ordering::Acquire) & bit != 0)
    }

    fn set_code_frame(&mut self, address: AbsoluteAddress, code: bool) -> Option<()> {
        let (word, bit) = self.code_bit(address)?;
        if code {
            word.fetch_or(bit, Ordering::AcqRel);
        } else {
            word.fetch_and(!bit, Ordering::AcqRel);
        }
        Some(())
    }
}
