//! The byte of the PSW mask in the CPU state that translated code reads
//! and writes: the condition code (PSW bits 18-19) and the program mask
//! (bits 20-23) share it (PoP ch. 4 "Program-Status Word").

use iced_x86::code_asm::{byte_ptr, rbx, CodeAssembler, CodeLabel};
use iced_x86::IcedError;
use zmmu_cpu::state::offset;

/// The PSW-mask byte that holds the condition code (bits 2-3 of it).
pub(crate) const PSW_CC_BYTE: usize = offset::PSW_MASK + 5;

/// The fixed-point-overflow mask (PSW bit 20) in [`PSW_CC_BYTE`].
const FIXED_POINT_OVERFLOW_MASK: u8 = 0x08;

/// Jumps to `slow` when the fixed-point-overflow mask is one: an
/// overflow there is the program interruption the interpreter raises
/// (PoP ch. 6 "Fixed-Point-Overflow Exception"); with it zero the
/// instruction completes with the condition code 3.
pub(crate) fn slow_if_overflow_masked(
    a: &mut CodeAssembler,
    slow: CodeLabel,
) -> Result<(), IcedError> {
    a.test(
        byte_ptr(rbx + PSW_CC_BYTE as i32),
        i32::from(FIXED_POINT_OVERFLOW_MASK),
    )?;
    a.jnz(slow)
}
