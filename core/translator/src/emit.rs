//! Emission of one block: the per-block generator, the instruction loop,
//! the helper calls and slow paths, and the operand addressing every
//! instruction class shares.

use alloc::vec::Vec;

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, IcedError};
use zmmu_cpu::decode::Insn;
use zmmu_cpu::state::offset;
use zmmu_mmu::addr::AddressingMode;

use crate::block::Guest;
use crate::encode::Assembler;
use crate::fill::Fill;
use crate::stubs::Stubs;
use crate::{abi, Env};

/// The code of one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translated {
    /// x86-64 machine code, valid at the address given to [`translate`].
    pub code: Vec<u8>,
    /// Per instruction: translated natively (else always the helper).
    pub native: Vec<bool>,
    /// Per instruction translated (in order): where its inline code
    /// starts and its slow path, so that a runner that lets guest accesses
    /// fault ([`MemoryAccess::HostMmu`](crate::MemoryAccess::HostMmu)) can
    /// send the faulting instruction to the interpreter: every native
    /// access comes before the instruction changes any architected state.
    pub sites: Vec<Site>,
    /// Where the inline code ends (out-of-line paths follow).
    pub inline_end: u64,
    /// The guest addresses of the `links` the code jumps to directly: it
    /// must be dropped when one of those blocks is.
    pub chained: Vec<u64>,
}

/// Where one guest instruction's code lies in a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    /// The host address of its first byte of inline code.
    pub start: u64,
    /// The host address of its slow path (the helper runs it), if it has
    /// one.
    pub slow: Option<u64>,
}

/// Translates `block` (non-empty), block number `id`, to code that runs at
/// host address `ip` with the shared `stubs`. `links`: (guest address,
/// host code address) of blocks already translated that this one may jump
/// to directly instead of through the dispatcher (the caller keeps them
/// valid while this block is, see [`Translated::chained`]). A runner that
/// translates many blocks keeps a [`Translator`] instead, which reuses
/// its allocations.
pub fn translate(
    block: &[Guest],
    env: &Env,
    ip: u64,
    id: u32,
    stubs: &Stubs,
    links: &[(u64, u64)],
) -> Result<Translated, IcedError> {
    Translator::new()?.translate(block, env, ip, id, stubs, links)
}

/// An assembler whose branches are all emitted near: the encoder shortens
/// those that fit.
fn near_assembler() -> Result<CodeAssembler, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    a.set_prefer_short_branch(false);
    Ok(a)
}

/// What translation keeps from one block to the next: the instruction
/// list, the encoder and its tables (their allocations).
pub struct Translator {
    a: CodeAssembler,
    encoder: Assembler,
}

impl core::fmt::Debug for Translator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Translator").finish_non_exhaustive()
    }
}

impl Translator {
    /// A translator with nothing allocated yet.
    pub fn new() -> Result<Self, IcedError> {
        Ok(Self {
            a: near_assembler()?,
            encoder: Assembler::new(),
        })
    }

    /// As [`translate`].
    pub fn translate(
        &mut self,
        block: &[Guest],
        env: &Env,
        ip: u64,
        id: u32,
        stubs: &Stubs,
        links: &[(u64, u64)],
    ) -> Result<Translated, IcedError> {
        self.a.reset();
        let a = core::mem::replace(&mut self.a, near_assembler()?);
        let (translated, a) = emit(a, &mut self.encoder, block, env, ip, id, stubs, links)?;
        self.a = a;
        Ok(translated)
    }
}

/// [`translate`] with assembler `a` (empty) and `encoder`; gives `a`
/// back for the next block.
#[allow(clippy::too_many_arguments)]
fn emit(
    a: CodeAssembler,
    encoder: &mut Assembler,
    block: &[Guest],
    env: &Env,
    ip: u64,
    id: u32,
    stubs: &Stubs,
    links: &[(u64, u64)],
) -> Result<(Translated, CodeAssembler), IcedError> {
    let start = block.first().map_or(0, |g| g.at);
    let mut g = Gen::new(a, *env, id, *stubs, start, block.len());
    g.links = links.to_vec();
    g.budget(block.len())?;
    let mut native = Vec::with_capacity(block.len());
    let mut ended = false;
    let mut first = g.body;
    g.a.set_label(&mut first)?;
    g.body = first;
    g.starts.push(g.a.instructions().len());
    for (index, guest) in block.iter().enumerate() {
        g.index = index;
        g.cc_ready = core::mem::take(&mut g.cc_left);
        g.cc_dead = crate::liveness::cc_dead_after(block.get(index + 1..).unwrap_or(&[]));
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
        let emitted = g.a.instructions().len();
        let outcome = g.native(&mut here)?;
        match outcome {
            Native::No => {
                g.all_native = false;
                g.cc_left = false;
                g.helper(index)?;
                native.push(false);
                if guest.insn.op.ends_block() && !crate::block::continues_after(guest.insn.op) {
                    // The helper leaves after a block end unless the next
                    // instruction is the sequential one and nothing the
                    // chain depends on changed (the kvm engine: an EX of
                    // a sequential instruction, LRA, a branch not taken).
                    g.end_at(next)?;
                    break;
                }
            }
            Native::Yes => {
                if g.a.instructions().len() == emitted {
                    // No effect (BRC/BRCL with mask 0: Linux's patched-out
                    // jump labels): its label and the next instruction's
                    // need an x86 instruction between them.
                    g.a.nop()?;
                }
                native.push(true);
            }
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
        g.starts.push(g.a.instructions().len());
        if index + 1 == block.len() {
            g.end_at(next)?;
        }
    }
    g.finish(encoder, ip, native)
}

/// Whether an instruction was translated natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Native {
    /// Not translated: the helper runs it.
    No,
    /// Translated; falls through to the next instruction.
    Yes,
    /// Translated; it ends the block itself (a branch).
    Ended,
}

/// The instruction being translated.
pub(crate) struct Current {
    pub(crate) at: u64,
    pub(crate) next: u64,
    pub(crate) insn: Insn,
    /// Where its fast path gives up (the helper runs it instead).
    pub(crate) slow: CodeLabel,
    pub(crate) used_slow: bool,
}

/// The generator of one block.
pub(crate) struct Gen {
    pub(crate) a: CodeAssembler,
    pub(crate) env: Env,
    id: u32,
    stubs: Stubs,
    /// The common exit (eax = EXIT).
    pub(crate) exit: CodeLabel,
    /// Out of budget at the block's start (eax = END).
    out: CodeLabel,
    /// Slow paths: (label, instruction index, next address, ends block).
    slow: Vec<(CodeLabel, usize, u64, bool)>,
    /// Out-of-line paths of inline storage accesses.
    pub(crate) fills: Vec<Fill>,
    /// Per instruction index, the label after it (where a slow path
    /// resumes).
    resume: Vec<CodeLabel>,
    /// Per instruction, the index of its first host instruction (and one
    /// more: where the instruction after the last would start).
    starts: Vec<usize>,
    /// The guest address of the block and its first host instruction
    /// after the budget check: a branch back to the start of a block whose
    /// instructions are all native checks the budget and jumps there, not
    /// to the dispatcher.
    /// (The helper may change translation without leaving the block, so a
    /// block that calls it for an instruction goes through the jump
    /// cache, which sees that change.)
    start: u64,
    body: CodeLabel,
    all_native: bool,
    /// The block's length and the index of the instruction being emitted.
    pub(crate) len: usize,
    pub(crate) index: usize,
    /// cl holds the condition code << 4 at the start of the instruction
    /// being emitted (the one before left it there, on its fast and slow
    /// paths alike); `cc_left`: the instruction being emitted leaves it.
    pub(crate) cc_ready: bool,
    pub(crate) cc_left: bool,
    /// A later instruction of the block sets the condition code before
    /// anything can read it ([`crate::liveness::cc_dead_after`]).
    pub(crate) cc_dead: bool,
    /// Blocks it may jump to directly, and those it does.
    links: Vec<(u64, u64)>,
    chained: Vec<u64>,
}

/// The bytes of guest general register `r` in the CPU state (its low
/// bytes first: the state is little-endian), for a load of any size.
pub(crate) fn gpr_bytes(r: u8) -> AsmMemoryOperand {
    rbx + (offset::GPR + 8 * usize::from(r & 15)) as i32
}

/// Guest general register `r`.
pub(crate) fn gpr(r: u8) -> AsmMemoryOperand {
    qword_ptr(gpr_bytes(r))
}

/// Bits 32-63 of guest general register `r`.
pub(crate) fn gpr32(r: u8) -> AsmMemoryOperand {
    dword_ptr(rbx + (offset::GPR + 8 * usize::from(r & 15)) as i32)
}

impl Gen {
    fn new(mut a: CodeAssembler, env: Env, id: u32, stubs: Stubs, start: u64, len: usize) -> Self {
        let exit = a.create_label();
        let out = a.create_label();
        let body = a.create_label();
        Self {
            a,
            env,
            id,
            stubs,
            exit,
            out,
            slow: Vec::new(),
            fills: Vec::new(),
            resume: Vec::new(),
            starts: Vec::new(),
            start,
            body,
            all_native: true,
            len,
            index: 0,
            cc_ready: false,
            cc_left: false,
            cc_dead: false,
            links: Vec::new(),
            chained: Vec::new(),
        }
    }

    /// Takes the block's length from the budget, or returns if it does not
    /// fit. The budget is signed (below 2^63): a runner that zeroes it
    /// from outside to end the chain (the kvm engine at a deadline) may do
    /// so between the compare and the subtraction, and the negative budget
    /// left then still ends the chain at the next check.
    fn budget(&mut self, len: usize) -> Result<(), IcedError> {
        self.a.cmp(r15, len as i32)?;
        self.a.jl(self.out)?;
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
    pub(crate) fn end_at(&mut self, addr: u64) -> Result<(), IcedError> {
        if self.all_native && addr == self.start {
            return self.self_loop();
        }
        self.a.mov(rax, addr)?;
        if self.all_native {
            // No helper before this point may have changed translation.
            if let Some(&(_, code)) = self.links.iter().find(|l| l.0 == addr) {
                self.leave_rax()?;
                self.a.jmp(code)?;
                if !self.chained.contains(&addr) {
                    self.chained.push(addr);
                }
                return Ok(());
            }
        }
        self.end_rax()
    }

    /// A branch back to the block's own start, in a block where no helper
    /// may have changed translation: the budget check of the block's
    /// top, but the PSW address and the last instruction run are stored
    /// only when the budget ends the loop (nothing in the block reads
    /// them: the helper and the fills are told the instruction).
    fn self_loop(&mut self) -> Result<(), IcedError> {
        let mut out = self.a.create_label();
        let a = &mut self.a;
        a.cmp(r15, self.len as i32)?;
        a.jl(out)?;
        a.sub(r15, self.len as i32)?;
        a.jmp(self.body)?;
        a.set_label(&mut out)?;
        a.mov(rax, self.start)?;
        self.leave_rax()?;
        self.a.mov(eax, abi::END as u32)?;
        self.a.jmp(self.stubs.ret)?;
        Ok(())
    }

    /// Sets the PSW address to rax and goes to the next block.
    pub(crate) fn end_rax(&mut self) -> Result<(), IcedError> {
        self.leave_rax()?;
        self.a.jmp(self.stubs.dispatch)?;
        Ok(())
    }

    /// Stores rax as the PSW address and the current instruction as the
    /// last one run.
    fn leave_rax(&mut self) -> Result<(), IcedError> {
        let last = abi::last_run(self.id, self.index);
        self.a.mov(qword_ptr(rbx + offset::PSW_ADDR as i32), rax)?;
        self.a
            .mov(dword_ptr(rbp + abi::CTX_LAST_BLOCK as i32), last)?;
        Ok(())
    }

    /// A side exit to `addr` from the current instruction: gives back the
    /// budget of the instructions after it and ends the block.
    pub(crate) fn side_exit(&mut self, addr: u64) -> Result<(), IcedError> {
        let after = self.len - self.index - 1;
        if after > 0 {
            self.a.add(r15, after as i32)?;
        }
        self.end_at(addr)
    }

    fn finish(
        mut self,
        encoder: &mut Assembler,
        ip: u64,
        native: Vec<bool>,
    ) -> Result<(Translated, CodeAssembler), IcedError> {
        let inline_end = self.a.instructions().len();
        self.a.nop()?;
        self.emit_fills()?;
        let slow = core::mem::take(&mut self.slow);
        let mut slows = alloc::vec![None; native.len()];
        for (mut label, index, next, ends) in slow {
            self.index = index;
            if let Some(at) = slows.get_mut(index) {
                *at = Some(self.a.instructions().len());
            }
            self.a.set_label(&mut label)?;
            self.helper(index)?;
            if ends {
                // A branch the helper ran returns EXIT; in case it did not,
                // continue sequentially.
                self.end_at(next)?;
            } else if let Some(&resume) = self.resume.get(index) {
                // The next instruction may expect the cc in cl.
                self.load_cc()?;
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
        let (code, offsets) = match encoder.encode(a.instructions(), ip)? {
            Some(encoded) => (encoded.code, encoded.offsets),
            None => {
                let result =
                    a.assemble_options(ip, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
                (
                    result.inner.code_buffer,
                    result.inner.new_instruction_offsets,
                )
            }
        };
        // The host address of host instruction `index` (BlockEncoder gives
        // none for an instruction it rewrote into a longer sequence).
        let at = |a: &mut CodeAssembler, index: usize| match offsets.get(index) {
            Some(&o) if o != u32::MAX => Ok(ip + u64::from(o)),
            // The error of a label that was never created.
            _ => a.set_label(&mut CodeLabel::default()).map(|()| ip),
        };
        let sites = slows
            .iter()
            .zip(&self.starts)
            .map(|(slow, &start)| {
                Ok(Site {
                    start: at(a, start)?,
                    slow: slow.map(|l| at(a, l)).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, IcedError>>()?;
        let translated = Translated {
            inline_end: at(a, inline_end)?,
            code,
            native,
            sites,
            chained: self.chained,
        };
        Ok((translated, self.a))
    }

    /// Wraps the address in `r` to the addressing mode.
    pub(crate) fn wrap(&mut self, r: AsmRegister64) -> Result<(), IcedError> {
        let r32 = low32(r);
        match self.env.amode {
            AddressingMode::Bits64 => {}
            AddressingMode::Bits31 => self.a.and(r32, 0x7fff_ffff)?,
            AddressingMode::Bits24 => self.a.and(r32, 0x00ff_ffff)?,
        }
        Ok(())
    }

    /// rax = X + B + D, wrapped (register 0 reads as zero).
    pub(crate) fn ea(&mut self, x: u8, b: u8, d: i32) -> Result<(), IcedError> {
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

    /// The target of a relative-long or relative branch operand.
    pub(crate) fn rel(&self, here: &Current) -> u64 {
        crate::block::relative_target(here.at, &here.insn, self.env.amode)
    }

    /// Stores rax into R1 as an address (LA, LARL): all 64 bits in the
    /// 64-bit mode, else bits 32-63 (rax is already wrapped).
    pub(crate) fn set_addr_reg(&mut self, r1: u8) -> Result<(), IcedError> {
        match self.env.amode {
            AddressingMode::Bits64 => self.a.mov(gpr(r1), rax)?,
            _ => self.a.mov(gpr32(r1), eax)?,
        }
        Ok(())
    }
}

/// The low 32 bits of a 64-bit register.
pub(crate) fn low32(r: AsmRegister64) -> AsmRegister32 {
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
