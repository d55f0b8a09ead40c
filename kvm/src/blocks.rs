//! The kvm engine's block cache: translated blocks in the code-cache slot
//! (bump-allocated after the translator's shared stubs, flushed whole when
//! full), found by (PSW address, absolute address, PSW bits), by absolute
//! page (to drop them on stores), and by host code address (to map a page
//! fault in translated code back to its guest instruction); and the jump
//! cache the translator's dispatcher reads in the VM, mirrored on the host.
//!
//! A jump-cache entry (PSW address, PSW bits and the tag of the
//! translation controls) stands for the block whose key is that address
//! and those PSW bits with the absolute address the instruction fetch
//! translates it to under those controls ([`Spaces`]). Entries go only
//! when that stops being true: with their blocks (a store into a code
//! frame), when a storage key of their frame changes (fetch protection),
//! and when a TLB purge changes the fetch's translation
//! ([`Blocks::jump_retain`] with the translation done again under the
//! controls in effect; entries of other controls go). New controls (the
//! kernel's and a process's address space at each system call) change
//! only the tag the dispatcher looks for: the entries of the controls left
//! stay for their return, as TLB entries formed for an ASCE stay usable
//! after the ASCE is replaced and loaded again (PoP ch. 3,
//! "Translation-Lookaside Buffer"). A new generation empties the whole
//! cache only when the code cache is flushed.
//!
//! The blocks the image may resolve a jump-cache miss to in the VM are
//! published in a table after the jump cache ([`PUBLISHED`],
//! `zmmu_vm_runtime::miss`, docs/CHOICES.md 74): valid blocks without a
//! second page, for the PSW key 0, whose frame's reference bit was one
//! when entered. A block leaves it with its validity (a store into its
//! frame), when its frame's key changes, and, with every other, when keys
//! may have changed unseen (a reset) and with the code cache.

use std::collections::{BTreeMap, HashMap};
use std::mem::offset_of;
use std::ops::Range;

use zmmu_cpu::state::mask;
use zmmu_hv_kvm::{ExecArea, KvmPaging};
use zmmu_mmu::addr::{AbsoluteAddress, AddressingMode};
use zmmu_mmu::control::Controls;
use zmmu_mmu::storage::Storage;
use zmmu_translator::abi::{self, jump_slot_in, jump_ways};
use zmmu_translator::{Env, Guest, MemoryAccess, Site};
use zmmu_vm_runtime::protocol::{
    published_slots, Entered, JumpEntry, Published, ENTERED_SLOTS, JUMP_TAG, JUMP_WAYS,
};

use crate::FetchFrames;

/// The virtual address of the table of published blocks
/// (`protocol::Published`): in the execution area, after the jump cache.
pub(crate) const PUBLISHED: u64 = ExecArea::JUMP + (crate::JUMP_ENTRIES * abi::JUMP_SIZE) as u64;

/// Slots of the table at [`PUBLISHED`] (a power of two): a Linux boot
/// translates some 60,000 blocks; with 16,384 slots, 6,100 of its
/// jump-cache misses at blocks the host had translated found none
/// published and left the VM, with 65,536 2,300.
pub(crate) const PUBLISHED_SLOTS: usize = 1 << 16;

/// The virtual address of the log of the jump-cache entries the image
/// made (`protocol::Entered`), after the table at [`PUBLISHED`].
pub(crate) const ENTERED: u64 = PUBLISHED + (PUBLISHED_SLOTS * size_of::<Published>()) as u64;

const _: () =
    assert!(ENTERED + size_of::<Entered>() as u64 <= ExecArea::JUMP + ExecArea::JUMP_BYTES);

// The image writes jump-cache entries as the dispatcher reads them.
const _: () = {
    assert!(size_of::<JumpEntry>() == abi::JUMP_SIZE);
    assert!(offset_of!(JumpEntry, addr) == abi::JUMP_ADDR);
    assert!(offset_of!(JumpEntry, bits) == abi::JUMP_BITS);
    assert!(offset_of!(JumpEntry, code) == abi::JUMP_CODE);
    assert!(offset_of!(JumpEntry, generation) == abi::JUMP_GENERATION);
    assert!(JUMP_WAYS == abi::JUMP_WAYS);
    assert!(JUMP_TAG == Spaces::TAG);
};

/// A block is found by its logical address, its absolute address and the
/// PSW bits it was translated for.
pub(crate) type Key = (u64, u64, u64);

/// One translated block.
#[derive(Debug)]
pub(crate) struct Block {
    /// Virtual address of its code in the VM.
    pub code: u64,
    /// Where its inline code ends (its out-of-line slow paths follow).
    pub inline_end: u64,
    pub insns: Vec<Guest>,
    pub native: Vec<bool>,
    /// Per instruction, in order: where its code and slow path are.
    pub sites: Vec<Site>,
    /// The frame of the next page, for a block of one instruction that
    /// crosses into it or whose EXECUTE targets lie there.
    pub second: Option<u64>,
    pub key: Key,
    pub valid: bool,
    /// Per instruction: a native one whose slow path called the host and
    /// whose site the host entered then (`vmcall::enter_slow_path`).
    pub slow_site: Vec<bool>,
    /// Its slot in the table at [`PUBLISHED`], if it is there.
    pub published: Option<usize>,
}

/// The translation controls of instruction fetches (CR0's translation
/// bits, the prefix and the ASCE fetches translate with, as
/// `zmmu_mmu::control::Controls`) that jump-cache entries were made
/// under, each known by its index, the tag in the low bits of an
/// entry's bits (PSW mask bits 33-63, which the PSW bits of an entry never
/// hold). At most [`Spaces::MAX`]; a new one replaces the oldest, whose
/// entries go.
#[derive(Debug, Default)]
pub(crate) struct Spaces {
    known: Vec<Controls>,
    /// The slot the next new controls replace once the table is full.
    next: usize,
    /// The tag of the controls in effect.
    pub now: u64,
}

impl Spaces {
    /// Controls told apart at once.
    pub const MAX: usize = 64;
    /// The bits of an entry's bits that hold the tag.
    pub const TAG: u64 = 0x7fff_ffff;
}

const _: () = assert!(Spaces::MAX as u64 <= Spaces::TAG + 1);

/// What the TLB purges since the jump cache was last checked may have
/// changed (`recheck_jumps`).
#[derive(Debug, Default)]
pub(crate) struct Purged {
    /// Anything.
    pub all: bool,
    /// The page indexes (bits 44-51 of an address) whose page-table
    /// entries were invalidated (IPTE), one bit each.
    pub pages: [u64; 4],
    /// The ASCEs (`Asce::tag`) whose translations were cleared.
    pub asces: Vec<u64>,
}

/// The blocks, their indexes and the jump cache.
#[derive(Debug)]
pub(crate) struct Blocks {
    pub blocks: Vec<Block>,
    by_key: HashMap<Key, usize>,
    /// Absolute page -> blocks with bytes in it.
    pages: HashMap<u64, Vec<usize>>,
    /// Absolute page -> its bytes when it became a code frame: stores
    /// that nothing watches (the SCLP, I/O, table instructions) are found
    /// by comparing ([`Blocks::drop_changed`]).
    snapshots: HashMap<u64, Box<[u8]>>,
    /// Code address -> block.
    by_code: BTreeMap<u64, usize>,
    /// Host mirror of the jump cache: (PSW address, bits, block, generation).
    jump: Vec<(u64, u64, u32, u32)>,
    /// Host mirror of the table at [`PUBLISHED`]: block + 1 by slot, zero
    /// for an empty slot.
    published: Vec<u32>,
    /// The entries of the current generation, by their tag and the page
    /// index of their PSW address ([`bucket`]), each once, with what the
    /// walks of the jump cache ([`Blocks::jump_retain`]) look at, so that
    /// a walk reads its buckets in order and nothing else: reading each
    /// entry's slot and block took 21 ns an entry, the 24,000 entries
    /// of each of a Linux boot's 1,259 purges of everything 0.6 s.
    live: Vec<Vec<Live>>,
    /// The buckets of [`Blocks::live`] that hold an entry, one bit each:
    /// a walk looks only at those of its scope (a purge of everything
    /// looked at all 16,384, nearly all empty: 144 million bucket visits
    /// in a Linux boot).
    occupied: Box<Words>,
    /// The controls jump-cache entries are tagged with.
    pub spaces: Spaces,
    /// Turns the slot a displaced live entry goes to in a full group.
    victim: usize,
    pub generation: u32,
    /// A TLB purge may have changed what instruction fetches translate
    /// to: the jump cache must be checked ([`Blocks::jump_retain`]) before
    /// translated code runs again.
    pub recheck: bool,
    /// While `recheck`: what the purges since the last check may have
    /// changed.
    pub purged: Purged,
    /// Moves whenever what an instruction fetch under a tag translates to
    /// may have changed (an invalidation, a tag given to other controls):
    /// the pages the host found executable for the image
    /// (`vmcall::publish_fetches`) were listed under `listed_epoch`.
    pub fetch_epoch: u64,
    pub listed_epoch: u64,
    /// The logical pages of the first and the last byte the host's
    /// instructions stored in the PSW's space (`watch`), taken by the
    /// host call that made them (`vmcall::list_written`).
    pub written: Option<(u64, u64)>,
    /// Invalidations of translations or storage keys seen
    /// ([`crate::watch::invalidated`]): a host call during which this grew
    /// leaves the chain, whose next instruction fetch must see them.
    pub invalidations: u64,
    /// The block whose instruction the host is running, and whether a
    /// store dropped it.
    pub current: Option<usize>,
    pub current_dirty: bool,
    /// Counters.
    pub dropped: u64,
    /// Jump-cache entries the image made (taken from its log).
    pub entered: u64,
    /// Jump-cache entries dropped one by one.
    pub jump_dropped: u64,
    /// The frames instruction fetches translate to, for the checks of
    /// the jump cache after purges.
    pub fetch_frames: FetchFrames,
}

/// Buckets of jump-cache entries: by their tag and the page index of
/// their PSW address (bits 44-51), the index a page-table entry's purge
/// names (PoP ch. 3 "INVALIDATE PAGE TABLE ENTRY"): the check after an
/// IPTE looks at the entries at the pages it named, after a clearing by
/// ASCE at those of the tags fetching through it, not at all of them.
const PAGES: usize = 256;
const BUCKETS: usize = Spaces::MAX * PAGES;

// A tag's buckets are whole words of a bitmap of buckets.
const _: () = assert!(PAGES % 64 == 0);

/// One bit per bucket.
type Words = [u64; BUCKETS / 64];

/// The bucket of an entry at PSW address `addr` with bits `bits`.
const fn bucket(addr: u64, bits: u64) -> usize {
    (bits & Spaces::TAG) as usize % Spaces::MAX * PAGES + page_index(addr)
}

/// The page index of `addr` (bits 44-51).
pub(crate) const fn page_index(addr: u64) -> usize {
    (addr >> 12 & 0xff) as usize
}

/// The buckets a walk of the jump cache looks at: all, or one bit each.
#[derive(Clone, Debug)]
pub(crate) struct Scope(Option<Box<Words>>);

impl Scope {
    /// Every bucket.
    pub const ALL: Self = Self(None);

    /// No bucket yet.
    pub fn none() -> Self {
        Self(Some(Box::new([0; BUCKETS / 64])))
    }

    fn add(&mut self, bucket: usize) {
        if let Some(set) = &mut self.0 {
            set[bucket / 64] |= 1 << (bucket % 64);
        }
    }

    /// The entries at page index `index`, under every tag.
    pub fn add_page(&mut self, index: usize) {
        for tag in 0..Spaces::MAX {
            self.add(tag * PAGES + index % PAGES);
        }
    }

    /// The entries under tag `tag`.
    pub fn add_tag(&mut self, tag: usize) {
        if let Some(set) = &mut self.0 {
            let first = tag % Spaces::MAX * PAGES / 64;
            set[first..first + PAGES / 64].fill(u64::MAX);
        }
    }

    /// The buckets in the scope that are also in `occupied`, in order.
    fn buckets<'a>(&'a self, occupied: &'a Words) -> impl Iterator<Item = usize> + 'a {
        (0..BUCKETS / 64).flat_map(move |at| {
            let mut word = self.0.as_ref().map_or(u64::MAX, |set| set[at]) & occupied[at];
            core::iter::from_fn(move || {
                let bit = (word != 0).then(|| word.trailing_zeros() as usize)?;
                word &= word - 1;
                Some(at * 64 + bit)
            })
        })
    }
}

/// A live jump-cache entry as [`Blocks::live`] lists it: its slot and
/// the slot's entry, with its block's absolute address and whether the
/// block crosses into a second page ([`Block::second`]).
#[derive(Clone, Copy, Debug)]
struct Live {
    slot: u32,
    id: u32,
    addr: u64,
    bits: u64,
    absolute: u64,
    crosses: bool,
}

/// A jump-cache entry as [`Blocks::jump_retain`] shows it.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// The PSW address.
    pub addr: u64,
    /// The PSW bits and the fetch controls' tag.
    pub bits: u64,
    /// The block.
    pub id: usize,
    /// The block's absolute address.
    pub absolute: u64,
    /// Whether the block crosses into a second page.
    pub crosses: bool,
}

impl Blocks {
    /// The most jump-cache entries an address has (under different PSW
    /// bits or tags) before a new one replaces one of them: two processes
    /// running one program in turn keep theirs.
    const SAME_ADDRESS: usize = 2;

    pub fn new() -> Self {
        Self {
            blocks: Vec::new(),
            by_key: HashMap::new(),
            pages: HashMap::new(),
            snapshots: HashMap::new(),
            by_code: BTreeMap::new(),
            jump: vec![(0, 0, 0, 0); crate::JUMP_ENTRIES],
            published: vec![0; PUBLISHED_SLOTS],
            live: vec![Vec::new(); BUCKETS],
            occupied: Box::new([0; BUCKETS / 64]),
            spaces: Spaces::default(),
            victim: 0,
            generation: 1,
            recheck: false,
            purged: Purged::default(),
            fetch_epoch: 0,
            listed_epoch: 0,
            written: None,
            invalidations: 0,
            current: None,
            current_dirty: false,
            dropped: 0,
            entered: 0,
            jump_dropped: 0,
            fetch_frames: FetchFrames::default(),
        }
    }

    /// Forgets every block (the code cache is reused from its start).
    pub fn clear(&mut self, paging: &mut KvmPaging) {
        self.unpublish_all(&paging.exec_area());
        // The entries the image made go with the generation.
        let _ = paging.exec_area().store_u64(ENTERED, 0);
        self.blocks.clear();
        self.by_key.clear();
        self.pages.clear();
        self.snapshots.clear();
        self.by_code.clear();
        paging.clear_code_frames();
        // Every jump-cache entry goes: a new generation.
        self.generation = self.generation.wrapping_add(1).max(1);
        self.live.iter_mut().for_each(Vec::clear);
        self.occupied.fill(0);
        self.recheck = false;
    }

    /// What the purges since the last check may have changed, from
    /// nothing on.
    fn purging(&mut self) -> &mut Purged {
        if !self.recheck {
            self.recheck = true;
            self.purged = Purged::default();
        }
        &mut self.purged
    }

    /// A purge of the page-table entries of page indexes `first` to
    /// `first + extra` (IPTE): only instruction fetches of addresses with
    /// one of those page indexes may translate otherwise.
    pub fn purged_pages(&mut self, first: u8, extra: u8) {
        let pages = &mut self.purging().pages;
        for index in first..=first.saturating_add(extra) {
            pages[usize::from(index) / 64] |= 1 << (index % 64);
        }
    }

    /// A purge of the translations formed through the ASCE of tag `asce`
    /// (`Asce::tag`; IDTE clearing by ASCE, Linux's flush of a process's
    /// address space): only fetches through that ASCE may translate
    /// otherwise.
    pub fn purged_asce(&mut self, asce: u64) {
        self.purging().asces.push(asce);
    }

    /// A purge after which any translation may have changed.
    pub fn purged(&mut self) {
        self.purging().all = true;
    }

    /// Enters block `id` in the table at [`PUBLISHED`] (not already there,
    /// valid, without a second page, for the PSW key 0), the caller having
    /// seen its frame's reference bit one: in the first empty slot of its
    /// probes, else in one of them in turn, whose block leaves the table.
    pub fn publish(&mut self, area: &ExecArea<'_>, id: usize) {
        let block = &self.blocks[id];
        if !block.valid
            || block.second.is_some()
            || block.key.2 & mask::KEY != 0
            || block.published.is_some()
        {
            return;
        }
        let (key, code) = (block.key, block.code);
        let slots: Vec<usize> = published_slots(key, PUBLISHED_SLOTS).collect();
        let slot = match slots.iter().find(|&&s| self.published[s] == 0) {
            Some(&free) => free,
            None => {
                self.victim = self.victim.wrapping_add(1);
                let slot = slots[self.victim % slots.len()];
                let old = self.published[slot] as usize - 1;
                self.blocks[old].published = None;
                slot
            }
        };
        self.published[slot] = id as u32 + 1;
        self.blocks[id].published = Some(slot);
        let at = PUBLISHED + (slot * size_of::<Published>()) as u64;
        for (field, word) in [
            (offset_of!(Published, addr), key.0),
            (offset_of!(Published, absolute), key.1),
            (offset_of!(Published, bits), key.2),
            (offset_of!(Published, code), code),
            (offset_of!(Published, id), id as u64),
        ] {
            let _ = area.store_u64(at + field as u64, word);
        }
    }

    /// Takes block `id` out of the table at [`PUBLISHED`], if it is there.
    fn unpublish(&mut self, area: &ExecArea<'_>, id: usize) {
        if let Some(slot) = self.blocks[id].published.take() {
            self.published[slot] = 0;
            let at = PUBLISHED + (slot * size_of::<Published>()) as u64;
            let _ = area.store_u64(at + offset_of!(Published, code) as u64, 0);
        }
    }

    /// Takes the jump-cache entries the image made since the last time
    /// (its log at [`ENTERED`]) into the host's mirror, and empties the
    /// log: before the host reads or drops entries, so that the mirror is
    /// the jump cache the dispatcher reads.
    pub fn take_entered(&mut self, area: &ExecArea<'_>) {
        let len = area
            .load_u64(ENTERED)
            .unwrap_or(0)
            .min(ENTERED_SLOTS as u64);
        if len == 0 {
            return;
        }
        let _ = area.store_u64(ENTERED, 0);
        self.entered += len;
        for i in 0..len {
            let slot = area.load_u64(ENTERED + 8 + 8 * i).unwrap_or(u64::MAX) as usize;
            if slot >= self.jump.len() {
                continue;
            }
            let at = ExecArea::JUMP + (slot * abi::JUMP_SIZE) as u64;
            let word = |offset: usize| area.load_u64(at + offset as u64).unwrap_or(0);
            let (addr, bits) = (word(abi::JUMP_ADDR), word(abi::JUMP_BITS));
            let tail = word(abi::JUMP_GENERATION);
            let (generation, id) = (tail as u32, (tail >> 32) as u32);
            if generation != self.generation || id as usize >= self.blocks.len() {
                continue;
            }
            self.mirror(slot, (addr, bits, id, generation));
        }
    }

    /// Empties the table at [`PUBLISHED`]: after a change of storage keys
    /// the host did not see one by one (a reset, another CPU's purge seen
    /// between batches), after which a frame's reference bit may be zero.
    pub fn unpublish_all(&mut self, area: &ExecArea<'_>) {
        let ids: Vec<usize> = self
            .published
            .iter()
            .filter_map(|&id| (id as usize).checked_sub(1))
            .collect();
        for id in ids {
            self.unpublish(area, id);
        }
    }

    /// The fetch controls of each tag, by tag.
    pub fn fetch_controls(&self) -> &[Controls] {
        &self.spaces.known
    }

    /// The `Asce::tag`s each tag's fetch controls translate with (the
    /// unused ASCEs' included), by tag.
    pub fn fetch_asces(&self) -> Vec<[u64; 2]> {
        self.spaces
            .known
            .iter()
            .map(|c| [c.cr1.tag(), c.cr13.tag()])
            .collect()
    }

    /// Makes `controls` the controls in effect ([`Spaces::now`]): their
    /// tag, a new one if they are new, replacing the oldest (whose
    /// jump-cache entries go) when [`Spaces::MAX`] are known.
    pub fn enter_space(&mut self, area: &ExecArea<'_>, controls: &Controls) {
        let known = &mut self.spaces.known;
        let tag = match known.iter().position(|c| c == controls) {
            Some(tag) => tag,
            None if known.len() < Spaces::MAX => {
                known.push(*controls);
                known.len() - 1
            }
            None => {
                let tag = self.spaces.next;
                self.spaces.next = (tag + 1) % Spaces::MAX;
                known[tag] = *controls;
                self.fetch_epoch += 1;
                let mut scope = Scope::none();
                scope.add_tag(tag);
                self.jump_retain(area, scope, |_, entry| {
                    entry.bits & Spaces::TAG != tag as u64
                });
                tag
            }
        };
        self.spaces.now = tag as u64;
    }

    pub fn get(&self, key: &Key) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// The slot holding the entry for `addr` and `bits` as the dispatcher
    /// finds it: the first of the address's group ([`jump_ways`]) with
    /// that address and those bits. An address has an entry for each of
    /// the bits it runs under (processes running one program at the same
    /// addresses: their tags differ).
    fn jump_find(&self, addr: u64, bits: u64) -> Option<usize> {
        jump_ways(jump_slot_in(addr, crate::JUMP_ENTRIES))
            .into_iter()
            .find(|&s| self.jump[s].0 == addr && self.jump[s].1 == bits)
    }

    pub fn jump_get(&self, addr: u64, bits: u64) -> Option<usize> {
        let (_, _, block, generation) = self.jump[self.jump_find(addr, bits)?];
        (generation == self.generation).then_some(block as usize)
    }

    /// Enters a block in the jump cache, on the host and in the VM: in the
    /// slot that holds its address and bits already; else, where the group
    /// holds [`Blocks::SAME_ADDRESS`] live entries of the address under
    /// other bits, in place of one of them in turn (processes that ran one
    /// program at the same addresses and ended do not crowd out the
    /// kernel's entries); else in its own slot, whose live entry moves to
    /// another slot of the group: one without a live entry, else each of
    /// the others in turn (whose entry goes).
    pub fn jump_set(&mut self, area: &ExecArea<'_>, addr: u64, bits: u64, id: usize) {
        self.take_entered(area);
        let ways = jump_ways(jump_slot_in(addr, crate::JUMP_ENTRIES));
        let slot = match self.jump_find(addr, bits) {
            Some(slot) => slot,
            None => {
                let same: Vec<usize> = ways
                    .into_iter()
                    .filter(|&s| self.jump[s].0 == addr && self.jump[s].3 == self.generation)
                    .collect();
                if same.len() >= Self::SAME_ADDRESS {
                    self.victim = self.victim.wrapping_add(1);
                    same[self.victim % same.len()]
                } else {
                    let (old_addr, old_bits, old_id, old_generation) = self.jump[ways[0]];
                    if old_generation == self.generation {
                        let others = &ways[1..];
                        let to = match others.iter().find(|&&s| self.jump[s].3 != self.generation) {
                            Some(&free) => free,
                            None => {
                                self.victim = self.victim.wrapping_add(1);
                                others[self.victim % others.len()]
                            }
                        };
                        self.jump_store(area, to, old_addr, old_bits, old_id as usize);
                    }
                    ways[0]
                }
            }
        };
        self.jump_store(area, slot, addr, bits, id);
    }

    /// After a jump-cache miss to the cached block at logical `addr` and
    /// absolute `abs` for PSW bits `key_bits`: enters the other valid
    /// blocks of that logical page and frame made for the same bits under
    /// `bits` (those PSW bits and the tag in effect). An instruction fetch
    /// anywhere in the page translates through the page-table entry the
    /// fetch at `addr` just did, to that frame (PoP ch. 3, "Dynamic
    /// Address Translation"), under the same storage key, so each is the
    /// block its address fetches now: a process's first pass through a
    /// program that other processes ran at the same addresses (busybox
    /// in each of Linux's processes) misses once per page instead of once
    /// per block. Blocks of an instruction crossing into the next page
    /// are left out (their second frame was not translated).
    pub fn enter_siblings(&mut self, area: &ExecArea<'_>, (addr, abs, key_bits): Key, bits: u64) {
        self.take_entered(area);
        let Some(list) = self.pages.get(&(abs & !0xfff)) else {
            return;
        };
        let siblings: Vec<(u64, usize)> = list
            .iter()
            .map(|&id| (&self.blocks[id], id))
            .filter(|(b, _)| {
                b.valid
                    && b.second.is_none()
                    && b.key.0 >> 12 == addr >> 12
                    && b.key.1 >> 12 == abs >> 12
                    && b.key.2 == key_bits
            })
            .map(|(b, id)| (b.key.0, id))
            .collect();
        for (at, id) in siblings {
            if self.jump_get(at, bits) != Some(id) {
                self.jump_set(area, at, bits, id);
            }
        }
    }

    /// Writes jump-cache entry `slot`, on the host and in the VM.
    fn jump_store(&mut self, area: &ExecArea<'_>, slot: usize, addr: u64, bits: u64, id: usize) {
        self.mirror(slot, (addr, bits, id as u32, self.generation));
        let at = ExecArea::JUMP + (slot * abi::JUMP_SIZE) as u64;
        let _ = area.store_u64(at + abi::JUMP_ADDR as u64, addr);
        let _ = area.store_u64(at + abi::JUMP_BITS as u64, bits);
        let _ = area.store_u64(at + abi::JUMP_CODE as u64, self.blocks[id].code);
        let _ = area.store_u64(
            at + abi::JUMP_GENERATION as u64,
            u64::from(self.generation) | (id as u64) << 32,
        );
    }

    /// Sets the host's mirror of jump-cache slot `slot` to `entry` (of
    /// the current generation), keeping [`Blocks::live`]: the slot listed
    /// once, in its address's bucket.
    fn mirror(&mut self, slot: usize, entry: (u64, u64, u32, u32)) {
        let (old_addr, old_bits, _, old_generation) = self.jump[slot];
        let block = &self.blocks[entry.2 as usize];
        let live = Live {
            slot: slot as u32,
            id: entry.2,
            addr: entry.0,
            bits: entry.1,
            absolute: block.key.1,
            crosses: block.second.is_some(),
        };
        if old_generation == self.generation {
            let index = bucket(old_addr, old_bits);
            let from = &mut self.live[index];
            if let Some(at) = from.iter().position(|l| l.slot == live.slot) {
                from.swap_remove(at);
            }
            if from.is_empty() {
                self.occupied[index / 64] &= !(1 << (index % 64));
            }
        }
        let index = bucket(entry.0, entry.1);
        self.live[index].push(live);
        self.occupied[index / 64] |= 1 << (index % 64);
        debug_assert_eq!(
            page_index(self.blocks[entry.2 as usize].key.0),
            page_index(entry.0),
            "an entry's address is its block's"
        );
        self.jump[slot] = entry;
    }

    /// Drops the jump-cache entries in `scope`, on the host and in the
    /// VM, for which `keep` (given the blocks and the entry) says no.
    /// Every entry is of a valid block: a dropped block's go when it is
    /// dropped ([`Blocks::drop_page`]), and neither side enters one
    /// afterwards.
    pub fn jump_retain(
        &mut self,
        area: &ExecArea<'_>,
        scope: Scope,
        mut keep: impl FnMut(&[Block], Entry) -> bool,
    ) {
        self.take_entered(area);
        let Self {
            blocks,
            jump,
            live,
            occupied,
            generation,
            jump_dropped,
            ..
        } = self;
        let present: Words = **occupied;
        for index in scope.buckets(&present) {
            live[index].retain(|live| {
                debug_assert_eq!(
                    jump[live.slot as usize],
                    (live.addr, live.bits, live.id, *generation),
                    "a live entry is its slot's"
                );
                let id = live.id as usize;
                if keep(
                    blocks,
                    Entry {
                        addr: live.addr,
                        bits: live.bits,
                        id,
                        absolute: live.absolute,
                        crosses: live.crosses,
                    },
                ) {
                    debug_assert!(blocks[id].valid, "an entry of a dropped block");
                    return true;
                }
                let slot = live.slot as usize;
                // Generation 0 is never current.
                jump[slot].3 = 0;
                let at = ExecArea::JUMP + (slot * abi::JUMP_SIZE + abi::JUMP_GENERATION) as u64;
                let _ = area.store_u64(at, 0);
                *jump_dropped += 1;
                false
            });
            if live[index].is_empty() {
                occupied[index / 64] &= !(1 << (index % 64));
            }
        }
    }

    /// The buckets of the entries of `ids` (at their blocks' addresses).
    fn scope_of(&self, ids: &[usize]) -> Scope {
        let mut scope = Scope::none();
        for &id in ids {
            scope.add_page(page_index(self.blocks[id].key.0));
        }
        scope
    }

    /// Adds a translated block, `frames` being the absolute pages it has
    /// bytes in with their bytes now; they become code frames, and those
    /// that were not are returned: the caller drops their mappings (so that
    /// they come back read-only).
    pub fn insert(
        &mut self,
        block: Block,
        frames: &[(u64, &[u8])],
        paging: &mut KvmPaging,
    ) -> (usize, Vec<u64>) {
        let id = self.blocks.len();
        let mut new_frames = Vec::new();
        for &(page, bytes) in frames {
            let frame = AbsoluteAddress::new(page);
            if !paging.is_code_frame(frame) {
                new_frames.push(page);
            }
            paging.set_code_frame(frame, true);
            self.snapshots.entry(page).or_insert_with(|| bytes.into());
            self.pages.entry(page).or_default().push(id);
        }
        self.by_key.insert(block.key, id);
        self.by_code.insert(block.code, id);
        self.blocks.push(block);
        (id, new_frames)
    }

    /// The block and instruction whose inline code holds `rip`.
    pub fn site(&self, rip: u64) -> Option<(usize, Site)> {
        let (_, &id) = self.by_code.range(..=rip).next_back()?;
        let block = self.blocks.get(id)?;
        if rip >= block.inline_end {
            return None;
        }
        let at = block.sites.partition_point(|s| s.start <= rip);
        Some((id, *block.sites.get(at.checked_sub(1)?)?))
    }

    /// Whether a valid block has bytes in the absolute page of `absolute`.
    pub fn has_code(&self, absolute: u64) -> bool {
        self.pages
            .get(&(absolute & !0xfff))
            .is_some_and(|list| !list.is_empty())
    }

    /// Drops the blocks in the absolute page of `absolute` and makes it an
    /// ordinary frame again (a store into it).
    pub fn drop_page(&mut self, absolute: u64, paging: &mut KvmPaging) {
        let page = absolute & !0xfff;
        paging.set_code_frame(AbsoluteAddress::new(page), false);
        self.snapshots.remove(&page);
        let Some(mut list) = self.pages.remove(&page) else {
            return;
        };
        list.sort_unstable();
        let image = paging.image().map(|image| image.area());
        let area = paging.exec_area();
        for &id in &list {
            self.unpublish(&area, id);
            let block = &mut self.blocks[id];
            if block.valid {
                block.valid = false;
                self.by_key.remove(&block.key);
                self.dropped += 1;
                // Its sites free their slots for the blocks to come (the
                // table would fill with those of dropped blocks).
                let calls = block
                    .native
                    .iter()
                    .enumerate()
                    .filter(|&(index, &native)| !native || block.slow_site[index]);
                for (index, _) in calls {
                    if let Some(area) = &image {
                        area.remove_site(abi::which(id as u64, index));
                    }
                }
            }
        }
        if self.current.is_some_and(|id| !self.blocks[id].valid) {
            self.current_dirty = true;
        }
        // The entries of the blocks dropped before are gone already.
        let scope = self.scope_of(&list);
        self.jump_retain(&paging.exec_area(), scope, |_, entry| {
            list.binary_search(&entry.id).is_err()
        });
    }

    /// After the storage key of the frame at `absolute` changed: drops the
    /// jump-cache entries of the blocks with bytes in it, whose fetch may
    /// now be refused (fetch protection); the next lookup fetches again.
    pub fn key_changed(&mut self, absolute: u64, paging: &KvmPaging) {
        let frame = absolute & !0xfff;
        // Its reference bit may be zero now.
        let list = self.pages.get(&frame).cloned().unwrap_or_default();
        for &id in &list {
            self.unpublish(&paging.exec_area(), id);
        }
        if self.has_code(frame) {
            let scope = self.scope_of(&list);
            self.jump_retain(&paging.exec_area(), scope, |blocks, entry| {
                entry.absolute & !0xfff != frame
                    && !(entry.crosses && blocks[entry.id].second == Some(frame))
            });
        }
    }

    /// Drops the blocks of every code frame with bytes at the absolute
    /// addresses `range` whose bytes are no longer those it was
    /// translated from (after stores nothing watched).
    pub fn drop_changed(
        &mut self,
        storage: &dyn Storage,
        paging: &mut KvmPaging,
        range: Range<u64>,
    ) {
        let mut now = [0u8; 4096];
        let changed: Vec<u64> = self
            .snapshots
            .iter()
            .filter(|(&page, _)| page < range.end && page.saturating_add(0x1000) > range.start)
            .filter(|(&page, then)| {
                storage.read(AbsoluteAddress::new(page), &mut now).is_none() || now[..] != then[..]
            })
            .map(|(&page, _)| page)
            .collect();
        for page in changed {
            self.drop_page(page, paging);
        }
    }
}

/// What the translator is told for blocks run in the VM: accesses at the
/// guest's logical address through the x86 MMU, except in access-register
/// mode (the interpreter makes them).
pub fn env(amode: AddressingMode, key: u8, access_register_mode: bool) -> Env {
    Env {
        amode,
        key,
        memory: if access_register_mode {
            MemoryAccess::Helper
        } else {
            MemoryAccess::HostMmu
        },
        // The guest CPUID has no MOVBE on every host.
        movbe: false,
    }
}
