//! # zmmu-translator
//!
//! s390x translation blocks to x86-64 machine code, for the `jit` engine
//! (and later the in-VM `kvm` engine): `no_std` + `alloc`, no `unsafe`. The
//! code is emitted with iced-x86's `code_asm` for a caller-chosen address
//! and executed elsewhere (`zmmu-jit` owns the executable memory).
//!
//! - [`decode_block`] decodes straight-line code: up to an instruction that
//!   [ends a block](zmmu_cpu::opcode::Opcode::ends_block), the end of the
//!   page, or [`MAX_BLOCK`] instructions.
//! - [`translate`] emits one function per block with the ABI of [`abi`]:
//!   guest registers stay in the `#[repr(C)]` [`zmmu_cpu::state::Cpu`]
//!   (addressed from `rbx` with `state::offset`), the condition code is
//!   materialised into the PSW mask by every instruction that sets it (a
//!   lazy condition code is a later optimisation).
//! - Instructions without a native translation, and every native one whose
//!   fast path gives up (a TLB miss, an access crossing a page, a signed
//!   overflow), call the helper ([`abi::CTX_HELPER`]) that runs the
//!   interpreter's semantics for that one instruction. A native fast path
//!   gives up before it changes any architected state, so an exception is
//!   always raised by the interpreter, with its PSW, ILC, registers and
//!   storage: exceptions are precise without a restore table.
//! - Storage operands use the software TLB inline (see [`zmmu_mmu::tlb`]):
//!   slot, tag compare for the block's partition, kind and key, add the
//!   addend, bound check against the storage size, then a big-endian load
//!   or store (MOVBE when [`Env::movbe`], else BSWAP).

#![no_std]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::decode::{decode, Insn};
use zmmu_cpu::format::Format;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::sem::{AluOp, Ext, FieldOp, Sem, ShiftOp, Src, Width};
use zmmu_cpu::state::offset;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::tlb;

/// The most instructions one block holds.
pub const MAX_BLOCK: usize = 64;

/// The contract between generated code and the code that runs it.
///
/// A block is `extern "sysv64" fn(cpu: *mut Cpu, ctx: *mut Ctx) -> u64`.
/// It returns [`abi::END`] when it ran to its end (the PSW address is the
/// next instruction's) and [`abi::EXIT`] when the helper asked it to stop
/// after the instruction the helper ran (the caller knows which one). The
/// context starts with the fields below (`u64` each); the helper is
/// `extern "sysv64" fn(ctx: *mut Ctx, index: u64) -> u64` and runs the
/// block's instruction number `index` as `Cpu::step` would, returning 0 to
/// continue the block and 1 to leave it.
pub mod abi {
    /// The helper's address.
    pub const CTX_HELPER: usize = 0;
    /// The software TLB's entries ([`zmmu_mmu::tlb::Tlb::entries_ptr`]).
    pub const CTX_TLB: usize = 8;
    /// The host address of absolute storage byte 0.
    pub const CTX_STORAGE: usize = 16;
    /// The storage size in bytes.
    pub const CTX_STORAGE_LEN: usize = 24;
    /// The block ran to its end.
    pub const END: u64 = 0;
    /// The helper ended the block.
    pub const EXIT: u64 = 1;
}

/// One guest instruction of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guest {
    /// Its (logical) address.
    pub at: u64,
    /// The decoded instruction.
    pub insn: Insn,
}

/// What the code of a block depends on besides its bytes: the block cache
/// keys blocks by these (with the absolute address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Env {
    /// The addressing mode.
    pub amode: AddressingMode,
    /// The PSW key (the key of every tag the inline probe forms).
    pub key: u8,
    /// The TLB partition of operand accesses (`tlb::partition_index`), or
    /// `None` when operands cannot be probed inline (access-register mode):
    /// every storage operand then goes to the helper.
    pub partition: Option<usize>,
    /// The host has MOVBE.
    pub movbe: bool,
}

/// Decodes the block at `at` from `bytes` (the guest bytes from `at` to the
/// end of its page): whole instructions up to and including the first that
/// ends a block, at most `max` of them. Empty if the first instruction does
/// not fit in `bytes` (it crosses the page: the caller interprets it).
pub fn decode_block(bytes: &[u8], at: u64, amode: AddressingMode, max: usize) -> Vec<Guest> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    while out.len() < max.min(MAX_BLOCK) {
        let Some(rest) = bytes.get(offset..) else {
            break;
        };
        let Ok(insn) = decode(rest) else {
            break;
        };
        out.push(Guest {
            at: amode.wrap(at.wrapping_add(offset as u64)),
            insn,
        });
        offset += usize::from(insn.len);
        if insn.op.ends_block() {
            break;
        }
    }
    out
}

/// The code of one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translated {
    /// x86-64 machine code, valid at the address given to [`translate`].
    pub code: Vec<u8>,
    /// Per instruction: translated natively (else always the helper).
    pub native: Vec<bool>,
}

/// Translates `block` (non-empty) to code that runs at host address `ip`.
pub fn translate(block: &[Guest], env: &Env, ip: u64) -> Result<Translated, IcedError> {
    let mut g = Gen::new(*env)?;
    g.prologue()?;
    let mut native = Vec::with_capacity(block.len());
    let mut ended = false;
    for (index, guest) in block.iter().enumerate() {
        let next = env
            .amode
            .wrap(guest.at.wrapping_add(u64::from(guest.insn.len)));
        let mut here = Current {
            at: guest.at,
            next,
            insn: guest.insn,
            slow: g.a.create_label(),
            used_slow: false,
        };
        let outcome = g.native(&mut here)?;
        match outcome {
            Native::No => {
                g.helper(index)?;
                native.push(false);
            }
            Native::Yes => native.push(true),
            Native::Ended => {
                native.push(true);
                ended = true;
            }
        }
        if here.used_slow {
            g.slow
                .push((here.slow, index, next, outcome == Native::Ended));
        }
        if ended {
            break;
        }
        // Every instruction falls through to the next here.
        let mut cont = g.a.create_label();
        g.a.set_label(&mut cont)?;
        g.resume.push(cont);
        if index + 1 == block.len() {
            g.end_at(next)?;
        }
    }
    g.finish(ip, native)
}

/// Whether an instruction was translated natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Native {
    /// Not translated: the helper runs it.
    No,
    /// Translated; falls through to the next instruction.
    Yes,
    /// Translated; it ends the block itself (a branch).
    Ended,
}

/// The instruction being translated.
struct Current {
    at: u64,
    next: u64,
    insn: Insn,
    /// Where its fast path gives up (the helper runs it instead).
    slow: CodeLabel,
    used_slow: bool,
}

struct Gen {
    a: CodeAssembler,
    env: Env,
    /// The common exit (eax = EXIT) and return.
    exit: CodeLabel,
    ret: CodeLabel,
    /// Slow paths: (label, instruction index, next address, ends block).
    slow: Vec<(CodeLabel, usize, u64, bool)>,
    /// Per instruction index, the label after it (where a slow path
    /// resumes).
    resume: Vec<CodeLabel>,
}

const PSW_CC_BYTE: usize = offset::PSW_MASK + 5;

fn gpr(r: u8) -> AsmMemoryOperand {
    qword_ptr(rbx + (offset::GPR + 8 * usize::from(r & 15)) as i32)
}

fn gpr32(r: u8) -> AsmMemoryOperand {
    dword_ptr(rbx + (offset::GPR + 8 * usize::from(r & 15)) as i32)
}

impl Gen {
    fn new(env: Env) -> Result<Self, IcedError> {
        let mut a = CodeAssembler::new(64)?;
        let exit = a.create_label();
        let ret = a.create_label();
        Ok(Self {
            a,
            env,
            exit,
            ret,
            slow: Vec::new(),
            resume: Vec::new(),
        })
    }

    fn prologue(&mut self) -> Result<(), IcedError> {
        let a = &mut self.a;
        for r in [rbx, rbp, r12, r13, r14, r15] {
            a.push(r)?;
        }
        a.sub(rsp, 8)?;
        a.mov(rbx, rdi)?;
        a.mov(rbp, rsi)?;
        a.mov(r12, qword_ptr(rbp + abi::CTX_TLB as i32))?;
        a.mov(r13, qword_ptr(rbp + abi::CTX_STORAGE as i32))?;
        a.mov(r14, qword_ptr(rbp + abi::CTX_STORAGE_LEN as i32))?;
        Ok(())
    }

    /// Calls the helper for instruction `index`; leaves the block if it
    /// says so.
    fn helper(&mut self, index: usize) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.mov(rdi, rbp)?;
        a.mov(esi, index as u32)?;
        a.call(qword_ptr(rbp + abi::CTX_HELPER as i32))?;
        a.test(eax, eax)?;
        a.jnz(self.exit)?;
        Ok(())
    }

    /// Sets the PSW address to `addr` and returns END.
    fn end_at(&mut self, addr: u64) -> Result<(), IcedError> {
        self.a.mov(rax, addr)?;
        self.end_rax()
    }

    /// Sets the PSW address to rax and returns END.
    fn end_rax(&mut self) -> Result<(), IcedError> {
        self.a.mov(qword_ptr(rbx + offset::PSW_ADDR as i32), rax)?;
        self.a.xor(eax, eax)?;
        self.a.jmp(self.ret)?;
        Ok(())
    }

    fn finish(mut self, ip: u64, native: Vec<bool>) -> Result<Translated, IcedError> {
        let slow = core::mem::take(&mut self.slow);
        for (mut label, index, next, ends) in slow {
            self.a.set_label(&mut label)?;
            self.helper(index)?;
            if ends {
                // A branch the helper ran returns EXIT; in case it did not,
                // continue sequentially.
                self.end_at(next)?;
            } else if let Some(&resume) = self.resume.get(index) {
                self.a.jmp(resume)?;
            } else {
                self.end_at(next)?;
            }
        }
        let a = &mut self.a;
        a.set_label(&mut self.exit)?;
        a.mov(eax, abi::EXIT as u32)?;
        a.set_label(&mut self.ret)?;
        a.add(rsp, 8)?;
        for r in [r15, r14, r13, r12, rbp, rbx] {
            a.pop(r)?;
        }
        a.ret()?;
        let code = a.assemble(ip)?;
        Ok(Translated { code, native })
    }

    /// Wraps the address in `r` to the addressing mode.
    fn wrap(&mut self, r: AsmRegister64) -> Result<(), IcedError> {
        let r32 = low32(r);
        match self.env.amode {
            AddressingMode::Bits64 => {}
            AddressingMode::Bits31 => self.a.and(r32, 0x7fff_ffff)?,
            AddressingMode::Bits24 => self.a.and(r32, 0x00ff_ffff)?,
        }
        Ok(())
    }

    /// rax = X + B + D, wrapped (register 0 reads as zero).
    fn ea(&mut self, x: u8, b: u8, d: i32) -> Result<(), IcedError> {
        let regs: Vec<u8> = [x, b].into_iter().filter(|&r| r != 0).collect();
        let a = &mut self.a;
        match regs.as_slice() {
            [] => a.mov(rax, i64::from(d))?,
            [r, rest @ ..] => {
                a.mov(rax, gpr(*r))?;
                for r in rest {
                    a.add(rax, gpr(*r))?;
                }
                if d != 0 {
                    a.add(rax, d)?;
                }
            }
        }
        self.wrap(rax)
    }

    /// The inline TLB probe for an `n`-byte access at the logical address
    /// in rax: on a hit rax holds the absolute address (the host byte is at
    /// r13 + rax); otherwise jumps to the instruction's slow path. Uses rcx
    /// and rdx.
    fn probe(&mut self, here: &mut Current, kind: AccessKind, n: u32) -> Result<(), IcedError> {
        let Some(partition) = self.env.partition else {
            unreachable!("native storage operands only with a partition")
        };
        here.used_slow = true;
        let slow = here.slow;
        let base = (partition * tlb::PARTITION_STRIDE) as i32;
        let a = &mut self.a;
        if n > 1 {
            a.mov(ecx, eax)?;
            a.and(ecx, 0xfff)?;
            a.cmp(ecx, (0x1000 - n) as i32)?;
            a.ja(slow)?;
        }
        a.mov(rdx, rax)?;
        a.shr(rdx, 7)?;
        a.and(edx, ((tlb::ENTRIES - 1) * tlb::ENTRY_SIZE) as i32)?;
        a.mov(rcx, rax)?;
        a.and(rcx, -4096)?;
        a.or(rcx, tlb::tag(0, self.env.key) as i32)?;
        a.cmp(
            rcx,
            qword_ptr(r12 + rdx + (base + tlb::TAG_OFFSET[kind as usize] as i32)),
        )?;
        a.jne(slow)?;
        a.add(
            rax,
            qword_ptr(r12 + rdx + (base + tlb::ADDEND_OFFSET as i32)),
        )?;
        a.lea(rcx, qword_ptr(rax + n as i32))?;
        a.cmp(rcx, r14)?;
        a.ja(slow)?;
        Ok(())
    }

    /// rsi = the big-endian `n`-byte value at r13 + rax, extended.
    fn load(&mut self, n: u32, ext: Ext) -> Result<(), IcedError> {
        let movbe = self.env.movbe;
        let a = &mut self.a;
        match n {
            8 => {
                if movbe {
                    a.movbe(rsi, qword_ptr(r13 + rax))?;
                } else {
                    a.mov(rsi, qword_ptr(r13 + rax))?;
                    a.bswap(rsi)?;
                }
            }
            4 => {
                if movbe {
                    a.movbe(esi, dword_ptr(r13 + rax))?;
                } else {
                    a.mov(esi, dword_ptr(r13 + rax))?;
                    a.bswap(esi)?;
                }
            }
            2 => {
                a.movzx(esi, word_ptr(r13 + rax))?;
                a.rol(si, 8)?;
            }
            _ => a.movzx(esi, byte_ptr(r13 + rax))?,
        }
        self.extend(ext)
    }

    /// Applies `ext` to rsi.
    fn extend(&mut self, ext: Ext) -> Result<(), IcedError> {
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

    /// Stores the low `n` bytes of rcx big-endian at r13 + rax.
    fn store(&mut self, n: u32) -> Result<(), IcedError> {
        let movbe = self.env.movbe;
        let a = &mut self.a;
        match n {
            8 => {
                if movbe {
                    a.movbe(qword_ptr(r13 + rax), rcx)?;
                } else {
                    a.bswap(rcx)?;
                    a.mov(qword_ptr(r13 + rax), rcx)?;
                }
            }
            4 => {
                if movbe {
                    a.movbe(dword_ptr(r13 + rax), ecx)?;
                } else {
                    a.bswap(ecx)?;
                    a.mov(dword_ptr(r13 + rax), ecx)?;
                }
            }
            2 => {
                a.rol(cx, 8)?;
                a.mov(word_ptr(r13 + rax), cx)?;
            }
            _ => a.mov(byte_ptr(r13 + rax), cl)?,
        }
        Ok(())
    }

    /// The condition code from dl (bit 0) and cl (bit 1) into the PSW.
    fn set_cc(&mut self) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.add(cl, cl)?;
        a.or(cl, dl)?;
        a.shl(cl, 4)?;
        a.and(byte_ptr(rbx + PSW_CC_BYTE as i32), 0xcf)?;
        a.or(byte_ptr(rbx + PSW_CC_BYTE as i32), cl)?;
        Ok(())
    }

    /// ecx = the current condition code.
    fn load_cc(&mut self) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.movzx(ecx, byte_ptr(rbx + PSW_CC_BYTE as i32))?;
        a.shr(ecx, 4)?;
        a.and(ecx, 3)?;
        Ok(())
    }

    /// Jumps to `taken` if the branch mask `m` (8 >> cc) selects the
    /// condition code in ecx. Uses edx.
    fn branch_on(&mut self, m: u8, taken: CodeLabel) -> Result<(), IcedError> {
        let mut table = 0u32;
        for cc in 0..4 {
            if m & (8 >> cc) != 0 {
                table |= 1 << cc;
            }
        }
        self.a.mov(edx, table)?;
        self.a.bt(edx, ecx)?;
        self.a.jc(taken)?;
        Ok(())
    }

    /// A conditional end: the condition code in ecx and the mask `m` choose
    /// between `target` and `next`.
    fn cond_end(&mut self, m: u8, target: u64, next: u64) -> Result<(), IcedError> {
        match m & 15 {
            0 => self.end_at(next),
            15 => self.end_at(target),
            m => {
                let mut taken = self.a.create_label();
                self.branch_on(m, taken)?;
                self.end_at(next)?;
                self.a.set_label(&mut taken)?;
                self.end_at(target)
            }
        }
    }

    fn rel(&self, here: &Current) -> u64 {
        self.env.amode.wrap(
            here.at
                .wrapping_add((here.insn.f.ri as u64).wrapping_mul(2)),
        )
    }

    /// The link information of BAS, BASR, BRAS, BRASL into R1.
    fn link(&mut self, r1: u8, next: u64) -> Result<(), IcedError> {
        match self.env.amode {
            AddressingMode::Bits64 => {
                self.a.mov(rdx, next)?;
                self.a.mov(gpr(r1), rdx)?;
            }
            AddressingMode::Bits31 => {
                self.a.mov(gpr32(r1), (next as u32 | 0x8000_0000) as i32)?;
            }
            AddressingMode::Bits24 => {
                self.a.mov(gpr32(r1), (next as u32 & 0x00ff_ffff) as i32)?;
            }
        }
        Ok(())
    }

    /// Stores rax into R1 as an address (LA, LARL): all 64 bits in the
    /// 64-bit mode, else bits 32-63 (rax is already wrapped).
    fn set_addr_reg(&mut self, r1: u8) -> Result<(), IcedError> {
        match self.env.amode {
            AddressingMode::Bits64 => self.a.mov(gpr(r1), rax)?,
            _ => self.a.mov(gpr32(r1), eax)?,
        }
        Ok(())
    }

    /// Emits `here` natively if it can.
    fn native(&mut self, here: &mut Current) -> Result<Native, IcedError> {
        use Opcode::*;
        let insn = here.insn;
        let f = insn.f;
        let format = insn.op.format();
        let mem_ok = self.env.partition.is_some();
        match insn.op.sem() {
            Sem::Alu(op, w, src) => {
                let shape_ok = match src {
                    Src::Reg(_) => matches!(format, Format::RR | Format::Rre),
                    Src::Imm(_) => matches!(format, Format::RiA | Format::RilA),
                    Src::Mem(_) => mem_ok && matches!(format, Format::RxA | Format::RxyA),
                };
                let op_ok = matches!(
                    op,
                    AluOp::Add
                        | AluOp::AddL
                        | AluOp::Sub
                        | AluOp::SubL
                        | AluOp::And
                        | AluOp::Or
                        | AluOp::Xor
                        | AluOp::Cmp
                        | AluOp::CmpL
                        | AluOp::Load
                        | AluOp::LoadTest
                );
                if !(shape_ok && op_ok) {
                    return Ok(Native::No);
                }
                self.alu(here, op, w, src)?;
                return Ok(Native::Yes);
            }
            Sem::Store(n) if mem_ok && matches!(format, Format::RxA | Format::RxyA) => {
                self.ea(f.x2, f.b2, f.d2)?;
                self.probe(here, AccessKind::Write, u32::from(n))?;
                self.a.mov(rcx, gpr(f.r1))?;
                self.store(u32::from(n))?;
                return Ok(Native::Yes);
            }
            Sem::Shift(op @ (ShiftOp::Sll | ShiftOp::Srl | ShiftOp::Sra), w)
                if matches!(format, Format::RsA | Format::RsyA) =>
            {
                let src = if format == Format::RsyA { f.r3 } else { f.r1 };
                self.ea(0, f.b2, f.d2)?;
                let a = &mut self.a;
                a.mov(ecx, eax)?;
                a.and(ecx, 63)?;
                match (op, w) {
                    (ShiftOp::Sra, Width::W32) => a.movsxd(rax, gpr32(src))?,
                    (_, Width::W32) => a.mov(eax, gpr32(src))?,
                    (_, Width::W64) => a.mov(rax, gpr(src))?,
                }
                match op {
                    ShiftOp::Sll => a.shl(rax, cl)?,
                    ShiftOp::Srl => a.shr(rax, cl)?,
                    _ => a.sar(rax, cl)?,
                }
                match w {
                    Width::W32 => a.mov(gpr32(f.r1), eax)?,
                    Width::W64 => a.mov(gpr(f.r1), rax)?,
                }
                if op == ShiftOp::Sra {
                    match w {
                        Width::W32 => a.test(eax, eax)?,
                        Width::W64 => a.test(rax, rax)?,
                    }
                    a.setl(dl)?;
                    a.setg(cl)?;
                    self.set_cc()?;
                }
                return Ok(Native::Yes);
            }
            Sem::Field(op @ (FieldOp::LoadLogical | FieldOp::Insert), shift, bits) => {
                let mask = (u64::MAX >> (64 - u32::from(bits))) << shift;
                let imm = (u64::from(f.i2) << shift) & mask;
                let a = &mut self.a;
                if op == FieldOp::LoadLogical {
                    a.mov(rax, imm)?;
                } else {
                    a.mov(rax, gpr(f.r1))?;
                    a.mov(rcx, !mask)?;
                    a.and(rax, rcx)?;
                    a.mov(rcx, imm)?;
                    a.or(rax, rcx)?;
                }
                a.mov(gpr(f.r1), rax)?;
                return Ok(Native::Yes);
            }
            _ => {}
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
            BRC | BRCL => {
                let target = self.rel(here);
                if !matches!(f.m1, 0 | 15) {
                    self.load_cc()?;
                }
                self.cond_end(f.m1, target, here.next)?;
                Ok(Native::Ended)
            }
            BCR | BC => {
                if (insn.op == BCR && f.r2 == 0) || f.m1 == 0 {
                    self.end_at(here.next)?;
                    return Ok(Native::Ended);
                }
                if insn.op == BCR {
                    self.a.mov(rax, gpr(f.r2))?;
                    self.wrap(rax)?;
                } else {
                    self.ea(f.x2, f.b2, f.d2)?;
                }
                if f.m1 == 15 {
                    self.end_rax()?;
                } else {
                    let mut taken = self.a.create_label();
                    self.load_cc()?;
                    self.branch_on(f.m1, taken)?;
                    self.end_at(here.next)?;
                    self.a.set_label(&mut taken)?;
                    self.end_rax()?;
                }
                Ok(Native::Ended)
            }
            BRCT | BRCTG => {
                let target = self.rel(here);
                let mut taken = self.a.create_label();
                if insn.op == BRCT {
                    self.a.sub(gpr32(f.r1), 1)?;
                } else {
                    self.a.sub(gpr(f.r1), 1)?;
                }
                self.a.jnz(taken)?;
                self.end_at(here.next)?;
                self.a.set_label(&mut taken)?;
                self.end_at(target)?;
                Ok(Native::Ended)
            }
            BRAS | BRASL => {
                let target = self.rel(here);
                self.link(f.r1, here.next)?;
                self.end_at(target)?;
                Ok(Native::Ended)
            }
            BASR => {
                if f.r2 != 0 {
                    self.a.mov(rax, gpr(f.r2))?;
                    self.wrap(rax)?;
                }
                self.link(f.r1, here.next)?;
                if f.r2 != 0 {
                    self.end_rax()?;
                } else {
                    self.end_at(here.next)?;
                }
                Ok(Native::Ended)
            }
            CRJ | CGRJ | CLRJ | CLGRJ | CIJ | CGIJ | CLIJ | CLGIJ => {
                let wide = matches!(insn.op, CGRJ | CLGRJ | CGIJ | CLGIJ);
                let logical = matches!(insn.op, CLRJ | CLGRJ | CLIJ | CLGIJ);
                let reg = matches!(insn.op, CRJ | CGRJ | CLRJ | CLGRJ);
                let imm = if logical {
                    i32::from(f.i2 as u8)
                } else {
                    i32::from(f.i2 as u8 as i8)
                };
                let target = self.rel(here);
                let a = &mut self.a;
                match (wide, reg) {
                    (true, true) => {
                        a.mov(rax, gpr(f.r1))?;
                        a.cmp(rax, gpr(f.r2))?;
                    }
                    (true, false) => {
                        a.mov(rax, gpr(f.r1))?;
                        a.cmp(rax, imm)?;
                    }
                    (false, true) => {
                        a.mov(eax, gpr32(f.r1))?;
                        a.cmp(eax, gpr32(f.r2))?;
                    }
                    (false, false) => {
                        a.mov(eax, gpr32(f.r1))?;
                        a.cmp(eax, imm)?;
                    }
                }
                if logical {
                    a.setb(dl)?;
                    a.seta(cl)?;
                } else {
                    a.setl(dl)?;
                    a.setg(cl)?;
                }
                a.add(cl, cl)?;
                a.or(cl, dl)?;
                a.movzx(ecx, cl)?;
                self.cond_end(f.m3, target, here.next)?;
                Ok(Native::Ended)
            }
            _ => Ok(Native::No),
        }
    }

    /// The ALU shapes: b in rsi, a and the result in rax.
    fn alu(&mut self, here: &mut Current, op: AluOp, w: Width, src: Src) -> Result<(), IcedError> {
        let f = here.insn.f;
        match src {
            Src::Reg(ext) => {
                self.a.mov(rsi, gpr(f.r2))?;
                self.extend(ext)?;
            }
            Src::Imm(ext) => {
                let value = ext.apply(u64::from(f.i2));
                self.a.mov(rsi, value)?;
            }
            Src::Mem(ext) => {
                self.ea(f.x2, f.b2, f.d2)?;
                let n = ext.bytes(w) as u32;
                self.probe(here, AccessKind::Read, n)?;
                self.load(n, ext)?;
            }
        }
        let wide = w == Width::W64;
        let (ra, rb) = (rax, rsi);
        let a = &mut self.a;
        if wide {
            a.mov(ra, gpr(f.r1))?;
        } else {
            a.mov(eax, gpr32(f.r1))?;
        }
        macro_rules! op2 {
            ($m:ident) => {
                if wide {
                    a.$m(ra, rb)?
                } else {
                    a.$m(eax, esi)?
                }
            };
        }
        let mut writes = true;
        match op {
            AluOp::Load => {
                a.mov(rax, rsi)?;
                if !wide {
                    a.mov(eax, eax)?;
                }
            }
            AluOp::LoadTest => {
                a.mov(rax, rsi)?;
                op2!(test);
                a.setl(dl)?;
                a.setg(cl)?;
            }
            AluOp::Add | AluOp::Sub => {
                if op == AluOp::Add {
                    op2!(add);
                } else {
                    op2!(sub);
                }
                here.used_slow = true;
                a.jo(here.slow)?;
                a.setl(dl)?;
                a.setg(cl)?;
            }
            AluOp::AddL => {
                op2!(add);
                a.setnz(dl)?;
                a.setc(cl)?;
            }
            AluOp::SubL => {
                op2!(sub);
                a.setnz(dl)?;
                a.setnc(cl)?;
            }
            AluOp::And | AluOp::Or | AluOp::Xor => {
                match op {
                    AluOp::And => op2!(and),
                    AluOp::Or => op2!(or),
                    _ => op2!(xor),
                }
                a.setnz(dl)?;
                a.xor(ecx, ecx)?;
            }
            AluOp::Cmp | AluOp::CmpL => {
                writes = false;
                op2!(cmp);
                if op == AluOp::Cmp {
                    a.setl(dl)?;
                    a.setg(cl)?;
                } else {
                    a.setb(dl)?;
                    a.seta(cl)?;
                }
            }
            _ => unreachable!("filtered by the caller"),
        }
        if writes {
            if wide {
                a.mov(gpr(f.r1), rax)?;
            } else {
                a.mov(gpr32(f.r1), eax)?;
            }
        }
        if op != AluOp::Load {
            self.set_cc()?;
        }
        Ok(())
    }
}

/// The low 32 bits of a 64-bit register.
fn low32(r: AsmRegister64) -> AsmRegister32 {
    if r == rax {
        eax
    } else if r == rcx {
        ecx
    } else if r == rdx {
        edx
    } else {
        esi
    }
}
