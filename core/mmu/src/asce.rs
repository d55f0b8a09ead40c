//! The address-space-control element (ASCE) held in CR1, CR7 and CR13.

use crate::addr::AbsoluteAddress;

/// A DAT table level, from the top (region-first) to the bottom (page).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Region-first table: one entry maps 2^53 bytes (RFX, bits 0-10).
    RegionFirst = 0,
    /// Region-second table: one entry maps 2^42 bytes (RSX, bits 11-21).
    RegionSecond = 1,
    /// Region-third table: one entry maps 2 GiB (RTX, bits 22-32).
    RegionThird = 2,
    /// Segment table: one entry maps 1 MiB (SX, bits 33-43).
    Segment = 3,
    /// Page table: one entry maps 4 KiB (PX, bits 44-51).
    Page = 4,
}

impl Level {
    /// The levels that region and segment tables occupy, top first.
    pub const TABLES: [Level; 4] = [
        Level::RegionFirst,
        Level::RegionSecond,
        Level::RegionThird,
        Level::Segment,
    ];

    /// Bit position (from the right) of the lowest bit of this level's index
    /// in a virtual address.
    #[inline]
    pub const fn shift(self) -> u32 {
        match self {
            Level::RegionFirst => 53,
            Level::RegionSecond => 42,
            Level::RegionThird => 31,
            Level::Segment => 20,
            Level::Page => 12,
        }
    }

    /// This level's index in `address` (11 bits for region and segment
    /// tables, 8 bits for page tables).
    #[inline]
    pub const fn index(self, address: u64) -> u64 {
        let mask = match self {
            Level::Page => 0xFF,
            _ => 0x7FF,
        };
        (address >> self.shift()) & mask
    }

    /// The two leftmost bits of the 11-bit index, compared with a table's
    /// offset (TF) and length (TL), which count 512-entry blocks.
    #[inline]
    pub const fn index_block(self, address: u64) -> u64 {
        self.index(address) >> 9
    }

    /// The next lower level.
    #[inline]
    pub const fn next(self) -> Level {
        match self {
            Level::RegionFirst => Level::RegionSecond,
            Level::RegionSecond => Level::RegionThird,
            Level::RegionThird => Level::Segment,
            Level::Segment | Level::Page => Level::Page,
        }
    }

    /// The table-type (TT) code of region and segment entries, and the
    /// designation-type (DT) code of an ASCE, for this level: 11, 10, 01, 00.
    #[inline]
    pub const fn type_code(self) -> u64 {
        match self {
            Level::RegionFirst => 3,
            Level::RegionSecond => 2,
            Level::RegionThird => 1,
            Level::Segment | Level::Page => 0,
        }
    }

    /// The level whose type code is `code` (0-3).
    #[inline]
    pub const fn from_type_code(code: u64) -> Level {
        match code & 3 {
            3 => Level::RegionFirst,
            2 => Level::RegionSecond,
            1 => Level::RegionThird,
            _ => Level::Segment,
        }
    }
}

/// `segment table`, `page table`, ...
impl core::fmt::Display for Level {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Level::RegionFirst => "region-first table",
            Level::RegionSecond => "region-second table",
            Level::RegionThird => "region-third table",
            Level::Segment => "segment table",
            Level::Page => "page table",
        })
    }
}

/// An address-space-control element (PoP ch. 3, Address-Space-Control Element).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Asce(u64);

impl Asce {
    /// Bits 0-51: table origin.
    pub const ORIGIN: u64 = 0xFFFF_FFFF_FFFF_F000;
    /// Bit 54: subspace-group control.
    pub const G: u64 = 0x200;
    /// Bit 55: private-space control.
    pub const P: u64 = 0x100;
    /// Bit 56: storage-alteration-event control.
    pub const S: u64 = 0x080;
    /// Bit 57: space-switch-event control.
    pub const X: u64 = 0x040;
    /// Bit 58: real-space control.
    pub const R: u64 = 0x020;
    /// Bits 60-61: designation type.
    pub const DT: u64 = 0x00C;
    /// Bits 62-63: table length.
    pub const TL: u64 = 0x003;

    /// Wraps a control-register value.
    #[inline]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The control-register value.
    #[inline]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The origin of the highest-level table.
    #[inline]
    pub const fn table_origin(self) -> AbsoluteAddress {
        AbsoluteAddress::new(self.0 & Self::ORIGIN)
    }

    /// The level of the table the origin designates (DT).
    #[inline]
    pub const fn designation_type(self) -> Level {
        Level::from_type_code((self.0 & Self::DT) >> 2)
    }

    /// The table length TL, in 512-entry blocks minus one.
    #[inline]
    pub const fn table_length(self) -> u64 {
        self.0 & Self::TL
    }

    /// R: the space is a real space; its logical addresses are real ones.
    #[inline]
    pub const fn real_space(self) -> bool {
        self.0 & Self::R != 0
    }

    /// The space is private: P is one, or R is one (a real space counts as
    /// private, as Hercules implements it and its vectors show for the
    /// fetch-protection override; see docs/CHOICES.md). In a private space
    /// common segments and regions are a translation-specification
    /// exception, and low-address protection and the fetch-protection
    /// override do not apply.
    #[inline]
    pub const fn private(self) -> bool {
        self.0 & (Self::P | Self::R) != 0
    }

    /// The value that identifies the tables this ASCE designates, for
    /// tagging cached translations: origin, designation type and the real
    /// space bit (the other control bits do not change translations).
    #[inline]
    pub const fn tag(self) -> u64 {
        self.0 & (Self::ORIGIN | Self::DT | Self::R | Self::P | Self::TL)
    }
}

impl core::fmt::Debug for Asce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Asce({:#x})", self.0)
    }
}
