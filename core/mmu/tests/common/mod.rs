//! Builders for the rule tests: place region, segment and page tables in an
//! [`OwnedStorage`], build ASCEs and entries from the named bit constants,
//! and make single accesses.
//!
//! Layout of a [`Guest`] (all absolute, clear of the low and prefix areas):
//!
//! | what                | where        |
//! |---------------------|--------------|
//! | region-first table  | `0x1_0000`   |
//! | region-second table | `0x1_4000`   |
//! | region-third table  | `0x1_8000`   |
//! | segment table       | `0x1_C000`   |
//! | page table          | `0x2_0000`   |
//! | second page table   | `0x2_0800`   |
//! | data frames         | `FRAME_A`, `FRAME_B`, ... |
//!
//! Every table starts with all entries invalid (I = 1, with the right table
//! type), so an entry a test did not write never translates by accident.
#![allow(dead_code)]

use zmmu_mmu::access::Access;
use zmmu_mmu::entry::{PageEntry, TableEntry};
use zmmu_mmu::prelude::*;

/// Storage size of a [`Guest`]: 4 MiB.
pub const STORAGE: u64 = 0x40_0000;
/// Where the region-first table of a [`Guest`] lives.
pub const RFT: u64 = 0x1_0000;
/// Where the region-second table lives.
pub const RST: u64 = 0x1_4000;
/// Where the region-third table lives.
pub const RTT: u64 = 0x1_8000;
/// Where the segment table lives.
pub const ST: u64 = 0x1_C000;
/// Where the page table lives (2 KiB aligned).
pub const PT: u64 = 0x2_0000;
/// A second page table, in the upper half of the same 4 KiB block.
pub const PT2: u64 = 0x2_0800;
/// Data frames.
pub const FRAME_A: u64 = 0x3_0000;
/// Data frames.
pub const FRAME_B: u64 = 0x3_1000;
/// Data frames.
pub const FRAME_C: u64 = 0x3_2000;

/// The origin of the [`Guest`] table at `level`.
pub const fn origin(level: Level) -> u64 {
    match level {
        Level::RegionFirst => RFT,
        Level::RegionSecond => RST,
        Level::RegionThird => RTT,
        Level::Segment => ST,
        Level::Page => PT,
    }
}

/// The table-type bits (TT, bits 60-61) of an entry at `level`.
pub const fn tt(level: Level) -> u64 {
    level.type_code() << 2
}

/// A format-0 region-table entry at `level` designating the next table at
/// `next`, with table offset `tf` and table length `tl`.
pub const fn region_entry(level: Level, next: u64, tf: u64, tl: u64) -> u64 {
    next | (tf << 6) | tt(level) | tl
}

/// A format-0 segment-table entry designating the page table at `pto`.
pub const fn segment_entry(pto: u64) -> u64 {
    pto | tt(Level::Segment)
}

/// A format-1 segment-table entry (EDAT-1) for the 1 MiB frame at `sfaa`.
pub const fn large_segment(sfaa: u64) -> u64 {
    sfaa | TableEntry::FC | tt(Level::Segment)
}

/// A format-1 region-third-table entry (EDAT-2) for the 2 GiB frame at `rfaa`.
pub const fn large_region(rfaa: u64) -> u64 {
    rfaa | TableEntry::FC | tt(Level::RegionThird)
}

/// A valid page-table entry for the frame at real address `pfra`.
pub const fn page_entry(pfra: u64) -> u64 {
    pfra
}

/// An invalid entry of the table at `level`.
pub const fn invalid(level: Level) -> u64 {
    match level {
        Level::Page => PageEntry::I,
        _ => TableEntry::I | tt(level),
    }
}

/// The translation exception an invalid entry of each table level raises,
/// from the region-first table down to the segment table.
pub const TRANSLATION_EXCEPTIONS: [(Level, Code); 4] = [
    (Level::RegionFirst, Code::REGION_FIRST_TRANSLATION),
    (Level::RegionSecond, Code::REGION_SECOND_TRANSLATION),
    (Level::RegionThird, Code::REGION_THIRD_TRANSLATION),
    (Level::Segment, Code::SEGMENT_TRANSLATION),
];

/// An ASCE designating the table at `origin` of type `dt` with length `tl`.
pub fn asce(origin: u64, dt: Level, tl: u64) -> Asce {
    Asce::new(origin | (dt.type_code() << 2) | tl)
}

/// The absolute address of `level`'s entry for `va` in the table at `origin`.
pub const fn entry_address(origin: u64, level: Level, va: u64) -> u64 {
    origin + level.index(va) * 8
}

/// Zeroed storage of `bytes` bytes.
pub fn storage(bytes: u64) -> OwnedStorage {
    OwnedStorage::new(usize::try_from(bytes).unwrap())
}

/// Stores a doubleword at an absolute address.
pub fn put(storage: &mut OwnedStorage, at: u64, value: u64) {
    storage
        .write_u64(AbsoluteAddress::new(at), value)
        .expect("address inside storage");
}

/// Fetches a doubleword at an absolute address.
pub fn get(storage: &OwnedStorage, at: u64) -> u64 {
    storage
        .read_u64(AbsoluteAddress::new(at))
        .expect("address inside storage")
}

/// Fills the table at `origin` of `level` with invalid entries: 2048 for a
/// region or segment table, 256 for a page table.
pub fn invalid_table(storage: &mut OwnedStorage, origin: u64, level: Level) {
    let entries = if level == Level::Page { 256 } else { 2048 };
    for i in 0..entries {
        put(storage, origin + i * 8, invalid(level));
    }
}

/// A request for one access.
pub fn request(space: AddressSpace, kind: AccessKind, va: u64, key: u8) -> Request {
    Request {
        address: LogicalAddress::new(va),
        space,
        kind,
        key,
    }
}

/// The program-interruption code of a failed access; panics on success or
/// on a refusal that is not a program interruption.
pub fn code<T: core::fmt::Debug>(result: Result<T, Fault>) -> Code {
    match result {
        Err(Fault::Program(exception)) => exception.code,
        other => panic!("expected a program interruption, got {other:?}"),
    }
}

/// The exception of a failed access; panics otherwise.
pub fn exception<T: core::fmt::Debug>(result: Result<T, Fault>) -> Exception {
    match result {
        Err(Fault::Program(exception)) => exception,
        other => panic!("expected a program interruption, got {other:?}"),
    }
}

/// A guest with tables from `top` down to one page table, the ASCE for them
/// in CR1, and 4 MiB of storage.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Absolute storage.
    pub storage: OwnedStorage,
    /// Control registers, prefix and facilities.
    pub controls: Controls,
    /// The level of the highest table.
    pub top: Level,
}

impl Guest {
    /// Tables from `top` down, all entries invalid; CR1 designates the top
    /// table with TL = 3. CR7 and CR13 are left zero.
    pub fn new(top: Level) -> Self {
        let mut storage = storage(STORAGE);
        for level in Level::TABLES.into_iter().filter(|l| *l >= top) {
            invalid_table(&mut storage, origin(level), level);
        }
        invalid_table(&mut storage, PT, Level::Page);
        invalid_table(&mut storage, PT2, Level::Page);
        let controls = Controls {
            cr1: asce(origin(top), top, 3),
            ..Controls::default()
        };
        Self {
            storage,
            controls,
            top,
        }
    }

    /// A guest whose CR1 designates a segment table.
    pub fn segment() -> Self {
        Self::new(Level::Segment)
    }

    /// A guest with tables from `top` down in which `va` translates to the
    /// real frame `frame` (see [`Guest::map`]).
    pub fn mapped_from(top: Level, va: u64, frame: u64) -> Self {
        let mut guest = Self::new(top);
        guest.map(va, frame);
        guest
    }

    /// A guest whose CR1 designates a segment table, in which `va`
    /// translates to the real frame `frame`.
    pub fn mapped(va: u64, frame: u64) -> Self {
        Self::mapped_from(Level::Segment, va, frame)
    }

    /// Makes `va` translate to the real frame `frame`: one region entry per
    /// level down to the segment table, the segment entry pointing at the
    /// page table, and the page entry.
    pub fn map(&mut self, va: u64, frame: u64) -> &mut Self {
        self.link(va);
        self.set(Level::Segment, va, segment_entry(PT));
        self.set(Level::Page, va, page_entry(frame));
        self
    }

    /// Writes the region entries for `va` from the top table down to the
    /// segment table (TF = 0, TL = 3).
    pub fn link(&mut self, va: u64) -> &mut Self {
        for level in [Level::RegionFirst, Level::RegionSecond, Level::RegionThird] {
            if level >= self.top {
                self.set(level, va, region_entry(level, origin(level.next()), 0, 3));
            }
        }
        self
    }

    /// The absolute address of the entry used for `va` at `level`.
    pub fn at(&self, level: Level, va: u64) -> u64 {
        entry_address(origin(level), level, va)
    }

    /// Writes the entry used for `va` at `level`.
    pub fn set(&mut self, level: Level, va: u64, value: u64) -> &mut Self {
        let at = self.at(level, va);
        put(&mut self.storage, at, value);
        self
    }

    /// Sets `bits` in the entry used for `va` at `level`.
    pub fn or(&mut self, level: Level, va: u64, bits: u64) -> &mut Self {
        let at = self.at(level, va);
        let old = get(&self.storage, at);
        put(&mut self.storage, at, old | bits);
        self
    }

    /// The entry used for `va` at `level`.
    pub fn entry(&self, level: Level, va: u64) -> u64 {
        get(&self.storage, self.at(level, va))
    }

    /// Turns EDAT-1 on: CR0 bit 40 and facility 8.
    pub fn edat1(&mut self) -> &mut Self {
        self.controls.cr0 |= Cr0::EDAT;
        self.controls.facilities |= Facilities::EDAT1;
        self
    }

    /// Turns EDAT-1 and EDAT-2 on (facility 78).
    pub fn edat2(&mut self) -> &mut Self {
        self.edat1();
        self.controls.facilities |= Facilities::EDAT2;
        self
    }

    /// Turns IEP on: CR0 bit 43 and facility 130.
    pub fn iep(&mut self) -> &mut Self {
        self.controls.cr0 |= Cr0::IEP;
        self.controls.facilities |= Facilities::IEP;
        self
    }

    /// Sets CR0 bits.
    pub fn cr0(&mut self, bits: Cr0) -> &mut Self {
        self.controls.cr0 |= bits;
        self
    }

    /// Installs facilities.
    pub fn facilities(&mut self, facilities: Facilities) -> &mut Self {
        self.controls.facilities |= facilities;
        self
    }

    /// Sets the storage key (ISKE byte) of the frame holding absolute `at`.
    pub fn set_key(&mut self, at: u64, key: u8) -> &mut Self {
        self.storage
            .set_key(AbsoluteAddress::new(at), StorageKey::new(key))
            .expect("frame exists");
        self
    }

    /// The storage key of the frame holding absolute `at`.
    pub fn key(&self, at: u64) -> StorageKey {
        self.storage
            .key(AbsoluteAddress::new(at))
            .expect("frame exists")
    }

    /// Performs one access (checks, then records R and C).
    pub fn access(
        &mut self,
        space: AddressSpace,
        kind: AccessKind,
        va: u64,
        key: u8,
    ) -> Result<Access, Fault> {
        access(
            &mut self.storage,
            &self.controls,
            request(space, kind, va, key),
        )
    }

    /// An operand fetch in the primary space with key 0.
    pub fn read(&mut self, va: u64) -> Result<Access, Fault> {
        self.access(AddressSpace::Primary, AccessKind::Read, va, 0)
    }

    /// An operand store in the primary space with key 0.
    pub fn write(&mut self, va: u64) -> Result<Access, Fault> {
        self.access(AddressSpace::Primary, AccessKind::Write, va, 0)
    }

    /// An instruction fetch in the primary space with key 0.
    pub fn fetch(&mut self, va: u64) -> Result<Access, Fault> {
        self.access(AddressSpace::Primary, AccessKind::InstructionFetch, va, 0)
    }

    /// The absolute address an operand fetch in the primary space reaches.
    pub fn absolute(&mut self, va: u64) -> u64 {
        self.read(va)
            .expect("translation available")
            .absolute
            .value()
    }
}

/// Sparse storage of any size, for tables above 2 GiB: only the doublewords
/// written are kept (the rest read as zero) and keys; byte reads answer
/// zeros and byte writes are dropped.
#[derive(Debug, Clone, Default)]
pub struct Sparse {
    /// The storage size.
    pub size: u64,
    words: std::collections::BTreeMap<u64, u64>,
    keys: std::collections::BTreeMap<u64, u8>,
}

impl Sparse {
    /// Sparse storage of `size` bytes.
    pub fn new(size: u64) -> Self {
        Self {
            size,
            ..Self::default()
        }
    }

    /// Stores a doubleword.
    pub fn put(&mut self, at: u64, value: u64) {
        self.write_u64(AbsoluteAddress::new(at), value)
            .expect("address inside storage");
    }
}

impl Storage for Sparse {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_u64(&self, address: AbsoluteAddress) -> Option<u64> {
        let at = address.value();
        (at.checked_add(8)? <= self.size).then(|| self.words.get(&at).copied().unwrap_or(0))
    }

    fn write_u64(&mut self, address: AbsoluteAddress, value: u64) -> Option<()> {
        let at = address.value();
        (at.checked_add(8)? <= self.size).then(|| {
            self.words.insert(at, value);
        })
    }

    fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
        let end = address.value().checked_add(buf.len() as u64)?;
        (end <= self.size).then(|| buf.fill(0))
    }

    fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()> {
        let end = address.value().checked_add(data.len() as u64)?;
        (end <= self.size).then_some(())
    }

    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
        self.contains(address).then(|| {
            StorageKey::new(
                self.keys
                    .get(&(address.value() >> 12))
                    .copied()
                    .unwrap_or(0),
            )
        })
    }

    fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
        self.contains(address).then(|| {
            self.keys.insert(address.value() >> 12, key.value());
        })
    }
}
