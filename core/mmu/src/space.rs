//! Address spaces (PoP ch. 3, Address Spaces; ch. 4, the PSW
//! address-space control): the space an access is made in and the control
//! register its ASCE comes from. Depends only on [`crate::kind`].

use crate::kind::AccessKind;

/// The control register an ASCE is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsceSource {
    /// CR1.
    Primary,
    /// CR7.
    Secondary,
    /// CR13.
    Home,
}

/// The address space an access is made in: DAT off (`Real`), or one of the
/// PSW address-space-control modes (PSW bits 16-17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressSpace {
    /// DAT off: the logical address is the real address.
    Real,
    /// Primary-space mode (AS = 00).
    Primary,
    /// Access-register mode (AS = 01) with the ALET of the access register
    /// that the operand's base register names (AR 0 always means ALET 0).
    AccessRegister {
        /// The access-list-entry token.
        alet: u32,
        /// The access-register number, stored at real 0xA0 on a fault.
        ar: u8,
    },
    /// Secondary-space mode (AS = 10).
    Secondary,
    /// Home-space mode (AS = 11).
    Home,
}

impl AddressSpace {
    /// The ASCE identification a TEID reports (bits 62-63) for an access of
    /// `kind` in this space: 00 primary, 01 access-register specified, 10
    /// secondary, 11 home, naming the ASCE the translation used. An
    /// instruction fetch uses CR1 except in home mode, so in secondary and
    /// access-register mode it reports 00 (QEMU 7.2 and Hercules agree; see
    /// docs/CHOICES.md). With DAT off no ASCE is used and 00 is reported.
    pub const fn asce_id(self, kind: AccessKind) -> u64 {
        match (self, kind) {
            (Self::Home, _) => 3,
            (Self::Real | Self::Primary, _) | (_, AccessKind::InstructionFetch) => 0,
            (Self::AccessRegister { .. }, _) => 1,
            (Self::Secondary, _) => 2,
        }
    }
}
