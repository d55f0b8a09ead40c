//! The CPUs of a configuration, each run by its own host thread, and what
//! they do to one another (PoP ch. 4 "Multiprocessing"): SIGNAL PROCESSOR
//! orders, the invalidations that reach "all TLBs in the configuration",
//! and the end of the run when no CPU is left running.
//!
//! # How a CPU reaches another
//!
//! Each CPU's registers, TLB and translated code belong to its thread;
//! another CPU never touches them. It leaves a request in the CPU's
//! [`Slot`] and *kicks* it: the kicked CPU's engine ends its batch at the
//! next instruction boundary (the interpreter looks after every
//! instruction, translated code at the end of its batch), and its run loop
//! carries the request out at the top of its next round
//! ([`Member::take_kick`]), or at once if it was parked (stopped or
//! waiting).
//!
//! - A SIGP order waits for its answer: one order at a time in the whole
//!   configuration, as QEMU's `qemu_sigp_mutex` (a second CPU's SIGP
//!   meanwhile is answered "busy", cc 2), so two CPUs never wait on each
//!   other. The orders that only look at the addressed CPU's slot or make
//!   a signal pending there (sense, external call, emergency signal) are
//!   answered by the sender without waiting, as QEMU answers them.
//! - An invalidation of configuration scope (IPTE, IDTE, CSP/CSPG, SSKE,
//!   RRBE) is queued to every other CPU, and the instruction completes
//!   once every CPU that is *active* (not parked) has applied it; a
//!   parked CPU applies its queue before it uses its TLB again. While it
//!   waits, the issuing CPU applies what others queued for it, so two
//!   CPUs invalidating at once do not wait for each other. This is a
//!   per-CPU request queue with acknowledgement (a TLB shootdown), not a
//!   stop of the world: CPUs that are not concerned keep running until
//!   their next instruction boundary.
//!
//! # Holding every CPU for a debugger
//!
//! A debugger stops the whole configuration (gdb's all-stop mode) with the
//! same kick: [`Configuration::hold`] kicks every CPU, and each, at its
//! next instruction boundary, asks its observer whether to stay held
//! ([`crate::Observer::hold`]); while it does, its thread parks as a
//! stopped CPU's does (inactive: no invalidation waits for it) and still
//! carries out what other CPUs ask of it (invalidations, SIGP orders), so
//! a CPU that was in the middle of an instruction reaches its own boundary
//! and is held too.
//!
//! Blocking is the host's: [`Park`] parks a CPU's thread for a while and
//! unparks it.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use zmmu_mmu::invalidate::Invalidation;

use crate::interrupt::ExternalSignals;
use crate::Stop;

/// The longest batch an engine runs for a CPU of a configuration: a CPU
/// that waits for another's acknowledgement (an invalidation) waits at
/// most this many of its instructions, whatever the engine. The run
/// loop's timer poll period, so a CPU among several runs translated
/// code in batches as long as a lone CPU's (with 256, each batch's
/// fixed cost made Linux's two-CPU boot under the jit 6x slower than
/// its one-CPU boot); about 30 µs of a translated guest, and nothing
/// for the interpreter, which looks after every instruction.
pub const BATCH: u64 = 4096;

/// A CPU of a configuration that seems to spin: its batches keep ending
/// at about the same instruction address with the same general
/// registers (a wait loop loads, compares and branches, and changes
/// nothing; a loop that computes moves a counter or a pointer, and is
/// left alone). Guest CPUs wait for each other
/// in tight loops (a lock, a flag another CPU sets); on a host with fewer
/// free cores than guest CPUs, the CPU waited for may itself be waiting
/// for a host core while the spinning one burns its time slice. Like the
/// pause-loop exiting of x86 virtualization, the spinning CPU then lets
/// the host run another thread ([`Park::relax`]). Architecturally
/// invisible: only when the other CPUs run changes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spin {
    /// Where the batches in a row began to end.
    at: u64,
    /// How many ended within [`Spin::WINDOW`] bytes of it since.
    batches: u32,
    /// How many times the CPU let the host run another thread since.
    relaxed: u32,
    /// The general registers where the batches in a row began to end.
    gpr: [u64; 16],
}

impl Spin {
    /// Batches in a row ending within [`Spin::WINDOW`] that make a spin.
    pub const BATCHES: u32 = 4;
    /// Bytes of a spin loop: a load, a compare and a branch, or a few
    /// more.
    pub const WINDOW: u64 = 256;

    /// A batch ended at instruction address `addr` with general registers
    /// `gpr`: answers, when the CPU now seems to spin, how many times it
    /// already let the host run another thread in this spin (for
    /// [`Park::relax`]; counting batches then starts again).
    pub fn spinning(&mut self, addr: u64, gpr: &[u64; 16]) -> Option<u32> {
        if addr.abs_diff(self.at) >= Self::WINDOW || *gpr != self.gpr {
            *self = Self {
                at: addr,
                gpr: *gpr,
                ..Self::default()
            };
            return None;
        }
        self.batches += 1;
        if self.batches < Self::BATCHES {
            return None;
        }
        self.batches = 0;
        self.relaxed = self.relaxed.saturating_add(1);
        Some(self.relaxed - 1)
    }
}

/// How a CPU's host thread waits: parks until unparked, or for a short
/// while (a timer may be due, or the run may have ended), whichever comes
/// first. An unpark before the park makes it return at once.
pub trait Park: Send + Sync {
    /// Parks the calling thread, CPU `index`'s, for at most `longest_ns`
    /// nanoseconds (its timer interruption is due then) and at most about
    /// a millisecond.
    fn park(&self, index: usize, longest_ns: u64);
    /// Ends CPU `index`'s park (or its next one).
    fn unpark(&self, index: usize);
    /// Lets the host run another thread: the calling CPU waits for
    /// others, which may be waiting for a host core, and did so `before`
    /// times already in this wait (a host may back off: yield first,
    /// then sleep a little longer each time).
    fn relax(&self, before: u32);
}

/// Whether a CPU is running, and if not why (what decides the end of the
/// run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Activity {
    /// Operating: executing, or waiting for an interruption that a timer
    /// will bring.
    Running = 0,
    /// In the stopped state.
    Stopped = 1,
    /// In a disabled wait: only a SIGP (restart, reset, stop) ends it.
    DisabledWait = 2,
    /// In an enabled wait with no timer that can end it: only another CPU
    /// can.
    WaitingForOthers = 3,
}

/// What a SIGP order answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// cc 0: the order was accepted.
    Accepted,
    /// cc 1: status stored in R1.
    Status(u32),
    /// cc 2: busy (another SIGP is under way, or the CPU is still carrying
    /// out a stop).
    Busy,
    /// cc 3: no CPU has that address.
    NotOperational,
}

impl Answer {
    /// The condition code.
    pub const fn cc(self) -> u8 {
        match self {
            Self::Accepted => 0,
            Self::Status(_) => 1,
            Self::Busy => 2,
            Self::NotOperational => 3,
        }
    }
}

/// An order answered by the sending CPU's thread ([`Member::signal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The answer.
    pub answer: Answer,
    /// The order made an interruption pending for the addressed CPU.
    pub posted: bool,
}

/// A SIGNAL PROCESSOR order on its way to the CPU it addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// The order code.
    pub code: u8,
    /// The parameter (R1 + 1, or R1 when odd).
    pub parameter: u64,
    /// The CPU address of the signalling CPU.
    pub from: u16,
}

/// The invalidations queued for a CPU, and how many it was ever given.
#[derive(Debug, Default)]
struct Queue {
    pending: Vec<Invalidation>,
    posted: u64,
}

/// What the configuration keeps for one CPU.
#[derive(Debug)]
pub struct Slot {
    /// The CPU address (its core id).
    pub address: u16,
    /// [`Activity`], as a byte.
    activity: AtomicU8,
    /// The CPU is not parked: it may be using its TLB.
    active: AtomicBool,
    /// Something waits at its next instruction boundary.
    kick: AtomicBool,
    /// In an enabled wait that a timer will end (its activity is then
    /// [`Activity::Running`]): not running, for SENSE RUNNING STATUS.
    waiting: AtomicBool,
    order: spin::Mutex<Option<Order>>,
    answer: spin::Mutex<Option<Answer>>,
    flushes: spin::Mutex<Queue>,
    applied: AtomicU64,
    /// Its pending emergency signals and external call, which a sender
    /// posts without waking it.
    signals: Arc<ExternalSignals>,
}

impl Slot {
    fn new(address: u16) -> Self {
        Self {
            address,
            activity: AtomicU8::new(Activity::Stopped as u8),
            active: AtomicBool::new(true),
            kick: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            order: spin::Mutex::new(None),
            answer: spin::Mutex::new(None),
            flushes: spin::Mutex::new(Queue::default()),
            applied: AtomicU64::new(0),
            signals: Arc::default(),
        }
    }

    /// Its pending emergency signals and external call.
    pub fn signals(&self) -> &ExternalSignals {
        &self.signals
    }

    /// The CPU is not running (PoP "Sense Running Status": stopped, or
    /// in the wait state), as last told.
    pub fn not_running(&self) -> bool {
        self.activity() != Activity::Running || self.waiting.load(Ordering::SeqCst)
    }

    /// The CPU's activity as last told.
    pub fn activity(&self) -> Activity {
        match self.activity.load(Ordering::SeqCst) {
            0 => Activity::Running,
            1 => Activity::Stopped,
            2 => Activity::DisabledWait,
            _ => Activity::WaitingForOthers,
        }
    }
}

/// The CPUs of the configuration.
pub struct Configuration {
    slots: Vec<Slot>,
    /// The service processor every CPU's SERVICE CALL reaches (the
    /// service signal goes to the CPU that made the call).
    pub sclp: spin::Mutex<crate::sclp::Sclp>,
    /// The pending service signal's parameter: a floating interruption,
    /// taken by the first CPU enabled for it.
    service_signal: spin::Mutex<Option<u32>>,
    /// The channel subsystem every CPU's I/O instructions and DIAGNOSE
    /// X'500' reach ([`Configuration::with_css`]; the first CPU's, handed
    /// over when its run starts); its I/O interruptions float to the
    /// first CPU enabled for them.
    css: spin::Mutex<crate::css::ChannelSubsystem>,
    /// An I/O interruption is pending in `css` (so that a CPU looks for one
    /// without taking the lock).
    io_pending: AtomicBool,
    /// At most this many CPUs could be configured (`maxcpus`).
    pub max_cpus: u16,
    sigp: spin::Mutex<()>,
    /// Guards activity changes, so that the last CPU to stop ends the run.
    settle: spin::Mutex<()>,
    ended: AtomicBool,
    /// A debugger asked every CPU to consult it at its next boundary.
    held: AtomicBool,
    outcome: spin::Mutex<Option<Stop>>,
    park: Box<dyn Park>,
}

impl core::fmt::Debug for Configuration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Configuration")
            .field("slots", &self.slots)
            .field("max_cpus", &self.max_cpus)
            .field("ended", &self.ended)
            .finish()
    }
}

impl Configuration {
    /// CPUs with the addresses `addresses` (index order), at most
    /// `max_cpus` of them possible, sharing the service processor `sclp`;
    /// threads park with `park`. CPU 0 starts running, the others stopped,
    /// as QEMU starts them.
    pub fn new(
        addresses: &[u16],
        max_cpus: u16,
        sclp: crate::sclp::Sclp,
        park: Box<dyn Park>,
    ) -> Arc<Self> {
        let slots: Vec<Slot> = addresses.iter().map(|a| Slot::new(*a)).collect();
        if let Some(first) = slots.first() {
            first
                .activity
                .store(Activity::Running as u8, Ordering::SeqCst);
        }
        Arc::new(Self {
            slots,
            sclp: spin::Mutex::new(sclp),
            service_signal: spin::Mutex::new(None),
            css: spin::Mutex::new(crate::css::ChannelSubsystem::default()),
            io_pending: AtomicBool::new(false),
            max_cpus,
            sigp: spin::Mutex::new(()),
            settle: spin::Mutex::new(()),
            ended: AtomicBool::new(false),
            held: AtomicBool::new(false),
            outcome: spin::Mutex::new(None),
            park,
        })
    }

    /// The CPUs, in index order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The run has ended: every thread returns.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Why the run ended, once it has.
    pub fn outcome(&self) -> Option<Stop> {
        self.outcome.lock().clone()
    }

    /// Ends the run for every CPU with `stop` (the first to end it wins).
    pub fn end(&self, stop: Stop) {
        let mut outcome = self.outcome.lock();
        if outcome.is_none() {
            *outcome = Some(stop);
        }
        self.ended.store(true, Ordering::SeqCst);
        drop(outcome);
        for index in 0..self.slots.len() {
            self.park.unpark(index);
        }
    }

    /// A debugger stops the configuration: every CPU is kicked and, at its
    /// next instruction boundary, asks its observer whether to stay held
    /// ([`crate::Observer::hold`]).
    pub fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
        for index in 0..self.slots.len() {
            self.kick(index);
        }
    }

    /// The debugger lets the CPUs go: each held CPU asks its observer again
    /// at once.
    pub fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
        for index in 0..self.slots.len() {
            self.park.unpark(index);
        }
    }

    /// A debugger asked the CPUs to consult it ([`Configuration::hold`]).
    pub fn held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }

    /// The index of the CPU with address `address`.
    pub fn index_of(&self, address: u64) -> Option<usize> {
        self.slots
            .iter()
            .position(|slot| u64::from(slot.address) == address)
    }

    /// Every CPU but `index` is stopped (SET ARCHITECTURE's condition).
    pub fn others_stopped(&self, index: usize) -> bool {
        self.slots
            .iter()
            .enumerate()
            .all(|(i, slot)| i == index || slot.activity() == Activity::Stopped)
    }

    /// Makes a service signal pending with `parameter` (ORed into the
    /// parameter of one already pending, as QEMU merges them) for
    /// whichever CPU is enabled first; waiting CPUs look.
    pub fn signal_service(&self, parameter: u32) {
        crate::interrupt::merge_service_signal(&mut self.service_signal.lock(), parameter);
        for index in 0..self.slots.len() {
            self.park.unpark(index);
        }
    }

    /// Takes the pending service signal, if any.
    pub fn take_service_signal(&self) -> Option<u32> {
        self.service_signal.lock().take()
    }

    /// Makes `css` the configuration's channel subsystem (the first CPU's,
    /// before the others start).
    pub fn adopt_css(&self, css: crate::css::ChannelSubsystem) {
        self.with_css(|mine| *mine = css);
    }

    /// Runs `f` on the channel subsystem; when an I/O interruption is
    /// pending afterwards, every CPU looks (a waiting one enabled for it
    /// takes it, as the service signal).
    pub fn with_css<R>(&self, f: impl FnOnce(&mut crate::css::ChannelSubsystem) -> R) -> R {
        let mut css = self.css.lock();
        let result = f(&mut css);
        let pending = css.io_pending();
        drop(css);
        if !self.io_pending.swap(pending, Ordering::SeqCst) && pending {
            for index in 0..self.slots.len() {
                self.park.unpark(index);
            }
        }
        result
    }

    /// Takes the I/O interruption `cpu` is enabled for, if one is pending.
    pub fn take_io_interruption(
        &self,
        cpu: &zmmu_cpu::state::Cpu,
    ) -> Option<zmmu_cpu::interrupt::Interruption> {
        let enabled = cpu.psw.mask & zmmu_cpu::state::mask::IO != 0;
        if !enabled || !self.io_pending.load(Ordering::SeqCst) {
            return None;
        }
        self.with_css(|css| css.take_interruption(cpu))
    }

    fn kick(&self, index: usize) {
        self.slots[index].kick.store(true, Ordering::SeqCst);
        self.park.unpark(index);
    }
}

/// One CPU's membership of a configuration: what its run loop and its
/// instructions use to reach the others.
#[derive(Debug, Clone)]
pub struct Member {
    /// The configuration.
    pub configuration: Arc<Configuration>,
    /// This CPU's index.
    pub index: usize,
}

impl Member {
    /// How often a CPU waiting for another's acknowledgement looks before
    /// it yields its host core (some microseconds).
    const SPINS: u32 = 1 << 14;

    fn slot(&self) -> &Slot {
        &self.configuration.slots[self.index]
    }

    /// This CPU's pending emergency signals and external call, which the
    /// others post ([`Member::signal`]).
    pub fn signals(&self) -> Arc<ExternalSignals> {
        Arc::clone(&self.slot().signals)
    }

    /// This CPU's activity as last told ([`Member::settle`]).
    pub fn activity(&self) -> Activity {
        self.slot().activity()
    }

    /// Something waits for this CPU at its next instruction boundary: an
    /// engine running a batch ends it.
    pub fn kicked(&self) -> bool {
        self.slot().kick.load(Ordering::Relaxed)
    }

    /// At an instruction boundary: whether the CPU was kicked (taking the
    /// kick). Then [`Member::apply_flushes`] and [`Member::take_order`].
    pub fn take_kick(&self) -> bool {
        self.slot().kick.swap(false, Ordering::SeqCst)
    }

    /// The SIGP order waiting for this CPU, if any.
    pub fn take_order(&self) -> Option<Order> {
        self.slot().order.lock().take()
    }

    /// Hands the answer to `order` back to the CPU that sent it.
    pub fn answer(&self, order: Order, answer: Answer) {
        *self.slot().answer.lock() = Some(answer);
        if let Some(from) = self.configuration.index_of(u64::from(order.from)) {
            self.configuration.park.unpark(from);
        }
    }

    /// Applies what other CPUs queued for this one (`apply` drops it
    /// from this CPU's caches), and says so.
    pub fn apply_flushes(&self, apply: &mut dyn FnMut(&Invalidation)) {
        let slot = self.slot();
        let (pending, posted) = {
            let mut queue = slot.flushes.lock();
            (core::mem::take(&mut queue.pending), queue.posted)
        };
        for invalidation in &pending {
            apply(invalidation);
        }
        slot.applied.fetch_max(posted, Ordering::SeqCst);
    }

    /// Tells the configuration what this CPU is doing; answers the end of
    /// the run when this leaves no CPU running (`stop` is then why: the
    /// last CPU stopped, or entered a disabled wait; a CPU waiting for
    /// others makes it a wait nothing can end).
    pub fn settle(&self, activity: Activity, stop: impl FnOnce() -> Stop) -> Option<Stop> {
        let configuration = &*self.configuration;
        let _guard = configuration.settle.lock();
        self.slot().activity.store(activity as u8, Ordering::SeqCst);
        if activity == Activity::Running {
            return None;
        }
        let mut waiting = None;
        for slot in &configuration.slots {
            match slot.activity() {
                Activity::Running => return None,
                Activity::WaitingForOthers => waiting = Some(()),
                Activity::Stopped | Activity::DisabledWait => {}
            }
        }
        let stop = stop();
        let stop = match (waiting, stop) {
            (Some(()), Stop::Stopped { psw } | Stop::DisabledWait { psw }) => {
                Stop::EnabledWaitForever { psw }
            }
            (_, stop) => stop,
        };
        configuration.end(stop.clone());
        Some(stop)
    }

    /// This CPU is in an enabled wait that a timer will end (or another
    /// CPU): not running, for SENSE RUNNING STATUS, until
    /// [`Member::resume`].
    pub fn wait_for_timer(&self) {
        self.slot().waiting.store(true, Ordering::SeqCst);
    }

    /// This CPU executes instructions (again): running, and no longer in a
    /// wait.
    pub fn resume(&self) {
        let slot = self.slot();
        if slot.activity() != Activity::Running {
            let _ = self.settle(Activity::Running, || Stop::LimitReached);
        }
        if slot.waiting.load(Ordering::Relaxed) {
            slot.waiting.store(false, Ordering::SeqCst);
        }
    }

    /// Lets the host run another thread: this CPU seems to spin, maybe
    /// waiting for a CPU that waits for a host core ([`Spin`]), and did
    /// so `before` times already in this spin.
    pub fn relax(&self, before: u32) {
        self.configuration.park.relax(before);
    }

    /// Parks this CPU's thread for a while, at most `longest_ns`
    /// nanoseconds (it is stopped or waiting; a timer interruption may be
    /// due then): it is inactive meanwhile, so no invalidation waits for
    /// it.
    pub fn park(&self, longest_ns: u64) {
        let slot = self.slot();
        slot.active.store(false, Ordering::SeqCst);
        if !slot.kick.load(Ordering::SeqCst) && !self.configuration.ended() {
            self.configuration.park.park(self.index, longest_ns);
        }
        slot.active.store(true, Ordering::SeqCst);
        // Whatever was queued while parked is applied at the boundary.
        slot.kick.store(true, Ordering::SeqCst);
    }

    /// Carries out an invalidation of configuration scope in every other
    /// CPU's caches before returning (this CPU's own caches are the
    /// caller's): queues it to each, kicks them, and waits until each
    /// active one has applied it, meanwhile applying (with `apply`) what
    /// the others queued for this CPU.
    pub fn broadcast(&self, invalidation: Invalidation, apply: &mut dyn FnMut(&Invalidation)) {
        let configuration = &*self.configuration;
        let mut tickets = Vec::with_capacity(configuration.slots.len());
        for (index, slot) in configuration.slots.iter().enumerate() {
            if index == self.index {
                continue;
            }
            let ticket = {
                let mut queue = slot.flushes.lock();
                queue.pending.push(invalidation);
                queue.posted += 1;
                queue.posted
            };
            configuration.kick(index);
            tickets.push((index, ticket));
        }
        for (index, ticket) in tickets {
            let slot = &configuration.slots[index];
            let mut spins = 0u32;
            while slot.active.load(Ordering::SeqCst)
                && slot.applied.load(Ordering::SeqCst) < ticket
                && !configuration.ended()
            {
                self.apply_flushes(apply);
                // A running CPU answers within its batch: spin a while,
                // then let the host run the others.
                spins += 1;
                if spins < Self::SPINS {
                    core::hint::spin_loop();
                } else {
                    configuration.park.relax(spins - Self::SPINS);
                }
            }
        }
    }

    /// Sends SIGP order `order` to the CPU at address `target` and waits
    /// for its answer: not operational if no CPU has that address, busy if
    /// another SIGP is under way. This CPU is inactive while it waits, and
    /// applies what was queued for it meanwhile at its next boundary (the
    /// SIGP ends the engine's batch).
    ///
    /// `at_sender` answers here, without waiting for the addressed CPU's
    /// thread, the orders whose answer needs only the addressed CPU's
    /// slot (its activity as last told, its pending signals); an order
    /// that made a signal pending kicks the CPU, which takes it at its
    /// next boundary.
    pub fn signal(
        &self,
        target: u64,
        order: Order,
        at_sender: impl FnOnce(&Slot) -> Option<Answered>,
    ) -> Answer {
        let configuration = &*self.configuration;
        let Some(index) = configuration.index_of(target) else {
            return Answer::NotOperational;
        };
        let Some(_sigp) = configuration.sigp.try_lock() else {
            return Answer::Busy;
        };
        let slot = &configuration.slots[index];
        if let Some(Answered { answer, posted }) = at_sender(slot) {
            if posted {
                configuration.kick(index);
            }
            return answer;
        }
        *slot.answer.lock() = None;
        *slot.order.lock() = Some(order);
        configuration.kick(index);
        let me = self.slot();
        me.active.store(false, Ordering::SeqCst);
        let answer = loop {
            if let Some(answer) = slot.answer.lock().take() {
                break answer;
            }
            if configuration.ended() {
                break Answer::NotOperational;
            }
            configuration.park.park(self.index, u64::MAX);
        };
        me.active.store(true, Ordering::SeqCst);
        me.kick.store(true, Ordering::SeqCst);
        answer
    }
}
