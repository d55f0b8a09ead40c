//! Loading a bare-metal s390x ELF the way QEMU's `-kernel` does: every
//! `PT_LOAD` segment is copied to its *physical* address (`p_paddr`), the
//! bytes between its file size and memory size are zeroed, and the entry
//! point is the ELF entry.
//!
//! The file is untrusted: every field is checked (class, byte order,
//! machine, segment bounds in the file and in storage) and a refusal says
//! precisely what is wrong. Parsing uses the `object` crate's low-level ELF
//! reader, which bounds-checks every table it hands out.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::BigEndian;

/// A program image ready to be placed in storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The entry point.
    pub entry: u64,
    /// The loadable segments.
    pub segments: Vec<Segment>,
}

/// One `PT_LOAD` segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its index in the program-header table.
    pub index: usize,
    /// The physical (absolute) address it is loaded at.
    pub address: u64,
    /// Its bytes in the file.
    pub data: Vec<u8>,
    /// Its size in storage (at least `data.len()`; the rest is zeroed).
    pub memory_size: u64,
}

/// Why a file is not a loadable program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not a well-formed ELF file header.
    Header(String),
    /// Not a 64-bit big-endian s390x executable.
    NotS390x(String),
    /// The program-header table is malformed.
    ProgramHeaders(String),
    /// A segment's file bytes are outside the file.
    SegmentData {
        /// The program-header index.
        index: usize,
        /// What the reader said.
        reason: String,
    },
    /// A segment's file size exceeds its memory size.
    SegmentSizes {
        /// The program-header index.
        index: usize,
        /// `p_filesz`.
        file_size: u64,
        /// `p_memsz`.
        memory_size: u64,
    },
    /// A segment does not fit in guest storage.
    SegmentOutsideStorage {
        /// The program-header index.
        index: usize,
        /// `p_paddr`.
        address: u64,
        /// `p_memsz`.
        memory_size: u64,
        /// The storage size.
        storage: u64,
    },
    /// There is nothing to load.
    NoLoadableSegment,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(r) => write!(f, "not an ELF file: {r}"),
            Self::NotS390x(r) => write!(f, "not an s390x executable: {r}"),
            Self::ProgramHeaders(r) => write!(f, "malformed program headers: {r}"),
            Self::SegmentData { index, reason } => {
                write!(f, "segment {index}: file bytes outside the file: {reason}")
            }
            Self::SegmentSizes {
                index,
                file_size,
                memory_size,
            } => write!(
                f,
                "segment {index}: file size {file_size:#x} exceeds memory size {memory_size:#x}"
            ),
            Self::SegmentOutsideStorage {
                index,
                address,
                memory_size,
                storage,
            } => write!(
                f,
                "segment {index}: {memory_size:#x} bytes at physical address {address:#x} \
                 do not fit in {storage:#x} bytes of storage"
            ),
            Self::NoLoadableSegment => write!(f, "no PT_LOAD segment"),
        }
    }
}

impl core::error::Error for ElfError {}

/// Parses `data` as an s390x executable whose segments must fit in
/// `storage` bytes.
pub fn parse(data: &[u8], storage: u64) -> Result<Image, ElfError> {
    let header =
        elf::FileHeader64::<BigEndian>::parse(data).map_err(|e| ElfError::Header(e.to_string()))?;
    let ident = header.e_ident();
    if ident.class != elf::ELFCLASS64 {
        return Err(ElfError::NotS390x(format!(
            "ELF class {} (want 64-bit)",
            ident.class
        )));
    }
    if ident.data != elf::ELFDATA2MSB {
        return Err(ElfError::NotS390x(format!(
            "data encoding {} (want big-endian)",
            ident.data
        )));
    }
    let endian = header
        .endian()
        .map_err(|e| ElfError::Header(e.to_string()))?;
    let machine = header.e_machine(endian);
    if machine != elf::EM_S390 {
        return Err(ElfError::NotS390x(format!(
            "machine {machine} (want EM_S390, 22)"
        )));
    }
    let kind = header.e_type(endian);
    if kind != elf::ET_EXEC {
        return Err(ElfError::NotS390x(format!(
            "ELF type {kind} (want ET_EXEC)"
        )));
    }
    let headers = header
        .program_headers(endian, data)
        .map_err(|e| ElfError::ProgramHeaders(e.to_string()))?;
    let mut segments = Vec::new();
    for (index, ph) in headers.iter().enumerate() {
        if ph.p_type(endian) != elf::PT_LOAD {
            continue;
        }
        let file_size = ph.p_filesz(endian);
        let memory_size = ph.p_memsz(endian);
        if file_size > memory_size {
            return Err(ElfError::SegmentSizes {
                index,
                file_size,
                memory_size,
            });
        }
        let address = ph.p_paddr(endian);
        let fits = address
            .checked_add(memory_size)
            .is_some_and(|end| end <= storage);
        if !fits {
            return Err(ElfError::SegmentOutsideStorage {
                index,
                address,
                memory_size,
                storage,
            });
        }
        let bytes = ph.data(endian, data).map_err(|()| ElfError::SegmentData {
            index,
            reason: format!(
                "offset {:#x} + size {file_size:#x} past the end ({:#x} bytes)",
                ph.p_offset(endian),
                data.len()
            ),
        })?;
        segments.push(Segment {
            index,
            address,
            data: bytes.to_vec(),
            memory_size,
        });
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadableSegment);
    }
    Ok(Image {
        entry: header.e_entry(endian),
        segments,
    })
}
