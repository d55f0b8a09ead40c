//! The vector facility for z/Architecture (facility 129; PoP chapters 21
//! "Vector Overview and Support Instructions", 22 "Vector Integer
//! Instructions" and 23 "Vector String Instructions").
//!
//! A vector register is handled here as one `u128` whose most significant
//! bit is bit 0 of the register ([`Cpu::v128`]); element `i` of size `8 <<
//! es` bits is counted from the left, as the PoP counts. Element sizes
//! (`es`) are the M-field codes: 0 byte, 1 halfword, 2 word, 3 doubleword,
//! 4 quadword. Vector floating point is [`super::vector_float`].
//!
//! Also here: the instructions of the vector-enhancements facilities 1
//! (135) and 2 (148) that are not floating point: VNX, VNN, VOC, VBPERM,
//! VMSL, VLLEZ with M3 6, VPOPCT with M3 1-3 (135); the byte- and
//! element-reversed loads and stores, VSLD, VSRD and VSTRS (148). A model
//! without them ([`Cpu::vxeh`], [`Cpu::vxeh2`]) makes the instructions
//! operation exceptions and the new M3 values specification exceptions.
//!
//! Every instruction here first checks the vector-enablement control (CR0
//! bit 46): with it zero, a data exception with DXC FE hex
//! ([`DXC_VECTOR`]). LOAD COUNT TO BLOCK BOUNDARY is a general instruction
//! of the facility and does not.

use super::{Exec, ExecResult, Next};
use crate::format::Fields;
use crate::memory::Bus;
use crate::opcode::Opcode;
use crate::state::Cpu;
use zmmu_mmu::exception::{Code, Exception};

/// The data-exception code of a vector instruction executed while the
/// vector-enablement control (CR0 bit 46) is zero.
pub const DXC_VECTOR: u8 = 0xFE;

type V = u128;

pub(super) fn spec() -> Exception {
    Exception::new(Code::SPECIFICATION)
}

/// Bits per element of size `es`.
const fn ebits(es: u8) -> u32 {
    8 << es
}

/// Elements per register.
pub(super) const fn count(es: u8) -> usize {
    16 >> es
}

/// The mask of one element's bits, right-aligned.
pub(super) const fn emask(es: u8) -> u128 {
    if es >= 4 {
        u128::MAX
    } else {
        (1u128 << ebits(es)) - 1
    }
}

/// Element `i` (size `es`) of `v`, right-aligned, zero-extended.
pub(super) const fn get(v: V, es: u8, i: usize) -> u128 {
    if es >= 4 {
        return v;
    }
    (v >> (128 - ebits(es) * (i as u32 + 1))) & emask(es)
}

/// `v` with element `i` (size `es`) replaced by the low bits of `x`.
pub(super) const fn put(v: V, es: u8, i: usize, x: u128) -> V {
    if es >= 4 {
        return x;
    }
    let sh = 128 - ebits(es) * (i as u32 + 1);
    (v & !(emask(es) << sh)) | ((x & emask(es)) << sh)
}

/// Sign-extend an element of size `es`.
const fn sx(x: u128, es: u8) -> i128 {
    let pad = 128 - ebits(es);
    ((x << pad) as i128) >> pad
}

fn map1(a: V, es: u8, f: impl Fn(u128) -> u128) -> V {
    (0..count(es)).fold(0, |r, i| put(r, es, i, f(get(a, es, i))))
}

fn map2(a: V, b: V, es: u8, f: impl Fn(u128, u128) -> u128) -> V {
    (0..count(es)).fold(0, |r, i| put(r, es, i, f(get(a, es, i), get(b, es, i))))
}

fn map3(a: V, b: V, c: V, es: u8, f: impl Fn(u128, u128, u128) -> u128) -> V {
    (0..count(es)).fold(0, |r, i| {
        put(r, es, i, f(get(a, es, i), get(b, es, i), get(c, es, i)))
    })
}

/// The element-size code `m`, or a specification exception above `max`.
fn es_max(m: u8, max: u8) -> Result<u8, Exception> {
    es_in(m, 0, max)
}

/// The element-size code `m`, or a specification exception outside
/// `min..=max`.
fn es_in(m: u8, min: u8, max: u8) -> Result<u8, Exception> {
    if (min..=max).contains(&m) {
        Ok(m)
    } else {
        Err(spec())
    }
}

/// Replicate the low `8 << es` bits of `x` into every element.
fn splat(x: u128, es: u8) -> V {
    (0..count(es)).fold(0, |r, i| put(r, es, i, x))
}

/// The condition code of an element-wise compare with the CS flag: 0 all
/// true, 1 mixed, 3 none true.
fn all_some_none(true_count: usize, n: usize) -> u8 {
    match true_count {
        0 => 3,
        t if t == n => 0,
        _ => 1,
    }
}

impl Cpu {
    /// Can vector instructions be executed (the vector-enablement control)?
    /// Otherwise a data exception with DXC FE hex.
    pub fn vector_check(&self) -> Result<(), Exception> {
        if self.vector_enabled() {
            Ok(())
        } else {
            Err(Exception::data(DXC_VECTOR))
        }
    }
}

/// Execute a vector instruction (an opcode with [`Opcode::is_vector`]), or
/// LCBB.
pub fn execute<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    if e.insn.op == Opcode::LCBB {
        let count = block_count(e.ea2(), f.m3)?;
        e.cpu.set_r32(f.r1, count as u32);
        e.set_cc(if count == 16 { 0 } else { 3 });
        return Ok(Next::Seq);
    }
    e.cpu.vector_check()?;
    if let Some(r) = super::vector_float::execute(e, &f) {
        return r.map(|()| Next::Seq);
    }
    if let Some(r) = storage(e, &f) {
        return r.map(|()| Next::Seq);
    }
    let r = register(e, &f)?;
    e.cpu.set_v128(f.v1, r);
    Ok(Next::Seq)
}

/// Bytes from `addr` to the next `64 << m3`-byte boundary, at most 16
/// (LCBB, VLBB); M3 above 6 is a specification exception.
fn block_count(addr: u64, m3: u8) -> Result<usize, Exception> {
    if m3 > 6 {
        return Err(spec());
    }
    let block = 64u64 << m3;
    Ok((block - addr % block).min(16) as usize)
}

/// The instructions that reach storage or general registers, or only set
/// the condition code; `None` for those that compute a new V1 from vector
/// registers ([`register`]).
fn storage<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Option<Result<(), Exception>> {
    use Opcode::*;
    let op = e.insn.op;
    Some(match op {
        VL | VLEB | VLEH | VLEF | VLEG | VLLEZ | VLREP | VLBB | VST | VSTEB | VSTEH | VSTEF
        | VSTEG | VLBR | VLER | VSTBR | VSTER | VLEBRH | VLEBRF | VLEBRG | VSTEBRH | VSTEBRF
        | VSTEBRG | VLLEBRZ | VLBRREP => vrx(e, f),
        VLM | VSTM => multiple(e, f),
        VLL | VSTL => with_length(e, f),
        VGEF | VGEG | VSCEF | VSCEG => gather_scatter(e, f),
        VLGV | VLVG => general_register_element(e, f),
        VTM => {
            let (a, m) = (e.cpu.v128(f.v1), e.cpu.v128(f.v2));
            let sel = a & m;
            e.set_cc(if sel == 0 {
                0
            } else if sel == m {
                3
            } else {
                1
            });
            Ok(())
        }
        VEC | VECL => element_compare(e, f),
        _ => return None,
    })
}

/// VLGV, VLVG: element M4-size of V3 to R1, or R3 into V1's element; the
/// index is the second-operand address (not used to address storage)
/// modulo the element count.
fn general_register_element<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<(), Exception> {
    let es = es_max(f.m4, 3)?;
    let i = (e.ea2() as usize) & (count(es) - 1);
    if e.insn.op == Opcode::VLGV {
        let x = get(e.cpu.v128(f.v3), es, i) as u64;
        e.cpu.set_r64(f.r1, x);
    } else {
        let v = put(e.cpu.v128(f.v1), es, i, u128::from(e.cpu.r64(f.r3)));
        e.cpu.set_v128(f.v1, v);
    }
    Ok(())
}

/// VEC, VECL: compare element `count / 2 - 1` (the rightmost of doubleword
/// 0) of V1 and V2, signed or logical: cc 0 equal, 1 V1 low, 2 V1 high.
fn element_compare<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<(), Exception> {
    let es = es_max(f.m3, 3)?;
    let i = count(es) / 2 - 1;
    let (a, b) = (get(e.cpu.v128(f.v1), es, i), get(e.cpu.v128(f.v2), es, i));
    let ord = if e.insn.op == Opcode::VEC {
        sx(a, es).cmp(&sx(b, es))
    } else {
        a.cmp(&b)
    };
    e.set_cc(match ord {
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Less => 1,
        core::cmp::Ordering::Greater => 2,
    });
    Ok(())
}

/// Element `x` (size `es`, right-aligned) with its bytes in reverse order.
const fn byte_reversed(x: u128, es: u8) -> u128 {
    x.swap_bytes() >> (128 - ebits(es))
}

/// The register image of 16 bytes of storage for VLBR / VSTBR (each
/// element of size `es` byte-reversed) and VLER / VSTER (the elements in
/// reverse order) of the vector-enhancements facility 2: both orders are
/// their own inverse, so a load and a store share them.
fn reordered(op: Opcode, v: V, es: u8) -> V {
    match op {
        Opcode::VLBR | Opcode::VSTBR => map1(v, es, |x| byte_reversed(x, es)),
        Opcode::VLER | Opcode::VSTER => {
            let n = count(es);
            (0..n).fold(0, |r, i| put(r, es, i, get(v, es, n - 1 - i)))
        }
        _ => v,
    }
}

/// Loads and stores of one register or element (VRX format), with the
/// byte-reversed and element-reversed forms of the vector-enhancements
/// facility 2: the element size is M3 (VLBR, VSTBR 1-4; VLER, VSTER,
/// VLBRREP 1-3; VLLEBRZ 1-3 and 6), or the element index (VLEBR*,
/// VSTEBR*); any other M3 is a specification exception.
fn vrx<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<(), Exception> {
    use Opcode::*;
    let op = e.insn.op;
    let addr = e.ea2();
    let v1 = e.cpu.v128(f.v1);
    // (element size, element index) of the element forms.
    let element = |es: u8| -> Result<(u8, usize), Exception> {
        let i = usize::from(f.m3);
        if i < count(es) {
            Ok((es, i))
        } else {
            Err(spec())
        }
    };
    // Byte-reversed element loads and stores.
    let reversed = matches!(
        op,
        VLEBRH | VLEBRF | VLEBRG | VSTEBRH | VSTEBRF | VSTEBRG | VLLEBRZ | VLBRREP
    );
    let order = |es: u8, x: u64| {
        if reversed {
            byte_reversed(u128::from(x), es)
        } else {
            u128::from(x)
        }
    };
    match op {
        VL | VLBR | VLER => {
            let es = match op {
                VL => 0,
                VLBR => es_in(f.m3, 1, 4)?,
                _ => es_in(f.m3, 1, 3)?,
            };
            let mut buf = [0u8; 16];
            e.read(addr, &mut buf, f.b2)?;
            e.cpu
                .set_v128(f.v1, reordered(op, u128::from_be_bytes(buf), es));
        }
        VST | VSTBR | VSTER => {
            let es = match op {
                VST => 0,
                VSTBR => es_in(f.m3, 1, 4)?,
                _ => es_in(f.m3, 1, 3)?,
            };
            e.write(addr, &reordered(op, v1, es).to_be_bytes(), f.b2)?;
        }
        VLBB => {
            // The bytes up to the block boundary; zmmu sets the rest of V1
            // to zeros, as QEMU does.
            let n = block_count(addr, f.m3)?;
            let mut buf = [0u8; 16];
            e.read(addr, &mut buf[..n], f.b2)?;
            e.cpu.set_v128(f.v1, u128::from_be_bytes(buf));
        }
        VLEB | VLEH | VLEF | VLEG | VLEBRH | VLEBRF | VLEBRG => {
            let (es, i) = element(match op {
                VLEB => 0,
                VLEH | VLEBRH => 1,
                VLEF | VLEBRF => 2,
                _ => 3,
            })?;
            let x = e.read_uint(addr, 1 << es, f.b2)?;
            e.cpu.set_v128(f.v1, put(v1, es, i, order(es, x)));
        }
        VSTEB | VSTEH | VSTEF | VSTEG | VSTEBRH | VSTEBRF | VSTEBRG => {
            let (es, i) = element(match op {
                VSTEB => 0,
                VSTEH | VSTEBRH => 1,
                VSTEF | VSTEBRF => 2,
                _ => 3,
            })?;
            let x = order(es, get(v1, es, i) as u64);
            e.write_uint(addr, 1 << es, x as u64, f.b2)?;
        }
        VLLEZ | VLLEBRZ => {
            // M3 6: a word into element 0 (left-aligned; the
            // vector-enhancements facility 1 for VLLEZ).
            let (es, i) = match f.m3 {
                6 if op == VLLEBRZ || e.cpu.vxeh() => (2, 0),
                m => {
                    let es = es_in(m, if op == VLLEZ { 0 } else { 1 }, 3)?;
                    (es, count(es) / 2 - 1)
                }
            };
            let x = e.read_uint(addr, 1 << es, f.b2)?;
            e.cpu.set_v128(f.v1, put(0, es, i, order(es, x)));
        }
        VLREP | VLBRREP => {
            let es = es_in(f.m3, if op == VLREP { 0 } else { 1 }, 3)?;
            let x = e.read_uint(addr, 1 << es, f.b2)?;
            e.cpu.set_v128(f.v1, splat(order(es, x), es));
        }
        _ => return Err(Exception::new(Code::OPERATION)),
    }
    Ok(())
}

/// VLM, VSTM: registers V1 through V3 (at most 16, V3 not below V1).
fn multiple<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<(), Exception> {
    if f.v3 < f.v1 || f.v3 - f.v1 >= 16 {
        return Err(spec());
    }
    let n = usize::from(f.v3 - f.v1) + 1;
    let addr = e.ea2();
    let mut buf = [0u8; 256];
    let buf = &mut buf[..16 * n];
    if e.insn.op == Opcode::VLM {
        e.read(addr, buf, f.b2)?;
        for (k, chunk) in buf.chunks_exact(16).enumerate() {
            let mut b = [0u8; 16];
            b.copy_from_slice(chunk);
            e.cpu.set_v128(f.v1 + k as u8, u128::from_be_bytes(b));
        }
    } else {
        for (k, chunk) in buf.chunks_exact_mut(16).enumerate() {
            chunk.copy_from_slice(&e.cpu.v128(f.v1 + k as u8).to_be_bytes());
        }
        e.write(addr, buf, f.b2)?;
    }
    Ok(())
}

/// VLL, VSTL: bytes 0 through min(R3 bits 32-63, 15).
fn with_length<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<(), Exception> {
    let n = (e.cpu.r32(f.r3).min(15) + 1) as usize;
    let addr = e.ea2();
    if e.insn.op == Opcode::VLL {
        let mut buf = [0u8; 16];
        e.read(addr, &mut buf[..n], f.b2)?;
        e.cpu.set_v128(f.v1, u128::from_be_bytes(buf));
    } else {
        let bytes = e.cpu.v128(f.v1).to_be_bytes();
        e.write(addr, &bytes[..n], f.b2)?;
    }
    Ok(())
}

/// VGEF, VGEG, VSCEF, VSCEG: element M3 at the address element M3 of V2
/// plus B2 + D2.
fn gather_scatter<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<(), Exception> {
    use Opcode::*;
    let es = if matches!(e.insn.op, VGEF | VSCEF) {
        2
    } else {
        3
    };
    let i = usize::from(f.m3);
    if i >= count(es) {
        return Err(spec());
    }
    let index = get(e.cpu.v128(f.v2), es, i) as u64;
    let addr = e.cpu.psw.amode().wrap(index.wrapping_add(e.ea2()));
    let v1 = e.cpu.v128(f.v1);
    if matches!(e.insn.op, VGEF | VGEG) {
        let x = e.read_uint(addr, 1 << es, f.b2)?;
        e.cpu.set_v128(f.v1, put(v1, es, i, u128::from(x)));
    } else {
        e.write_uint(addr, 1 << es, get(v1, es, i) as u64, f.b2)?;
    }
    Ok(())
}

/// The register-to-register instructions: the new value of V1 (the cc
/// set on the way where the instruction sets one).
fn register<B: Bus>(e: &mut Exec<'_, B>, f: &Fields) -> Result<V, Exception> {
    use Opcode::*;
    let cpu = &*e.cpu;
    let (v1, v2, v3, v4) = (
        cpu.v128(f.v1),
        cpu.v128(f.v2),
        cpu.v128(f.v3),
        cpu.v128(f.v4),
    );
    let mut cc = None;
    let r = match e.insn.op {
        // Moves and generation.
        VLR => v2,
        VLVGP => (u128::from(cpu.r64(f.r2)) << 64) | u128::from(cpu.r64(f.r3)),
        VLEIB | VLEIH | VLEIF | VLEIG => {
            let es = match e.insn.op {
                VLEIB => 0,
                VLEIH => 1,
                VLEIF => 2,
                _ => 3,
            };
            let i = usize::from(f.m3);
            if i >= count(es) {
                return Err(spec());
            }
            put(v1, es, i, f.i2 as u16 as i16 as i128 as u128)
        }
        VGBM => (0..16).fold(0, |r, i| {
            if f.i2 & (0x8000 >> i) != 0 {
                put(r, 0, i, 0xFF)
            } else {
                r
            }
        }),
        VREPI => splat(f.i2 as u16 as i16 as i128 as u128, es_max(f.m3, 3)?),
        VGM => {
            let es = es_max(f.m4, 3)?;
            let b = ebits(es);
            let (start, end) = (u32::from(f.i2 as u8) % b, u32::from(f.i3) % b);
            let bit = |k: u32| 1u128 << (b - 1 - k);
            let mut m = 0u128;
            let mut k = start;
            loop {
                m |= bit(k);
                if k == end {
                    break;
                }
                k = (k + 1) % b;
            }
            splat(m, es)
        }
        VREP => {
            let es = es_max(f.m4, 3)?;
            let i = f.i2 as usize;
            if i >= count(es) {
                return Err(spec());
            }
            splat(get(v3, es, i), es)
        }
        VSEG => {
            let es = es_max(f.m3, 2)?;
            let n = count(es) / 2;
            put(
                put(0, 3, 0, sx(get(v2, es, n - 1), es) as u128),
                3,
                1,
                sx(get(v2, es, 2 * n - 1), es) as u128,
            )
        }
        VMRH | VMRL => {
            let es = es_max(f.m4, 3)?;
            let n = count(es) / 2;
            let base = if e.insn.op == VMRH { 0 } else { n };
            (0..n).fold(0, |r, i| {
                put(
                    put(r, es, 2 * i, get(v2, es, base + i)),
                    es,
                    2 * i + 1,
                    get(v3, es, base + i),
                )
            })
        }
        VPDI => {
            let a = get(v2, 3, usize::from((f.m4 >> 2) & 1));
            let b = get(v3, 3, usize::from(f.m4 & 1));
            (a << 64) | b
        }
        VPERM => (0..16).fold(0, |r, i| {
            let k = (get(v4, 0, i) & 31) as usize;
            let byte = if k < 16 {
                get(v2, 0, k)
            } else {
                get(v3, 0, k - 16)
            };
            put(r, 0, i, byte)
        }),
        VSEL => (v2 & v4) | (v3 & !v4),
        VPK | VPKS | VPKLS => {
            let es = f.m4;
            if !(1..=3).contains(&es) {
                return Err(spec());
            }
            let n = count(es);
            let half = es - 1;
            let (mut saturated, mut r) = (0usize, 0u128);
            for i in 0..2 * n {
                let x = if i < n {
                    get(v2, es, i)
                } else {
                    get(v3, es, i - n)
                };
                let y = match e.insn.op {
                    VPKS => {
                        let s = sx(x, es);
                        let (lo, hi) = (
                            sx(1 << (ebits(half) - 1), half),
                            !sx(1 << (ebits(half) - 1), half),
                        );
                        let c = s.clamp(lo, hi);
                        saturated += usize::from(c != s);
                        c as u128
                    }
                    VPKLS => {
                        let c = x.min(emask(half));
                        saturated += usize::from(c != x);
                        c
                    }
                    _ => x,
                };
                r = put(r, half, i, y);
            }
            if e.insn.op != VPK && f.m5 & 1 != 0 {
                cc = Some(match saturated {
                    0 => 0,
                    s if s == 2 * n => 3,
                    _ => 1,
                });
            }
            r
        }
        VUPH | VUPL | VUPLH | VUPLL => {
            let es = es_max(f.m3, 2)?;
            let n = count(es) / 2;
            let base = if matches!(e.insn.op, VUPH | VUPLH) {
                0
            } else {
                n
            };
            let signed = matches!(e.insn.op, VUPH | VUPL);
            (0..n).fold(0, |r, i| {
                let x = get(v2, es, base + i);
                put(r, es + 1, i, if signed { sx(x, es) as u128 } else { x })
            })
        }
        // Logic.
        VN => v2 & v3,
        VNC => v2 & !v3,
        VO => v2 | v3,
        VNO => !(v2 | v3),
        VX => v2 ^ v3,
        // The vector-enhancements facility 1.
        VNX => !(v2 ^ v3),
        VNN => !(v2 & v3),
        VOC => v2 | !v3,
        // VBPERM: bit i of doubleword 0's halfword 3 is the bit of V2 that
        // byte i of V3 numbers (0 where the number is 128 or more).
        VBPERM => {
            let bits = (0..16).fold(0u128, |r, i| {
                let k = get(v3, 0, i) as u32;
                let bit = if k < 128 { (v2 >> (127 - k)) & 1 } else { 0 };
                (r << 1) | bit
            });
            bits << 64
        }
        // VMSL: the doubleword products of V2 and V3, each doubled where
        // M6 bit 0 (even) or bit 1 (odd) says, plus V4, modulo 2**128;
        // only M5 3 (doublewords) is valid.
        VMSL => {
            if f.m5 != 3 {
                return Err(spec());
            }
            let product =
                |i: usize, doubled: bool| (get(v2, 3, i) * get(v3, 3, i)) << u32::from(doubled);
            product(0, f.m6 & 8 != 0)
                .wrapping_add(product(1, f.m6 & 4 != 0))
                .wrapping_add(v4)
        }
        // Arithmetic.
        VA | VS | VACC | VSCBI => {
            let es = es_max(f.m4, 4)?;
            let op = e.insn.op;
            map2(v2, v3, es, |a, b| match op {
                VA => a.wrapping_add(b),
                VS => a.wrapping_sub(b),
                // Carry out of a + b.
                VACC => u128::from(a.checked_add(b).is_none_or(|s| s > emask(es))),
                // Borrow indication: 1 when no borrow (a >= b).
                _ => u128::from(a >= b),
            })
        }
        VAC | VACCC | VSBI | VSBCBI => {
            if f.m5 != 4 {
                return Err(spec());
            }
            let c = v4 & 1;
            match e.insn.op {
                VAC => v2.wrapping_add(v3).wrapping_add(c),
                VSBI => v2.wrapping_add(!v3).wrapping_add(c),
                op => {
                    let b = if op == VACCC { v3 } else { !v3 };
                    let (s, c1) = v2.overflowing_add(b);
                    let (_, c2) = s.overflowing_add(c);
                    u128::from(c1 || c2)
                }
            }
        }
        VAVG | VAVGL => {
            let es = es_max(f.m4, 3)?;
            if e.insn.op == VAVG {
                map2(v2, v3, es, |a, b| {
                    ((sx(a, es) + sx(b, es) + 1) >> 1) as u128
                })
            } else {
                map2(v2, v3, es, |a, b| (a + b + 1) >> 1)
            }
        }
        VMX | VMN | VMXL | VMNL => {
            let es = es_max(f.m4, 3)?;
            let op = e.insn.op;
            map2(v2, v3, es, |a, b| {
                let a_less = if matches!(op, VMX | VMN) {
                    sx(a, es) < sx(b, es)
                } else {
                    a < b
                };
                let want_max = matches!(op, VMX | VMXL);
                if a_less == want_max {
                    b
                } else {
                    a
                }
            })
        }
        VLC => map1(v2, es_max(f.m3, 3)?, |a| a.wrapping_neg()),
        VLP => {
            let es = es_max(f.m3, 3)?;
            map1(v2, es, |a| sx(a, es).unsigned_abs())
        }
        VML | VMH | VMLH => {
            let es = es_max(f.m4, 2)?;
            let op = e.insn.op;
            map2(v2, v3, es, |a, b| match op {
                VML => a * b,
                VMH => ((sx(a, es) * sx(b, es)) >> ebits(es)) as u128,
                _ => (a * b) >> ebits(es),
            })
        }
        VMAL | VMAH | VMALH => {
            let es = es_max(f.m5, 2)?;
            let op = e.insn.op;
            map3(v2, v3, v4, es, |a, b, c| match op {
                VMAL => a * b + c,
                VMAH => ((sx(a, es) * sx(b, es) + sx(c, es)) >> ebits(es)) as u128,
                _ => (a * b + c) >> ebits(es),
            })
        }
        VME | VMLE | VMO | VMLO | VMAE | VMALE | VMAO | VMALO => {
            let op = e.insn.op;
            let add = matches!(op, VMAE | VMALE | VMAO | VMALO);
            let es = es_max(if add { f.m5 } else { f.m4 }, 2)?;
            let odd = usize::from(matches!(op, VMO | VMLO | VMAO | VMALO));
            let signed = matches!(op, VME | VMO | VMAE | VMAO);
            (0..count(es) / 2).fold(0, |r, j| {
                let (a, b) = (get(v2, es, 2 * j + odd), get(v3, es, 2 * j + odd));
                let c = if add { get(v4, es + 1, j) } else { 0 };
                let p = if signed {
                    (sx(a, es) * sx(b, es) + sx(c, es + 1)) as u128
                } else {
                    a * b + c
                };
                put(r, es + 1, j, p)
            })
        }
        VGFM | VGFMA => {
            let es = es_max(if e.insn.op == VGFM { f.m4 } else { f.m5 }, 3)?;
            let r = (0..count(es) / 2).fold(0, |r, j| {
                let x = clmul(get(v2, es, 2 * j), get(v3, es, 2 * j))
                    ^ clmul(get(v2, es, 2 * j + 1), get(v3, es, 2 * j + 1));
                put(r, es + 1, j, x)
            });
            if e.insn.op == VGFMA {
                r ^ v4
            } else {
                r
            }
        }
        VSUM | VSUMG | VSUMQ => {
            let (lo, hi, wide) = match e.insn.op {
                VSUM => (0, 1, 2),
                VSUMG => (1, 2, 3),
                _ => (2, 3, 4),
            };
            let es = f.m4;
            if es < lo || es > hi {
                return Err(spec());
            }
            let per = count(es) / count(wide);
            (0..count(wide)).fold(0, |r, j| {
                let sum = (0..per).fold(get(v3, es, (j + 1) * per - 1), |s, k| {
                    s.wrapping_add(get(v2, es, j * per + k))
                });
                put(r, wide, j, sum)
            })
        }
        VCKSM => {
            let sum = (0..4).fold(get(v3, 2, 1) as u32, |s, i| {
                let (t, carry) = s.overflowing_add(get(v2, 2, i) as u32);
                t.wrapping_add(u32::from(carry))
            });
            put(0, 2, 1, u128::from(sum))
        }
        VCEQ | VCH | VCHL => {
            let es = es_max(f.m4, 3)?;
            let op = e.insn.op;
            let r = map2(v2, v3, es, |a, b| {
                let t = match op {
                    VCEQ => a == b,
                    VCH => sx(a, es) > sx(b, es),
                    _ => a > b,
                };
                if t {
                    emask(es)
                } else {
                    0
                }
            });
            if f.m5 & 1 != 0 {
                let n = (0..count(es)).filter(|&i| get(r, es, i) != 0).count();
                cc = Some(all_some_none(n, count(es)));
            }
            r
        }
        VCLZ | VCTZ => {
            let es = es_max(f.m3, 3)?;
            let pad = 128 - ebits(es);
            if e.insn.op == VCLZ {
                map1(v2, es, |a| u128::from(a.leading_zeros() - pad))
            } else {
                map1(v2, es, |a| {
                    u128::from((a | (1 << ebits(es))).trailing_zeros())
                })
            }
        }
        // VPOPCT: the ones in each element; element sizes other than
        // byte (M3 1-3) come with the vector-enhancements facility 1.
        VPOPCT => {
            let es = es_max(f.m3, if e.cpu.vxeh() { 3 } else { 0 })?;
            map1(v2, es, |a| u128::from(a.count_ones()))
        }
        // Shifts and rotates.
        VESL | VESRL | VESRA | VERLL => {
            let es = es_max(f.m4, 3)?;
            let n = (e.ea2() as u32) % ebits(es);
            let op = e.insn.op;
            map1(v3, es, |a| shift_element(op, a, n, es))
        }
        VESLV | VESRLV | VESRAV | VERLLV => {
            let es = es_max(f.m4, 3)?;
            let op = match e.insn.op {
                VESLV => VESL,
                VESRLV => VESRL,
                VESRAV => VESRA,
                _ => VERLL,
            };
            map2(v2, v3, es, |a, b| {
                shift_element(op, a, (b as u32) % ebits(es), es)
            })
        }
        VERIM => {
            let es = es_max(f.m5, 3)?;
            let n = u32::from(f.i4) % ebits(es);
            map3(v1, v2, v3, es, |t, a, m| {
                let r = shift_element(VERLL, a, n, es);
                (t & !m) | (r & m)
            })
        }
        VSL | VSRL | VSRA => bit_shift(e.insn.op, v2, v3),
        VSLB | VSRLB | VSRAB => {
            let n = ((get(v3, 0, 7) >> 3) & 15) as u32 * 8;
            let op = match e.insn.op {
                VSLB => VSL,
                VSRLB => VSRL,
                _ => VSRA,
            };
            whole_shift(op, v2, n)
        }
        VSLDB => shift_left_double(v2, v3, u32::from(f.i4 & 15) * 8),
        // VSLD, VSRD (the vector-enhancements facility 2): V2 and V3
        // concatenated, shifted by 0-7 bits (I4 bits 0-4 must be zero), the
        // left or the right 128 bits.
        VSLD | VSRD => {
            if f.i4 & !7 != 0 {
                return Err(spec());
            }
            let n = u32::from(f.i4);
            if e.insn.op == VSLD {
                shift_left_double(v2, v3, n)
            } else {
                shift_left_double(v2, v3, 128 - n)
            }
        }
        // Strings.
        VFAE | VFEE | VFENE => {
            let es = es_max(f.m4, 2)?;
            if e.insn.op != VFAE && f.m5 & !3 != 0 {
                return Err(spec());
            }
            let (r, c) = find(e.insn.op, v2, v3, es, f.m5);
            if f.m5 & 1 != 0 {
                cc = Some(c);
            }
            r
        }
        VISTR => {
            let es = es_max(f.m3, 2)?;
            if f.m5 & !1 != 0 {
                return Err(spec());
            }
            let z = first(v2, es, |x| x == 0);
            let r = if z < 16 {
                v2 & !(u128::MAX >> (8 * z))
            } else {
                v2
            };
            if f.m5 & 1 != 0 {
                cc = Some(if z < 16 { 0 } else { 3 });
            }
            r
        }
        VSTRC => {
            let es = es_max(f.m5, 2)?;
            let (r, c) = range_compare(v2, v3, v4, es, f.m6);
            if f.m6 & 1 != 0 {
                cc = Some(c);
            }
            r
        }
        VSTRS => {
            let es = es_max(f.m5, 2)?;
            if f.m6 & !2 != 0 {
                return Err(spec());
            }
            let (at, c) = string_search(v2, v3, get(v4, 0, 7) as usize >> es, es, f.m6 & 2 != 0);
            cc = Some(c);
            index_result(at)
        }
        _ => return Err(Exception::new(Code::OPERATION)),
    };
    if let Some(cc) = cc {
        e.set_cc(cc);
    }
    Ok(r)
}

/// One element shifted or rotated (the VRS-a forms' operations).
fn shift_element(op: Opcode, a: u128, n: u32, es: u8) -> u128 {
    let b = ebits(es);
    match op {
        Opcode::VESL => (a << n) & emask(es),
        Opcode::VESRL => a >> n,
        Opcode::VESRA => (sx(a, es) >> n) as u128,
        _ => {
            if n == 0 {
                a
            } else {
                ((a << n) | (a >> (b - n))) & emask(es)
            }
        }
    }
}

/// VSL, VSRL, VSRA: each byte of `v` shifted by bits 5-7 of the
/// corresponding byte of `amounts`, with the bits of the adjacent byte
/// (zeros, or for VSRA the sign, beyond the register) shifted in.
fn bit_shift(op: Opcode, v: V, amounts: V) -> V {
    let byte = |i: isize| -> u16 {
        match i {
            0..=15 => get(v, 0, i as usize) as u16,
            _ if op == Opcode::VSRA && (v as i128) < 0 => 0xFF,
            _ => 0,
        }
    };
    (0..16).fold(0, |r, i| {
        let n = (get(amounts, 0, i) & 7) as u32;
        let i = i as isize;
        let b = if op == Opcode::VSL {
            ((byte(i) << 8 | byte(i + 1)) << n) >> 8
        } else {
            (byte(i - 1) << 8 | byte(i)) >> n
        };
        put(r, 0, i as usize, u128::from(b & 0xFF))
    })
}

/// The left 128 bits of `a` and `b` concatenated and shifted left by `n`
/// (0-128) bits.
fn shift_left_double(a: V, b: V, n: u32) -> V {
    match n {
        0 => a,
        128.. => b,
        _ => (a << n) | (b >> (128 - n)),
    }
}

/// The whole register shifted by `n` (0-127) bits.
fn whole_shift(op: Opcode, v: V, n: u32) -> V {
    match op {
        Opcode::VSL => v << n,
        Opcode::VSRL => v >> n,
        _ => ((v as i128) >> n) as u128,
    }
}

/// Carry-less multiplication (GF(2) polynomials) of two values of at most
/// 64 bits.
fn clmul(a: u128, b: u128) -> u128 {
    (0..64).fold(0, |r, i| if b >> i & 1 != 0 { r ^ (a << i) } else { r })
}

/// The byte index of the first element of `v` (size `es`) for which `p`
/// holds, or 16.
fn first(v: V, es: u8, p: impl Fn(u128) -> bool) -> usize {
    (0..count(es))
        .find(|&i| p(get(v, es, i)))
        .map_or(16, |i| i << es)
}

/// The result value of the index form: the byte index in byte 7.
fn index_result(i: usize) -> V {
    (i as u128) << 64
}

/// VFAE, VFEE, VFENE with flags `m5` (IN 8, RT 4, ZS 2, CS 1): the result
/// and the condition code.
fn find(op: Opcode, a: V, b: V, es: u8, m5: u8) -> (V, u8) {
    let (invert, mask_result, zero_search) = (m5 & 8 != 0, m5 & 4 != 0, m5 & 2 != 0);
    let n = count(es);
    let zero = if zero_search {
        first(a, es, |x| x == 0)
    } else {
        16
    };
    match op {
        Opcode::VFAE => {
            let hit = |i: usize| {
                let x = get(a, es, i);
                ((0..n).any(|j| get(b, es, j) == x)) != invert
            };
            let hits = (0..n).fold(0, |r, i| if hit(i) { put(r, es, i, emask(es)) } else { r });
            let matched = first(hits, es, |x| x != 0);
            let r = if mask_result {
                hits
            } else {
                index_result(matched.min(zero))
            };
            (r, found_cc(matched, zero))
        }
        Opcode::VFEE => {
            let equal = first(map2(a, b, es, |x, y| u128::from(x == y)), es, |x| x != 0);
            (index_result(equal.min(zero)), found_cc(equal, zero))
        }
        _ => {
            let unequal = first(map2(a, b, es, |x, y| u128::from(x != y)), es, |x| x != 0);
            let cc = if zero == 16 && unequal == 16 {
                3
            } else if zero < unequal {
                0
            } else if get(a, es, unequal >> es) < get(b, es, unequal >> es) {
                1
            } else {
                2
            };
            (index_result(unequal.min(zero)), cc)
        }
    }
}

/// The condition code of VFAE, VFEE and VSTRC from the byte indexes of the
/// first match and the first zero element (16 for none): 0 a zero at or
/// before the first match, 1 a match and no zero, 2 a match before a zero,
/// 3 neither.
fn found_cc(matched: usize, zero: usize) -> u8 {
    if matched == 16 && zero == 16 {
        3
    } else if zero == 16 {
        1
    } else if matched < zero {
        2
    } else {
        0
    }
}

/// VSTRS (the vector-enhancements facility 2): the leftmost occurrence in
/// `a` of the substring of `b`'s first `len` elements (size `es`), with
/// zero search (`zs`: `a` ends at its first zero element, the substring at
/// its first zero element too). The byte index of the match (16 for none)
/// and the cc: 0 no match, 1 no match with `a` ending in a zero element
/// (also a match that starts after it), 2 a full match (or an empty
/// substring, at index 0), 3 a partial match running off the right of
/// `a`.
fn string_search(a: V, b: V, len: usize, es: u8, zs: bool) -> (usize, u8) {
    let n = count(es);
    let len = if zs {
        (0..len.min(n))
            .find(|&i| get(b, es, i) == 0)
            .unwrap_or(len.min(n))
    } else {
        len
    };
    if len == 0 {
        return (0, 2);
    }
    let end = if zs {
        (0..n).find(|&k| get(a, es, k) == 0).unwrap_or(n)
    } else {
        n
    };
    for k in 0..n {
        let last = n.min(k + len);
        if (k..last).all(|j| get(a, es, j) == get(b, es, j - k)) {
            return if k > end {
                (16, 1)
            } else if last - k == len {
                (k << es, 2)
            } else {
                (k << es, 3)
            };
        }
    }
    (16, u8::from(end < n))
}

/// VSTRC: each element of `a` against the ranges of `b` (even-odd element
/// pairs) under the controls of `c` (bits 0-2 of each element: equal, low,
/// high), with flags `m6` (IN 8, RT 4, ZS 2, CS 1).
fn range_compare(a: V, b: V, c: V, es: u8, m6: u8) -> (V, u8) {
    let (invert, mask_result, zero_search) = (m6 & 8 != 0, m6 & 4 != 0, m6 & 2 != 0);
    let n = count(es);
    let top = ebits(es) - 1;
    let holds = |x: u128, bound: u128, ctl: u128| {
        let bit = |k: u32| ctl >> (top - k) & 1 != 0;
        match x.cmp(&bound) {
            core::cmp::Ordering::Equal => bit(0),
            core::cmp::Ordering::Less => bit(1),
            core::cmp::Ordering::Greater => bit(2),
        }
    };
    let hit = |i: usize| {
        let x = get(a, es, i);
        (0..n).step_by(2).any(|j| {
            holds(x, get(b, es, j), get(c, es, j)) && holds(x, get(b, es, j + 1), get(c, es, j + 1))
        }) != invert
    };
    let zero = if zero_search {
        first(a, es, |x| x == 0)
    } else {
        16
    };
    let hits = (0..n).fold(0, |r, i| if hit(i) { put(r, es, i, emask(es)) } else { r });
    let matched = first(hits, es, |x| x != 0);
    let r = if mask_result {
        hits
    } else {
        index_result(matched.min(zero))
    };
    (r, found_cc(matched, zero))
}
