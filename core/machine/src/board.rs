//! A CPU's storage and the machine's services together: [`Board`], the
//! one [`zmmu_cpu::memory::Bus`] a CPU executes against, and [`Services`],
//! what the machine keeps besides storage (the CPU's state and signals, the
//! service processor, the channel subsystem, the clock). A leaf below the
//! instruction modules (`system`, `sigp`, `stsi`, `diag`), which all use it.

use alloc::boxed::Box;
use alloc::string::String;

use zmmu_cpu::clock::{Clock, TimeSource, VirtualTime, TOD_2026};
use zmmu_cpu::decode::Insn;
use zmmu_cpu::memory::{Access, Memory};
use zmmu_cpu::state::Cpu;
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::control::Facilities;
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::{Invalidation, PendingFlush, Scope};
use zmmu_mmu::storage::Storage;

use crate::bus::{DatBus, Halt};
use crate::interrupt::Signals;
use crate::sclp::Sclp;

/// The state of a CPU (PoP ch. 4 "CPU States").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuState {
    /// Executing instructions (or waiting, with the wait bit).
    Operating,
    /// Stopped: it executes nothing until started or restarted.
    Stopped,
}

/// A stop (or reset, which stops) that SIGP asked for, carried out when the
/// current instruction has completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopRequest {
    /// SIGP STOP.
    Stop,
    /// SIGP STOP AND STORE STATUS: status is stored at absolute 0x1200.
    StopAndStoreStatus,
    /// SIGP CPU RESET: the CPU is reset and stopped.
    CpuReset,
    /// SIGP INITIAL CPU RESET: the CPU is reset, its PSW, prefix, timers
    /// and control registers cleared, and stopped.
    InitialCpuReset,
}

/// What the machine keeps besides storage: the CPU's state and signals,
/// the service processor and the interruption it signals, and the clock.
#[derive(Debug)]
pub struct Services {
    /// The service-call logical processor (console).
    pub sclp: Sclp,
    /// A service signal is pending with this parameter.
    pub service_signal: Option<u32>,
    /// Set when an instruction must stop the machine; the operation
    /// exception returned with it is not delivered.
    pub halt: Option<Halt>,
    /// The configuration's TOD clock.
    pub clock: Clock<Box<dyn TimeSource>>,
    /// The CPU's state (change it with [`Services::enter`]).
    pub state: CpuState,
    /// The CPU timer's value while the CPU is stopped, where it is not
    /// decremented.
    pub stopped_cpu_timer: Option<u64>,
    /// A stop to carry out after the current instruction.
    pub stop: Option<StopRequest>,
    /// Emergency signals, external calls and restart pending for the CPU.
    pub signals: Signals,
    /// The channel subsystem and its devices.
    pub css: crate::css::ChannelSubsystem,
    /// The IPL functions' state: a pending reset, the IPL parameters.
    pub ipl: crate::ipl::Ipl,
    /// The diag288 watchdog.
    pub watchdog: crate::watchdog::Watchdog,
    /// How the CPU's enabled waits went.
    pub waits: crate::interrupt::Waits,
}

impl Default for Services {
    /// One operating CPU, no SCLP request pending, a clock in virtual time
    /// starting at 2026-01-01.
    fn default() -> Self {
        Self {
            sclp: Sclp::default(),
            service_signal: None,
            halt: None,
            clock: Clock::new(Box::new(VirtualTime::default()), TOD_2026),
            state: CpuState::Operating,
            stopped_cpu_timer: None,
            stop: None,
            signals: Signals::default(),
            css: crate::css::ChannelSubsystem::default(),
            ipl: crate::ipl::Ipl::default(),
            watchdog: crate::watchdog::Watchdog::default(),
            waits: crate::interrupt::Waits::default(),
        }
    }
}

impl Services {
    /// Puts the CPU in `state`. The CPU timer is decremented only while
    /// the CPU is operating (PoP "CPU Timer"): its value is kept over a
    /// stop.
    pub fn enter(&mut self, cpu: &mut Cpu, state: CpuState) {
        if state == self.state {
            return;
        }
        let now = self.clock.monotonic();
        match state {
            CpuState::Stopped => self.stopped_cpu_timer = Some(cpu.cpu_timer(now)),
            CpuState::Operating => {
                if let Some(value) = self.stopped_cpu_timer.take() {
                    cpu.cpu_timer_zero = now.wrapping_add(value);
                }
            }
        }
        self.state = state;
    }

    /// The CPU timer's value now.
    pub fn cpu_timer(&mut self, cpu: &Cpu) -> u64 {
        match self.stopped_cpu_timer {
            Some(value) => value,
            None => cpu.cpu_timer(self.clock.monotonic()),
        }
    }

    /// Makes a service signal pending with `parameter`, ORed into the
    /// parameter of one already pending (as QEMU merges them).
    pub fn signal_service(&mut self, parameter: u32) {
        crate::interrupt::merge_service_signal(&mut self.service_signal, parameter);
    }
}

/// A CPU's storage and the machine's services: what the CPU executes
/// against.
#[derive(Debug)]
pub struct Board<'a> {
    /// Storage behind DAT.
    pub bus: &'a mut DatBus,
    /// The service processor and the rest of the machine.
    pub services: &'a mut Services,
    /// What the machine was configured with (STSI's name and UUID, the
    /// diag288 device).
    pub config: &'a crate::config::Config,
    /// Set when an instruction reached the machine ([`System`]: SERVC,
    /// SIGP, DIAG, STSI, I/O, the clock): it may have made an interruption
    /// pending or asked for a stop, so an engine running a batch ends it
    /// there and the machine looks.
    ///
    /// [`System`]: zmmu_cpu::memory::System
    pub attention: bool,
    /// The CPU's membership of a configuration of several CPUs (SIGP to
    /// the others, invalidations that reach their TLBs); `None` for a
    /// machine of one CPU.
    pub member: Option<&'a crate::configuration::Member>,
}

impl Memory for Board<'_> {
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        self.bus.read(acc, addr, buf)
    }
    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        self.bus.write(acc, addr, data)
    }
    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        self.bus.check(acc, addr, len)
    }
    fn translate(&mut self, acc: &Access<'_>, addr: u64) -> Result<AbsoluteAddress, Exception> {
        self.bus.translate(acc, addr)
    }
    fn facilities(&self) -> Facilities {
        self.bus.facilities()
    }
    fn storage(&mut self) -> &mut dyn Storage {
        self.bus.storage()
    }
    /// Drops what `flush` covers from this CPU's TLB and, when its scope
    /// is the configuration, from every other CPU's before returning
    /// ([`crate::configuration::Member::broadcast`]).
    fn invalidate(&mut self, flush: PendingFlush) {
        self.invalidate_also(flush, &mut |_| {});
    }
    fn fault(&mut self, fault: Fault) -> Exception {
        self.bus.fault(fault)
    }
}

impl Board<'_> {
    /// Runs `f` on the channel subsystem and guest storage: the
    /// configuration's subsystem when the CPU is one of several (I/O on any
    /// CPU reaches the same devices), else the CPU's own.
    pub(crate) fn with_css<R>(
        &mut self,
        f: impl FnOnce(&mut crate::css::ChannelSubsystem, &mut crate::bus::DatBus) -> R,
    ) -> R {
        let bus = &mut *self.bus;
        match self.member {
            Some(member) => member.configuration.with_css(|css| f(css, bus)),
            None => f(&mut self.services.css, bus),
        }
    }

    /// [`Memory::invalidate`], with `also` applied to every invalidation
    /// this CPU carries out meanwhile: `flush`'s own, and those other CPUs
    /// queue for it while it waits for their acknowledgements. An engine
    /// that keeps more than the TLB (shadow tables) drops it there.
    pub fn invalidate_also(&mut self, flush: PendingFlush, also: &mut dyn FnMut(&Invalidation)) {
        let scope = flush.scope();
        let invalidation = flush.into_invalidation();
        let bus = &mut self.bus;
        bus.invalidate_tlb(&invalidation);
        also(&invalidation);
        if let (Scope::Configuration, Some(member)) = (scope, self.member) {
            member.broadcast(invalidation, &mut |queued| {
                bus.invalidate_tlb(queued);
                also(queued);
            });
        }
    }

    /// Records that `insn` (or the variant `detail` names) is not
    /// implemented, so that the machine stops by name, and answers the
    /// operation exception that is not delivered.
    pub(crate) fn unimplemented(&mut self, insn: &Insn, detail: Option<String>) -> Exception {
        self.services.halt = Some(Halt::Unimplemented {
            mnemonic: insn.op.mnemonic(),
            detail,
        });
        Exception::new(Code::OPERATION)
    }
}
