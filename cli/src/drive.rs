//! `zmmu run --drive`: a raw disk image file as a virtio block device on
//! the channel subsystem ([`zmmu_machine::virtio_blk`]), as QEMU's `-drive
//! file=FILE,format=raw,if=none,id=d0 -device virtio-blk-ccw,drive=d0`
//! makes one. The guest's reads and writes go to the file at once; a
//! flush request syncs it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use zmmu_machine::virtio_blk::{BackendError, BlockBackend};
use zmmu_machine::virtqueue::RingError;
use zmmu_machine::Machine;

/// A `--drive` option: the image and how to attach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drive {
    /// The image file.
    pub path: PathBuf,
    /// The guest may only read it (`VIRTIO_BLK_F_RO`; the file is opened
    /// read-only).
    pub read_only: bool,
    /// The device ID string the guest reads (QEMU's `serial`, at most 20
    /// bytes); empty by default, as QEMU's.
    pub serial: String,
}

/// Parses `FILE` or `file=FILE[,readonly=on|off][,format=raw][,serial=S]`.
pub fn parse(text: &str) -> Result<Drive, String> {
    if !text.contains('=') {
        return Ok(Drive {
            path: PathBuf::from(text),
            read_only: false,
            serial: String::new(),
        });
    }
    let mut path = None;
    let mut read_only = false;
    let mut serial = String::new();
    for property in text.split(',') {
        let (key, value) = property
            .split_once('=')
            .ok_or_else(|| format!("`{property}` in `{text}` is not KEY=VALUE"))?;
        match key {
            "file" => path = Some(PathBuf::from(value)),
            "readonly" => {
                read_only = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("readonly={value}: on or off")),
                }
            }
            "format" if value == "raw" => {}
            "format" => return Err(format!("format={value}: zmmu reads raw images only")),
            "serial" if value.len() <= zmmu_machine::virtio_blk::ID_LEN => {
                serial = value.to_string()
            }
            "serial" => return Err(format!("serial={value}: at most 20 bytes")),
            _ => {
                return Err(format!(
                    "`{key}`: a drive has the properties file, readonly, format and serial"
                ))
            }
        }
    }
    let path = path.ok_or_else(|| format!("`{text}` names no file=FILE"))?;
    Ok(Drive {
        path,
        read_only,
        serial,
    })
}

/// An image file as a block device's backend.
#[derive(Debug)]
struct Image {
    file: File,
    path: PathBuf,
    len: u64,
    read_only: bool,
}

impl Image {
    /// Tells the user what failed on the host (the guest sees an I/O
    /// error).
    fn failed(&self, what: &str, offset: u64, len: usize, e: &std::io::Error) -> BackendError {
        eprintln!(
            "zmmu: drive {}: {what} of {len} bytes at offset {offset:#x} failed: {e}\r",
            self.path.display()
        );
        BackendError
    }
}

impl BlockBackend for Image {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| self.failed("a read", offset, buf.len(), &e))
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.file
            .write_all_at(data, offset)
            .map_err(|e| self.failed("a write", offset, data.len(), &e))
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.file
            .sync_data()
            .map_err(|e| self.failed("a flush", 0, 0, &e))
    }

    /// Tells the user what the guest's driver did wrong (the device stops
    /// until the guest resets it, as virtio asks).
    fn broken(&mut self, queue: usize, error: &RingError) {
        eprintln!(
            "zmmu: drive {}: the guest corrupted queue {queue}: {error}; the device needs a reset\r",
            self.path.display()
        );
    }
}

/// Opens each drive's image and adds its device to `machine`'s channel
/// subsystem, in order (the guest's /dev/vda, /dev/vdb, ... when no other
/// virtio device comes first).
pub fn attach(machine: &mut Machine, drives: &[Drive]) -> Result<(), String> {
    for drive in drives {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(!drive.read_only)
            .open(&drive.path)
            .map_err(|e| format!("--drive {}: {e}", drive.path.display()))?;
        let metadata = file
            .metadata()
            .map_err(|e| format!("--drive {}: {e}", drive.path.display()))?;
        if metadata.is_dir() {
            return Err(format!(
                "--drive {}: a directory, not an image",
                drive.path.display()
            ));
        }
        let len = metadata.len();
        let image = Image {
            file,
            path: drive.path.clone(),
            len,
            read_only: drive.read_only,
        };
        machine.add_drive(Box::new(image), &drive.serial);
    }
    Ok(())
}
