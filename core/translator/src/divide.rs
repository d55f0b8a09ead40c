//! The fixed-point divides of the DIVIDE LOGICAL and DIVIDE SINGLE
//! families: the divisor from a register or storage, the dividend from the
//! even-odd pair R1, R1+1, remainder to R1 and quotient to R1+1 (PoP
//! DIVIDE LOGICAL, DIVIDE SINGLE). A zero divisor or a quotient that does
//! not fit is a fixed-point-divide exception that leaves the registers
//! unchanged: the fast path tests both before the x86 divide (which would
//! trap on them) and sends them to the slow path, where the interpreter
//! raises it. MULTIPLY LOGICAL of 64-bit operands (MLGR, MLG:
//! docs/CHOICES.md 51e) uses the same pair, R1+1 times the operand into
//! R1 : R1+1 (x86 `mul`), and raises nothing.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::Ext;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, gpr32, Current, Gen};

/// The shape of one divide.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// DLR, DL: the 64-bit dividend R1 (bits 32-63) : R1+1 (bits 32-63)
    /// by a 32-bit unsigned divisor; 32-bit results.
    Logical32,
    /// DLGR, DLG: the 128-bit dividend R1 : R1+1 by a 64-bit unsigned
    /// divisor.
    Logical64,
    /// DSGR, DSG, DSGFR, DSGF: R1+1 alone by a signed divisor (DSGF(R)'s
    /// sign-extended from a word).
    Single,
    /// MLGR, MLG: R1+1 times a 64-bit unsigned operand, the 128-bit
    /// product into R1 : R1+1.
    MultiplyLogical64,
}

impl Gen {
    /// Emits the divides and 64-bit logical multiplies with an even R1 (an
    /// odd one is a specification exception: the interpreter's); false for
    /// other instructions.
    pub(crate) fn divide(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        use Opcode::*;
        let insn = here.insn;
        let f = insn.f;
        let (kind, n, ext, storage) = match insn.op {
            DLR => (Kind::Logical32, 4, Ext::U32, false),
            DL => (Kind::Logical32, 4, Ext::U32, true),
            DLGR => (Kind::Logical64, 8, Ext::F, false),
            DLG => (Kind::Logical64, 8, Ext::F, true),
            DSGR => (Kind::Single, 8, Ext::F, false),
            DSG => (Kind::Single, 8, Ext::F, true),
            DSGFR => (Kind::Single, 4, Ext::S32, false),
            DSGF => (Kind::Single, 4, Ext::S32, true),
            MLGR => (Kind::MultiplyLogical64, 8, Ext::F, false),
            MLG => (Kind::MultiplyLogical64, 8, Ext::F, true),
            _ => return Ok(false),
        };
        if f.r1 & 1 != 0 || (storage && !self.env.memory.inline()) {
            return Ok(false);
        }
        // rsi = the divisor.
        if storage {
            self.ea(f.x2, f.b2, f.d2)?;
            self.access(here, AccessKind::Read, n)?;
            self.load(n, ext)?;
        } else {
            self.a.mov(rsi, gpr(f.r2))?;
            self.extend(ext)?;
        }
        let a = &mut self.a;
        if kind == Kind::MultiplyLogical64 {
            a.mov(rax, gpr(f.r1 | 1))?;
            a.mul(rsi)?;
            a.mov(gpr(f.r1), rdx)?;
            a.mov(gpr(f.r1 | 1), rax)?;
            return Ok(true);
        }
        here.used_slow = true;
        let slow = here.slow;
        a.test(rsi, rsi)?;
        a.jz(slow)?;
        match kind {
            Kind::Logical32 => {
                // The quotient fits in 32 bits exactly when the high word
                // of the dividend is below the divisor.
                a.mov(edx, gpr32(f.r1))?;
                a.cmp(edx, esi)?;
                a.jae(slow)?;
                a.mov(eax, gpr32(f.r1 | 1))?;
                a.div(esi)?;
                a.mov(gpr32(f.r1), edx)?;
                a.mov(gpr32(f.r1 | 1), eax)?;
            }
            Kind::Logical64 => {
                a.mov(rdx, gpr(f.r1))?;
                a.cmp(rdx, rsi)?;
                a.jae(slow)?;
                a.mov(rax, gpr(f.r1 | 1))?;
                a.div(rsi)?;
                a.mov(gpr(f.r1), rdx)?;
                a.mov(gpr(f.r1 | 1), rax)?;
            }
            Kind::Single => {
                // Only the most negative dividend by -1 overflows; any
                // division by -1 goes to the slow path (as x86 would trap).
                a.cmp(rsi, -1)?;
                a.je(slow)?;
                a.mov(rax, gpr(f.r1 | 1))?;
                a.cqo()?;
                a.idiv(rsi)?;
                a.mov(gpr(f.r1), rdx)?;
                a.mov(gpr(f.r1 | 1), rax)?;
            }
            Kind::MultiplyLogical64 => unreachable!("emitted above"),
        }
        Ok(true)
    }
}
