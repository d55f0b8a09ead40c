//! Shifts ([`Sem::Shift`]) and the rotate-then-operate-on-selected-bits
//! instructions (RISBG, RNSBG, ROSBG, RXSBG).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::format::Format;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::{ShiftOp, Width};

use crate::cc::compare_cc;
use crate::emit::{low32, Current, Gen};
use crate::regs::{Compared, Pending};

impl Gen {
    /// SLL, SRL, SRA and their 64-bit and RSY forms, RLL and RLLG: the
    /// shift amount is the low 6 bits of the second-operand address (a
    /// 32-bit rotate by 32-63 bits is one by the amount modulo 32, as x86
    /// ROL counts); SRA sets the cc.
    /// `false` for other shifts (the helper runs them).
    pub(crate) fn shift(
        &mut self,
        here: &Current,
        op: ShiftOp,
        w: Width,
    ) -> Result<bool, IcedError> {
        let f = here.insn.f;
        let format = here.insn.op.format();
        if !(matches!(
            op,
            ShiftOp::Sll | ShiftOp::Srl | ShiftOp::Sra | ShiftOp::Rll
        ) && matches!(format, Format::RsA | Format::RsyA))
        {
            return Ok(false);
        }
        self.opt_in();
        let src = if format == Format::RsyA { f.r3 } else { f.r1 };
        // Without a base register the amount is the displacement's low 6
        // bits (wrapping the address to the addressing mode keeps them):
        // an immediate count (one x86 instruction, where a count in cl
        // is three).
        let constant = (f.b2 == 0).then_some(f.d2 as u32 & 63);
        if constant.is_none() {
            self.ea(0, f.b2, f.d2)?;
            self.a.mov(ecx, eax)?;
            self.a.and(ecx, 63)?;
        }
        let src = match w {
            Width::W32 => self.reg_low(src)?,
            Width::W64 => self.reg(src)?,
        };
        let a = &mut self.a;
        match (op, w) {
            (ShiftOp::Sra, Width::W32) => a.movsxd(rax, low32(src))?,
            (_, Width::W32) => a.mov(eax, low32(src))?,
            (_, Width::W64) => a.mov(rax, src)?,
        }
        match (op, constant) {
            (ShiftOp::Sll, None) => a.shl(rax, cl)?,
            (ShiftOp::Srl, None) => a.shr(rax, cl)?,
            (ShiftOp::Rll, None) if w == Width::W32 => a.rol(eax, cl)?,
            (ShiftOp::Rll, None) => a.rol(rax, cl)?,
            (_, None) => a.sar(rax, cl)?,
            // x86 counts an immediate as it counts cl (modulo 64, a 32-bit
            // rotate modulo 32); a count of 0 changes nothing.
            (_, Some(0)) => {}
            (ShiftOp::Sll, Some(n)) => a.shl(rax, n)?,
            (ShiftOp::Srl, Some(n)) => a.shr(rax, n)?,
            (ShiftOp::Rll, Some(n)) if w == Width::W32 => a.rol(eax, n)?,
            (ShiftOp::Rll, Some(n)) => a.rol(rax, n)?,
            (_, Some(n)) => a.sar(rax, n)?,
        }
        // SRA's condition code, unless a later instruction overwrites it.
        let sets_cc = op == ShiftOp::Sra && !self.cc_dead;
        if sets_cc {
            match w {
                Width::W32 => a.test(eax, eax)?,
                Width::W64 => a.test(rax, rax)?,
            }
            a.setl(dl)?;
            a.setg(cl)?;
        }
        match w {
            Width::W32 => {
                // The 64-bit shifts above leave bits in the high half.
                self.a.mov(eax, eax)?;
                self.set_reg32(f.r1, rax)?;
            }
            Width::W64 => self.set_reg(f.r1, rax)?,
        }
        if sets_cc {
            self.set_cc()?;
        }
        Ok(true)
    }

    /// RISBG, RISBGN, RNSBG, ROSBG, RXSBG: R2 rotated left by I5, then the
    /// bits I3..I4 (wrapping) inserted into R1, or combined with it.
    pub(crate) fn rotate_then(
        &mut self,
        op: Opcode,
        r1: u8,
        r2: u8,
        i3: u8,
        i4: u8,
        i5: u8,
    ) -> Result<(), IcedError> {
        self.opt_in();
        let (start, end) = (u32::from(i3 & 63), u32::from(i4 & 63));
        let mask = if start <= end {
            (u64::MAX >> start) & (u64::MAX << (63 - end))
        } else {
            (u64::MAX >> start) | (u64::MAX << (63 - end))
        };
        // RISBG and RISBGN with the zero-remaining-bits control (I4 bit
        // 0) do not read R1; RNSBG, ROSBG and RXSBG with the test-results
        // control (I3 bit 0) do not write it.
        let inserts = matches!(op, Opcode::RISBG | Opcode::RISBGN);
        let zero_rest = inserts && i4 & 0x80 != 0;
        let test_only = !inserts && i3 & 0x80 != 0;
        let dead = self.cc_dead;
        let r2 = self.reg(r2)?;
        self.a.mov(rax, r2)?;
        if i5 & 63 != 0 {
            self.a.rol(rax, u32::from(i5 & 63))?;
        }
        // A mask that fits a sign-extended 32-bit immediate (the usual
        // field extraction: bits at the right end) needs no register
        // where the rest of R1 is zeroed.
        let short_mask = i32::try_from(mask as i64).ok().filter(|_| zero_rest);
        if short_mask.is_none() {
            self.a.mov(rcx, mask)?;
        }
        if !zero_rest {
            let r1 = self.reg(r1)?;
            self.a.mov(rdx, r1)?;
        }
        if inserts {
            let a = &mut self.a;
            match short_mask {
                Some(m) => a.and(rax, m)?,
                None => a.and(rax, rcx)?,
            }
            if !zero_rest {
                a.not(rcx)?;
                a.and(rdx, rcx)?;
                a.or(rax, rdx)?;
            }
            self.set_reg(r1, rax)?;
            if op == Opcode::RISBG && !dead && self.defers_cc(r1) {
                // cc 0 zero, 1 negative, 2 positive: that of the result
                // in R1 (docs/CHOICES.md §58a).
                self.defer_cc(Pending {
                    r: r1,
                    wide: true,
                    signed: true,
                });
            } else if op == Opcode::RISBG && !dead {
                // cc 0 zero, 1 negative, 2 positive: a signed compare of
                // the result with zero.
                self.before_compare()?;
                self.a.test(rax, rax)?;
                compare_cc(&mut self.a, false)?;
                self.set_compare_cc(Compared::Signed)?;
            }
            return Ok(());
        }
        let a = &mut self.a;
        match op {
            Opcode::RNSBG => a.and(rax, rdx)?,
            Opcode::ROSBG => a.or(rax, rdx)?,
            _ => a.xor(rax, rdx)?,
        }
        a.and(rax, rcx)?;
        if !dead {
            a.setnz(sil)?;
        }
        if !test_only {
            a.not(rcx)?;
            a.and(rdx, rcx)?;
            a.or(rax, rdx)?;
            self.set_reg(r1, rax)?;
        }
        if !dead {
            self.a.movzx(edx, sil)?;
            self.a.mov(ecx, 0)?;
            self.set_cc()?;
        }
        Ok(())
    }
}
