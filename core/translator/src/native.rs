//! The choice of emission for one instruction: each instruction class's
//! module, then the few instructions that belong to no class (LA, LARL,
//! LOAD ON CONDITION, LDGR/LGDR, LD/STD, EXTRACT ACCESS, TEST UNDER MASK,
//! the byte-reversed loads and stores, FIND LEFTMOST ONE, PREFETCH DATA,
//! the 64-bit divides, INSERT CHARACTER).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::{Ext, Sem};
use zmmu_cpu::state::offset;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, gpr32, Current, Gen, Native};

impl Gen {
    /// Floating-point register `r` in the CPU state; registers other than
    /// 0, 2, 4 and 6 need the AFP-register control (CR0 bit 45), else the
    /// slow path (the interpreter raises the data exception) before the
    /// instruction does anything.
    fn fpr(&mut self, here: &mut Current, r: u8) -> Result<AsmMemoryOperand, IcedError> {
        if !matches!(r & 15, 0 | 2 | 4 | 6) {
            here.used_slow = true;
            let bit = 63 - 45;
            let at = (offset::CR + bit / 8) as i32;
            self.a.test(byte_ptr(rbx + at), 1 << (bit % 8))?;
            self.a.jz(here.slow)?;
        }
        let at = (offset::FPR + offset::FPR_STRIDE * usize::from(r & 15)) as i32;
        Ok(qword_ptr(rbx + at))
    }

    /// Emits `here` natively if it can.
    pub(crate) fn native(&mut self, here: &mut Current) -> Result<Native, IcedError> {
        use Opcode::*;
        if let Some(done) = self.alu_class(here)? {
            return Ok(done);
        }
        let insn = here.insn;
        let f = insn.f;
        let mem_ok = self.env.memory.inline();
        match insn.op.sem() {
            Sem::Shift(op, w) if self.shift(here, op, w)? => return Ok(Native::Yes),
            Sem::Field(op, shift, bits) => {
                self.field(f.r1, f.i2, op, shift, bits)?;
                return Ok(Native::Yes);
            }
            _ => {}
        }
        if let Some(done) = self.branch(here)? {
            return Ok(done);
        }
        if mem_ok && (self.ss(here)? || self.multiple(here)? || self.interlocked(here)?) {
            return Ok(Native::Yes);
        }
        match insn.op {
            LA | LAY => {
                self.ea(f.x2, f.b2, f.d2)?;
                self.set_addr_reg(f.r1)?;
                Ok(Native::Yes)
            }
            LARL => {
                let target = self.rel(here);
                self.a.mov(rax, target)?;
                self.set_addr_reg(f.r1)?;
                Ok(Native::Yes)
            }
            RISBG | RISBGN | RNSBG | ROSBG | RXSBG => {
                self.rotate_then(insn.op, f.r1, f.r2, f.i3, f.i4, f.i5)?;
                Ok(Native::Yes)
            }
            LOCR | LOCGR => {
                let mut skip = self.a.create_label();
                match f.m3 & 15 {
                    0 => return Ok(Native::Yes),
                    15 => {}
                    m => {
                        self.cc_to_ecx()?;
                        self.skip_unless(m, skip)?;
                    }
                }
                if insn.op == LOCGR {
                    self.a.mov(rax, gpr(f.r2))?;
                    self.a.mov(gpr(f.r1), rax)?;
                } else {
                    self.a.mov(eax, gpr32(f.r2))?;
                    self.a.mov(gpr32(f.r1), eax)?;
                }
                self.a.nop()?;
                self.a.set_label(&mut skip)?;
                self.a.nop()?;
                Ok(Native::Yes)
            }
            LDGR | LGDR => {
                let fpr = self.fpr(here, if insn.op == LDGR { f.r1 } else { f.r2 })?;
                if insn.op == LDGR {
                    self.a.mov(rax, gpr(f.r2))?;
                    self.a.mov(fpr, rax)?;
                } else {
                    self.a.mov(rax, fpr)?;
                    self.a.mov(gpr(f.r1), rax)?;
                }
                Ok(Native::Yes)
            }
            LD | LDY if mem_ok => {
                let fpr = self.fpr(here, f.r1)?;
                self.ea(f.x2, f.b2, f.d2)?;
                self.access(here, AccessKind::Read, 8)?;
                self.load(8, Ext::F)?;
                self.a.mov(fpr, rsi)?;
                Ok(Native::Yes)
            }
            STD | STDY if mem_ok => {
                let fpr = self.fpr(here, f.r1)?;
                self.ea(f.x2, f.b2, f.d2)?;
                self.access(here, AccessKind::Write, 8)?;
                self.a.mov(rcx, fpr)?;
                self.store(8)?;
                Ok(Native::Yes)
            }
            // PREFETCH DATA and NEXT INSTRUCTION ACCESS INTENT: no access
            // exceptions, no architected effect.
            PFD | PFDRL | NIAI => Ok(Native::Yes),
            LRV | LRVG | LRVH | STRV | STRVG | STRVH if mem_ok => {
                // Byte-reversed storage: a plain little-endian x86 access.
                let load = matches!(insn.op, LRV | LRVG | LRVH);
                let n = match insn.op {
                    LRVH | STRVH => 2,
                    LRV | STRV => 4,
                    _ => 8,
                };
                self.ea(f.x2, f.b2, f.d2)?;
                let kind = if load {
                    AccessKind::Read
                } else {
                    AccessKind::Write
                };
                self.access(here, kind, n)?;
                let a = &mut self.a;
                let low16 = word_ptr(rbx + (offset::GPR + 8 * usize::from(f.r1 & 15)) as i32);
                match (load, n) {
                    (true, 2) => {
                        a.mov(si, word_ptr(r13 + rax))?;
                        a.mov(low16, si)?;
                    }
                    (true, 4) => {
                        a.mov(esi, dword_ptr(r13 + rax))?;
                        a.mov(gpr32(f.r1), esi)?;
                    }
                    (true, _) => {
                        a.mov(rsi, qword_ptr(r13 + rax))?;
                        a.mov(gpr(f.r1), rsi)?;
                    }
                    (false, 2) => {
                        a.mov(cx, low16)?;
                        a.mov(word_ptr(r13 + rax), cx)?;
                    }
                    (false, 4) => {
                        a.mov(ecx, gpr32(f.r1))?;
                        a.mov(dword_ptr(r13 + rax), ecx)?;
                    }
                    (false, _) => {
                        a.mov(rcx, gpr(f.r1))?;
                        a.mov(qword_ptr(r13 + rax), rcx)?;
                    }
                }
                Ok(Native::Yes)
            }
            LRVR => {
                self.a.mov(eax, gpr32(f.r2))?;
                self.a.bswap(eax)?;
                self.a.mov(gpr32(f.r1), eax)?;
                Ok(Native::Yes)
            }
            LRVGR => {
                self.a.mov(rax, gpr(f.r2))?;
                self.a.bswap(rax)?;
                self.a.mov(gpr(f.r1), rax)?;
                Ok(Native::Yes)
            }
            FLOGR if f.r1 & 1 == 0 => {
                // R1 = the number of leading zeros of R2 (64 for zero);
                // R1 + 1 = R2 with that leftmost one cleared; cc 0 for
                // zero, else 2 (PoP FIND LEFTMOST ONE).
                let a = &mut self.a;
                let mut nonzero = a.create_label();
                let mut done = a.create_label();
                a.mov(rax, gpr(f.r2))?;
                a.test(rax, rax)?;
                a.jnz(nonzero)?;
                a.mov(gpr(f.r1), 64)?;
                a.mov(gpr(f.r1 | 1), 0)?;
                a.xor(ecx, ecx)?;
                a.jmp(done)?;
                a.set_label(&mut nonzero)?;
                a.bsr(rcx, rax)?;
                a.btr(rax, rcx)?;
                a.mov(gpr(f.r1 | 1), rax)?;
                a.mov(eax, 63)?;
                a.sub(eax, ecx)?;
                a.mov(gpr(f.r1), rax)?;
                a.mov(ecx, 0x20)?;
                a.set_label(&mut done)?;
                self.store_cc()?;
                Ok(Native::Yes)
            }
            EAR => {
                let ar = (offset::AR + 4 * usize::from(f.r2 & 15)) as i32;
                self.a.mov(eax, dword_ptr(rbx + ar))?;
                self.a.mov(gpr32(f.r1), eax)?;
                Ok(Native::Yes)
            }
            TM | TMY if mem_ok => {
                // cc 0: the selected bits are zeros (or the mask is zero);
                // 3: all ones; 1: mixed (PoP TEST UNDER MASK, TM and TMY).
                let mask = f.i2 as u8;
                self.ea(0, f.b1, f.d1)?;
                self.access(here, AccessKind::Read, 1)?;
                let a = &mut self.a;
                if mask == 0 {
                    a.xor(edx, edx)?;
                    a.xor(ecx, ecx)?;
                } else {
                    a.movzx(esi, byte_ptr(r13 + rax))?;
                    a.and(esi, i32::from(mask))?;
                    a.setnz(dl)?;
                    a.cmp(esi, i32::from(mask))?;
                    a.sete(cl)?;
                }
                self.set_cc()?;
                Ok(Native::Yes)
            }
            DLGR | DSGR if f.r1 & 1 == 0 => {
                // Divide exceptions (a zero divisor, a quotient too large)
                // go to the interpreter before x86 would trap.
                here.used_slow = true;
                let slow = here.slow;
                let a = &mut self.a;
                a.mov(rsi, gpr(f.r2))?;
                a.test(rsi, rsi)?;
                a.jz(slow)?;
                a.mov(rax, gpr(f.r1 | 1))?;
                if insn.op == DLGR {
                    a.mov(rdx, gpr(f.r1))?;
                    a.cmp(rdx, rsi)?;
                    a.jae(slow)?;
                    a.div(rsi)?;
                } else {
                    a.cmp(rsi, -1)?;
                    a.je(slow)?;
                    a.cqo()?;
                    a.idiv(rsi)?;
                }
                a.mov(gpr(f.r1), rdx)?;
                a.mov(gpr(f.r1 | 1), rax)?;
                Ok(Native::Yes)
            }
            IC | ICY if mem_ok => {
                self.ea(f.x2, f.b2, f.d2)?;
                self.access(here, AccessKind::Read, 1)?;
                self.a.movzx(esi, byte_ptr(r13 + rax))?;
                self.a.mov(
                    byte_ptr(rbx + (offset::GPR + 8 * usize::from(f.r1 & 15)) as i32),
                    sil,
                )?;
                Ok(Native::Yes)
            }
            _ => Ok(Native::No),
        }
    }
}
