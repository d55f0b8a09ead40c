//! The storage-to-storage instructions with a length field (SS-a): MVC,
//! NC, OC, XC and CLC, both operands `L + 1` bytes (PoP ch. 7).
//!
//! Under the software TLB the fast path probes both operands whole (a miss
//! goes to the pair fill, which translates them in the interpreter's
//! order) and gives up, before it stores anything, on a page crossing, a
//! miss the fill does not resolve, or operands that overlap in absolute
//! storage in a way the byte-at-a-time rule makes matter and that the
//! interpreter would see differently (see [`Gen::ss`]); the interpreter
//! then runs the instruction with its exceptions.
//!
//! Under the host MMU ([`Gen::host_mmu_ss`]) each operand must lie in one
//! page; each is touched once, in the interpreter's order, before any byte
//! is stored (a fault there is a shadow fill and a retry, or the slow path
//! with nothing stored), then the bytes go one at a time in ascending
//! order.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::opcode::Opcode;
use zmmu_mmu::kind::AccessKind;

use crate::abi;
use crate::emit::{Current, Gen};
use crate::fill::PairOrder;
use crate::memory::MemoryAccess;

/// The chunks, largest first, that cover `len` bytes without overlap.
fn chunks(len: u32) -> impl Iterator<Item = (u32, u32)> {
    let mut at = 0;
    [8u32, 4, 2, 1].into_iter().flat_map(move |size| {
        let n = (len - at) / size;
        let first = at;
        at += n * size;
        (0..n).map(move |i| (first + i * size, size))
    })
}

/// The byte operation of NC, OC or XC.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logic {
    And,
    Or,
    Xor,
}

/// What an SS instruction this module translates does with its operands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ss {
    /// MVC: the second operand's bytes to the first.
    Move,
    /// NC, OC, XC: the first operand combined with the second.
    Combine(Logic),
    /// CLC: the operands compared.
    Compare,
}

impl Ss {
    fn of(op: Opcode) -> Option<Ss> {
        Some(match op {
            Opcode::MVC => Ss::Move,
            Opcode::NC => Ss::Combine(Logic::And),
            Opcode::OC => Ss::Combine(Logic::Or),
            Opcode::XC => Ss::Combine(Logic::Xor),
            Opcode::CLC => Ss::Compare,
            _ => return None,
        })
    }
}

impl Gen {
    /// MVC, NC, OC, XC, CLC; `false` for other instructions.
    pub(crate) fn ss(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        match self.env.memory {
            MemoryAccess::HostMmu => return self.host_mmu_ss(here),
            MemoryAccess::SoftTlb { .. } => {}
            MemoryAccess::Helper => return Ok(false),
        }
        let f = here.insn.f;
        let len = u32::from(f.l1) + 1;
        let logic = match Ss::of(here.insn.op) {
            Some(Ss::Move) => None,
            Some(Ss::Combine(logic)) => Some(logic),
            Some(Ss::Compare) => {
                self.operands(here, AccessKind::Read, PairOrder::InOrder, len)?;
                self.compare(len)?;
                return Ok(true);
            }
            None => return Ok(false),
        };
        if logic == Some(Logic::Xor) && f.b1 == f.b2 && f.d1 == f.d2 {
            // XC of an operand with itself: zeros, cc 0 (the usual way to
            // clear storage).
            self.ea(0, f.b1, f.d1)?;
            self.access(here, AccessKind::Write, len)?;
            let a = &mut self.a;
            a.xor(edx, edx)?;
            for (at, size) in chunks(len) {
                at_size!(rdx, size, x => a.mov(host(size, at as i32), x))?;
            }
            self.a.xor(ecx, ecx)?;
            return self.set_cc().map(|()| true);
        }
        self.operands(here, AccessKind::Write, PairOrder::CheckFirst, len)?;
        // rcx = first - second (absolute): in 1..len the first operand
        // starts inside the second, where byte-at-a-time order matters.
        let mut apart = self.a.create_label();
        let a = &mut self.a;
        a.mov(rcx, rax)?;
        a.sub(rcx, rsi)?;
        a.dec(rcx)?;
        a.cmp(rcx, (len - 1) as i32)?;
        a.jae(apart)?;
        match logic {
            None => {
                self.overlap_as_logical(here, rcx, (f.b1, f.d1), (f.b2, f.d2))?;
                self.rep_move(len)?;
                let mut done = self.a.create_label();
                self.a.jmp(done)?;
                self.a.set_label(&mut apart)?;
                self.move_apart(len)?;
                self.a.set_label(&mut done)?;
                self.a.nop()?;
            }
            Some(logic) => {
                a.jmp(here.slow)?;
                a.set_label(&mut apart)?;
                self.combine(logic, len)?;
            }
        }
        Ok(true)
    }

    /// A move whose first operand starts `distance` + 1 bytes after its
    /// second in absolute storage (rax the first's absolute address): the
    /// slow path unless their logical addresses lie as far apart, so that
    /// moving byte after byte reads the bytes it stored, as the interpreter
    /// does (else two logical pages alias one frame: the interpreter
    /// decides). Leaves the first's absolute address in rax, the second's
    /// in rsi.
    pub(crate) fn overlap_as_logical(
        &mut self,
        here: &Current,
        distance: AsmRegister64,
        (b1, d1): (u8, i32),
        (b2, d2): (u8, i32),
    ) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.inc(distance)?;
        a.mov(qword_ptr(rsp + abi::FRAME_OPERAND), distance)?;
        a.mov(qword_ptr(rsp + abi::FRAME_FILL), rax)?;
        self.ea(0, b2, d2)?;
        self.a.mov(rdx, rax)?;
        self.ea(0, b1, d1)?;
        self.a.sub(rax, rdx)?;
        self.wrap(rax)?;
        let a = &mut self.a;
        a.cmp(rax, qword_ptr(rsp + abi::FRAME_OPERAND))?;
        a.jne(here.slow)?;
        a.mov(rax, qword_ptr(rsp + abi::FRAME_FILL))?;
        a.mov(rsi, rax)?;
        a.sub(rsi, qword_ptr(rsp + abi::FRAME_OPERAND))
    }

    /// MVC, NC, OC, XC and CLC under the host MMU
    /// ([`MemoryAccess::HostMmu`]); `false` for other instructions. The
    /// operands' first and last bytes are touched, in the interpreter's
    /// order, before any byte is stored, so that a fault (a shadow fill
    /// and a retry, or the slow path with nothing stored) comes first,
    /// whether an operand lies in one page or crosses into the next: MVC,
    /// NC, OC and XC read the second and write the first (the write stores
    /// the byte it read), CLC reads the first, then the second. Then the
    /// bytes go one at a time in ascending order, each source byte read
    /// after the bytes before it were stored: the rule for overlapping
    /// operands ("as if processed one byte at a time"). NC, OC and XC set
    /// cc 1 if any result byte is nonzero; CLC compares as
    /// [`Gen::compare`] does.
    fn host_mmu_ss(&mut self, here: &mut Current) -> Result<bool, IcedError> {
        let logic = match Ss::of(here.insn.op) {
            Some(Ss::Move) => None,
            Some(Ss::Combine(logic)) => Some(logic),
            Some(Ss::Compare) => {
                let len = self.host_mmu_operands(here, AccessKind::Read)?;
                let a = &mut self.a;
                a.movzx(ecx, byte_ptr(r13 + rax))?;
                a.movzx(ecx, byte_ptr(r13 + rsi))?;
                self.compare(len)?;
                return Ok(true);
            }
            None => return Ok(false),
        };
        let len = self.host_mmu_operands(here, AccessKind::Write)?;
        let last = (len - 1) as i32;
        let a = &mut self.a;
        a.add(rsi, r13)?;
        a.lea(rdi, qword_ptr(r13 + rax))?;
        a.movzx(ecx, byte_ptr(rsi))?;
        a.movzx(ecx, byte_ptr(rsi + last))?;
        a.or(byte_ptr(rdi), 0)?;
        a.or(byte_ptr(rdi + last), 0)?;
        a.mov(ecx, len)?;
        self.byte_after_byte(logic)?;
        Ok(true)
    }

    /// The ecx bytes (at least one) at rsi moved to rdi byte after byte in
    /// ascending order, or combined with `logic` into them and the cc set
    /// (1 if any result byte is nonzero, else 0): the order in which an
    /// operand overlapping the other by less than its length sees the
    /// bytes already stored (PoP "Storage-Operand Consistency"). Uses rdx
    /// and r8.
    pub(crate) fn byte_after_byte(&mut self, logic: Option<Logic>) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.xor(r8d, r8d)?;
        let mut next = a.create_label();
        a.set_label(&mut next)?;
        a.mov(dl, byte_ptr(rsi))?;
        if let Some(logic) = logic {
            match logic {
                Logic::And => a.and(dl, byte_ptr(rdi))?,
                Logic::Or => a.or(dl, byte_ptr(rdi))?,
                Logic::Xor => a.xor(dl, byte_ptr(rdi))?,
            }
            a.or(r8b, dl)?;
        }
        a.mov(byte_ptr(rdi), dl)?;
        a.inc(rsi)?;
        a.inc(rdi)?;
        a.dec(ecx)?;
        a.jnz(next)?;
        if logic.is_some() {
            a.test(r8b, r8b)?;
            a.setnz(dl)?;
            a.xor(ecx, ecx)?;
            self.set_cc()?;
        }
        Ok(())
    }

    /// The operands of an SS-a instruction under the host MMU: rax = the
    /// first's logical address (accessed as `first`), rsi = the second's;
    /// answers the length. For a store, operands whose page offsets lie 1
    /// to length - 1 bytes apart, the first after the second, go to the
    /// slow path unless both lie in one page: two of their pages could
    /// alias one frame, where the interpreter, which looks at the logical
    /// addresses (PoP's overlap, `forward_overlap`), reads the whole
    /// second operand before it stores; any other pair overlaps nowhere a
    /// byte is read after it was stored, or overlaps logically as the
    /// interpreter sees it.
    fn host_mmu_operands(
        &mut self,
        here: &mut Current,
        first: AccessKind,
    ) -> Result<u32, IcedError> {
        let f = here.insn.f;
        let len = u32::from(f.l1) + 1;
        self.ea(0, f.b2, f.d2)?;
        self.access(here, AccessKind::Read, len)?;
        self.a.mov(rsi, rax)?;
        self.ea(0, f.b1, f.d1)?;
        self.access(here, first, len)?;
        if first == AccessKind::Write && len > 1 {
            let mut crossing = self.a.create_label();
            let mut apart = self.a.create_label();
            let a = &mut self.a;
            for operand in [eax, esi] {
                a.mov(ecx, operand)?;
                a.and(ecx, 0xfff)?;
                a.cmp(ecx, (0x1000 - len) as i32)?;
                a.ja(crossing)?;
            }
            // Each in its page: overlapping offsets in one page are the
            // logical overlap the interpreter sees too; in two pages, the
            // slow path.
            offsets_overlap(a, (len - 1) as i32)?;
            a.jae(apart)?;
            one_page_or(a, here.slow)?;
            a.jmp(apart)?;
            a.set_label(&mut crossing)?;
            offsets_overlap(a, (len - 1) as i32)?;
            a.jb(here.slow)?;
            a.set_label(&mut apart)?;
        }
        Ok(len)
    }

    /// Probes both `len`-byte operands (the first accessed as `first`,
    /// the second read): rax = the first's absolute address, rsi the
    /// second's.
    fn operands(
        &mut self,
        here: &mut Current,
        first: AccessKind,
        order: PairOrder,
        len: u32,
    ) -> Result<(), IcedError> {
        let f = here.insn.f;
        self.ea(0, f.b2, f.d2)?;
        self.a.mov(rsi, rax)?;
        self.ea(0, f.b1, f.d1)?;
        self.access_pair(here, first, order, len)
    }

    /// Copies `len` bytes from r13 + rsi to r13 + rax, one byte at a time
    /// in ascending order.
    fn rep_move(&mut self, len: u32) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.lea(rdi, qword_ptr(r13 + rax))?;
        a.add(rsi, r13)?;
        a.mov(ecx, len)?;
        a.rep().movsb()?;
        Ok(())
    }

    /// Copies `len` bytes from r13 + rsi to r13 + rax when the first
    /// operand does not start inside the second (so every source byte is
    /// read before it could be stored).
    fn move_apart(&mut self, len: u32) -> Result<(), IcedError> {
        if len > 16 {
            return self.rep_move(len);
        }
        // At most 16 bytes: every chunk is loaded before any is stored.
        let regs = [rcx, rdx, rdi, r8, r9, r10, r11];
        let parts: alloc::vec::Vec<(u32, u32)> = chunks(len).collect();
        let a = &mut self.a;
        for (&(at, size), &r) in parts.iter().zip(&regs) {
            at_size!(r, size, x => a.mov(x, source(size, at as i32)))?;
        }
        for (&(at, size), &r) in parts.iter().zip(&regs) {
            at_size!(r, size, x => a.mov(host(size, at as i32), x))?;
        }
        Ok(())
    }

    /// NC, OC, XC when the first operand does not start inside the
    /// second: chunk by chunk, cc 1 if any result byte is nonzero.
    fn combine(&mut self, logic: Logic, len: u32) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.xor(r8d, r8d)?;
        let qwords = len / 8;
        if qwords > 2 {
            // A loop over the doublewords, then the rest.
            let mut top = a.create_label();
            a.lea(rdi, qword_ptr(r13 + rax))?;
            a.add(rsi, r13)?;
            a.mov(r9d, qwords)?;
            a.set_label(&mut top)?;
            a.mov(rdx, qword_ptr(rsi))?;
            logic_op(a, logic, 8, qword_ptr(rdi))?;
            a.mov(qword_ptr(rdi), rdx)?;
            a.or(r8, rdx)?;
            a.add(rsi, 8)?;
            a.add(rdi, 8)?;
            a.dec(r9d)?;
            a.jnz(top)?;
            a.sub(rsi, r13)?;
            a.mov(rax, rdi)?;
            a.sub(rax, r13)?;
        }
        let done = if qwords > 2 { qwords * 8 } else { 0 };
        for (at, size) in chunks(len - done) {
            load_zx(a, rdx, size, source(size, at as i32))?;
            logic_op(a, logic, size, host(size, at as i32))?;
            at_size!(rdx, size, x => a.mov(host(size, at as i32), x))?;
            a.or(r8, rdx)?;
        }
        a.test(r8, r8)?;
        a.setnz(dl)?;
        a.xor(ecx, ecx)?;
        self.set_cc()
    }

    /// CLC: the first operand at r13 + rax against the second at r13 +
    /// rsi, as unsigned big-endian numbers chunk by chunk; cc 0 equal, 1
    /// low, 2 high.
    fn compare(&mut self, len: u32) -> Result<(), IcedError> {
        let movbe = self.env.movbe;
        let mut differ = self.a.create_label();
        let mut done = self.a.create_label();
        let a = &mut self.a;
        for (at, size) in chunks(len) {
            // Big-endian values, left-aligned in 64 bits, compare as the
            // bytes do.
            if size == 8 && movbe {
                a.movbe(rdx, host(8, at as i32))?;
                a.movbe(rcx, source(8, at as i32))?;
            } else {
                load_zx(a, rdx, size, host(size, at as i32))?;
                load_zx(a, rcx, size, source(size, at as i32))?;
                a.bswap(rdx)?;
                a.bswap(rcx)?;
            }
            a.cmp(rdx, rcx)?;
            a.jne(differ)?;
        }
        a.xor(edx, edx)?;
        a.xor(ecx, ecx)?;
        a.jmp(done)?;
        a.set_label(&mut differ)?;
        a.setb(dl)?;
        a.seta(cl)?;
        a.set_label(&mut done)?;
        self.set_cc()
    }
}

/// The `size`-byte piece at offset `at` of the first operand (r13 + rax).
fn host(size: u32, at: i32) -> AsmMemoryOperand {
    sized_ptr(size, r13 + rax + at)
}

/// The `size`-byte piece at offset `at` of the second operand (r13 + rsi).
fn source(size: u32, at: i32) -> AsmMemoryOperand {
    sized_ptr(size, r13 + rsi + at)
}

fn sized_ptr(size: u32, m: AsmMemoryOperand) -> AsmMemoryOperand {
    match size {
        8 => qword_ptr(m),
        4 => dword_ptr(m),
        2 => word_ptr(m),
        _ => byte_ptr(m),
    }
}

/// The 64-, 32-, 16- and 8-bit names of a scratch register.
fn parts(r: AsmRegister64) -> (AsmRegister64, AsmRegister32, AsmRegister16, AsmRegister8) {
    let all = [
        (rcx, ecx, cx, cl),
        (rdx, edx, dx, dl),
        (rdi, edi, di, dil),
        (r8, r8d, r8w, r8b),
        (r9, r9d, r9w, r9b),
        (r10, r10d, r10w, r10b),
        (r11, r11d, r11w, r11b),
    ];
    match all.iter().find(|row| row.0 == r) {
        Some(&row) => row,
        None => unreachable!("a scratch register"),
    }
}

/// `$body` with `$x` the `$size`-byte name of the register `$r`.
macro_rules! at_size {
    ($r:expr, $size:expr, $x:ident => $body:expr) => {{
        let (q, d, w, b) = parts($r);
        match $size {
            8 => {
                let $x = q;
                $body
            }
            4 => {
                let $x = d;
                $body
            }
            2 => {
                let $x = w;
                $body
            }
            _ => {
                let $x = b;
                $body
            }
        }
    }};
}
use at_size;

/// `r` = the `size`-byte value at `m`, zero-extended.
fn load_zx(
    a: &mut CodeAssembler,
    r: AsmRegister64,
    size: u32,
    m: AsmMemoryOperand,
) -> Result<(), IcedError> {
    let (q, d, _, _) = parts(r);
    match size {
        8 => a.mov(q, m),
        4 => a.mov(d, m),
        _ => a.movzx(d, m),
    }
}

/// The low `size` bytes of rdx combined with the bytes at `m`.
fn logic_op(
    a: &mut CodeAssembler,
    logic: Logic,
    size: u32,
    m: AsmMemoryOperand,
) -> Result<(), IcedError> {
    at_size!(rdx, size, x => match logic {
        Logic::And => a.and(x, m),
        Logic::Or => a.or(x, m),
        Logic::Xor => a.xor(x, m),
    })
}

/// Compares (the first operand's page offset less the second's, modulo
/// the page) less one with `limit`, the operands' length less one (rax
/// and rsi their logical addresses): below (`jb`) where the first starts
/// 1 to length - 1 bytes after the second in page offsets, so that two
/// of their pages aliasing one frame would overlap them. Uses rdx.
pub(crate) fn offsets_overlap<T>(a: &mut CodeAssembler, limit: T) -> Result<(), IcedError>
where
    CodeAssembler: iced_x86::code_asm::asm_traits::CodeAsmCmp<AsmRegister64, T>,
{
    a.mov(rdx, rax)?;
    a.sub(rdx, rsi)?;
    a.and(edx, 0xfff)?;
    a.dec(rdx)?;
    a.cmp(rdx, limit)
}

/// To `slow` unless the logical addresses in rax and rsi lie in one page.
/// Uses rdx.
pub(crate) fn one_page_or(a: &mut CodeAssembler, slow: CodeLabel) -> Result<(), IcedError> {
    a.mov(rdx, rax)?;
    a.xor(rdx, rsi)?;
    a.shr(rdx, 12)?;
    a.jnz(slow)
}
