//! The in-VM runtime image (`zmmu-vm-runtime`): embedded at build time
//! (`build.rs` builds it for `x86_64-unknown-none`), loaded from its ELF
//! program headers into a memory slot of its own, which every root maps at
//! [`IMAGE_VA`] (the last 4 MiB of the address space, in the upper half
//! they share) with the permissions of each segment: code user,
//! read-only, executable; data and bss user, read-write, not executable.
//! The rest of the slot is the records the host and the image share
//! (`zmmu_vm_runtime::protocol`) and the image's stack, below an unmapped
//! guard.
//!
//! The host-call stub of the runtime (`runtime.rs`) calls the image's
//! entry before it exits; [`ImageArea`] is the host's bounded view of the
//! shared records.

use std::mem::offset_of;

use object::elf::{EM_X86_64, ET_EXEC, PF_W, PF_X, PT_LOAD};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol};
use x86_64::structures::paging::PageTableFlags;
use zmmu_vm_runtime::protocol::{
    frame_bits, page_entry, page_slots, site_word3, with_frame_state, ClockPage, Fill, Fills, Gate,
    Panic, Shared, Site, COUNTS, COUNTS_END, FAULT_IN_CALL, GATE, GATE_END, GATE_ROOTS,
    GATE_SPACES, IMAGE_SIZE, LISTED_PAGES, SHARED, SITES, SITES_END, SITE_SLOTS, STACK, STACK_TOP,
    STORABLE, STORABLE_END, STORABLE_WORDS, VERSION, WANTED_FRAMES,
};

pub use zmmu_vm_runtime::protocol::IMAGE_VA;
use zmmu_vm_runtime::translate::{
    Answer, Request, Status, Translated, Translation, CODE_BYTES, MAX_BLOCK, UNLINKED,
};

pub use crate::error::PanicLocation;

use crate::error::KvmError;
use crate::memory::SlotMemory;

// The image takes the last 4 MiB, which the code cache leaves free.
const _: () = assert!(IMAGE_VA == crate::runtime::CODE_CACHE_VA + crate::runtime::CODE_CACHE_MAX);

/// The image's symbol the miss stub calls (`zmmu_runtime_miss`).
const MISS_ENTRY: &str = "zmmu_runtime_miss";

/// The image's symbol the fault stub calls (`zmmu_runtime_fault`).
const FAULT_ENTRY: &str = "zmmu_runtime_fault";

/// The image's run entry of a translation (`zmmu_runtime_translate_run`).
const TRANSLATE_ENTRY: &str = "zmmu_runtime_translate_run";

/// The image's record of a translation (`ZMMU_TRANSLATION`,
/// `zmmu_vm_runtime::translate::Translation`).
const TRANSLATION: &str = "ZMMU_TRANSLATION";

/// The image's ELF file, as `build.rs` built it.
static ELF: &[u8] = include_bytes!(env!("ZMMU_VM_RUNTIME_IMAGE"));

/// The image, loaded into its slot.
#[derive(Debug)]
pub struct Image {
    memory: SlotMemory,
    /// The System V entry `fn(which) -> answer`.
    entry: u64,
    /// The System V entry `fn(address, bits) -> code` of a jump-cache
    /// miss ([`MISS_ENTRY`]).
    miss_entry: u64,
    /// The System V entry `fn() -> answer` of a page fault of translated
    /// code ([`FAULT_ENTRY`]).
    fault_entry: u64,
    /// The run entry of a translation ([`TRANSLATE_ENTRY`]).
    translate_entry: u64,
    /// The slot offset of the record of a translation ([`TRANSLATION`]).
    translation: u64,
    /// Mapped pages: slot offset and leaf flags.
    pages: Vec<(u64, PageTableFlags)>,
    /// The range of the image's code.
    code: std::ops::Range<u64>,
}

/// The leaf flags of a user page: `write` read-write (never executable),
/// else read-only, executable where `exec`.
fn user_page(write: bool, exec: bool) -> PageTableFlags {
    let mut flags =
        PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE | PageTableFlags::ACCESSED;
    if write {
        flags |= PageTableFlags::WRITABLE | PageTableFlags::DIRTY;
    }
    if write || !exec {
        flags |= PageTableFlags::NO_EXECUTE;
    }
    flags
}

impl Image {
    /// Loads the embedded image: each `PT_LOAD` segment at its virtual
    /// address (which must lie in the slot below the shared page, page
    /// aligned, never both writable and executable), then the shared
    /// records (`cpu` is the CPU state's virtual address).
    pub fn load(cpu: u64) -> Result<Self, KvmError> {
        Self::load_elf(ELF, cpu)
    }

    fn load_elf(elf: &[u8], cpu: u64) -> Result<Self, KvmError> {
        let bad = |why: &str| KvmError::Config(format!("the in-VM runtime image: {why}"));
        let file = ElfFile64::<Endianness>::parse(elf).map_err(|e| bad(&e.to_string()))?;
        let endian = file.endian();
        let header = file.elf_header();
        if header.e_type(endian) != ET_EXEC || header.e_machine(endian) != EM_X86_64 {
            return Err(bad("not an x86-64 executable"));
        }
        let memory = SlotMemory::new(IMAGE_SIZE, false, "in-VM runtime image")?;
        let mut pages = Vec::new();
        let mut code = 0..0;
        for segment in file.elf_program_headers() {
            if segment.p_type(endian) != PT_LOAD {
                continue;
            }
            let vaddr = segment.p_vaddr(endian);
            let size = segment.p_memsz(endian);
            let flags = segment.p_flags(endian);
            let (write, exec) = (flags.0 & PF_W.0 != 0, flags.0 & PF_X.0 != 0);
            let start = vaddr.wrapping_sub(IMAGE_VA);
            let end = start
                .checked_add(size)
                .filter(|&e| vaddr >= IMAGE_VA && e <= SHARED);
            let Some(end) = end.filter(|_| start % 4096 == 0 && !(write && exec)) else {
                return Err(bad(&format!(
                    "segment at {vaddr:#x} ({size:#x} bytes, flags {:#x}) outside the image's pages or writable and executable",
                    flags.0
                )));
            };
            let data = segment.data(endian, elf).map_err(|_| bad("segment data"))?;
            memory
                .write(start, data)
                .ok_or_else(|| bad("segment data"))?;
            if pages.iter().any(|&(page, _)| (start..end).contains(&page)) {
                return Err(bad("segments overlap"));
            }
            pages.extend(
                (start..end)
                    .step_by(4096)
                    .map(|page| (page, user_page(write, exec))),
            );
            if exec {
                code = vaddr..IMAGE_VA + end;
            }
        }
        let entry = header.e_entry(endian);
        if !code.contains(&entry) {
            return Err(bad("the entry point is not in the code"));
        }
        let symbol = |name: &str| {
            file.symbols()
                .find(|symbol| symbol.name() == Ok(name))
                .map(|symbol| symbol.address())
        };
        let in_code = |name: &str| {
            symbol(name)
                .filter(|at| code.contains(at))
                .ok_or_else(|| bad(&format!("no {name} in the code")))
        };
        let (miss_entry, translate_entry) = (in_code(MISS_ENTRY)?, in_code(TRANSLATE_ENTRY)?);
        let fault_entry = in_code(FAULT_ENTRY)?;
        // The record lies in the data's pages, whole.
        let translation = symbol(TRANSLATION)
            .map(|at| at.wrapping_sub(IMAGE_VA))
            .filter(|&at| {
                let end = at.checked_add(size_of::<Translation>() as u64 - 1);
                [Some(at), end].iter().all(|at| {
                    at.is_some_and(|at| {
                        pages.iter().any(|&(page, flags)| {
                            page == at & !0xfff && flags.contains(PageTableFlags::WRITABLE)
                        })
                    })
                })
            })
            .ok_or_else(|| bad(&format!("no {TRANSLATION} in the data")))?;
        let data = user_page(true, false);
        for range in [
            SHARED..COUNTS_END,
            GATE..GATE_END,
            SITES..SITES_END,
            STORABLE..STORABLE_END,
            STACK..STACK_TOP,
        ] {
            pages.extend(range.step_by(4096).map(|page| (page, data)));
        }
        let image = Self {
            memory,
            entry,
            miss_entry,
            fault_entry,
            translate_entry,
            translation,
            pages,
            code,
        };
        image.area().init(cpu);
        Ok(image)
    }

    /// The entry the host-call stub calls, System V `fn(which) -> answer`.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The entry the miss stub calls at a jump-cache miss, System V
    /// `fn(address, bits) -> code` (`zmmu_vm_runtime::miss`).
    pub fn miss_entry(&self) -> u64 {
        self.miss_entry
    }

    /// The entry the fault stub calls at a page fault of translated code,
    /// System V `fn() -> answer` (`zmmu_vm_runtime::fill`).
    pub fn fault_entry(&self) -> u64 {
        self.fault_entry
    }

    /// The entry that translates the block of the last
    /// [`Image::request_translation`] (`zmmu_vm_runtime::translate`):
    /// [`KvmHost::run_with`](crate::KvmHost::run_with) runs it (no
    /// arguments; it switches to the image's stack and ends the run with
    /// its answer in the record, [`Image::translation`]).
    pub fn translate_entry(&self) -> u64 {
        self.translate_entry
    }

    /// Writes the request of the next translation, its answer cleared.
    pub fn request_translation(&self, request: &Request) {
        let field = |f: usize| self.translation + (offset_of!(Translation, request) + f) as u64;
        let words = [
            (offset_of!(Request, addr), request.addr),
            (offset_of!(Request, absolute), request.absolute),
            (offset_of!(Request, env), request.env),
            (offset_of!(Request, ip), request.ip),
            (offset_of!(Request, id), request.id),
        ];
        let stubs = (0..3).map(|i| (offset_of!(Request, stubs) + 8 * i, request.stubs[i]));
        for (at, word) in words.into_iter().chain(stubs) {
            let _ = self.memory.store_u64(field(at), word);
        }
        let status = self.translation
            + (offset_of!(Translation, answer) + offset_of!(Answer, status)) as u64;
        let _ = self.memory.store_u64(status, Status::None as u64);
    }

    /// The answer of the last translation the image made: its status's
    /// number where it translated nothing (`translate::Status`), else the
    /// translator's result, read bounded from the record.
    pub fn translation(&self) -> Result<Translated, u64> {
        let answer = self.translation + offset_of!(Translation, answer) as u64;
        let word = |f: usize| self.memory.load_u64(answer + f as u64).unwrap_or(0);
        let pairs = |f: usize, n: usize| -> Vec<[u64; 2]> {
            (0..n)
                .map(|i| [word(f + 16 * i), word(f + 16 * i + 8)])
                .collect()
        };
        let mut answer = Answer::of(Status::None);
        answer.status = word(offset_of!(Answer, status));
        answer.insns = word(offset_of!(Answer, insns));
        answer.bytes = word(offset_of!(Answer, bytes));
        answer.code_len = word(offset_of!(Answer, code_len));
        answer.inline_end = word(offset_of!(Answer, inline_end));
        answer.native = word(offset_of!(Answer, native));
        answer.slow = word(offset_of!(Answer, slow));
        answer
            .sites
            .copy_from_slice(&pairs(offset_of!(Answer, sites), MAX_BLOCK));
        answer.unlinked_len = word(offset_of!(Answer, unlinked_len));
        answer
            .unlinked
            .copy_from_slice(&pairs(offset_of!(Answer, unlinked), UNLINKED));
        let len = answer.code_len.min(CODE_BYTES as u64);
        let mut code = vec![0u8; len as usize];
        let at = self.translation + offset_of!(Translation, code) as u64;
        self.memory.read(at, &mut code).ok_or(answer.status)?;
        answer.translated(&code).ok_or(answer.status)
    }

    /// The TSC ticks the image took for the last translation it made (a
    /// measurement).
    pub fn translation_ticks(&self) -> u64 {
        let at = offset_of!(Translation, answer) + offset_of!(Answer, ticks);
        self.memory
            .load_u64(self.translation + at as u64)
            .unwrap_or(0)
    }

    /// The most of its stack the image has used since it was loaded: the
    /// bytes from the lowest one it left nonzero up to the top (the stack
    /// starts zeroed; a measurement for tests: a frame that stored only
    /// zeros below its callers' is not seen).
    pub fn stack_used(&self) -> u64 {
        let mut stack = vec![0u8; (STACK_TOP - STACK) as usize];
        let _ = self.memory.read(STACK, &mut stack);
        stack
            .iter()
            .position(|&b| b != 0)
            .map_or(0, |lowest| stack.len() as u64 - lowest as u64)
    }

    /// The top of the image's stack.
    pub fn stack_top(&self) -> u64 {
        IMAGE_VA + STACK_TOP
    }

    /// The slot's memory.
    pub(crate) fn memory(&self) -> &SlotMemory {
        &self.memory
    }

    /// The mapped pages: slot offset and leaf flags.
    pub(crate) fn pages(&self) -> &[(u64, PageTableFlags)] {
        &self.pages
    }

    /// Whether `rip` lies in the image's code.
    pub fn contains(&self, rip: u64) -> bool {
        self.code.contains(&rip)
    }

    /// The records the host and the image share.
    pub fn area(&self) -> ImageArea<'_> {
        ImageArea {
            memory: &self.memory,
        }
    }
}

/// The page lists of the shared page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageList {
    /// [`Shared::executable`].
    Executable,
    /// [`Shared::writable`].
    Writable,
}

/// The host's TSC, read after every earlier load has completed (a read
/// that follows a value another CPU stored after its own read is not
/// earlier than that read).
pub fn host_tsc() -> u64 {
    // SAFETY: LFENCE and RDTSC have no effect beyond ordering and reading
    // the time-stamp counter; SSE2 is part of x86-64.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// How the TSC in the VM follows the host's TSC: `guest = host + offset`
/// (wrapping), ticking at `khz` kHz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TscLink {
    /// The guest's TSC minus the host's.
    pub offset: u64,
    /// The guest TSC's rate: the host's unless the VM's TSC is scaled.
    pub khz: u32,
}

/// The host's view of the records in the image's slot (bounds-checked:
/// nothing the image wrote can make the host reach outside the slot).
#[derive(Clone, Copy, Debug)]
pub struct ImageArea<'a> {
    memory: &'a SlotMemory,
}

/// The slot offset of field `field` of the shared page.
const fn shared(field: usize) -> u64 {
    SHARED + field as u64
}

/// The slot offset of clock-page field `field`.
const fn clock(field: usize) -> u64 {
    shared(offset_of!(Shared, clock) + field)
}

/// The clock page's fields, in order.
const CLOCK_FIELDS: [usize; 10] = [
    offset_of!(ClockPage, valid),
    offset_of!(ClockPage, epoch),
    offset_of!(ClockPage, last),
    offset_of!(ClockPage, ns),
    offset_of!(ClockPage, tsc),
    offset_of!(ClockPage, mult),
    offset_of!(ClockPage, shift),
    offset_of!(ClockPage, cpu_timer_zero),
    offset_of!(ClockPage, tod_programmable),
    offset_of!(ClockPage, clock_comparator),
];

impl ImageArea<'_> {
    fn load(&self, offset: u64) -> u64 {
        self.memory.load_u64(offset).unwrap_or(0)
    }

    fn store(&self, offset: u64, value: u64) {
        let _ = self.memory.store_u64(offset, value);
    }

    fn init(&self, cpu: u64) {
        self.store(shared(offset_of!(Shared, version)), VERSION);
        self.store(shared(offset_of!(Shared, cpu)), cpu);
    }

    /// Withdraws a request for a root the image made but the #BP
    /// handler did not take (`Shared::gate`): the vCPU was put back into
    /// the dispatcher in between, and the next INT3, a chain's end or a
    /// host call, must not be taken for it.
    pub fn clear_gate(&self) {
        self.store(shared(offset_of!(Shared, gate)), 0);
    }

    /// Writes the protocol version (a test makes it wrong).
    pub fn set_version(&self, version: u64) {
        self.store(shared(offset_of!(Shared, version)), version);
    }

    /// Where a guest access of the image that faulted resumes.
    pub fn recover(&self) -> u64 {
        self.load(shared(offset_of!(Shared, recover)))
    }

    /// Where the image panicked, if it did (the record is cleared).
    pub fn take_panic(&self) -> Option<PanicLocation> {
        let field = |f: usize| shared(offset_of!(Shared, panic) + f);
        let line = self.load(field(offset_of!(Panic, line)));
        if line == 0 {
            return None;
        }
        let file_va = self.load(field(offset_of!(Panic, file)));
        let len = self.load(field(offset_of!(Panic, file_len))).min(256) as usize;
        let mut name = vec![0u8; len];
        let file = file_va
            .checked_sub(IMAGE_VA)
            .and_then(|at| self.memory.read(at, &mut name))
            .map_or_else(
                || "?".to_string(),
                |()| String::from_utf8_lossy(&name).into_owned(),
            );
        let column = self.load(field(offset_of!(Panic, column)));
        self.store(field(offset_of!(Panic, line)), 0);
        Some(PanicLocation {
            file,
            line: line as u32,
            column: column as u32,
        })
    }

    /// The clock page.
    pub fn clock(&self) -> ClockPage {
        let [valid, epoch, last, ns, tsc, mult, shift, cpu_timer_zero, tod_programmable, clock_comparator] =
            CLOCK_FIELDS.map(|f| self.load(clock(f)));
        ClockPage {
            valid,
            epoch,
            last,
            ns,
            tsc,
            mult,
            shift,
            cpu_timer_zero,
            tod_programmable,
            clock_comparator,
        }
    }

    /// Publishes the clock page.
    pub fn set_clock(&self, page: &ClockPage) {
        let values = [
            page.valid,
            page.epoch,
            page.last,
            page.ns,
            page.tsc,
            page.mult,
            page.shift,
            page.cpu_timer_zero,
            page.tod_programmable,
            page.clock_comparator,
        ];
        for (field, value) in CLOCK_FIELDS.into_iter().zip(values) {
            self.store(clock(field), value);
        }
    }

    /// Publishes the machine's facilities (`zmmu_mmu::control::Facilities`
    /// bits).
    pub fn set_facilities(&self, bits: u64) {
        self.store(shared(offset_of!(Shared, facilities)), bits);
    }

    /// Sets [`Shared::transient`]: the access that faulted leaves its call
    /// to the host, not its site.
    pub fn set_transient(&self) {
        self.store(shared(offset_of!(Shared, transient)), 1);
    }

    /// Writes [`Shared::mask_floor`].
    pub fn set_mask_floor(&self, tod: u64) {
        self.store(shared(offset_of!(Shared, mask_floor)), tod);
    }

    /// Writes [`Shared::mask_floor_after_comparator`].
    pub fn set_mask_floor_after_comparator(&self, tod: u64) {
        self.store(shared(offset_of!(Shared, mask_floor_after_comparator)), tod);
    }

    /// Writes [`Shared::comparator_floor`].
    pub fn set_comparator_floor(&self, tod: u64) {
        self.store(shared(offset_of!(Shared, comparator_floor)), tod);
    }

    /// Writes [`Shared::fetch_tag`].
    pub fn set_fetch_tag(&self, tag: u64) {
        self.store(shared(offset_of!(Shared, fetch_tag)), tag);
    }

    /// Lists the 4 KiB page of `addr` under `tag` in `list`: in the first
    /// of its slots that is free or holds it, else in place of the
    /// first's entry.
    pub fn list_page(&self, list: PageList, addr: u64, tag: u64) {
        let entry = page_entry(addr, tag);
        let field = match list {
            PageList::Executable => offset_of!(Shared, executable),
            PageList::Writable => offset_of!(Shared, writable),
        };
        let at = |slot: usize| shared(field + 8 * slot);
        let slots = page_slots(addr);
        let slot = slots
            .into_iter()
            .find(|&slot| [0, entry].contains(&self.load(at(slot))))
            .unwrap_or(slots[0]);
        self.store(at(slot), entry);
    }

    /// Empties [`Shared::executable`] and [`Shared::writable`].
    pub fn clear_pages(&self) {
        for field in [offset_of!(Shared, executable), offset_of!(Shared, writable)] {
            for slot in 0..LISTED_PAGES {
                self.store(shared(field + 8 * slot), 0);
            }
        }
    }

    /// Writes where the page-table pool is ([`Shared::pool_gpa`]: its
    /// guest-physical address, length and the virtual address the image
    /// reaches it at).
    pub fn set_pool(&self, gpa: u64, len: u64, at: u64) {
        self.store(shared(offset_of!(Shared, pool_gpa)), gpa);
        self.store(shared(offset_of!(Shared, pool_len)), len);
        self.store(shared(offset_of!(Shared, pool_va)), at);
    }

    /// Writes the addresses of translated code ([`Shared::code_start`]).
    pub fn set_code(&self, code: std::ops::Range<u64>) {
        self.store(shared(offset_of!(Shared, code_start)), code.start);
        self.store(shared(offset_of!(Shared, code_end)), code.end);
    }

    /// Whether the #PF stub hands page faults of translated code to the
    /// image ([`Shared::faults`]).
    pub fn set_faults(&self, on: bool) {
        self.store(shared(offset_of!(Shared, faults)), u64::from(on));
    }

    /// Writes [`Shared::active_root`]: `index` in [`Gate::roots`] of the
    /// root translated code runs under, or `None`.
    pub fn set_active_root(&self, index: Option<usize>) {
        let value = index.map_or(0, |i| i as u64 + 1);
        self.store(shared(offset_of!(Shared, active_root)), value);
    }

    /// The shadow fills the image made ([`Shared::fills`]), the log
    /// emptied.
    pub fn take_fills(&self) -> Vec<Fill> {
        let len_at = shared(offset_of!(Shared, fills) + offset_of!(Fills, len));
        let len = (self.load(len_at) as usize).min(zmmu_vm_runtime::protocol::FILL_ENTRIES);
        if len == 0 {
            return Vec::new();
        }
        let entry = |i: usize, field: usize| {
            let at = offset_of!(Shared, fills) + offset_of!(Fills, entries);
            self.load(shared(at + i * size_of::<Fill>() + field))
        };
        let fills = (0..len)
            .map(|i| Fill {
                root: entry(i, offset_of!(Fill, root)),
                base: entry(i, offset_of!(Fill, base)),
                pages: entry(i, offset_of!(Fill, pages)),
            })
            .collect();
        self.store(len_at, 0);
        fills
    }

    /// The faults the image resolved by a shadow fill and those it
    /// forwarded to the host ([`Shared::filled`], [`Shared::forwarded`]).
    pub fn fills_made(&self) -> (u64, u64) {
        (
            self.load(shared(offset_of!(Shared, filled))),
            self.load(shared(offset_of!(Shared, forwarded))),
        )
    }

    /// The root tags the gate names ([`Gate::roots`]), by index.
    pub fn gate_roots(&self) -> [[u64; 2]; GATE_ROOTS] {
        let at = |i: usize, j: usize| GATE + (offset_of!(Gate, roots) + 16 * i + 8 * j) as u64;
        core::array::from_fn(|i| [self.load(at(i, 0)), self.load(at(i, 1))])
    }

    /// Writes [`Shared::absolute_size`].
    pub fn set_absolute_size(&self, size: u64) {
        self.store(shared(offset_of!(Shared, absolute_size)), size);
    }

    /// Sets the state of the absolute frame of `frame` in the table at
    /// `protocol::STORABLE` to `state` (`protocol::FRAME_REFERENCED`: the
    /// caller found its reference bit one; `FRAME_STORABLE`: its
    /// reference and change bits one and no translated code in it;
    /// `FRAME_UNLISTED`), where the table reaches (`protocol::frame_bits`).
    pub fn set_frame(&self, frame: u64, state: u64) {
        if let Some((word, shift)) = frame_bits(frame) {
            let at = STORABLE + 8 * word as u64;
            self.store(at, with_frame_state(self.load(at), shift, state));
        }
    }

    /// Takes the absolute frame of `frame` out of the table at
    /// `protocol::STORABLE`: the image neither reads nor stores there
    /// before the host lists it again.
    pub fn remove_storable(&self, frame: u64) {
        self.set_frame(frame, zmmu_vm_runtime::protocol::FRAME_UNLISTED);
    }

    /// Tells the image where the table of published blocks is (`slots`
    /// entries at virtual address `at`; `protocol::Published`) and the log
    /// of the jump-cache entries it makes (`protocol::Entered`, at `log`).
    pub fn set_published(&self, at: u64, slots: u64, log: u64) {
        self.store(shared(offset_of!(Shared, published)), at);
        self.store(shared(offset_of!(Shared, published_slots)), slots);
        self.store(shared(offset_of!(Shared, entered)), log);
    }

    /// The translator's context and dispatcher for the image's switches
    /// (`Shared::context`, `Shared::dispatch`; zeros: the image makes
    /// none).
    pub fn set_context(&self, at: u64, dispatch: u64) {
        self.store(shared(offset_of!(Shared, context)), at);
        self.store(shared(offset_of!(Shared, dispatch)), dispatch);
    }

    /// Publishes the gate's roots by their tags, each with its PML4's
    /// guest-physical address ([`Gate::tables`], docs/CHOICES.md 91), and
    /// the fetch controls of the jump cache's tags ([`Gate`],
    /// docs/CHOICES.md 77): the first
    /// [`GATE_ROOTS`] and [`GATE_SPACES`] of each, the other entries
    /// emptied.
    pub fn publish_gate(&self, roots: &[([u64; 2], u64)], spaces: &[[u64; 6]]) {
        let gate = |field: usize| GATE + field as u64;
        for i in 0..GATE_ROOTS {
            let (words, table) = roots.get(i).copied().unwrap_or_default();
            for (j, word) in words.into_iter().enumerate() {
                self.store(gate(offset_of!(Gate, roots) + 16 * i + 8 * j), word);
            }
            self.store(gate(offset_of!(Gate, tables) + 8 * i), table);
        }
        let spaces = &spaces[..spaces.len().min(GATE_SPACES)];
        for (i, words) in spaces.iter().enumerate() {
            for (j, word) in words.iter().enumerate() {
                self.store(gate(offset_of!(Gate, spaces) + 48 * i + 8 * j), *word);
            }
        }
        self.store(gate(offset_of!(Gate, spaces_len)), spaces.len() as u64);
    }

    /// Tells the image that the access of host call `which`'s instruction
    /// (`None`: of the call the image is making) at logical `page` ends in
    /// an s390x exception (`Shared::fault_site`, `fault_page`;
    /// docs/CHOICES.md 82).
    pub fn set_fault(&self, which: Option<u64>, page: u64) {
        let site = which.map_or(FAULT_IN_CALL, |which| which + 1);
        self.store(shared(offset_of!(Shared, fault_page)), page);
        self.store(shared(offset_of!(Shared, fault_site)), site);
    }

    /// The program interruptions the image delivered (`Shared::programs`).
    pub fn programs(&self) -> u64 {
        self.load(shared(offset_of!(Shared, programs)))
    }

    /// The LPSWEs the image completed through the gate (`Shared::lpswes`).
    pub fn lpswes(&self) -> u64 {
        self.load(shared(offset_of!(Shared, lpswes)))
    }

    /// The jump-cache misses the image resolved (`Shared::resolved`).
    pub fn resolved(&self) -> u64 {
        self.load(shared(offset_of!(Shared, resolved)))
    }

    /// Empties the table at `protocol::STORABLE`.
    pub fn clear_storable(&self) {
        let _ = self.memory.zero(STORABLE, 8 * STORABLE_WORDS as u64);
    }

    /// The frames the image asked the host to list after its run of the
    /// instruction it left to it ([`Shared::wanted`]), the list emptied.
    pub fn take_wanted(&self) -> [u64; WANTED_FRAMES] {
        core::array::from_fn(|i| {
            let at = shared(offset_of!(Shared, wanted) + 8 * i);
            let frame = self.load(at);
            self.store(at, 0);
            frame
        })
    }

    /// Enters `site` in the site table; `false` when its probe sequence is
    /// full (the host then runs that instruction).
    pub fn insert_site(&self, site: &Site) -> bool {
        let at = |slot: usize| SITES + (slot * size_of::<Site>()) as u64;
        let free = zmmu_vm_runtime::protocol::site_slots(site.key - 1).find(|&slot| {
            let key = self.load(at(slot));
            key == 0 || key == site.key
        });
        let Some(slot) = free else {
            return false;
        };
        let words = [
            site.key,
            site.at,
            site.bytes,
            site_word3(site.len, site.after, 0),
        ];
        for (i, word) in words.into_iter().enumerate() {
            self.store(at(slot) + 8 * i as u64, word);
        }
        true
    }

    /// Empties the slot of call `which`, if the table holds it (its block
    /// was dropped, and its number is never used again before the table
    /// is emptied): the slot is free for another site, and lookups, which
    /// do not stop at an empty slot (`protocol::find_site`), still find
    /// the others.
    pub fn remove_site(&self, which: u64) {
        let at = |slot: usize| SITES + (slot * size_of::<Site>()) as u64;
        let slot = zmmu_vm_runtime::protocol::site_slots(which)
            .find(|&slot| self.load(at(slot)) == which + 1);
        if let Some(slot) = slot {
            self.store(at(slot), 0);
        }
    }

    /// Empties the site table.
    pub fn clear_sites(&self) {
        let _ = self
            .memory
            .zero(SITES, (SITE_SLOTS * size_of::<Site>()) as u64);
    }

    /// The calls completed in the VM, by opcode index (`zmmu_cpu`'s
    /// `Opcode as usize`), nonzero ones only.
    pub fn counts(&self) -> Vec<(usize, u64)> {
        (0..((COUNTS_END - COUNTS) / 8) as usize)
            .map(|i| (i, self.load(COUNTS + 8 * i as u64)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_read_only_and_data_is_not_executable() {
        let image = Image::load(0).unwrap();
        assert!(image.contains(image.entry()));
        assert!(image.contains(image.miss_entry()) && image.contains(image.translate_entry()));
        for &(page, flags) in image.pages() {
            assert!(flags.contains(PageTableFlags::USER_ACCESSIBLE));
            assert!(
                !flags.contains(PageTableFlags::WRITABLE)
                    || flags.contains(PageTableFlags::NO_EXECUTE),
                "page {page:#x} writable and executable"
            );
            let code = image.contains(IMAGE_VA + page);
            assert_eq!(
                code,
                !flags.contains(PageTableFlags::NO_EXECUTE),
                "page {page:#x}"
            );
        }
        let mapped = |at: u64| image.pages().iter().any(|&(page, _)| page == at & !0xfff);
        assert!(!mapped(STACK - 4096), "a guard page below the stack");
        assert!(mapped(STACK_TOP - 8) && mapped(SHARED));
        assert!(mapped(STORABLE) && mapped(STORABLE_END - 8));
        assert!(!mapped(STACK_TOP), "a guard page above the stack");
    }

    #[test]
    fn an_answer_the_image_did_not_make_is_no_translation() {
        use zmmu_vm_runtime::translate::{Request, Status};
        let image = Image::load(0).unwrap();
        assert_eq!(image.translation(), Err(Status::None as u64));
        // A request clears the last answer's status.
        let at = image.translation + offset_of!(Translation, answer) as u64;
        image
            .memory
            .store_u64(at, Status::Translated as u64)
            .unwrap();
        image.request_translation(&Request::default());
        assert_eq!(image.translation(), Err(Status::None as u64));
        // Counts the record cannot hold are no translation.
        image
            .memory
            .store_u64(at, Status::Translated as u64)
            .unwrap();
        let insns = at + offset_of!(Answer, insns) as u64;
        image.memory.store_u64(insns, MAX_BLOCK as u64 + 1).unwrap();
        assert_eq!(image.translation(), Err(Status::Translated as u64));
    }

    #[test]
    fn a_segment_that_is_not_an_executable_is_refused() {
        assert!(matches!(
            Image::load_elf(b"\x7fELF garbage", 0),
            Err(KvmError::Config(_))
        ));
    }

    /// The site table as the image reads it.
    fn table(area: &ImageArea<'_>) -> Vec<Site> {
        let mut table = vec![Site::default(); SITE_SLOTS];
        for (slot, entry) in table.iter_mut().enumerate() {
            let at = SITES + (slot * size_of::<Site>()) as u64;
            let word = |i: u64| area.load(at + 8 * i);
            *entry = Site {
                key: word(0),
                at: word(1),
                bytes: word(2),
                len: word(3) as u16,
                after: (word(3) >> 16) as u16,
                refused: (word(3) >> 32) as u32,
            };
        }
        table
    }

    #[test]
    fn a_removed_site_frees_its_slot_and_the_sites_probed_after_it_stay() {
        use zmmu_vm_runtime::protocol::{find_site, site_slots};
        let image = Image::load(0).unwrap();
        let area = image.area();
        // Two calls whose probe sequences start at the same slot: the
        // second is entered in the slot after the first's.
        let home = |which: u64| site_slots(which).next();
        let second = (0x302..).find(|&w| home(w) == home(0x301)).unwrap();
        let bytes = [0xb2, 0x05, 0x20, 0x00];
        let (a, b) = (
            Site::new(0x301, 0x1000, &bytes),
            Site::new(second, 0x2000, &bytes),
        );
        assert!(area.insert_site(&a) && area.insert_site(&b));
        area.remove_site(0x301);
        let t = table(&area);
        assert_eq!(find_site(&t, 0x301), None);
        assert_eq!(find_site(&t, second).map(|slot| t[slot]), Some(b));
        assert_eq!(t.iter().filter(|s| s.key != 0).count(), 1);
        // The slot is free again.
        let c = Site::new(0x301, 0x3000, &bytes);
        assert!(area.insert_site(&c));
        let t = table(&area);
        assert_eq!(find_site(&t, 0x301).map(|slot| t[slot]), Some(c));
    }

    #[test]
    fn the_site_table_keeps_each_site_once() {
        let image = Image::load(0).unwrap();
        let area = image.area();
        let site = Site::new(0x301, 0x1000, &[0xb2, 0x05, 0x20, 0x00]);
        assert!(area.insert_site(&site));
        assert!(area.insert_site(&site));
        let table = table(&area);
        assert_eq!(table.iter().filter(|s| s.key != 0).count(), 1);
        let slot = zmmu_vm_runtime::protocol::find_site(&table, 0x301);
        assert_eq!(slot.map(|slot| table[slot]), Some(site));
        area.clear_sites();
        assert_eq!(area.load(SITES), 0);
    }

    #[test]
    fn a_frame_leaves_the_table_when_removed_or_cleared_and_its_neighbours_stay() {
        use zmmu_vm_runtime::protocol::{
            frame_state, FRAMES_LISTED, FRAME_REFERENCED, FRAME_STORABLE, FRAME_UNLISTED,
        };
        let image = Image::load(0).unwrap();
        let area = image.area();
        let state = |frame: u64| {
            let table: Vec<u64> = (0..STORABLE_WORDS as u64)
                .map(|word| area.load(STORABLE + 8 * word))
                .collect();
            frame_state(&table, frame)
        };
        // One entry per frame: frames 32 MiB apart (one slot of kvm8's
        // table) are listed together.
        area.set_frame(0x2_3008, FRAME_STORABLE);
        area.set_frame(0x2_3000 + (32 << 20), FRAME_REFERENCED);
        area.set_frame(0x2_4000, FRAME_REFERENCED);
        assert_eq!(state(0x2_3000), FRAME_STORABLE);
        assert_eq!(state(0x2_3000 + (32 << 20)), FRAME_REFERENCED);
        area.remove_storable(0x2_3000);
        assert_eq!(state(0x2_3000), FRAME_UNLISTED);
        assert_eq!(state(0x2_4000), FRAME_REFERENCED);
        assert_eq!(state(0x2_2000), FRAME_UNLISTED);
        // The last frame the table reaches; beyond it nothing is listed.
        area.set_frame(FRAMES_LISTED - 0x1000, FRAME_STORABLE);
        area.set_frame(FRAMES_LISTED, FRAME_STORABLE);
        assert_eq!(state(FRAMES_LISTED - 0x1000), FRAME_STORABLE);
        assert_eq!(state(FRAMES_LISTED), FRAME_UNLISTED);
        area.clear_storable();
        assert_eq!(state(0x2_4000), FRAME_UNLISTED);
        assert_eq!(state(0x2_3000 + (32 << 20)), FRAME_UNLISTED);
    }
}
