//! A software TLB for the software paths (the interpreter, the conformance
//! `tlb` backend, addresses the host MMU cannot map) and for code that a
//! translator generates, built like a fast emulator TLB: direct-mapped, one
//! tag compare per access kind on the hit path, and the rules of the
//! translation-lookaside buffer (PoP ch. 3, Translation-Lookaside Buffer):
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
//!   everything when CR0, the prefix or the facilities change;
//! - a store to a frame that holds translated code
//!   ([`Storage::code_frame`]) never hits: its write tag carries
//!   [`TAG_CODE`], so every such store reaches [`Tlb::access`], which
//!   translates it as usual, and the caller then drops the translated
//!   blocks of the frame.
//!
//! # Layout, for code that probes the TLB inline
//!
//! The entries of all [`PARTITIONS`] partitions are one heap allocation of
//! `PARTITIONS * MAX_ENTRIES` [`Entry`]s at [`Tlb::entries_ptr`], which
//! stays at the same address for the life of the [`Tlb`] (flushes, fills
//! and resizes rewrite entries in place; moving the `Tlb` does not move
//! them). Partition `p` ([`partition_index`]) starts at byte
//! `p * PARTITION_STRIDE`. An entry is [`ENTRY_SIZE`] (32) bytes,
//! `#[repr(C)]`:
//!
//! | offset | field |
//! |---|---|
//! | `TAG_OFFSET[0]` = 0 | tag for instruction fetches |
//! | `TAG_OFFSET[1]` = 8 | tag for operand fetches |
//! | `TAG_OFFSET[2]` = 16 | tag for operand stores |
//! | [`ADDEND_OFFSET`] = 24 | addend: absolute page minus logical page |
//!
//! ([`TAG_OFFSET`] is indexed by the [`AccessKind`] discriminant.)
//!
//! Each partition uses the first `n` of its `MAX_ENTRIES` slots, `n` a
//! power of two between the TLB's initial size ([`ENTRIES`] unless
//! [`Tlb::with_entries`]) and [`MAX_ENTRIES`], chosen by the TLB itself as
//! QEMU sizes its TLB: a partition that refilled as many entries as it
//! has since it was last cleared, invalidated or resized doubles (its
//! entries stay:
//! a page whose slot moved is refilled in its new slot, and the old copy
//! is still a valid translation that invalidations reach); a partition
//! cleared after fewer than an eighth of its size in fills halves, and
//! one that an invalidation (IDTE, CSP, SSKE; an IPTE only when it names
//! more slots than the initial size, see [`Tlb::invalidate`]) scans goes
//! back to its initial size. The
//! slots past `n` are always empty, so flushes and invalidations scan only
//! the `n` in use. The partition's slot mask, `(n - 1) * ENTRY_SIZE`, is
//! the doubleword at `entries_ptr + slot_mask_offset(p)` (just below the
//! entries). A probe for an access of `len` bytes at the logical address
//! `a` (already wrapped for the addressing mode), of kind `k`, with access
//! key `key`:
//!
//! 1. an access that crosses a 4 KiB boundary (`(a & 0xFFF) + len >
//!    0x1000`) takes the slow path (or is split per page);
//! 2. slot offset: `(a >> 7) & mask` (`(a >> 12) & (n - 1)` times 32),
//!    so the entry is at `entries_ptr + p * PARTITION_STRIDE + (a >> 7 &
//!    mask)`;
//! 3. tag ([`tag`]): `(a & !0xFFF) | (key << TAG_KEY_SHIFT) | TAG_VALID`,
//!    the page, the access key in bits 1-4 and the valid bit (bit 0); the
//!    key is usually a constant of the translated block;
//! 4. compare the 8 bytes at `entry + TAG_OFFSET[k]` with the tag: unequal
//!    is a miss, handled by [`Tlb::access`] (which walks, checks, records
//!    and refills);
//! 5. on a hit, the absolute address is `a + [entry + ADDEND_OFFSET]`
//!    (wrapping), and the byte is at that offset in the host's copy of
//!    absolute storage (host address = storage base + absolute address).
//!
//! No lookup ever produces [`INVALID_TAG`] (valid bit clear) or a tag with
//! [`TAG_CODE`] set, so an empty slot, a kind the page does not permit and
//! a store to a code frame all miss on the same compare. In x86-64, with
//! the entries in `rbx`, the address in `rdi` and the key constant:
//!
//! ```text
//! mov  rax, rdi
//! shr  rax, 7
//! and  rax, [rbx - 32 + P * 8]           ; slot * ENTRY_SIZE (the mask)
//! mov  rdx, rdi
//! and  rdx, -4096
//! or   rdx, KEY << 1 | 1                 ; the tag
//! cmp  rdx, [rbx + rax + P * STRIDE + 16] ; TAG_OFFSET[store]
//! jne  slow
//! add  rdi, [rbx + rax + P * STRIDE + 24] ; ADDEND_OFFSET: absolute address
//! movbe [r_storage + rdi], rcx
//! ```
//!
//! The generated code and the `Tlb`'s methods run on the same CPU thread:
//! nothing changes an entry while a probe reads it.

use core::mem::{offset_of, size_of};

use crate::addr::{AbsoluteAddress, RealAddress};
#[cfg(doc)]
use crate::invalidate::Invalidation;
use crate::kind::AccessKind;
use crate::space::AsceSource;
#[cfg(doc)]
use crate::storage::Storage;
use crate::{PAGE_MASK, PAGE_SHIFT};

/// The number of entries a partition starts with (a power of two). 1024
/// (4 MiB of reach per address space): a translated program's random
/// accesses over a few MiB hit from the start (see docs/PERFORMANCE.md);
/// a partition grows from there when it refills (module docs).
pub const ENTRIES: usize = 1024;

/// The most entries a partition grows to: 512 MiB of reach per address
/// space (docs/CHOICES.md 54a). The slots past a partition's size are
/// reserved address space, never touched until it grows into them.
pub const MAX_ENTRIES: usize = 1 << 17;

/// The entries of a page table: an IPTE names page indexes, the low 8 bits
/// of a page number ([`Tlb::invalidate`]).
pub const PAGE_INDEXES: usize = 256;

/// Number of partitions: DAT off, primary, secondary, home
/// ([`partition_index`]).
pub const PARTITIONS: usize = 4;

/// One entry of the hit path: a tag per access kind (indexed by
/// [`AccessKind`]'s discriminant) and the addend that turns a logical
/// address into an absolute one. See the module docs for the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(32))]
pub struct Entry {
    tags: [u64; 3],
    addend: u64,
}

impl Entry {
    /// An entry that matches no lookup.
    pub const EMPTY: Entry = Entry {
        tags: [INVALID_TAG; 3],
        addend: 0,
    };

    /// The tag stored for accesses of `kind`.
    #[inline]
    pub const fn tag(&self, kind: AccessKind) -> u64 {
        self.tags[kind as usize]
    }

    /// The addend: the absolute page minus the logical page (wrapping).
    #[inline]
    pub const fn addend(&self) -> u64 {
        self.addend
    }
}

/// The size of an [`Entry`] in bytes.
pub const ENTRY_SIZE: usize = size_of::<Entry>();

/// The byte offset of the tag for each [`AccessKind`] (by discriminant:
/// instruction fetch, operand fetch, operand store) inside an [`Entry`].
pub const TAG_OFFSET: [usize; 3] = [
    offset_of!(Entry, tags),
    offset_of!(Entry, tags) + size_of::<u64>(),
    offset_of!(Entry, tags) + 2 * size_of::<u64>(),
];

/// The byte offset of the addend inside an [`Entry`].
pub const ADDEND_OFFSET: usize = offset_of!(Entry, addend);

/// The distance in bytes between the first entries of two consecutive
/// partitions.
pub const PARTITION_STRIDE: usize = MAX_ENTRIES * ENTRY_SIZE;

/// The byte offset from [`Tlb::entries_ptr`] of the doubleword that holds
/// partition `partition`'s slot mask, `(n - 1) * ENTRY_SIZE` for its `n`
/// entries in use: the masks lie just below the first entry.
pub const fn slot_mask_offset(partition: usize) -> isize {
    (partition as isize - PARTITIONS as isize) * size_of::<u64>() as isize
}

/// Tag bit 0: set in every tag a lookup forms.
pub const TAG_VALID: u64 = 1;

/// The access key occupies tag bits 1-4.
pub const TAG_KEY_SHIFT: u32 = 1;

/// Tag bit 5, only ever in a stored store tag: the page holds translated
/// code. No lookup forms it, so stores to the page never hit.
pub const TAG_CODE: u64 = 1 << 5;

/// A stored tag that no lookup produces (the valid bit is clear).
pub const INVALID_TAG: u64 = 0;

const _: () = assert!(ENTRIES.is_power_of_two() && MAX_ENTRIES.is_power_of_two());
const _: () = assert!(ENTRIES <= MAX_ENTRIES && PARTITIONS * PARTITION_STRIDE <= i32::MAX as usize);
const _: () = assert!(ENTRY_SIZE == 32 && ADDEND_OFFSET == 24);
const _: () = assert!(TAG_OFFSET[AccessKind::Write as usize] == 16);
const _: () = assert!(TAG_CODE & ((0xF << TAG_KEY_SHIFT) | TAG_VALID | !PAGE_MASK) == 0);

/// The tag of a page for an access key: the page address, the key in bits
/// 1-4 and bit 0 set.
#[inline(always)]
pub const fn tag(address: u64, key: u8) -> u64 {
    (address & !PAGE_MASK) | ((key as u64 & 0xF) << TAG_KEY_SHIFT) | TAG_VALID
}

/// The slot of `address` within a partition of `entries` entries (a power
/// of two).
#[inline(always)]
pub const fn slot(address: u64, entries: usize) -> usize {
    (address >> PAGE_SHIFT) as usize & (entries - 1)
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

#[cfg(feature = "alloc")]
pub use table::Tlb;

#[cfg(feature = "alloc")]
mod table {
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::{
        partition_index, slot, tag, Entry, Translated, ENTRIES, ENTRY_SIZE, INVALID_TAG,
        MAX_ENTRIES, PAGE_INDEXES, PARTITIONS, TAG_CODE,
    };
    #[cfg(doc)]
    use super::{slot_mask_offset, PARTITION_STRIDE, TAG_OFFSET};
    use crate::access::{self, Fault, PagePermissions, Request};
    use crate::addr::{AbsoluteAddress, RealAddress};
    use crate::asce::{Asce, Level};
    use crate::control::Controls;
    use crate::invalidate::Invalidation;
    use crate::kind::AccessKind;
    use crate::space::AsceSource;
    use crate::storage::Storage;
    use crate::walk::TablePath;
    use crate::PAGE_MASK;

    /// The slots of all partitions.
    const TOTAL: usize = PARTITIONS * MAX_ENTRIES;

    /// The doublewords of an entry.
    const WORDS: usize = ENTRY_SIZE / 8;

    /// The part of an entry only fills, misses and invalidations read
    /// (meaningful only where the entry's read tag is valid).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Cold {
        real_page: u64,
        absolute_page: u64,
        path: TablePath,
    }

    const EMPTY_COLD: Cold = Cold {
        real_page: 0,
        absolute_page: 0,
        path: TablePath::EMPTY,
    };

    /// What generated code reads, as doublewords: up to three of padding
    /// (so that the entries are 32-byte aligned), the slot masks, then the
    /// entries. Zero, so that the allocator can hand out address space the
    /// host commits only where it is written (`vec!` of zeros allocates
    /// zeroed memory); the all-zero entry is `Entry::EMPTY`.
    fn empty_hot() -> (Box<[u64]>, usize) {
        const _: () = assert!(INVALID_TAG == 0);
        let hot = vec![0u64; 3 + PARTITIONS + TOTAL * WORDS].into_boxed_slice();
        let at = hot.as_ptr() as usize + PARTITIONS * 8;
        let base = PARTITIONS + at.wrapping_neg() % ENTRY_SIZE / 8;
        (hot, base)
    }

    /// The software TLB of one CPU. Its tables are on the heap, so the
    /// `Tlb` itself is small to move; of their reserved address space the
    /// host commits what the partitions' sizes use.
    pub struct Tlb {
        /// The slot masks and the hit path's entries, partition after
        /// partition, as doublewords ([`empty_hot`]).
        hot: Box<[u64]>,
        /// The index in `hot` of the first entry's first doubleword.
        base: usize,
        /// What fills and invalidations need, per partition, with the
        /// entries' slot numbers (as long as the partition's size).
        cold: [Vec<Cold>; PARTITIONS],
        /// The entries in use of each partition.
        size: [usize; PARTITIONS],
        /// Fills of each partition since it was last cleared or resized.
        fills: [usize; PARTITIONS],
        /// The size partitions start with and never shrink below.
        initial: usize,
        /// The ASCE each partition's entries were formed through.
        asce: [Option<Asce>; PARTITIONS],
        controls: Controls,
    }

    impl core::fmt::Debug for Tlb {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Tlb")
                .field("size", &self.size)
                .field("fills", &self.fills)
                .field("asce", &self.asce)
                .field("controls", &self.controls)
                .finish_non_exhaustive()
        }
    }

    impl Default for Tlb {
        fn default() -> Self {
            Self::new(&Controls::default())
        }
    }

    impl Tlb {
        /// An empty TLB for the given control state, [`ENTRIES`] entries
        /// per partition to begin with.
        pub fn new(controls: &Controls) -> Self {
            Self::with_entries(controls, ENTRIES)
        }

        /// An empty TLB whose partitions begin with `entries` entries
        /// (rounded up to a power of two, at most [`MAX_ENTRIES`]) and never
        /// shrink below that.
        pub fn with_entries(controls: &Controls, entries: usize) -> Self {
            let initial = entries.clamp(1, MAX_ENTRIES).next_power_of_two();
            let (hot, base) = empty_hot();
            let mut tlb = Self {
                hot,
                base,
                cold: Default::default(),
                size: [0; PARTITIONS],
                fills: [0; PARTITIONS],
                initial,
                asce: [None; PARTITIONS],
                controls: *controls,
            };
            for partition in 0..PARTITIONS {
                tlb.resize(partition, initial);
            }
            tlb
        }

        /// The first entry of partition 0: `PARTITIONS * MAX_ENTRIES` slots
        /// follow, partition after partition ([`PARTITION_STRIDE`] bytes
        /// apart), and the slot masks lie below it ([`slot_mask_offset`]).
        /// The address is the same for the life of the TLB (see the module
        /// docs for the probe).
        #[inline]
        pub fn entries_ptr(&self) -> *const Entry {
            self.hot[self.base..].as_ptr().cast()
        }

        /// The number of entries partition `partition` uses now.
        #[inline]
        pub fn entries(&self, partition: usize) -> usize {
            self.size[partition & (PARTITIONS - 1)]
        }

        /// The slot of partition `partition` that `address` is probed in.
        #[inline(always)]
        fn slot_of(&self, partition: usize, address: u64) -> usize {
            slot(address, self.size[partition & (PARTITIONS - 1)])
        }

        /// The doublewords of the entries of partition `partition`'s slots
        /// `slots`.
        fn words(&self, partition: usize, slots: core::ops::Range<usize>) -> &[u64] {
            let first = self.base + (partition * MAX_ENTRIES) * WORDS;
            &self.hot[first + slots.start * WORDS..first + slots.end * WORDS]
        }

        /// [`Tlb::words`], writable.
        fn words_mut(&mut self, partition: usize, slots: core::ops::Range<usize>) -> &mut [u64] {
            let first = self.base + (partition * MAX_ENTRIES) * WORDS;
            &mut self.hot[first + slots.start * WORDS..first + slots.end * WORDS]
        }

        /// The entry probed for `address` in partition `partition`.
        #[inline]
        pub fn entry(&self, partition: usize, address: u64) -> Entry {
            let partition = partition & (PARTITIONS - 1);
            let slot = self.slot_of(partition, address);
            let w = self.words(partition, slot..slot + 1);
            Entry {
                tags: [w[0], w[1], w[2]],
                addend: w[3],
            }
        }

        /// Sets partition `partition`'s size and starts counting its fills
        /// anew. The slots past the new size must be empty already.
        fn resize(&mut self, partition: usize, entries: usize) {
            self.size[partition] = entries;
            self.hot[self.base - PARTITIONS + partition] = ((entries - 1) * ENTRY_SIZE) as u64;
            self.cold[partition].resize(entries, EMPTY_COLD);
            self.fills[partition] = 0;
        }

        /// Tells the TLB the control state changed (a control register load,
        /// SPX, a facility change). Partitions whose ASCE changed are dropped;
        /// a change of CR0, the prefix or the facilities drops everything.
        /// Must be called before the next access after any such change.
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
                        self.clear_partition(index);
                    }
                }
            }
            self.controls = *controls;
        }

        /// Empties partition `partition`, halving it when it was refilled
        /// fewer than an eighth of its size since it was last cleared or
        /// resized (never below the initial size).
        fn clear_partition(&mut self, partition: usize) {
            let size = self.size[partition];
            self.words_mut(partition, 0..size).fill(INVALID_TAG);
            let shrink = size > self.initial && self.fills[partition] * 8 < size;
            self.resize(partition, if shrink { size / 2 } else { size });
        }

        /// Drops every entry (PTLB, CPU reset).
        pub fn flush(&mut self) {
            for partition in 0..PARTITIONS {
                self.clear_partition(partition);
            }
        }

        /// Drops the entries an architected invalidation covers.
        ///
        /// An IPTE names page indexes (PoP ch. 3, INVALIDATE PAGE TABLE
        /// ENTRY: logical-address bits 44-51, the low 8 bits of the page
        /// number), and an entry only ever sits in the slot the low bits of
        /// its page number name at a size of at least the initial one
        /// (a slot a growth moved a page from keeps the old copy there): when
        /// the initial size is at least [`PAGE_INDEXES`], only the slots
        /// whose low 8 bits are one of the named indexes can hold a covered
        /// entry. If those are at most the initial size in number, only they
        /// are scanned and the partition keeps its size and fill count.
        /// Otherwise (IDTE, CSP, SSKE, SPX, an IPTE of many indexes in a
        /// large partition) every slot in use is scanned, and a partition
        /// that grew goes back to its initial size first (the slots past it
        /// emptied) and starts counting its fills anew: no invalidation
        /// scans more than the initial size, or a partition's size when at
        /// least that many fills came since the last one.
        pub fn invalidate(&mut self, invalidation: &Invalidation) {
            if *invalidation == Invalidation::All {
                return self.flush();
            }
            for partition in 0..PARTITIONS {
                let size = self.size[partition];
                if let Some(indexes) = self.named_indexes(invalidation, size) {
                    for group in (0..size).step_by(PAGE_INDEXES) {
                        let slots = group + indexes.start..group + indexes.end;
                        self.drop_covered(partition, invalidation, slots);
                    }
                } else {
                    let initial = self.initial;
                    if size > initial {
                        self.words_mut(partition, initial..size).fill(INVALID_TAG);
                    }
                    self.resize(partition, size.min(initial));
                    self.drop_covered(partition, invalidation, 0..self.size[partition]);
                }
            }
        }

        /// The page indexes `invalidation` names, if only the slots of a
        /// partition of `size` entries whose low 8 bits are one of them can
        /// hold an entry it covers and they are at most the initial size in
        /// number ([`Tlb::invalidate`]).
        fn named_indexes(
            &self,
            invalidation: &Invalidation,
            size: usize,
        ) -> Option<core::ops::Range<usize>> {
            match *invalidation {
                Invalidation::PageTableEntries { first, extra, .. }
                    if self.initial >= PAGE_INDEXES =>
                {
                    let indexes = usize::from(first)..usize::from(first) + usize::from(extra) + 1;
                    // (IPTE never names entries past 255; an invalidation
                    // made otherwise is scanned whole.)
                    (indexes.end <= PAGE_INDEXES
                        && size / PAGE_INDEXES * indexes.len() <= self.initial)
                        .then_some(indexes)
                }
                _ => None,
            }
        }

        /// Empties the entries of partition `partition`'s slots `slots` that
        /// `invalidation` covers ([`Invalidation::covers`]).
        fn drop_covered(
            &mut self,
            partition: usize,
            invalidation: &Invalidation,
            slots: core::ops::Range<usize>,
        ) {
            let asce = self.asce[partition];
            let first = self.base + partition * MAX_ENTRIES * WORDS;
            let words = &mut self.hot[first + slots.start * WORDS..first + slots.end * WORDS];
            let cold = &self.cold[partition][slots];
            for (entry, cold) in words.chunks_exact_mut(WORDS).zip(cold) {
                // Fetch and store permission imply read permission: an
                // entry without a read tag is empty.
                if entry[AccessKind::Read as usize] == INVALID_TAG {
                    continue;
                }
                let covered = invalidation.covers(
                    |level: Level| cold.path.entry(level),
                    asce,
                    AbsoluteAddress::new(cold.absolute_page),
                );
                if covered {
                    entry.fill(INVALID_TAG);
                }
            }
        }

        /// Makes stores to the absolute page `absolute_page` miss from now
        /// on: every entry ending in that frame keeps its fetch tags but
        /// gets [`TAG_CODE`] in its store tag. Call it (on every CPU's TLB)
        /// after marking the frame with [`Storage::set_code_frame`], which
        /// makes later fills set the flag too; unmarking the frame in
        /// storage lets stores hit again after the next fill.
        pub fn mark_code(&mut self, absolute_page: AbsoluteAddress) {
            let page = absolute_page.page().value();
            for partition in 0..PARTITIONS {
                let first = self.base + partition * MAX_ENTRIES * WORDS;
                let words = &mut self.hot[first..first + self.size[partition] * WORDS];
                for (entry, cold) in words.chunks_exact_mut(WORDS).zip(&self.cold[partition]) {
                    let store = &mut entry[AccessKind::Write as usize];
                    if *store != INVALID_TAG && cold.absolute_page == page {
                        *store |= TAG_CODE;
                    }
                }
            }
        }

        /// The hit path: the absolute address of `address` for an access of
        /// `kind` with access key `key` in partition `partition` (see
        /// [`partition_index`]), if an entry permits it. One load of the
        /// tag, one compare, one add.
        #[inline(always)]
        pub fn lookup(
            &self,
            partition: usize,
            address: u64,
            kind: AccessKind,
            key: u8,
        ) -> Option<u64> {
            let entry = self.entry(partition, address);
            (entry.tag(kind) == tag(address, key)).then(|| address.wrapping_add(entry.addend))
        }

        /// Translates and records one access: the hit path, or on a miss a
        /// full [`access::access`] (walk, protection, R/C recording) that
        /// then forms an entry with the permissions the whole page allows.
        /// A store to a code frame ([`Storage::code_frame`]) is translated
        /// and recorded as any other, but the entry formed never lets a
        /// store hit. A partition that has refilled as many entries as it
        /// holds since it was last cleared or resized doubles first.
        pub fn access<S: Storage + ?Sized>(
            &mut self,
            storage: &mut S,
            request: Request,
        ) -> Result<Translated, Fault> {
            let partition = partition_index(access::asce_source(request.space, request.kind)?);
            let address = request.address.value();
            if let Some(absolute) = self.lookup(partition, address, request.kind, request.key) {
                let offset = address & PAGE_MASK;
                return Ok(Translated {
                    real: RealAddress::new(
                        self.cold[partition][self.slot_of(partition, address)].real_page | offset,
                    ),
                    absolute: AbsoluteAddress::new(absolute),
                    hit: true,
                });
            }
            let controls = self.controls;
            let done = access::access(storage, &controls, request)?;
            let key_now = storage.key(done.absolute).unwrap_or(done.key);
            let perms = PagePermissions::of(&controls, &done, request.key, key_now);
            if self.asce[partition] != done.asce {
                self.clear_partition(partition);
                self.asce[partition] = done.asce;
            }
            let size = self.size[partition];
            self.fills[partition] += 1;
            if self.fills[partition] > size && size < MAX_ENTRIES {
                self.resize(partition, size * 2);
            }
            let page_tag = tag(address, request.key);
            let pick = |allowed: bool| if allowed { page_tag } else { INVALID_TAG };
            let mut tags = [INVALID_TAG; 3];
            tags[AccessKind::InstructionFetch as usize] = pick(perms.fetch);
            tags[AccessKind::Read as usize] = pick(perms.read);
            tags[AccessKind::Write as usize] = if perms.write && storage.code_frame(done.absolute) {
                page_tag | TAG_CODE
            } else {
                pick(perms.write)
            };
            let absolute_page = done.absolute.page().value();
            let slot = self.slot_of(partition, address);
            let addend = absolute_page.wrapping_sub(address & !PAGE_MASK);
            self.words_mut(partition, slot..slot + 1)
                .copy_from_slice(&[tags[0], tags[1], tags[2], addend]);
            self.cold[partition][slot] = Cold {
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
}
