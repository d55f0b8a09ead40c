//! The virtio block device (virtio 1.2 §5.2 "Block Device") over a disk
//! image the host provides ([`BlockBackend`]): one request queue of
//! [`QUEUE_SIZE`] entries; reads, writes, flushes and the device ID;
//! features `VIRTIO_BLK_F_FLUSH`, and `VIRTIO_BLK_F_RO` for a read-only
//! image. The capacity is the image's length in 512-byte sectors (a tail
//! shorter than a sector is not reachable, as under QEMU).
//!
//! A request is a 16-byte header (type, reserved, sector) in the
//! device-readable buffers, then the data, then a status byte as the last
//! device-writable byte (§5.2.6). What the driver may get wrong in a
//! well-formed chain is answered in the status byte, as QEMU answers it: a
//! length that is not a multiple of 512 or a range beyond the capacity is
//! `VIRTIO_BLK_S_IOERR`, so is a write to a read-only image and a failure
//! of the host's image; an unknown type is `VIRTIO_BLK_S_UNSUPP`. A chain
//! without room for the header or the status byte is a [`RingError`]: the
//! device then needs a reset.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use zmmu_mmu::storage::Storage;

use crate::virtio_ccw::Function;
use crate::virtqueue::{gather, scatter, total, Chain, RingError};

/// The virtio device ID of a block device.
pub const DEVICE_ID_BLOCK: u8 = 2;

/// The size of a sector, the unit of the capacity and of request offsets.
pub const SECTOR: u64 = 512;

/// The entries of the request queue.
pub const QUEUE_SIZE: u16 = 128;

/// `VIRTIO_BLK_F_RO`: the device is read-only.
pub const F_RO: u64 = 1 << 5;
/// `VIRTIO_BLK_F_FLUSH`: the device takes flush requests.
pub const F_FLUSH: u64 = 1 << 9;

/// Request types (§5.2.6).
pub mod request {
    /// Read.
    pub const IN: u32 = 0;
    /// Write.
    pub const OUT: u32 = 1;
    /// Flush the image to stable storage.
    pub const FLUSH: u32 = 4;
    /// The device ID string (20 bytes).
    pub const GET_ID: u32 = 8;
}

/// Request status bytes (§5.2.6).
pub mod status {
    /// Done.
    pub const OK: u8 = 0;
    /// The request failed.
    pub const IOERR: u8 = 1;
    /// Not a request this device takes.
    pub const UNSUPP: u8 = 2;
}

/// The length of the device ID string (`VIRTIO_BLK_ID_BYTES`).
pub const ID_LEN: usize = 20;

/// The largest piece moved between the image and storage at once.
const CHUNK: u64 = 64 * 1024;

/// A failure of the host's image; the backend reports its details to the
/// user itself, the guest sees `VIRTIO_BLK_S_IOERR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendError;

/// The disk image behind a block device: the host's (a file for `zmmu
/// run --drive`).
pub trait BlockBackend: core::fmt::Debug + Send {
    /// Its size in bytes.
    fn size(&self) -> u64;
    /// Whether it refuses writes.
    fn read_only(&self) -> bool;
    /// Fills `buf` from byte `offset` on (within [`BlockBackend::size`]).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BackendError>;
    /// Writes `data` from byte `offset` on (within [`BlockBackend::size`]).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError>;
    /// Makes every write so far durable.
    fn flush(&mut self) -> Result<(), BackendError>;
    /// Told that the driver corrupted queue `queue` (see
    /// [`Function::broken`]).
    fn broken(&mut self, queue: usize, error: &RingError);
}

/// A virtio block device over `backend`.
#[derive(Debug)]
pub struct Block {
    backend: Box<dyn BlockBackend>,
    /// The device ID string, zero-padded, and its length.
    id: ([u8; ID_LEN], usize),
}

impl Block {
    /// A block device over `backend`, whose device ID string (QEMU's
    /// `serial`) is `id`, truncated to [`ID_LEN`] bytes.
    pub fn new(backend: Box<dyn BlockBackend>, id: &str) -> Self {
        let mut bytes = [0u8; ID_LEN];
        let n = id.len().min(ID_LEN);
        bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
        Self {
            backend,
            id: (bytes, n),
        }
    }

    /// The capacity in sectors.
    pub fn capacity(&self) -> u64 {
        self.backend.size() / SECTOR
    }

    /// The byte range of a read or write of `len` bytes at `sector`, if it
    /// is whole sectors within the capacity.
    fn range(&self, sector: u64, len: u64) -> Option<u64> {
        let offset = sector.checked_mul(SECTOR)?;
        let end = offset.checked_add(len)?;
        (len % SECTOR == 0 && end <= self.capacity() * SECTOR).then_some(offset)
    }

    /// A read of the writable buffers' bytes but the status byte: answers
    /// the status and the data bytes written.
    fn read(
        &mut self,
        storage: &mut dyn Storage,
        chain: &Chain,
        sector: u64,
        len: u64,
    ) -> Result<(u8, u64), RingError> {
        let Some(offset) = self.range(sector, len) else {
            return Ok((status::IOERR, 0));
        };
        let mut buf = vec![0u8; CHUNK.min(len) as usize];
        let mut done = 0;
        while done < len {
            let n = CHUNK.min(len - done) as usize;
            if self.backend.read_at(offset + done, &mut buf[..n]).is_err() {
                return Ok((status::IOERR, done));
            }
            scatter(storage, chain.writable(), done, &buf[..n])?;
            done += n as u64;
        }
        Ok((status::OK, len))
    }

    /// A write of the readable buffers' bytes after the header.
    fn write(
        &mut self,
        storage: &mut dyn Storage,
        chain: &Chain,
        sector: u64,
        len: u64,
    ) -> Result<u8, RingError> {
        let Some(offset) = self.range(sector, len) else {
            return Ok(status::IOERR);
        };
        if self.backend.read_only() {
            return Ok(status::IOERR);
        }
        let mut buf = vec![0u8; CHUNK.min(len) as usize];
        let mut done = 0;
        while done < len {
            let n = CHUNK.min(len - done) as usize;
            gather(storage, chain.readable(), HEADER_LEN + done, &mut buf[..n])?;
            if self.backend.write_at(offset + done, &buf[..n]).is_err() {
                return Ok(status::IOERR);
            }
            done += n as u64;
        }
        Ok(status::OK)
    }
}

/// The request header's length.
const HEADER_LEN: u64 = 16;

impl Function for Block {
    fn device_id(&self) -> u8 {
        DEVICE_ID_BLOCK
    }

    fn features(&self) -> u64 {
        F_FLUSH | if self.backend.read_only() { F_RO } else { 0 }
    }

    /// `struct virtio_blk_config` up to its capacity: no field beyond it
    /// is offered.
    fn config(&self) -> Vec<u8> {
        self.capacity().to_le_bytes().to_vec()
    }

    fn queue_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn broken(&mut self, queue: usize, error: &RingError) {
        self.backend.broken(queue, error);
    }

    fn serve(
        &mut self,
        storage: &mut dyn Storage,
        queue: usize,
        chain: &Chain,
    ) -> Result<u32, RingError> {
        let _ = queue;
        let malformed = RingError::Request { head: chain.head };
        let mut header = [0u8; HEADER_LEN as usize];
        let writable = total(chain.writable());
        if writable == 0 || !gather(storage, chain.readable(), 0, &mut header)? {
            return Err(malformed);
        }
        let kind = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let mut sector = [0u8; 8];
        sector.copy_from_slice(&header[8..]);
        let sector = u64::from_le_bytes(sector);
        let data_in = writable - 1;
        let (status, written) = match kind {
            request::IN => self.read(storage, chain, sector, data_in)?,
            request::OUT => {
                let len = total(chain.readable()) - HEADER_LEN;
                (self.write(storage, chain, sector, len)?, 0)
            }
            request::FLUSH => match self.backend.flush() {
                Ok(()) => (status::OK, 0),
                Err(BackendError) => (status::IOERR, 0),
            },
            request::GET_ID => {
                // The string and its terminating zero, as far as 20 bytes
                // and the buffers go (QEMU's answer).
                let (id, len) = self.id;
                let n = data_in.min((len + 1).min(ID_LEN) as u64);
                scatter(storage, chain.writable(), 0, &id[..n as usize])?;
                (status::OK, n)
            }
            _ => (status::UNSUPP, 0),
        };
        scatter(storage, chain.writable(), data_in, &[status])?;
        // Below 2^32: a chain has at most QUEUE_SIZE buffers of at most
        // 2^32 - 1 bytes each, and the device reports what fits.
        Ok(u32::try_from(written + 1).unwrap_or(u32::MAX))
    }
}
