//! Emission of one block: the per-block generator, the instruction loop,
//! the helper calls and slow paths, and the operand addressing every
//! instruction class shares.

use alloc::vec::Vec;

use iced_x86::code_asm::*;
use iced_x86::{
    BlockEncoder, BlockEncoderOptions, Code, IcedError, Instruction, InstructionBlock, Mnemonic,
    OpKind, Register,
};
use zmmu_cpu::decode::Insn;
use zmmu_cpu::state::offset;
use zmmu_mmu::addr::AddressingMode;

use crate::block::Guest;
use crate::encode::Assembler;
use crate::fill::Fill;
use crate::regs::{Compared, Pending, Regs, CACHE};
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
    /// The exits that would have jumped directly to a block at a guest
    /// address had it been among the `links`: (host address of their
    /// `jmp rel32` to the dispatcher, guest address). Once such a block
    /// is translated the runner may point the jump at it, which makes the
    /// code what `translate` would have emitted with that link (and the
    /// code must then be dropped with that block).
    pub unlinked: Vec<(u64, u64)>,
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
/// list, the encoder and its tables, the lists a block's emission fills
/// (their allocations).
pub struct Translator {
    a: CodeAssembler,
    encoder: Assembler,
    lists: Lists,
}

/// The lists of [`Gen`] that grow with a block, kept (empty) from one
/// block to the next: growing them again for each block was a tenth of a
/// translation's allocations and copies (docs/CHOICES.md §83).
#[derive(Default)]
struct Lists {
    slow: Vec<Slow>,
    fills: Vec<Fill>,
    overflows: Vec<OverflowExit>,
    resume: Vec<CodeLabel>,
    starts: Vec<usize>,
    dropped: Vec<usize>,
    ways: Vec<Way>,
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
            lists: Lists::default(),
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
        let mut entry = Regs::default();
        loop {
            self.a.reset();
            let a = core::mem::replace(&mut self.a, near_assembler()?);
            let lists = core::mem::take(&mut self.lists);
            let (emitted, a, lists) = emit(
                a,
                lists,
                &mut self.encoder,
                block,
                env,
                ip,
                id,
                stubs,
                links,
                entry,
            )?;
            self.a = a;
            self.lists = lists;
            match emitted {
                Emitted::Block(translated) => return Ok(translated),
                Emitted::Again(regs) => entry = regs,
            }
        }
    }
}

/// What [`emit`] made.
enum Emitted {
    /// The block's code.
    Block(Translated),
    /// Nothing to keep: a block that loops to itself is emitted again with
    /// the registers cached at its back edge (these) loaded before its
    /// loop head, so that what one iteration leaves in host registers the
    /// next reads there (docs/CHOICES.md §44); the first emission is not
    /// encoded.
    Again(Regs),
}

/// [`translate`] with assembler `a` (empty), `lists` and `encoder`, the
/// register cache `entry` at the block's loop head (loaded on entry);
/// gives `a` and `lists` back for the next block.
#[allow(clippy::too_many_arguments)]
fn emit(
    a: CodeAssembler,
    lists: Lists,
    encoder: &mut Assembler,
    block: &[Guest],
    env: &Env,
    ip: u64,
    id: u32,
    stubs: &Stubs,
    links: &[(u64, u64)],
    entry: Regs,
) -> Result<(Emitted, CodeAssembler, Lists), IcedError> {
    let start = block.first().map_or(0, |g| g.at);
    let mut g = Gen::new(a, lists, *env, id, *stubs, start, block.len());
    g.links = links.to_vec();
    g.mentions = block
        .iter()
        .map(|guest| {
            let f = guest.insn.f;
            [f.r1, f.r2, f.r3, f.x2, f.b1, f.b2]
                .iter()
                .fold(0u16, |m, &r| m | 1 << (r & 15))
        })
        .collect();
    g.head_sets_cc = crate::liveness::cc_dead_after(block);
    g.forward = forward_targets(block, env);
    g.joins = alloc::vec![None; block.len()];
    g.entering = alloc::vec![None; block.len()];
    for &(to, _) in g.forward.iter().flatten() {
        if g.joins[to].is_none() {
            g.joins[to] = Some(g.a.create_label());
        }
    }
    let loops = crate::liveness::loops_to_a_setting(block, env.amode);
    g.budget(block.len())?;
    g.reload(&entry)?;
    // A branch back to the head arrives with the registers dirty there
    // that the first emission left dirty at its branch back (the others
    // written back before the branch).
    g.regs = entry;
    g.entry = entry;
    let mut native = Vec::with_capacity(block.len());
    let mut ended = false;
    let mut first = g.body;
    g.a.set_label(&mut first)?;
    g.body = first;
    for (index, guest) in block.iter().enumerate() {
        g.index = index;
        g.cc_ready = core::mem::take(&mut g.cc_left);
        g.flags = g.flags_left.take();
        g.cc_in_flags = core::mem::take(&mut g.cc_in_flags_left) && g.flags.is_some();
        let after = block.get(index + 1..).unwrap_or(&[]);
        g.cc_branch_only = crate::liveness::cc_read_by_branch_only(after);
        g.cc_dead = crate::liveness::cc_dead_after(after);
        g.cc_window = match g.cc_dead {
            false => crate::liveness::cc_window(after, loops),
            true => None,
        };
        if g.pending.is_some_and(|(_, until)| index >= until) {
            // The instruction that sets the cc again.
            g.pending = None;
        }
        let next = env
            .amode
            .wrap(guest.at.wrapping_add(u64::from(guest.insn.len)));
        let mut here = Current {
            at: guest.at,
            next,
            insn: guest.insn,
            target: guest.target,
            slow: g.a.create_label(),
            used_slow: false,
            slow_leaves: false,
        };
        let fills = g.fills.len();
        // The cc its slow path stores (one it sets itself is its own).
        let pending = g.pending.map(|p| p.0);
        g.begin_insn()?;
        g.starts.push(g.a.instructions().len());
        let emitted = g.a.instructions().len();
        let outcome = g.native(&mut here)?;
        g.end_insn();
        match outcome {
            Native::No => {
                g.all_native = false;
                g.cc_left = false;
                g.flags_left = None;
                if let Some((pending, _)) = g.pending.take() {
                    // Not in a window of cc_window (a safety net).
                    g.store_pending(pending)?;
                }
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
                // cl still holds the cc the instruction before left there
                // after one that neither reads nor sets it, has no way out
                // of its inline code, and leaves rcx alone.
                if g.cc_ready
                    && !g.cc_left
                    && !here.used_slow
                    && g.fills.len() == fills
                    && crate::liveness::transparent(&guest.insn)
                    && keeps_rcx(&g.a.instructions()[emitted..])
                {
                    g.cc_left = true;
                }
            }
            Native::Ended => {
                native.push(true);
                ended = true;
            }
        }
        if here.used_slow {
            // Its slow path rejoins after it: with the flags of its
            // compare made again from the cc ([`Gen::compared_again`]),
            // never with the cc only in the flags.
            g.cc_in_flags_left = false;
            g.slow.push(Slow {
                label: here.slow,
                index,
                next,
                ends: outcome == Native::Ended || here.slow_leaves,
                regs: g.regs,
                flush: g.start_regs,
                pending,
                flags: g.flags_left,
            });
        }
        if g.pending.is_some_and(|(_, until)| index + 1 >= until) {
            // It set the cc after its own slow path stored the one
            // pending (a compare with storage ...): the exits after it
            // must not store that one again (docs/CHOICES.md §63a).
            g.pending = None;
        }
        if ended {
            break;
        }
        // Every instruction falls through to the next here.
        let join = g.joins.get(index + 1).copied().flatten();
        if join.is_some() {
            g.join()?;
        }
        let mut cont = join.unwrap_or_else(|| g.a.create_label());
        g.a.set_label(&mut cont)?;
        g.resume.push(cont);
        if index + 1 == block.len() {
            g.starts.push(g.a.instructions().len());
            g.end_at(next)?;
        }
    }
    if g.joins.iter().skip(native.len()).any(Option::is_some) {
        // A branch forward to an instruction after the one the block ended
        // at (a block ends only at its last instruction, which no branch
        // of it goes forward to): no code, the interpreter runs it.
        g.a.set_label(&mut CodeLabel::default())?;
    }
    let emitted = match g.looped {
        Some(regs) if !entry.any() && regs.any() => Emitted::Again(regs),
        _ => Emitted::Block(g.finish(encoder, ip, native)?),
    };
    let (a, lists) = g.into_parts();
    Ok((emitted, a, lists))
}

/// Whether none of `code` reads or writes rcx (or a part of it): no
/// operand names it, and none is a call or a string instruction, which
/// may use it without naming it.
fn keeps_rcx(code: &[Instruction]) -> bool {
    let names_rcx = |r: Register| {
        matches!(
            r,
            Register::RCX | Register::ECX | Register::CX | Register::CL | Register::CH
        )
    };
    code.iter().all(|i| {
        let implicit = i.mnemonic() == Mnemonic::Call || i.has_rep_prefix() || i.has_repne_prefix();
        !implicit
            && !names_rcx(i.memory_base())
            && !names_rcx(i.memory_index())
            && (0..i.op_count())
                .all(|n| i.op_kind(n) != OpKind::Register || !names_rcx(i.op_register(n)))
    })
}

/// Which of `code`'s instructions the block leaves out: the `nop`s that
/// only carry a label where the code after them would need none
/// (docs/CHOICES.md §63b: each one costs the host a slot of its
/// pipeline's width, several per loop iteration), and the instructions at
/// the indices `dropped` (sorted: the write-backs an instruction that
/// opted in to the register cache turned out not to need, §70); never the
/// last one. `keep(n)`: the `nop` at index `n` stays (where an index is
/// asked for itself: a guest instruction's start, the end of the inline
/// code). The label of one left out is the address of the next one kept.
fn left_out(code: &[Instruction], dropped: &[usize], keep: impl Fn(usize) -> bool) -> Vec<bool> {
    let last = code.len().saturating_sub(1);
    // The nops first (one compare per instruction), then the few dropped:
    // walking the dropped along with every instruction was most of the
    // time this took.
    let mut out: Vec<bool> = code
        .iter()
        .enumerate()
        .map(|(n, i)| n < last && i.code() == Code::Nopd && !keep(n))
        .collect();
    for &d in dropped {
        if let Some(out) = out.get_mut(d).filter(|_| d < last) {
            *out = true;
        }
    }
    out
}

/// `code` without the instructions `out` leaves out (see [`left_out`]),
/// for `BlockEncoder` (our encoder gives those no bytes instead): a label
/// of one left out goes to the next instruction kept, or, where that one
/// has a label of its own, the branches to it go to that label. Gives the
/// index in the new code of each old one (of the next one kept, for one
/// left out).
fn without_nops(code: &[Instruction], out: &[bool]) -> (Vec<Instruction>, Vec<usize>) {
    let mut kept = Vec::with_capacity(code.len());
    let mut moved = Vec::with_capacity(code.len());
    // Label -> the label its branches go to instead.
    let mut alias: Vec<(u64, u64)> = Vec::new();
    // The label of the instructions left out before the next one kept.
    let mut carried: Option<u64> = None;
    for (i, &left) in code.iter().zip(out) {
        moved.push(kept.len());
        if left {
            match (i.ip(), carried) {
                (0, _) => {}
                (label, Some(to)) => alias.push((label, to)),
                (label, None) => carried = Some(label),
            }
            continue;
        }
        let mut i = *i;
        if let Some(label) = carried.take() {
            if i.ip() == 0 {
                i.set_ip(label);
            } else {
                alias.push((label, i.ip()));
            }
        }
        kept.push(i);
    }
    if !alias.is_empty() {
        alias.sort_unstable();
        let find = |t: u64| {
            alias
                .binary_search_by_key(&t, |&(label, _)| label)
                .ok()
                .map(|k| alias[k].1)
        };
        for i in &mut kept {
            if i.op0_kind() == OpKind::NearBranch64 {
                // A chain of aliases ends at a label kept.
                let mut t = i.near_branch64();
                while let Some(to) = find(t) {
                    t = to;
                }
                i.set_near_branch64(t);
            }
        }
    }
    (kept, moved)
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

/// The slow path of an instruction: where the helper runs it.
struct Slow {
    label: CodeLabel,
    /// The instruction's index and the address after it.
    index: usize,
    next: u64,
    /// The instruction ends the block, or its slow path leaves it
    /// ([`Current::slow_leaves`]).
    ends: bool,
    /// The register cache where it resumes.
    regs: Regs,
    /// The cache where the instruction may jump to it: its dirty
    /// registers are written back before the helper runs.
    flush: Regs,
    /// The condition code to store before the helper sees the PSW.
    pending: Option<Pending>,
    /// The compare whose flags the next instruction expects.
    flags: Option<Compared>,
}

/// A branch forward's way into the instruction it joins
/// ([`Gen::jump_forward`]): the label it jumps to, that instruction's
/// index, and the register cache on the way, its dirty registers still
/// in host registers; at the join, those the join does not keep as they
/// are (docs/CHOICES.md §85).
#[derive(Clone, Copy)]
struct Way {
    label: CodeLabel,
    to: usize,
    regs: Regs,
}

/// The out-of-line exit of a signed add or subtract whose condition code
/// is deferred, where it overflows ([`Gen::overflow_exit`]).
struct OverflowExit {
    label: CodeLabel,
    /// The instruction's slow path (the fixed-point-overflow mask one).
    slow: CodeLabel,
    index: usize,
    next: u64,
    /// The register cache at the overflow, the result in rax.
    regs: Regs,
    r1: u8,
    wide: bool,
}

/// The instruction being translated.
pub(crate) struct Current {
    pub(crate) at: u64,
    pub(crate) next: u64,
    pub(crate) insn: Insn,
    /// An EXECUTE's target, fetched at translation ([`Guest::target`]).
    pub(crate) target: Option<crate::block::Target>,
    /// Where its fast path gives up (the helper runs it instead).
    pub(crate) slow: CodeLabel,
    pub(crate) used_slow: bool,
    /// Its slow path leaves the block after the helper ran it.
    pub(crate) slow_leaves: bool,
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
    /// Slow paths.
    slow: Vec<Slow>,
    /// Out-of-line paths of inline storage accesses.
    pub(crate) fills: Vec<Fill>,
    /// Out-of-line exits of deferred adds that overflow.
    overflows: Vec<OverflowExit>,
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
    /// The host flags hold the compare that set the condition code at the
    /// start of the instruction being emitted (on its fast path, the only
    /// way into it: the instruction before has no slow path);
    /// `flags_left`: the instruction being emitted leaves them.
    pub(crate) flags: Option<Compared>,
    pub(crate) flags_left: Option<Compared>,
    /// The compare whose flags [`Gen::flags`] holds left its cc unstored:
    /// the branch reading it stores it where it leaves (docs/CHOICES.md
    /// §63e); `cc_in_flags_left`: the instruction being emitted does so.
    pub(crate) cc_in_flags: bool,
    pub(crate) cc_in_flags_left: bool,
    /// The next instruction is a conditional side exit on the cc, which
    /// is dead on its fall-through path
    /// ([`crate::liveness::cc_read_by_branch_only`]).
    pub(crate) cc_branch_only: bool,
    /// A later instruction of the block sets the condition code before
    /// anything can read it ([`crate::liveness::cc_dead_after`]).
    pub(crate) cc_dead: bool,
    /// Else, the instructions up to the next that sets it and the
    /// registers written before a slow path among them
    /// ([`crate::liveness::cc_window`]).
    pub(crate) cc_window: Option<(usize, u16)>,
    /// A condition code not stored yet, and the index of the instruction
    /// that sets it again: the slow paths before that store it first.
    pub(crate) pending: Option<(Pending, usize)>,
    /// The block's first instructions set the condition code before
    /// anything can read it ([`crate::liveness::cc_dead_after`] of the
    /// whole block): a branch back to the start leaves a pending one
    /// unstored (docs/CHOICES.md §63a).
    head_sets_cc: bool,
    /// Blocks it may jump to directly, those it does, and the exits that
    /// could (host instruction index of their jump, guest address).
    links: Vec<(u64, u64)>,
    chained: Vec<u64>,
    unlinked: Vec<(usize, u64)>,
    /// The guest registers the host registers hold here (see [`Regs`]),
    /// those held at the start of the instruction being emitted while it
    /// has not opted in ([`Gen::opt_in`]), and whether it has.
    pub(crate) regs: Regs,
    kept: Regs,
    pub(crate) opted: bool,
    /// The cache at the start of the instruction being emitted (nothing
    /// for one that did not opt in), whose dirty registers its slow path
    /// writes back (but those written back before it).
    start_regs: Regs,
    /// Per slot, the host instruction that writes it back before the
    /// instruction being emitted (for one that does not opt in, or gives
    /// the slot to another register), and those of earlier instructions
    /// that opted in instead (not encoded).
    write_backs: [Option<usize>; CACHE.len()],
    dropped: Vec<usize>,
    /// The slots the instruction being emitted gave to another register
    /// while they held a dirty one ([`Gen::claim`]).
    evicted: [bool; CACHE.len()],
    /// The cache at the loop head (the first instruction), and at the
    /// first branch back to it.
    entry: Regs,
    looped: Option<Regs>,
    /// Per instruction, the general registers its fields name (one bit
    /// each): which cached register to give up.
    mentions: Vec<u16>,
    /// Per instruction, the later instruction of the block its side exit
    /// goes to instead of leaving (index, address: [`forward_targets`]),
    /// and per instruction the label at its start where some do.
    forward: Vec<Option<(usize, u64)>>,
    joins: Vec<Option<CodeLabel>>,
    /// Per instruction, what the register cache holds on every branch
    /// forward to it emitted so far ([`Regs::common`] of theirs).
    entering: Vec<Option<Regs>>,
    /// The branches forward whose way in writes something back.
    ways: Vec<Way>,
}

/// Per instruction of `block`, where its conditional relative branch goes
/// when taken if that is a later instruction of the block (index,
/// address): the branch jumps there instead of leaving the block
/// (docs/CHOICES.md §69), so that an `if` skipping a few instructions
/// does not cost a block exit and a block entry, nor end a loop's block.
/// Under the software TLB only (the kvm engine's runner, which resolves
/// faults by the host address of the access, keeps its blocks straight).
fn forward_targets(block: &[Guest], env: &Env) -> Vec<Option<(usize, u64)>> {
    let soft_tlb = matches!(env.memory, crate::MemoryAccess::SoftTlb { .. });
    block
        .iter()
        .enumerate()
        .map(|(i, g)| {
            use zmmu_cpu::opcode::Opcode::*;
            // A mask of 0 never branches (Linux's patched-out jump labels).
            let mask = match g.insn.op {
                BRC | BRCL => g.insn.f.m1,
                BRCT | BRCTG | BRXH | BRXLE | BRXHG | BRXLG => 15,
                _ => g.insn.f.m3,
            };
            if !soft_tlb || !crate::block::side_exit(&g.insn) || mask & 15 == 0 {
                return None;
            }
            let target = crate::block::relative_target(g.at, &g.insn, env.amode);
            let to = block.iter().skip(i + 1).position(|h| h.at == target)?;
            Some((i + 1 + to, target))
        })
        .collect()
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
    fn new(
        mut a: CodeAssembler,
        lists: Lists,
        env: Env,
        id: u32,
        stubs: Stubs,
        start: u64,
        len: usize,
    ) -> Self {
        let Lists {
            mut slow,
            mut fills,
            mut overflows,
            mut resume,
            mut starts,
            mut dropped,
            mut ways,
        } = lists;
        slow.clear();
        fills.clear();
        overflows.clear();
        resume.clear();
        starts.clear();
        dropped.clear();
        ways.clear();
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
            slow,
            fills,
            overflows,
            resume,
            starts,
            start,
            body,
            all_native: true,
            len,
            index: 0,
            cc_ready: false,
            cc_left: false,
            flags: None,
            flags_left: None,
            cc_in_flags: false,
            cc_in_flags_left: false,
            cc_branch_only: false,
            cc_dead: false,
            cc_window: None,
            pending: None,
            head_sets_cc: false,
            links: Vec::new(),
            chained: Vec::new(),
            unlinked: Vec::new(),
            regs: Regs::default(),
            kept: Regs::default(),
            opted: false,
            start_regs: Regs::default(),
            write_backs: [None; CACHE.len()],
            dropped,
            evicted: [false; CACHE.len()],
            entry: Regs::default(),
            looped: None,
            mentions: Vec::new(),
            forward: Vec::new(),
            joins: Vec::new(),
            entering: Vec::new(),
            ways,
        }
    }

    /// Starts the emission of an instruction: the cache is set aside
    /// until the instruction opts in, its dirty registers written back for
    /// an instruction that reads or writes the CPU state instead (the
    /// write-backs dropped if it opts in).
    fn begin_insn(&mut self) -> Result<(), IcedError> {
        self.kept = core::mem::take(&mut self.regs);
        self.opted = false;
        self.evicted = [false; CACHE.len()];
        self.start_regs = Regs::default();
        let kept = self.kept;
        for slot in 0..CACHE.len() {
            self.write_backs[slot] = None;
            if let (Some(r), true) = (kept.held[slot], kept.dirty[slot]) {
                self.write_backs[slot] = Some(self.a.instructions().len());
                self.store_slot(slot, r, kept.whole[slot])?;
            }
        }
        Ok(())
    }

    /// Forgets the cache without writing anything back: before code that
    /// no inline path falls into (the out-of-line paths).
    fn forget_cache(&mut self) {
        self.regs = Regs::default();
        self.kept = Regs::default();
        self.opted = false;
    }

    /// Whether writes of cached registers stay in host registers
    /// (write-back, under the software TLB; see [`Regs`]).
    fn write_back(&self) -> bool {
        matches!(self.env.memory, crate::MemoryAccess::SoftTlb { .. })
    }

    /// Stores into the CPU state the registers `regs` holds dirty
    /// (nothing else changes: other paths go on with the cache).
    pub(crate) fn flush(&mut self, regs: &Regs) -> Result<(), IcedError> {
        for slot in 0..CACHE.len() {
            if let (Some(r), true) = (regs.held[slot], regs.dirty[slot]) {
                self.store_slot(slot, r, regs.whole[slot])?;
            }
        }
        Ok(())
    }

    /// Stores slot `slot`, holding guest register `r` (all of it, or bits
    /// 32-63: `whole`), into the CPU state.
    fn store_slot(&mut self, slot: usize, r: u8, whole: bool) -> Result<(), IcedError> {
        if whole {
            self.a.mov(gpr(r), CACHE[slot])
        } else {
            self.a.mov(gpr32(r), low32(CACHE[slot]))
        }
    }

    /// Writes back slot `slot` if it is dirty: the state has it after.
    fn clean(&mut self, slot: usize) -> Result<(), IcedError> {
        if let (Some(r), true) = (self.regs.held[slot], self.regs.dirty[slot]) {
            self.store_slot(slot, r, self.regs.whole[slot])?;
            self.regs.dirty[slot] = false;
        }
        Ok(())
    }

    /// Ends the emission of an instruction: one that did not opt in
    /// leaves nothing cached (it may have written any register through
    /// [`gpr`]; the cache was written back before it). One that opted in
    /// needs the write-back before it only of a slot it gave to another
    /// register while it held a dirty one ([`Gen::claim`]): its slow path
    /// cannot store that register from the slot, but finds it in the
    /// state; it stores the others the slots still hold.
    fn end_insn(&mut self) {
        if !self.opted {
            self.regs = Regs::default();
        } else {
            for slot in 0..CACHE.len() {
                match self.write_backs[slot] {
                    Some(_) if self.evicted[slot] => self.start_regs.dirty[slot] = false,
                    Some(at) => self.dropped.push(at),
                    None => {}
                }
            }
        }
        self.kept = Regs::default();
    }

    /// Declares that the instruction being emitted is written for the
    /// register cache: it reads registers through [`Gen::reg`] or the
    /// CPU state, and writes every general register it changes through
    /// [`Gen::set_reg`] or [`Gen::set_reg32`], never through [`gpr`]. Must
    /// come before anything of the instruction is emitted. An instruction
    /// that does not call it starts and ends with nothing cached.
    pub(crate) fn opt_in(&mut self) {
        debug_assert!(!self.regs.any(), "opt_in before any emission");
        self.regs = core::mem::take(&mut self.kept);
        self.opted = true;
        self.start_regs = self.regs;
    }

    /// The host register holding guest general register `r`, loaded from
    /// the CPU state if the cache does not hold it.
    pub(crate) fn reg(&mut self, r: u8) -> Result<AsmRegister64, IcedError> {
        let slot = match self.regs.slot(r) {
            Some(slot) if self.regs.whole[slot] => {
                self.regs.touch(slot);
                return Ok(CACHE[slot]);
            }
            Some(slot) => {
                // Bits 0-31 come from the state: bits 32-63 go there first.
                self.clean(slot)?;
                self.regs.touch(slot);
                self.regs.whole[slot] = true;
                slot
            }
            None => self.claim(r, true)?,
        };
        self.a.mov(CACHE[slot], gpr(r))?;
        Ok(CACHE[slot])
    }

    /// A slot for guest register `r`, holding all of it or bits 32-63
    /// (`whole`): a free one, else one whose register the instruction does
    /// not name, a clean one, the one whose register the block names
    /// again last (counting on from its start: a block that loops runs it
    /// again), the least recently used of those; a dirty one only where
    /// no clean one is left, written back first (then the instruction
    /// keeps the write-backs before it: its slow path could not tell which
    /// register the slot holds, [`Gen::end_insn`]).
    fn claim(&mut self, r: u8, whole: bool) -> Result<usize, IcedError> {
        let regs = &self.regs;
        let slot = match regs.held.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                let n = self.mentions.len().max(1);
                let next = |held: Option<u8>| {
                    let bit = 1u16 << held.unwrap_or(0);
                    (0..n)
                        .position(|k| {
                            self.mentions
                                .get((self.index + k) % n)
                                .is_some_and(|m| m & bit != 0)
                        })
                        .unwrap_or(n)
                };
                // Never one the instruction names itself (it may hold an
                // operand read already), where another is left.
                (0..CACHE.len())
                    .max_by_key(|&s| {
                        let next = next(regs.held[s]);
                        (
                            next > 0,
                            !regs.dirty[s],
                            next,
                            core::cmp::Reverse(regs.used[s]),
                        )
                    })
                    .unwrap_or(0)
            }
        };
        self.evicted[slot] |= self.regs.dirty[slot];
        self.clean(slot)?;
        Ok(self.regs.assign(slot, r, whole))
    }

    /// A host register whose low 32 bits hold bits 32-63 of guest general
    /// register `r` (its high half is the guest's bits 0-31 or zero),
    /// loaded from the CPU state (those 32 bits only) if the cache does
    /// not hold it.
    pub(crate) fn reg_low(&mut self, r: u8) -> Result<AsmRegister64, IcedError> {
        if let Some(slot) = self.regs.slot(r) {
            self.regs.touch(slot);
            return Ok(CACHE[slot]);
        }
        let host = CACHE[self.claim(r, false)?];
        self.a.mov(low32(host), gpr32(r))?;
        Ok(host)
    }

    /// Guest general register `r` = `src` (all 64 bits): in an instruction
    /// that opted in, kept in a host register, and stored to the CPU state
    /// now only under the host MMU (see [`Regs`]); else stored.
    pub(crate) fn set_reg(&mut self, r: u8, src: AsmRegister64) -> Result<(), IcedError> {
        let slot = match self.regs.slot(r) {
            Some(slot) => {
                self.regs.touch(slot);
                slot
            }
            None if self.opted => self.claim(r, true)?,
            None => return self.a.mov(gpr(r), src),
        };
        let dirty = self.write_back();
        if !dirty {
            self.a.mov(gpr(r), src)?;
        }
        self.regs.whole[slot] = true;
        self.regs.dirty[slot] = dirty;
        if CACHE[slot] != src {
            self.a.mov(CACHE[slot], src)?;
        }
        Ok(())
    }

    /// Bits 32-63 of guest general register `r` = the low half of `src`,
    /// whose high half must be zero (the result of a 32-bit operation):
    /// bits 0-31 are unchanged (PoP: 32-bit operations leave them), so a
    /// copy of the whole register keeps its high half and takes the new
    /// low one; otherwise (in an instruction that opted in) the cache
    /// holds the low half. Uses the flags.
    pub(crate) fn set_reg32(&mut self, r: u8, src: AsmRegister64) -> Result<(), IcedError> {
        let slot = match self.regs.slot(r) {
            Some(slot) => {
                self.regs.touch(slot);
                slot
            }
            None if self.opted => self.claim(r, false)?,
            None => return self.a.mov(gpr32(r), low32(src)),
        };
        let dirty = self.write_back();
        if !dirty {
            self.a.mov(gpr32(r), low32(src))?;
        }
        // A dirty slot that held all of it stays dirty for bits 0-31 too.
        self.regs.dirty[slot] |= dirty;
        let host = CACHE[slot];
        if self.regs.whole[slot] {
            self.a.shr(host, 32)?;
            self.a.shl(host, 32)?;
            self.a.or(host, src)?;
        } else if host != src {
            self.a.mov(low32(host), low32(src))?;
        }
        Ok(())
    }

    /// Reloads from the CPU state every register `regs` says the host
    /// registers hold (and the frame's cc byte): after a call, which
    /// clobbers them, or the interpreter, which may have changed the
    /// guest registers and the PSW.
    pub(crate) fn reload(&mut self, regs: &Regs) -> Result<(), IcedError> {
        for (slot, held) in regs.held.iter().enumerate() {
            match *held {
                Some(r) if regs.whole[slot] => self.a.mov(CACHE[slot], gpr(r))?,
                Some(r) => self.a.mov(low32(CACHE[slot]), gpr32(r))?,
                None => {}
            }
        }
        if regs.cc_base {
            self.save_cc_base()?;
        }
        Ok(())
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
        a.mov(esi, abi::which(self.id.into(), index) as u32)?;
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
        self.flush_on_exit()?;
        self.store_left_cc()?;
        mov_imm(&mut self.a, rax, addr)?;
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
            self.leave_rax()?;
            self.unlinked.push((self.a.instructions().len(), addr));
            self.a.jmp(self.stubs.dispatch)?;
            return Ok(());
        }
        self.dispatch_rax()
    }

    /// What the host registers hold at this point of the emitted code for
    /// code that joins it elsewhere: nothing after an instruction that
    /// has not opted in, which may have clobbered every host register.
    fn cache_here(&self) -> Regs {
        if self.opted {
            self.regs
        } else {
            Regs::default()
        }
    }

    /// Where the block leaves: the dirty registers written back (the next
    /// block, the dispatcher and the runner read the CPU state). The
    /// cache stays as it is for the paths that go on.
    fn flush_on_exit(&mut self) -> Result<(), IcedError> {
        let regs = self.regs;
        self.flush(&regs)
    }

    /// Where the block leaves with a condition code still pending (a
    /// window that reaches an exit, docs/CHOICES.md §63a): stores it, as
    /// the next block, the dispatcher and the runner read the PSW. Uses
    /// rcx and rdx.
    fn store_left_cc(&mut self) -> Result<(), IcedError> {
        match self.pending {
            Some((pending, _)) => self.store_pending(pending),
            None => Ok(()),
        }
    }

    /// A branch back to the block's own start, in a block where no helper
    /// may have changed translation: the budget check of the block's
    /// top, but the PSW address and the last instruction run are stored
    /// only when the budget ends the loop (nothing in the block reads
    /// them: the helper and the fills are told the instruction).
    ///
    /// A condition code still pending is stored there too, and before the
    /// jump back only where the block's first instructions do not set it
    /// again before anything can read it.
    fn self_loop(&mut self) -> Result<(), IcedError> {
        let mut out = self.a.create_label();
        if !self.head_sets_cc {
            self.store_left_cc()?;
        }
        let a = &mut self.a;
        a.cmp(r15, self.len as i32)?;
        a.jl(out)?;
        a.sub(r15, self.len as i32)?;
        // The loop head expects the cache `entry`: what this point does
        // not hold in the same host register is loaded.
        let here = self.cache_here();
        self.looped.get_or_insert(here);
        let mut missing = self.entry;
        missing.cc_base &= !here.cc_base;
        // What this point holds dirty where the head expects something
        // else, or expects it clean, is written back before the head's
        // registers are loaded.
        let mut elsewhere = here;
        for slot in 0..CACHE.len() {
            if here.held[slot] == missing.held[slot] && (here.whole[slot] || !missing.whole[slot]) {
                missing.held[slot] = None;
                elsewhere.dirty[slot] &= !self.entry.dirty[slot];
            }
        }
        self.flush(&elsewhere)?;
        self.reload(&missing)?;
        self.a.jmp(self.body)?;
        self.a.set_label(&mut out)?;
        self.flush(&here)?;
        if self.head_sets_cc {
            self.store_left_cc()?;
        }
        self.a.mov(rax, self.start)?;
        self.leave_rax()?;
        self.a.mov(eax, abi::END as u32)?;
        self.a.jmp(self.stubs.ret)?;
        Ok(())
    }

    /// Sets the PSW address to rax and goes to the next block.
    pub(crate) fn end_rax(&mut self) -> Result<(), IcedError> {
        self.flush_on_exit()?;
        self.store_left_cc()?;
        self.dispatch_rax()
    }

    /// [`Gen::end_rax`] with no condition code pending.
    fn dispatch_rax(&mut self) -> Result<(), IcedError> {
        self.leave_rax()?;
        self.a.jmp(self.stubs.dispatch)?;
        Ok(())
    }

    /// The taken side exit of the current instruction to instruction `to`
    /// of the block ([`forward_targets`]): gives back the budget of the
    /// instructions it skips and joins the fall-through there
    /// ([`Gen::join`]), with the condition code in the PSW, as a block's
    /// exit leaves it. Its dirty registers stay in host registers up to the
    /// join, which writes back on this way only those it does not keep
    /// (a skip over an instruction or two would otherwise store every
    /// register the fall-through goes on holding dirty: docs/CHOICES.md
    /// §85). Uses rcx and rdx.
    fn jump_forward(&mut self, to: usize) -> Result<(), IcedError> {
        let skipped = to - self.index - 1;
        if skipped > 0 {
            self.a.add(r15, skipped as i32)?;
        }
        self.store_left_cc()?;
        let here = self.cache_here();
        if let Some(entering) = self.entering.get_mut(to) {
            *entering = Some(entering.map_or(here, |e| e.common(&here)));
        }
        let label = self.a.create_label();
        self.ways.push(Way {
            label,
            to,
            regs: here,
        });
        self.a.jmp(label)
    }

    /// Where branches forward from earlier instructions join the
    /// fall-through (the start of the next instruction): the state there
    /// is what every way in has: the condition code in the PSW (a pending
    /// one stored now), not in cl nor in the host flags, and in the
    /// register cache what each way holds in the same host register, the
    /// fall-through writing back first what it holds dirty and the join
    /// does not keep as it is (the branches forward wrote back theirs).
    /// Uses rcx and rdx.
    fn join(&mut self) -> Result<(), IcedError> {
        if let Some((pending, _)) = self.pending.take() {
            self.store_pending(pending)?;
        }
        self.cc_left = false;
        self.flags_left = None;
        self.cc_in_flags_left = false;
        let to = self.index + 1;
        let entering = self.entering.get(to).copied().flatten();
        if let Some(taken) = entering {
            let common = self.regs.common(&taken);
            for slot in 0..CACHE.len() {
                if !common.keeps(&self.regs, slot) {
                    self.clean(slot)?;
                }
            }
            self.regs = common;
            // The branches forward here: a way with nothing to write back
            // jumps here (its label on a `nop` the encoder leaves out),
            // the others to their write-backs out of line ([`Gen::finish`]).
            let mut n = 0;
            while let Some(way) = self.ways.get_mut(n) {
                if way.to == to {
                    for slot in 0..CACHE.len() {
                        way.regs.dirty[slot] &= !common.keeps(&way.regs, slot);
                    }
                    if !way.regs.dirty.contains(&true) {
                        let mut label = self.ways.swap_remove(n).label;
                        self.a.set_label(&mut label)?;
                        self.a.nop()?;
                        continue;
                    }
                }
                n += 1;
            }
        }
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
        let forward = self.forward.get(self.index).copied().flatten();
        if let Some((to, _)) = forward.filter(|&(_, at)| at == addr) {
            return self.jump_forward(to);
        }
        self.give_back_rest()?;
        self.end_at(addr)
    }

    /// Where a signed add or subtract whose condition code is deferred
    /// overflows (x86 OF, its result in rax), the label of its way out of
    /// line: with the fixed-point-overflow mask one the slow path, where
    /// the interpreter completes it and raises the exception; else (PoP
    /// "ADD": cc 3, no interruption) general register `r1` = the result
    /// (all of it, else bits 32-63 from eax), cc 3, and the block left at
    /// the next instruction, as no later slow path of the block may
    /// compute this cc from the result (docs/CHOICES.md §70c, §78a).
    pub(crate) fn overflow_exit(&mut self, here: &mut Current, r1: u8, wide: bool) -> CodeLabel {
        here.used_slow = true;
        here.slow_leaves = true;
        let label = self.a.create_label();
        self.overflows.push(OverflowExit {
            label,
            slow: here.slow,
            index: self.index,
            next: here.next,
            regs: self.regs,
            r1,
            wide,
        });
        label
    }

    /// The [`Gen::overflow_exit`]s, out of line.
    fn emit_overflow_exits(&mut self) -> Result<(), IcedError> {
        let forgotten = self.regs;
        let mut overflows = core::mem::take(&mut self.overflows);
        for OverflowExit {
            mut label,
            slow,
            index,
            next,
            regs,
            r1,
            wide,
        } in overflows.drain(..)
        {
            self.index = index;
            self.a.set_label(&mut label)?;
            crate::psw::slow_if_overflow_masked(&mut self.a, slow)?;
            self.flush(&regs)?;
            if wide {
                self.a.mov(gpr(r1), rax)?;
            } else {
                self.a.mov(gpr32(r1), eax)?;
            }
            // cc 3: both cc bits of the byte (bits 18-19 of the PSW).
            self.a
                .or(byte_ptr(rbx + crate::psw::PSW_CC_BYTE as i32), 0x30)?;
            self.give_back_rest()?;
            // Written back above: the exit stores nothing again (r1's
            // host register, if any, holds its old value).
            self.regs = regs;
            self.regs.dirty = Default::default();
            self.end_at(next)?;
        }
        // The list's allocation kept (with any exit added meanwhile).
        overflows.append(&mut self.overflows);
        self.overflows = overflows;
        self.regs = forgotten;
        Ok(())
    }

    /// Gives back the budget of the instructions after the current one
    /// (where the block leaves before them).
    fn give_back_rest(&mut self) -> Result<(), IcedError> {
        let after = self.len - self.index - 1;
        if after > 0 {
            self.a.add(r15, after as i32)?;
        }
        Ok(())
    }

    /// Its assembler and lists, for the next block.
    fn into_parts(self) -> (CodeAssembler, Lists) {
        let lists = Lists {
            slow: self.slow,
            fills: self.fills,
            overflows: self.overflows,
            resume: self.resume,
            starts: self.starts,
            dropped: self.dropped,
            ways: self.ways,
        };
        (self.a, lists)
    }

    fn finish(
        &mut self,
        encoder: &mut Assembler,
        ip: u64,
        native: Vec<bool>,
    ) -> Result<Translated, IcedError> {
        // The out-of-line paths below join no inline code with a cache
        // state of their own: each writes back what the path into it
        // held dirty and reloads what it needs.
        self.forget_cache();
        let inline_end = self.a.instructions().len();
        self.a.nop()?;
        self.emit_fills()?;
        // No cc is pending at an overflow exit: the add sets it.
        self.pending = None;
        self.emit_overflow_exits()?;
        // The branches forward that write back what their join does not
        // keep (any whose join was never emitted: all their dirty ones).
        let mut ways = core::mem::take(&mut self.ways);
        for way in &mut ways {
            self.a.set_label(&mut way.label)?;
            self.flush(&way.regs)?;
            match self.joins.get(way.to).copied().flatten() {
                Some(join) => self.a.jmp(join)?,
                None => self.a.set_label(&mut CodeLabel::default())?,
            }
        }
        // The list's allocation kept.
        ways.clear();
        self.ways = ways;
        let mut slow = core::mem::take(&mut self.slow);
        // Each slow path stores the cc pending at its instruction.
        let mut slows = alloc::vec![None; native.len()];
        for Slow {
            mut label,
            index,
            next,
            ends,
            regs,
            flush,
            pending,
            flags,
        } in slow.drain(..)
        {
            self.index = index;
            if let Some(at) = slows.get_mut(index) {
                *at = Some(self.a.instructions().len());
            }
            self.a.set_label(&mut label)?;
            self.flush(&flush)?;
            if let Some(pending) = pending {
                self.store_pending(pending)?;
            }
            self.helper(index)?;
            if ends {
                // A branch the helper ran returns EXIT; in case it did not
                // (or for a slow path that leaves), continue sequentially,
                // the budget of the instructions after it given back.
                self.give_back_rest()?;
                self.end_at(next)?;
            } else if let Some(&resume) = self.resume.get(index) {
                // The next instruction may expect the cc in cl, and the
                // registers the cache holds.
                self.load_cc()?;
                self.reload(&regs)?;
                if flags.is_some() {
                    self.compared_again()?;
                }
                self.a.jmp(resume)?;
            } else {
                self.end_at(next)?;
            }
        }
        // The list's allocation kept (with any slow path added meanwhile).
        slow.append(&mut self.slow);
        self.slow = slow;
        let a = &mut self.a;
        a.set_label(&mut self.exit)?;
        a.mov(eax, abi::EXIT as u32)?;
        a.jmp(self.stubs.ret)?;
        a.set_label(&mut self.out)?;
        a.mov(eax, abi::END as u32)?;
        a.jmp(self.stubs.ret)?;
        // Our encoder gives every jump to an address (not a label) its
        // rel32 form; BlockEncoder may shorten one.
        let mut unlinked = core::mem::take(&mut self.unlinked);
        let starts = &self.starts;
        let out = left_out(a.instructions(), &self.dropped, |n| {
            n == inline_end || starts.binary_search(&n).is_ok()
        });
        // Per instruction emitted, its offset in the code (one left out:
        // the next one kept's).
        let (code, offsets) = match encoder.encode(a.instructions(), &out, ip)? {
            Some(encoded) => (encoded.code, encoded.offsets),
            None => {
                unlinked.clear();
                let (host, moved) = without_nops(a.instructions(), &out);
                let result = BlockEncoder::encode(
                    64,
                    InstructionBlock::new(&host, ip),
                    BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
                )?;
                let offsets = &result.new_instruction_offsets;
                let offsets = moved
                    .iter()
                    .map(|&n| offsets.get(n).copied().unwrap_or(u32::MAX))
                    .collect();
                (result.code_buffer, offsets)
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
        let unlinked = unlinked
            .into_iter()
            .map(|(index, addr)| Ok((at(a, index)?, addr)))
            .collect::<Result<Vec<_>, IcedError>>()?;
        let translated = Translated {
            inline_end: at(a, inline_end)?,
            code,
            native,
            sites,
            chained: core::mem::take(&mut self.chained),
            unlinked,
        };
        Ok(translated)
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

    /// rax = X + B + D, wrapped (register 0 reads as zero); from the
    /// register cache in an instruction that opted in.
    pub(crate) fn ea(&mut self, x: u8, b: u8, d: i32) -> Result<(), IcedError> {
        let regs: Vec<u8> = [x, b].into_iter().filter(|&r| r != 0).collect();
        if self.opted {
            match regs.as_slice() {
                [] => self.a.mov(rax, i64::from(d))?,
                [r] => {
                    let r = self.reg(*r)?;
                    self.a.lea(rax, qword_ptr(r + d))?;
                }
                [x, b, ..] => {
                    let x = self.reg(*x)?;
                    let b = self.reg(*b)?;
                    self.a.lea(rax, qword_ptr(x + b + d))?;
                }
            }
            return self.wrap(rax);
        }
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
            AddressingMode::Bits64 => self.set_reg(r1, rax),
            // Wrapped to 31 or 24 bits: the high half of rax is zero.
            _ => self.set_reg32(r1, rax),
        }
    }
}

/// The 64-bit registers whose narrow parts [`low32`], [`low16`] and
/// [`low8`] name (those generated code computes in or caches in).
const WIDE: [AsmRegister64; 10] = [rax, rcx, rdx, rsi, rdi, r8, r9, r10, r11, r14];

/// The position of `r` in [`WIDE`] (rsi's for another register: none
/// is named, see the test below).
fn wide_index(r: AsmRegister64) -> usize {
    debug_assert!(WIDE.contains(&r), "{r:?} has no narrow names here");
    WIDE.iter().position(|&w| w == r).unwrap_or(3)
}

/// `r` = `value`, in the shortest move: 5 bytes for a value below 2^32
/// (a 32-bit move zero-extends), 7 for one that sign-extends from 32
/// bits, else 10 (iced's `mov r64, imm` always takes the last).
pub(crate) fn mov_imm(
    a: &mut CodeAssembler,
    r: AsmRegister64,
    value: u64,
) -> Result<(), IcedError> {
    if let Ok(v) = u32::try_from(value) {
        a.mov(low32(r), v)
    } else if let Ok(v) = i32::try_from(value as i64) {
        let r = iced_x86::Register::from(r);
        a.add_instruction(iced_x86::Instruction::with2(Code::Mov_rm64_imm32, r, v)?)
    } else {
        a.mov(r, value)
    }
}

/// The low 32 bits of a 64-bit register.
pub(crate) fn low32(r: AsmRegister64) -> AsmRegister32 {
    [eax, ecx, edx, esi, edi, r8d, r9d, r10d, r11d, r14d][wide_index(r)]
}

/// The low 16 bits of a 64-bit register.
pub(crate) fn low16(r: AsmRegister64) -> AsmRegister16 {
    [ax, cx, dx, si, di, r8w, r9w, r10w, r11w, r14w][wide_index(r)]
}

/// The low 8 bits of a 64-bit register.
pub(crate) fn low8(r: AsmRegister64) -> AsmRegister8 {
    [al, cl, dl, sil, dil, r8b, r9b, r10b, r11b, r14b][wide_index(r)]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{decode_block, stubs, MemoryAccess};

    /// 64-bit code with the PSW key 0 and the software TLB.
    fn env() -> Env {
        Env {
            amode: AddressingMode::Bits64,
            key: 0,
            memory: MemoryAccess::SoftTlb {
                partition: 0,
                whole_pages: true,
                fma: false,
            },
            movbe: false,
        }
    }

    /// A translator that has just translated the block `code` decodes to.
    fn translated(code: &[u8]) -> Translator {
        let block = decode_block(code, 0x2_0000, AddressingMode::Bits64, 64);
        let env = env();
        let (shared, stubs) = stubs(0x1000).unwrap();
        let mut t = Translator::new().unwrap();
        t.translate(&block, &env, 0x1000 + shared.len() as u64, 0, &stubs, &[])
            .unwrap();
        t
    }

    #[test]
    fn a_translator_reused_across_blocks_emits_what_a_fresh_one_does() {
        // Its lists keep their allocations from one block to the next,
        // never their entries. Blocks with storage accesses (fills), slow
        // paths and adds that may overflow: lg r1,0(r2); ahi r1,1;
        // stg r1,8(r2); st r1,0(r3); ar r1,r1; and a loop, emitted twice
        // (the first emission's lists dropped): lg r2,0(r3); agr r2,r4;
        // brctg r5,-10.
        let looping = [
            0xe3, 0x20, 0x30, 0x00, 0x00, 0x04, 0xb9, 0x08, 0x00, 0x24, 0xa7, 0x57, 0xff, 0xfb, 0,
            0,
        ];
        let first = [
            0xe3, 0x10, 0x20, 0x00, 0x00, 0x04, 0xa7, 0x1a, 0x00, 0x01, 0xe3, 0x10, 0x20, 0x08,
            0x00, 0x24, 0x50, 0x10, 0x30, 0x00, 0x1a, 0x11, 0, 0,
        ];
        // l r4,4(r5); a r4,8(r5); st r4,12(r5)
        let second = [
            0x58, 0x40, 0x50, 0x04, 0x5a, 0x40, 0x50, 0x08, 0x50, 0x40, 0x50, 0x0c, 0, 0,
        ];
        let env = env();
        let (shared, stubs) = stubs(0x1000).unwrap();
        let ip = 0x1000 + shared.len() as u64;
        let block = |code: &[u8]| decode_block(code, 0x2_0000, AddressingMode::Bits64, 64);
        let mut reused = Translator::new().unwrap();
        for code in [&looping[..], &first, &second, &looping, &second, &first] {
            let ours = reused
                .translate(&block(code), &env, ip, 0, &stubs, &[])
                .unwrap();
            let fresh = Translator::new()
                .unwrap()
                .translate(&block(code), &env, ip, 0, &stubs, &[])
                .unwrap();
            assert_eq!(ours.code, fresh.code);
            assert_eq!(ours.sites, fresh.sites);
            assert_eq!(ours.inline_end, fresh.inline_end);
        }
    }

    #[test]
    fn a_loop_emitted_again_starts_with_empty_lists() {
        // lg r2,0(r3); agr r2,r4; brctg r5,-10: the first emission (not
        // encoded) leaves a fill and slow paths in the lists; emitted
        // again with them, the code is that of an emission with new lists.
        let code = [
            0xe3, 0x20, 0x30, 0x00, 0x00, 0x04, 0xb9, 0x08, 0x00, 0x24, 0xa7, 0x57, 0xff, 0xfb, 0,
            0,
        ];
        let block = decode_block(&code, 0x2_0000, AddressingMode::Bits64, 64);
        let env = env();
        let (shared, stubs) = stubs(0x1000).unwrap();
        let ip = 0x1000 + shared.len() as u64;
        let mut encoder = Assembler::new();
        let mut emit_with = |lists: Lists, entry: Regs| {
            emit(
                near_assembler().unwrap(),
                lists,
                &mut encoder,
                &block,
                &env,
                ip,
                0,
                &stubs,
                &[],
                entry,
            )
            .unwrap()
        };
        let (Emitted::Again(entry), _, left) = emit_with(Lists::default(), Regs::default()) else {
            panic!("a loop is emitted twice");
        };
        assert!(!left.fills.is_empty() && !left.slow.is_empty());
        let (Emitted::Block(again), ..) = emit_with(left, entry) else {
            panic!("encoded the second time");
        };
        let (Emitted::Block(fresh), ..) = emit_with(Lists::default(), entry) else {
            panic!("encoded the second time");
        };
        assert_eq!(again.code, fresh.code);
    }

    /// The host instructions of the block `code` decodes to.
    pub(crate) fn emitted(code: &[u8]) -> Vec<iced_x86::Instruction> {
        translated(code).a.instructions().to_vec()
    }

    /// The host instructions of a self-looping block `code` from its loop
    /// head to the branch back to it, without the write-backs the encoder
    /// leaves out.
    pub(crate) fn loop_body(code: &[u8]) -> Vec<iced_x86::Instruction> {
        let t = translated(code);
        let host = t.a.instructions();
        // The first jump to a label before it (labels are the ips the
        // assembler gives the instructions it labels).
        let (head, back) = host
            .iter()
            .enumerate()
            .find_map(|(back, i)| {
                let head = host[..back]
                    .iter()
                    .position(|h| h.ip() != 0 && h.ip() == i.near_branch64())?;
                (i.code() == Code::Jmp_rel32_64).then_some((head, back))
            })
            .expect("a branch back");
        (head..back)
            .filter(|n| !t.lists.dropped.contains(n))
            .map(|n| host[n])
            .collect()
    }

    #[test]
    fn a_branch_forward_leaves_in_host_registers_what_its_join_keeps() {
        // lgr r3,r4; aghi r3,1; cgr r3,r5; jne +8; lghi r3,0; lgr r4,r3;
        // brctg r1,-24 (the XZ decompressor's LZ copy: an index that wraps
        // at the end of its buffer): the branch over LGHI reaches the
        // join with the registers the fall-through holds there, so its
        // iterations store no general register into the CPU state
        // (docs/CHOICES.md §85).
        let code = [
            0xb9, 0x04, 0x00, 0x34, 0xa7, 0x3b, 0x00, 0x01, 0xb9, 0x20, 0x00, 0x35, 0xa7, 0x74,
            0x00, 0x04, 0xa7, 0x39, 0x00, 0x00, 0xb9, 0x04, 0x00, 0x43, 0xa7, 0x17, 0xff, 0xf4, 0,
            0,
        ];
        let gprs = offset::GPR as u64..offset::GPR as u64 + 16 * 8;
        let stores = loop_body(&code)
            .iter()
            .filter(|i| {
                i.op0_kind() == OpKind::Memory
                    && i.memory_base() == Register::RBX
                    && gprs.contains(&i.memory_displacement64())
            })
            .count();
        assert_eq!(stores, 0);
    }

    /// Whether any of `code` is `bt r64, r64`: a branch testing the
    /// condition code against its mask.
    fn tests_the_cc(code: &[iced_x86::Instruction]) -> bool {
        code.iter().any(|i| i.code() == Code::Bt_rm64_r64)
    }

    #[test]
    fn a_branch_right_after_a_register_compare_jumps_on_its_flags() {
        // clgr r1,r2; jle +8; the jump leaves when not high: ja skips it.
        let code = [0xb9, 0x21, 0x00, 0x12, 0xa7, 0xc4, 0x00, 0x04, 0, 0];
        let host = emitted(&code);
        assert!(!tests_the_cc(&host));
        assert!(host.iter().any(|i| i.code() == Code::Ja_rel32_64));
        // clgrj r1,r2,12,+8: the same without a condition code.
        let code = [0xec, 0x12, 0x00, 0x04, 0xc0, 0x65, 0, 0];
        let host = emitted(&code);
        assert!(!tests_the_cc(&host));
        assert!(host.iter().any(|i| i.code() == Code::Ja_rel32_64));
    }

    #[test]
    fn an_add_takes_its_immediate_or_cached_register_operand_itself() {
        // aghi r2,-5; agr r2,r3: `add rax, -5` and `add rax, <the host
        // register caching r3>`, nothing moved into rsi (docs/CHOICES.md
        // §63c).
        let code = [0xa7, 0x2b, 0xff, 0xfb, 0xb9, 0x08, 0x00, 0x23, 0, 0];
        let host = emitted(&code);
        let adds: Vec<&iced_x86::Instruction> = host
            .iter()
            .filter(|i| {
                i.mnemonic() == iced_x86::Mnemonic::Add
                    && i.op0_register() == iced_x86::Register::RAX
            })
            .collect();
        assert_eq!(adds.len(), 2);
        assert_eq!(adds[0].immediate32to64(), -5);
        assert!(CACHE
            .iter()
            .any(|&r| iced_x86::Register::from(r) == adds[1].op1_register()));
        let inline = &host[..host
            .iter()
            .position(|i| i.code() == Code::Nopd)
            .unwrap_or(host.len())];
        assert!(!inline.iter().any(|i| {
            i.op0_register() == iced_x86::Register::RSI && i.mnemonic() == iced_x86::Mnemonic::Mov
        }));
    }

    #[test]
    fn a_store_and_a_load_use_the_cached_register_and_the_loaded_one_themselves() {
        // lgr r2,r3; stc r2,0(r4); lg r5,0(r4): r3 copied from its host
        // register, the byte stored from the host register caching r2,
        // the doubleword loaded (into rsi) stored to r5 from there, no
        // `mov rax, rsi` (docs/CHOICES.md §63d).
        let code = [
            0xb9, 0x04, 0x00, 0x23, 0x42, 0x20, 0x40, 0x00, 0xe3, 0x50, 0x40, 0x00, 0x00, 0x04, 0,
            0,
        ];
        let host = emitted(&code);
        let byte_store = host
            .iter()
            .find(|i| i.code() == Code::Mov_rm8_r8 && i.memory_base() == iced_x86::Register::R13)
            .expect("a byte store");
        assert!(CACHE
            .iter()
            .any(|&r| iced_x86::Register::from(low8(r)) == byte_store.op1_register()));
        // LGR copies r3's host register itself, nothing through rsi.
        let store_at = host.iter().position(|i| i == byte_store).unwrap();
        assert!(!host[..store_at].iter().any(|i| {
            i.mnemonic() == iced_x86::Mnemonic::Mov && i.op0_register() == iced_x86::Register::RSI
        }));
        let rsi_to_rax = |i: &&iced_x86::Instruction| {
            i.mnemonic() == iced_x86::Mnemonic::Mov
                && i.op0_register() == iced_x86::Register::RAX
                && i.op1_register() == iced_x86::Register::RSI
        };
        assert!(!host.iter().any(|i| rsi_to_rax(&i)));
    }

    #[test]
    fn an_immediate_operand_takes_the_shortest_move() {
        // lghi r1,1; lghi r1,-1: the second operand (in rsi) by a 32-bit
        // move, then a sign-extended one.
        let code = [0xa7, 0x19, 0x00, 0x01, 0xa7, 0x19, 0xff, 0xff, 0, 0];
        let host = emitted(&code);
        let into_rsi: Vec<Code> = host
            .iter()
            .filter(|i| {
                matches!(
                    i.code(),
                    Code::Mov_r32_imm32 | Code::Mov_rm64_imm32 | Code::Mov_r64_imm64
                ) && matches!(
                    i.op0_register(),
                    iced_x86::Register::RSI | iced_x86::Register::ESI
                )
            })
            .map(|i| i.code())
            .collect();
        // (The slow paths tell the helper the instruction in esi.)
        assert_eq!(into_rsi[..2], [Code::Mov_r32_imm32, Code::Mov_rm64_imm32]);
        assert!(!into_rsi.contains(&Code::Mov_r64_imm64));
        // Each move leaves the value in the whole register.
        for v in [
            0,
            1,
            u64::from(u32::MAX),
            1 << 32,
            u64::MAX,
            1 << 63,
            0xffff_ffff_8000_0000,
        ] {
            let mut a = CodeAssembler::new(64).unwrap();
            mov_imm(&mut a, rsi, v).unwrap();
            let i = a.instructions()[0];
            let left = match i.code() {
                Code::Mov_r32_imm32 => u64::from(i.immediate32()),
                Code::Mov_rm64_imm32 => i.immediate32to64() as u64,
                Code::Mov_r64_imm64 => i.immediate64(),
                other => panic!("{other:?}"),
            };
            assert_eq!(left, v);
        }
    }

    #[test]
    fn a_block_that_loops_to_itself_is_encoded_once() {
        // lgr r2,r3; agr r2,r4; brctg r5,-8: emitted twice (the second
        // time with r2-r5 cached at the loop head), encoded once.
        let code = [
            0xb9, 0x04, 0x00, 0x23, 0xb9, 0x08, 0x00, 0x24, 0xa7, 0x57, 0xff, 0xfc, 0, 0,
        ];
        assert_eq!(translated(&code).encoder.blocks, 1);
    }

    #[test]
    fn the_dropped_and_the_nops_not_asked_for_are_left_out_never_the_last() {
        // mov, nop, mov (dropped), nop (kept: asked for), nop, mov
        // (dropped past the end of the list too), nop (the last).
        let mov = Instruction::with2(Code::Mov_rm64_r64, Register::RAX, Register::RBX).unwrap();
        let nop = Instruction::with(Code::Nopd);
        let code = [mov, nop, mov, nop, nop, mov, nop];
        let out = left_out(&code, &[2, 5, 6, 9], |n| n == 3);
        assert_eq!(out, [false, true, true, false, true, true, false]);
        assert!(left_out(&[], &[0], |_| false).is_empty());
    }

    #[test]
    fn a_nop_that_carries_only_a_label_is_left_out_and_its_branches_follow() {
        // The loop of a_loop_whose_start_sets_the_cc_again...: AGR and
        // AGHI each end their overflow check at a label; its nop goes
        // (docs/CHOICES.md §63b).
        let code = [
            0xb9, 0x04, 0x00, 0x54, 0xb9, 0x08, 0x00, 0x54, 0xa7, 0x2b, 0xff, 0xff, 0xa7, 0x17,
            0xff, 0xfa, 0, 0,
        ];
        let t = translated(&code);
        let host = t.a.instructions();
        let starts = [0, 5];
        let (kept, moved) = without_nops(host, &left_out(host, &[], |n| starts.contains(&n)));
        let nops = |code: &[Instruction]| code.iter().filter(|i| i.code() == Code::Nopd).count();
        assert!(nops(host) >= 2);
        assert!(nops(&kept) < nops(host));
        // Every branch to a label goes to an instruction kept, and each
        // old index maps to an instruction at or after it.
        for i in &kept {
            if i.op0_kind() == OpKind::NearBranch64 && i.near_branch64() < 0x1000 {
                let to = i.near_branch64();
                assert!(kept.iter().any(|k| k.ip() == to), "{to:#x}");
            }
        }
        assert_eq!(moved.len(), host.len());
        for (old, &new) in moved.iter().enumerate() {
            if host[old].code() != Code::Nopd {
                let (mut was, mut is) = (host[old], kept[new]);
                was.set_ip(0);
                is.set_ip(0);
                if was.op0_kind() == OpKind::NearBranch64 {
                    assert_eq!(was.code(), is.code());
                } else {
                    assert_eq!(was, is);
                }
            }
        }
    }

    #[test]
    fn a_compare_whose_branch_is_its_only_reader_computes_no_cc_before_it() {
        // clgr r1,r2; jle; larl r5; agr r3,r5: the cc only where the
        // branch is taken (docs/CHOICES.md §63e).
        let code = [
            0xb9, 0x21, 0x00, 0x12, 0xa7, 0xc4, 0x00, 0x08, 0xc0, 0x50, 0, 0, 0, 0, 0xb9, 0x08,
            0x00, 0x35, 0, 0,
        ];
        let host = emitted(&code);
        let cmp = host
            .iter()
            .position(|i| {
                i.mnemonic() == iced_x86::Mnemonic::Cmp
                    && i.op0_register() == iced_x86::Register::RAX
            })
            .unwrap();
        let branch = cmp + 1;
        assert_eq!(
            host[branch].mnemonic(),
            iced_x86::Mnemonic::Ja,
            "jle skips on high"
        );
        assert!(host[branch + 1..]
            .iter()
            .take(12)
            .any(|i| i.mnemonic() == iced_x86::Mnemonic::Setb));
    }

    #[test]
    fn a_branch_after_a_compare_with_a_slow_path_jumps_on_flags_made_again_there() {
        // clg r1,0(r2); jle: the slow path, where the interpreter ran the
        // compare, makes the compare's flags again from its cc before it
        // rejoins at the branch (docs/CHOICES.md §85).
        let code = [
            0xe3, 0x10, 0x20, 0x00, 0x00, 0x21, 0xa7, 0xc4, 0x00, 0x04, 0, 0,
        ];
        let host = emitted(&code);
        assert!(!tests_the_cc(&host));
        assert!(host.iter().any(|i| i.code() == Code::Ja_rel32_64));
        assert!(host.iter().any(|i| i.code() == Code::Xor_rm32_imm8
            && i.op0_register() == Register::EDX
            && i.immediate8() == 0x10));
    }

    #[test]
    fn every_cache_register_has_its_own_narrow_names() {
        for r in CACHE {
            let i = WIDE.iter().position(|&w| w == r);
            assert!(i.is_some(), "{r:?}");
            assert_ne!(low32(r), esi, "{r:?}");
            assert_ne!(low16(r), si, "{r:?}");
            assert_ne!(low8(r), sil, "{r:?}");
        }
    }
}
