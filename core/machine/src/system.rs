//! The machine's side of the instructions whose semantics are not the
//! CPU's alone ([`System`]): SERVICE CALL to the service processor
//! ([`crate::sclp`]), SIGNAL PROCESSOR ([`crate::sigp`]) and DIAGNOSE, and
//! the TOD clock, as [`Board`]'s implementation of [`System`].

use zmmu_cpu::clock::Timing;
use zmmu_cpu::decode::Insn;
use zmmu_cpu::memory::System;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::Cpu;
use zmmu_mmu::exception::Exception;

pub use crate::board::{Board, CpuState, Services, StopRequest};
use crate::sclp::Serviced;
use crate::sigp;

impl Board<'_> {
    /// SERVICE CALL: the command word in R1, the SCCB's real address in R2.
    fn service_call(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let command = cpu.r32(insn.f.r1);
        let sccb = cpu.r64(insn.f.r2);
        let prefix = cpu.prefix.value();
        // The configuration's one service processor (every CPU's, when
        // there are several).
        let storage = &mut self.bus.storage;
        let Serviced { parameter } = match self.member {
            Some(member) => member
                .configuration
                .sclp
                .lock()
                .service_call(storage, prefix, command, sccb)?,
            None => self
                .services
                .sclp
                .service_call(storage, prefix, command, sccb)?,
        };
        match self.member {
            Some(member) => member.configuration.signal_service(parameter),
            None => self.services.signal_service(parameter),
        }
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
        let target = cpu.r64(f.r3);
        let answer = sigp::signal(self, cpu, order, target, parameter);
        if let sigp::Answer::Status(status) = answer {
            cpu.set_r32(f.r1, status);
        }
        cpu.psw.set_cc(answer.cc());
        Ok(())
    }
}

/// What a system instruction may store into storage while it executes:
/// for an engine that keeps translated code, which must drop the code it
/// stores over (PoP "Storage-Operand Consistency": a store by the CPU is
/// seen by its later instruction fetches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stores {
    /// Nothing (an interruption it causes stores into the lowcore, which
    /// the run loop delivers outside the instruction).
    Nothing,
    /// At most the absolute bytes `start..end`.
    Absolute {
        /// The first byte.
        start: u64,
        /// The byte past the last.
        end: u64,
    },
    /// Anything.
    Anything,
}

/// What [`Board`]'s `system_instruction` may store for `insn` on `cpu`,
/// told before it executes:
/// - SIGP: the signalling CPU is operating, so an order to itself stores
///   only what STOP AND STORE STATUS stores once the instruction has
///   ended (the status area and the architectural-mode identification in
///   absolute page 0, [`sigp::carry_out`]); the other orders store on a
///   stopped or waiting CPU only, and an order to another CPU is carried
///   out by that CPU's thread.
/// - DIAGNOSE: X'044', X'09C', X'010' and X'288' store nothing; X'308'
///   (store subcode, re-IPL) and X'500' (a virtio device serving its
///   queues) anything.
/// - Any other: anything.
pub fn stores(cpu: &Cpu, insn: &Insn) -> Stores {
    match insn.op {
        Opcode::SIGP => Stores::Absolute {
            start: 0,
            end: sigp::STATUS_AREA + 0x200,
        },
        Opcode::DIAG => match crate::diag::diagnose_code(cpu, insn) {
            crate::diag::code::IPL | crate::diag::code::VIRTIO => Stores::Anything,
            _ => Stores::Nothing,
        },
        _ => Stores::Anything,
    }
}

impl System for Board<'_> {
    fn system_instruction(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        self.attention = true;
        match insn.op {
            Opcode::SERVC => self.service_call(cpu, insn),
            Opcode::SIGP => self.signal_processor(cpu, insn),
            Opcode::DIAG => self.diagnose(cpu, insn),
            Opcode::STSI => self.store_system_information(cpu, insn),
            op if op.is_io() => {
                self.with_css(|css, bus| crate::css::instruction(css, bus, cpu, insn))
            }
            _ => Err(self.unimplemented(insn, None)),
        }
    }

    fn clock(&mut self) -> Option<&mut dyn Timing> {
        self.attention = true;
        Some(&mut self.services.clock)
    }
}
