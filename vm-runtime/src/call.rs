//! A host call completed in the VM: the instruction at a [`Site`] runs
//! with the interpreter's semantics (`zmmu_cpu::exec::execute`) against a
//! bus that offers the clock, the machine's facilities and one deferred
//! store, made through the active shadow root (the x86 MMU) once the
//! instruction is done, or at a real address through the absolute window
//! into a frame the host listed ([`STORABLE`](crate::protocol::STORABLE):
//! STURG, STURA); LRA reads the DAT tables in absolute storage through
//! that window, and MVCOS walks them for its operands' address spaces,
//! reads its source and stores its destination there in frames the host
//! listed. An SVC's interruption is delivered with the interpreter's
//! `Cpu::deliver` into lowcore frames the host listed storable, and the
//! chain goes on at the dispatcher under the new PSW through the gate
//! ([`DISPATCH`], docs/CHOICES.md 80); so is the program interruption of
//! an access exception at the page where the host found the call's
//! access to end in one (Linux's demand paging and copy-on-write,
//! recognized on the software path: [`Shared::fault_page`],
//! docs/CHOICES.md 82). Anything else the instruction would need (a
//! fetch, a second store, storage keys, the machine, another program
//! exception to deliver, a change that ends the block) makes the image
//! answer [`HOST`], having changed nothing: the host then runs it exactly
//! as before, and delivers its interruption if it has one.

use zmmu_cpu::clock::{Clock, ClockState, TimeSource, TscScale};
use zmmu_cpu::decode::{decode, Insn};
use zmmu_cpu::exec::{execute, Next};
use zmmu_cpu::memory::{logical_space, Access, AddressType, Memory, System};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, offset, Cpu, Psw};
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::{AbsoluteAddress, AddressingMode, RealAddress};
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::PendingFlush;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::lap::is_low_address;
use zmmu_mmu::range::{self, Walked};
use zmmu_mmu::space::AddressSpace;
use zmmu_mmu::storage::Storage;

use crate::guest::Window;
pub use crate::guest::{CpuPage, Guest};
use crate::protocol::{
    cpu_page, find_site, frame_state, page_entry, store_tag, ClockPage, Gate, Shared, Site,
    COMPLETED, DISPATCH, FAULT_IN_CALL, FRAME_REFERENCED, FRAME_STORABLE, FRAME_UNLISTED, HOST,
    LISTED_PAGES, REFUSALS, WANTED_FRAMES,
};

/// Whether the host enters a site for `op` (an instruction translated
/// code calls the host for): every instruction the decoder knows. Whether
/// the image completes one is decided at each call by what its execution
/// needs: registers, the FPC, the clock, operand fetches and stores
/// making one range of at most [`STORE_MAX`] bytes in one page in the
/// PSW's space complete (the BFP and vector register instructions, LOC*R,
/// EFPC and SFPC, STORE CLOCK, STPT, STCTG, VSTM, STAM, LAM ...), LRA's
/// walk of the DAT tables, a real-address store into a listed frame
/// (STURG, STURA) and MVCOS between listed frames (`moves_explicit`)
/// through the absolute window; a change of other state
/// (the PSW, control registers, timers), a branch, storage keys or the
/// machine leave the site to the host ([`Site::refused`], or
/// [`HOST`] for the one call where the result was not `Next::Seq`).
/// An instruction that ends a block (`Opcode::ends_block`: STCTG, a
/// branch not taken) goes on to the sequential instruction in the
/// translated block, as after the host's answer that the chain goes on
/// (docs/CHOICES.md 34a, 50a).
pub fn may_complete(op: Opcode) -> bool {
    op != Opcode::Unknown
}

/// The longest store the image makes: one range of at most a page (in
/// one page: see `storable`), made of one or more contiguous writes of the
/// instruction: VSTM of 16 vector registers, STCTG of 16 control
/// registers, an MVCLE's CPU-determined amount (4 KiB) into a page.
pub const STORE_MAX: usize = 4096;

/// The time source of the clock page: its nanoseconds plus those of its
/// TSC scale at the TSC read when the call began (standing still when the
/// scale's `mult` is 0).
#[derive(Clone, Copy, Debug)]
struct PageTime {
    ns: u64,
    scale: TscScale,
    tsc: u64,
}

impl TimeSource for PageTime {
    fn now_ns(&mut self) -> u64 {
        self.ns.wrapping_add(self.scale.ns(self.tsc))
    }

    fn wait_until_ns(&mut self, _: u64) {}
}

/// The TOD clock of a call, where the clock page holds it: the page's
/// until the instruction first reads it, then running from the TSC read
/// then ([`Bus::tod_clock`]); an instruction that reads no clock reads no
/// TSC.
#[derive(Debug)]
enum CallClock {
    /// The clock page does not hold the clock.
    Absent,
    /// Not read yet: the clock page's time source (its TSC to be read)
    /// and state.
    Unread(PageTime, ClockState),
    /// Read: at the TSC of the first reading.
    Read(Clock<PageTime>),
}

impl CallClock {
    /// The clock of the clock page `page`, not read yet.
    fn new(page: &ClockPage) -> Self {
        if page.valid == 0 {
            return CallClock::Absent;
        }
        let time = PageTime {
            ns: page.ns,
            scale: TscScale {
                at: page.tsc,
                mult: page.mult,
                shift: page.shift as u32,
            },
            tsc: 0,
        };
        let state = ClockState {
            epoch: page.epoch,
            last: page.last,
        };
        CallClock::Unread(time, state)
    }

    /// The last TOD clock value handed out, where the clock was read.
    fn last(&self) -> Option<u64> {
        match self {
            CallClock::Read(clock) => Some(clock.state().last),
            _ => None,
        }
    }
}

/// Room for what a call keeps until its instruction completed, lent by
/// the caller to every call (the image's lies in its bss): [`STORE_MAX`]
/// bytes for the store kept, as many for the store in a named space
/// (MVCOS's) and for the bytes an access check fetches and drops, and
/// an EXECUTE's copy of [`Shared::executable`]. A call reads of it only
/// what it wrote, so none of it is cleared or moved at a call.
#[derive(Debug)]
pub struct Scratch {
    store: [u8; STORE_MAX],
    moved: [u8; STORE_MAX],
    dropped: [u8; STORE_MAX],
    executable: [u64; LISTED_PAGES],
}

impl Scratch {
    /// Room for every call.
    pub const fn new() -> Self {
        Self {
            store: [0; STORE_MAX],
            moved: [0; STORE_MAX],
            dropped: [0; STORE_MAX],
            executable: [0; LISTED_PAGES],
        }
    }

    fn room(&mut self) -> Room<'_> {
        Room {
            store: &mut self.store,
            moved: &mut self.moved,
            dropped: &mut self.dropped,
            executable: &mut self.executable,
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// The room a [`Bus`] keeps bytes in ([`Scratch`]'s, or none: a store or
/// an access check's fetch longer than its room is refused), and its copy
/// of [`Shared::executable`] for an EXECUTE ([`Fetches::Pages`]).
#[derive(Debug, Default)]
struct Room<'s> {
    store: &'s mut [u8],
    moved: &'s mut [u8],
    dropped: &'s mut [u8],
    executable: &'s mut [u64],
}

/// The bus of one call: operand fetches through the active root, the
/// clock (where the page holds it), the facilities, room for one store of
/// up to [`STORE_MAX`] bytes, and for LRA absolute storage read through
/// the absolute window (its [`Storage`]).
struct Bus<'g, G> {
    guest: &'g mut G,
    amode: AddressingMode,
    clock: CallClock,
    facilities: Facilities,
    /// The store kept (address, length): the first bytes of `room.store`.
    store: Option<(u64, usize)>,
    /// Where the bytes kept go.
    room: Room<'g>,
    /// The range an access check for a store covered (address, length):
    /// the store made must cover it, so that every byte checked is
    /// accessed through the root.
    checked: Option<(u64, u64)>,
    /// Where instruction fetches (an EXECUTE's target) may go through the
    /// active root too ([`fetches_through_root`]).
    fetches: Fetches,
    /// Interlocked updates are made (COMPARE AND SWAP and its forms, which
    /// change nothing else than registers and the condition code after
    /// it: [`interlocks`]).
    interlocks: bool,
    /// An interlocked update stored: the instruction must complete.
    updated: bool,
    /// The operands read from storage: the store an instruction makes
    /// may depend on what it read (an overlapping move), so it is split
    /// across pages only where it does not ([`rerun_stores_the_same`]).
    reads: Reads,
    /// The instruction fetch an EXECUTE made of its target, first piece
    /// first ([`Fetched`]).
    fetched: Option<Fetched>,
    /// An instruction fetch was refused only because its page is not
    /// (yet) one the host found executable ([`Fetches::Pages`]): the host
    /// may list it at this call, so the site stays the image's.
    unlisted: bool,
    /// An operand lay out of the root's reach at this call (it wraps in
    /// the addressing mode, or lies at or above 2^47): its address comes
    /// from registers, so the site stays the image's.
    beyond: bool,
    /// The bytes of absolute storage the window reaches
    /// ([`Shared::absolute_size`]).
    absolute_size: u64,
    /// Absolute storage is read through the window (LRA, LRAY, LRAG:
    /// [`walks`]); for any other instruction it is refused.
    window: bool,
    /// A store at a real address may be kept (STURG, STURA:
    /// [`stores_real`]).
    real_stores: bool,
    /// The store kept is at a real address.
    real: bool,
    /// Accesses in the address space and with the key the instruction
    /// names are walked through the absolute window (MVCOS:
    /// [`moves_explicit`]); for any other instruction they are refused.
    explicit: bool,
    /// The table at `protocol::STORABLE`: what each frame allows.
    frames: &'g [u64],
    /// The store of those accesses, kept to be made through the window.
    moved: Moved,
    /// Frames an access in a named space would have had to record a
    /// reference or change in ([`Shared::wanted`]).
    wanted: [u64; WANTED_FRAMES],
    /// An access in a named space was left to the host at this call (a
    /// frame in `wanted`, a key other than 0, the access-register mode):
    /// the site stays the image's.
    unmet: bool,
    /// The lowcore is accessed through the absolute window (an
    /// interruption's delivery, `Cpu::deliver`: [`Bus::lowcore`]).
    lowcore: bool,
    /// The logical page at which the host found this call's instruction's
    /// access to end in an s390x exception ([`Shared::fault_page`]): the
    /// access exceptions of its operands are recognized on the software
    /// path ([`Bus::probe`]).
    fault: Option<u64>,
    /// The access exception [`Bus::probe`] recognized at that page.
    raised: Option<Exception>,
    /// The instruction needed what this bus does not offer.
    refused: bool,
}

/// The most pieces [`Moved`] keeps: a 4096-byte operand wrapping at the
/// top of the addressing mode, each part split at a page boundary and at
/// address 2048 (`zmmu_mmu::range::pieces`).
const MOVED_PIECES: usize = 4;

/// The store of an access in a named address space (MVCOS's first
/// operand), kept until the instruction completed: its bytes in order in
/// `Room::moved`, and the absolute address and length of each piece, in
/// frames listed storable.
#[derive(Clone, Copy, Debug)]
struct Moved {
    len: usize,
    pieces: [(u64, usize); MOVED_PIECES],
    count: usize,
}

impl Moved {
    const EMPTY: Self = Self {
        len: 0,
        pieces: [(0, 0); MOVED_PIECES],
        count: 0,
    };

    /// Keeps `data` for absolute `at` in `room`; `None` when there is no
    /// room.
    fn keep(&mut self, room: &mut [u8], at: u64, data: &[u8]) -> Option<()> {
        let end = self
            .len
            .checked_add(data.len())
            .filter(|&e| e <= room.len())?;
        *self.pieces.get_mut(self.count)? = (at, data.len());
        room[self.len..end].copy_from_slice(data);
        (self.len, self.count) = (end, self.count + 1);
        Some(())
    }

    /// The pieces kept in `room`: absolute address and bytes.
    fn pieces<'a>(&'a self, room: &'a [u8]) -> impl Iterator<Item = (u64, &'a [u8])> {
        let mut from = 0;
        self.pieces[..self.count].iter().map(move |&(at, len)| {
            from += len;
            (at, &room[from - len..from])
        })
    }
}

impl<'g, G: Guest> Bus<'g, G> {
    /// The bus of a call of `op` at `at` under `cpu` (the clock of the
    /// clock page, the facilities, the window and the table of storable
    /// frames for the instructions that use them), keeping bytes in
    /// `room`. Only what `op` may use is prepared: instruction fetches
    /// for EXECUTE ([`executes`]).
    fn new(
        guest: &'g mut G,
        room: Room<'g>,
        cpu: &Cpu,
        shared: &Shared,
        frames: &'g [u64],
        op: Opcode,
        at: u64,
    ) -> Self {
        let fetches = match executes(op) {
            true => fetches_through_root(cpu, shared, at),
            false => Fetches::Nowhere,
        };
        // The pages found executable, copied into the room (no room: no
        // fetch).
        let fetches = match (fetches, room.executable.get_mut(..LISTED_PAGES)) {
            (Fetches::Pages { .. }, Some(copy)) => {
                copy.copy_from_slice(&shared.executable);
                fetches
            }
            (Fetches::Pages { .. }, None) => Fetches::Nowhere,
            _ => fetches,
        };
        Self {
            guest,
            amode: cpu.psw.amode(),
            clock: CallClock::new(&shared.clock),
            facilities: Facilities::from_bits_truncate(shared.facilities as u32),
            store: None,
            room,
            checked: None,
            fetches,
            interlocks: interlocks(op),
            updated: false,
            reads: Reads::Nothing,
            fetched: None,
            unlisted: false,
            beyond: false,
            absolute_size: shared.absolute_size,
            window: walks(op) && shared.absolute_size != 0,
            real_stores: stores_real(op) && shared.absolute_size != 0,
            real: false,
            explicit: moves_explicit(op) && shared.absolute_size != 0,
            frames,
            moved: Moved::EMPTY,
            wanted: [0; WANTED_FRAMES],
            unmet: false,
            lowcore: false,
            fault: None,
            raised: None,
            refused: false,
        }
    }
}

/// Runs `insn` at `at` with the interpreter's semantics against the bus
/// of a call, for an instruction that may only fetch (the gate's LPSWE):
/// its result when it completed and needed nothing the bus refused and
/// stored nothing (`None` otherwise: the host's; the bus has no room, so
/// a store is refused), and the TOD clock now (when the clock page holds
/// it).
pub(crate) fn run_alone(
    cpu: &mut Cpu,
    shared: &Shared,
    frames: &[u64],
    guest: &mut impl Guest,
    insn: Insn,
    at: u64,
) -> (Option<Next>, Option<u64>) {
    let mut bus = Bus::new(guest, Room::default(), cpu, shared, frames, insn.op, at);
    let result = execute(cpu, &mut bus, insn, at);
    let clean = !bus.refused
        && !bus.unmet
        && !bus.updated
        && bus.store.is_none()
        && bus.moved.count == 0
        && !bus.guest.take_transient();
    let now = bus.tod_clock().map(Clock::peek_tod);
    (result.ok().filter(|_| clean), now)
}

impl<G: Guest> Bus<'_, G> {
    /// The TOD clock ([`CallClock`]): the clock page's, at the TSC read
    /// when the call first reads it; `None` where the page does not hold
    /// it.
    fn tod_clock(&mut self) -> Option<&mut Clock<PageTime>> {
        if let CallClock::Unread(time, state) = self.clock {
            let time = PageTime {
                tsc: self.guest.tsc(),
                ..time
            };
            self.clock = CallClock::Read(Clock::with_state(time, state));
        }
        match &mut self.clock {
            CallClock::Read(clock) => Some(clock),
            _ => None,
        }
    }
}

impl<G> Bus<'_, G> {
    fn refuse(&mut self) -> Exception {
        self.refused = true;
        Exception::new(Code::OPERATION)
    }

    /// An access to the lowcore of an interruption's delivery (PoP ch. 6:
    /// absolute, not subject to protection) of `len` bytes at absolute
    /// `addr`: in one frame below [`Shared::absolute_size`], listed in the
    /// table at `protocol::STORABLE` as storable for a store, at least
    /// referenced for a fetch (the access then records nothing new), and
    /// a fetch not of bytes kept to be stored (which it would read back).
    fn lowcore(&mut self, addr: u64, len: usize, store: bool) -> Result<(), Exception> {
        let last = addr.wrapping_add(len as u64).wrapping_sub(1);
        let state = frame_state(self.frames, addr);
        let kept = |&(at, n): &(u64, usize)| addr < at + n as u64 && at <= last;
        let allowed = self.lowcore
            && len != 0
            && last >= addr
            && last < self.absolute_size
            && addr >> 12 == last >> 12
            && if store {
                state == FRAME_STORABLE
            } else {
                state != FRAME_UNLISTED && !self.moved.pieces[..self.moved.count].iter().any(kept)
            };
        if allowed {
            Ok(())
        } else {
            Err(self.refuse())
        }
    }

    /// Leaves the call, not the site, to the host ([`Bus::unmet`]).
    fn decline(&mut self) -> Exception {
        self.unmet = true;
        Exception::new(Code::OPERATION)
    }
}

impl<G: Guest> Bus<'_, G> {
    /// An access in the address space and with the access key the
    /// instruction names (MVCOS's operand-access controls, PoP "MOVE WITH
    /// OPTIONAL SPECIFICATIONS"): `run` on zmmu_mmu's software access path
    /// (`range`) with every page walked afresh ([`Walked`]) under the
    /// CPU's controls, as the interpreter's bus translates it (low-address
    /// and DAT protection, the translation exceptions, prefixing,
    /// addressing: each the exception the host then delivers), with this
    /// bus as absolute storage (the window; the table at
    /// `protocol::STORABLE` for the reference and change bits). Only with
    /// the access key 0, which key-controlled protection lets fetch and
    /// store anywhere, so that the frame's access-control and
    /// fetch-protection bits, which the image does not have, decide
    /// nothing; not in the access-register mode (the host's ART).
    fn in_space<T>(
        &mut self,
        acc: &Access<'_>,
        run: impl FnOnce(&mut Walked<'_, Self>) -> Result<T, Fault>,
    ) -> Result<T, Exception> {
        let AddressType::Explicit { space, key } = acc.space else {
            return Err(self.refuse());
        };
        if !self.explicit {
            return Err(self.refuse());
        }
        if key != 0 || matches!(space, AddressSpace::AccessRegister { .. }) {
            return Err(self.decline());
        }
        let result = self.walked(acc.cpu, space, run);
        if let Err(&exception) = result.as_ref() {
            // The interpreter's exception for this access: the image may
            // deliver it (`host_call`).
            if !self.unmet && from_tables(exception) {
                self.raised = Some(exception);
            }
        }
        result
    }

    /// `run` on zmmu_mmu's software access path (`range`) in `space` with
    /// the access key 0, every page walked afresh ([`Walked`]) under
    /// `cpu`'s controls, with this bus as absolute storage: a program
    /// exception is the instruction's, a walk the path cannot make (an
    /// access-register translation) the host's ([`Bus::decline`]).
    fn walked<T>(
        &mut self,
        cpu: &Cpu,
        space: AddressSpace,
        run: impl FnOnce(&mut Walked<'_, Self>) -> Result<T, Fault>,
    ) -> Result<T, Exception> {
        let controls = Controls::from_registers(&cpu.cr, cpu.prefix, self.facilities);
        let mut walked = Walked {
            storage: self,
            controls: &controls,
            space,
            key: 0,
        };
        run(&mut walked).map_err(|fault| match fault {
            Fault::Program(exception) => exception,
            Fault::ArtUnsupported { .. } => self.decline(),
        })
    }

    /// In a call whose instruction's access the host found to end in an
    /// s390x exception at logical page [`Bus::fault`]: the access
    /// exceptions of an operand access of `len` bytes at `addr` in the
    /// PSW's space, recognized on the software path before the access
    /// is made, page by page, first page first, as the interpreter's
    /// access recognizes them (PoP ch. 6 "Recognition of Access
    /// Exceptions"; the PSW key 0, the only one `host_call` walks with:
    /// key-controlled protection then allows every access). Its
    /// exception where it is the fault page's, which the instruction
    /// then ends in ([`Bus::raised`]); one at another page, or an
    /// operand wrapping in the addressing mode, leaves the call to the
    /// host ([`Bus::decline`]).
    fn probe(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        let (Some(page), AddressType::Logical { base }) = (self.fault, acc.space) else {
            return Ok(());
        };
        let last = addr.wrapping_add(len.wrapping_sub(1));
        if len == 0 {
            return Ok(());
        }
        if last < addr || last > self.amode.mask() {
            return Err(self.decline());
        }
        let (kind, space) = (acc.kind, logical_space(acc.cpu, base));
        let Err(exception) = self.walked(acc.cpu, space, |w| range::check(w, kind, addr, len))
        else {
            return Ok(());
        };
        // The bytes before the fault page, which the check recognized
        // first, met no exception: the fault page's is the operand's.
        let before = page.saturating_sub(addr).min(len);
        let at_page = !self.unmet
            && from_tables(exception)
            && addr <= page | 0xfff
            && page <= last
            && (before == 0
                || self
                    .walked(acc.cpu, space, |w| range::check(w, kind, addr, before))
                    .is_ok());
        if !at_page {
            return Err(self.decline());
        }
        self.raised = Some(exception);
        Err(exception)
    }
}

impl<G: Guest> Memory for Bus<'_, G> {
    /// An operand fetch in the PSW's address space with the PSW key (the
    /// active root's), or an instruction fetch where that space is the
    /// one instructions come from, page by page, that does not wrap in
    /// the addressing mode and does not overlap the store kept aside
    /// (which the instruction would read back).
    ///
    /// An access in a named space is [`Bus::in_space`]'s, before its
    /// store (which it would read back).
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        if matches!(acc.space, AddressType::Explicit { .. }) {
            if self.moved.len != 0 {
                return Err(self.refuse());
            }
            return self.in_space(acc, |walked| range::read(walked, acc.kind, addr, buf));
        }
        if acc.space == AddressType::Absolute {
            self.lowcore(addr, buf.len(), false)?;
            self.guest.read_absolute(addr, buf);
            return Ok(());
        }
        let fetch = acc.kind == AccessKind::InstructionFetch;
        self.probe(acc, addr, buf.len() as u64)?;
        let allowed = fetch && self.fetches.allow(addr, buf.len(), self.room.executable);
        self.unlisted |= fetch && !allowed && matches!(self.fetches, Fetches::Pages { .. });
        let kind = acc.kind == AccessKind::Read || allowed;
        let operand = kind && matches!(acc.space, AddressType::Logical { .. });
        let len = buf.len() as u64;
        let last = addr.wrapping_add(len.wrapping_sub(1));
        let overlaps = self
            .store
            .is_some_and(|(at, n)| addr < at + n as u64 && at <= last);
        let beyond = last < addr || last > self.amode.mask() || last >= 1 << 47;
        self.beyond |= operand && len != 0 && beyond;
        if !operand || len == 0 || beyond || overlaps {
            return Err(self.refuse());
        }
        let mut at = addr;
        for chunk in buf.chunks_mut(4096) {
            let in_page = (4096 - (at & 0xfff)) as usize;
            let (head, tail) = chunk.split_at_mut(in_page.min(chunk.len()));
            for (part, from) in [(head, at), (tail, at + in_page as u64)] {
                if !part.is_empty() && !self.guest.load(from, part) {
                    return Err(self.refuse());
                }
            }
            at += chunk.len() as u64;
        }
        if fetch {
            self.fetched = Some(self.fetched.map_or_else(
                || Fetched::first(addr, buf),
                |first| Fetched {
                    len: first.len + buf.len(),
                    ..first
                },
            ));
        } else {
            self.reads = self.reads.and(addr, buf.len());
        }
        Ok(())
    }

    /// Keeps the store an instruction makes, in the PSW's address space
    /// with the PSW key (the active root's): one write, or consecutive
    /// writes each starting where the last ended (STCTG's registers one
    /// by one), of at most [`STORE_MAX`] bytes in all.
    /// A store at a real address (STURG, STURA) is kept alone, to be made
    /// through the absolute window ([`real_store`]); one in a named space
    /// is [`Bus::in_space`]'s ([`Moved`]).
    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        if matches!(acc.space, AddressType::Explicit { .. }) {
            return self.in_space(acc, |walked| range::write(walked, addr, data));
        }
        if acc.space == AddressType::Absolute {
            self.lowcore(addr, data.len(), true)?;
            let kept = self.moved.keep(self.room.moved, addr, data);
            return kept.ok_or_else(|| self.refuse());
        }
        self.probe(acc, addr, data.len() as u64)?;
        let real = acc.space == AddressType::Real && self.real_stores && self.store.is_none();
        if !(real || matches!(acc.space, AddressType::Logical { .. })) || self.real {
            return Err(self.refuse());
        }
        self.real = real;
        if data.is_empty() {
            return Ok(());
        }
        let (at, len) = self.store.get_or_insert((addr, 0));
        let end = *len + data.len();
        if at.wrapping_add(*len as u64) != addr || end > self.room.store.len() {
            return Err(self.refuse());
        }
        self.room.store[*len..end].copy_from_slice(data);
        *len = end;
        Ok(())
    }

    /// The access exceptions of a whole operand before any of it is
    /// accessed (PoP ch. 6, "Recognition of Access Exceptions"): a fetch
    /// is made through the root (its bytes dropped); a store's range is
    /// remembered and must lie within the store made, whose fault then
    /// leaves the instruction to the host having changed nothing.
    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        if matches!(acc.space, AddressType::Explicit { .. }) {
            return self.in_space(acc, |walked| range::check(walked, acc.kind, addr, len));
        }
        self.probe(acc, addr, len)?;
        match acc.kind {
            AccessKind::Read => {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > self.room.dropped.len() {
                    return Err(self.refuse());
                }
                let dropped = core::mem::take(&mut self.room.dropped);
                let read = self.read(acc, addr, &mut dropped[..len]);
                self.room.dropped = dropped;
                read
            }
            AccessKind::Write if self.checked.is_none() => {
                self.checked = Some((addr, len));
                Ok(())
            }
            _ => Err(self.refuse()),
        }
    }

    fn translate(&mut self, _: &Access<'_>, _: u64) -> Result<AbsoluteAddress, Exception> {
        Err(self.refuse())
    }

    /// An interlocked update (PoP ch. 5, "Interlocked Update") in the PSW's
    /// address space with the PSW key, made at once through the root
    /// ([`Guest::compare_swap`]), where the root can store the operand
    /// (`storable`) and nothing else was accessed: the first guess is a
    /// plain load, each failed swap gives the next.
    fn interlocked(
        &mut self,
        acc: &Access<'_>,
        addr: u64,
        len: usize,
        update: &mut dyn FnMut(u128) -> Option<u128>,
    ) -> Result<u128, Exception> {
        self.probe(acc, addr, len as u64)?;
        let alone = self.store.is_none() && self.checked.is_none() && !self.updated;
        if !self.interlocks
            || !alone
            || !matches!(acc.space, AddressType::Logical { .. })
            || !matches!(len, 4 | 8 | 16)
            || addr % len as u64 != 0
            || !storable(addr, len, self.amode)
        {
            return Err(self.refuse());
        }
        let mut bytes = [0u8; 16];
        if !self.guest.load(addr, &mut bytes[16 - len..]) {
            return Err(self.refuse());
        }
        let mut old = u128::from_be_bytes(bytes);
        loop {
            let new = update(old).unwrap_or(old);
            match self.guest.compare_swap(addr, len, old, new) {
                None => return Err(self.refuse()),
                Some(found) if found == old => {
                    self.updated = new != old;
                    return Ok(old);
                }
                Some(found) => old = found,
            }
        }
    }

    fn facilities(&self) -> Facilities {
        self.facilities
    }

    /// Absolute storage read through the window, for LRA only.
    fn storage(&mut self) -> &mut dyn Storage {
        self.refused |= !self.window;
        self
    }

    fn invalidate(&mut self, _: PendingFlush) {
        self.refused = true;
    }

    /// LRA's program exceptions (addressing, translation specification,
    /// special operation) are the host's to deliver at this call; the
    /// next may give a condition code.
    fn fault(&mut self, fault: Fault) -> Exception {
        match fault {
            Fault::Program(exception) if self.window => exception,
            _ => self.refuse(),
        }
    }
}

/// Absolute storage as LRA's walk reads it (PoP ch. 3 "Translation
/// Tables": the tables lie in absolute storage): through the absolute
/// window, below [`Shared::absolute_size`], as the host's storage of that
/// size. For the accesses [`Bus::probe`] checks, the tables and the
/// frames' keys (whose access-control and fetch-protection bits the key
/// 0 ignores). For an access in a named space ([`Bus::in_space`]) also the
/// operands there, the reference and change bits the table at
/// `protocol::STORABLE` gives each frame, and stores kept ([`Moved`])
/// into frames listed storable; a reference or change to record is the
/// host's ([`Bus::wanted`]). Nothing else (keys) is offered.
impl<G: Guest> Storage for Bus<'_, G> {
    fn size(&self) -> u64 {
        self.absolute_size
    }

    fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
        if !(self.window || self.explicit || self.fault.is_some()) {
            return None;
        }
        Window::new(&*self.guest, self.absolute_size).read(address, buf)
    }

    /// A store kept, in one frame listed storable below
    /// [`Shared::absolute_size`] (the access path stores page by page).
    fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()> {
        if !self.explicit {
            self.refused = true;
            return None;
        }
        let Some(len) = (data.len() as u64).checked_sub(1) else {
            return Some(());
        };
        let at = address.value();
        let last = at.checked_add(len)?;
        if last >= self.absolute_size
            || at >> 12 != last >> 12
            || frame_state(self.frames, at) != FRAME_STORABLE
        {
            return None;
        }
        self.moved.keep(self.room.moved, at, data)
    }

    /// The reference and change bits the table gives the frame (the
    /// access-control and fetch-protection bits zero: only the access
    /// key 0 meets them, [`Bus::in_space`]).
    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
        if !(self.explicit || self.fault.is_some()) || address.value() >= self.absolute_size {
            return None;
        }
        Some(StorageKey::new(
            match frame_state(self.frames, address.value()) {
                FRAME_STORABLE => StorageKey::R | StorageKey::C,
                FRAME_REFERENCED => StorageKey::R,
                _ => 0,
            },
        ))
    }

    /// A reference or change to record: the frame goes to
    /// [`Shared::wanted`], the call to the host.
    fn set_key(&mut self, address: AbsoluteAddress, _: StorageKey) -> Option<()> {
        if !self.explicit {
            self.refused = true;
            return None;
        }
        self.unmet = true;
        let frame = address.value() & !0xfff | 1;
        if !self.wanted.contains(&frame) {
            if let Some(free) = self.wanted.iter_mut().find(|wanted| **wanted == 0) {
                *free = frame;
            }
        }
        None
    }
}

impl<G: Guest> System for Bus<'_, G> {
    fn system_instruction(&mut self, _: &mut Cpu, _: &Insn) -> Result<(), Exception> {
        Err(self.refuse())
    }

    fn clock(&mut self) -> Option<&mut dyn zmmu_cpu::clock::Timing> {
        if matches!(self.clock, CallClock::Absent) {
            self.refused = true;
        }
        self.tod_clock()
            .map(|clock| clock as &mut dyn zmmu_cpu::clock::Timing)
    }
}

/// Whether `exception` is one the DAT tables and the controls alone
/// decide (PoP ch. 3 "Translation Exceptions", "Protection"): a
/// translation or protection exception, which the image's walk through
/// the absolute window gives as the interpreter's does; not an addressing
/// exception, where the window may end before storage
/// ([`Shared::absolute_size`]).
fn from_tables(exception: Exception) -> bool {
    matches!(
        exception.code,
        Code::PROTECTION
            | Code::SEGMENT_TRANSLATION
            | Code::PAGE_TRANSLATION
            | Code::TRANSLATION_SPECIFICATION
            | Code::ASCE_TYPE
            | Code::REGION_FIRST_TRANSLATION
            | Code::REGION_SECOND_TRANSLATION
            | Code::REGION_THIRD_TRANSLATION
    )
}

/// The bits of the field of `N` bytes at `at` of a word of the CPU page
/// (its words are little-endian, as the host and the image store them),
/// and their shift: a field of `Cpu` (1, 2 or 4 bytes) is aligned on its
/// size, so it lies in one word.
const fn field_bits<const N: usize>(at: usize) -> (u64, u32) {
    assert!(matches!(N, 1 | 2 | 4) && at % N == 0);
    (u64::MAX >> (64 - 8 * N), 8 * (at % 8) as u32)
}

/// The little-endian field of `N` bytes at `at` of the CPU page.
fn field<const N: usize>(page: &CpuPage, at: usize) -> u64 {
    let (bits, shift) = field_bits::<N>(at);
    page[at / 8] >> shift & bits
}

/// Writes the low `N` bytes of `value` as the little-endian field at
/// `at` of the CPU page.
fn set_field<const N: usize>(page: &mut CpuPage, at: usize, value: u64) {
    let (bits, shift) = field_bits::<N>(at);
    page[at / 8] = page[at / 8] & !(bits << shift) | (value & bits) << shift;
}

/// The words of the CPU page that hold the access registers, two to a
/// word (little-endian: the even-numbered one in its low half).
const AR_WORDS: core::ops::Range<usize> = offset::AR / 8..offset::AR / 8 + 8;

const _: () = assert!(offset::AR % 8 == 0);

/// The CPU as the page holds it (registers, PSW, prefix, FPC, CPU address
/// and model), with the clock page's timer, clock comparator and TOD
/// programmable register.
pub(crate) fn load_cpu(page: &CpuPage, clock: &ClockPage) -> Cpu {
    let word = |at: usize| page[at / 8];
    let mut cpu = Cpu::new();
    for (r, value) in cpu.gpr.iter_mut().enumerate() {
        *value = word(offset::GPR + 8 * r);
    }
    for (pair, &word) in cpu.ar.chunks_exact_mut(2).zip(&page[AR_WORDS]) {
        (pair[0], pair[1]) = (word as u32, (word >> 32) as u32);
    }
    for (r, value) in cpu.cr.iter_mut().enumerate() {
        *value = word(offset::CR + 8 * r);
    }
    for (v, value) in cpu.vr.iter_mut().enumerate() {
        *value = [word(offset::VR + 16 * v), word(offset::VR + 16 * v + 8)];
    }
    cpu.psw.mask = word(offset::PSW_MASK);
    cpu.psw.addr = word(offset::PSW_ADDR);
    cpu.prefix = zmmu_mmu::prefix::Prefix::new(word(offset::PREFIX));
    cpu.fpc = field::<4>(page, cpu_page::FPC) as u32;
    cpu.cpu_addr = field::<2>(page, cpu_page::CPU_ADDR) as u16;
    cpu.vector_facility = field::<1>(page, cpu_page::VECTOR_FACILITY) != 0;
    cpu.mie3_facility = field::<1>(page, cpu_page::MIE3_FACILITY) != 0;
    cpu.cpu_timer_zero = clock.cpu_timer_zero;
    cpu.tod_programmable = clock.tod_programmable as u16;
    cpu.clock_comparator = clock.clock_comparator;
    cpu
}

/// Where an instruction fetch (EXECUTE's target) may go through the
/// active root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fetches {
    /// Nowhere: instructions come from another space than the root's, or
    /// the instruction is not an EXECUTE ([`executes`]).
    Nowhere,
    /// Wherever the root reads.
    Anywhere,
    /// Within the 4 KiB page at `own` and the pages the host found
    /// executable under the fetch controls of `tag`
    /// ([`Shared::executable`] as the call began: the bus's copy,
    /// `Room::executable`).
    Pages { own: u64, tag: u64 },
}

impl Fetches {
    /// Whether `len` bytes at `addr` may be fetched through the root,
    /// `executable` being [`Shared::executable`].
    fn allow(self, addr: u64, len: usize, executable: &[u64]) -> bool {
        let last = addr.wrapping_add((len as u64).saturating_sub(1));
        match self {
            Fetches::Nowhere => false,
            Fetches::Anywhere => true,
            Fetches::Pages { own, tag } => [addr, last]
                .into_iter()
                .all(|at| at >> 12 == own >> 12 || executable.contains(&page_entry(at, tag))),
        }
    }
}

/// Whether `op` fetches an instruction: EXECUTE and EXECUTE RELATIVE
/// LONG (PoP ch. 7 "EXECUTE": the target), the only instructions whose
/// execution does (`zmmu_cpu::exec`, `execute_target`).
fn executes(op: Opcode) -> bool {
    matches!(op, Opcode::EX | Opcode::EXRL)
}

/// Where an instruction fetch (EXECUTE's target, PoP ch. 7 "EXECUTE")
/// of the instruction at `at` may go through the active root, the root of
/// the PSW's space and key. Only where instructions come from that space
/// (DAT off, the primary-space or the home-space mode: fetches use the
/// primary space in the secondary-space and access-register modes). Under
/// instruction-execution protection (CR0 bit 43 with facility 130, DAT
/// on: PoP ch. 3 "Instruction-Execution Protection") the root's read
/// permission is not the fetch's, so only within the page the EXECUTE
/// itself was fetched from (its page-table entry, or the segment or region
/// entry of a large frame, allowed that fetch under the controls the
/// translated block is valid for, and a change of it is purged (IPTE,
/// IDTE ...) with the block) and the pages where the host's own fetch of
/// a target succeeded under the fetch controls in effect
/// (`shared.executable`, emptied by the host at each purge or
/// invalidation: until then the TLB may keep the entry that allowed it).
fn fetches_through_root(cpu: &Cpu, shared: &Shared, at: u64) -> Fetches {
    let facilities = Facilities::from_bits_truncate(shared.facilities as u32);
    let controls = zmmu_mmu::control::Controls::from_registers(&cpu.cr, cpu.prefix, facilities);
    if cpu.psw.dat() && matches!(cpu.psw.asc(), 1 | 2) {
        Fetches::Nowhere
    } else if cpu.psw.dat() && controls.iep() {
        Fetches::Pages {
            own: at,
            tag: shared.fetch_tag,
        }
    } else {
        Fetches::Anywhere
    }
}

/// Whether the image makes `op`'s interlocked update: COMPARE AND SWAP
/// (CS, CSY, CSG) and COMPARE DOUBLE AND SWAP (CDS, CDSY, CDSG), whose
/// execution after the update only sets registers and the condition code
/// and ends `Next::Seq` (their specification exceptions come before it),
/// so that an update made is always completed (the host never runs the
/// instruction again). The interlocked-access instructions (LAA ...) may
/// end in a fixed-point overflow after their update: the host's.
fn interlocks(op: Opcode) -> bool {
    use Opcode::*;
    matches!(op, CS | CSY | CSG | CDS | CDSY | CDSG)
}

/// Whether the image runs `op`'s walk of the DAT tables through the
/// absolute window: LOAD REAL ADDRESS (LRA, LRAY, LRAG), which reads the
/// tables and changes only its register and the condition code.
fn walks(op: Opcode) -> bool {
    use Opcode::*;
    matches!(op, LRA | LRAY | LRAG)
}

/// Whether the image makes `op`'s accesses in the address spaces its
/// operand-access controls name, through the absolute window
/// ([`Bus::in_space`]): MOVE WITH OPTIONAL SPECIFICATIONS, which changes
/// only its first operand and the condition code.
fn moves_explicit(op: Opcode) -> bool {
    op == Opcode::MVCOS
}

/// Whether the image makes `op`'s store at a real address through the
/// absolute window ([`real_store`]): STORE USING REAL ADDRESS (STURG,
/// STURA).
fn stores_real(op: Opcode) -> bool {
    matches!(op, Opcode::STURG | Opcode::STURA)
}

/// The absolute address at which the image makes a store of `len` bytes
/// at real address `addr` (STURG, STURA: PoP ch. 10, "STORE USING REAL
/// ADDRESS"), or `None` where the host must: with the PSW key 0, which
/// key-controlled protection lets store anywhere; outside the ranges
/// low-address protection covers (PoP ch. 3, real 0-511 and 4096-4607:
/// the controls decide, the host's); prefixed (PoP ch. 3, "Prefixing");
/// below [`Shared::absolute_size`] (above, an addressing exception, the
/// host's); in one frame the host listed storable (`frames`, the
/// table at `protocol::STORABLE`): its reference and change bits are one
/// and it holds no translated code, so the store changes nothing else.
fn real_store(addr: u64, len: usize, cpu: &Cpu, shared: &Shared, frames: &[u64]) -> Option<u64> {
    let last = addr.checked_add(len.checked_sub(1)? as u64)?;
    let absolute = cpu.prefix.to_absolute(RealAddress::new(addr)).value();
    let listed = frame_state(frames, absolute) == FRAME_STORABLE;
    (cpu.psw.key() == 0
        && !is_low_address(addr)
        && !is_low_address(last)
        && addr >> 12 == last >> 12
        && absolute.checked_add(len as u64)? <= shared.absolute_size
        && listed)
        .then_some(absolute)
}

/// The control registers the image may change: the primary and
/// secondary ASCEs (CR1, CR7), where neither chooses the shadow root nor
/// the address space instructions are fetched from ([`spaces_unused`]).
const FREE_REGISTERS: [usize; 2] = [1, 7];

/// Whether the primary and secondary ASCEs are used neither by the
/// active root nor by instruction fetches under `cpu`'s PSW: DAT off
/// (real addresses), or the home-space mode, where instructions and
/// operands both come from the home space (CR13; PoP ch. 3, "Address
/// Spaces"). Linux's kernel loads CR1 and CR7 there at each system call
/// and interruption and before each return to a process.
fn spaces_unused(psw: &Psw) -> bool {
    !psw.dat() || psw.asc() == 3
}

/// The CPU but what the image writes back (the general, access, vector
/// and floating-point-control registers): what [`only_results_changed`]
/// compares, kept as a call began (a fifth of the CPU's bytes, copied
/// word by word).
#[derive(Clone, Copy, Debug)]
struct Rest {
    cr: [u64; 16],
    psw: Psw,
    prefix: zmmu_mmu::prefix::Prefix,
    cpu_addr: u16,
    facilities: [bool; 4],
    clock_comparator: u64,
    cpu_timer_zero: u64,
    tod_programmable: u16,
}

impl Rest {
    /// `cpu`'s: every field of `Cpu` is named, so that one added to it
    /// is decided here.
    fn of(cpu: &Cpu) -> Self {
        let Cpu {
            gpr: _,
            ar: _,
            vr: _,
            fpc: _,
            cr,
            psw,
            prefix,
            cpu_addr,
            vector_facility,
            mie3_facility,
            vxeh_facility,
            vxeh2_facility,
            clock_comparator,
            cpu_timer_zero,
            tod_programmable,
        } = *cpu;
        Self {
            cr,
            psw,
            prefix,
            cpu_addr,
            facilities: [
                vector_facility,
                mie3_facility,
                vxeh_facility,
                vxeh2_facility,
            ],
            clock_comparator,
            cpu_timer_zero,
            tod_programmable,
        }
    }
}

/// Whether `after` differs from `before` only in what the image writes
/// back: the general, access, vector (floating-point) and
/// floating-point-control registers, the condition code, and CR1 and CR7
/// where [`spaces_unused`] (the host takes them back, and a translated
/// block depends on neither there); and in what the caller sets only
/// where the host would not leave the chain for it: the I/O and external
/// masks (`gate::masks_settable`) and the clock comparator
/// ([`settable`]). Anything else (the program mask, other control
/// registers, the timers) is the host's to change: it may have to leave
/// the chain for it. (Access registers matter to translated code only in
/// access-register mode, which is the host's.) Field by field, word by
/// word (no byte compare: the image's `memcmp` is a byte loop).
fn only_results_changed(before: &Rest, after: &Cpu) -> bool {
    let Rest {
        cr,
        psw,
        prefix,
        cpu_addr,
        facilities,
        clock_comparator: _,
        cpu_timer_zero,
        tod_programmable,
    } = Rest::of(after);
    let results = mask::CC | mask::IO | mask::EXT;
    let free = spaces_unused(&before.psw);
    let registers = (cr.iter().zip(&before.cr).enumerate())
        .all(|(r, (now, was))| now == was || free && FREE_REGISTERS.contains(&r));
    registers
        && psw.mask & !results == before.psw.mask & !results
        && prefix == before.prefix
        && cpu_addr == before.cpu_addr
        && facilities == before.facilities
        && cpu_timer_zero == before.cpu_timer_zero
        && tod_programmable == before.tod_programmable
}

/// Whether the store `store` covers the range an access check for a store
/// `checked` covered (nothing checked: covered).
fn covers(store: Option<(u64, usize)>, checked: Option<(u64, u64)>) -> bool {
    let Some((from, len)) = checked else {
        return true;
    };
    store.is_some_and(|(at, n)| {
        from >= at
            && from
                .checked_add(len)
                .is_some_and(|end| end <= at + n as u64)
    })
}

/// Whether the image may set the clock comparator to `value` (SCKC, PoP
/// ch. 4 "Clock Comparator"): the host published a floor (the TOD clock at
/// the batch's deadline, no interruption but a timer's possible before
/// it), the TOD clock `now` is below it, and `value` is not below it. The
/// comparator's interruption condition (the TOD clock past the
/// comparator) then does not hold now, and comes no sooner than the
/// deadline, when the machine looks anyway: as after the host's SCKC,
/// which leaves the chain only for an interruption that may be taken and
/// brings the deadline forward only for a comparator due before it
/// (docs/CHOICES.md 46c, 50b).
fn settable(value: u64, floor: u64, now: Option<u64>) -> bool {
    floor != 0 && now.is_some_and(|now| now < floor) && value >= floor
}

/// Whether a store of `len` bytes at `addr` is one the active root can
/// make: in one page, not wrapping in the addressing mode, below 2^47,
/// and touching neither of the ranges low-address protection covers
/// (PoP ch. 3: bytes 0-511 and 4096-4607), which the shadow maps
/// writable with the rest of their pages: as for translated code's
/// stores, the host decides those (the controls say whether they are
/// protected).
fn storable(addr: u64, len: usize, amode: AddressingMode) -> bool {
    let last = addr.wrapping_add(len as u64 - 1);
    len > 0
        && last >= addr
        && last <= amode.mask()
        && last < 1 << 47
        && addr >> 12 == last >> 12
        && !is_low_address(addr)
        && !is_low_address(last)
}

/// The operands an instruction read from storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reads {
    Nothing,
    /// Each read was of these bytes (address, length).
    Only(u64, usize),
    /// Reads of different bytes.
    Various,
}

impl Reads {
    /// These reads and one of `len` bytes at `addr`.
    fn and(self, addr: u64, len: usize) -> Self {
        match self {
            Reads::Nothing => Reads::Only(addr, len),
            Reads::Only(at, n) if (at, n) == (addr, len) => self,
            _ => Reads::Various,
        }
    }
}

/// The bytes an EXECUTE fetched of its target ([`Bus::fetched`]).
#[derive(Clone, Copy, Debug)]
struct Fetched {
    at: u64,
    len: usize,
    /// The instruction the first piece holds as fetched, before
    /// EXECUTE's OR into its second byte: the one executed where its
    /// opcode is its first byte (XC's).
    op: Option<Opcode>,
}

impl Fetched {
    fn first(at: u64, bytes: &[u8]) -> Self {
        Self {
            at,
            len: bytes.len(),
            op: decode(bytes).ok().map(|insn| insn.op),
        }
    }
}

/// Whether the store of `len` bytes at `addr` that instruction `op` made
/// (`None`: an EXECUTE's target not known) may be split across pages
/// ([`split_store`]): if the second part faults after the first was
/// made, the host runs the instruction again over the first part's bytes
/// and must store what the interpreter's single run stores. It does where
/// the store depends on no byte it changes: the instruction read no
/// operand, or it is EXCLUSIVE OR (XC) of the stored bytes with
/// themselves (the two operands the same bytes: x XOR x is zero whatever
/// was read, PoP "EXCLUSIVE OR"); and an EXECUTE's target is not among
/// the bytes stored (the host fetches it again).
fn rerun_stores_the_same(
    op: Option<Opcode>,
    reads: Reads,
    fetched: Option<Fetched>,
    (addr, len): (u64, usize),
) -> bool {
    let independent = match reads {
        Reads::Nothing => true,
        Reads::Only(at, n) => op == Some(Opcode::XC) && (at, n) == (addr, len),
        Reads::Various => false,
    };
    let end = addr.saturating_add(len as u64);
    let target_apart =
        fetched.is_none_or(|f| f.at.saturating_add(f.len as u64) <= addr || end <= f.at);
    independent && target_apart
}

/// A store of `len` bytes at `addr` across a page boundary, as two stores
/// the root can make (each [`storable`]): the bytes in the first page
/// and those in the second, each with its address. Only between two
/// pages the host listed as written under the fetch controls and the PSW
/// key now ([`Shared::writable`]), in the root's space (the primary or
/// home space, or real with DAT off): the host's own store across them
/// met no exception, and nothing that decides one (DAT protection, the
/// storage key, the translation) changed without an invalidation, which
/// empties the list. So the second store faults only where the first
/// could not have either (a shadow mapping the host fills and the access
/// retries, or a store into a frame holding translated code, where the
/// host then runs the instruction again with the same operands).
fn split_store(
    addr: u64,
    len: usize,
    amode: AddressingMode,
    cpu: &Cpu,
    shared: &Shared,
) -> Option<[(u64, core::ops::Range<usize>); 2]> {
    let first = usize::try_from((addr | 0xfff).wrapping_add(1).wrapping_sub(addr)).ok()?;
    let second = addr.wrapping_add(first as u64);
    let tag = store_tag(shared.fetch_tag, cpu.psw.key());
    let root_space = !cpu.psw.dat() || matches!(cpu.psw.asc(), 0 | 3);
    let listed = |at: u64| shared.writable.contains(&page_entry(at, tag));
    (root_space
        && first < len
        && storable(addr, first, amode)
        && storable(second, len - first, amode)
        && listed(addr)
        && listed(second))
    .then_some([(addr, 0..first), (second, first..len)])
}

/// What the image needs to send a host call's caller to the dispatcher
/// under a new PSW (an SVC delivered, docs/CHOICES.md 80): the host's
/// [`Gate`] and the translator's context's PSW bits and last-run word.
#[derive(Debug)]
pub struct Context<'a> {
    /// The roots and fetch controls the host published.
    pub gate: &'a Gate,
    /// The context's PSW bits (`protocol::CONTEXT_BITS`).
    pub bits: &'a mut u64,
    /// The context's last instruction run (`protocol::CONTEXT_LAST_BLOCK`).
    pub last_block: &'a mut u64,
}

/// The context's last-run word for host call `which` (block << 8 |
/// index): `zmmu_translator::abi::last_run`'s, block | index << 16 (the
/// kvm engine checks that they agree).
pub const fn last_run(which: u64) -> u64 {
    which >> 8 | (which & 0xff) << 16
}

/// An instruction whose execution gave `result`, to be ended as the
/// interpreter's step ends it (`Cpu::end`).
struct Ending<'i> {
    insn: &'i Insn,
    at: u64,
    result: Result<Next, Exception>,
}

/// Ends the instruction of host call `which` (`ending`, begun as
/// `before`) in the interruption it gives, as the interpreter's step does
/// (`Cpu::end`), and delivers it with the interpreter's code
/// (`Cpu::deliver`) through the lowcore in the
/// absolute window (`Bus::lowcore`), then sends the caller to the
/// dispatcher at the new PSW through the gate (`gate::may_go_on`,
/// `gate::switch`, [`Shared::go_to`]); `None`, having changed nothing,
/// where a frame is not listed, the new PSW is one the chain cannot go on
/// under, or its root is not published.
#[allow(clippy::too_many_arguments)]
fn deliver<G: Guest>(
    cpu: &mut Cpu,
    before: Psw,
    ending: Ending<'_>,
    mut bus: Bus<'_, G>,
    shared: &mut Shared,
    page: &mut CpuPage,
    context: &mut Context<'_>,
    which: u64,
) -> Option<()> {
    let Ending { insn, at, result } = ending;
    let interruption = cpu.end(insn, at, before.amode(), result).err()?;
    bus.lowcore = true;
    let delivered = cpu.deliver(&mut bus, interruption).is_ok() && !bus.refused;
    let now = bus.tod_clock().map(Clock::peek_tod);
    let Bus {
        guest, moved, room, ..
    } = bus;
    if !delivered || !crate::gate::may_go_on(before.mask, &cpu.psw, shared.mask_floor, now) {
        return None;
    }
    crate::gate::switch(cpu, shared, page, context.gate, context.bits, guest)?;
    for (absolute, bytes) in moved.pieces(room.moved) {
        guest.store_absolute(absolute, bytes);
    }
    *context.last_block = last_run(which);
    shared.go_to = cpu.psw.addr;
    Some(())
}

/// Host call `which`: completes the instruction in the VM and answers
/// [`COMPLETED`] (or [`DISPATCH`] after an SVC or a program
/// interruption it delivered, with `context`), or answers [`HOST`]
/// having changed nothing.
///
/// # Panics
/// On a [`Shared::version`] other than this image's (`VERSION`).
#[allow(clippy::too_many_arguments)]
pub fn host_call(
    which: u64,
    shared: &mut Shared,
    sites: &mut [Site],
    counts: &mut [u64],
    frames: &[u64],
    page: &mut CpuPage,
    mut context: Option<Context<'_>>,
    guest: &mut impl Guest,
    scratch: &mut Scratch,
) -> u64 {
    assert_eq!(
        shared.version,
        crate::protocol::VERSION,
        "the host speaks another version of the call protocol"
    );
    let fault = (core::mem::take(&mut shared.fault_site) == which.wrapping_add(1))
        .then_some(shared.fault_page & !0xfff);
    let mut once = |fault, shared: &mut Shared, page: &mut CpuPage, guest: &mut _| {
        let context = context.as_mut();
        call_once(
            which, fault, shared, sites, counts, frames, page, context, guest, scratch,
        )
    };
    let answer = once(fault, shared, page, guest);
    if answer == HOST && fault.is_none() && shared.fault_site == FAULT_IN_CALL {
        // An access of this call met an s390x exception (the host's fault
        // path said so, `FAULT_IN_CALL`): the call runs again, having
        // changed nothing, with the accesses of that page on the software
        // path, which recognizes it.
        shared.fault_site = 0;
        return once(Some(shared.fault_page & !0xfff), shared, page, guest);
    }
    answer
}

/// [`host_call`] once, with the accesses of logical page `fault` on the
/// software path (`Bus::probe`).
#[allow(clippy::too_many_arguments)]
fn call_once(
    which: u64,
    fault: Option<u64>,
    shared: &mut Shared,
    sites: &mut [Site],
    counts: &mut [u64],
    frames: &[u64],
    page: &mut CpuPage,
    context: Option<&mut Context<'_>>,
    guest: &mut impl Guest,
    scratch: &mut Scratch,
) -> u64 {
    shared.refund = 0;
    let Some(slot) = find_site(sites, which) else {
        return HOST;
    };
    let site = sites[slot];
    if site.refused >= REFUSALS {
        return HOST;
    }
    let _ = guest.take_transient();
    let bytes = site.insn_bytes();
    let Ok(insn) = decode(&bytes[..(site.len as usize).min(6)]) else {
        return HOST;
    };
    if !may_complete(insn.op) {
        return HOST;
    }
    let mut cpu = load_cpu(page, &shared.clock);
    // Access-register mode (a base register's ALET), PER events and an
    // invalid PSW are the host's; so is a fault's software path under a
    // key other than 0 (`Bus::probe`).
    let psw = cpu.psw;
    if !psw.is_valid()
        || psw.mask & mask::PER != 0
        || (psw.dat() && psw.asc() == 1)
        || (fault.is_some() && psw.key() != 0)
    {
        return HOST;
    }
    cpu.psw.addr = site.at;
    let before = Rest::of(&cpu);
    let mut bus = Bus::new(
        guest,
        scratch.room(),
        &cpu,
        shared,
        frames,
        insn.op,
        site.at,
    );
    bus.fault = fault;
    let result = execute(&mut cpu, &mut bus, insn, site.at);
    let raised = bus.raised;
    let transient = bus.guest.take_transient();
    let (refused, store, updated) = (bus.refused, bus.store, bus.updated);
    let (reads, fetched, real) = (bus.reads, bus.fetched, bus.real);
    let (unmet, wanted) = (bus.unmet, bus.wanted);
    // A target's page the host may list at this call leaves the call to
    // the host but not the site, as a fault the next call may not meet
    // does (`Shared::transient`, which the host's fault path sets during
    // an access).
    let unlisted = bus.unlisted;
    // So does an operand out of the root's reach (its address comes from
    // registers).
    let passing = unlisted || bus.beyond;
    // An interlocked update stored cannot be taken back: the instructions
    // that make one (`interlocks`) always complete after it.
    let host = || {
        assert!(!updated, "an interlocked update left to the host");
        HOST
    };
    if unmet {
        // A frame whose reference or change the host records (its run of
        // the instruction lists the frames in `wanted`), a key other than
        // 0, the access-register mode: the site stays the image's.
        shared.wanted = wanted;
        return host();
    }
    if raised.is_some() && result.err() == raised {
        // The access exception recognized at the page of the host's fault
        // (`Bus::probe`) ends the instruction: its program interruption
        // (PoP ch. 6 "Program Interruption"), the PSW where the
        // interpreter's step leaves it (`Cpu::end`: at the instruction
        // when nullified), delivered where the instruction changed nothing
        // before it (a store kept, a register, an interlocked update: the
        // host's, which makes them). The block's instructions after it
        // go back to the budget (`Shared::refund`), as the host's path
        // refunds them.
        let moved = bus.moved.count != 0;
        // As the call began: as the page still holds it.
        let mut loaded = load_cpu(page, &shared.clock);
        loaded.psw.addr = site.at;
        let clean = !refused && !updated && store.is_none() && !moved && cpu == loaded;
        let Some(context) = context.filter(|_| clean) else {
            return host();
        };
        let ending = Ending {
            insn: &insn,
            at: site.at,
            result,
        };
        if deliver(
            &mut cpu, before.psw, ending, bus, shared, page, context, which,
        )
        .is_none()
        {
            return host();
        }
        shared.refund = u64::from(site.after);
        shared.programs += 1;
        return DISPATCH;
    }
    let covered = covers(store, bus.checked);
    let comparator =
        (cpu.clock_comparator != before.clock_comparator).then_some(cpu.clock_comparator);
    // The I/O and external masks (STOSM, STNSM, SSM) are set only below
    // the host's floor (`masks_settable`).
    let masks = mask::IO | mask::EXT;
    let masks_changed = (cpu.psw.mask ^ before.psw.mask) & masks != 0;
    if refused || !covered || (result.is_ok() && !only_results_changed(&before, &cpu)) {
        // What this instruction needs is the host's at every call, but
        // for an access that faulted for a cause the next call may not
        // meet (`Shared::transient`), a target's page not listed yet, or
        // an operand out of the root's reach at this call.
        if !transient && !passing {
            refused_again(&mut sites[slot]);
        }
        return host();
    }
    if let Ok(Next::Svc(_)) = result {
        // The SVC interruption (PoP ch. 6 "Supervisor-Call Interruption"),
        // the old PSW at the next instruction (`Cpu::end`; the SVC ends
        // its block: nothing after it to refund). An EXECUTE'd SVC: the
        // host's.
        let Some(context) = context.filter(|_| insn.op == Opcode::SVC) else {
            return host();
        };
        let ending = Ending {
            insn: &insn,
            at: site.at,
            result,
        };
        if deliver(
            &mut cpu, before.psw, ending, bus, shared, page, context, which,
        )
        .is_none()
        {
            return host();
        }
        if let Some(count) = counts.get_mut(insn.op as usize) {
            *count += 1;
        }
        return DISPATCH;
    }
    // A program interruption (an IEEE exception, a data or specification
    // exception ...) or a branch: the host runs the instruction again from
    // the same state, which the image has not changed, and delivers it.
    // So is a clock comparator the host must set (`settable`).
    // The TOD clock now (standing still through the call: `PageTime`),
    // read only where needed.
    let mut now = || bus.tod_clock().map(Clock::peek_tod);
    if !matches!(result, Ok(Next::Seq))
        || comparator.is_some_and(|value| !settable(value, shared.comparator_floor, now()))
        || (masks_changed && !crate::gate::masks_settable(shared.mask_floor, now()))
    {
        return host();
    }
    let last = bus.clock.last();
    let Bus {
        guest,
        room,
        ref moved,
        ..
    } = bus;
    let amode = cpu.psw.amode();
    if let Some((addr, len)) = store.filter(|_| real) {
        // A frame not listed yet: the host's store lists it, the site
        // stays the image's.
        let Some(absolute) = real_store(addr, len, &cpu, shared, frames) else {
            return host();
        };
        guest.store_absolute(absolute, &room.store[..len]);
    } else if let Some((addr, len)) = store {
        let parts = if storable(addr, len, amode) {
            [(addr, 0..len), (addr, len..len)]
        } else {
            let op = fetched.map_or(Some(insn.op), |fetched| fetched.op);
            match split_store(addr, len, amode, &cpu, shared) {
                Some(parts) if rerun_stores_the_same(op, reads, fetched, (addr, len)) => parts,
                _ => return host(),
            }
        };
        // The first page, then the second: the listed pages meet no
        // s390x exception the host's store did not (`split_store`).
        for (at, range) in parts.into_iter().filter(|(_, range)| !range.is_empty()) {
            if !guest.store(at, &room.store[range]) {
                if !(transient || guest.take_transient() || passing) {
                    refused_again(&mut sites[slot]);
                }
                return host();
            }
        }
    }
    // The store in a named space, in frames listed storable, of bytes
    // read before it (`Bus::read`).
    for (absolute, bytes) in moved.pieces(room.moved) {
        guest.store_absolute(absolute, bytes);
    }
    for (r, value) in cpu.gpr.iter().enumerate() {
        page[(offset::GPR + 8 * r) / 8] = *value;
    }
    for (pair, word) in cpu.ar.chunks_exact(2).zip(&mut page[AR_WORDS]) {
        *word = u64::from(pair[0]) | u64::from(pair[1]) << 32;
    }
    for (v, value) in cpu.vr.iter().enumerate() {
        page[(offset::VR + 16 * v) / 8] = value[0];
        page[(offset::VR + 16 * v + 8) / 8] = value[1];
    }
    set_field::<4>(page, cpu_page::FPC, u64::from(cpu.fpc));
    for r in FREE_REGISTERS {
        page[(offset::CR + 8 * r) / 8] = cpu.cr[r];
    }
    page[offset::PSW_MASK / 8] = cpu.psw.mask;
    page[offset::PSW_ADDR / 8] = amode.wrap(site.at.wrapping_add(u64::from(site.len)));
    if let Some(last) = last {
        shared.clock.last = last;
    }
    if let Some(value) = comparator {
        shared.clock.clock_comparator = value;
        shared.mask_floor = shared.mask_floor_after_comparator;
    }
    if let Some(count) = counts.get_mut(insn.op as usize) {
        *count += 1;
    }
    if sites[slot].refused != 0 {
        sites[slot].refused = 0;
    }
    COMPLETED
}

/// Counts a refusal of `site` for a cause that may hold at every call
/// ([`Site::refused`]).
fn refused_again(site: &mut Site) {
    site.refused = site.refused.saturating_add(1);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::protocol::{site_slots, FRAME_UNLISTED, REFUSALS, VERSION};
    use std::format;
    use std::vec;
    use std::vec::Vec;
    use zmmu_cpu::interrupt::Interruption;

    /// A guest whose stores land in a list, or fault.
    struct Recorded {
        /// The loads made (address, length); each byte loaded is the low
        /// byte of its address.
        loads: Vec<(u64, usize)>,
        stores: Vec<(u64, Vec<u8>)>,
        /// The interlocked updates made (address, length, value found,
        /// value left).
        swaps: Vec<(u64, usize, u128, u128)>,
        faults: bool,
        tsc: u64,
        /// Absolute storage, as the window shows it.
        absolute: Vec<u8>,
        /// The stores made through the window (address, bytes).
        absolute_stores: Vec<(u64, Vec<u8>)>,
        /// An instruction a load at its address gives (an EXECUTE's
        /// target) instead of the address bytes.
        text: Option<(u64, [u8; 6])>,
        /// The gate's answer.
        grant: bool,
    }

    impl Guest for Recorded {
        fn read_absolute(&self, addr: u64, buf: &mut [u8]) {
            let at = addr as usize;
            buf.copy_from_slice(&self.absolute[at..at + buf.len()]);
        }
        fn store_absolute(&mut self, addr: u64, data: &[u8]) {
            let at = addr as usize;
            self.absolute[at..at + data.len()].copy_from_slice(data);
            self.absolute_stores.push((addr, data.to_vec()));
        }
        fn load(&mut self, addr: u64, buf: &mut [u8]) -> bool {
            if self.faults {
                return false;
            }
            self.loads.push((addr, buf.len()));
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (addr as usize + i) as u8;
            }
            if let Some((_, insn)) = self.text.filter(|&(at, _)| at == addr) {
                let n = buf.len().min(6);
                buf[..n].copy_from_slice(&insn[..n]);
            }
            true
        }
        fn store(&mut self, addr: u64, data: &[u8]) -> bool {
            if self.faults {
                return false;
            }
            self.stores.push((addr, data.to_vec()));
            true
        }
        /// The operand is the bytes a load gives, or the last value
        /// swapped in at its address.
        fn compare_swap(&mut self, addr: u64, len: usize, old: u128, new: u128) -> Option<u128> {
            if self.faults {
                return None;
            }
            let found = self
                .swaps
                .iter()
                .rev()
                .find(|swap| swap.0 == addr)
                .map_or_else(
                    || (0..len as u64).fold(0, |v, i| v << 8 | u128::from((addr + i) as u8)),
                    |swap| swap.3,
                );
            self.swaps
                .push((addr, len, found, if found == old { new } else { found }));
            Some(found)
        }
        fn tsc(&mut self) -> u64 {
            self.tsc
        }
        fn take_transient(&mut self) -> bool {
            false
        }
        fn gate(&mut self, _: u64) -> bool {
            self.grant
        }
        fn load_table(&self, _: u64) -> u64 {
            unreachable!("no shadow fills here")
        }

        fn store_table(&mut self, _: u64, _: u64) {
            unreachable!("no shadow fills here")
        }
    }

    /// The tables of one call (block 3's instruction 1 and what it reads).
    struct Call {
        shared: Shared,
        sites: Vec<Site>,
        counts: Vec<u64>,
        /// The table of storable frames (`protocol::STORABLE`).
        frames: Vec<u64>,
        page: CpuPage,
        scratch: std::boxed::Box<Scratch>,
    }

    impl Call {
        /// Host call `which` against these tables.
        fn call(&mut self, which: u64, g: &mut Recorded) -> u64 {
            let Self {
                shared,
                sites,
                counts,
                frames,
                page,
                scratch,
            } = self;
            host_call(which, shared, sites, counts, frames, page, None, g, scratch)
        }
    }

    /// The tables of one call: `bytes` at 0x1000 as block 3's instruction 1,
    /// a 64-bit supervisor PSW, r2 = 0x2000, a clock standing still at
    /// 1000 ns with epoch 0x5000_0000.
    fn setup(bytes: &[u8]) -> Call {
        let which = 3 << 8 | 1;
        let mut sites = vec![Site::default(); crate::protocol::SITE_SLOTS];
        let slot = site_slots(which).next().unwrap();
        sites[slot] = Site::new(which, 0x1000, bytes);
        let mut page = [0u64; 512];
        page[offset::PSW_MASK / 8] = mask::EA | mask::BA;
        page[offset::PSW_ADDR / 8] = 0x1000;
        page[(offset::GPR + 16) / 8] = 0x2000;
        let shared = Shared {
            version: VERSION,
            clock: ClockPage {
                valid: 1,
                epoch: 0x5000_0000,
                ns: 1000,
                ..ClockPage::default()
            },
            ..Shared::default()
        };
        Call {
            shared,
            sites,
            counts: vec![0; zmmu_cpu::opcode::COUNT],
            frames: vec![0; crate::protocol::STORABLE_WORDS],
            page,
            scratch: std::boxed::Box::default(),
        }
    }

    fn guest() -> Recorded {
        Recorded {
            loads: Vec::new(),
            stores: Vec::new(),
            swaps: Vec::new(),
            faults: false,
            tsc: 0,
            absolute: Vec::new(),
            absolute_stores: Vec::new(),
            text: None,
            grant: false,
        }
    }

    #[test]
    fn store_clock_stores_the_tod_and_steps_past_the_last_value() {
        // stck 0(r2)
        let mut c = setup(&[0xb2, 0x05, 0x20, 0x00]);
        let mut g = guest();
        let which = 3 << 8 | 1;
        assert_eq!(c.call(which, &mut g), COMPLETED);
        let tod = 0x5000_0000 + zmmu_cpu::clock::ns_to_tod(1000);
        assert_eq!(g.stores, [(0x2000, tod.to_be_bytes().to_vec())]);
        assert_eq!(c.shared.clock.last, tod);
        assert_eq!(
            c.page[offset::PSW_ADDR / 8],
            0x1004,
            "the PSW points past it"
        );
        assert_eq!(
            c.page[offset::PSW_MASK / 8] & mask::CC,
            0,
            "cc 0: the clock is set"
        );
        assert_eq!(c.counts[Opcode::STCK as usize], 1);
        // The clock stands still: the next value is the last plus one.
        assert_eq!(c.call(which, &mut g), COMPLETED);
        assert_eq!(g.stores[1].1, (tod + 1).to_be_bytes());
    }

    #[test]
    fn a_store_the_root_refuses_leaves_everything_to_the_host_and_the_site_after_refusals_in_a_row()
    {
        let mut c = setup(&[0xb2, 0x05, 0x20, 0x00]);
        let before = c.page;
        let which = 3 << 8 | 1;
        let mut g = Recorded {
            faults: true,
            ..guest()
        };
        for _ in 1..REFUSALS {
            assert_eq!(c.call(which, &mut g), HOST);
        }
        assert_eq!(c.page, before);
        assert_eq!(c.shared.clock.last, 0);
        assert_eq!(c.counts[Opcode::STCK as usize], 0);
        // Fewer refusals than REFUSALS in a row: tried again, and a
        // completion sets the count back.
        g.faults = false;
        assert_eq!(c.call(which, &mut g), COMPLETED);
        g.faults = true;
        for _ in 1..REFUSALS {
            assert_eq!(c.call(which, &mut g), HOST);
        }
        g.faults = false;
        assert_eq!(c.call(which, &mut g), COMPLETED);
        g.faults = true;
        for _ in 0..REFUSALS {
            assert_eq!(c.call(which, &mut g), HOST);
        }
        // The site is the host's from now on: no attempt (and fault).
        g.faults = false;
        let stores = g.stores.len();
        assert_eq!(c.call(which, &mut g), HOST);
        assert_eq!(g.stores.len(), stores);
    }

    #[test]
    fn an_operand_crossing_a_page_is_the_hosts() {
        let mut c = setup(&[0xb2, 0x05, 0x2f, 0xfc]);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
    }

    #[test]
    fn other_instructions_and_unknown_sites_are_the_hosts() {
        // lctlg c0,c0,0(r2): not in the class.
        let mut c = setup(&[0xeb, 0x00, 0x20, 0x00, 0x00, 0x2f]);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert_eq!(c.call(4 << 8 | 1, &mut g), HOST);
    }

    #[test]
    fn store_control_registers_stores_them_in_one_range() {
        // stctg c14,c1,0(r2): c14, c15, c0, c1 (wrapping), as doublewords.
        let mut c = setup(&[0xeb, 0xe1, 0x20, 0x00, 0x00, 0x25]);
        for r in 0..16 {
            c.page[(offset::CR + 8 * r) / 8] = 0x100 + r as u64;
        }
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        let expected: Vec<u8> = [14u64, 15, 0, 1]
            .iter()
            .flat_map(|r| (0x100 + r).to_be_bytes())
            .collect();
        assert_eq!(g.stores, [(0x2000, expected)]);
        assert_eq!(c.page[offset::PSW_ADDR / 8], 0x1006);
        assert_eq!(c.counts[Opcode::STCTG as usize], 1);
    }

    #[test]
    fn store_control_registers_across_a_page_or_in_the_problem_state_is_the_hosts() {
        // stctl c0,c3,0xff8(r2): 16 bytes from 0x2ff8, across 0x3000.
        let mut c = setup(&[0xb6, 0x03, 0x2f, 0xf8]);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        // stctg c0,c0,0(r2) in the problem state: privileged.
        let mut c = setup(&[0xeb, 0x00, 0x20, 0x00, 0x00, 0x25]);
        c.page[offset::PSW_MASK / 8] |= mask::PROBLEM;
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
    }

    #[test]
    fn vector_store_multiple_stores_sixteen_registers_at_once() {
        // vstm v0,v15,0(r2): 256 bytes.
        let mut c = float_setup(&[0xe7, 0x0f, 0x20, 0x00, 0x00, 0x3e], 0.0);
        for w in 0..32 {
            c.page[offset::VR / 8 + w] = w as u64;
        }
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        let expected: Vec<u8> = (0..32u64).flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(g.stores, [(0x2000, expected)]);
    }

    #[test]
    fn load_access_multiple_writes_the_access_registers_back() {
        // lam a1,a2,0(r2): the words at 0x2000 (bytes 00 01 02 03, 04 05 06 07).
        let mut c = setup(&[0x9a, 0x12, 0x20, 0x00]);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        let ar = |r: usize| field::<4>(&c.page, offset::AR + 4 * r) as u32;
        assert_eq!(
            (ar(0), ar(1), ar(2), ar(3)),
            (0, 0x0001_0203, 0x0405_0607, 0)
        );
    }

    #[test]
    fn a_checked_store_range_the_store_does_not_cover_is_the_hosts() {
        let mut scratch = Scratch::new();
        let mut bus = Bus {
            guest: &mut guest(),
            amode: AddressingMode::Bits64,
            clock: CallClock::Absent,
            facilities: Facilities::empty(),
            store: None,
            room: scratch.room(),
            checked: None,
            fetches: Fetches::Nowhere,
            interlocks: false,
            updated: false,
            reads: Reads::Nothing,
            fetched: None,
            unlisted: false,
            beyond: false,
            absolute_size: 0,
            window: false,
            real_stores: false,
            real: false,
            explicit: false,
            frames: &[],
            moved: Moved::EMPTY,
            wanted: [0; WANTED_FRAMES],
            unmet: false,
            lowcore: false,
            fault: None,
            raised: None,
            refused: false,
        };
        let cpu = Cpu::new();
        let acc = Access {
            kind: AccessKind::Write,
            space: AddressType::Logical { base: 2 },
            cpu: &cpu,
        };
        assert!(bus.check(&acc, 0x2000, 16).is_ok());
        assert!(Memory::write(&mut bus, &acc, 0x2000, &[0; 8]).is_ok());
        assert!(!covers(bus.store, bus.checked));
        assert!(Memory::write(&mut bus, &acc, 0x2008, &[0; 8]).is_ok());
        assert!(covers(bus.store, bus.checked));
        // A write that does not continue the store is refused.
        assert!(Memory::write(&mut bus, &acc, 0x3000, &[0; 8]).is_err());
        assert!(bus.refused);
    }

    #[test]
    fn set_clock_comparator_completes_at_or_past_the_published_floor() {
        // sckc 0(r2): the doubleword at 0x2000 is 0x0001_0203_0405_0607.
        let value = 0x0001_0203_0405_0607u64;
        let mut c = setup(&[0xb2, 0x06, 0x20, 0x00]);
        c.shared.comparator_floor = value;
        c.shared.mask_floor_after_comparator = value;
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(c.shared.clock.clock_comparator, value);
        assert_eq!(c.counts[Opcode::SCKC as usize], 1);
        // The comparator no longer due, the masks become settable.
        assert_eq!(c.shared.mask_floor, value);
    }

    #[test]
    fn a_clock_comparator_below_the_floor_or_without_one_is_the_hosts() {
        let value = 0x0001_0203_0405_0607u64;
        for floor in [value + 1, 0] {
            let mut c = setup(&[0xb2, 0x06, 0x20, 0x00]);
            c.shared.comparator_floor = floor;
            let before = c.page;
            assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST, "floor {floor:#x}");
            assert_eq!(c.page, before);
            assert_eq!(c.shared.clock.clock_comparator, 0);
            // The next comparator may be settable: the site stays the image's.
            let slot = crate::protocol::find_site(&c.sites, 3 << 8 | 1).unwrap();
            assert_eq!(c.sites[slot].refused, 0);
        }
        // The TOD clock already at the floor (the deadline has passed).
        let mut c = setup(&[0xb2, 0x06, 0x20, 0x00]);
        c.shared.comparator_floor = c.shared.clock.epoch + zmmu_cpu::clock::ns_to_tod(1000);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
    }

    /// An instruction is fetched in one access of six bytes (the longest)
    /// where they lie in its page (`Cpu::fetch`).
    const FETCH: usize = 6;

    #[test]
    fn execute_fetches_its_target_through_the_root_and_runs_it() {
        // ex r0,0x1a: the target's bytes are 1a 1b, ar r1,r11.
        let mut c = setup(&[0x44, 0x00, 0x00, 0x1a]);
        c.page[(offset::GPR + 8) / 8] = 5;
        c.page[(offset::GPR + 88) / 8] = 7;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 12);
        assert_eq!(g.loads, [(0x1a, FETCH)]);
        assert_eq!(c.page[offset::PSW_ADDR / 8], 0x1004, "past the EXECUTE");
    }

    #[test]
    fn execute_in_the_secondary_space_mode_is_the_hosts() {
        // Instructions come from the primary space, the root is the
        // secondary's.
        let mut c = setup(&[0x44, 0x00, 0x00, 0x1a]);
        c.page[offset::PSW_MASK / 8] |= mask::DAT | 2 << 46;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.loads.is_empty());
    }

    /// `exrl r0,` `halfwords` ahead of 0x1000 under instruction-execution
    /// protection (CR0 bit 43, facility 130) with DAT on, r1 = 5 and r11
    /// = 7 for the target's `ar r1,r11` (bytes 1a 1b where the guest's byte
    /// is its address's low byte: at an address ending in 1a).
    fn execute_relative_under_iep(halfwords: u32) -> Call {
        let mut bytes = [0xc6, 0x00, 0, 0, 0, 0];
        bytes[2..].copy_from_slice(&halfwords.to_be_bytes());
        let mut c = setup(&bytes);
        c.page[offset::PSW_MASK / 8] |= mask::DAT;
        c.page[offset::CR / 8] |= zmmu_mmu::control::Cr0::IEP.bits();
        c.shared.facilities = u64::from(Facilities::IEP.bits());
        c.page[(offset::GPR + 8) / 8] = 5;
        c.page[(offset::GPR + 88) / 8] = 7;
        c
    }

    #[test]
    fn under_iep_an_execute_fetches_its_target_in_its_own_page() {
        // 0x1000 + 2 * 0xd = 0x101a: the page the EXRL came from.
        let mut c = execute_relative_under_iep(0xd);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 12);
        assert_eq!(g.loads, [(0x101a, FETCH)]);
        assert_eq!(c.page[offset::PSW_ADDR / 8], 0x1006, "past the EXRL");
    }

    #[test]
    fn in_the_home_space_mode_an_execute_fetches_its_target_from_the_root() {
        // Instructions and operands both come from the home space there.
        let mut c = execute_relative_under_iep(0xd);
        c.page[offset::PSW_MASK / 8] |= 3 << 46;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.loads, [(0x101a, FETCH)]);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 12);
    }

    #[test]
    fn under_iep_an_execute_whose_target_is_in_another_page_is_the_hosts() {
        // 0x1000 + 2 * 0x80d = 0x201a: that page's entry may forbid the
        // fetch where reading is allowed.
        let mut c = execute_relative_under_iep(0x80d);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.loads.is_empty());
        assert_eq!(c.page[(offset::GPR + 8) / 8], 5, "nothing changed");
        // With DAT off there is no instruction-execution protection.
        let mut c = execute_relative_under_iep(0x80d);
        c.page[offset::PSW_MASK / 8] &= !mask::DAT;
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.loads, [(0x201a, FETCH)]);
    }

    #[test]
    fn under_iep_an_execute_fetches_its_target_in_a_page_the_host_found_executable() {
        // 0x201a, in the page after the EXRL's, listed by the host under
        // the fetch controls in effect (tag 5).
        let listed = |tag| {
            let mut c = execute_relative_under_iep(0x80d);
            c.shared.fetch_tag = 5;
            let [slot, _] = crate::protocol::page_slots(0x201a);
            c.shared.executable[slot] = page_entry(0x2000, tag);
            c
        };
        let mut c = listed(5);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.loads, [(0x201a, FETCH)]);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 12);
        // Listed under other fetch controls (another address space).
        let mut c = listed(4);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.loads.is_empty());
    }

    #[test]
    fn a_target_in_a_page_not_listed_leaves_the_call_to_the_host_not_the_site() {
        // The host may list the page at this call: the next may complete.
        let mut c = execute_relative_under_iep(0x80d);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
        let slot = crate::protocol::find_site(&c.sites, 3 << 8 | 1).unwrap();
        assert_eq!(c.sites[slot].refused, 0);
        let [first, _] = crate::protocol::page_slots(0x2000);
        c.shared.executable[first] = page_entry(0x2000, 0);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
    }

    /// `stmg r0,r1,0xffc(r2)`: 16 bytes at 0x2ffc, across into 0x3000,
    /// with r0 = 0x0001..0708 and r1 = 0x1011..1718; the pages at
    /// 0x2000 and 0x3000 listed writable under key 0 if `listed`.
    fn store_across(listed: bool) -> Call {
        let mut c = setup(&[0xeb, 0x01, 0x2f, 0xfc, 0x00, 0x24]);
        c.page[offset::GPR / 8] = 0x0001_0203_0405_0607;
        c.page[(offset::GPR + 8) / 8] = 0x1011_1213_1415_1617;
        if listed {
            list_writable(&mut c);
        }
        c
    }

    #[test]
    fn a_store_across_two_pages_the_host_listed_writable_is_made_in_two() {
        let mut c = store_across(true);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(
            g.stores,
            [
                (0x2ffc, vec![0, 1, 2, 3]),
                (
                    0x3000,
                    vec![4, 5, 6, 7, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]
                ),
            ]
        );
    }

    #[test]
    fn a_store_across_pages_not_listed_or_under_another_key_is_the_hosts() {
        let mut c = store_across(false);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
        let slot = crate::protocol::find_site(&c.sites, 3 << 8 | 1).unwrap();
        assert_eq!(c.sites[slot].refused, 0, "the host may list them");
        // Listed under key 0, stored under key 9.
        let mut c = store_across(true);
        c.page[offset::PSW_MASK / 8] |= 9 << 52;
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
    }

    #[test]
    fn a_move_across_listed_pages_that_reads_storage_is_the_hosts() {
        // mvc 0xffc(16,r2),0(r2): what it stores depends on what it read.
        let mut c = setup(&[0xd2, 0x0f, 0x2f, 0xfc, 0x20, 0x00]);
        list_writable(&mut c);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
    }

    /// The pages at 0x2000 and 0x3000 listed writable under key 0, as
    /// the host lists them after its own store across them.
    fn list_writable(c: &mut Call) {
        for page in [0x2000, 0x3000] {
            let [slot, _] = crate::protocol::page_slots(page);
            c.shared.writable[slot] = page_entry(page, store_tag(0, 0));
        }
    }

    /// Storage as [`Recorded`] loads it (each byte the low byte of its
    /// address), 64 KiB, with `text` at its address.
    fn pattern_storage(text: Option<(u64, [u8; 6])>) -> Vec<u8> {
        let mut storage: Vec<u8> = (0..0x1_0000usize).map(|a| a as u8).collect();
        if let Some((at, insn)) = text {
            storage[at as usize..at as usize + 6].copy_from_slice(&insn);
        }
        storage
    }

    /// The image's call of the site against `g`, whose stores are then
    /// made over [`pattern_storage`] in order; after each prefix of them
    /// (none, the first page's, both) the interpreter's run of the
    /// instruction (the host's when the next part faulted) gives the
    /// bytes and registers the interpreter's single run gives.
    fn completes_as_the_interpreter_after_any_part(c: &mut Call, g: &mut Recorded) {
        let storage = pattern_storage(g.text);
        let (reference, memory, ok) = interpreted(c, &storage);
        assert!(ok);
        let before = c.page;
        assert_eq!(c.call(3 << 8 | 1, g), COMPLETED);
        assert_eq!(g.stores.len(), 2, "one part in each page");
        let after = core::mem::replace(&mut c.page, before);
        for made in 0..=g.stores.len() {
            let mut partial = storage.clone();
            for (at, bytes) in &g.stores[..made] {
                partial[*at as usize..*at as usize + bytes.len()].copy_from_slice(bytes);
            }
            let (rerun, rerun_memory, _) = interpreted(c, &partial);
            assert_eq!(rerun.gpr, reference.gpr, "after {made} parts");
            assert_eq!(rerun.psw, reference.psw, "after {made} parts");
            assert_eq!(rerun_memory.bytes(), memory.bytes(), "after {made} parts");
            if made == g.stores.len() {
                assert_eq!(partial, memory.bytes(), "the image's stores");
            }
        }
        c.page = after;
        let (gpr, mask, addr) = page_state(c);
        assert_eq!(gpr, reference.gpr);
        // The interpreter's execute leaves the PSW at the instruction.
        assert_eq!((mask, addr), (reference.psw.mask, reference.psw.addr + 6));
    }

    #[test]
    fn exclusive_or_of_bytes_with_themselves_across_listed_pages_is_made_in_two() {
        // xc 0xff0(32,r2),0xff0(r2): 0x2ff0 .. 0x300f zeroed, cc 0
        // whatever was read, so the host's run after a part stores the same.
        let mut c = setup(&[0xd7, 0x1f, 0x2f, 0xf0, 0x2f, 0xf0]);
        list_writable(&mut c);
        let mut g = guest();
        completes_as_the_interpreter_after_any_part(&mut c, &mut g);
        assert_eq!(g.stores, [(0x2ff0, vec![0; 16]), (0x3000, vec![0; 16])]);
    }

    /// `exrl r4,` 0x100 halfwords ahead of 0x1000 (0x1200), whose target
    /// there is `xc 0(1,r1),0(r1)`: r4 = `len` - 1, r1 = `at`.
    fn executed_clear(at: u64, len: u64) -> (Call, Recorded) {
        let mut c = setup(&[0xc6, 0x40, 0x00, 0x00, 0x01, 0x00]);
        c.page[(offset::GPR + 8) / 8] = at;
        c.page[(offset::GPR + 32) / 8] = len - 1;
        list_writable(&mut c);
        let mut g = guest();
        g.text = Some((0x1200, [0xd7, 0x00, 0x10, 0x00, 0x10, 0x00]));
        (c, g)
    }

    #[test]
    fn an_executed_clear_across_listed_pages_is_made_in_two_for_any_length() {
        // Linux's memset of zeros: EXRL of XC, its length from r4.
        for (at, len) in [(0x2ff0, 32), (0x2fff, 2), (0x2f01, 256), (0x2fc0, 0x80)] {
            let (mut c, mut g) = executed_clear(at, len);
            completes_as_the_interpreter_after_any_part(&mut c, &mut g);
            let first = (0x3000 - at) as usize;
            assert_eq!(
                g.stores,
                [
                    (at, vec![0; first]),
                    (0x3000, vec![0; len as usize - first])
                ],
                "{at:#x}, {len}"
            );
            assert_eq!(c.page[offset::PSW_ADDR / 8], 0x1006);
        }
    }

    #[test]
    fn an_exclusive_or_across_pages_of_other_bytes_or_over_its_target_is_the_hosts() {
        // xc 0xff0(32,r2),0xff8(r2): what it stores depends on what it read.
        let mut c = setup(&[0xd7, 0x1f, 0x2f, 0xf0, 0x2f, 0xf8]);
        list_writable(&mut c);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
        let slot = crate::protocol::find_site(&c.sites, 3 << 8 | 1).unwrap();
        assert_eq!(c.sites[slot].refused, 0, "the next call may not cross");
        // or c 0xff0(32,r2),0xff0(r2): it stores what it read.
        let mut c = setup(&[0xd6, 0x1f, 0x2f, 0xf0, 0x2f, 0xf0]);
        list_writable(&mut c);
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
        // The target the EXRL executes at 0x2ff8, among the bytes it
        // clears: the host's run would fetch it cleared.
        let (mut c, mut g) = executed_clear(0x2ff0, 32);
        c.sites[slot] = Site::new(3 << 8 | 1, 0x1000, &[0xc6, 0x40, 0x00, 0x00, 0x0f, 0xfc]);
        g.text = Some((0x2ff8, [0xd7, 0x00, 0x10, 0x00, 0x10, 0x00]));
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
        // Not listed: the host's store lists them, the site stays.
        let (mut c, mut g) = executed_clear(0x2ff0, 32);
        c.shared.writable = [0; LISTED_PAGES];
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
        assert_eq!(c.sites[slot].refused, 0);
    }

    /// `stosm 0x100(r2),0x03` (I/O and external masks on) with the mask
    /// floor `floor`.
    fn set_masks(floor: u64) -> (Call, u64, Recorded) {
        let mut c = setup(&[0xad, 0x03, 0x21, 0x00]);
        c.shared.mask_floor = floor;
        let mut g = guest();
        let answer = c.call(3 << 8 | 1, &mut g);
        (c, answer, g)
    }

    #[test]
    fn below_the_mask_floor_stosm_enables_interruptions_in_the_vm() {
        let (c, answer, g) = set_masks(u64::MAX);
        assert_eq!(answer, COMPLETED);
        assert_eq!(
            c.page[offset::PSW_MASK / 8] & (mask::IO | mask::EXT),
            mask::IO | mask::EXT
        );
        assert_eq!(g.stores, [(0x2100, vec![0])], "the old system mask");
    }

    #[test]
    fn without_a_mask_floor_or_past_it_stosm_is_the_hosts_and_the_site_stays() {
        for floor in [0, 1] {
            let (c, answer, g) = set_masks(floor);
            assert_eq!(answer, HOST, "floor {floor}");
            assert_eq!(c.page[offset::PSW_MASK / 8] & (mask::IO | mask::EXT), 0);
            assert!(g.stores.is_empty());
            let slot = crate::protocol::find_site(&c.sites, 3 << 8 | 1).unwrap();
            assert_eq!(c.sites[slot].refused, 0);
        }
    }

    /// `lctlg c1,c1,0(r2)` (the guest's doubleword at 0x2000 is 00 01 ..
    /// 07) under the PSW mask bits `psw`.
    fn load_cr1(psw: u64) -> (Call, u64) {
        let mut c = setup(&[0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f]);
        c.page[offset::PSW_MASK / 8] |= psw;
        let answer = c.call(3 << 8 | 1, &mut guest());
        (c, answer)
    }

    #[test]
    fn in_the_home_space_mode_or_with_dat_off_lctlg_loads_cr1_in_the_vm() {
        for psw in [mask::DAT | 3 << 46, 0] {
            let (c, answer) = load_cr1(psw);
            assert_eq!(answer, COMPLETED, "PSW {psw:#x}");
            assert_eq!(c.page[(offset::CR + 8) / 8], 0x0001_0203_0405_0607);
        }
    }

    #[test]
    fn in_the_primary_space_mode_lctlg_of_cr1_is_the_hosts() {
        // CR1 chooses the root there: the host switches it.
        let (c, answer) = load_cr1(mask::DAT);
        assert_eq!(answer, HOST);
        assert_eq!(c.page[(offset::CR + 8) / 8], 0);
        // CR0 is the host's in any mode.
        let mut c = setup(&[0xeb, 0x00, 0x20, 0x00, 0x00, 0x2f]);
        c.page[offset::PSW_MASK / 8] |= mask::DAT | 3 << 46;
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
    }

    /// `cdsg r4,r6,0(r2)` with r4:r5 = `first`, r6:r7 the third operand;
    /// the guest's quadword at 0x2000 is 00 01 .. 0f.
    fn compare_double(first: u128) -> Call {
        let mut c = setup(&[0xeb, 0x46, 0x20, 0x00, 0x00, 0x3e]);
        for (r, value) in [
            (4, (first >> 64) as u64),
            (5, first as u64),
            (6, 0x1111),
            (7, 0x2222),
        ] {
            c.page[(offset::GPR + 8 * r) / 8] = value;
        }
        c
    }

    /// The quadword a load gives at 0x2000.
    const QUADWORD: u128 = 0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f;

    #[test]
    fn compare_double_and_swap_swaps_an_equal_quadword_at_once() {
        let mut c = compare_double(QUADWORD);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.swaps, [(0x2000, 16, QUADWORD, 0x1111 << 64 | 0x2222)]);
        assert!(g.stores.is_empty(), "no store besides the swap");
        assert_eq!(c.page[offset::PSW_MASK / 8] & mask::CC, 0, "cc 0");
        assert_eq!(c.counts[Opcode::CDSG as usize], 1);
    }

    #[test]
    fn compare_double_and_swap_loads_an_unequal_quadword_and_stores_nothing() {
        let mut c = compare_double(5);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        // The value found confirmed whole, left as it was.
        assert_eq!(g.swaps, [(0x2000, 16, QUADWORD, QUADWORD)]);
        assert_eq!(c.page[(offset::GPR + 32) / 8], 0x0001_0203_0405_0607);
        assert_eq!(c.page[(offset::GPR + 40) / 8], 0x0809_0a0b_0c0d_0e0f);
        assert_ne!(c.page[offset::PSW_MASK / 8] & mask::CC, 0, "cc 1");
    }

    #[test]
    fn an_interlocked_update_the_root_refuses_or_may_not_complete_is_the_hosts() {
        // The root faults: nothing changed, the site the host's.
        let mut c = compare_double(QUADWORD);
        let before = c.page;
        let mut g = Recorded {
            faults: true,
            ..guest()
        };
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert_eq!(c.page, before);
        let slot = crate::protocol::find_site(&c.sites, 3 << 8 | 1).unwrap();
        assert_eq!(c.sites[slot].refused, 1);
        // laa r4,r6,0(r2) may end in a fixed-point overflow after its
        // update; cs r4,r6,0x100 is in the low-address-protected range.
        for bytes in [
            &[0xeb, 0x46, 0x20, 0x00, 0x00, 0xf8][..],
            &[0xba, 0x46, 0x01, 0x00],
        ] {
            let mut c = setup(bytes);
            let mut g = guest();
            assert_eq!(c.call(3 << 8 | 1, &mut g), HOST, "{bytes:x?}");
            assert!(g.swaps.is_empty() && g.stores.is_empty());
        }
    }

    /// `mvcle r2,r4,0` moving 4 KiB from 0x5000 + `skew` to 0x3000 + `skew`.
    fn move_page(skew: u64) -> Call {
        let mut c = setup(&[0xa8, 0x24, 0x00, 0x00]);
        for (r, value) in [(2, 0x3000 + skew), (3, 4096), (4, 0x5000 + skew), (5, 4096)] {
            c.page[(offset::GPR + 8 * r) / 8] = value;
        }
        c
    }

    #[test]
    fn move_long_extended_moves_a_page_in_one_store() {
        let mut c = move_page(0);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        let expected: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
        assert_eq!(g.stores, [(0x3000, expected)]);
        let gpr = |r: usize| c.page[(offset::GPR + 8 * r) / 8];
        assert_eq!((gpr(2), gpr(3), gpr(4), gpr(5)), (0x4000, 0, 0x6000, 0));
        assert_eq!(c.page[offset::PSW_MASK / 8] & mask::CC, 0, "cc 0: done");
    }

    #[test]
    fn move_long_extended_into_two_pages_is_the_hosts() {
        let mut c = move_page(8);
        let before = c.page;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert_eq!(c.page, before);
        assert!(g.stores.is_empty());
    }

    #[test]
    fn store_cpu_timer_in_the_problem_state_is_the_hosts() {
        // stpt 0(r2) is privileged: the program interruption is delivered by the host.
        let mut c = setup(&[0xb2, 0x09, 0x20, 0x00]);
        c.page[offset::PSW_MASK / 8] |= mask::PROBLEM;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
    }

    #[test]
    fn store_cpu_timer_follows_the_tsc() {
        let mut c = setup(&[0xb2, 0x09, 0x20, 0x00]);
        // 1 ns per 2 ticks, 4000 ticks since the page: 2000 ns later.
        c.shared.clock.mult = 1;
        c.shared.clock.shift = 1;
        c.shared.clock.tsc = 100;
        c.shared.clock.cpu_timer_zero = zmmu_cpu::clock::ns_to_tod(10_000);
        let mut g = Recorded {
            tsc: 4100,
            ..guest()
        };
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        let timer = zmmu_cpu::clock::ns_to_tod(10_000) - zmmu_cpu::clock::ns_to_tod(3000);
        assert_eq!(g.stores, [(0x2000, timer.to_be_bytes().to_vec())]);
    }

    /// Floating-point register `r` of the page.
    fn fpr(c: &Call, r: usize) -> u64 {
        c.page[(offset::FPR + offset::FPR_STRIDE * r) / 8]
    }

    /// `bytes` as block 3's instruction 1 with the AFP-register and vector
    /// controls on (CR0 bits 45, 46), the vector facility in the model,
    /// f0 = 1.5 and f2 = `f2`.
    fn float_setup(bytes: &[u8], f2: f64) -> Call {
        let mut c = setup(bytes);
        c.page[offset::CR / 8] |= 1 << 18 | 1 << 17;
        set_field::<1>(&mut c.page, cpu_page::VECTOR_FACILITY, 1);
        c.page[offset::FPR / 8] = 1.5f64.to_bits();
        c.page[(offset::FPR + 2 * offset::FPR_STRIDE) / 8] = f2.to_bits();
        c
    }

    #[test]
    fn an_operand_out_of_reach_leaves_the_call_but_not_the_site() {
        // vlbb v1,0(r2),6 at 2^47 (beyond the x86 lower half): the host's;
        // then at 0x2000 the image completes it.
        let mut c = float_setup(&[0xe7, 0x10, 0x20, 0x00, 0x60, 0x07], 0.0);
        c.page[(offset::GPR + 16) / 8] = 1 << 47;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.loads.is_empty());
        c.page[(offset::GPR + 16) / 8] = 0x2000;
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.loads, [(0x2000, 16)]);
    }

    fn fpc(c: &Call) -> u32 {
        field::<4>(&c.page, cpu_page::FPC) as u32
    }

    #[test]
    fn a_bfp_register_instruction_completes_with_its_result_and_condition_code() {
        // adbr f0,f2: 1.5 + 2.25 = 3.75, cc 2 (greater than zero).
        let mut c = float_setup(&[0xb3, 0x1a, 0x00, 0x02], 2.25);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(f64::from_bits(fpr(&c, 0)), 3.75);
        assert_eq!(c.page[offset::PSW_MASK / 8] & mask::CC, 2 << 44);
        assert_eq!(c.page[offset::PSW_ADDR / 8], 0x1004);
        assert_eq!(c.counts[Opcode::ADBR as usize], 1);
    }

    #[test]
    fn a_masked_ieee_exception_sets_its_flag_in_the_fpc() {
        // ddbr f0,f2 by zero, the trap disabled: infinity, flag z (FPC bit 9).
        let mut c = float_setup(&[0xb3, 0x1d, 0x00, 0x02], 0.0);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(fpr(&c, 0), f64::INFINITY.to_bits());
        assert_eq!(fpc(&c), 0x0040_0000);
    }

    #[test]
    fn an_enabled_ieee_exception_is_the_hosts_with_nothing_changed() {
        // ddbr f0,f2 by zero with the divide-by-zero trap on (FPC bit 1):
        // a data exception, which the host delivers after running it again.
        let mut c = float_setup(&[0xb3, 0x1d, 0x00, 0x02], 0.0);
        set_field::<4>(&mut c.page, cpu_page::FPC, 0x4000_0000);
        let before = c.page;
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
        assert_eq!(c.page, before);
        // The site stays the image's: the next division may be exact.
        c.page[(offset::FPR + 2 * offset::FPR_STRIDE) / 8] = 0.5f64.to_bits();
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(f64::from_bits(fpr(&c, 0)), 3.0);
    }

    #[test]
    fn bfp_without_the_afp_register_control_is_the_hosts() {
        // adbr with CR0 bit 45 off: a data exception (DXC 2).
        let mut c = float_setup(&[0xb3, 0x1a, 0x00, 0x02], 2.25);
        c.page[offset::CR / 8] &= !(1 << 18);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
    }

    #[test]
    fn a_vector_register_instruction_completes() {
        // vlgv r1,v0,1,3 (element 1 of v0 as doublewords): the low word of v0.
        let mut c = float_setup(&[0xe7, 0x10, 0x00, 0x01, 0x30, 0x21], 0.0);
        c.page[offset::VR / 8 + 1] = 0x1234_5678_9abc_def0;
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 0x1234_5678_9abc_def0);
    }

    #[test]
    fn a_vector_instruction_without_the_facility_is_the_hosts() {
        let mut c = float_setup(&[0xe7, 0x10, 0x00, 0x01, 0x30, 0x21], 0.0);
        set_field::<1>(&mut c.page, cpu_page::VECTOR_FACILITY, 0);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
    }

    #[test]
    fn load_on_condition_and_extract_fpc_complete() {
        // locgr r1,r2,8 (cc 0: taken), then efpc r3.
        let mut c = setup(&[0xb9, 0xe2, 0x80, 0x12]);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 0x2000);
        let mut c = setup(&[0xb3, 0x8c, 0x00, 0x30]);
        set_field::<4>(&mut c.page, cpu_page::FPC, 3);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(c.page[(offset::GPR + 24) / 8], 3);
    }

    #[test]
    fn store_clock_comparator_stores_the_published_comparator() {
        // stckc 0(r2)
        let mut c = setup(&[0xb2, 0x07, 0x20, 0x00]);
        c.shared.clock.clock_comparator = 0x1122_3344_5566_7788;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(
            g.stores,
            [(0x2000, 0x1122_3344_5566_7788u64.to_be_bytes().to_vec())]
        );
    }

    #[test]
    fn an_operand_fetch_is_made_through_the_root_page_by_page() {
        // lg r1,0xffc(r2): 8 bytes across the page boundary at 0x3000.
        let mut c = setup(&[0xe3, 0x12, 0x0f, 0xfc, 0x00, 0x04]);
        c.page[(offset::GPR + 16) / 8] = 0x2000;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.loads, [(0x2ffc, 4), (0x3000, 4)]);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 0xfcfd_feff_0001_0203);
    }

    #[test]
    fn a_fetch_the_root_refuses_or_a_change_of_the_program_mask_leaves_the_site_to_the_host() {
        // lg r1,0(r2) faults; spm r1 changes the program mask.
        for bytes in [&[0xe3, 0x10, 0x20, 0x00, 0x00, 0x04][..], &[0x04, 0x10]] {
            let mut c = setup(bytes);
            c.page[(offset::GPR + 8) / 8] = 0x0f00_0000;
            let before = c.page;
            let mut g = Recorded {
                faults: true,
                ..guest()
            };
            assert_eq!(c.call(3 << 8 | 1, &mut g), HOST, "{bytes:x?}");
            assert_eq!(c.page, before);
            let slot = crate::protocol::find_site(&c.sites, 3 << 8 | 1).unwrap();
            assert_eq!(c.sites[slot].refused, 1, "{bytes:x?}");
        }
    }

    /// Bytes of absolute storage in the DAT tests.
    const ABSOLUTE: usize = 0x4_0000;

    /// Absolute storage with a segment table at 0x10000 (CR1's ASCE, one
    /// page: segments 0-511) and a page table at 0x11000: segment 0 holds
    /// the page table, segment 2 one beyond storage, the others are
    /// invalid; page 5 is frame 0x23000, page 7 has bit 52 set (a
    /// translation-specification exception), the others are invalid.
    fn tables() -> Vec<u8> {
        let mut bytes = vec![0u8; ABSOLUTE];
        let mut put =
            |at: usize, value: u64| bytes[at..at + 8].copy_from_slice(&value.to_be_bytes());
        for segment in 0..512 {
            put(0x1_0000 + 8 * segment, 0x20);
        }
        put(0x1_0000, 0x1_1000);
        put(0x1_0010, 0x3f_f800);
        for page in 0..256 {
            put(0x1_1000 + 8 * page, 0x400);
        }
        put(0x1_1000 + 8 * 5, 0x2_3000);
        put(0x1_1000 + 8 * 7, 0x2_4800);
        bytes
    }

    /// `bytes` (block 3's instruction 1) with `tables()` in absolute
    /// storage through the window, CR1 designating the segment table and
    /// r2 = `r2`; and the guest holding that storage.
    fn window_setup(bytes: &[u8], r2: u64) -> (Call, Recorded) {
        let mut c = setup(bytes);
        c.shared.absolute_size = ABSOLUTE as u64;
        c.page[(offset::CR + 8) / 8] = 0x1_0000;
        c.page[(offset::GPR + 16) / 8] = r2;
        c.page[(offset::GPR + 8) / 8] = 0x1122_3344_5566_7788;
        let g = Recorded {
            absolute: tables(),
            ..guest()
        };
        (c, g)
    }

    /// The interpreter's run of the call's instruction from the call's CPU
    /// state over `absolute`: the CPU after it, its storage and result.
    fn interpreted(c: &Call, absolute: &[u8]) -> (Cpu, zmmu_cpu::memory::FlatMemory, bool) {
        let site = c.sites[find_site(&c.sites, 3 << 8 | 1).unwrap()];
        let mut cpu = load_cpu(&c.page, &c.shared.clock);
        cpu.psw.addr = site.at;
        let mut memory = zmmu_cpu::memory::FlatMemory::new(0, absolute.len());
        memory.load(0, absolute).unwrap();
        let insn = decode(&site.insn_bytes()[..site.len as usize]).unwrap();
        let ok = matches!(execute(&mut cpu, &mut memory, insn, site.at), Ok(Next::Seq));
        (cpu, memory, ok)
    }

    /// The registers and PSW of the call's page.
    fn page_state(c: &Call) -> ([u64; 16], u64, u64) {
        let gpr = core::array::from_fn(|r| c.page[(offset::GPR + 8 * r) / 8]);
        (
            gpr,
            c.page[offset::PSW_MASK / 8],
            c.page[offset::PSW_ADDR / 8],
        )
    }

    /// The cases of `tables()`: an address and the condition code LRA
    /// gives for it (`None`: a program interruption).
    const WALKS: [(u64, Option<u8>); 7] = [
        (0x5123, Some(0)),
        (0x6000, Some(2)),
        (0x10_0000, Some(1)),
        (0x2000_0000, Some(3)),
        (0x1_0000_0000, Some(3)),
        (0x7000, None),
        (0x20_0000, None),
    ];

    #[test]
    fn load_real_address_walks_the_tables_in_the_window_as_the_interpreter() {
        // lra r1,0(r2) and lrag r1,0(r2), 64-bit mode.
        for bytes in [
            &[0xb1, 0x10, 0x20, 0x00][..],
            &[0xe3, 0x10, 0x20, 0x00, 0x00, 0x03],
        ] {
            for (address, cc) in WALKS {
                let (mut c, mut g) = window_setup(bytes, address);
                let before = c.page;
                let (cpu, _, ok) = interpreted(&c, &g.absolute);
                let answer = c.call(3 << 8 | 1, &mut g);
                let case = format!("{bytes:x?} at {address:#x}");
                assert_eq!(ok, cc.is_some(), "{case}");
                if let Some(cc) = cc {
                    assert_eq!(answer, COMPLETED, "{case}");
                    assert_eq!(
                        page_state(&c),
                        (cpu.gpr, cpu.psw.mask, 0x1000 + bytes.len() as u64),
                        "{case}"
                    );
                    assert_eq!(cpu.psw.cc(), cc, "{case}");
                    assert_eq!(c.counts[insn_op(bytes) as usize], 1, "{case}");
                } else {
                    // The host delivers the exception; the next call may
                    // give a condition code.
                    assert_eq!(answer, HOST, "{case}");
                    assert_eq!(c.page, before, "{case}");
                    let slot = find_site(&c.sites, 3 << 8 | 1).unwrap();
                    assert_eq!(c.sites[slot].refused, 0, "{case}");
                }
                assert!(g.absolute_stores.is_empty() && g.stores.is_empty());
            }
        }
    }

    /// The opcode of `bytes`.
    fn insn_op(bytes: &[u8]) -> Opcode {
        decode(bytes).unwrap().op
    }

    #[test]
    fn load_real_address_without_a_window_or_in_the_access_register_mode_is_the_hosts() {
        let (mut c, mut g) = window_setup(&[0xb1, 0x10, 0x20, 0x00], 0x5123);
        c.shared.absolute_size = 0;
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        // DAT off, the access-register mode: LRA translates through r2's
        // access register.
        let (mut c, mut g) = window_setup(&[0xb1, 0x10, 0x20, 0x00], 0x5123);
        c.page[offset::PSW_MASK / 8] |= 1 << 46;
        set_field::<4>(&mut c.page, offset::AR + 8, 5);
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
    }

    #[test]
    fn test_protection_reads_no_key_through_the_window() {
        // tprot 0(r2),0: the storage key is the host's.
        let (mut c, mut g) = window_setup(&[0xe5, 0x01, 0x20, 0x00, 0x00, 0x00], 0x5000);
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        let slot = find_site(&c.sites, 3 << 8 | 1).unwrap();
        assert_eq!(c.sites[slot].refused, 1);
    }

    /// 64-bit addressing, the supervisor state, DAT off: the PSW of the
    /// SVC and of its new PSW.
    const REAL: u64 = mask::EA | mask::BA;

    /// `insn` at 0x1000 with DAT off; absolute storage of 0x2000 bytes,
    /// the lowcore's frame 0 listed as `state`, the SVC new PSW (`new`,
    /// 0x3000) at 0x1c0; the gate granting, with the real space's root
    /// (key 0) at index 2 and its fetch controls under tag 1.
    fn svc_setup(insn: &[u8], state: u64, new: u64) -> (Call, Recorded, Gate) {
        let mut c = setup(insn);
        c.shared.absolute_size = 0x2000;
        list(&mut c.frames, 0, state);
        let mut g = guest();
        g.absolute = vec![0; 0x2000];
        g.absolute[0x1c0..0x1c8].copy_from_slice(&new.to_be_bytes());
        g.absolute[0x1c8..0x1d0].copy_from_slice(&0x3000u64.to_be_bytes());
        g.grant = true;
        let gate = gate_for(&c, c.page[offset::PSW_MASK / 8]);
        (c, g, gate)
    }

    /// The gate with the root and the fetch controls of the call's CPU
    /// under the PSW mask `mask` published (at indexes 2 and 1).
    fn gate_for(c: &Call, mask: u64) -> Gate {
        let mut cpu = load_cpu(&c.page, &c.shared.clock);
        cpu.psw.mask = mask;
        let facilities = Facilities::from_bits_truncate(c.shared.facilities as u32);
        let controls = Controls::from_registers(&cpu.cr, cpu.prefix, facilities);
        let mut gate = Gate {
            roots: [[0; 2]; crate::protocol::GATE_ROOTS],
            spaces: [[u64::MAX; 6]; crate::protocol::GATE_SPACES],
            spaces_len: 2,
            tables: [0; crate::protocol::GATE_ROOTS],
        };
        let root = crate::gate::root_tag(&cpu, &controls).unwrap();
        gate.roots[2] = crate::protocol::root_words(&root);
        let fetch = crate::gate::fetch_controls(&cpu, controls);
        gate.spaces[1] = crate::protocol::controls_words(&fetch);
        gate
    }

    /// Host call 3 << 8 | 1 with the gate `gate`: the answer, the
    /// context's bits and last-run word.
    fn svc_call(c: &mut Call, g: &mut Recorded, gate: &Gate) -> (u64, u64, u64) {
        let (mut bits, mut last) = (0, 0);
        let context = Context {
            gate,
            bits: &mut bits,
            last_block: &mut last,
        };
        let Call {
            shared,
            sites,
            counts,
            frames,
            page,
            scratch,
        } = c;
        let answer = host_call(
            3 << 8 | 1,
            shared,
            sites,
            counts,
            frames,
            page,
            Some(context),
            g,
            scratch,
        );
        (answer, bits, last)
    }

    #[test]
    fn an_svc_is_delivered_through_the_lowcore_and_goes_to_the_dispatcher() {
        // svc 5
        let (mut c, mut g, gate) = svc_setup(&[0x0a, 0x05], FRAME_STORABLE, REAL);
        let (answer, bits, last) = svc_call(&mut c, &mut g, &gate);
        assert_eq!(answer, DISPATCH);
        // PoP ch. 6: the ILC (1) in bits 5-6 of 0x89, the code at 0x8a,
        // the old PSW at 0x140 after the SVC, the new one from 0x1c0.
        assert_eq!(g.absolute[0x88..0x8c], [0, 2, 0, 5]);
        assert_eq!(g.absolute[0x140..0x148], REAL.to_be_bytes());
        assert_eq!(g.absolute[0x148..0x150], 0x1002u64.to_be_bytes());
        assert_eq!(g.absolute_stores.len(), 3);
        assert_eq!(c.page[offset::PSW_MASK / 8], REAL);
        assert_eq!(c.page[offset::PSW_ADDR / 8], 0x3000);
        assert_eq!(
            (bits, last),
            (REAL & crate::gate::KEY_BITS | 1, 3 | 1 << 16)
        );
        assert_eq!((c.shared.go_to, c.shared.fetch_tag), (0x3000, 1));
        assert_eq!(c.counts[Opcode::SVC as usize], 1);
    }

    /// What the image cannot deliver exactly is the host's, nothing
    /// changed: a frame not listed storable, a new PSW the chain cannot
    /// go on under, a root not published or refused, an EXECUTE'd SVC,
    /// no context, a lowcore beyond storage.
    #[test]
    fn an_svc_the_image_cannot_deliver_is_the_hosts() {
        let svc = [0x0a, 0x05];
        let refused = |(mut c, mut g, gate): (Call, Recorded, Gate), what: &str| {
            let page = c.page;
            let (answer, bits, last) = svc_call(&mut c, &mut g, &gate);
            assert_eq!((answer, bits, last), (HOST, 0, 0), "{what}");
            assert!(g.absolute_stores.is_empty(), "{what}");
            assert_eq!(c.page, page, "{what}");
            assert_eq!(c.counts[Opcode::SVC as usize], 0, "{what}");
        };
        refused(svc_setup(&svc, FRAME_REFERENCED, REAL), "referenced only");
        refused(svc_setup(&svc, FRAME_UNLISTED, REAL), "not listed");
        for (new, what) in [
            (REAL | mask::WAIT, "wait"),
            (REAL | mask::PER, "PER"),
            (REAL | 1 << 63, "invalid"),
            (REAL | mask::PROBLEM | mask::IO, "masks on, no floor"),
            (REAL | mask::DAT, "DAT on: no root published"),
        ] {
            refused(svc_setup(&svc, FRAME_STORABLE, new), what);
        }
        let mut odd = svc_setup(&svc, FRAME_STORABLE, REAL);
        odd.1.absolute[0x1cf] = 1;
        refused(odd, "odd address");
        let mut denied = svc_setup(&svc, FRAME_STORABLE, REAL);
        denied.1.grant = false;
        refused(denied, "the gate refuses");
        let mut small = svc_setup(&svc, FRAME_STORABLE, REAL);
        small.0.shared.absolute_size = 0x100;
        refused(small, "the lowcore beyond storage");
        // ex 0,0(r2) of `svc 5` at 0x2000: the ILC would be the EXECUTE's.
        let mut executed = svc_setup(&[0x44, 0x00, 0x20, 0x00], FRAME_STORABLE, REAL);
        executed.1.text = Some((0x2000, [0x0a, 0x05, 0, 0, 0, 0]));
        refused(executed, "executed");
        // No context: the host's.
        let (mut c, mut g, _) = svc_setup(&svc, FRAME_STORABLE, REAL);
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.absolute_stores.is_empty());
    }

    /// DAT on in the primary space (CR1: `tables()`), 64-bit.
    const DAT: u64 = mask::DAT | mask::EA | mask::BA;

    /// `insn` at 0x1000 under [`DAT`] with r2 = `r2`, `tables()` in
    /// absolute storage (page 5 DAT-protected where `protect`), the
    /// lowcore's frame 0 listed storable, the program new PSW `new` at
    /// 0x3000 and its root published; the host's fault of this call at
    /// logical page `page`, two instructions of the block after it.
    fn program_setup(insn: &[u8], r2: u64, page: u64, new: u64) -> (Call, Recorded, Gate) {
        let (mut c, mut g, gate) = svc_setup(insn, FRAME_STORABLE, new);
        let mut absolute = tables();
        absolute[0x1d0..0x1d8].copy_from_slice(&new.to_be_bytes());
        absolute[0x1d8..0x1e0].copy_from_slice(&0x3000u64.to_be_bytes());
        absolute[0x1_1000 + 8 * 5..0x1_1000 + 8 * 6].copy_from_slice(&0x2_3200u64.to_be_bytes());
        g.absolute = absolute;
        c.shared.absolute_size = ABSOLUTE as u64;
        c.page[offset::PSW_MASK / 8] = DAT;
        c.page[(offset::CR + 8) / 8] = 0x1_0000;
        c.page[(offset::GPR + 16) / 8] = r2;
        c.shared.fault_site = (3 << 8 | 1) + 1;
        c.shared.fault_page = page;
        let slot = find_site(&c.sites, 3 << 8 | 1).unwrap();
        c.sites[slot].after = 2;
        (c, g, gate)
    }

    /// The interpreter's step of the call's instruction over `absolute`
    /// with DAT (`zmmu_machine::bus::DatBus`) and its delivery of the
    /// program interruption: the CPU and storage after it.
    fn interpreted_program(c: &Call, absolute: &[u8]) -> (Cpu, Vec<u8>) {
        let site = c.sites[find_site(&c.sites, 3 << 8 | 1).unwrap()];
        let mut cpu = load_cpu(&c.page, &c.shared.clock);
        let mut storage = zmmu_mmu::storage::OwnedStorage::new(absolute.len());
        storage.write(AbsoluteAddress::new(0), absolute).unwrap();
        let mut bus = zmmu_machine::bus::DatBus::new(storage);
        let insn = decode(&site.insn_bytes()[..site.len as usize]).unwrap();
        let (result, _) = cpu.step_decoded(&mut bus, insn, site.at);
        let Err(interruption @ Interruption::Program { .. }) = result else {
            panic!("no program interruption: {result:?}");
        };
        cpu.deliver(&mut bus, interruption).unwrap();
        (cpu, bus.storage.to_vec())
    }

    /// PoP ch. 6 "Program Interruption": the page-translation exception
    /// of a load (nullified: the old PSW at the instruction) and the
    /// protection exception of a store into a DAT-protected page, each at
    /// the page of the host's fault, delivered as the interpreter
    /// delivers them (the code and ILC at 0x8c, the TEID at 0xa8, the old
    /// PSW at 0x150, the new PSW from 0x1d0); the block's two
    /// instructions after it given back, the count.
    #[test]
    fn an_access_exception_at_the_fault_page_is_delivered_as_the_interpreter() {
        // lg r1,0(r2) at 0x6000 (invalid), stg r1,0(r2) at 0x5008
        // (protected).
        for (insn, r2, code) in [
            ([0xe3, 0x10, 0x20, 0x00, 0x00, 0x04], 0x6000, 0x11),
            ([0xe3, 0x10, 0x20, 0x00, 0x00, 0x24], 0x5008, 0x04),
        ] {
            let (mut c, mut g, gate) = program_setup(&insn, r2, r2 & !0xfff, REAL);
            // The page's PSW address is the block's, not the instruction's
            // (translated code does not keep it): nothing changed all the
            // same.
            c.page[offset::PSW_ADDR / 8] = 0xff0;
            let (cpu, expected) = interpreted_program(&c, &g.absolute);
            let (answer, bits, last) = svc_call(&mut c, &mut g, &gate);
            assert_eq!(answer, DISPATCH, "{code:#x}");
            assert_eq!(g.absolute[0x8e..0x90], [0, code]);
            assert_eq!(g.absolute[0x80..0x200], expected[0x80..0x200], "{code:#x}");
            assert_eq!(g.absolute, expected, "{code:#x}");
            assert_eq!(
                (c.page[offset::PSW_MASK / 8], c.page[offset::PSW_ADDR / 8]),
                (cpu.psw.mask, cpu.psw.addr)
            );
            assert_eq!(cpu.psw.addr, 0x3000);
            assert_eq!(
                (bits, last),
                (REAL & crate::gate::KEY_BITS | 1, 3 | 1 << 16)
            );
            assert_eq!(
                (c.shared.go_to, c.shared.refund, c.shared.programs),
                (0x3000, 2, 1)
            );
            assert_eq!(c.shared.fault_site, 0, "taken");
            assert!(g.loads.is_empty(), "nothing loaded through the root");
        }
    }

    /// What the image cannot deliver exactly is the host's, nothing
    /// changed and the site not refused: a PSW key other than 0, the
    /// exception at another page than the host's fault, a lowcore frame
    /// not listed storable, a new PSW in the wait state, no context.
    #[test]
    fn an_access_exception_the_image_cannot_deliver_is_the_hosts() {
        let lg = [0xe3, 0x10, 0x20, 0x00, 0x00, 0x04];
        let refused = |(mut c, mut g, gate): (Call, Recorded, Gate), what: &str| {
            let (page, absolute) = (c.page, g.absolute.clone());
            let (answer, bits, last) = svc_call(&mut c, &mut g, &gate);
            assert_eq!((answer, bits, last), (HOST, 0, 0), "{what}");
            assert_eq!((c.page, &g.absolute), (page, &absolute), "{what}");
            assert_eq!((c.shared.refund, c.shared.programs), (0, 0), "{what}");
            let slot = find_site(&c.sites, 3 << 8 | 1).unwrap();
            assert_eq!(c.sites[slot].refused, 0, "{what}");
        };
        let mut key = program_setup(&lg, 0x6000, 0x6000, REAL);
        key.0.page[offset::PSW_MASK / 8] = DAT | 0x0010_0000_0000_0000;
        refused(key, "key 1");
        refused(program_setup(&lg, 0x6000, 0x8000, REAL), "another page");
        let mut unlisted = program_setup(&lg, 0x6000, 0x6000, REAL);
        list(&mut unlisted.0.frames, 0, FRAME_REFERENCED);
        refused(unlisted, "referenced only");
        refused(
            program_setup(&lg, 0x6000, 0x6000, REAL | mask::WAIT),
            "wait",
        );
        let (mut c, mut g, _) = program_setup(&lg, 0x6000, 0x6000, REAL);
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST, "no context");
    }

    /// An EXECUTE's target meeting the exception at the fault page: the
    /// interruption is the EXECUTE's (its ILC, the old PSW at it when
    /// nullified), as the interpreter's step gives it.
    #[test]
    fn an_executed_instructions_exception_is_the_executes() {
        // exrl 0,+0x16 at 0x1000; at 0x1016 lg r1,0(r2), r2 at 0x6000
        // (invalid); page 1 mapped onto frame 0x1000.
        let (mut c, mut g, gate) =
            program_setup(&[0xc6, 0x00, 0x00, 0x00, 0x00, 0x0b], 0x6000, 0x6000, REAL);
        let target = [0xe3, 0x10, 0x20, 0x00, 0x00, 0x04];
        g.text = Some((0x1016, target));
        g.absolute[0x1016..0x101c].copy_from_slice(&target);
        g.absolute[0x1_1008..0x1_1010].copy_from_slice(&0x1000u64.to_be_bytes());
        let (cpu, expected) = interpreted_program(&c, &g.absolute);
        let (answer, _, _) = svc_call(&mut c, &mut g, &gate);
        assert_eq!(answer, DISPATCH);
        assert!(g.absolute == expected, "the storage differs");
        // ILC 3 (the EXRL's), the old PSW at the EXRL.
        assert_eq!(g.absolute[0x8c..0x90], [0, 6, 0, 0x11]);
        assert_eq!(g.absolute[0x158..0x160], 0x1000u64.to_be_bytes());
        assert_eq!(page_state(&c), (cpu.gpr, cpu.psw.mask, cpu.psw.addr));
        assert_eq!(c.shared.refund, 2);
    }

    /// The host's fault names another call: this one's accesses go
    /// through the root as at any call (here completed), and the fault is
    /// taken all the same.
    #[test]
    fn a_fault_of_another_call_is_not_this_ones() {
        let (mut c, mut g, gate) =
            program_setup(&[0xe3, 0x10, 0x20, 0x00, 0x00, 0x04], 0x6000, 0x6000, REAL);
        c.shared.fault_site = (3 << 8 | 2) + 1;
        let (answer, _, _) = svc_call(&mut c, &mut g, &gate);
        assert_eq!(answer, COMPLETED);
        assert_eq!(g.loads, [(0x6000, 8)]);
        assert_eq!((c.shared.fault_site, c.shared.programs), (0, 0));
    }

    /// Lists the absolute frame of `frame` in `table` (the table at
    /// `protocol::STORABLE`) as `state`, as the host does.
    fn list(table: &mut [u64], frame: u64, state: u64) {
        let (word, shift) = crate::protocol::frame_bits(frame).unwrap();
        table[word] = crate::protocol::with_frame_state(table[word], shift, state);
    }

    /// `sturg r1,r2` (r1 = 0x1122334455667788) at real `r2` with the prefix
    /// 0x20000 and the frames `listed` entered storable.
    fn store_real(r2: u64, listed: &[u64]) -> (Call, Recorded) {
        let (mut c, g) = window_setup(&[0xb9, 0x25, 0x00, 0x12], r2);
        c.page[offset::PREFIX / 8] = 0x2_0000;
        for &frame in listed {
            list(&mut c.frames, frame, FRAME_STORABLE);
        }
        (c, g)
    }

    #[test]
    fn store_using_real_address_stores_into_a_listed_frame_as_the_interpreter() {
        // Real 0x3008 is absolute 0x3008; real 0x1808, in the prefix
        // area's second page, absolute 0x21808; real 0x20010, the prefix
        // area, absolute 0x10.
        for (real, absolute) in [(0x3008, 0x3008), (0x1808, 0x2_1808), (0x2_0010, 0x10)] {
            let (mut c, mut g) = store_real(real, &[absolute & !0xfff]);
            let (cpu, memory, ok) = interpreted(&c, &g.absolute);
            assert!(ok);
            assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED, "real {real:#x}");
            let stored = 0x1122_3344_5566_7788u64.to_be_bytes().to_vec();
            assert_eq!(g.absolute_stores, [(absolute, stored)], "real {real:#x}");
            assert_eq!(g.absolute, memory.bytes(), "real {real:#x}");
            assert_eq!(page_state(&c), (cpu.gpr, cpu.psw.mask, 0x1004));
            assert_eq!(c.counts[Opcode::STURG as usize], 1);
        }
    }

    #[test]
    fn a_real_store_into_a_frame_not_listed_is_the_hosts_and_the_site_stays() {
        let (mut c, mut g) = store_real(0x3008, &[0x4000]);
        let before = c.page;
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert_eq!(c.page, before);
        assert!(g.absolute_stores.is_empty());
        // The host's store lists it: the next is the image's.
        list(&mut c.frames, 0x3000, FRAME_STORABLE);
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.absolute_stores.len(), 1);
    }

    #[test]
    fn a_real_store_under_a_nonzero_key_at_a_low_address_or_beyond_storage_is_the_hosts() {
        // PSW key 9 (key-controlled protection: the frame's key decides).
        let (mut c, mut g) = store_real(0x3008, &[0x3000]);
        c.page[offset::PSW_MASK / 8] |= 9 << 52;
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        // Real 0x1100: low-address protection's range (absolute 0x21100).
        let (mut c, mut g) = store_real(0x1100, &[0x2_1000]);
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        // Beyond the window's storage (an addressing exception), listed.
        let (mut c, mut g) = store_real(ABSOLUTE as u64, &[ABSOLUTE as u64]);
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        // Not on a doubleword boundary (a specification exception).
        let (mut c, mut g) = store_real(0x3004, &[0x3000]);
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.absolute_stores.is_empty());
    }

    #[test]
    fn store_using_real_address_word_stores_four_bytes() {
        // stura r1,r2
        let (mut c, mut g) = window_setup(&[0xb2, 0x46, 0x00, 0x12], 0x3008);
        list(&mut c.frames, 0x3000, FRAME_STORABLE);
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.absolute_stores, [(0x3008, vec![0x55, 0x66, 0x77, 0x88])]);
    }
    /// Absolute storage of the MVCOS tests: segment tables at 0x10000
    /// (CR1, primary), 0x12000 (CR7, secondary) and 0x14000 (CR13, home),
    /// each with segment 0's page table (0x11000, 0x11800, 0x13000), the
    /// other segments invalid. Pages 5 and 6 are frames 0x20000-0x21000
    /// in the primary space, 0x23000-0x24000 in the secondary and
    /// 0x25000-0x26000 in the home space; primary page 0 is frame 0x27000,
    /// page 7 frame 0x22000 DAT-protected, page 8 invalid (as the others).
    /// Frames 0x20000-0x27fff hold bytes 0x20000-0x27fff's (their address
    /// folded: `pattern`).
    fn spaces() -> Vec<u8> {
        let mut bytes = vec![0u8; ABSOLUTE];
        let mut put =
            |at: usize, value: u64| bytes[at..at + 8].copy_from_slice(&value.to_be_bytes());
        for (segments, pages) in [
            (0x1_0000, 0x1_1000),
            (0x1_2000, 0x1_1800),
            (0x1_4000, 0x1_3000),
        ] {
            for segment in 0..512 {
                put(segments + 8 * segment, 0x20);
            }
            put(segments, pages as u64);
            for page in 0..256 {
                put(pages + 8 * page, 0x400);
            }
        }
        for (pages, first) in [
            (0x1_1000, 0x2_0000u64),
            (0x1_1800, 0x2_3000),
            (0x1_3000, 0x2_5000),
        ] {
            put(pages + 8 * 5, first);
            put(pages + 8 * 6, first + 0x1000);
        }
        put(0x1_1000, 0x2_7000);
        put(0x1_1000 + 8 * 7, 0x2_2000 | 0x200);
        for (at, byte) in bytes.iter_mut().enumerate().skip(0x2_0000).take(0x8000) {
            *byte = pattern(at as u64);
        }
        bytes
    }

    /// The byte the MVCOS tests put at absolute `at`.
    fn pattern(at: u64) -> u8 {
        (at ^ at >> 8 ^ at >> 13) as u8
    }

    /// The frames of [`spaces`] that hold operands.
    const OPERAND_FRAMES: core::ops::Range<u64> = 0x2_0000..0x2_8000;

    /// The operand-access control of an operand in the space of `asc`
    /// with the access key `key` (both specified).
    fn oac(asc: u64, key: u64) -> u64 {
        key << 12 | asc << 6 | 3
    }

    /// `mvcos 0(r1),0(r2),r3` with r0 = `r0`, r1 = `dst`, r2 = `src`,
    /// r3 = `len`, DAT on in the primary-space mode with the secondary-space
    /// control and low-address protection, over [`spaces`]; the operand
    /// frames listed storable (their keys R and C one).
    fn mvcos(r0: u64, dst: u64, src: u64, len: u64) -> (Call, Recorded) {
        let mut c = setup(&[0xc8, 0x30, 0x10, 0x00, 0x20, 0x00]);
        c.shared.absolute_size = ABSOLUTE as u64;
        c.shared.facilities = u64::from(Facilities::LAP.bits());
        c.page[offset::PSW_MASK / 8] |= mask::DAT;
        let cr0 = zmmu_mmu::control::Cr0::SECONDARY_SPACE
            | zmmu_mmu::control::Cr0::LOW_ADDRESS_PROTECTION;
        for (r, value) in [
            (0, cr0.bits()),
            (1, 0x1_0000),
            (7, 0x1_2000),
            (13, 0x1_4000),
        ] {
            c.page[(offset::CR + 8 * r) / 8] = value;
        }
        for (r, value) in [r0, dst, src, len].into_iter().enumerate() {
            c.page[(offset::GPR + 8 * r) / 8] = value;
        }
        for frame in OPERAND_FRAMES.step_by(4096) {
            list(&mut c.frames, frame, FRAME_STORABLE);
        }
        let g = Recorded {
            absolute: spaces(),
            ..guest()
        };
        (c, g)
    }

    /// The interpreter's run of the call's instruction on its DAT bus over
    /// `absolute`, the frames of `table` with the keys their states say
    /// (storable: R and C, referenced: R): the CPU after it, the storage
    /// and the exception, if any.
    fn interpreted_dat(c: &Call, absolute: &[u8]) -> (Cpu, Vec<u8>, Option<Exception>) {
        let site = c.sites[find_site(&c.sites, 3 << 8 | 1).unwrap()];
        let mut cpu = load_cpu(&c.page, &c.shared.clock);
        cpu.psw.addr = site.at;
        let mut storage = zmmu_mmu::storage::OwnedStorage::new(absolute.len());
        storage.write(AbsoluteAddress::new(0), absolute).unwrap();
        for frame in (0..absolute.len() as u64).step_by(4096) {
            let bits = match frame_state(&c.frames, frame) {
                FRAME_STORABLE => StorageKey::R | StorageKey::C,
                FRAME_REFERENCED => StorageKey::R,
                _ => 0,
            };
            storage.set_key(AbsoluteAddress::new(frame), StorageKey::new(bits));
        }
        let mut bus = zmmu_machine::bus::DatBus::new(storage);
        let insn = decode(&site.insn_bytes()[..site.len as usize]).unwrap();
        let result = execute(&mut cpu, &mut bus, insn, site.at);
        let bytes = bus.storage.to_vec();
        (cpu, bytes, result.err())
    }

    /// Runs the MVCOS call of `c` and the interpreter from the same
    /// state: the image completes it with the interpreter's registers,
    /// PSW and storage.
    fn completes_as_the_interpreter(mut c: Call, mut g: Recorded, case: &str) {
        let (cpu, storage, exception) = interpreted_dat(&c, &g.absolute);
        assert_eq!(exception, None, "{case}");
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED, "{case}");
        assert_eq!(page_state(&c), (cpu.gpr, cpu.psw.mask, 0x1006), "{case}");
        assert!(g.absolute == storage, "{case}: the storage differs");
        assert_eq!(c.counts[Opcode::MVCOS as usize], 1, "{case}");
    }

    /// Runs the MVCOS call of `c`: the host's, nothing changed, the site
    /// still the image's; the interpreter's run ends in `exception` (if
    /// any). The frames the image asked the host to list.
    fn left_to_the_host(mut c: Call, mut g: Recorded, exception: Option<u16>) -> Vec<u64> {
        let (_, _, interpreted) = interpreted_dat(&c, &g.absolute);
        assert_eq!(interpreted.map(|e| e.code.0), exception);
        let (page, absolute) = (c.page, g.absolute.clone());
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert_eq!(c.page, page);
        assert!(g.absolute == absolute && g.absolute_stores.is_empty());
        let slot = find_site(&c.sites, 3 << 8 | 1).unwrap();
        assert_eq!(c.sites[slot].refused, 0, "the site stays the image's");
        c.shared
            .wanted
            .iter()
            .filter(|&&w| w != 0)
            .map(|&w| w & !0xfff)
            .collect()
    }

    #[test]
    fn move_with_optional_specifications_completes_as_the_interpreter() {
        let (p, s, h) = (0, 2, 3);
        // (r0, dst, src, len): the PSW's space and key; each space named;
        // lengths 0, 1, 4096 and above (cc 3); operands across pages;
        // overlapping operands in one space (forwards and backwards).
        let cases = [
            (0, 0x5010, 0x6020, 16),
            (oac(s, 0) << 16 | oac(p, 0), 0x5000, 0x5100, 256),
            (oac(p, 0) << 16 | oac(s, 0), 0x5008, 0x6000, 1),
            (oac(h, 0) << 16 | oac(s, 0), 0x5000, 0x5000, 4096),
            (oac(s, 0) << 16 | oac(h, 0), 0x5800, 0x5400, 4096),
            (oac(h, 0) << 16 | oac(h, 0), 0x5123, 0x5456, 5000),
            (oac(s, 0) << 16, 0x5010, 0x5020, 0),
            (0, 0x5ff0, 0x6ff8, 9),
            (0, 0x5010, 0x5000, 0x100),
            (0, 0x5000, 0x5010, 0x100),
            (0, 0x5800, 0x5000, 0x1000),
        ];
        for (r0, dst, src, len) in cases {
            let (c, g) = mvcos(r0, dst, src, len);
            let case = format!("r0 {r0:#x} to {dst:#x} from {src:#x} len {len:#x}");
            completes_as_the_interpreter(c, g, &case);
        }
    }

    #[test]
    fn a_protected_or_untranslatable_operand_is_the_hosts_which_delivers_it() {
        // DAT protection (primary page 7), low-address protection (logical
        // 0x100 in the primary space), an invalid page (8) as destination,
        // then as source; the secondary space without its control.
        for (dst, src, code) in [
            (0x7000, 0x5000, Code::PROTECTION),
            (0x100, 0x5000, Code::PROTECTION),
            (0x6ff8, 0x5000, Code::PROTECTION),
            (0x8000, 0x5000, Code::PAGE_TRANSLATION),
            (0x5000, 0x8000, Code::PAGE_TRANSLATION),
        ] {
            let len = if dst == 0x6ff8 { 0x10 } else { 8 };
            let (c, g) = mvcos(0, dst, src, len);
            assert_eq!(left_to_the_host(c, g, Some(code.0)), [], "to {dst:#x}");
        }
        let (mut c, g) = mvcos(oac(2, 0) << 16, 0x5000, 0x5000, 8);
        c.page[offset::CR / 8] &= !zmmu_mmu::control::Cr0::SECONDARY_SPACE.bits();
        assert_eq!(left_to_the_host(c, g, Some(Code::SPECIAL_OPERATION.0)), []);
    }

    /// PoP ch. 6: MVCOS's access exceptions, which its walk in the named
    /// spaces recognizes without a fault of the host, delivered as the
    /// interpreter delivers them where the call can go on at the new PSW
    /// (the lowcore frame listed storable, its root published); the
    /// block's instructions after it given back.
    #[test]
    fn an_access_exception_of_move_with_optional_specifications_is_delivered_in_the_vm() {
        for (dst, src, len, code) in [
            (0x7000, 0x5000, 8, Code::PROTECTION),
            (0x100, 0x5000, 8, Code::PROTECTION),
            (0x6ff8, 0x5000, 0x10, Code::PROTECTION),
            (0x8000, 0x5000, 8, Code::PAGE_TRANSLATION),
            (0x5000, 0x8000, 8, Code::PAGE_TRANSLATION),
        ] {
            let (mut c, mut g) = mvcos(0, dst, src, len);
            list(&mut c.frames, 0, FRAME_STORABLE);
            g.absolute[0x1d0..0x1d8].copy_from_slice(&REAL.to_be_bytes());
            g.absolute[0x1d8..0x1e0].copy_from_slice(&0x3000u64.to_be_bytes());
            g.grant = true;
            let slot = find_site(&c.sites, 3 << 8 | 1).unwrap();
            c.sites[slot].after = 3;
            let gate = gate_for(&c, REAL);
            let (cpu, expected) = interpreted_program(&c, &g.absolute);
            let (answer, _, _) = svc_call(&mut c, &mut g, &gate);
            assert_eq!(answer, DISPATCH, "to {dst:#x}");
            assert_eq!(g.absolute[0x8e..0x90], code.0.to_be_bytes(), "to {dst:#x}");
            assert!(g.absolute == expected, "to {dst:#x}: the storage differs");
            assert_eq!(page_state(&c), (cpu.gpr, cpu.psw.mask, cpu.psw.addr));
            assert_eq!((c.shared.refund, c.shared.programs), (3, 1));
        }
    }

    #[test]
    fn a_frame_not_listed_is_the_hosts_which_lists_it_then_the_image_moves() {
        // The source frame only referenced, the destination's not listed:
        // the host's run records R and C there, then lists them.
        let (mut c, g) = mvcos(0, 0x6000, 0x5ff8, 16);
        list(&mut c.frames, 0x2_1000, FRAME_UNLISTED);
        list(&mut c.frames, 0x2_0000, FRAME_REFERENCED);
        let mut wanted = left_to_the_host(c, g, None);
        wanted.sort_unstable();
        assert_eq!(wanted, [0x2_1000]);
        // A destination only referenced: its change is the host's.
        let (mut c, g) = mvcos(0, 0x5000, 0x6000, 16);
        list(&mut c.frames, 0x2_0000, FRAME_REFERENCED);
        assert_eq!(left_to_the_host(c, g, None), [0x2_0000]);
        // Source and destination unlisted: both wanted; once listed, the
        // image moves.
        let (mut c, g) = mvcos(0, 0x5000, 0x6000, 16);
        list(&mut c.frames, 0x2_0000, FRAME_UNLISTED);
        list(&mut c.frames, 0x2_1000, FRAME_UNLISTED);
        let mut wanted = left_to_the_host(c, g, None);
        wanted.sort_unstable();
        assert_eq!(wanted, [0x2_0000, 0x2_1000]);
        let (mut c, g) = mvcos(0, 0x5000, 0x6000, 16);
        list(&mut c.frames, 0x2_1000, FRAME_REFERENCED);
        completes_as_the_interpreter(c, g, "after the host listed them");
    }

    #[test]
    fn a_nonzero_access_key_or_the_access_register_space_is_the_hosts() {
        // Key 9 named for the destination, the PSW key 9 (supervisor
        // state: authorized), the access-register mode named for the
        // source.
        let (c, g) = mvcos(oac(0, 9) << 16, 0x5000, 0x6000, 8);
        assert_eq!(left_to_the_host(c, g, Some(Code::PROTECTION.0)), []);
        let (mut c, g) = mvcos(0, 0x5000, 0x6000, 8);
        c.page[offset::PSW_MASK / 8] |= 9 << 52;
        assert_eq!(left_to_the_host(c, g, Some(Code::PROTECTION.0)), []);
        let (c, g) = mvcos(oac(1, 0), 0x5000, 0x6000, 8);
        assert_eq!(left_to_the_host(c, g, None), []);
    }

    #[test]
    fn store_access_multiple_stores_each_access_register_as_the_page_holds_it() {
        // stam a0,a15,0(r2)
        let mut c = setup(&[0x9b, 0x0f, 0x20, 0x00]);
        let value = |r: usize| 0xa0b0_c000 | r as u32;
        for r in 0..16 {
            set_field::<4>(&mut c.page, offset::AR + 4 * r, u64::from(value(r)));
        }
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        let expected: Vec<u8> = (0..16).flat_map(|r| value(r).to_be_bytes()).collect();
        assert_eq!(g.stores, [(0x2000, expected)]);
    }

    #[test]
    fn load_access_multiple_writes_each_access_register_back_and_nothing_beside() {
        // lam a0,a15,0(r2): the words at 0x2000 (bytes 00 01 02 ... 3f).
        let mut c = setup(&[0x9a, 0x0f, 0x20, 0x00]);
        for r in 0..16 {
            c.page[(offset::CR + 8 * r) / 8] = 0x100 + r as u64;
        }
        let before = c.page;
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        for r in 0..16 {
            let bytes = [0, 1, 2, 3].map(|i| (4 * r + i) as u8);
            let ar = field::<4>(&c.page, offset::AR + 4 * r) as u32;
            assert_eq!(ar, u32::from_be_bytes(bytes), "a{r}");
        }
        let ars = offset::AR / 8..offset::AR / 8 + 8;
        let psw = offset::PSW_ADDR / 8;
        for (w, (now, was)) in c.page.iter().zip(&before).enumerate() {
            if !ars.contains(&w) && w != psw {
                assert_eq!(now, was, "word {w}");
            }
        }
    }

    /// A change of one field of the CPU.
    type Change = fn(&mut Cpu);

    #[test]
    fn only_the_results_may_change_each_other_field_of_the_cpu_is_the_hosts() {
        let mut before = Cpu::new();
        before.psw.mask = mask::EA | mask::BA;
        let results: [Change; 10] = [
            |c| c.gpr[15] = 1,
            |c| c.ar[15] = 1,
            |c| c.vr[31][1] = 1,
            |c| c.fpc = 1,
            |c| c.psw.mask |= mask::CC,
            |c| c.psw.mask |= mask::IO | mask::EXT,
            |c| c.psw.addr = 8,
            |c| c.cr[1] = 1,
            |c| c.cr[7] = 1,
            |c| c.clock_comparator = 1,
        ];
        let others: [Change; 15] = [
            |c| c.cr[0] = 0,
            |c| c.cr[2] = 1,
            |c| c.cr[15] = 1,
            |c| c.psw.mask |= mask::FIXED_OVERFLOW,
            |c| c.psw.mask |= mask::KEY,
            |c| c.psw.mask |= mask::DAT,
            |c| c.psw.mask |= mask::PROBLEM,
            |c| c.prefix = zmmu_mmu::prefix::Prefix::new(0x2000),
            |c| c.cpu_addr = 1,
            |c| c.vector_facility = false,
            |c| c.mie3_facility = false,
            |c| c.vxeh_facility = false,
            |c| c.vxeh2_facility = false,
            |c| c.cpu_timer_zero = 1,
            |c| c.tod_programmable = 1,
        ];
        for (i, change) in results.iter().enumerate() {
            let mut after = before.clone();
            change(&mut after);
            assert!(
                only_results_changed(&Rest::of(&before), &after),
                "result {i}"
            );
        }
        for (i, change) in others.iter().enumerate() {
            let mut after = before.clone();
            change(&mut after);
            assert!(
                !only_results_changed(&Rest::of(&before), &after),
                "field {i}"
            );
        }
        // With DAT on in the primary-space mode, CR1 chooses the root.
        before.psw.mask |= mask::DAT;
        let mut after = before.clone();
        after.cr[1] = 1;
        assert!(!only_results_changed(&Rest::of(&before), &after));
    }
}
