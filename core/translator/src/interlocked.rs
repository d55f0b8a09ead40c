//! COMPARE AND SWAP (CS, CSY, CSG) as one host `lock cmpxchg` on the
//! operand's host address: the second operand is compared with R1 and
//! replaced by R3 if equal (cc 0), else loaded into R1 (cc 1), as one
//! interlocked update that no other CPU's access comes between (PoP
//! COMPARE AND SWAP). The operand is probed as a store whatever the
//! outcome (the interpreter's `Memory::interlocked` checks and records it
//! as one too), so protection, keys, the change bit and stores into frames
//! with translated code are those of a store; an operand that is not
//! aligned on its length is a specification exception, the interpreter's.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{gpr, gpr32, Current, Gen};

impl Gen {
    /// Emits CS, CSY and CSG; false for other instructions.
    pub(crate) fn compare_and_swap(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let wide = match here.insn.op {
            Opcode::CS | Opcode::CSY => false,
            Opcode::CSG => true,
            _ => return Ok(false),
        };
        if !self.env.memory.inline() {
            return Ok(false);
        }
        let f = here.insn.f;
        let n: u32 = if wide { 8 } else { 4 };
        self.ea(0, f.b2, f.d2)?;
        here.used_slow = true;
        self.a.test(eax, (n - 1) as i32)?;
        self.a.jnz(here.slow)?;
        self.access(here, AccessKind::Write, n)?;
        let mut equal = self.a.create_label();
        let a = &mut self.a;
        a.lea(rdx, qword_ptr(r13 + rax))?;
        if wide {
            a.mov(rax, gpr(f.r1))?;
            a.bswap(rax)?;
            a.mov(rcx, gpr(f.r3))?;
            a.bswap(rcx)?;
            a.lock().cmpxchg(qword_ptr(rdx), rcx)?;
        } else {
            a.mov(eax, gpr32(f.r1))?;
            a.bswap(eax)?;
            a.mov(ecx, gpr32(f.r3))?;
            a.bswap(ecx)?;
            a.lock().cmpxchg(dword_ptr(rdx), ecx)?;
        }
        // cc 1 (unequal: R1 gets the operand fetched) or 0.
        a.setnz(cl)?;
        a.je(equal)?;
        if wide {
            a.bswap(rax)?;
            a.mov(gpr(f.r1), rax)?;
        } else {
            a.bswap(eax)?;
            a.mov(gpr32(f.r1), eax)?;
        }
        a.set_label(&mut equal)?;
        a.shl(cl, 4)?;
        self.store_cc()?;
        Ok(true)
    }
}
