//! Program interruptions that translation and protection raise, with the
//! translation-exception identification (TEID) stored at real 0xA8 (PoP
//! ch. 6, Program Interruption: Translation-Exception Identification).

use crate::addr::LogicalAddress;
use crate::asce::Level;
use crate::control::Facilities;
use crate::kind::AccessKind;
use crate::space::AddressSpace;

/// A program-interruption code (the 16-bit value stored at real 0x8E).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Code(pub u16);

impl Code {
    /// 0x0001 operation.
    pub const OPERATION: Code = Code(0x01);
    /// 0x0002 privileged operation.
    pub const PRIVILEGED_OPERATION: Code = Code(0x02);
    /// 0x0003 execute.
    pub const EXECUTE: Code = Code(0x03);
    /// 0x0004 protection.
    pub const PROTECTION: Code = Code(0x04);
    /// 0x0005 addressing.
    pub const ADDRESSING: Code = Code(0x05);
    /// 0x0006 specification.
    pub const SPECIFICATION: Code = Code(0x06);
    /// 0x0007 data.
    pub const DATA: Code = Code(0x07);
    /// 0x0008 fixed-point overflow.
    pub const FIXED_POINT_OVERFLOW: Code = Code(0x08);
    /// 0x0009 fixed-point divide.
    pub const FIXED_POINT_DIVIDE: Code = Code(0x09);
    /// 0x0010 segment translation.
    pub const SEGMENT_TRANSLATION: Code = Code(0x10);
    /// 0x0011 page translation.
    pub const PAGE_TRANSLATION: Code = Code(0x11);
    /// 0x0012 translation specification.
    pub const TRANSLATION_SPECIFICATION: Code = Code(0x12);
    /// 0x0013 special operation.
    pub const SPECIAL_OPERATION: Code = Code(0x13);
    /// Monitor event (MONITOR CALL with its class enabled in CR8).
    pub const MONITOR_EVENT: Code = Code(0x40);
    /// 0x0038 ASCE type.
    pub const ASCE_TYPE: Code = Code(0x38);
    /// 0x0039 region-first translation.
    pub const REGION_FIRST_TRANSLATION: Code = Code(0x39);
    /// 0x003A region-second translation.
    pub const REGION_SECOND_TRANSLATION: Code = Code(0x3A);
    /// 0x003B region-third translation.
    pub const REGION_THIRD_TRANSLATION: Code = Code(0x3B);

    /// The translation exception of a level: invalid entry, or an index
    /// outside the table's offset and length, at that level.
    pub const fn translation(level: Level) -> Code {
        match level {
            Level::RegionFirst => Self::REGION_FIRST_TRANSLATION,
            Level::RegionSecond => Self::REGION_SECOND_TRANSLATION,
            Level::RegionThird => Self::REGION_THIRD_TRANSLATION,
            Level::Segment => Self::SEGMENT_TRANSLATION,
            Level::Page => Self::PAGE_TRANSLATION,
        }
    }

    /// How the exception ends the instruction (PoP ch. 5, Types of Instruction Ending): the
    /// translation exceptions (0x10, 0x11, 0x38-0x3B) nullify, fixed-point
    /// overflow completes, all others suppress or terminate. Bit 8 of the
    /// code (a concurrent PER event) does not change the ending.
    pub const fn ending(self) -> Ending {
        match self.0 & 0x7F {
            0x10 | 0x11 | 0x38..=0x3B => Ending::Nullify,
            0x08 => Ending::Complete,
            _ => Ending::Suppress,
        }
    }

    /// The exception nullifies the instruction (the old PSW points at it)
    /// rather than suppressing or terminating it: the translation exceptions.
    pub const fn nullifies(self) -> bool {
        matches!(self.ending(), Ending::Nullify)
    }
}

/// How an exception ends the instruction, which decides where the old PSW
/// points (PoP ch. 5, Types of Instruction Ending).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ending {
    /// The instruction is nullified: the old PSW points at it.
    Nullify,
    /// Suppressed or terminated: the old PSW points at the next instruction.
    Suppress,
    /// Completed (e.g. fixed-point overflow): results are stored, the old PSW
    /// points at the next instruction.
    Complete,
}

impl Code {
    /// The exception's name as the PoP gives it (without "exception"), for
    /// the codes zmmu raises; `None` for others. A concurrent PER event
    /// (bit 8, 0x80) does not change the name.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 & !0x80 {
            0x01 => "operation",
            0x02 => "privileged-operation",
            0x03 => "execute",
            0x04 => "protection",
            0x05 => "addressing",
            0x06 => "specification",
            0x07 => "data",
            0x08 => "fixed-point-overflow",
            0x09 => "fixed-point-divide",
            0x10 => "segment-translation",
            0x11 => "page-translation",
            0x12 => "translation-specification",
            0x13 => "special-operation",
            0x40 => "monitor-event",
            0x38 => "ASCE-type",
            0x39 => "region-first-translation",
            0x3A => "region-second-translation",
            0x3B => "region-third-translation",
            _ => return None,
        })
    }
}

impl core::fmt::Debug for Code {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Code({:#06x})", self.0)
    }
}

/// `page-translation exception (code 0x0011)`.
impl core::fmt::Display for Code {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} exception (code {:#06x})", self.0),
            None => write!(f, "program interruption code {:#06x}", self.0),
        }
    }
}

/// Which rule refused an access with a protection exception; with ESOP-2
/// the TEID says which (PoP ch. 3, Suppression on Protection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtectionKind {
    /// A store to a page or large frame with DAT protection.
    Dat,
    /// Key-controlled protection.
    Key,
    /// Low-address protection.
    LowAddress,
    /// Instruction fetch from an IEP-protected page.
    Iep,
}

impl ProtectionKind {
    /// The ESOP-2 protection code bits (TEID bits 56, 60, 61).
    const fn esop2_code(self) -> u64 {
        match self {
            Self::Dat => 0x04,
            Self::Key => 0x08,
            Self::LowAddress => 0x80,
            Self::Iep => 0x84,
        }
    }
}

/// A translation-exception identification (the doubleword at real 0xA8).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Teid(pub u64);

impl Teid {
    /// Fetch indication (bits 52-53 = 10).
    pub const FETCH: u64 = 0x800;
    /// Store indication (bits 52-53 = 01).
    pub const STORE: u64 = 0x400;

    /// The TEID for an access: the failing page address (bits 0-51), the
    /// fetch/store indication (bits 52-53; an instruction fetch reports
    /// fetch) and the ASCE identification (bits 62-63), which names the ASCE
    /// the translation *used* ([`AddressSpace::asce_id`]: an instruction fetch in
    /// secondary-space mode reports primary). The fetch/store indication
    /// assumes facility 75, as QEMU and current machines do.
    pub const fn for_access(
        address: LogicalAddress,
        kind: AccessKind,
        space: AddressSpace,
    ) -> Teid {
        let fs = match kind {
            AccessKind::Write => Self::STORE,
            AccessKind::Read | AccessKind::InstructionFetch => Self::FETCH,
        };
        Teid(address.page().value() | fs | space.asce_id(kind))
    }

    /// The TEID for a translation that neither fetches nor stores the
    /// operand (STORE REAL ADDRESS): the fetch/store indication is 00, as
    /// Hercules stores it (recorded in `conformance/vectors`, format 2).
    pub const fn for_translation(address: LogicalAddress, space: AddressSpace) -> Teid {
        let with_fs = Self::for_access(address, AccessKind::Read, space);
        Teid(with_fs.0 & !(Self::FETCH | Self::STORE))
    }
}

impl core::fmt::Debug for Teid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Teid({:#x})", self.0)
    }
}

/// A program exception, whoever raises it (an access, or an instruction):
/// its interruption code and the data the interruption stores with it
/// (PoP ch. 6, Program Interruption): the TEID where the architecture stores a
/// predictable one (real 0xA8), the exception access id (the AR number,
/// real 0xA0, in access-register mode) and the data-exception code (real
/// 0x93, for [`Code::DATA`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Exception {
    /// The interruption code.
    pub code: Code,
    /// The TEID, `None` where none is stored or its contents are
    /// unpredictable (addressing, translation specification, and
    /// protection cases without ESOP).
    pub teid: Option<Teid>,
    /// The exception access id for access-register mode.
    pub access_id: Option<u8>,
    /// The data-exception code, zero unless the code is [`Code::DATA`].
    pub dxc: u8,
}

/// The code, then what is stored with it: `page-translation exception (code
/// 0x0011), TEID 0x5800`.
impl core::fmt::Display for Exception {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(teid) = self.teid {
            write!(f, ", TEID {:#x}", teid.0)?;
        }
        if let Some(ar) = self.access_id {
            write!(f, ", exception access id {ar}")?;
        }
        if self.code == Code::DATA {
            write!(f, ", DXC {:#04x}", self.dxc)?;
        }
        Ok(())
    }
}

impl core::error::Error for Exception {}

impl From<Code> for Exception {
    fn from(code: Code) -> Self {
        Self::new(code)
    }
}

impl Exception {
    /// An exception with nothing stored beyond its code.
    pub const fn new(code: Code) -> Self {
        Self {
            code,
            teid: None,
            access_id: None,
            dxc: 0,
        }
    }

    /// A data exception with data-exception code `dxc` (1: AFP register,
    /// 0xFF: compare and trap).
    pub const fn data(dxc: u8) -> Self {
        Self {
            dxc,
            ..Self::new(Code::DATA)
        }
    }

    /// An addressing exception (no TEID is stored).
    pub const fn addressing() -> Self {
        Self::new(Code::ADDRESSING)
    }

    /// A translation-specification exception (TEID unpredictable).
    pub const fn translation_specification() -> Self {
        Self::new(Code::TRANSLATION_SPECIFICATION)
    }

    /// A translation exception (0x10, 0x11, 0x38-0x3B) with its TEID.
    pub const fn translation(code: Code, teid: Teid, space: AddressSpace) -> Self {
        Self {
            code,
            teid: Some(teid),
            access_id: access_id(space),
            dxc: 0,
        }
    }

    /// A protection exception of `kind`, with the TEID the installed
    /// suppression-on-protection facilities define (PoP ch. 3, Suppression
    /// on Protection): with
    /// ESOP-2 every kind is identified; with ESOP-1 only DAT protection
    /// (bit 61), the others leaving the TEID unpredictable; without ESOP
    /// nothing is predictable.
    pub fn protection(
        kind: ProtectionKind,
        teid: Teid,
        space: AddressSpace,
        facilities: Facilities,
    ) -> Self {
        let teid = if facilities.contains(Facilities::ESOP2) || kind == ProtectionKind::Iep {
            Some(Teid(teid.0 | kind.esop2_code()))
        } else if facilities.contains(Facilities::ESOP1) && kind == ProtectionKind::Dat {
            Some(Teid(teid.0 | ProtectionKind::Dat.esop2_code()))
        } else {
            None
        };
        Self {
            code: Code::PROTECTION,
            teid,
            access_id: access_id(space),
            dxc: 0,
        }
    }
}

const fn access_id(space: AddressSpace) -> Option<u8> {
    match space {
        AddressSpace::AccessRegister { ar, .. } => Some(ar),
        _ => None,
    }
}
