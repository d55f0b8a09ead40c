//! MOVE PAGE (PoP ch. 10 "MOVE PAGE"): one 4K-byte page to another, with
//! the options general register 0 holds.
//!
//! General register 0, bits 48-63:
//! ```text
//! 48-51  must be zero (specification exception)
//! 52     F: the key in bits 56-59 is used for the first operand
//! 53     S: the key in bits 56-59 is used for the second operand
//!        (F and S both one: specification exception)
//! 54     ignored (a reference intention, no architected effect)
//! 55     CCO, the condition-code option: a page-translation or
//!        segment-translation exception of an operand ends the
//!        instruction with cc 1 (first operand) or 2 (second) instead
//! 56-59  the access key for the operand F or S selects
//! ```
//! Bits 48-51 hold the move-page-and-set-key facility's (149) key-function
//! values 4 and 5, which zmmu does not offer: they are a specification
//! exception, as QEMU has them. In the problem state a key that the PSW-key
//! mask (CR3 bits 32-47) does not authorize is a privileged-operation
//! exception. The second operand is checked (fetch) before the first
//! (store); then the page is moved. Without CCO a page-translation
//! exception also stores the R1 and R2 fields at real location 162
//! ([`OPERAND_ACCESS_ID`]).

use super::{Exec, ExecResult, Next};
use crate::memory::{logical_space, AddressType, Bus};
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::addr::RealAddress;
use zmmu_mmu::exception::{Code, Exception};

/// The real address of the operand access identification byte: R1 in
/// bits 0-3, R2 in bits 4-7, after a page-translation exception of MOVE
/// PAGE.
pub const OPERAND_ACCESS_ID: u64 = 0xA2;

/// The page size MOVE PAGE moves.
const PAGE: u64 = 4096;

/// General register 0 bits (bit 63 = 1).
mod gr0 {
    /// Bits 48-51: reserved without the move-page-and-set-key facility.
    pub const RESERVED: u64 = 0xF000;
    /// Bit 52: the key is used for the first operand.
    pub const F: u64 = 0x0800;
    /// Bit 53: the key is used for the second operand.
    pub const S: u64 = 0x0400;
    /// Bit 55: the condition-code option.
    pub const CCO: u64 = 0x0100;
}

/// The address type of an operand whose base register is `r`: with the
/// key `key` (F or S) in the PSW's address space, else an ordinary
/// logical operand.
fn operand<B: Bus>(e: &Exec<'_, B>, r: u8, key: Option<u8>) -> AddressType {
    match key {
        Some(key) => AddressType::Explicit {
            space: logical_space(e.cpu, r),
            key,
        },
        None => AddressType::Logical { base: r },
    }
}

/// MOVE PAGE.
pub fn move_page<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let gr0 = e.cpu.r64(0);
    if gr0 & gr0::RESERVED != 0 || (gr0 & gr0::F != 0 && gr0 & gr0::S != 0) {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    let key = ((gr0 >> 4) & 0xF) as u8;
    let keyed = gr0 & (gr0::F | gr0::S) != 0;
    if keyed && !e.cpu.key_authorized(key) {
        return Err(Exception::new(Code::PRIVILEGED_OPERATION));
    }
    let cco = gr0 & gr0::CCO != 0;
    let amode = e.cpu.psw.amode();
    let dst = amode.wrap(e.cpu.r64(f.r1)) & !(PAGE - 1);
    let src = amode.wrap(e.cpu.r64(f.r2)) & !(PAGE - 1);
    let dst_space = operand(e, f.r1, (gr0 & gr0::F != 0).then_some(key));
    let src_space = operand(e, f.r2, (gr0 & gr0::S != 0).then_some(key));
    let checks = [
        (src_space, src, AccessKind::Read, 2),
        (dst_space, dst, AccessKind::Write, 1),
    ];
    for (space, addr, kind, cc) in checks {
        if let Err(x) = e.check_in(space, addr, PAGE, kind) {
            let invalid = matches!(x.code, Code::PAGE_TRANSLATION | Code::SEGMENT_TRANSLATION);
            if cco && invalid {
                e.set_cc(cc);
                return Ok(Next::Seq);
            }
            if x.code == Code::PAGE_TRANSLATION {
                store_operand_access_id(e, (f.r1 << 4) | f.r2)?;
            }
            return Err(x);
        }
    }
    let mut page = [0u8; PAGE as usize];
    e.read_in(src_space, src, &mut page)?;
    e.write_in(dst_space, dst, &page)?;
    e.set_cc(0);
    Ok(Next::Seq)
}

/// Stores the operand access identification in the lowcore, as part of
/// the program interruption that follows (an absolute store at the
/// prefixed address, like the interruption's other fields).
fn store_operand_access_id<B: Bus>(e: &mut Exec<'_, B>, id: u8) -> Result<(), Exception> {
    let at = e
        .cpu
        .prefix
        .to_absolute(RealAddress::new(OPERAND_ACCESS_ID))
        .value();
    e.write_in(AddressType::Absolute, at, &[id])
}
