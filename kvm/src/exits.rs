//! What the host does when translated code leaves the VM: a host call runs
//! one instruction with the interpreter's semantics (an instruction not
//! translated, or a native one whose fast path gave up), and a page fault
//! is resolved by the shadow pager (a shadow fill, retried), or sends the
//! instruction to its slow path (an s390x exception, a sub-page rule, an
//! address the x86 MMU cannot map, a store into a frame holding translated
//! code), where the interpreter gives the architected result.

use std::ops::Range;
use std::time::Instant;
use zmmu_cpu::clock::{ns_to_tod, Pace};
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, Cpu};

use zmmu_hv_kvm::runtime::{GO_TO, LEAVE};
use zmmu_hv_kvm::{ExitHandler, FaultAction, KvmError, KvmPaging, KvmRoot, PageFault, Regs};
use zmmu_machine::interrupt::{
    interruption_controls, take_external, ExternalSignals, CR0_CLOCK_COMPARATOR,
};
use zmmu_machine::system::Board;
use zmmu_mmu::access::{AccessKind, Request};
use zmmu_mmu::addr::LogicalAddress;
use zmmu_mmu::control::{AddressSpace, Controls};
use zmmu_mmu::host::{FlushScope, HostPageSize, HostPaging, HostPerms, Mapping, LOWER_HALF_END};
use zmmu_mmu::shadow::{Resolution, ShadowError, ShadowPager};
use zmmu_translator::{abi, relative_target};

use crate::blocks::Blocks;
use crate::deadline::Deadline;
use crate::reasons::{ExitReasons, Leave};
use crate::watch::Watch;
use crate::{recheck_jumps, state, Stats};

/// Where a chain of blocks left translated code early: a host call
/// answered "leave".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Left {
    pub block: usize,
    pub index: usize,
    /// Instructions of the block after the one that left (charged to the
    /// budget at the block's start, not executed).
    pub refund: u64,
    pub result: Result<(), Interruption>,
    /// The machine must look (an interruption may be pending).
    pub leave_run: bool,
}

/// The state the accesses of the running chain are made in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context {
    pub controls: Controls,
    pub space: AddressSpace,
    pub key: u8,
}

/// The exit handler of one chain.
pub(crate) struct Exits<'a, 'b> {
    pub cpu: &'a mut Cpu,
    pub board: &'a mut Board<'b>,
    pub blocks: &'a mut Blocks,
    pub pager: &'a mut ShadowPager<KvmPaging>,
    pub stats: &'a mut Stats,
    pub reasons: &'a mut ExitReasons,
    pub context: Context,
    /// The batch's deadline: a host call after it leaves the chain; one
    /// that makes a timer come due sooner brings it forward.
    pub deadline: Deadline,
    /// Where the vCPU holds the instruction budget in r15 (the dispatcher,
    /// the blocks and the host-call stub but its call of the image and
    /// its trap, not the trampolines around them).
    pub budget_in_r15: [Range<u64>; 4],
    /// Budget taken away from running code at the deadline (r15 set to 0:
    /// the next block's budget check ends the chain).
    pub stolen: u64,
    /// The last fault (instruction address, page): the same again means
    /// the mapping did not take, and the slow path runs instead.
    pub last_fault: Option<(u64, u64)>,
    pub left: Option<Left>,
    /// How the TSC in the VM follows the host's (the image's clock page).
    pub tsc: Option<zmmu_hv_kvm::image::TscLink>,
    /// The translator's dispatcher (its address in the VM).
    pub dispatch: u64,
    /// Where the last host call answered [`GO_TO`] sends the vCPU, and
    /// its RAX ([`ExitHandler::go_to`]).
    pub go_to: (u64, u64),
    /// The lengths of the blocks the last host call ran ahead
    /// ([`ExitHandler::r15_less`]).
    pub r15_less: u64,
}

/// The control registers whose change the chain follows without leaving
/// (the root switched during the host call): the primary, secondary and
/// home ASCEs, which choose the shadow root and the fetch controls'
/// tag but do not enter translated code.
const SPACE_REGISTERS: [usize; 3] = [1, 7, 13];

impl Exits<'_, '_> {
    /// After a host call that changed the address space the chain runs
    /// in (an LCTLG of CR1 at a system call, an LPSWE back to the problem
    /// state), having left nothing else to look at: whether the chain goes
    /// on in the VM under the new state (PoP ch. 3 "Address Spaces", as
    /// the machine's next chain would run it). It does if the PSW is
    /// valid, not a wait or PER, changed only in the bits the blocks are
    /// made for (`KEY_BITS`), the interruption masks and the condition
    /// code, no control register changed but the ASCEs
    /// ([`SPACE_REGISTERS`]), and a shadow root serves the new space (not
    /// the access-register mode): the root is made active (the vCPU loads
    /// it before it returns from the call), the faults of the rest of the
    /// chain are resolved in the new space, and the dispatcher looks for
    /// blocks under the new PSW bits and fetch controls' tag.
    fn switch(
        &mut self,
        paging: &mut KvmPaging,
        cr_before: &[u64; 16],
        mask_before: u64,
    ) -> Result<bool, KvmError> {
        let psw = self.cpu.psw;
        let mask_changed = (psw.mask ^ mask_before) & !(mask::CC | INTERRUPTION_MASKS);
        let registers =
            (0..16).all(|r| SPACE_REGISTERS.contains(&r) || self.cpu.cr[r] == cr_before[r]);
        if !psw.is_valid()
            || psw.addr & 1 != 0
            || psw.mask & (mask::WAIT | mask::PER) != 0
            || mask_changed & !crate::KEY_BITS != 0
            || !registers
        {
            return Ok(false);
        }
        let controls = self.board.bus.controls(self.cpu);
        let (context, Some(tag)) = crate::chain_context(self.cpu, controls) else {
            return Ok(false);
        };
        let root = self.pager.activate(paging, tag)?;
        paging.activate(root)?;
        self.context = context;
        let area = paging.exec_area();
        self.blocks
            .enter_space(&area, &crate::fetch_controls(self.cpu, controls));
        state::set_bits(&area, psw.mask & crate::KEY_BITS | self.blocks.spaces.now);
        Ok(true)
    }

    /// The controls that make the chain leave when they change: those the
    /// root and the block bits were chosen for, and those that decide
    /// which interruptions are pending.
    fn watched(&self) -> (Controls, [u64; 6]) {
        (
            self.board.bus.controls(self.cpu),
            interruption_controls(self.cpu),
        )
    }
}

/// The instruction only reads the TOD clock or the CPU timer (PoP ch. 4,
/// "Timing"): nothing of the machine's changes with it.
fn reads_clock_only(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::STCK | Opcode::STCKF | Opcode::STCKE | Opcode::STPT
    )
}

// The PSW bits that only decide which interruptions are taken (PoP
// "Program-Status Word": the I/O and external masks): translated code
// does not depend on them, so a change of them alone ends the chain only
// when an interruption may be taken (`may_interrupt`).
use zmmu_vm_runtime::gate::INTERRUPTION_MASKS;
use zmmu_vm_runtime::protocol::{root_words, WINDOW_PAGES};

/// After an instruction changed what decides which interruptions are
/// pending and enabled (the masks, the clock comparator, the CPU timer,
/// CR0): whether the machine must look before the chain goes on. It must
/// unless, under host time on the TSC (`Pace::Tsc`) on a CPU of its own, no interruption is
/// pending that the CPU might take (restart, I/O with I/O enabled, a
/// timer, emergency signal, external call or service signal with
/// external interruptions enabled): a pending interruption is then taken
/// exactly where it was before. A timer or the watchdog that now comes
/// due before the batch's `deadline` brings it forward (the vCPU is
/// kicked then and the machine looks, [`ExitHandler::deadline`]), so a
/// timer's interruption is taken within the batch's bound as before.
/// Under virtual time (the clock advances with the instructions the
/// machine counts) and with several CPUs (signals and floating
/// interruptions of the configuration), it always must.
fn may_interrupt(cpu: &Cpu, board: &mut Board<'_>, deadline: &mut Deadline) -> bool {
    // The timers' conditions, as the machine tests them (nothing to take
    // off a source: they stay pending while their condition holds).
    let timers = take_external(
        cpu,
        &mut board.services.clock,
        &ExternalSignals::default(),
        &mut None,
        true,
    )
    .is_some();
    if signals_may_interrupt(cpu, board) || (cpu.psw.mask & mask::EXT != 0 && timers) {
        return true;
    }
    deadline.at = deadline.at.min(Deadline::of(cpu, board, deadline.tick).at);
    false
}

/// [`may_interrupt`] but for the timers: what may make an interruption
/// pending that no deadline foresees (a restart, I/O with I/O enabled, a
/// service signal, emergency signal or external call with external
/// interruptions enabled), or a machine whose pending interruptions the
/// chain cannot follow (virtual time, several CPUs).
fn signals_may_interrupt(cpu: &Cpu, board: &Board<'_>) -> bool {
    let services = &board.services;
    let io = cpu.psw.mask & mask::IO != 0 && services.css.io_pending();
    let external = cpu.psw.mask & mask::EXT != 0
        && (services.service_signal.is_some()
            || services.signals.external.emergencies() != 0
            || services.signals.external.external_call_pending());
    board.member.is_some()
        || !matches!(services.clock.source.pace(), Some(Pace::Tsc(_)))
        || services.signals.restart
        || io
        || external
}

/// The floor of the clock comparators the in-VM runtime image may set
/// (`zmmu_vm_runtime::protocol::Shared::comparator_floor`): the TOD clock
/// at `deadline`, or 0 (none) where [`signals_may_interrupt`] says the
/// host must look after any change of the interruption controls. With
/// nothing but the timers pending, a comparator at or past the deadline
/// changes neither what may be taken now nor the deadline, exactly as
/// [`may_interrupt`] decides after the host's SCKC.
pub(crate) fn comparator_floor(cpu: &Cpu, board: &mut Board<'_>, deadline: &Deadline) -> u64 {
    if signals_may_interrupt(cpu, board) {
        return 0;
    }
    let left = deadline.at.saturating_duration_since(Instant::now());
    let left = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
    let now = board.services.clock.peek_tod();
    now.saturating_add(ns_to_tod(left)).max(1)
}

/// The floor of the TOD clock below which the in-VM runtime image may
/// change the I/O and external masks alone
/// (`zmmu_vm_runtime::protocol::Shared::mask_floor`): with both masks on,
/// nothing may be taken ([`may_interrupt`]: no signal, I/O or restart
/// pending, no timer condition holding), so whatever the masks become the
/// host would let the chain go on, bringing the deadline forward to the
/// first timer that comes due with the masks on. That is done here
/// instead, whatever the masks are now (`deadline` becomes the one
/// [`may_interrupt`] gives with them on: the kernel's next tick, due
/// while it runs with interruptions off, is one kick more, when it comes
/// due), and the floor is the TOD clock at that deadline
/// ([`comparator_floor`]); else 0.
pub(crate) fn mask_floor(cpu: &Cpu, board: &mut Board<'_>, deadline: &mut Deadline) -> u64 {
    let mut enabled = cpu.clone();
    enabled.psw.mask |= INTERRUPTION_MASKS;
    if may_interrupt(&enabled, board, deadline) {
        return 0;
    }
    comparator_floor(&enabled, board, deadline)
}

/// The mask floor once the image's SCKC has set the clock comparator at
/// or past the comparator floor
/// (`zmmu_vm_runtime::protocol::Shared::mask_floor_after_comparator`):
/// [`mask_floor`] for a CPU whose comparator cannot interrupt before the
/// deadline (its subclass off), where that leaves the deadline as it is
/// (a CPU timer due sooner with the masks on would bring it forward: 0).
fn mask_floor_after_comparator(cpu: &Cpu, board: &mut Board<'_>, deadline: &Deadline) -> u64 {
    let mut set = cpu.clone();
    set.cr[0] &= !CR0_CLOCK_COMPARATOR;
    let mut kept = *deadline;
    match mask_floor(&set, board, &mut kept) {
        floor if kept == *deadline => floor,
        _ => 0,
    }
}

/// Publishes the floors for the image ([`comparator_floor`],
/// [`mask_floor`], which may bring `deadline` forward, and
/// [`mask_floor_after_comparator`]).
pub(crate) fn publish_floors(
    area: &zmmu_hv_kvm::image::ImageArea<'_>,
    cpu: &Cpu,
    board: &mut Board<'_>,
    deadline: &mut Deadline,
) {
    area.set_mask_floor(mask_floor(cpu, board, deadline));
    area.set_comparator_floor(comparator_floor(cpu, board, deadline));
    let after = mask_floor_after_comparator(cpu, board, deadline);
    area.set_mask_floor_after_comparator(after);
}

/// Whether an instruction (for an EXECUTE, its target; `None`: a target
/// that cannot be fetched, taken as any) may read or set a storage key's
/// change bit (SSKE, ISKE, RRBE, PFMF): the stores the host MMU recorded
/// must be in the keys first (`ShadowPager::harvest`).
fn observes_change(op: Option<Opcode>) -> bool {
    op.is_none_or(|op| {
        matches!(
            op,
            Opcode::SSKE | Opcode::ISKE | Opcode::RRBE | Opcode::PFMF
        )
    })
}

impl Exits<'_, '_> {
    /// Whether the host, having run instruction `index` of block `id`
    /// with the answer that the block goes on, runs the next one too in
    /// the same exit: it calls the host as well (not translated).
    fn runs_ahead(&self, id: usize, index: usize) -> bool {
        let block = &self.blocks.blocks[id];
        block.valid && block.native.get(index + 1) == Some(&false)
    }

    /// After instruction `index`, the last of block `id`, went on: the
    /// block the dispatcher enters next (the jump-cache entry for the PSW
    /// address under the PSW bits and tag in effect), if the host is to
    /// run its first instruction in the same exit: one that calls the
    /// host (not translated), in a block whose entry's budget check
    /// passes with the caller's R15 `r15` less what the blocks run ahead
    /// took (`Exits::r15_less`).
    fn block_ahead(&self, id: usize, index: usize, r15: u64) -> Option<usize> {
        if index + 1 != self.blocks.blocks[id].insns.len() {
            return None;
        }
        let bits = self.cpu.psw.mask & crate::KEY_BITS | self.blocks.spaces.now;
        let next = self.blocks.jump_get(self.cpu.psw.addr, bits)?;
        let block = &self.blocks.blocks[next];
        let budget = (r15 as i64).wrapping_sub(self.r15_less as i64);
        (block.valid && block.native.first() == Some(&false) && budget >= block.insns.len() as i64)
            .then_some(next)
    }

    /// Runs instruction `index` of block `id` for its host call, from the
    /// CPU state the chain left: the answer to the call (the block goes
    /// on, the chain leaves, or goes to a new PSW in a new space).
    fn run_call(
        &mut self,
        paging: &mut KvmPaging,
        id: usize,
        index: usize,
    ) -> Result<u64, KvmError> {
        let argument = abi::which(id as u64, index);
        let Some(block) = self.blocks.blocks.get(id) else {
            return Err(KvmError::UnexpectedExit(format!(
                "host call {argument:#x} names no block"
            )));
        };
        let Some(guest) = block.insns.get(index).copied() else {
            return Err(KvmError::UnexpectedExit(format!(
                "host call {argument:#x} names no instruction"
            )));
        };
        let len = block.insns.len();
        // A block dropped before the call (a store into its own frame
        // found by the page-fault path) must not go on after it.
        let dropped = !block.valid;
        self.stats.helper_calls += 1;
        self.last_fault = None;
        if block.native[index] {
            self.stats.slow_paths += 1;
            self.reasons.slow_path(guest.insn.op.mnemonic());
            self.enter_slow_path(paging, id, index);
        } else {
            self.reasons.untranslated(guest.insn.op.mnemonic());
        }
        self.cpu.psw.addr = guest.at;
        let before = self.watched();
        let psw_before = self.cpu.psw.mask;
        let mask_before = psw_before & !(mask::CC | INTERRUPTION_MASKS);
        let (cr_before, invalidations) = (self.cpu.cr, self.blocks.invalidations);
        let next = self
            .cpu
            .psw
            .amode()
            .wrap(guest.at.wrapping_add(u64::from(guest.insn.len)));
        self.blocks.current = Some(id);
        self.blocks.current_dirty = dropped;
        self.board.attention = false;
        let op = match guest.insn.op {
            Opcode::EX | Opcode::EXRL => {
                let mut watch = Watch::new(self.board, self.blocks, self.pager, paging, before.0);
                let target =
                    zmmu_cpu::exec::execute_target(self.cpu, &mut watch, guest.at, &guest.insn);
                let image = paging.image().map(|image| image.area());
                if let (Some(target), Some(area)) = (target, image) {
                    if guest.insn.op == Opcode::EXRL {
                        let amode = self.cpu.psw.amode();
                        let at = relative_target(guest.at, &guest.insn, amode);
                        let len = u64::from(target.len);
                        crate::vmcall::list_target(&area, self.blocks, guest.at, at, len);
                    }
                }
                if let Some(target) = target {
                    self.reasons.executed(target.op.mnemonic());
                }
                target.map(|target| target.op)
            }
            op => Some(op),
        };
        self.blocks.written = None;
        if observes_change(op) {
            crate::vmcall::harvest(self.pager, paging, &mut self.board.bus.storage, self.blocks);
        }
        let result = {
            let mut watch = Watch::new(self.board, self.blocks, self.pager, paging, before.0);
            // The interpreter fetches the instruction again: if a store
            // changed it, the new one runs (and the chain leaves below).
            self.cpu.step(&mut watch)
        };
        if self.blocks.recheck {
            recheck_jumps(self.blocks, &paging.exec_area(), self.cpu, self.board);
        }
        if let (Ok(()), Some(image)) = (&result, paging.image()) {
            if matches!(guest.insn.op, Opcode::STURG | Opcode::STURA) {
                let real = self.cpu.psw.amode().wrap(self.cpu.r64(guest.insn.f.r2));
                let storage = &self.board.bus.storage;
                crate::vmcall::list_storable(&image.area(), storage, self.blocks, self.cpu, real);
            }
            if guest.insn.op == Opcode::MVCOS {
                let storage = &self.board.bus.storage;
                crate::vmcall::list_wanted(&image.area(), storage, self.blocks);
            }
        }
        self.blocks.current = None;
        state::store(&paging.exec_area(), self.cpu);
        state::set_generation(&paging.exec_area(), self.blocks.generation);
        if let Some(image) = paging.image() {
            let facilities = self.board.bus.facilities;
            let clock = &mut self.board.services.clock;
            crate::vmcall::publish(
                &image.area(),
                self.tsc.as_ref(),
                self.cpu,
                clock,
                facilities,
            );
            crate::vmcall::publish_fetches(&image.area(), self.blocks);
        }
        let after = self.watched();
        // A clock read asks the machine to look (`Board::clock`) so that
        // virtual time counts the instructions before the next read; the
        // host's clock needs no look.
        let attention = self.board.attention
            && (!reads_clock_only(guest.insn.op)
                || self.board.services.clock.source.pace() == Some(Pace::Instructions));
        let machine = attention
            || (after.1 != before.1 && may_interrupt(self.cpu, self.board, &mut self.deadline));
        let deadline = self.deadline.passed();
        let leave_run = machine || deadline;
        if let Some(image) = paging.image() {
            publish_floors(&image.area(), self.cpu, self.board, &mut self.deadline);
        }
        let why = [
            (result.is_err(), Leave::Interruption),
            (machine, Leave::Machine),
            (deadline, Leave::Deadline),
            (
                after.0 != before.0 || self.cpu.cr != cr_before,
                Leave::Controls,
            ),
            (
                self.cpu.psw.mask & !(mask::CC | INTERRUPTION_MASKS) != mask_before,
                Leave::Psw,
            ),
            (
                self.blocks.invalidations != invalidations,
                Leave::Translation,
            ),
            (self.blocks.current_dirty, Leave::Dirty),
            (self.cpu.psw.addr != next, Leave::Elsewhere),
        ]
        .into_iter()
        .find_map(|(applies, why)| applies.then_some(why));
        let Some(why) = why else {
            // A store across a page boundary in the root's space (the
            // primary or home space, or real with DAT off): the image may
            // make the next one (an STMG of a stack frame that straddles
            // a page, at each call of the function).
            let psw = self.cpu.psw;
            let root_space = !psw.dat() || matches!(psw.asc(), 0 | 3);
            let written = self.blocks.written.take();
            if let (Some((first, last)), Some(image), true) = (written, paging.image(), root_space)
            {
                if last == first.wrapping_add(0x1000) {
                    let area = image.area();
                    crate::vmcall::list_written(&area, self.blocks, [first, last], psw.key());
                }
            }
            return Ok(abi::END);
        };
        // A new address space only, after the block's last instruction
        // (the instructions after it were translated for the old one).
        let only_space = matches!(why, Leave::Controls | Leave::Psw | Leave::Elsewhere)
            && index + 1 == len
            && self.blocks.invalidations == invalidations
            && !self.blocks.current_dirty;
        if only_space && self.switch(paging, &cr_before, psw_before)? {
            self.reasons.switched(guest.insn.op.mnemonic());
            if let Some(image) = paging.image() {
                crate::vmcall::publish_fetches(&image.area(), self.blocks);
            }
            if self.cpu.psw.addr == next {
                return Ok(abi::END);
            }
            // The block's end would go to its sequential successor: the
            // dispatcher goes to the new PSW's address instead, as the
            // block's own branch would, the call its last instruction run.
            let area = paging.exec_area();
            state::set_last_run(&area, abi::last_run(id as u32, index));
            self.go_to = (self.dispatch, self.cpu.psw.addr);
            return Ok(GO_TO);
        }
        self.reasons.left(guest.insn.op.mnemonic(), why);
        self.left = Some(Left {
            block: id,
            index,
            refund: (len - index - 1) as u64,
            result,
            leave_run,
        });
        Ok(abi::EXIT)
    }
}

impl ExitHandler for Exits<'_, '_> {
    /// The image switched the root through the gate (docs/CHOICES.md 77,
    /// an LPSWE in the prefix area): the CPU state it left (the new PSW),
    /// the chain's context (faults are resolved in the space and key of
    /// the access), the pager's active root and the fetch controls' tag
    /// follow. The root must be the one the pager has for the new PSW's
    /// tag, the one the image asked for by it.
    fn switched(&mut self, paging: &mut KvmPaging, root: KvmRoot) -> Result<(), KvmError> {
        state::load(&paging.exec_area(), self.cpu);
        let controls = self.board.bus.controls(self.cpu);
        let (context, tag) = crate::chain_context(self.cpu, controls);
        if tag.and_then(|tag| self.pager.follow(tag)) != Some(root) {
            return Err(KvmError::UnexpectedExit(format!(
                "the gate loaded {root:?}, not the root of {tag:?}"
            )));
        }
        self.context = context;
        self.blocks.enter_space(
            &paging.exec_area(),
            &crate::fetch_controls(self.cpu, controls),
        );
        Ok(())
    }

    /// Runs the instruction of the call, then, while each goes on, the
    /// block's next ones that call the host too ([`Exits::runs_ahead`]),
    /// and from a block's last instruction the next block the dispatcher
    /// would enter, if its first instruction calls the host and the
    /// budget in R15 takes the block ([`Exits::block_ahead`]; the stub
    /// takes its length off R15, as its entry's check would). The answer
    /// is the last one's; where that goes on, the vCPU goes on ([`GO_TO`])
    /// at the inline code of the next instruction of its block (after an
    /// instruction not translated, the code there expects nothing in host
    /// registers, as after a helper's return), or at the dispatcher with
    /// the PSW address after a block's last. The chain goes as it would
    /// have gone with an exit for each: the same instructions, from the
    /// same state, run by the interpreter.
    fn host_call(
        &mut self,
        paging: &mut KvmPaging,
        argument: u64,
        r15: u64,
    ) -> Result<u64, KvmError> {
        let (block, index) = abi::block_index(argument);
        let first = (block as usize, index);
        self.r15_less = 0;
        // The jump cache as the dispatcher reads it (`Exits::block_ahead`).
        self.blocks.take_entered(&paging.exec_area());
        state::load(&paging.exec_area(), self.cpu);
        if let Some(image) = paging.image() {
            let area = image.area();
            crate::vmcall::take_back(&area, &mut self.board.services.clock);
            crate::vmcall::take_comparator(&area, self.cpu);
        }
        let (mut id, mut index) = first;
        loop {
            let answer = self.run_call(paging, id, index)?;
            if answer == abi::EXIT {
                // The block would return EXIT to the trampoline, which
                // stores the budget left and ends the run: done here, in
                // this exit, the chain ends without another.
                let budget = r15.wrapping_sub(self.r15_less);
                state::set_budget(&paging.exec_area(), budget);
                return Ok(LEAVE);
            }
            if answer != abi::END {
                return Ok(answer);
            }
            if self.runs_ahead(id, index) {
                index += 1;
            } else if let Some(next) = self.block_ahead(id, index, r15) {
                self.r15_less += self.blocks.blocks[next].insns.len() as u64;
                (id, index) = (next, 0);
            } else {
                break;
            }
            self.stats.run_ahead += 1;
        }
        if (id, index) == first {
            return Ok(abi::END);
        }
        let block = &self.blocks.blocks[id];
        self.go_to = match block.sites.get(index + 1) {
            Some(site) => (site.start, 0),
            None => {
                state::set_last_run(&paging.exec_area(), abi::last_run(id as u32, index));
                (self.dispatch, self.cpu.psw.addr)
            }
        };
        Ok(GO_TO)
    }

    fn resuming(&mut self, paging: &mut KvmPaging) {
        crate::publish_gate(paging, self.pager, self.blocks);
    }

    fn r15_less(&self) -> u64 {
        self.r15_less
    }

    fn left_status(&self) -> u64 {
        abi::EXIT
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.deadline.at)
    }

    fn go_to(&self) -> (u64, u64) {
        self.go_to
    }

    fn preempt(&mut self, regs: &mut Regs) -> bool {
        if !self.budget_in_r15.iter().any(|r| r.contains(&regs.rip)) {
            return false;
        }
        // Between a block's budget check and its subtraction, r15 goes
        // negative by the block's length, which ends the chain at the next
        // check (the translator compares it as signed); the instructions
        // of that block are counted (`run_chain` subtracts wrapping).
        self.stolen = self.stolen.wrapping_add(regs.r15);
        regs.r15 = 0;
        true
    }

    fn preempted_in_vm(&mut self, r15: u64) {
        self.stolen = self.stolen.wrapping_add(r15);
    }

    fn take_fills(&mut self, paging: &mut KvmPaging) {
        let Some(image) = paging.image() else {
            return;
        };
        let fills = image.area().take_fills();
        if fills.is_empty() {
            return;
        }
        let gate = image.area().gate_roots();
        for fill in fills {
            let Some(words) = usize::try_from(fill.root).ok().and_then(|i| gate.get(i)) else {
                continue;
            };
            let Some((tag, root)) = self
                .pager
                .roots()
                .find(|(tag, _)| root_words(tag) == *words)
            else {
                continue;
            };
            let pages = (0..WINDOW_PAGES)
                .filter(|bit| fill.pages >> bit & 1 != 0)
                .map(|bit| LogicalAddress::new(fill.base.wrapping_add(bit * 4096)));
            for page in pages {
                let Some((frame, perms)) = paging.translate(root, page) else {
                    continue;
                };
                paging.adopted(root, page);
                let storage = &self.board.bus.storage;
                let controls = &self.context.controls;
                if perms.contains(HostPerms::WRITE) && paging.is_code_frame(frame) {
                    paging.unmap(root, page, HostPageSize::Size4K);
                    paging.flush(root, FlushScope::Page(page));
                } else {
                    let mapping = Mapping {
                        logical: page,
                        frame,
                        size: HostPageSize::Size4K,
                        perms,
                        track_stores: false,
                    };
                    self.pager.adopt(paging, storage, controls, tag, mapping);
                }
            }
        }
    }

    fn page_fault(
        &mut self,
        paging: &mut KvmPaging,
        fault: &PageFault,
    ) -> Result<FaultAction, KvmError> {
        let unexpected = || KvmError::UnexpectedExit(format!("translated code: {fault}"));
        // A store of the in-VM runtime image: where translated code goes
        // to its slow path, the image leaves the instruction to the host.
        let (slow, site) = if paging
            .image()
            .is_some_and(|image| image.contains(fault.rip))
        {
            (FaultAction::Recover, None)
        } else {
            let (id, site) = self.blocks.site(fault.rip).ok_or_else(unexpected)?;
            (
                FaultAction::Resume(site.slow.ok_or_else(unexpected)?),
                Some((id, site.start)),
            )
        };
        if fault.address >= LOWER_HALF_END {
            return Err(unexpected());
        }
        let address = LogicalAddress::new(fault.address);
        // A store into a frame that holds translated code: its blocks go,
        // and the interpreter makes the store (it may change the very
        // block that runs; the host call then leaves the chain).
        if fault.is_write() && fault.is_protection() {
            let absolute = paging
                .active()
                .and_then(|root| paging.translate(root, address))
                .map(|(absolute, _)| absolute);
            if let Some(absolute) = absolute.filter(|a| paging.is_code_frame(*a)) {
                self.stats.code_page_writes += 1;
                self.blocks.drop_page(absolute.value(), paging);
                transient(paging, slow);
                return Ok(slow);
            }
        }
        let page = fault.address & !0xfff;
        if self.last_fault.replace((fault.rip, page)) == Some((fault.rip, page)) {
            self.stats.fault_software += 1;
            return Ok(slow);
        }
        let request = Request {
            address,
            space: self.context.space,
            kind: if fault.is_write() {
                AccessKind::Write
            } else {
                AccessKind::Read
            },
            key: self.context.key,
        };
        let storage = &mut self.board.bus.storage;
        match self
            .pager
            .resolve_fault(paging, storage, &self.context.controls, request)
        {
            Ok(Resolution::Mapped(access)) => {
                self.stats.shadow_fills += 1;
                // Its R bit is one now (C too after a store): the image
                // may map the frame itself in other roots (docs/CHOICES.md 91).
                if let Some(image) = paging.image() {
                    crate::vmcall::list_frame(
                        &image.area(),
                        &self.board.bus.storage,
                        self.blocks,
                        access.absolute.page().value(),
                    );
                }
                Ok(FaultAction::Retry)
            }
            Ok(Resolution::Software(_)) | Err(ShadowError::Unmappable(_)) => {
                self.stats.fault_software += 1;
                Ok(host_next(slow))
            }
            Err(ShadowError::Fault(_)) => {
                self.stats.fault_exceptions += 1;
                transient(paging, slow);
                // The slow path's call goes to the image, told the site
                // and the page: it recognizes the exception on the
                // software path and delivers its interruption
                // (docs/CHOICES.md 82), or leaves the call to the host.
                // An access of the image: its call runs again with that
                // page on the software path (`protocol::FAULT_IN_CALL`).
                let call = site.and_then(|(id, start)| Some((id, self.call_of(id, start)?)));
                Ok(match (call, paging.image()) {
                    (Some((id, (which, index))), Some(image)) => {
                        image.area().set_fault(Some(which), page);
                        self.enter_slow_path(paging, id, index);
                        // The chain goes on in the handler: the same
                        // access after it is a new fault.
                        self.last_fault = None;
                        slow
                    }
                    (None, Some(image)) if slow == FaultAction::Recover => {
                        image.area().set_fault(None, page);
                        self.last_fault = None;
                        slow
                    }
                    _ => host_next(slow),
                })
            }
            Err(ShadowError::Host(error)) => Err(error),
        }
    }
}

impl Exits<'_, '_> {
    /// The host call the slow path of block `id`'s site whose inline code
    /// starts at `start` makes (block << 8 | index), and the site's index.
    fn call_of(&self, id: usize, start: u64) -> Option<(u64, usize)> {
        let block = self.blocks.blocks.get(id)?;
        let index = block.sites.iter().position(|s| s.start == start)?;
        let which = abi::which(id as u64, index);
        (index <= 0xff).then_some((which, index))
    }

    /// Enters the site of block `id`'s native instruction `index`, whose
    /// slow path is taken, in the image's table once
    /// (`vmcall::enter_slow_path`), in a valid block, the instruction in
    /// the block's first page (a block's second frame holds an
    /// instruction crossing into it, or only an EXECUTE's target).
    fn enter_slow_path(&mut self, paging: &KvmPaging, id: usize, index: usize) {
        let Some(block) = self.blocks.blocks.get(id) else {
            return;
        };
        let Some(guest) = block.insns.get(index) else {
            return;
        };
        let last = guest.at.wrapping_add(u64::from(guest.insn.len) - 1);
        let in_first_page = last >= guest.at && last >> 12 == block.key.0 >> 12;
        let enter = block.valid
            && block.native.get(index) == Some(&true)
            && in_first_page
            && !block.slow_site[index];
        let Some(image) = paging.image().filter(|_| enter) else {
            return;
        };
        let start = (block.key.0, block.key.1);
        let storage = &self.board.bus.storage;
        let which = abi::which(id as u64, index);
        let call = (which, crate::vmcall::after(block.insns.len(), index));
        if crate::vmcall::enter_slow_path(&image.area(), storage, call, start, guest) {
            self.blocks.blocks[id].slow_site[index] = true;
        }
    }
}

/// Where translated code goes after a fault the image would meet again
/// at the same access (the software path, an s390x exception without the
/// image's software path: docs/CHOICES.md 82): its slow path's call goes
/// to the host without asking the image, which would fault there and
/// leave the call to the host anyway (one exit fewer).
fn host_next(slow: FaultAction) -> FaultAction {
    match slow {
        FaultAction::Resume(rip) => FaultAction::ResumeHost(rip),
        other => other,
    }
}

/// An access of the in-VM runtime image (`slow` is
/// [`FaultAction::Recover`]) that faulted for a cause its site's next call
/// may not meet (an s390x exception, a store into a code frame): the image
/// leaves the call to the host but not the site ([`Shared::transient`],
/// docs/CHOICES.md 53c).
///
/// [`Shared::transient`]: zmmu_vm_runtime::protocol::Shared::transient
fn transient(paging: &KvmPaging, slow: FaultAction) {
    if slow == FaultAction::Recover {
        if let Some(image) = paging.image() {
            image.area().set_transient();
        }
    }
}
