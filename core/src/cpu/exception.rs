//! Program exceptions as the interpreter raises them: zmmu-core's
//! interruption [`Code`] and [`Teid`] (the one table of codes, and the one
//! rule of how each ends the instruction, [`Code::ending`]), plus the
//! data-exception code that only instructions raise.

use crate::exception::{Code, Exception, Teid};

/// A program exception: interruption code plus the data stored with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramException {
    /// Program-interruption code (lowcore 0x8E).
    pub code: Code,
    /// Translation-exception identification (lowcore 0xA8), if the code has
    /// one.
    pub teid: Option<Teid>,
    /// Exception access identification (lowcore 0xA0): the access register
    /// of an access-register-mode access that failed.
    pub access_id: Option<u8>,
    /// Data-exception code (lowcore 0x93) for [`Code::DATA`].
    pub dxc: u8,
}

impl ProgramException {
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
}

impl From<Code> for ProgramException {
    fn from(code: Code) -> Self {
        Self::new(code)
    }
}

impl From<Exception> for ProgramException {
    fn from(e: Exception) -> Self {
        Self {
            code: e.code,
            teid: e.teid,
            access_id: e.access_id,
            dxc: 0,
        }
    }
}
