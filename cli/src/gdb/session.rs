//! The machine as gdbstub's [`Target`]: registers, memory through the
//! current DAT, breakpoints, store watchpoints, single-step and continue,
//! and the monitor commands for real and absolute storage.
//!
//! Execution stays exact: while a breakpoint or watchpoint is set, or a
//! step is asked for, the run loop executes one instruction at a time in
//! the interpreter and looks at every instruction boundary
//! ([`zmmu_machine::Observer::boundary`]); otherwise the engine (the jit
//! and kvm engines too) runs its batches, after dropping its translations
//! if the interpreter ran or gdb stored meanwhile ([`super::Translator`]). A step is one instruction and the interruption
//! it causes: a step that takes a program interruption stops at the first
//! instruction of the handler, as the PSW then says.
//!
//! One CPU is one gdb thread: this target is single-threaded; with
//! several CPUs, [`super::smp`] makes each CPU a thread of a multi-thread
//! target, with the breakpoints and monitor commands of this module.

use std::collections::BTreeSet;

use gdbstub::common::Signal;
use gdbstub::stub::{BaseStopReason, SingleThreadStopReason};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{outputln, ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{Cpu, Psw};
use zmmu_machine::bus::DatBus;
use zmmu_machine::engine::Interpreter;
use zmmu_machine::{Machine, Observer, Stop};

use super::arch::{S390x, S390xRegisters};
use super::storage::{self, Space};
use super::Translator;

/// The largest watched range: gdb asks for a few bytes at a time.
const MAX_WATCH: u64 = 4096;
/// The most bytes a monitor command dumps.
const MAX_DUMP: u64 = 4096;

/// What `continue` and `step` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Run until a breakpoint, a watchpoint, an interrupt or the end.
    Continue,
    /// One instruction (and the interruption it causes).
    Step,
}

/// A store watchpoint: the bytes last seen there.
#[derive(Clone, Debug)]
struct Watch {
    address: u64,
    len: u64,
    seen: Vec<u8>,
}

/// Why a boundary stopped the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hit {
    Software,
    Hardware,
    Watch(u64),
    /// A step asked for is done.
    Step,
}

impl Hit {
    /// gdb's stop reason for the hit of thread `tid`.
    pub(crate) fn reason<Tid>(self, tid: Tid) -> BaseStopReason<Tid, u64> {
        match self {
            Hit::Software => BaseStopReason::SwBreak(tid),
            Hit::Hardware => BaseStopReason::HwBreak(tid),
            Hit::Watch(addr) => BaseStopReason::Watch {
                tid,
                kind: WatchKind::Write,
                addr,
            },
            Hit::Step => BaseStopReason::SignalWithThread {
                tid,
                signal: Signal::SIGTRAP,
            },
        }
    }
}

/// Breakpoints and watchpoints.
#[derive(Debug, Default)]
pub(crate) struct Points {
    pub(crate) software: BTreeSet<u64>,
    pub(crate) hardware: BTreeSet<u64>,
    watches: Vec<Watch>,
}

impl Points {
    pub(crate) fn any(&self) -> bool {
        !(self.software.is_empty() && self.hardware.is_empty() && self.watches.is_empty())
    }

    /// The bytes a watch covers now (empty where they cannot be read).
    fn watched(cpu: &Cpu, bus: &DatBus, address: u64, len: u64) -> Vec<u8> {
        let mut bytes = vec![0u8; len as usize];
        let n = storage::read(cpu, bus, Space::Logical, address, &mut bytes);
        bytes.truncate(n);
        bytes
    }

    /// At a boundary: a watched range whose bytes changed, or a
    /// breakpoint at the PSW address; not the breakpoint where a resume
    /// starts (`resumed`: the instruction there is the one to execute).
    pub(crate) fn check(&mut self, cpu: &Cpu, bus: &DatBus, resumed: bool) -> Option<Hit> {
        let mut hit = None;
        for watch in &mut self.watches {
            let now = Self::watched(cpu, bus, watch.address, watch.len);
            if now != watch.seen {
                watch.seen = now;
                hit = hit.or(Some(Hit::Watch(watch.address)));
            }
        }
        let at = cpu.psw.addr;
        if resumed || hit.is_some() {
            return hit;
        }
        if self.software.contains(&at) {
            Some(Hit::Software)
        } else if self.hardware.contains(&at) {
            Some(Hit::Hardware)
        } else {
            None
        }
    }

    /// Watches stores into `len` bytes at `address` (through `cpu`'s DAT);
    /// refused for reads, for nothing and for more than [`MAX_WATCH`].
    pub(crate) fn add_watch(
        &mut self,
        cpu: &Cpu,
        bus: &DatBus,
        address: u64,
        len: u64,
        kind: WatchKind,
    ) -> bool {
        if kind != WatchKind::Write || len == 0 || len > MAX_WATCH {
            return false;
        }
        let seen = Self::watched(cpu, bus, address, len);
        self.watches.push(Watch { address, len, seen });
        true
    }

    /// Drops the watch [`Points::add_watch`] made.
    pub(crate) fn remove_watch(&mut self, address: u64, len: u64, kind: WatchKind) -> bool {
        let at = self
            .watches
            .iter()
            .position(|w| w.address == address && w.len == len && kind == WatchKind::Write);
        at.map(|i| self.watches.remove(i)).is_some()
    }
}

/// Whether a run goes one instruction at a time through the interpreter
/// (and the boundaries): while stepping, while a breakpoint or watchpoint is
/// set, while tracing.
fn interpreted(stepping: bool, points: &Points, report: &dyn Observer) -> bool {
    stepping || points.any() || report.tracing()
}

/// The run's observer (console, trace) with the debugger's checks at
/// every boundary.
struct Debugged<'a> {
    inner: &'a mut dyn Observer,
    points: &'a mut Points,
    stepping: bool,
    resumed_at: &'a mut Option<u64>,
    hit: &'a mut Option<Hit>,
}

impl Observer for Debugged<'_> {
    fn console(&mut self, bytes: &[u8]) {
        self.inner.console(bytes);
    }

    fn tracing(&self) -> bool {
        interpreted(self.stepping, self.points, self.inner)
    }

    fn trace(&mut self, cpu: &Cpu, insn: &Insn) {
        self.inner.trace(cpu, insn);
    }

    fn interruption(&mut self, cpu: &Cpu, interruption: &Interruption, old: &Psw) {
        self.inner.interruption(cpu, interruption, old);
    }

    fn boundary(&mut self, cpu: &Cpu, bus: &mut DatBus) -> bool {
        let inner = self.inner.tracing() && self.inner.boundary(cpu, bus);
        let resumed = self.resumed_at.take() == Some(cpu.psw.addr);
        let hit = self.points.check(cpu, bus, resumed);
        *self.hit = hit;
        inner || hit.is_some()
    }
}

/// The machine under gdb's control.
pub struct Session<'a> {
    /// The machine.
    pub machine: &'a mut Machine,
    /// Console and trace.
    pub report: &'a mut dyn Observer,
    /// The engine, when it translates (jit, kvm).
    pub engine: Option<&'a mut dyn Translator>,
    /// `--max-insns`.
    pub limit: Option<u64>,
    /// Instructions executed so far.
    pub executed: u64,
    /// What the last resume asked for.
    pub resume: Resume,
    points: Points,
    /// The address a resume starts at: its breakpoint does not stop the
    /// first boundary.
    resumed_at: Option<u64>,
    /// What the last boundary found.
    hit: Option<Hit>,
    /// The interpreter ran since the engine's translations were last
    /// dropped: its stores into code and invalidations did not reach them.
    interpreted: bool,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("executed", &self.executed)
            .field("resume", &self.resume)
            .field("points", &self.points)
            .finish()
    }
}

impl<'a> Session<'a> {
    /// A session over `machine`, its observer and engine.
    pub fn new(
        machine: &'a mut Machine,
        report: &'a mut dyn Observer,
        engine: Option<&'a mut dyn Translator>,
        limit: Option<u64>,
    ) -> Self {
        Self {
            machine,
            report,
            engine,
            limit,
            executed: 0,
            resume: Resume::Continue,
            points: Points::default(),
            resumed_at: None,
            hit: None,
            interpreted: false,
        }
    }

    /// Runs at most `max` instructions: `None` when they ran without a
    /// stop, else why the run stopped ([`Stop::Paused`] at a breakpoint or
    /// watchpoint; [`Stop::LimitReached`] only for `--max-insns`).
    pub fn run(&mut self, max: u64) -> Option<Stop> {
        let room = self
            .limit
            .map_or(max, |limit| limit.saturating_sub(self.executed).min(max));
        if room == 0 {
            return Some(Stop::LimitReached);
        }
        let stepping = self.resume == Resume::Step;
        if interpreted(stepping, &self.points, self.report) {
            self.interpreted = true;
        } else if std::mem::take(&mut self.interpreted) {
            self.storage_changed();
        }
        let mut observer = Debugged {
            inner: &mut *self.report,
            points: &mut self.points,
            stepping,
            resumed_at: &mut self.resumed_at,
            hit: &mut self.hit,
        };
        let outcome = match &mut self.engine {
            Some(engine) => self
                .machine
                .run_with(Some(room), &mut observer, &mut **engine),
            None => self
                .machine
                .run_with(Some(room), &mut observer, &mut Interpreter),
        };
        self.executed += outcome.instructions;
        match outcome.stop {
            Stop::LimitReached if self.limit.is_none_or(|l| self.executed < l) => None,
            stop => Some(stop),
        }
    }

    /// gdb's stop reason for a stop of the run; `None` for a stop that
    /// ends the guest.
    pub fn stop_reason(&mut self, stop: &Stop) -> Option<SingleThreadStopReason<u64>> {
        if *stop != Stop::Paused {
            return None;
        }
        Some(match self.hit.take() {
            Some(hit) => hit.reason(()),
            None => SingleThreadStopReason::Signal(Signal::SIGTRAP),
        })
    }

    /// Forgets every breakpoint and watchpoint (gdb detached).
    pub fn clear_points(&mut self) {
        self.points = Points::default();
    }

    fn resume_as(&mut self, resume: Resume) {
        self.resume = resume;
        self.resumed_at = Some(self.machine.cpu.psw.addr);
        self.hit = None;
    }

    /// The engine's translations may cover what the debugger changed.
    fn storage_changed(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.forget(&mut self.machine.bus);
        }
    }

    /// A monitor command's answer (`monitor help` lists them).
    pub fn monitor(&mut self, command: &str) -> String {
        let m = &mut *self.machine;
        let (answer, written) = monitor(&m.cpu, &mut m.bus, command);
        if written {
            self.storage_changed();
        }
        answer
    }
}

/// A monitor command's answer (`monitor help` lists them) on `cpu`'s
/// storage view, and whether it wrote storage.
pub(crate) fn monitor(cpu: &Cpu, bus: &mut DatBus, command: &str) -> (String, bool) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let space = |word: &str| match word {
        "real" => Some(Space::Real),
        "absolute" => Some(Space::Absolute),
        "logical" => Some(Space::Logical),
        _ => None,
    };
    let answer = match words.as_slice() {
        ["read", kind, address, len] => match (space(kind), number(address), number(len)) {
            (Some(space), Some(address), Some(len)) if len <= MAX_DUMP => {
                dump(cpu, bus, space, address, len)
            }
            (_, _, Some(len)) if len > MAX_DUMP => {
                format!("at most {MAX_DUMP} bytes at a time")
            }
            _ => HELP.to_string(),
        },
        ["write", kind, address, hex] => match (space(kind), number(address), bytes(hex)) {
            (Some(space), Some(address), Some(data)) => {
                return match storage::write(cpu, bus, space, address, &data) {
                    Ok(()) => (format!("{} bytes written", data.len()), true),
                    Err(e) => (format!("not written: {e}"), false),
                };
            }
            _ => HELP.to_string(),
        },
        ["translate", address] => match number(address) {
            Some(address) => match storage::translate(cpu, bus, Space::Logical, address) {
                Ok(absolute) => format!("logical {address:#x} -> absolute {absolute:#x}"),
                Err(e) => format!("no translation: {e}"),
            },
            None => HELP.to_string(),
        },
        ["prefix"] => format!("prefix {:#x}", cpu.prefix.value()),
        _ => HELP.to_string(),
    };
    (answer, false)
}

fn dump(cpu: &Cpu, bus: &DatBus, space: Space, address: u64, len: u64) -> String {
    let mut bytes = vec![0u8; len as usize];
    let n = storage::read(cpu, bus, space, address, &mut bytes);
    let mut text = String::new();
    for (i, line) in bytes[..n].chunks(16).enumerate() {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        text.push_str(&format!(
            "{:016x}: {}\n",
            address + 16 * i as u64,
            hex.join(" ")
        ));
    }
    if n < bytes.len() {
        let at = address.wrapping_add(n as u64);
        let why = storage::translate(cpu, bus, space, at)
            .err()
            .unwrap_or_else(|| "outside storage".to_string());
        text.push_str(&format!("cannot read past {n} bytes: {why}\n"));
    }
    text
}

const HELP: &str = "\
zmmu monitor commands (numbers decimal, or hexadecimal with 0x):
  read real|absolute|logical ADDRESS LENGTH    dump storage (at most 4096 bytes)
  write real|absolute|logical ADDRESS HEXBYTES store bytes (no protection applies)
  translate ADDRESS                            a logical address through the current DAT
  prefix                                       the prefix register";

/// `0x`-prefixed hexadecimal or decimal.
fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Bytes written as hexadecimal digit pairs.
fn bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || hex.len() > 2 * MAX_DUMP as usize {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Target for Session<'_> {
    type Arch = S390x;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, S390x, String> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadBase for Session<'_> {
    fn read_registers(&mut self, regs: &mut S390xRegisters) -> TargetResult<(), Self> {
        *regs = S390xRegisters::of(&self.machine.cpu);
        Ok(())
    }

    fn write_registers(&mut self, regs: &S390xRegisters) -> TargetResult<(), Self> {
        regs.store(&mut self.machine.cpu);
        Ok(())
    }

    /// Reads through the current DAT; an address that does not translate
    /// is an error (`E` reply), not a fault.
    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        let m = &*self.machine;
        match storage::read(&m.cpu, &m.bus, Space::Logical, start, data) {
            0 if !data.is_empty() => Err(TargetError::NonFatal),
            n => Ok(n),
        }
    }

    fn write_addrs(&mut self, start: u64, data: &[u8]) -> TargetResult<(), Self> {
        let m = &mut *self.machine;
        storage::write(&m.cpu, &mut m.bus, Space::Logical, start, data)
            .map_err(|_| TargetError::NonFatal)?;
        self.storage_changed();
        Ok(())
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for Session<'_> {
    /// A signal to deliver means nothing to an s390x machine: ignored.
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), String> {
        self.resume_as(Resume::Continue);
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for Session<'_> {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), String> {
        self.resume_as(Resume::Step);
        Ok(())
    }
}

impl Breakpoints for Session<'_> {
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

/// Software breakpoints are kept by the stub, not written into guest
/// storage: the guest never sees them, and the jit's blocks stay valid.
impl SwBreakpoint for Session<'_> {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.points.software.insert(addr);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.points.software.remove(&addr))
    }
}

impl HwBreakpoint for Session<'_> {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.points.hardware.insert(addr);
        Ok(true)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.points.hardware.remove(&addr))
    }
}

/// Store watchpoints: a watched range whose bytes differ at an instruction
/// boundary stops the run there, after the storing instruction (gdb's
/// `watch` reports a change of value; a store of the same value is not
/// one). Read watchpoints are refused.
impl HwWatchpoint for Session<'_> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let m = &*self.machine;
        Ok(self.points.add_watch(&m.cpu, &m.bus, addr, len, kind))
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self.points.remove_watch(addr, len, kind))
    }
}

impl MonitorCmd for Session<'_> {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), String> {
        let answer = match std::str::from_utf8(cmd) {
            Ok(command) => self.monitor(command),
            Err(_) => "a monitor command is text".to_string(),
        };
        outputln!(out, "{}", answer.trim_end());
        Ok(())
    }
}
