//! Control state that DAT depends on: CR0's controls, the installed
//! facilities, the three ASCE control registers and the prefix register.

use bitflags::bitflags;

use crate::asce::Asce;
use crate::prefix::Prefix;

bitflags! {
    /// Control register 0 bits that affect translation and protection
    /// (IBM bit numbers in the doc of each flag; mask = `1 << (63 - bit)`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Cr0: u64 {
        /// Bit 35: low-address protection.
        const LOW_ADDRESS_PROTECTION = 0x1000_0000;
        /// Bit 37: secondary-space control.
        const SECONDARY_SPACE = 0x0400_0000;
        /// Bit 38: fetch-protection override.
        const FETCH_PROTECTION_OVERRIDE = 0x0200_0000;
        /// Bit 39: storage-protection override.
        const STORAGE_PROTECTION_OVERRIDE = 0x0100_0000;
        /// Bit 40: enhanced-DAT enablement (EDAT-1, and EDAT-2 where installed).
        const EDAT = 0x0080_0000;
        /// Bit 43: instruction-execution-protection enablement.
        const IEP = 0x0010_0000;
        /// Every other bit is kept as loaded.
        const _ = !0;
    }
}

bitflags! {
    /// Installed facilities that change the outcome of a translation.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Facilities: u32 {
        /// Facility 8: enhanced DAT 1 (1 MiB frames, region protection).
        const EDAT1 = 1 << 0;
        /// Facility 78: enhanced DAT 2 (2 GiB frames, common regions); needs EDAT-1.
        const EDAT2 = 1 << 1;
        /// Facility 130: instruction-execution protection.
        const IEP = 1 << 2;
        /// Enhanced suppression on protection 1 (SCLP-indicated).
        const ESOP1 = 1 << 3;
        /// Facility 131: enhanced suppression on protection 2.
        const ESOP2 = 1 << 4;
        /// Low-address protection. The control (CR0 bit 35) exists on every
        /// z/Architecture machine; vector files list it as a facility.
        const LAP = 1 << 5;
    }
}

/// Everything besides the PSW that a translation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Controls {
    /// Control register 0.
    pub cr0: Cr0,
    /// Control register 1: the primary ASCE.
    pub cr1: Asce,
    /// Control register 7: the secondary ASCE.
    pub cr7: Asce,
    /// Control register 13: the home ASCE.
    pub cr13: Asce,
    /// The prefix register.
    pub prefix: Prefix,
    /// The installed facilities.
    pub facilities: Facilities,
}

impl Controls {
    /// EDAT-1 is in effect: CR0 bit 40 set and facility 8 installed.
    #[inline]
    pub fn edat1(&self) -> bool {
        self.cr0.contains(Cr0::EDAT) && self.facilities.contains(Facilities::EDAT1)
    }

    /// EDAT-2 is in effect: EDAT-1 in effect and facility 78 installed.
    #[inline]
    pub fn edat2(&self) -> bool {
        self.edat1() && self.facilities.contains(Facilities::EDAT2)
    }

    /// Instruction-execution protection is in effect: CR0 bit 43 and facility 130.
    #[inline]
    pub fn iep(&self) -> bool {
        self.cr0.contains(Cr0::IEP) && self.facilities.contains(Facilities::IEP)
    }

    /// The ASCE in the control register that `source` names.
    #[inline]
    pub fn asce(&self, source: AsceSource) -> Asce {
        match source {
            AsceSource::Primary => self.cr1,
            AsceSource::Secondary => self.cr7,
            AsceSource::Home => self.cr13,
        }
    }
}

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
    pub const fn asce_id(self, kind: crate::access::AccessKind) -> u64 {
        match (self, kind) {
            (Self::Home, _) => 3,
            (Self::Real | Self::Primary, _) | (_, crate::access::AccessKind::InstructionFetch) => 0,
            (Self::AccessRegister { .. }, _) => 1,
            (Self::Secondary, _) => 2,
        }
    }
}
