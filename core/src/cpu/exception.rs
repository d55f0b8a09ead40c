//! Program exceptions: the interruption codes the interpreter raises, and
//! how each one ends the instruction (nullification versus suppression,
//! termination or completion).

/// A program exception: interruption code plus the data stored with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramException {
    /// Program-interruption code (lowcore 0x8E).
    pub code: u16,
    /// Translation-exception identification (lowcore 0xA8), if the code has
    /// one.
    pub teid: Option<u64>,
    /// Data-exception code (lowcore 0x93) for code 0x0007.
    pub dxc: u8,
    /// Exception access identification (lowcore 0xA0): the access register
    /// of an access-register-mode access that failed.
    pub access_id: Option<u8>,
}

/// How an exception ends the instruction, which decides where the old PSW
/// points (PoP "Types of Instruction Ending").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The instruction is nullified: the old PSW points at it.
    Nullify,
    /// Suppressed or terminated: the old PSW points at the next instruction.
    Suppress,
    /// Completed (e.g. fixed-point overflow): results are stored, the old PSW
    /// points at the next instruction.
    Complete,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        impl ProgramException {
            $(
                $(#[$doc])*
                pub const $name: ProgramException =
                    ProgramException { code: $code, teid: None, dxc: 0, access_id: None };
            )*
        }
    };
}

codes! {
    /// 0x0001: the opcode is not installed.
    OPERATION = 0x0001;
    /// 0x0002: a privileged instruction in the problem state.
    PRIVILEGED_OPERATION = 0x0002;
    /// 0x0003: the target of EXECUTE is EXECUTE (or EXRL).
    EXECUTE = 0x0003;
    /// 0x0004: protection.
    PROTECTION = 0x0004;
    /// 0x0005: an address outside the configuration.
    ADDRESSING = 0x0005;
    /// 0x0006: specification (odd register of a pair, misaligned operand,
    /// invalid PSW, odd instruction address ...).
    SPECIFICATION = 0x0006;
    /// 0x0007: data exception (the DXC says which; 0xFF for compare and trap).
    DATA = 0x0007;
    /// 0x0008: fixed-point overflow, when PSW bit 20 enables it.
    FIXED_POINT_OVERFLOW = 0x0008;
    /// 0x0009: fixed-point divide (zero divisor or quotient too large).
    FIXED_POINT_DIVIDE = 0x0009;
    /// 0x0010: segment translation.
    SEGMENT_TRANSLATION = 0x0010;
    /// 0x0011: page translation.
    PAGE_TRANSLATION = 0x0011;
    /// 0x0012: translation specification.
    TRANSLATION_SPECIFICATION = 0x0012;
    /// 0x0013: special operation (SAC in the wrong mode, ...).
    SPECIAL_OPERATION = 0x0013;
    /// 0x0038: ASCE type.
    ASCE_TYPE = 0x0038;
    /// 0x0039: region-first translation.
    REGION_FIRST_TRANSLATION = 0x0039;
    /// 0x003A: region-second translation.
    REGION_SECOND_TRANSLATION = 0x003A;
    /// 0x003B: region-third translation.
    REGION_THIRD_TRANSLATION = 0x003B;
}

impl ProgramException {
    /// A data exception with data-exception code `dxc`.
    pub const fn data(dxc: u8) -> Self {
        ProgramException {
            code: 0x0007,
            teid: None,
            dxc,
            access_id: None,
        }
    }

    /// How this exception ends the instruction: the DAT translation
    /// exceptions (0x10, 0x11, 0x38-0x3B) nullify, fixed-point overflow
    /// completes, all others suppress or terminate (DAT checklist 3.1).
    pub const fn ending(&self) -> Ending {
        match self.code & 0x7f {
            0x10 | 0x11 | 0x38..=0x3b => Ending::Nullify,
            0x08 => Ending::Complete,
            _ => Ending::Suppress,
        }
    }
}
