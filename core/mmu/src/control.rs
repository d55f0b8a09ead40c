//! Control state that DAT depends on: CR0's controls, the installed
//! facilities, the three ASCE control registers and the prefix register
//! (PoP ch. 4, Control Registers; ch. 3, Translation Control).

use bitflags::bitflags;

use crate::asce::Asce;
use crate::prefix::Prefix;
/// Re-exported at their old path; defined in the leaf module [`crate::space`].
pub use crate::space::{AddressSpace, AsceSource};

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

impl Cr0 {
    /// The CR0 bits that DAT, the protection rules and the secondary-space
    /// control read (bits 35, 37, 38, 39, 40 and 43; PoP ch. 3, Translation
    /// Control, and ch. 4, Control Registers). The other bits (interruption
    /// subclass masks and the like) never change a translation: a cache of
    /// translations compares CR0 under this mask, and
    /// [`Controls::from_registers`] keeps only these.
    pub const TRANSLATION_BITS: Cr0 = Cr0::LOW_ADDRESS_PROTECTION
        .union(Cr0::SECONDARY_SPACE)
        .union(Cr0::FETCH_PROTECTION_OVERRIDE)
        .union(Cr0::STORAGE_PROTECTION_OVERRIDE)
        .union(Cr0::EDAT)
        .union(Cr0::IEP);
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
    /// The controls that the 16 control registers `cr` define (CR0 masked
    /// with [`Cr0::TRANSLATION_BITS`], the ASCEs from CR1, CR7 and CR13),
    /// with the prefix register and the installed facilities.
    pub const fn from_registers(cr: &[u64; 16], prefix: Prefix, facilities: Facilities) -> Self {
        Self {
            cr0: Cr0::from_bits_retain(cr[0]).intersection(Cr0::TRANSLATION_BITS),
            cr1: Asce::new(cr[1]),
            cr7: Asce::new(cr[7]),
            cr13: Asce::new(cr[13]),
            prefix,
            facilities,
        }
    }

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
