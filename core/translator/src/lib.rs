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
//!
//! ```
//! use zmmu_mmu::addr::AddressingMode;
//! use zmmu_translator::{decode_block, stubs, translate, Env};
//!
//! // agr %r1,%r2 ; lg %r3,8(%r1) ; brc 15,.-10 ; the block ends at the branch.
//! let code = [0xb9, 0x08, 0x00, 0x12, 0xe3, 0x30, 0x10, 0x08, 0x00, 0x04, 0xa7, 0xf4, 0xff, 0xfb];
//! let block = decode_block(&code, 0x2_0000, AddressingMode::Bits64, 64);
//! assert_eq!(block.len(), 3);
//! let env = Env { amode: AddressingMode::Bits64, key: 0, partition: Some(0), movbe: false };
//! // The shared stubs and the block, for code placed at host address 0x1000.
//! let (shared, stubs) = stubs(0x1000).unwrap();
//! let ip = 0x1000 + shared.len() as u64;
//! let translated = translate(&block, &env, ip, 0, &stubs).unwrap();
//! assert_eq!(translated.native, [true, true, true]);
//! assert!(!translated.code.is_empty());
//! ```

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

// The inline probe computes `slot * ENTRY_SIZE` as `(a >> 7) & mask`.
const _: () = assert!(tlb::ENTRY_SIZE == 32 && zmmu_mmu::PAGE_SHIFT == 12);

/// The most instructions one block holds.
pub const MAX_BLOCK: usize = 64;

/// The contract between generated code and the code that runs it.
///
/// Rust enters translated code through the trampoline of [`stubs`]:
/// `extern "sysv64" fn(cpu: *mut Cpu, ctx: *mut Ctx, block: *const u8) ->
/// u64`. It saves the callee-saved registers, loads `rbx` = CPU, `rbp` =
/// context, `r12` = TLB entries, `r13` = storage, `r14` = storage size,
/// `r15` = the instruction budget, and jumps to the block. A block starts
/// by taking its length from the budget (or returning [`abi::END`] if it
/// does not fit), runs, stores the next PSW address and its own number in
/// [`abi::CTX_LAST_BLOCK`], and goes to the dispatcher, which looks the
/// address up in the jump cache ([`abi::JUMP_ENTRIES`] entries at
/// [`abi::CTX_JUMP`]) and jumps straight to the next block, or returns
/// [`abi::END`] on a miss. [`abi::EXIT`] is returned when the helper asked
/// to leave after the instruction it ran. The budget left is stored back
/// at [`abi::CTX_BUDGET`].
///
/// The helper is `extern "sysv64" fn(ctx: *mut Ctx, which: u64) -> u64`,
/// `which` = block number << 8 | instruction index; it runs that
/// instruction as `Cpu::step` would and returns 0 to continue the block, 1
/// to leave.
pub mod abi {
    /// The helper's address.
    pub const CTX_HELPER: usize = 0;
    /// The software TLB's entries ([`zmmu_mmu::tlb::Tlb::entries_ptr`]).
    pub const CTX_TLB: usize = 8;
    /// The host address of absolute storage byte 0.
    pub const CTX_STORAGE: usize = 16;
    /// The storage size in bytes.
    pub const CTX_STORAGE_LEN: usize = 24;
    /// The instruction budget (in on entry, what is left on return).
    pub const CTX_BUDGET: usize = 32;
    /// The jump cache.
    pub const CTX_JUMP: usize = 40;
    /// The generation of valid jump-cache entries (a `u32`).
    pub const CTX_GENERATION: usize = 48;
    /// The PSW bits the running blocks were translated for.
    pub const CTX_BITS: usize = 56;
    /// The number of the last block that ran to its end (a `u32`).
    pub const CTX_LAST_BLOCK: usize = 64;
    /// The TLB-fill helper: `extern "sysv64" fn(ctx, logical address,
    /// access kind | length << 8) -> u64`: [`FILL_RETRY`] when the probe
    /// now hits, [`FILL_ABSOLUTE`] when the access may go to the absolute
    /// address at [`CTX_FILL_ABSOLUTE`] (a store into a frame that holds
    /// translated code, but not into its code bytes), [`FILL_INTERPRET`]
    /// when the interpreter must run the instruction.
    pub const CTX_FILL: usize = 72;
    /// Where the fill helper leaves an absolute address.
    pub const CTX_FILL_ABSOLUTE: usize = 80;
    /// See [`CTX_FILL`].
    pub const FILL_RETRY: u64 = 0;
    /// See [`CTX_FILL`].
    pub const FILL_ABSOLUTE: u64 = 1;
    /// See [`CTX_FILL`].
    pub const FILL_INTERPRET: u64 = 2;
    /// Jump-cache entries (a power of two).
    pub const JUMP_ENTRIES: usize = 4096;
    /// The size of a jump-cache entry: PSW address (`u64`), PSW bits
    /// (`u64`), host code address (`u64`), generation (`u32`), block
    /// number (`u32`).
    pub const JUMP_SIZE: usize = 32;
    /// Offset of the PSW address in a jump-cache entry.
    pub const JUMP_ADDR: usize = 0;
    /// Offset of the PSW bits in a jump-cache entry.
    pub const JUMP_BITS: usize = 8;
    /// Offset of the host code address in a jump-cache entry.
    pub const JUMP_CODE: usize = 16;
    /// Offset of the generation in a jump-cache entry.
    pub const JUMP_GENERATION: usize = 24;
    /// The jump-cache slot of a PSW address.
    pub const fn jump_slot(addr: u64) -> usize {
        ((addr >> 1) ^ (addr >> 13)) as usize & (JUMP_ENTRIES - 1)
    }
    /// The block ran to its end (or the budget or the jump cache ended the
    /// chain); the PSW address is the next instruction's.
    pub const END: u64 = 0;
    /// The helper ended the block.
    pub const EXIT: u64 = 1;
}

/// The shared code every block uses, at fixed host addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stubs {
    /// Offset of the trampoline Rust calls, from the start of the stubs.
    pub enter: usize,
    /// Host address of the dispatcher (rax = the PSW address, stored).
    pub dispatch: u64,
    /// Host address of the return path (eax = the status).
    pub ret: u64,
}

/// Emits the shared stubs for host address `ip`: their code and where each
/// is.
pub fn stubs(ip: u64) -> Result<(Vec<u8>, Stubs), IcedError> {
    let align = |n: usize| n.div_ceil(16) * 16;
    // The return path.
    let mut a = CodeAssembler::new(64)?;
    a.mov(qword_ptr(rbp + abi::CTX_BUDGET as i32), r15)?;
    a.add(rsp, 8)?;
    for r in [r15, r14, r13, r12, rbp, rbx] {
        a.pop(r)?;
    }
    a.ret()?;
    let ret_code = a.assemble(ip)?;
    let ret = ip;
    // The dispatcher.
    let dispatch = ip + align(ret_code.len()) as u64;
    let mut a = CodeAssembler::new(64)?;
    let mut miss = a.create_label();
    a.mov(rcx, rax)?;
    a.shr(rcx, 1)?;
    a.mov(rdx, rax)?;
    a.shr(rdx, 13)?;
    a.xor(rcx, rdx)?;
    a.and(ecx, (abi::JUMP_ENTRIES - 1) as i32)?;
    a.shl(ecx, abi::JUMP_SIZE.trailing_zeros())?;
    a.add(rcx, qword_ptr(rbp + abi::CTX_JUMP as i32))?;
    a.cmp(rax, qword_ptr(rcx + abi::JUMP_ADDR as i32))?;
    a.jne(miss)?;
    a.mov(rdx, qword_ptr(rbp + abi::CTX_BITS as i32))?;
    a.cmp(rdx, qword_ptr(rcx + abi::JUMP_BITS as i32))?;
    a.jne(miss)?;
    a.mov(edx, dword_ptr(rbp + abi::CTX_GENERATION as i32))?;
    a.cmp(edx, dword_ptr(rcx + abi::JUMP_GENERATION as i32))?;
    a.jne(miss)?;
    a.jmp(qword_ptr(rcx + abi::JUMP_CODE as i32))?;
    a.set_label(&mut miss)?;
    a.mov(eax, abi::END as u32)?;
    a.jmp(ret)?;
    let dispatch_code = a.assemble(dispatch)?;
    // The trampoline.
    let enter_at = dispatch + align(dispatch_code.len()) as u64;
    let mut a = CodeAssembler::new(64)?;
    for r in [rbx, rbp, r12, r13, r14, r15] {
        a.push(r)?;
    }
    a.sub(rsp, 8)?;
    a.mov(rbx, rdi)?;
    a.mov(rbp, rsi)?;
    a.mov(r12, qword_ptr(rbp + abi::CTX_TLB as i32))?;
    a.mov(r13, qword_ptr(rbp + abi::CTX_STORAGE as i32))?;
    a.mov(r14, qword_ptr(rbp + abi::CTX_STORAGE_LEN as i32))?;
    a.mov(r15, qword_ptr(rbp + abi::CTX_BUDGET as i32))?;
    a.jmp(rdx)?;
    let enter_code = a.assemble(enter_at)?;
    let mut code = ret_code;
    code.resize(align(code.len()), 0xcc);
    code.extend_from_slice(&dispatch_code);
    code.resize(align(code.len()), 0xcc);
    let enter = code.len();
    code.extend_from_slice(&enter_code);
    Ok((
        code,
        Stubs {
            enter,
            dispatch,
            ret,
        },
    ))
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

/// Translates `block` (non-empty), block number `id`, to code that runs at
/// host address `ip` with the shared `stubs`.
pub fn translate(
    block: &[Guest],
    env: &Env,
    ip: u64,
    id: u32,
    stubs: &Stubs,
) -> Result<Translated, IcedError> {
    let mut g = Gen::new(*env, id, *stubs)?;
    g.budget(block.len())?;
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
                if guest.insn.op.ends_block() {
                    // The helper always leaves after a block end.
                    g.a.jmp(g.exit)?;
                    break;
                }
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
    id: u32,
    stubs: Stubs,
    /// The common exit (eax = EXIT).
    exit: CodeLabel,
    /// Out of budget at the block's start (eax = END).
    out: CodeLabel,
    /// Slow paths: (label, instruction index, next address, ends block).
    slow: Vec<(CodeLabel, usize, u64, bool)>,
    /// TLB misses: (label, probe to retry, slow path, access kind).
    fills: Vec<(CodeLabel, CodeLabel, CodeLabel, CodeLabel, AccessKind, u32)>,
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
    fn new(env: Env, id: u32, stubs: Stubs) -> Result<Self, IcedError> {
        let mut a = CodeAssembler::new(64)?;
        let exit = a.create_label();
        let out = a.create_label();
        Ok(Self {
            a,
            env,
            id,
            stubs,
            exit,
            out,
            slow: Vec::new(),
            fills: Vec::new(),
            resume: Vec::new(),
        })
    }

    /// Takes the block's length from the budget, or returns if it does not
    /// fit.
    fn budget(&mut self, len: usize) -> Result<(), IcedError> {
        self.a.cmp(r15, len as i32)?;
        self.a.jb(self.out)?;
        self.a.sub(r15, len as i32)?;
        Ok(())
    }

    /// Calls the helper for instruction `index`; leaves the block if it
    /// says so.
    fn helper(&mut self, index: usize) -> Result<(), IcedError> {
        let a = &mut self.a;
        a.mov(rdi, rbp)?;
        a.mov(esi, self.id << 8 | index as u32)?;
        a.call(qword_ptr(rbp + abi::CTX_HELPER as i32))?;
        a.test(eax, eax)?;
        a.jnz(self.exit)?;
        Ok(())
    }

    /// Sets the PSW address to `addr` and goes to the next block.
    fn end_at(&mut self, addr: u64) -> Result<(), IcedError> {
        self.a.mov(rax, addr)?;
        self.end_rax()
    }

    /// Sets the PSW address to rax and goes to the next block.
    fn end_rax(&mut self) -> Result<(), IcedError> {
        self.a.mov(qword_ptr(rbx + offset::PSW_ADDR as i32), rax)?;
        self.a
            .mov(dword_ptr(rbp + abi::CTX_LAST_BLOCK as i32), self.id)?;
        self.a.jmp(self.stubs.dispatch)?;
        Ok(())
    }

    fn finish(mut self, ip: u64, native: Vec<bool>) -> Result<Translated, IcedError> {
        let fills = core::mem::take(&mut self.fills);
        for (mut label, retry, hit, slow, kind, n) in fills {
            // A TLB miss: the fill helper translates the access as the
            // interpreter would (walk, keys, R/C) and says whether the
            // probe now hits; if not (an exception to raise, a page that
            // is never cached), the interpreter runs the instruction.
            let a = &mut self.a;
            a.set_label(&mut label)?;
            a.mov(qword_ptr(rsp), rax)?;
            a.mov(rdi, rbp)?;
            a.mov(rsi, rax)?;
            a.mov(edx, kind as u32 | n << 8)?;
            a.call(qword_ptr(rbp + abi::CTX_FILL as i32))?;
            a.cmp(eax, abi::FILL_ABSOLUTE as i32)?;
            a.mov(rax, qword_ptr(rsp))?;
            a.jb(retry)?;
            a.ja(slow)?;
            a.mov(rax, qword_ptr(rbp + abi::CTX_FILL_ABSOLUTE as i32))?;
            a.jmp(hit)?;
        }
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
        a.jmp(self.stubs.ret)?;
        a.set_label(&mut self.out)?;
        a.mov(eax, abi::END as u32)?;
        a.jmp(self.stubs.ret)?;
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
        let mut retry = self.a.create_label();
        let fill = self.a.create_label();
        let mut hit = self.a.create_label();
        self.fills.push((fill, retry, hit, slow, kind, n));
        let a = &mut self.a;
        a.set_label(&mut retry)?;
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
        a.jne(fill)?;
        a.add(
            rax,
            qword_ptr(r12 + rdx + (base + tlb::ADDEND_OFFSET as i32)),
        )?;
        a.lea(rcx, qword_ptr(rax + n as i32))?;
        a.cmp(rcx, r14)?;
        a.ja(slow)?;
        // Where a fill that gives the absolute address itself resumes.
        a.nop()?;
        a.set_label(&mut hit)?;
        a.nop()?;
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
                let op_ok = matches!(
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
                        | AluOp::Load
                        | AluOp::LoadTest
                );
                if !(shape_ok && op_ok) {
                    return Ok(Native::No);
                }
                self.alu(here, op, w, src)?;
                return Ok(Native::Yes);
            }
            Sem::MemImm(op, w, mem, imm)
                if mem_ok
                    && matches!(
                        op,
                        AluOp::Load
                            | AluOp::Cmp
                            | AluOp::CmpL
                            | AluOp::And
                            | AluOp::Or
                            | AluOp::Xor
                            | AluOp::Add
                            | AluOp::AddL
                    ) =>
            {
                self.mem_imm(here, op, w, mem, imm)?;
                return Ok(Native::Yes);
            }
            Sem::Store(n)
                if mem_ok
                    && format == Format::RilB
                    && (n < 4 || self.rel(here) % u64::from(n) == 0) =>
            {
                let target = self.rel(here);
                self.a.mov(rax, target)?;
                self.probe(here, AccessKind::Write, u32::from(n))?;
                self.a.mov(rcx, gpr(f.r1))?;
                self.store(u32::from(n))?;
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
            Sem::Field(op, shift, bits) => {
                let mask = (u64::MAX >> (64 - u32::from(bits))) << shift;
                let imm = (u64::from(f.i2) << shift) & mask;
                let a = &mut self.a;
                match op {
                    FieldOp::LoadLogical => {
                        a.mov(rax, imm)?;
                        a.mov(gpr(f.r1), rax)?;
                    }
                    FieldOp::Insert => {
                        a.mov(rax, gpr(f.r1))?;
                        a.mov(rcx, !mask)?;
                        a.and(rax, rcx)?;
                        a.mov(rcx, imm)?;
                        a.or(rax, rcx)?;
                        a.mov(gpr(f.r1), rax)?;
                    }
                    FieldOp::And | FieldOp::Or | FieldOp::Xor => {
                        a.mov(rax, gpr(f.r1))?;
                        match op {
                            FieldOp::And => {
                                a.mov(rcx, imm | !mask)?;
                                a.and(rax, rcx)?;
                            }
                            FieldOp::Or => {
                                a.mov(rcx, imm)?;
                                a.or(rax, rcx)?;
                            }
                            _ => {
                                a.mov(rcx, imm)?;
                                a.xor(rax, rcx)?;
                            }
                        }
                        a.mov(gpr(f.r1), rax)?;
                        a.mov(rcx, mask)?;
                        a.test(rax, rcx)?;
                        a.setnz(dl)?;
                        a.xor(ecx, ecx)?;
                        self.set_cc()?;
                    }
                    FieldOp::Test => {
                        // cc 0: selected bits zero (or no bits selected);
                        // 3: all ones; else 1 or 2 by the leftmost selected
                        // bit (PoP TEST UNDER MASK).
                        let mut done = a.create_label();
                        a.mov(rax, gpr(f.r1))?;
                        a.mov(rcx, imm)?;
                        a.and(rax, rcx)?;
                        a.mov(edx, 0)?;
                        a.jz(done)?;
                        a.mov(edx, 3)?;
                        a.cmp(rax, rcx)?;
                        a.je(done)?;
                        if imm != 0 {
                            let leftmost = 63 - imm.leading_zeros();
                            a.bt(rax, leftmost)?;
                            a.mov(edx, 1)?;
                            a.adc(edx, 0)?;
                        }
                        a.set_label(&mut done)?;
                        a.mov(ecx, edx)?;
                        a.shl(cl, 4)?;
                        a.and(byte_ptr(rbx + PSW_CC_BYTE as i32), 0xcf)?;
                        a.or(byte_ptr(rbx + PSW_CC_BYTE as i32), cl)?;
                    }
                }
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
                        let mut table = 0u32;
                        for cc in 0..4 {
                            if m & (8 >> cc) != 0 {
                                table |= 1 << cc;
                            }
                        }
                        self.load_cc()?;
                        self.a.mov(edx, table)?;
                        self.a.bt(edx, ecx)?;
                        self.a.jnc(skip)?;
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
                let fpr = if insn.op == LDGR { f.r1 } else { f.r2 };
                if !matches!(fpr & 15, 0 | 2 | 4 | 6) {
                    // The AFP-register control (CR0 bit 45) must be one.
                    here.used_slow = true;
                    let bit = 63 - 45;
                    let at = (offset::CR + bit / 8) as i32;
                    self.a.test(byte_ptr(rbx + at), 1 << (bit % 8))?;
                    self.a.jz(here.slow)?;
                }
                let fpr_at = (offset::FPR + offset::FPR_STRIDE * usize::from(fpr & 15)) as i32;
                if insn.op == LDGR {
                    self.a.mov(rax, gpr(f.r2))?;
                    self.a.mov(qword_ptr(rbx + fpr_at), rax)?;
                } else {
                    self.a.mov(rax, qword_ptr(rbx + fpr_at))?;
                    self.a.mov(gpr(f.r1), rax)?;
                }
                Ok(Native::Yes)
            }
            DLGR | DSGR if f.r1 & 1 == 0 => {
                // Divide exceptions (a zero divisor, a quotient too large)
                // go to the interpreter before x86 would trap.
                here.used_slow = true;
                let slow = here.slow;
                let a = &mut self.a;
                a.mov(rsi, gpr(f.r2))?;
                a.test(rsi, rsi)?;
                a.jz(slow)?;
                a.mov(rax, gpr(f.r1 | 1))?;
                if insn.op == DLGR {
                    a.mov(rdx, gpr(f.r1))?;
                    a.cmp(rdx, rsi)?;
                    a.jae(slow)?;
                    a.div(rsi)?;
                } else {
                    a.cmp(rsi, -1)?;
                    a.je(slow)?;
                    a.cqo()?;
                    a.idiv(rsi)?;
                }
                a.mov(gpr(f.r1), rdx)?;
                a.mov(gpr(f.r1 | 1), rax)?;
                Ok(Native::Yes)
            }
            IC | ICY if mem_ok => {
                self.ea(f.x2, f.b2, f.d2)?;
                self.probe(here, AccessKind::Read, 1)?;
                self.a.movzx(esi, byte_ptr(r13 + rax))?;
                self.a.mov(
                    byte_ptr(rbx + (offset::GPR + 8 * usize::from(f.r1 & 15)) as i32),
                    sil,
                )?;
                Ok(Native::Yes)
            }
            _ => Ok(Native::No),
        }
    }

    /// RISBG, RISBGN, RNSBG, ROSBG, RXSBG: R2 rotated left by I5, then the
    /// bits I3..I4 (wrapping) inserted into R1, or combined with it.
    fn rotate_then(
        &mut self,
        op: Opcode,
        r1: u8,
        r2: u8,
        i3: u8,
        i4: u8,
        i5: u8,
    ) -> Result<(), IcedError> {
        let (start, end) = (u32::from(i3 & 63), u32::from(i4 & 63));
        let mask = if start <= end {
            (u64::MAX >> start) & (u64::MAX << (63 - end))
        } else {
            (u64::MAX >> start) | (u64::MAX << (63 - end))
        };
        let a = &mut self.a;
        a.mov(rax, gpr(r2))?;
        if i5 & 63 != 0 {
            a.rol(rax, u32::from(i5 & 63))?;
        }
        a.mov(rcx, mask)?;
        a.mov(rdx, gpr(r1))?;
        match op {
            Opcode::RISBG | Opcode::RISBGN => {
                a.and(rax, rcx)?;
                if i4 & 0x80 == 0 {
                    a.not(rcx)?;
                    a.and(rdx, rcx)?;
                    a.or(rax, rdx)?;
                }
                a.mov(gpr(r1), rax)?;
                if op == Opcode::RISBG {
                    a.test(rax, rax)?;
                    a.setl(dl)?;
                    a.setg(cl)?;
                    self.set_cc()?;
                }
            }
            _ => {
                match op {
                    Opcode::RNSBG => a.and(rax, rdx)?,
                    Opcode::ROSBG => a.or(rax, rdx)?,
                    _ => a.xor(rax, rdx)?,
                }
                a.and(rax, rcx)?;
                a.setnz(sil)?;
                if i3 & 0x80 == 0 {
                    a.not(rcx)?;
                    a.and(rdx, rcx)?;
                    a.or(rax, rdx)?;
                    a.mov(gpr(r1), rax)?;
                }
                a.mov(dl, sil)?;
                a.mov(ecx, 0)?;
                self.set_cc()?;
            }
        }
        Ok(())
    }

    /// The ALU shapes: b in rsi, a and the result in rax (the first
    /// operand is R1, R2 for RRF-a, R3 for RIE-d; the result goes to R1).
    fn alu(&mut self, here: &mut Current, op: AluOp, w: Width, src: Src) -> Result<(), IcedError> {
        let f = here.insn.f;
        let format = here.insn.op.format();
        let first = match format {
            Format::RrfA => f.r2,
            Format::RieD => f.r3,
            _ => f.r1,
        };
        match src {
            Src::Reg(ext) => {
                let r = if format == Format::RrfA { f.r3 } else { f.r2 };
                self.a.mov(rsi, gpr(r))?;
                self.extend(ext)?;
            }
            Src::Imm(ext) => {
                let value = ext.apply(u64::from(f.i2));
                self.a.mov(rsi, value)?;
            }
            Src::Mem(ext) => {
                if format == Format::RilB {
                    let target = self.rel(here);
                    self.a.mov(rax, target)?;
                } else {
                    self.ea(f.x2, f.b2, f.d2)?;
                }
                let n = ext.bytes(w) as u32;
                self.probe(here, AccessKind::Read, n)?;
                self.load(n, ext)?;
            }
        }
        if matches!(op, AluOp::AddLC | AluOp::SubLB) {
            self.load_cc()?;
        }
        let wide = w == Width::W64;
        let a = &mut self.a;
        if wide {
            a.mov(rax, gpr(first))?;
        } else {
            a.mov(eax, gpr32(first))?;
        }
        macro_rules! op2 {
            ($m:ident) => {
                if wide {
                    a.$m(rax, rsi)?
                } else {
                    a.$m(eax, esi)?
                }
            };
        }
        let mut writes = true;
        let mut sets_cc = true;
        match op {
            AluOp::Load => {
                sets_cc = false;
                a.mov(rax, rsi)?;
                if !wide {
                    a.mov(eax, eax)?;
                }
            }
            AluOp::Mul => {
                sets_cc = false;
                if wide {
                    a.imul_2(rax, rsi)?;
                } else {
                    a.imul_2(eax, esi)?;
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
            AluOp::AddL | AluOp::AddLC => {
                if op == AluOp::AddLC {
                    // The carry in is cc bit 1 (cc 2 or 3).
                    a.bt(ecx, 1)?;
                    op2!(adc);
                } else {
                    op2!(add);
                }
                a.setnz(dl)?;
                a.setc(cl)?;
            }
            AluOp::SubL | AluOp::SubLB => {
                if op == AluOp::SubLB {
                    // A borrow in is cc bit 1 clear (cc 0 or 1).
                    a.bt(ecx, 1)?;
                    a.cmc()?;
                    op2!(sbb);
                } else {
                    op2!(sub);
                }
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
                a.mov(ecx, 0)?;
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
        if sets_cc {
            self.set_cc()?;
        }
        Ok(())
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
        self.probe(here, kind, n)?;
        if op == AluOp::Load {
            self.a.mov(rcx, b)?;
            return self.store(n);
        }
        self.load(n, mem)?;
        let wide = w == Width::W64;
        let a = &mut self.a;
        a.mov(rdi, b)?;
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
                if op == AluOp::Cmp {
                    a.setl(dl)?;
                    a.setg(cl)?;
                } else {
                    a.setb(dl)?;
                    a.seta(cl)?;
                }
                return self.set_cc();
            }
            AluOp::Add => {
                op2!(add);
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
        a.mov(r8d, ecx)?;
        a.mov(rcx, rsi)?;
        self.store(n)?;
        self.a.mov(ecx, r8d)?;
        self.set_cc()
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
