//! VECTOR LOAD TO BLOCK BOUNDARY (VLBB) of a whole 16 bytes: glibc's
//! vector string functions (docs/CHOICES.md 45d).
//!
//! VLBB loads the bytes from the operand's address up to the next
//! boundary of a `64 << M3`-byte block, at most 16 (the interpreter sets
//! the rest of V1 to zeros, as QEMU does), and only those bytes are
//! accessed. Where the address lies at least 16 bytes before the boundary
//! the instruction is a plain 16-byte load within one block, so within
//! one page: translated as one probe for a read and two big-endian
//! doubleword loads. Nearer the boundary, the vector enablement, and
//! every exception are the slow path; M3 above 6 (a specification
//! exception) is not translated. Under the host MMU the two loads are the
//! accesses: a fault at the first is a shadow fill and a retry, or the
//! slow path, with V1 unchanged; the second lies in the same page.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::Ext;
use zmmu_cpu::state::offset;
use zmmu_mmu::kind::AccessKind;

use crate::emit::{Current, Gen};

impl Gen {
    /// VLBB as the module says; `false` for other instructions, M3 above
    /// 6, and the access-register mode's helper.
    pub(crate) fn vload(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let f = here.insn.f;
        if here.insn.op != Opcode::VLBB || f.m3 > 6 || !self.env.memory.inline() {
            return Ok(false);
        }
        let block = 64i32 << f.m3;
        let v1 = (offset::VR + 16 * usize::from(f.v1 & 31)) as i32;
        self.vector_enabled(here)?;
        self.ea(f.x2, f.b2, f.d2)?;
        let a = &mut self.a;
        a.mov(ecx, eax)?;
        a.and(ecx, block - 1)?;
        a.cmp(ecx, block - 16)?;
        a.ja(here.slow)?;
        self.access(here, AccessKind::Read, 16)?;
        self.load(8, Ext::F)?;
        self.a.mov(rdx, rsi)?;
        self.a.add(rax, 8)?;
        self.load(8, Ext::F)?;
        self.a.mov(qword_ptr(rbx + v1), rdx)?;
        self.a.mov(qword_ptr(rbx + v1 + 8), rsi)?;
        Ok(true)
    }
}
