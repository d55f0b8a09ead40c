//! The machine's side of the instructions whose semantics are not the
//! CPU's alone ([`System`]): SERVICE CALL to the service processor
//! ([`crate::sclp`]), SIGNAL PROCESSOR and DIAGNOSE. [`Board`] puts a
//! CPU's [`DatBus`] and these [`Services`] together as the one
//! [`zmmu_cpu::memory::Bus`] the CPU executes against.

use alloc::format;
use alloc::string::String;

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
use crate::sclp::{Sclp, Serviced};

/// What the machine keeps besides storage: the service processor and the
/// interruption it signals.
#[derive(Debug, Default)]
pub struct Services {
    /// The service-call logical processor (console).
    pub sclp: Sclp,
    /// A service signal is pending with this parameter.
    pub service_signal: Option<u32>,
    /// Set when an instruction must stop the machine; the operation
    /// exception returned with it is not delivered.
    pub halt: Option<Halt>,
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

    /// SIGNAL PROCESSOR: the CPU address in R3, the order in bits 56-63 of
    /// the second-operand address. One CPU: any other address is not
    /// operational (cc 3).
    fn signal_processor(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let f = insn.f;
        let target = cpu.r64(f.r3) as u16;
        if target != cpu.cpu_addr {
            cpu.psw.set_cc(3);
            return Ok(());
        }
        let base = if f.b2 == 0 { 0 } else { cpu.r64(f.b2) };
        let order = base.wrapping_add(f.d2 as i64 as u64) & 0xFF;
        Err(self.unimplemented(insn, Some(format!("order {order:#x}"))))
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
}
