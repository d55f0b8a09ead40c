//! Binary floating point (PoP ch. 19 "Binary-Floating-Point Instructions"):
//! IEEE 754 short (32-bit), long (64-bit) and extended (128-bit, in a
//! floating-point-register pair) arithmetic, comparison, sign and format
//! conversions, and the conversions to and from fixed point. Each
//! operation is written once, generic over the format (`BfpFormat`).
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
//!   by 2**-alpha / 2**alpha (alpha = 192 short, 1536 long, 24576
//!   extended), inexact
//!   completes it with the rounded result; an exception whose mask is zero
//!   sets its flag (FPC byte 1) instead (underflow only when also inexact);
//! - every BFP instruction needs the AFP-register control (CR0 bit 45):
//!   without it, a data exception with DXC 2; an extended operand's R
//!   field must designate a register pair (0, 1, 4, 5, 8, 9, 12, 13),
//!   else a specification exception.

use super::{Exec, ExecResult, Next};
use crate::memory::Bus;
use crate::opcode::Opcode;
use crate::state::Cpu;
use rustc_apfloat::ieee::{Double, IeeeFloat, Quad, Semantics, Single};
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

/// The wider format of a BFP format: its precision with an exponent range
/// so wide that no result of an operation on the format's values, nor
/// such a result scaled by 2**alpha or 2**-alpha, overflows or is
/// denormal in it. An operation rounded to it is the exact result
/// rounded to the format's precision with an unbounded exponent range:
/// exactly what overflow detection (the exact result at least
/// 2**(emax + 1)), tininess (below 2**emin) and the scaled results of
/// trapped overflow and underflow (PoP "Overflow", "Underflow") need, each
/// from one correct rounding. Its interchange layout (`BITS`) is never
/// used.
macro_rules! wide_semantics {
    ($(#[$doc:meta])* $name:ident, $precision:expr) => {
        $(#[$doc])*
        pub(super) struct $name;
        impl Semantics for $name {
            const BITS: usize = 1 + 20 + $precision - 1;
            const EXP_BITS: usize = 20;
            const PRECISION: usize = $precision;
        }
    };
}

wide_semantics!(
    /// Short's wider format: 24 bits, exponents to 2**19.
    SingleWide,
    24
);
wide_semantics!(
    /// Long's wider format: 53 bits, exponents to 2**19.
    DoubleWide,
    53
);
wide_semantics!(
    /// Extended's wider format: 113 bits, exponents to 2**19.
    QuadWide,
    113
);

/// One BFP format: its `rustc_apfloat` type, its wider format (see
/// [`wide_semantics`]) and its place in the floating-point registers.
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
    /// Whether `r` designates a register (or register pair) of the format:
    /// an extended operand is the pair `r`, `r + 2` (PoP "Floating-Point-
    /// Register Pairs"), other numbers are a specification exception.
    fn valid(r: u8) -> bool {
        let _ = r;
        true
    }
    /// The register contents (right-aligned).
    fn get(cpu: &Cpu, r: u8) -> u128;
    /// Set the register (a short value in bits 0-31, bits 32-63 unchanged).
    fn set(cpu: &mut Cpu, r: u8, v: u128);
}

/// Short BFP (32 bits).
pub(super) struct Short;
/// Long BFP (64 bits).
pub(super) struct Long;
/// Extended BFP (128 bits).
pub(super) struct Extended;

impl BfpFormat for Short {
    type F = Single;
    type Wide = IeeeFloat<SingleWide>;
    const BITS: u32 = 32;
    const ALPHA: i32 = 192;
    const EMAX: i32 = 127;
    fn get(cpu: &Cpu, r: u8) -> u128 {
        u128::from(cpu.fpr(r) >> 32)
    }
    fn set(cpu: &mut Cpu, r: u8, v: u128) {
        let low = cpu.fpr(r) & 0xFFFF_FFFF;
        cpu.set_fpr(r, ((v as u64) << 32) | low);
    }
}

impl BfpFormat for Long {
    type F = Double;
    type Wide = IeeeFloat<DoubleWide>;
    const BITS: u32 = 64;
    const ALPHA: i32 = 1536;
    const EMAX: i32 = 1023;
    fn get(cpu: &Cpu, r: u8) -> u128 {
        u128::from(cpu.fpr(r))
    }
    fn set(cpu: &mut Cpu, r: u8, v: u128) {
        cpu.set_fpr(r, v as u64);
    }
}

impl BfpFormat for Extended {
    type F = Quad;
    type Wide = IeeeFloat<QuadWide>;
    const BITS: u32 = 128;
    const ALPHA: i32 = 24576;
    const EMAX: i32 = 16383;
    fn valid(r: u8) -> bool {
        r & 2 == 0
    }
    /// Bits 0-63 in FPR `r`, bits 64-127 in FPR `r + 2`.
    fn get(cpu: &Cpu, r: u8) -> u128 {
        u128::from(cpu.fpr(r)) << 64 | u128::from(cpu.fpr(r + 2))
    }
    fn set(cpu: &mut Cpu, r: u8, v: u128) {
        cpu.set_fpr(r, (v >> 64) as u64);
        cpu.set_fpr(r + 2, v as u64);
    }
}

/// The bit patterns of a format with `bits` bits.
#[derive(Clone, Copy)]
pub(super) struct Bits {
    bits: u32,
}

impl Bits {
    pub(super) const fn sign(self) -> u128 {
        1 << (self.bits - 1)
    }
    /// The number of fraction bits (the significand's without its
    /// implicit unit bit).
    const fn fraction_bits(self) -> u32 {
        match self.bits {
            32 => 23,
            64 => 52,
            _ => 112,
        }
    }
    /// The fraction's leftmost bit, one in a quiet NaN.
    pub(super) const fn quiet(self) -> u128 {
        1 << (self.fraction_bits() - 1)
    }
    const fn exponent(self) -> u128 {
        (self.sign() - 1) & !self.fraction()
    }
    const fn fraction(self) -> u128 {
        self.quiet() * 2 - 1
    }
    pub(super) const fn is_nan(self, v: u128) -> bool {
        v & self.exponent() == self.exponent() && v & self.fraction() != 0
    }
    pub(super) const fn is_snan(self, v: u128) -> bool {
        self.is_nan(v) && v & self.quiet() == 0
    }
    pub(super) const fn is_zero(self, v: u128) -> bool {
        v & !self.sign() == 0
    }
    pub(super) const fn negative(self, v: u128) -> bool {
        v & self.sign() != 0
    }
    /// The data class of `v` as TEST DATA CLASS numbers it: 0 zero, 1
    /// normal, 2 subnormal, 3 infinity, 4 quiet NaN, 5 signaling NaN.
    pub(super) const fn class(self, v: u128) -> u32 {
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
    const fn default_nan(self) -> u128 {
        self.exponent() | self.quiet()
    }
    /// The condition code of a result: 0 zero, 1 negative, 2 positive,
    /// 3 NaN.
    const fn cc(self, v: u128) -> u8 {
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
pub(super) fn nan_operand(b: Bits, ops: &[u128]) -> Option<(u128, u8)> {
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
    pub(super) value: u128,
    /// The IEEE exceptions (plus [`ieee::UNDERFLOW`] for an exact tiny
    /// result, which only an enabled underflow mask reports).
    pub(super) exc: u8,
    /// An inexact result was incremented in magnitude.
    incremented: bool,
    /// For overflow or underflow: the scaled result, whether it is inexact
    /// and whether it was incremented.
    scaled: Option<(u128, bool, bool)>,
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
    pub(super) const fn flagged(value: u128, exc: u8) -> Self {
        Self {
            value,
            exc,
            incremented: false,
            scaled: None,
        }
    }

    /// An exact result.
    pub(super) const fn exact(value: u128) -> Self {
        Self {
            value,
            exc: 0,
            incremented: false,
            scaled: None,
        }
    }
}

/// The outcome of a correctly rounded operation: `op` computes it in the
/// format, `wide` in the wider format (for overflow, tininess and the
/// scaled results) for a rounding direction.
fn rounded<T: BfpFormat>(
    round: Round,
    op: impl Fn(Round) -> StatusAnd<T::F>,
    wide: impl Fn(Round) -> StatusAnd<T::Wide>,
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
        if wide(Round::TowardZero).value.abs() >= limit {
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
        if wide(Round::TowardZero).value.abs() < smallest {
            exc |= ieee::UNDERFLOW;
        }
    }
    let value = r.value.to_bits();
    let magnitude = |v: T::F| v.abs().to_bits();
    let incremented =
        exc & ieee::INEXACT != 0 && magnitude(op(Round::TowardZero).value) != magnitude(r.value);
    let scaled = if exc & (ieee::OVERFLOW | ieee::UNDERFLOW) != 0 {
        let alpha = if exc & ieee::OVERFLOW != 0 {
            -T::ALPHA
        } else {
            T::ALPHA
        };
        // The scaled value is normal in the format: converting it is
        // exact, the rounding was the wider format's.
        let scale = |round: Round| {
            let mut lost = false;
            let w = wide(round);
            let v: StatusAnd<T::F> = w.value.scalbn(alpha).convert_r(round, &mut lost);
            (v.value, (w.status | v.status).intersects(Status::INEXACT))
        };
        let (s, inexact) = scale(round);
        let incremented = inexact && magnitude(scale(Round::TowardZero).0) != magnitude(s);
        Some((s.to_bits(), inexact, incremented))
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
        store: impl FnOnce(&mut Cpu, u128),
    ) -> Result<u128, Exception> {
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

    /// Specification exception unless each of `regs` designates a
    /// register of format `T` (an extended operand's pair).
    pub(super) fn bfp_registers<T: BfpFormat>(&self, regs: &[u8]) -> Result<(), Exception> {
        if regs.iter().all(|&r| T::valid(r)) {
            Ok(())
        } else {
            Err(Exception::new(Code::SPECIFICATION))
        }
    }

    /// The second operand of a BFP instruction: FPR R2 (RRE) or the
    /// storage operand (RXE) of the format's width (short or long).
    fn bfp_op2<T: BfpFormat>(&mut self) -> Result<u128, Exception> {
        if self.insn.op.format() == crate::format::Format::Rxe {
            let a = self.ea2();
            self.read_uint(a, (T::BITS / 8) as usize, self.insn.f.b2)
                .map(u128::from)
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

/// `v` in `T`'s wider format (exact).
fn widen<T: BfpFormat>(v: T::F) -> T::Wide {
    let mut lost = false;
    v.convert_r(Round::NearestTiesToEven, &mut lost).value
}

/// `a op b` in format `T`, rounded by `round`.
pub(super) fn arith<T: BfpFormat>(op: Arith, a: u128, b: u128, round: Round) -> Outcome {
    let bits = bits_of::<T>();
    if let Some((value, exc)) = nan_operand(bits, &[a, b]) {
        return Outcome {
            exc,
            ..Outcome::exact(value)
        };
    }
    let (x, y) = (T::F::from_bits(a), T::F::from_bits(b));
    rounded::<T>(
        round,
        |r| apply(op, x, y, r),
        |r| apply(op, widen::<T>(x), widen::<T>(y), r),
    )
}

/// `b * c + a` (or `b * c - a` when `subtract`) in format `T` with one
/// rounding (MULTIPLY AND ADD / SUBTRACT). A NaN result is the first NaN
/// operand in the order second (`c`), third (`b`), first (`a`), quieted,
/// an invalid operation when any operand is a signaling NaN (QEMU 7.2's
/// choice, which differs from the other operations' signaling-first
/// rule); a product of zero and infinity whose addend is a quiet NaN is
/// not an invalid operation (IEEE 754 leaves it to the implementation;
/// QEMU 7.2 signals nothing, and the quiet NaN is the result).
pub(super) fn fused<T: BfpFormat>(
    a: u128,
    b: u128,
    c: u128,
    subtract: bool,
    round: Round,
) -> Outcome {
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
        T::F::from_bits(b),
        T::F::from_bits(c),
        T::F::from_bits(addend),
    );
    rounded::<T>(
        round,
        |r| x.mul_add_r(y, z, r),
        |r| widen::<T>(x).mul_add_r(widen::<T>(y), widen::<T>(z), r),
    )
}

/// MULTIPLY AND ADD, MULTIPLY AND SUBTRACT (RRD: FPR R2; RXF: storage):
/// R1 = R3 * operand 2 +/- R1, rounded once by the FPC; cc unchanged.
fn multiply_and_add<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>, subtract: bool) -> ExecResult {
    e.bfp_enabled()?;
    let f = e.insn.f;
    let c = if e.insn.op.format() == crate::format::Format::Rxf {
        let at = e.ea2();
        u128::from(e.read_uint(at, (T::BITS / 8) as usize, f.b2)?)
    } else {
        T::get(e.cpu, f.r2)
    };
    let (a, b) = (T::get(e.cpu, f.r1), T::get(e.cpu, f.r3));
    let out = fused::<T>(a, b, c, subtract, fpc_round(e.cpu.fpc));
    e.ieee_complete(out, |cpu, v| T::set(cpu, f.r1, v))?;
    Ok(Next::Seq)
}

/// The square root of `a` in format `T`: the exact integer square root
/// of the significand scaled to [`ROOT_BITS`] bits with a sticky bit,
/// rounded once by `from_u128_r` (the result of a square root is always
/// normal: no overflow, no underflow).
pub(super) fn sqrt<T: BfpFormat>(a: u128, round: Round) -> Outcome {
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
    let frac_bits = b.fraction_bits();
    let biased = ((a & b.exponent()) >> frac_bits) as i32;
    let bias = (1 << (T::BITS - frac_bits - 2)) - 1;
    let (m, e) = if biased == 0 {
        (a & b.fraction(), 1 - bias - frac_bits as i32)
    } else {
        (
            (a & b.fraction()) | (b.fraction() + 1),
            biased - bias - frac_bits as i32,
        )
    };
    // m * 2**s with 2 * ROOT_BITS - 1 or 2 * ROOT_BITS bits and e - s even.
    let mut s = 2 * ROOT_BITS as i32 - (128 - m.leading_zeros()) as i32;
    if (e - s) % 2 != 0 {
        s -= 1;
    }
    let (root, exact) = integer_sqrt(m, s as u32);
    let significand = (root << 1) | u128::from(!exact);
    let exp = (e - s) / 2 - 1;
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
        value: out.value.to_bits(),
        exc,
        incremented: exc & ieee::INEXACT != 0
            && magnitude(op(Round::TowardZero).value) != magnitude(out.value),
        scaled: None,
    }
}

/// The bits of the integer square root [`sqrt`] computes: more than the
/// extended format's precision (113) plus a rounding bit.
const ROOT_BITS: u32 = 120;

/// floor(sqrt(m * 2**s)) and whether it is exact, for m * 2**s below
/// 2**(2 * ROOT_BITS): the digit-by-digit (restoring) square root, two
/// radicand bits a step; the remainder stays below twice the root.
fn integer_sqrt(m: u128, s: u32) -> (u128, bool) {
    let bit = |j: u32| -> u128 {
        match j.checked_sub(s) {
            Some(k) if k < 128 => (m >> k) & 1,
            _ => 0,
        }
    };
    let (mut root, mut rest) = (0u128, 0u128);
    for k in (0..ROOT_BITS).rev() {
        rest = (rest << 2) | (bit(2 * k + 1) << 1) | bit(2 * k);
        let trial = (root << 2) | 1;
        root <<= 1;
        if rest >= trial {
            rest -= trial;
            root |= 1;
        }
    }
    (root, rest == 0)
}

/// Format `S` to the longer format `L` (LDEBR, LXDBR, LXEBR): exact; a
/// signaling NaN is quieted (an invalid operation), a NaN's fraction kept
/// left-aligned.
pub(super) fn lengthen<S: BfpFormat, L: BfpFormat>(a: u128) -> Outcome
where
    S::F: FloatConvert<L::F>,
{
    let (s, l) = (bits_of::<S>(), bits_of::<L>());
    if s.is_nan(a) {
        let v = if s.negative(a) { l.sign() } else { 0 }
            | l.exponent()
            | ((a & s.fraction()) << (l.fraction_bits() - s.fraction_bits()))
            | l.quiet();
        return Outcome {
            exc: if s.is_snan(a) { ieee::INVALID } else { 0 },
            ..Outcome::exact(v)
        };
    }
    let mut lost = false;
    let v: StatusAnd<L::F> = S::F::from_bits(a).convert_r(Round::TowardZero, &mut lost);
    Outcome::exact(v.value.to_bits())
}

/// Format `L` to the shorter format `S` (LEDBR, LDXBR, LEXBR), rounded by
/// `round`; a NaN keeps the leftmost bits of its fraction (a signaling one
/// is quieted).
pub(super) fn shorten<L: BfpFormat, S: BfpFormat>(a: u128, round: Round) -> Outcome
where
    L::F: FloatConvert<S::F> + FloatConvert<S::Wide>,
{
    let (l, s) = (bits_of::<L>(), bits_of::<S>());
    if l.is_nan(a) {
        let v = if l.negative(a) { s.sign() } else { 0 }
            | s.exponent()
            | ((a & l.fraction()) >> (l.fraction_bits() - s.fraction_bits()))
            | s.quiet();
        return Outcome {
            exc: if l.is_snan(a) { ieee::INVALID } else { 0 },
            ..Outcome::exact(v)
        };
    }
    let x = L::F::from_bits(a);
    rounded::<S>(
        round,
        |r| {
            let mut lost = false;
            x.convert_r(r, &mut lost)
        },
        |r| {
            let mut lost = false;
            x.convert_r(r, &mut lost)
        },
    )
}

/// `a` rounded to an integer value in format `T` (LOAD FP INTEGER): a
/// NaN as the arithmetic's, inexact when the value changes (never
/// overflow or underflow).
pub(super) fn to_integral<T: BfpFormat>(a: u128, round: Round) -> Outcome {
    if let Some((value, exc)) = nan_operand(bits_of::<T>(), &[a]) {
        return Outcome {
            exc,
            ..Outcome::exact(value)
        };
    }
    let x = T::F::from_bits(a);
    let r = x.round_to_integral(round);
    let magnitude = |v: T::F| v.abs().to_bits();
    let exc = exceptions(r.status) & ieee::INEXACT;
    Outcome {
        exc,
        incremented: exc != 0
            && magnitude(x.round_to_integral(Round::TowardZero).value) != magnitude(r.value),
        ..Outcome::exact(r.value.to_bits())
    }
}

/// A signed integer to format `T`, rounded by `round`.
pub(super) fn from_fixed<T: BfpFormat>(v: i128, round: Round) -> Outcome {
    rounded::<T>(
        round,
        |r| T::F::from_i128_r(v, r),
        |r| T::Wide::from_i128_r(v, r),
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
    a: u128,
    min: i128,
    max: i128,
    round: Round,
) -> (i128, u8, bool) {
    let b = bits_of::<T>();
    if b.is_nan(a) {
        return (min, ieee::INVALID, false);
    }
    let x = T::F::from_bits(a);
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
pub(super) fn compare<T: BfpFormat>(a: u128, b: u128, signaling: bool) -> (u8, u8) {
    let bits = bits_of::<T>();
    if bits.is_nan(a) || bits.is_nan(b) {
        let invalid = signaling || bits.is_snan(a) || bits.is_snan(b);
        return (3, if invalid { ieee::INVALID } else { 0 });
    }
    let (x, y) = (T::F::from_bits(a), T::F::from_bits(b));
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
        AXBR => binary::<B, Extended>(e, Arith::Add, true),
        SXBR => binary::<B, Extended>(e, Arith::Sub, true),
        MXBR => binary::<B, Extended>(e, Arith::Mul, false),
        DXBR => binary::<B, Extended>(e, Arith::Div, false),
        CEBR | CEB => cmp::<B, Short>(e, false),
        CDBR | CDB => cmp::<B, Long>(e, false),
        KEBR | KEB => cmp::<B, Short>(e, true),
        KDBR | KDB => cmp::<B, Long>(e, true),
        CXBR => cmp::<B, Extended>(e, false),
        KXBR => cmp::<B, Extended>(e, true),
        LTEBR => load_and_test::<B, Short>(e),
        LTDBR => load_and_test::<B, Long>(e),
        LTXBR => load_and_test::<B, Extended>(e),
        LCEBR => sign::<B, Short>(e, Sign::Complement),
        LCDBR => sign::<B, Long>(e, Sign::Complement),
        LCXBR => sign::<B, Extended>(e, Sign::Complement),
        LPEBR => sign::<B, Short>(e, Sign::Positive),
        LPDBR => sign::<B, Long>(e, Sign::Positive),
        LPXBR => sign::<B, Extended>(e, Sign::Positive),
        LNEBR => sign::<B, Short>(e, Sign::Negative),
        LNDBR => sign::<B, Long>(e, Sign::Negative),
        LNXBR => sign::<B, Extended>(e, Sign::Negative),
        SQEBR | SQEB => square_root::<B, Short>(e),
        SQDBR | SQDB => square_root::<B, Long>(e),
        SQXBR => square_root::<B, Extended>(e),
        LDEBR | LDEB => load_lengthened::<B, Short, Long>(e),
        LXDBR | LXDB => load_lengthened::<B, Long, Extended>(e),
        LXEBR | LXEB => load_lengthened::<B, Short, Extended>(e),
        LEDBR => load_rounded::<B, Long, Short>(e),
        LDXBR => load_rounded::<B, Extended, Long>(e),
        LEXBR => load_rounded::<B, Extended, Short>(e),
        MDEBR | MDEB => multiply_lengthened::<B, Short, Long>(e),
        MXDBR | MXDB => multiply_lengthened::<B, Long, Extended>(e),
        FIEBR => load_fp_integer::<B, Short>(e),
        FIDBR => load_fp_integer::<B, Long>(e),
        FIXBR => load_fp_integer::<B, Extended>(e),
        MAEBR | MAEB => multiply_and_add::<B, Short>(e, false),
        MADBR | MADB => multiply_and_add::<B, Long>(e, false),
        MSEBR | MSEB => multiply_and_add::<B, Short>(e, true),
        MSDBR | MSDB => multiply_and_add::<B, Long>(e, true),
        TCEB => test_data_class::<B, Short>(e),
        TCDB => test_data_class::<B, Long>(e),
        TCXB => test_data_class::<B, Extended>(e),
        CEFBR => convert_from::<B, Short>(e, Integer::FIXED_32),
        CDFBR => convert_from::<B, Long>(e, Integer::FIXED_32),
        CXFBR => convert_from::<B, Extended>(e, Integer::FIXED_32),
        CEGBR => convert_from::<B, Short>(e, Integer::FIXED_64),
        CDGBR => convert_from::<B, Long>(e, Integer::FIXED_64),
        CXGBR => convert_from::<B, Extended>(e, Integer::FIXED_64),
        CELFBR => convert_from::<B, Short>(e, Integer::LOGICAL_32),
        CDLFBR => convert_from::<B, Long>(e, Integer::LOGICAL_32),
        CXLFBR => convert_from::<B, Extended>(e, Integer::LOGICAL_32),
        CELGBR => convert_from::<B, Short>(e, Integer::LOGICAL_64),
        CDLGBR => convert_from::<B, Long>(e, Integer::LOGICAL_64),
        CXLGBR => convert_from::<B, Extended>(e, Integer::LOGICAL_64),
        CFEBR => convert_to::<B, Short>(e, Integer::FIXED_32),
        CFDBR => convert_to::<B, Long>(e, Integer::FIXED_32),
        CFXBR => convert_to::<B, Extended>(e, Integer::FIXED_32),
        CGEBR => convert_to::<B, Short>(e, Integer::FIXED_64),
        CGDBR => convert_to::<B, Long>(e, Integer::FIXED_64),
        CGXBR => convert_to::<B, Extended>(e, Integer::FIXED_64),
        CLFEBR => convert_to::<B, Short>(e, Integer::LOGICAL_32),
        CLFDBR => convert_to::<B, Long>(e, Integer::LOGICAL_32),
        CLFXBR => convert_to::<B, Extended>(e, Integer::LOGICAL_32),
        CLGEBR => convert_to::<B, Short>(e, Integer::LOGICAL_64),
        CLGDBR => convert_to::<B, Long>(e, Integer::LOGICAL_64),
        CLGXBR => convert_to::<B, Extended>(e, Integer::LOGICAL_64),
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
    e.bfp_registers::<T>(&[e.insn.f.r1])?;
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
    e.bfp_registers::<T>(&[e.insn.f.r1, e.insn.f.r2])?;
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
    e.bfp_registers::<T>(&[e.insn.f.r1, e.insn.f.r2])?;
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
    e.bfp_registers::<T>(&[e.insn.f.r1, e.insn.f.r2])?;
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
    e.bfp_registers::<T>(&[e.insn.f.r1, e.insn.f.r2])?;
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
    e.bfp_registers::<T>(&[e.insn.f.r1, e.insn.f.r2])?;
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
    fn write(self, cpu: &mut Cpu, r: u8, v: u128) {
        if self.width == 32 {
            cpu.set_r32(r, v as u32);
        } else {
            cpu.set_r64(r, v as u64);
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
    e.bfp_registers::<T>(&[e.insn.f.r1])?;
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
    e.bfp_registers::<T>(&[e.insn.f.r2])?;
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
        value: v as u128,
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

/// LOAD LENGTHENED (LDEBR, LXDBR, LXEBR; RXE: LDEB, LXDB, LXEB): FPR R1
/// (format `L`) = operand 2 (format `S`), exact; cc unchanged.
fn load_lengthened<B: Bus, S: BfpFormat, L: BfpFormat>(e: &mut Exec<'_, B>) -> ExecResult
where
    S::F: FloatConvert<L::F>,
{
    e.bfp_enabled()?;
    let r1 = e.insn.f.r1;
    e.bfp_registers::<L>(&[r1])?;
    let a = e.bfp_op2::<S>()?;
    e.ieee_complete(lengthen::<S, L>(a), |cpu, v| L::set(cpu, r1, v))?;
    Ok(Next::Seq)
}

/// LOAD ROUNDED (LEDBR, LDXBR, LEXBR): FPR R1 (format `S`) = FPR R2
/// (format `L`) rounded by the FPC (the M3 and M4 fields of the A forms
/// come with the floating-point-extension facility, which zmmu does not
/// offer); cc unchanged. From extended, R1 too must designate a register
/// pair, whose right register is left unchanged.
fn load_rounded<B: Bus, L: BfpFormat, S: BfpFormat>(e: &mut Exec<'_, B>) -> ExecResult
where
    L::F: FloatConvert<S::F> + FloatConvert<S::Wide>,
{
    e.bfp_enabled()?;
    let f = e.insn.f;
    e.bfp_registers::<L>(&[f.r1, f.r2])?;
    let a = L::get(e.cpu, f.r2);
    let out = shorten::<L, S>(a, fpc_round(e.cpu.fpc));
    e.ieee_complete(out, |cpu, v| S::set(cpu, f.r1, v))?;
    Ok(Next::Seq)
}

/// MULTIPLY (MDEBR, MXDBR; RXE: MDEB, MXDB): FPR R1 (format `S`) times
/// operand 2 (format `S`), the exact product in format `L` into FPR R1
/// (the pair for extended); a NaN operand gives the NaN result of the
/// short multiplication, lengthened; cc unchanged.
fn multiply_lengthened<B: Bus, S: BfpFormat, L: BfpFormat>(e: &mut Exec<'_, B>) -> ExecResult
where
    S::F: FloatConvert<L::F>,
{
    e.bfp_enabled()?;
    let r1 = e.insn.f.r1;
    e.bfp_registers::<L>(&[r1])?;
    let b = e.bfp_op2::<S>()?;
    let a = S::get(e.cpu, r1);
    let out = match nan_operand(bits_of::<S>(), &[a, b]) {
        Some((nan, exc)) => Outcome {
            exc,
            ..lengthen::<S, L>(nan)
        },
        None => arith::<L>(
            Arith::Mul,
            lengthen::<S, L>(a).value,
            lengthen::<S, L>(b).value,
            fpc_round(e.cpu.fpc),
        ),
    };
    e.ieee_complete(out, |cpu, v| L::set(cpu, r1, v))?;
    Ok(Next::Seq)
}

/// LOAD FP INTEGER (FIEBR, FIDBR, FIXBR): FPR R1 = FPR R2 rounded to an
/// integer value by M3 (as the conversions' M3; M4, the A forms'
/// inexact control, comes with the floating-point-extension facility);
/// cc unchanged.
fn load_fp_integer<B: Bus, T: BfpFormat>(e: &mut Exec<'_, B>) -> ExecResult {
    e.bfp_enabled()?;
    let f = e.insn.f;
    e.bfp_registers::<T>(&[f.r1, f.r2])?;
    let round = m3_round(e.cpu.fpc, f.m3)?;
    let out = to_integral::<T>(T::get(e.cpu, f.r2), round);
    e.ieee_complete(out, |cpu, v| T::set(cpu, f.r1, v))?;
    Ok(Next::Seq)
}
