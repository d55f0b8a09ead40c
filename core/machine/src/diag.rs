//! DIAGNOSE (PoP ch. 10: its function is model-dependent; on QEMU's and
//! KVM's machines the code in bits 48-63 of the second-operand address
//! names a hypervisor service, z/VM style). The codes this machine
//! answers, and from where:
//!
//! | code | service | as |
//! |---|---|---|
//! | 0x010 | release pages | KVM (QEMU TCG: specification exception): operand checks only, nothing released |
//! | 0x044 | voluntary time-slice end | QEMU: nothing happens |
//! | 0x09C | directed time-slice end | KVM (QEMU TCG: specification exception): nothing happens, the only CPU keeps running |
//! | 0x288 | watchdog timer ([`crate::watchdog`]) | QEMU, with `--device diag288`; a specification exception without it |
//! | 0x308 | IPL functions: reset and load, set and store the IPL parameters | QEMU |
//! | 0x500 | KVM's virtio hypercall: function 3 notifies a virtio-ccw queue ([`crate::virtio_ccw`]) | QEMU and KVM |
//!
//! Every other code (0x318 included: QEMU does not offer the diag318
//! facility to TCG guests, and zmmu's SCLP does not report it) is a
//! specification exception, as QEMU raises for the codes it does not
//! implement. DIAGNOSE is privileged (the CPU checks that first).
//!
//! What happens after the instruction is here too: the run loop carries
//! out the reset DIAGNOSE X'308' asked for ([`crate::ipl::Reset`]) and
//! looks at the watchdog's expiry, between instructions.

use zmmu_cpu::decode::Insn;
use zmmu_cpu::state::Cpu;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::{Invalidation, PendingFlush};
use zmmu_mmu::storage::Storage;

use crate::board::Board;
use crate::config::WatchdogAction;
use crate::ipl::{
    load_normal_psw, response, subcode, Reset, IPLB_MIN_CCW, IPLB_MIN_FCP, IPLB_SIZE, IPLB_TYPE,
    PSW_BIT_12,
};
use crate::watchdog::Watchdog;
use crate::{Machine, Stop};

/// DIAGNOSE codes.
pub mod code {
    /// Release pages.
    pub const RELEASE_PAGES: u16 = 0x010;
    /// Voluntary time-slice end.
    pub const TIME_SLICE_END: u16 = 0x044;
    /// Directed time-slice end.
    pub const DIRECTED_TIME_SLICE_END: u16 = 0x09C;
    /// Watchdog timer.
    pub const WATCHDOG: u16 = 0x288;
    /// IPL functions.
    pub const IPL: u16 = 0x308;
    /// KVM's virtio hypercalls.
    pub const VIRTIO: u16 = 0x500;
}

/// The function code (in GR1) of DIAGNOSE X'500' that notifies a
/// virtio-ccw queue (`KVM_S390_VIRTIO_CCW_NOTIFY`).
pub const VIRTIO_CCW_NOTIFY: u64 = 3;

/// The DIAGNOSE code of `insn`: bits 48-63 of its second-operand address
/// (as KVM takes it).
pub fn diagnose_code(cpu: &Cpu, insn: &Insn) -> u16 {
    let f = insn.f;
    let base = if f.b2 == 0 { 0 } else { cpu.r64(f.b2) };
    base.wrapping_add(f.d2 as i64 as u64) as u16
}

fn specification() -> Exception {
    Exception::new(Code::SPECIFICATION)
}

impl Board<'_> {
    /// DIAGNOSE R1,R3,D2(B2): the code is bits 48-63 of the second-operand
    /// address.
    pub(crate) fn diagnose(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let f = insn.f;
        match diagnose_code(cpu, insn) {
            code::TIME_SLICE_END | code::DIRECTED_TIME_SLICE_END => Ok(()),
            code::RELEASE_PAGES => self.release_pages(cpu, f.r1, f.r3),
            code::WATCHDOG => self.watchdog(cpu, f.r1, f.r3),
            code::IPL => self.ipl(cpu, f.r1, f.r3),
            code::VIRTIO => self.virtio_hypercall(cpu),
            _ => Err(specification()),
        }
    }

    /// DIAGNOSE X'500' (KVM's virtio hypercall; its registers are fixed,
    /// whatever R1 and R3 say): function code [`VIRTIO_CCW_NOTIFY`] in GR1,
    /// the subsystem-identification word of the device's subchannel in
    /// bits 32-63 of GR2, the queue index in GR3 (GR4, the driver's cookie,
    /// is not used). GR2 answers 0, or -EINVAL (-22) when there is no such
    /// subchannel, device or queue. Any other function code is a
    /// specification exception (QEMU's `handle_diag_500`).
    fn virtio_hypercall(&mut self, cpu: &mut Cpu) -> Result<(), Exception> {
        if cpu.r64(1) != VIRTIO_CCW_NOTIFY {
            return Err(specification());
        }
        let queue = u16::try_from(cpu.r64(3)).ok();
        let notified = crate::css::subsystem_id(cpu.r64(2) as u32)
            .zip(queue)
            .and_then(|((ssid, number), queue)| {
                self.with_css(|css, bus| css.notify(&mut bus.storage, ssid, number, queue))
            });
        let answer = match notified {
            Some(()) => 0,
            None => crate::virtio_ccw::NOTIFY_INVALID,
        };
        cpu.set_r64(2, answer);
        Ok(())
    }

    /// DIAGNOSE X'010': release the pages from the address in R1 to the
    /// one in R3 (both inclusive, page aligned). As KVM checks: a
    /// specification exception for an unaligned address, an inverted range
    /// or a range starting in the first two pages (the prefix area); an
    /// addressing exception for pages beyond storage. The storage keeps
    /// its contents (releasing is a hint).
    fn release_pages(&mut self, cpu: &Cpu, r1: u8, r3: u8) -> Result<(), Exception> {
        let start = cpu.r64(r1);
        let last = cpu.r64(r3);
        let end = last.wrapping_add(4096);
        if start % 4096 != 0 || end % 4096 != 0 || start >= end || start < 2 * 4096 {
            return Err(specification());
        }
        if !self.bus.storage.contains(AbsoluteAddress::new(last)) {
            return Err(Exception::new(Code::ADDRESSING));
        }
        Ok(())
    }

    /// DIAGNOSE X'288': the watchdog ([`Watchdog::diagnose`]); without a
    /// diag288 device, a specification exception as on QEMU.
    fn watchdog(&mut self, cpu: &Cpu, r1: u8, r3: u8) -> Result<(), Exception> {
        if r1 % 2 != 0 {
            return Err(specification());
        }
        let function = cpu.r64(r1);
        let timeout = cpu.r64(r1 + 1);
        let action = cpu.r64(r3);
        let installed = self
            .config
            .devices
            .contains(&crate::config::Device::Diag288);
        let now = self.services.clock.monotonic();
        self.services
            .watchdog
            .diagnose(installed, function, timeout, action, now)
    }

    /// DIAGNOSE X'308', as QEMU's `handle_diag_308`: the subcode in R3
    /// (bits 0-47 zero, else a specification exception), the parameter
    /// block's absolute address in R1 (even) and the response code in
    /// R1 + 1 for set and store.
    fn ipl(&mut self, cpu: &mut Cpu, r1: u8, r3: u8) -> Result<(), Exception> {
        let sub = cpu.r64(r3);
        if sub & !0xFFFF != 0 || sub >= subcode::FIRST_PROTECTED {
            return Err(specification());
        }
        match sub {
            subcode::RESET_MODIFIED_CLEAR => self.services.ipl.reset = Some(Reset::ModifiedClear),
            subcode::RESET_LOAD_NORMAL => self.services.ipl.reset = Some(Reset::LoadNormal),
            subcode::LOAD_CLEAR => self.services.ipl.reset = Some(Reset::ReIpl { watchdog: false }),
            subcode::SET => {
                let at = self.parameter_block(cpu, r1)?;
                let rc = self.set_ipl_parameters(at);
                cpu.set_r64(r1 + 1, rc);
            }
            subcode::STORE => {
                let at = self.parameter_block(cpu, r1)?;
                let rc = match &self.services.ipl.parameters {
                    Some(block) => {
                        // Checked to fit by parameter_block.
                        let _ = self.bus.storage.write(at, block);
                        response::OK
                    }
                    None => response::NO_CONFIGURATION,
                };
                cpu.set_r64(r1 + 1, rc);
            }
            _ => return Err(specification()),
        }
        Ok(())
    }

    /// The parameter block's address for set and store: R1 even and the
    /// address on a 4 KiB boundary (specification exception), the whole
    /// block in storage (addressing exception).
    fn parameter_block(&self, cpu: &Cpu, r1: u8) -> Result<AbsoluteAddress, Exception> {
        let at = cpu.r64(r1);
        if r1 % 2 != 0 || at % 4096 != 0 {
            return Err(specification());
        }
        let last = at.checked_add(IPLB_SIZE - 1);
        match last {
            Some(last) if self.bus.storage.contains(AbsoluteAddress::new(last)) => {
                Ok(AbsoluteAddress::new(at))
            }
            _ => Err(Exception::new(Code::ADDRESSING)),
        }
    }

    /// Subcode 5: a block whose length (bytes 0-3) fits [`IPLB_SIZE`] and
    /// whose type (byte 12) is list-directed (0) or CCW (2) with at least
    /// the minimum length of its type becomes the IPL parameters.
    fn set_ipl_parameters(&mut self, at: AbsoluteAddress) -> u64 {
        let mut header = [0u8; 16];
        let _ = self.bus.storage.read(at, &mut header);
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let valid = u64::from(len) <= IPLB_SIZE
            && match header[IPLB_TYPE] {
                0 => len >= IPLB_MIN_FCP,
                2 => len >= IPLB_MIN_CCW,
                _ => false,
            };
        if !valid {
            return response::INVALID;
        }
        let mut block = alloc::vec![0u8; len as usize];
        let _ = self.bus.storage.read(at, &mut block);
        self.services.ipl.parameters = Some(block);
        response::OK
    }
}

impl Machine {
    /// Carries out a reset DIAGNOSE X'308' asked for, once the instruction
    /// has completed: the CPU reset of its subcode, the subsystem reset
    /// (the watchdog stops), pending interruptions dropped, the TLB
    /// purged, then load normal: the PSW from absolute location 0
    /// ([`load_normal_psw`]) and the CPU operating. A re-IPL ends the run
    /// ([`Stop::ReIpl`]); so does a loaded PSW that is not valid
    /// ([`Stop::CheckStop`]: zmmu does not deliver an interruption with an
    /// IPL).
    pub(crate) fn carry_out_reset(&mut self) -> Option<Stop> {
        let reset = self.services.ipl.reset.take()?;
        match reset {
            Reset::ReIpl { watchdog } => {
                return Some(Stop::ReIpl {
                    watchdog,
                    psw: self.cpu.psw,
                })
            }
            Reset::ModifiedClear => {
                let cpu_addr = self.cpu.cpu_addr;
                self.cpu = Cpu::new();
                self.cpu.cpu_addr = cpu_addr;
            }
            Reset::LoadNormal => self.cpu.initial_cpu_reset(),
        }
        // The subsystem reset: QEMU resets its diag288 device.
        self.services.watchdog = Watchdog::default();
        self.services.signals.clear();
        self.services.stop = None;
        zmmu_cpu::memory::Memory::invalidate(&mut self.bus, PendingFlush::new(Invalidation::All));
        let Some(short) = self.bus.storage.read_u64(AbsoluteAddress::new(0)) else {
            return Some(Stop::CheckStop {
                reason: "load normal: no storage at absolute 0",
                psw: self.cpu.psw,
            });
        };
        self.cpu.psw = load_normal_psw(short);
        // Bit 12 must be zero in a z/Architecture PSW (a short PSW without
        // its ESA/390 bit 12 comes out with it set).
        if !self.cpu.psw.is_valid() || self.cpu.psw.mask & PSW_BIT_12 != 0 {
            return Some(Stop::CheckStop {
                reason: "load normal: the PSW at absolute 0 is not valid",
                psw: self.cpu.psw,
            });
        }
        None
    }

    /// Looks at the watchdog, and carries out `--watchdog-action` if it
    /// has expired: the stop for the actions that end the run.
    pub(crate) fn watchdog_expiry(&mut self) -> Option<Stop> {
        self.services.watchdog.deadline?;
        let now = self.services.clock.monotonic();
        if !self.services.watchdog.expire(now) {
            return None;
        }
        match self.config.watchdog_action {
            WatchdogAction::Reset => {
                self.services.ipl.reset = Some(Reset::ReIpl { watchdog: true });
                self.carry_out_reset()
            }
            action @ (WatchdogAction::Poweroff | WatchdogAction::Pause) => {
                Some(Stop::WatchdogExpired {
                    action,
                    psw: self.cpu.psw,
                })
            }
            WatchdogAction::None => None,
            WatchdogAction::InjectNmi => {
                self.services.signals.restart = true;
                None
            }
        }
    }
}
