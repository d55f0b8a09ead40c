//! Virtio devices on the channel subsystem (virtio-ccw, as the virtio 1.2
//! specification's §4.3 "Virtio Over Channel I/O" describes it and QEMU's
//! hw/s390x/virtio-ccw.c presents it): SENSE ID answers control-unit type
//! 0x3832 with the virtio device ID as model.
//!
//! Two kinds:
//! - [`VirtioCcw`], a device without a backend (`virtio-net-ccw`): it
//!   exists for the guest to find, identify and drive through the channel
//!   subsystem, and its virtio-specific commands are rejected (unit check,
//!   command reject).
//! - [`Transport`] over a [`Function`] (the block device of
//!   [`crate::virtio_blk`]): the virtio-ccw commands of revisions 1 and 2
//!   (virtio 1 only, as QEMU's modern devices: every command before
//!   `CCW_CMD_SET_VIRTIO_REV` is rejected, and so is revision 0), classic
//!   queue indicators (`CCW_CMD_SET_IND`; adapter interruptions are
//!   rejected, so Linux falls back to them), and the driver's notification
//!   through DIAGNOSE X'500' ([`Device::notify`]).
//!
//! A command whose count does not fit its data is a channel program check
//! (with SLI and without data chaining a longer count is allowed), as
//! QEMU's `virtio_ccw_cb` answers; a command the device refuses is a
//! command reject. A queue the driver corrupts (see [`RingError`]) puts
//! the device in the needs-reset state (§2.1.2) and tells the driver by the
//! configuration-change indicator.

use alloc::vec::Vec;

use zmmu_mmu::storage::Storage;

use crate::css::{ccw, Ccw, ChannelCheck, DataStream, Device, Outcome, SENSE_ID_LEN};
use crate::virtqueue::{Chain, Queue, RingError, Rings};

/// The control-unit type of every virtio-ccw device.
pub const CU_TYPE: u16 = 0x3832;

/// The virtio device ID of a network device.
pub const DEVICE_ID_NET: u8 = 1;

/// virtio-ccw command codes (§4.3.3).
pub mod command {
    /// Set up a virtqueue.
    pub const SET_VQ: u8 = 0x13;
    /// Reset the device.
    pub const VDEV_RESET: u8 = 0x33;
    /// Read device feature bits.
    pub const READ_FEAT: u8 = 0x12;
    /// Write driver feature bits.
    pub const WRITE_FEAT: u8 = 0x11;
    /// Read the configuration space.
    pub const READ_CONF: u8 = 0x22;
    /// Write the configuration space.
    pub const WRITE_CONF: u8 = 0x21;
    /// Write the device status.
    pub const WRITE_STATUS: u8 = 0x31;
    /// Read a virtqueue's maximum size.
    pub const READ_VQ_CONF: u8 = 0x32;
    /// Set the queue indicators.
    pub const SET_IND: u8 = 0x43;
    /// Set the configuration-change indicators.
    pub const SET_CONF_IND: u8 = 0x53;
    /// Read the device status (revision 2).
    pub const READ_STATUS: u8 = 0x72;
    /// Set up adapter interruptions (not offered).
    pub const SET_IND_ADAPTER: u8 = 0x73;
    /// Negotiate the transport revision.
    pub const SET_VIRTIO_REV: u8 = 0x83;
}

/// Device status bits (§2.1).
pub mod status {
    /// The driver accepted the features.
    pub const FEATURES_OK: u8 = 8;
    /// The driver is ready.
    pub const DRIVER_OK: u8 = 4;
    /// The device met an error it cannot recover from.
    pub const NEEDS_RESET: u8 = 0x40;
}

/// `VIRTIO_F_VERSION_1`: a virtio 1 device (little-endian rings).
pub const F_VERSION_1: u64 = 1 << 32;

/// The highest transport revision offered (2: READ_STATUS).
const MAX_REVISION: u16 = 2;

/// DIAGNOSE X'500' answers this (as a 64-bit two's complement) for a
/// notification of no such device or queue: `-EINVAL`.
pub const NOTIFY_INVALID: u64 = -22i64 as u64;

/// SENSE ID's data of a virtio device: control-unit type 0x3832, model =
/// the device ID; device type and model 0; no command-information words.
fn sense_id(device_id: u8) -> [u8; SENSE_ID_LEN] {
    let mut id = [0u8; SENSE_ID_LEN];
    id[0] = 0xFF;
    id[1..3].copy_from_slice(&CU_TYPE.to_be_bytes());
    id[3] = device_id;
    id
}

/// A virtio-ccw device without a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioCcw {
    /// The virtio device ID (the control-unit model in SENSE ID).
    pub device_id: u8,
}

impl VirtioCcw {
    /// `virtio-net-ccw`.
    pub const fn net() -> Self {
        Self {
            device_id: DEVICE_ID_NET,
        }
    }
}

impl Device for VirtioCcw {
    fn sense_id(&self) -> [u8; SENSE_ID_LEN] {
        sense_id(self.device_id)
    }

    fn command(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> Outcome {
        let _ = (ccw, data);
        Outcome::Reject
    }
}

/// A virtio device function behind the transport: what is specific to the
/// device type.
pub trait Function: core::fmt::Debug + Send {
    /// The virtio device ID.
    fn device_id(&self) -> u8;
    /// The device-type feature bits offered (the transport adds
    /// [`F_VERSION_1`]).
    fn features(&self) -> u64;
    /// The configuration space (its fields little-endian).
    fn config(&self) -> Vec<u8>;
    /// The largest size of each of its queues.
    fn queue_sizes(&self) -> &[u16];
    /// Serves one request of queue `queue`: answers how many bytes it wrote
    /// into the chain's device-writable buffers.
    fn serve(
        &mut self,
        storage: &mut dyn Storage,
        queue: usize,
        chain: &Chain,
    ) -> Result<u32, RingError>;
    /// Told that the driver made queue `queue` unusable by `error` (the
    /// device now needs a reset, virtio 1.2 §2.1.2): the guest learns it
    /// from the device status; the function tells its host side, whose
    /// user would otherwise not know why the device stopped.
    fn broken(&mut self, queue: usize, error: &RingError);
}

/// The virtio-ccw transport of a [`Function`].
#[derive(Debug)]
pub struct Transport<F> {
    function: F,
    /// The revision negotiated (`None` until SET_VIRTIO_REV).
    revision: Option<u16>,
    status: u8,
    driver_features: u64,
    queues: Vec<Option<Queue>>,
    /// The classic queue indicators (a doubleword, bit n for queue n).
    indicators: Option<u64>,
    /// The configuration-change indicators (bit 0).
    config_indicators: Option<u64>,
}

impl<F: Function> Transport<F> {
    /// The transport of `function`, reset.
    pub fn new(function: F) -> Self {
        let queues = function.queue_sizes().iter().map(|_| None).collect();
        Self {
            function,
            revision: None,
            status: 0,
            driver_features: 0,
            queues,
            indicators: None,
            config_indicators: None,
        }
    }

    /// The features offered.
    fn offered(&self) -> u64 {
        self.function.features() | F_VERSION_1
    }

    /// The device reset (§2.4): status, features, queues and indicators.
    fn reset(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        self.queues.iter_mut().for_each(|q| *q = None);
        self.indicators = None;
        self.config_indicators = None;
    }

    /// The driver's status write (§2.1, §3.1.1): FEATURES_OK only for
    /// features offered that include VERSION_1, DRIVER_OK only after it;
    /// zero resets.
    fn write_status(&mut self, new: u8) -> Outcome {
        if new == 0 {
            self.reset();
            return Outcome::Done;
        }
        let acceptable =
            self.driver_features & !self.offered() == 0 && self.driver_features & F_VERSION_1 != 0;
        if new & status::FEATURES_OK != 0 && !acceptable {
            return Outcome::Reject;
        }
        if new & status::DRIVER_OK != 0 && new & status::FEATURES_OK == 0 {
            return Outcome::Reject;
        }
        self.status = new | (self.status & status::NEEDS_RESET);
        Outcome::Done
    }

    /// CCW_CMD_SET_VQ of revision 1: descriptor table, index, size,
    /// available and used rings; a zero table disables the queue.
    fn set_vq(&mut self, info: &[u8; 32]) -> Outcome {
        let desc = be64(info, 0);
        let index = usize::from(be16(info, 12));
        let size = be16(info, 14);
        let rings = Rings {
            desc,
            avail: be64(info, 16),
            used: be64(info, 24),
            size,
        };
        let Some(max) = self.function.queue_sizes().get(index).copied() else {
            return program_check();
        };
        if desc == 0 {
            self.queues[index] = None;
            return Outcome::Done;
        }
        if size > max || !rings.valid() {
            return program_check();
        }
        self.queues[index] = Some(Queue::new(rings));
        Outcome::Done
    }

    /// Serves the chains queue `queue` made available; answers whether an
    /// interruption is wanted (`None`: no such queue). An error in the
    /// queue makes the device need a reset and raises the
    /// configuration-change indicator.
    fn serve(&mut self, storage: &mut dyn Storage, queue: usize) -> Option<bool> {
        // A queue the driver has not set up has nothing to serve (QEMU
        // answers its notification as that of a queue set up and empty).
        let Some(q) = *self.queues.get(queue)? else {
            return Some(false);
        };
        if self.status & status::DRIVER_OK == 0 || self.status & status::NEEDS_RESET != 0 {
            return Some(false);
        }
        match self.serve_queue(storage, queue, q) {
            Ok(false) => Some(false),
            Ok(true) => Some(self.indicate(storage, self.indicators, 1 << queue)),
            Err(error) => {
                self.function.broken(queue, &error);
                self.status |= status::NEEDS_RESET;
                Some(self.indicate(storage, self.config_indicators, 1))
            }
        }
    }

    /// Takes every chain the driver made available when notified (at most
    /// a queue's worth: the available index was read once), serves it and
    /// returns it; answers whether the driver wants an interruption for
    /// them.
    fn serve_queue(
        &mut self,
        storage: &mut dyn Storage,
        index: usize,
        mut queue: Queue,
    ) -> Result<bool, RingError> {
        let mut served = 0;
        let result = loop {
            if served == queue.rings.size {
                break Ok(());
            }
            let chain = match queue.pop(storage) {
                Ok(Some(chain)) => chain,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let written = match self.function.serve(storage, index, &chain) {
                Ok(written) => written,
                Err(e) => break Err(e),
            };
            if let Err(e) = queue.push(storage, chain.head, written) {
                break Err(e);
            }
            served += 1;
        };
        self.queues[index] = Some(queue);
        result?;
        Ok(served > 0 && queue.wants_interruption(storage)?)
    }

    /// ORs `bits` into the indicator doubleword at `at`, interlocked (the
    /// driver clears its bits with interlocked updates); answers whether
    /// there is an indicator to interrupt for.
    fn indicate(&mut self, storage: &mut dyn Storage, at: Option<u64>, bits: u64) -> bool {
        let Some(at) = at else {
            return false;
        };
        let address = zmmu_mmu::addr::AbsoluteAddress::new(at);
        storage
            .interlocked(address, 8, &mut |old| Some(old | u128::from(bits)))
            .is_some()
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(v)
}

fn program_check() -> Outcome {
    Outcome::Check(ChannelCheck::Program)
}

/// SLI without data chaining: a count longer than the command's data is
/// allowed (QEMU's `check_len` false).
fn longer_allowed(c: &Ccw) -> bool {
    c.flags & ccw::SLI != 0 && c.flags & ccw::DC == 0
}

/// Whether a command's count fits data of `len` bytes: equal, or at least
/// where [`longer_allowed`].
fn fits(c: &Ccw, len: usize) -> bool {
    let count = usize::from(c.count);
    if longer_allowed(c) {
        count >= len
    } else {
        count == len
    }
}

/// Reads exactly `N` bytes of a command's data (its count checked by
/// [`fits`]).
fn take<const N: usize>(c: &Ccw, data: &mut DataStream<'_>) -> Result<[u8; N], Outcome> {
    if !fits(c, N) {
        return Err(program_check());
    }
    let mut b = [0u8; N];
    data.read(&mut b).map_err(Outcome::Check)?;
    Ok(b)
}

/// Writes `bytes` as a command's input (its count checked by [`fits`]).
fn give(c: &Ccw, data: &mut DataStream<'_>, bytes: &[u8]) -> Outcome {
    if !fits(c, bytes.len()) {
        return program_check();
    }
    match data.write(bytes) {
        Ok(_) => Outcome::Done,
        Err(check) => Outcome::Check(check),
    }
}

/// Ends a command carried out on data read by [`take`].
fn done(result: Result<Outcome, Outcome>) -> Outcome {
    result.unwrap_or_else(|outcome| outcome)
}

impl<F: Function> Device for Transport<F> {
    fn sense_id(&self) -> [u8; SENSE_ID_LEN] {
        sense_id(self.function.device_id())
    }

    fn command(&mut self, c: &Ccw, data: &mut DataStream<'_>) -> Outcome {
        let Some(revision) = self.revision else {
            if c.command != command::SET_VIRTIO_REV {
                return Outcome::Reject;
            }
            return done(take::<4>(c, data).map(|rev| {
                let revision = be16(&rev, 0);
                if revision == 0 || revision > MAX_REVISION || be16(&rev, 2) != 0 {
                    return Outcome::Reject;
                }
                self.revision = Some(revision);
                Outcome::Done
            }));
        };
        match c.command {
            command::SET_VIRTIO_REV => Outcome::Reject,
            command::VDEV_RESET => {
                self.reset();
                Outcome::Done
            }
            command::READ_FEAT => done(take::<5>(c, data).map(|feat| {
                let word = match feat[4] {
                    0 => self.offered() as u32,
                    1 => (self.offered() >> 32) as u32,
                    _ => 0,
                };
                data.rewind();
                let mut out = [0u8; 5];
                out[..4].copy_from_slice(&word.to_le_bytes());
                out[4] = feat[4];
                give(c, data, &out)
            })),
            command::WRITE_FEAT => done(take::<5>(c, data).map(|feat| {
                let word = u64::from(u32::from_le_bytes([feat[0], feat[1], feat[2], feat[3]]));
                match feat[4] {
                    0 => self.driver_features = self.driver_features & !0xFFFF_FFFF | word,
                    1 => self.driver_features = self.driver_features & 0xFFFF_FFFF | word << 32,
                    _ => {}
                }
                Outcome::Done
            })),
            command::READ_CONF | command::WRITE_CONF => {
                let config = self.function.config();
                let count = usize::from(c.count);
                if count > config.len() && !longer_allowed(c) {
                    return program_check();
                }
                let n = count.min(config.len());
                let moved = if c.command == command::READ_CONF {
                    data.write(&config[..n])
                } else {
                    // No field of the configuration spaces offered is
                    // writable: the bytes are taken and change nothing.
                    let mut sink = alloc::vec![0u8; n];
                    data.read(&mut sink)
                };
                match moved {
                    Ok(_) => Outcome::Done,
                    Err(check) => Outcome::Check(check),
                }
            }
            command::WRITE_STATUS => done(take::<1>(c, data).map(|s| self.write_status(s[0]))),
            command::READ_STATUS if revision >= 2 => give(c, data, &[self.status]),
            command::SET_VQ => done(take::<32>(c, data).map(|info| self.set_vq(&info))),
            command::SET_IND => done(take::<8>(c, data).map(|at| {
                self.indicators = Some(be64(&at, 0));
                Outcome::Done
            })),
            command::SET_CONF_IND => done(take::<8>(c, data).map(|at| {
                self.config_indicators = Some(be64(&at, 0));
                Outcome::Done
            })),
            command::READ_VQ_CONF => done(take::<4>(c, data).map(|vq| {
                let index = usize::from(be16(&vq, 0));
                let size = self.function.queue_sizes().get(index).copied().unwrap_or(0);
                data.rewind();
                let mut out = [0u8; 4];
                out[..2].copy_from_slice(&vq[..2]);
                out[2..].copy_from_slice(&size.to_be_bytes());
                give(c, data, &out)
            })),
            _ => Outcome::Reject,
        }
    }

    fn notify(&mut self, storage: &mut dyn Storage, queue: u16) -> Option<bool> {
        self.serve(storage, usize::from(queue))
    }
}
