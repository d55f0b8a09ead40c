//! The arithmetic, logical, compare and load/store shapes of
//! [`Sem::Alu`], [`Sem::MemImm`] and [`Sem::Store`]: register, immediate
//! and storage operands, signed overflow to the slow path (the
//! interpreter raises the fixed-point-overflow exception).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::format::Format;
use zmmu_cpu::sem::{AluOp, Ext, Sem, Src, Width};
use zmmu_mmu::kind::AccessKind;

use crate::cc::compare_cc;
use crate::emit::{low16, low32, low8, mov_imm, Current, Gen, Native};
use crate::psw::slow_if_overflow_masked;
use crate::regs::{Compared, Pending};

/// Whether `op` combines two operands in one x86 instruction (add,
/// subtract, logical, multiply, compare), which may then take its second
/// operand in place: an immediate or a cached register (docs/CHOICES.md
/// §63c).
fn two_operand(op: AluOp) -> bool {
    matches!(
        op,
        AluOp::Add
            | AluOp::AddL
            | AluOp::AddLC
            | AluOp::Sub
            | AluOp::SubL
            | AluOp::SubLB
            | AluOp::And
            | AluOp::Or
            | AluOp::Xor
            | AluOp::Mul
            | AluOp::Cmp
            | AluOp::CmpL
    )
}

/// dl and cl (bits 0 and 1 of the cc) from the flags of a signed add or
/// subtract: 0 zero, 1 negative, 2 positive, 3 overflow. An overflow with
/// the fixed-point-overflow mask one goes to the slow path, where the
/// interpreter completes the instruction and raises the exception.
pub(crate) fn signed_cc(a: &mut CodeAssembler, here: &mut Current) -> Result<(), IcedError> {
    overflow_cc(a, here, |a| {
        a.setl(dl)?;
        a.setg(cl)
    })
}

/// A signed operation whose condition code a later instruction overwrites
/// ([`Gen::cc_dead`]): only an overflow with the fixed-point-overflow mask
/// one matters (the slow path raises it).
pub(crate) fn overflow_only(a: &mut CodeAssembler, here: &mut Current) -> Result<(), IcedError> {
    let mut fits = a.create_label();
    overflow_to_slow_path(a, here, fits)?;
    a.set_label(&mut fits)?;
    a.nop()?;
    Ok(())
}

/// Jumps to `fits` without x86 overflow; with it, to the slow path when
/// the fixed-point-overflow mask is one (the interpreter raises the
/// exception), else falls through.
fn overflow_to_slow_path(
    a: &mut CodeAssembler,
    here: &mut Current,
    fits: CodeLabel,
) -> Result<(), IcedError> {
    here.used_slow = true;
    a.jno(fits)?;
    slow_if_overflow_masked(a, here.slow)
}

/// The condition code of an operation that may overflow signed: cc 3 on
/// x86 overflow (to the slow path when the fixed-point-overflow mask is
/// one, as in [`signed_cc`]), else dl and cl as `fits` sets them.
fn overflow_cc(
    a: &mut CodeAssembler,
    here: &mut Current,
    fits: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let mut no_overflow = a.create_label();
    let mut done = a.create_label();
    overflow_to_slow_path(a, here, no_overflow)?;
    a.mov(edx, 1)?;
    a.mov(ecx, 1)?;
    a.jmp(done)?;
    a.set_label(&mut no_overflow)?;
    fits(a)?;
    a.set_label(&mut done)?;
    a.nop()?;
    Ok(())
}

/// Where an ALU operation's second operand is (docs/CHOICES.md §63c).
#[derive(Clone, Copy)]
enum Operand {
    /// In rsi (extended, from storage, or for an operation x86 has no
    /// immediate or register form of the same shape for).
    Rsi,
    /// In the register cache's host register (all of it, or its low half
    /// for a 32-bit operation).
    Reg(AsmRegister64),
    /// An immediate: sign-extended to 64 bits, or the 32 bits themselves.
    Imm(i32),
}

impl Gen {
    /// Emits the ALU, storage-and-immediate and store instructions it
    /// translates natively; `None` for other semantics.
    pub(crate) fn alu_class(&mut self, here: &mut Current) -> Result<Option<Native>, IcedError> {
        let insn = here.insn;
        let f = insn.f;
        let format = insn.op.format();
        let mem_ok = self.env.memory.inline();
        match insn.op.sem() {
            Sem::Alu(op, w, src) => {
                let shape_ok = match src {
                    Src::Reg(_) => matches!(format, Format::RR | Format::Rre | Format::RrfA),
                    Src::Imm(_) => matches!(format, Format::RiA | Format::RilA | Format::RieD),
                    Src::Mem(ext) => {
                        mem_ok
                            && match format {
                                Format::RxA | Format::RxyA => true,
                                // Relative long: must be aligned on its size
                                // (a specification exception otherwise).
                                Format::RilB => {
                                    let n = ext.bytes(w) as u64;
                                    n < 4 || self.rel(here) % n == 0
                                }
                                _ => false,
                            }
                    }
                };
                let op_ok = two_operand(op)
                    || matches!(
                        op,
                        AluOp::Load
                            | AluOp::LoadTest
                            | AluOp::LoadCompl
                            | AluOp::LoadPos
                            | AluOp::LoadNeg
                    );
                if !(shape_ok && op_ok) {
                    return Ok(Some(Native::No));
                }
                self.opt_in();
                self.alu(here, op, w, src)?;
            }
            Sem::MemImm(op, w, mem, imm) if mem_ok && crate::block::mem_imm_native(op) => {
                self.opt_in();
                self.mem_imm(here, op, w, mem, imm)?;
            }
            Sem::Store(n)
                if mem_ok
                    && format == Format::RilB
                    && (n < 4 || self.rel(here) % u64::from(n) == 0) =>
            {
                self.opt_in();
                let target = self.rel(here);
                self.a.mov(rax, target)?;
                self.store_r1(here, n)?;
            }
            Sem::Store(n) if mem_ok && matches!(format, Format::RxA | Format::RxyA) => {
                self.opt_in();
                self.ea(f.x2, f.b2, f.d2)?;
                self.store_r1(here, n)?;
            }
            _ => return Ok(None),
        }
        Ok(Some(Native::Yes))
    }

    /// The rightmost `n` bytes of R1 stored at the logical address in rax.
    fn store_r1(&mut self, here: &mut Current, n: u8) -> Result<(), IcedError> {
        self.access(here, AccessKind::Write, u32::from(n))?;
        let r1 = if n == 8 {
            self.reg(here.insn.f.r1)?
        } else {
            self.reg_low(here.insn.f.r1)?
        };
        self.store_from(u32::from(n), r1)
    }

    /// rsi = register `r` (from the register cache) as the second
    /// operand of an operation of width `w`, extended by `ext`.
    fn reg_operand(&mut self, r: u8, ext: Ext, w: Width) -> Result<(), IcedError> {
        let m = if ext == Ext::F && w == Width::W64 {
            self.reg(r)?
        } else {
            self.reg_low(r)?
        };
        let a = &mut self.a;
        match ext {
            Ext::S8 => a.movsx(rsi, low8(m))?,
            Ext::U8 => a.movzx(esi, low8(m))?,
            Ext::S16 => a.movsx(rsi, low16(m))?,
            Ext::U16 => a.movzx(esi, low16(m))?,
            Ext::S32 => a.movsxd(rsi, low32(m))?,
            Ext::U32 => a.mov(esi, low32(m))?,
            Ext::U31 => {
                a.mov(esi, low32(m))?;
                a.and(esi, 0x7fff_ffff)?;
            }
            Ext::F if w == Width::W64 => a.mov(rsi, m)?,
            Ext::F => a.mov(esi, low32(m))?,
        }
        Ok(())
    }

    /// The ALU shapes: b in rsi (or, for the operations that take one,
    /// an immediate or the cache's host register: docs/CHOICES.md §63c),
    /// a and the result in rax (the first operand is R1, R2 for RRF-a, R3
    /// for RIE-d; the result goes to R1).
    fn alu(&mut self, here: &mut Current, op: AluOp, w: Width, src: Src) -> Result<(), IcedError> {
        let f = here.insn.f;
        let format = here.insn.op.format();
        let wide = w == Width::W64;
        let first = match format {
            Format::RrfA => f.r2,
            Format::RieD => f.r3,
            _ => f.r1,
        };
        let direct = two_operand(op);
        let second = if format == Format::RrfA { f.r3 } else { f.r2 };
        // Read after the first operand (a slot it claims may be this one's).
        let cached = (direct || op == AluOp::Load) && src == Src::Reg(Ext::F);
        let mut b = Operand::Rsi;
        match src {
            Src::Reg(_) if cached => {}
            Src::Reg(ext) => self.reg_operand(second, ext, w)?,
            Src::Imm(ext) => {
                let value = ext.apply(u64::from(f.i2));
                let imm = match wide {
                    true => i32::try_from(value as i64).ok(),
                    false => Some(value as u32 as i32),
                };
                match imm {
                    Some(imm) if direct => b = Operand::Imm(imm),
                    _ => mov_imm(&mut self.a, rsi, value)?,
                }
            }
            Src::Mem(ext) => {
                if format == Format::RilB {
                    let target = self.rel(here);
                    self.a.mov(rax, target)?;
                } else {
                    self.ea(f.x2, f.b2, f.d2)?;
                }
                let n = ext.bytes(w) as u32;
                self.access(here, AccessKind::Read, n)?;
                self.load(n, ext)?;
            }
        }
        if matches!(op, AluOp::AddLC | AluOp::SubLB) {
            match src {
                // The access's probe used rcx.
                Src::Mem(_) => self.load_cc()?,
                // Nothing above used rcx: the cc the instruction before
                // left there stands.
                _ => self.cc_to_ecx()?,
            }
        }
        // A later instruction overwrites the condition code: only what
        // raises an exception is computed. Or the cc stays unstored up to
        // it, its slow paths in between storing it (docs/CHOICES.md §58a).
        let deferred = !self.cc_dead && self.defers(op, src, f.r1);
        // A register or immediate compare whose cc only the branch after
        // it reads, and only where it leaves: the branch stores it there
        // from the flags (docs/CHOICES.md §63e).
        let on_exit = matches!(op, AluOp::Cmp | AluOp::CmpL)
            && !matches!(src, Src::Mem(_))
            && self.cc_branch_only;
        let dead = self.cc_dead || deferred || on_exit;
        if op == AluOp::Load {
            // The first operand is only written.
        } else if wide {
            let first = self.reg(first)?;
            self.a.mov(rax, first)?;
        } else {
            let first = self.reg_low(first)?;
            self.a.mov(eax, low32(first))?;
        }
        if cached {
            b = Operand::Reg(if wide {
                self.reg(second)?
            } else {
                self.reg_low(second)?
            });
        }
        let compared = match op {
            AluOp::Cmp | AluOp::CmpL => Some(Compared::new(op == AluOp::CmpL)),
            // A 32-bit result may be merged into a cached register with
            // shifts after the test.
            AluOp::LoadTest if wide => Some(Compared::Signed),
            _ => None,
        };
        if compared.is_some() && !dead {
            self.before_compare()?;
        }
        let a = &mut self.a;
        // b as the second operand of an x86 instruction that takes a
        // register or an immediate.
        macro_rules! op2 {
            ($m:ident) => {
                match (wide, b) {
                    (true, Operand::Rsi) => a.$m(rax, rsi)?,
                    (false, Operand::Rsi) => a.$m(eax, esi)?,
                    (true, Operand::Reg(r)) => a.$m(rax, r)?,
                    (false, Operand::Reg(r)) => a.$m(eax, low32(r))?,
                    (true, Operand::Imm(v)) => a.$m(rax, v)?,
                    (false, Operand::Imm(v)) => a.$m(eax, v)?,
                }
            };
        }
        // rsi as the second operand (the operations without `direct`).
        macro_rules! op2_rsi {
            ($m:ident) => {
                if wide {
                    a.$m(rax, rsi)?
                } else {
                    a.$m(eax, esi)?
                }
            };
        }
        macro_rules! op1 {
            (test_self) => {
                if wide {
                    a.test(rax, rax)?
                } else {
                    a.test(eax, eax)?
                }
            };
            ($m:ident) => {
                if wide {
                    a.$m(rax)?
                } else {
                    a.$m(eax)?
                }
            };
        }
        let mut writes = true;
        let mut sets_cc = true;
        // Where the result is (a 64-bit load leaves it in rsi, LGR in the
        // source's host register: §63d).
        let mut result = rax;
        match op {
            AluOp::Load => {
                sets_cc = false;
                match (wide, b) {
                    // LGR: the source's host register itself.
                    (true, Operand::Reg(r)) => result = r,
                    (true, _) => result = rsi,
                    (false, Operand::Reg(r)) => a.mov(eax, low32(r))?,
                    (false, _) => a.mov(eax, esi)?,
                }
            }
            AluOp::Mul => {
                sets_cc = false;
                match (wide, b) {
                    (true, Operand::Imm(v)) => a.imul_3(rax, rax, v)?,
                    (false, Operand::Imm(v)) => a.imul_3(eax, eax, v)?,
                    (true, Operand::Reg(r)) => a.imul_2(rax, r)?,
                    (false, Operand::Reg(r)) => a.imul_2(eax, low32(r))?,
                    _ => op2_rsi!(imul_2),
                }
            }
            AluOp::LoadTest => {
                if wide {
                    a.mov(rax, rsi)?;
                } else {
                    a.mov(eax, esi)?;
                }
                if !dead {
                    op2_rsi!(test);
                    a.setl(dl)?;
                    a.setg(cl)?;
                }
            }
            AluOp::LoadCompl => {
                // 0 - b: x86 NEG overflows exactly where s390x does (the
                // maximum negative number).
                a.mov(rax, rsi)?;
                op1!(neg);
                if dead {
                    overflow_only(a, here)?;
                } else {
                    signed_cc(a, here)?;
                }
            }
            AluOp::LoadPos => {
                // |b|: -b, or b itself where -b is negative without
                // overflow; the maximum negative number stays itself and
                // overflows (cc 3), else cc 0 zero, 2 positive.
                a.mov(rax, rsi)?;
                op1!(neg);
                op2_rsi!(cmovl);
                if dead {
                    overflow_only(a, here)?;
                } else {
                    overflow_cc(a, here, |a| {
                        if wide {
                            a.test(rax, rax)?;
                        } else {
                            a.test(eax, eax)?;
                        }
                        a.setnz(cl)?;
                        a.mov(edx, 0)
                    })?;
                }
            }
            AluOp::LoadNeg => {
                // -|b|: -b, or b itself where -b is positive (the maximum
                // negative number stays itself): cc 0 zero, 1 negative.
                a.mov(rax, rsi)?;
                op1!(neg);
                op2_rsi!(cmovg);
                if !dead {
                    op1!(test_self);
                    a.setnz(dl)?;
                    a.mov(ecx, 0)?;
                }
            }
            AluOp::Add | AluOp::Sub => {
                if op == AluOp::Add {
                    op2!(add);
                } else {
                    op2!(sub);
                }
                if deferred {
                    // An overflow (rare) leaves the block after the
                    // instruction, out of line.
                    let exit = self.overflow_exit(here, f.r1, wide);
                    self.a.jo(exit)?;
                } else if dead {
                    overflow_only(a, here)?;
                } else {
                    signed_cc(a, here)?;
                }
            }
            AluOp::AddL | AluOp::AddLC => {
                if op == AluOp::AddLC {
                    // The carry in is cc bit 1 (cc 2 or 3).
                    a.bt(ecx, 5)?;
                    op2!(adc);
                } else {
                    op2!(add);
                }
                if !dead {
                    a.setnz(dl)?;
                    a.setc(cl)?;
                }
            }
            AluOp::SubL | AluOp::SubLB => {
                if op == AluOp::SubLB {
                    // A borrow in is cc bit 1 clear (cc 0 or 1).
                    a.bt(ecx, 5)?;
                    a.cmc()?;
                    op2!(sbb);
                } else {
                    op2!(sub);
                }
                if !dead {
                    a.setnz(dl)?;
                    a.setnc(cl)?;
                }
            }
            AluOp::And | AluOp::Or | AluOp::Xor => {
                match op {
                    AluOp::And => op2!(and),
                    AluOp::Or => op2!(or),
                    _ => op2!(xor),
                }
                if !dead {
                    a.setnz(dl)?;
                    a.mov(ecx, 0)?;
                }
            }
            AluOp::Cmp | AluOp::CmpL => {
                writes = false;
                if on_exit {
                    op2!(cmp);
                    let compared = Compared::new(op == AluOp::CmpL);
                    self.flags_left = Some(compared);
                    self.cc_in_flags_left = true;
                } else if !dead {
                    op2!(cmp);
                    compare_cc(a, op == AluOp::CmpL)?;
                }
            }
        }
        if writes {
            // A 32-bit result in eax: its high half is zero.
            if wide {
                self.set_reg(f.r1, result)?;
            } else {
                self.set_reg32(f.r1, rax)?;
            }
        }
        if deferred {
            self.defer_cc(Pending {
                r: f.r1,
                wide,
                signed: !matches!(op, AluOp::And | AluOp::Or | AluOp::Xor),
            });
        }
        if sets_cc && !dead {
            match compared {
                Some(compared) => self.set_compare_cc(compared)?,
                None => self.set_cc()?,
            }
        }
        Ok(())
    }

    /// Whether the condition code of `op` with a register or immediate
    /// `src`, its result in `r1`, may stay unstored ([`Gen::defers_cc`]).
    fn defers(&self, op: AluOp, src: Src, r1: u8) -> bool {
        !matches!(src, Src::Mem(_))
            && matches!(
                op,
                AluOp::Add | AluOp::Sub | AluOp::And | AluOp::Or | AluOp::Xor | AluOp::LoadTest
            )
            && self.defers_cc(r1)
    }

    /// The storage-and-immediate shapes (SI, SIY, SIL): the operand at
    /// B1 + D1, the immediate a constant.
    fn mem_imm(
        &mut self,
        here: &mut Current,
        op: AluOp,
        w: Width,
        mem: Ext,
        imm: Ext,
    ) -> Result<(), IcedError> {
        let f = here.insn.f;
        let n = mem.bytes(w) as u32;
        let b = imm.apply(u64::from(f.i2));
        self.ea(0, f.b1, f.d1)?;
        let kind = match op {
            AluOp::Cmp | AluOp::CmpL => AccessKind::Read,
            _ => AccessKind::Write,
        };
        self.access(here, kind, n)?;
        if op == AluOp::Load {
            mov_imm(&mut self.a, rcx, b)?;
            return self.store(n);
        }
        self.load(n, mem)?;
        let wide = w == Width::W64;
        let a = &mut self.a;
        mov_imm(a, rdi, b)?;
        macro_rules! op2 {
            ($m:ident) => {
                if wide {
                    a.$m(rsi, rdi)?
                } else {
                    a.$m(esi, edi)?
                }
            };
        }
        match op {
            AluOp::Cmp | AluOp::CmpL => {
                op2!(cmp);
                compare_cc(a, op == AluOp::CmpL)?;
                return self.set_cc();
            }
            AluOp::Add => {
                op2!(add);
                signed_cc(a, here)?;
            }
            AluOp::AddL => {
                op2!(add);
                a.setnz(dl)?;
                a.setc(cl)?;
            }
            _ => {
                match op {
                    AluOp::And => op2!(and),
                    AluOp::Or => op2!(or),
                    _ => op2!(xor),
                }
                a.setnz(dl)?;
                a.mov(ecx, 0)?;
            }
        }
        // The flags are in dl and cl; store the result, then the cc.
        a.mov(edi, ecx)?;
        a.mov(rcx, rsi)?;
        self.store(n)?;
        self.a.mov(ecx, edi)?;
        self.set_cc()
    }

    /// Applies `ext` to rsi.
    pub(crate) fn extend(&mut self, ext: Ext) -> Result<(), IcedError> {
        let a = &mut self.a;
        match ext {
            Ext::S8 => a.movsx(rsi, sil)?,
            Ext::S16 => a.movsx(rsi, si)?,
            Ext::S32 => a.movsxd(rsi, esi)?,
            Ext::U8 => a.movzx(esi, sil)?,
            Ext::U16 => a.movzx(esi, si)?,
            Ext::U32 => a.mov(esi, esi)?,
            Ext::U31 => a.and(esi, 0x7fff_ffff)?,
            Ext::F => {}
        }
        Ok(())
    }
}
