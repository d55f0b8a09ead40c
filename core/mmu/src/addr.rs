//! The three kinds of s390x address (PoP ch. 3, Address Types): *logical*
//! addresses are what a program names and DAT translates; *real* addresses
//! are what DAT produces and prefixing converts; *absolute* addresses name
//! main storage. Distinct types make mixing them a compile error.

use core::fmt;

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a 64-bit value.
            #[inline]
            pub const fn new(value: u64) -> Self {
                Self(value)
            }

            /// The 64-bit value.
            #[inline]
            pub const fn value(self) -> u64 {
                self.0
            }

            /// The address of the 4 KiB block that holds this address.
            #[inline]
            pub const fn page(self) -> Self {
                Self(self.0 & !crate::PAGE_MASK)
            }

            /// The byte offset inside the 4 KiB block.
            #[inline]
            pub const fn page_offset(self) -> u64 {
                self.0 & crate::PAGE_MASK
            }

            /// This address plus `offset`, wrapping at 2^64.
            #[inline]
            pub const fn wrapping_add(self, offset: u64) -> Self {
                Self(self.0.wrapping_add(offset))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

address_type!(
    /// A logical (effective) address: the input of DAT, already wrapped for
    /// the addressing mode.
    LogicalAddress
);
address_type!(
    /// A real address: the output of DAT (or a logical address with DAT
    /// off), before prefixing.
    RealAddress
);
address_type!(
    /// An absolute address: a location in main storage, after prefixing.
    AbsoluteAddress
);

/// The addressing mode, PSW bits 31-32 (EA, BA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressingMode {
    /// 24-bit: effective addresses wrap at 2^24.
    Bits24,
    /// 31-bit: effective addresses wrap at 2^31.
    Bits31,
    /// 64-bit: no truncation.
    Bits64,
}

impl AddressingMode {
    /// The mode for a bit count (24, 31 or 64).
    pub const fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            24 => Some(Self::Bits24),
            31 => Some(Self::Bits31),
            64 => Some(Self::Bits64),
            _ => None,
        }
    }

    /// The bit count of this mode.
    pub const fn bits(self) -> u32 {
        match self {
            Self::Bits24 => 24,
            Self::Bits31 => 31,
            Self::Bits64 => 64,
        }
    }

    /// The mask applied to effective addresses (PoP ch. 5, Address Generation).
    #[inline]
    pub const fn mask(self) -> u64 {
        match self {
            Self::Bits24 => 0xFF_FFFF,
            Self::Bits31 => 0x7FFF_FFFF,
            Self::Bits64 => u64::MAX,
        }
    }

    /// Effective-address generation (PoP ch. 5, Address Generation): the 64-bit
    /// sum is truncated to the mode's width, so it wraps.
    #[inline]
    pub const fn wrap(self, address: u64) -> u64 {
        address & self.mask()
    }
}
