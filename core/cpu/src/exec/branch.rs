//! Branches: on condition, and save, on count, on index, compare and
//! branch, compare and trap.

use super::{Exec, ExecResult, Next};
use crate::cc;
use crate::format::Format;
use crate::memory::Bus;
use crate::opcode::Opcode;
use crate::sem::{Ext, Width};
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::exception::Exception;

/// Branch if `taken`.
const fn jump_if(taken: bool, target: u64) -> Next {
    if taken {
        Next::Jump(target)
    } else {
        Next::Seq
    }
}

/// The link information of BAS, BASR, BRAS, BRASL: the next instruction
/// address, with bit 32 set in the 31-bit mode; 24- and 31-bit modes leave
/// bits 0-31 unchanged.
fn link<B: Bus>(e: &mut Exec<'_, B>, r1: u8) {
    let next = e.next();
    match e.cpu.psw.amode() {
        AddressingMode::Bits64 => e.cpu.set_r64(r1, next),
        AddressingMode::Bits31 => e.cpu.set_r32(r1, (next as u32) | 0x8000_0000),
        AddressingMode::Bits24 => e.cpu.set_r32(r1, next as u32 & 0x00ff_ffff),
    }
}

/// The link information of BAL, BALR: in the 24-bit mode bits 32-63 are
/// ILC, CC, program mask and the 24-bit address; otherwise as [`link`].
fn link_bal<B: Bus>(e: &mut Exec<'_, B>, r1: u8) {
    if e.cpu.psw.amode() == AddressingMode::Bits24 {
        let high = (u32::from(e.sequential.ilc) << 30)
            | (u32::from(e.cpu.psw.cc()) << 28)
            | (u32::from(e.cpu.psw.program_mask()) << 24);
        let next = e.next() as u32 & 0x00ff_ffff;
        e.cpu.set_r32(r1, high | next);
    } else {
        link(e, r1);
    }
}

/// The branch target of a register branch (R2), wrapped.
fn reg_target<B: Bus>(e: &Exec<'_, B>, r: u8) -> u64 {
    e.cpu.psw.amode().wrap(e.cpu.r64(r))
}

/// Compare-and-branch / compare-and-trap operands: (first, second, width,
/// logical).
fn compare_operands<B: Bus>(e: &Exec<'_, B>) -> (u64, u64, Width, bool) {
    use Opcode::*;
    let f = e.insn.f;
    let w = match e.insn.op {
        CGRJ | CLGRJ | CGIJ | CLGIJ | CGRB | CLGRB | CGIB | CLGIB | CGIT | CLGIT | CGRT | CLGRT => {
            Width::W64
        }
        _ => Width::W32,
    };
    let logical = matches!(
        e.insn.op,
        CLGRJ | CLRJ | CLGIJ | CLIJ | CLGRB | CLRB | CLGIB | CLIB | CLGIT | CLFIT | CLGRT | CLRT
    );
    let a = e.cpu.r64(f.r1);
    let b = match e.insn.op.format() {
        Format::RieB | Format::Rrs | Format::RrfC => e.cpu.r64(f.r2),
        Format::RieA => {
            let ext = if logical { Ext::U16 } else { Ext::S16 };
            ext.apply(u64::from(f.i2))
        }
        _ => {
            let ext = if logical { Ext::U8 } else { Ext::S8 };
            ext.apply(u64::from(f.i2))
        }
    };
    (a, b, w, logical)
}

/// Branch instructions, or `None` if `e.insn` is not one.
pub fn special<B: Bus>(e: &mut Exec<'_, B>) -> Option<ExecResult> {
    use Opcode::*;
    let f = e.insn.f;
    let cc_now = e.cpu.psw.cc();
    Some(Ok(match e.insn.op {
        BCR => {
            // BCR with R2 = 0 does not branch; BCR 15,0 and (with the
            // fast-BCR-serialization facility) 14,0 serialize the CPU (PoP
            // "CPU Serialization"): its stores are seen by every other CPU
            // before its later storage accesses, which the host's store
            // buffer reorders without a full fence.
            if f.r2 == 0 && f.m1 >= 14 {
                core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            }
            jump_if(
                f.r2 != 0 && cc::mask_selects(f.m1, cc_now),
                reg_target(e, f.r2),
            )
        }
        BC => jump_if(cc::mask_selects(f.m1, cc_now), e.ea2()),
        BRC | BRCL => jump_if(cc::mask_selects(f.m1, cc_now), e.rel(f.ri)),
        BASR | BALR => {
            let target = reg_target(e, f.r2);
            if e.insn.op == BASR {
                link(e, f.r1);
            } else {
                link_bal(e, f.r1);
            }
            jump_if(f.r2 != 0, target)
        }
        BAS | BAL => {
            let target = e.ea2();
            if e.insn.op == BAS {
                link(e, f.r1);
            } else {
                link_bal(e, f.r1);
            }
            Next::Jump(target)
        }
        BRAS | BRASL => {
            let target = e.rel(f.ri);
            link(e, f.r1);
            Next::Jump(target)
        }
        BCTR | BCT | BRCT => {
            let target = match e.insn.op {
                BCTR => reg_target(e, f.r2),
                BCT => e.ea2(),
                _ => e.rel(f.ri),
            };
            let v = e.cpu.r32(f.r1).wrapping_sub(1);
            e.cpu.set_r32(f.r1, v);
            jump_if(v != 0 && !(e.insn.op == BCTR && f.r2 == 0), target)
        }
        BCTGR | BCTG | BRCTG => {
            let target = match e.insn.op {
                BCTGR => reg_target(e, f.r2),
                BCTG => e.ea2(),
                _ => e.rel(f.ri),
            };
            let v = e.cpu.r64(f.r1).wrapping_sub(1);
            e.cpu.set_r64(f.r1, v);
            jump_if(v != 0 && !(e.insn.op == BCTGR && f.r2 == 0), target)
        }
        BRCTH => {
            let v = e.cpu.rh(f.r1).wrapping_sub(1);
            e.cpu.set_rh(f.r1, v);
            jump_if(v != 0, e.rel(f.ri))
        }
        BXH | BXLE | BRXH | BRXLE | BXHG | BXLEG | BRXHG | BRXLG => {
            let target = match e.insn.op.format() {
                Format::Rsi | Format::RieE => e.rel(f.ri),
                _ => e.ea2(),
            };
            let high = matches!(e.insn.op, BXH | BRXH | BXHG | BRXHG);
            let w = if matches!(e.insn.op, BXHG | BXLEG | BRXHG | BRXLG) {
                Width::W64
            } else {
                Width::W32
            };
            // The increment is R3, the comparand the odd register of R3's pair;
            // both are read before R1 is replaced.
            let incr = e.cpu.r64(f.r3);
            let limit = e.cpu.r64(f.r3 | 1);
            let sum = e.cpu.r64(f.r1).wrapping_add(incr);
            let (s, l) = (cc::signed(sum, w), cc::signed(limit, w));
            match w {
                Width::W32 => e.cpu.set_r32(f.r1, sum as u32),
                Width::W64 => e.cpu.set_r64(f.r1, sum),
            }
            jump_if(if high { s > l } else { s <= l }, target)
        }
        CRJ | CGRJ | CLRJ | CLGRJ | CIJ | CGIJ | CLIJ | CLGIJ | CRB | CGRB | CLRB | CLGRB | CIB
        | CGIB | CLIB | CLGIB => {
            let (a, b, w, logical) = compare_operands(e);
            let c = if logical {
                cc::compare_logical(a, b, w)
            } else {
                cc::compare(a, b, w)
            };
            let target = match e.insn.op.format() {
                Format::Rrs | Format::Ris => e.ea(0, f.b4, f.d4),
                _ => e.rel(f.ri),
            };
            jump_if(cc::mask_selects(f.m3, c), target)
        }
        CRT | CGRT | CLRT | CLGRT | CIT | CGIT | CLFIT | CLGIT => {
            let (a, b, w, logical) = compare_operands(e);
            let c = if logical {
                cc::compare_logical(a, b, w)
            } else {
                cc::compare(a, b, w)
            };
            if cc::mask_selects(f.m3, c) {
                return Some(Err(Exception::data(0xff)));
            }
            Next::Seq
        }
        _ => return None,
    }))
}
