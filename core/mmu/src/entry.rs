//! DAT table entries: region-table entries (RFTE, RSTE, RTTE), segment-table
//! entries and page-table entries (PoP ch. 3, Translation Tables). Each is a transparent
//! wrapper over the big-endian doubleword fetched from storage, with
//! accessors named as the Principles of Operation names the fields.

use crate::addr::{AbsoluteAddress, RealAddress};
use crate::asce::Level;

/// A region- or segment-table entry, in either format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct TableEntry(pub u64);

impl TableEntry {
    /// Bits 0-51: the next table's origin (region entries, format 0).
    pub const REGION_ORIGIN: u64 = 0xFFFF_FFFF_FFFF_F000;
    /// Bits 0-52: the page-table origin (segment entries, format 0).
    pub const PAGE_TABLE_ORIGIN: u64 = 0xFFFF_FFFF_FFFF_F800;
    /// Bits 0-43: the segment-frame absolute address (format 1, 1 MiB).
    pub const SFAA: u64 = 0xFFFF_FFFF_FFF0_0000;
    /// Bits 0-32: the region-frame absolute address (format 1, 2 GiB).
    pub const RFAA: u64 = 0xFFFF_FFFF_8000_0000;
    /// Bit 53: format control (EDAT: large-frame leaf).
    pub const FC: u64 = 0x400;
    /// Bit 54: DAT protection.
    pub const P: u64 = 0x200;
    /// Bit 55: instruction-execution protection (format 1).
    pub const IEP: u64 = 0x100;
    /// Bits 56-57: table offset of the next table (region entries).
    pub const TF: u64 = 0x0C0;
    /// Bit 58: invalid.
    pub const I: u64 = 0x020;
    /// Bit 59: common segment (STE) or common region (RTTE, EDAT-2).
    pub const COMMON: u64 = 0x010;
    /// Bits 60-61: table type.
    pub const TT: u64 = 0x00C;
    /// Bits 62-63: table length of the next table (region entries).
    pub const TL: u64 = 0x003;

    /// I: the entry is invalid.
    #[inline]
    pub const fn invalid(self) -> bool {
        self.0 & Self::I != 0
    }

    /// TT: the level of the table this entry claims to belong to.
    #[inline]
    pub const fn table_type(self) -> Level {
        Level::from_type_code((self.0 & Self::TT) >> 2)
    }

    /// P: DAT protection.
    #[inline]
    pub const fn protection(self) -> bool {
        self.0 & Self::P != 0
    }

    /// FC: format control (a large-frame leaf when EDAT allows it).
    #[inline]
    pub const fn format_control(self) -> bool {
        self.0 & Self::FC != 0
    }

    /// CS/CR: common segment or common region.
    #[inline]
    pub const fn common(self) -> bool {
        self.0 & Self::COMMON != 0
    }

    /// IEP of a format-1 entry.
    #[inline]
    pub const fn iep(self) -> bool {
        self.0 & Self::IEP != 0
    }

    /// TF: the first 512-entry block present in the next table.
    #[inline]
    pub const fn table_offset(self) -> u64 {
        (self.0 & Self::TF) >> 6
    }

    /// TL: the last 512-entry block present in the next table.
    #[inline]
    pub const fn table_length(self) -> u64 {
        self.0 & Self::TL
    }

    /// The origin of the table this entry designates, for an entry at
    /// `level` (a segment entry designates a 2 KiB-aligned page table).
    #[inline]
    pub const fn next_origin(self, level: Level) -> AbsoluteAddress {
        AbsoluteAddress::new(
            self.0
                & match level {
                    Level::Segment => Self::PAGE_TABLE_ORIGIN,
                    _ => Self::REGION_ORIGIN,
                },
        )
    }

    /// The frame address of a format-1 entry at `level` (SFAA or RFAA), or
    /// `None` at a level that has no large frames.
    #[inline]
    pub const fn frame(self, level: Level) -> Option<AbsoluteAddress> {
        match level {
            Level::Segment => Some(AbsoluteAddress::new(self.0 & Self::SFAA)),
            Level::RegionThird => Some(AbsoluteAddress::new(self.0 & Self::RFAA)),
            _ => None,
        }
    }
}

/// A page-table entry (PoP ch. 3, Translation Tables: Page-Table Entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct PageEntry(pub u64);

impl PageEntry {
    /// Bits 0-51: the page-frame real address.
    pub const PFRA: u64 = 0xFFFF_FFFF_FFFF_F000;
    /// Bit 52: must be zero, else translation specification.
    pub const ZERO: u64 = 0x800;
    /// Bit 53: invalid.
    pub const I: u64 = 0x400;
    /// Bit 54: DAT protection.
    pub const P: u64 = 0x200;
    /// Bit 55: instruction-execution protection.
    pub const IEP: u64 = 0x100;

    /// I: the entry is invalid.
    #[inline]
    pub const fn invalid(self) -> bool {
        self.0 & Self::I != 0
    }

    /// Bit 52 is one: a translation-specification exception.
    #[inline]
    pub const fn bit52(self) -> bool {
        self.0 & Self::ZERO != 0
    }

    /// P: DAT protection.
    #[inline]
    pub const fn protection(self) -> bool {
        self.0 & Self::P != 0
    }

    /// IEP: instruction-execution protection.
    #[inline]
    pub const fn iep(self) -> bool {
        self.0 & Self::IEP != 0
    }

    /// PFRA: the real address of the page frame (prefixing applies).
    #[inline]
    pub const fn frame(self) -> RealAddress {
        RealAddress::new(self.0 & Self::PFRA)
    }
}
