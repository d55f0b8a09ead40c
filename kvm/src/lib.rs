//! # zmmu-kvm
//!
//! The `kvm` engine: s390x blocks translated by `zmmu-translator` run at
//! CPL3 inside a KVM virtual machine (`zmmu-hv-kvm`), and each guest load or
//! store is one x86 `MOV` (with a byte swap) at the guest's logical
//! address, translated by the x86 MMU through the shadow of the s390x DAT
//! tables that the core's shadow pager keeps in the VM's page tables.
//!
//! - **Where things live.** Translated code is in the code-cache slot,
//!   mapped executable and read-only in the upper half of every shadow
//!   root; the CPU state, the translator's context and its jump cache are
//!   in user pages of the runtime ([`zmmu_hv_kvm::ExecArea`]); s390x logical
//!   addresses occupy the lower half.
//! - **A chain** starts on the host: the block at the PSW is looked up (or
//!   translated on the host into the code cache), the shadow root of the
//!   PSW's address space, key and DAT mode is activated, the CPU state is
//!   copied in, and the vCPU runs blocks, chaining through the jump cache,
//!   until a block is missing, the instruction budget is spent or a host
//!   call says "leave".
//! - **Exits** ([`exits`]): a host call the in-VM runtime image does not
//!   complete runs one instruction with the interpreter's semantics on the
//!   host; a page fault is a shadow fill
//!   (retried) or sends the instruction to that same slow path (an s390x
//!   exception, a sub-page rule, an address at or above 2^47, a store
//!   into a frame holding translated code), so every program interruption
//!   is exactly the interpreter's.
//! - **Self-modifying code.** Frames holding translated code are mapped
//!   read-only; a store into one drops its blocks and is made by the
//!   interpreter. Stores the interpreter makes are watched ([`watch`]).
//!
//! Translation runs on the host (the vCPU exits on a block miss; a miss
//! of the jump cache to a block already translated the in-VM image
//! resolves, `docs/CHOICES.md` 74). The
//! interpreter's semantics have begun to move into the VM: the in-VM
//! runtime image completes the clock instructions without an exit
//! (`vmcall`, `docs/CHOICES.md` 37); the rest of the interpreter, the
//! translator and the shadow pager are the next steps
//! (`docs/ARCHITECTURE.md`).

#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod blocks;
mod deadline;
pub mod exits;
pub mod reasons;
mod state;
mod time;
mod vmcall;
pub mod watch;

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::memory::{logical_space, Access, AddressType, Memory};
use zmmu_cpu::state::{mask, Cpu};
use zmmu_hv_kvm::image::TscLink;
use zmmu_hv_kvm::runtime::CODE_CACHE_VA;
use zmmu_hv_kvm::{ExecArea, KvmConfig, KvmError, KvmHost, KvmPaging, KvmRoot};
use zmmu_machine::engine::{Engine, Interpreter, Ran};
use zmmu_machine::interrupt::{controls_differ, interruption_controls};
use zmmu_machine::main_storage::MainStorage;
use zmmu_machine::system::Board;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::control::Controls;
use zmmu_mmu::host::HostPaging;
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::prefix::PREFIX_AREA;
use zmmu_mmu::shadow::{RootTag, ShadowPager};
use zmmu_mmu::storage::Storage;
use zmmu_translator::{
    abi, decode_block, relative_target, stubs_with_miss, translate, Guest, Stubs,
};

pub use blocks::env as translation_env;
pub use time::TscTime;
pub use zmmu_hv_kvm::vm::available;
pub use zmmu_hv_kvm::Interrupter;

use blocks::{page_index, Block, Blocks, Entry, Scope, Spaces};
use deadline::{Deadline, Tick};
use exits::{Context, Exits};
use reasons::{ChainEnd, ExitReasons};
use watch::Watch;

// The PSW bits translated code depends on (`KEY_BITS`), the fetch
// controls and the root of a PSW: the image's too (`docs/CHOICES.md` 77).
use zmmu_vm_runtime::gate::{self, fetch_controls, KEY_BITS};
use zmmu_vm_runtime::protocol::{controls_words, root_words, GATE_ROOTS};

// The image sets the context's PSW bits after a switch.
const _: () = assert!(abi::CTX_BITS as u64 == zmmu_vm_runtime::protocol::CONTEXT_BITS);
const _: () = assert!(abi::CTX_LAST_BLOCK as u64 == zmmu_vm_runtime::protocol::CONTEXT_LAST_BLOCK);
const _: () = assert!(
    abi::last_run(0x1234, 0x56) as u64 == zmmu_vm_runtime::call::last_run(0x1234 << 8 | 0x56)
);

// The tag of the translation controls shares an entry's bits with them.
const _: () = assert!(KEY_BITS & Spaces::TAG == 0);

/// The default size of the code cache.
pub const DEFAULT_CODE_CACHE: u64 = 64 << 20;

/// Jump-cache entries of the kvm engine's dispatcher: sixteen times the
/// translator's default ([`abi::JUMP_ENTRIES`]). A miss costs a VM exit
/// here (tens of microseconds on PVM) where the jit pays a return to
/// Rust, and a kernel's working set of block entries outgrows 4096
/// (`docs/CHOICES.md` 46); with Linux's processes (busybox's blocks under
/// each process's tag beside the kernel's) 16384 entries lost 1.1 million
/// entries to others of their group over a boot (`docs/CHOICES.md` 62b).
pub const JUMP_ENTRIES: usize = 65536;

const _: () = assert!((JUMP_ENTRIES * abi::JUMP_SIZE) as u64 <= ExecArea::JUMP_BYTES);

/// The most blocks translated ahead at one block miss.
const AHEAD: usize = 16;

/// Code-cache bytes that must stay free for translating ahead (it never
/// flushes the cache).
const AHEAD_ROOM: u64 = 1 << 20;

/// Where a block may go next, where that is known before it runs: the
/// targets of its relative branches (side exits included) and the
/// instruction after its last (BRAS's return point too, a block ended by
/// its length), unless that is an unconditional branch or one to a
/// register.
fn successors(insns: &[Guest], amode: AddressingMode) -> Vec<u64> {
    use zmmu_cpu::opcode::Opcode::*;
    let mut out = Vec::new();
    for g in insns {
        match g.insn.op {
            BRC | BRCL if g.insn.f.m1 == 0 => {}
            BRC | BRCL | BRCT | BRCTG | BRXH | BRXLE | BRXHG | BRXLG | BRAS | BRASL => {
                out.push(relative_target(g.at, &g.insn, amode));
            }
            _ => {}
        }
    }
    if let Some(last) = insns.last() {
        let falls_through = match last.insn.op {
            BRC | BRCL => last.insn.f.m1 != 15,
            BRCT | BRCTG | BRXH | BRXLE | BRXHG | BRXLG | BRAS | BRASL => true,
            op => !op.ends_block(),
        };
        if falls_through {
            out.push(amode.wrap(last.at.wrapping_add(u64::from(last.insn.len))));
        }
    }
    out
}

/// An absolute page and its bytes.
type Frame = (u64, Box<[u8]>);

/// An instruction fetch at the PSW's logical address.
fn fetch(cpu: &Cpu) -> Access<'_> {
    Access {
        kind: AccessKind::InstructionFetch,
        space: AddressType::Logical { base: 0 },
        cpu,
    }
}

/// The frame an instruction fetch at logical `page` (the next page of a
/// block) translates to and its bytes, or `None` where the fetch is
/// refused.
fn next_frame(cpu: &Cpu, board: &mut Board<'_>, page: u64) -> Option<Frame> {
    let frame = board.translate(&fetch(cpu), page).ok()?.value() & !0xfff;
    let mut bytes = vec![0u8; 4096].into_boxed_slice();
    board
        .bus
        .storage
        .read(AbsoluteAddress::new(frame), &mut bytes)?;
    Some((frame, bytes))
}

/// Whether `block`, if it has bytes in the next page (an instruction
/// crossing into it, or EXECUTE targets there), still fetches them from
/// the frame it was translated from (the frame of its first byte is part
/// of its key).
fn second_fetched(block: &Block, cpu: &Cpu, board: &mut Board<'_>) -> bool {
    let Some(second) = block.second else {
        return true;
    };
    let next = cpu.psw.amode().wrap((block.key.0 | 0xfff).wrapping_add(1));
    board
        .translate(&fetch(cpu), next)
        .is_ok_and(|a| a.value() & !0xfff == second)
}

/// The state a chain's accesses are made in under `cpu`'s PSW and
/// `controls` (the PSW's address space and key, PoP ch. 3 "Address
/// Spaces"), and the tag of the shadow root that makes them
/// ([`gate::root_tag`]); `None` in the access-register mode, where
/// blocks make no direct accesses.
pub(crate) fn chain_context(cpu: &Cpu, controls: Controls) -> (Context, Option<RootTag>) {
    (
        Context {
            controls,
            space: logical_space(cpu, 0),
            key: cpu.psw.key(),
        },
        gate::root_tag(cpu, &controls),
    )
}

/// Publishes for the image's gate (docs/CHOICES.md 77) the warm roots by
/// their tags (the user-readable [`zmmu_vm_runtime::protocol::Gate`]) and
/// their CR3s (the runtime's supervisor table, in the same order), and
/// the fetch controls of the jump cache's tags: before translated code
/// runs and after each exit, so that the image never sees a root the
/// pager has not (an evicted root the paging takes out of the CR3 table
/// at once: `KvmPaging::release_root`).
/// Whether page faults of translated code go to the image first
/// (docs/CHOICES.md 91): off (on PVM hosts it costs more than the exits
/// it saves), `ZMMU_KVM_FILLS=1` turns it on.
fn fills_in_vm() -> bool {
    std::env::var_os("ZMMU_KVM_FILLS").is_some_and(|v| v == "1")
}

pub(crate) fn publish_gate(
    paging: &mut KvmPaging,
    pager: &ShadowPager<KvmPaging>,
    blocks: &Blocks,
) {
    let Some(image) = paging.image() else {
        return;
    };
    let roots: Vec<(RootTag, KvmRoot)> = pager.roots().take(GATE_ROOTS).collect();
    let words: Vec<([u64; 2], u64)> = roots
        .iter()
        .map(|(tag, root)| (root_words(tag), root.cr3()))
        .collect();
    let spaces: Vec<[u64; 6]> = blocks.fetch_controls().iter().map(controls_words).collect();
    image.area().publish_gate(&words, &spaces);
    let cr3s: Vec<KvmRoot> = roots.iter().map(|&(_, root)| root).collect();
    paging.publish_gate(&cr3s);
}

/// Drops the jump-cache entries whose PSW address no longer fetches their
/// block's bytes under the controls and DAT tables now: after a TLB purge
/// instruction fetches translate through the tables again (PoP ch. 3,
/// "Translation-Lookaside Buffer"), and an entry stays only if it was made
/// under the controls now in effect and that gives the frames its block
/// was translated from. Entries of blocks whose fetch the change does not
/// affect (DAT off, or tables not changed) survive it. Of the entries made
/// under other controls, those with DAT off stay (a real address goes
/// through their own prefix only, which a purge does not touch); the
/// others go (they would have to be translated again under their own
/// controls). After IPTEs and clearings by ASCE alone, only the entries of
/// blocks fetched from a page with one of the page indexes purged, or
/// through one of the ASCEs cleared, are looked at (a page-table entry
/// translates only addresses with its index, and an ASCE's clearing
/// leaves the translations of other ASCEs: PoP ch. 3
/// "Translation-Lookaside Buffer"); the others stay, whatever their
/// controls.
fn recheck_jumps(blocks: &mut Blocks, area: &ExecArea<'_>, cpu: &Cpu, board: &mut Board<'_>) {
    blocks.recheck = false;
    let purged = std::mem::take(&mut blocks.purged);
    blocks.enter_space(area, &fetch_controls(cpu, board.bus.controls(cpu)));
    // Per tag: whether the purges cleared an ASCE its fetches use.
    let cleared: Vec<bool> = blocks
        .fetch_asces()
        .iter()
        .map(|used| used.iter().any(|a| purged.asces.contains(a)))
        .collect();
    let tag = blocks.spaces.now;
    let mut probe = cpu.clone();
    let touched = |addr: u64| {
        let index = page_index(addr);
        purged.pages[index / 64] & 1 << (index % 64) != 0
    };
    // Only the entries at the pages purged (and those of blocks crossing
    // into them from the page before) and under the tags whose ASCEs were
    // cleared, unless anything was purged.
    let scope = if purged.all {
        Scope::ALL
    } else {
        let mut scope = Scope::none();
        for index in (0..256u64).filter(|&index| touched(index << 12)) {
            scope.add_page(index as usize);
            scope.add_page(page_index(index.wrapping_sub(1) << 12));
        }
        let unknown = cleared.len()..Spaces::MAX;
        let tags = cleared.iter().enumerate().filter(|&(_, &cleared)| cleared);
        for tag in tags.map(|(tag, _)| tag).chain(unknown) {
            scope.add_tag(tag);
        }
        scope
    };
    let mut frames = std::mem::take(&mut blocks.fetch_frames);
    frames.forget();
    blocks.jump_retain(area, scope, |blocks, entry| {
        let Entry { addr, bits, .. } = entry;
        let cleared = cleared
            .get((bits & Spaces::TAG) as usize)
            .is_none_or(|&cleared| cleared);
        let next = addr.wrapping_add(0x1000);
        let spared = !(purged.all || cleared || touched(addr) || entry.crosses && touched(next));
        if spared {
            return true;
        }
        if bits & Spaces::TAG != tag {
            return bits & mask::DAT == 0;
        }
        probe.psw.mask = probe.psw.mask & !KEY_BITS | bits & KEY_BITS;
        frames
            .of(&probe, board, addr)
            .map(|frame| frame | addr & 0xfff)
            == Some(entry.absolute)
            && (!entry.crosses || second_fetched(&blocks[entry.id], &probe, board))
    });
    blocks.fetch_frames = frames;
}

/// The frames instruction fetches translate to, by page and the PSW bits
/// blocks are made for, during one check of the jump cache
/// ([`recheck_jumps`]): an instruction fetch translates a whole page alike
/// (PoP ch. 3, "Dynamic Address Translation": the page-table entry names
/// the frame; fetch protection and the key are per frame), so the entries
/// of a page need one translation. A purge of everything (Linux's CSPG)
/// checks every entry of the controls in effect, some 24,000 in a boot's
/// processes, a few per page. Direct-mapped: a page whose slot another
/// took is translated again. Kept from check to check
/// ([`Blocks::fetch_frames`]), each slot stamped with the check that
/// filled it: making the table anew for each of a Linux boot's 14,400
/// checks wrote 1.4 GB.
#[derive(Debug, Default)]
pub(crate) struct FetchFrames {
    /// (page, PSW bits, frame, check), the frame `None` where the fetch
    /// is refused; a slot of another check than [`FetchFrames::check`]
    /// holds nothing.
    slots: Vec<(u64, u64, Option<u64>, u32)>,
    /// The current check, from one on.
    check: u32,
}

impl FetchFrames {
    const SLOTS: usize = 4096;

    /// Forgets every frame: the translations may have changed since.
    fn forget(&mut self) {
        self.check = self.check.wrapping_add(1);
        if self.check == 0 {
            // No slot may hold a frame of an earlier check of that number.
            self.slots.clear();
            self.check = 1;
        }
    }

    /// The frame the instruction fetch at `addr` under `cpu`'s PSW
    /// translates to, or `None` where it is refused.
    fn of(&mut self, cpu: &Cpu, board: &mut Board<'_>, addr: u64) -> Option<u64> {
        if self.slots.is_empty() {
            self.slots = vec![(0, 0, None, 0); Self::SLOTS];
        }
        let (page, bits) = (addr & !0xfff, cpu.psw.mask & KEY_BITS);
        let slot = &mut self.slots[(addr >> 12) as usize % Self::SLOTS];
        if (slot.0, slot.1, slot.3) != (page, bits, self.check) {
            let frame = board.translate(&fetch(cpu), page).ok();
            *slot = (page, bits, frame.map(|a| a.value()), self.check);
        }
        slot.2
    }
}

/// Counters for `--stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Guest instructions executed.
    pub instructions: u64,
    /// Chains of blocks run in the VM (one VM entry each).
    pub chains: u64,
    /// Blocks translated.
    pub blocks: u64,
    /// Guest instructions translated.
    pub translated_instructions: u64,
    /// Bytes of code written to the code cache.
    pub code_bytes: u64,
    /// Time spent translating, in nanoseconds.
    pub translate_ns: u64,
    /// Host calls that ran an instruction with the interpreter's semantics.
    pub helper_calls: u64,
    /// ... of which slow paths of natively translated instructions.
    pub slow_paths: u64,
    /// ... of which run by the host in the exit of the call before
    /// (`Exits::runs_ahead`): the image completed their calls.
    pub run_ahead: u64,
    /// Instructions interpreted on the host outside blocks (fetch
    /// exceptions, page-crossing instructions, the end of a budget).
    pub steps: u64,
    /// Page faults resolved by a shadow fill.
    pub shadow_fills: u64,
    /// Page faults that were s390x exceptions (raised by the interpreter).
    pub fault_exceptions: u64,
    /// Page faults the x86 MMU cannot serve (sub-page rules, addresses at
    /// or above 2^47, a mapping that did not take): the interpreter runs
    /// the instruction.
    pub fault_software: u64,
    /// Stores into frames holding translated code.
    pub code_page_writes: u64,
    /// Code-cache flushes.
    pub flushes: u64,
    /// Blocks the translator refused (its error): their first instruction
    /// was interpreted instead.
    pub refused: u64,
}

/// The kvm engine of one CPU.
#[derive(Debug)]
pub struct KvmEngine {
    host: KvmHost,
    pager: ShadowPager<KvmPaging>,
    controls: Option<Controls>,
    blocks: Blocks,
    stubs: Stubs,
    /// Bytes of the code cache in use (the stubs, then blocks).
    code_used: u64,
    stub_bytes: u64,
    stats: Stats,
    reasons: ExitReasons,
    /// The last chain ended at a jump-cache miss (counted by the next
    /// lookup: block cached or new).
    missed: bool,
    /// The last run ended in an SVC's or a program interruption, which
    /// the machine delivers before the next run (`lowcore_delivered`).
    lowcore_left: bool,
    /// The program's clock-comparator period, as far as it shows one.
    tick: Tick,
    failure: Option<KvmError>,
    /// How the TSC in the VM follows the host's (for the image's clock).
    tsc: Option<TscLink>,
}

impl KvmEngine {
    /// A VM over the machine's storage, with a code cache of `code_cache`
    /// bytes. Fails with [`KvmError::is_unavailable`] when KVM cannot be
    /// used here.
    pub fn new(storage: &MainStorage, code_cache: u64) -> Result<Self, KvmError> {
        let config = KvmConfig {
            code_cache,
            image_faults: fills_in_vm(),
            ..KvmConfig::default()
        };
        // SAFETY: the storage outlives every run: each run re-points the
        // slot at the storage of the board it is given (remap_storage)
        // before the vCPU runs, and KVM touches the slot only while the
        // vCPU runs.
        let mut host =
            unsafe { KvmHost::with_storage_at(storage.host_base(), storage.size(), config) }?;
        // With an image, the dispatcher's misses to blocks already
        // translated are resolved in the VM (`docs/CHOICES.md` 74).
        let (code, stubs) = stubs_with_miss(CODE_CACHE_VA, JUMP_ENTRIES, host.miss_call_stub())
            .map_err(|e| KvmError::Assemble(format!("translator stubs: {e}")))?;
        if let Some(image) = host.paging().image() {
            image.area().set_published(
                blocks::PUBLISHED,
                blocks::PUBLISHED_SLOTS as u64,
                blocks::ENTERED,
            );
            image.area().set_context(ExecArea::CONTEXT, stubs.dispatch);
            // Page faults of translated code go to the image first where
            // turned on (docs/CHOICES.md 91).
            image.area().set_faults(fills_in_vm());
        }
        let cache = host
            .code_cache()
            .ok_or_else(|| KvmError::Config("no code cache".into()))?;
        cache
            .write(0, &code)
            .ok_or_else(|| KvmError::Config("code cache too small for the stubs".into()))?;
        let stub_bytes = (code.len() as u64).next_multiple_of(64);
        // Each fault is an exit: map whole 2 MiB frames and 64-page
        // windows ahead of use, setting their reference bits (PoP lets a
        // model record references it has not made, as prefetching does).
        // Translated stores check the low addresses themselves
        // (`MemoryAccess::HostMmu`), so the lowcore's unprotected bytes are
        // stored without a fault. The x86 dirty flag records a page's first
        // store, so a page with C zero is writable at once (no second fault)
        // and a store fault maps writable runs: `harvest` moves the record
        // into C whenever the host may look at keys (one CPU: `run_vm`).
        // The image's shadow fills follow the same configuration
        // (docs/CHOICES.md 91).
        let pager = ShadowPager::new(zmmu_vm_runtime::protocol::PAGER);
        let blocks = Blocks::new();
        host.paging_mut().clear_code_frames();
        // Without it the image reads only virtual time.
        let tsc = match host.paging().image() {
            Some(_) => host.tsc_link().ok(),
            None => None,
        };
        Ok(Self {
            host,
            pager,
            controls: None,
            blocks,
            stubs,
            code_used: stub_bytes,
            stub_bytes,
            stats: Stats::default(),
            reasons: ExitReasons::default(),
            missed: false,
            lowcore_left: false,
            tick: Tick::default(),
            failure: None,
            tsc,
        })
    }

    /// Host time on the host's TSC ([`TscTime::new`]), at the rate this
    /// engine's vCPU reads it (the rate its image's clock follows), so
    /// that a run on one CPU makes no second VM only to ask it.
    pub fn tsc_time(&self) -> Result<TscTime, KvmError> {
        TscTime::at_rate(|| match self.tsc {
            Some(link) => Ok(link.khz),
            None => Ok(self.host.tsc_link()?.khz),
        })
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The exits by reason.
    pub fn reasons(&self) -> &ExitReasons {
        &self.reasons
    }

    /// The VM (its exit counters).
    pub fn host(&self) -> &KvmHost {
        &self.host
    }

    /// The shadow pager (its counters).
    pub fn pager(&self) -> &ShadowPager<KvmPaging> {
        &self.pager
    }

    /// Host calls the in-VM runtime image completed without an exit, by
    /// mnemonic (`zmmu_vm_runtime`), most first.
    pub fn completed_in_vm(&self) -> Vec<(&'static str, u64)> {
        vmcall::completed(self.host.paging().image().map(|image| image.area()))
    }

    /// Jump-cache misses the image resolved to a block already translated,
    /// without a VM exit (`docs/CHOICES.md` 74).
    pub fn resolved_in_vm(&self) -> u64 {
        self.host
            .paging()
            .image()
            .map_or(0, |image| image.area().resolved())
    }

    /// Program interruptions the image delivered at an access the host
    /// found to end in an s390x exception (`docs/CHOICES.md` 82).
    pub fn programs_in_vm(&self) -> u64 {
        self.host
            .paging()
            .image()
            .map_or(0, |image| image.area().programs())
    }

    /// Page faults of translated code the image resolved by a shadow
    /// fill, and those it forwarded to the host (`docs/CHOICES.md` 91).
    pub fn fills_in_vm(&self) -> (u64, u64) {
        self.host
            .paging()
            .image()
            .map_or((0, 0), |image| image.area().fills_made())
    }

    /// LPSWEs in the prefix area the image completed, switching the root
    /// through the gate without a VM exit (`docs/CHOICES.md` 77).
    pub fn lpswes_in_vm(&self) -> u64 {
        self.host
            .paging()
            .image()
            .map_or(0, |image| image.area().lpswes())
    }

    /// Blocks dropped by stores and invalidations.
    pub fn blocks_dropped(&self) -> u64 {
        self.blocks.dropped
    }

    /// A handle with which another thread (another CPU's, a debugger's)
    /// makes the vCPU leave translated code at the next block boundary:
    /// the batch then ends at once if the CPU was kicked
    /// ([`zmmu_machine::configuration::Member::kicked`]).
    pub fn interrupter(&self) -> Interrupter {
        self.host.interrupter()
    }

    /// Drops every translation: blocks, jump cache and shadow mappings.
    /// For changes the engine did not see: a debugger's stores, and the
    /// instructions the machine interpreted meanwhile (their stores into
    /// code, their invalidations).
    pub fn forget(&mut self) {
        self.flush();
    }

    /// The failure that made the engine give up the VM (it interprets
    /// from then on), if any.
    pub fn failure(&self) -> Option<&KvmError> {
        self.failure.as_ref()
    }

    /// Tells the shadow pager about new control registers and prefix.
    fn sync_controls(&mut self, cpu: &Cpu, board: &mut Board<'_>) -> Controls {
        let controls = board.bus.controls(cpu);
        if let Some(old) = self.controls.replace(controls) {
            if old != controls {
                self.pager
                    .controls_changed(self.host.paging_mut(), &old, &controls);
            }
        }
        // The jump-cache entries of other controls stay, under their tag.
        let fetch = fetch_controls(cpu, controls);
        self.blocks.enter_space(&self.host.exec_area(), &fetch);
        controls
    }

    /// Runs up to `max` instructions; a backend failure is returned.
    fn run_vm(&mut self, cpu: &mut Cpu, board: &mut Board<'_>, max: u64) -> Result<Ran, KvmError> {
        let storage = &board.bus.storage;
        // SAFETY: the board's storage lives for this run, during which the
        // vCPU runs; later runs re-point the slot again.
        let moved = unsafe {
            self.host
                .remap_storage(storage.host_base(), storage.size())?
        };
        if moved {
            // Another machine's storage: nothing translated from the
            // last one holds.
            self.flush();
        }
        // With several CPUs a store this VM's dirty flag recorded would
        // reach the key only at the batch's end, after another CPU's SSKE
        // or ISKE that the program ordered after the store.
        self.pager.set_change_by_host(
            self.host.paging_mut(),
            &mut board.bus.storage,
            board.member.is_none(),
        );
        self.sync_controls(cpu, board);
        // The machine may have stored into the prefix area (interruptions).
        let prefix = cpu.prefix.value();
        for page in (prefix..prefix + PREFIX_AREA).step_by(0x1000) {
            if self.blocks.has_code(page) {
                self.blocks.drop_page(page, self.host.paging_mut());
            }
        }
        self.tick.learn(cpu, board.services.clock.peek_tod());
        if Deadline::wait_if_near(cpu, board) {
            return Ok(Ran {
                instructions: 0,
                last: cpu.psw.addr,
                result: Ok(()),
            });
        }
        let mut deadline = Deadline::of(cpu, board, self.tick);
        let max = max.min(deadline.instructions);
        self.host.set_deadline(Some(deadline.at));
        let mut done = 0u64;
        let mut last = cpu.psw.addr;
        loop {
            // Another CPU waits for this one's next boundary: its kick
            // interrupted the chain (`interrupter`).
            let kicked = board.member.is_some_and(|member| member.kicked());
            if done >= max || (done > 0 && (deadline.passed() || kicked)) {
                self.stats.instructions += done;
                return Ok(Ran {
                    instructions: done,
                    last,
                    result: Ok(()),
                });
            }
            // Translated code takes the budget as signed.
            let room = (max - done).min(i64::MAX as u64);
            let block = self
                .block(cpu, board)?
                .filter(|&id| self.blocks.blocks[id].insns.len() as u64 <= room);
            let (n, at, result, leave) = match block {
                Some(id) => self.run_chain(id, room, &mut deadline, cpu, board)?,
                None => {
                    let at = cpu.psw.addr;
                    let (result, leave) = self.step(cpu, board);
                    (1, at, result, leave)
                }
            };
            done += n;
            last = at;
            self.sync_controls(cpu, board);
            self.tick.learn(cpu, board.services.clock.peek_tod());
            if result.is_err() || leave || cpu.psw.mask & mask::WAIT != 0 {
                self.stats.instructions += done;
                return Ok(Ran {
                    instructions: done,
                    last,
                    result,
                });
            }
        }
    }

    /// Interprets one instruction on the host; says whether the machine
    /// must look.
    fn step(&mut self, cpu: &mut Cpu, board: &mut Board<'_>) -> (Result<(), Interruption>, bool) {
        self.stats.steps += 1;
        let before = interruption_controls(cpu);
        board.attention = false;
        // The instruction may read or set a storage key.
        vmcall::harvest(
            &mut self.pager,
            self.host.paging_mut(),
            &mut board.bus.storage,
            &self.blocks,
        );
        let controls = board.bus.controls(cpu);
        let mut watch = Watch::new(
            board,
            &mut self.blocks,
            &mut self.pager,
            self.host.paging_mut(),
            controls,
        );
        let result = cpu.step(&mut watch);
        if self.blocks.recheck {
            recheck_jumps(&mut self.blocks, &self.host.exec_area(), cpu, board);
        }
        let after = interruption_controls(cpu);
        (result, board.attention || controls_differ(&after, &before))
    }

    /// The block at the PSW, translated if need be; `None` when the
    /// interpreter must run the instruction (a fetch exception, an
    /// instruction crossing the page, an invalid PSW).
    fn block(&mut self, cpu: &Cpu, board: &mut Board<'_>) -> Result<Option<usize>, KvmError> {
        let psw = cpu.psw;
        if !psw.is_valid() || psw.addr & 1 != 0 {
            return Ok(None);
        }
        let bits = psw.mask & KEY_BITS;
        let jump_bits = bits | self.blocks.spaces.now;
        if let Some(id) = self.blocks.jump_get(psw.addr, jump_bits) {
            if std::mem::take(&mut self.missed) {
                self.reasons.chain_ended(ChainEnd::MissCached);
            }
            return Ok(Some(id));
        }
        let Ok(absolute) = board.translate(&fetch(cpu), psw.addr) else {
            if std::mem::take(&mut self.missed) {
                self.reasons.chain_ended(ChainEnd::MissNew);
            }
            return Ok(None);
        };
        let abs = absolute.value();
        let key = (psw.addr, abs, bits);
        let cached = self
            .blocks
            .get(&key)
            .filter(|&id| second_fetched(&self.blocks.blocks[id], cpu, board));
        if std::mem::take(&mut self.missed) {
            self.reasons.chain_ended(if cached.is_some() {
                ChainEnd::MissCached
            } else {
                ChainEnd::MissNew
            });
        }
        let id = match cached {
            Some(id) => {
                let area = self.host.exec_area();
                self.blocks.enter_siblings(&area, key, jump_bits);
                self.publish(board, id);
                id
            }
            None => match self.translate(cpu, board, key)? {
                Some(id) => {
                    self.translate_ahead(cpu, board, id)?;
                    id
                }
                None => return Ok(None),
            },
        };
        let area = self.host.exec_area();
        self.blocks.jump_set(&area, psw.addr, jump_bits, id);
        Ok(Some(id))
    }

    /// Translates the blocks that block `first` may go to next in its own
    /// page (a relative branch's target, the fall-through), and theirs, up
    /// to [`AHEAD`] blocks, and enters them in the jump cache: on a PVM
    /// host each block found missing later is a chain end, an exit, while
    /// translating one costs a few microseconds. Staying in the page keeps
    /// the code frames those the program runs from.
    fn translate_ahead(
        &mut self,
        cpu: &Cpu,
        board: &mut Board<'_>,
        first: usize,
    ) -> Result<(), KvmError> {
        let amode = cpu.psw.amode();
        let bits = cpu.psw.mask & KEY_BITS;
        let jump_bits = bits | self.blocks.spaces.now;
        let mut work = vec![first];
        let mut made = 0;
        while let Some(id) = work.pop() {
            let (at, abs, _) = self.blocks.blocks[id].key;
            for next in successors(&self.blocks.blocks[id].insns, amode) {
                let room = self
                    .host
                    .code_cache()
                    .map_or(0, |c| c.len() - self.code_used);
                if made >= AHEAD || room < AHEAD_ROOM {
                    return Ok(());
                }
                if next & !0xfff != at & !0xfff || self.blocks.jump_get(next, jump_bits).is_some() {
                    continue;
                }
                let key = (next, abs & !0xfff | next & 0xfff, bits);
                let id = match self.blocks.get(&key) {
                    Some(id) => id,
                    None => {
                        made += 1;
                        match self.translate(cpu, board, key)? {
                            Some(id) => id,
                            None => continue,
                        }
                    }
                };
                work.push(id);
                let area = self.host.exec_area();
                self.blocks.jump_set(&area, next, jump_bits, id);
            }
        }
        Ok(())
    }

    /// Translates the block at `key` into the code cache.
    fn translate(
        &mut self,
        cpu: &Cpu,
        board: &mut Board<'_>,
        key: blocks::Key,
    ) -> Result<Option<usize>, KvmError> {
        let started = std::time::Instant::now();
        let (addr, abs, _) = key;
        // The interpreter runs what is in the prefix area: the machine's
        // interruptions store there, beside what the program stores
        // (Linux's return to the problem state branches to an LPSWE in
        // its lowcore, next to the PSWs and save areas each system call
        // and interruption stores), so a block there would be dropped
        // and translated again around nearly every run.
        let prefix = cpu.prefix.value();
        if (prefix..prefix + PREFIX_AREA).contains(&abs) {
            return Ok(None);
        }
        let psw = cpu.psw;
        let amode = psw.amode();
        let mut page = [0u8; 4096];
        if board
            .bus
            .storage
            .read(AbsoluteAddress::new(abs & !0xfff), &mut page)
            .is_none()
        {
            return Ok(None);
        }
        let offset = (abs & 0xfff) as usize;
        let mut insns = decode_block(&page[offset..], addr, amode, zmmu_translator::MAX_BLOCK);
        // The EXECUTE targets in the block's own page and in the next,
        // fetched as the EXECUTE would: the frames become code frames,
        // watched whole, the next one as the second frame of a block that
        // crosses into it (docs/CHOICES.md 64a, 87).
        let next_page = amode.wrap((addr | 0xfff).wrapping_add(1));
        let mut next = None;
        zmmu_translator::fetch_targets(&mut insns, amode, &cpu.gpr, |at| {
            let bytes = match at & !0xfff {
                p if p == addr & !0xfff => &page[..],
                // Not a frame of the prefix area, which the machine's
                // interruptions store into (see above).
                p if p == next_page => {
                    &next
                        .get_or_insert_with(|| {
                            next_frame(cpu, board, p).filter(|(frame, _)| {
                                !(prefix..prefix + PREFIX_AREA).contains(frame)
                            })
                        })
                        .as_ref()?
                        .1[..]
                }
                _ => return None,
            };
            bytes
                .get((at & 0xfff) as usize..)?
                .get(..6)?
                .try_into()
                .ok()
        });
        let mut second = next
            .flatten()
            .filter(|_| zmmu_translator::target_range(&insns, next_page).is_some());
        if insns.is_empty() {
            // The first instruction crosses into the next page: a block of
            // its own, from the bytes of both frames.
            let Some(crossing) = self.crossing(cpu, board, addr, &page[offset..]) else {
                return Ok(None);
            };
            insns = crossing.0;
            second = Some(crossing.1);
        }
        let env = blocks::env(amode, psw.key(), psw.dat() && psw.asc() == 1);
        let mut placed = None;
        for _ in 0..2 {
            let id = self.blocks.blocks.len() as u32;
            let ip = CODE_CACHE_VA + self.code_used;
            let Ok(translated) = translate(&insns, &env, ip, id, &self.stubs, &[]) else {
                // A translator bug: the interpreter runs the instruction,
                // as the jit does; `--stats` counts it.
                self.stats.refused += 1;
                return Ok(None);
            };
            let len = translated.code.len() as u64;
            let cache = self
                .host
                .code_cache()
                .ok_or_else(|| KvmError::Config("no code cache".into()))?;
            if self.code_used + len <= cache.len() {
                cache
                    .write(self.code_used, &translated.code)
                    .ok_or_else(|| KvmError::Config("code cache write".into()))?;
                self.code_used = (self.code_used + len).next_multiple_of(16);
                placed = Some((ip, translated));
                break;
            }
            self.flush();
        }
        let Some((ip, translated)) = placed else {
            return Err(KvmError::Config(format!(
                "a block at {addr:#x} does not fit the empty code cache"
            )));
        };
        self.stats.blocks += 1;
        self.stats.translated_instructions += insns.len() as u64;
        self.stats.code_bytes += translated.code.len() as u64;
        let block = Block {
            code: ip,
            inline_end: translated.inline_end,
            insns,
            slow_site: vec![false; translated.native.len()],
            native: translated.native,
            sites: translated.sites,
            second: second.as_ref().map(|(frame, _)| *frame),
            key,
            valid: true,
            published: None,
        };
        let mut frames = vec![(abs & !0xfff, &page[..])];
        frames.extend(second.as_ref().map(|(frame, bytes)| (*frame, &bytes[..])));
        let (id, new_frames) = self.blocks.insert(block, &frames, self.host.paging_mut());
        if let Some(image) = self.host.paging().image() {
            let block = &self.blocks.blocks[id];
            let next = second.as_ref().map_or(&[][..], |(_, bytes)| &bytes[..]);
            vmcall::enter_sites(
                &image.area(),
                id,
                addr,
                (&page[offset..], next),
                &block.insns,
                &block.native,
            );
        }
        for frame in new_frames {
            // Mappings of the frame made writable before are given again:
            // the frame read-only, the rest of a large mapping writable.
            self.pager
                .remap_frame(self.host.paging_mut(), AbsoluteAddress::new(frame));
        }
        self.publish(board, id);
        self.stats.translate_ns += started.elapsed().as_nanos() as u64;
        Ok(Some(id))
    }

    /// The instruction at `addr` whose first bytes, `head`, end its page:
    /// decoded from those and the next page's, with that page's absolute
    /// frame and bytes; `None` if it fits in `head` after all, or the next
    /// page cannot be fetched (the interpreter raises the exception).
    /// Loops that span a page boundary would otherwise leave the VM twice
    /// per pass, to interpret the one instruction that crosses it.
    fn crossing(
        &self,
        cpu: &Cpu,
        board: &mut Board<'_>,
        addr: u64,
        head: &[u8],
    ) -> Option<(Vec<Guest>, Frame)> {
        let len = zmmu_cpu::decode::insn_len(*head.first()?);
        if len <= head.len() {
            return None;
        }
        let amode = cpu.psw.amode();
        let next = amode.wrap(addr.wrapping_add(head.len() as u64));
        let (frame, bytes) = next_frame(cpu, board, next)?;
        let mut joined = head.to_vec();
        joined.extend_from_slice(&bytes[..len - head.len()]);
        let insns = decode_block(&joined, addr, amode, 1);
        (!insns.is_empty()).then_some((insns, (frame, bytes)))
    }

    /// Publishes block `id` for the image's resolution of jump-cache
    /// misses (`Blocks::publish`) if its frame's reference bit is one: a
    /// fetch the image resolves records no reference (PoP ch. 3,
    /// "Reference Recording": the bit is already one).
    fn publish(&mut self, board: &Board<'_>, id: usize) {
        if self.host.paging().image().is_none() {
            return;
        }
        let frame = AbsoluteAddress::new(self.blocks.blocks[id].key.1);
        if board
            .bus
            .storage
            .key(frame)
            .is_some_and(|key| key.referenced())
        {
            self.blocks.publish(&self.host.exec_area(), id);
        }
    }

    /// Empties the code cache.
    fn flush(&mut self) {
        self.stats.flushes += 1;
        self.blocks.clear(self.host.paging_mut());
        if let Some(image) = self.host.paging().image() {
            image.area().clear_sites();
            // What the engine did not see (`forget`) may have changed keys.
            image.area().clear_storable();
        }
        self.pager
            .invalidate(self.host.paging_mut(), &Invalidation::All);
        self.code_used = self.stub_bytes;
    }

    /// Runs block `id` and the blocks it chains to in the VM, within
    /// `budget` instructions until `deadline` (which a host call may bring
    /// forward): (instructions executed, address of the last, its result,
    /// whether the machine must look).
    fn run_chain(
        &mut self,
        id: usize,
        budget: u64,
        deadline: &mut Deadline,
        cpu: &mut Cpu,
        board: &mut Board<'_>,
    ) -> Result<(u64, u64, Result<(), Interruption>, bool), KvmError> {
        self.stats.chains += 1;
        let (context, tag) = chain_context(cpu, board.bus.controls(cpu));
        let root = match tag {
            Some(tag) => self.pager.activate(self.host.paging_mut(), tag)?,
            // Access-register mode: blocks make no direct accesses.
            None => self.host.boot_root(),
        };
        self.host.paging_mut().activate(root)?;
        publish_gate(self.host.paging_mut(), &self.pager, &self.blocks);
        let area = self.host.exec_area();
        state::store(&area, cpu);
        state::Context {
            helper: self.host.host_call_stub(),
            budget,
            generation: self.blocks.generation,
            bits: cpu.psw.mask & KEY_BITS | self.blocks.spaces.now,
            block: id as u32,
        }
        .store(&area);
        if let Some(image) = self.host.paging().image() {
            let facilities = board.bus.facilities;
            let clock = &mut board.services.clock;
            vmcall::publish(&image.area(), self.tsc.as_ref(), cpu, clock, facilities);
            exits::publish_floors(&image.area(), cpu, board, deadline);
            vmcall::publish_fetches(&image.area(), &mut self.blocks);
        }
        // The mask floor may have brought the deadline forward.
        self.host.set_deadline(Some(deadline.at));
        let code = self.blocks.blocks[id].code;
        let enter = CODE_CACHE_VA + self.stubs.enter as u64;
        let [stub, stub_after_trap] = self.host.host_call_budget();
        let budget_in_r15 = [
            self.stubs.dispatch..enter,
            CODE_CACHE_VA + self.stub_bytes..CODE_CACHE_VA + self.code_used,
            stub,
            stub_after_trap,
        ];
        let Self {
            host,
            pager,
            blocks,
            stats,
            reasons,
            ..
        } = self;
        let mut exits = Exits {
            cpu,
            board,
            blocks,
            pager,
            stats,
            reasons,
            context,
            deadline: *deadline,
            dispatch: self.stubs.dispatch,
            go_to: (0, 0),
            r15_less: 0,
            budget_in_r15,
            stolen: 0,
            last_fault: None,
            left: None,
            tsc: self.tsc,
        };
        let status = host.exec(enter, [ExecArea::CPU, ExecArea::CONTEXT, code], &mut exits)?;
        let (left, stolen) = (exits.left, exits.stolen);
        *deadline = exits.deadline;
        blocks.take_entered(&host.exec_area());
        if let Some(image) = host.paging().image() {
            vmcall::take_back(&image.area(), &mut board.services.clock);
            vmcall::take_comparator(&image.area(), cpu);
        }
        let area = host.exec_area();
        state::load(&area, cpu);
        let (budget_left, last_block) = state::ended(&area);
        // A kick between a block's budget check and its subtraction leaves
        // the budget negative by the block's length (see `preempt`).
        let spent = budget.wrapping_sub(budget_left).wrapping_sub(stolen);
        Ok(match left.filter(|_| status == abi::EXIT) {
            Some(left) => {
                self.reasons.chain_ended(ChainEnd::Left);
                let n = spent - left.refund;
                let at = self.blocks.blocks[left.block].insns[left.index].at;
                (n, at, left.result, left.leave_run)
            }
            None => {
                let bits = cpu.psw.mask & KEY_BITS | self.blocks.spaces.now;
                if stolen > 0 {
                    self.reasons.chain_ended(ChainEnd::Deadline);
                } else if budget_left == 0 || self.blocks.jump_get(cpu.psw.addr, bits).is_some() {
                    self.reasons.chain_ended(ChainEnd::Budget);
                } else {
                    // Cached or new: the next lookup tells (Self::block).
                    self.missed = true;
                }
                // Preempted (the deadline, another CPU's kick, the end of
                // the run): the machine looks.
                (spent, self.last_at(last_block, cpu), Ok(()), stolen > 0)
            }
        })
    }
}

impl KvmEngine {
    /// The address of the last instruction of the last block that ran to
    /// its end.
    fn last_at(&self, last_block: u32, cpu: &Cpu) -> u64 {
        self.blocks
            .blocks
            .get(last_block as usize)
            .and_then(|b| b.insns.last())
            .map_or(cpu.psw.addr, |g| g.at)
    }
}

impl Engine for KvmEngine {
    /// The storage keys are exact when the run returns: the stores the
    /// host MMU recorded are in their C bits (`harvest`).
    fn run(&mut self, cpu: &mut Cpu, board: &mut Board<'_>, max: u64) -> Ran {
        if self.failure.is_none() {
            if std::mem::take(&mut self.lowcore_left) {
                self.lowcore_delivered(cpu, board);
            }
            let ran = self.run_vm(cpu, board, max.max(1));
            vmcall::harvest(
                &mut self.pager,
                self.host.paging_mut(),
                &mut board.bus.storage,
                &self.blocks,
            );
            match ran {
                Ok(ran) => {
                    self.lowcore_left = matches!(
                        ran.result,
                        Err(Interruption::Supervisor { .. } | Interruption::Program { .. })
                    );
                    return ran;
                }
                Err(e) => self.failure = Some(e),
            }
        }
        Interpreter.run(cpu, board, max)
    }

    /// The vCPU is kicked at the timer deadline (the `deadline` module): batches
    /// need not end at the machine's timer-poll period.
    fn watches_clock(&self) -> bool {
        self.failure.is_none()
    }

    /// Another CPU's kick interrupts the vCPU (`interrupter`); the
    /// interpreter, after a failure, looks after every instruction.
    fn leaves_when_kicked(&self) -> bool {
        true
    }

    /// The shadow roots and the jump cache drop what the CPU's TLB
    /// dropped, as after this CPU's own invalidations ([`watch`]); a purge
    /// or a reset, everything.
    fn invalidate(&mut self, invalidation: &Invalidation) {
        watch::invalidated(
            &mut self.pager,
            self.host.paging_mut(),
            &mut self.blocks,
            invalidation,
            None,
        );
    }
}

impl KvmEngine {
    /// After the machine delivered an SVC's or a program interruption
    /// that left a run (its stores into the prefix area: the interruption
    /// code, the old PSW): lists the lowcore's frame for the image by the
    /// rule of the host's own stores (`vmcall::list_storable`: storable
    /// where its storage key's reference and change bits are one and it
    /// holds no translated code), so that the image delivers the next
    /// there (docs/CHOICES.md 80, 82; the old PSWs of both lie in the
    /// prefix area's first frame).
    fn lowcore_delivered(&self, cpu: &Cpu, board: &Board<'_>) {
        if let Some(image) = self.host.paging().image() {
            let storage = &board.bus.storage;
            let real = zmmu_cpu::interrupt::lowcore::SVC_OLD_PSW;
            vmcall::list_storable(&image.area(), storage, &self.blocks, cpu, real);
        }
    }

    /// The counters as the lines `zmmu run --stats` prints.
    pub fn report(&self) -> Vec<String> {
        let s = &self.stats;
        let run = self.host.stats();
        let paging = self.host.paging().stats();
        let pager = self.pager.stats();
        let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        vec![
            format!(
                "kvm: chains run in the VM {}, blocks translated {} ({} instructions, {} bytes of code, {:.0} ns per instruction; refused by the translator {}), code-cache flushes {}, blocks dropped {}, jump-cache entries dropped {}, jump-cache misses resolved in the VM {} (entered there {}), LPSWEs in the prefix area completed in the VM through the gate {}",
                s.chains,
                s.blocks,
                s.translated_instructions,
                s.code_bytes,
                per(s.translate_ns, s.translated_instructions),
                s.refused,
                s.flushes,
                self.blocks.dropped,
                self.blocks.jump_dropped,
                self.resolved_in_vm(),
                self.blocks.entered,
                self.lpswes_in_vm(),
            ),
            format!(
                "kvm: VM exits {} ({:.1} us each in KVM_RUN): host calls {} (interpreted instructions; slow paths {}; run ahead in the exit of the call before {}), page faults {}, table-write chunks {}; instructions interpreted outside blocks {}",
                run.exits,
                per(run.vcpu_ns, run.exits) / 1000.0,
                run.calls,
                s.slow_paths,
                s.run_ahead,
                run.faults,
                run.chunks,
                s.steps,
            ),
            self.reasons.report(s.slow_paths, &run),
            vmcall::report(&self.completed_in_vm()),
            format!(
                "kvm: page faults by outcome: shadow fill {}, s390x exception {} (program interruptions delivered in the VM {}), software path {}, code-page write {}; resolved in the VM by a shadow fill {} (mappings taken into the pager {}, removed again {}), forwarded by the image {}",
                s.shadow_fills, s.fault_exceptions, self.programs_in_vm(), s.fault_software, s.code_page_writes,
                self.fills_in_vm().0, pager.adopted, pager.disowned, self.fills_in_vm().1,
            ),
            format!(
                "kvm: shadow roots created {} (evicted {}), mappings {} (4K {}, 2M {}, fault-around {}, dropped {}, kept by TLB purges {}, given again over new code frames {}), x86 table writes repeated in the guest {}, INVLPGs {}, CR3 reloads {}",
                pager.roots_created,
                pager.roots_evicted,
                self.pager.mappings(),
                pager.mapped_4k,
                pager.mapped_2m,
                pager.around,
                pager.dropped,
                pager.kept_by_purges,
                pager.remapped,
                paging.guest_writes,
                paging.invlpgs,
                paging.reloads,
            ),
            format!(
                "kvm: change recording by the dirty flag: pages mapped writable with C zero {}, C bits set from it {}, made read-only past the bound {}, harvests {}",
                pager.tracked, pager.harvested, pager.untracked, pager.harvests,
            ),
        ]
    }
}
