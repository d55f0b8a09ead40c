//! LOAD MULTIPLE and STORE MULTIPLE (LM, LMY, LMG, STM, STMY, STMG):
//! registers R1 through R3 (wrapping from 15 to 0) from or to consecutive
//! words or doublewords at the second-operand address.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::Ext;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, gpr32, Current, Gen};
use crate::MemoryAccess;

impl Gen {
    /// LM, LMY, LMG, STM, STMY, STMG; `false` for other instructions.
    /// The whole operand is probed first, so an exception (or a page
    /// crossing) leaves every register and byte to the interpreter; under
    /// the host MMU an operand that crosses a page goes to the interpreter
    /// too, and within one page the first access (a load, or a store
    /// before which nothing changed) is the only one that can fault.
    pub(crate) fn multiple(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        use Opcode::*;
        let (load, size) = match here.insn.op {
            LM | LMY => (true, 4),
            LMG => (true, 8),
            STM | STMY => (false, 4),
            STMG => (false, 8),
            _ => return Ok(false),
        };
        let f = here.insn.f;
        let count = u32::from(f.r3.wrapping_sub(f.r1) & 15) + 1;
        self.ea(0, f.b2, f.d2)?;
        let kind = if load {
            AccessKind::Read
        } else {
            AccessKind::Write
        };
        self.access(here, kind, count * size)?;
        if self.env.memory == MemoryAccess::HostMmu {
            // A fault in the second page after the first's registers or
            // bytes changed would leave the instruction half done (and
            // its slow path with a new base register).
            self.within_page(here, count * size)?;
        }
        for i in 0..count as u8 {
            let r = f.r1.wrapping_add(i) & 15;
            if i > 0 {
                self.a.add(rax, size as i32)?;
            }
            match (load, size) {
                (true, 8) => {
                    self.load(8, Ext::F)?;
                    self.a.mov(gpr(r), rsi)?;
                }
                (true, _) => {
                    self.load(4, Ext::F)?;
                    self.a.mov(gpr32(r), esi)?;
                }
                (false, 8) => {
                    self.a.mov(rcx, gpr(r))?;
                    self.store(8)?;
                }
                (false, _) => {
                    self.a.mov(ecx, gpr32(r))?;
                    self.store(4)?;
                }
            }
        }
        Ok(true)
    }
}
