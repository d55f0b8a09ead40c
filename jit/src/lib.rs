//! # zmmu-jit
//!
//! The `jit` engine: s390x blocks translated by `zmmu-translator` to x86-64
//! code, run in this process. This crate owns what the `no_std` translator
//! cannot: executable memory ([`buffer`], W^X by `mprotect`), the block
//! cache, invalidation, and the run loop [`Jit::run`], which behaves as
//! calling [`Cpu::step`] up to `max` times, stopping at the first
//! interruption.
//!
//! - Blocks are keyed by the absolute address of their first instruction
//!   and the PSW bits translation depends on (DAT, address-space control,
//!   problem state, key, addressing mode); a jump cache maps (PSW address,
//!   those bits) to a block and is dropped on every change of translation
//!   (a [`PendingFlush`], a control-register or prefix change).
//! - Frames that hold translated code are marked in storage and in the TLB
//!   (`Storage::set_code_frame`, `Tlb::mark_code`), so stores to them miss
//!   inline and reach the interpreter, whose writes go through [`Watch`]:
//!   blocks overlapping the bytes written are dropped before the next
//!   instruction executes.
//! - A full code buffer (or block table) is flushed and refilled.

#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod buffer;

use std::collections::HashMap;

use zmmu_cpu::clock::Timing;
use zmmu_cpu::decode::Insn;
use zmmu_cpu::exec::{execute, Next};
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::memory::{Access, AddressType, Memory, System};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, Cpu};
use zmmu_machine::bus::DatBus;
use zmmu_machine::system::Board;
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::{AbsoluteAddress, RealAddress};
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::exception::{Ending, Exception};
use zmmu_mmu::invalidate::PendingFlush;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::storage::Storage;
use zmmu_translator::{abi, decode_block, translate, Env, Guest};

use buffer::CodeBuffer;

/// What the jit needs besides the [`zmmu_cpu::memory::Bus`]: the DAT bus
/// whose TLB and storage the generated code probes and reads.
pub trait JitMemory: Memory + System {
    /// The DAT bus (software TLB + absolute storage).
    fn dat_bus(&mut self) -> &mut DatBus;
}

impl JitMemory for DatBus {
    fn dat_bus(&mut self) -> &mut DatBus {
        self
    }
}

impl JitMemory for Board<'_> {
    fn dat_bus(&mut self) -> &mut DatBus {
        self.bus
    }
}

/// The PSW bits translated code depends on.
const KEY_BITS: u64 = mask::DAT | mask::ASC | mask::PROBLEM | mask::KEY | mask::EA | mask::BA;

/// The default size of the code buffer.
pub const DEFAULT_BUFFER: usize = 64 << 20;

/// The most blocks kept before a flush.
const MAX_BLOCKS: usize = 1 << 16;

/// Counters for `--stats`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Guest instructions executed (as `Cpu::step` counts them).
    pub instructions: u64,
    /// Instructions executed by translated blocks' native code.
    pub native: u64,
    /// Blocks translated.
    pub blocks: u64,
    /// Bytes of host code emitted.
    pub code_bytes: u64,
    /// Guest instructions translated.
    pub translated_instructions: u64,
    /// Block lookups served by the jump cache.
    pub jump_hits: u64,
    /// Block lookups served by the block cache after a jump-cache miss.
    pub cache_hits: u64,
    /// Blocks executed.
    pub blocks_run: u64,
    /// Helper calls (fallbacks plus slow paths).
    pub helper_calls: u64,
    /// Slow paths of native instructions (TLB miss, page crossing, overflow).
    pub slow_paths: u64,
    /// Instructions interpreted with `Cpu::step` outside blocks (fetch
    /// exceptions, page-crossing instructions, the end of the budget).
    pub steps: u64,
    /// Full flushes of the code buffer.
    pub flushes: u64,
    /// Blocks dropped by stores into their bytes.
    pub smc_invalidations: u64,
    /// Jump-cache drops (translation changes).
    pub jump_flushes: u64,
    /// Interpreter fallbacks by mnemonic (instructions not translated).
    pub fallbacks: HashMap<&'static str, u64>,
}

/// One translated block.
#[derive(Debug)]
struct Block {
    /// Offset of its code in the buffer.
    code: usize,
    insns: Vec<Guest>,
    native: Vec<bool>,
    /// Absolute bytes it was translated from.
    start: u64,
    end: u64,
    key: (u64, u64),
    valid: bool,
}

/// The jit's caches (what the helper changes).
#[derive(Debug)]
struct Caches {
    blocks: Vec<Block>,
    by_key: HashMap<(u64, u64), usize>,
    jump: HashMap<(u64, u64), usize>,
    /// Absolute page -> blocks with bytes in it.
    pages: HashMap<u64, Vec<usize>>,
    /// The controls the jump cache was filled under.
    jump_controls: Option<Controls>,
    /// The block running now was invalidated.
    current_dirty: bool,
    current: Option<usize>,
    stats: Stats,
}

impl Caches {
    fn clear_jump(&mut self) {
        if !self.jump.is_empty() {
            self.stats.jump_flushes += 1;
            self.jump.clear();
        }
    }

    /// Drops the blocks with bytes in `start..end` (absolute).
    fn invalidate_range(&mut self, start: u64, end: u64) {
        if self.pages.is_empty() || start >= end {
            return;
        }
        let first = start & !0xfff;
        let pages: Vec<u64> = if end - first > 64 * 0x1000 {
            self.pages
                .keys()
                .copied()
                .filter(|&p| p < end && p + 0x1000 > start)
                .collect()
        } else {
            (first..end).step_by(0x1000).collect()
        };
        let mut dropped = Vec::new();
        for page in pages {
            let Some(list) = self.pages.get_mut(&page) else {
                continue;
            };
            let blocks = &mut self.blocks;
            list.retain(|&id| {
                let b = &mut blocks[id];
                if b.valid && b.start < end && start < b.end {
                    b.valid = false;
                    dropped.push(id);
                }
                b.valid
            });
            if list.is_empty() {
                self.pages.remove(&page);
            }
        }
        if dropped.is_empty() {
            return;
        }
        for id in dropped {
            self.by_key.remove(&self.blocks[id].key);
            self.stats.smc_invalidations += 1;
        }
        if self.current.is_some_and(|id| !self.blocks[id].valid) {
            self.current_dirty = true;
        }
        self.clear_jump();
    }

    /// Whether any block has bytes in the page of `absolute`.
    fn has_code(&self, absolute: u64) -> bool {
        self.pages
            .get(&(absolute & !0xfff))
            .is_some_and(|l| !l.is_empty())
    }
}

/// The context generated code and the helper share; its first fields are
/// [`zmmu_translator::abi`]'s.
#[repr(C)]
struct Ctx<M> {
    helper: extern "sysv64" fn(*mut Ctx<M>, u64) -> u64,
    tlb: u64,
    storage: u64,
    storage_len: u64,
    cpu: *mut Cpu,
    mem: *mut M,
    caches: *mut Caches,
    exit_index: usize,
    result: Result<(), Interruption>,
    leave_run: bool,
}

const _: () = {
    assert!(core::mem::offset_of!(Ctx<DatBus>, helper) == abi::CTX_HELPER);
    assert!(core::mem::offset_of!(Ctx<DatBus>, tlb) == abi::CTX_TLB);
    assert!(core::mem::offset_of!(Ctx<DatBus>, storage) == abi::CTX_STORAGE);
    assert!(core::mem::offset_of!(Ctx<DatBus>, storage_len) == abi::CTX_STORAGE_LEN);
};

/// The jit engine of one CPU.
#[derive(Debug)]
pub struct Jit {
    buffer: CodeBuffer,
    caches: Caches,
    movbe: bool,
}

/// The memory an instruction run by the interpreter on behalf of the jit
/// sees: the machine's, with stores into translated code and changes of
/// translation reported to the jit's caches.
pub struct Watch<'a, M> {
    inner: &'a mut M,
    caches: &'a mut Caches,
}

impl<M> core::fmt::Debug for Watch<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl<M: JitMemory> Watch<'_, M> {
    /// After a successful store of `len` bytes at `addr`: drops the blocks
    /// it overwrote.
    fn stored(&mut self, acc: &Access<'_>, addr: u64, len: usize) {
        if self.caches.pages.is_empty() || len == 0 {
            return;
        }
        let read = Access {
            kind: AccessKind::Read,
            ..*acc
        };
        let mut at = addr;
        let mut left = len as u64;
        while left > 0 {
            let in_page = (0x1000 - (at & 0xfff)).min(left);
            let absolute = match acc.space {
                AddressType::Absolute => Ok(AbsoluteAddress::new(at)),
                _ => self.inner.translate(&read, at),
            };
            match absolute {
                Ok(abs) => {
                    let abs = abs.value();
                    if self.caches.has_code(abs) {
                        self.caches.invalidate_range(abs, abs + in_page);
                    }
                }
                // The store succeeded, so this is not expected; be safe.
                Err(_) => self.caches.invalidate_range(0, u64::MAX),
            }
            at = at.wrapping_add(in_page);
            left -= in_page;
        }
    }
}

impl<M: JitMemory> Memory for Watch<'_, M> {
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        self.inner.read(acc, addr, buf)
    }
    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        self.inner.write(acc, addr, data)?;
        self.stored(acc, addr, data.len());
        Ok(())
    }
    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        self.inner.check(acc, addr, len)
    }
    fn translate(&mut self, acc: &Access<'_>, addr: u64) -> Result<AbsoluteAddress, Exception> {
        self.inner.translate(acc, addr)
    }
    fn facilities(&self) -> Facilities {
        self.inner.facilities()
    }
    fn storage(&mut self) -> &mut dyn Storage {
        self.inner.storage()
    }
    fn invalidate(&mut self, flush: PendingFlush) {
        self.inner.invalidate(flush);
        self.caches.clear_jump();
    }
    fn fault(&mut self, fault: Fault) -> Exception {
        self.inner.fault(fault)
    }
}

impl<M: JitMemory> System for Watch<'_, M> {
    fn system_instruction(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let r = self.inner.system_instruction(cpu, insn);
        if insn.op == Opcode::SERVC {
            // The SCLP wrote the SCCB (at most 4 KiB at the real address
            // in R2) straight into storage.
            let real = cpu.r64(insn.f.r2) & 0x7fff_fff8;
            let abs = cpu.prefix.to_absolute(RealAddress::new(real)).value();
            self.caches
                .invalidate_range(abs, abs.saturating_add(0x1000));
        } else {
            self.caches.invalidate_range(0, u64::MAX);
        }
        r
    }

    fn clock(&mut self) -> Option<&mut dyn Timing> {
        self.inner.clock()
    }
}

/// Runs `insn` at `at` as [`Cpu::step`] does after its fetch.
fn step_decoded<M: JitMemory>(
    cpu: &mut Cpu,
    bus: &mut Watch<'_, M>,
    insn: Insn,
    at: u64,
) -> Result<(), Interruption> {
    let ilc = insn.ilc();
    let next = cpu.psw.amode().wrap(at.wrapping_add(u64::from(insn.len)));
    match execute(cpu, bus, insn, at) {
        Ok(Next::Seq) => cpu.psw.addr = next,
        Ok(Next::Jump(t)) => cpu.psw.addr = t,
        Ok(Next::Again) => cpu.psw.addr = at,
        Ok(Next::NewPsw) => {}
        Ok(Next::Svc(code)) => {
            cpu.psw.addr = next;
            return Err(Interruption::Supervisor { code, ilc });
        }
        Err(exception) => {
            cpu.psw.addr = match exception.code.ending() {
                Ending::Nullify => at,
                Ending::Suppress | Ending::Complete => next,
            };
            return Err(Interruption::Program { exception, ilc });
        }
    }
    Ok(())
}

/// Instructions after which the run returns to the machine: they may make
/// an interruption pending or change what the machine checks between
/// instructions.
fn leaves_run(op: Opcode) -> bool {
    op.is_system() || op.is_dat() || matches!(op, Opcode::LCTL | Opcode::LCTLG)
}

/// The helper generated code calls: runs instruction `index` of the current
/// block with the interpreter's semantics.
extern "sysv64" fn helper<M: JitMemory>(ctx: *mut Ctx<M>, index: u64) -> u64 {
    // SAFETY: generated code passes back the context pointer `Jit::run`
    // gave it; the context, the CPU, the memory and the caches it points
    // to are not otherwise referenced while a block runs (`Jit::run`
    // holds no reference across the call).
    let ctx = unsafe { &mut *ctx };
    // SAFETY: as above.
    let (cpu, mem, caches) = unsafe { (&mut *ctx.cpu, &mut *ctx.mem, &mut *ctx.caches) };
    let index = index as usize;
    let Some(block) = caches.current.and_then(|id| caches.blocks.get(id)) else {
        return abi::EXIT;
    };
    let Some(&Guest { at, insn }) = block.insns.get(index) else {
        ctx.exit_index = index.saturating_sub(1);
        ctx.result = Ok(());
        return abi::EXIT;
    };
    let native = block.native[index];
    caches.stats.helper_calls += 1;
    if native {
        caches.stats.slow_paths += 1;
    } else {
        *caches
            .stats
            .fallbacks
            .entry(insn.op.mnemonic())
            .or_insert(0) += 1;
    }
    cpu.psw.addr = at;
    let mask_before = cpu.psw.mask & !mask::CC;
    let next = cpu.psw.amode().wrap(at.wrapping_add(u64::from(insn.len)));
    let result = {
        let mut watch = Watch {
            inner: mem,
            caches: &mut *caches,
        };
        step_decoded(cpu, &mut watch, insn, at)
    };
    let mask_changed = cpu.psw.mask & !mask::CC != mask_before;
    let leave = result.is_err()
        || insn.op.ends_block()
        || mask_changed
        || caches.current_dirty
        || cpu.psw.addr != next;
    if !leave {
        return abi::END;
    }
    ctx.exit_index = index;
    ctx.result = result;
    ctx.leave_run = mask_changed || leaves_run(insn.op);
    abi::EXIT
}

impl Jit {
    /// A jit with a code buffer of `buffer` bytes (rounded up to pages).
    /// Fails on hosts other than x86-64 and when executable memory cannot
    /// be mapped.
    pub fn new(buffer: usize) -> Result<Self, String> {
        if !cfg!(target_arch = "x86_64") {
            return Err("the jit engine needs an x86-64 host".into());
        }
        Ok(Self {
            buffer: CodeBuffer::new(buffer)?,
            caches: Caches {
                blocks: Vec::new(),
                by_key: HashMap::new(),
                jump: HashMap::new(),
                pages: HashMap::new(),
                jump_controls: None,
                current_dirty: false,
                current: None,
                stats: Stats::default(),
            },
            movbe: host_has_movbe(),
        })
    }

    /// Uses (or not) MOVBE in code translated from now on (tests).
    pub fn set_movbe(&mut self, movbe: bool) {
        self.movbe = movbe && host_has_movbe();
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.caches.stats
    }

    /// Drops every block and the whole code buffer.
    pub fn flush<M: JitMemory>(&mut self, mem: &mut M) {
        let bus = mem.dat_bus();
        for &page in self.caches.pages.keys() {
            let _ = bus
                .storage
                .set_code_frame(AbsoluteAddress::new(page), false);
        }
        self.caches.blocks.clear();
        self.caches.by_key.clear();
        self.caches.jump.clear();
        self.caches.pages.clear();
        self.buffer.reset();
        self.caches.stats.flushes += 1;
    }

    /// Tells the TLB about control-register and prefix changes; drops the
    /// jump cache when translation changed.
    fn sync<M: JitMemory>(&mut self, cpu: &Cpu, mem: &mut M) {
        let bus = mem.dat_bus();
        let controls = bus.controls(cpu);
        if controls != *bus.tlb.controls() {
            bus.tlb.set_controls(&controls);
        }
        if self.caches.jump_controls != Some(controls) {
            self.caches.jump_controls = Some(controls);
            self.caches.clear_jump();
        }
    }

    /// Runs `cpu` on `mem` as up to `max` calls of [`Cpu::step`] would,
    /// stopping after the first that returns an interruption (or earlier,
    /// after an instruction that may have made an interruption pending or
    /// changed the PSW mask). Returns the instructions executed (the one
    /// that ended in the interruption included) and the result of the last.
    pub fn run<M: JitMemory>(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut M,
        max: u64,
    ) -> (u64, Result<(), Interruption>) {
        let mut done = 0u64;
        self.sync(cpu, mem);
        // The machine may have stored into the lowcore (interruptions).
        let lowcore = cpu.prefix.value();
        self.caches.invalidate_range(lowcore, lowcore + 0x2000);
        let result = loop {
            if done >= max {
                break Ok(());
            }
            let block = self.block(cpu, mem);
            let fits =
                block.is_some_and(|id| self.caches.blocks[id].insns.len() as u64 <= max - done);
            let (Some(id), true) = (block, fits) else {
                done += 1;
                self.caches.stats.steps += 1;
                let r = self.step(cpu, mem);
                self.sync(cpu, mem);
                if r.is_err() || cpu.psw.mask & mask::WAIT != 0 {
                    break r;
                }
                continue;
            };
            let (n, r, exited, leave) = self.run_block(id, cpu, mem);
            done += n;
            if exited {
                self.sync(cpu, mem);
            }
            if r.is_err() || leave || cpu.psw.mask & mask::WAIT != 0 {
                break r;
            }
        };
        self.caches.stats.instructions += done;
        (done, result)
    }

    /// Interprets one instruction (outside any block).
    fn step<M: JitMemory>(&mut self, cpu: &mut Cpu, mem: &mut M) -> Result<(), Interruption> {
        self.caches.current = None;
        let mut watch = Watch {
            inner: mem,
            caches: &mut self.caches,
        };
        cpu.step(&mut watch)
    }

    /// The block at the PSW, translated if need be; `None` when the
    /// interpreter must fetch (an exception, an instruction crossing the
    /// page, an invalid PSW).
    fn block<M: JitMemory>(&mut self, cpu: &Cpu, mem: &mut M) -> Option<usize> {
        let psw = cpu.psw;
        if !psw.is_valid() || psw.addr & 1 != 0 {
            return None;
        }
        let bits = psw.mask & KEY_BITS;
        if let Some(&id) = self.caches.jump.get(&(psw.addr, bits)) {
            self.caches.stats.jump_hits += 1;
            return Some(id);
        }
        let acc = Access {
            kind: AccessKind::InstructionFetch,
            space: AddressType::Logical { base: 0 },
            cpu,
        };
        let abs = mem.translate(&acc, psw.addr).ok()?.value();
        if let Some(&id) = self.caches.by_key.get(&(abs, bits)) {
            self.caches.stats.cache_hits += 1;
            self.caches.jump.insert((psw.addr, bits), id);
            return Some(id);
        }
        let amode = psw.amode();
        let page_end = (abs | 0xfff) + 1;
        let insns = {
            let bytes = mem.dat_bus().storage.bytes();
            let end = usize::try_from(page_end).ok()?.min(bytes.len());
            let bytes = bytes.get(usize::try_from(abs).ok()?..end)?;
            decode_block(bytes, psw.addr, amode, zmmu_translator::MAX_BLOCK)
        };
        let last = insns.last()?;
        let len: u64 = insns.iter().map(|g| u64::from(g.insn.len)).sum();
        let _ = last;
        let env = Env {
            amode,
            key: psw.key(),
            partition: match (psw.dat(), psw.asc()) {
                (false, _) => Some(0),
                (true, 0) => Some(1),
                (true, 2) => Some(2),
                (true, 3) => Some(3),
                _ => None,
            },
            movbe: self.movbe,
        };
        if self.caches.blocks.len() >= MAX_BLOCKS {
            self.flush(mem);
        }
        let mut placed = None;
        for _ in 0..2 {
            let ip = self.buffer.next_address();
            let translated = translate(&insns, &env, ip).ok()?;
            if let Some(at) = self.buffer.push(&translated.code) {
                placed = Some((at, translated));
                break;
            }
            self.flush(mem);
        }
        let (code, translated) = placed?;
        let page = abs & !0xfff;
        let bus = mem.dat_bus();
        let _ = bus.storage.set_code_frame(AbsoluteAddress::new(page), true);
        bus.tlb.mark_code(AbsoluteAddress::new(page));
        let stats = &mut self.caches.stats;
        stats.blocks += 1;
        stats.code_bytes += translated.code.len() as u64;
        stats.translated_instructions += insns.len() as u64;
        let id = self.caches.blocks.len();
        self.caches.blocks.push(Block {
            code,
            insns,
            native: translated.native,
            start: abs,
            end: abs + len,
            key: (abs, bits),
            valid: true,
        });
        self.caches.by_key.insert((abs, bits), id);
        self.caches.jump.insert((psw.addr, bits), id);
        self.caches.pages.entry(page).or_default().push(id);
        Some(id)
    }

    /// Runs block `id`: (instructions executed, result of the last,
    /// whether the helper ended it, whether the run must return).
    fn run_block<M: JitMemory>(
        &mut self,
        id: usize,
        cpu: &mut Cpu,
        mem: &mut M,
    ) -> (u64, Result<(), Interruption>, bool, bool) {
        let code = self.buffer.address(self.caches.blocks[id].code);
        let len = self.caches.blocks[id].insns.len();
        self.caches.current = Some(id);
        self.caches.current_dirty = false;
        self.caches.stats.blocks_run += 1;
        let bus = mem.dat_bus();
        let tlb = bus.tlb.entries_ptr() as u64;
        let bytes = bus.storage.bytes_mut();
        let (storage, storage_len) = (bytes.as_mut_ptr() as u64, bytes.len() as u64);
        let cpu_ptr: *mut Cpu = cpu;
        let mut ctx = Ctx::<M> {
            helper: helper::<M>,
            tlb,
            storage,
            storage_len,
            cpu: cpu_ptr,
            mem,
            caches: &mut self.caches,
            exit_index: 0,
            result: Ok(()),
            leave_run: false,
        };
        let status = call(code, cpu_ptr, &mut ctx);
        let exited = status != abi::END;
        self.caches.current = None;
        let n = if exited { ctx.exit_index + 1 } else { len };
        let native = self.caches.blocks[id].native[..n.min(len)]
            .iter()
            .filter(|&&x| x)
            .count();
        self.caches.stats.native += native as u64;
        (n as u64, ctx.result, exited, ctx.leave_run)
    }
}

/// Calls the block at `code`.
#[cfg(target_arch = "x86_64")]
fn call<M>(code: *const u8, cpu: *mut Cpu, ctx: *mut Ctx<M>) -> u64 {
    type BlockFn<M> = extern "sysv64" fn(*mut Cpu, *mut Ctx<M>) -> u64;
    // SAFETY: `code` is the start of a block the translator emitted for
    // this ABI into the executable buffer, which stays mapped and
    // executable (never writable) while the block runs.
    let f: BlockFn<M> = unsafe { core::mem::transmute::<*const u8, BlockFn<M>>(code) };
    f(cpu, ctx)
}

#[cfg(not(target_arch = "x86_64"))]
fn call<M>(_: *const u8, _: *mut Cpu, _: *mut Ctx<M>) -> u64 {
    unreachable!("Jit::new fails on other hosts")
}

/// Whether the host has MOVBE.
pub fn host_has_movbe() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("movbe")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
