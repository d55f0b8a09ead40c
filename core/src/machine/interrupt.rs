//! Interruption delivery through the lowcore (PoP "Interruptions"): the
//! interruption code and its parameters are stored at fixed real addresses,
//! the current PSW is stored as the old PSW and the new PSW is loaded. All
//! lowcore locations are real addresses, prefixed into the CPU's 8 KiB
//! prefix area; the stores are not subject to protection.
//!
//! Where the old PSW points is decided before delivery, by how the exception
//! ends the instruction ([`crate::cpu::exception::Ending`]): the DAT
//! translation exceptions (0x10, 0x11, 0x38-0x3B) nullify, so the old PSW
//! points at the instruction; the others suppress or terminate, so it points
//! past it.

use crate::addr::RealAddress;
use crate::cpu::exception::ProgramException;
use crate::cpu::state::{mask, Cpu, Psw};
use crate::prefix::Prefix;
use crate::storage::Storage;

/// Real addresses of the lowcore fields an interruption stores or loads.
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
    /// Exception access id (byte): the access register of a failing access
    /// in access-register mode.
    pub const ACCESS_ID: u64 = 0xA0;
    /// Translation-exception identification (doubleword).
    pub const TEID: u64 = 0xA8;
    /// External old PSW.
    pub const EXT_OLD_PSW: u64 = 0x130;
    /// SVC old PSW.
    pub const SVC_OLD_PSW: u64 = 0x140;
    /// Program old PSW.
    pub const PGM_OLD_PSW: u64 = 0x150;
    /// External new PSW.
    pub const EXT_NEW_PSW: u64 = 0x1B0;
    /// SVC new PSW.
    pub const SVC_NEW_PSW: u64 = 0x1C0;
    /// Program new PSW.
    pub const PGM_NEW_PSW: u64 = 0x1D0;
}

/// External-interruption code of the SCLP service signal.
pub const SERVICE_SIGNAL: u16 = 0x2401;

/// CR0 bit 54: the service-signal subclass mask.
pub const CR0_SERVICE_SIGNAL: u64 = 1 << (63 - 54);

/// The lowcore could not be stored or loaded: the prefix area is outside
/// storage. The CPU enters the check-stop state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowcoreUnavailable;

/// One interruption to deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// A program interruption with its instruction-length code.
    Program {
        /// The exception (code, TEID, DXC, exception access id).
        exception: ProgramException,
        /// Instruction-length code 0-3.
        ilc: u8,
    },
    /// A supervisor-call interruption.
    Supervisor {
        /// The SVC number.
        code: u16,
        /// Instruction-length code (1, or 2 when executed by EX).
        ilc: u8,
    },
    /// An external interruption.
    External {
        /// The external-interruption code (0x2401 for the service signal).
        code: u16,
        /// The parameter stored at real 0x80.
        parameter: u32,
    },
}

fn store<S: Storage + ?Sized>(
    storage: &mut S,
    prefix: Prefix,
    real: u64,
    data: &[u8],
) -> Result<(), LowcoreUnavailable> {
    let absolute = prefix.to_absolute(RealAddress::new(real));
    storage.write(absolute, data).ok_or(LowcoreUnavailable)
}

/// Reads a PSW (16 bytes) at a lowcore real address.
pub fn load_psw<S: Storage + ?Sized>(
    storage: &S,
    prefix: Prefix,
    real: u64,
) -> Result<Psw, LowcoreUnavailable> {
    let mut buf = [0u8; 16];
    let absolute = prefix.to_absolute(RealAddress::new(real));
    storage.read(absolute, &mut buf).ok_or(LowcoreUnavailable)?;
    let (m, a) = buf.split_at(8);
    let word = |b: &[u8]| b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x));
    Ok(Psw {
        mask: word(m),
        addr: word(a),
    })
}

fn psw_bytes(psw: Psw) -> [u8; 16] {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&psw.mask.to_be_bytes());
    buf[8..].copy_from_slice(&psw.addr.to_be_bytes());
    buf
}

/// Delivers `interruption`: stores its code and parameters, stores the
/// current PSW as the old PSW and loads the new PSW from the lowcore.
/// Whether the new PSW is valid is the caller's concern (an invalid one
/// causes a specification exception before the next instruction).
pub fn deliver<S: Storage + ?Sized>(
    storage: &mut S,
    cpu: &mut Cpu,
    interruption: Interruption,
) -> Result<(), LowcoreUnavailable> {
    let prefix = Prefix::new(u64::from(cpu.prefix));
    let (old, new) = match interruption {
        Interruption::Program { exception, ilc } => {
            store(
                storage,
                prefix,
                lowcore::PGM_ILC,
                &u16::from(ilc << 1).to_be_bytes(),
            )?;
            store(
                storage,
                prefix,
                lowcore::PGM_CODE,
                &exception.code.to_be_bytes(),
            )?;
            if let Some(teid) = exception.teid {
                store(storage, prefix, lowcore::TEID, &teid.to_be_bytes())?;
            }
            if let Some(ar) = exception.access_id {
                store(storage, prefix, lowcore::ACCESS_ID, &[ar])?;
            }
            if exception.code & 0x7F == 0x07 {
                store(storage, prefix, lowcore::DXC, &[exception.dxc])?;
            }
            (lowcore::PGM_OLD_PSW, lowcore::PGM_NEW_PSW)
        }
        Interruption::Supervisor { code, ilc } => {
            store(storage, prefix, lowcore::SVC_ILC, &[ilc << 1])?;
            store(storage, prefix, lowcore::SVC_CODE, &code.to_be_bytes())?;
            (lowcore::SVC_OLD_PSW, lowcore::SVC_NEW_PSW)
        }
        Interruption::External { code, parameter } => {
            store(storage, prefix, lowcore::EXT_CODE, &code.to_be_bytes())?;
            store(
                storage,
                prefix,
                lowcore::EXT_PARAM,
                &parameter.to_be_bytes(),
            )?;
            if code != SERVICE_SIGNAL {
                store(
                    storage,
                    prefix,
                    lowcore::EXT_CPU_ADDR,
                    &cpu.cpu_addr.to_be_bytes(),
                )?;
            }
            (lowcore::EXT_OLD_PSW, lowcore::EXT_NEW_PSW)
        }
    };
    store(storage, prefix, old, &psw_bytes(cpu.psw))?;
    cpu.psw = load_psw(storage, prefix, new)?;
    Ok(())
}

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

/// The PSW can be executed: the must-be-zero bits are zero, the addressing
/// mode is valid and the instruction address fits it (PoP "Program-Status
/// Word"; otherwise a specification exception is recognized as soon as the
/// PSW becomes current).
pub fn psw_valid(psw: &Psw) -> bool {
    psw.is_valid() && psw.addr & !psw.amode().mask() == 0
}
