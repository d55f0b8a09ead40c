//! Binary floating point (PoP ch. 19 "Binary-Floating-Point Instructions"):
//! IEEE 754 short (32-bit) and long (64-bit) arithmetic, comparison, sign
//! and format conversions, and the conversions to and from fixed point.
//!
//! The arithmetic is `rustc_apfloat`'s (a no_std port of LLVM's APFloat:
//! every operation correctly rounded in every IEEE rounding direction, with
//! the IEEE exception flags); square root, NaNs and everything the
//! architecture adds to IEEE 754 are here:
//! - the rounding mode is the FPC's (bits 30-31) or the instruction's M3;
//! - a NaN result follows the PoP's rules (a signaling NaN operand before a
//!   quiet one, the first operand before the second; a signaling NaN is
//!   quieted), and an invalid operation without NaN operands gives the
//!   default NaN (positive, only the quiet bit in the fraction);
//! - an IEEE exception whose mask (FPC byte 0) is one is a data exception
//!   with its DXC: invalid operation and division by zero suppress the
//!   instruction, overflow and underflow complete it with the result scaled
//!   by 2**-alpha / 2**alpha (alpha = 192 short, 1536 long), inexact
//!   completes it with the rounded result; an exception whose mask is zero
//!   sets its flag (FPC byte 1) instead (underflow only when also inexact);
//! - every BFP instruction needs the AFP-register control (CR0 bit 45):
//!   without it, a data exception with DXC 2.

use super::{Exec, ExecResult, Next};
use crate::memory::Bus;
use crate::opcode::Opcode;
use crate::state::Cpu;
use rustc_apfloat::ieee::{Double, Quad, Single};
use rustc_apfloat::{Float, FloatConvert, Round, Status, StatusAnd};
use zmmu_mmu::exception::{Code, Exception};

/// The data-exception code of a BFP instruction executed with the
/// AFP-register control zero.
pub const DXC_BFP_INSTRUCTION: u8 = 2;

/// The IEEE exceptions as the FPC's mask and flag bytes and the DXC name
/// them (bit 0 of a byte the leftmost).
pub mod ieee {
    /// IEEE invalid operation.
    pub const INVALID: u8 = 0x80;
    /// IEEE division by zero.
    pub const DIVIDE_BY_ZERO: u8 = 0x40;
    /// IEEE overflow.
    pub const OVERFLOW: u8 = 0x20;
    /// IEEE underflow.
    pub const UNDERFLOW: u8 = 0x10;
    /// IEEE inexact.
    pub const INEXACT: u8 = 0x08;
    /// In a DXC with [`INEXACT`]: the rounded result's magnitude is
    /// larger than the exact one's ("incremented" rather than "truncated").
    pub const INCREMENTED: u8 = 0x04;
}

/// One BFP format: its `rustc_apfloat` type, a type at least 2p + 2 bits
/// precise (a result rounded first to it and then to this format is
/// correctly rounded) with exponent range for the scaled results, and its
/// place in a floating-point register.
pub(super) trait BfpFormat {
    /// The format's `rustc_apfloat` type.
    type F: Float + FloatConvert<Self::Wide>;
    /// The wider format.
    type Wide: Float + FloatConvert<Self::F>;
    /// Width in bits.
    const BITS: u32;
    /// The exponent adjustment of a trapped overflow or underflow (alpha).
    const ALPHA: i32;
    /// The largest exponent of a finite value.
    const EMAX: i32;
    /// The register contents (right-aligned).
    fn get(cpu: &Cpu, r: u8) -> u64;
    /// Set the register (a short value in bits 0-31, bits 32-63 unchanged).
    fn set(cpu: &mut Cpu, r: u8, v: u64);
}

/// Short BFP (32 bits).
pub(super) struct Short;
/// Long BFP (64 bits).
pub(super) struct Long;

impl BfpFormat for Short {
    type F = Single;
    type Wide = Double;
    const BITS: u32 = 32;
    const ALPHA: i32 = 192;
    const EMAX: i32 = 127;
    fn get(cpu: &Cpu, r: u8) -> u64 {
        cpu.fpr(r) >> 32
    }
    fn set(cpu: &mut Cpu, r: u8, v: u64) {
        let low = cpu.fpr(r) & 0xFFFF_FFFF;
        cpu.set_fpr(r, (v << 32) | low);
    }
}

impl BfpFormat for Long {
    type F = Double;
    type Wide = Quad;
    const BITS: u32 = 64;
    const ALPHA: i32 = 1536;
    const EMAX: i32 = 1023;
    fn get(cpu: &Cpu, r: u8) -> u64 {
        cpu.fpr(r)
    }
    fn set(cpu: &mut Cpu, r: u8, v: u64) {
        cpu.set_fpr(r, v);
    }
}

/// The bit patterns of a format with `bits` bits.
#[derive(Clone, Copy)]
pub(super) struct Bits {
    bits: u32,
}

impl Bits {
    pub(super) const fn sign(self) -> u64 {
        1 << (self.bits - 1)
    }
    /// The fraction's leftmost bit, one in a quiet NaN.
    pub(super) const fn quiet(self) -> u64 {
        if self.bits == 32 {
            1 << 22
        } else {
            1 << 51
        }
    }
    const fn exponent(self) -> u64 {
        if self.bits == 32 {
            0x7F80_0000
        } else {
            0x7FF0_0000_0000_0000
        }
    }
    const fn fraction(self) -> u64 {
        self.quiet() * 2 - 1
    }
    pub(super) const fn is_nan(self, v: u64) -> bool {
        v & self.exponent() == self.exponent() && v & self.fraction() != 0
    }
    pub(super) const fn is_snan(self, v: u64) -> bool {
        self.is_nan(v) && v & self.quiet() == 0
    }
    pub(super) const fn is_zero(self, v: u64) -> bool {
        v & !self.sign() == 0
    }
    pub(super) const fn negative(self, v: u64) -> bool {
        v & self.sign() != 0
    }
    /// The data class of `v` as TEST DATA CLASS numbers it: 0 zero, 1
    /// normal, 2 subnormal, 3 infinity, 4 quiet NaN, 5 signaling NaN.
    pub(super) const fn class(self, v: u64) -> u32 {
        let exponent = v & self.exponent();
        if self.is_snan(v) {
            5
        } else if self.is_nan(v) {
            4
        } else if exponent == self.exponent() {
            3
        } else if exponent != 0 {
            1
        } else if v & self.fraction() != 0 {
            2
        } else {
            0
        }
    }
    /// The default NaN: positive, only the quiet bit in the fraction.
    const fn default_nan(self) -> u64 {
        self.exponent() | self.quiet()
    }
    /// The condition code of a result: 0 zero, 1 negative, 2 positive,
    /// 3 NaN.
    const fn cc(self, v: u64) -> u8 {
        if self.is_nan(v) {
            3
        } else if self.is_zero(v) {
            0
        } else if self.negative(v) {
            1
        } else {
            2
        }
    }
}

pub(super) const fn bits_of<T: BfpFormat>() -> Bits {
    Bits { bits: T::BITS }
}

/// The NaN result of an operation on `ops` (PoP "Results of NaN
/// Operands"): the first signaling NaN quieted (an invalid operation), else
/// the first quiet NaN; `None` without NaN operands.
pub(super) fn nan_operand(b: Bits, ops: &[u64]) -> Option<(u64, u8)> {
    if let Some(&s) = ops.iter().find(|&&v| b.is_snan(v)) {
        return Some((s | b.quiet(), ieee::INVALID));
    }
    ops.iter().find(|&&v| b.is_nan(v)).map(|&q| (q, 0))
}

/// The IEEE exceptions `rustc_apfloat` reports, as FPC bits.
fn exceptions(status: Status) -> u8 {
    let mut x = 0;
    if status.intersects(Status::INVALID_OP) {
        x |= ieee::INVALID;
    }
    if status.intersects(Status::DIV_BY_ZERO) {
        x |= ieee::DIVIDE_BY_ZERO;
    }
    if status.intersects(Status::OVERFLOW) {
        x |= ieee::OVERFLOW;
    }
    if status.intersects(Status::UNDERFLOW) {
        x |= ieee::UNDERFLOW;
    }
    if status.intersects(Status::INEXACT) {
        x |= ieee::INEXACT;
    }
    x
}

/// The result of one operation before the FPC decides what happens.
#[derive(Clone, Copy, Debug)]
pub(super) struct Outcome {
    /// The result (right-aligned bits) when no trap is taken.
    pub(super) value: u64,
    /// The IEEE exceptions (plus [`ieee::UNDERFLOW`] for an exact tiny
    /// result, which only an enabled underflow mask reports).
    pub(super) exc: u8,
    /// An inexact result was incremented in magnitude.
    incremented: bool,
    /// For overflow or underflow: the scaled result, whether it is inexact
    /// and whether it was incremented.
    scaled: Option<(u64, bool, bool)>,
}

impl Outcome {
    /// The IEEE flags the outcome sets when no trap is taken: its
    /// exceptions, underflow only when the result is also inexact.
    pub(super) const fn flags(self) -> u8 {
        let tiny_and_inexact = self.exc & ieee::UNDERFLOW != 0 && self.exc & ieee::INEXACT != 0;
        (self.exc & !ieee::UNDERFLOW) | if tiny_and_inexact { ieee::UNDERFLOW } else { 0 }
    }

    /// A result with exceptions `exc` that is not incremented (or whose
    /// increment plays no part: a vector element's) and has no scaled
    /// form.
    pub(super) const fn flagged(value: u64, exc: u8) -> Self {
        Self {
            value,
            exc,
            incremented: false,
            scaled: None,
        }
    }

    /// An exact result.
    pub(super) const fn exact(value: u64) -> Self {
        Self {
            value,
            exc: 0,
            incremented: false,
            scaled: None,
        }
    }
}

/// The outcome of a correctly rounded operation: `op` computes it in the
/// format, `wide` in the wider format (for the scaled result of an
/// overflow or underflow) for a rounding direction.
fn rounded<T: BfpFormat>(
    round: Round,
    op: impl Fn(Round) -> StatusAnd<T::F>,
    wide: impl Fn(Round) -> T::Wide,
) -> Outcome {
    let b = bits_of::<T>();
    let r = op(round);
    let mut exc = exceptions(r.status);
    if exc & ieee::INVALID != 0 {
        return Outcome {
            value: b.default_nan(),
            exc: ieee::INVALID,
            incremented: false,
            scaled: None,
        };
    }
    // rustc_apfloat reports an overflow that rounds to the largest finite
    // number (toward zero, or away from the infinity of the sign) as
    // inexact only: overflow is when the exact result reaches
    // 2**(emax + 1), which the wider format shows.
    let largest = T::F::largest();
    if exc & (ieee::INEXACT | ieee::OVERFLOW) == ieee::INEXACT && r.value.abs().bitwise_eq(largest)
    {
        let limit = T::Wide::from_u128(1).value.scalbn(T::EMAX + 1);
        if wide(Round::TowardZero).abs() >= limit {
            exc |= ieee::OVERFLOW;
        }
    }
    if r.value.is_denormal() && exc & ieee::INEXACT == 0 {
        exc |= ieee::UNDERFLOW; // tiny and exact
    }
    // Tininess is detected before rounding (QEMU's s390x rule): an
    // inexact result whose exact magnitude is below the smallest normal
    // number underflows even when it rounds up to that number, which
    // rustc_apfloat does not report. The wider format, rounded toward
    // zero, is below it exactly when the exact result is.
    if exc & (ieee::INEXACT | ieee::UNDERFLOW) == ieee::INEXACT {
        let mut lost = false;
        let smallest: T::Wide = T::F::smallest_normalized()
            .convert_r(Round::NearestTiesToEven, &mut lost)
            .value;
        if wide(Round::TowardZero).abs() < smallest {
            exc |= ieee::UNDERFLOW;
        }
    }
    let value = r.value.to_bits() as u64;
    let magnitude = |v: T::F| v.abs().to_bits();
    let incremented =
        exc & ieee::INEXACT != 0 && magnitude(op(Round::TowardZero).value) != magnitude(r.value);
    let scaled = if exc & (ieee::OVERFLOW | ieee::UNDERFLOW) != 0 {
        let alpha = if exc & ieee::OVERFLOW != 0 {
            -T::ALPHA
        } else {
            T::ALPHA
        };
        let scale = |round: Round| {
            let mut lost = false;
            let v: StatusAnd<T::F> = wide(round).scalbn(alpha).convert_r(round, &mut lost);
            (v.value, v.status.intersects(Status::INEXACT))
        };
        let (s, inexact) = scale(round);
        let incremented = inexact && magnitude(scale(Round::TowardZero).0) != magnitude(s);
        Some((s.to_bits() as u64, inexact, incremented))
    } else {
        None
    };
    Outcome {
        value,
        exc,
        incremented,
        scaled,
    }
}

/// The rounding direction of the FPC's BFP rounding-mode field.
pub(super) fn fpc_round(fpc: u32) -> Round {
    match fpc & 3 {
        0 => Round::NearestTiesToEven,
        1 => Round::TowardZero,
        2 => Round::TowardPositive,
        _ => Round::TowardNegative,
    }
}

/// The rounding direction an M3 field names (PoP "BFP Rounding"): 0 the
/// FPC's, 1 to nearest with ties away from zero, 4 to nearest with ties to
/// even, 5 toward zero, 6 toward +infinity, 7 toward -infinity; 3 (prepare
/// for shorter precision) needs the floating-point-extension facility,
/// which zmmu does not offer, and it, 2 and 8-15 are a specification
/// exception.
pub(super) fn m3_round(fpc: u32, m3: u8) -> Result<Round, Exception> {
    Ok(match m3 {
        0 => fpc_round(fpc),
        1 => Round::NearestTiesToAway,
        4 => Round::NearestTiesToEven,
        5 => Round::TowardZero,
        6 => Round::TowardPositive,
        7 => Round::TowardNegative,
        _ => return Err(Exception::new(Code::SPECIFICATION)),
    })
}

impl<B: Bus> Exec<'_, B> {
    /// Applies the FPC to an [`Outcome`]: stores the result with `store`
    /// (unless a suppressing trap is taken), sets the flags, or returns the
    /// data exception of an enabled IEEE exception. Returns the value
    /// stored.
    fn ieee_complete(
        &mut self,
        out: Outcome,
        store: impl FnOnce(&mut Cpu, u64),
    ) -> Result<u64, Exception> {
        let masks = (self.cpu.fpc >> 24) as u8;
        let mut flags = 0u8;
        let exc = out.exc;
        let incremented = |yes: bool| if yes { ieee::INCREMENTED } else { 0 };
        let suppressing = exc & (ieee::INVALID | ieee::DIVIDE_BY_ZERO);
        if suppressing & masks != 0 {
            return Err(Exception::data(suppressing));
        }
        flags |= suppressing;
        for trap in [ieee::OVERFLOW, ieee::UNDERFLOW] {
            if exc & trap != 0 && masks & trap != 0 {
                let (value, inexact, incr) = out.scaled.unwrap_or((out.value, false, false));
                store(self.cpu, value);
                let dxc = trap
                    | if inexact {
                        ieee::INEXACT | incremented(incr)
                    } else {
                        0
                    };
                return Err(Exception::data(dxc));
            }
        }
        store(self.cpu, out.value);
        flags |= out.flags() & (ieee::OVERFLOW | ieee::UNDERFLOW);
        self.cpu.fpc |= u32::from(flags) << 16;
        if exc & ieee::INEXACT != 0 {
            if masks & ieee::INEXACT != 0 {
                return Err(Exception::data(
                    ieee::INEXACT | incremented(out.incremented),
                ));
            }
            self.cpu.fpc |= u32::from(ieee::INEXACT) << 16;
        }
        Ok(out.value)
    }

    /// Data exception DXC 2 unless the AFP-register control is one.
    fn bfp_enabled(&self) -> Result<(), Exception> {
        if self.cpu.cr[0] & crate::state::CR0_AFP_REGISTER != 0 {
            Ok(())
        } else {
            Err(Exception::data(DXC_BFP_INSTRUCTION))
        }
    }

    /// The second operand of a BFP instruction: FPR R2 (RRE) or the
    /// storage operand (RXE) of the format's width.
    fn bfp_op2<T: BfpFormat>(&mut self) -> Result<u64, Exception> {
        if self.insn.op.format() == crate::format::Format::Rxe {
            let a = self.ea2();
            self.read_uint(a, (T::BITS / 8) as usize, self.insn.f.b2)
        } else {
            Ok(T::get(self.cpu, self.insn.f.r2))
        }
    }
}

/// The four arithmetic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

fn apply<F: Float>(op: Arith, a: F, b: F, round: Round) -> StatusAnd<F> {
    match op {
        Arith::Add => a.add_r(b, round),
        Arith::Sub => a.sub_r(b, round),
        Arith::Mul => a.mul_r(b, round),
        Arith::Div => a.div_r(b, round),
    }
}

/// `a op b` in format `T`, rounded by `round`.
pub(super) fn arith<T: BfpFormat>(op: Arith, a: u64, b: u64, round: Round) -> Outcome {
    let bits = bits_of::<T>();
    if let Some((value, exc)) = nan_operand(bits, &[a, b]) {
        return Outcome {
            exc,
            ..Outcome::exact(value)
        };
    }
    let (x, y) = (T::F::from_bits(a.into()), T::F::from_bits(b.into()));
    let widen = |v: T::F| -> T::Wide {
        let mut lost = false;
        v.convert_r(Round::NearestTiesToEven, &mut lost).value
    };
    rounded::<T>(
        round,
        |r| apply(op, x, y, r),
        |r| apply(op, widen(x), widen(y), r).value,
    )
}

/// `b * c + a` (or `b * c - a` when `subtract`) in format `T` with one
/// rounding (MULTIPLY AND ADD / SUBTRACT). A NaN result is the first NaN
/// operand in the order second (`c`), third (`b`), first (`a`), quieted,
/// an invalid operation when any operand is a signaling NaN (QEMU 7.2's
/// choice, which differs from the other operations' signaling-first
/// rule); a product of zero and infinity whose addend is a quiet NaN is
/// not an invalid operation (IEEE 754 leaves it to the implementation;
/// QEMU 7.2 signals nothing, and the quiet NaN is the result). The
/// scaled result of a trapping overflow or underflow is rounded from the
/// wider format's fused result (two roundings, where the other
/// operations' are exact).
pub(super) fn fused<T: BfpFormat>(a: u64, b: u64, c: u64, subtract: bool, round: Round) -> Outcome {
    let bits = bits_of::<T>();
    let operands = [c, b, a];
    if let Some(&nan) = operands.iter().find(|&&v| bits.is_nan(v)) {
        let signaling = operands.iter().any(|&v| bits.is_snan(v));
        return Outcome {
            exc: if signaling { ieee::INVALID } else { 0 },
            ..Outcome::exact(nan | bits.quiet())
        };
    }
    let addend = if subtract { a ^ bits.sign() } else { a };
    let (x, y, z) = (
        T::F::from_bits(b.into()),
        T::F::from_bits(c.into()),
        T::F::from_bits(addend.into()),
    );
    let widen = |v: T::F| -> T::Wide {
        let mut lost = false;
        v.convert_r(Round::NearestTiesToEven, &mut lost).value
    };
    rounded::<T>(
        round,
        |r| x.mul_add_r(y, z, r),
        |r| widen(x).mul_add_r(widen(y), widen(z), r).value,
    )
}

/// MULTIPLY AND ADD, MULTIPLY AND SUBTRACT (RRD: FPR R2; RXF: storage):
/// R1 = R3 * operand 2 +/- R1, rounded once by the FPC; cc unchanged.
fn multiply_and_add<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>, subtract: bool) -> ExecResult {
    e.bfp_enabled()?;
    let f = e.insn.f;
    let c = if e.insn.op.format() == crate::format::Format::Rxf {
        let at = e.ea2();
        e.read_uint(at, (T::BITS / 8) as usize, f.b2)?
    } else {
        T::get(e.cpu, f.r2)
    };
    let (a, b) = (T::get(e.cpu, f.r1), T::get(e.cpu, f.r3));
    let out = fused::<T>(a, b, c, subtract, fpc_round(e.cpu.fpc));
    e.ieee_complete(out, |cpu, v| T::set(cpu, f.r1, v))?;
    Ok(Next::Seq)
}

/// The square root of `a` in format `T`: exact integer square root of the
/// significand, rounded once by `from_u128_r` (the result of a square root
/// is always normal: no overflow, no underflow).
pub(super) fn sqrt<T: BfpFormat>(a: u64, round: Round) -> Outcome {
    let b = bits_of::<T>();
    if let Some((value, exc)) = nan_operand(b, &[a]) {
        return Outcome {
            exc,
            ..Outcome::exact(value)
        };
    }
    if b.is_zero(a) || (a == b.exponent()) {
        return Outcome::exact(a); // +-0, +infinity
    }
    if b.negative(a) {
        return Outcome {
            exc: ieee::INVALID,
            ..Outcome::exact(b.default_nan())
        };
    }
    // a = m * 2**e with m an integer.
    let frac_bits = if T::BITS == 32 { 23 } else { 52 };
    let biased = ((a & b.exponent()) >> frac_bits) as i32;
    let bias = if T::BITS == 32 { 127 } else { 1023 };
    let (m, e) = if biased == 0 {
        (u128::from(a & b.fraction()), 1 - bias - frac_bits)
    } else {
        (
            u128::from((a & b.fraction()) | (b.fraction() + 1)),
            biased - bias - frac_bits,
        )
    };
    // Shift m left by an even amount (with e even) so the root has more
    // than p + 1 bits; the remainder becomes a sticky bit.
    let mut shift = 124 - (128 - m.leading_zeros()) as i32;
    if (e - shift) % 2 != 0 {
        shift -= 1;
    }
    let n = m << shift;
    let root = n.isqrt();
    let sticky = u128::from(root * root != n);
    let significand = (root << 1) | sticky;
    let exp = (e - shift) / 2 - 1;
    let op = |r: Round| {
        let v = T::F::from_u128_r(significand, r);
        StatusAnd {
            status: v.status,
            value: v.value.scalbn(exp),
        }
    };
    let out = op(round);
    let exc = exceptions(out.status);
    let magnitude = |v: T::F| v.to_bits();
    Outcome {
        value: out.value.to_bits() as u64,
        exc,
        incremented: exc & ieee::INEXACT != 0
            && magnitude(op(Round::TowardZero).value) != magnitude(out.value),
        scaled: None,
    }
}

/// Short to long (LDEBR): exact; a signaling NaN is quieted (an invalid
/// operation), a NaN's fraction kept left-aligned.
pub(super) fn lengthen(a: u64) -> Outcome {
    let s = bits_of::<Short>();
    if s.is_nan(a) {
        let snan = s.is_snan(a);
        let v = ((a & s.sign()) << 32)
            | bits_of::<Long>().exponent()
            | ((a & s.fraction()) << 29)
            | if snan { 1 << 51 } else { 0 };
        return Outcome {
            exc: if snan { ieee::INVALID } else { 0 },
            ..Outcome::exact(v)
        };
    }
    let mut lost = false;
    let v: StatusAnd<Double> = Single::from_bits(a.into()).convert_r(Round::TowardZero, &mut lost);
    Outcome::exact(v.value.to_bits() as u64)
}

/// Long to short (LEDBR), rounded by `round`; a NaN keeps the leftmost
/// 22 bits of its fraction (a signaling one is quieted).
pub(super) fn shorten(a: u64, round: Round) -> Outcome {
    let l = bits_of::<Long>();
    if l.is_nan(a) {
        let snan = l.is_snan(a);
        let v = ((a & l.sign()) >> 32)
            | bits_of::<Short>().exponent()
            | ((a & l.fraction()) >> 29)
            | (1 << 22);
        return Outcome {
            exc: if snan { ieee::INVALID } else { 0 },
            ..Outcome::exact(v)
        };
    }
    let x = Double::from_bits(a.into());
    rounded::<Short>(
        round,
        |r| {
            let mut lost = false;
            x.convert_r(r, &mut lost)
        },
        |_| x,
    )
}

/// `a` rounded to an integer value in format `T` (LOAD FP INTEGER): a
/// NaN as the arithmetic's, inexact when the value changes (never
/// overflow or underflow).
pub(super) fn to_integral<T: BfpFormat>(a: u64, round: Round) -> Outcome {
    if let Some((value, exc)) = nan_operand(bits_of::<T>(), &[a]) {
        return Outcome {
            exc,
            ..Outcome::exact(value)
        };
    }
    let x = T::F::from_bits(a.into());
    let r = x.round_to_integral(round);
    let magnitude = |v: T::F| v.abs().to_bits();
    let exc = exceptions(r.status) & ieee::INEXACT;
    Outcome {
        exc,
        incremented: exc != 0
            && magnitude(x.round_to_integral(Round::TowardZero).value) != magnitude(r.value),
        ..Outcome::exact(r.value.to_bits() as u64)
    }
}

/// A signed integer to format `T`, rounded by `round`.
pub(super) fn from_fixed<T: BfpFormat>(v: i128, round: Round) -> Outcome {
    rounded::<T>(
        round,
        |r| T::F::from_i128_r(v, r),
        |r| T::Wide::from_i128_r(v, r).value,
    )
}

/// Format `T` to an integer in `min..=max` (a signed or unsigned range),
/// rounded by `round`: the value, its exceptions and whether it was
/// incremented. A NaN or a value out of range is an invalid operation
/// whose result is the range's end of the operand's sign (`min` for a
/// NaN: the largest negative integer, or zero for CONVERT TO LOGICAL); a
/// value out of range is also inexact (PoP "CONVERT TO FIXED": with the
/// invalid-operation mask zero, SFi and the inexact condition; QEMU does
/// the same).
pub(super) fn to_integer<T: BfpFormat>(
    a: u64,
    min: i128,
    max: i128,
    round: Round,
) -> (i128, u8, bool) {
    let b = bits_of::<T>();
    if b.is_nan(a) {
        return (min, ieee::INVALID, false);
    }
    let x = T::F::from_bits(a.into());
    let mut exact = false;
    let r = x.to_i128_r(128, round, &mut exact);
    if r.status.intersects(Status::INVALID_OP) || r.value < min || r.value > max {
        let v = if b.negative(a) { min } else { max };
        return (v, ieee::INVALID | ieee::INEXACT, false);
    }
    let inexact = r.status.intersects(Status::INEXACT);
    let mut dummy = false;
    let truncated = x.to_i128_r(128, Round::TowardZero, &mut dummy).value;
    (
        r.value,
        if inexact { ieee::INEXACT } else { 0 },
        inexact && truncated != r.value,
    )
}

/// Compare `a` with `b`: cc 0 equal, 1 low, 2 high, 3 unordered; a
/// signaling NaN (any NaN when `signaling`: KEBR, KDBR) is an invalid
/// operation.
pub(super) fn compare<T: BfpFormat>(a: u64, b: u64, signaling: bool) -> (u8, u8) {
    let bits = bits_of::<T>();
    if bits.is_nan(a) || bits.is_nan(b) {
        let invalid = signaling || bits.is_snan(a) || bits.is_snan(b);
        return (3, if invalid { ieee::INVALID } else { 0 });
    }
    let (x, y) = (T::F::from_bits(a.into()), T::F::from_bits(b.into()));
    let cc = match x.partial_cmp(&y) {
        Some(core::cmp::Ordering::Equal) => 0,
        Some(core::cmp::Ordering::Less) => 1,
        Some(core::cmp::Ordering::Greater) => 2,
        None => 3,
    };
    (cc, 0)
}

/// BFP instructions, or `None` if `e.insn` is not one.
pub fn special<B: Bus>(e: &mut Exec<'_, B>) -> Option<ExecResult> {
    use Opcode::*;
    let r = match e.insn.op {
        AEBR | AEB => binary::<B, Short>(e, Arith::Add, true),
        ADBR | ADB => binary::<B, Long>(e, Arith::Add, true),
        SEBR | SEB => binary::<B, Short>(e, Arith::Sub, true),
        SDBR | SDB => binary::<B, Long>(e, Arith::Sub, true),
        MEEBR | MEEB => binary::<B, Short>(e, Arith::Mul, false),
        MDBR | MDB => binary::<B, Long>(e, Arith::Mul, false),
        DEBR | DEB => binary::<B, Short>(e, Arith::Div, false),
        DDBR | DDB => binary::<B, Long>(e, Arith::Div, false),
        CEBR | CEB => cmp::<B, Short>(e, false),
        CDBR | CDB => cmp::<B, Long>(e, false),
        KEBR | KEB => cmp::<B, Short>(e, true),
        KDBR | KDB => cmp::<B, Long>(e, true),
        LTEBR => load_and_test::<B, Short>(e),
        LTDBR => load_and_test::<B, Long>(e),
        LCEBR => sign::<B, Short>(e, Sign::Complement),
        LCDBR => sign::<B, Long>(e, Sign::Complement),
        LPEBR => sign::<B, Short>(e, Sign::Positive),
        LPDBR => sign::<B, Long>(e, Sign::Positive),
        LNEBR => sign::<B, Short>(e, Sign::Negative),
        LNDBR => sign::<B, Long>(e, Sign::Negative),
        SQEBR | SQEB => square_root::<B, Short>(e),
        SQDBR | SQDB => square_root::<B, Long>(e),
        LDEBR | LDEB => e.bfp_enabled().and_then(|()| {
            let a = e.bfp_op2::<Short>()?;
            let r1 = e.insn.f.r1;
            e.ieee_complete(lengthen(a), |cpu, v| Long::set(cpu, r1, v))
                .map(|_| Next::Seq)
        }),
        LEDBR => e.bfp_enabled().and_then(|()| {
            let a = Long::get(e.cpu, e.insn.f.r2);
            let r1 = e.insn.f.r1;
            let round = fpc_round(e.cpu.fpc);
            e.ieee_complete(shorten(a, round), |cpu, v| Short::set(cpu, r1, v))
                .map(|_| Next::Seq)
        }),
        MAEBR | MAEB => multiply_and_add::<B, Short>(e, false),
        MADBR | MADB => multiply_and_add::<B, Long>(e, false),
        MSEBR | MSEB => multiply_and_add::<B, Short>(e, true),
        MSDBR | MSDB => multiply_and_add::<B, Long>(e, true),
        TCEB => test_data_class::<B, Short>(e),
        TCDB => test_data_class::<B, Long>(e),
        CEFBR => convert_from::<B, Short>(e, Integer::FIXED_32),
        CDFBR => convert_from::<B, Long>(e, Integer::FIXED_32),
        CEGBR => convert_from::<B, Short>(e, Integer::FIXED_64),
        CDGBR => convert_from::<B, Long>(e, Integer::FIXED_64),
        CELFBR => convert_from::<B, Short>(e, Integer::LOGICAL_32),
        CDLFBR => convert_from::<B, Long>(e, Integer::LOGICAL_32),
        CELGBR => convert_from::<B, Short>(e, Integer::LOGICAL_64),
        CDLGBR => convert_from::<B, Long>(e, Integer::LOGICAL_64),
        CFEBR => convert_to::<B, Short>(e, Integer::FIXED_32),
        CFDBR => convert_to::<B, Long>(e, Integer::FIXED_32),
        CGEBR => convert_to::<B, Short>(e, Integer::FIXED_64),
        CGDBR => convert_to::<B, Long>(e, Integer::FIXED_64),
        CLFEBR => convert_to::<B, Short>(e, Integer::LOGICAL_32),
        CLFDBR => convert_to::<B, Long>(e, Integer::LOGICAL_32),
        CLGEBR => convert_to::<B, Short>(e, Integer::LOGICAL_64),
        CLGDBR => convert_to::<B, Long>(e, Integer::LOGICAL_64),
        _ => return None,
    };
    Some(r)
}

/// TEST DATA CLASS: cc 1 when the bit of the second-operand address
/// (bits 52-63: +zero, -zero, +normal, -normal, +subnormal, -subnormal,
/// +infinity, -infinity, +quiet NaN, -quiet NaN, +signaling NaN,
/// -signaling NaN) for FPR R1's class and sign is one, else cc 0. No
/// IEEE exception, even for a signaling NaN.
fn test_data_class<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>) -> ExecResult {
    e.bfp_enabled()?;
    let bits = bits_of::<T>();
    let v = T::get(e.cpu, e.insn.f.r1);
    let position = 2 * bits.class(v) + u32::from(bits.negative(v));
    let mask = e.ea2();
    e.set_cc(u8::from(mask & (0x800 >> position) != 0));
    Ok(Next::Seq)
}

/// ADD, SUBTRACT (cc from the result), MULTIPLY, DIVIDE: R1 op= operand 2.
fn binary<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>, op: Arith, sets_cc: bool) -> ExecResult {
    e.bfp_enabled()?;
    let b = e.bfp_op2::<T>()?;
    let r1 = e.insn.f.r1;
    let a = T::get(e.cpu, r1);
    let round = fpc_round(e.cpu.fpc);
    let out = arith::<T>(op, a, b, round);
    let bits = bits_of::<T>();
    let stored = e.ieee_complete(out, |cpu, v| {
        T::set(cpu, r1, v);
        if sets_cc {
            cpu.psw.set_cc(bits.cc(v));
        }
    });
    stored.map(|_| Next::Seq)
}

/// COMPARE (AND SIGNAL): cc from R1 against operand 2.
fn cmp<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>, signaling: bool) -> ExecResult {
    e.bfp_enabled()?;
    let b = e.bfp_op2::<T>()?;
    let a = T::get(e.cpu, e.insn.f.r1);
    let (cc, exc) = compare::<T>(a, b, signaling);
    e.ieee_complete(
        Outcome {
            exc,
            ..Outcome::exact(0)
        },
        |cpu, _| cpu.psw.set_cc(cc),
    )?;
    Ok(Next::Seq)
}

/// LOAD AND TEST: R1 = R2 (a signaling NaN quieted), cc from it.
fn load_and_test<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>) -> ExecResult {
    e.bfp_enabled()?;
    let bits = bits_of::<T>();
    let a = T::get(e.cpu, e.insn.f.r2);
    let out = match nan_operand(bits, &[a]) {
        Some((value, exc)) => Outcome {
            exc,
            ..Outcome::exact(value)
        },
        None => Outcome::exact(a),
    };
    let r1 = e.insn.f.r1;
    e.ieee_complete(out, |cpu, v| {
        T::set(cpu, r1, v);
        cpu.psw.set_cc(bits.cc(v));
    })?;
    Ok(Next::Seq)
}

/// What LOAD COMPLEMENT, LOAD POSITIVE and LOAD NEGATIVE do to the sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sign {
    Complement,
    Positive,
    Negative,
}

/// LOAD COMPLEMENT / POSITIVE / NEGATIVE: the sign bit only, NaNs
/// included, no IEEE exception; cc from the result.
fn sign<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>, how: Sign) -> ExecResult {
    e.bfp_enabled()?;
    let bits = bits_of::<T>();
    let a = T::get(e.cpu, e.insn.f.r2);
    let v = match how {
        Sign::Complement => a ^ bits.sign(),
        Sign::Positive => a & !bits.sign(),
        Sign::Negative => a | bits.sign(),
    };
    T::set(e.cpu, e.insn.f.r1, v);
    e.set_cc(bits.cc(v));
    Ok(Next::Seq)
}

/// SQUARE ROOT: R1 = sqrt(operand 2); cc unchanged.
fn square_root<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>) -> ExecResult {
    e.bfp_enabled()?;
    let a = e.bfp_op2::<T>()?;
    let out = sqrt::<T>(a, fpc_round(e.cpu.fpc));
    let r1 = e.insn.f.r1;
    e.ieee_complete(out, |cpu, v| T::set(cpu, r1, v))?;
    Ok(Next::Seq)
}

/// The integer operand or result of a conversion: its width and whether
/// it is signed (CONVERT FROM/TO FIXED) or unsigned (CONVERT FROM/TO
/// LOGICAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Integer {
    width: u32,
    signed: bool,
}

impl Integer {
    const FIXED_32: Self = Self {
        width: 32,
        signed: true,
    };
    const FIXED_64: Self = Self {
        width: 64,
        signed: true,
    };
    const LOGICAL_32: Self = Self {
        width: 32,
        signed: false,
    };
    const LOGICAL_64: Self = Self {
        width: 64,
        signed: false,
    };

    /// Its range.
    const fn range(self) -> (i128, i128) {
        if self.signed {
            (
                -(1i128 << (self.width - 1)),
                (1i128 << (self.width - 1)) - 1,
            )
        } else {
            (0, (1i128 << self.width) - 1)
        }
    }

    /// The value GR `r` holds (bits 32-63 or all 64).
    fn read(self, cpu: &Cpu, r: u8) -> i128 {
        match (self.width, self.signed) {
            (32, true) => i128::from(cpu.r32(r) as i32),
            (32, false) => i128::from(cpu.r32(r)),
            (_, true) => i128::from(cpu.r64(r) as i64),
            _ => i128::from(cpu.r64(r)),
        }
    }

    /// Stores `v` (in range) into GR `r`.
    fn write(self, cpu: &mut Cpu, r: u8, v: u64) {
        if self.width == 32 {
            cpu.set_r32(r, v as u32);
        } else {
            cpu.set_r64(r, v);
        }
    }
}

/// The rounding and inexact control of a conversion: CONVERT FROM FIXED
/// rounds by the FPC (its M3 and M4 fields come with the
/// floating-point-extension facility and are ignored here); the logical
/// conversions, which that facility brings, round as M3 says and suppress
/// the inexact exception when M4 bit 1 (the IEEE-inexact-exception
/// control) is one.
fn conversion_controls<B: Bus>(
    e: &Exec<'_, B>,
    round_by_m3: bool,
) -> Result<(Round, bool), Exception> {
    let f = e.insn.f;
    let logical = e.insn.op.is_logical_bfp_conversion();
    let round = if logical || round_by_m3 {
        m3_round(e.cpu.fpc, f.m3)?
    } else {
        fpc_round(e.cpu.fpc)
    };
    Ok((round, logical && f.m4 & 4 != 0))
}

/// CONVERT FROM FIXED and CONVERT FROM LOGICAL (32-bit or 64-bit GR R2);
/// cc unchanged.
fn convert_from<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>, source: Integer) -> ExecResult {
    e.bfp_enabled()?;
    let (round, suppress_inexact) = conversion_controls(e, false)?;
    let v = source.read(e.cpu, e.insn.f.r2);
    let mut out = from_fixed::<T>(v, round);
    if suppress_inexact {
        out.exc &= !ieee::INEXACT;
    }
    let r1 = e.insn.f.r1;
    e.ieee_complete(out, |cpu, v| T::set(cpu, r1, v))?;
    Ok(Next::Seq)
}

/// CONVERT TO FIXED and CONVERT TO LOGICAL (into bits 32-63 or all of GR
/// R1), rounded as M3 says; cc 0 zero, 1 negative, 2 positive (the
/// source), 3 NaN or out of range.
fn convert_to<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>, target: Integer) -> ExecResult {
    e.bfp_enabled()?;
    let (round, suppress_inexact) = conversion_controls(e, true)?;
    let bits = bits_of::<T>();
    let a = T::get(e.cpu, e.insn.f.r2);
    let (min, max) = target.range();
    let (v, mut exc, incremented) = to_integer::<T>(a, min, max, round);
    let cc = if exc & ieee::INVALID != 0 {
        3
    } else {
        bits.cc(a)
    };
    if suppress_inexact {
        exc &= !ieee::INEXACT;
    }
    let r1 = e.insn.f.r1;
    let out = Outcome {
        value: v as u64,
        exc,
        incremented,
        scaled: None,
    };
    e.ieee_complete(out, |cpu, v| {
        target.write(cpu, r1, v);
        cpu.psw.set_cc(cc);
    })?;
    Ok(Next::Seq)
}
