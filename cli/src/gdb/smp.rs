//! The CPUs of `zmmu run --smp N --gdb`: one gdb thread per CPU (thread
//! id: the CPU address plus one), stopped and resumed together as gdb's
//! all-stop mode expects.
//!
//! Each CPU keeps running on its own host thread; gdb's stub runs on
//! another. They meet in [`Shared`]:
//!
//! - *Stopping* (a breakpoint, a watchpoint, a finished step on any CPU,
//!   or gdb's Ctrl-C): the configuration's kick
//!   ([`Configuration::hold`]) brings every CPU to its next instruction
//!   boundary, where its [`Stopper`] holds it ([`Observer::hold`]) and
//!   publishes a copy of its registers. The stub reports the stop once
//!   every CPU is held, so gdb reads a still machine.
//! - *Looking*: registers are read from, and written to, those copies (a
//!   CPU takes an edited copy back before it runs again); storage is read
//!   and written through the DAT of the CPU gdb names, from the stub's
//!   thread ([`super::storage`]: guest storage is shared).
//! - *Resuming*: each CPU is told whether to step or continue, and the
//!   configuration is released. While a breakpoint or watchpoint is set,
//!   or a step is asked for, every CPU runs one instruction at a time in
//!   the interpreter with a look at every boundary; otherwise each runs
//!   its engine.
//!
//! A held CPU still carries out what other CPUs ask of it (the
//! configuration does: invalidations, SIGP orders), so a CPU that was in
//! the middle of a SIGP or an IPTE when the stop came completes it and is
//! held at its next boundary.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use gdbstub::common::{Signal, Tid};
use gdbstub::stub::MultiThreadStopReason;
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{outputln, ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use zmmu_cpu::state::{Cpu, Psw};
use zmmu_machine::board::Board;
use zmmu_machine::bus::DatBus;
use zmmu_machine::configuration::Configuration;
use zmmu_machine::engine::{Engine, Ran};
use zmmu_machine::{Observer, Stop};
use zmmu_mmu::invalidate::Invalidation;

use super::arch::{S390x, S390xRegisters};
use super::session::{monitor, Hit, Points};
use super::storage::{self, Space};
use super::{Debuggee, Translator};

/// How long the stub waits for the CPUs before it looks at gdb's
/// connection again.
const LOOK: Duration = Duration::from_millis(5);

/// What gdb asks a CPU to do when it resumes the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Action {
    /// Run.
    #[default]
    Continue,
    /// One instruction (and the interruptions behind it), then stop all.
    Step,
    /// Stay stopped (gdb's scheduler locking: only the CPUs it names run).
    Stay,
}

/// What gdb and one CPU's thread share about that CPU.
#[derive(Debug, Default)]
struct View {
    /// Its registers, while it is held.
    cpu: Option<Cpu>,
    /// gdb changed `cpu`: the CPU takes it back.
    edited: bool,
    /// What gdb asked of it for the next resume (`None`: not named).
    action: Option<Action>,
}

/// What gdb and the CPUs share, behind one lock.
#[derive(Debug, Default)]
struct State {
    cpus: Vec<View>,
    points: Points,
    /// The CPUs are to stop (a hit, a Ctrl-C, gdb attaching).
    stopping: bool,
    /// The first hit since the last resume: the CPU's index, and what.
    hit: Option<(usize, Hit)>,
}

/// What the stub and the CPUs' threads share.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    /// A CPU was held, or hit something.
    event: Condvar,
    configuration: Arc<Configuration>,
    /// The CPUs run one instruction at a time, looking at each boundary.
    interpreted: AtomicBool,
    /// Counts gdb's resumes: a translating engine drops its translations
    /// when it changed (the interpreter ran, or gdb wrote storage, since
    /// they were made).
    resumes: AtomicU64,
}

impl Shared {
    /// gdb's view of `configuration`'s CPUs; with `wait` (--wait-for-gdb)
    /// every CPU is held at its first boundary until gdb resumes it.
    pub fn new(configuration: Arc<Configuration>, wait: bool) -> Arc<Self> {
        let cpus = configuration.slots().iter().map(|_| View::default());
        let shared = Arc::new(Self {
            state: Mutex::new(State {
                cpus: cpus.collect(),
                ..State::default()
            }),
            event: Condvar::new(),
            configuration,
            interpreted: AtomicBool::new(false),
            resumes: AtomicU64::new(0),
        });
        if wait {
            shared.lock().stopping = true;
            shared.configuration.hold();
        }
        shared
    }

    /// The state; a thread that panicked holding it left nothing half
    /// done that matters to the others.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops every CPU and waits until each is held (or the run ended).
    fn stop_all(&self) {
        self.lock().stopping = true;
        self.configuration.hold();
        let mut state = self.lock();
        while !self.configuration.ended() && state.cpus.iter().any(|v| v.cpu.is_none()) {
            state = match self.event.wait_timeout(state, LOOK) {
                Ok((state, _)) => state,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Lets every CPU go: each steps or continues as `state` says.
    fn release(&self, mut state: MutexGuard<'_, State>) {
        state.stopping = false;
        state.hit = None;
        let interpreted =
            state.points.any() || state.cpus.iter().any(|v| v.action == Some(Action::Step));
        self.interpreted.store(interpreted, Ordering::SeqCst);
        self.resumes.fetch_add(1, Ordering::SeqCst);
        drop(state);
        self.configuration.release();
    }
}

/// One CPU's side: consulted by its run loop through its observer.
#[derive(Debug)]
pub struct Stopper {
    index: usize,
    shared: Arc<Shared>,
    /// Where the CPU was released: a breakpoint there does not stop the
    /// first boundary (the instruction there is the one to execute).
    resumed_at: Option<u64>,
    stepping: bool,
}

impl Stopper {
    /// The side of CPU `index` (in configuration order).
    pub fn new(shared: &Arc<Shared>, index: usize) -> Self {
        Self {
            index,
            shared: Arc::clone(shared),
            resumed_at: None,
            stepping: false,
        }
    }

    /// The CPU runs one instruction at a time, and its observer calls
    /// [`Stopper::boundary`] at each boundary.
    pub fn interpreted(&self) -> bool {
        self.shared.interpreted.load(Ordering::Relaxed)
    }

    /// At an instruction boundary while [`Stopper::interpreted`]: whether
    /// a step is done, a breakpoint is here or a watched range changed;
    /// if so, every CPU is to stop, this one at once (`true`).
    pub fn boundary(&mut self, cpu: &Cpu, bus: &DatBus) -> bool {
        let resumed = self.resumed_at.take() == Some(cpu.psw.addr);
        let mut state = self.shared.lock();
        let hit = if self.stepping && !resumed {
            self.stepping = false;
            Some(Hit::Step)
        } else {
            state.points.check(cpu, bus, resumed)
        };
        let Some(hit) = hit else {
            return false;
        };
        state.hit.get_or_insert((self.index, hit));
        state.stopping = true;
        drop(state);
        self.shared.configuration.hold();
        self.shared.event.notify_all();
        true
    }

    /// At a boundary of a held configuration: takes back registers gdb
    /// edited; while the CPUs are to stop (or gdb lets only others run),
    /// publishes its registers and stays held (`true`), else runs on as
    /// gdb asked.
    pub fn hold(&mut self, cpu: &mut Cpu) -> bool {
        let mut state = self.shared.lock();
        let stopping = state.stopping;
        let view = &mut state.cpus[self.index];
        if let (true, Some(edited)) = (std::mem::take(&mut view.edited), &view.cpu) {
            *cpu = edited.clone();
        }
        if stopping || view.action == Some(Action::Stay) {
            view.cpu = Some(cpu.clone());
            drop(state);
            self.shared.event.notify_all();
            return true;
        }
        view.cpu = None;
        self.stepping = view.action == Some(Action::Step);
        self.resumed_at = Some(cpu.psw.addr);
        false
    }
}

/// The translating engine of a CPU under gdb: it drops its translations
/// when gdb resumed the guest since its last batch (the interpreter ran
/// meanwhile, at a breakpoint or a step, or gdb wrote storage: neither
/// reached them).
pub struct Resumed<E> {
    engine: E,
    shared: Arc<Shared>,
    seen: u64,
}

impl<E> std::fmt::Debug for Resumed<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumed").field("seen", &self.seen).finish()
    }
}

impl<E: Translator> Resumed<E> {
    /// `engine` under gdb's control.
    pub fn new(engine: E, shared: &Arc<Shared>) -> Self {
        Self {
            engine,
            shared: Arc::clone(shared),
            seen: 0,
        }
    }

    /// The engine, back from gdb's control.
    pub fn into_engine(self) -> E {
        self.engine
    }
}

impl<E: Translator> Engine for Resumed<E> {
    fn run(&mut self, cpu: &mut Cpu, board: &mut Board<'_>, max: u64) -> Ran {
        let resumes = self.shared.resumes.load(Ordering::SeqCst);
        if std::mem::replace(&mut self.seen, resumes) != resumes {
            self.engine.forget(&mut *board.bus);
        }
        self.engine.run(cpu, board, max)
    }

    fn watches_clock(&self) -> bool {
        self.engine.watches_clock()
    }

    fn leaves_when_kicked(&self) -> bool {
        self.engine.leaves_when_kicked()
    }

    fn invalidate(&mut self, invalidation: &Invalidation) {
        self.engine.invalidate(invalidation);
    }
}

/// The CPUs as gdbstub's multi-thread target, on the stub's thread.
#[derive(Debug)]
pub struct Cpus {
    shared: Arc<Shared>,
    /// The stub's own view of storage (no TLB of a CPU's is touched).
    bus: DatBus,
    /// The CPU of the last stop: monitor commands use its DAT.
    current: usize,
}

impl Cpus {
    /// gdb's target over the CPUs `shared` knows, reading storage through
    /// `bus`.
    pub fn new(shared: &Arc<Shared>, bus: DatBus) -> Self {
        Self {
            shared: Arc::clone(shared),
            bus,
            current: 0,
        }
    }

    fn tid(&self, index: usize) -> Tid {
        let address = self.shared.configuration.slots()[index].address;
        Tid::new(usize::from(address) + 1).unwrap_or(Tid::MIN)
    }

    fn index(&self, tid: Tid) -> Option<usize> {
        self.shared.configuration.index_of(tid.get() as u64 - 1)
    }

    /// What CPU `tid` is to do at the next resume.
    fn act(&self, tid: Tid, action: Action) -> Result<(), String> {
        let index = self.index(tid).ok_or("no such thread")?;
        self.shared.lock().cpus[index].action = Some(action);
        Ok(())
    }

    /// The registers of the held CPU `tid` (a copy).
    fn cpu(&self, tid: Tid) -> Option<Cpu> {
        let index = self.index(tid)?;
        self.shared.lock().cpus[index].cpu.clone()
    }

    /// How the run ended, for gdb.
    fn exited(&self, ended: &mut Option<Stop>) -> MultiThreadStopReason<u64> {
        let stop = self
            .shared
            .configuration
            .outcome()
            .unwrap_or(Stop::LimitReached);
        let psw = self
            .cpu(self.tid(self.current))
            .map_or(Psw::default(), |cpu| cpu.psw);
        let status = crate::report::stop_status(&stop, &psw).0;
        *ended = Some(stop);
        MultiThreadStopReason::Exited(status)
    }
}

impl Debuggee for Cpus {
    fn advance(&mut self, ended: &mut Option<Stop>) -> Option<MultiThreadStopReason<u64>> {
        if self.shared.configuration.ended() {
            return Some(self.exited(ended));
        }
        let state = self.shared.lock();
        let hit = match state.hit {
            Some(hit) => hit,
            None => {
                drop(self.shared.event.wait_timeout(state, LOOK));
                return None;
            }
        };
        drop(state);
        self.shared.stop_all();
        if self.shared.configuration.ended() {
            return Some(self.exited(ended));
        }
        self.current = hit.0;
        Some(hit.1.reason(self.tid(hit.0)))
    }

    fn interrupt(&mut self) -> MultiThreadStopReason<u64> {
        self.shared.stop_all();
        MultiThreadStopReason::SignalWithThread {
            tid: self.tid(self.current),
            signal: Signal::SIGINT,
        }
    }

    fn run_alone(&mut self) -> Option<Stop> {
        let state = self.shared.lock();
        drop(self.shared.event.wait_timeout(state, LOOK));
        self.outcome()
    }

    /// A CPU whose engine could not be made ends the run.
    fn outcome(&self) -> Option<Stop> {
        self.shared.configuration.outcome()
    }

    fn attached(&mut self) {
        self.shared.stop_all();
    }

    fn detached(&mut self) {
        let mut state = self.shared.lock();
        state.points = Points::default();
        state.cpus.iter_mut().for_each(|v| v.action = None);
        self.shared.release(state);
    }
}

impl Target for Cpus {
    type Arch = S390x;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, S390x, String> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadBase for Cpus {
    fn read_registers(&mut self, regs: &mut S390xRegisters, tid: Tid) -> TargetResult<(), Self> {
        let cpu = self.cpu(tid).ok_or(TargetError::NonFatal)?;
        *regs = S390xRegisters::of(&cpu);
        Ok(())
    }

    fn write_registers(&mut self, regs: &S390xRegisters, tid: Tid) -> TargetResult<(), Self> {
        let index = self.index(tid).ok_or(TargetError::NonFatal)?;
        let mut state = self.shared.lock();
        let view = &mut state.cpus[index];
        let cpu = view.cpu.as_mut().ok_or(TargetError::NonFatal)?;
        regs.store(cpu);
        view.edited = true;
        Ok(())
    }

    /// Reads through the DAT of CPU `tid`; an address that does not
    /// translate is an error (`E` reply), not a fault.
    fn read_addrs(&mut self, start: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let cpu = self.cpu(tid).ok_or(TargetError::NonFatal)?;
        match storage::read(&cpu, &self.bus, Space::Logical, start, data) {
            0 if !data.is_empty() => Err(TargetError::NonFatal),
            n => Ok(n),
        }
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        let cpu = self.cpu(tid).ok_or(TargetError::NonFatal)?;
        storage::write(&cpu, &mut self.bus, Space::Logical, start, data)
            .map_err(|_| TargetError::NonFatal)
    }

    fn list_active_threads(&mut self, active: &mut dyn FnMut(Tid)) -> Result<(), String> {
        (0..self.shared.configuration.slots().len()).for_each(|i| active(self.tid(i)));
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadResume for Cpus {
    fn resume(&mut self) -> Result<(), String> {
        self.shared.release(self.shared.lock());
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), String> {
        self.shared
            .lock()
            .cpus
            .iter_mut()
            .for_each(|v| v.action = None);
        Ok(())
    }

    /// A signal to deliver means nothing to an s390x machine: ignored.
    fn set_resume_action_continue(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), String> {
        self.act(tid, Action::Continue)
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for Cpus {
    fn set_resume_action_step(&mut self, tid: Tid, _signal: Option<Signal>) -> Result<(), String> {
        self.act(tid, Action::Step)
    }
}

/// gdb named the CPUs to run: the others stay stopped.
impl MultiThreadSchedulerLocking for Cpus {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), String> {
        let mut state = self.shared.lock();
        for view in state.cpus.iter_mut().filter(|v| v.action.is_none()) {
            view.action = Some(Action::Stay);
        }
        Ok(())
    }
}

/// `info threads` shows each CPU's address and state.
impl ThreadExtraInfo for Cpus {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, String> {
        let Some(index) = self.index(tid) else {
            return Ok(0);
        };
        let slot = &self.shared.configuration.slots()[index];
        let text = format!("CPU {} {:?}", slot.address, slot.activity());
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        Ok(n)
    }
}

impl Breakpoints for Cpus {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

/// Breakpoints of every CPU, kept by the stub (see [`super::session`]).
impl SwBreakpoint for Cpus {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.shared.lock().points.software.insert(addr);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.shared.lock().points.software.remove(&addr))
    }
}

impl HwBreakpoint for Cpus {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.shared.lock().points.hardware.insert(addr);
        Ok(true)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.shared.lock().points.hardware.remove(&addr))
    }
}

/// Store watchpoints of every CPU, at the logical address as the current
/// CPU translates it.
impl HwWatchpoint for Cpus {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let cpu = self
            .cpu(self.tid(self.current))
            .ok_or(TargetError::NonFatal)?;
        let mut state = self.shared.lock();
        Ok(state.points.add_watch(&cpu, &self.bus, addr, len, kind))
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self.shared.lock().points.remove_watch(addr, len, kind))
    }
}

/// The monitor commands of [`super::session`], on the CPU of the last stop.
impl MonitorCmd for Cpus {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), String> {
        let answer = match (std::str::from_utf8(cmd), self.cpu(self.tid(self.current))) {
            (Ok(command), Some(cpu)) => monitor(&cpu, &mut self.bus, command).0,
            (Err(_), _) => "a monitor command is text".to_string(),
            (_, None) => "the CPU is not stopped".to_string(),
        };
        outputln!(out, "{}", answer.trim_end());
        Ok(())
    }
}

/// A CPU's observer with gdb: its own (console, trace) and the
/// [`Stopper`]'s checks.
pub struct WithGdb<'a> {
    /// The CPU's own observer.
    pub inner: &'a mut dyn Observer,
    /// gdb's side.
    pub stopper: Stopper,
}

impl std::fmt::Debug for WithGdb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithGdb")
            .field("stopper", &self.stopper)
            .finish()
    }
}

impl Observer for WithGdb<'_> {
    fn console(&mut self, bytes: &[u8]) {
        self.inner.console(bytes);
    }

    fn tracing(&self) -> bool {
        self.stopper.interpreted() || self.inner.tracing()
    }

    fn trace(&mut self, cpu: &Cpu, insn: &zmmu_cpu::decode::Insn) {
        self.inner.trace(cpu, insn);
    }

    fn interruption(
        &mut self,
        cpu: &Cpu,
        interruption: &zmmu_cpu::interrupt::Interruption,
        old: &Psw,
    ) {
        self.inner.interruption(cpu, interruption, old);
    }

    fn boundary(&mut self, cpu: &Cpu, bus: &mut DatBus) -> bool {
        let inner = self.inner.tracing() && self.inner.boundary(cpu, bus);
        let stop = self.stopper.interpreted() && self.stopper.boundary(cpu, bus);
        inner || stop
    }

    fn hold(&mut self, cpu: &mut Cpu) -> bool {
        self.stopper.hold(cpu)
    }
}
