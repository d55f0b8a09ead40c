//! A split virtqueue (virtio 1.2 §2.7 "Split Virtqueues"): the driver's
//! descriptor table, available ring and used ring in guest absolute
//! storage, read and written by the device through [`Storage`], all
//! fields little-endian (a virtio 1 device). Everything in them is the
//! guest's and untrusted: an available index that moved by more than the
//! queue holds, a descriptor index outside the table, a chain longer than
//! the queue (a loop), an indirect descriptor (not negotiated), a
//! device-readable buffer after a device-writable one, or any of it
//! outside storage is a [`RingError`] naming what and where, never a
//! panic or a hang.

use alloc::vec::Vec;
use core::fmt;

use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Descriptor flag: the chain goes on at `next`.
const DESC_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device-writable.
const DESC_WRITE: u16 = 2;
/// Descriptor flag: the buffer holds a table of descriptors.
const DESC_INDIRECT: u16 = 4;
/// Available-ring flag: the driver wants no interruption
/// (`VIRTQ_AVAIL_F_NO_INTERRUPT`).
const AVAIL_NO_INTERRUPT: u16 = 1;

/// A descriptor is 16 bytes: address, length, flags, next.
const DESC_LEN: u64 = 16;

/// How a queue's rings are placed, as the driver set them up (virtio-ccw's
/// `CCW_CMD_SET_VQ`): the alignments are the specification's (§2.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rings {
    /// The descriptor table (16-byte aligned).
    pub desc: u64,
    /// The available ring (2-byte aligned).
    pub avail: u64,
    /// The used ring (4-byte aligned).
    pub used: u64,
    /// The number of entries of each.
    pub size: u16,
}

impl Rings {
    /// Whether the addresses have the alignments §2.7 requires and the size
    /// is not zero.
    pub const fn valid(&self) -> bool {
        self.size != 0 && self.desc % 16 == 0 && self.avail % 2 == 0 && self.used % 4 == 0
    }
}

/// One buffer of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Its absolute address.
    pub address: u64,
    /// Its length in bytes.
    pub len: u32,
    /// The device writes it (else reads it).
    pub writable: bool,
}

/// A chain of descriptors the driver made available: its device-readable
/// buffers, then its device-writable ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The index of its first descriptor (what the used ring returns).
    pub head: u16,
    /// Its buffers in order.
    pub buffers: Vec<Buffer>,
}

impl Chain {
    /// The device-readable buffers.
    pub fn readable(&self) -> impl Iterator<Item = &Buffer> {
        self.buffers.iter().filter(|b| !b.writable)
    }

    /// The device-writable buffers.
    pub fn writable(&self) -> impl Iterator<Item = &Buffer> {
        self.buffers.iter().filter(|b| b.writable)
    }
}

/// What made a queue unusable (the device then needs a reset, §2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// A ring, a descriptor or a buffer lies (partly) outside storage.
    Outside {
        /// Its first byte.
        address: u64,
        /// Its length.
        len: u64,
    },
    /// The available index moved by more than the queue holds.
    AvailIndex {
        /// The index the driver published.
        index: u16,
        /// The next entry the device would take.
        next: u16,
    },
    /// A descriptor index at or beyond the queue size.
    Descriptor {
        /// The index.
        index: u16,
    },
    /// A chain longer than the queue: a loop.
    Loop {
        /// Its head.
        head: u16,
    },
    /// An indirect descriptor, which the device did not offer.
    Indirect {
        /// The descriptor.
        index: u16,
    },
    /// A device-readable buffer after a device-writable one.
    Order {
        /// The descriptor.
        index: u16,
    },
    /// A request without the parts its device needs (a virtio-blk request
    /// without its header or status byte).
    Request {
        /// The chain's head.
        head: u16,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Outside { address, len } => {
                write!(f, "{len} bytes at {address:#x} are outside storage")
            }
            Self::AvailIndex { index, next } => write!(
                f,
                "the available index {index} is more than a queue ahead of {next}"
            ),
            Self::Descriptor { index } => write!(f, "descriptor {index} is outside the queue"),
            Self::Loop { head } => write!(f, "the chain at descriptor {head} loops"),
            Self::Indirect { index } => write!(
                f,
                "descriptor {index} is indirect, which the device did not offer"
            ),
            Self::Order { index } => write!(
                f,
                "descriptor {index} is device-readable after a device-writable one"
            ),
            Self::Request { head } => write!(
                f,
                "the request at descriptor {head} lacks its header or status byte"
            ),
        }
    }
}

fn read(storage: &dyn Storage, address: u64, buf: &mut [u8]) -> Result<(), RingError> {
    let outside = RingError::Outside {
        address,
        len: buf.len() as u64,
    };
    if address.checked_add(buf.len() as u64).is_none() {
        return Err(outside);
    }
    storage
        .read(AbsoluteAddress::new(address), buf)
        .ok_or(outside)
}

fn write(storage: &mut dyn Storage, address: u64, data: &[u8]) -> Result<(), RingError> {
    let outside = RingError::Outside {
        address,
        len: data.len() as u64,
    };
    if address.checked_add(data.len() as u64).is_none() {
        return Err(outside);
    }
    storage
        .write(AbsoluteAddress::new(address), data)
        .ok_or(outside)
}

fn read_le16(storage: &dyn Storage, address: u64) -> Result<u16, RingError> {
    let mut b = [0u8; 2];
    read(storage, address, &mut b)?;
    Ok(u16::from_le_bytes(b))
}

/// A queue the device serves: where its rings are and how far the device
/// got in them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    /// Its rings.
    pub rings: Rings,
    next_avail: u16,
    next_used: u16,
}

impl Queue {
    /// A queue over `rings`, nothing taken or returned yet.
    pub const fn new(rings: Rings) -> Self {
        Self {
            rings,
            next_avail: 0,
            next_used: 0,
        }
    }

    /// The next chain the driver made available, if any (§2.7.13).
    pub fn pop(&mut self, storage: &dyn Storage) -> Result<Option<Chain>, RingError> {
        let r = self.rings;
        let index = read_le16(storage, r.avail + 2)?;
        let waiting = index.wrapping_sub(self.next_avail);
        if waiting == 0 {
            return Ok(None);
        }
        if waiting > r.size {
            return Err(RingError::AvailIndex {
                index,
                next: self.next_avail,
            });
        }
        let slot = u64::from(self.next_avail % r.size);
        let head = read_le16(storage, r.avail + 4 + 2 * slot)?;
        let chain = self.chain(storage, head)?;
        self.next_avail = self.next_avail.wrapping_add(1);
        Ok(Some(chain))
    }

    /// The chain starting at descriptor `head` (§2.7.5).
    fn chain(&self, storage: &dyn Storage, head: u16) -> Result<Chain, RingError> {
        let mut buffers = Vec::new();
        let mut index = head;
        let mut writing = false;
        loop {
            if index >= self.rings.size {
                return Err(RingError::Descriptor { index });
            }
            if buffers.len() >= usize::from(self.rings.size) {
                return Err(RingError::Loop { head });
            }
            let mut d = [0u8; DESC_LEN as usize];
            read(
                storage,
                self.rings.desc + DESC_LEN * u64::from(index),
                &mut d,
            )?;
            let address = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
            let len = u32::from_le_bytes([d[8], d[9], d[10], d[11]]);
            let flags = u16::from_le_bytes([d[12], d[13]]);
            let next = u16::from_le_bytes([d[14], d[15]]);
            if flags & DESC_INDIRECT != 0 {
                return Err(RingError::Indirect { index });
            }
            let writable = flags & DESC_WRITE != 0;
            if writing && !writable {
                return Err(RingError::Order { index });
            }
            writing |= writable;
            buffers.push(Buffer {
                address,
                len,
                writable,
            });
            if flags & DESC_NEXT == 0 {
                return Ok(Chain { head, buffers });
            }
            index = next;
        }
    }

    /// Returns the chain at `head` to the driver with `written` bytes
    /// written into its device-writable buffers: the used element, then
    /// the used index (§2.7.14).
    pub fn push(
        &mut self,
        storage: &mut dyn Storage,
        head: u16,
        written: u32,
    ) -> Result<(), RingError> {
        let r = self.rings;
        let slot = u64::from(self.next_used % r.size);
        let mut element = [0u8; 8];
        element[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        element[4..].copy_from_slice(&written.to_le_bytes());
        write(storage, r.used + 4 + 8 * slot, &element)?;
        self.next_used = self.next_used.wrapping_add(1);
        write(storage, r.used + 2, &self.next_used.to_le_bytes())
    }

    /// Whether the driver wants an interruption for the chains returned
    /// (no `VIRTQ_AVAIL_F_NO_INTERRUPT`, §2.7.10).
    pub fn wants_interruption(&self, storage: &dyn Storage) -> Result<bool, RingError> {
        Ok(read_le16(storage, self.rings.avail)? & AVAIL_NO_INTERRUPT == 0)
    }
}

/// The pieces that bytes `skip..skip + len` of the data the `buffers`
/// hold (in order, as one stream) lie in: each piece's absolute address,
/// its offset in those bytes and its length; fewer bytes than `len` when
/// the buffers hold fewer.
fn pieces<'a>(
    buffers: impl Iterator<Item = &'a Buffer>,
    mut skip: u64,
    len: usize,
) -> Result<Vec<(u64, usize, usize)>, RingError> {
    let mut pieces = Vec::new();
    let mut done = 0;
    for b in buffers {
        if done == len {
            break;
        }
        let size = u64::from(b.len);
        if skip >= size {
            skip -= size;
            continue;
        }
        let n = (size - skip).min((len - done) as u64) as usize;
        let address = b.address.checked_add(skip).ok_or(RingError::Outside {
            address: b.address,
            len: size,
        })?;
        pieces.push((address, done, n));
        done += n;
        skip = 0;
    }
    Ok(pieces)
}

/// Copies bytes `skip..skip + out.len()` of the data the `buffers` hold
/// into `out`; `false` when they hold fewer.
pub fn gather<'a>(
    storage: &dyn Storage,
    buffers: impl Iterator<Item = &'a Buffer>,
    skip: u64,
    out: &mut [u8],
) -> Result<bool, RingError> {
    let mut done = 0;
    for (address, at, n) in pieces(buffers, skip, out.len())? {
        read(storage, address, &mut out[at..at + n])?;
        done += n;
    }
    Ok(done == out.len())
}

/// Copies `data` into the `buffers` (in order, as one stream) from byte
/// `skip` on; `false` when they hold fewer bytes.
pub fn scatter<'a>(
    storage: &mut dyn Storage,
    buffers: impl Iterator<Item = &'a Buffer>,
    skip: u64,
    data: &[u8],
) -> Result<bool, RingError> {
    let mut done = 0;
    for (address, at, n) in pieces(buffers, skip, data.len())? {
        write(storage, address, &data[at..at + n])?;
        done += n;
    }
    Ok(done == data.len())
}

/// The total length of `buffers`.
pub fn total<'a>(buffers: impl Iterator<Item = &'a Buffer>) -> u64 {
    buffers.map(|b| u64::from(b.len)).sum()
}
