//! MOVE WITH OPTIONAL SPECIFICATIONS (MVCOS, facility 27): a move of up
//! to 4096 bytes whose operands each name their own address space and
//! access key in general register 0 (the operand-access controls), as an
//! operating system copies to and from user space.

use super::{Exec, ExecResult, Next};
use crate::memory::{space_of, AddressType, Bus};
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::exception::{Code, Exception};

/// The bytes one execution moves at most; a longer operand is moved in
/// part, with cc 3 (PoP "MOVE WITH OPTIONAL SPECIFICATIONS").
pub const MVCOS_MAX: u64 = 4096;

/// The address-space control of the home space.
const HOME: u8 = 3;
/// The address-space control of the secondary space.
const SECONDARY: u8 = 2;

/// One operand-access control (GR0 bits 32-47 for the first operand,
/// 48-63 for the second): key (bits 0-3), address-space control (bits
/// 8-9), and whether each is valid (K, bit 14; A, bit 15), else the PSW's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Oac {
    key: u8,
    asc: u8,
    /// The A bit: the address-space control was specified.
    asc_specified: bool,
}

impl Oac {
    fn new(bits: u16, psw_key: u8, psw_asc: u8) -> Self {
        let key_valid = bits & 2 != 0;
        let asc_specified = bits & 1 != 0;
        Self {
            key: if key_valid {
                (bits >> 12) as u8
            } else {
                psw_key
            },
            asc: if asc_specified {
                ((bits >> 6) & 3) as u8
            } else {
                psw_asc
            },
            asc_specified,
        }
    }
}

/// MVCOS D1(B1),D2(B2),R3: moves min(R3, 4096) bytes of the second operand
/// to the first, each accessed in the space and with the key its
/// operand-access control gives; cc 0 when the whole length was moved, 3
/// when only 4096 bytes were (R3 is not changed). Special-operation
/// exception with DAT off, for the home space named in the problem state,
/// and for the secondary space with the secondary-space control (CR0 bit
/// 37) off; privileged-operation exception for a key the PSW-key mask
/// does not authorize in the problem state.
pub fn move_with_optional_specifications<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let psw = e.cpu.psw;
    if !psw.dat() {
        return Err(Exception::new(Code::SPECIAL_OPERATION));
    }
    let r0 = e.cpu.r64(0);
    let first = Oac::new((r0 >> 16) as u16, psw.key(), psw.asc());
    let second = Oac::new(r0 as u16, psw.key(), psw.asc());
    for oac in [first, second] {
        if oac.asc_specified && oac.asc == HOME && psw.problem_state() {
            return Err(Exception::new(Code::SPECIAL_OPERATION));
        }
        if oac.asc == SECONDARY && !e.cpu.secondary_space_control() {
            return Err(Exception::new(Code::SPECIAL_OPERATION));
        }
    }
    if !e.cpu.key_authorized(first.key) || !e.cpu.key_authorized(second.key) {
        return Err(Exception::new(Code::PRIVILEGED_OPERATION));
    }
    let true_len = match psw.amode() {
        AddressingMode::Bits64 => e.cpu.r64(f.r3),
        _ => u64::from(e.cpu.r32(f.r3)),
    };
    let (len, cc) = if true_len > MVCOS_MAX {
        (MVCOS_MAX as usize, 3)
    } else {
        (true_len as usize, 0)
    };
    let to = AddressType::Explicit {
        space: space_of(e.cpu, first.asc, f.b1),
        key: first.key,
    };
    let from = AddressType::Explicit {
        space: space_of(e.cpu, second.asc, f.b2),
        key: second.key,
    };
    let (dst, src) = (e.ea1(), e.ea(0, f.b2, f.d2));
    if len > 0 {
        e.check_in(from, src, len as u64, AccessKind::Read)?;
        e.check_in(to, dst, len as u64, AccessKind::Write)?;
        let mut buf = [0u8; MVCOS_MAX as usize];
        e.read_in(from, src, &mut buf[..len])?;
        e.write_in(to, dst, &buf[..len])?;
    }
    e.set_cc(cc);
    Ok(Next::Seq)
}
