//! The gate (docs/CHOICES.md 77): the image switches the shadow root
//! itself. The host publishes the warm roots by their tags and the fetch
//! controls of the jump cache's tags ([`Gate`]); the image asks the CPL0
//! #BP handler for a root by its index ([`Guest::gate`]), which loads the
//! CR3 the host wrote for that index in a table the image cannot write,
//! and the host takes the root the vCPU loaded into its mirror at its next
//! exit. With it the image completes Linux's return to a process: the
//! LPSWE in the prefix area (`__LC_RETURN_LPSWE`) the dispatcher misses
//! at, which the translator never translates ([`lpswe`]).

use zmmu_cpu::decode::decode;
use zmmu_cpu::exec::Next;
use zmmu_cpu::memory::logical_space;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, offset, Cpu};
use zmmu_mmu::access::{check, Request};
use zmmu_mmu::addr::LogicalAddress;
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::prefix::PREFIX_AREA;
use zmmu_mmu::shadow::RootTag;

use crate::call::{masks_settable, run_alone, CpuPage, Guest, Window};
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

/// The dispatcher missed at `cpu`'s PSW address: if the instruction
/// there is an LPSWE in the prefix area (Linux's return to a process),
/// completes it as the interpreter does and answers the jump cache's
/// bits under the new PSW, with the root switched through the gate, the
/// CPU page's PSW and the context's bits set; `None`, having changed
/// nothing, when the host must run it:
/// - the fetch as the interpreter checks it (PoP ch. 3: DAT, protection,
///   prefixing, addressing) from the prefix area, in one page, with the
///   PSW key 0, no PER, not the access-register mode, a valid PSW; its
///   bytes read through the root (the PSW's space and key: a mapping
///   there recorded the frame's reference);
/// - its operand fetched through the root as the interpreter fetches it
///   (an exception, a fault the host does not map: the host's);
/// - the new PSW valid, no wait, no PER, an even address (PoP ch. 4
///   "Early Exception Recognition": the host's), changed only in the
///   bits blocks are made for, the condition code and the I/O and
///   external masks, those only below the host's mask floor (nothing may
///   become pending: `Shared::mask_floor`);
/// - its root and fetch controls published ([`published`]), the budget
///   positive, the gate's answer yes.
///
/// `context_bits` is the translator's context's PSW bits (the dispatcher
/// reads them at each lookup).
pub fn lpswe(
    cpu: &mut Cpu,
    shared: &mut Shared,
    page: &mut CpuPage,
    gate: &Gate,
    frames: &[u64],
    context_bits: &mut u64,
    guest: &mut impl Guest,
) -> Option<u64> {
    let psw = cpu.psw;
    let at = psw.addr;
    if !psw.is_valid()
        || psw.key() != 0
        || psw.mask & mask::PER != 0
        || (psw.dat() && psw.asc() == 1)
        || at & 0xfff > 0x1000 - 4
        || (shared.budget as i64) <= 0
        || shared.absolute_size == 0
    {
        return None;
    }
    let facilities = Facilities::from_bits_truncate(shared.facilities as u32);
    let controls = Controls::from_registers(&cpu.cr, cpu.prefix, facilities);
    let request = Request {
        address: LogicalAddress::new(at),
        space: logical_space(cpu, 0),
        kind: AccessKind::InstructionFetch,
        key: 0,
    };
    let window = Window::new(&*guest, shared.absolute_size);
    let absolute = check(&window, &controls, request).ok()?.absolute.value();
    let prefix = cpu.prefix.value();
    if !(prefix..prefix + PREFIX_AREA).contains(&absolute) {
        return None;
    }
    // The bytes through the root, whose mapping of the page recorded its
    // reference (a change of the frame's key drops it): the fetch's
    // reference is recorded already, as the interpreter's fetch records it.
    let mut bytes = [0u8; 4];
    if !guest.load(at, &mut bytes) {
        return None;
    }
    let insn = decode(&bytes)
        .ok()
        .filter(|insn| insn.op == Opcode::LPSWE)?;
    let before = cpu.clone();
    let (result, now) = run_alone(cpu, shared, frames, guest, insn, at);
    let new = cpu.psw;
    let changed = (new.mask ^ psw.mask) & !(mask::CC | INTERRUPTION_MASKS | KEY_BITS);
    let masks = (new.mask ^ psw.mask) & INTERRUPTION_MASKS != 0;
    let mut rest = cpu.clone();
    rest.psw = before.psw;
    let switched = result == Some(Next::NewPsw)
        && rest == before
        && new.is_valid()
        && new.mask & (mask::WAIT | mask::PER) == 0
        && new.addr & 1 == 0
        && changed == 0
        && (!masks || masks_settable(shared.mask_floor, now));
    let target = switched
        .then(|| published(cpu, facilities, gate))
        .flatten()
        .filter(|&(index, _)| guest.gate(index));
    let Some((_, bits)) = target else {
        *cpu = before;
        return None;
    };
    page[offset::PSW_MASK / 8] = new.mask;
    page[offset::PSW_ADDR / 8] = new.addr;
    *context_bits = bits;
    shared.fetch_tag = bits & JUMP_TAG;
    shared.charged = 1;
    shared.lpswes += 1;
    Some(bits)
}
