//! Branches: BRC, BRCL, BCR, BC, BRCT, BRCTG, BRAS, BRASL, BASR, the
//! branch-relative-on-index family (BRXH, BRXLE, BRXHG, BRXLG) and the
//! compare-and-branch-relative family. A block ends by storing the next
//! PSW address and going to the dispatcher (or, back to its own start,
//! straight to its first instruction); a conditional relative branch is a
//! side exit ([`crate::block::side_exit`]): taken, it gives back the
//! budget of the instructions after it and ends the block; not taken, the
//! block goes on.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::addr::AddressingMode;

use crate::emit::{gpr, gpr32, low32, Current, Gen, Native};
use crate::regs::Compared;

impl Gen {
    /// Emits the branches it translates natively; `None` for other
    /// instructions.
    pub(crate) fn branch(&mut self, here: &Current) -> Result<Option<Native>, IcedError> {
        use Opcode::*;
        let insn = here.insn;
        let f = insn.f;
        match insn.op {
            BRC | BRCL => {
                self.opt_in();
                let target = self.rel(here);
                let flags = self.flags;
                if !matches!(f.m1, 0 | 15) && flags.is_none() {
                    self.cc_to_ecx()?;
                }
                return self.cond_exit(f.m1, target, flags);
            }
            BCR | BC => {
                if (insn.op == BCR && f.r2 == 0) || f.m1 == 0 {
                    if insn.op == BCR && f.r2 == 0 && f.m1 >= 14 {
                        // BCR 15,0 and (fast-BCR-serialization) 14,0
                        // serialize: this CPU's stores are seen by the
                        // others before its later fetches (smp_mb()), which
                        // x86's store buffer does not give without a fence.
                        self.a.mfence()?;
                    }
                    self.end_at(here.next)?;
                    return Ok(Some(Native::Ended));
                }
                self.opt_in();
                if insn.op == BCR {
                    let r2 = self.reg(f.r2)?;
                    self.a.mov(rax, r2)?;
                    self.wrap(rax)?;
                } else {
                    self.ea(f.x2, f.b2, f.d2)?;
                }
                if f.m1 == 15 {
                    self.end_rax()?;
                } else {
                    let mut taken = self.a.create_label();
                    self.load_cc()?;
                    self.branch_on(f.m1, taken)?;
                    self.end_at(here.next)?;
                    self.a.set_label(&mut taken)?;
                    self.end_rax()?;
                }
            }
            BRCT | BRCTG => {
                self.opt_in();
                let target = self.rel(here);
                let mut skip = self.a.create_label();
                let r1 = if insn.op == BRCT {
                    self.reg_low(f.r1)?
                } else {
                    self.reg(f.r1)?
                };
                if insn.op == BRCT {
                    self.a.lea(eax, dword_ptr(r1 - 1))?;
                    self.set_reg32(f.r1, rax)?;
                    self.a.test(eax, eax)?;
                } else {
                    self.a.lea(rax, qword_ptr(r1 - 1))?;
                    self.set_reg(f.r1, rax)?;
                    self.a.test(rax, rax)?;
                }
                self.a.jz(skip)?;
                self.side_exit(target)?;
                self.a.set_label(&mut skip)?;
                self.a.nop()?;
                return Ok(Some(Native::Yes));
            }
            BRXH | BRXLE | BRXHG | BRXLG => {
                self.opt_in();
                let target = self.rel(here);
                let wide = matches!(insn.op, BRXHG | BRXLG);
                let read = |g: &mut Gen, r| if wide { g.reg(r) } else { g.reg_low(r) };
                // R3 is the increment, the odd register of its pair the
                // comparand; both are read before R1 is replaced (PoP).
                let increment = read(self, f.r3)?;
                self.a.mov(rax, increment)?;
                let comparand = read(self, f.r3 | 1)?;
                self.a.mov(rdx, comparand)?;
                let r1 = read(self, f.r1)?;
                if wide {
                    self.a.add(rax, r1)?;
                    self.set_reg(f.r1, rax)?;
                    self.a.cmp(rax, rdx)?;
                } else {
                    self.a.add(eax, low32(r1))?;
                    self.set_reg32(f.r1, rax)?;
                    self.a.cmp(eax, edx)?;
                }
                // Taken when the sum is high (BRXH) or low or equal
                // (BRXLE), compared as signed numbers.
                let mut skip = self.a.create_label();
                if matches!(insn.op, BRXH | BRXHG) {
                    self.a.jle(skip)?;
                } else {
                    self.a.jg(skip)?;
                }
                self.side_exit(target)?;
                self.a.set_label(&mut skip)?;
                self.a.nop()?;
                return Ok(Some(Native::Yes));
            }
            BRAS | BRASL => {
                let target = self.rel(here);
                self.link(f.r1, here.next)?;
                self.end_at(target)?;
            }
            BASR => {
                if f.r2 != 0 {
                    self.a.mov(rax, gpr(f.r2))?;
                    self.wrap(rax)?;
                }
                self.link(f.r1, here.next)?;
                if f.r2 != 0 {
                    self.end_rax()?;
                } else {
                    self.end_at(here.next)?;
                }
            }
            CRJ | CGRJ | CLRJ | CLGRJ | CIJ | CGIJ | CLIJ | CLGIJ => {
                let wide = matches!(insn.op, CGRJ | CLGRJ | CGIJ | CLGIJ);
                let logical = matches!(insn.op, CLRJ | CLGRJ | CLIJ | CLGIJ);
                let reg = matches!(insn.op, CRJ | CGRJ | CLRJ | CLGRJ);
                let imm = if logical {
                    i32::from(f.i2 as u8)
                } else {
                    i32::from(f.i2 as u8 as i8)
                };
                let target = self.rel(here);
                self.opt_in();
                let read = |g: &mut Gen, r| if wide { g.reg(r) } else { g.reg_low(r) };
                let r1 = read(self, f.r1)?;
                let r2 = if reg { read(self, f.r2)? } else { r1 };
                let a = &mut self.a;
                match (wide, reg) {
                    (true, true) => a.cmp(r1, r2)?,
                    (true, false) => a.cmp(r1, imm)?,
                    (false, true) => a.cmp(low32(r1), low32(r2))?,
                    (false, false) => a.cmp(low32(r1), imm)?,
                }
                // The condition code is unchanged (PoP): the branch is on
                // the flags.
                return self.cond_exit(f.m3, target, Some(Compared::new(logical)));
            }
            _ => return Ok(None),
        }
        Ok(Some(Native::Ended))
    }

    /// A conditional relative branch to `target` on the condition code in
    /// ecx (cc << 4), or of the compare whose flags the host has
    /// (`flags`), and the mask `m`: a side exit, or the end of the block
    /// when the mask selects every condition code.
    fn cond_exit(
        &mut self,
        m: u8,
        target: u64,
        flags: Option<Compared>,
    ) -> Result<Option<Native>, IcedError> {
        match m & 15 {
            0 => Ok(Some(Native::Yes)),
            15 => {
                self.end_at(target)?;
                Ok(Some(Native::Ended))
            }
            m => {
                let mut skip = self.a.create_label();
                match flags {
                    Some(compared) => self.skip_unless_flags(m, compared, skip)?,
                    None => self.skip_unless(m, skip)?,
                }
                if let (Some(compared), true) = (flags, self.cc_in_flags) {
                    self.store_compared_cc(compared)?;
                }
                self.side_exit(target)?;
                self.a.set_label(&mut skip)?;
                self.a.nop()?;
                Ok(Some(Native::Yes))
            }
        }
    }

    /// The link information of BAS, BASR, BRAS, BRASL into R1.
    fn link(&mut self, r1: u8, next: u64) -> Result<(), IcedError> {
        match self.env.amode {
            AddressingMode::Bits64 => {
                self.a.mov(rdx, next)?;
                self.a.mov(gpr(r1), rdx)?;
            }
            AddressingMode::Bits31 => {
                self.a.mov(gpr32(r1), (next as u32 | 0x8000_0000) as i32)?;
            }
            AddressingMode::Bits24 => {
                self.a.mov(gpr32(r1), (next as u32 & 0x00ff_ffff) as i32)?;
            }
        }
        Ok(())
    }
}
