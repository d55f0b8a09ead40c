//! The in-VM call protocol, host side (`zmmu_vm_runtime::protocol`): the
//! host-call stub asks the runtime image first, which completes what it
//! can at CPL3 without a VM exit (`zmmu_vm_runtime::call`: the register
//! instructions, BFP and vector among them, the clock instructions, one
//! store in the PSW's space). The host
//! - enters a [`Site`] for each instruction of a block it translates that
//!   calls the host and may complete there
//!   (`zmmu_vm_runtime::call::may_complete`: block number, index,
//!   address, bytes), and empties the table when the code cache is
//!   flushed (block numbers start again);
//! - copies the FPC, the CPU address and the model into the CPU state
//!   page with the registers (`zmmu_vm_runtime::protocol::cpu_page`), and
//!   the FPC back;
//! - publishes the clock page before translated code runs and after each
//!   host call (the clock's epoch and last value, the time source's
//!   nanoseconds at a guest TSC value and the TSC's rate, the CPU timer,
//!   the TOD programmable register, the clock comparator) and the
//!   machine's facilities, and takes the last value handed out
//!   back before it reads the clock itself, so that STORE CLOCK values stay
//!   unique and increasing across the two copies (PoP "STORE CLOCK");
//! - publishes the floor of the clock comparators the image may set
//!   (`exits::comparator_floor`) and takes the comparator back with the
//!   last clock value;
//! - enters the site of a native instruction when its slow path first
//!   calls the host ([`enter_slow_path`]);
//! - lists the pages where its own fetch of an EXRL's target succeeded
//!   under the fetch controls in effect, for the image's fetches under
//!   instruction-execution protection ([`list_target`]), and empties the
//!   list when a fetch may translate otherwise ([`publish_fetches`]);
//! - lists the frames its own STURG stored into, for the image's stores
//!   there ([`list_storable`]), and those its own MVCOS reached where the
//!   image asked ([`list_wanted`]), for the image's moves;
//! - counts the calls completed in the VM for `--stats`.
//!
//! Sites of blocks dropped later are removed (`Blocks::drop_page`), so
//! that the table does not fill with them (block numbers are not reused
//! before the table is emptied): the one running when it is dropped
//! leaves at its next host call, which the host answers.

use zmmu_cpu::clock::{Clock, Pace, TimeSource, TscScale};
use zmmu_cpu::opcode::TABLE;
use zmmu_cpu::state::Cpu;
use zmmu_hv_kvm::image::{ImageArea, PageList, TscLink};
use zmmu_hv_kvm::KvmPaging;
use zmmu_mmu::addr::{AbsoluteAddress, RealAddress};
use zmmu_mmu::control::Facilities;
use zmmu_mmu::shadow::ShadowPager;
use zmmu_mmu::storage::Storage;
use zmmu_translator::Guest;
use zmmu_vm_runtime::call::may_complete;
use zmmu_vm_runtime::protocol::{
    store_tag, ClockPage, Site, COMPLETED, FRAME_REFERENCED, FRAME_STORABLE,
};

use crate::blocks::Blocks;

// The image's "done" is the translator's "go on with the block".
const _: () = assert!(COMPLETED == zmmu_translator::abi::END);

/// Enters the sites of block `id`, whose instructions `insns` start at
/// logical address `start` with the bytes `bytes` to the end of their
/// page, then `next` (the next page's, where the block's instruction
/// crosses into it), that the image may complete: those not translated
/// natively (`native`, per instruction), which always call the host.
/// A change of either page drops the block and its sites
/// (`Blocks::drop_page`).
pub(crate) fn enter_sites(
    area: &ImageArea<'_>,
    id: usize,
    start: u64,
    (bytes, next): (&[u8], &[u8]),
    insns: &[Guest],
    native: &[bool],
) {
    for (index, guest) in insns.iter().enumerate() {
        if native.get(index).copied().unwrap_or(true) || !may_complete(guest.insn.op) {
            continue;
        }
        let from = guest.at.wrapping_sub(start) as usize;
        let len = usize::from(guest.insn.len);
        let insn: Vec<u8> = bytes
            .iter()
            .chain(next)
            .skip(from)
            .take(len)
            .copied()
            .collect();
        if insn.len() != len {
            continue;
        }
        let which = zmmu_translator::abi::which(id as u64, index);
        let site = Site::new(which, guest.at, &insn).followed_by(after(insns.len(), index));
        // A full probe sequence leaves the instruction to the host.
        let _ = area.insert_site(&site);
    }
}

/// The instructions of a block of `len` after its instruction `index`
/// (`Site::after`; a block holds at most `MAX_BLOCK`).
pub(crate) fn after(len: usize, index: usize) -> u16 {
    len.saturating_sub(index + 1) as u16
}

const _: () = assert!(zmmu_translator::MAX_BLOCK <= u16::MAX as usize);

/// Enters the site of the native instruction `guest`, call `which`,
/// whose slow path called the host (a VLBB near its block boundary, a
/// fault the host did not map ...), lying in the first page of a block
/// whose first instruction is at logical `start` and absolute
/// `absolute`: its later slow paths ask the image first, which completes
/// what its bus can (docs/CHOICES.md 53d, 88). Only sites that take slow
/// paths are entered: every native instruction's would fill the table.
/// `after`: the block's instructions after it. `false` where the table
/// or storage did not take it.
pub(crate) fn enter_slow_path(
    area: &ImageArea<'_>,
    storage: &dyn Storage,
    (which, after): (u64, u16),
    (start, absolute): (u64, u64),
    guest: &Guest,
) -> bool {
    let mut insn = [0u8; 6];
    let len = usize::from(guest.insn.len).min(6);
    let at = absolute.wrapping_add(guest.at.wrapping_sub(start));
    may_complete(guest.insn.op)
        && storage
            .read(AbsoluteAddress::new(at), &mut insn[..len])
            .is_some()
        && area.insert_site(&Site::new(which, guest.at, &insn[..len]).followed_by(after))
}

/// Publishes the clock page for `cpu` and `clock` and the machine's
/// `facilities`; the image may read the clock only where it can follow
/// the time source exactly: virtual time stands still while translated
/// code runs, and host time on the TSC is the same function of the VM's
/// TSC less its offset (`link`, at the host's rate). The CPU's timer,
/// clock comparator and TOD programmable register are published either
/// way (STCKC stores the comparator without reading the clock).
pub(crate) fn publish(
    area: &ImageArea<'_>,
    link: Option<&TscLink>,
    cpu: &Cpu,
    clock: &mut Clock<Box<dyn TimeSource>>,
    facilities: Facilities,
) {
    let state = clock.state();
    let cpu_fields = ClockPage {
        cpu_timer_zero: cpu.cpu_timer_zero,
        tod_programmable: u64::from(cpu.tod_programmable),
        clock_comparator: cpu.clock_comparator,
        ..ClockPage::default()
    };
    area.set_facilities(u64::from(facilities.bits()));
    let (ns, scale) = match (clock.source.pace(), link) {
        (Some(Pace::Instructions), _) => (clock.source.now_ns(), TscScale::default()),
        // The VM's TSC ticks at the rate the host's scale was made for
        // (KVM does not scale it).
        (Some(Pace::Tsc(host)), Some(link)) if TscScale::new(link.khz, host.at) == Some(host) => {
            let guest = TscScale {
                at: host.at.wrapping_add(link.offset),
                ..host
            };
            (0, guest)
        }
        _ => {
            area.set_clock(&cpu_fields);
            return;
        }
    };
    area.set_clock(&ClockPage {
        valid: 1,
        epoch: state.epoch,
        last: state.last,
        ns,
        tsc: scale.at,
        mult: scale.mult,
        shift: u64::from(scale.shift),
        ..cpu_fields
    });
}

/// Publishes the tag of the fetch controls in effect
/// (`Shared::fetch_tag`), having emptied the pages listed executable
/// (`Shared::executable`) if an invalidation or a tag given to other
/// controls may have changed what a fetch translates to since they were
/// listed (`Blocks::fetch_epoch`).
pub(crate) fn publish_fetches(area: &ImageArea<'_>, blocks: &mut Blocks) {
    area.set_fetch_tag(blocks.spaces.now);
    if blocks.listed_epoch != blocks.fetch_epoch {
        area.clear_pages();
        blocks.listed_epoch = blocks.fetch_epoch;
    }
}

/// After the host's fetch of the target of the EXECUTE at `at`, `len`
/// bytes at `target`, succeeded under the fetch controls in effect (their
/// instruction-execution protection included): lists the target's pages
/// other than the EXECUTE's own (which the image fetches from anyway) as
/// executable under their tag, for the image's next fetch of it
/// (docs/CHOICES.md 57).
pub(crate) fn list_target(
    area: &ImageArea<'_>,
    blocks: &mut Blocks,
    at: u64,
    target: u64,
    len: u64,
) {
    publish_fetches(area, blocks);
    let last = target.wrapping_add(len.saturating_sub(1));
    for page in [target, last] {
        if page >> 12 != at >> 12 {
            area.list_page(PageList::Executable, page, blocks.spaces.now);
        }
    }
}

/// After the host's own execution of an instruction stored across a
/// page boundary in the root's space, `pages` (the logical pages of its
/// first and last byte) under the PSW key `key`: lists both as writable
/// under the fetch controls' tag and the key, for the image's next store
/// across them (docs/CHOICES.md 57e).
pub(crate) fn list_written(area: &ImageArea<'_>, blocks: &mut Blocks, pages: [u64; 2], key: u8) {
    publish_fetches(area, blocks);
    let tag = store_tag(blocks.spaces.now, key);
    for page in pages {
        area.list_page(PageList::Writable, page, tag);
    }
}

/// After the host's own store at real address `real` (STURG, STURA)
/// succeeded: lists the absolute frame it stored into for the image
/// ([`list_frame`]).
pub(crate) fn list_storable(
    area: &ImageArea<'_>,
    storage: &dyn Storage,
    blocks: &Blocks,
    cpu: &Cpu,
    real: u64,
) {
    let absolute = cpu.prefix.to_absolute(RealAddress::new(real));
    list_frame(area, storage, blocks, absolute.value());
}

/// After the host's own run of an instruction the image left to it
/// because a frame its operands reached was not listed (MVCOS:
/// `Shared::wanted`): lists those frames ([`list_frame`]), the image's
/// list emptied.
pub(crate) fn list_wanted(area: &ImageArea<'_>, storage: &dyn Storage, blocks: &Blocks) {
    for entry in area.take_wanted().into_iter().filter(|&entry| entry != 0) {
        list_frame(area, storage, blocks, entry & !0xfff);
    }
}

/// Lists the absolute frame of `absolute` in the table at
/// `protocol::STORABLE` for what its storage key allows now: storable
/// where the reference and change bits are one and it holds no
/// translated code (an access with the key 0 there then changes nothing
/// but the bytes stored), referenced where the reference bit is one (a
/// fetch then changes nothing), else nothing.
/// `KvmPaging::set_code_frame` and the key invalidations take it out
/// again (`watch::invalidated`).
pub(crate) fn list_frame(
    area: &ImageArea<'_>,
    storage: &dyn Storage,
    blocks: &Blocks,
    absolute: u64,
) {
    let Some(key) = storage.key(AbsoluteAddress::new(absolute)) else {
        return;
    };
    if key.referenced() && key.changed() && !blocks.has_code(absolute) {
        area.set_frame(absolute, FRAME_STORABLE);
    } else if key.referenced() {
        area.set_frame(absolute, FRAME_REFERENCED);
    }
}

/// Moves the stores the host MMU recorded into the C bits
/// (`ShadowPager::harvest`) and lists each frame whose C bit it set for
/// the image ([`list_frame`]: storable now, unless it holds translated
/// code), so that the image's shadow fills may map it writable
/// (docs/CHOICES.md 91).
pub(crate) fn harvest(
    pager: &mut ShadowPager<KvmPaging>,
    paging: &mut KvmPaging,
    storage: &mut dyn Storage,
    blocks: &Blocks,
) {
    let mut changed = Vec::new();
    pager.harvest_with(paging, storage, |frame| changed.push(frame.value()));
    if let Some(image) = paging.image() {
        for frame in changed {
            list_frame(&image.area(), storage, blocks, frame);
        }
    }
}

/// Takes back the last TOD value the image handed out.
pub(crate) fn take_back(area: &ImageArea<'_>, clock: &mut Clock<Box<dyn TimeSource>>) {
    let page = area.clock();
    if page.valid != 0 {
        clock.handed_out(page.last);
    }
}

/// Takes back the clock comparator, which the image may have set (SCKC
/// at or past `Shared::comparator_floor`, `exits::comparator_floor`).
pub(crate) fn take_comparator(area: &ImageArea<'_>, cpu: &mut Cpu) {
    cpu.clock_comparator = area.clock().clock_comparator;
}

/// The calls completed in the VM by mnemonic, most first.
pub(crate) fn completed(area: Option<ImageArea<'_>>) -> Vec<(&'static str, u64)> {
    let mut counts: Vec<(&str, u64)> = area
        .map(|area| area.counts())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(i, n)| TABLE.get(i).map(|info| (info.op.mnemonic(), n)))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
}

/// The `--stats` line of the calls completed in the VM.
pub(crate) fn report(completed: &[(&str, u64)]) -> String {
    let total: u64 = completed.iter().map(|&(_, n)| n).sum();
    let list: Vec<String> = completed.iter().map(|(m, n)| format!("{m} {n}")).collect();
    format!(
        "kvm: host calls completed in the VM by mnemonic: {total} ({})",
        list.join(", ")
    )
}
