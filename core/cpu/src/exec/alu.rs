//! Register arithmetic and logic: the table-driven shapes ([`Sem::Alu`],
//! [`Sem::MemImm`], [`Sem::Field`], [`Sem::Store`], [`Sem::Shift`]) and
//! the multiply, divide, rotate-then-insert and bit-counting instructions.
//!
//! [`Sem::Alu`]: crate::sem::Sem::Alu
//! [`Sem::MemImm`]: crate::sem::Sem::MemImm
//! [`Sem::Field`]: crate::sem::Sem::Field
//! [`Sem::Store`]: crate::sem::Sem::Store
//! [`Sem::Shift`]: crate::sem::Sem::Shift

use super::{Exec, ExecResult, Next};
use crate::cc::{self, ArithResult};
use crate::format::Format;
use crate::memory::Bus;
use crate::opcode::Opcode;
use crate::sem::{AluOp, Ext, FieldOp, ShiftOp, Src, Width};
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;

/// Apply `op` to first operand `a` and second operand `b` (both already
/// extended); `cc_in` is the current condition code (carry/borrow in).
/// Returns the outcome; compares return the first operand unchanged.
pub fn compute(op: AluOp, w: Width, a: u64, b: u64, cc_in: u8) -> ArithResult {
    let plain = |value: u64, cc: u8| ArithResult {
        value: cc::unsigned(value, w),
        cc,
        overflow: false,
    };
    match op {
        AluOp::Add => cc::add(a, b, w),
        AluOp::Sub => cc::sub(a, b, w),
        AluOp::AddL => cc::add_logical(a, b, false, w),
        AluOp::AddLC => cc::add_logical(a, b, cc_in & 2 != 0, w),
        AluOp::SubL => cc::sub_logical(a, b, false, w),
        AluOp::SubLB => cc::sub_logical(a, b, cc_in & 2 == 0, w),
        AluOp::And => plain(a & b, cc::zero_cc(a & b, w)),
        AluOp::Or => plain(a | b, cc::zero_cc(a | b, w)),
        AluOp::Xor => plain(a ^ b, cc::zero_cc(a ^ b, w)),
        AluOp::Mul => plain(a.wrapping_mul(b), cc_in),
        AluOp::Cmp => plain(a, cc::compare(a, b, w)),
        AluOp::CmpL => plain(a, cc::compare_logical(a, b, w)),
        AluOp::Load => plain(b, cc_in),
        AluOp::LoadTest => plain(b, cc::sign_cc(b, w)),
        AluOp::LoadCompl => cc::complement(b, w),
        AluOp::LoadPos => cc::positive(b, w),
        AluOp::LoadNeg => cc::negative(b, w),
    }
}

/// Does `op` leave the condition code alone?
const fn keeps_cc(op: AluOp) -> bool {
    matches!(op, AluOp::Mul | AluOp::Load)
}

/// Does `op` only set the condition code (no result)?
const fn is_compare(op: AluOp) -> bool {
    matches!(op, AluOp::Cmp | AluOp::CmpL)
}

fn write_reg<B: Bus>(e: &mut Exec<'_, B>, r: u8, w: Width, v: u64) {
    match w {
        Width::W32 => e.cpu.set_r32(r, v as u32),
        Width::W64 => e.cpu.set_r64(r, v),
    }
}

/// Relative-long storage operands of LRL, STRL, CRL ... must be aligned on
/// their size (word or doubleword); halfwords are aligned by construction.
fn check_relative_alignment<B: Bus>(e: &Exec<'_, B>, addr: u64, n: usize) -> Result<(), Exception> {
    if e.insn.op.format() == Format::RilB && n >= 4 {
        e.aligned(addr, n as u64)
    } else {
        Ok(())
    }
}

/// `R1 = first op second` for the [`crate::sem::Sem::Alu`] shape.
pub fn alu<B: Bus>(e: &mut Exec<'_, B>, op: AluOp, w: Width, src: Src) -> ExecResult {
    let f = e.insn.f;
    let format = e.insn.op.format();
    let first = match format {
        Format::RrfA => f.r2,
        Format::RieD => f.r3,
        _ => f.r1,
    };
    let b = match src {
        Src::Reg(ext) => {
            let r = if format == Format::RrfA { f.r3 } else { f.r2 };
            ext.apply(cc::unsigned(e.cpu.r64(r), w))
        }
        Src::Imm(ext) => ext.apply(u64::from(f.i2)),
        Src::Mem(ext) => {
            let addr = e.ea2();
            let n = ext.bytes(w);
            check_relative_alignment(e, addr, n)?;
            ext.apply(e.read_uint(addr, n, f.b2)?)
        }
    };
    let a = e.cpu.r64(first);
    let out = compute(op, w, a, b, e.cpu.psw.cc());
    if !is_compare(op) {
        write_reg(e, f.r1, w, out.value);
    }
    if !keeps_cc(op) {
        e.set_cc(out.cc);
    }
    e.overflow(out.overflow)
}

/// Storage-and-immediate operations (SI, SIY, SIL formats).
pub fn mem_imm<B: Bus>(e: &mut Exec<'_, B>, op: AluOp, w: Width, mem: Ext, imm: Ext) -> ExecResult {
    let f = e.insn.f;
    let addr = e.ea1();
    let n = mem.bytes(w);
    let b = imm.apply(u64::from(f.i2));
    if op == AluOp::Load {
        e.write_uint(addr, n, b, f.b1)?;
        return Ok(Next::Seq);
    }
    if !is_compare(op) {
        e.check(addr, n as u64, zmmu_mmu::access::AccessKind::Write, f.b1)?;
    }
    let a = mem.apply(e.read_uint(addr, n, f.b1)?);
    let out = compute(op, w, a, b, e.cpu.psw.cc());
    if !is_compare(op) {
        e.write_uint(addr, n, out.value, f.b1)?;
    }
    e.set_cc(out.cc);
    e.overflow(out.overflow)
}

/// Immediate-field operations on R1 (IIHH .. LLILF, NIHH .. XILF, TMLL ..).
pub fn field<B: Bus>(e: &mut Exec<'_, B>, op: FieldOp, shift: u8, bits: u8) -> ExecResult {
    let f = e.insn.f;
    let field_mask = (u64::MAX >> (64 - u32::from(bits))) << shift;
    let imm = (u64::from(f.i2) << shift) & field_mask;
    let v = e.cpu.r64(f.r1);
    let set = |e: &mut Exec<'_, B>, r: u64| {
        e.cpu.set_r64(f.r1, r);
        e.set_cc(u8::from(r & field_mask != 0));
    };
    match op {
        FieldOp::Insert => e.cpu.set_r64(f.r1, (v & !field_mask) | imm),
        FieldOp::LoadLogical => e.cpu.set_r64(f.r1, imm),
        FieldOp::And => set(e, v & (imm | !field_mask)),
        FieldOp::Or => set(e, v | imm),
        FieldOp::Xor => set(e, v ^ imm),
        FieldOp::Test => {
            let cc = cc::test_under_mask(v, imm);
            e.set_cc(cc);
        }
    }
    Ok(Next::Seq)
}

/// Store the rightmost `n` bytes of R1.
pub fn store<B: Bus>(e: &mut Exec<'_, B>, n: u8) -> ExecResult {
    let addr = e.ea2();
    check_relative_alignment(e, addr, usize::from(n))?;
    let v = e.cpu.r64(e.insn.f.r1);
    e.write_uint(addr, usize::from(n), v, e.insn.f.b2)?;
    Ok(Next::Seq)
}

/// Arithmetic left shift of the `bits`-wide signed value `v` by `n`: the sign
/// is kept, overflow if any bit unlike the sign is shifted out.
pub const fn shift_left_arith(v: i64, n: u32, bits: u32) -> (u64, bool) {
    let wide = (v as i128) << n;
    let min = -(1i128 << (bits - 1));
    let max = (1i128 << (bits - 1)) - 1;
    let overflow = wide < min || wide > max;
    let magnitude = (wide as u64) & (u64::MAX >> (65 - bits));
    let sign = if v < 0 { 1u64 << (bits - 1) } else { 0 };
    (sign | magnitude, overflow)
}

/// Shifts and rotates. The amount is bits 58-63 of the second-operand
/// address. Single shifts take their source from R1 (RS) or R3 (RSY).
pub fn shift<B: Bus>(e: &mut Exec<'_, B>, op: ShiftOp, w: Width) -> ExecResult {
    let f = e.insn.f;
    let n = (e.ea(0, f.b2, f.d2) & 63) as u32;
    let src_reg = if e.insn.op.format() == Format::RsyA {
        f.r3
    } else {
        f.r1
    };
    let bits = w.bits();
    let double = matches!(
        op,
        ShiftOp::Sldl | ShiftOp::Srdl | ShiftOp::Slda | ShiftOp::Srda
    );
    let src = if double {
        e.even(f.r1)?;
        (u64::from(e.cpu.r32(f.r1)) << 32) | u64::from(e.cpu.r32(f.r1 | 1))
    } else {
        cc::unsigned(e.cpu.r64(src_reg), w)
    };
    let width = if double { Width::W64 } else { w };
    let (value, cc, overflow) = match op {
        ShiftOp::Sll | ShiftOp::Sldl => (src.checked_shl(n).unwrap_or(0), None, false),
        ShiftOp::Srl | ShiftOp::Srdl => (src.checked_shr(n).unwrap_or(0), None, false),
        ShiftOp::Sra | ShiftOp::Srda => {
            let v = (cc::signed(src, width) >> n.min(63)) as u64;
            (v, Some(cc::sign_cc(v, width)), false)
        }
        ShiftOp::Sla | ShiftOp::Slda => {
            let (v, o) = shift_left_arith(cc::signed(src, width), n, width.bits());
            (v, Some(if o { 3 } else { cc::sign_cc(v, width) }), o)
        }
        ShiftOp::Rll => {
            let v = if bits == 32 {
                u64::from((src as u32).rotate_left(n))
            } else {
                src.rotate_left(n)
            };
            (v, None, false)
        }
    };
    if double {
        e.cpu.set_r32(f.r1, (value >> 32) as u32);
        e.cpu.set_r32(f.r1 | 1, value as u32);
    } else {
        write_reg(e, f.r1, w, value);
    }
    if let Some(cc) = cc {
        e.set_cc(cc);
    }
    e.overflow(overflow)
}

/// The mask of bits `start..=end` (IBM numbering within a `bits`-wide field
/// at the right of a u64), wrapping around when start > end (RISBG family).
pub const fn rotate_mask(start: u32, end: u32, bits: u32) -> u64 {
    let all = u64::MAX >> (64 - bits);
    let from_start = all >> start;
    let to_end = (all << (bits - 1 - end)) & all;
    if start <= end {
        from_start & to_end
    } else {
        from_start | to_end
    }
}

/// RISBG, RISBGN, RISBHG, RISBLG, RNSBG, ROSBG, RXSBG (PoP "ROTATE THEN
/// ... SELECTED BITS").
fn rotate_then<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let rotated = e.cpu.r64(f.r2).rotate_left(u32::from(f.i5 & 63));
    let old = e.cpu.r64(f.r1);
    match e.insn.op {
        Opcode::RISBG | Opcode::RISBGN => {
            let mask = rotate_mask(u32::from(f.i3 & 63), u32::from(f.i4 & 63), 64);
            let keep = if f.i4 & 0x80 != 0 { 0 } else { old & !mask };
            let v = keep | (rotated & mask);
            e.cpu.set_r64(f.r1, v);
            if e.insn.op == Opcode::RISBG {
                e.set_cc(cc::sign_cc(v, Width::W64));
            }
        }
        Opcode::RISBHG | Opcode::RISBLG => {
            let high = e.insn.op == Opcode::RISBHG;
            let word_mask = rotate_mask(u32::from(f.i3 & 31), u32::from(f.i4 & 31), 32);
            let mask = if high { word_mask << 32 } else { word_mask };
            let word = if high {
                0xffff_ffff_0000_0000
            } else {
                0xffff_ffff
            };
            let keep = if f.i4 & 0x80 != 0 {
                old & !word
            } else {
                old & !mask
            };
            e.cpu.set_r64(f.r1, keep | (rotated & mask));
        }
        _ => {
            let mask = rotate_mask(u32::from(f.i3 & 63), u32::from(f.i4 & 63), 64);
            let sel = match e.insn.op {
                Opcode::RNSBG => old & rotated,
                Opcode::ROSBG => old | rotated,
                _ => old ^ rotated,
            } & mask;
            e.set_cc(u8::from(sel != 0));
            if f.i3 & 0x80 == 0 {
                e.cpu.set_r64(f.r1, (old & !mask) | sel);
            }
        }
    }
    Ok(Next::Seq)
}

/// Second operand of multiply/divide: R2 for the register forms, storage of
/// `n` bytes otherwise.
fn operand2<B: Bus>(e: &mut Exec<'_, B>, n: usize) -> Result<u64, Exception> {
    match e.insn.op.format() {
        Format::RR | Format::Rre => Ok(e.cpu.r64(e.insn.f.r2)),
        _ => {
            let a = e.ea2();
            e.read_uint(a, n, e.insn.f.b2)
        }
    }
}

/// MR, M, MFY (signed 32x32->64), MLR, ML (unsigned 32x32->64), MLGR, MLG
/// (unsigned 64x64->128): the product goes to the even-odd pair R1, R1+1.
fn multiply<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let r1 = e.insn.f.r1;
    e.even(r1)?;
    match e.insn.op {
        Opcode::MR | Opcode::M | Opcode::MFY => {
            let b = operand2(e, 4)? as u32 as i32 as i64;
            let p = (e.cpu.r32(r1 | 1) as i32 as i64).wrapping_mul(b) as u64;
            e.cpu.set_r32(r1, (p >> 32) as u32);
            e.cpu.set_r32(r1 | 1, p as u32);
        }
        Opcode::MLR | Opcode::ML => {
            let b = operand2(e, 4)? as u32 as u64;
            let p = u64::from(e.cpu.r32(r1 | 1)) * b;
            e.cpu.set_r32(r1, (p >> 32) as u32);
            e.cpu.set_r32(r1 | 1, p as u32);
        }
        _ => {
            let b = operand2(e, 8)?;
            let p = u128::from(e.cpu.r64(r1 | 1)) * u128::from(b);
            e.cpu.set_r64(r1, (p >> 64) as u64);
            e.cpu.set_r64(r1 | 1, p as u64);
        }
    }
    Ok(Next::Seq)
}

/// Divide: remainder to R1, quotient to R1+1. A zero divisor or a quotient
/// that does not fit is a fixed-point-divide exception (0x0009), and the
/// registers are unchanged.
fn divide<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let r1 = e.insn.f.r1;
    e.even(r1)?;
    let div_err = Exception::new(Code::FIXED_POINT_DIVIDE);
    match e.insn.op {
        Opcode::DR | Opcode::D => {
            let d = operand2(e, 4)? as u32 as i32 as i64;
            let n = ((u64::from(e.cpu.r32(r1)) << 32) | u64::from(e.cpu.r32(r1 | 1))) as i64;
            let q = n.checked_div(d).ok_or(div_err)?;
            let q = i32::try_from(q).map_err(|_| div_err)?;
            let r = n.checked_rem(d).ok_or(div_err)?;
            e.cpu.set_r32(r1, r as u32);
            e.cpu.set_r32(r1 | 1, q as u32);
        }
        Opcode::DLR | Opcode::DL => {
            let d = operand2(e, 4)? as u32 as u64;
            let n = (u64::from(e.cpu.r32(r1)) << 32) | u64::from(e.cpu.r32(r1 | 1));
            let q = n.checked_div(d).ok_or(div_err)?;
            let q = u32::try_from(q).map_err(|_| div_err)?;
            e.cpu.set_r32(r1, (n % d) as u32);
            e.cpu.set_r32(r1 | 1, q);
        }
        Opcode::DLGR | Opcode::DLG => {
            let d = u128::from(operand2(e, 8)?);
            let n = (u128::from(e.cpu.r64(r1)) << 64) | u128::from(e.cpu.r64(r1 | 1));
            let q = n.checked_div(d).ok_or(div_err)?;
            let q = u64::try_from(q).map_err(|_| div_err)?;
            e.cpu.set_r64(r1, (n % d) as u64);
            e.cpu.set_r64(r1 | 1, q);
        }
        _ => {
            // DSGR, DSG (64-bit divisor), DSGFR, DSGF (32-bit divisor): the
            // dividend is R1+1 alone.
            let d = match e.insn.op {
                Opcode::DSGFR | Opcode::DSGF => operand2(e, 4)? as u32 as i32 as i64,
                _ => operand2(e, 8)? as i64,
            };
            let n = e.cpu.r64(r1 | 1) as i64;
            let q = n.checked_div(d).ok_or(div_err)?;
            let r = n.checked_rem(d).ok_or(div_err)?;
            e.cpu.set_r64(r1, r as u64);
            e.cpu.set_r64(r1 | 1, q as u64);
        }
    }
    Ok(Next::Seq)
}

/// The instructions of this module not described by a table shape, or
/// `None` if `e.insn` is not one of them.
pub fn special<B: Bus>(e: &mut Exec<'_, B>) -> Option<ExecResult> {
    use Opcode::*;
    let f = e.insn.f;
    Some(match e.insn.op {
        MR | M | MFY | MLR | ML | MLGR | MLG => multiply(e),
        DR | D | DLR | DL | DLGR | DLG | DSGR | DSG | DSGFR | DSGF => divide(e),
        RISBG | RISBGN | RISBHG | RISBLG | RNSBG | ROSBG | RXSBG => rotate_then(e),
        POPCNT => {
            let v = e.cpu.r64(f.r2);
            // M3 bit 0 counts the whole register (facility 61).
            let r = if f.m3 & 8 != 0 && e.cpu.mie3_facility {
                u64::from(v.count_ones())
            } else {
                let mut b = v.to_be_bytes();
                for x in b.iter_mut() {
                    *x = x.count_ones() as u8;
                }
                u64::from_be_bytes(b)
            };
            e.cpu.set_r64(f.r1, r);
            e.set_cc(u8::from(r != 0));
            Ok(Next::Seq)
        }
        FLOGR => find_leftmost_one(e),
        IPM => {
            let byte = (u32::from(e.cpu.psw.cc()) << 4) | u32::from(e.cpu.psw.program_mask());
            let v = (e.cpu.r32(f.r1) & 0x00ff_ffff) | (byte << 24);
            e.cpu.set_r32(f.r1, v);
            Ok(Next::Seq)
        }
        SPM => {
            let byte = (e.cpu.r32(f.r1) >> 24) as u8;
            e.set_cc((byte >> 4) & 3);
            let pm = u64::from(byte & 0xf) << 40;
            e.cpu.psw.mask = (e.cpu.psw.mask & !crate::state::mask::PROGRAM_MASK) | pm;
            Ok(Next::Seq)
        }
        LA | LAY => {
            let a = e.ea2();
            e.set_addr_reg(f.r1, a);
            Ok(Next::Seq)
        }
        LAE | LAEY => {
            let a = e.ea2();
            e.set_addr_reg(f.r1, a);
            let ar = if f.b2 == 0 {
                0
            } else {
                e.cpu.ar[usize::from(f.b2 & 15)]
            };
            e.cpu.ar[usize::from(f.r1 & 15)] = ar;
            Ok(Next::Seq)
        }
        LARL => {
            let a = e.rel(f.ri);
            e.set_addr_reg(f.r1, a);
            Ok(Next::Seq)
        }
        LRVR => {
            let v = e.cpu.r32(f.r2).swap_bytes();
            e.cpu.set_r32(f.r1, v);
            Ok(Next::Seq)
        }
        LRVGR => {
            let v = e.cpu.r64(f.r2).swap_bytes();
            e.cpu.set_r64(f.r1, v);
            Ok(Next::Seq)
        }
        LOCR | LOCGR => {
            if cc::mask_selects(f.m3, e.cpu.psw.cc()) {
                let v = e.cpu.r64(f.r2);
                let w = if e.insn.op == LOCR {
                    Width::W32
                } else {
                    Width::W64
                };
                write_reg(e, f.r1, w, v);
            }
            Ok(Next::Seq)
        }
        // LOAD HIGH ON CONDITION (register; load/store-on-condition
        // facility 2): bits 0-31 of R2 into bits 0-31 of R1.
        LOCFHR => {
            if cc::mask_selects(f.m3, e.cpu.psw.cc()) {
                let v = e.cpu.rh(f.r2);
                e.cpu.set_rh(f.r1, v);
            }
            Ok(Next::Seq)
        }
        LOCHI | LOCGHI | LOCHHI => {
            if cc::mask_selects(f.m3, e.cpu.psw.cc()) {
                let v = Ext::S16.apply(u64::from(f.i2));
                match e.insn.op {
                    LOCHI => e.cpu.set_r32(f.r1, v as u32),
                    LOCGHI => e.cpu.set_r64(f.r1, v),
                    _ => e.cpu.set_rh(f.r1, v as u32),
                }
            }
            Ok(Next::Seq)
        }
        // LOAD ZERO (short: bits 0-31 of the register; long: bits 0-63).
        LZER => e.fpr(f.r1).map(|r1| {
            let v = e.cpu.fpr(r1) & 0xffff_ffff;
            e.cpu.set_fpr(r1, v);
            Next::Seq
        }),
        LZDR => e.fpr(f.r1).map(|r1| {
            e.cpu.set_fpr(r1, 0);
            Next::Seq
        }),
        // LOAD ZERO (extended): both registers of the pair.
        LZXR => e.fpr_pair(f.r1).map(|r1| {
            e.cpu.set_fpr(r1, 0);
            e.cpu.set_fpr(r1 + 2, 0);
            Next::Seq
        }),
        // LOAD (extended): the pair R2 into the pair R1.
        LXR => e.fpr_pair(f.r1).and_then(|r1| {
            let r2 = e.fpr_pair(f.r2)?;
            let (high, low) = (e.cpu.fpr(r2), e.cpu.fpr(r2 + 2));
            e.cpu.set_fpr(r1, high);
            e.cpu.set_fpr(r1 + 2, low);
            Ok(Next::Seq)
        }),
        LDGR => e.fpr(f.r1).map(|r1| {
            e.cpu.set_fpr(r1, e.cpu.r64(f.r2));
            Next::Seq
        }),
        LGDR => e.fpr(f.r2).map(|r2| {
            e.cpu.set_r64(f.r1, e.cpu.fpr(r2));
            Next::Seq
        }),
        LDR => e.fpr(f.r1).and_then(|r1| {
            let v = e.cpu.fpr(e.fpr(f.r2)?);
            e.cpu.set_fpr(r1, v);
            Ok(Next::Seq)
        }),
        LER => e.fpr(f.r1).and_then(|r1| {
            let high = e.cpu.fpr(e.fpr(f.r2)?) & !0xFFFF_FFFF;
            e.cpu.set_fpr(r1, high | (e.cpu.fpr(r1) & 0xFFFF_FFFF));
            Ok(Next::Seq)
        }),
        AIH | ALSIH | ALSIHN | CIH | CLIH => high_immediate(e),
        AHHHR | AHHLR | ALHHHR | ALHHLR | SHHHR | SHHLR | SLHHHR | SLHHLR | CHHR | CHLR | CLHHR
        | CLHLR => high_register(e),
        NCRK | NCGRK | NNRK | NNGRK | NORK | NOGRK | NXRK | NXGRK | OCRK | OCGRK => {
            complemented_logic(e)
        }
        SELR | SELGR | SELFHR => select(e),
        _ => return None,
    })
}

/// The logical operations of the miscellaneous-instruction-extensions
/// facility 3 (61): AND WITH COMPLEMENT (R2 & !R3), NAND, NOR, NOT
/// EXCLUSIVE OR and OR WITH COMPLEMENT (R2 | !R3), into R1; the 32-bit
/// forms on bits 32-63. cc 0 for a zero result, else 1.
fn complemented_logic<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    let op = e.insn.op;
    let w = if matches!(op, NCRK | NNRK | NORK | NXRK | OCRK) {
        Width::W32
    } else {
        Width::W64
    };
    let (a, b) = (e.cpu.r64(f.r2), e.cpu.r64(f.r3));
    let v = match op {
        NCRK | NCGRK => a & !b,
        NNRK | NNGRK => !(a & b),
        NORK | NOGRK => !(a | b),
        NXRK | NXGRK => !(a ^ b),
        _ => a | !b,
    };
    let v = cc::unsigned(v, w);
    write_reg(e, f.r1, w, v);
    e.set_cc(cc::zero_cc(v, w));
    Ok(Next::Seq)
}

/// SELECT (SELR: bits 32-63, SELGR: 64 bits) and SELECT HIGH (SELFHR:
/// bits 0-31) of the miscellaneous-instruction-extensions facility 3 (61):
/// R2 into R1 if the condition code is one M4 selects, else R3; the cc is
/// unchanged.
fn select<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let r = if cc::mask_selects(f.m4, e.cpu.psw.cc()) {
        f.r2
    } else {
        f.r3
    };
    match e.insn.op {
        Opcode::SELR => e.cpu.set_r32(f.r1, e.cpu.r32(r)),
        Opcode::SELGR => e.cpu.set_r64(f.r1, e.cpu.r64(r)),
        _ => e.cpu.set_rh(f.r1, e.cpu.rh(r)),
    }
    Ok(Next::Seq)
}

/// The register forms of the high-word facility (45): AHHHR, ALHHHR,
/// SHHHR, SLHHHR (R1 bits 0-31 = R2 bits 0-31 op R3 bits 0-31), AHHLR,
/// ALHHLR, SHHLR, SLHHLR (op R3 bits 32-63), with the cc and overflow of
/// their full-register counterparts; CHHR, CLHHR (R1 bits 0-31 against R2
/// bits 0-31) and CHLR, CLHLR (against R2 bits 32-63) set the cc only.
fn high_register<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    let (op, low) = match e.insn.op {
        AHHHR => (AluOp::Add, false),
        AHHLR => (AluOp::Add, true),
        ALHHHR => (AluOp::AddL, false),
        ALHHLR => (AluOp::AddL, true),
        SHHHR => (AluOp::Sub, false),
        SHHLR => (AluOp::Sub, true),
        SLHHHR => (AluOp::SubL, false),
        SLHHLR => (AluOp::SubL, true),
        CHHR => (AluOp::Cmp, false),
        CHLR => (AluOp::Cmp, true),
        CLHHR => (AluOp::CmpL, false),
        _ => (AluOp::CmpL, true),
    };
    let (first, second) = if is_compare(op) {
        (f.r1, f.r2)
    } else {
        (f.r2, f.r3)
    };
    let a = u64::from(e.cpu.rh(first));
    let b = u64::from(if low {
        e.cpu.r32(second)
    } else {
        e.cpu.rh(second)
    });
    let out = compute(op, Width::W32, a, b, e.cpu.psw.cc());
    if !is_compare(op) {
        e.cpu.set_rh(f.r1, out.value as u32);
    }
    e.set_cc(out.cc);
    e.overflow(out.overflow)
}

/// High-word immediate operations: AIH, ALSIH, ALSIHN (no cc), CIH, CLIH.
fn high_immediate<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let a = u64::from(e.cpu.rh(f.r1));
    let b = u64::from(f.i2);
    let (op, write, set_cc) = match e.insn.op {
        Opcode::AIH => (AluOp::Add, true, false),
        Opcode::ALSIH => (AluOp::AddL, true, true),
        Opcode::ALSIHN => (AluOp::AddL, true, false),
        Opcode::CIH => (AluOp::Cmp, false, true),
        _ => (AluOp::CmpL, false, true),
    };
    let out = compute(op, Width::W32, a, b, e.cpu.psw.cc());
    if write {
        e.cpu.set_rh(f.r1, out.value as u32);
    }
    if set_cc || op == AluOp::Add {
        e.set_cc(out.cc);
    }
    e.overflow(out.overflow)
}

/// FLOGR: the bit number of the leftmost one of R2 into R1, R2 with that bit cleared into R1 + 1; cc 0 if R2 is zero, else 2.
fn find_leftmost_one<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    e.even(f.r1)?;
    let v = e.cpu.r64(f.r2);
    if v == 0 {
        e.cpu.set_r64(f.r1, 64);
        e.cpu.set_r64(f.r1 | 1, 0);
        e.set_cc(0);
    } else {
        let n = v.leading_zeros();
        e.cpu.set_r64(f.r1, u64::from(n));
        e.cpu.set_r64(f.r1 | 1, v & !(1u64 << (63 - n)));
        e.set_cc(2);
    }
    Ok(Next::Seq)
}
