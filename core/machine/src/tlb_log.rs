//! What the software TLB did, for a person reading a trace
//! (`zmmu run --trace mmu`): the translations it formed on a miss and the
//! invalidations the DAT instructions and control changes handed it. The
//! log is off (`None` in [`crate::bus::DatBus::tlb_log`]) unless a tracer
//! asks for it, and it is written only on the miss and invalidation paths,
//! never on a hit.

use alloc::vec::Vec;

use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::space::AddressSpace;

/// One event of the software TLB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbEvent {
    /// A miss walked the tables (or applied prefixing, DAT off) and formed
    /// an entry for the page of `address`.
    Fill {
        /// The logical address accessed.
        address: u64,
        /// The address space it was translated in.
        space: AddressSpace,
        /// The kind of access that missed.
        kind: AccessKind,
        /// The absolute address it reached.
        absolute: u64,
    },
    /// An architected invalidation (IPTE, IDTE, CSP/CSPG, PTLB, SSKE, RRBE,
    /// SPX) dropped the entries it covers.
    Invalidate(Invalidation),
    /// The translation controls changed (an ASCE in CR1, CR7 or CR13, the
    /// CR0 translation bits or the prefix): entries formed under the old
    /// ones are dropped.
    Controls,
}

/// The events since the log was last drained.
pub type TlbLog = Vec<TlbEvent>;
