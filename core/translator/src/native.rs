//! The choice of emission for one instruction: each instruction class's
//! module, then the few instructions that belong to no class (LA, LARL,
//! LOAD ON CONDITION, LDGR/LGDR, LD/STD, EXTRACT ACCESS, TEST UNDER MASK,
//! the byte-reversed loads and stores, FIND LEFTMOST ONE, PREFETCH DATA,
//! INSERT CHARACTER (and under mask), COMPARE LOGICAL CHARACTERS UNDER
//! MASK, INSERT PROGRAM MASK, LDR/LER,
//! STNSM/STOSM); the divides and COMPARE AND SWAP have modules of their
//! own.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::{Ext, Sem};
use zmmu_cpu::state::offset;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, gpr32, low32, Current, Gen, Native};
use crate::psw::PSW_CC_BYTE;
use crate::{abi, MemoryAccess};

impl Gen {
    /// Floating-point register `r` in the CPU state; registers other than
    /// 0, 2, 4 and 6 need the AFP-register control (CR0 bit 45), else the
    /// slow path (the interpreter raises the data exception) before the
    /// instruction does anything.
    fn fpr(&mut self, here: &mut Current, r: u8) -> Result<AsmMemoryOperand, IcedError> {
        Ok(qword_ptr(rbx + self.fpr_offset(here, r)?))
    }

    /// The offset from rbx of floating-point register `r`, checked as by
    /// [`Gen::fpr`].
    pub(crate) fn fpr_offset(&mut self, here: &mut Current, r: u8) -> Result<i32, IcedError> {
        if !matches!(r & 15, 0 | 2 | 4 | 6) {
            self.afp_or_slow(here)?;
        }
        Ok((offset::FPR + offset::FPR_STRIDE * usize::from(r & 15)) as i32)
    }

    /// To the slow path unless the AFP-register control (CR0 bit 45) is
    /// one.
    pub(crate) fn afp_or_slow(&mut self, here: &mut Current) -> Result<(), IcedError> {
        here.used_slow = true;
        let bit = 63 - 45;
        let at = (offset::CR + bit / 8) as i32;
        self.a.test(byte_ptr(rbx + at), 1 << (bit % 8))?;
        self.a.jz(here.slow)
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
        if mem_ok
            && (self.ss(here)?
                || self.multiple(here)?
                || self.interlocked(here)?
                || self.strings(here)?
                || self.long(here)?
                || self.vload(here)?
                || self.execute(here)?)
        {
            return Ok(Native::Yes);
        }
        if self.divide(here)?
            || self.on_condition(here, mem_ok)?
            || self.moves(here)?
            || self.bfp(here)?
            || self.vstring(here)?
        {
            return Ok(Native::Yes);
        }
        match insn.op {
            LA | LAY => {
                self.opt_in();
                self.ea(f.x2, f.b2, f.d2)?;
                self.set_addr_reg(f.r1)?;
                Ok(Native::Yes)
            }
            LARL => {
                self.opt_in();
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
                // Its label needs an instruction where the cc is dead.
                a.nop()?;
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
                // The operand is fetched whatever the mask: under the host
                // MMU this load is the access check.
                a.movzx(esi, byte_ptr(r13 + rax))?;
                if mask == 0 {
                    a.xor(edx, edx)?;
                    a.xor(ecx, ecx)?;
                } else {
                    a.and(esi, i32::from(mask))?;
                    a.setnz(dl)?;
                    a.cmp(esi, i32::from(mask))?;
                    a.sete(cl)?;
                }
                self.set_cc()?;
                Ok(Native::Yes)
            }
            IC | ICY if mem_ok => {
                // Bits 56-63 of R1 = the byte; the rest unchanged. Through
                // the register cache: a byte store into the state and a
                // wider load of the register right after it (STC of the
                // byte, LZ match copies) would wait for the store.
                self.opt_in();
                self.ea(f.x2, f.b2, f.d2)?;
                self.access(here, AccessKind::Read, 1)?;
                self.a.movzx(esi, byte_ptr(r13 + rax))?;
                let r1 = self.reg_low(f.r1)?;
                self.a.mov(eax, low32(r1))?;
                self.a.and(eax, !0xff)?;
                self.a.or(eax, esi)?;
                self.set_reg32(f.r1, rax)?;
                Ok(Native::Yes)
            }
            ICM | ICMY | ICMH if mem_ok && f.m3 & 15 != 0 => {
                self.insert_under_mask(here)?;
                Ok(Native::Yes)
            }
            CLM | CLMY | CLMH if mem_ok && f.m3 & 15 != 0 => {
                self.compare_under_mask(here)?;
                Ok(Native::Yes)
            }
            IPM => {
                // R1 bits 32-39 = 00, the condition code, the program mask
                // (PSW bits 18-23: the low six bits of the PSW byte that
                // holds the cc, always stored there by its setter); the
                // rest of R1 unchanged (PoP INSERT PROGRAM MASK).
                self.a.movzx(eax, byte_ptr(rbx + PSW_CC_BYTE as i32))?;
                self.a.and(eax, 0x3f)?;
                self.a.mov(gpr_byte(f.r1, 3), al)?;
                Ok(Native::Yes)
            }
            LDR => {
                let from = self.fpr(here, f.r2)?;
                let to = self.fpr(here, f.r1)?;
                self.a.mov(rax, from)?;
                self.a.mov(to, rax)?;
                Ok(Native::Yes)
            }
            LER => {
                // The short format is the leftmost word; the rightmost
                // word of R1 is unchanged.
                let from = self.fpr_offset(here, f.r2)?;
                let to = self.fpr_offset(here, f.r1)?;
                self.a.mov(eax, dword_ptr(rbx + from + 4))?;
                self.a.mov(dword_ptr(rbx + to + 4), eax)?;
                Ok(Native::Yes)
            }
            STNSM | STOSM if mem_ok => {
                self.store_then_change_system_mask(here)?;
                Ok(Native::Yes)
            }
            _ => Ok(Native::No),
        }
    }

    /// ICM, ICMY, ICMH with a nonzero mask (mask zero, where nothing is
    /// fetched, is the interpreter's): as many bytes as the mask has ones
    /// are fetched and placed, left to right, in the bytes of R1 bits
    /// 32-63 (ICMH: 0-31) the mask selects; cc 0 if they are all zeros,
    /// 1 if the leftmost inserted bit is one, else 2 (PoP INSERT
    /// CHARACTERS UNDER MASK).
    fn insert_under_mask(&mut self, here: &mut Current) -> Result<(), IcedError> {
        let f = here.insn.f;
        let mask = f.m3 & 15;
        let n = self.load_under_mask(here)?;
        let high = here.insn.op == Opcode::ICMH;
        let mut left = n;
        for position in 0..4u8 {
            if mask & (8 >> position) == 0 {
                continue;
            }
            left -= 1;
            let a = &mut self.a;
            a.mov(edx, esi)?;
            if left > 0 {
                a.shr(edx, 8 * left)?;
            }
            // Register byte `position` of the word, from the left.
            let byte = 3 - position + if high { 4 } else { 0 };
            a.mov(gpr_byte(f.r1, byte), dl)?;
        }
        let a = &mut self.a;
        if n < 4 {
            a.shl(esi, 32 - 8 * n)?;
        }
        a.test(esi, esi)?;
        a.sets(dl)?;
        a.setg(cl)?;
        self.set_cc()
    }

    /// esi = as many bytes as the mask M3 (nonzero) has ones, fetched
    /// from the second operand (B2, D2), big-endian and right-aligned;
    /// their number.
    fn load_under_mask(&mut self, here: &mut Current) -> Result<u32, IcedError> {
        let f = here.insn.f;
        let n = (f.m3 & 15).count_ones();
        self.ea(0, f.b2, f.d2)?;
        self.access(here, AccessKind::Read, n)?;
        match n {
            3 => {
                let a = &mut self.a;
                a.movzx(esi, word_ptr(r13 + rax))?;
                a.rol(si, 8)?;
                a.shl(esi, 8)?;
                a.movzx(edx, byte_ptr(r13 + rax + 2))?;
                a.or(esi, edx)?;
            }
            _ => self.load(n, Ext::F)?,
        }
        Ok(n)
    }

    /// CLM, CLMY, CLMH with a nonzero mask (mask zero, where nothing is
    /// fetched, is the interpreter's): the bytes of R1 bits 32-63 (CLMH:
    /// 0-31) the mask selects, taken left to right as one unsigned
    /// number, compared with as many bytes of storage: cc 0 equal, 1 the
    /// register's low, 2 high (PoP COMPARE LOGICAL CHARACTERS UNDER
    /// MASK).
    fn compare_under_mask(&mut self, here: &mut Current) -> Result<(), IcedError> {
        let f = here.insn.f;
        let mask = f.m3 & 15;
        self.load_under_mask(here)?;
        let high = here.insn.op == Opcode::CLMH;
        let a = &mut self.a;
        // edx = the selected bytes of R1, right-aligned.
        a.xor(edx, edx)?;
        for position in 0..4u8 {
            if mask & (8 >> position) == 0 {
                continue;
            }
            let byte = 3 - position + if high { 4 } else { 0 };
            a.shl(edx, 8)?;
            a.mov(dl, gpr_byte(f.r1, byte))?;
        }
        a.cmp(edx, esi)?;
        crate::cc::compare_cc(a, true)?;
        self.set_cc()
    }

    /// STNSM, STOSM in the supervisor state (the problem state's
    /// privileged-operation exception is the interpreter's): PSW bits 0-7
    /// stored at the first operand, then ANDed (STNSM) or ORed (STOSM)
    /// with I2 (PoP STORE THEN AND/OR SYSTEM MASK). Natively when the mask
    /// stays, when STNSM only clears the I/O and external masks (bits 6
    /// and 7: disabling needs no look at the interruptions), and under
    /// the software TLB when STOSM only sets them (Linux's
    /// `local_irq_enable`). An interruption pending for the masks it
    /// enabled must be taken right after the instruction, so that STOSM
    /// then ends the chain of blocks ([`Gen::leave_chain`]) and the runner
    /// returns to the machine, which looks. Any other change (DAT, PER,
    /// the bits that must be zero) is the interpreter's, which ends the
    /// block and the run; so is an enabling STOSM under the host MMU (the
    /// kvm engine's in-VM dispatcher would run on).
    fn store_then_change_system_mask(&mut self, here: &mut Current) -> Result<(), IcedError> {
        let f = here.insn.f;
        let i = f.i2 as u8;
        here.used_slow = true;
        let slow = here.slow;
        let system = (offset::PSW_MASK + 7) as i32;
        let a = &mut self.a;
        let problem = 63 - 15;
        a.test(
            byte_ptr(rbx + (offset::PSW_MASK + problem / 8) as i32),
            1 << (problem % 8),
        )?;
        a.jnz(slow)?;
        a.movzx(esi, byte_ptr(rbx + system))?;
        a.mov(edi, esi)?;
        if here.insn.op == Opcode::STOSM {
            a.or(edi, i32::from(i))?;
        } else {
            a.and(edi, i32::from(i))?;
        }
        // The bits that change, other than the I/O and external masks of
        // STNSM (and of STOSM under the software TLB).
        let enables = here.insn.op == Opcode::STOSM
            && matches!(self.env.memory, MemoryAccess::SoftTlb { .. })
            && i & 0x03 != 0;
        a.mov(edx, esi)?;
        a.xor(edx, edi)?;
        if here.insn.op == Opcode::STNSM || enables {
            a.and(edx, !0x03)?;
        }
        a.jnz(slow)?;
        self.ea(0, f.b1, f.d1)?;
        // (A TLB fill on the way may use every caller-saved register.)
        self.access(here, AccessKind::Write, 1)?;
        let a = &mut self.a;
        a.movzx(ecx, byte_ptr(rbx + system))?;
        a.mov(byte_ptr(r13 + rax), cl)?;
        if here.insn.op == Opcode::STNSM {
            a.and(byte_ptr(rbx + system), i32::from(i))?;
            return Ok(());
        }
        a.or(byte_ptr(rbx + system), i32::from(i))?;
        if enables {
            // cl: the mask before.
            let mut same = a.create_label();
            a.cmp(cl, byte_ptr(rbx + system))?;
            a.je(same)?;
            self.leave_chain(here.next)?;
            self.a.set_label(&mut same)?;
            self.a.nop()?;
        }
        Ok(())
    }

    /// Ends the chain of blocks after the current instruction, with the
    /// PSW address `next`: the budget of the instructions after it given
    /// back (as a side exit does), then the dispatcher, which the PSW bits
    /// in the context, set to a value no jump-cache entry has (entries
    /// hold PSW bits under a mask), send back to the runner with
    /// [`abi::END`] whatever the next block is.
    fn leave_chain(&mut self, next: u64) -> Result<(), IcedError> {
        let after = self.len - self.index - 1;
        if after > 0 {
            self.a.add(r15, after as i32)?;
        }
        self.a.mov(qword_ptr(rbp + abi::CTX_BITS as i32), -1)?;
        self.a.mov(rax, next)?;
        self.end_rax()
    }
}

/// Byte `byte` (0 the rightmost) of guest general register `r`.
fn gpr_byte(r: u8, byte: u8) -> AsmMemoryOperand {
    byte_ptr(rbx + (offset::GPR + 8 * usize::from(r & 15) + usize::from(byte)) as i32)
}
