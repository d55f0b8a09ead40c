//! A scenario's machine state in zmmu-mmu's terms: absolute storage with its
//! keys, the control state, and the names of spaces and access kinds.

use zmmu_mmu::access::AccessKind;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::asce::Asce;
use zmmu_mmu::control::{AddressSpace, Controls, Cr0, Facilities};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::storage::{OwnedStorage, Storage};

use crate::steps::Scenario;
use crate::vector::{self, Facility};

/// The largest storage a scenario may ask for (vector files are untrusted:
/// a huge `storage_size` must not exhaust memory).
pub const MAX_STORAGE: u64 = 1 << 32;

/// Why a scenario cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// `storage_size` is above [`MAX_STORAGE`].
    StorageTooLarge(u64),
    /// A `mem` block (index) lies outside storage.
    MemOutsideStorage(usize),
    /// A `keys` entry (index) names a frame outside storage or a key above 0xFF.
    KeyOutsideStorage(usize),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StorageTooLarge(size) => write!(
                f,
                "storage_size {size:#x} is above the limit {MAX_STORAGE:#x}"
            ),
            Self::MemOutsideStorage(i) => write!(f, "mem[{i}] lies outside storage"),
            Self::KeyOutsideStorage(i) => write!(
                f,
                "keys[{i}] names a frame outside storage or a key above 0xff"
            ),
        }
    }
}

/// Absolute storage with the scenario's contents and keys.
pub fn storage(scenario: &Scenario) -> Result<OwnedStorage, SetupError> {
    if scenario.storage_size > MAX_STORAGE {
        return Err(SetupError::StorageTooLarge(scenario.storage_size));
    }
    let mut storage = OwnedStorage::new(scenario.storage_size as usize);
    for (i, (address, bytes)) in scenario.mem.iter().enumerate() {
        storage
            .write(AbsoluteAddress::new(*address), bytes)
            .ok_or(SetupError::MemOutsideStorage(i))?;
    }
    for (i, (address, key)) in scenario.keys.iter().enumerate() {
        let key = u8::try_from(*key).map_err(|_| SetupError::KeyOutsideStorage(i))?;
        storage
            .set_key(AbsoluteAddress::new(*address), StorageKey::new(key))
            .ok_or(SetupError::KeyOutsideStorage(i))?;
    }
    Ok(storage)
}

/// The control state: CR0, the three ASCEs, the prefix and the facilities.
pub fn controls(scenario: &Scenario) -> Controls {
    let facilities = scenario
        .facilities
        .iter()
        .fold(Facilities::empty(), |all, f| {
            all | match f {
                Facility::Edat1 => Facilities::EDAT1,
                Facility::Edat2 => Facilities::EDAT2,
                Facility::Iep => Facilities::IEP,
                Facility::Esop1 => Facilities::ESOP1,
                Facility::Esop2 => Facilities::ESOP2,
                Facility::Lap => Facilities::LAP,
            }
        });
    Controls {
        cr0: Cr0::from_bits_retain(scenario.cr0),
        cr1: Asce::new(scenario.cr1),
        cr7: Asce::new(scenario.cr7),
        cr13: Asce::new(scenario.cr13),
        prefix: Prefix::new(scenario.prefix),
        facilities,
    }
}

/// The space of a probe in zmmu-mmu's terms.
pub fn space(space: vector::ProbeSpace) -> AddressSpace {
    match space {
        vector::ProbeSpace::Primary => AddressSpace::Primary,
        vector::ProbeSpace::Secondary => AddressSpace::Secondary,
        vector::ProbeSpace::Home => AddressSpace::Home,
        vector::ProbeSpace::Real => AddressSpace::Real,
    }
}

/// The access kind of a probe in zmmu-mmu's terms.
pub fn kind(access: vector::ProbeKind) -> AccessKind {
    match access {
        vector::ProbeKind::InstructionFetch => AccessKind::InstructionFetch,
        vector::ProbeKind::Read => AccessKind::Read,
        vector::ProbeKind::Write => AccessKind::Write,
    }
}
