//! SIGNAL PROCESSOR (PoP ch. 4 "Signal-Processor Orders"), as QEMU's
//! `s390-ccw-virtio` machine answers each order (`target/s390x/sigp.c`).
//! An order to the executing CPU is carried out at once; an order to
//! another CPU of the configuration travels to that CPU's thread
//! ([`crate::configuration`]), which carries it out with the same
//! [`carry_out`] at its next instruction boundary and answers, except the
//! orders the sender answers from the CPU's slot (sense, external call,
//! emergency signal), as QEMU does.

use zmmu_cpu::interrupt::{lowcore, Interruption};
use zmmu_cpu::memory::Memory;
use zmmu_cpu::state::{mask, Cpu};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::invalidate::{prefix_area_exists, Invalidation, PendingFlush};
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::storage::Storage;

use crate::board::{Board, CpuState, Services, StopRequest};
use crate::bus::DatBus;
pub use crate::configuration::Answer;
use crate::configuration::{Activity, Answered, Order, Slot};
use crate::interrupt::ExternalSignals;

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

/// The CPU an order is carried out on, by its own thread: its registers,
/// its state and signals, its storage and TLB.
#[derive(Debug)]
pub struct Target<'a> {
    /// Its registers.
    pub cpu: &'a mut Cpu,
    /// Its state, pending stop and signals (and the clock).
    pub services: &'a mut Services,
    /// Storage and its TLB.
    pub bus: &'a mut DatBus,
}

/// Carries out SIGP `order` from the CPU at address `from` to the CPU at
/// address `target`, executed by `cpu`.
pub fn signal(
    board: &mut Board<'_>,
    cpu: &mut Cpu,
    code: u8,
    target: u64,
    parameter: u64,
) -> Answer {
    let from = cpu.cpu_addr;
    if code == order::SET_ARCHITECTURE {
        // With CZAM the CPUs stay in z/Architecture: refused as an invalid
        // parameter when every other CPU is stopped, else as the wrong
        // state (QEMU's `sigp_set_architecture`).
        let others_stopped = board
            .member
            .is_none_or(|m| m.configuration.others_stopped(m.index));
        return Answer::Status(if others_stopped {
            status::INVALID_PARAMETER
        } else {
            status::INCORRECT_STATE
        });
    }
    let order = Order {
        code,
        parameter,
        from,
    };
    if target == u64::from(from) {
        let mut me = Target {
            cpu,
            services: &mut *board.services,
            bus: &mut *board.bus,
        };
        return carry_out(&mut me, order);
    }
    let sense_running = zmmu_cpu::exec::control::installed(cpu, 9);
    match board.member {
        Some(member) => member.signal(target, order, |slot| at_sender(order, slot, sense_running)),
        None => Answer::NotOperational,
    }
}

/// The orders the sending CPU answers from the addressed CPU's slot,
/// without waiting for its thread, as QEMU's `handle_sigp_single_dst`
/// does on the sender's thread: SENSE, EXTERNAL CALL, EMERGENCY SIGNAL
/// and SENSE RUNNING STATUS (from the activity and wait the CPU last
/// told its slot: racy, as QEMU says it is on real machines too). A stop
/// a CPU still has to carry out is never seen here: it carries it out
/// (and tells its slot) before answering the order that asked for it, at
/// the same boundary.
fn at_sender(order: Order, slot: &Slot, sense_running: bool) -> Option<Answered> {
    let activity = slot.activity();
    let signals = slot.signals();
    let answered = |answer| Answered {
        answer,
        posted: answer == Answer::Accepted,
    };
    match order.code {
        order::SENSE => Some(Answered {
            answer: sense(activity == Activity::Stopped, signals),
            posted: false,
        }),
        order::EXTERNAL_CALL => Some(answered(external_call(signals, order.from))),
        order::EMERGENCY_SIGNAL => Some(answered(emergency_signal(signals, order.from))),
        order::SENSE_RUNNING_STATUS if sense_running => Some(Answered {
            answer: match slot.not_running() {
                true => Answer::Status(status::NOT_RUNNING),
                false => Answer::Accepted,
            },
            posted: false,
        }),
        _ => None,
    }
}

/// SENSE: accepted, or the status bits "stopped" and "external call
/// pending" that apply.
fn sense(stopped: bool, signals: &ExternalSignals) -> Answer {
    let external_call = signals.external_call_pending();
    if !stopped && !external_call {
        return Answer::Accepted;
    }
    let mut bits = 0;
    if external_call {
        bits |= status::EXTERNAL_CALL_PENDING;
    }
    if stopped {
        bits |= status::STOPPED;
    }
    Answer::Status(bits)
}

/// EXTERNAL CALL: pending, unless one already is (then only the status).
fn external_call(signals: &ExternalSignals, from: u16) -> Answer {
    if signals.post_external_call(from) {
        Answer::Accepted
    } else {
        Answer::Status(status::EXTERNAL_CALL_PENDING)
    }
}

/// EMERGENCY SIGNAL: pending (one per sending CPU).
fn emergency_signal(signals: &ExternalSignals, from: u16) -> Answer {
    signals.post_emergency(from);
    Answer::Accepted
}

/// Carries out `order` on `t`, the addressed CPU, by its own thread
/// (QEMU's `handle_sigp_single_dst` and the functions it runs on the
/// addressed CPU). A stop or reset the running CPU must carry out after
/// its current instruction is left in [`Services::stop`].
pub fn carry_out(t: &mut Target<'_>, order: Order) -> Answer {
    use order::*;
    let stopped = t.services.state == CpuState::Stopped;
    // Waiting (QEMU's "halted"): not running, and a stop is immediate.
    let waiting = t.cpu.psw.mask & mask::WAIT != 0;
    let resets = matches!(order.code, CPU_RESET | INITIAL_CPU_RESET);
    if t.services.stop.is_some() && !resets {
        return Answer::Busy;
    }
    let services = &mut *t.services;
    match order.code {
        SENSE => sense(stopped, &services.signals.external),
        EXTERNAL_CALL => external_call(&services.signals.external, order.from),
        EMERGENCY_SIGNAL => emergency_signal(&services.signals.external, order.from),
        CONDITIONAL_EMERGENCY_SIGNAL => {
            // Refused only for a stopped CPU enabled for I/O and external
            // interruptions that is idle at address 0, or busy in neither
            // of the ASNs the parameter names (QEMU's conditions).
            let enabled = mask::IO | mask::EXT;
            let asn = order.parameter as u16;
            let (primary, secondary) = (t.cpu.cr[4] as u16, t.cpu.cr[3] as u16);
            let psw = t.cpu.psw;
            if !stopped
                || psw.mask & enabled != enabled
                || (waiting && psw.addr != 0)
                || (!waiting && (asn == primary || asn == secondary))
            {
                emergency_signal(&services.signals.external, order.from)
            } else {
                Answer::Status(status::INCORRECT_STATE)
            }
        }
        START => {
            services.enter(t.cpu, CpuState::Operating);
            Answer::Accepted
        }
        STOP => {
            if !stopped {
                if waiting {
                    services.enter(t.cpu, CpuState::Stopped);
                } else {
                    services.stop = Some(StopRequest::Stop);
                }
            }
            Answer::Accepted
        }
        STOP_AND_STORE_STATUS => {
            if !stopped && !waiting {
                services.stop = Some(StopRequest::StopAndStoreStatus);
                return Answer::Accepted;
            }
            services.enter(t.cpu, CpuState::Stopped);
            let cpu_timer = services.cpu_timer(t.cpu);
            // The save area is in absolute page 0, which always exists.
            let _ = store_status(&mut t.bus.storage, t.cpu, cpu_timer, STATUS_AREA, true);
            Answer::Accepted
        }
        RESTART => {
            if stopped {
                // Taken before any other pending interruption.
                services.enter(t.cpu, CpuState::Operating);
                let _ = t.cpu.deliver(t.bus, Interruption::Restart);
            } else {
                services.signals.restart = true;
            }
            Answer::Accepted
        }
        // Both resets stop the CPU (PoP "CPU Reset"); the initial one also
        // clears the PSW, prefix, timers and control registers. The CPU
        // carries them out after its current instruction.
        INITIAL_CPU_RESET => {
            services.stop = Some(StopRequest::InitialCpuReset);
            Answer::Accepted
        }
        CPU_RESET => {
            services.stop = Some(StopRequest::CpuReset);
            Answer::Accepted
        }
        SET_PREFIX => {
            let prefix = Prefix::new(order.parameter);
            if !prefix_area_exists(&t.bus.storage, prefix) {
                return Answer::Status(status::INVALID_PARAMETER);
            }
            if !stopped {
                return Answer::Status(status::INCORRECT_STATE);
            }
            let old = core::mem::replace(&mut t.cpu.prefix, prefix);
            t.bus.invalidate(PendingFlush::local(Invalidation::Prefix {
                old,
                new: prefix,
            }));
            Answer::Accepted
        }
        STORE_STATUS_AT_ADDRESS => {
            if !stopped {
                return Answer::Status(status::INCORRECT_STATE);
            }
            let cpu_timer = services.cpu_timer(t.cpu);
            let at = order.parameter & 0x7FFF_FE00;
            match store_status(&mut t.bus.storage, t.cpu, cpu_timer, at, false) {
                Some(()) => Answer::Accepted,
                None => Answer::Status(status::INVALID_PARAMETER),
            }
        }
        STORE_ADDITIONAL_STATUS_AT_ADDRESS if zmmu_cpu::exec::control::installed(t.cpu, 129) => {
            if !stopped {
                return Answer::Status(status::INCORRECT_STATE);
            }
            store_additional_status(&mut t.bus.storage, t.cpu, order.parameter)
        }
        SENSE_RUNNING_STATUS if zmmu_cpu::exec::control::installed(t.cpu, 9) => {
            if stopped || waiting {
                Answer::Status(status::NOT_RUNNING)
            } else {
                Answer::Accepted
            }
        }
        _ => Answer::Status(status::INVALID_ORDER),
    }
}

/// STORE ADDITIONAL STATUS AT ADDRESS on a stopped CPU with the vector
/// facility: the parameter's bits 60-63 are the length code (only 0, 1024
/// bytes, without guarded storage), the rest the address, aligned on the
/// length; the 32 vector registers go there (QEMU's
/// `sigp_store_adtl_status`).
fn store_additional_status<S: Storage + ?Sized>(
    storage: &mut S,
    cpu: &Cpu,
    parameter: u64,
) -> Answer {
    let length_code = parameter & 0xF;
    let at = parameter & !0xF;
    if length_code != 0 || at & 0x3FF != 0 {
        return Answer::Status(status::INVALID_PARAMETER);
    }
    let mut area = [0u8; 512];
    for (i, vr) in cpu.vr.iter().enumerate() {
        area[16 * i..16 * i + 8].copy_from_slice(&vr[0].to_be_bytes());
        area[16 * i + 8..16 * i + 16].copy_from_slice(&vr[1].to_be_bytes());
    }
    match storage.write(AbsoluteAddress::new(at), &area) {
        Some(()) => Answer::Accepted,
        None => Answer::Status(status::INVALID_PARAMETER),
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
