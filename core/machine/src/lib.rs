//! # zmmu-machine
//!
//! A whole s390x machine for running bare-metal programs: absolute storage,
//! one [`Cpu`] (the interpreter), the software TLB over zmmu-mmu's DAT
//! ([`memory::DatBus`]), the external interruptions it raises ([`interrupt`],
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
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bus;
pub mod elf;
pub mod interrupt;
pub mod sclp;
pub mod system;

use alloc::format;
use alloc::string::String;

use zmmu_cpu::decode::Insn;
use zmmu_cpu::exec::{Exec, Sequential};
use zmmu_cpu::interrupt::{Interruption, SERVICE_SIGNAL};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::storage::{OwnedStorage, Storage};

use bus::{DatBus, Halt};
use system::{Board, Services};

/// The PSW QEMU starts a `-kernel` program with: 64-bit addressing, DAT
/// off, all interruptions disabled, key 0, supervisor state.
pub const START_MASK: u64 = mask::EA | mask::BA;

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
    /// interrupt it (no SCLP request pending, no I/O devices).
    EnabledWaitForever {
        /// The wait PSW.
        psw: Psw,
    },
    /// The instruction limit was reached before the program stopped.
    LimitReached,
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
    /// The CPU entered the check-stop state.
    CheckStop {
        /// Why.
        reason: &'static str,
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

    /// Called after each interruption is delivered.
    fn interruption(&mut self, cpu: &Cpu, interruption: &Interruption) {
        let _ = (cpu, interruption);
    }
}

impl Observer for () {}

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
}

impl Machine {
    /// A machine with `memory` bytes of zeroed storage and a CPU after
    /// initial CPU reset.
    pub fn new(memory: usize) -> Self {
        Self {
            cpu: Cpu::new(),
            bus: DatBus::new(OwnedStorage::new(memory)),
            services: Services::default(),
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

    /// Sets the PSW QEMU starts a `-kernel` program with, at `entry`.
    pub fn start(&mut self, entry: u64) {
        self.cpu.psw = Psw {
            mask: START_MASK,
            addr: entry,
        };
    }

    /// Runs until the CPU stops, or `limit` instructions have run.
    pub fn run(&mut self, limit: Option<u64>, observer: &mut dyn Observer) -> RunOutcome {
        let mut executed = 0u64;
        let mut faults_in_a_row = 0u32;
        let stop = loop {
            if let Some(stop) = self.interruptions(observer) {
                break stop;
            }
            if self.cpu.psw.mask & mask::WAIT != 0 {
                let psw = self.cpu.psw;
                break if interrupt::disabled_wait(&psw) {
                    Stop::DisabledWait { psw }
                } else {
                    Stop::EnabledWaitForever { psw }
                };
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
            executed += 1;
            self.bus.halt = None;
            self.services.halt = None;
            let mut board = Board {
                bus: &mut self.bus,
                services: &mut self.services,
            };
            let step = self.cpu.step(&mut board);
            if !self.services.sclp.console.is_empty() {
                observer.console(&self.services.sclp.take_console());
            }
            let interruption = match step {
                Ok(()) => {
                    faults_in_a_row = 0;
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
        RunOutcome {
            stop,
            instructions: executed,
        }
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
        let sequential = Sequential::after(&self.cpu, insn, at);
        let mut exec = Exec {
            cpu: &mut self.cpu,
            bus: &mut self.bus,
            insn: *insn,
            at,
            sequential,
        };
        exec.execute_target().ok().map(|(_, target)| target)
    }

    /// Delivers a pending external interruption if the CPU is enabled for
    /// it (at most one per instruction boundary).
    fn interruptions(&mut self, observer: &mut dyn Observer) -> Option<Stop> {
        let parameter = self.services.service_signal?;
        if !interrupt::service_signal_enabled(&self.cpu) {
            return None;
        }
        self.services.service_signal = None;
        let interruption = Interruption::External {
            code: SERVICE_SIGNAL,
            parameter,
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
            if self.cpu.deliver(&mut self.bus, interruption).is_err() {
                return Some(Stop::CheckStop {
                    reason: "lowcore outside storage",
                    psw: self.cpu.psw,
                });
            }
            observer.interruption(&self.cpu, &interruption);
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
