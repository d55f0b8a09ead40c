//! One storage access, checked as the architecture orders it (PoP ch. 6,
//! priority of access exceptions; ch. 3, Translation Process): low-address
//! protection, ASCE selection, the DAT walk, DAT protection and IEP,
//! prefixing, the addressing check, key-controlled protection, then
//! reference and change recording.

use crate::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use crate::asce::Asce;
use crate::control::Controls;
use crate::exception::{Exception, ProtectionKind, Teid};
use crate::keys::{KeyControls, StorageKey};
/// Re-exported at its old path; defined in the leaf module [`crate::kind`].
pub use crate::kind::AccessKind;
use crate::lap;
use crate::space::{AddressSpace, AsceSource};
use crate::storage::Storage;
use crate::walk::{self, FaultReason, Frame, FrameSize, TablePath, Walk, WalkControls, WalkFault};

/// Why an access cannot be performed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The architecture raises this program interruption.
    Program(Exception),
    /// Access-register mode with an ALET other than 0 or 1: access-register
    /// translation through the access list is not implemented, and zmmu
    /// never guesses a translation.
    ArtUnsupported {
        /// The ALET that would need access-register translation.
        alet: u32,
    },
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Program(exception) => write!(f, "{exception}"),
            Self::ArtUnsupported { alet } => write!(
                f,
                "access-register translation (ALET {alet:#x}) is not implemented"
            ),
        }
    }
}

impl core::error::Error for Fault {}

impl From<Exception> for Fault {
    fn from(exception: Exception) -> Self {
        Fault::Program(exception)
    }
}

/// The ASCE an access uses, or `None` with DAT off (PoP ch. 3, Address
/// Spaces: the ASCE each translation mode uses):
/// instruction fetches use CR1 except in home mode; operand accesses use the
/// space's own control register, and in access-register mode ALET 0 means
/// primary and ALET 1 secondary.
pub fn asce_source(space: AddressSpace, kind: AccessKind) -> Result<Option<AsceSource>, Fault> {
    Ok(Some(match (space, kind) {
        (AddressSpace::Real, _) => return Ok(None),
        (AddressSpace::Home, _) => AsceSource::Home,
        (_, AccessKind::InstructionFetch) | (AddressSpace::Primary, _) => AsceSource::Primary,
        (AddressSpace::Secondary, _) => AsceSource::Secondary,
        (AddressSpace::AccessRegister { alet: 0, .. }, _) => AsceSource::Primary,
        (AddressSpace::AccessRegister { alet: 1, .. }, _) => AsceSource::Secondary,
        (AddressSpace::AccessRegister { alet, .. }, _) => {
            return Err(Fault::ArtUnsupported { alet })
        }
    }))
}

/// A permitted access: where it goes and what was decided on the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// The logical address accessed.
    pub address: LogicalAddress,
    /// The real address of the byte.
    pub real: RealAddress,
    /// The absolute address of the byte.
    pub absolute: AbsoluteAddress,
    /// The size of the frame the translation ended in (4 KiB with DAT off).
    pub size: FrameSize,
    /// The ASCE used, `None` with DAT off.
    pub asce: Option<Asce>,
    /// DAT protection of the page or frame.
    pub dat_protected: bool,
    /// IEP of the leaf entry, with IEP in effect.
    pub iep: bool,
    /// The frame's storage key before the access recorded R and C.
    pub key: StorageKey,
    /// The table entries the walk used.
    pub path: TablePath,
}

/// An access request: where, in which space, of which kind, with which key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// The logical address, already wrapped for the addressing mode.
    pub address: LogicalAddress,
    /// The address space (`AddressSpace::Real` with DAT off).
    pub space: AddressSpace,
    /// The kind of access.
    pub kind: AccessKind,
    /// The access key (the PSW key, or one an instruction supplies).
    pub key: u8,
}

/// Checks an access without performing it or recording R and C.
pub fn check<S: Storage + ?Sized>(
    storage: &S,
    controls: &Controls,
    request: Request,
) -> Result<Access, Fault> {
    let Request {
        address,
        space,
        kind,
        key: access_key,
    } = request;
    let source = asce_source(space, kind)?;
    let asce = source.map(|source| controls.asce(source));
    let teid = Teid::for_access(address, kind, space);
    let protection = |kind| Exception::protection(kind, teid, space, controls.facilities);

    if kind == AccessKind::Write
        && lap::refuses_store(controls, asce.map(Asce::private), address.value())
    {
        return Err(protection(ProtectionKind::LowAddress).into());
    }

    let walk = match asce {
        None => Walk {
            frame: Frame::Real(RealAddress::new(address.value()).page()),
            size: FrameSize::Page4K,
            protected: false,
            iep: false,
            path: TablePath::default(),
        },
        Some(asce) => walk::walk(storage, asce, address.value(), WalkControls::from(controls))
            .map_err(|fault| translation_exception(fault, teid, space))?,
    };
    if kind == AccessKind::Write && walk.protected {
        return Err(protection(ProtectionKind::Dat).into());
    }
    if kind == AccessKind::InstructionFetch && walk.iep {
        return Err(protection(ProtectionKind::Iep).into());
    }

    let real = walk.real(address.value());
    let absolute = walk.absolute(address.value(), controls.prefix);
    let frame_key = storage.key(absolute).ok_or(Exception::addressing())?;
    let keys = KeyControls::new(controls.cr0, asce.is_some_and(Asce::private));
    if !keys.permitted(kind, access_key, frame_key, address.value()) {
        return Err(protection(ProtectionKind::Key).into());
    }
    Ok(Access {
        address,
        real,
        absolute,
        size: walk.size,
        asce,
        dat_protected: walk.protected,
        iep: walk.iep,
        key: frame_key,
        path: walk.path,
    })
}

/// Performs the checks of an access and records it: R for every access, C
/// for a store (PoP ch. 3, Reference Recording, Change Recording).
pub fn access<S: Storage + ?Sized>(
    storage: &mut S,
    controls: &Controls,
    request: Request,
) -> Result<Access, Fault> {
    let access = check(storage, controls, request)?;
    record(storage, access.absolute, access.key, request.kind);
    Ok(access)
}

/// Records R (and C for a store) in the key of the frame at `absolute`,
/// whose key was `key`.
#[inline]
pub fn record<S: Storage + ?Sized>(
    storage: &mut S,
    absolute: AbsoluteAddress,
    key: StorageKey,
    kind: AccessKind,
) {
    if key.recorded(kind) != key {
        // The frame exists: its key was just read. Another CPU may have
        // changed the key since: record into the key as it is now.
        let _ = storage.update_key(absolute, &mut |now| now.recorded(kind));
    }
}

/// The program interruption for a failed walk. Translation exceptions carry
/// the TEID of the access; addressing and translation specification store
/// none that is predictable.
pub fn translation_exception(fault: WalkFault, teid: Teid, space: AddressSpace) -> Exception {
    match fault.reason {
        FaultReason::Addressing => Exception::addressing(),
        FaultReason::Specification => Exception::translation_specification(),
        FaultReason::AsceType | FaultReason::Length | FaultReason::Invalid => {
            Exception::translation(fault.code(), teid, space)
        }
    }
}

/// What a cached translation of a whole 4 KiB page may allow without
/// consulting the tables again: each is true only if *every* byte of the
/// page is accessible that way (sub-page rules such as low-address
/// protection or the fetch-protection override make a page take the slow
/// path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PagePermissions {
    /// Operand fetches.
    pub read: bool,
    /// Operand stores. Also requires the frame's C bit to be one already, so
    /// that no store can go unrecorded.
    pub write: bool,
    /// Instruction fetches.
    pub fetch: bool,
}

impl PagePermissions {
    /// The permissions of the page holding a permitted `access` made with
    /// `access_key` in `space`, with the frame's key as it is *after* the
    /// access was recorded.
    pub fn of(controls: &Controls, access: &Access, access_key: u8, key_now: StorageKey) -> Self {
        let private = access.asce.map(Asce::private);
        let keys = KeyControls::new(controls.cr0, private == Some(true));
        // The fetch-protection override covers only addresses 0-2047, never a whole page.
        let fetch_ok = keys.store_permitted(access_key, key_now) || !key_now.fetch_protected();
        let low_page =
            lap::active(controls, private) && lap::is_low_address(access.address.page().value());
        Self {
            read: fetch_ok,
            write: keys.store_permitted(access_key, key_now)
                && !access.dat_protected
                && !low_page
                && key_now.changed(),
            fetch: fetch_ok && !access.iep,
        }
    }
}
