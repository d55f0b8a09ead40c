//! Loading a program the way QEMU's `s390-ccw-virtio` machine loads
//! `-kernel` and `-initrd` (QEMU `hw/s390x/ipl.c`): an s390x ELF
//! ([`crate::elf`]), or else a raw image copied to absolute 0, such as the
//! Linux `vmlinuz` whose IPL header occupies the first 64 KiB and whose
//! code starts at [`KERNEL_START`] with the magic `S390EP` 8 bytes in.
//!
//! For a Linux image the kernel's parm area (Linux
//! `arch/s390/boot/head.S`, `struct parmarea`) tells the kernel where the
//! initrd is ([`INITRD_START_FIELD`], [`INITRD_SIZE_FIELD`]) and holds the
//! command line ([`crate::config::COMMAND_LINE_ADDRESS`], stored by
//! [`crate::Machine::start`]). The initrd goes to the first megabyte
//! boundary from [`INITRD_BASE`] on that leaves a megabyte after the
//! kernel, as QEMU places it.
//!
//! Both files are untrusted: every size and placement is checked against
//! storage, and a refusal names the file and what does not fit.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::elf::{self, ElfError, Image, Segment};

/// Where a Linux image's code starts (QEMU `KERN_IMAGE_START`).
pub const KERNEL_START: u64 = 0x1_0000;
/// Where the `S390EP` magic of a Linux image is (QEMU `LINUX_MAGIC_ADDR`).
pub const LINUX_MAGIC_ADDRESS: u64 = 0x1_0008;
/// The magic a Linux image has at [`LINUX_MAGIC_ADDRESS`].
pub const LINUX_MAGIC: &[u8; 6] = b"S390EP";
/// The entry of old Linux images (the SALIPL loader), which QEMU also
/// starts at [`KERNEL_START`].
pub const OLD_LINUX_ENTRY: u64 = 0x800;
/// The parm area's initrd start field (QEMU `INITRD_PARM_START`).
pub const INITRD_START_FIELD: u64 = 0x1_0408;
/// The parm area's initrd size field (QEMU `INITRD_PARM_SIZE`).
pub const INITRD_SIZE_FIELD: u64 = 0x1_0410;
/// The lowest address of the initrd (QEMU `INITRD_START`).
pub const INITRD_BASE: u64 = 0x80_0000;
/// The initrd's alignment and the gap QEMU leaves after the kernel.
pub const INITRD_STEP: u64 = 0x10_0000;
/// The bits of the short IPL PSW at absolute 0 that are its address.
pub const SHORT_PSW_ADDRESS: u64 = 0x7FFF_FFFF;
/// Bit 12 of a short-format (ESA/390) PSW, the format IPL loads: one.
pub const SHORT_PSW_FORMAT: u64 = 1 << (63 - 12);
/// The ELF magic.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Why a kernel or initrd cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// The kernel is an ELF file that cannot be loaded.
    Elf(ElfError),
    /// A raw image too short to hold the IPL PSW (8 bytes at absolute 0).
    NoIplPsw {
        /// The image's size.
        size: u64,
    },
    /// A raw image larger than storage.
    ImageTooLarge {
        /// The image's size.
        size: u64,
        /// The storage size.
        storage: u64,
    },
    /// A raw image without the Linux magic whose first 8 bytes are not a
    /// short-format PSW (bit 12 one), which IPL requires: not a kernel.
    NotIplPsw {
        /// The first 8 bytes.
        psw: u64,
    },
    /// The initrd does not fit between its placement and the end of
    /// storage.
    InitrdTooLarge {
        /// Where it would go.
        address: u64,
        /// Its size.
        size: u64,
        /// The storage size.
        storage: u64,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Elf(e) => write!(f, "{e}"),
            Self::NoIplPsw { size } => write!(
                f,
                "not an ELF file and, {size} bytes long, too short for a kernel image's IPL PSW (8 bytes at 0)"
            ),
            Self::NotIplPsw { psw } => write!(
                f,
                "not an ELF file nor a kernel image: no S390EP magic, and its first 8 bytes ({psw:016x}) are not a short-format IPL PSW (bit 12 is zero)"
            ),
            Self::ImageTooLarge { size, storage } => write!(
                f,
                "the kernel image's {size:#x} bytes (loaded at 0) do not fit in {storage:#x} bytes of storage"
            ),
            Self::InitrdTooLarge {
                address,
                size,
                storage,
            } => write!(
                f,
                "the initrd's {size:#x} bytes at {address:#x} do not fit in {storage:#x} bytes of storage"
            ),
        }
    }
}

impl core::error::Error for KernelError {}

impl From<ElfError> for KernelError {
    fn from(e: ElfError) -> Self {
        Self::Elf(e)
    }
}

/// Parses `kernel` (an ELF file or a raw image) and places `initrd` after
/// it, for `storage` bytes of storage, as QEMU's `-kernel` and `-initrd`:
/// the segments to place in order (the initrd's parm-area fields last,
/// over the kernel's bytes) and where the CPU starts (a Linux entry,
/// [`KERNEL_START`] or the old [`OLD_LINUX_ENTRY`], starts at
/// [`KERNEL_START`]).
pub fn parse(kernel: &[u8], initrd: Option<&[u8]>, storage: u64) -> Result<Image, KernelError> {
    let (mut image, size) = if kernel.starts_with(ELF_MAGIC) {
        let image = elf::parse(kernel, storage)?;
        // QEMU's ELF loader reports the sum of the segments' memory sizes.
        let size = image.segments.iter().map(|s| s.memory_size).sum::<u64>();
        (image, size)
    } else {
        (raw(kernel, storage)?, kernel.len() as u64)
    };
    if image.entry == OLD_LINUX_ENTRY {
        image.entry = KERNEL_START;
    }
    if let Some(initrd) = initrd {
        place_initrd(&mut image, size, initrd, storage)?;
    }
    Ok(image)
}

/// A raw image at absolute 0: a Linux image (the `S390EP` magic) starts
/// at [`KERNEL_START`], anything else at the address of its short IPL PSW
/// (bytes 4-7).
fn raw(kernel: &[u8], storage: u64) -> Result<Image, KernelError> {
    let size = kernel.len() as u64;
    let Some(psw) = kernel.get(..8) else {
        return Err(KernelError::NoIplPsw { size });
    };
    let psw = u64::from_be_bytes([
        psw[0], psw[1], psw[2], psw[3], psw[4], psw[5], psw[6], psw[7],
    ]);
    if size > storage {
        return Err(KernelError::ImageTooLarge { size, storage });
    }
    let magic_at = LINUX_MAGIC_ADDRESS as usize;
    let entry = if kernel.get(magic_at..magic_at + LINUX_MAGIC.len()) == Some(LINUX_MAGIC) {
        KERNEL_START
    } else if psw & SHORT_PSW_FORMAT != 0 {
        psw & SHORT_PSW_ADDRESS
    } else {
        return Err(KernelError::NotIplPsw { psw });
    };
    Ok(Image {
        entry,
        segments: vec![Segment {
            index: 0,
            address: 0,
            data: kernel.to_vec(),
            memory_size: size,
        }],
    })
}

/// The initrd at the first megabyte boundary from [`INITRD_BASE`] that
/// leaves [`INITRD_STEP`] after `kernel_size` bytes, and its start and
/// size in the parm area.
fn place_initrd(
    image: &mut Image,
    kernel_size: u64,
    initrd: &[u8],
    storage: u64,
) -> Result<(), KernelError> {
    let mut address = INITRD_BASE;
    while kernel_size.saturating_add(INITRD_STEP) > address {
        address += INITRD_STEP;
    }
    let size = initrd.len() as u64;
    if address.checked_add(size).is_none_or(|end| end > storage) {
        return Err(KernelError::InitrdTooLarge {
            address,
            size,
            storage,
        });
    }
    // The parm-area fields are below INITRD_BASE, so inside storage too.
    let next = image.segments.len();
    image.segments.push(Segment {
        index: next,
        address,
        data: initrd.to_vec(),
        memory_size: size,
    });
    let mut fields = Vec::with_capacity(16);
    fields.extend_from_slice(&address.to_be_bytes());
    fields.extend_from_slice(&size.to_be_bytes());
    image.segments.push(Segment {
        index: next + 1,
        address: INITRD_START_FIELD,
        data: fields,
        memory_size: 16,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Linux-like image: an IPL PSW at 0, the magic at 0x10008.
    fn linux_image(size: usize) -> Vec<u8> {
        let mut image = vec![0u8; size];
        image[..8].copy_from_slice(&[0, 8, 0, 0, 0x80, 0x01, 0, 0]);
        image[0x10008..0x1000e].copy_from_slice(LINUX_MAGIC);
        image
    }

    #[test]
    fn linux_image_starts_at_0x10000_and_loads_at_0() {
        let image = parse(&linux_image(0x2_0000), None, 1 << 24).unwrap();
        assert_eq!(image.entry, KERNEL_START);
        assert_eq!(image.segments.len(), 1);
        assert_eq!(image.segments[0].address, 0);
        assert_eq!(image.segments[0].data.len(), 0x2_0000);
    }

    #[test]
    fn other_raw_image_starts_at_its_short_ipl_psw_address() {
        let mut image = vec![0u8; 0x100];
        image[..8].copy_from_slice(&[0, 8, 0, 0, 0x80, 0, 0x20, 0x00]);
        assert_eq!(parse(&image, None, 1 << 20).unwrap().entry, 0x2000);
    }

    #[test]
    fn initrd_goes_to_8_mib_and_is_announced_in_the_parm_area() {
        let image = parse(&linux_image(0x2_0000), Some(&[1, 2, 3]), 1 << 24).unwrap();
        let initrd = &image.segments[1];
        assert_eq!(
            (initrd.address, initrd.data.as_slice()),
            (INITRD_BASE, &[1u8, 2, 3][..])
        );
        let fields = &image.segments[2];
        assert_eq!(fields.address, INITRD_START_FIELD);
        assert_eq!(fields.data[..8], INITRD_BASE.to_be_bytes());
        assert_eq!(fields.data[8..], 3u64.to_be_bytes());
    }

    #[test]
    fn initrd_leaves_a_megabyte_after_a_large_kernel() {
        // A kernel of 7.5 MiB: 8 MiB would leave half a megabyte, 9 MiB one.
        let image = parse(&linux_image(0x78_0000), Some(&[0]), 1 << 26).unwrap();
        assert_eq!(image.segments[1].address, 0x90_0000);
        let image = parse(&linux_image(0x70_0000), Some(&[0]), 1 << 26).unwrap();
        assert_eq!(image.segments[1].address, 0x80_0000);
    }

    #[test]
    fn hostile_files_are_refused_precisely() {
        assert_eq!(
            parse(&[0; 7], None, 1 << 20),
            Err(KernelError::NoIplPsw { size: 7 })
        );
        assert_eq!(
            parse(b"#!/bin/sh\n", None, 1 << 20),
            Err(KernelError::NotIplPsw {
                psw: u64::from_be_bytes(*b"#!/bin/s")
            })
        );
        assert_eq!(
            parse(&linux_image(0x2_0000), None, 0x1_0000),
            Err(KernelError::ImageTooLarge {
                size: 0x2_0000,
                storage: 0x1_0000
            })
        );
        assert_eq!(
            parse(&linux_image(0x2_0000), Some(&[0; 0x10]), 0x80_0008),
            Err(KernelError::InitrdTooLarge {
                address: INITRD_BASE,
                size: 0x10,
                storage: 0x80_0008
            })
        );
        assert!(matches!(
            parse(b"\x7fELF", None, 1 << 20),
            Err(KernelError::Elf(_))
        ));
    }
}
