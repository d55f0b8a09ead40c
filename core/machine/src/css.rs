//! The channel subsystem (PoP ch. 13-17 "I/O Overview", "I/O Instructions",
//! "Basic I/O Functions", "I/O Interruptions"), as QEMU's `s390-ccw-virtio`
//! machine offers it under TCG (hw/s390x/css.c, target/s390x/ioinst.c):
//! one channel-subsystem image, subchannel set 0, one virtual channel path
//! (CHPID 0) and the subchannels of the configured devices, numbered from 0
//! in the order they are added.
//!
//! Channel programs run to their end inside the instruction that starts
//! them (START SUBCHANNEL, RESUME SUBCHANNEL), as QEMU runs its virtual
//! devices: the status is pending and the I/O interruption is made pending
//! before the next instruction. Everything a channel program names comes
//! from the guest and is checked: CCW and IDAW addresses, alignment, data
//! addresses and counts against storage (a program check in the SCSW, never
//! a host panic), and a chain is bounded to [`MAX_CCWS`] CCWs.
//!
//! A subchannel that is not enabled (or has no valid device number) is not
//! operational: cc 3 from SSCH, RSCH, HSCH, CSCH, XSCH and TSCH. Where the
//! architecture and QEMU differ, zmmu follows the architecture and says so
//! (docs/CHOICES.md, 17): a length mismatch without SLI is an
//! incorrect-length condition (QEMU: a program check); TEST SUBCHANNEL
//! clears the subchannel's pending I/O interruption.
//!
//! Not implemented: data chaining (a CCW with the DC flag ends in a program
//! check), MIDAWs (refused by SSCH as QEMU does), storage keys in the ORB
//! (as QEMU's virtual devices, no key-controlled protection), the
//! channel-report-pending machine check (CRWs queue and STCRW takes them).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::memory::{Access, AddressType, Memory};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, Cpu};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::storage::Storage;

use crate::bus::DatBus;

/// The channel-path type of the virtual channel path (QEMU's
/// `VIRTIO_CCW_CHPID_TYPE`).
pub const VIRTIO_CHPID_TYPE: u8 = 0x32;

/// The operand exception (program-interruption code 0x0015).
pub const OPERAND: Code = Code(0x15);

/// CCWs one start (or resume) function interprets at most. The
/// architecture sets no limit (a channel program of NOPs chained by TICs
/// runs until HALT or CLEAR SUBCHANNEL); zmmu runs channel programs inside
/// the instruction, so it ends a longer one with a program check.
pub const MAX_CCWS: usize = 1 << 16;

/// CRWs the channel subsystem keeps before it loses one (and sets the
/// overflow bit in the next it queues).
pub const MAX_CRWS: usize = 256;

/// The channel-subsystem image QEMU gives its virtual devices.
pub const DEFAULT_CSSID: u32 = 0xFE;

/// A subchannel-set number no subchannel has (an image not present).
const NO_SET: u8 = 0xFF;

/// The virtual channel path of every subchannel.
pub const CHPID: u8 = 0;

/// Bytes of a SCHIB (PMCW, SCSW, measurement-block address, model data).
pub const SCHIB_LEN: usize = 52;
/// Bytes of an ORB that the channel subsystem reads (words 0-2, as QEMU).
pub const ORB_LEN: usize = 12;
/// Bytes of the IRB that TEST SUBCHANNEL stores: SCSW, ESW and ECW (no
/// extended-measurement words: extended measurement is not offered).
pub const IRB_LEN: usize = 64;
/// Bytes of the SENSE ID data (common part and 62 CIWs).
pub const SENSE_ID_LEN: usize = 256;
/// Bytes of the sense data BASIC SENSE transfers.
pub const SENSE_LEN: usize = 32;

/// Real addresses of the I/O-interruption lowcore fields that TPI with a
/// zero operand address stores.
const LOWCORE_IO_CODE: u64 = 0xB8;

/// PMCW word 1 flags (bits of the halfword at byte 4).
pub mod pmcw {
    /// Interruption subclass (bits 2-4).
    pub const ISC: u16 = 0x3800;
    /// Bits 0, 1, 6 and 7: MSCH refuses them set (operand exception).
    pub const INVALID: u16 = 0xC300;
    /// Enabled.
    pub const ENABLED: u16 = 0x0080;
    /// Limit mode.
    pub const LIMIT_MODE: u16 = 0x0060;
    /// Measurement-block update enable.
    pub const MEASUREMENT_UPDATE: u16 = 0x0010;
    /// Device-connect-time measurement enable.
    pub const DEVICE_CONNECT_TIME: u16 = 0x0008;
    /// Multipath mode.
    pub const MULTIPATH: u16 = 0x0004;
    /// Timing facility.
    pub const TIMING: u16 = 0x0002;
    /// Device number valid.
    pub const DNV: u16 = 0x0001;
    /// The flags MSCH sets from the SCHIB.
    pub const MODIFIABLE: u16 =
        ISC | ENABLED | LIMIT_MODE | MEASUREMENT_UPDATE | DEVICE_CONNECT_TIME | MULTIPATH;
    /// PMCW word 6 (characteristics): measurement-block format 1.
    pub const CHARS_MBF1: u32 = 0x0000_0004;
    /// Characteristics: extended-measurement-word mode enable.
    pub const CHARS_XMWME: u32 = 0x0000_0002;
    /// Characteristics: concurrent sense.
    pub const CHARS_CSENSE: u32 = 0x0000_0001;
    /// Characteristics bits MSCH refuses set (all but the subchannel type
    /// and the three above).
    pub const CHARS_INVALID: u32 = 0xFF1F_FFF8;
}

/// SCSW fields (word 0: flags and control, as two halfwords).
pub mod scsw {
    /// Subchannel key.
    pub const KEY: u16 = 0xF000;
    /// Suspend control.
    pub const SUSPEND_CONTROL: u16 = 0x0800;
    /// ESW format.
    pub const ESW_FORMAT: u16 = 0x0400;
    /// Deferred condition code.
    pub const CC: u16 = 0x0300;
    /// CCW format 1.
    pub const FORMAT: u16 = 0x0080;
    /// Prefetch.
    pub const PREFETCH: u16 = 0x0040;
    /// Initial-status-interruption control.
    pub const ISIC: u16 = 0x0020;
    /// Address-limit-checking control.
    pub const ALCC: u16 = 0x0010;
    /// Suppress-suspended interruption.
    pub const SSI: u16 = 0x0008;
    /// Extended control.
    pub const ECTL: u16 = 0x0002;
    /// Path not operational.
    pub const PNO: u16 = 0x0001;

    /// Function control: start.
    pub const START: u16 = 0x4000;
    /// Function control: halt.
    pub const HALT: u16 = 0x2000;
    /// Function control: clear.
    pub const CLEAR: u16 = 0x1000;
    /// The function-control field.
    pub const FUNCTION: u16 = 0x7000;
    /// Activity control: resume pending.
    pub const RESUME_PENDING: u16 = 0x0800;
    /// Activity control: start pending.
    pub const START_PENDING: u16 = 0x0400;
    /// Activity control: halt pending.
    pub const HALT_PENDING: u16 = 0x0200;
    /// Activity control: clear pending.
    pub const CLEAR_PENDING: u16 = 0x0100;
    /// Activity control: subchannel active.
    pub const SUBCHANNEL_ACTIVE: u16 = 0x0080;
    /// Activity control: device active.
    pub const DEVICE_ACTIVE: u16 = 0x0040;
    /// Activity control: suspended.
    pub const SUSPENDED: u16 = 0x0020;
    /// The activity-control field.
    pub const ACTIVITY: u16 = 0x0FE0;
    /// Status control: alert.
    pub const ALERT: u16 = 0x0010;
    /// Status control: intermediate.
    pub const INTERMEDIATE: u16 = 0x0008;
    /// Status control: primary.
    pub const PRIMARY: u16 = 0x0004;
    /// Status control: secondary.
    pub const SECONDARY: u16 = 0x0002;
    /// Status control: status pending.
    pub const STATUS_PENDING: u16 = 0x0001;
    /// The status-control field.
    pub const STATUS: u16 = 0x001F;

    /// Device status: channel end.
    pub const CHANNEL_END: u8 = 0x08;
    /// Device status: device end.
    pub const DEVICE_END: u8 = 0x04;
    /// Device status: unit check.
    pub const UNIT_CHECK: u8 = 0x02;

    /// Subchannel status: incorrect length.
    pub const INCORRECT_LENGTH: u8 = 0x40;
    /// Subchannel status: program check.
    pub const PROGRAM_CHECK: u8 = 0x20;
    /// Subchannel status: protection check.
    pub const PROTECTION_CHECK: u8 = 0x10;
    /// Subchannel status: channel-data check.
    pub const DATA_CHECK: u8 = 0x08;
    /// Subchannel status: channel-control check.
    pub const CONTROL_CHECK: u8 = 0x04;
    /// Subchannel status: interface-control check.
    pub const INTERFACE_CHECK: u8 = 0x02;
}

/// ORB word 1 (as the halfword `ctrl0`, the LPM byte and the byte
/// `ctrl1`).
pub mod orb {
    /// Subchannel key.
    pub const KEY: u16 = 0xF000;
    /// Suspend control.
    pub const SUSPEND: u16 = 0x0800;
    /// CCW format 1.
    pub const FORMAT: u16 = 0x0080;
    /// Prefetch.
    pub const PREFETCH: u16 = 0x0040;
    /// Initial-status-interruption control.
    pub const ISIC: u16 = 0x0020;
    /// Address-limit-checking control.
    pub const ALCC: u16 = 0x0010;
    /// Suppress-suspended-interruption control.
    pub const SSIC: u16 = 0x0008;
    /// Bit 13 (channel-program type): refused, as QEMU does.
    pub const INVALID: u16 = 0x0004;
    /// Format-2 IDAWs.
    pub const C64: u16 = 0x0002;
    /// 2K-byte IDAWs (with format 2).
    pub const I2K: u16 = 0x0001;
    /// `ctrl1`: incorrect-length suppression mode.
    pub const ILS: u8 = 0x80;
    /// `ctrl1`: MIDAWs (not offered: refused).
    pub const MIDAW: u8 = 0x40;
    /// `ctrl1`: bits 1-6 must be zero... as QEMU checks: 2-6.
    pub const CTRL1_INVALID: u8 = 0x3E;
}

/// CCW flags.
pub mod ccw {
    /// Chain data.
    pub const DC: u8 = 0x80;
    /// Chain command.
    pub const CC: u8 = 0x40;
    /// Suppress length indication.
    pub const SLI: u8 = 0x20;
    /// Skip.
    pub const SKIP: u8 = 0x10;
    /// Program-controlled interruption.
    pub const PCI: u8 = 0x08;
    /// Indirect data addressing.
    pub const IDA: u8 = 0x04;
    /// Suspend.
    pub const SUSPEND: u8 = 0x02;
    /// MIDA (format 1).
    pub const MIDA: u8 = 0x01;

    /// Command: no operation.
    pub const NOOP: u8 = 0x03;
    /// Command: basic sense.
    pub const BASIC_SENSE: u8 = 0x04;
    /// Command: transfer in channel (low four bits).
    pub const TIC: u8 = 0x08;
    /// Command: sense ID.
    pub const SENSE_ID: u8 = 0xE4;
}

/// CRW fields.
pub mod crw {
    /// Solicited.
    pub const SOLICITED: u32 = 0x4000_0000;
    /// Overflow: CRWs were lost before this one.
    pub const OVERFLOW: u32 = 0x2000_0000;
    /// Reporting-source code: channel path.
    pub const RSC_CHANNEL_PATH: u32 = 0x4;
    /// Error-recovery code: initialized.
    pub const ERC_INITIALIZED: u32 = 0x02;
}

/// The path-management-control word (PoP "Subchannel-Information
/// Block").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pmcw {
    /// Interruption parameter.
    pub intparm: u32,
    /// Word 1 flags ([`pmcw`]).
    pub flags: u16,
    /// Device number.
    pub devno: u16,
    /// Logical-path mask.
    pub lpm: u8,
    /// Path-not-operational mask.
    pub pnom: u8,
    /// Last-path-used mask.
    pub lpum: u8,
    /// Path-installed mask.
    pub pim: u8,
    /// Measurement-block index.
    pub mbi: u16,
    /// Path-operational mask.
    pub pom: u8,
    /// Path-available mask.
    pub pam: u8,
    /// Channel-path identifiers.
    pub chpid: [u8; 8],
    /// Word 6: subchannel type and characteristics ([`pmcw`]).
    pub chars: u32,
}

/// The subchannel-status word (command mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scsw {
    /// Bits 0-15 of word 0 ([`scsw`] flags).
    pub flags: u16,
    /// Bits 16-31 of word 0: function, activity and status control.
    pub ctrl: u16,
    /// CCW address.
    pub cpa: u32,
    /// Device status.
    pub dstat: u8,
    /// Subchannel status.
    pub cstat: u8,
    /// Residual count.
    pub count: u16,
}

/// The subchannel-information block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schib {
    /// Path-management-control word.
    pub pmcw: Pmcw,
    /// Subchannel-status word.
    pub scsw: Scsw,
    /// Measurement-block address (format 1).
    pub mba: u64,
    /// Model-dependent area.
    pub mda: [u8; 4],
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Pmcw {
    /// The 28 bytes in storage.
    pub fn to_bytes(&self) -> [u8; 28] {
        let mut b = [0u8; 28];
        b[0..4].copy_from_slice(&self.intparm.to_be_bytes());
        b[4..6].copy_from_slice(&self.flags.to_be_bytes());
        b[6..8].copy_from_slice(&self.devno.to_be_bytes());
        b[8..12].copy_from_slice(&[self.lpm, self.pnom, self.lpum, self.pim]);
        b[12..14].copy_from_slice(&self.mbi.to_be_bytes());
        b[14] = self.pom;
        b[15] = self.pam;
        b[16..24].copy_from_slice(&self.chpid);
        b[24..28].copy_from_slice(&self.chars.to_be_bytes());
        b
    }

    /// Reads the 28 bytes of a PMCW.
    pub fn from_bytes(b: &[u8; 28]) -> Self {
        let mut chpid = [0u8; 8];
        chpid.copy_from_slice(&b[16..24]);
        Self {
            intparm: be32(b, 0),
            flags: be16(b, 4),
            devno: be16(b, 6),
            lpm: b[8],
            pnom: b[9],
            lpum: b[10],
            pim: b[11],
            mbi: be16(b, 12),
            pom: b[14],
            pam: b[15],
            chpid,
            chars: be32(b, 24),
        }
    }

    /// The interruption subclass.
    pub const fn isc(&self) -> u8 {
        ((self.flags & pmcw::ISC) >> 11) as u8
    }
}

impl Scsw {
    /// The 12 bytes in storage.
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..2].copy_from_slice(&self.flags.to_be_bytes());
        b[2..4].copy_from_slice(&self.ctrl.to_be_bytes());
        b[4..8].copy_from_slice(&self.cpa.to_be_bytes());
        b[8] = self.dstat;
        b[9] = self.cstat;
        b[10..12].copy_from_slice(&self.count.to_be_bytes());
        b
    }

    /// Reads the 12 bytes of an SCSW.
    pub fn from_bytes(b: &[u8; 12]) -> Self {
        Self {
            flags: be16(b, 0),
            ctrl: be16(b, 2),
            cpa: be32(b, 4),
            dstat: b[8],
            cstat: b[9],
            count: be16(b, 10),
        }
    }

    fn status_pending(&self) -> bool {
        self.ctrl & scsw::STATUS_PENDING != 0
    }
}

impl Schib {
    /// The [`SCHIB_LEN`] bytes in storage.
    pub fn to_bytes(&self) -> [u8; SCHIB_LEN] {
        let mut b = [0u8; SCHIB_LEN];
        b[0..28].copy_from_slice(&self.pmcw.to_bytes());
        b[28..40].copy_from_slice(&self.scsw.to_bytes());
        b[40..48].copy_from_slice(&self.mba.to_be_bytes());
        b[48..52].copy_from_slice(&self.mda);
        b
    }

    /// Reads a SCHIB.
    pub fn from_bytes(b: &[u8; SCHIB_LEN]) -> Self {
        let mut pmcw = [0u8; 28];
        pmcw.copy_from_slice(&b[0..28]);
        let mut scsw = [0u8; 12];
        scsw.copy_from_slice(&b[28..40]);
        let mut mba = [0u8; 8];
        mba.copy_from_slice(&b[40..48]);
        let mut mda = [0u8; 4];
        mda.copy_from_slice(&b[48..52]);
        Self {
            pmcw: Pmcw::from_bytes(&pmcw),
            scsw: Scsw::from_bytes(&scsw),
            mba: u64::from_be_bytes(mba),
            mda,
        }
    }

    /// MODIFY SUBCHANNEL refuses it (operand exception): reserved PMCW
    /// bits set, extended measurement asked for, or a format-1
    /// measurement-block address not on a 64-byte boundary (QEMU's
    /// `ioinst_schib_valid`).
    pub fn valid_for_modify(&self) -> bool {
        let p = &self.pmcw;
        !(p.flags & pmcw::INVALID != 0
            || p.chars & pmcw::CHARS_INVALID != 0
            || p.chars & pmcw::CHARS_XMWME != 0
            || (p.chars & pmcw::CHARS_MBF1 != 0 && self.mba & 0x3F != 0))
    }
}

/// The operation-request block (words 0-2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Orb {
    /// Interruption parameter.
    pub intparm: u32,
    /// Word 1 bits 0-15 ([`orb`]).
    pub ctrl0: u16,
    /// Logical-path mask.
    pub lpm: u8,
    /// Word 1 bits 24-31 ([`orb`]).
    pub ctrl1: u8,
    /// Channel-program address.
    pub cpa: u32,
}

impl Orb {
    /// Reads the first [`ORB_LEN`] bytes of an ORB.
    pub fn from_bytes(b: &[u8; ORB_LEN]) -> Self {
        Self {
            intparm: be32(b, 0),
            ctrl0: be16(b, 4),
            lpm: b[6],
            ctrl1: b[7],
            cpa: be32(b, 8),
        }
    }

    /// START SUBCHANNEL refuses it (operand exception): reserved bits,
    /// MIDAWs, a channel-program address above 2G - 1.
    pub fn valid(&self) -> bool {
        self.ctrl0 & orb::INVALID == 0
            && self.ctrl1 & orb::CTRL1_INVALID == 0
            && self.ctrl1 & orb::MIDAW == 0
            && self.cpa & 0x8000_0000 == 0
    }
}

/// A channel-command word, from either format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ccw {
    /// Command code.
    pub command: u8,
    /// Flags ([`ccw`]).
    pub flags: u8,
    /// Byte count.
    pub count: u16,
    /// Data address (24 bits in format 0, 31 in format 1; bit 0 of a
    /// format-1 address is kept to be checked).
    pub address: u32,
}

impl Ccw {
    /// Decodes the doubleword of a format-0 (`format1` false) or format-1
    /// CCW.
    pub fn from_bytes(b: &[u8; 8], format1: bool) -> Self {
        if format1 {
            Self {
                command: b[0],
                flags: b[1],
                count: be16(b, 2),
                address: be32(b, 4),
            }
        } else {
            Self {
                command: b[0],
                flags: b[4],
                count: be16(b, 6),
                address: be32(b, 0) & 0x00FF_FFFF,
            }
        }
    }

    fn is_tic(&self) -> bool {
        self.command & 0x0F == ccw::TIC
    }
}

/// How a channel program ended early: the subchannel-status bit it sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelCheck {
    /// Program check: a malformed CCW, IDAW or address.
    Program,
    /// Protection check.
    Protection,
    /// Channel-data check.
    Data,
}

impl ChannelCheck {
    const fn status(self) -> u8 {
        match self {
            Self::Program => scsw::PROGRAM_CHECK,
            Self::Protection => scsw::PROTECTION_CHECK,
            Self::Data => scsw::DATA_CHECK,
        }
    }
}

/// The data area of one CCW in absolute storage, direct or through an
/// IDAW list: what a device reads from and writes to.
pub struct DataStream<'a> {
    storage: &'a mut dyn Storage,
    ccw: Ccw,
    idaw: Option<Idaw>,
    at: u16,
}

impl core::fmt::Debug for DataStream<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataStream")
            .field("ccw", &self.ccw)
            .field("idaw", &self.idaw)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug)]
struct Idaw {
    /// 8-byte (format-2) IDAWs; else 4-byte, 31-bit ones.
    format2: bool,
    /// The block each IDAW after the first designates.
    block: u64,
}

impl<'a> DataStream<'a> {
    fn new(storage: &'a mut dyn Storage, ccw: Ccw, orb: &Orb) -> Self {
        let idaw = (ccw.flags & ccw::IDA != 0).then(|| {
            let format2 = orb.ctrl0 & orb::C64 != 0;
            let block = if format2 && orb.ctrl0 & orb::I2K == 0 {
                4096
            } else {
                2048
            };
            Idaw { format2, block }
        });
        Self {
            storage,
            ccw,
            idaw,
            at: 0,
        }
    }

    /// Bytes transferred so far.
    pub fn transferred(&self) -> u16 {
        self.at
    }

    /// Goes back to the data area's first byte: a command that reads part
    /// of its area before it writes the area (virtio-ccw's READ_FEAT reads
    /// the feature index there).
    pub fn rewind(&mut self) {
        self.at = 0;
    }

    /// Bytes the CCW's count leaves.
    pub fn remaining(&self) -> u16 {
        self.ccw.count - self.at
    }

    fn read_idaw(&self, index: u64, idaw: Idaw) -> Result<u64, ChannelCheck> {
        let size = if idaw.format2 { 8 } else { 4 };
        let list = u64::from(self.ccw.address);
        if list % size != 0 {
            return Err(ChannelCheck::Program);
        }
        let at = list + index * size;
        let mut b = [0u8; 8];
        self.storage
            .read(AbsoluteAddress::new(at), &mut b[..size as usize])
            .ok_or(ChannelCheck::Program)?;
        if idaw.format2 {
            Ok(u64::from_be_bytes(b))
        } else {
            let word = be32(&b, 0);
            if word & 0x8000_0000 != 0 {
                return Err(ChannelCheck::Program);
            }
            Ok(u64::from(word))
        }
    }

    /// The absolute address of the next byte and how many follow it
    /// contiguously (within the count).
    fn segment(&self) -> Result<(u64, u16), ChannelCheck> {
        let offset = u64::from(self.at);
        let remaining = self.remaining();
        let Some(idaw) = self.idaw else {
            return Ok((u64::from(self.ccw.address) + offset, remaining));
        };
        let first = self.read_idaw(0, idaw)?;
        let first_len = idaw.block - first % idaw.block;
        let (address, len) = if offset < first_len {
            (first + offset, first_len - offset)
        } else {
            let past = offset - first_len;
            let index = 1 + past / idaw.block;
            let block = self.read_idaw(index, idaw)?;
            if block % idaw.block != 0 {
                return Err(ChannelCheck::Program);
            }
            let within = past % idaw.block;
            (block + within, idaw.block - within)
        };
        Ok((address, remaining.min(len.min(u64::from(u16::MAX)) as u16)))
    }

    /// Transfers `data` to storage (a read command's input), as much as
    /// the count allows; returns how many bytes went.
    pub fn write(&mut self, mut data: &[u8]) -> Result<usize, ChannelCheck> {
        let mut done = 0;
        while !data.is_empty() && self.remaining() > 0 {
            let (address, len) = self.segment()?;
            let n = data.len().min(usize::from(len));
            self.storage
                .write(AbsoluteAddress::new(address), &data[..n])
                .ok_or(ChannelCheck::Program)?;
            self.at += n as u16;
            data = &data[n..];
            done += n;
        }
        Ok(done)
    }

    /// Transfers from storage into `buf` (a write command's output), as
    /// much as the count allows; returns how many bytes came.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, ChannelCheck> {
        let mut done = 0;
        while done < buf.len() && self.remaining() > 0 {
            let (address, len) = self.segment()?;
            let n = (buf.len() - done).min(usize::from(len));
            self.storage
                .read(AbsoluteAddress::new(address), &mut buf[done..done + n])
                .ok_or(ChannelCheck::Program)?;
            self.at += n as u16;
            done += n;
        }
        Ok(done)
    }
}

/// What a device did with a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done: channel end and device end.
    Done,
    /// Command reject: unit check, sense byte 0 bit 0.
    Reject,
    /// The channel ended the transfer with this check.
    Check(ChannelCheck),
}

/// A device behind a subchannel: the commands beyond NOOP, BASIC SENSE,
/// SENSE ID and TIC, which the channel subsystem handles itself.
pub trait Device: core::fmt::Debug + Send {
    /// The SENSE ID data (byte 0, 0xFF, is set by the channel subsystem).
    fn sense_id(&self) -> [u8; SENSE_ID_LEN];
    /// Carries out a device-specific command with its data area.
    fn command(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> Outcome;
    /// The driver's notification that queue `queue` has new buffers
    /// (virtio-ccw's DIAGNOSE X'500'): `None` when the device has no such
    /// queue, else whether the device wants an interruption for what it
    /// did. Devices without queues have none.
    fn notify(&mut self, storage: &mut dyn Storage, queue: u16) -> Option<bool> {
        let _ = (storage, queue);
        None
    }
}

/// One subchannel and its device.
#[derive(Debug)]
pub struct Subchannel {
    /// The SCHIB as STSCH stores it.
    pub schib: Schib,
    /// The device.
    pub device: Box<dyn Device>,
    /// The CCW the channel program is at (suspended or running).
    channel_program: u32,
    /// The ORB of the current start function.
    orb: Orb,
    /// Sense data for BASIC SENSE and concurrent sense.
    sense: [u8; SENSE_LEN],
}

/// A pending I/O interruption: its subchannel and the subclass it was made
/// pending in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    subchannel: u16,
    isc: u8,
}

/// The channel subsystem: subchannels of set 0, pending I/O interruptions,
/// channel reports and channel-subsystem monitoring.
#[derive(Debug, Default)]
pub struct ChannelSubsystem {
    /// Subchannels 0, 1, ... of subchannel set 0.
    pub subchannels: Vec<Subchannel>,
    pending: Vec<Pending>,
    crws: VecDeque<u32>,
    crws_lost: bool,
    /// The measurement-block origin of format 0, while measurement-block
    /// update is on (SET CHANNEL MONITOR).
    pub measurement: Option<u64>,
}

/// A subsystem-identification word as GR1 holds it: set 0..3 and number,
/// or `None` when it is invalid (operand exception): bit 15 (the "one"
/// bit) zero, or a CSSID without the M bit (QEMU's
/// `ioinst_disassemble_sch_ident`).
pub fn subsystem_id(word: u32) -> Option<(u8, u16)> {
    if word & 0x0001_0000 == 0 {
        return None;
    }
    let m = word & 0x0008_0000 != 0;
    let cssid = word >> 24;
    if !m && cssid != 0 {
        return None;
    }
    // One channel-subsystem image, QEMU's 0xFE: named by M = 0 and
    // CSSID 0, or by M = 1 and CSSID 0xFE; any other is not present.
    let ssid = ((word >> 17) & 3) as u8;
    let ssid = if m && cssid != DEFAULT_CSSID {
        NO_SET
    } else {
        ssid
    };
    Some((ssid, word as u16))
}

/// How a channel program ended.
enum Ending {
    /// Status pending (with an interruption).
    Status,
    /// Suspended: no status.
    Suspended,
}

impl ChannelSubsystem {
    /// Adds a device on the next subchannel (device number = subchannel
    /// number, one path through [`CHPID`]); returns the subchannel number.
    pub fn add_device(&mut self, device: Box<dyn Device>) -> u16 {
        let number = self.subchannels.len() as u16;
        let pmcw = Pmcw {
            flags: pmcw::DNV,
            devno: number,
            pim: 0x80,
            pom: 0xFF,
            pam: 0x80,
            ..Pmcw::default()
        };
        self.subchannels.push(Subchannel {
            schib: Schib {
                pmcw,
                ..Schib::default()
            },
            device,
            channel_program: 0,
            orb: Orb::default(),
            sense: [0; SENSE_LEN],
        });
        number
    }

    fn find(&mut self, ssid: u8, number: u16) -> Option<&mut Subchannel> {
        if ssid != 0 {
            return None;
        }
        self.subchannels.get_mut(usize::from(number))
    }

    /// Passes the driver's notification of queue `queue` to the device of
    /// subchannel `number` in set `ssid` ([`Device::notify`]); `None` when
    /// there is no such subchannel or queue. A device that wants an
    /// interruption gets unsolicited alert status.
    pub fn notify(
        &mut self,
        storage: &mut dyn Storage,
        ssid: u8,
        number: u16,
        queue: u16,
    ) -> Option<()> {
        let s = self.find(ssid, number)?;
        if s.device.notify(storage, queue)? {
            self.alert(number);
        }
        Some(())
    }

    /// Makes an enabled subchannel that is not status pending status
    /// pending with alert status alone (an unsolicited interruption, PoP
    /// "Status Control"; QEMU's `css_conditional_io_interrupt`). A
    /// subchannel already status pending keeps its status: its
    /// interruption is the driver's occasion to look.
    fn alert(&mut self, number: u16) {
        let Some(s) = self.subchannels.get_mut(usize::from(number)) else {
            return;
        };
        let c = &mut s.schib.scsw;
        if s.schib.pmcw.flags & pmcw::ENABLED == 0 || c.ctrl & scsw::STATUS_PENDING != 0 {
            return;
        }
        c.ctrl = (c.ctrl & !scsw::STATUS) | scsw::ALERT | scsw::STATUS_PENDING;
        c.dstat = 0;
        c.cstat = 0;
        self.make_pending(number);
    }

    /// An I/O interruption is pending, enabled or not.
    pub fn io_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The CRWs queued, oldest first.
    pub fn crws(&self) -> impl Iterator<Item = &u32> {
        self.crws.iter()
    }

    /// Queues a channel report.
    pub fn queue_crw(&mut self, mut word: u32) {
        if self.crws.len() >= MAX_CRWS {
            self.crws_lost = true;
            return;
        }
        if core::mem::take(&mut self.crws_lost) {
            word |= crw::OVERFLOW;
        }
        self.crws.push_back(word);
    }

    /// The position in `pending` of the interruption to take with the
    /// subclass mask `isc_mask` (CR6 bits 32-39): the lowest enabled
    /// subclass first, the oldest within one.
    fn next_pending(&self, isc_mask: u8) -> Option<usize> {
        let enabled = |p: &Pending| isc_mask & (0x80 >> p.isc) != 0;
        let best = self
            .pending
            .iter()
            .filter(|p| enabled(p))
            .map(|p| p.isc)
            .min()?;
        self.pending.iter().position(|p| p.isc == best)
    }

    fn interruption_of(&self, p: Pending) -> Interruption {
        let intparm = self
            .subchannels
            .get(usize::from(p.subchannel))
            .map_or(0, |s| s.schib.pmcw.intparm);
        Interruption::Io {
            subchannel_id: 0x0001_0000 | u32::from(p.subchannel),
            parameter: intparm,
            word: u32::from(p.isc) << 27,
        }
    }

    /// The I/O interruption to take now, if the CPU is enabled for one
    /// (PSW bit 6 and the subclass's bit in CR6), taken off the queue.
    pub fn take_interruption(&mut self, cpu: &Cpu) -> Option<Interruption> {
        if cpu.psw.mask & mask::IO == 0 {
            return None;
        }
        self.dequeue(isc_mask(cpu))
    }

    fn dequeue(&mut self, isc_mask: u8) -> Option<Interruption> {
        let at = self.next_pending(isc_mask)?;
        let p = self.pending.remove(at);
        Some(self.interruption_of(p))
    }

    fn make_pending(&mut self, number: u16) {
        self.pending.retain(|p| p.subchannel != number);
        let isc = self.subchannels[usize::from(number)].schib.pmcw.isc();
        self.pending.push(Pending {
            subchannel: number,
            isc,
        });
    }

    /// Counts a start or resume in the subchannel's measurement block, if
    /// measurement-block update is on for it (QEMU's
    /// `css_update_chnmon`): a word at the format-1 block's address, or a
    /// halfword at origin + 32 * index for format 0. A block outside
    /// storage is not updated.
    fn measure(&mut self, storage: &mut dyn Storage, number: u16) {
        let Some(origin) = self.measurement else {
            return;
        };
        let schib = &self.subchannels[usize::from(number)].schib;
        if schib.pmcw.flags & pmcw::MEASUREMENT_UPDATE == 0 {
            return;
        }
        if schib.pmcw.chars & pmcw::CHARS_MBF1 != 0 {
            let at = AbsoluteAddress::new(schib.mba);
            let mut b = [0u8; 4];
            if storage.read(at, &mut b).is_some() {
                let n = u32::from_be_bytes(b).wrapping_add(1);
                let _ = storage.write(at, &n.to_be_bytes());
            }
        } else {
            let at = AbsoluteAddress::new(origin.wrapping_add(u64::from(schib.pmcw.mbi) << 5));
            let mut b = [0u8; 2];
            if storage.read(at, &mut b).is_some() {
                let n = u16::from_be_bytes(b).wrapping_add(1);
                let _ = storage.write(at, &n.to_be_bytes());
            }
        }
    }

    /// STSCH: the SCHIB, or `None` for cc 3. A subchannel of set 0 below
    /// the last installed one that has no device would get a zero SCHIB
    /// (QEMU); zmmu's subchannels are dense, so there is none.
    pub fn store_subchannel(&mut self, ssid: u8, number: u16) -> Option<Schib> {
        self.find(ssid, number).map(|s| s.schib)
    }

    /// MSCH on a valid SCHIB: cc 0, 1 (status pending), 2 (busy), 3.
    pub fn modify_subchannel(&mut self, ssid: u8, number: u16, new: &Schib) -> u8 {
        let Some(s) = self.find(ssid, number) else {
            return 3;
        };
        let p = &mut s.schib.pmcw;
        if p.flags & pmcw::DNV == 0 {
            return 0;
        }
        let c = &s.schib.scsw;
        if c.status_pending() {
            return 1;
        }
        if c.ctrl & scsw::FUNCTION != 0 {
            return 2;
        }
        p.intparm = new.pmcw.intparm;
        p.flags = (p.flags & !pmcw::MODIFIABLE) | (new.pmcw.flags & pmcw::MODIFIABLE);
        p.lpm = new.pmcw.lpm;
        p.mbi = new.pmcw.mbi;
        p.pom = new.pmcw.pom;
        let chars = pmcw::CHARS_MBF1 | pmcw::CHARS_CSENSE;
        p.chars = (p.chars & !chars) | (new.pmcw.chars & chars);
        s.schib.mba = new.mba;
        0
    }

    /// The subchannel, if it is operational for the start, halt, clear,
    /// resume, cancel and test functions: installed, a valid device number,
    /// and enabled (not operational otherwise, cc 3; QEMU's check of DNV
    /// and ENA).
    fn operational(&mut self, ssid: u8, number: u16) -> Option<&mut Subchannel> {
        let s = self.find(ssid, number)?;
        let f = s.schib.pmcw.flags;
        (f & pmcw::DNV != 0 && f & pmcw::ENABLED != 0).then_some(s)
    }

    /// SSCH with a valid ORB: cc 0 (the channel program has run and status
    /// is pending), 1 (status pending), 2 (busy), 3.
    pub fn start_subchannel(
        &mut self,
        storage: &mut dyn Storage,
        ssid: u8,
        number: u16,
        orb: &Orb,
    ) -> u8 {
        let Some(s) = self.operational(ssid, number) else {
            return 3;
        };
        let c = &mut s.schib.scsw;
        if c.status_pending() {
            return 1;
        }
        if c.ctrl & scsw::FUNCTION != 0 {
            return 2;
        }
        s.schib.pmcw.intparm = orb.intparm;
        s.orb = *orb;
        s.channel_program = orb.cpa;
        let copied = orb::KEY | orb::SUSPEND | orb::FORMAT | orb::PREFETCH | orb::ISIC | orb::ALCC;
        c.flags = orb.ctrl0 & copied;
        c.ctrl = scsw::START | scsw::START_PENDING;
        c.dstat = 0;
        c.cstat = 0;
        self.measure(storage, number);
        let s = &mut self.subchannels[usize::from(number)];
        if orb.lpm & s.schib.pmcw.pim == 0 {
            // No path: a deferred condition code 3 (QEMU).
            let c = &mut s.schib.scsw;
            c.flags |= scsw::CC;
            c.ctrl |= scsw::ALERT | scsw::STATUS_PENDING;
            self.make_pending(number);
            return 0;
        }
        s.schib.pmcw.lpum = 0x80;
        if let Ending::Status = run(storage, s) {
            self.make_pending(number);
        }
        0
    }

    /// RSCH: cc 0 (resumed), 1 (status pending), 2 (not suspended), 3.
    pub fn resume_subchannel(&mut self, storage: &mut dyn Storage, ssid: u8, number: u16) -> u8 {
        let Some(s) = self.operational(ssid, number) else {
            return 3;
        };
        let c = &mut s.schib.scsw;
        if c.status_pending() {
            return 1;
        }
        if c.ctrl & scsw::FUNCTION != scsw::START
            || c.ctrl & scsw::RESUME_PENDING != 0
            || c.ctrl & scsw::SUSPENDED == 0
        {
            return 2;
        }
        c.ctrl &= !scsw::SUSPENDED;
        self.measure(storage, number);
        let s = &mut self.subchannels[usize::from(number)];
        if let Ending::Status = run(storage, s) {
            self.make_pending(number);
        }
        0
    }

    /// HSCH: cc 0 (halted, status pending), 1 (status pending), 2 (halt
    /// or clear in progress), 3.
    pub fn halt_subchannel(&mut self, ssid: u8, number: u16) -> u8 {
        let Some(s) = self.operational(ssid, number) else {
            return 3;
        };
        let c = &mut s.schib.scsw;
        if c.ctrl & scsw::STATUS == scsw::STATUS_PENDING
            || c.ctrl & (scsw::PRIMARY | scsw::SECONDARY | scsw::ALERT) != 0
        {
            return 1;
        }
        if c.ctrl & (scsw::HALT | scsw::CLEAR) != 0 {
            return 2;
        }
        // The halt function completes at once: the device is signalled
        // and status is made pending (QEMU's sch_handle_halt_func).
        let suspended = c.ctrl & scsw::SUSPENDED != 0;
        let start_pending = c.ctrl & scsw::START_PENDING != 0;
        c.ctrl = (c.ctrl & !(scsw::START | scsw::ACTIVITY | scsw::STATUS))
            | scsw::HALT
            | scsw::STATUS_PENDING;
        c.dstat = if start_pending || suspended {
            0
        } else {
            scsw::DEVICE_END
        };
        if suspended {
            c.cpa = s.channel_program.wrapping_add(8);
        }
        c.cstat = 0;
        s.schib.pmcw.lpum = 0x80;
        self.make_pending(number);
        0
    }

    /// CSCH: cc 0 (cleared, status pending) or 3.
    pub fn clear_subchannel(&mut self, ssid: u8, number: u16) -> u8 {
        let Some(s) = self.operational(ssid, number) else {
            return 3;
        };
        let c = &mut s.schib.scsw;
        c.flags &= !scsw::PNO;
        c.ctrl = scsw::CLEAR | scsw::STATUS_PENDING;
        c.dstat = 0;
        c.cstat = 0;
        s.schib.pmcw.lpum = 0x80;
        s.schib.pmcw.pom = 0xFF;
        s.channel_program = 0;
        self.make_pending(number);
        0
    }

    /// XSCH: cc 0 (start function cancelled), 1 (status pending), 2 (no
    /// start function to cancel), 3.
    pub fn cancel_subchannel(&mut self, ssid: u8, number: u16) -> u8 {
        let Some(s) = self.operational(ssid, number) else {
            return 3;
        };
        let c = &mut s.schib.scsw;
        if c.ctrl & scsw::STATUS != 0 {
            return 1;
        }
        if c.ctrl & scsw::FUNCTION != scsw::START
            || c.ctrl & (scsw::START_PENDING | scsw::RESUME_PENDING | scsw::SUSPENDED) == 0
            || c.ctrl & scsw::SUBCHANNEL_ACTIVE != 0
        {
            return 2;
        }
        c.ctrl &= !(scsw::START | scsw::START_PENDING | scsw::RESUME_PENDING | scsw::SUSPENDED);
        c.dstat = 0;
        c.cstat = 0;
        s.channel_program = 0;
        0
    }

    /// TSCH: the IRB and cc 0 (status was pending) or 1, or `None` for
    /// cc 3. The status is cleared as the architecture says, and the
    /// subchannel's pending I/O interruption with it.
    pub fn test_subchannel(&mut self, ssid: u8, number: u16) -> Option<([u8; IRB_LEN], u8)> {
        let s = self.operational(ssid, number)?;
        let mut irb = [0u8; IRB_LEN];
        let mut c = s.schib.scsw;
        let pending = c.status_pending();
        let mut esw0 = 0u32;
        if pending {
            if c.cstat & (scsw::DATA_CHECK | scsw::CONTROL_CHECK | scsw::INTERFACE_CHECK) != 0 {
                c.flags |= scsw::ESW_FORMAT;
                esw0 = 0x0480_4000;
            } else {
                esw0 = 0x0080_0000;
            }
            if c.dstat & scsw::UNIT_CHECK != 0
                && s.schib.pmcw.chars & pmcw::CHARS_CSENSE != 0
                && (c.flags & scsw::ECTL != 0 || s.sense[0] != 0)
            {
                c.flags |= scsw::ESW_FORMAT | scsw::ECTL;
                irb[32..32 + SENSE_LEN].copy_from_slice(&s.sense);
                irb[16..20]
                    .copy_from_slice(&(0x0100_0000u32 | (SENSE_LEN as u32) << 8).to_be_bytes());
            }
        }
        irb[..12].copy_from_slice(&c.to_bytes());
        irb[12..16].copy_from_slice(&esw0.to_be_bytes());
        Some((irb, u8::from(!pending)))
    }

    /// The clearing that follows a TSCH whose IRB was stored.
    fn after_test(&mut self, number: u16) {
        let Some(s) = self.subchannels.get_mut(usize::from(number)) else {
            return;
        };
        let c = &mut s.schib.scsw;
        if !c.status_pending() {
            return;
        }
        let status = c.ctrl & scsw::STATUS;
        let function = c.ctrl & scsw::FUNCTION;
        let activity = c.ctrl & scsw::ACTIVITY;
        let intermediate_only = status == scsw::INTERMEDIATE | scsw::STATUS_PENDING;
        c.ctrl &= !scsw::STATUS;
        if !intermediate_only || (function & scsw::HALT != 0 && activity & scsw::SUSPENDED != 0) {
            c.ctrl &= !scsw::FUNCTION;
        }
        if !intermediate_only {
            c.flags &= !scsw::PNO;
            c.ctrl &= !(scsw::RESUME_PENDING
                | scsw::START_PENDING
                | scsw::HALT_PENDING
                | scsw::CLEAR_PENDING
                | scsw::SUSPENDED);
        }
        if s.schib.pmcw.chars & pmcw::CHARS_CSENSE != 0 {
            s.sense = [0; SENSE_LEN];
        }
        self.pending.retain(|p| p.subchannel != number);
    }

    /// STCRW: the oldest CRW and cc 0, or zero and cc 1.
    pub fn store_crw(&mut self) -> (u32, u8) {
        match self.crws.pop_front() {
            Some(word) => (word, 0),
            None => (0, 1),
        }
    }

    /// RCHP of channel path `chpid`: cc 0 (a CRW reports the reset) or 3
    /// (not installed).
    pub fn reset_channel_path(&mut self, chpid: u8) -> u8 {
        if chpid != CHPID || self.subchannels.is_empty() {
            return 3;
        }
        self.queue_crw(
            crw::SOLICITED
                | crw::RSC_CHANNEL_PATH << 24
                | crw::ERC_INITIALIZED << 16
                | u32::from(chpid),
        );
        0
    }
}

/// The subclass mask in CR6 bits 32-39.
pub fn isc_mask(cpu: &Cpu) -> u8 {
    (cpu.cr[6] >> 24) as u8
}

/// Interprets the channel program of `s` from its current CCW to its end
/// (or suspension), leaving the status in the SCSW.
fn run(storage: &mut dyn Storage, s: &mut Subchannel) -> Ending {
    let format1 = s.orb.ctrl0 & orb::FORMAT != 0;
    let mut after_tic = false;
    let mut ccws = 0;
    let outcome = loop {
        ccws += 1;
        let at = s.channel_program;
        if ccws > MAX_CCWS {
            break Err((at, ChannelCheck::Program));
        }
        let mut bytes = [0u8; 8];
        if at % 8 != 0
            || storage
                .read(AbsoluteAddress::new(at.into()), &mut bytes)
                .is_none()
        {
            break Err((at, ChannelCheck::Program));
        }
        let ccw = Ccw::from_bytes(&bytes, format1);
        if ccw.command & 0x0F == 0 || (ccw.is_tic() && ccw.command & 0xF0 != 0) {
            break Err((at, ChannelCheck::Program));
        }
        if ccw.is_tic() {
            if after_tic
                || (format1 && ccw.flags & (ccw::CC | ccw::DC) != 0)
                || ccw.address & 0x8000_0000 != 0
            {
                break Err((at, ChannelCheck::Program));
            }
            after_tic = true;
            s.channel_program = ccw.address;
            continue;
        }
        after_tic = false;
        if ccw.flags & ccw::SUSPEND != 0 {
            if s.orb.ctrl0 & orb::SUSPEND == 0 {
                break Err((at, ChannelCheck::Program));
            }
            s.schib.scsw.ctrl &= !scsw::START_PENDING;
            s.schib.scsw.ctrl |= scsw::SUSPENDED;
            return Ending::Suspended;
        }
        if (!format1 && ccw.count == 0)
            || (format1 && ccw.address & 0x8000_0000 != 0)
            || ccw.flags & ccw::DC != 0
            || (format1 && ccw.flags & ccw::MIDA != 0)
        {
            break Err((at, ChannelCheck::Program));
        }
        let mut data = DataStream::new(storage, ccw, &s.orb);
        let (result, exact) = match ccw.command {
            ccw::NOOP => (Outcome::Done, true),
            ccw::SENSE_ID => {
                let mut id = s.device.sense_id();
                let n = usize::from(ccw.count).min(SENSE_ID_LEN);
                id[0] = if n >= 4 { 0xFF } else { 0 };
                transfer(&mut data, &id[..n], ccw.count == SENSE_ID_LEN as u16)
            }
            ccw::BASIC_SENSE => {
                let sense = core::mem::take(&mut s.sense);
                let n = usize::from(ccw.count).min(SENSE_LEN);
                transfer(&mut data, &sense[..n], ccw.count == SENSE_LEN as u16)
            }
            _ => {
                let outcome = s.device.command(&ccw, &mut data);
                (outcome, data.remaining() == 0)
            }
        };
        let residual = data.remaining();
        s.schib.scsw.count = residual;
        match result {
            Outcome::Done => {}
            Outcome::Reject => {
                s.sense = [0; SENSE_LEN];
                s.sense[0] = 0x80;
                break Ok((at, scsw::UNIT_CHECK, 0));
            }
            Outcome::Check(check) => break Err((at, check)),
        }
        let incorrect_length = !exact && ccw.flags & ccw::SLI == 0 && ccw.command != ccw::NOOP;
        if incorrect_length {
            break Ok((at, 0, scsw::INCORRECT_LENGTH));
        }
        if ccw.flags & ccw::CC != 0 {
            s.channel_program = at.wrapping_add(8);
            continue;
        }
        break Ok((at, 0, 0));
    };
    let c = &mut s.schib.scsw;
    c.ctrl &= !(scsw::START_PENDING | scsw::STATUS);
    c.ctrl |= scsw::PRIMARY | scsw::SECONDARY | scsw::STATUS_PENDING;
    match outcome {
        Ok((at, dstat, cstat)) => {
            c.dstat = scsw::CHANNEL_END | scsw::DEVICE_END | dstat;
            c.cstat = cstat;
            if dstat != 0 || cstat != 0 {
                c.ctrl |= scsw::ALERT;
            }
            c.cpa = at.wrapping_add(8);
        }
        Err((at, check)) => {
            c.dstat = 0;
            c.cstat = check.status();
            c.ctrl |= scsw::ALERT;
            c.cpa = at.wrapping_add(8);
        }
    }
    Ending::Status
}

/// Transfers a command's input; `(outcome, exact)`, `exact` when the
/// count was the length the command has.
fn transfer(data: &mut DataStream<'_>, bytes: &[u8], exact: bool) -> (Outcome, bool) {
    match data.write(bytes) {
        Ok(_) => (Outcome::Done, exact),
        Err(check) => (Outcome::Check(check), exact),
    }
}

/// An operand access at a logical address based on register `base`.
fn logical(kind: AccessKind, base: u8, cpu: &Cpu) -> Access<'_> {
    Access {
        kind,
        space: AddressType::Logical { base },
        cpu,
    }
}

/// The second-operand address of an S-format instruction.
fn operand_address(cpu: &Cpu, insn: &Insn) -> u64 {
    let f = insn.f;
    let base = if f.b2 == 0 { 0 } else { cpu.r64(f.b2) };
    cpu.psw.amode().wrap(base.wrapping_add(f.d2 as i64 as u64))
}

fn specification() -> Exception {
    Exception::new(Code::SPECIFICATION)
}

fn operand() -> Exception {
    Exception::new(OPERAND)
}

/// Carries out an I/O instruction (the CPU has checked the privileged
/// state), with the operand checks and condition codes of QEMU's
/// `ioinst.c` and the PoP.
pub fn instruction(
    css: &mut ChannelSubsystem,
    bus: &mut DatBus,
    cpu: &mut Cpu,
    insn: &Insn,
) -> Result<(), Exception> {
    use Opcode::*;
    let gr1 = cpu.r64(1);
    let sid = subsystem_id(gr1 as u32);
    let address = operand_address(cpu, insn);
    let base = insn.f.b2;
    let logical = |kind, cpu| logical(kind, base, cpu);
    let cc = match insn.op {
        CSCH | HSCH | RSCH | XSCH => {
            let (ssid, number) = sid.ok_or_else(operand)?;
            match insn.op {
                CSCH => css.clear_subchannel(ssid, number),
                HSCH => css.halt_subchannel(ssid, number),
                XSCH => css.cancel_subchannel(ssid, number),
                _ => css.resume_subchannel(&mut bus.storage, ssid, number),
            }
        }
        MSCH => {
            if address & 3 != 0 {
                return Err(specification());
            }
            let mut b = [0u8; SCHIB_LEN];
            bus.read(&logical(AccessKind::Read, cpu), address, &mut b)?;
            let schib = Schib::from_bytes(&b);
            let (ssid, number) = sid.ok_or_else(operand)?;
            if !schib.valid_for_modify() {
                return Err(operand());
            }
            css.modify_subchannel(ssid, number, &schib)
        }
        SSCH => {
            if address & 3 != 0 {
                return Err(specification());
            }
            let mut b = [0u8; ORB_LEN];
            bus.read(&logical(AccessKind::Read, cpu), address, &mut b)?;
            let orb = Orb::from_bytes(&b);
            let (ssid, number) = sid.ok_or_else(operand)?;
            if !orb.valid() {
                return Err(operand());
            }
            css.start_subchannel(&mut bus.storage, ssid, number, &orb)
        }
        STSCH => {
            if address & 3 != 0 {
                return Err(specification());
            }
            let acc = logical(AccessKind::Write, cpu);
            let Some((ssid, number)) = sid else {
                // Access exceptions come before the operand exception.
                bus.check(&acc, address, SCHIB_LEN as u64)?;
                return Err(operand());
            };
            match css.store_subchannel(ssid, number) {
                Some(schib) => {
                    bus.write(&acc, address, &schib.to_bytes())?;
                    0
                }
                None => {
                    bus.check(&acc, address, SCHIB_LEN as u64)?;
                    3
                }
            }
        }
        TSCH => {
            let (ssid, number) = sid.ok_or_else(operand)?;
            if address & 3 != 0 {
                return Err(specification());
            }
            let acc = logical(AccessKind::Write, cpu);
            match css.test_subchannel(ssid, number) {
                Some((irb, cc)) => {
                    bus.write(&acc, address, &irb)?;
                    css.after_test(number);
                    cc
                }
                None => {
                    bus.check(&acc, address, IRB_LEN as u64)?;
                    3
                }
            }
        }
        TPI => {
            if address & 3 != 0 {
                return Err(specification());
            }
            let Some(Interruption::Io {
                subchannel_id,
                parameter,
                word,
            }) = css.dequeue(isc_mask(cpu))
            else {
                cpu.psw.set_cc(0);
                return Ok(());
            };
            let mut code = [0u8; 12];
            code[0..4].copy_from_slice(&subchannel_id.to_be_bytes());
            code[4..8].copy_from_slice(&parameter.to_be_bytes());
            code[8..12].copy_from_slice(&word.to_be_bytes());
            let stored = if address == 0 {
                let acc = Access {
                    kind: AccessKind::Write,
                    space: AddressType::Real,
                    cpu,
                };
                bus.write(&acc, LOWCORE_IO_CODE, &code)
            } else {
                bus.write(&logical(AccessKind::Write, cpu), address, &code[..8])
            };
            if let Err(exception) = stored {
                // Not taken after all: pending again, first in its class.
                let number = subchannel_id as u16;
                let isc = (word >> 27) as u8 & 7;
                css.pending.insert(
                    0,
                    Pending {
                        subchannel: number,
                        isc,
                    },
                );
                return Err(exception);
            }
            1
        }
        STCRW => {
            if address & 3 != 0 {
                return Err(specification());
            }
            let (word, cc) = css.store_crw();
            let stored = bus.write(
                &logical(AccessKind::Write, cpu),
                address,
                &word.to_be_bytes(),
            );
            if let Err(exception) = stored {
                if cc == 0 {
                    css.crws.push_front(word);
                }
                return Err(exception);
            }
            cc
        }
        RCHP => {
            if gr1 & 0xFF00_FF00 != 0 || (gr1 >> 16) & 0xFF != 0 {
                return Err(operand());
            }
            css.reset_channel_path(gr1 as u8)
        }
        SAL => {
            // Address-limit checking is not offered: nothing to set.
            if gr1 & 0x8000_0000 != 0 || gr1 & 0xFFFF != 0 {
                return Err(operand());
            }
            return Ok(());
        }
        SCHM => {
            if gr1 & 0x0FFF_FFFC != 0 {
                return Err(operand());
            }
            let update = gr1 & 2 != 0;
            let origin = cpu.r64(2);
            if update && origin & 0x1F != 0 {
                return Err(operand());
            }
            css.measurement = update.then_some(origin);
            return Ok(());
        }
        CHSC => return channel_subsystem_call(css, bus, cpu, insn),
        _ => return Err(Exception::new(Code::OPERATION)),
    };
    cpu.psw.set_cc(cc);
    Ok(())
}

/// CHSC response codes.
pub mod chsc {
    /// Command executed.
    pub const OK: u16 = 0x0001;
    /// Request-block error.
    pub const REQUEST_ERROR: u16 = 0x0003;
    /// Command not installed.
    pub const NOT_INSTALLED: u16 = 0x0004;
    /// Data not available.
    pub const NO_DATA: u16 = 0x0005;
    /// Invalid command format.
    pub const FORMAT_ERROR: u16 = 0x0007;
    /// Invalid CSSID.
    pub const CSSID_ERROR: u16 = 0x0008;
    /// Store subchannel path description.
    pub const SCPD: u16 = 0x0002;
    /// Store channel-subsystem characteristics.
    pub const SCSC: u16 = 0x0010;
    /// Store event information.
    pub const SEI: u16 = 0x000E;
}

/// CHANNEL SUBSYSTEM CALL: the request block's address in R1 (on a 4K
/// boundary, else specification), its length 16..=4088 and a multiple of 8
/// (else operand); the response follows the request (QEMU's
/// `ioinst_handle_chsc`).
fn channel_subsystem_call(
    css: &ChannelSubsystem,
    bus: &mut DatBus,
    cpu: &mut Cpu,
    insn: &Insn,
) -> Result<(), Exception> {
    let r = insn.f.r1;
    let address = cpu.psw.amode().wrap(cpu.r64(r));
    if address & 0xFFF != 0 {
        return Err(specification());
    }
    let acc = |kind, cpu| logical(kind, r, cpu);
    let mut request = [0u8; 16];
    bus.read(&acc(AccessKind::Read, cpu), address, &mut request)?;
    let len = be16(&request, 0);
    if !(16..=4088).contains(&len) || len % 8 != 0 {
        return Err(operand());
    }
    let response = chsc_response(&request, css.subchannels.len());
    bus.write(
        &acc(AccessKind::Write, cpu),
        address.wrapping_add(u64::from(len)),
        &response,
    )?;
    cpu.psw.set_cc(0);
    Ok(())
}

/// The response block to a CHSC request (its first 16 bytes).
pub fn chsc_response(request: &[u8; 16], subchannels: usize) -> Vec<u8> {
    let len = be16(request, 0);
    let command = be16(request, 2);
    let (p0, p1, p2) = (be32(request, 4), be32(request, 8), be32(request, 12));
    let header = |code: u16, length: u16, param: u32| {
        let mut b = Vec::with_capacity(usize::from(length));
        b.extend_from_slice(&length.to_be_bytes());
        b.extend_from_slice(&code.to_be_bytes());
        b.extend_from_slice(&param.to_be_bytes());
        b
    };
    match command {
        chsc::SCSC => {
            if len != 16 {
                return header(chsc::REQUEST_ERROR, 8, 0);
            }
            if p0 & 0x000F_0000 != 0 {
                return header(chsc::FORMAT_ERROR, 8, 0);
            }
            if (p0 >> 8) & 0xFF != 0 {
                return header(chsc::CSSID_ERROR, 8, 0);
            }
            if p0 & 0xDFF0_00FF != 0 || p1 != 0 || p2 != 0 {
                return header(chsc::REQUEST_ERROR, 8, 0);
            }
            // The characteristics QEMU reports: general characteristics
            // (510 words) then CHSC characteristics (508 words).
            let mut b = header(chsc::OK, 4080, 0);
            b.resize(4080, 0);
            let mut word = |index: usize, value: u32| {
                b[8 + index * 4..12 + index * 4].copy_from_slice(&value.to_be_bytes());
            };
            word(0, 0x0300_0000);
            word(1, 0x0007_9000);
            word(3, 0x0008_0000);
            word(510, 0x4000_0000);
            word(513, 0x0004_0000);
            b
        }
        chsc::SCPD => {
            let mut rfmt = (p0 >> 8) & 0xF;
            if rfmt <= 1 {
                rfmt = u32::from(p0 & 0x1000_0000 != 0);
            }
            if len != 16 || p0 & 0xC000_F000 != 0 || p1 & 0xFFFF_FF00 != 0 || p2 != 0 {
                return header(chsc::REQUEST_ERROR, 8, rfmt);
            }
            if p0 & 0x0F00_0000 != 0 {
                return header(chsc::FORMAT_ERROR, 8, rfmt);
            }
            if (p0 >> 16) & 0xFF != 0 {
                return header(chsc::CSSID_ERROR, 8, rfmt);
            }
            let (first, last) = (p0 & 0xFF, p1 & 0xFF);
            if last < first {
                return header(chsc::REQUEST_ERROR, 8, rfmt);
            }
            let installed = subchannels > 0 && first == u32::from(CHPID);
            let size = match (installed, rfmt) {
                (true, 0) => 8,
                (true, 1) => 32,
                _ => 0,
            };
            let mut b = header(chsc::OK, 8 + size, rfmt);
            if size > 0 {
                let descriptor = 0x8000_0000u32 | u32::from(VIRTIO_CHPID_TYPE) << 8;
                b.extend_from_slice(&descriptor.to_be_bytes());
                b.resize(8 + usize::from(size), 0);
            }
            b
        }
        chsc::SEI => header(chsc::NO_DATA, 8, 0),
        _ => header(chsc::NOT_INSTALLED, 8, 0),
    }
}
