//! The kind of a storage access: a leaf module (it uses nothing else of the
//! crate), so that every rule that depends on the kind can name it without
//! depending on the access path.

/// The kind of a storage access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AccessKind {
    /// An instruction fetch.
    InstructionFetch = 0,
    /// An operand fetch.
    Read = 1,
    /// An operand store.
    Write = 2,
}

impl AccessKind {
    /// Every kind, in the order of the discriminants (the order in which
    /// the software TLB keeps one tag per kind).
    pub const ALL: [AccessKind; 3] = [
        AccessKind::InstructionFetch,
        AccessKind::Read,
        AccessKind::Write,
    ];
}

impl core::fmt::Display for AccessKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::InstructionFetch => "instruction fetch",
            Self::Read => "fetch",
            Self::Write => "store",
        })
    }
}
