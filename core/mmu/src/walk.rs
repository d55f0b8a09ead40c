//! The DAT table walk (PoP ch. 3, Translation Process): one loop
//! over the region and segment levels, each step in the architected order
//! (fetch, invalid bit, table type, common/private, protection, large-frame
//! leaf, next table's offset and length), then the page-table entry.
//!
//! This is the single source of truth for translation: the software TLB,
//! the shadow pager and every backend derive their mappings from it.

use crate::addr::{AbsoluteAddress, RealAddress};
use crate::asce::{Asce, Level};
use crate::control::Controls;
use crate::entry::{PageEntry, TableEntry};
use crate::exception::Code;
use crate::prefix::Prefix;
use crate::storage::Storage;

/// The size of the frame a translation ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FrameSize {
    /// A 4 KiB page through a page-table entry (or a real-space ASCE).
    Page4K,
    /// An EDAT-1 1 MiB segment frame (format-1 segment-table entry).
    Segment1M,
    /// An EDAT-2 2 GiB region frame (format-1 region-third-table entry).
    Region2G,
}

impl FrameSize {
    /// The frame size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Page4K => 1 << 12,
            Self::Segment1M => 1 << 20,
            Self::Region2G => 1 << 31,
        }
    }
}

/// The DAT controls a walk depends on, taken from CR0 and the facilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct WalkControls {
    /// EDAT-1 in effect: region protection honoured, 1 MiB frames.
    pub edat1: bool,
    /// EDAT-2 in effect: 2 GiB frames, common regions.
    pub edat2: bool,
    /// IEP in effect: leaf IEP bits honoured.
    pub iep: bool,
}

impl From<&Controls> for WalkControls {
    fn from(controls: &Controls) -> Self {
        Self {
            edat1: controls.edat1(),
            edat2: controls.edat2(),
            iep: controls.iep(),
        }
    }
}

/// The absolute addresses of the table entries a walk used, by level: the
/// reverse map from guest tables to cached translations that IPTE and IDTE
/// need.
///
/// Kept compact (40 bytes rather than five `Option`s of 16): an entry
/// address is always 8-byte aligned, so an odd value stands for "no entry
/// at this level".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TablePath([u64; 5]);

/// The stored value of a level the walk did not go through.
const NO_ENTRY: u64 = u64::MAX;

impl TablePath {
    /// A path through no table (DAT off, or a real-space ASCE).
    pub const EMPTY: TablePath = TablePath([NO_ENTRY; 5]);

    /// The address of the entry used at `level`, if the walk went through it.
    #[inline]
    pub fn entry(&self, level: Level) -> Option<AbsoluteAddress> {
        let at = self.0[level as usize];
        (at != NO_ENTRY).then_some(AbsoluteAddress::new(at))
    }

    fn set(&mut self, level: Level, address: AbsoluteAddress) {
        debug_assert_eq!(address.value() % 8, 0, "table entries are doublewords");
        self.0[level as usize] = address.value();
    }
}

impl Default for TablePath {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl core::fmt::Debug for TablePath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let levels = [
            Level::RegionFirst,
            Level::RegionSecond,
            Level::RegionThird,
            Level::Segment,
            Level::Page,
        ];
        f.debug_tuple("TablePath")
            .field(&levels.map(|level| self.entry(level)))
            .finish()
    }
}

/// Where a successful walk ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Frame {
    /// A 4 KiB page frame at a real address (page-table entry or real-space
    /// ASCE): prefixing applies.
    Real(RealAddress),
    /// A large frame at an absolute address (SFAA or RFAA): no prefixing.
    Absolute(AbsoluteAddress),
}

/// A successful walk: the frame, its size, the accumulated DAT protection,
/// the leaf's IEP and the entries used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Walk {
    /// The frame's origin.
    pub frame: Frame,
    /// The frame's size.
    pub size: FrameSize,
    /// DAT protection: the OR of the page or leaf P, the segment P, and with
    /// EDAT-1 the region P bits.
    pub protected: bool,
    /// The leaf entry's IEP bit, with IEP in effect.
    pub iep: bool,
    /// The table entries the walk fetched.
    pub path: TablePath,
}

impl Walk {
    /// The real address of `address` through this walk. For a large frame
    /// the frame address is absolute; the real address reported is the same
    /// value (no prefixing is applied either way; see `docs/CHOICES.md`).
    #[inline]
    pub fn real(&self, address: u64) -> RealAddress {
        let offset = address & (self.size.bytes() - 1);
        match self.frame {
            Frame::Real(r) => r.wrapping_add(offset),
            Frame::Absolute(a) => RealAddress::new(a.value() | offset),
        }
    }

    /// The absolute address of `address` through this walk: the real address
    /// prefixed for a page frame, the frame address itself for a large frame
    /// (SFAA and RFAA are absolute).
    #[inline]
    pub fn absolute(&self, address: u64, prefix: Prefix) -> AbsoluteAddress {
        let real = self.real(address);
        match self.frame {
            Frame::Real(_) => prefix.to_absolute(real),
            Frame::Absolute(_) => AbsoluteAddress::new(real.value()),
        }
    }
}

/// The rule a failed walk broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultReason {
    /// An index above the designated table is not zero (ASCE type).
    AsceType,
    /// The index lies outside the table's offset and length.
    Length,
    /// The entry is invalid.
    Invalid,
    /// A wrong table type, a common segment or region in a private space,
    /// or page-table-entry bit 52 (translation specification).
    Specification,
    /// The entry is outside storage (addressing).
    Addressing,
}

impl core::fmt::Display for FaultReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::AsceType => "an index above the designated table is not zero",
            Self::Length => "the index is outside the table's offset and length",
            Self::Invalid => "the entry is invalid",
            Self::Specification => "translation specification",
            Self::Addressing => "the entry is outside storage",
        })
    }
}

/// Why a walk failed: the rule, the level it was recognized at and the
/// absolute address of the entry involved (the one fetched, or for a
/// length violation the one that would have been), as LRA and LPTEA report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WalkFault {
    /// The rule that failed.
    pub reason: FaultReason,
    /// The table level whose entry (or whose index check) failed.
    pub level: Level,
    /// The address of the entry concerned, where one can be formed.
    pub entry: Option<AbsoluteAddress>,
}

/// `DAT walk failed at the page table (entry at absolute 0x2028): the
/// entry is invalid; page-translation exception (code 0x0011)`.
impl core::fmt::Display for WalkFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DAT walk failed at the {}", self.level)?;
        if let Some(entry) = self.entry {
            write!(f, " (entry at absolute {:#x})", entry.value())?;
        }
        write!(f, ": {}; {}", self.reason, self.code())
    }
}

impl core::error::Error for WalkFault {}

impl WalkFault {
    const fn new(reason: FaultReason, level: Level, entry: Option<AbsoluteAddress>) -> Self {
        Self {
            reason,
            level,
            entry,
        }
    }

    /// The program-interruption code the fault raises.
    pub const fn code(&self) -> Code {
        match self.reason {
            FaultReason::AsceType => Code::ASCE_TYPE,
            FaultReason::Length | FaultReason::Invalid => Code::translation(self.level),
            FaultReason::Specification => Code::TRANSLATION_SPECIFICATION,
            FaultReason::Addressing => Code::ADDRESSING,
        }
    }
}

/// The result of a walk stopped before the page-table entry is fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageTableStep {
    /// The walk reached a page table: the page-table entry's address, the
    /// protection accumulated so far and the path.
    Entry {
        /// The absolute address of the page-table entry.
        address: AbsoluteAddress,
        /// The DAT protection of the region and segment entries.
        protected: bool,
        /// The entries fetched so far.
        path: TablePath,
    },
    /// The walk ended in a large frame (or a real space) before any page table.
    Leaf(Walk),
}

/// Translates `address` through the tables `asce` designates.
///
/// The address must already be wrapped for the addressing mode. Table
/// entries are fetched from absolute storage (table addresses are treated as
/// absolute and never wrap: an entry address that overflows or lies outside
/// storage is an addressing exception).
pub fn walk<S: Storage + ?Sized>(
    storage: &S,
    asce: Asce,
    address: u64,
    controls: WalkControls,
) -> Result<Walk, WalkFault> {
    match walk_to_page_table(storage, asce, address, controls)? {
        PageTableStep::Leaf(walk) => Ok(walk),
        PageTableStep::Entry {
            address: pte_address,
            protected,
            mut path,
        } => {
            let pte = PageEntry(fetch(storage, pte_address, Level::Page)?);
            path.set(Level::Page, pte_address);
            let fault = |reason| WalkFault::new(reason, Level::Page, Some(pte_address));
            if pte.invalid() {
                return Err(fault(FaultReason::Invalid));
            }
            if pte.bit52() {
                return Err(fault(FaultReason::Specification));
            }
            Ok(Walk {
                frame: Frame::Real(pte.frame()),
                size: FrameSize::Page4K,
                protected: protected || pte.protection(),
                iep: controls.iep && pte.iep(),
                path,
            })
        }
    }
}

/// Walks the region and segment tables for `address` but does not fetch the
/// page-table entry (LOAD PAGE-TABLE-ENTRY ADDRESS).
pub fn walk_to_page_table<S: Storage + ?Sized>(
    storage: &S,
    asce: Asce,
    address: u64,
    controls: WalkControls,
) -> Result<PageTableStep, WalkFault> {
    let mut path = TablePath::default();
    if asce.real_space() {
        return Ok(PageTableStep::Leaf(Walk {
            frame: Frame::Real(RealAddress::new(address).page()),
            size: FrameSize::Page4K,
            protected: false,
            iep: false,
            path,
        }));
    }

    let top = asce.designation_type();
    // The indexes above the designated table must be zero.
    if top != Level::RegionFirst && address >> (top.shift() + 11) != 0 {
        return Err(WalkFault::new(FaultReason::AsceType, top, None));
    }
    // The ASCE has a table length but no table offset.
    if top.index_block(address) > asce.table_length() {
        let would_be = entry_address(asce.table_origin(), top, address);
        return Err(WalkFault::new(FaultReason::Length, top, would_be));
    }

    let mut origin = asce.table_origin();
    let mut level = top;
    let mut protected = false;
    let page_table = loop {
        let at = entry_address(origin, level, address).ok_or(WalkFault::new(
            FaultReason::Addressing,
            level,
            None,
        ))?;
        let entry = TableEntry(fetch(storage, at, level)?);
        path.set(level, at);
        let fault = |reason| WalkFault::new(reason, level, Some(at));

        if entry.invalid() {
            return Err(fault(FaultReason::Invalid));
        }
        if entry.table_type() != level || common_in_private_space(entry, level, asce, controls) {
            return Err(fault(FaultReason::Specification));
        }
        // Region protection needs EDAT-1; segment protection is always honoured.
        if level == Level::Segment || controls.edat1 {
            protected |= entry.protection();
        }
        if let Some(size) = large_frame(entry, level, controls) {
            let frame = entry.frame(level).unwrap_or_default();
            return Ok(PageTableStep::Leaf(Walk {
                frame: Frame::Absolute(frame),
                size,
                protected,
                iep: controls.iep && entry.iep(),
                path,
            }));
        }
        if level == Level::Segment {
            break entry.next_origin(level);
        }
        let next = level.next();
        let block = next.index_block(address);
        if block < entry.table_offset() || block > entry.table_length() {
            let would_be = entry_address(entry.next_origin(level), next, address);
            return Err(WalkFault::new(FaultReason::Length, next, would_be));
        }
        origin = entry.next_origin(level);
        level = next;
    };

    let address = entry_address(page_table, Level::Page, address).ok_or(WalkFault::new(
        FaultReason::Addressing,
        Level::Page,
        None,
    ))?;
    Ok(PageTableStep::Entry {
        address,
        protected,
        path,
    })
}

/// The address of `level`'s entry for `address` in the table at `origin`.
/// The origin designates entry 0 even when TF says the leading part of the
/// table is absent.
#[inline]
fn entry_address(origin: AbsoluteAddress, level: Level, address: u64) -> Option<AbsoluteAddress> {
    origin
        .value()
        .checked_add(level.index(address) * 8)
        .map(AbsoluteAddress::new)
}

/// Fetches a table entry: doubleword-concurrent, not subject to key
/// protection, and an addressing exception where storage does not exist.
#[inline]
fn fetch<S: Storage + ?Sized>(
    storage: &S,
    at: AbsoluteAddress,
    level: Level,
) -> Result<u64, WalkFault> {
    storage
        .read_u64(at)
        .ok_or(WalkFault::new(FaultReason::Addressing, level, Some(at)))
}

/// A common segment (or, with EDAT-2, a common region-third entry) in a
/// private space is a translation-specification exception.
#[inline]
fn common_in_private_space(
    entry: TableEntry,
    level: Level,
    asce: Asce,
    controls: WalkControls,
) -> bool {
    let common = match level {
        Level::Segment => entry.common(),
        Level::RegionThird => controls.edat2 && entry.common(),
        _ => false,
    };
    common && asce.private()
}

/// A format-1 entry ends the walk in a large frame: a segment entry with FC
/// under EDAT-1, a region-third entry with FC under EDAT-2. FC is ignored
/// otherwise.
#[inline]
fn large_frame(entry: TableEntry, level: Level, controls: WalkControls) -> Option<FrameSize> {
    if !entry.format_control() {
        return None;
    }
    match level {
        Level::Segment if controls.edat1 => Some(FrameSize::Segment1M),
        Level::RegionThird if controls.edat2 => Some(FrameSize::Region2G),
        _ => None,
    }
}
