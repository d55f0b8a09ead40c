//! COMPARE AND SWAP AND STORE (CSST, facilities 32 and 33): a compare
//! and swap of the first operand and, when it swapped, a store of a value
//! of 1 to 16 bytes at the second-operand location, the values taken from
//! a parameter list that general register 1 designates.

use super::{Exec, ExecResult, Next};
use crate::memory::Bus;
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::exception::{Code, Exception};

/// The largest function code (GR0 bits 56-63): 0 a 32-bit, 1 a 64-bit, 2
/// a 128-bit compare and swap (facility 33).
pub const MAX_FUNCTION: u64 = 2;
/// The largest store characteristic (GR0 bits 48-55): the store value is
/// 2^sc bytes, 1 to 16 (16 with facility 33).
pub const MAX_STORE: u64 = 4;

/// CSST D1(B1),D2(B2),R3. The parameter list (GR1, a 16-byte boundary:
/// bits 60-63 ignored) holds the replacement value left-aligned in bytes
/// 0-15 and the store value left-aligned in bytes 16-31. The first
/// operand (2^(fc+2) bytes, aligned on its size) is compared with R3 (bits
/// 32-63 for fc 0, the pair R3, R3+1 for fc 2): equal, the replacement
/// value is stored there, the store value at the second operand (aligned
/// on its size), cc 0; unequal, the first operand is loaded into R3
/// with cc 1. Specification exception for a reserved function code or store
/// characteristic, an odd R3 with fc 2, and a misaligned operand; the
/// second operand is checked for store access first.
pub fn compare_and_swap_and_store<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let r0 = e.cpu.r64(0);
    let (fc, sc) = (r0 & 0xff, (r0 >> 8) & 0xff);
    if fc > MAX_FUNCTION || sc > MAX_STORE || (fc == 2 && f.r3 & 1 != 0) {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    let (size, store_size) = (4usize << fc, 1usize << sc);
    let (a1, a2) = (e.ea1(), e.ea(0, f.b2, f.d2));
    e.aligned(a1, size as u64)?;
    e.aligned(a2, store_size as u64)?;
    e.check(a2, store_size as u64, AccessKind::Write, f.b2)?;
    let list = e.cpu.psw.amode().wrap(e.cpu.r64(1) & !15);
    let mut params = [0u8; 32];
    e.read(list, &mut params, 1)?;
    e.check(a1, size as u64, AccessKind::Write, f.b1)?;
    let mut old = [0u8; 16];
    e.read(a1, &mut old[..size], f.b1)?;
    let mut compare = [0u8; 16];
    match fc {
        0 => compare[..4].copy_from_slice(&e.cpu.r32(f.r3).to_be_bytes()),
        1 => compare[..8].copy_from_slice(&e.cpu.r64(f.r3).to_be_bytes()),
        _ => {
            compare[..8].copy_from_slice(&e.cpu.r64(f.r3).to_be_bytes());
            compare[8..].copy_from_slice(&e.cpu.r64(f.r3 + 1).to_be_bytes());
        }
    }
    let equal = old[..size] == compare[..size];
    if equal {
        e.write(a1, &params[..size], f.b1)?;
        e.write(a2, &params[16..16 + store_size], f.b2)?;
    }
    let word = |i: usize| u64::from_be_bytes(old[i..i + 8].try_into().unwrap_or_default());
    match fc {
        0 => e
            .cpu
            .set_r32(f.r3, u32::from_be_bytes([old[0], old[1], old[2], old[3]])),
        1 => e.cpu.set_r64(f.r3, word(0)),
        _ => {
            e.cpu.set_r64(f.r3, word(0));
            e.cpu.set_r64(f.r3 + 1, word(8));
        }
    }
    e.set_cc(u8::from(!equal));
    Ok(Next::Seq)
}
