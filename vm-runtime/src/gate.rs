//! The gate (docs/CHOICES.md 77): the image switches the shadow root
//! itself. The host publishes the warm roots by their tags and the fetch
//! controls of the jump cache's tags ([`Gate`]); the image asks the CPL0
//! #BP handler for a root by its index ([`Guest::gate`]), which loads the
//! CR3 the host wrote for that index in a table the image cannot write,
//! and the host takes the root the vCPU loaded into its mirror at its next
//! exit. With it the image completes Linux's return to a process: the
//! LPSWE in the prefix area (`__LC_RETURN_LPSWE`) the dispatcher misses
//! at, which the translator never translates ([`crate::lowcore`]), and Linux's
//! system call, the SVC whose interruption `crate::call` delivers
//! (`may_go_on`, `switch`; docs/CHOICES.md 80).

use zmmu_cpu::memory::logical_space;
use zmmu_cpu::state::{mask, offset, Cpu, Psw};
use zmmu_mmu::access::Request;
use zmmu_mmu::addr::LogicalAddress;
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::shadow::RootTag;

use crate::guest::{CpuPage, Guest};
use crate::protocol::{controls_words, root_words, Gate, Shared, JUMP_TAG};

/// The PSW bits translated code depends on (the kvm engine's block key):
/// DAT, the address-space control, the problem state, the key and the
/// addressing mode.
pub const KEY_BITS: u64 = mask::DAT | mask::ASC | mask::PROBLEM | mask::KEY | mask::EA | mask::BA;

/// The I/O and external masks (PoP "Program-Status Word"), which only
/// decide which interruptions are taken.
pub const INTERRUPTION_MASKS: u64 = mask::IO | mask::EXT;

/// The part of `controls` that an instruction fetch under `cpu`'s PSW
/// translates with (PoP ch. 3, "Address Spaces": instructions are fetched
/// from the primary space, or the home space in the home-space mode; with
/// DAT off no ASCE is used): the other ASCEs made equal, so that the
/// kernel's code keeps one tag whatever process's ASCE is the secondary
/// one.
pub fn fetch_controls(cpu: &Cpu, controls: Controls) -> Controls {
    let unused = Controls::default();
    let home = cpu.psw.asc() == 3;
    Controls {
        cr1: if cpu.psw.dat() && !home {
            controls.cr1
        } else {
            unused.cr1
        },
        cr7: unused.cr7,
        cr13: if cpu.psw.dat() && home {
            controls.cr13
        } else {
            unused.cr13
        },
        ..controls
    }
}

/// The tag of the shadow root the accesses of translated code under
/// `cpu`'s PSW and `controls` are made through (the PSW's address space
/// and key, PoP ch. 3 "Address Spaces"); `None` in the access-register
/// mode, where blocks make no direct accesses.
pub fn root_tag(cpu: &Cpu, controls: &Controls) -> Option<RootTag> {
    let request = Request {
        address: LogicalAddress::new(0),
        space: logical_space(cpu, 0),
        kind: AccessKind::Read,
        key: cpu.psw.key(),
    };
    RootTag::for_request(controls, &request).ok()
}

/// Where the image goes on after a switch: the index of the root in
/// [`Gate::roots`] and the jump cache's bits (the PSW's [`KEY_BITS`] and
/// the tag of its fetch controls in [`Gate::spaces`]) under `cpu`'s PSW;
/// `None` when the host publishes neither.
pub fn published(cpu: &Cpu, facilities: Facilities, gate: &Gate) -> Option<(u64, u64)> {
    let controls = Controls::from_registers(&cpu.cr, cpu.prefix, facilities);
    let root = root_words(&root_tag(cpu, &controls)?);
    let index = gate.roots.iter().position(|words| *words == root)?;
    let fetch = controls_words(&fetch_controls(cpu, controls));
    let spaces = gate.spaces.get(..gate.spaces_len as usize)?;
    let tag = spaces.iter().position(|words| *words == fetch)?;
    Some((index as u64, cpu.psw.mask & KEY_BITS | tag as u64))
}

/// Whether the image may change the I/O and external masks (STOSM,
/// STNSM, SSM; PoP "Program-Status Word"): the host published a floor
/// (`Shared::mask_floor`: with both masks on nothing could be taken and
/// no timer comes due before the batch's deadline) and the TOD clock
/// `now` is below it. The host, after the same change, would find
/// nothing to take and keep the deadline: the chain goes on, as here
/// (docs/CHOICES.md 46c, 57g).
pub(crate) fn masks_settable(floor: u64, now: Option<u64>) -> bool {
    floor != 0 && now.is_some_and(|now| now < floor)
}

/// Whether translated code may go on under `new` after a PSW with the
/// mask `old` (an LPSWE, an interruption delivered) as the host's path
/// would: `new` valid, no wait, no PER, an even address (PoP ch. 4
/// "Early Exception Recognition": the host's), changed only in the bits
/// blocks are made for, the condition code and the I/O and external
/// masks, a mask turned on only below the host's mask floor (nothing may
/// become pending: `Shared::mask_floor`; turned off, nothing can be
/// taken) at the TOD clock `now`.
pub(crate) fn may_go_on(old: u64, new: &Psw, floor: u64, now: Option<u64>) -> bool {
    let changed = (new.mask ^ old) & !(mask::CC | INTERRUPTION_MASKS | KEY_BITS);
    let raised = new.mask & !old & INTERRUPTION_MASKS != 0;
    new.is_valid()
        && new.mask & (mask::WAIT | mask::PER) == 0
        && new.addr & 1 == 0
        && changed == 0
        && (!raised || masks_settable(floor, now))
}

/// Switches to `cpu`'s new PSW: its root and fetch controls published
/// ([`published`]) and the gate's answer yes, then the CPU page's PSW,
/// the context's bits and the fetch tag set; the context's bits, or
/// `None` having changed nothing.
pub(crate) fn switch(
    cpu: &Cpu,
    shared: &mut Shared,
    page: &mut CpuPage,
    gate: &Gate,
    context_bits: &mut u64,
    guest: &mut impl Guest,
) -> Option<u64> {
    let facilities = Facilities::from_bits_truncate(shared.facilities as u32);
    let (_, bits) = published(cpu, facilities, gate).filter(|&(index, _)| guest.gate(index))?;
    page[offset::PSW_MASK / 8] = cpu.psw.mask;
    page[offset::PSW_ADDR / 8] = cpu.psw.addr;
    *context_bits = bits;
    shared.fetch_tag = bits & JUMP_TAG;
    Some(bits)
}
