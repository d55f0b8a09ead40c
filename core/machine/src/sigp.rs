//! SIGNAL PROCESSOR (PoP ch. 4 "Signal-Processor Orders"), as QEMU's
//! `s390-ccw-virtio` machine answers each order, for a configuration of
//! one CPU: every order addressed to another CPU address is "not
//! operational" (cc 3), except SET ARCHITECTURE, which concerns the whole
//! configuration.

use zmmu_cpu::interrupt::lowcore;
use zmmu_cpu::state::Cpu;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::invalidate::prefix_area_exists;
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::storage::Storage;

use crate::board::{Board, StopRequest};

/// Order codes.
pub mod order {
    /// Sense.
    pub const SENSE: u8 = 0x01;
    /// External call.
    pub const EXTERNAL_CALL: u8 = 0x02;
    /// Emergency signal.
    pub const EMERGENCY_SIGNAL: u8 = 0x03;
    /// Start.
    pub const START: u8 = 0x04;
    /// Stop.
    pub const STOP: u8 = 0x05;
    /// Restart.
    pub const RESTART: u8 = 0x06;
    /// Stop and store status.
    pub const STOP_AND_STORE_STATUS: u8 = 0x09;
    /// Initial CPU reset.
    pub const INITIAL_CPU_RESET: u8 = 0x0B;
    /// CPU reset.
    pub const CPU_RESET: u8 = 0x0C;
    /// Set prefix.
    pub const SET_PREFIX: u8 = 0x0D;
    /// Store status at address.
    pub const STORE_STATUS_AT_ADDRESS: u8 = 0x0E;
    /// Set architecture.
    pub const SET_ARCHITECTURE: u8 = 0x12;
    /// Conditional emergency signal.
    pub const CONDITIONAL_EMERGENCY_SIGNAL: u8 = 0x13;
    /// Sense running status.
    pub const SENSE_RUNNING_STATUS: u8 = 0x15;
    /// Set multithreading.
    pub const SET_MULTITHREADING: u8 = 0x16;
    /// Store additional status at address.
    pub const STORE_ADDITIONAL_STATUS_AT_ADDRESS: u8 = 0x17;
}

/// Status bits stored in bits 32-63 of R1 with condition code 1.
pub mod status {
    /// The addressed CPU is not running (sense running status).
    pub const NOT_RUNNING: u32 = 0x0000_0400;
    /// The order cannot be accepted in the CPU's state.
    pub const INCORRECT_STATE: u32 = 0x0000_0200;
    /// The parameter is not valid for the order.
    pub const INVALID_PARAMETER: u32 = 0x0000_0100;
    /// An external call is already pending.
    pub const EXTERNAL_CALL_PENDING: u32 = 0x0000_0080;
    /// The addressed CPU is stopped.
    pub const STOPPED: u32 = 0x0000_0040;
    /// The order code is not assigned or not installed.
    pub const INVALID_ORDER: u32 = 0x0000_0002;
}

/// Where SIGP STOP AND STORE STATUS stores (the save area in absolute page
/// 0, PoP "Store Status").
pub const STATUS_AREA: u64 = 0x1200;

/// What a SIGP order answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// cc 0: the order was accepted.
    Accepted,
    /// cc 1: status stored in R1.
    Status(u32),
    /// cc 3: no CPU has that address.
    NotOperational,
}

impl Answer {
    /// The condition code.
    pub const fn cc(self) -> u8 {
        match self {
            Self::Accepted => 0,
            Self::Status(_) => 1,
            Self::NotOperational => 3,
        }
    }
}

/// Carries out `order` from `cpu` to the CPU at address `target`.
pub fn signal(
    board: &mut Board<'_>,
    cpu: &mut Cpu,
    order: u8,
    target: u16,
    parameter: u64,
) -> Answer {
    use order::*;
    if order == SET_ARCHITECTURE {
        // Every other CPU is stopped (there is none): the request to leave
        // z/Architecture is refused as an invalid parameter, as QEMU with
        // the CZAM facility answers.
        return Answer::Status(status::INVALID_PARAMETER);
    }
    if target != cpu.cpu_addr {
        return Answer::NotOperational;
    }
    let services = &mut *board.services;
    match order {
        SENSE => match services.signals.external_call {
            Some(_) => Answer::Status(status::EXTERNAL_CALL_PENDING),
            None => Answer::Accepted,
        },
        EXTERNAL_CALL => {
            if services.signals.external_call.is_some() {
                return Answer::Status(status::EXTERNAL_CALL_PENDING);
            }
            services.signals.external_call = Some(cpu.cpu_addr);
            Answer::Accepted
        }
        // The CPU is operating, so the conditions that would make a
        // conditional emergency signal refuse (a stopped or idle target)
        // do not hold: it is an emergency signal.
        EMERGENCY_SIGNAL | CONDITIONAL_EMERGENCY_SIGNAL => {
            services.signals.emergency.insert(cpu.cpu_addr);
            Answer::Accepted
        }
        // Already operating.
        START => Answer::Accepted,
        STOP => {
            services.stop = Some(StopRequest::Stop);
            Answer::Accepted
        }
        STOP_AND_STORE_STATUS => {
            services.stop = Some(StopRequest::StopAndStoreStatus);
            Answer::Accepted
        }
        RESTART => {
            services.signals.restart = true;
            Answer::Accepted
        }
        // Both resets stop the CPU (PoP "CPU Reset"); the initial one also
        // clears the PSW, prefix, timers and control registers. Addressed
        // to itself, the CPU completes the SIGP first.
        INITIAL_CPU_RESET => {
            services.stop = Some(StopRequest::InitialCpuReset);
            Answer::Accepted
        }
        CPU_RESET => {
            services.stop = Some(StopRequest::CpuReset);
            Answer::Accepted
        }
        SET_PREFIX => {
            let prefix = Prefix::new(parameter);
            if !prefix_area_exists(&board.bus.storage, prefix) {
                Answer::Status(status::INVALID_PARAMETER)
            } else {
                // Only a stopped CPU's prefix can be set.
                Answer::Status(status::INCORRECT_STATE)
            }
        }
        // Only a stopped CPU's status can be stored at an address.
        STORE_STATUS_AT_ADDRESS => Answer::Status(status::INCORRECT_STATE),
        STORE_ADDITIONAL_STATUS_AT_ADDRESS if zmmu_cpu::exec::control::installed(cpu, 129) => {
            Answer::Status(status::INCORRECT_STATE)
        }
        // The running CPU is this one.
        SENSE_RUNNING_STATUS if zmmu_cpu::exec::control::installed(cpu, 9) => Answer::Accepted,
        _ => Answer::Status(status::INVALID_ORDER),
    }
}

/// Stores the CPU's status in the 512-byte save area at absolute `at`
/// (PoP "Store Status"; QEMU's layout): FPRs, GPRs, PSW, prefix, FPC,
/// TOD programmable register, CPU timer, clock comparator bits 0-55, ARs,
/// CRs. With `arch_id` the architectural-mode identification (1:
/// z/Architecture) goes to absolute 0xA3 too. `None` if the area is not
/// in storage.
pub fn store_status<S: Storage + ?Sized>(
    storage: &mut S,
    cpu: &Cpu,
    cpu_timer: u64,
    at: u64,
    arch_id: bool,
) -> Option<()> {
    let mut area = [0u8; 0x200];
    let mut put = |offset: usize, bytes: &[u8]| {
        area[offset..offset + bytes.len()].copy_from_slice(bytes);
    };
    for r in 0..16u8 {
        let i = usize::from(r);
        put(8 * i, &cpu.fpr(r).to_be_bytes());
        put(0x80 + 8 * i, &cpu.gpr[i].to_be_bytes());
        put(0x140 + 4 * i, &cpu.ar[i].to_be_bytes());
        put(0x180 + 8 * i, &cpu.cr[i].to_be_bytes());
    }
    put(0x100, &cpu.psw.to_bytes());
    put(0x118, &(cpu.prefix.value() as u32).to_be_bytes());
    put(0x11C, &cpu.fpc.to_be_bytes());
    put(0x124, &u32::from(cpu.tod_programmable).to_be_bytes());
    put(0x128, &cpu_timer.to_be_bytes());
    put(0x130, &(cpu.clock_comparator >> 8).to_be_bytes());
    storage.write(AbsoluteAddress::new(at), &area)?;
    if arch_id {
        storage.write(AbsoluteAddress::new(lowcore::ARCH_MODE_ID), &[1])?;
    }
    Some(())
}
