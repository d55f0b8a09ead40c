//! The instructions that act only when the mask M3 selects the condition
//! code (PoP LOAD ON CONDITION, STORE ON CONDITION, LOAD HALFWORD HIGH
//! IMMEDIATE ON CONDITION): LOC, LOCG, STOC, STOCG with a storage operand
//! and LOCHI, LOCGHI with an immediate. When the mask does not select the
//! condition code nothing happens: the storage operand is not accessed and
//! no access exception is recognized (as the interpreter decides, which
//! forms no address then), so the probe lies after the test. A mask of
//! zero emits nothing; fifteen, no test. (LOCR and LOCGR are in
//! `native`.)

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::Ext;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, gpr32, Current, Gen};

impl Gen {
    /// LOC, LOCG, STOC, STOCG (when storage operands are inline), LOCHI
    /// and LOCGHI; `false` for other instructions.
    pub(crate) fn on_condition(
        &mut self,
        here: &mut Current,
        mem_ok: bool,
    ) -> Result<bool, IcedError> {
        use Opcode::*;
        let op = here.insn.op;
        let storage = matches!(op, LOC | LOCG | STOC | STOCG);
        if !(storage && mem_ok || matches!(op, LOCHI | LOCGHI)) {
            return Ok(false);
        }
        let f = here.insn.f;
        let mut skip = self.a.create_label();
        match f.m3 & 15 {
            0 => return Ok(true),
            15 => {}
            m => {
                self.cc_to_ecx()?;
                self.skip_unless(m, skip)?;
            }
        }
        let n = if matches!(op, LOCG | STOCG | LOCGHI) {
            8
        } else {
            4
        };
        match op {
            LOCHI => {
                let v = i32::from(f.i2 as u16 as i16);
                self.a.mov(gpr32(f.r1), v)?;
            }
            LOCGHI => {
                let v = i32::from(f.i2 as u16 as i16);
                self.a.mov(gpr(f.r1), v)?;
            }
            LOC | LOCG => {
                self.ea(0, f.b2, f.d2)?;
                self.access(here, AccessKind::Read, n)?;
                self.load(n, Ext::F)?;
                if n == 8 {
                    self.a.mov(gpr(f.r1), rsi)?;
                } else {
                    self.a.mov(gpr32(f.r1), esi)?;
                }
            }
            _ => {
                self.ea(0, f.b2, f.d2)?;
                self.access(here, AccessKind::Write, n)?;
                if n == 8 {
                    self.a.mov(rcx, gpr(f.r1))?;
                } else {
                    self.a.mov(ecx, gpr32(f.r1))?;
                }
                self.store(n)?;
            }
        }
        self.a.nop()?;
        self.a.set_label(&mut skip)?;
        self.a.nop()?;
        Ok(true)
    }
}
