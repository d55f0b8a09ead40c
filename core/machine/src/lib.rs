//! # zmmu-machine
//!
//! A whole s390x machine for running bare-metal programs: absolute storage,
//! one [`Cpu`] (the interpreter), the software TLB over zmmu-mmu's DAT
//! ([`bus::DatBus`]), the external interruptions it raises ([`interrupt`],
//! delivered by [`Cpu::deliver`]) and the SCLP console ([`sclp`]),
//! behaving like QEMU's `s390-ccw-virtio` machine for a program loaded
//! with `-kernel`.
//!
//! ```
//! use zmmu_machine::{Machine, Stop};
//!
//! // LGHI 2,7 ; LPSWE 0xF00 (a disabled-wait PSW whose address is 0x2a).
//! let mut m = Machine::new(1 << 20);
//! m.load(0x20000, &[0xa7, 0x29, 0x00, 0x07, 0xb2, 0xb2, 0x0f, 0x00]).unwrap();
//! m.load(0xf00, &[0, 2, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a]).unwrap();
//! m.start(0x20000);
//! let outcome = m.run(Some(100), &mut ());
//! assert!(matches!(outcome.stop, Stop::DisabledWait { psw } if psw.addr == 0x2a));
//! assert_eq!(m.cpu.gpr[2], 7);
//! ```

#![no_std]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod board;
pub mod bus;
pub mod config;
pub mod configuration;
mod console;
pub mod css;
pub mod diag;
pub mod elf;
pub mod engine;
pub mod interrupt;
pub mod ipl;
pub mod kernel;
pub mod main_storage;
pub mod sclp;
pub mod secondary;
pub mod sigp;
pub mod stsi;
pub mod system;
pub mod tlb_log;
pub mod virtio_blk;
pub mod virtio_ccw;
pub mod virtqueue;
pub mod watchdog;

use alloc::format;
use alloc::string::String;

use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::storage::Storage;

use bus::{DatBus, Halt};
use config::Config;
use system::{Board, CpuState, Services, StopRequest};
use zmmu_mmu::control::Facilities;

/// The PSW QEMU starts a `-kernel` program with: 64-bit addressing, DAT
/// off, all interruptions disabled, key 0, supervisor state.
pub const START_MASK: u64 = mask::EA | mask::BA;

/// The DAT-related facilities of the machine: low-address protection,
/// enhanced suppression on protection 1 (a DAT-protection exception
/// identifies the page, PoP "Suppression on Protection") and
/// instruction-execution protection (facility 130, which STFLE reports),
/// as QEMU 7.2's `-cpu max` offers them under TCG. EDAT-1 (facility 8) and
/// ESOP-2 (131) are implemented by the MMU and offered as the CPU model
/// says ([`config::CpuFeatures`]: EDAT-1 unless `edat=off`, ESOP-2 only
/// with `sea_esop2=on`); STFLE reports what is offered.
pub const FACILITIES: Facilities = Facilities::LAP
    .union(Facilities::ESOP1)
    .union(Facilities::IEP);

/// Program interruptions in a row without one completed instruction after
/// which the machine check-stops (a program-new PSW that faults again at
/// once would loop forever).
pub const PROGRAM_INTERRUPTION_LOOP: u32 = 64;

/// Why [`Machine::run`] returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The CPU loaded a wait PSW with I/O, external and machine-check
    /// interruptions disabled.
    DisabledWait {
        /// The wait PSW.
        psw: Psw,
    },
    /// The CPU waits with some interruptions enabled, but nothing can ever
    /// interrupt it: no SCLP request pending, no timer enabled, and no I/O
    /// interruption it is enabled for. zmmu's channel programs end inside
    /// the instruction that starts them, so an I/O interruption is pending
    /// before the wait PSW is loaded or never; a pending one the CPU is
    /// enabled for is taken at the top of the run loop, before the wait is
    /// looked at, and one it is not enabled for (PSW bit 6 or the
    /// subclass's CR6 bit off) cannot end the wait.
    EnabledWaitForever {
        /// The wait PSW.
        psw: Psw,
    },
    /// The instruction limit was reached before the program stopped.
    LimitReached,
    /// The observer asked the run to stop at an instruction boundary
    /// ([`Observer::boundary`]).
    Paused,
    /// An instruction the machine knows but does not implement. It was not
    /// executed.
    Unimplemented {
        /// Its mnemonic, or the facility that is missing.
        mnemonic: &'static str,
        /// More precisely what is missing, if known.
        detail: Option<String>,
        /// Its address.
        address: u64,
    },
    /// Every CPU of the configuration is in the stopped state (SIGP STOP
    /// to itself, a CPU reset): the machine has nothing left to run, and
    /// ends as QEMU does.
    Stopped {
        /// The stopped CPU's PSW.
        psw: Psw,
    },
    /// The CPU entered the check-stop state.
    CheckStop {
        /// Why.
        reason: &'static str,
        /// The PSW at that moment.
        psw: Psw,
    },
    /// The machine was asked to re-IPL: DIAGNOSE X'308' subcode 3 (load
    /// clear), or the diag288 watchdog expired with the `reset` action.
    /// QEMU resets the machine and starts the program again; zmmu ends the
    /// run here.
    ReIpl {
        /// The watchdog asked for it (else the program did).
        watchdog: bool,
        /// The PSW at that moment.
        psw: Psw,
    },
    /// The diag288 watchdog expired with the `poweroff` or `pause` action
    /// (`--watchdog-action`): QEMU powers the machine off or pauses it;
    /// zmmu ends the run.
    WatchdogExpired {
        /// The action.
        action: config::WatchdogAction,
        /// The PSW at that moment.
        psw: Psw,
    },
}

/// The result of a run: why it stopped and how many instructions ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// Why the run stopped.
    pub stop: Stop,
    /// Instructions executed (including those that ended in a program
    /// interruption).
    pub instructions: u64,
}

/// What a run reports as it goes. Every method has a default that ignores
/// the event; `()` ignores everything.
pub trait Observer {
    /// Console bytes written by the program (SCLP ASCII events).
    fn console(&mut self, bytes: &[u8]) {
        let _ = bytes;
    }

    /// Whether [`Observer::trace`] wants to be called (decoding each
    /// instruction twice costs time).
    fn tracing(&self) -> bool {
        false
    }

    /// Called before each instruction executes, with the CPU state before it.
    fn trace(&mut self, cpu: &Cpu, insn: &Insn) {
        let _ = (cpu, insn);
    }

    /// Called after each interruption is delivered, with the old PSW
    /// (stored in the lowcore) and the CPU state after the new PSW is
    /// loaded.
    fn interruption(&mut self, cpu: &Cpu, interruption: &Interruption, old: &Psw) {
        let _ = (cpu, interruption, old);
    }

    /// Called while [`Observer::tracing`] at every instruction boundary the
    /// run reaches, after the previous instruction and the interruptions
    /// delivered behind it, before the next one is fetched. `true` ends
    /// the run with [`Stop::Paused`] there (a debugger's breakpoint,
    /// watchpoint or step); the next instruction is not executed.
    fn boundary(&mut self, cpu: &Cpu, bus: &mut DatBus) -> bool {
        let _ = (cpu, bus);
        false
    }

    /// A CPU of a configuration held for a debugger
    /// ([`configuration::Configuration::hold`]), at an instruction boundary
    /// and whenever its thread wakes while held: `true` keeps it held (its
    /// thread parks, and carries out what other CPUs ask of it meanwhile),
    /// `false` lets it run on. The debugger reads and changes the CPU's
    /// registers here. The default never holds.
    fn hold(&mut self, cpu: &mut Cpu) -> bool {
        let _ = cpu;
        false
    }

    /// Console input typed for the guest and not yet taken (polled with
    /// the timers).
    fn console_input(&mut self) -> &[u8] {
        &[]
    }

    /// The guest's console took the first `n` bytes of
    /// [`Observer::console_input`].
    fn console_taken(&mut self, n: usize) {
        let _ = n;
    }
}

impl Observer for () {}

/// When the run loop looks at the timers: every [`TimerPoll::PERIOD`]
/// instructions, and after anything that can change whether an
/// interruption is enabled or due ([`interrupt::interruption_controls`]) or
/// a wait.
#[derive(Debug, Default)]
struct TimerPoll {
    seen: [u64; 6],
    woke: bool,
}

impl TimerPoll {
    /// Instructions between two looks at the clock: a timer interruption
    /// is taken at most this many instructions late (about 4 µs of a
    /// translated guest, 0.3 ms of an interpreted one: far below any
    /// timer a program sets). It is also the longest run an engine is
    /// given between two looks at the machine's interruptions, so a larger
    /// value lets translated code run longer without leaving it.
    const PERIOD: u64 = 4096;

    fn due(&mut self, cpu: &Cpu, executed: u64) -> bool {
        let now = interrupt::interruption_controls(cpu);
        let changed = interrupt::controls_differ(&now, &self.seen);
        self.seen = now;
        changed || core::mem::take(&mut self.woke) || executed % Self::PERIOD == 0
    }

    fn wake(&mut self) {
        self.woke = true;
    }
}

/// Why a program image could not be placed in storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsideStorage {
    /// The first absolute address.
    pub address: u64,
    /// The length in bytes.
    pub len: u64,
    /// The storage size.
    pub size: u64,
}

impl core::fmt::Display for OutsideStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:#x} bytes at absolute address {:#x} do not fit in {:#x} bytes of storage",
            self.len, self.address, self.size
        )
    }
}

impl core::error::Error for OutsideStorage {}

/// One s390x CPU with its storage.
#[derive(Debug)]
pub struct Machine {
    /// The CPU.
    pub cpu: Cpu,
    /// Storage and the TLB.
    pub bus: DatBus,
    /// The service processor and what else the machine offers.
    pub services: Services,
    /// What the machine was configured with.
    pub config: Config,
    /// The CPU's place in a configuration of several CPUs, each run by
    /// its own thread; `None` for a machine of one CPU
    /// ([`Machine::join`]).
    member: Option<configuration::Member>,
}

impl Machine {
    /// A machine with `memory` bytes of zeroed storage and a CPU after
    /// initial CPU reset.
    pub fn new(memory: usize) -> Self {
        let mut machine = Self {
            cpu: Cpu::new(),
            bus: DatBus::over(main_storage::MainStorage::new(memory)),
            services: Services::default(),
            config: Config::default(),
            member: None,
        };
        machine.offer(FACILITIES);
        machine
    }

    /// Makes the machine's CPU the CPU of `member`'s slot in its
    /// configuration: other CPUs reach it there (SIGP, invalidations), and
    /// its pending emergency signals and external call are the slot's.
    pub fn join(&mut self, member: configuration::Member) {
        self.services.signals.external = member.signals();
        self.member = Some(member);
    }

    /// Adds a virtio block device over `backend` on the next subchannel
    /// (QEMU's `virtio-blk-ccw`; its device ID string is `id`): answers
    /// the subchannel and device number. The channel subsystem is this
    /// CPU's (`docs/CHOICES.md` 24).
    pub fn add_drive(
        &mut self,
        backend: alloc::boxed::Box<dyn virtio_blk::BlockBackend>,
        id: &str,
    ) -> u16 {
        let block = virtio_blk::Block::new(backend, id);
        self.services
            .css
            .add_device(alloc::boxed::Box::new(virtio_ccw::Transport::new(block)))
    }

    /// Offers the DAT-related `facilities`: the bus applies them and the
    /// SCLP reports them (ESOP-1 is an SCLP configuration characteristic),
    /// so what the guest is told and what it gets are one decision.
    pub fn offer(&mut self, facilities: Facilities) {
        self.bus.facilities = facilities;
        if facilities.contains(Facilities::ESOP1) {
            self.services
                .sclp
                .config
                .set_conf_char(sclp::conf_char::ESOP);
        }
    }

    /// The storage size in bytes.
    pub fn memory(&self) -> u64 {
        self.bus.storage.size()
    }

    /// Copies `bytes` to absolute address `address`.
    pub fn load(&mut self, address: u64, bytes: &[u8]) -> Result<(), OutsideStorage> {
        let outside = OutsideStorage {
            address,
            len: bytes.len() as u64,
            size: self.memory(),
        };
        self.bus
            .storage
            .write(AbsoluteAddress::new(address), bytes)
            .ok_or(outside)
    }

    /// Places a program image as QEMU's `-kernel` loader does: each
    /// segment's file bytes at its physical address, the rest of its memory
    /// size zeroed (a page at a time: a large `p_memsz` costs no host
    /// memory beyond guest storage). The segment that does not fit is
    /// named by the error.
    pub fn load_image(&mut self, image: &elf::Image) -> Result<(), (usize, OutsideStorage)> {
        for segment in &image.segments {
            self.load_segment(segment)
                .map_err(|outside| (segment.index, outside))?;
        }
        Ok(())
    }

    fn load_segment(&mut self, segment: &elf::Segment) -> Result<(), OutsideStorage> {
        self.load(segment.address, &segment.data)?;
        let zeros = [0u8; 4096];
        let mut at = segment.data.len() as u64;
        while at < segment.memory_size {
            let n = (segment.memory_size - at).min(zeros.len() as u64);
            self.load(segment.address + at, &zeros[..n as usize])?;
            at += n;
        }
        Ok(())
    }

    /// A machine with `memory` bytes of storage configured as `config`
    /// says ([`Config::validate`] first).
    pub fn with_config(memory: usize, config: Config) -> Result<Self, String> {
        config.validate()?;
        if let Some(line) = &config.command_line {
            let end = config::COMMAND_LINE_ADDRESS as usize + line.len() + 1;
            if end > memory {
                return Err(alloc::format!(
                    "a command line needs storage up to {end:#x} (the parm area), not {memory:#x} bytes"
                ));
            }
        }
        let mut machine = Self::new(memory);
        for device in &config.devices {
            if *device == config::Device::VirtioNetCcw {
                machine
                    .services
                    .css
                    .add_device(alloc::boxed::Box::new(virtio_ccw::VirtioCcw::net()));
            }
        }
        machine.cpu.vector_facility = config.cpu.vx;
        machine.cpu.mie3_facility = config.cpu.mie3;
        machine.cpu.vxeh_facility = config.cpu.vxeh;
        machine.cpu.vxeh2_facility = config.cpu.vxeh2;
        let mut dat = FACILITIES;
        dat.set(Facilities::EDAT1, config.cpu.edat);
        dat.set(Facilities::ESOP2, config.cpu.sea_esop2);
        machine.offer(dat);
        machine.cpu.cpu_addr = config.cpus.core_ids[0];
        let sclp = &mut machine.services.sclp.config;
        sclp.cpus = config.cpus.core_ids.iter().map(|id| *id as u8).collect();
        sclp.max_cpus = config.cpus.max_cpus;
        machine.config = config;
        Ok(machine)
    }

    /// Sets the PSW QEMU starts a `-kernel` program with, at `entry`, after
    /// storing the command line in the parm area as QEMU's loader does
    /// (over whatever the program image put there).
    pub fn start(&mut self, entry: u64) {
        if let Some(line) = &self.config.command_line {
            let mut bytes = line.clone().into_bytes();
            bytes.push(0);
            // Validated to fit the parm area, which is in the first 72 KiB.
            let _ = self
                .bus
                .storage
                .write(AbsoluteAddress::new(config::COMMAND_LINE_ADDRESS), &bytes);
        }
        self.cpu.psw = Psw {
            mask: START_MASK,
            addr: entry,
        };
    }

    /// Runs until the CPU stops, or `limit` instructions have run.
    pub fn run(&mut self, limit: Option<u64>, observer: &mut dyn Observer) -> RunOutcome {
        self.run_with(limit, observer, &mut engine::Interpreter)
    }

    /// [`Machine::run`] with instructions executed by `engine` (in batches
    /// that end at the timer-poll period and the limit; one at a time,
    /// interpreted, while the observer traces).
    pub fn run_with(
        &mut self,
        limit: Option<u64>,
        observer: &mut dyn Observer,
        engine: &mut dyn engine::Engine,
    ) -> RunOutcome {
        let mut executed = 0u64;
        let mut faults_in_a_row = 0u32;
        let mut timers = TimerPoll::default();
        let mut unclocked = 0u64;
        let mut spin = configuration::Spin::default();
        let stop = loop {
            if let Some(member) = self.member.take() {
                let ended = self.meet(&member, engine, observer);
                self.member = Some(member);
                if let Some(stop) = ended {
                    break stop;
                }
            }
            if self.services.state == CpuState::Stopped {
                let psw = self.cpu.psw;
                match self.idle(
                    configuration::Activity::Stopped,
                    Stop::Stopped { psw },
                    None,
                ) {
                    Some(stop) => break stop,
                    None => continue,
                }
            }
            let check_timers = timers.due(&self.cpu, executed);
            if check_timers {
                // Virtual time advances with the instructions, told in
                // batches (a call per instruction would cost).
                self.services.clock.source.executed(unclocked);
                unclocked = 0;
                if let Some(stop) = self.watchdog_expiry() {
                    break stop;
                }
                self.type_console_input(observer);
            }
            let waited = self.cpu.psw.mask & mask::WAIT != 0;
            if let Some(stop) = self.interruptions(observer, check_timers) {
                break stop;
            }
            if waited && self.cpu.psw.mask & mask::WAIT == 0 {
                // An interruption ended the wait.
                let now = self.services.clock.monotonic();
                self.services.waits.leave(now);
            }
            if self.cpu.psw.mask & mask::WAIT != 0 {
                let psw = self.cpu.psw;
                if interrupt::disabled_wait(&psw) {
                    match self.idle(
                        configuration::Activity::DisabledWait,
                        Stop::DisabledWait { psw },
                        None,
                    ) {
                        Some(stop) => break stop,
                        None => continue,
                    }
                }
                self.services
                    .clock
                    .source
                    .executed(core::mem::take(&mut unclocked));
                let timer = interrupt::next_timer(&self.cpu, &self.services.clock);
                let timer = watchdog::earliest(timer, &self.services.watchdog);
                let now = self.services.clock.monotonic();
                self.services.waits.enter(now, timer);
                match timer {
                    // Another CPU may interrupt the wait: look again soon,
                    // and no later than the timer.
                    Some(deadline) if self.member.is_some() => {
                        if let Some(member) = &self.member {
                            member.wait_for_timer();
                        }
                        let running = configuration::Activity::Running;
                        let _ = self.idle(running, Stop::LimitReached, Some(deadline));
                        timers.wake();
                        continue;
                    }
                    None if self.member.is_some() => {
                        let forever = Stop::EnabledWaitForever { psw };
                        match self.idle(configuration::Activity::WaitingForOthers, forever, None) {
                            Some(stop) => break stop,
                            None => continue,
                        }
                    }
                    Some(deadline) => {
                        self.services.clock.wait_until(deadline);
                        timers.wake();
                        continue;
                    }
                    None => break Stop::EnabledWaitForever { psw },
                }
            }
            if observer.tracing() && observer.boundary(&self.cpu, &mut self.bus) {
                match &self.member {
                    // A debugger holds the configuration: this CPU is held
                    // at the top of the loop, the others at their next
                    // boundary.
                    Some(member) if member.configuration.held() => continue,
                    _ => break Stop::Paused,
                }
            }
            if limit.is_some_and(|limit| executed >= limit) {
                break Stop::LimitReached;
            }
            let at = self.cpu.psw.addr;
            if observer.tracing() {
                if let Ok(insn) = self.cpu.fetch(&mut self.bus, at) {
                    observer.trace(&self.cpu, &insn);
                }
            }
            if let Some(member) = &self.member {
                // Out of a wait by an interruption (a timer, or one another
                // CPU made pending): running again.
                member.resume();
            }
            self.bus.halt = None;
            self.services.halt = None;
            let mut board = Board {
                bus: &mut self.bus,
                services: &mut self.services,
                config: &self.config,
                attention: false,
                member: self.member.as_ref(),
            };
            // The engine hook: a batch that ends where the loop must look
            // again (the limit, the next timer poll).
            let ran = if observer.tracing() {
                engine::Engine::run(&mut engine::Interpreter, &mut self.cpu, &mut board, 1)
            } else {
                let room = limit.map_or(u64::MAX, |limit| limit - executed);
                // Among several CPUs, shorter batches: another CPU may be
                // waiting for this one's next boundary.
                let batch = match self.member {
                    Some(_) if !engine.leaves_when_kicked() => configuration::BATCH,
                    _ => u64::MAX,
                };
                if engine.watches_clock() {
                    timers.wake();
                    engine.run(&mut self.cpu, &mut board, room.min(batch))
                } else {
                    let poll = TimerPoll::PERIOD - executed % TimerPoll::PERIOD;
                    engine.run(&mut self.cpu, &mut board, room.min(poll).min(batch))
                }
            };
            let board_attention = board.attention;
            executed += ran.instructions;
            unclocked += ran.instructions;
            if ran.instructions > 1 {
                faults_in_a_row = 0;
            }
            let (at, step) = (ran.last, ran.result);
            if !self.services.sclp.console.is_empty() {
                observer.console(&self.services.sclp.take_console());
            }
            if let Some(member) = self.member.as_ref().filter(|_| board_attention) {
                let console = member.configuration.sclp.lock().take_console();
                if !console.is_empty() {
                    observer.console(&console);
                }
            }
            if let Some(stop) = self.carry_out_stop_request() {
                break stop;
            }
            let resetting = self.services.ipl.reset.is_some();
            if let Some(stop) = self.carry_out_reset() {
                break stop;
            }
            if resetting {
                // The reset purged the TLB; the engine drops what it keeps
                // beyond it (jump caches, shadow tables) too.
                engine.invalidate(&Invalidation::All);
            }
            let interruption = match step {
                Ok(()) => {
                    faults_in_a_row = 0;
                    if let Some(member) = &self.member {
                        if let Some(before) = spin.spinning(self.cpu.psw.addr, &self.cpu.gpr) {
                            member.relax(before);
                        }
                    }
                    continue;
                }
                Err(interruption @ Interruption::Program { exception, .. }) => {
                    if let Some(stop) = self.unimplemented(at, &exception) {
                        // Not executed: the PSW points at it again.
                        self.cpu.psw.addr = at;
                        break stop;
                    }
                    faults_in_a_row += 1;
                    if faults_in_a_row > PROGRAM_INTERRUPTION_LOOP {
                        break Stop::CheckStop {
                            reason: "program-interruption loop",
                            psw: self.cpu.psw,
                        };
                    }
                    interruption
                }
                Err(interruption) => {
                    faults_in_a_row = 0;
                    interruption
                }
            };
            if let Some(stop) = self.deliver(interruption, observer) {
                break stop;
            }
        };
        self.services.clock.source.executed(unclocked);
        if let Some(member) = &self.member {
            member.configuration.end(stop.clone());
        }
        RunOutcome {
            stop,
            instructions: executed,
        }
    }

    /// A CPU of a configuration at an instruction boundary: the run may
    /// have ended; what other CPUs asked of this one is carried out
    /// (invalidations, a SIGP order, the stop or reset it asked for); a
    /// debugger may hold it here ([`Observer::hold`]), meanwhile it goes
    /// on carrying out what the others ask.
    fn meet(
        &mut self,
        member: &configuration::Member,
        engine: &mut dyn engine::Engine,
        observer: &mut dyn Observer,
    ) -> Option<Stop> {
        let mut holding = false;
        loop {
            if member.configuration.ended() {
                return Some(
                    member
                        .configuration
                        .outcome()
                        .unwrap_or(Stop::Stopped { psw: self.cpu.psw }),
                );
            }
            if member.take_kick() {
                if let Some(stop) = self.answer_others(member, engine) {
                    return Some(stop);
                }
            } else if !holding {
                return None;
            }
            holding = (holding || member.configuration.held()) && observer.hold(&mut self.cpu);
            if !holding {
                return None;
            }
            member.park(u64::MAX);
        }
    }

    /// Applies the invalidations other CPUs queued for this one, carries
    /// out the SIGP order waiting for it and the stop it asked for.
    fn answer_others(
        &mut self,
        member: &configuration::Member,
        engine: &mut dyn engine::Engine,
    ) -> Option<Stop> {
        let tlb = &mut self.bus.tlb;
        member.apply_flushes(&mut |invalidation| {
            tlb.invalidate(invalidation);
            engine.invalidate(invalidation);
        });
        if let Some(order) = member.take_order() {
            let mut target = sigp::Target {
                cpu: &mut self.cpu,
                services: &mut self.services,
                bus: &mut self.bus,
            };
            let answer = sigp::carry_out(&mut target, order);
            // The stop or reset the order asked for is carried out, and the
            // CPU's activity told, before the sender learns the answer (as
            // QEMU's SIGP returns once the CPU has stopped): a SENSE right
            // after an accepted STOP finds the CPU stopped, and a CPU
            // started is running before its sender's next step (perhaps
            // its own stop, which must not end the run).
            let stopped = self.carry_out_stop_request();
            let activity = match self.services.state {
                CpuState::Operating => configuration::Activity::Running,
                CpuState::Stopped => configuration::Activity::Stopped,
            };
            let psw = self.cpu.psw;
            let ended = member.settle(activity, || Stop::Stopped { psw });
            member.answer(order, answer);
            return stopped.or(ended);
        }
        self.carry_out_stop_request()
    }

    /// A CPU that cannot proceed by itself (`activity`): alone, the run
    /// ends with `stop`; in a configuration, it ends when no CPU is left
    /// running, else the CPU's thread parks until another CPU needs it, or
    /// until its timer interruption is due at monotonic time `deadline`
    /// (TOD units; the enabled wait ends then, PoP "Wait State").
    fn idle(
        &mut self,
        activity: configuration::Activity,
        stop: Stop,
        deadline: Option<u64>,
    ) -> Option<Stop> {
        let Some(member) = &self.member else {
            return Some(stop);
        };
        if let Some(end) = member.settle(activity, || stop) {
            return Some(end);
        }
        let longest = deadline.map_or(u64::MAX, |deadline| {
            let now = self.services.clock.monotonic();
            zmmu_cpu::clock::tod_to_ns(deadline.saturating_sub(now))
        });
        member.park(longest);
        None
    }

    /// Carries out a stop SIGP asked for once the instruction has ended:
    /// the CPU enters the stopped state, after storing its status at
    /// [`sigp::STATUS_AREA`] for STOP AND STORE STATUS, or after a reset
    /// (which also clears the pending interruptions, PoP "CPU Reset").
    fn carry_out_stop_request(&mut self) -> Option<Stop> {
        let request = self.services.stop.take()?;
        if matches!(
            request,
            StopRequest::CpuReset | StopRequest::InitialCpuReset
        ) {
            self.services.signals.clear();
            if request == StopRequest::InitialCpuReset {
                self.cpu.initial_cpu_reset();
            }
        }
        if request == StopRequest::StopAndStoreStatus {
            let cpu_timer = self.services.cpu_timer(&self.cpu);
            let stored = sigp::store_status(
                &mut self.bus.storage,
                &self.cpu,
                cpu_timer,
                sigp::STATUS_AREA,
                true,
            );
            if stored.is_none() {
                return Some(Stop::CheckStop {
                    reason: "status area outside storage",
                    psw: self.cpu.psw,
                });
            }
        }
        self.services.enter(&mut self.cpu, CpuState::Stopped);
        if request == StopRequest::InitialCpuReset {
            // The reset clears the CPU timer, which stays zero while the
            // CPU is stopped.
            self.services.stopped_cpu_timer = Some(0);
        }
        None
    }

    /// The stop for an operation exception that means "not implemented
    /// here": a halt the bus asked for, or an opcode the decoder knows
    /// whose execution the interpreter does not provide. Unknown opcodes
    /// (and EXECUTE targets) raise the architected operation exception.
    fn unimplemented(&mut self, at: u64, exc: &Exception) -> Option<Stop> {
        let halt = self.services.halt.take().or_else(|| self.bus.halt.take());
        if let Some(Halt::Unimplemented { mnemonic, detail }) = halt {
            return Some(Stop::Unimplemented {
                mnemonic,
                detail,
                address: at,
            });
        }
        if exc.code != Code::OPERATION {
            return None;
        }
        let insn = self.cpu.fetch(&mut self.bus, at).ok()?;
        if zmmu_cpu::exec::absent_from_model(&self.cpu, self.bus.facilities, insn.op) {
            return None;
        }
        match insn.op {
            Opcode::Unknown => None,
            Opcode::EX | Opcode::EXRL => {
                let target = self.execute_target(at, &insn)?;
                (target.op != Opcode::Unknown).then(|| Stop::Unimplemented {
                    mnemonic: target.op.mnemonic(),
                    detail: Some(format!("the target of {} at {at:#x}", insn.op.mnemonic())),
                    address: at,
                })
            }
            op => Some(Stop::Unimplemented {
                mnemonic: op.mnemonic(),
                detail: None,
                address: at,
            }),
        }
    }

    /// The instruction an EX or EXRL at `at` executes, with bits 56-63 of
    /// R1 ORed into its second byte (the registers are as they were: the
    /// operation exception suppressed the EXECUTE).
    fn execute_target(&mut self, at: u64, insn: &Insn) -> Option<Insn> {
        zmmu_cpu::exec::execute_target(&mut self.cpu, &mut self.bus, at, insn)
    }

    /// Delivers the highest-priority pending interruption the CPU is
    /// enabled for, if any (one per instruction boundary): external, I/O,
    /// then restart (PoP "Priority of Interruptions"). Timer conditions are
    /// looked at only when `check_timers` (reading the clock costs).
    fn interruptions(&mut self, observer: &mut dyn Observer, check_timers: bool) -> Option<Stop> {
        let services = &mut self.services;
        // The service signal is a floating interruption: of several CPUs,
        // the first enabled for it takes it.
        if let Some(member) = &self.member {
            if interrupt::external_enabled(&self.cpu, interrupt::CR0_SERVICE_SIGNAL) {
                if let Some(parameter) = member.configuration.take_service_signal() {
                    services.signal_service(parameter);
                }
            }
        }
        let external = interrupt::take_external(
            &self.cpu,
            &mut services.clock,
            &services.signals.external,
            &mut services.service_signal,
            check_timers,
        );
        // I/O interruptions float too: of several CPUs, the first enabled
        // for one takes it from the configuration's channel subsystem.
        let io = || match &self.member {
            Some(member) => member.configuration.take_io_interruption(&self.cpu),
            None => services.css.take_interruption(&self.cpu),
        };
        let interruption = match external.or_else(io) {
            Some(interruption) => interruption,
            None if services.signals.restart => {
                services.signals.restart = false;
                Interruption::Restart
            }
            None => return None,
        };
        self.deliver(interruption, observer)
    }

    /// Delivers an interruption; an invalid new PSW raises a specification
    /// exception with ILC 0 as soon as it is current (PoP "Exceptions
    /// Associated with the PSW").
    fn deliver(&mut self, interruption: Interruption, observer: &mut dyn Observer) -> Option<Stop> {
        let mut next = Some(interruption);
        let mut rounds = 0;
        while let Some(interruption) = next.take() {
            rounds += 1;
            if rounds > PROGRAM_INTERRUPTION_LOOP {
                return Some(Stop::CheckStop {
                    reason: "invalid program-new PSW",
                    psw: self.cpu.psw,
                });
            }
            let old = self.cpu.psw;
            if self.cpu.deliver(&mut self.bus, interruption).is_err() {
                return Some(Stop::CheckStop {
                    reason: "lowcore outside storage",
                    psw: self.cpu.psw,
                });
            }
            observer.interruption(&self.cpu, &interruption, &old);
            if !self.cpu.psw.is_valid() {
                next = Some(Interruption::Program {
                    exception: Exception::new(Code::SPECIFICATION),
                    ilc: 0,
                });
            }
        }
        None
    }
}
