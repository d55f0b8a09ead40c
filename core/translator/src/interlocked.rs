//! The interlocked-update instructions CS, CSY, CSG, CDSG, the LOAD AND
//! ADD family (LAA, LAAG, LAAL, LAALG) and LOAD AND AND, OR, EXCLUSIVE OR
//! (LAN, LANG, LAO, LAOG, LAX, LAXG): one x86 `lock cmpxchg` (CDSG:
//! `lock cmpxchg16b`) on the host
//! bytes of the storage operand (PoP "Interlocked Update": no other CPU
//! accesses the operand between the fetch and the store), so they are
//! atomic against every other CPU's accesses to the same bytes, its
//! translated code's plain stores and the interpreter's compare-and-swap
//! on guest storage included. Without this, each is a helper call (on the
//! kvm engine, a VM exit), and a CPU spinning natively on a lock word
//! outpaces the holder by orders of magnitude.
//!
//! The operand must be aligned on its size (else the slow path, where the
//! interpreter raises the specification exception), and is reached as a
//! store (its reference and change bits recorded whether or not it is
//! stored, as the interpreter does). An overflow with the
//! fixed-point-overflow mask one goes to the slow path before the update.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::kind::AccessKind;

use crate::alu::{overflow_only, signed_cc};
use crate::emit::{gpr, gpr32, Current, Gen};
use crate::memory::MemoryAccess;

/// How the operand combines with R3.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Update {
    /// COMPARE AND SWAP: R3 replaces the operand if it equals R1.
    Swap,
    /// LOAD AND ADD: signed.
    Add,
    /// LOAD AND ADD LOGICAL.
    AddLogical,
    /// LOAD AND AND, LOAD AND OR, LOAD AND EXCLUSIVE OR: cc 0 for a zero
    /// result, else 1.
    Logic(Logic),
}

/// The bitwise operation of a [`Update::Logic`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Logic {
    And,
    Or,
    Xor,
}

/// The update of `n` bytes with the operand's host bytes at r13 + rdx, in
/// registers of that width (`acc` the accumulator cmpxchg compares, `old`
/// and `new` scratch); says whether the cc is in cl (COMPARE AND SWAP),
/// else in dl and cl.
/// The condition code of COMPARE AND SWAP and COMPARE DOUBLE AND SWAP in
/// ecx (PoP: 0 equal, the second operand replaced; 1 unequal, the first
/// operand loaded), after the unequal path's loads: 1, then the `equal`
/// label's 0, both joining at `done`.
fn compare_and_swap_cc(
    a: &mut CodeAssembler,
    mut equal: CodeLabel,
    mut done: CodeLabel,
) -> Result<(), IcedError> {
    a.mov(ecx, 0x10)?;
    a.jmp(done)?;
    a.set_label(&mut equal)?;
    a.xor(ecx, ecx)?;
    a.set_label(&mut done)?;
    a.nop()
}

/// `new` = `new` combined with the third operand, with the x86 flags of
/// the operation.
macro_rules! combine {
    ($a:expr, $update:expr, $new:expr, $r3:expr) => {
        match $update {
            Update::Logic(Logic::And) => $a.and($new, $r3)?,
            Update::Logic(Logic::Or) => $a.or($new, $r3)?,
            Update::Logic(Logic::Xor) => $a.xor($new, $r3)?,
            _ => $a.add($new, $r3)?,
        }
    };
}

macro_rules! emit {
    ($a:expr, $here:expr, $update:expr, $f:expr, $reg:ident, $ptr:ident, $acc:expr, $old:expr, $new:expr) => {{
        let a = &mut $a;
        let operand = $ptr(r13 + rdx);
        if $update == Update::Swap {
            let equal = a.create_label();
            let done = a.create_label();
            a.mov($acc, $reg($f.r1))?;
            a.bswap($acc)?;
            a.mov($new, $reg($f.r3))?;
            a.bswap($new)?;
            a.lock().cmpxchg(operand, $new)?;
            a.je(equal)?;
            // Unequal: R1 receives the operand, cc 1.
            a.bswap($acc)?;
            a.mov($reg($f.r1), $acc)?;
            compare_and_swap_cc(a, equal, done)?;
            true
        } else {
            let mut retry = a.create_label();
            a.mov($acc, operand)?;
            a.set_label(&mut retry)?;
            a.mov($old, $acc)?;
            a.bswap($old)?;
            a.mov($new, $old)?;
            combine!(a, $update, $new, $reg($f.r3));
            if $update == Update::Add {
                overflow_only(a, $here)?;
            }
            a.bswap($new)?;
            // Another CPU changed the operand since it was fetched: the
            // accumulator holds its new value, go again.
            a.lock().cmpxchg(operand, $new)?;
            a.jne(retry)?;
            // The cc of the sum, from the flags of the same addition (R3
            // read before R1, which may be the same register, is
            // replaced; MOV keeps the flags).
            a.mov($new, $old)?;
            combine!(a, $update, $new, $reg($f.r3));
            a.mov($reg($f.r1), $old)?;
            match $update {
                Update::Add => signed_cc(a, $here)?,
                Update::Logic(_) => {
                    a.setnz(dl)?;
                    a.mov(cl, 0)?;
                }
                _ => {
                    a.setc(cl)?;
                    a.setnz(dl)?;
                }
            }
            false
        }
    }};
}

impl Gen {
    /// Emits `here` if it is an interlocked update this module translates;
    /// says whether it did.
    pub(crate) fn interlocked(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        use Opcode::*;
        if here.insn.op == CDSG {
            return self.compare_double_and_swap(here);
        }
        let (update, n) = match here.insn.op {
            CS | CSY => (Update::Swap, 4),
            CSG => (Update::Swap, 8),
            LAA => (Update::Add, 4),
            LAAG => (Update::Add, 8),
            LAAL => (Update::AddLogical, 4),
            LAALG => (Update::AddLogical, 8),
            LAN => (Update::Logic(Logic::And), 4),
            LANG => (Update::Logic(Logic::And), 8),
            LAO => (Update::Logic(Logic::Or), 4),
            LAOG => (Update::Logic(Logic::Or), 8),
            LAX => (Update::Logic(Logic::Xor), 4),
            LAXG => (Update::Logic(Logic::Xor), 8),
            _ => return Ok(false),
        };
        let f = here.insn.f;
        self.ea(0, f.b2, f.d2)?;
        here.used_slow = true;
        self.a.test(al, (n - 1) as i32)?;
        self.a.jnz(here.slow)?;
        self.access(here, AccessKind::Write, n)?;
        // The operand's host bytes at r13 + rdx: cmpxchg compares rax.
        self.a.mov(rdx, rax)?;
        let swapped = if n == 8 {
            emit!(self.a, here, update, f, gpr, qword_ptr, rax, rsi, rcx)
        } else {
            emit!(self.a, here, update, f, gpr32, dword_ptr, eax, esi, ecx)
        };
        match swapped {
            // cl = cc << 4.
            true => self.store_cc()?,
            false => self.set_cc()?,
        }
        Ok(true)
    }

    /// COMPARE DOUBLE AND SWAP (CDSG): the even-odd pair R1, R1 + 1
    /// compared with the quadword operand; equal, R3, R3 + 1 stored and cc
    /// 0; else the operand loaded into R1, R1 + 1 and cc 1 (PoP COMPARE
    /// DOUBLE AND SWAP). One `lock cmpxchg16b` (which compares rdx:rax and
    /// stores rcx:rbx, rbx saved around it). A fault between the save and
    /// the restore would leave rbx without the CPU: under the host MMU a
    /// locked OR of zero into the operand's first byte (which changes no
    /// byte, even as another CPU stores) comes first, whose fault is a
    /// shadow fill and a retry, or the slow path, with rbx intact; the
    /// operand is then mapped writable, and the shadow changes only at a
    /// host call or between batches (another CPU's purges wait for the
    /// batch's end), so `cmpxchg16b` cannot fault. An odd R1 or R3, or an
    /// operand not on a quadword boundary, is the interpreter's
    /// specification exception.
    fn compare_double_and_swap(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let f = here.insn.f;
        if (f.r1 | f.r3) & 1 != 0 {
            return Ok(false);
        }
        self.ea(0, f.b2, f.d2)?;
        here.used_slow = true;
        self.a.test(al, 15)?;
        self.a.jnz(here.slow)?;
        self.access(here, AccessKind::Write, 16)?;
        let equal = self.a.create_label();
        let done = self.a.create_label();
        let a = &mut self.a;
        // The operand's first doubleword (R1's) is at the lower address:
        // big-endian doublewords, the first in rax (and rbx).
        a.lea(rsi, qword_ptr(r13 + rax))?;
        if self.env.memory == MemoryAccess::HostMmu {
            a.lock().or(byte_ptr(rsi), 0)?;
        }
        a.mov(rax, gpr(f.r1))?;
        a.bswap(rax)?;
        a.mov(rdx, gpr(f.r1 | 1))?;
        a.bswap(rdx)?;
        a.mov(rdi, gpr(f.r3))?;
        a.bswap(rdi)?;
        a.mov(rcx, gpr(f.r3 | 1))?;
        a.bswap(rcx)?;
        a.push(rbx)?;
        a.mov(rbx, rdi)?;
        a.lock().cmpxchg16b(xmmword_ptr(rsi))?;
        a.pop(rbx)?;
        a.je(equal)?;
        // Unequal: R1, R1 + 1 receive the operand, cc 1.
        a.bswap(rax)?;
        a.bswap(rdx)?;
        a.mov(gpr(f.r1), rax)?;
        a.mov(gpr(f.r1 | 1), rdx)?;
        compare_and_swap_cc(a, equal, done)?;
        self.store_cc()?;
        Ok(true)
    }
}
