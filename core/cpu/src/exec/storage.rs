//! Storage instructions outside the table shapes: load/store multiple,
//! insert/store characters under mask, byte-reversed and high-word
//! accesses, conditional loads and stores, compare and swap, interlocked
//! update, and the storage-to-storage (SS) and long-operand instructions.

use super::{Exec, ExecResult, Next};
use crate::cc;
use crate::memory::{AddressType, Bus};
use crate::opcode::Opcode;
use crate::sem::{AluOp, Ext, Width};
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::control;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;

/// Bytes an interruptible long instruction (MVCL, MVCLE, CLCL, CLCLE, MVST,
/// CLST, SRST) processes per execution before it reports partial
/// completion: the architecture's "CPU-determined amount", bounded so that
/// one step does bounded work whatever the guest asks.
pub const CPU_DETERMINED: u64 = 4096;

/// Storage instructions, or `None` if `e.insn` is not one.
pub fn special<B: Bus>(e: &mut Exec<'_, B>) -> Option<ExecResult> {
    use Opcode::*;
    Some(match e.insn.op {
        LM | LMY | LMG | LMH => load_multiple(e),
        STM | STMY | STMG | STMH => store_multiple(e),
        LAM | LAMY | STAM | STAMY => access_multiple(e),
        ICM | ICMY | ICMH | STCM | STCMY | STCMH | CLM | CLMY | CLMH => under_mask(e),
        IC | ICY => insert_character(e),
        LRV | LRVG | LRVH | STRV | STRVG | STRVH => byte_reversed(e),
        LFH | LBH | LLCH | LHH | LLHH | STFH | STCH | STHH | CHF | CLHF => high_word(e),
        LOC | LOCG | LOCFH | STOC | STOCG | STOCFH => on_condition(e),
        CS | CSY | CSG | CDS | CDSY | CDSG => compare_and_swap(e),
        LAA | LAAG | LAAL | LAALG | LAN | LANG | LAO | LAOG | LAX | LAXG => interlocked(e),
        TM | TMY => test_under_mask(e),
        LD | LDY => load_fpr(e),
        STD | STDY => store_fpr(e),
        LE | LEY => load_short_fpr(e),
        STE | STEY => store_short_fpr(e),
        NTSTG => nontransactional_store(e),
        LZRG | LZRF | LLZRGF => load_and_zero_rightmost_byte(e),
        LPQ | STPQ => quadword(e),
        // Hints: no architected effect.
        PFD | PFDRL | NIAI => Ok(Next::Seq),
        MVC | NC | OC | XC | MVN | MVZ => ss_move(e),
        MVCP | MVCS => move_between_spaces(e),
        CLC => compare_logical_characters(e),
        TR => translate(e),
        TRT | TRTR => translate_and_test(e),
        MVCIN => move_inverse(e),
        MVCRL => move_right_to_left(e),
        MVCL | MVCLE => move_long(e),
        CKSM => checksum(e),
        CLCL | CLCLE => compare_long(e),
        MVST => move_string(e),
        CLST => compare_string(e),
        SRST => search_string(e),
        _ => return None,
    })
}

/// The registers R1, R1+1, ..., R3 (wrapping from 15 to 0).
fn register_range(r1: u8, r3: u8) -> impl Iterator<Item = u8> {
    let n = (r3.wrapping_sub(r1) & 15) + 1;
    (0..n).map(move |i| (r1 + i) & 15)
}

fn multiple_width(op: Opcode) -> usize {
    match op {
        Opcode::LMG | Opcode::STMG => 8,
        _ => 4,
    }
}

fn load_multiple<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let n = multiple_width(e.insn.op);
    let count = usize::from((f.r3.wrapping_sub(f.r1) & 15) + 1);
    let mut buf = [0u8; 128];
    let a = e.ea2();
    e.read(a, &mut buf[..count * n], f.b2)?;
    for (i, r) in register_range(f.r1, f.r3).enumerate() {
        let chunk = &buf[i * n..(i + 1) * n];
        match (e.insn.op, n) {
            (_, 8) => e
                .cpu
                .set_r64(r, u64::from_be_bytes(chunk.try_into().unwrap_or_default())),
            (Opcode::LMH, _) => e
                .cpu
                .set_rh(r, u32::from_be_bytes(chunk.try_into().unwrap_or_default())),
            _ => e
                .cpu
                .set_r32(r, u32::from_be_bytes(chunk.try_into().unwrap_or_default())),
        }
    }
    Ok(Next::Seq)
}

fn store_multiple<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let n = multiple_width(e.insn.op);
    let mut buf = [0u8; 128];
    let mut len = 0;
    for r in register_range(f.r1, f.r3) {
        let v = e.cpu.r64(r);
        let bytes = v.to_be_bytes();
        let part: &[u8] = match (e.insn.op, n) {
            (_, 8) => &bytes,
            (Opcode::STMH, _) => &bytes[..4],
            _ => &bytes[4..],
        };
        buf[len..len + n].copy_from_slice(part);
        len += n;
    }
    let a = e.ea2();
    e.write(a, &buf[..len], f.b2)?;
    Ok(Next::Seq)
}

/// LAM, LAMY, STAM, STAMY: access registers R1 through R3 (wrapping from
/// 15 to 0) from or to consecutive words at the second operand, which
/// must be on a word boundary (specification exception).
fn access_multiple<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let a = e.ea2();
    e.aligned(a, 4)?;
    let count = usize::from((f.r3.wrapping_sub(f.r1) & 15) + 1);
    let mut buf = [0u8; 64];
    if matches!(e.insn.op, Opcode::LAM | Opcode::LAMY) {
        e.read(a, &mut buf[..count * 4], f.b2)?;
        for (i, r) in register_range(f.r1, f.r3).enumerate() {
            let word = [buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]];
            e.cpu.ar[usize::from(r)] = u32::from_be_bytes(word);
        }
    } else {
        for (i, r) in register_range(f.r1, f.r3).enumerate() {
            buf[4 * i..4 * i + 4].copy_from_slice(&e.cpu.ar[usize::from(r)].to_be_bytes());
        }
        e.write(a, &buf[..count * 4], f.b2)?;
    }
    Ok(Next::Seq)
}

/// ICM, STCM, CLM and their Y/H forms: the bytes of a register word selected
/// by M3, in order, against consecutive storage bytes.
fn under_mask<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    let high = matches!(e.insn.op, ICMH | STCMH | CLMH);
    let word = if high {
        e.cpu.rh(f.r1)
    } else {
        e.cpu.r32(f.r1)
    };
    let selected: [bool; 4] = core::array::from_fn(|i| f.m3 & (8 >> i) != 0);
    let count = selected.iter().filter(|s| **s).count();
    let a = e.ea2();
    let mut mem = [0u8; 4];
    let mut bytes = word.to_be_bytes();
    match e.insn.op {
        STCM | STCMY | STCMH => {
            let mut j = 0;
            for (i, s) in selected.iter().enumerate() {
                if *s {
                    mem[j] = bytes[i];
                    j += 1;
                }
            }
            e.write(a, &mem[..count], f.b2)?;
        }
        ICM | ICMY | ICMH => {
            e.read(a, &mut mem[..count], f.b2)?;
            let mut j = 0;
            for (i, s) in selected.iter().enumerate() {
                if *s {
                    bytes[i] = mem[j];
                    j += 1;
                }
            }
            let v = u32::from_be_bytes(bytes);
            if high {
                e.cpu.set_rh(f.r1, v);
            } else {
                e.cpu.set_r32(f.r1, v);
            }
            let inserted = &mem[..count];
            let cc = if inserted.iter().all(|b| *b == 0) {
                0
            } else if inserted[0] & 0x80 != 0 {
                1
            } else {
                2
            };
            e.set_cc(cc);
        }
        _ => {
            e.read(a, &mut mem[..count], f.b2)?;
            let mut j = 0;
            let mut cc = 0;
            for (i, s) in selected.iter().enumerate() {
                if *s {
                    if cc == 0 && bytes[i] != mem[j] {
                        cc = if bytes[i] < mem[j] { 1 } else { 2 };
                    }
                    j += 1;
                }
            }
            e.set_cc(cc);
        }
    }
    Ok(Next::Seq)
}

fn byte_reversed<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    let a = e.ea2();
    let n = match e.insn.op {
        LRVH | STRVH => 2,
        LRV | STRV => 4,
        _ => 8,
    };
    match e.insn.op {
        LRV | LRVG | LRVH => {
            let v = e.read_uint(a, n, f.b2)?;
            let r = v.swap_bytes() >> (64 - 8 * n);
            match n {
                2 => {
                    let old = e.cpu.r64(f.r1);
                    e.cpu.set_r64(f.r1, (old & !0xffff) | r);
                }
                4 => e.cpu.set_r32(f.r1, r as u32),
                _ => e.cpu.set_r64(f.r1, r),
            }
        }
        _ => {
            let v = e.cpu.r64(f.r1);
            let low = if n == 8 {
                v
            } else {
                v & ((1u64 << (8 * n)) - 1)
            };
            let r = low.swap_bytes() >> (64 - 8 * n);
            e.write_uint(a, n, r, f.b2)?;
        }
    }
    Ok(Next::Seq)
}

/// High-word loads, stores and compares (bits 0-31 of R1).
fn high_word<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    let a = e.ea2();
    match e.insn.op {
        STFH | STCH | STHH => {
            let n = match e.insn.op {
                STFH => 4,
                STHH => 2,
                _ => 1,
            };
            let v = u64::from(e.cpu.rh(f.r1));
            e.write_uint(a, n, v, f.b2)?;
        }
        CHF | CLHF => {
            let m = e.read_uint(a, 4, f.b2)?;
            let h = u64::from(e.cpu.rh(f.r1));
            let c = if e.insn.op == CHF {
                cc::compare(h, m, Width::W32)
            } else {
                cc::compare_logical(h, m, Width::W32)
            };
            e.set_cc(c);
        }
        _ => {
            let (n, ext) = match e.insn.op {
                LFH => (4, Ext::U32),
                LBH => (1, Ext::S8),
                LLCH => (1, Ext::U8),
                LHH => (2, Ext::S16),
                _ => (2, Ext::U16),
            };
            let v = ext.apply(e.read_uint(a, n, f.b2)?);
            e.cpu.set_rh(f.r1, v as u32);
        }
    }
    Ok(Next::Seq)
}

/// LOC, LOCG, LOCFH, STOC, STOCG, STOCFH: the access happens only if the
/// condition code is selected by M3.
fn on_condition<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    if !cc::mask_selects(f.m3, e.cpu.psw.cc()) {
        return Ok(Next::Seq);
    }
    let a = e.ea2();
    match e.insn.op {
        LOC => {
            let v = e.read_uint(a, 4, f.b2)?;
            e.cpu.set_r32(f.r1, v as u32);
        }
        LOCG => {
            let v = e.read_uint(a, 8, f.b2)?;
            e.cpu.set_r64(f.r1, v);
        }
        LOCFH => {
            let v = e.read_uint(a, 4, f.b2)?;
            e.cpu.set_rh(f.r1, v as u32);
        }
        STOC => {
            let v = u64::from(e.cpu.r32(f.r1));
            e.write_uint(a, 4, v, f.b2)?;
        }
        STOCG => {
            let v = e.cpu.r64(f.r1);
            e.write_uint(a, 8, v, f.b2)?;
        }
        _ => {
            let v = u64::from(e.cpu.rh(f.r1));
            e.write_uint(a, 4, v, f.b2)?;
        }
    }
    Ok(Next::Seq)
}

/// CS, CSY, CSG, CDS, CDSY, CDSG: compare the first operand (a register or
/// an even-odd pair) with storage; equal: store the third operand, cc 0;
/// unequal: load storage into the first operand, cc 1. The storage operand
/// must be aligned on its size; fetch, compare and store are one
/// interlocked update (PoP "Interlocked Update").
fn compare_and_swap<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    let a = e.ea2();
    let n: usize = match e.insn.op {
        CS | CSY => 4,
        CSG | CDS | CDSY => 8,
        _ => 16,
    };
    let pair = matches!(e.insn.op, CDS | CDSY | CDSG);
    if pair {
        e.even(f.r1)?;
        e.even(f.r3)?;
    }
    e.aligned(a, n as u64)?;
    let operand = |e: &Exec<'_, B>, r: u8| -> u128 {
        match n {
            4 => u128::from(e.cpu.r32(r)),
            8 if pair => u128::from(e.cpu.r32(r)) << 32 | u128::from(e.cpu.r32(r | 1)),
            8 => u128::from(e.cpu.r64(r)),
            _ => u128::from(e.cpu.r64(r)) << 64 | u128::from(e.cpu.r64(r | 1)),
        }
    };
    let (first, third) = (operand(e, f.r1), operand(e, f.r3));
    let found = e.interlocked(a, n, f.b2, &mut |old| (old == first).then_some(third))?;
    if found == first {
        e.set_cc(0);
        return Ok(Next::Seq);
    }
    match n {
        4 => e.cpu.set_r32(f.r1, found as u32),
        8 if pair => {
            e.cpu.set_r32(f.r1, (found >> 32) as u32);
            e.cpu.set_r32(f.r1 | 1, found as u32);
        }
        8 => e.cpu.set_r64(f.r1, found as u64),
        _ => {
            e.cpu.set_r64(f.r1, (found >> 64) as u64);
            e.cpu.set_r64(f.r1 | 1, found as u64);
        }
    }
    e.set_cc(1);
    Ok(Next::Seq)
}

/// LOAD AND ADD / ADD LOGICAL / AND / OR / EXCLUSIVE OR: R1 receives the
/// original storage operand, storage receives it combined with R3 (one
/// interlocked update); the cc is that of the combination.
fn interlocked<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    let (op, w) = match e.insn.op {
        LAA => (AluOp::Add, Width::W32),
        LAAG => (AluOp::Add, Width::W64),
        LAAL => (AluOp::AddL, Width::W32),
        LAALG => (AluOp::AddL, Width::W64),
        LAN => (AluOp::And, Width::W32),
        LANG => (AluOp::And, Width::W64),
        LAO => (AluOp::Or, Width::W32),
        LAOG => (AluOp::Or, Width::W64),
        LAX => (AluOp::Xor, Width::W32),
        _ => (AluOp::Xor, Width::W64),
    };
    let n = if w == Width::W32 { 4 } else { 8 };
    let a = e.ea2();
    e.aligned(a, n as u64)?;
    let (r3, cc) = (e.cpu.r64(f.r3), e.cpu.psw.cc());
    let mut out = None;
    let old = e.interlocked(a, n, f.b2, &mut |old| {
        let result = super::alu::compute(op, w, old as u64, r3, cc);
        out = Some(result);
        Some(u128::from(result.value & (u64::MAX >> (64 - 8 * n as u32))))
    })? as u64;
    // The update ran at least once: the operand was stored.
    let Some(out) = out else {
        return Err(Exception::addressing());
    };
    match w {
        Width::W32 => e.cpu.set_r32(f.r1, old as u32),
        Width::W64 => e.cpu.set_r64(f.r1, old),
    }
    e.set_cc(out.cc);
    e.overflow(out.overflow)
}

/// LPQ, STPQ: a quadword to or from the even-odd pair R1, R1+1.
fn quadword<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    e.even(f.r1)?;
    let a = e.ea2();
    e.aligned(a, 16)?;
    let mut buf = [0u8; 16];
    if e.insn.op == Opcode::LPQ {
        e.read(a, &mut buf, f.b2)?;
        e.cpu.set_r64(
            f.r1,
            u64::from_be_bytes(buf[..8].try_into().unwrap_or_default()),
        );
        e.cpu.set_r64(
            f.r1 | 1,
            u64::from_be_bytes(buf[8..].try_into().unwrap_or_default()),
        );
    } else {
        buf[..8].copy_from_slice(&e.cpu.r64(f.r1).to_be_bytes());
        buf[8..].copy_from_slice(&e.cpu.r64(f.r1 | 1).to_be_bytes());
        e.write(a, &buf, f.b2)?;
    }
    Ok(Next::Seq)
}

/// Do `[dst, dst+len)` and `[src, src+len)` overlap so that a left-to-right,
/// byte-at-a-time operation reads bytes it has already stored (the
/// destination starts inside the source, modulo the addressing mode)?
fn forward_overlap(dst: u64, src: u64, len: u64, mode: AddressingMode) -> bool {
    let d = mode.wrap(dst.wrapping_sub(src));
    d != 0 && d < len
}

/// MVC, NC, OC, XC, MVN, MVZ: the first operand (length L+1) combined byte
/// by byte, left to right, with the second (PoP: as if one byte at a time,
/// so overlapping operands propagate).
fn ss_move<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    let f = e.insn.f;
    let len = usize::from(f.l1) + 1;
    let (dst, src) = (e.ea1(), e.ea(0, f.b2, f.d2));
    let op = e.insn.op;
    let combine = |d: u8, s: u8| -> u8 {
        match op {
            MVC => s,
            NC => d & s,
            OC => d | s,
            XC => d ^ s,
            MVN => (d & 0xf0) | (s & 0x0f),
            _ => (d & 0x0f) | (s & 0xf0),
        }
    };
    e.check(src, len as u64, AccessKind::Read, f.b2)?;
    e.check(dst, len as u64, AccessKind::Write, f.b1)?;
    let mut s = [0u8; 256];
    let mut d = [0u8; 256];
    if op != MVC {
        e.read(dst, &mut d[..len], f.b1)?;
    }
    if forward_overlap(dst, src, len as u64, e.cpu.psw.amode()) {
        // Byte at a time: byte i of the source may be byte j < i of the
        // destination, already stored.
        let shift = e.cpu.psw.amode().wrap(dst.wrapping_sub(src)) as usize;
        e.read(src, &mut s[..shift.min(len)], f.b2)?;
        for i in 0..len {
            let sb = if i < shift { s[i] } else { d[i - shift] };
            d[i] = combine(d[i], sb);
        }
    } else {
        e.read(src, &mut s[..len], f.b2)?;
        for i in 0..len {
            d[i] = combine(d[i], s[i]);
        }
    }
    e.write(dst, &d[..len], f.b1)?;
    if matches!(op, NC | OC | XC) {
        let cc = u8::from(d[..len].iter().any(|b| *b != 0));
        e.set_cc(cc);
    }
    Ok(Next::Seq)
}

/// MVCP (MOVE TO PRIMARY) and MVCS (MOVE TO SECONDARY): move up to 256
/// bytes from the secondary space to the primary (MVCP) or back (MVCS).
/// The true length is in R1 (bits 32-63, all 64 in the 64-bit mode): up
/// to 256 it is moved with cc 0, above 256 bytes are moved with cc 3. The
/// secondary-space operand is accessed with the key in R3 bits 56-59, the
/// primary-space one with the PSW key. Special-operation exception with
/// DAT off, secondary-space control (CR0 bit 37) zero, or in the
/// access-register or home-space mode; privileged-operation exception in
/// the problem state when the PSW-key mask does not authorize the R3 key.
fn move_between_spaces<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let psw = e.cpu.psw;
    let home_or_ar = psw.asc() & 1 != 0;
    if !psw.dat() || !e.cpu.secondary_space_control() || home_or_ar {
        return Err(Exception::new(Code::SPECIAL_OPERATION));
    }
    let key = ((e.cpu.r64(f.r3) >> 4) & 0xF) as u8;
    if !e.cpu.key_authorized(key) {
        return Err(Exception::new(Code::PRIVILEGED_OPERATION));
    }
    let true_len = match psw.amode() {
        AddressingMode::Bits64 => e.cpu.r64(f.r1),
        _ => u64::from(e.cpu.r32(f.r1)),
    };
    let (len, cc) = if true_len > 256 {
        (256, 3)
    } else {
        (true_len as usize, 0)
    };
    let secondary = AddressType::Explicit {
        space: control::AddressSpace::Secondary,
        key,
    };
    let primary = AddressType::Explicit {
        space: control::AddressSpace::Primary,
        key: psw.key(),
    };
    let (to, from) = if e.insn.op == Opcode::MVCS {
        (secondary, primary)
    } else {
        (primary, secondary)
    };
    let (dst, src) = (e.ea1(), e.ea(0, f.b2, f.d2));
    e.check_in(from, src, len as u64, AccessKind::Read)?;
    e.check_in(to, dst, len as u64, AccessKind::Write)?;
    let mut buf = [0u8; 256];
    e.read_in(from, src, &mut buf[..len])?;
    e.write_in(to, dst, &buf[..len])?;
    e.set_cc(cc);
    Ok(Next::Seq)
}

/// CLC: cc 0 equal, 1 first operand low, 2 high (unsigned bytes).
fn compare_logical_characters<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let len = usize::from(f.l1) + 1;
    let (a1, a2) = (e.ea1(), e.ea(0, f.b2, f.d2));
    let mut x = [0u8; 256];
    let mut y = [0u8; 256];
    e.read(a1, &mut x[..len], f.b1)?;
    e.read(a2, &mut y[..len], f.b2)?;
    let cc = match x[..len].cmp(&y[..len]) {
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Less => 1,
        core::cmp::Ordering::Greater => 2,
    };
    e.set_cc(cc);
    Ok(Next::Seq)
}

/// TR: each first-operand byte is replaced by the byte of the 256-byte table
/// at the second-operand address that it indexes.
fn translate<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let len = usize::from(f.l1) + 1;
    let (a1, a2) = (e.ea1(), e.ea(0, f.b2, f.d2));
    e.check(a1, len as u64, AccessKind::Write, f.b1)?;
    // One byte at a time: the table may overlap the first operand.
    for i in 0..len as u64 {
        let at = e.cpu.psw.amode().wrap(a1.wrapping_add(i));
        let b = e.read_uint(at, 1, f.b1)?;
        let t = e.read_uint(e.cpu.psw.amode().wrap(a2.wrapping_add(b)), 1, f.b2)?;
        e.write_uint(at, 1, t, f.b1)?;
    }
    Ok(Next::Seq)
}

/// TRT (left to right) and TRTR (right to left): find the first byte whose
/// table entry is nonzero; R1 gets its address, bits 56-63 of R2 the entry;
/// cc 0 none, 1 found before the last byte, 2 found at the last byte.
fn translate_and_test<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let len = u64::from(f.l1) + 1;
    let (a1, a2) = (e.ea1(), e.ea(0, f.b2, f.d2));
    let mode = e.cpu.psw.amode();
    for i in 0..len {
        let at = if e.insn.op == Opcode::TRT {
            mode.wrap(a1.wrapping_add(i))
        } else {
            mode.wrap(a1.wrapping_sub(i))
        };
        let b = e.read_uint(at, 1, f.b1)?;
        let t = e.read_uint(mode.wrap(a2.wrapping_add(b)), 1, f.b2)?;
        if t != 0 {
            e.set_addr_reg(1, at);
            let r2 = (e.cpu.r64(2) & !0xff) | t;
            e.cpu.set_r64(2, r2);
            e.set_cc(if i + 1 == len { 2 } else { 1 });
            return Ok(Next::Seq);
        }
    }
    e.set_cc(0);
    Ok(Next::Seq)
}

/// MVCRL (MOVE RIGHT TO LEFT, miscellaneous-instruction-extensions
/// facility 3, 61): GR0 bits 56-63 plus one bytes from the second operand
/// to the first, as if one byte at a time from the rightmost to the
/// leftmost, so a source that starts inside the destination's right part
/// propagates the bytes already stored. GR0 bits 32-55 are reserved and
/// not checked.
fn move_right_to_left<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let len = usize::from(e.cpu.r64(0) as u8) + 1;
    let (dst, src) = (e.ea1(), e.ea(0, f.b2, f.d2));
    e.check(src, len as u64, AccessKind::Read, f.b2)?;
    e.check(dst, len as u64, AccessKind::Write, f.b1)?;
    let mut s = [0u8; 256];
    e.read(src, &mut s[..len], f.b2)?;
    let mut d = [0u8; 256];
    // Byte i of the source is byte i + shift of the destination, already
    // stored when the source starts `shift` bytes inside it.
    let shift = if forward_overlap(src, dst, len as u64, e.cpu.psw.amode()) {
        e.cpu.psw.amode().wrap(src.wrapping_sub(dst)) as usize
    } else {
        len
    };
    for i in (0..len).rev() {
        d[i] = if i + shift < len { d[i + shift] } else { s[i] };
    }
    e.write(dst, &d[..len], f.b1)?;
    Ok(Next::Seq)
}

/// MVCIN: the second operand's bytes in reverse order (its address names
/// its rightmost byte).
fn move_inverse<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let len = usize::from(f.l1) + 1;
    let (a1, a2) = (e.ea1(), e.ea(0, f.b2, f.d2));
    let start = e.cpu.psw.amode().wrap(a2.wrapping_sub(len as u64 - 1));
    let mut s = [0u8; 256];
    e.read(start, &mut s[..len], f.b2)?;
    s[..len].reverse();
    e.write(a1, &s[..len], f.b1)?;
    Ok(Next::Seq)
}

/// Long-operand register conventions: address in R, length in R+1
/// (24 bits for MVCL/CLCL, 32 or 64 bits for MVCLE/CLCLE by amode).
/// The largest aligned block of the two low pages that every access check
/// treats alike: low-address protection covers bytes 0-511 and 4096-4607,
/// the fetch-protection override 0-2047. Elsewhere keys and DAT treat a
/// whole page alike.
const PROTECTION_UNIT: u64 = 512;

/// The bytes from `addr` to the end of its protection unit: of
/// [`PROTECTION_UNIT`] in the two low pages, else of the page.
fn unit_left(addr: u64) -> u64 {
    let unit = if addr < 0x2000 {
        PROTECTION_UNIT
    } else {
        0x1000
    };
    unit - (addr & (unit - 1))
}

struct LongOperand {
    reg: u8,
    addr: u64,
    len: u64,
}

fn long_operand<B: Bus>(e: &Exec<'_, B>, reg: u8, extended: bool) -> LongOperand {
    let addr = e.cpu.psw.amode().wrap(e.cpu.r64(reg));
    let l = e.cpu.r64(reg | 1);
    let len = if !extended {
        l & 0x00ff_ffff
    } else if e.cpu.psw.amode() == AddressingMode::Bits64 {
        l
    } else {
        l & 0xffff_ffff
    };
    LongOperand { reg, addr, len }
}

fn store_long_operand<B: Bus>(e: &mut Exec<'_, B>, op: &LongOperand, extended: bool) {
    e.set_addr_reg(op.reg, op.addr);
    let r = op.reg | 1;
    if !extended {
        let v = (e.cpu.r32(r) & 0xff00_0000) | (op.len as u32 & 0x00ff_ffff);
        e.cpu.set_r32(r, v);
    } else if e.cpu.psw.amode() == AddressingMode::Bits64 {
        e.cpu.set_r64(r, op.len);
    } else {
        e.cpu.set_r32(r, op.len as u32);
    }
}

/// CKSM: the second operand's words (address in R2, length in R2+1; a
/// last partial word padded with zeros on the right) added to R1 bits
/// 32-63 with the carries out of bit 32 added back in (end-around carry).
/// At most [`CPU_DETERMINED`] bytes per execution: the registers are
/// updated and cc 3 set when some remain, cc 0 when done.
fn checksum<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    e.even(f.r2)?;
    let mut src = long_operand(e, f.r2, true);
    let n = src.len.min(CPU_DETERMINED) as usize;
    let mut buf = [0u8; CPU_DETERMINED as usize + 3];
    e.read(src.addr, &mut buf[..n], f.r2)?;
    let mut sum = u64::from(e.cpu.r32(f.r1));
    for word in buf[..n.div_ceil(4) * 4].chunks_exact(4) {
        sum += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    e.cpu.set_r32(f.r1, sum as u32);
    src.addr = e.cpu.psw.amode().wrap(src.addr.wrapping_add(n as u64));
    src.len -= n as u64;
    store_long_operand(e, &src, true);
    e.set_cc(if src.len == 0 { 0 } else { 3 });
    Ok(Next::Seq)
}

/// MVCL and MVCLE: move the second operand to the first, padding with the
/// pad byte. MVCL's pad is bits 32-39 of R2+1, MVCLE's bits 56-63 of the
/// second-operand address. MVCL with destructive overlap sets cc 3 and
/// moves nothing; otherwise cc compares the lengths. Both stop after
/// [`CPU_DETERMINED`] bytes: MVCL is then re-executed, MVCLE sets cc 3.
fn move_long<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let extended = e.insn.op == Opcode::MVCLE;
    let r2 = if extended { f.r3 } else { f.r2 };
    e.even(f.r1)?;
    e.even(r2)?;
    let mut dst = long_operand(e, f.r1, extended);
    let mut src = long_operand(e, r2, extended);
    let pad = if extended {
        e.ea(0, f.b2, f.d2) as u8
    } else {
        (e.cpu.r32(r2 | 1) >> 24) as u8
    };
    let mode = e.cpu.psw.amode();
    let length_cc = cc::compare_logical(dst.len, src.len, Width::W64);
    if !extended && forward_overlap(dst.addr, src.addr, dst.len.min(src.len), mode) {
        e.set_cc(3);
        return Ok(Next::Seq);
    }
    let mut budget = CPU_DETERMINED;
    let mut buf = [0u8; 0x1000];
    while dst.len > 0 && budget > 0 {
        // As one byte at a time, a run at once: the run stays within one
        // protection unit of each operand (so its first byte meets any
        // exception the others would) and ends before a byte it would
        // read after storing it.
        let mut n = unit_left(dst.addr).min(dst.len).min(budget);
        if src.len > 0 {
            n = n.min(unit_left(src.addr)).min(src.len);
            let ahead = mode.wrap(dst.addr.wrapping_sub(src.addr));
            if ahead != 0 {
                n = n.min(ahead);
            }
            let run = &mut buf[..n as usize];
            e.read(src.addr, run, r2)?;
            src.addr = mode.wrap(src.addr.wrapping_add(n));
            src.len -= n;
        } else {
            buf[..n as usize].fill(pad);
        }
        e.write(dst.addr, &buf[..n as usize], f.r1)?;
        dst.addr = mode.wrap(dst.addr.wrapping_add(n));
        dst.len -= n;
        budget -= n;
    }
    store_long_operand(e, &dst, extended);
    store_long_operand(e, &src, extended);
    if dst.len > 0 {
        if extended {
            e.set_cc(3);
            return Ok(Next::Seq);
        }
        return Ok(Next::Again);
    }
    e.set_cc(length_cc);
    Ok(Next::Seq)
}

/// CLCL and CLCLE: compare, the shorter operand extended with the pad
/// byte; on inequality the registers address the first unequal bytes.
fn compare_long<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let extended = e.insn.op == Opcode::CLCLE;
    let r2 = if extended { f.r3 } else { f.r2 };
    e.even(f.r1)?;
    e.even(r2)?;
    let mut a = long_operand(e, f.r1, extended);
    let mut b = long_operand(e, r2, extended);
    let pad = if extended {
        e.ea(0, f.b2, f.d2) as u8
    } else {
        (e.cpu.r32(r2 | 1) >> 24) as u8
    };
    let mode = e.cpu.psw.amode();
    let mut budget = CPU_DETERMINED;
    let mut cc = 0;
    while (a.len > 0 || b.len > 0) && budget > 0 {
        let x = if a.len > 0 {
            e.read_uint(a.addr, 1, f.r1)? as u8
        } else {
            pad
        };
        let y = if b.len > 0 {
            e.read_uint(b.addr, 1, r2)? as u8
        } else {
            pad
        };
        if x != y {
            cc = if x < y { 1 } else { 2 };
            break;
        }
        if a.len > 0 {
            a.addr = mode.wrap(a.addr.wrapping_add(1));
            a.len -= 1;
        }
        if b.len > 0 {
            b.addr = mode.wrap(b.addr.wrapping_add(1));
            b.len -= 1;
        }
        budget -= 1;
    }
    store_long_operand(e, &a, extended);
    store_long_operand(e, &b, extended);
    if cc == 0 && (a.len > 0 || b.len > 0) {
        if extended {
            e.set_cc(3);
            return Ok(Next::Seq);
        }
        return Ok(Next::Again);
    }
    e.set_cc(cc);
    Ok(Next::Seq)
}

/// The ending character of MVST, CLST, SRST: bits 56-63 of R0; bits 32-55
/// must be zero (specification exception).
fn ending_char<B: Bus>(e: &Exec<'_, B>) -> Result<u8, Exception> {
    let r0 = e.cpu.r32(0);
    if r0 & 0xffff_ff00 != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    Ok(r0 as u8)
}

/// MVST: move up to and including the ending character; cc 1 with R1 at
/// the ending character in the first operand, or cc 3 after a CPU-determined
/// amount with R1 and R2 advanced.
fn move_string<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let end = ending_char(e)?;
    let mode = e.cpu.psw.amode();
    let (mut d, mut s) = (mode.wrap(e.cpu.r64(f.r1)), mode.wrap(e.cpu.r64(f.r2)));
    for _ in 0..CPU_DETERMINED {
        let b = e.read_uint(s, 1, f.r2)?;
        e.write_uint(d, 1, b, f.r1)?;
        if b as u8 == end {
            e.set_addr_reg(f.r1, d);
            e.set_cc(1);
            return Ok(Next::Seq);
        }
        d = mode.wrap(d.wrapping_add(1));
        s = mode.wrap(s.wrapping_add(1));
    }
    e.set_addr_reg(f.r1, d);
    e.set_addr_reg(f.r2, s);
    e.set_cc(3);
    Ok(Next::Seq)
}

/// CLST: cc 0 both strings end together, 1 first low (or ends first), 2
/// first high; on 1 or 2 R1 and R2 address the deciding characters; cc 3
/// after a CPU-determined amount.
fn compare_string<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let end = ending_char(e)?;
    let mode = e.cpu.psw.amode();
    let (mut a, mut b) = (mode.wrap(e.cpu.r64(f.r1)), mode.wrap(e.cpu.r64(f.r2)));
    for _ in 0..CPU_DETERMINED {
        let x = e.read_uint(a, 1, f.r1)? as u8;
        let y = e.read_uint(b, 1, f.r2)? as u8;
        let cc = match (x == end, y == end) {
            (true, true) => Some(0),
            (true, false) => Some(1),
            (false, true) => Some(2),
            _ if x < y => Some(1),
            _ if x > y => Some(2),
            _ => None,
        };
        if let Some(cc) = cc {
            if cc != 0 {
                e.set_addr_reg(f.r1, a);
                e.set_addr_reg(f.r2, b);
            }
            e.set_cc(cc);
            return Ok(Next::Seq);
        }
        a = mode.wrap(a.wrapping_add(1));
        b = mode.wrap(b.wrapping_add(1));
    }
    e.set_addr_reg(f.r1, a);
    e.set_addr_reg(f.r2, b);
    e.set_cc(3);
    Ok(Next::Seq)
}

/// SRST: search from R2 up to (not including) R1 for the character in R0:
/// found, cc 1 and R1 = its address; not found, cc 2; cc 3 after a
/// CPU-determined amount with R2 advanced.
fn search_string<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let c = ending_char(e)?;
    let mode = e.cpu.psw.amode();
    let end = mode.wrap(e.cpu.r64(f.r1));
    let mut p = mode.wrap(e.cpu.r64(f.r2));
    for _ in 0..CPU_DETERMINED {
        if p == end {
            e.set_cc(2);
            return Ok(Next::Seq);
        }
        if e.read_uint(p, 1, f.r2)? as u8 == c {
            e.set_addr_reg(f.r1, p);
            e.set_cc(1);
            return Ok(Next::Seq);
        }
        p = mode.wrap(p.wrapping_add(1));
    }
    e.set_addr_reg(f.r2, p);
    e.set_cc(3);
    Ok(Next::Seq)
}

/// IC, ICY: insert the byte at the operand address into bits 56-63 of R1.
fn insert_character<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let a = e.ea2();
    let b = e.read_uint(a, 1, e.insn.f.b2)?;
    let r1 = e.insn.f.r1;
    let v = (e.cpu.r64(r1) & !0xff) | b;
    e.cpu.set_r64(r1, v);
    Ok(Next::Seq)
}

/// TM, TMY: test the selected bits of the byte at the first-operand address.
fn test_under_mask<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let a = e.ea1();
    let b = e.read_uint(a, 1, e.insn.f.b1)? as u8;
    e.set_cc(cc::test_under_mask_byte(b, e.insn.f.i2 as u8));
    Ok(Next::Seq)
}

/// LD, LDY: load a floating-point register from storage (8 bytes, moved as bits).
fn load_fpr<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let r1 = e.fpr(e.insn.f.r1)?;
    let a = e.ea2();
    let v = e.read_uint(a, 8, e.insn.f.b2)?;
    e.cpu.set_fpr(r1, v);
    Ok(Next::Seq)
}

/// STD, STDY: store a floating-point register (8 bytes, moved as bits).
fn store_fpr<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let r1 = e.fpr(e.insn.f.r1)?;
    let a = e.ea2();
    let v = e.cpu.fpr(r1);
    e.write_uint(a, 8, v, e.insn.f.b2)?;
    Ok(Next::Seq)
}

/// LE, LEY: load bits 0-31 of a floating-point register from a word in
/// storage; bits 32-63 are unchanged.
fn load_short_fpr<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let r1 = e.fpr(e.insn.f.r1)?;
    let a = e.ea2();
    let v = e.read_uint(a, 4, e.insn.f.b2)?;
    e.cpu.set_fpr(r1, (v << 32) | (e.cpu.fpr(r1) & 0xFFFF_FFFF));
    Ok(Next::Seq)
}

/// STE, STEY: store bits 0-31 of a floating-point register (a word).
fn store_short_fpr<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let r1 = e.fpr(e.insn.f.r1)?;
    let a = e.ea2();
    let v = e.cpu.fpr(r1) >> 32;
    e.write_uint(a, 4, v, e.insn.f.b2)?;
    Ok(Next::Seq)
}

/// NTSTG: store R1 at the doubleword-aligned operand address.
fn nontransactional_store<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let a = e.ea2();
    e.aligned(a, 8)?;
    let v = e.cpu.r64(e.insn.f.r1);
    e.write_uint(a, 8, v, e.insn.f.b2)?;
    Ok(Next::Seq)
}

/// LOAD AND ZERO RIGHTMOST BYTE (the load-and-zero-rightmost-byte
/// facility, 53): LZRG a doubleword into R1, LZRF a word into bits 32-63
/// (bits 0-31 unchanged), LOAD LOGICAL AND ZERO RIGHTMOST BYTE (LLZRGF) a
/// word zero-extended into all of R1; the operand's rightmost byte is
/// loaded as zero.
fn load_and_zero_rightmost_byte<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let a = e.ea2();
    let f = e.insn.f;
    match e.insn.op {
        Opcode::LZRG => {
            let v = e.read_uint(a, 8, f.b2)?;
            e.cpu.set_r64(f.r1, v & !0xff);
        }
        Opcode::LZRF => {
            let v = e.read_uint(a, 4, f.b2)?;
            e.cpu.set_r32(f.r1, v as u32 & !0xff);
        }
        _ => {
            let v = e.read_uint(a, 4, f.b2)?;
            e.cpu.set_r64(f.r1, v & !0xff);
        }
    }
    Ok(Next::Seq)
}
