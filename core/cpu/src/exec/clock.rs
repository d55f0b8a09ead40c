//! The timing instructions (PoP ch. 4 "Timing" and ch. 10): STORE CLOCK
//! (STCK, STCKF, STCKE), SET CLOCK, SET CLOCK PROGRAMMABLE FIELD, the clock
//! comparator (SCKC, STCKC) and the CPU timer (SPT, STPT). The TOD clock is
//! the machine's ([`crate::memory::System::clock`]); a machine without one
//! makes them operation exceptions.

use super::{Exec, ExecResult, Next};
use crate::clock::Timing;
use crate::memory::Bus;
use crate::opcode::Opcode;
use zmmu_mmu::exception::{Code, Exception};

/// The machine's clock, or an operation exception.
fn clock<B: Bus>(bus: &mut B) -> Result<&mut dyn Timing, Exception> {
    bus.clock().ok_or(Exception::new(Code::OPERATION))
}

/// STCK, STCKF: the TOD clock (8 bytes); STCKE: the 16-byte extended form
/// (epoch index 0, the clock, zero low-order bits, the TOD programmable
/// field). cc 0: the clock is in the set state.
pub fn store_clock<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let a = e.ea2();
    let tod = clock(e.bus)?.tod();
    if e.insn.op == Opcode::STCKE {
        let mut buf = [0u8; 16];
        buf[1..9].copy_from_slice(&tod.to_be_bytes());
        buf[14..16].copy_from_slice(&e.cpu.tod_programmable.to_be_bytes());
        e.write(a, &buf, e.insn.f.b2)?;
    } else {
        e.write_uint(a, 8, tod, e.insn.f.b2)?;
    }
    e.set_cc(0);
    Ok(Next::Seq)
}

/// The privileged timing instructions (the privileged-state check is
/// done): SCK, SCKPF, SCKC, STCKC, SPT, STPT.
pub fn timing<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    if e.insn.op == SCKPF {
        return set_clock_programmable_field(e);
    }
    let a = e.ea2();
    let base = e.insn.f.b2;
    // Every operand is a doubleword on a doubleword boundary.
    e.aligned(a, 8)?;
    match e.insn.op {
        SCK => {
            let tod = e.read_uint(a, 8, base)?;
            clock(e.bus)?.set_tod(tod);
            e.set_cc(0);
        }
        SCKC => e.cpu.clock_comparator = e.read_uint(a, 8, base)?,
        STCKC => {
            let ckc = e.cpu.clock_comparator;
            e.write_uint(a, 8, ckc, base)?;
        }
        SPT => {
            let value = e.read_uint(a, 8, base)?;
            let now = clock(e.bus)?.monotonic();
            e.cpu.cpu_timer_zero = now.wrapping_add(value);
        }
        STPT => {
            let now = clock(e.bus)?.monotonic();
            let value = e.cpu.cpu_timer(now);
            e.write_uint(a, 8, value, base)?;
        }
        _ => return Err(Exception::new(Code::OPERATION)),
    }
    Ok(Next::Seq)
}

/// SCKPF: bits 48-63 of general register 0 become the TOD programmable
/// register; bits 32-47 must be zero (specification exception).
fn set_clock_programmable_field<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let r0 = e.cpu.r32(0);
    if r0 & 0xFFFF_0000 != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    e.cpu.tod_programmable = r0 as u16;
    Ok(Next::Seq)
}
