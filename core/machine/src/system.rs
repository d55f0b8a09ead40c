//! The machine's side of the instructions whose semantics are not the
//! CPU's alone ([`System`]): SERVICE CALL to the service processor
//! ([`crate::sclp`]), SIGNAL PROCESSOR ([`crate::sigp`]) and DIAGNOSE, and
//! the TOD clock. [`Board`] puts a CPU's [`DatBus`] and these [`Services`]
//! together as the one [`zmmu_cpu::memory::Bus`] the CPU executes against.

use alloc::boxed::Box;
use alloc::string::String;

use zmmu_cpu::clock::{Clock, TimeSource, Timing, VirtualTime, TOD_2026};

use zmmu_cpu::decode::Insn;
use zmmu_cpu::memory::{Access, Memory, System};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::Cpu;
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::control::Facilities;
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::PendingFlush;
use zmmu_mmu::storage::Storage;

use crate::bus::{DatBus, Halt};
use crate::interrupt::Signals;
use crate::sclp::{Sclp, Serviced};
use crate::sigp;

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
    /// The CPU's state.
    pub state: CpuState,
    /// A stop to carry out after the current instruction.
    pub stop: Option<StopRequest>,
    /// Emergency signals, external calls and restart pending for the CPU.
    pub signals: Signals,
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
            stop: None,
            signals: Signals::default(),
        }
    }
}

impl Services {
    /// Makes a service signal pending with `parameter`, ORed into the
    /// parameter of one already pending (as QEMU merges them).
    pub fn signal_service(&mut self, parameter: u32) {
        self.service_signal = Some(self.service_signal.unwrap_or(0) | parameter);
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
    fn invalidate(&mut self, flush: PendingFlush) {
        self.bus.invalidate(flush);
    }
    fn fault(&mut self, fault: Fault) -> Exception {
        self.bus.fault(fault)
    }
}

impl Board<'_> {
    fn unimplemented(&mut self, insn: &Insn, detail: Option<String>) -> Exception {
        self.services.halt = Some(Halt::Unimplemented {
            mnemonic: insn.op.mnemonic(),
            detail,
        });
        Exception::new(Code::OPERATION)
    }

    /// SERVICE CALL: the command word in R1, the SCCB's real address in R2.
    fn service_call(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let command = cpu.r32(insn.f.r1);
        let sccb = cpu.r64(insn.f.r2);
        let prefix = cpu.prefix.value();
        let Serviced { parameter } =
            self.services
                .sclp
                .service_call(&mut self.bus.storage, prefix, command, sccb)?;
        self.services.signal_service(parameter);
        cpu.psw.set_cc(0);
        Ok(())
    }

    /// SIGNAL PROCESSOR: the order in bits 56-63 of the second-operand
    /// address, the CPU address in R3, the parameter in R1 + 1 (R1 when
    /// odd); status goes to bits 32-63 of R1 with cc 1.
    fn signal_processor(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let f = insn.f;
        let base = if f.b2 == 0 { 0 } else { cpu.r64(f.b2) };
        let order = (base.wrapping_add(f.d2 as i64 as u64) & 0xFF) as u8;
        let parameter = cpu.r64(f.r1 | 1);
        let target = cpu.r64(f.r3) as u16;
        let answer = sigp::signal(self, cpu, order, target, parameter);
        if let sigp::Answer::Status(status) = answer {
            cpu.set_r32(f.r1, status);
        }
        cpu.psw.set_cc(answer.cc());
        Ok(())
    }
}

impl System for Board<'_> {
    fn system_instruction(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        match insn.op {
            Opcode::SERVC => self.service_call(cpu, insn),
            Opcode::SIGP => self.signal_processor(cpu, insn),
            _ => Err(self.unimplemented(insn, None)),
        }
    }

    fn clock(&mut self) -> Option<&mut dyn Timing> {
        Some(&mut self.services.clock)
    }
}
