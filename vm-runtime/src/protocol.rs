//! What the host and the image share: where the image lives in every
//! shadow root, the layout of its slot, and the records both read and
//! write there. The host (`zmmu-hv-kvm`, `zmmu-kvm`) writes them through
//! the slot; the image reads and writes them at their virtual addresses.
//!
//! The slot, `IMAGE_SIZE` bytes at [`IMAGE_VA`] (the last 4 MiB of the
//! x86 address space, in the upper half every root shares):
//!
//! | offsets | what | mapped |
//! |---|---|---|
//! | 0 .. [`SHARED`] | the image's ELF segments (`image.ld`) | code: user, read-only, executable; data and bss: user, read-write |
//! | [`SHARED`] | [`Shared`]: version, the CPU state's address, the fault recovery point, the panic record, the clock page, the facilities, the comparator's floor, the absolute window's size ... | user, read-write |
//! | [`COUNTS`] .. [`COUNTS_END`] | one `u64` per opcode: calls completed in the VM | user, read-write |
//! | [`GATE`] .. [`GATE_END`] | [`Gate`]: the warm shadow roots the image may switch to, and the fetch controls' tags | user, read-write (the CR3 values are in the runtime's supervisor page) |
//! | [`SITES`] .. [`SITES_END`] | [`Site`] table ([`SITE_SLOTS`] slots) | user, read-write |
//! | [`STORABLE`] .. [`STORABLE_END`] | what the image may do in each absolute frame below [`FRAMES_LISTED`] ([`frame_state`]) | user, read-write |
//! | [`STORABLE_END`] .. [`STACK`] | guard, not mapped | |
//! | [`STACK`] .. [`STACK_TOP`] | the image's stack | user, read-write |
//! | [`STACK_TOP`] .. `IMAGE_SIZE` | guard, not mapped | |
//!
//! Translated code cannot reach any of it: every guest access it makes is
//! at an s390x logical address checked to lie below 2^47 (the
//! translator's `cmp rax, top - n; ja slow path`), in the lower half.
//!
//! The absolute window, [`ABSOLUTE_MAX`] bytes at [`ABSOLUTE_VA`] (the
//! upper half every root shares, below the runtime), maps guest absolute
//! storage from address 0 with 2 MiB user pages, writable and not
//! executable: the image reads DAT tables there (LRA, MVCOS), operands
//! in the frames the host lists referenced in [`STORABLE`] (MVCOS), and
//! stores into the frames it lists storable there (STURG, MVCOS), never
//! elsewhere, and only below [`Shared::absolute_size`].
//!
//! The runtime's page-table pool ([`Shared::pool_va`]) is mapped user
//! read-write too: the image writes there the x86 entries of its shadow
//! fills ([`crate::fill`], docs/CHOICES.md 91), each into a page table of
//! the active root, for a frame of guest storage, where none was present.

/// The virtual address of the image's slot in every root: the last 4 MiB
/// of the address space (the code-model `kernel` range, which the code
/// cache leaves free).
pub const IMAGE_VA: u64 = 0xFFFF_FFFF_FFC0_0000;
/// The size of the image's slot: 4 MiB, for the translator's code, its
/// heap and its output in the ELF segments (docs/CHOICES.md 89).
pub const IMAGE_SIZE: u64 = 4 << 20;
/// Offset of the [`Shared`] page; the ELF segments must end below it.
pub const SHARED: u64 = 0x2C_0000;
/// Offset of the per-opcode counters.
pub const COUNTS: u64 = 0x2C_1000;
/// End of the per-opcode counters.
pub const COUNTS_END: u64 = 0x2C_4000;
/// Offset of the [`Gate`] page.
pub const GATE: u64 = 0x2C_4000;
/// End of the [`Gate`] page.
pub const GATE_END: u64 = 0x2C_5000;
/// Offset of the site table.
pub const SITES: u64 = 0x2C_8000;
/// Slots of the site table.
pub const SITE_SLOTS: usize = 1 << 15;
/// End of the site table.
pub const SITES_END: u64 = SITES + (SITE_SLOTS * core::mem::size_of::<Site>()) as u64;
/// Offset of the table of what the image may do in each absolute frame
/// ([`frame_state`]).
pub const STORABLE: u64 = 0x3C_8000;
/// Words of the table at [`STORABLE`] (two bits per frame).
pub const STORABLE_WORDS: usize = 1 << 13;
/// End of the table at [`STORABLE`].
pub const STORABLE_END: u64 = STORABLE + 8 * STORABLE_WORDS as u64;
/// The absolute storage the table at [`STORABLE`] covers: 1 GiB, one
/// entry per 4 KiB frame. The frames above it are never listed.
pub const FRAMES_LISTED: u64 = (STORABLE_WORDS as u64 * 32) << 12;
/// The virtual address of absolute address 0 in the absolute window.
pub const ABSOLUTE_VA: u64 = 0xFFFF_FF80_0000_0000;
/// The most absolute storage the window maps: up to the runtime's
/// 1 GiB slots at the top of the upper half's last PML4 entry.
pub const ABSOLUTE_MAX: u64 = 510 << 30;
/// Offset of the stack's lowest page.
pub const STACK: u64 = 0x3E_0000;
/// Offset of the stack's top (it grows down from here; the page above is
/// not mapped).
pub const STACK_TOP: u64 = IMAGE_SIZE - 0x1000;

/// The byte offset of the PSW bits in the translator's context
/// (`zmmu_translator::abi::CTX_BITS`: the kvm engine checks that they
/// agree), which the image sets after a switch ([`Shared::context`]).
pub const CONTEXT_BITS: u64 = 56;

/// The byte offset of the last instruction run before the dispatcher in
/// the translator's context (`zmmu_translator::abi::CTX_LAST_BLOCK`, its
/// `last_run`: the kvm engine checks that they agree), which the image
/// sets when it sends a host call's caller to the dispatcher
/// ([`DISPATCH`]).
pub const CONTEXT_LAST_BLOCK: u64 = 64;

/// The version of this protocol: the image panics on another (a host and
/// an image built from different sources).
pub const VERSION: u64 = 15;

/// The image's answer: the instruction is done, the block goes on (the
/// translator's `abi::END`).
pub const COMPLETED: u64 = 0;
/// The image's answer: the host must run the instruction (the stub exits
/// as before the image existed).
pub const HOST: u64 = 2;
/// The image's answer: the instruction is done and the PSW is a new one
/// (an SVC delivered, docs/CHOICES.md 80, or a program interruption, 82:
/// the stub first gives [`Shared::refund`] back to the budget): the stub
/// drops its caller's frame and goes to the dispatcher at
/// [`Shared::go_to`] under the context's new bits (distinct from the
/// host's `GO_TO`, 3, and the translator's answers 0 and 1).
pub const DISPATCH: u64 = 4;

/// [`Shared::fault_site`] when the access that met the s390x exception
/// was the image's own, in the call it is making: the call runs again
/// with that page's accesses on the software path (`call::host_call`).
pub const FAULT_IN_CALL: u64 = u64::MAX;

/// Probes of the site table before a lookup gives up (and the host runs
/// the instruction).
pub const SITE_PROBES: usize = 8;

/// The virtual address of slot offset `offset`.
pub const fn va(offset: u64) -> u64 {
    IMAGE_VA + offset
}

const _: () = assert!(IMAGE_VA.wrapping_add(IMAGE_SIZE) == 0 && STACK_TOP <= IMAGE_SIZE);
const _: () = assert!(SITES_END <= STORABLE && STORABLE_END <= STACK && COUNTS_END <= SITES);
const _: () = assert!(COUNTS_END - COUNTS >= 8 * zmmu_cpu::opcode::COUNT as u64);
const _: () = assert!(core::mem::size_of::<Shared>() <= (COUNTS - SHARED) as usize);
const _: () = assert!(COUNTS_END <= GATE && GATE_END <= SITES);
const _: () = assert!(core::mem::size_of::<Gate>() <= (GATE_END - GATE) as usize);

/// The page at [`SHARED`].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Shared {
    /// [`VERSION`], written by the loader.
    pub version: u64,
    /// The virtual address of the CPU state (`zmmu_cpu::state::offset`
    /// layout), written by the loader.
    pub cpu: u64,
    /// Where a guest access the image makes resumes when it faults and
    /// the host does not map the page (written by the image before each
    /// access; the host's fault path reads it).
    pub recover: u64,
    /// Where the image panicked (zero while it did not).
    pub panic: Panic,
    /// The clock.
    pub clock: ClockPage,
    /// The machine's installed facilities that translation depends on
    /// (`zmmu_mmu::control::Facilities` bits: what `Memory::facilities`
    /// answers on the host), written by the host with the clock page.
    pub facilities: u64,
    /// The TOD clock value (epoch included) at the batch's deadline, when
    /// no interruption but a timer's may become pending before it (the
    /// host's clock, one CPU, no signal, I/O or restart pending): a clock
    /// comparator set to this or later neither is pending now nor comes
    /// due before the machine looks, so the image may set it (SCKC). Zero
    /// when the host must set it. Written by the host before translated
    /// code runs and after each host call.
    pub comparator_floor: u64,
    /// The TOD clock value (epoch included) at the batch's deadline when
    /// no interruption could become pending before it whatever the I/O
    /// and external masks (the host's clock, one CPU, no signal, I/O or
    /// restart pending, no timer condition holding or coming due before
    /// the deadline with the masks on): while the TOD clock is below it,
    /// a change of those masks alone (STOSM, STNSM, SSM) neither makes an
    /// interruption takeable nor moves the deadline, so the image may
    /// make it. Zero when the host must. Written with
    /// [`Shared::comparator_floor`].
    pub mask_floor: u64,
    /// [`Shared::mask_floor`] once the image has set the clock comparator
    /// at or past [`Shared::comparator_floor`] (SCKC): the comparator then
    /// comes due no sooner than the deadline, so where it alone kept the
    /// mask floor zero (due, its interruption held off by the masks: the
    /// handler of a tick, which sets the next one), the masks become
    /// settable. Zero when something else may become pending. Written
    /// with [`Shared::mask_floor`].
    pub mask_floor_after_comparator: u64,
    /// Nonzero when an access of the image that the host did not map
    /// faulted for a cause the next call may not meet (an s390x exception
    /// the guest's handler resolves, as demand paging's first touch of a
    /// page; a store into a frame holding translated code, whose blocks
    /// the fault dropped): the call is the host's but the site stays the
    /// image's. Zero for a cause that holds at every call (a rule finer
    /// than a page, a fault the mapping did not cure). Written by the
    /// host's fault path, cleared by the image at each call.
    pub transient: u64,
    /// The tag of the instruction-fetch controls in effect (`zmmu_kvm`'s
    /// jump-cache tag: CR0's translation bits, the prefix and the ASCE
    /// instructions are fetched with), written by the host before
    /// translated code runs.
    pub fetch_tag: u64,
    /// Pages outside an EXECUTE's own from which the host's own fetch of
    /// an EXECUTE's target succeeded under instruction-execution
    /// protection, each under the fetch controls of a tag
    /// ([`page_entry`]; zero: empty): the image may fetch a target
    /// there through the root, whose read permission says nothing of
    /// instruction-execution protection. Emptied by the host, with
    /// [`Shared::writable`], when a TLB purge or invalidation may have
    /// changed what an access translates to, or a tag came to stand for
    /// other controls.
    pub executable: [u64; LISTED_PAGES],
    /// Pages into which the host's own execution of an instruction just
    /// stored across a page boundary in the root's space, each under the
    /// tag of the fetch controls and the PSW key ([`store_tag`]): the
    /// image may store across the boundary between two listed pages (the
    /// second page's store then meets no s390x exception the first could
    /// not: none of them changed since, short of an invalidation).
    pub writable: [u64; LISTED_PAGES],
    /// The bytes of absolute storage the image may reach through the
    /// absolute window ([`ABSOLUTE_VA`]): the machine's storage size, at
    /// most what the window maps; zero without a window. Written by the
    /// host before translated code runs.
    pub absolute_size: u64,
    /// The absolute frames, each with bit 0 set (zero: none), an operand
    /// of the instruction the image left to the host would have had to
    /// record a reference or change in (MVCOS: [`FRAME_STORABLE`],
    /// [`FRAME_REFERENCED`]): after its own run of that instruction the
    /// host lists those that then qualify, and empties this. Written by
    /// the image.
    pub wanted: [u64; WANTED_FRAMES],
    // Jump-cache misses resolved in the VM (docs/CHOICES.md 74): the table
    // of blocks the host publishes, and the image's count.
    /// The virtual address of the table of published blocks
    /// ([`Published`], [`Shared::published_slots`] of them; the host
    /// writes it, the image only reads it); zero: no table.
    pub published: u64,
    /// Slots of the table at [`Shared::published`] (a power of two).
    pub published_slots: u64,
    /// Jump-cache misses the image resolved to a published block (the
    /// image counts, the host reads).
    pub resolved: u64,
    /// The virtual address of the log of jump-cache entries the image
    /// made ([`Entered`]); zero: the image makes none.
    pub entered: u64,
    // The gate (docs/CHOICES.md 77): the image switches the shadow root.
    /// The virtual address of the translator's context (`zmmu_translator::abi`
    /// `CTX_*` layout), written by the loader: the image sets its PSW bits
    /// after a switch.
    pub context: u64,
    /// The virtual address of the translator's dispatcher, written by the
    /// host (zero: none): after a switch to a PSW address whose block is
    /// not published, the miss stub goes there with that address
    /// ([`Shared::redispatch`]), and the jump cache decides under the new
    /// bits.
    pub dispatch: u64,
    /// Set by the image when its answer to a miss is the new PSW address
    /// to dispatch at ([`Shared::dispatch`]), not a block's code; the miss
    /// stub clears it.
    pub redispatch: u64,
    /// Nonzero while the image asks the CPL0 #BP handler for a root (its
    /// `INT3` then means "switch", not "done" or "call"); the handler
    /// clears it. The index in [`Gate::roots`] goes in RCX, the answer
    /// comes back in RAX: 1 when the handler loaded the root, 0 when it
    /// refused (an index out of range, a root the host no longer names).
    pub gate: u64,
    /// Instructions the last miss call completed (an LPSWE), which the
    /// miss stub takes off the budget (R15).
    pub charged: u64,
    /// The instruction budget (R15) at the last miss call, written by the
    /// miss stub: the image completes an instruction only while it is
    /// positive.
    pub budget: u64,
    /// LPSWEs the image completed at a jump-cache miss, switching the
    /// root through the gate (the image counts, the host reads).
    pub lpswes: u64,
    /// The PSW address the host-call stub goes to the dispatcher at after
    /// the image's [`DISPATCH`].
    pub go_to: u64,
    // A program interruption delivered in the VM (docs/CHOICES.md 82).
    /// The host call whose instruction's access the host just found to
    /// end in an s390x exception (a page-translation or protection
    /// exception: Linux's demand paging and copy-on-write), plus one
    /// (zero: none): its slow path's call comes next, and the image
    /// recognizes the access exceptions of its operands on the software
    /// path (`call::Bus::probe`). Written by the host's fault path,
    /// cleared by the image at each call.
    pub fault_site: u64,
    /// The logical page (4 KiB aligned) of that access.
    pub fault_page: u64,
    /// Instructions the host-call stub gives back to the budget (R15)
    /// after the image's answer: the site's [`Site::after`] with a program
    /// interruption delivered, else zero (written by the image at each
    /// call).
    pub refund: u64,
    /// Program interruptions the image delivered (the image counts, the
    /// host reads).
    pub programs: u64,
    // Page faults of translated code resolved in the VM (docs/CHOICES.md 91).
    /// Nonzero: the CPL0 #PF stub hands a page fault of CPL3 code to the
    /// image's fault entry (`zmmu_runtime_fault`, through the runtime's
    /// fault stub) instead of the host. Written by the host; the fault
    /// stub zeroes it while the image runs (a fault there goes to the
    /// host) and writes back what it found.
    pub faults: u64,
    /// The code addresses whose faults the image resolves: translated
    /// code, `[code_start, code_end)` (a fault elsewhere, the image's own
    /// accesses among them, is forwarded). Written by the host.
    pub code_start: u64,
    /// See [`Shared::code_start`].
    pub code_end: u64,
    /// The index plus one in [`Gate::roots`] of the root in CR3 while
    /// translated code runs (zero: none the gate names). Written by the
    /// host before each run, and by the image after each switch it made
    /// through the gate.
    pub active_root: u64,
    /// The page-table pool: its guest-physical address and length, and
    /// the virtual address at which the image reaches it (the runtime's
    /// 2 MiB pages there are user, writable, not executable). Written by
    /// the host.
    pub pool_gpa: u64,
    /// See [`Shared::pool_gpa`].
    pub pool_len: u64,
    /// See [`Shared::pool_gpa`].
    pub pool_va: u64,
    /// The fault the image resolves, as the runtime's fault stub found it.
    pub fault: FaultRecord,
    /// The shadow fills the image made since the host last looked.
    pub fills: Fills,
    /// Faults the image resolved by a shadow fill (the image counts, the
    /// host reads).
    pub filled: u64,
    /// Faults the image forwarded to the host (the image counts, the host
    /// reads).
    pub forwarded: u64,
}

/// A page fault of translated code as the runtime's fault stub hands it to
/// the image: CR2, the error code, and the state the faulting instruction
/// resumes with (RAX, RIP, RSP, RFLAGS; every other register is as at the
/// fault while the image runs, saved and restored around it by the stub).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct FaultRecord {
    /// The faulting linear address.
    pub cr2: u64,
    /// The #PF error code (Intel SDM Vol. 3A, 4.7): bit 0 present, bit 1
    /// write, bit 2 user.
    pub err: u64,
    /// RAX at the fault.
    pub rax: u64,
    /// The faulting instruction.
    pub rip: u64,
    /// RSP at the fault.
    pub rsp: u64,
    /// RFLAGS at the fault.
    pub rflags: u64,
}

/// Entries of [`Fills`].
pub const FILL_ENTRIES: usize = 48;

/// The log of the shadow fills the image made (docs/CHOICES.md 91), which
/// the host takes into its shadow pager at every exit, before anything
/// looks at the tables, and empties. The image fills nothing when it is
/// full.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Fills {
    /// Entries logged.
    pub len: u64,
    /// The fills, in order.
    pub entries: [Fill; FILL_ENTRIES],
}

impl Default for Fills {
    fn default() -> Self {
        Self {
            len: 0,
            entries: [Fill::default(); FILL_ENTRIES],
        }
    }
}

/// One fault's shadow fills: 4 KiB pages of one fault-around window of
/// [`WINDOW_PAGES`] pages, mapped in one root. The host reads each page's
/// frame and permissions back from the x86 tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Fill {
    /// The root's index in [`Gate::roots`].
    pub root: u64,
    /// The window's first logical page.
    pub base: u64,
    /// Bit `i`: page `base + i * 4096` was mapped.
    pub pages: u64,
}

/// The fault-around window of the kvm engine's shadow pager, in 4 KiB
/// pages ([`PAGER`]'s): the image's fills map the pages of one window.
pub const WINDOW_PAGES: u64 = 64;

/// The kvm engine's shadow pager (`zmmu_kvm`), which the image's fills
/// follow (docs/CHOICES.md 46d, 56, 91): whole 2 MiB frames and
/// [`WINDOW_PAGES`]-page windows mapped ahead of use with their reference
/// bits set; stores that check the low addresses themselves (the
/// translator's `MemoryAccess::HostMmu`); change recording by the x86
/// dirty flag.
pub const PAGER: zmmu_mmu::shadow::Config = zmmu_mmu::shadow::Config {
    max_roots: 32,
    fault_around: WINDOW_PAGES as u16,
    largest: zmmu_mmu::host::HostPageSize::Size2M,
    speculative_reference: true,
    max_mappings: 1 << 20,
    stores_check_low_addresses: true,
    change_by_host: true,
};

/// The x86 page-table entry of a 4 KiB shadow mapping of `frame`:
/// present, user, accessed, dirty (no store recorded by it), not
/// executable, writable if `writable` (Intel SDM Vol. 3A, Table 4-20).
/// `zmmu_hv_kvm`'s tables make the same entries (checked there).
pub const fn page_leaf(frame: u64, writable: bool) -> u64 {
    const PRESENT: u64 = 1;
    const WRITABLE: u64 = 1 << 1;
    const USER: u64 = 1 << 2;
    const ACCESSED: u64 = 1 << 5;
    const DIRTY: u64 = 1 << 6;
    const NO_EXECUTE: u64 = 1 << 63;
    let leaf = frame | PRESENT | USER | ACCESSED | DIRTY | NO_EXECUTE;
    if writable {
        leaf | WRITABLE
    } else {
        leaf
    }
}

/// Roots of [`Gate::roots`]: the shadow pager's most (`shadow::Config`'s
/// default `max_roots`).
pub const GATE_ROOTS: usize = 32;

/// Fetch controls of [`Gate::spaces`] (`zmmu_kvm`'s `Spaces::MAX`).
pub const GATE_SPACES: usize = 64;

/// What the host publishes for the gate (docs/CHOICES.md 77), before
/// translated code runs and after each exit: the warm shadow roots by
/// their tags (the CR3 of entry `i` is entry `i` of the runtime's
/// supervisor table, which the image cannot write: it asks for an index,
/// never a CR3), and the instruction-fetch controls the jump cache's tags
/// stand for. The image reads it only.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Gate {
    /// Each root's `zmmu_mmu::shadow::RootTag` ([`root_words`]); zeros:
    /// no root.
    pub roots: [[u64; 2]; GATE_ROOTS],
    /// The fetch controls of each jump-cache tag ([`controls_words`]),
    /// [`Gate::spaces_len`] of them.
    pub spaces: [[u64; 6]; GATE_SPACES],
    /// Entries of [`Gate::spaces`].
    pub spaces_len: u64,
    /// The guest-physical address of each root's PML4 (its CR3), at the
    /// indexes of [`Gate::roots`]: where the image's shadow fills walk
    /// the root's x86 tables (docs/CHOICES.md 91). Loading a root stays
    /// the gate's.
    pub tables: [u64; GATE_ROOTS],
}

/// The words of a root's tag in [`Gate::roots`]: the ASCE's tag, and
/// bit 0 (an entry), bit 1 (DAT on: an ASCE), the key at bits 8-15 and
/// the purpose (1: instruction fetches) at bit 16.
pub fn root_words(tag: &zmmu_mmu::shadow::RootTag) -> [u64; 2] {
    let fetches = tag.purpose == zmmu_mmu::shadow::Purpose::Instruction;
    [
        tag.asce.unwrap_or(0),
        1 | u64::from(tag.asce.is_some()) << 1 | u64::from(tag.key) << 8 | u64::from(fetches) << 16,
    ]
}

/// The words of fetch controls in [`Gate::spaces`]: CR0's translation
/// bits, the three ASCEs, the prefix and the facilities, compared whole.
pub fn controls_words(controls: &zmmu_mmu::control::Controls) -> [u64; 6] {
    [
        controls.cr0.bits(),
        controls.cr1.value(),
        controls.cr7.value(),
        controls.cr13.value(),
        controls.prefix.value(),
        u64::from(controls.facilities.bits()),
    ]
}

/// The log of the jump-cache entries the image made, which the host takes
/// into its mirror of the jump cache before it reads or drops entries,
/// and empties: `len` slot numbers in `slots`. The image makes no entry
/// when it is full (it resolves the miss all the same).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Entered {
    /// Slots logged.
    pub len: u64,
    /// The jump-cache slots the image wrote, in order.
    pub slots: [u64; ENTERED_SLOTS],
}

/// Entries of [`Entered`].
pub const ENTERED_SLOTS: usize = 4095;

/// A jump-cache entry as the translator's dispatcher reads it
/// (`zmmu_translator::abi::JUMP_SIZE` bytes, its `JUMP_*` offsets: the
/// kvm engine checks that they agree).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct JumpEntry {
    /// The PSW address.
    pub addr: u64,
    /// The PSW bits and the fetch controls' tag.
    pub bits: u64,
    /// The virtual address of the block's code.
    pub code: u64,
    /// The generation it was made in (current: valid).
    pub generation: u32,
    /// The block's number.
    pub block: u32,
}

/// The slots of a jump-cache group, which the dispatcher looks at for an
/// address (`zmmu_translator::abi::JUMP_WAYS`).
pub const JUMP_WAYS: usize = 4;

/// The state of a frame the table at [`STORABLE`] does not list: the
/// host's for anything the image would have to record.
pub const FRAME_UNLISTED: u64 = 0;
/// The state of a frame whose storage key's reference bit is one: a
/// fetch from it with the access key 0 changes nothing but what it reads.
pub const FRAME_REFERENCED: u64 = 1;
/// The state of a frame whose storage key's reference and change bits
/// are one and that holds no translated code: a store there with the
/// access key 0 changes nothing but its bytes.
pub const FRAME_STORABLE: u64 = 3;

/// The word of the table at [`STORABLE`] and the shift of the two bits
/// that hold the state of the absolute 4 KiB frame of `frame`
/// ([`FRAME_REFERENCED`], [`FRAME_STORABLE`]); `None` at or above
/// [`FRAMES_LISTED`].
///
/// The host enters a frame after its own access there (STURG, STURA,
/// MVCOS) left its storage key's reference bit one (referenced), or its
/// reference and change bits one and no translated code in it
/// (storable), and takes it out when either may no longer hold (the
/// frame's key changed: SSKE, RRBE, PFMF, a reset; code translated from
/// it).
pub const fn frame_bits(frame: u64) -> Option<(usize, u32)> {
    if frame >= FRAMES_LISTED {
        return None;
    }
    let number = frame >> 12;
    Some(((number / 32) as usize, 2 * (number % 32) as u32))
}

/// The word of the table at [`STORABLE`] `word` with the two bits at
/// `shift` ([`frame_bits`]) set to `state`.
pub const fn with_frame_state(word: u64, shift: u32, state: u64) -> u64 {
    word & !(3 << shift) | (state & 3) << shift
}

/// The state `table` (the table at [`STORABLE`]) gives the absolute
/// frame of `frame`: [`FRAME_UNLISTED`], [`FRAME_REFERENCED`] or
/// [`FRAME_STORABLE`].
pub fn frame_state(table: &[u64], frame: u64) -> u64 {
    frame_bits(frame)
        .and_then(|(word, shift)| table.get(word).map(|bits| bits >> shift & 3))
        .unwrap_or(FRAME_UNLISTED)
}

/// Entries of [`Shared::wanted`].
pub const WANTED_FRAMES: usize = 4;

/// Entries of [`Shared::executable`] and [`Shared::writable`].
pub const LISTED_PAGES: usize = 32;

/// The entry of [`Shared::executable`] or [`Shared::writable`] for the
/// 4 KiB page of logical address `addr` under `tag` (below 2^11).
pub const fn page_entry(addr: u64, tag: u64) -> u64 {
    addr & !0xfff | (tag & 0x7ff) << 1 | 1
}

/// The tag of [`Shared::writable`]'s entries: the fetch controls' tag
/// (below 64) and the PSW key, which with the address space choose the
/// root.
pub const fn store_tag(fetch_tag: u64, key: u8) -> u64 {
    fetch_tag & 0x3f | (key as u64 & 0xf) << 6
}

/// The two slots of [`Shared::executable`] or [`Shared::writable`] where
/// the entry of the page of `addr` may be: the host fills the first free
/// one, else replaces the first.
pub const fn page_slots(addr: u64) -> [usize; 2] {
    let home = ((addr >> 12) as usize * 2) % LISTED_PAGES;
    [home, home + 1]
}

/// Fields of the CPU state page beyond `zmmu_cpu::state::offset`'s, which
/// translated code never touches but the host copies in (and the FPC
/// back) for the instructions the image completes.
pub mod cpu_page {
    use core::mem::offset_of;
    use zmmu_cpu::state::Cpu;

    /// The floating-point-control register (a `u32`).
    pub const FPC: usize = offset_of!(Cpu, fpc);
    /// The CPU address (a `u16`).
    pub const CPU_ADDR: usize = offset_of!(Cpu, cpu_addr);
    /// The model has the vector facility (a `bool`, one byte).
    pub const VECTOR_FACILITY: usize = offset_of!(Cpu, vector_facility);
    /// The model has the miscellaneous-instruction-extensions facility 3
    /// (a `bool`, one byte).
    pub const MIE3_FACILITY: usize = offset_of!(Cpu, mie3_facility);
}

/// A panic's location: the file name's address and length in the image,
/// line and column.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Panic {
    /// The virtual address of the file name.
    pub file: u64,
    /// Its length in bytes.
    pub file_len: u64,
    /// The line (nonzero once the image panicked).
    pub line: u64,
    /// The column.
    pub column: u64,
}

/// What the image needs to read the CPU's TOD clock and CPU timer as the
/// host would (`zmmu_cpu::clock::Clock`, PoP ch. 4 "Timing"), published by
/// the host before translated code runs, as a vDSO page is.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct ClockPage {
    /// Nonzero when the fields hold: otherwise the host reads the clock.
    pub valid: u64,
    /// The clock's epoch (`ClockState::epoch`).
    pub epoch: u64,
    /// The last TOD value handed out (`ClockState::last`); the image
    /// writes it back, the host takes it over (`Clock::handed_out`).
    pub last: u64,
    /// The time source's nanoseconds at guest TSC value [`ClockPage::tsc`]
    /// (0 for host time on the TSC, whose scale starts there).
    pub ns: u64,
    /// A guest TSC value: where the scale starts (`TscScale::at`).
    pub tsc: u64,
    /// Nanoseconds per TSC tick as `mult >> shift`: 0 for a source that
    /// stands still while translated code runs (`Pace::Instructions`).
    pub mult: u64,
    /// See [`ClockPage::mult`].
    pub shift: u64,
    /// The CPU's `cpu_timer_zero`.
    pub cpu_timer_zero: u64,
    /// The CPU's TOD programmable register.
    pub tod_programmable: u64,
    /// The CPU's clock comparator (what STCKC stores).
    pub clock_comparator: u64,
}

/// One instruction the image may complete: the block number and index of
/// its helper call (the translator's `which`), where it is, its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Site {
    /// `which + 1`; zero for an empty slot.
    pub key: u64,
    /// The instruction's logical address.
    pub at: u64,
    /// Its bytes, from the first, in a big-endian word.
    pub bytes: u64,
    /// Its length in bytes (2, 4 or 6).
    pub len: u16,
    /// The instructions of its block after it, charged to the budget at
    /// the block's entry: given back when the image delivers a program
    /// interruption that ends the instruction ([`Shared::refund`],
    /// docs/CHOICES.md 82).
    pub after: u16,
    /// How many calls in a row the image left to the host for a cause
    /// that may hold at every call (the shadow root refused the access: a
    /// sub-page rule such as low-address protection, a fault the mapping
    /// did not cure; a store across a page boundary the host did not
    /// cross; not an s390x exception or a code frame:
    /// [`Shared::transient`]). At [`REFUSALS`] later calls go straight to
    /// the host instead of meeting the same cause again; a call the image
    /// completes sets it back to zero, since some causes depend on the
    /// operands' addresses (a VSTM on a stack that sometimes crosses a
    /// page). Written by the image; the host enters sites with zero.
    pub refused: u32,
}

impl Site {
    /// The site of helper call `which` for the instruction `bytes` at `at`.
    pub fn new(which: u64, at: u64, bytes: &[u8]) -> Self {
        let mut word = [0u8; 8];
        let len = bytes.len().min(6);
        word[..len].copy_from_slice(&bytes[..len]);
        Self {
            key: which + 1,
            at,
            bytes: u64::from_be_bytes(word),
            len: len as u16,
            after: 0,
            refused: 0,
        }
    }

    /// This site with `after` instructions of its block after it
    /// ([`Site::after`]).
    pub fn followed_by(self, after: u16) -> Self {
        Self { after, ..self }
    }

    /// The instruction's bytes.
    pub fn insn_bytes(&self) -> [u8; 8] {
        self.bytes.to_be_bytes()
    }
}

/// Refusals in a row ([`Site::refused`]) after which a site's calls go
/// straight to the host.
pub const REFUSALS: u32 = 16;

/// The slots a lookup of `which` probes, in order.
pub fn site_slots(which: u64) -> impl Iterator<Item = usize> {
    // Fibonacci hashing: consecutive block numbers spread over the table.
    let home =
        (which.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SITE_SLOTS.trailing_zeros())) as usize;
    (0..SITE_PROBES).map(move |i| (home + i) % SITE_SLOTS)
}

/// The slot of `which` in `table`, if it is there.
pub fn find_site(table: &[Site], which: u64) -> Option<usize> {
    site_slots(which).find(|&slot| table.get(slot).is_some_and(|site| site.key == which + 1))
}

/// The fourth word of a site as the host writes it: `len`, `after` and
/// `refused` (little-endian, `repr(C)`).
pub const fn site_word3(len: u16, after: u16, refused: u32) -> u64 {
    len as u64 | (after as u64) << 16 | (refused as u64) << 32
}

/// The bits of a jump-cache entry's PSW bits that hold the tag of the
/// fetch controls (`zmmu_kvm`'s `Spaces::TAG`): PSW mask bits 33-63,
/// which a block's PSW bits never hold.
pub const JUMP_TAG: u64 = 0x7fff_ffff;

/// A block the image may resolve a jump-cache miss to (docs/CHOICES.md
/// 74): the block translated for PSW address `addr` fetched from absolute
/// `absolute` under PSW bits `bits` (the kvm engine's block key), whose
/// code is at `code`. The host enters only valid blocks without a second
/// page, for the PSW key 0, whose frame's reference bit is one, and takes
/// each out before the VM runs again when its block is dropped or its
/// frame's key changes. `code` zero: an empty slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Published {
    /// The PSW address.
    pub addr: u64,
    /// The absolute address the instruction fetch at `addr` translated to.
    pub absolute: u64,
    /// The PSW bits the block was translated for (no tag).
    pub bits: u64,
    /// The virtual address of its code.
    pub code: u64,
    /// Its number (the jump-cache entry's).
    pub id: u64,
}

/// Probes of the published table (each looked at, empty or not: the host
/// empties slots without moving the others).
pub const PUBLISHED_PROBES: usize = 8;

/// The slots of a table of `slots` (a power of two) where the block of
/// `key` may be, in the order the host fills them.
pub fn published_slots(key: (u64, u64, u64), slots: usize) -> impl Iterator<Item = usize> {
    let (addr, absolute, bits) = key;
    let mixed = (addr >> 1) ^ absolute.rotate_left(29) ^ bits.rotate_left(7);
    let home = mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - slots.trailing_zeros().max(1));
    let mask = slots.wrapping_sub(1);
    (0..PUBLISHED_PROBES).map(move |i| (home as usize + i) & mask)
}
