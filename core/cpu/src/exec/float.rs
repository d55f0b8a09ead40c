//! The floating-point-control register (PoP ch. 9 "Floating-Point Control
//! (FPC) Register"): EFPC, SFPC, STFPC, LFPC. The FPC instructions are not
//! subject to the AFP-register control.

use super::{Exec, ExecResult, Next};
use crate::memory::Bus;
use crate::opcode::Opcode;
use zmmu_mmu::exception::{Code, Exception};

/// FPC bits that must be zero: 6-7, 14-15, 24 and 28 always, and 29 (the
/// third rounding-mode bit) without the floating-point-extension facility
/// (37), which zmmu does not offer (QEMU's check).
pub const FPC_RESERVED: u32 = 0x0303_008C;

/// FPC instructions, or `None` if `e.insn` is not one.
pub fn special<B: Bus>(e: &mut Exec<'_, B>) -> Option<ExecResult> {
    use Opcode::*;
    let f = e.insn.f;
    Some(match e.insn.op {
        EFPC => {
            let fpc = e.cpu.fpc;
            e.cpu.set_r32(f.r1, fpc);
            Ok(Next::Seq)
        }
        SFPC => set_fpc(e, e.cpu.r32(f.r1)),
        STFPC => {
            let a = e.ea2();
            let fpc = e.cpu.fpc;
            e.write_uint(a, 4, u64::from(fpc), f.b2).map(|()| Next::Seq)
        }
        LFPC => {
            let a = e.ea2();
            e.read_uint(a, 4, f.b2)
                .and_then(|word| set_fpc(e, word as u32))
        }
        _ => return None,
    })
}

/// The FPC gets `value`, unless a reserved bit is one (specification
/// exception, nothing changed).
fn set_fpc<B: Bus>(e: &mut Exec<'_, B>, value: u32) -> ExecResult {
    if value & FPC_RESERVED != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    e.cpu.fpc = value;
    Ok(Next::Seq)
}
