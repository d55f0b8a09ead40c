//! Vector floating point (PoP chapter 24 "Vector Floating-Point
//! Instructions"): each element goes through [`super::bfp`]'s operation of
//! its format, the same rounding, NaN rules and IEEE exceptions as the
//! scalar instructions. The formats are short (an M field of 2) and long
//! (3); the extended format (4) is not implemented and, like every other
//! value, is a specification exception.
//!
//! The IEEE exceptions of a vector instruction are the elements'
//! (PoP "Vector-Processing Exception"): when an element's exception is
//! enabled in the FPC's masks, the leftmost such element makes a
//! vector-processing exception (program-interruption code 0x1B) whose
//! vector-exception code (VXC, stored where a DXC is) is the element index
//! in bits 0-3 and the exception in bits 4-7 (1 invalid operation, 2
//! division by zero, 3 overflow, 4 underflow, 5 inexact, the first of
//! them the element has); the instruction is suppressed: no element is
//! stored, no flag set. Otherwise every element's result is stored and the
//! FPC flags get the exceptions of all elements. With the single-element
//! control (the `W` forms) only element 0 is computed and the other
//! elements of V1 are zero, as QEMU makes them (the PoP leaves them
//! unpredictable). The inexact-suppression control (XxC) of the rounding
//! instructions takes the inexact exception away (no flag, no
//! interruption).
//!
//! Load FP integer (VFI), the conversions (VCDG, VCDLG, VCGD, VCLGD) and
//! load rounded (VFLR) round by M5 as the scalar M3 fields do: 0 the FPC's
//! mode, 1 and 4-7 their modes; 3, round to prepare for shorter precision,
//! is not implemented and is a specification exception, as 2 and 8-15.

use super::bfp::{self, ieee, Arith, BfpFormat, Long, Outcome, Short};
use super::vector::{count, emask, get, put, spec};
use super::Exec;
use crate::format::Fields;
use crate::memory::Bus;
use crate::opcode::Opcode;
use rustc_apfloat::Round;
use zmmu_mmu::exception::{Code, Exception};

/// The program-interruption code of a vector-processing exception.
pub const VECTOR_PROCESSING: Code = Code(0x1B);

type V = u128;

/// The element size of the floating-point format an M field names: 2
/// short, 3 long.
fn format(m: u8) -> Result<u8, Exception> {
    match m {
        2 | 3 => Ok(m),
        _ => Err(spec()),
    }
}

/// The vector-processing exception of element `i` with the enabled
/// exceptions `trap` (FPC mask bits).
fn vector_processing(i: usize, trap: u8) -> Exception {
    let kind = [
        ieee::INVALID,
        ieee::DIVIDE_BY_ZERO,
        ieee::OVERFLOW,
        ieee::UNDERFLOW,
        ieee::INEXACT,
    ]
    .iter()
    .position(|&x| trap & x != 0)
    .map_or(0, |k| k as u8 + 1);
    Exception {
        dxc: (i as u8) << 4 | kind,
        ..Exception::new(VECTOR_PROCESSING)
    }
}

/// One element's operation, by format: the element values are
/// right-aligned bits.
trait ElementOp {
    /// The outcome of element `i` in format `T`.
    fn element<T: BfpFormat>(&self, i: usize) -> Outcome;
}

/// Elements 0 to `n - 1` (element 0 alone with `single`) of size `es`
/// through `op` into a new V1, the FPC's masks and flags applied as the
/// module docs say; `xxc` suppresses the inexact exception.
fn elementwise<B: Bus>(
    e: &mut Exec<'_, B>,
    es: u8,
    single: bool,
    xxc: bool,
    op: impl Fn(usize) -> Outcome,
) -> Result<V, Exception> {
    let masks = (e.cpu.fpc >> 24) as u8;
    let n = if single { 1 } else { count(es) };
    let (mut r, mut flags) = (0, 0u8);
    for i in 0..n {
        let mut out = op(i);
        if xxc {
            out.exc &= !ieee::INEXACT;
        }
        let trap = out.exc & masks;
        if trap != 0 {
            return Err(vector_processing(i, trap));
        }
        flags |= out.flags();
        r = put(r, es, i, u128::from(out.value));
    }
    e.cpu.fpc |= u32::from(flags) << 16;
    Ok(r)
}

/// [`elementwise`] in the format `es` names.
fn by_format<B: Bus>(
    e: &mut Exec<'_, B>,
    es: u8,
    single: bool,
    xxc: bool,
    op: &impl ElementOp,
) -> Result<V, Exception> {
    if es == 2 {
        elementwise(e, es, single, xxc, |i| op.element::<Short>(i))
    } else {
        elementwise(e, es, single, xxc, |i| op.element::<Long>(i))
    }
}

/// VFA, VFS, VFM, VFD: V2 op V3.
struct Binary {
    op: Arith,
    a: V,
    b: V,
    es: u8,
    round: Round,
}

impl ElementOp for Binary {
    fn element<T: BfpFormat>(&self, i: usize) -> Outcome {
        let (x, y) = (get(self.a, self.es, i), get(self.b, self.es, i));
        bfp::arith::<T>(self.op, x as u64, y as u64, self.round)
    }
}

/// VFMA, VFMS, VFNMA, VFNMS: V2 * V3 +/- V4, with one rounding; the N
/// forms round the negated exact result (a NaN is not negated). A NaN
/// result is the first NaN of V2, V3, V4 (`bfp::fused`'s order, its
/// operands so placed).
struct Fused {
    v: [V; 3],
    es: u8,
    subtract: bool,
    negate: bool,
    round: Round,
}

impl ElementOp for Fused {
    fn element<T: BfpFormat>(&self, i: usize) -> Outcome {
        let [c, b, a] = self.v.map(|v| get(v, self.es, i) as u64);
        let out = bfp::fused::<T>(a, b, c, self.subtract, self.round);
        let bits = bfp::bits_of::<T>();
        if !self.negate || bits.is_nan(out.value) {
            return out;
        }
        // -x rounded is x rounded the mirrored way, negated; an exact zero
        // keeps the sign x's zero has in this rounding, negated.
        let mut negated = if bits.is_zero(out.value) && out.exc & ieee::INEXACT == 0 {
            out
        } else {
            bfp::fused::<T>(a, b, c, self.subtract, mirrored(self.round))
        };
        negated.value ^= bits.sign();
        negated
    }
}

/// The rounding direction of `-x` that gives `-(x rounded by round)`.
fn mirrored(round: Round) -> Round {
    match round {
        Round::TowardPositive => Round::TowardNegative,
        Round::TowardNegative => Round::TowardPositive,
        other => other,
    }
}

/// VFSQ.
struct SquareRoot {
    a: V,
    es: u8,
    round: Round,
}

impl ElementOp for SquareRoot {
    fn element<T: BfpFormat>(&self, i: usize) -> Outcome {
        bfp::sqrt::<T>(get(self.a, self.es, i) as u64, self.round)
    }
}

/// VFI: each element rounded to an integer value in its format.
struct ToIntegral {
    a: V,
    es: u8,
    round: Round,
}

impl ElementOp for ToIntegral {
    fn element<T: BfpFormat>(&self, i: usize) -> Outcome {
        let a = get(self.a, self.es, i) as u64;
        bfp::to_integral::<T>(a, self.round)
    }
}

/// VCDG, VCDLG: 64-bit signed or unsigned integers to long BFP.
struct FromInteger {
    a: V,
    signed: bool,
    round: Round,
}

impl ElementOp for FromInteger {
    fn element<T: BfpFormat>(&self, i: usize) -> Outcome {
        let x = get(self.a, 3, i) as u64;
        let v = if self.signed {
            i128::from(x as i64)
        } else {
            i128::from(x)
        };
        bfp::from_fixed::<T>(v, self.round)
    }
}

/// VCGD, VCLGD: long BFP to 64-bit signed or unsigned integers (a NaN or
/// a value out of range is an invalid operation with the range's end of
/// its sign, the smallest for a NaN).
struct ToInteger {
    a: V,
    signed: bool,
    round: Round,
}

impl ElementOp for ToInteger {
    fn element<T: BfpFormat>(&self, i: usize) -> Outcome {
        let (min, max) = if self.signed {
            (i128::from(i64::MIN), i128::from(i64::MAX))
        } else {
            (0, i128::from(u64::MAX))
        };
        let a = get(self.a, 3, i) as u64;
        let (v, exc, _) = bfp::to_integer::<T>(a, min, max, self.round);
        Outcome::flagged(v as u64, exc)
    }
}

/// Executes a vector floating-point instruction, or `None` if `e.insn` is
/// not one.
pub fn execute<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Option<Result<(), Exception>> {
    e.insn.op.is_vector_float().then(|| run(e, f))
}

fn run<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<(), Exception> {
    use Opcode::*;
    let cpu = &*e.cpu;
    let (v2, v3, v4) = (cpu.v128(f.v2), cpu.v128(f.v3), cpu.v128(f.v4));
    let fpc_round = bfp::fpc_round(cpu.fpc);
    let op = e.insn.op;
    let r = match op {
        VFA | VFS | VFM | VFD => {
            let es = format(f.m4)?;
            let arith = match op {
                VFA => Arith::Add,
                VFS => Arith::Sub,
                VFM => Arith::Mul,
                _ => Arith::Div,
            };
            let binary = Binary {
                op: arith,
                a: v2,
                b: v3,
                es,
                round: fpc_round,
            };
            by_format(e, es, f.m5 & 8 != 0, false, &binary)?
        }
        VFSQ => {
            let es = format(f.m3)?;
            let sqrt = SquareRoot {
                a: v2,
                es,
                round: fpc_round,
            };
            by_format(e, es, f.m4 & 8 != 0, false, &sqrt)?
        }
        VFMA | VFMS | VFNMA | VFNMS => {
            let es = format(f.m6)?;
            let fused = Fused {
                v: [v2, v3, v4],
                es,
                subtract: matches!(op, VFMS | VFNMS),
                negate: matches!(op, VFNMA | VFNMS),
                round: fpc_round,
            };
            by_format(e, es, f.m5 & 8 != 0, false, &fused)?
        }
        VFCE | VFCH | VFCHE => return compare_elements(e, f, v2, v3),
        WFC | WFK => return compare_scalar(e, f),
        VFPSO => {
            let es = format(f.m3)?;
            if f.m5 > 2 {
                return Err(spec());
            }
            let sign = 1u128 << ((8 << es) - 1);
            let n = if f.m4 & 8 != 0 { 1 } else { count(es) };
            // The single-element form leaves the other elements (QEMU's
            // choice; the PoP makes them unpredictable).
            (0..n).fold(e.cpu.v128(f.v1), |r, i| {
                let x = get(v2, es, i);
                let y = match f.m5 {
                    0 => x ^ sign,
                    1 => x | sign,
                    _ => x & !sign,
                };
                put(r, es, i, y)
            })
        }
        VFTCI => return test_data_class(e, f, v2),
        // VFLL: the even-numbered short elements lengthened (exact; a
        // signaling NaN quieted).
        VFLL => {
            if f.m3 != 2 {
                return Err(spec());
            }
            elementwise(e, 3, f.m4 & 8 != 0, false, |i| {
                bfp::lengthen(get(v2, 2, 2 * i) as u64)
            })?
        }
        // VFLR: the long elements rounded by M5 into the even-numbered
        // short elements.
        VFLR => {
            if f.m3 != 3 {
                return Err(spec());
            }
            let round = bfp::m3_round(e.cpu.fpc, f.m5)?;
            let r = elementwise(e, 3, f.m4 & 8 != 0, f.m4 & 4 != 0, |i| {
                bfp::shorten(get(v2, 3, i) as u64, round)
            })?;
            // Element i of the long results is short element 2i.
            (0..2).fold(0, |s, i| put(s, 2, 2 * i, get(r, 3, i)))
        }
        VFI => {
            let es = format(f.m3)?;
            let round = bfp::m3_round(e.cpu.fpc, f.m5)?;
            let to_integral = ToIntegral { a: v2, es, round };
            by_format(e, es, f.m4 & 8 != 0, f.m4 & 4 != 0, &to_integral)?
        }
        VCDG | VCDLG | VCGD | VCLGD => {
            if f.m3 != 3 {
                return Err(spec());
            }
            let round = bfp::m3_round(e.cpu.fpc, f.m5)?;
            let (single, xxc) = (f.m4 & 8 != 0, f.m4 & 4 != 0);
            if matches!(op, VCDG | VCDLG) {
                let from = FromInteger {
                    a: v2,
                    signed: op == VCDG,
                    round,
                };
                by_format(e, 3, single, xxc, &from)?
            } else {
                let to = ToInteger {
                    a: v2,
                    signed: op == VCGD,
                    round,
                };
                by_format(e, 3, single, xxc, &to)?
            }
        }
        _ => return Err(Exception::new(Code::OPERATION)),
    };
    e.cpu.set_v128(f.v1, r);
    Ok(())
}

/// VFCE, VFCH, VFCHE (M4 format, M5 bit 0 single element, bit 1 signaling
/// (any NaN an invalid operation), M6 bit 3 the cc): each element of V1
/// all ones where V2's element is equal to, higher than, or higher than or
/// equal to V3's (a NaN makes every comparison false); with M6 bit 3, cc 0
/// all true, 1 some, 3 none.
fn compare_elements<B: Bus>(e: &mut Exec<'_, B>, f: &Fields, a: V, b: V) -> Result<(), Exception> {
    let es = format(f.m4)?;
    let op = e.insn.op;
    let signaling = f.m5 & 4 != 0;
    let true_for = |cc: u8| match op {
        Opcode::VFCE => cc == 0,
        Opcode::VFCH => cc == 2,
        _ => cc == 0 || cc == 2,
    };
    let compare = |i: usize| -> (u8, u8) {
        let (x, y) = (get(a, es, i) as u64, get(b, es, i) as u64);
        if es == 2 {
            bfp::compare::<Short>(x, y, signaling)
        } else {
            bfp::compare::<Long>(x, y, signaling)
        }
    };
    let r = elementwise(e, es, f.m5 & 8 != 0, false, |i| {
        let (cc, exc) = compare(i);
        let value = if true_for(cc) { emask(es) as u64 } else { 0 };
        Outcome::flagged(value, exc)
    })?;
    e.cpu.set_v128(f.v1, r);
    if f.m6 & 1 != 0 {
        let n = if f.m5 & 8 != 0 { 1 } else { count(es) };
        let hits = (0..n).filter(|&i| get(r, es, i) != 0).count();
        e.set_cc(match hits {
            0 => 3,
            h if h == n => 0,
            _ => 1,
        });
    }
    Ok(())
}

/// WFC, WFK: element 0 of V1 against element 0 of V2 (format M3; M4 must
/// be zero): cc 0 equal, 1 low, 2 high, 3 unordered; WFK signals any NaN
/// (an invalid operation), WFC a signaling one only.
fn compare_scalar<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<(), Exception> {
    let es = format(f.m3)?;
    if f.m4 != 0 {
        return Err(spec());
    }
    let (x, y) = (
        get(e.cpu.v128(f.v1), es, 0) as u64,
        get(e.cpu.v128(f.v2), es, 0) as u64,
    );
    let signaling = e.insn.op == Opcode::WFK;
    let (cc, exc) = if es == 2 {
        bfp::compare::<Short>(x, y, signaling)
    } else {
        bfp::compare::<Long>(x, y, signaling)
    };
    elementwise(e, es, true, false, |_| Outcome::flagged(0, exc))?;
    e.set_cc(cc);
    Ok(())
}

/// VFTCI: each element of V1 all ones where the bit of I3 (`Fields::i2`,
/// bits 0-11:
/// +zero, -zero, +normal, -normal, +subnormal, -subnormal, +infinity,
/// -infinity, +quiet NaN, -quiet NaN, +signaling NaN, -signaling NaN, as
/// TEST DATA CLASS numbers them) for V2's element's class and sign is
/// one; cc 0 all selected, 1 some, 3 none. No IEEE exception.
fn test_data_class<B: Bus>(e: &mut Exec<'_, B>, f: &Fields, a: V) -> Result<(), Exception> {
    let es = format(f.m4)?;
    let bits = if es == 2 {
        bfp::bits_of::<Short>()
    } else {
        bfp::bits_of::<Long>()
    };
    let n = if f.m5 & 8 != 0 { 1 } else { count(es) };
    // The single-element form leaves the other elements (QEMU's choice;
    // the PoP makes them unpredictable).
    let (mut r, mut hits) = (e.cpu.v128(f.v1), 0);
    for i in 0..n {
        let v = get(a, es, i) as u64;
        let position = 2 * bits.class(v) + u32::from(bits.negative(v));
        let selected = f.i2 & (0x800 >> position) != 0;
        r = put(r, es, i, if selected { emask(es) } else { 0 });
        hits += usize::from(selected);
    }
    e.cpu.set_v128(f.v1, r);
    e.set_cc(match hits {
        0 => 3,
        h if h == n => 0,
        _ => 1,
    });
    Ok(())
}
