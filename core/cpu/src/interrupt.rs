//! Interruption delivery through the lowcore (PoP "Interruptions"): the
//! interruption code and its parameters are stored at fixed real addresses,
//! the current PSW is stored as the old PSW and the new PSW is loaded.
//!
//! All lowcore locations are real addresses, prefixed into the CPU's 8 KiB
//! prefix area ([`zmmu_mmu::prefix::Prefix::to_absolute`]); the stores are
//! not subject to key-controlled or low-address protection, so they go to
//! the bus as absolute accesses.
//!
//! Where the old PSW points is decided before delivery, by how the
//! exception ends the instruction ([`zmmu_mmu::exception::Code::ending`]).

use super::memory::{Access, AddressType, Bus};
use super::state::{Cpu, Psw};
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::addr::RealAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;

/// The program-interruption code of a vector-processing exception (PoP
/// "Vector-Processing Exception"): an enabled IEEE exception of a vector
/// floating-point element, its VXC stored where a DXC is.
pub const VECTOR_PROCESSING: Code = Code(0x1B);

/// Real addresses of the lowcore fields.
pub mod lowcore {
    /// External-interruption parameter (word).
    pub const EXT_PARAM: u64 = 0x80;
    /// External-interruption CPU address (halfword).
    pub const EXT_CPU_ADDR: u64 = 0x84;
    /// External-interruption code (halfword).
    pub const EXT_CODE: u64 = 0x86;
    /// SVC interruption: ILC in bits 5-6 of this byte.
    pub const SVC_ILC: u64 = 0x89;
    /// SVC interruption code (halfword).
    pub const SVC_CODE: u64 = 0x8A;
    /// Program interruption: the halfword holding ILC × 2.
    pub const PGM_ILC: u64 = 0x8C;
    /// Program-interruption code (halfword).
    pub const PGM_CODE: u64 = 0x8E;
    /// Data-exception code (byte).
    pub const DXC: u64 = 0x93;
    /// Monitor class number (halfword) of a monitor event.
    pub const MONITOR_CLASS: u64 = 0x94;
    /// Monitor code (doubleword) of a monitor event.
    pub const MONITOR_CODE: u64 = 0xB0;
    /// Exception access id (byte): the access register of a failing access
    /// in access-register mode.
    pub const ACCESS_ID: u64 = 0xA0;
    /// Translation-exception identification (doubleword).
    pub const TEID: u64 = 0xA8;
    /// Facility list stored by STFL (word).
    pub const STFL: u64 = 0xC8;
    /// External old PSW.
    pub const EXT_OLD_PSW: u64 = 0x130;
    /// SVC old PSW.
    pub const SVC_OLD_PSW: u64 = 0x140;
    /// Program old PSW.
    pub const PGM_OLD_PSW: u64 = 0x150;
    /// External new PSW.
    pub const EXT_NEW_PSW: u64 = 0x1B0;
    /// Restart old PSW.
    pub const RESTART_OLD_PSW: u64 = 0x120;
    /// Restart new PSW.
    pub const RESTART_NEW_PSW: u64 = 0x1A0;
    /// The architectural-mode identification byte store status sets.
    pub const ARCH_MODE_ID: u64 = 0xA3;
    /// SVC new PSW.
    pub const SVC_NEW_PSW: u64 = 0x1C0;
    /// I/O interruption: the subsystem-identification word.
    pub const IO_SUBSYSTEM_ID: u64 = 0xB8;
    /// I/O-interruption parameter (word).
    pub const IO_PARAMETER: u64 = 0xBC;
    /// I/O-interruption identification word.
    pub const IO_WORD: u64 = 0xC0;
    /// I/O old PSW.
    pub const IO_OLD_PSW: u64 = 0x170;
    /// I/O new PSW.
    pub const IO_NEW_PSW: u64 = 0x1F0;
    /// Program new PSW.
    pub const PGM_NEW_PSW: u64 = 0x1D0;
}

/// External-interruption code of the SCLP service signal.
pub const SERVICE_SIGNAL: u16 = 0x2401;
/// External-interruption code of the clock comparator.
pub const CLOCK_COMPARATOR: u16 = 0x1004;
/// External-interruption code of the CPU timer.
pub const CPU_TIMER: u16 = 0x1005;
/// External-interruption code of an emergency signal.
pub const EMERGENCY_SIGNAL: u16 = 0x1201;
/// External-interruption code of an external call.
pub const EXTERNAL_CALL: u16 = 0x1202;

/// One interruption to deliver. [`Cpu::step`] returns the program and
/// supervisor-call interruptions an instruction causes, with the PSW
/// already where the old PSW must point; a machine adds external ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// A program interruption.
    Program {
        /// The exception (code, TEID, exception access id, DXC).
        exception: Exception,
        /// Instruction-length code 0-3.
        ilc: u8,
    },
    /// A supervisor-call interruption.
    Supervisor {
        /// The SVC interruption code: the I field.
        code: u16,
        /// Instruction-length code (1, or 2 for an executed SVC).
        ilc: u8,
    },
    /// An external interruption.
    External {
        /// The external-interruption code ([`SERVICE_SIGNAL`], ...).
        code: u16,
        /// The parameter stored at real 0x80 (service signal).
        parameter: u32,
        /// The CPU address stored at real 0x84: the sending CPU's, for an
        /// emergency signal or external call.
        cpu_addr: u16,
    },
    /// A restart interruption (SIGP RESTART, the operator's restart key).
    Restart,
    /// An I/O interruption: the interruption code stored at real 0xB8.
    Io {
        /// The subsystem-identification word (real 0xB8).
        subchannel_id: u32,
        /// The interruption parameter (real 0xBC).
        parameter: u32,
        /// The I/O-interruption identification word (real 0xC0): the
        /// subclass in bits 2-4.
        word: u32,
    },
}

/// The lowcore could not be stored or loaded: the prefix area is outside
/// storage. The CPU enters the check-stop state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowcoreUnavailable;

impl core::fmt::Display for LowcoreUnavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the lowcore (the prefix area) is outside storage")
    }
}

impl core::error::Error for LowcoreUnavailable {}

impl Cpu {
    /// Delivers `intr`: stores its code and parameters, stores the current
    /// PSW as the old PSW and loads the new PSW from the lowcore. Whether
    /// the new PSW is valid is checked when it is next executed (an invalid
    /// one is a specification exception with ILC 0, [`Cpu::step`]).
    pub fn deliver<B: Bus>(
        &mut self,
        bus: &mut B,
        intr: Interruption,
    ) -> Result<(), LowcoreUnavailable> {
        let (old, new) = match intr {
            Interruption::Program { exception, ilc } => {
                self.store_lowcore(bus, lowcore::PGM_ILC, &u16::from(ilc << 1).to_be_bytes())?;
                self.store_lowcore(bus, lowcore::PGM_CODE, &exception.code.0.to_be_bytes())?;
                if let Some(teid) = exception.teid {
                    self.store_lowcore(bus, lowcore::TEID, &teid.0.to_be_bytes())?;
                }
                if let Some(ar) = exception.access_id {
                    self.store_lowcore(bus, lowcore::ACCESS_ID, &[ar])?;
                }
                let code = exception.code.0 & 0x7F;
                if code == Code::DATA.0 || code == VECTOR_PROCESSING.0 {
                    // The DXC (or a vector-processing exception's VXC) in
                    // the word at real 0x90 (zeros before it), and in byte
                    // 2 of the FPC when the AFP-register control is one
                    // (PoP "Data-Exception Code", "Vector-Exception Code";
                    // QEMU stores the same).
                    let dxc = u32::from(exception.dxc);
                    self.store_lowcore(bus, lowcore::DXC - 3, &dxc.to_be_bytes())?;
                    if self.cr[0] & crate::state::CR0_AFP_REGISTER != 0 {
                        self.fpc = (self.fpc & !0xFF00) | (dxc << 8);
                    }
                }
                (lowcore::PGM_OLD_PSW, lowcore::PGM_NEW_PSW)
            }
            Interruption::Supervisor { code, ilc } => {
                self.store_lowcore(bus, lowcore::SVC_ILC, &[ilc << 1])?;
                self.store_lowcore(bus, lowcore::SVC_CODE, &code.to_be_bytes())?;
                (lowcore::SVC_OLD_PSW, lowcore::SVC_NEW_PSW)
            }
            Interruption::External {
                code,
                parameter,
                cpu_addr,
            } => {
                self.store_lowcore(bus, lowcore::EXT_CODE, &code.to_be_bytes())?;
                if code == SERVICE_SIGNAL {
                    self.store_lowcore(bus, lowcore::EXT_PARAM, &parameter.to_be_bytes())?;
                }
                if matches!(code, EMERGENCY_SIGNAL | EXTERNAL_CALL) {
                    self.store_lowcore(bus, lowcore::EXT_CPU_ADDR, &cpu_addr.to_be_bytes())?;
                }
                (lowcore::EXT_OLD_PSW, lowcore::EXT_NEW_PSW)
            }
            Interruption::Restart => (lowcore::RESTART_OLD_PSW, lowcore::RESTART_NEW_PSW),
            Interruption::Io {
                subchannel_id,
                parameter,
                word,
            } => {
                let mut code = [0u8; 12];
                code[..4].copy_from_slice(&subchannel_id.to_be_bytes());
                code[4..8].copy_from_slice(&parameter.to_be_bytes());
                code[8..].copy_from_slice(&word.to_be_bytes());
                self.store_lowcore(bus, lowcore::IO_SUBSYSTEM_ID, &code)?;
                (lowcore::IO_OLD_PSW, lowcore::IO_NEW_PSW)
            }
        };
        self.store_lowcore(bus, old, &self.psw.to_bytes())?;
        let mut psw = [0u8; 16];
        let (acc, at) = self.lowcore(AccessKind::Read, new);
        bus.read(&acc, at, &mut psw)
            .map_err(|_| LowcoreUnavailable)?;
        self.psw = Psw::from_bytes(psw);
        Ok(())
    }

    /// Stores `data` in the lowcore field at real address `real`.
    pub(crate) fn store_lowcore<B: Bus>(
        &self,
        bus: &mut B,
        real: u64,
        data: &[u8],
    ) -> Result<(), LowcoreUnavailable> {
        let (acc, at) = self.lowcore(AccessKind::Write, real);
        bus.write(&acc, at, data).map_err(|_| LowcoreUnavailable)
    }

    /// The access to the lowcore field at real address `real`: absolute,
    /// at the prefixed address.
    fn lowcore(&self, kind: AccessKind, real: u64) -> (Access<'_>, u64) {
        let acc = Access {
            kind,
            space: AddressType::Absolute,
            cpu: self,
        };
        (acc, self.prefix.to_absolute(RealAddress::new(real)).value())
    }
}
