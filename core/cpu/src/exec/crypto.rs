//! The message-security assist (PoP ch. 7, "Message-Security-Assist
//! Instructions"): the CPACF instructions of facilities 17 (KM, KMC,
//! KIMD, KLMD, KMAC), 76 (extension 3: PCKMO), 77 (extension 4: KMF,
//! KMO, PCC, KMCTR), 57 (extension 5: PRNO) and 146 (extension 8: KMA).
//!
//! Each instruction performs the function whose code is in bits 57-63 of
//! general register 0 (bit 56 is the modifier bit), with a parameter block
//! at the address in general register 1. zmmu installs one function of
//! each, the query function (code 0), as QEMU 7.2's `-cpu max` does under
//! TCG for all but three: it stores the 128-bit status word whose bit n
//! says whether function n is installed (so only bit 0 is one) and sets
//! condition code 0. Every other function code is not installed: a
//! specification exception, as the architecture requires for an
//! unassigned or uninstalled code. Programs (Linux's `cpacf_query`) ask
//! the query function before they use any other, so they find none and
//! use their software implementations.

use super::{Exec, ExecResult, Next};
use crate::memory::Bus;
use crate::opcode::Opcode;
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::exception::{Code, Exception};

/// The function code of the query function.
pub const QUERY: u8 = 0;

/// The status word the query function stores: bit n (of 128) one when
/// function code n is installed; the query function (bit 0) is the only
/// one.
pub const QUERY_STATUS: [u8; 16] = {
    let mut word = [0u8; 16];
    word[QUERY as usize / 8] = 0x80 >> (QUERY % 8);
    word
};

/// The instructions of the message-security assist, or `None` if `e.insn`
/// is not one.
pub fn special<B: Bus>(e: &mut Exec<'_, B>) -> Option<ExecResult> {
    use Opcode::*;
    match e.insn.op {
        KM | KMC | KIMD | KLMD | KMAC | PCKMO | KMF | KMO | PCC | KMCTR | PRNO | KMA => {
            Some(message_security(e))
        }
        _ => None,
    }
}

/// The register fields of `op` designate what the PoP requires of them,
/// whatever the function: for the instructions with those operands, the
/// first operand (R1), the second operand (R2) and the third operand (R3,
/// KMCTR and KMA) each the even register of an even-odd pair and not
/// general register 0, and for KMA R3 neither R1 nor R2. The others ignore
/// their register fields (KIMD, KLMD and KMAC have no first operand; PCC
/// and PCKMO none at all).
pub fn registers_valid(op: Opcode, r1: u8, r2: u8, r3: u8) -> bool {
    use Opcode::*;
    let pair = |r: u8| r != 0 && r & 1 == 0;
    match op {
        KMA => pair(r1) && pair(r2) && pair(r3) && r3 != r1 && r3 != r2,
        KMCTR => pair(r1) && pair(r2) && pair(r3),
        KM | KMC | KMF | KMO | PRNO => pair(r1) && pair(r2),
        KIMD | KLMD | KMAC => pair(r2),
        _ => true,
    }
}

/// Bit 56 of general register 0 must be zero for `op`: the instructions
/// without a modifier (KIMD, KLMD, KMAC, PCC, PCKMO), where the PoP makes a
/// one in it a specification exception. The ciphers use it to decipher.
pub fn modifier_reserved(op: Opcode) -> bool {
    use Opcode::*;
    matches!(op, KIMD | KLMD | KMAC | PCC | PCKMO)
}

/// Any instruction of the assist: PCKMO is privileged; then the register
/// fields ([`registers_valid`]) and the modifier bit
/// ([`modifier_reserved`]); then the function code, of which only
/// [`QUERY`] is installed: it stores [`QUERY_STATUS`] at the parameter
/// block (its address in general register 1, in the addressing mode; in
/// the access-register mode qualified by access register 1), with the
/// access exceptions of a 16-byte store, and sets condition code 0.
fn message_security<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let op = e.insn.op;
    if op == Opcode::PCKMO {
        e.privileged()?;
    }
    let f = e.insn.f;
    let gr0 = e.cpu.r64(0);
    let modifier = gr0 & 0x80 != 0;
    let function = (gr0 & 0x7f) as u8;
    if !registers_valid(op, f.r1, f.r2, f.r3)
        || (modifier && modifier_reserved(op))
        || function != QUERY
    {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    let block = e.cpu.psw.amode().wrap(e.cpu.r64(1));
    // All or nothing: a block crossing into an inaccessible page stores
    // no byte.
    e.check(block, QUERY_STATUS.len() as u64, AccessKind::Write, 1)?;
    e.write(block, &QUERY_STATUS, 1)?;
    e.set_cc(0);
    Ok(Next::Seq)
}
