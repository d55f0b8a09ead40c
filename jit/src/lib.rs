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
//!   (a [`PendingFlush`], a control-register or prefix change). A block
//!   whose last instruction crosses into the next page also depends on
//!   that page's frame, checked whenever the block is found by its key
//!   (docs/CHOICES.md §30).
//! - Frames that hold translated code are marked in storage and in the TLB
//!   (`Storage::set_code_frame`, `Tlb::mark_code`), so stores to them miss
//!   inline and reach the interpreter, whose writes go through [`Watch`]:
//!   blocks overlapping the bytes written are dropped before the next
//!   instruction executes.
//! - A full code buffer (or block table) is flushed and refilled.
//!
//! ```
//! use zmmu_cpu::state::{mask, Cpu, Psw};
//! use zmmu_jit::Jit;
//! use zmmu_machine::bus::DatBus;
//! use zmmu_mmu::prelude::*;
//!
//! // lghi %r2,7 ; aghi %r2,1 ; then an invalid opcode at 0x1008.
//! let mut storage = OwnedStorage::new(1 << 16);
//! storage.write(AbsoluteAddress::new(0x1000), &[0xa7, 0x29, 0, 7, 0xa7, 0x2b, 0, 1, 0, 0]).unwrap();
//! let mut bus = DatBus::new(storage);
//! let mut cpu = Cpu::new();
//! cpu.psw = Psw { mask: mask::EA | mask::BA, addr: 0x1000 };
//! let mut jit = Jit::new(1 << 20).unwrap();
//! let ran = jit.run(&mut cpu, &mut bus, 100);
//! // As three calls of Cpu::step: the third is an operation exception.
//! assert_eq!((ran.instructions, ran.last, cpu.gpr[2]), (3, 0x1008, 8));
//! assert!(ran.result.is_err());
//! ```

#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod buffer;
mod code_page;

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The block cache's maps: keyed by guest addresses, hashed with foldhash
/// (a few multiplications per key, where std's SipHash was 2% of Linux's
/// boot; its fixed seed lets a guest slow only its own lookups, see
/// docs/CHOICES.md §38).
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

use zmmu_cpu::clock::{Pace, Timing};
use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::{lowcore, Interruption};
use zmmu_cpu::memory::{Access, AddressType, Memory, System};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, Cpu};
use zmmu_machine::bus::DatBus;
use zmmu_machine::engine::{Engine, Ran};
use zmmu_machine::system::{Board, Stores};
use zmmu_machine::watchdog;
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::{AbsoluteAddress, RealAddress};
use zmmu_mmu::asce::Level;
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::exception::Exception;
use zmmu_mmu::invalidate::{Invalidation, PendingFlush};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::storage::Storage;
use zmmu_translator::{
    abi, decode_block, direct_targets, stubs_for, Env, Guest, MemoryAccess, Stubs, Translator,
};

use buffer::CodeBuffer;
use code_page::CodePage;

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

/// The default size of the code buffer: 128 MiB of address space, of which
/// only what blocks use is ever touched. Linux's boot to power-off makes
/// 66-70 MB of host code (a dropped block's code is not reused), which with
/// 64 MiB flushed every translation near its end, at times.
pub const DEFAULT_BUFFER: usize = 128 << 20;

/// The most blocks kept before a flush (a block number fits in the 16 bits
/// [`abi::last_run`] gives it).
const MAX_BLOCKS: usize = 1 << 16;

/// How many times a batch ends inside a block at one length, run by the
/// interpreter, before that prefix of the block is translated (see
/// `Jit::prefix`).
const PREFIX_AFTER: u32 = 8;

/// The entry at which `zmmu run` translates a block
/// ([`Jit::set_translate_after`]; docs/CHOICES.md §55a).
pub const TRANSLATE_AFTER: u32 = 2;

/// The most blocks whose entries [`Jit`] counts before translating them.
const COLD_ENTRIES: usize = 1 << 16;

/// Whether an instruction at `at` that left the PSW at `next` went on to
/// the next instruction in the same page (an instruction is 2, 4 or 6
/// bytes long).
fn sequential(at: u64, next: u64) -> bool {
    (2..=6).contains(&next.wrapping_sub(at)) && next & !0xfff == at & !0xfff
}

/// Counters for `--stats`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Guest instructions executed (as `Cpu::step` counts them).
    pub instructions: u64,
    /// Blocks translated.
    pub blocks: u64,
    /// Bytes of host code emitted.
    pub code_bytes: u64,
    /// Guest instructions translated.
    pub translated_instructions: u64,
    /// Blocks translated whose last instruction crosses into the next page.
    pub crossing_blocks: u64,
    /// Blocks the translator refused (its error: a branch forward past
    /// the block's end, or a bug): the interpreter runs them.
    pub refused: u64,
    /// Time spent decoding and translating blocks, in nanoseconds.
    pub translate_ns: u64,
    /// Block lookups served by the jump cache.
    pub jump_hits: u64,
    /// Block lookups served by the block cache after a jump-cache miss.
    pub cache_hits: u64,
    /// Entries into translated code from the run loop (blocks then chain
    /// through the jump cache without returning).
    pub entries: u64,
    /// Helper calls (fallbacks plus slow paths).
    pub helper_calls: u64,
    /// Slow paths of native instructions (a TLB miss the fill did not
    /// resolve, a page crossing, an overflow, a divide exception).
    pub slow_paths: u64,
    /// TLB fills called by inline probes.
    pub tlb_fills: u64,
    /// Stores the fill let through into frames that hold translated code
    /// (outside the code bytes) or into the two low pages (whose write
    /// permission the TLB does not hold).
    pub code_page_stores: u64,
    /// Instructions interpreted with `Cpu::step` outside blocks (blocks
    /// not translated yet, fetch exceptions, instructions crossing into a
    /// page whose frame is not referenced yet, see `crossing_frame`).
    pub steps: u64,
    /// Full flushes of the code buffer.
    pub flushes: u64,
    /// Exits pointed at a block translated after them (they went to the
    /// dispatcher until then).
    pub patched_exits: u64,
    /// Blocks dropped by stores into their bytes.
    pub smc_invalidations: u64,
    /// Jump-cache drops (translation changes), of every entry.
    pub jump_flushes: u64,
    /// Jump-cache drops by [`JumpDrop`] (`JumpDrop as usize`).
    pub jump_drops: [u64; JumpDrop::ALL.len()],
    /// Batches run ([`Engine::run`] or [`Jit::run`] calls).
    pub batches: u64,
    /// Of those, the batches that ran every instruction they were given.
    pub full_batches: u64,
    /// And those that ended at a block boundary because the host's clock
    /// passed the next enabled timer interruption or the watchdog
    /// ([`Engine::watches_clock`]).
    pub deadline_ends: u64,
    /// Chains of translated code that returned to the run loop, by
    /// [`ChainEnd`] (`ChainEnd as usize`).
    pub chain_ends: [u64; ChainEnd::ALL.len()],
    /// Blocks dropped, by [`Cause`] (`Cause as usize`; see
    /// [`Stats::drops_by_cause`]).
    pub drops: [u64; Cause::ALL.len()],
    /// Interpreter fallbacks (instructions not translated), by opcode
    /// (`Opcode as usize`; see [`Stats::fallbacks`]).
    pub fallback_counts: Vec<u64>,
    /// Slow paths, by opcode (see [`Stats::slow`]).
    pub slow_counts: Vec<u64>,
    /// Interpreted steps, by opcode (see [`Stats::steps_by_mnemonic`]).
    pub step_counts: Vec<u64>,
    /// The targets EXECUTE and EXECUTE RELATIVE LONG ran in the helper, by
    /// opcode (see [`Stats::execute_targets`]).
    pub execute_counts: Vec<u64>,
}

impl Stats {
    /// Interpreter fallbacks by mnemonic, most frequent first.
    pub fn fallbacks(&self) -> Vec<(&'static str, u64)> {
        by_mnemonic(&self.fallback_counts)
    }

    /// Slow paths of native instructions by mnemonic, most frequent first.
    pub fn slow(&self) -> Vec<(&'static str, u64)> {
        by_mnemonic(&self.slow_counts)
    }

    /// Instructions interpreted outside blocks by mnemonic, most frequent
    /// first (those whose fetch succeeded).
    pub fn steps_by_mnemonic(&self) -> Vec<(&'static str, u64)> {
        by_mnemonic(&self.step_counts)
    }

    /// The targets of the EXECUTEs the helper ran by mnemonic, most
    /// frequent first.
    pub fn execute_targets(&self) -> Vec<(&'static str, u64)> {
        by_mnemonic(&self.execute_counts)
    }

    /// Jump-cache drops by cause, most frequent first.
    pub fn jump_drops_by_cause(&self) -> Vec<(&'static str, u64)> {
        most_first(
            JumpDrop::ALL
                .iter()
                .map(|&c| (c.name(), self.jump_drops[c as usize])),
        )
    }

    /// Returns of translated code to the run loop by cause, most frequent
    /// first.
    pub fn chain_ends_by_cause(&self) -> Vec<(&'static str, u64)> {
        most_first(
            ChainEnd::ALL
                .iter()
                .map(|&c| (c.name(), self.chain_ends[c as usize])),
        )
    }

    /// Blocks dropped by cause, most frequent first.
    pub fn drops_by_cause(&self) -> Vec<(&'static str, u64)> {
        most_first(
            Cause::ALL
                .iter()
                .map(|&c| (c.name(), self.drops[c as usize])),
        )
    }

    /// Instructions executed by native code (neither a helper call nor an
    /// interpreted step).
    pub fn native(&self) -> u64 {
        self.instructions
            .saturating_sub(self.helper_calls)
            .saturating_sub(self.steps)
    }
}

/// What made the jump cache drop entries (counted in
/// [`Stats::jump_drops`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JumpDrop {
    /// Blocks were dropped (the entries that lead to them go).
    Blocks,
    /// An architected invalidation (IPTE, IDTE, PTLB, CSP, SSKE, ...) on
    /// this CPU (the entries whose fetch the TLB no longer translates to
    /// their block's frame go, and those set aside) or another (every
    /// entry goes).
    Invalidation,
    /// CR0's translation bits, the prefix or the facilities changed
    /// (every entry goes).
    Controls,
    /// The ASCE of instruction fetches in one mode changed (CR1: the
    /// primary, secondary and access-register modes; CR13: the home
    /// mode): that mode's entries are set aside (valid again when the
    /// same ASCE comes back with no drop of every entry in between), the
    /// other modes' stay.
    Space,
    /// The whole code buffer was flushed.
    Flush,
}

impl JumpDrop {
    /// Every cause, in `JumpDrop as usize` order.
    pub const ALL: [JumpDrop; 5] = [
        JumpDrop::Blocks,
        JumpDrop::Invalidation,
        JumpDrop::Controls,
        JumpDrop::Space,
        JumpDrop::Flush,
    ];

    /// Its name in `--stats`.
    pub fn name(self) -> &'static str {
        match self {
            JumpDrop::Blocks => "blocks-dropped",
            JumpDrop::Invalidation => "invalidation",
            JumpDrop::Controls => "controls",
            JumpDrop::Space => "asce-switch",
            JumpDrop::Flush => "flush",
        }
    }
}

/// Why a chain of translated code returned to the run loop (counted in
/// [`Stats::chain_ends`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEnd {
    /// The next block did not fit in the instruction budget (the batch
    /// ends, or the rest of it is shorter than the block).
    Budget,
    /// The dispatcher did not find the next address in the jump cache.
    Miss,
    /// The helper left after the instruction it ran (a branch or PSW
    /// change it made, an exception, a dropped block, a system
    /// instruction).
    Helper,
}

impl ChainEnd {
    /// Every cause, in `ChainEnd as usize` order.
    pub const ALL: [ChainEnd; 3] = [ChainEnd::Budget, ChainEnd::Miss, ChainEnd::Helper];

    /// Its name in `--stats`.
    pub fn name(self) -> &'static str {
        match self {
            ChainEnd::Budget => "budget",
            ChainEnd::Miss => "jump-cache-miss",
            ChainEnd::Helper => "helper",
        }
    }
}

/// Why blocks were dropped (counted in [`Stats::drops`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A store by the interpreter (or an interlocked update) into the
    /// block's bytes.
    Store,
    /// IPTE or IDTE rewrote DAT-table entries among the block's bytes.
    Tables,
    /// An instruction that used absolute storage directly, in a way not
    /// known here, changed the block's bytes.
    Storage,
    /// The machine (SCLP, STSI, SIGP, DIAG, I/O) stored into the block's
    /// bytes.
    System,
    /// The machine stored into the block's bytes in the lowcore
    /// (interruptions) between two runs.
    Lowcore,
    /// The block jumped straight to a dropped one.
    Linked,
    /// The next page, into which the block's last instruction crosses, maps
    /// to another frame (or none) now.
    Crossing,
}

impl Cause {
    /// Every cause, in `Cause as usize` order.
    pub const ALL: [Cause; 7] = [
        Cause::Store,
        Cause::Tables,
        Cause::Storage,
        Cause::System,
        Cause::Lowcore,
        Cause::Linked,
        Cause::Crossing,
    ];

    /// Its name in `--stats`.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Store => "store",
            Cause::Tables => "dat-tables",
            Cause::Storage => "absolute-storage",
            Cause::System => "system",
            Cause::Lowcore => "lowcore",
            Cause::Linked => "linked",
            Cause::Crossing => "next-page",
        }
    }
}

/// The non-zero counts, most frequent first.
fn most_first(counts: impl Iterator<Item = (&'static str, u64)>) -> Vec<(&'static str, u64)> {
    let mut list: Vec<(&'static str, u64)> = counts.filter(|&(_, n)| n > 0).collect();
    list.sort_by_key(|&(_, n)| core::cmp::Reverse(n));
    list
}

/// Counts by opcode (`Opcode as usize`) as (mnemonic, count), most
/// frequent first.
fn by_mnemonic(counts: &[u64]) -> Vec<(&'static str, u64)> {
    let mut list: Vec<(&'static str, u64)> = counts
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(op, &n)| {
            let name = zmmu_cpu::opcode::TABLE
                .get(op)
                .map_or("UNKNOWN", |row| row.op.mnemonic());
            (name, n)
        })
        .collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    list
}

/// Adds one to the count of `op`.
fn count(counts: &mut Vec<u64>, op: Opcode) {
    let op = op as usize;
    if counts.len() <= op {
        counts.resize(op + 1, 0);
    }
    counts[op] += 1;
}

/// One translated block.
#[derive(Debug)]
struct Block {
    /// Offset of its code in the buffer.
    code: usize,
    insns: Vec<Guest>,
    native: Vec<bool>,
    /// Absolute bytes it was translated from in its first frame (its code
    /// and the EXECUTE targets it runs natively, docs/CHOICES.md §64a),
    /// and the contents of all its bytes then (those of `second` after
    /// these).
    start: u64,
    end: u64,
    bytes: Vec<u8>,
    /// Where its last instruction crosses into the next page.
    second: Option<Second>,
    key: Key,
    env: Env,
    valid: bool,
    /// Blocks made of the first instructions of this one: (length, id).
    prefixes: Vec<(usize, usize)>,
    /// Lengths at which batches ended inside this block before a prefix of
    /// that length was translated: (length, how many times).
    tails: Vec<(usize, u32)>,
    /// Blocks that jump straight to this one: dropped with it.
    incoming: Vec<usize>,
}

/// The bytes of a block in the next logical page, from its start: its
/// last instruction crosses into that page, or the target of one of its
/// EXECUTEs lies there (docs/CHOICES.md §64a).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Second {
    /// The next page's logical address.
    logical: u64,
    /// The frame it was translated from, and the number of bytes there.
    frame: u64,
    len: u64,
}

impl Block {
    /// Its absolute byte ranges: in its first frame, and in the frame of
    /// the next page (its [`Second`]).
    fn ranges(&self) -> [Option<(u64, u64)>; 2] {
        [
            Some((self.start, self.end)),
            self.second.map(|s| (s.frame, s.frame + s.len)),
        ]
    }

    /// Whether it has bytes in `start..end` (absolute).
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.ranges()
            .into_iter()
            .flatten()
            .any(|(s, e)| s < end && start < e)
    }

    /// Whether `storage` no longer holds the bytes it was translated from.
    fn changed(&self, storage: &dyn Storage, now: &mut Vec<u8>) -> bool {
        now.resize(self.bytes.len(), 0);
        let mut at = 0;
        for (start, end) in self.ranges().into_iter().flatten() {
            let n = (end - start) as usize;
            let Some(part) = now.get_mut(at..at + n) else {
                return true;
            };
            if storage.read(AbsoluteAddress::new(start), part).is_none() {
                return true;
            }
            at += n;
        }
        *now != self.bytes
    }
}

/// A block is found by its logical address (the code depends on it:
/// relative branches, link addresses), its absolute address and the PSW
/// bits; for a block cut short to fit an instruction budget, its length is
/// in the (otherwise zero) low bits of the PSW bits.
type Key = (u64, u64, u64);

/// Entries of the jump cache.
/// 8192 (256 KiB): with 4096 (the kvm engine's), Linux's boot returned to
/// the run loop 4.8 million times for a miss, with 8192 3.1 million.
const JUMP_ENTRIES: usize = 8192;

/// The first slot of `addr`'s group (see [`abi::jump_ways`]).
fn jump_slot(addr: u64) -> usize {
    abi::jump_slot_in(addr, JUMP_ENTRIES)
}

/// The lists of listed jump-cache slots: one per page index (the index of
/// a page-table entry, bits 44-51 of an address).
const PAGE_LISTS: usize = 0x100;

/// The list of an entry for `addr`: its page index.
fn page_list(addr: u64) -> usize {
    Level::Page.index(addr) as usize
}

/// The frame of a jump-cache entry whose block crosses into the next
/// page: no translation's frame (not 4 KiB aligned).
const CROSSING: u64 = u64::MAX;

/// The instruction-fetch spaces whose jump-cache entries are dropped
/// apart: DAT off (the prefix), fetches translated by CR1 (the primary,
/// secondary and access-register modes: PoP, "Address Spaces", instruction
/// fetches use the primary ASCE but in the home mode), and the home mode
/// (CR13).
const SPACES: usize = 3;

/// The most ASCEs whose jump-cache entries are kept aside (Linux: one per
/// process recently run).
const ASIDE: usize = 16;

/// The fetch space (see [`SPACES`]) of blocks run under PSW bits `bits`.
fn fetch_space(bits: u64) -> usize {
    match (bits & mask::DAT != 0, (bits & mask::ASC) >> 46) {
        (false, _) => 0,
        (true, 3) => 2,
        (true, _) => 1,
    }
}

/// The absolute 4 KiB frame an instruction fetch at `addr` reaches through
/// the tables of the ASCE `source` names under `controls` as they are now
/// (what the fetch does when the TLB holds no translation; a fetch from a
/// page with the IEP bit would fail: `None`, as for a failed walk). Table
/// entries are read from absolute storage; no reference bit is set.
fn walked_frame(
    storage: &impl Storage,
    controls: &Controls,
    source: zmmu_mmu::control::AsceSource,
    addr: u64,
) -> Option<u64> {
    let done = zmmu_mmu::walk::walk(
        storage,
        controls.asce(source),
        addr,
        zmmu_mmu::walk::WalkControls::from(controls),
    )
    .ok()?;
    (!done.iep).then(|| done.absolute(addr, controls.prefix).value() & !0xfff)
}

/// One jump-cache entry: valid while `generation` is its fetch space's.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Jump {
    addr: u64,
    bits: u64,
    code: u64,
    generation: u32,
    block: u32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Jump>() == abi::JUMP_SIZE);
    assert!(offset_of!(Jump, addr) == abi::JUMP_ADDR);
    assert!(offset_of!(Jump, bits) == abi::JUMP_BITS);
    assert!(offset_of!(Jump, code) == abi::JUMP_CODE);
    assert!(offset_of!(Jump, generation) == abi::JUMP_GENERATION);
};

/// The jit's caches (what the helper changes).
#[derive(Debug)]
struct Caches {
    blocks: Vec<Block>,
    by_key: Map<Key, usize>,
    /// The exits to a block not translated yet (by the key it will have):
    /// (block, host address of its jump to the dispatcher).
    unlinked: Map<Key, Vec<(usize, u64)>>,
    /// (PSW address, PSW bits) -> block, in the slots of
    /// [`abi::jump_ways`] the dispatcher looks at.
    jump: Box<[Jump]>,
    /// Per fetch space ([`fetch_space`]), the generation of its valid
    /// jump-cache entries (0 is never valid).
    generations: [u32; SPACES],
    /// The last generation given to a space (each drop takes a new one).
    generation: u32,
    /// Generations set aside by an ASCE change: (fetch space, ASCE,
    /// generation), most recent last, at most [`ASIDE`]; forgotten when
    /// every entry is dropped.
    aside: Vec<(usize, u64, u32)>,
    /// The way of a full group that the next entry replaces.
    victim: usize,
    /// The slots that may hold an entry valid now or set aside, each once
    /// (`listed`), in the list of its address's page index ([`page_list`]):
    /// what the checks after an invalidation or a drop of blocks look at
    /// (not the whole cache; after IPTE only the lists of the pages it
    /// names).
    live: Box<[Vec<u32>]>,
    /// Per slot, 1 + the list of `live` it is in (0: none).
    listed: Box<[u16]>,
    /// Per slot, the frame of its entry's block, or [`CROSSING`] for a
    /// block whose last instruction crosses into the next page: what the
    /// check after an invalidation compares the TLB's translation with
    /// (without reading the block).
    frames: Box<[u64]>,
    /// Per slot, its entry's address (as in `jump`): a dense array, which
    /// the check after IPTE or IDTE reads before it reads an entry.
    addrs: Box<[u64]>,
    /// Absolute page -> blocks with bytes in it.
    pages: Map<u64, CodePage>,
    /// The code map generated code reads ([`abi::CTX_CODE_MAP`]): word `f`
    /// is frame `f`'s [`CodePage::granules`], one word per frame of
    /// storage.
    code_map: Vec<u64>,
    /// The controls the jump cache was filled under.
    jump_controls: Option<Controls>,
    /// The last pair fill's pages (see `fill_pair`), dropped with the jump
    /// cache.
    last_pair: Option<PairPages>,
    /// The block running now was invalidated.
    current_dirty: bool,
    /// The instruction being interpreted asked for absolute storage
    /// ([`Memory::storage`]: the DAT instructions), which it may change
    /// without a [`Memory::write`].
    storage_touched: bool,
    current: Option<usize>,
    stats: Stats,
}

impl Caches {
    /// After an instruction that used absolute storage directly: drops the
    /// blocks in the bytes it may have changed (the DAT table entries of
    /// IPTE and IDTE; for an instruction not known here, every block whose
    /// bytes in `storage` are no longer those it was translated from).
    fn after_storage(&mut self, storage: &dyn Storage, cpu: &Cpu, insn: Option<&Insn>) {
        if !core::mem::take(&mut self.storage_touched) {
            return;
        }
        match insn.map(|i| (i.op, cpu.r64(i.f.r1))) {
            // The facility list in the lowcore.
            Some((Opcode::STFL, _)) => {
                let at = cpu
                    .prefix
                    .to_absolute(RealAddress::new(lowcore::STFL))
                    .value();
                self.invalidate_range(at, at + 4, Cause::Storage);
            }
            // The page table of R1 (256 entries of 8 bytes).
            Some((Opcode::IPTE, r1)) => {
                let origin = r1 & !0x7ff;
                self.invalidate_range(origin, origin + 0x800, Cause::Tables);
            }
            // A region or segment table: at most 4 pages.
            Some((Opcode::IDTE, r1)) => {
                let origin = r1 & !0xfff;
                self.invalidate_range(origin, origin + 0x4000, Cause::Tables);
            }
            // Keys, reads, or an operand already dropped by `translate`
            // (the interlocked updates: `Memory::interlocked`).
            Some((
                Opcode::CSP
                | Opcode::CSPG
                | Opcode::CS
                | Opcode::CSY
                | Opcode::CSG
                | Opcode::CDS
                | Opcode::CDSY
                | Opcode::CDSG
                | Opcode::LAA
                | Opcode::LAAG
                | Opcode::LAAL
                | Opcode::LAALG
                | Opcode::LAN
                | Opcode::LANG
                | Opcode::LAO
                | Opcode::LAOG
                | Opcode::LAX
                | Opcode::LAXG
                | Opcode::SSKE
                | Opcode::ISKE
                | Opcode::RRBE
                | Opcode::LRA
                | Opcode::LRAY
                | Opcode::LRAG
                | Opcode::TPROT
                | Opcode::STRAG
                | Opcode::LPTEA
                | Opcode::PTLB
                | Opcode::SPX,
                _,
            )) => {}
            _ => self.revalidate(storage, 0, u64::MAX, Cause::Storage),
        }
    }

    /// The frames with code that `start..end` (absolute, non-empty)
    /// touches: looked up one by one for a short range, else by a scan.
    fn pages_in(&self, start: u64, end: u64) -> Vec<u64> {
        let first = start & !0xfff;
        if end - first > 64 * 0x1000 {
            self.pages
                .keys()
                .copied()
                .filter(|&p| p < end && p + 0x1000 > start)
                .collect()
        } else {
            (first..end)
                .step_by(0x1000)
                .filter(|p| self.pages.contains_key(p))
                .collect()
        }
    }

    /// Drops the blocks with bytes in `start..end` (absolute) whose bytes
    /// in `storage` differ from those they were translated from (and the
    /// blocks overlapping those): exact where the bytes a store reached
    /// are not known, and as cheap as the code in the range is small.
    fn revalidate(&mut self, storage: &dyn Storage, start: u64, end: u64, cause: Cause) {
        if self.pages.is_empty() || start >= end {
            return;
        }
        let mut now = Vec::new();
        let changed: Vec<(u64, u64)> = self
            .pages_in(start, end)
            .iter()
            .filter_map(|page| self.pages.get(page))
            .flat_map(|code| code.blocks.iter())
            .map(|&id| &self.blocks[id])
            .filter(|b| b.valid && b.overlaps(start, end))
            .filter(|b| b.changed(storage, &mut now))
            .flat_map(|b| b.ranges().into_iter().flatten())
            .collect();
        for (start, end) in changed {
            self.invalidate_range(start, end, cause);
        }
    }

    /// Drops every jump-cache entry (and those set aside).
    fn clear_jump(&mut self, cause: JumpDrop) {
        self.stats.jump_flushes += 1;
        self.stats.jump_drops[cause as usize] += 1;
        // Translation may have changed.
        self.last_pair = None;
        self.aside.clear();
        // No entry filled so far can be valid again.
        self.unlist_jumps();
        for space in 0..SPACES {
            self.generations[space] = self.next_generation();
        }
    }

    /// After blocks were dropped: drops the entries that lead to them
    /// (the others' translations and blocks stand).
    fn drop_jumps_to_dropped(&mut self) {
        self.stats.jump_drops[JumpDrop::Blocks as usize] += 1;
        // A frame may hold other code now.
        self.last_pair = None;
        self.retain_jumps(|e, _, _, blocks| blocks.get(e.block as usize).is_some_and(|b| b.valid));
    }

    /// Keeps the listed entries for which `keep` (given the blocks) says
    /// so, drops the others.
    fn retain_jumps(&mut self, keep: impl FnMut(&Jump, u64, u64, &[Block]) -> bool) {
        self.retain_listed(0..PAGE_LISTS, keep);
    }

    /// [`Self::retain_jumps`] over the entries in the lists `lists` only
    /// (those in the others stay, whatever `keep` would say); `keep` is
    /// given an entry, its address (`addrs`: reading it does not read the
    /// entry), its frame (`frames`) and the blocks.
    fn retain_listed(
        &mut self,
        lists: impl IntoIterator<Item = usize>,
        mut keep: impl FnMut(&Jump, u64, u64, &[Block]) -> bool,
    ) {
        let (jump, listed, blocks) = (&mut self.jump, &mut self.listed, &self.blocks);
        for list in lists {
            self.live[list].retain(|&slot| {
                let slot = slot as usize;
                let kept = keep(&jump[slot], self.addrs[slot], self.frames[slot], blocks);
                if !kept {
                    jump[slot].generation = 0;
                    listed[slot] = 0;
                }
                kept
            });
        }
    }

    /// Forgets the lists after every entry was dropped.
    fn unlist_jumps(&mut self) {
        for list in self.live.iter_mut() {
            for &slot in list.iter() {
                self.listed[slot as usize] = 0;
            }
            list.clear();
        }
    }

    /// After an invalidation this CPU's TLB has applied: keeps the entries
    /// of the current generations whose instruction fetch the TLB still
    /// translates to the frame of their block, or, after IPTE and IDTE,
    /// where the TLB holds no translation (lost with its capacity, or
    /// purged), the walk of the
    /// tables as they are now ([`walked_frame`]): the translation the
    /// interpreter's fetch would use (§65b); drops the others and those set
    /// aside. A block whose last instruction crosses into the next page
    /// depends on that page too: it goes. After IPTE or IDTE
    /// (`invalidation`), an entry whose page and next page have other
    /// indexes at the level of the table entries invalidated was formed
    /// through none of them and stays without a lookup (docs/CHOICES.md
    /// §55b), judged by its address alone (`addrs`), even when it was
    /// dropped or set aside before, which leaves it listed until a later
    /// look; after IPTE such entries are not even looked at (the lists of
    /// other page indexes, §59a). The generations set aside then stay set
    /// aside: their entries that may have been formed through the entries
    /// invalidated are dropped here, the others stand as a TLB's entries
    /// of another ASCE would (PoP, "INVALIDATE PAGE TABLE ENTRY": only
    /// translations formed through the invalidated entries are cleared;
    /// §65a). After a purge of every translation (CSP,
    /// CSPG, PTLB) the entries under DAT all go at once, by new
    /// generations (§59a).
    fn recheck_jump(
        &mut self,
        tlb: &zmmu_mmu::tlb::Tlb,
        storage: &impl Storage,
        invalidation: &Invalidation,
    ) {
        self.stats.jump_drops[JumpDrop::Invalidation as usize] += 1;
        self.last_pair = None;
        if *invalidation == Invalidation::All {
            self.aside.clear();
            // The TLB is empty now (`Tlb::invalidate`): no entry formed
            // under DAT would stand its lookup, those of DAT off all do.
            for space in 1..SPACES {
                self.generations[space] = self.next_generation();
            }
            return;
        }
        let generations = self.generations;
        // Whether a translation of an address was formed through none of
        // the table entries IPTE or IDTE invalidated (by its index at their
        // level; IDTE's indexes wrap within the table); `None`: any may be.
        let entries = match *invalidation {
            Invalidation::PageTableEntries { first, extra, .. } => {
                Some((Level::Page, u64::from(first), u64::from(extra), 0x100))
            }
            Invalidation::TableEntries {
                level,
                first,
                extra,
                ..
            } => Some((level, u64::from(first), u64::from(extra), 0x800)),
            _ => None,
        };
        if entries.is_none() {
            // Translations of any page may be gone: those set aside
            // cannot be looked up.
            self.aside.clear();
        }
        let untouched = entries.map(|(level, first, extra, size)| {
            move |addr: u64| (level.index(addr).wrapping_sub(first) & (size - 1)) > extra
        });
        // The lists that may hold such entries: after IPTE those of the
        // pages invalidated and of the page before each (whose block may
        // cross into it); else all.
        let (from, count) = match entries {
            Some((Level::Page, first, extra, _)) if extra + 2 < PAGE_LISTS as u64 => {
                (first as usize + PAGE_LISTS - 1, extra as usize + 2)
            }
            _ => (0, PAGE_LISTS),
        };
        let lists = (from..from + count).map(|list| list % PAGE_LISTS);
        let walked = core::cell::Cell::new(None);
        let tables_only = matches!(
            invalidation,
            Invalidation::PageTableEntries { .. }
                | Invalidation::TableEntries { .. }
                | Invalidation::Asce(_)
        );
        self.retain_listed(lists, |e, addr, block_frame, _| {
            if let Some(untouched) = untouched {
                // The block's page and the next, which a block's last
                // instruction may cross into: formed through none of the
                // entries, it stays (a stale one stays listed).
                if untouched(addr) && untouched(addr.wrapping_add(0x1000)) {
                    return true;
                }
            }
            let space = fetch_space(e.bits);
            if e.generation != generations[space] {
                // Dropped already, or set aside.
                return false;
            }
            if space == 0 {
                // DAT off: no translation to purge.
                return true;
            }
            let psw = zmmu_cpu::state::Psw {
                mask: e.bits,
                addr: e.addr,
            };
            let source = match space {
                2 => zmmu_mmu::control::AsceSource::Home,
                _ => zmmu_mmu::control::AsceSource::Primary,
            };
            let partition = zmmu_mmu::tlb::partition_index(Some(source));
            match tlb.lookup(partition, e.addr, AccessKind::InstructionFetch, psw.key()) {
                Some(frame) => frame & !0xfff == block_frame,
                // Not in the TLB (gone with its capacity, or purged by a
                // change of the tables): the fetch would walk the tables
                // as they are now. After a change of a storage key or the
                // prefix the walk is not the whole fetch: the entry goes.
                None if tables_only => {
                    // Blocks of one page share its walk.
                    let page = (e.addr & !0xfff, space);
                    let frame = match walked.get() {
                        Some((at, frame)) if at == page => frame,
                        _ => {
                            let frame = walked_frame(storage, tlb.controls(), source, e.addr);
                            walked.set(Some((page, frame)));
                            frame
                        }
                    };
                    frame == Some(block_frame)
                }
                None => false,
            }
        });
    }

    /// A generation never given out since every entry was last dropped.
    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Every generation given out may be in an entry again.
            self.jump.fill(Jump::default());
            self.aside.clear();
            self.unlist_jumps();
            self.generation = 1;
            self.generations = [1; SPACES];
        }
        self.generation
    }

    /// The ASCE of fetch space `space` changes from `old` to `new`: its
    /// entries are set aside, and those set aside for `new` (if any) are
    /// valid again.
    fn switch_space(&mut self, space: usize, old: u64, new: u64) {
        self.stats.jump_drops[JumpDrop::Space as usize] += 1;
        self.last_pair = None;
        self.aside.retain(|&(s, asce, _)| (s, asce) != (space, old));
        if self.aside.len() == ASIDE {
            self.aside.remove(0);
        }
        self.aside.push((space, old, self.generations[space]));
        let back = self
            .aside
            .iter()
            .position(|&(s, asce, _)| (s, asce) == (space, new));
        self.generations[space] = match back {
            Some(at) => self.aside.remove(at).2,
            None => self.next_generation(),
        };
    }

    /// The generation of the entries valid under PSW bits `bits`.
    fn generation_for(&self, bits: u64) -> u32 {
        self.generations[fetch_space(bits)]
    }

    /// The slot of the entry for (`addr`, `bits`), if it is valid.
    fn jump_find(&self, addr: u64, bits: u64) -> Option<usize> {
        let generation = self.generation_for(bits);
        abi::jump_ways(jump_slot(addr)).into_iter().find(|&slot| {
            let e = &self.jump[slot];
            e.generation == generation && e.addr == addr && e.bits == bits
        })
    }

    fn jump_get(&self, addr: u64, bits: u64) -> Option<usize> {
        self.jump_find(addr, bits)
            .map(|slot| self.jump[slot].block as usize)
    }

    /// Enters (`addr`, `bits`) -> `block` at `code`: in its own slot, a
    /// dropped slot of its group, one set aside, or else in turn over the
    /// group (one address is in at most one valid slot of its group).
    fn jump_set(&mut self, addr: u64, bits: u64, block: usize, code: u64) {
        let ways = abi::jump_ways(jump_slot(addr));
        let slot = self.jump_find(addr, bits).unwrap_or_else(|| {
            let current = |e: &Jump| e.generation == self.generation_for(e.bits);
            let aside = |e: &Jump| self.aside.iter().any(|a| a.2 == e.generation);
            let dropped = ways.into_iter().find(|&slot| {
                let e = &self.jump[slot];
                !current(e) && !aside(e)
            });
            let stale =
                dropped.or_else(|| ways.into_iter().find(|&slot| !current(&self.jump[slot])));
            stale.unwrap_or_else(|| {
                self.victim = self.victim.wrapping_add(1);
                ways[self.victim % ways.len()]
            })
        });
        self.jump[slot] = Jump {
            addr,
            bits,
            code,
            generation: self.generation_for(bits),
            block: block as u32,
        };
        self.addrs[slot] = addr;
        self.frames[slot] = self.blocks.get(block).map_or(CROSSING, |b| match b.second {
            None => b.key.1 & !0xfff,
            Some(_) => CROSSING,
        });
        // Listed once, in the list of its address.
        let list = page_list(addr);
        let was = usize::from(self.listed[slot]);
        if was != list + 1 {
            if let Some(old) = was.checked_sub(1).map(|l| &mut self.live[l]) {
                if let Some(at) = old.iter().position(|&s| s as usize == slot) {
                    old.swap_remove(at);
                }
            }
            self.listed[slot] = list as u16 + 1;
            self.live[list].push(slot as u32);
        }
    }

    /// Drops the blocks with bytes in `start..end` (absolute).
    fn invalidate_range(&mut self, start: u64, end: u64, cause: Cause) {
        if self.pages.is_empty() || start >= end {
            return;
        }
        let mut dropped = Vec::new();
        for page in self.pages_in(start, end) {
            let Some(code) = self.pages.get_mut(&page) else {
                continue;
            };
            if !code.overlaps(start.max(page), end.min(page + 0x1000)) {
                continue;
            }
            let blocks = &mut self.blocks;
            code.blocks.retain(|&id| {
                let b = &mut blocks[id];
                if b.valid && b.overlaps(start, end) {
                    b.valid = false;
                    dropped.push(id);
                }
                b.valid
            });
            code.rebuild(page, |id| blocks[id].ranges());
            if let Some(word) = self.code_map.get_mut((page >> 12) as usize) {
                *word = code.granules();
            }
            if code.blocks.is_empty() {
                self.pages.remove(&page);
            }
        }
        // The blocks that jump straight to a dropped one go too.
        let overlapping = dropped.len() as u64;
        let mut work: Vec<usize> = dropped
            .iter()
            .flat_map(|&id| core::mem::take(&mut self.blocks[id].incoming))
            .collect();
        while let Some(id) = work.pop() {
            let b = &mut self.blocks[id];
            if !b.valid {
                continue;
            }
            b.valid = false;
            dropped.push(id);
            work.append(&mut b.incoming);
            for (start, _) in b.ranges().into_iter().flatten() {
                let page = start & !0xfff;
                let Some(code) = self.pages.get_mut(&page) else {
                    continue;
                };
                let blocks = &self.blocks;
                code.blocks.retain(|&other| blocks[other].valid);
                code.rebuild(page, |other| blocks[other].ranges());
                if let Some(word) = self.code_map.get_mut((page >> 12) as usize) {
                    *word = code.granules();
                }
                if code.blocks.is_empty() {
                    self.pages.remove(&page);
                }
            }
        }
        if dropped.is_empty() {
            return;
        }
        self.stats.drops[cause as usize] += overlapping;
        self.stats.drops[Cause::Linked as usize] += dropped.len() as u64 - overlapping;
        for id in dropped {
            self.by_key.remove(&self.blocks[id].key);
            self.stats.smc_invalidations += 1;
        }
        if self.current.is_some_and(|id| !self.blocks[id].valid) {
            self.current_dirty = true;
        }
        self.drop_jumps_to_dropped();
    }

    /// Whether a valid block has bytes in `start..end` (absolute, within
    /// one page).
    fn overlaps_code(&self, start: u64, end: u64) -> bool {
        self.pages
            .get(&(start & !0xfff))
            .is_some_and(|code| code.overlaps(start, end))
    }

    /// Whether any block has bytes in the page of `absolute`.
    fn has_code(&self, absolute: u64) -> bool {
        self.pages
            .get(&(absolute & !0xfff))
            .is_some_and(|code| !code.blocks.is_empty())
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
    budget: u64,
    jump: u64,
    generation: u64,
    bits: u64,
    last_block: u64,
    fill: extern "sysv64" fn(*mut Ctx<M>, u64, u64) -> u64,
    fill_absolute: u64,
    fill_pair: extern "sysv64" fn(*mut Ctx<M>, u64, u64, u64) -> u64,
    fill_second: u64,
    code_map: u64,
    cpu: *mut Cpu,
    mem: *mut M,
    caches: *mut Caches,
    exit_block: usize,
    exit_index: usize,
    refund: u64,
    result: Result<(), Interruption>,
    leave_run: bool,
}

const _: () = {
    assert!(core::mem::offset_of!(Ctx<DatBus>, helper) == abi::CTX_HELPER);
    assert!(core::mem::offset_of!(Ctx<DatBus>, tlb) == abi::CTX_TLB);
    assert!(core::mem::offset_of!(Ctx<DatBus>, storage) == abi::CTX_STORAGE);
    assert!(core::mem::offset_of!(Ctx<DatBus>, storage_len) == abi::CTX_STORAGE_LEN);
    assert!(core::mem::offset_of!(Ctx<DatBus>, budget) == abi::CTX_BUDGET);
    assert!(core::mem::offset_of!(Ctx<DatBus>, jump) == abi::CTX_JUMP);
    assert!(core::mem::offset_of!(Ctx<DatBus>, generation) == abi::CTX_GENERATION);
    assert!(core::mem::offset_of!(Ctx<DatBus>, bits) == abi::CTX_BITS);
    assert!(core::mem::offset_of!(Ctx<DatBus>, last_block) == abi::CTX_LAST_BLOCK);
    assert!(core::mem::offset_of!(Ctx<DatBus>, fill) == abi::CTX_FILL);
    assert!(core::mem::offset_of!(Ctx<DatBus>, fill_absolute) == abi::CTX_FILL_ABSOLUTE);
    assert!(core::mem::offset_of!(Ctx<DatBus>, fill_pair) == abi::CTX_FILL_PAIR);
    assert!(core::mem::offset_of!(Ctx<DatBus>, fill_second) == abi::CTX_FILL_SECOND);
    assert!(core::mem::offset_of!(Ctx<DatBus>, code_map) == abi::CTX_CODE_MAP);
    // One word of the code map per frame.
    assert!(abi::CODE_GRANULE_SHIFT == 6);
};

/// The jit engine of one CPU.
#[derive(Debug)]
pub struct Jit {
    buffer: CodeBuffer,
    stubs: Stubs,
    caches: Caches,
    /// Kept across blocks (its allocations).
    translator: Translator,
    movbe: bool,
    /// Use x86's fused multiply-add (the host has it).
    fma: bool,
    /// A block is translated at its `translate_after`-th entry (1: at the
    /// first); before, the interpreter runs it (docs/CHOICES.md §55a).
    translate_after: u32,
    /// Entries so far into the blocks not translated yet, by block key
    /// (a hint: cleared when it grows past [`COLD_ENTRIES`]).
    cold: Map<(u64, u64, u64), u32>,
    /// [`Jit::block`] found no block because it is not translated yet.
    cold_miss: bool,
    /// `/tmp/perf-PID.map`, when `ZMMU_PERF_MAP` is set: one line per
    /// block (host address, size, guest address) with which a profile
    /// names translated code (`cli/bench/jit-blocks.py`, docs/PERFORMANCE.md
    /// "Profiling the jit").
    perf_map: Option<std::fs::File>,
    /// With `ZMMU_BLOCK_CORPUS=FILE`: every block translated, a line each
    /// (`write_corpus`), for the translator's corpus benchmark
    /// (`core/translator/examples/translate_corpus.rs`).
    corpus: Option<std::fs::File>,
    /// No timer interruption was enabled and the watchdog did not run when
    /// the last batch began ([`Engine::watches_clock`]).
    watch: bool,
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
                        self.caches
                            .invalidate_range(abs, abs + in_page, Cause::Store);
                    }
                }
                // The store succeeded, so this is not expected; be safe.
                Err(_) => self.caches.invalidate_range(0, u64::MAX, Cause::Store),
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
        let absolute = self.inner.translate(acc, addr)?;
        if acc.kind == AccessKind::Write {
            // CSP and CSPG store their operand in absolute storage after
            // this translation.
            let abs = absolute.value();
            self.caches
                .invalidate_range(abs, abs.saturating_add(16), Cause::Store);
        }
        Ok(absolute)
    }
    fn facilities(&self) -> Facilities {
        self.inner.facilities()
    }
    fn storage(&mut self) -> &mut dyn Storage {
        self.caches.storage_touched = true;
        self.inner.storage()
    }
    fn invalidate(&mut self, flush: PendingFlush) {
        let invalidation = *flush.invalidation();
        self.inner.invalidate(flush);
        let bus = self.inner.dat_bus();
        self.caches
            .recheck_jump(&bus.tlb, &bus.storage, &invalidation);
    }
    fn fault(&mut self, fault: Fault) -> Exception {
        self.inner.fault(fault)
    }
}

impl<M: JitMemory> System for Watch<'_, M> {
    fn system_instruction(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let stores = zmmu_machine::system::stores(cpu, insn);
        // What a device may store anywhere, it stores through this CPU's
        // handle during the instruction: the code frames it reaches are
        // noted there (docs/CHOICES.md §69c).
        let anything =
            stores == Stores::Anything && !matches!(insn.op, Opcode::SERVC | Opcode::STSI);
        if anything {
            self.inner.dat_bus().storage.note_code_writes();
        }
        let r = self.inner.system_instruction(cpu, insn);
        match insn.op {
            Opcode::SERVC => {
                // The SCLP wrote the SCCB (at most 4 KiB at the real
                // address in R2) straight into storage.
                let real = cpu.r64(insn.f.r2) & 0x7fff_fff8;
                for page in [real & !0xfff, (real & !0xfff) + 0x1000] {
                    let abs = cpu.prefix.to_absolute(RealAddress::new(page)).value();
                    self.caches
                        .invalidate_range(abs, abs + 0x1000, Cause::System);
                }
            }
            Opcode::STSI => {
                // A 4 KiB SYSIB at the second-operand address, written
                // through the machine's own bus: find its frame in the TLB
                // (without recording anything), or drop every block.
                let base = if insn.f.b2 == 0 {
                    0
                } else {
                    cpu.r64(insn.f.b2)
                };
                let addr = cpu
                    .psw
                    .amode()
                    .wrap(base.wrapping_add(insn.f.d2 as i64 as u64));
                let found = partition(cpu.psw.dat(), cpu.psw.asc()).and_then(|p| {
                    self.inner.dat_bus().tlb.lookup(
                        p,
                        addr & !0xfff,
                        AccessKind::Write,
                        cpu.psw.key(),
                    )
                });
                match found {
                    Some(abs) => self
                        .caches
                        .invalidate_range(abs, abs + 0x1000, Cause::System),
                    None => self.caches.revalidate(
                        &self.inner.dat_bus().storage,
                        0,
                        u64::MAX,
                        Cause::System,
                    ),
                }
            }
            // SIGP, DIAG, I/O: what the machine says it may store; where
            // that is anything, the blocks whose bytes changed.
            _ => match stores {
                Stores::Nothing => {}
                Stores::Absolute { start, end } => {
                    self.caches.invalidate_range(start, end, Cause::System)
                }
                Stores::Anything => {
                    let storage = &mut self.inner.dat_bus().storage;
                    match storage.noted_code_writes() {
                        Some(mut frames) => {
                            frames.sort_unstable();
                            frames.dedup();
                            for frame in frames {
                                self.caches.revalidate(
                                    storage,
                                    frame,
                                    frame + 0x1000,
                                    Cause::System,
                                );
                            }
                        }
                        None => self.caches.revalidate(storage, 0, u64::MAX, Cause::System),
                    }
                }
            },
        }
        r
    }

    fn clock(&mut self) -> Option<&mut dyn Timing> {
        self.inner.clock()
    }
}

/// Instructions after which the run returns to the machine: they may make
/// an interruption pending or change what the machine checks between
/// instructions. Not the DAT instructions that only read ([`reads_only`]),
/// nor a LOAD CONTROL of address-space-control elements only
/// ([`loads_asces_only`]).
fn leaves_run(insn: &Insn) -> bool {
    let op = insn.op;
    op.is_system()
        || (op.is_dat() && !reads_only(op))
        || (matches!(op, Opcode::LCTL | Opcode::LCTLG) && !loads_asces_only(insn))
}

/// LOAD CONTROL (LCTL, LCTLG) of control registers 1, 7 and 13 only, the
/// primary, secondary and home address-space-control elements (Linux's
/// switch between the kernel's and a process's ASCE at every system call
/// and interruption): they change translation, which the run loop passes
/// on to the TLB and the jump cache after the chain (`Jit::sync`), and
/// nothing the machine checks between instructions: the interruption
/// masks (CR0, CR6, CR14) and the timers are in other registers
/// (docs/CHOICES.md §64c). The registers loaded are R1 through R3,
/// wrapping from 15 to 0 (PoP "LOAD CONTROL").
fn loads_asces_only(insn: &Insn) -> bool {
    let (mut cr, last) = (insn.f.r1 & 15, insn.f.r3 & 15);
    loop {
        if !matches!(cr, 1 | 7 | 13) {
            return false;
        }
        if cr == last {
            return true;
        }
        cr = (cr + 1) & 15;
    }
}

/// The DAT instructions that only read the tables or a storage key and
/// set registers and the condition code (PoP "LOAD REAL ADDRESS", "TEST
/// PROTECTION", "LOAD PAGE-TABLE-ENTRY ADDRESS", "INSERT STORAGE KEY
/// EXTENDED"): they invalidate nothing, make nothing pending and change
/// neither the PSW nor a control, so the chain goes on after them
/// (docs/CHOICES.md §59c; Linux's kernel-text writes run an LRA each).
fn reads_only(op: Opcode) -> bool {
    use Opcode::*;
    matches!(op, LRA | LRAY | LRAG | TPROT | LPTEA | ISKE)
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
    let (id, index) = ((index >> 8) as usize, (index & 0xff) as usize);
    caches.current = Some(id);
    caches.current_dirty = false;
    let Some(block) = caches.blocks.get(id) else {
        return abi::EXIT;
    };
    let len = block.insns.len();
    let Some(&Guest { at, insn, .. }) = block.insns.get(index) else {
        unreachable!("generated code passes an index of its block");
    };
    let native = block.native[index];
    caches.stats.helper_calls += 1;
    if native {
        caches.stats.slow_paths += 1;
        count(&mut caches.stats.slow_counts, insn.op);
    } else {
        count(&mut caches.stats.fallback_counts, insn.op);
    }
    cpu.psw.addr = at;
    let mask_before = cpu.psw.mask & !mask::CC;
    let next = cpu.psw.amode().wrap(at.wrapping_add(u64::from(insn.len)));
    // An EXECUTE runs its target in place: whether the chain goes on is
    // the target's (a branch, the PSW, the machine leave it).
    let (result, ran) = cpu.step_decoded(
        &mut Watch {
            inner: mem,
            caches: &mut *caches,
        },
        insn,
        at,
    );
    let op = ran.op;
    if matches!(insn.op, Opcode::EX | Opcode::EXRL) {
        count(&mut caches.stats.execute_counts, op);
    }
    caches.after_storage(&mem.dat_bus().storage, cpu, Some(&insn));
    // The dispatcher must see a jump cache dropped by this instruction.
    ctx.generation = u64::from(caches.generation_for(ctx.bits));
    let mask_changed = cpu.psw.mask & !mask::CC != mask_before;
    let leave = result.is_err()
        || (op.ends_block() && !reads_only(op))
        || mask_changed
        || caches.current_dirty
        || cpu.psw.addr != next;
    if !leave {
        return abi::END;
    }
    ctx.exit_block = id;
    ctx.exit_index = index;
    ctx.refund = (len - index - 1) as u64;
    ctx.result = result;
    ctx.leave_run = mask_changed || leaves_run(&ran);
    abi::EXIT
}

/// The TLB-fill helper generated code calls on a miss of its inline probe
/// (see [`abi::CTX_FILL`]): translates the access of `how & 0xff` (1 read,
/// 2 write) of `how >> 8` bytes at `addr` as the interpreter's access would
/// (walk, protection, R/C recording, TLB fill).
extern "sysv64" fn fill<M: JitMemory>(ctx: *mut Ctx<M>, addr: u64, how: u64) -> u64 {
    // SAFETY: as in `helper`: the context and what it points to are only
    // used through it while translated code runs.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: as above.
    let (cpu, mem, caches) = unsafe { (&*ctx.cpu, &mut *ctx.mem, &mut *ctx.caches) };
    caches.stats.tlb_fills += 1;
    let kind = match how & 0xff {
        1 => AccessKind::Read,
        2 => AccessKind::Write,
        _ => return abi::FILL_INTERPRET,
    };
    let len = how >> 8;
    if (addr & 0xfff) + len > 0x1000 {
        // The inline probe sends a page crossing here (its tag never
        // matches): the interpreter splits the access.
        return abi::FILL_INTERPRET;
    }
    let acc = Access {
        kind,
        space: AddressType::Logical { base: 0 },
        cpu,
    };
    let Ok(absolute) = mem.translate(&acc, addr) else {
        return abi::FILL_INTERPRET;
    };
    let Some(partition) = partition(cpu.psw.dat(), cpu.psw.asc()) else {
        return abi::FILL_INTERPRET;
    };
    let bus = mem.dat_bus();
    if bus
        .tlb
        .lookup(partition, addr, kind, cpu.psw.key())
        .is_some()
    {
        return abi::FILL_RETRY;
    }
    // A store into a frame with translated code misses on purpose: it may
    // go ahead if it does not touch the code of any block (and the frame
    // does permit it: the same lookup without the code flag hits). So may
    // a store into the two low pages, whose write permission the TLB never
    // holds (low-address protection is a sub-page rule): the translation
    // of its first byte checked the whole access, as the protected bytes
    // of each low page are its first 512 (PoP "Low-Address Protection")
    // and keys and DAT protection apply to whole pages (docs/CHOICES.md
    // §64b; Linux's lowcore save areas).
    let abs = absolute.value();
    let code_tag = zmmu_mmu::tlb::tag(addr, cpu.psw.key()) | zmmu_mmu::tlb::TAG_CODE;
    let low = zmmu_mmu::lap::is_low_address(addr & !0xfff)
        && abs
            .checked_add(len)
            .is_some_and(|end| end <= bus.storage.size());
    let permitted = kind == AccessKind::Write
        && (low || bus.tlb.entry(partition, addr).tag(AccessKind::Write) == code_tag);
    if permitted && !caches.overlaps_code(abs, abs + len) {
        caches.stats.code_page_stores += 1;
        ctx.fill_absolute = abs;
        return abi::FILL_ABSOLUTE;
    }
    abi::FILL_INTERPRET
}

/// The pair fill generated code calls when a probe of the two operands of
/// an SS instruction misses (see [`abi::CTX_FILL_PAIR`]): translates both
/// `how >> 16`-byte operands, the first for an access of `how & 0xff`, the
/// second for a read, in the order the interpreter touches them (`how >> 8
/// & 0xff`: 0 both checked, second first, then both translated; 1 the
/// first translated, then the second), so that an exception records what
/// the interpreter's run records.
extern "sysv64" fn fill_pair<M: JitMemory>(
    ctx: *mut Ctx<M>,
    first: u64,
    second: u64,
    how: u64,
) -> u64 {
    // SAFETY: as in `helper`: the context and what it points to are only
    // used through it while translated code runs.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: as above.
    let (cpu, mem, caches) = unsafe { (&*ctx.cpu, &mut *ctx.mem, &mut *ctx.caches) };
    caches.stats.tlb_fills += 1;
    let first_kind = match how & 0xff {
        1 => AccessKind::Read,
        2 => AccessKind::Write,
        _ => return abi::FILL_INTERPRET,
    };
    let len = how >> 16;
    let within_page = |a: u64| (a & 0xfff) + len <= 0x1000;
    if len == 0 || !within_page(first) || !within_page(second) {
        return abi::FILL_INTERPRET;
    }
    let access = |kind| Access {
        kind,
        space: AddressType::Logical { base: 0 },
        cpu,
    };
    let (one, two) = (access(first_kind), access(AccessKind::Read));
    // The pages of the last pair, translated and recorded with no
    // invalidation, control change or new block since (each drops it): as
    // good as the TLB entries two operands in one slot keep evicting.
    let pages = PairPages {
        first: first & !0xfff,
        second: second & !0xfff,
        how: how & 0xffff,
        bits: cpu.psw.mask & KEY_BITS,
        absolute: (0, 0),
    };
    let cached = caches.last_pair.filter(|p| {
        PairPages {
            absolute: p.absolute,
            ..pages
        } == *p
    });
    let translated = if let Some(p) = cached {
        Ok((
            AbsoluteAddress::new(p.absolute.0 | (first & 0xfff)),
            AbsoluteAddress::new(p.absolute.1 | (second & 0xfff)),
        ))
    } else if (how >> 8) & 0xff == 0 {
        mem.check(&two, second, len)
            .and_then(|()| mem.check(&one, first, len))
            .and_then(|()| mem.translate(&two, second))
            .and_then(|b| Ok((mem.translate(&one, first)?, b)))
    } else {
        mem.translate(&one, first)
            .and_then(|a| Ok((a, mem.translate(&two, second)?)))
    };
    let Ok((a, b)) = translated else {
        return abi::FILL_INTERPRET;
    };
    let (a, b) = (a.value(), b.value());
    caches.last_pair = Some(PairPages {
        absolute: (a & !0xfff, b & !0xfff),
        ..pages
    });
    let size = mem.dat_bus().storage.size();
    let fits = |x: u64| x.checked_add(len).is_some_and(|end| end <= size);
    if !fits(a) || !fits(b) || (first_kind == AccessKind::Write && caches.overlaps_code(a, a + len))
    {
        return abi::FILL_INTERPRET;
    }
    ctx.fill_absolute = a;
    ctx.fill_second = b;
    abi::FILL_ABSOLUTE
}

/// The pages of the two operands of the last pair fill and their frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PairPages {
    first: u64,
    second: u64,
    /// The kind and order of the pair fill.
    how: u64,
    /// The PSW bits translation depends on.
    bits: u64,
    absolute: (u64, u64),
}

/// The frame an instruction fetch from the next logical page `page` reaches
/// when a block's last instruction crosses into it: only if the fetch is
/// permitted and the frame's reference bit is already one, so that running
/// the block records nothing the interpreter's fetch would record (else
/// the block ends before that instruction, which the interpreter then
/// fetches, raising its exception or recording its reference). Checked
/// without recording, see docs/CHOICES.md §30.
fn crossing_frame<M: JitMemory>(mem: &mut M, acc: &Access<'_>, page: u64) -> Option<u64> {
    let bus = mem.dat_bus();
    let (absolute, key) = bus.check_only(acc, page).ok()?;
    let referenced = key.value() & StorageKey::R != 0;
    (referenced && bus.storage.contains(absolute)).then_some(absolute.value())
}

/// The TLB partition of operand accesses, `None` in access-register mode.
fn partition(dat: bool, asc: u8) -> Option<usize> {
    match (dat, asc) {
        (false, _) => Some(0),
        (true, 0) => Some(1),
        (true, 2) => Some(2),
        (true, 3) => Some(3),
        _ => None,
    }
}

impl Jit {
    /// A jit with a code buffer of `buffer` bytes (rounded up to pages).
    /// Fails on hosts other than x86-64 and when executable memory cannot
    /// be mapped.
    pub fn new(buffer: usize) -> Result<Self, String> {
        if !cfg!(target_arch = "x86_64") {
            return Err("the jit engine needs an x86-64 host".into());
        }
        let mut buffer = CodeBuffer::new(buffer)?;
        let stubs = emit_stubs(&mut buffer)?;
        Ok(Self {
            buffer,
            stubs,
            caches: Caches {
                blocks: Vec::new(),
                by_key: Map::default(),
                unlinked: Map::default(),
                jump: vec![Jump::default(); JUMP_ENTRIES].into_boxed_slice(),
                generations: [1; SPACES],
                generation: 1,
                aside: Vec::new(),
                victim: 0,
                live: vec![Vec::new(); PAGE_LISTS].into_boxed_slice(),
                listed: vec![0; JUMP_ENTRIES].into_boxed_slice(),
                frames: vec![CROSSING; JUMP_ENTRIES].into_boxed_slice(),
                addrs: vec![0; JUMP_ENTRIES].into_boxed_slice(),
                pages: Map::default(),
                code_map: Vec::new(),
                jump_controls: None,
                last_pair: None,
                current_dirty: false,
                storage_touched: false,
                current: None,
                stats: Stats::default(),
            },
            translator: Translator::new()
                .map_err(|e| format!("cannot start the translator: {e}"))?,
            movbe: host_has_movbe(),
            fma: host_has_fma(),
            translate_after: 1,
            cold: Map::default(),
            cold_miss: false,
            perf_map: std::env::var_os("ZMMU_PERF_MAP").and_then(|_| {
                let path = format!("/tmp/perf-{}.map", std::process::id());
                std::fs::File::create(path).ok()
            }),
            // Unbuffered, as the perf map: `zmmu run` may end the process
            // without dropping the engine.
            corpus: std::env::var_os("ZMMU_BLOCK_CORPUS")
                .and_then(|path| std::fs::File::create(path).ok()),
            watch: false,
        })
    }

    /// Uses (or not) MOVBE in code translated from now on (tests).
    pub fn set_movbe(&mut self, movbe: bool) {
        self.movbe = movbe && host_has_movbe();
    }

    /// Uses (or not) x86's fused multiply-add in code translated from now
    /// on (tests: without it MULTIPLY AND ADD is the interpreter's).
    pub fn set_fma(&mut self, fma: bool) {
        self.fma = fma && host_has_fma();
    }

    /// Translates a block at its `entries`-th entry from now on (at least
    /// the first); the interpreter runs it before (docs/CHOICES.md §55a).
    pub fn set_translate_after(&mut self, entries: u32) {
        self.translate_after = entries.max(1);
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.caches.stats
    }

    /// The counters as the lines `zmmu run --stats` prints.
    pub fn report(&self) -> Vec<String> {
        let s = self.stats();
        let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let list = |counts: Vec<(&str, u64)>| {
            let list: Vec<String> = counts.iter().map(|(m, n)| format!("{m} {n}")).collect();
            list.join(", ")
        };
        vec![
            format!(
                "native {} ({:.1}%), blocks translated {} ({} instructions, {} bytes of host code, {:.1} bytes per instruction), entries into translated code {}",
                s.native(),
                100.0 * per(s.native(), s.instructions),
                s.blocks,
                s.translated_instructions,
                s.code_bytes,
                per(s.code_bytes, s.translated_instructions),
                s.entries,
            ),
            format!(
                "jump-cache hits {}, block-cache hits {}, exits pointed at blocks translated after them {}, helper calls {} (slow paths {}), interpreted steps {}, smc block drops {}, jump-cache drops {}, buffer flushes {}",
                s.jump_hits, s.cache_hits, s.patched_exits, s.helper_calls, s.slow_paths, s.steps, s.smc_invalidations, s.jump_flushes, s.flushes
            ),
            format!(
                "TLB fills from translated code {}, stores let into code frames or low pages {}, translation {:.0} ns per guest instruction, blocks refused by the translator {}",
                s.tlb_fills,
                s.code_page_stores,
                per(s.translate_ns, s.translated_instructions),
                s.refused,
            ),
            format!("interpreter fallbacks by mnemonic: {}", list(s.fallbacks())),
            format!("slow paths by mnemonic: {}", list(s.slow())),
            format!(
                "EXECUTE targets by mnemonic: {}",
                list(s.execute_targets())
            ),
            format!(
                "interpreted steps by mnemonic: {}",
                list(s.steps_by_mnemonic())
            ),
            format!("block drops by cause: {}", list(s.drops_by_cause())),
            format!(
                "jump-cache drops by cause: {}",
                list(s.jump_drops_by_cause())
            ),
            format!(
                "returns from translated code by cause: {}",
                list(s.chain_ends_by_cause())
            ),
            format!(
                "batches {}: {} ran every instruction given, {} ended at the clock's deadline",
                s.batches, s.full_batches, s.deadline_ends
            ),
        ]
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
        self.caches.unlinked.clear();
        self.caches.clear_jump(JumpDrop::Flush);
        self.caches.pages.clear();
        self.caches.code_map.fill(0);
        self.buffer.reset();
        // The stubs go back first, at the same addresses as before.
        if let Ok(stubs) = emit_stubs(&mut self.buffer) {
            self.stubs = stubs;
        }
        self.caches.stats.flushes += 1;
    }

    /// Tells the TLB about control-register and prefix changes; drops the
    /// jump-cache entries whose instruction fetches they change: all of
    /// them for CR0's translation bits, the prefix or the facilities, else
    /// those of the fetch space whose ASCE changed are set aside until it
    /// comes back (a TLB may hold translations of several ASCEs and use
    /// them again until a purge: PoP "Translation-Lookaside Buffer"; every
    /// purge drops every entry here). Linux loads CR1 at every switch of
    /// process.
    fn sync<M: JitMemory>(&mut self, cpu: &Cpu, mem: &mut M) {
        let bus = mem.dat_bus();
        let controls = bus.controls(cpu);
        if controls != *bus.tlb.controls() {
            bus.tlb.set_controls(&controls);
        }
        let Some(old) = self.caches.jump_controls.replace(controls) else {
            return self.caches.clear_jump(JumpDrop::Controls);
        };
        if old == controls {
            return;
        }
        if old.cr0 != controls.cr0
            || old.prefix != controls.prefix
            || old.facilities != controls.facilities
        {
            return self.caches.clear_jump(JumpDrop::Controls);
        }
        if old.cr1 != controls.cr1 {
            let (old, new) = (old.cr1.value(), controls.cr1.value());
            self.caches.switch_space(1, old, new);
        }
        if old.cr13 != controls.cr13 {
            let (old, new) = (old.cr13.value(), controls.cr13.value());
            self.caches.switch_space(2, old, new);
        }
    }

    /// Runs `cpu` on `mem` as up to `max` calls of [`Cpu::step`] would,
    /// stopping after the first that returns an interruption (or earlier,
    /// after an instruction that may have made an interruption pending or
    /// changed the PSW mask). Returns the instructions executed (the one
    /// that ended in the interruption included), the address of the last
    /// and its result.
    pub fn run<M: JitMemory>(&mut self, cpu: &mut Cpu, mem: &mut M, max: u64) -> Ran {
        self.run_until(cpu, mem, max, None)
    }

    /// [`Jit::run`], ending the batch at a block boundary soon after the
    /// host's clock passes `deadline`: it is looked at between chains,
    /// once at least [`TIMER_LOOK`] instructions ran since the last look
    /// (a chain is given at most that many), so the batch runs at most
    /// about that many instructions past it.
    fn run_until<M: JitMemory>(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut M,
        max: u64,
        deadline: Option<Instant>,
    ) -> Ran {
        let mut done = 0u64;
        // When the clock is looked at next (in instructions done).
        let mut look = TIMER_LOOK;
        let mut last = Last::At(cpu.psw.addr);
        self.sync(cpu, mem);
        // The machine may have stored into the lowcore (interruptions),
        // which may hold code (Linux returns to the problem state through
        // an LPSWE in its lowcore).
        let lowcore = cpu.prefix.value();
        self.caches.revalidate(
            &mem.dat_bus().storage,
            lowcore,
            lowcore + 0x2000,
            Cause::Lowcore,
        );
        // The batch ends inside a block whose prefix is not translated:
        // the interpreter runs the rest of the batch (never a block from
        // the middle of another).
        let mut tail = false;
        // The interpreter runs a block not translated yet on to its end:
        // the address it goes on at, while sequential (a lookup there would
        // count the middle of a block as a block of its own).
        let mut cold_next = None;
        let result = loop {
            if done >= max {
                break Ok(());
            }
            if let Some(deadline) =
                deadline.filter(|_| done + zmmu_translator::MAX_BLOCK as u64 > look)
            {
                if Instant::now() >= deadline {
                    self.caches.stats.deadline_ends += 1;
                    break Ok(());
                }
                look = done + TIMER_LOOK;
            }
            let room = max - done;
            let block = if tail || cold_next == Some(cpu.psw.addr) {
                None
            } else {
                self.block(cpu, mem).and_then(|id| {
                    let len = self.caches.blocks[id].insns.len();
                    if len as u64 <= room {
                        Some(id)
                    } else {
                        let prefix = self.prefix(mem, id, room as usize);
                        tail = prefix.is_none();
                        prefix
                    }
                })
            };
            let Some(id) = block else {
                done += 1;
                let at = cpu.psw.addr;
                last = Last::At(at);
                let cold = core::mem::take(&mut self.cold_miss) || cold_next == Some(at);
                self.caches.stats.steps += 1;
                let mask_before = cpu.psw.mask & !mask::CC;
                let (r, ran) = self.step(cpu, mem);
                self.sync(cpu, mem);
                cold_next = (cold && sequential(at, cpu.psw.addr)).then_some(cpu.psw.addr);
                // As after a helper: the machine looks at what the
                // instruction may have made pending or enabled.
                let mask_changed = cpu.psw.mask & !mask::CC != mask_before;
                if r.is_err()
                    || cpu.psw.mask & mask::WAIT != 0
                    || mask_changed
                    || ran.as_ref().is_some_and(leaves_run)
                {
                    break r;
                }
                continue;
            };
            let before = cpu.psw.mask;
            // Until the next look at the clock, but the whole first block.
            let budget = match deadline {
                Some(_) => {
                    let first = self.caches.blocks[id].insns.len() as u64;
                    room.min(look.saturating_sub(done).max(first))
                }
                None => room,
            };
            let (n, at, r, exited, leave) = self.run_chain(id, budget, cpu, mem);
            done += n;
            last = at;
            if exited {
                self.sync(cpu, mem);
            }
            // A native STOSM that enabled interruptions ended the chain.
            let enabled = cpu.psw.mask & !before & (mask::IO | mask::EXT) != 0;
            if r.is_err() || leave || enabled || cpu.psw.mask & mask::WAIT != 0 {
                break r;
            }
        };
        self.caches.stats.instructions += done;
        self.caches.stats.batches += 1;
        self.caches.stats.full_batches += u64::from(done >= max);
        Ran {
            instructions: done,
            last: self.last_address(last),
            result,
        }
    }

    /// Interprets one instruction (outside any block).
    /// Also gives the operation that ran (for an EXECUTE its target's),
    /// when the instruction was fetched.
    fn step<M: JitMemory>(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut M,
    ) -> (Result<(), Interruption>, Option<Insn>) {
        self.caches.current = None;
        let mut watch = Watch {
            inner: mem,
            caches: &mut self.caches,
        };
        // The instruction, fetched once: run as `Cpu::step` runs it after
        // its fetch, and for `after_storage`. An invalid PSW or a fetch
        // exception is `Cpu::step`'s to raise.
        let at = cpu.psw.addr;
        let insn = cpu
            .psw
            .is_valid()
            .then(|| cpu.fetch(&mut watch, at).ok())
            .flatten();
        let (r, ran) = match insn {
            Some(insn) => {
                count(&mut watch.caches.stats.step_counts, insn.op);
                let (r, ran) = cpu.step_decoded(&mut watch, insn, at);
                (r, Some(ran))
            }
            None => (cpu.step(&mut watch), None),
        };
        self.caches
            .after_storage(&mem.dat_bus().storage, cpu, insn.as_ref());
        (r, ran)
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
        if let Some(id) = self.caches.jump_get(psw.addr, bits) {
            self.caches.stats.jump_hits += 1;
            return Some(id);
        }
        let acc = Access {
            kind: AccessKind::InstructionFetch,
            space: AddressType::Logical { base: 0 },
            cpu,
        };
        let abs = mem.translate(&acc, psw.addr).ok()?.value();
        let key = (psw.addr, abs, bits);
        let amode = psw.amode();
        // The next logical page, and the frame an instruction crossing into
        // it is fetched from now (None: the fetch from it fails, which the
        // interpreter raises when it gets there).
        let next_page = amode.wrap((psw.addr | 0xfff).wrapping_add(1));
        let mut next_frame = None;
        if let Some(&id) = self.caches.by_key.get(&key) {
            let block = &self.caches.blocks[id];
            let crossing = block.second;
            let stands = crossing.is_none_or(|second| {
                let frame = crossing_frame(mem, &acc, second.logical);
                next_frame = Some(frame);
                frame == Some(second.frame)
            });
            if stands {
                self.caches.stats.cache_hits += 1;
                let code = self.buffer.address(block.code) as u64;
                self.caches.jump_set(psw.addr, bits, id, code);
                return Some(id);
            }
            // The next page maps elsewhere now (or nowhere): the block
            // and those sharing its bytes go, and it is translated again.
            let (start, end) = (block.start, block.end);
            self.caches.invalidate_range(start, end, Cause::Crossing);
        }
        if self.translate_after > 1 {
            if self.cold.len() >= COLD_ENTRIES {
                self.cold.clear();
            }
            let entries = self.cold.entry(key).or_insert(0);
            *entries += 1;
            if *entries < self.translate_after {
                self.cold_miss = true;
                return None;
            }
            self.cold.remove(&key);
        }
        let page_end = (abs | 0xfff) + 1;
        let mut second = None;
        // The next page's frame where a block may use it: an instruction
        // crosses into it or an EXECUTE's target lies there.
        let mut target_frame = None;
        let insns = {
            // The most a block can hold: MAX_BLOCK instructions of at most
            // 6 bytes, within the page, and the rest of an instruction
            // crossing into the next.
            let mut most = [0u8; 6 * zmmu_translator::MAX_BLOCK + 6];
            let storage_size = mem.dat_bus().storage.size();
            let left = page_end.min(storage_size).checked_sub(abs)?;
            let len = usize::try_from(left).ok()?.min(most.len() - 6);
            mem.dat_bus()
                .storage
                .read(AbsoluteAddress::new(abs), most.get_mut(..len)?)?;
            let mut total = len;
            if abs + left == page_end && left < 6 * zmmu_translator::MAX_BLOCK as u64 {
                let frame = match next_frame {
                    Some(frame) => frame,
                    None => crossing_frame(mem, &acc, next_page),
                };
                let got = frame.and_then(|f| {
                    mem.dat_bus()
                        .storage
                        .read(AbsoluteAddress::new(f), most.get_mut(len..len + 6)?)
                });
                if let (Some(frame), Some(())) = (frame, got) {
                    second = Some(frame);
                    target_frame = Some(frame);
                    total += 6;
                }
            }
            let mut insns =
                decode_block(&most[..total], psw.addr, amode, zmmu_translator::MAX_BLOCK);
            // The EXECUTE targets translation can know, from this frame or
            // the next page's, fetched as for an instruction crossing into
            // it (add_block watches their bytes as the block's).
            let known = |t: u64| t & !0xfff == next_page;
            let in_next = (0..insns.len()).any(|i| {
                zmmu_translator::known_target(&insns, i, amode, &cpu.gpr).is_some_and(known)
            });
            if in_next && target_frame.is_none() {
                target_frame = match next_frame {
                    Some(frame) => frame,
                    None => crossing_frame(mem, &acc, next_page),
                };
            }
            let storage = &mem.dat_bus().storage;
            let page = psw.addr & !0xfff;
            zmmu_translator::fetch_targets(&mut insns, amode, &cpu.gpr, |at| {
                let frame = match at & !0xfff {
                    p if p == page => abs & !0xfff,
                    p if p == next_page => target_frame?,
                    _ => return None,
                };
                let mut bytes = [0u8; 6];
                storage.read(AbsoluteAddress::new(frame | (at & 0xfff)), &mut bytes)?;
                Some(bytes)
            });
            insns
        };
        if insns.is_empty() {
            return None;
        }
        let size: u64 = insns.iter().map(|g| u64::from(g.insn.len)).sum();
        // Its bytes in the next page: the rest of an instruction crossing
        // into it, EXECUTE targets there.
        let crossing = size.saturating_sub(page_end - abs);
        let targets = zmmu_translator::target_range(&insns, next_page).map_or(0, |(_, end)| end);
        let second = match crossing.max(targets) {
            0 => None,
            len => Some(Second {
                logical: next_page,
                frame: second.or(target_frame)?,
                len,
            }),
        };
        let env = Env {
            amode,
            key: psw.key(),
            memory: partition(psw.dat(), psw.asc()).map_or(MemoryAccess::Helper, |partition| {
                MemoryAccess::SoftTlb {
                    partition,
                    whole_pages: mem.dat_bus().storage.size() % 0x1000 == 0,
                    fma: self.fma,
                }
            }),
            movbe: self.movbe,
        };
        let id = self.add_block(mem, insns, env, key, second)?;
        let code = self.buffer.address(self.caches.blocks[id].code) as u64;
        self.caches.jump_set(psw.addr, bits, id, code);
        Some(id)
    }

    /// The first `len` instructions of block `id` as a block of their own
    /// (to end exactly at an instruction budget), or `None` (the
    /// interpreter runs them) until batches have ended there
    /// [`PREFIX_AFTER`] times: a machine batch ends every few thousand
    /// instructions, at lengths that mostly do not come back, and a
    /// translation costs as much as interpreting a few hundred
    /// instructions (translating every prefix was 6% of a 0.1 s program).
    fn prefix<M: JitMemory>(&mut self, mem: &mut M, id: usize, len: usize) -> Option<usize> {
        let block = &mut self.caches.blocks[id];
        let known = block.prefixes.iter().find(|&&(n, _)| n == len);
        if let Some(&(_, prefix)) = known {
            if self.caches.blocks[prefix].valid {
                self.caches.stats.cache_hits += 1;
                return Some(prefix);
            }
        } else {
            match block.tails.iter_mut().find(|t| t.0 == len) {
                Some(t) if t.1 >= PREFIX_AFTER => {}
                Some(t) => {
                    t.1 += 1;
                    return None;
                }
                None => {
                    block.tails.push((len, 1));
                    return None;
                }
            }
        }
        let block = &self.caches.blocks[id];
        let parent = block.key;
        let key = (parent.0, parent.1, parent.2 | len as u64);
        let mut insns = block.insns.get(..len)?.to_vec();
        // A prefix has no bytes in the next page: EXECUTE targets there go
        // to the helper.
        let page = parent.0 & !0xfff;
        for g in &mut insns {
            g.target = g.target.filter(|t| t.at & !0xfff == page);
        }
        let env = block.env;
        let prefix = match self.caches.by_key.get(&key) {
            Some(&prefix) => prefix,
            // A prefix never holds the last instruction, the one that may
            // cross into the next page.
            None => self.add_block(mem, insns, env, key, None)?,
        };
        // A flush may have dropped the whole block.
        if let Some(block) = self
            .caches
            .blocks
            .get_mut(id)
            .filter(|b| b.valid && b.key == parent)
        {
            block.prefixes.retain(|&(n, _)| n != len);
            block.prefixes.push((len, prefix));
        }
        Some(prefix)
    }

    /// The blocks a block of `insns` with `key` may jump to directly:
    /// (guest address, host code) of the valid full blocks at its
    /// [`direct_targets`] in its own logical page, under the same PSW bits
    /// (the page maps to the same frame whenever the block runs).
    fn links(
        &self,
        insns: &[Guest],
        amode: zmmu_mmu::addr::AddressingMode,
        key: Key,
    ) -> Vec<(u64, u64)> {
        let page = key.0 & !0xfff;
        let bits = key.2 & KEY_BITS;
        direct_targets(insns, amode)
            .into_iter()
            .filter(|&t| t & !0xfff == page)
            .filter_map(|t| {
                let id = *self
                    .caches
                    .by_key
                    .get(&(t, key.1 & !0xfff | (t - page), bits))?;
                let b = &self.caches.blocks[id];
                // Not to a block that crosses into the next page, whose
                // frame is checked only when it is found by its key.
                (b.valid && b.second.is_none()).then(|| (t, self.buffer.address(b.code) as u64))
            })
            .collect()
    }

    /// Translates `insns` and enters the block in the caches.
    fn add_block<M: JitMemory>(
        &mut self,
        mem: &mut M,
        insns: Vec<Guest>,
        env: Env,
        key: Key,
        second: Option<Second>,
    ) -> Option<usize> {
        let abs = key.1;
        let size: u64 = insns.iter().map(|g| u64::from(g.insn.len)).sum();
        // The bytes of its instructions in the first frame.
        let len = size.min(0x1000 - (abs & 0xfff));
        if self.caches.blocks.len() >= MAX_BLOCKS {
            self.flush(mem);
        }
        let id = self.caches.blocks.len();
        let started = std::time::Instant::now();
        let mut placed = None;
        let mut id = id;
        for _ in 0..2 {
            id = self.caches.blocks.len();
            let ip = self.buffer.next_address();
            let links = self.links(&insns, env.amode, key);
            let Ok(translated) =
                self.translator
                    .translate(&insns, &env, ip, id as u32, &self.stubs, &links)
            else {
                self.caches.stats.refused += 1;
                return None;
            };
            if let Some(at) = self.buffer.push(&translated.code) {
                placed = Some((at, translated, ip));
                break;
            }
            self.flush(mem);
        }
        let (code, translated, ip) = placed?;
        if let Some(map) = &mut self.perf_map {
            use std::io::Write;
            let guest = insns.first().map_or(0, |g| g.at);
            // A failed write costs the profile its names, never the run.
            let _ = writeln!(map, "{ip:x} {:x} s390x_{guest:x}", translated.code.len());
        }
        // Its bytes in the first frame: its code and the EXECUTE targets
        // it was translated with (docs/CHOICES.md §64a).
        let page = abs & !0xfff;
        let (start, end) = match zmmu_translator::target_range(&insns, key.0 & !0xfff) {
            Some((s, e)) => ((page | s).min(abs), (page | e).max(abs + len)),
            None => (abs, abs + len),
        };
        let in_second = second.map_or(0, |s| s.len);
        let mut bytes = vec![0; (end - start + in_second) as usize];
        let (first, rest) = bytes.split_at_mut((end - start) as usize);
        let storage = &mem.dat_bus().storage;
        storage.read(AbsoluteAddress::new(start), first)?;
        if let Some(second) = second {
            storage.read(AbsoluteAddress::new(second.frame), rest)?;
        }
        if let Some(corpus) = &mut self.corpus {
            // Its instructions' bytes: from its first in the first frame,
            // then those in the second.
            let from = (abs - start) as usize;
            let code = [&first[from..from + len as usize], &rest[..]].concat();
            write_corpus(corpus, &insns, &env, &code);
        }
        // A frame may now hold code.
        self.caches.last_pair = None;
        self.caches.stats.translate_ns += started.elapsed().as_nanos() as u64;
        let bus = mem.dat_bus();
        let stats = &mut self.caches.stats;
        stats.blocks += 1;
        stats.code_bytes += translated.code.len() as u64;
        stats.translated_instructions += insns.len() as u64;
        stats.crossing_blocks += u64::from(size > len);
        self.caches.blocks.push(Block {
            code,
            insns,
            native: translated.native,
            start,
            end,
            bytes,
            second,
            key,
            env,
            valid: true,
            prefixes: Vec::new(),
            tails: Vec::new(),
            incoming: Vec::new(),
        });
        let page = key.0 & !0xfff;
        let to = |target: u64| (target, abs & !0xfff | (target - page), key.2 & KEY_BITS);
        for target in translated.chained {
            if let Some(&t) = self.caches.by_key.get(&to(target)) {
                self.caches.blocks[t].incoming.push(id);
            }
        }
        // The exits `links` would link once their block exists (its own
        // logical page, under the same PSW bits).
        for (jump, target) in translated.unlinked {
            if target & !0xfff == page {
                self.caches
                    .unlinked
                    .entry(to(target))
                    .or_default()
                    .push((id, jump));
            }
        }
        self.caches.by_key.insert(key, id);
        self.link_exits(key, id);
        let frames = (bus.storage.size()).div_ceil(0x1000) as usize;
        let map = &mut self.caches.code_map;
        if map.len() < frames {
            map.resize(frames, 0);
        }
        for (start, end) in self.caches.blocks[id].ranges().into_iter().flatten() {
            let page = start & !0xfff;
            // A frame that holds blocks of this jit and is still marked has
            // the code tag in every TLB entry formed since it was marked:
            // the scan of the whole TLB is needed only when that changed.
            let frame = AbsoluteAddress::new(page);
            if !(self.caches.pages.contains_key(&page) && bus.storage.code_frame(frame)) {
                let _ = bus.storage.set_code_frame(frame, true);
                bus.tlb.mark_code(frame);
            }
            let code = self.caches.pages.entry(page).or_default();
            code.add(id, start, end);
            if let Some(word) = self.caches.code_map.get_mut((page >> 12) as usize) {
                *word = code.granules();
            }
        }
        Some(id)
    }

    /// Points the jumps of the exits waiting for a block with `key` (see
    /// `Caches::unlinked`) at block `id`, which now has it: the code they
    /// are in becomes what its translation would have been had `id` been
    /// among its `links`, and is dropped with `id` as theirs would be.
    fn link_exits(&mut self, key: Key, id: usize) {
        let target = &self.caches.blocks[id];
        // `links` takes no block that crosses into the next page, nor a
        // prefix (whose key holds its length).
        if target.second.is_some() || key.2 & !KEY_BITS != 0 {
            return;
        }
        let Some(waiting) = self.caches.unlinked.remove(&key) else {
            return;
        };
        let code = self.buffer.address(target.code) as u64;
        for (from, jump) in waiting {
            if !self.caches.blocks[from].valid {
                continue;
            }
            // jmp rel32: E9, then the displacement from the next byte.
            let rel = code.wrapping_sub(jump + 5) as i64;
            let Ok(rel) = i32::try_from(rel) else {
                continue;
            };
            if self.buffer.patch(jump + 1, &rel.to_le_bytes()) {
                self.caches.blocks[id].incoming.push(from);
                self.caches.stats.patched_exits += 1;
            }
        }
    }

    /// Runs block `id` and the blocks it chains to, within `budget`
    /// instructions: (instructions executed, address of the last, result
    /// of the last, whether the helper ended the chain, whether the run
    /// must return).
    fn run_chain<M: JitMemory>(
        &mut self,
        id: usize,
        budget: u64,
        cpu: &mut Cpu,
        mem: &mut M,
    ) -> (u64, Last, Result<(), Interruption>, bool, bool) {
        let code = self.buffer.address(self.caches.blocks[id].code);
        let enter = self.buffer.address(self.stubs.enter);
        self.caches.current = Some(id);
        self.caches.current_dirty = false;
        self.caches.stats.entries += 1;
        let bus = mem.dat_bus();
        let tlb = bus.tlb.entries_ptr() as u64;
        let (storage, storage_len) = (bus.storage.host_base() as u64, bus.storage.size());
        let cpu_ptr: *mut Cpu = cpu;
        let mut ctx = Ctx::<M> {
            helper: helper::<M>,
            tlb,
            storage,
            storage_len,
            budget,
            jump: self.caches.jump.as_ptr() as u64,
            generation: u64::from(self.caches.generation_for(cpu.psw.mask & KEY_BITS)),
            bits: cpu.psw.mask & KEY_BITS,
            last_block: id as u64,
            fill: fill::<M>,
            fill_absolute: 0,
            fill_pair: fill_pair::<M>,
            fill_second: 0,
            code_map: self.caches.code_map.as_ptr() as u64,
            cpu: cpu_ptr,
            mem,
            caches: &mut self.caches,
            exit_block: id,
            exit_index: 0,
            refund: 0,
            result: Ok(()),
            leave_run: false,
        };
        let status = call(enter, cpu_ptr, &mut ctx, code);
        let exited = status != abi::END;
        self.caches.current = None;
        // A block the jump cache holds was not entered for want of budget
        // (the dispatcher would have found it).
        let end = if exited {
            ChainEnd::Helper
        } else if ctx.budget == 0
            || self
                .caches
                .jump_get(cpu.psw.addr, cpu.psw.mask & KEY_BITS)
                .is_some()
        {
            ChainEnd::Budget
        } else {
            ChainEnd::Miss
        };
        self.caches.stats.chain_ends[end as usize] += 1;
        let n = budget - ctx.budget - ctx.refund;
        let last = if exited {
            Last::Exit(ctx.exit_block, ctx.exit_index)
        } else {
            Last::Ran(ctx.last_block as u32)
        };
        (n, last, ctx.result, exited, ctx.leave_run)
    }

    /// The address of the instruction `last` names (blocks are looked at
    /// only for a batch's last chain: their instructions are cold memory).
    fn last_address(&self, last: Last) -> u64 {
        let (id, index) = match last {
            Last::At(addr) => return addr,
            Last::Exit(id, index) => (id, index),
            Last::Ran(last) => ((last & 0xffff) as usize, (last >> 16) as usize),
        };
        let insns = self.caches.blocks.get(id).map_or(&[][..], |b| &b.insns[..]);
        insns.get(index).or(insns.last()).map_or(0, |g| g.at)
    }
}

/// The last instruction a batch ran: an address, or where a chain ended
/// (the instruction the helper left after: block and index; else
/// [`abi::last_run`]'s value).
#[derive(Clone, Copy, Debug)]
enum Last {
    At(u64),
    Exit(usize, usize),
    Ran(u32),
}

/// Places the shared stubs at the start of the (empty) buffer.
fn emit_stubs(buffer: &mut CodeBuffer) -> Result<Stubs, String> {
    let ip = buffer.next_address();
    let (code, stubs) =
        stubs_for(ip, JUMP_ENTRIES).map_err(|e| format!("cannot assemble the jit stubs: {e}"))?;
    let at = buffer
        .push(&code)
        .ok_or("the code buffer cannot hold the jit stubs")?;
    Ok(Stubs {
        enter: at + stubs.enter,
        ..stubs
    })
}

/// Instructions between two looks at the host's clock within a batch (a
/// chain of translated code is given at most that many): a timer
/// interruption is taken at most about this many instructions late, as
/// when the machine polls the timers (every 4,096 instructions); under
/// virtual time the longest batch while a timer interruption is enabled
/// or the watchdog runs (the machine polls then).
const TIMER_LOOK: u64 = 4096;

/// The longest batch: how long the machine does not look at what only the
/// host sees (console input, a stop request, the stats signal): about
/// 0.1-0.3 ms of a translated guest. Every return to the machine costs a
/// trip through its loop and the dispatcher, and a batch that ends inside
/// a block runs its tail in the interpreter (docs/CHOICES.md 54c, 61).
const HOST_LOOK: u64 = 1 << 16;

impl Engine for Jit {
    fn run(&mut self, cpu: &mut Cpu, board: &mut Board<'_>, max: u64) -> Ran {
        let clock = &mut board.services.clock;
        let virtual_time = clock.source.pace() == Some(Pace::Instructions);
        let until = watchdog::ns_until_due(cpu, clock, &board.services.watchdog);
        self.watch = until.is_none() || !virtual_time;
        let (max, deadline) = match until {
            None => (max.min(HOST_LOOK), None),
            // Virtual time stands still within a batch: the machine polls
            // the timers as for the interpreter (the same instruction
            // counts, so the same run).
            Some(_) if virtual_time => (max.min(TIMER_LOOK), None),
            // (A deadline past what the host's clock can tell is never.)
            Some(ns) => {
                let at = Instant::now().checked_add(Duration::from_nanos(ns));
                (max.min(HOST_LOOK), at)
            }
        };
        Jit::run_until(self, cpu, board, max.max(1), deadline)
    }

    /// The jit ends its batches by itself: at a block boundary once the
    /// host's clock passed the next enabled timer interruption or the
    /// watchdog (looked at every 4,096 instructions), else after 65,536
    /// instructions (docs/CHOICES.md 54c, 61). Under virtual time, whose
    /// clock stands still within a batch, only while no timer interruption
    /// is enabled and the watchdog does not run; else the machine polls
    /// the timers as for the interpreter, and the jit's batches are at
    /// most 4,096 instructions all the same. Whether a timer is enabled
    /// does not depend on its value, and an instruction that can enable
    /// one or move its deadline (a change of the PSW mask or the control
    /// registers, SET CLOCK COMPARATOR, SET CPU TIMER, SET CLOCK, DIAGNOSE
    /// for the watchdog) ends the batch at once, so the next batch is
    /// capped anew.
    fn watches_clock(&self) -> bool {
        self.watch
    }

    /// Another CPU changed translations: the jump cache (logical address
    /// to block) goes, as after this CPU's own invalidations.
    fn invalidate(&mut self, _invalidation: &zmmu_mmu::invalidate::Invalidation) {
        self.caches.clear_jump(JumpDrop::Invalidation);
    }
}

/// Enters translated code through the trampoline `enter`, at `code`.
#[cfg(target_arch = "x86_64")]
fn call<M>(enter: *const u8, cpu: *mut Cpu, ctx: *mut Ctx<M>, code: *const u8) -> u64 {
    type EnterFn<M> = extern "sysv64" fn(*mut Cpu, *mut Ctx<M>, *const u8) -> u64;
    // SAFETY: `enter` is the trampoline and `code` the start of a block,
    // both emitted by the translator for this ABI into the executable
    // buffer, which stays mapped and executable (never writable) while
    // translated code runs; `cpu` and `ctx` are valid for the call.
    let f: EnterFn<M> = unsafe { core::mem::transmute::<*const u8, EnterFn<M>>(enter) };
    f(cpu, ctx, code)
}

#[cfg(not(target_arch = "x86_64"))]
fn call<M>(_: *const u8, _: *mut Cpu, _: *mut Ctx<M>, _: *const u8) -> u64 {
    unreachable!("Jit::new fails on other hosts")
}

/// One line of the block corpus (`ZMMU_BLOCK_CORPUS`): `address amode
/// partition whole_pages fma movbe key count hex-bytes`, the format of
/// `core/translator/examples/translate_corpus.rs` (partition -1 for
/// [`MemoryAccess::Helper`], the kvm engine's host MMU not written). A
/// failed write costs the corpus a line, never the run.
fn write_corpus(out: &mut impl std::io::Write, insns: &[Guest], env: &Env, code: &[u8]) {
    let (partition, whole, fma) = match env.memory {
        MemoryAccess::SoftTlb {
            partition,
            whole_pages,
            fma,
        } => (partition as i64, whole_pages, fma),
        MemoryAccess::Helper => (-1, false, false),
        MemoryAccess::HostMmu => return,
    };
    let amode = match env.amode {
        zmmu_mmu::addr::AddressingMode::Bits24 => 24,
        zmmu_mmu::addr::AddressingMode::Bits31 => 31,
        zmmu_mmu::addr::AddressingMode::Bits64 => 64,
    };
    let hex: String = code.iter().map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(
        out,
        "{:x} {amode} {partition} {} {} {} {} {} {hex}",
        insns.first().map_or(0, |g| g.at),
        u8::from(whole),
        u8::from(fma),
        u8::from(env.movbe),
        env.key,
        insns.len(),
    );
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

/// Whether the host has FMA3 (VFMADD231SD and friends).
pub fn host_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmmu_mmu::addr::AddressingMode;

    #[test]
    fn a_corpus_line_holds_the_block_as_the_corpus_benchmark_reads_it() {
        // lghi r1,1 ; brctg r1,. (a block of two at 0x2004a).
        let code = [0xa7, 0x19, 0x00, 0x01, 0xa7, 0x17, 0x00, 0x00];
        let insns = decode_block(&code, 0x2004a, AddressingMode::Bits64, 16);
        let env = Env {
            amode: AddressingMode::Bits31,
            key: 6,
            memory: MemoryAccess::SoftTlb {
                partition: 2,
                whole_pages: true,
                fma: false,
            },
            movbe: true,
        };
        let mut out = Vec::new();
        write_corpus(&mut out, &insns, &env, &code);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2004a 31 2 1 0 1 6 2 a7190001a7170000\n"
        );
        // The kvm engine's host MMU is not the corpus benchmark's.
        let mut out = Vec::new();
        let host = Env {
            memory: MemoryAccess::HostMmu,
            ..env
        };
        write_corpus(&mut out, &insns, &host, &code);
        assert!(out.is_empty());
    }
}
