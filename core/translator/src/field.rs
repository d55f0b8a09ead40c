//! The immediate halfword and word field instructions ([`Sem::Field`]):
//! LLIHH..LLILF, IIHH..IILF, NIHH..NILF, OIHH..OILF, XIHF/XILF, and TEST
//! UNDER MASK (TMHH..TMLL).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::sem::FieldOp;

use crate::emit::Gen;

impl Gen {
    /// The field of `bits` bits at bit `shift` (from the right) of R1,
    /// with the immediate `i2`.
    pub(crate) fn field(
        &mut self,
        r1: u8,
        i2: u32,
        op: FieldOp,
        shift: u8,
        bits: u8,
    ) -> Result<(), IcedError> {
        self.opt_in();
        let mask = (u64::MAX >> (64 - u32::from(bits))) << shift;
        let imm = (u64::from(i2) << shift) & mask;
        if op == FieldOp::LoadLogical {
            self.a.mov(rax, imm)?;
            return self.set_reg(r1, rax);
        }
        let value = self.reg(r1)?;
        let a = &mut self.a;
        a.mov(rax, value)?;
        match op {
            FieldOp::LoadLogical => {}
            FieldOp::Insert => {
                a.mov(rcx, !mask)?;
                a.and(rax, rcx)?;
                a.mov(rcx, imm)?;
                a.or(rax, rcx)?;
                self.set_reg(r1, rax)?;
            }
            FieldOp::And | FieldOp::Or | FieldOp::Xor => {
                match op {
                    FieldOp::And => {
                        a.mov(rcx, imm | !mask)?;
                        a.and(rax, rcx)?;
                    }
                    FieldOp::Or => {
                        a.mov(rcx, imm)?;
                        a.or(rax, rcx)?;
                    }
                    _ => {
                        a.mov(rcx, imm)?;
                        a.xor(rax, rcx)?;
                    }
                }
                self.set_reg(r1, rax)?;
                let a = &mut self.a;
                a.mov(rcx, mask)?;
                a.test(rax, rcx)?;
                a.setnz(dl)?;
                a.xor(ecx, ecx)?;
                self.set_cc()?;
            }
            FieldOp::Test => {
                // cc 0: selected bits zero (or no bits selected);
                // 3: all ones; else 1 or 2 by the leftmost selected
                // bit (PoP TEST UNDER MASK).
                let mut done = a.create_label();
                a.mov(rcx, imm)?;
                a.and(rax, rcx)?;
                a.mov(edx, 0)?;
                a.jz(done)?;
                a.mov(edx, 3)?;
                a.cmp(rax, rcx)?;
                a.je(done)?;
                if imm != 0 {
                    let leftmost = 63 - imm.leading_zeros();
                    a.bt(rax, leftmost)?;
                    a.mov(edx, 1)?;
                    a.adc(edx, 0)?;
                }
                a.set_label(&mut done)?;
                a.mov(ecx, edx)?;
                a.shl(cl, 4)?;
                self.store_cc()?;
            }
        }
        Ok(())
    }
}
