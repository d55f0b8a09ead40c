//! The instructions that expose translation to a program (PoP ch. 10, Control Instructions):
//! LOAD REAL ADDRESS (LRA, LRAY, LRAG), STORE REAL ADDRESS (STRAG), TEST
//! PROTECTION (TPROT) and LOAD PAGE-TABLE-ENTRY ADDRESS (LPTEA).
//!
//! All of them translate with the given space regardless of the PSW DAT bit.

use crate::access::{self, Fault, Request};
use crate::addr::{LogicalAddress, RealAddress};
use crate::asce::{Asce, Level};
use crate::control::Controls;
use crate::exception::{Code, Exception, Teid};
use crate::kind::AccessKind;
use crate::space::{AddressSpace, AsceSource};
use crate::storage::Storage;
use crate::walk::{self, FaultReason, PageTableStep, WalkControls, WalkFault};

/// A condition code with the value an instruction loads into R1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CcResult {
    /// The condition code (0-3).
    pub cc: u8,
    /// The value for R1 (for a 24/31-bit LRA, only bits 32-63 are loaded).
    pub r1: u64,
}

impl CcResult {
    /// R1 after LOAD REAL ADDRESS, given its value `before`: the 64-bit
    /// forms (`wide`) replace all 64 bits for cc 0, 1 and 2 but only bits
    /// 32-63 for cc 3; the 24/31-bit forms always replace only bits 32-63.
    /// Bits not replaced remain unchanged (Hercules, and the recorded
    /// Hercules vectors).
    pub const fn lra_register(self, before: u64, wide: bool) -> u64 {
        if wide && self.cc != 3 {
            self.r1
        } else {
            (before & 0xFFFF_FFFF_0000_0000) | (self.r1 & 0xFFFF_FFFF)
        }
    }
}

/// Bit 32 of R1, set with an exception code when LRA answers cc 3.
const LRA_EXCEPTION_FLAG: u64 = 0x8000_0000;

/// The ASCE a translation instruction uses for `space`, or the typed refusal
/// for access-register translation it does not implement. `AddressSpace::Real` is
/// treated as primary: these instructions translate even with DAT off.
fn asce_for(controls: &Controls, space: AddressSpace) -> Result<Asce, Fault> {
    let source = access::asce_source(space, AccessKind::Read)?;
    Ok(controls.asce(source.unwrap_or(AsceSource::Primary)))
}

/// LOAD REAL ADDRESS. `wide` is true for LRAG and for LRA/LRAY in 64-bit
/// mode, where R1 receives 64 bits.
///
/// - cc 0: translation available, R1 = the real address; for a 24/31-bit
///   form a real address above 2 GiB is a special-operation exception.
/// - cc 1: the segment-table entry is invalid, R1 = its address.
/// - cc 2: the page-table entry is invalid, R1 = its address.
/// - cc 3: ASCE-type or region translation (length or invalid): R1 bit 32
///   set and the code in bits 48-63;
/// - cc 3 for a segment-table length violation, with R1 = the address the
///   segment-table entry would have had (as Hercules does; see
///   `docs/CHOICES.md`).
///
/// In the 24/31-bit forms, an entry address above 2 GiB in cc 1 or 2
/// becomes cc 3 with bit 32 plus the code; the segment-length cc 3 does so
/// in every form (only bits 32-63 of R1 are loaded for cc 3).
///
/// Addressing and translation-specification exceptions interrupt; no
/// protection is checked.
pub fn lra<S: Storage + ?Sized>(
    storage: &S,
    controls: &Controls,
    space: AddressSpace,
    address: LogicalAddress,
    wide: bool,
) -> Result<CcResult, Fault> {
    let asce = asce_for(controls, space)?;
    let teid = Teid::for_access(address, AccessKind::Read, space);
    match walk::walk(storage, asce, address.value(), WalkControls::from(controls)) {
        Ok(walk) => {
            let real = walk.real(address.value()).value();
            if !wide && real > 0x7FFF_FFFF {
                return Err(Exception::new(Code::SPECIAL_OPERATION).into());
            }
            Ok(CcResult { cc: 0, r1: real })
        }
        Err(fault) => lra_fault(fault, wide)
            .ok_or_else(|| access::translation_exception(fault, teid, space).into()),
    }
}

/// The cc 1-3 answer of LRA for a walk fault, or `None` where the fault
/// interrupts (addressing, translation specification).
fn lra_fault(fault: WalkFault, wide: bool) -> Option<CcResult> {
    let code = u64::from(fault.code().0);
    let flagged = CcResult {
        cc: 3,
        r1: LRA_EXCEPTION_FLAG | code,
    };
    let narrow_ok = |r1: u64| wide || r1 <= 0x7FFF_FFFF;
    match (fault.reason, fault.level) {
        (FaultReason::Addressing | FaultReason::Specification, _) => None,
        (FaultReason::Invalid, Level::Segment | Level::Page) => {
            let cc = if fault.level == Level::Segment { 1 } else { 2 };
            Some(match fault.entry.map(|e| e.value()) {
                Some(r1) if narrow_ok(r1) => CcResult { cc, r1 },
                _ => flagged,
            })
        }
        // Segment-table length violation: the address the entry would have
        // had, with cc 3, in bits 32-63 only, so an address above 2 GiB
        // gives bit 32 and the code in every form (Hercules; see
        // docs/CHOICES.md).
        (FaultReason::Length, Level::Segment) => Some(match fault.entry.map(|e| e.value()) {
            Some(r1) if r1 <= 0x7FFF_FFFF => CcResult { cc: 3, r1 },
            _ => flagged,
        }),
        _ => Some(flagged),
    }
}

/// STORE REAL ADDRESS: the 64-bit real address of `address` in `space`.
/// Translation exceptions interrupt, with a TEID whose fetch/store
/// indication is 00 (the operand is not accessed); no protection is checked.
pub fn strag<S: Storage + ?Sized>(
    storage: &S,
    controls: &Controls,
    space: AddressSpace,
    address: LogicalAddress,
) -> Result<RealAddress, Fault> {
    let asce = asce_for(controls, space)?;
    let teid = Teid::for_translation(address, space);
    walk::walk(storage, asce, address.value(), WalkControls::from(controls))
        .map(|walk| walk.real(address.value()))
        .map_err(|fault| access::translation_exception(fault, teid, space).into())
}

/// TEST PROTECTION with access key `key` (PoP ch. 10, TEST PROTECTION):
/// - cc 0: fetch and store permitted;
/// - cc 1: fetch permitted, store not (key, DAT protection or low-address
///   protection);
/// - cc 2: neither (fetch protection);
/// - cc 3: translation not available.
///
/// Addressing and translation-specification exceptions interrupt. IEP is
/// not considered and no reference or change bit is set.
pub fn tprot<S: Storage + ?Sized>(
    storage: &S,
    controls: &Controls,
    space: AddressSpace,
    address: LogicalAddress,
    key: u8,
) -> Result<u8, Fault> {
    let request = |kind| Request {
        address,
        space,
        kind,
        key,
    };
    match access::check(storage, controls, request(AccessKind::Read)) {
        Ok(_) => {}
        Err(Fault::Program(e)) if e.code == Code::PROTECTION => return Ok(2),
        Err(Fault::Program(e)) if is_translation(e.code) => return Ok(3),
        Err(other) => return Err(other),
    }
    match access::check(storage, controls, request(AccessKind::Write)) {
        Ok(_) => Ok(0),
        Err(Fault::Program(e)) if e.code == Code::PROTECTION => Ok(1),
        Err(other) => Err(other),
    }
}

fn is_translation(code: Code) -> bool {
    matches!(code.0, 0x10 | 0x11 | 0x38..=0x3B)
}

/// LOAD PAGE-TABLE-ENTRY ADDRESS through `asce` (PoP ch. 10, as Hercules
/// implements it; the caller decodes M4 into the ASCE):
/// - cc 0: R1 = the page-table entry's address, no region or segment
///   protection;
/// - cc 1: the same, with region (EDAT-1) or segment protection;
/// - cc 2: an invalid region or segment entry, R1 = its address with the
///   table type in bits 62-63; or a large-frame entry, R1 = its address with
///   bit 61 set if it is protected and its table type in bits 62-63;
/// - cc 3: ASCE-type or length violation, R1 = the exception code.
///
/// The page-table entry itself is not fetched. A real-space ASCE is a
/// special-operation exception.
pub fn lptea<S: Storage + ?Sized>(
    storage: &S,
    controls: &Controls,
    asce: Asce,
    address: LogicalAddress,
) -> Result<CcResult, Exception> {
    if asce.real_space() {
        return Err(Exception::new(Code::SPECIAL_OPERATION));
    }
    match walk::walk_to_page_table(storage, asce, address.value(), WalkControls::from(controls)) {
        Ok(PageTableStep::Entry {
            address, protected, ..
        }) => Ok(CcResult {
            cc: u8::from(protected),
            r1: address.value(),
        }),
        Ok(PageTableStep::Leaf(leaf)) => {
            let level = if leaf.size == walk::FrameSize::Region2G {
                Level::RegionThird
            } else {
                Level::Segment
            };
            let entry = leaf.path.entry(level).map_or(0, |e| e.value());
            Ok(CcResult {
                cc: 2,
                r1: entry | (u64::from(leaf.protected) << 2) | level.type_code(),
            })
        }
        Err(fault) => match fault.reason {
            FaultReason::Invalid => Ok(CcResult {
                cc: 2,
                r1: fault.entry.map_or(0, |e| e.value()) | fault.level.type_code(),
            }),
            FaultReason::AsceType | FaultReason::Length => Ok(CcResult {
                cc: 3,
                r1: u64::from(fault.code().0),
            }),
            FaultReason::Addressing => Err(Exception::addressing()),
            FaultReason::Specification => Err(Exception::translation_specification()),
        },
    }
}
