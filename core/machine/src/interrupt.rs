//! When the machine's interruptions can be taken (PoP "Interruptions"):
//! the enablement of the service signal and the disabled wait. Delivery
//! through the lowcore is the CPU's ([`zmmu_cpu::interrupt`]).

use zmmu_cpu::state::{mask, Cpu, Psw};

/// CR0 bit 54: the service-signal subclass mask.
pub const CR0_SERVICE_SIGNAL: u64 = 1 << (63 - 54);

/// External interruptions of the service-signal subclass are enabled: PSW
/// bit 7 and CR0 bit 54.
pub fn service_signal_enabled(cpu: &Cpu) -> bool {
    cpu.psw.mask & mask::EXT != 0 && cpu.cr[0] & CR0_SERVICE_SIGNAL != 0
}

/// The PSW is a wait PSW with I/O, external and machine-check
/// interruptions all disabled: nothing can ever end the wait (PoP
/// "Wait State"; QEMU's `disabled_wait`).
pub fn disabled_wait(psw: &Psw) -> bool {
    psw.mask & mask::WAIT != 0 && psw.mask & (mask::IO | mask::EXT | mask::MCHECK) == 0
}
