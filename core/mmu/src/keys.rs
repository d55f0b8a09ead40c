//! Storage keys and key-controlled protection (PoP ch. 3, Storage Key,
//! Key-Controlled Protection, Reference Recording, Change Recording).

use crate::control::Cr0;
use crate::kind::AccessKind;

/// A storage key as ISKE returns it in bits 56-63: ACC (4 bits), F, R, C.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct StorageKey(u8);

impl StorageKey {
    /// Fetch-protection bit.
    pub const F: u8 = 0x08;
    /// Reference bit.
    pub const R: u8 = 0x04;
    /// Change bit.
    pub const C: u8 = 0x02;

    /// A key from its ISKE byte (bit 63, which ISKE returns as zero, is dropped).
    #[inline]
    pub const fn new(byte: u8) -> Self {
        Self(byte & 0xFE)
    }

    /// The ISKE byte.
    #[inline]
    pub const fn value(self) -> u8 {
        self.0
    }

    /// The access-control bits.
    #[inline]
    pub const fn acc(self) -> u8 {
        self.0 >> 4
    }

    /// F: fetch protection.
    #[inline]
    pub const fn fetch_protected(self) -> bool {
        self.0 & Self::F != 0
    }

    /// R: referenced.
    #[inline]
    pub const fn referenced(self) -> bool {
        self.0 & Self::R != 0
    }

    /// C: changed.
    #[inline]
    pub const fn changed(self) -> bool {
        self.0 & Self::C != 0
    }

    /// The key after an access of `kind`: R is set by every access, C by a
    /// store (PoP ch. 3, Reference Recording, Change Recording).
    #[inline]
    pub const fn recorded(self, kind: AccessKind) -> Self {
        let rc = match kind {
            AccessKind::Write => Self::R | Self::C,
            AccessKind::Read | AccessKind::InstructionFetch => Self::R,
        };
        Self(self.0 | rc)
    }
}

/// The facts key-controlled protection depends on besides the two keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyControls {
    /// CR0 bit 39: storage-protection override (ACC 9 permits any key).
    pub storage_override: bool,
    /// CR0 bit 38 with the space not private (or DAT off): fetch-protection
    /// override for effective addresses 0-2047.
    pub fetch_override: bool,
}

impl KeyControls {
    /// The overrides in effect for CR0 and the privacy of the space in use
    /// (`private` is false with DAT off).
    #[inline]
    pub fn new(cr0: Cr0, private: bool) -> Self {
        Self {
            storage_override: cr0.contains(Cr0::STORAGE_PROTECTION_OVERRIDE),
            fetch_override: cr0.contains(Cr0::FETCH_PROTECTION_OVERRIDE) && !private,
        }
    }

    /// Key-controlled protection permits a store with access key
    /// `access_key` to a frame with `key`: the access key is zero or equals
    /// ACC, or the storage-protection override is on and ACC is 9.
    #[inline]
    pub fn store_permitted(self, access_key: u8, key: StorageKey) -> bool {
        access_key == 0 || access_key == key.acc() || (self.storage_override && key.acc() == 9)
    }

    /// Key-controlled protection permits a fetch (operand or instruction) at
    /// effective address `address`: a store would be permitted, or F is
    /// zero, or the fetch-protection override covers addresses 0-2047.
    #[inline]
    pub fn fetch_permitted(self, access_key: u8, key: StorageKey, address: u64) -> bool {
        self.store_permitted(access_key, key)
            || !key.fetch_protected()
            || (self.fetch_override && address <= 2047)
    }

    /// Key-controlled protection permits an access of `kind`.
    #[inline]
    pub fn permitted(
        self,
        kind: AccessKind,
        access_key: u8,
        key: StorageKey,
        address: u64,
    ) -> bool {
        match kind {
            AccessKind::Write => self.store_permitted(access_key, key),
            AccessKind::Read | AccessKind::InstructionFetch => {
                self.fetch_permitted(access_key, key, address)
            }
        }
    }
}
