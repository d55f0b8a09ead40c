//! The out-of-line paths of inline storage accesses a block collects
//! while it is emitted (the emission itself is in `memory`).

use iced_x86::code_asm::CodeLabel;
use zmmu_mmu::kind::AccessKind;

use crate::regs::Regs;

#[cfg(doc)]
use crate::abi;

/// How the interpreter touches the two operands of an SS instruction; the
/// pair fill translates (and records) them the same way, so that an
/// exception leaves the same reference and change bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PairOrder {
    /// Both checked (second, then first) before either is accessed (MVC,
    /// NC, OC, XC).
    CheckFirst = 0,
    /// The first operand accessed, then the second (CLC).
    InOrder = 1,
}

/// The out-of-line part of one inline access: where a TLB miss goes.
pub(crate) enum Fill {
    /// One operand: the fill helper ([`abi::CTX_FILL`]), then the probe
    /// again.
    One {
        /// The miss path.
        label: CodeLabel,
        /// The probe, retried after a fill.
        retry: CodeLabel,
        /// Where a fill that gives the absolute address itself resumes.
        hit: CodeLabel,
        /// The instruction's slow path.
        slow: CodeLabel,
        kind: AccessKind,
        n: u32,
        /// The register cache where it resumes (the call clobbers it).
        regs: Regs,
    },
    /// Two operands: the pair fill ([`abi::CTX_FILL_PAIR`]) gives both
    /// absolute addresses.
    Pair {
        label: CodeLabel,
        hit: CodeLabel,
        slow: CodeLabel,
        first: AccessKind,
        order: PairOrder,
        n: u32,
        /// As in `One`.
        regs: Regs,
    },
}
