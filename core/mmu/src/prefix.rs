//! Prefixing (PoP ch. 3, Prefixing): the conversion between real and
//! absolute addresses that gives each CPU its own 8 KiB lowcore.

use crate::addr::{AbsoluteAddress, RealAddress};

/// The size of the prefix area.
pub const PREFIX_AREA: u64 = 0x2000;

/// The prefix register: an 8 KiB-aligned absolute address below 2 GiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Prefix(u64);

impl Prefix {
    /// The bits SET PREFIX keeps: 33-50 of the operand (8 KiB aligned, < 2 GiB).
    pub const MASK: u64 = 0x7FFF_E000;

    /// The prefix an SPX operand designates (bits outside [`Self::MASK`] are ignored).
    #[inline]
    pub const fn new(value: u64) -> Self {
        Self(value & Self::MASK)
    }

    /// The prefix value.
    #[inline]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Real to absolute: real 0-8191 become the prefix area, the prefix
    /// area becomes absolute 0-8191, everything else is unchanged.
    #[inline]
    pub const fn to_absolute(self, real: RealAddress) -> AbsoluteAddress {
        let r = real.value();
        AbsoluteAddress::new(if r < PREFIX_AREA {
            r + self.0
        } else if r & !(PREFIX_AREA - 1) == self.0 {
            r - self.0
        } else {
            r
        })
    }

    /// Absolute to real, the inverse of [`Self::to_absolute`] (prefixing is
    /// an involution on 8 KiB blocks).
    #[inline]
    pub const fn to_real(self, absolute: AbsoluteAddress) -> RealAddress {
        RealAddress::new(self.to_absolute(RealAddress::new(absolute.value())).value())
    }
}
