//! The IPL functions of DIAGNOSE X'308' ([`crate::diag`]), as QEMU's
//! `s390-ccw-virtio` machine provides them to a program loaded with
//! `-kernel`: the subcodes and response codes, the reset a subcode asks
//! for, the IPL parameters it sets and stores, and the PSW that load normal
//! takes from absolute location 0.

use alloc::vec::Vec;

use zmmu_cpu::state::Psw;

/// DIAGNOSE X'308' subcodes (in R3).
pub mod subcode {
    /// Reset with modified clear, then load normal.
    pub const RESET_MODIFIED_CLEAR: u64 = 0;
    /// Reset normal, then load normal.
    pub const RESET_LOAD_NORMAL: u64 = 1;
    /// Load clear: re-IPL.
    pub const LOAD_CLEAR: u64 = 3;
    /// Set the IPL parameters.
    pub const SET: u64 = 5;
    /// Store the IPL parameters.
    pub const STORE: u64 = 6;
    /// The first subcode of the protected-virtualization functions (8-10),
    /// which need the unpack facility (161): not offered.
    pub const FIRST_PROTECTED: u64 = 8;
}

/// DIAGNOSE X'308' response codes, in R1 + 1.
pub mod response {
    /// The function completed.
    pub const OK: u64 = 0x0001;
    /// Store: no IPL parameters have been set.
    pub const NO_CONFIGURATION: u64 = 0x0102;
    /// Set: the parameter block is not valid.
    pub const INVALID: u64 = 0x0402;
}

/// The size of an IPL parameter block (QEMU's `IplParameterBlock`): the
/// operand of DIAGNOSE X'308' set and store spans it.
pub const IPLB_SIZE: u64 = 4096;
/// The shortest valid list-directed (FCP, type 0) block.
pub const IPLB_MIN_FCP: u32 = 384;
/// The shortest valid CCW (type 2) block.
pub const IPLB_MIN_CCW: u32 = 200;
/// Where the parameter-block type is (byte 12).
pub const IPLB_TYPE: usize = 12;

/// A reset DIAGNOSE X'308' (or the watchdog) asked for, carried out by the
/// run loop when the instruction has completed (`Machine::carry_out_reset`
/// in [`crate::diag`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// Subcode 0: clear reset of the CPU (every register), then load normal.
    ModifiedClear,
    /// Subcode 1: initial CPU reset, then load normal.
    LoadNormal,
    /// Subcode 3, or the watchdog's `reset` action: QEMU resets the
    /// machine and IPLs the program again; zmmu ends the run
    /// ([`crate::Stop::ReIpl`]).
    ReIpl {
        /// The watchdog asked for it.
        watchdog: bool,
    },
}

/// What the IPL functions keep between instructions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ipl {
    /// A reset to carry out after the current instruction.
    pub reset: Option<Reset>,
    /// The IPL parameter block DIAGNOSE X'308' subcode 5 set (`len` bytes).
    pub parameters: Option<Vec<u8>>,
}

/// PSW bit 12: one in the ESA/390 (short) format, zero in a valid
/// z/Architecture PSW.
pub const PSW_BIT_12: u64 = 1 << (63 - 12);

/// The short PSW QEMU's load normal takes from absolute 0: bits 0-32 of
/// the doubleword as the mask with bit 12 inverted (an ESA/390-format PSW
/// has it one; a z/Architecture PSW must have it zero, so a doubleword
/// without it gives a PSW that is invalid when it becomes current), bits
/// 33-63 as the address.
pub fn load_normal_psw(short: u64) -> Psw {
    const SHORT_CONTROL: u64 = 0xFFFF_FFFF_8000_0000;
    Psw {
        mask: (short & SHORT_CONTROL) ^ PSW_BIT_12,
        addr: short & 0x7FFF_FFFF,
    }
}
