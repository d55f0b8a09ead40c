//! x86-64 4-level paging as the CPU walks it for a user-mode access with
//! CR0.WP = 1 and EFER.NXE = 1: present, writable, user and no-execute
//! accumulated over the levels, page-size leaves at the PDPT (1 GiB) and
//! PD (2 MiB) levels, accessed flags on every entry used and the dirty flag
//! on the leaf of a store. The tables are in guest-physical memory, so
//! every entry fetch goes through the EPT first: a two-dimensional walk.
//!
//! Entries are plain `u64` words in memory; their flag bits are the `x86_64`
//! crate's [`PageTableFlags`] (Intel SDM Vol. 3A, 4.5, Tables 4-15 to 4-20;
//! AMD APM Vol. 2, 5.4).

use x86_64::structures::paging::PageTableFlags;
use zmmu_mmu::host::{HostAccessKind, HostPageSize};

use crate::ept::{index, level_bytes, Ept};
use crate::memory::{HostPhysicalMemory, Hpa};

/// The page-fault error code pushed on `#PF` (Intel SDM Vol. 3A, 4.7
/// "Page-Fault Exceptions", Figure 4-12).
pub use x86_64::structures::idt::PageFaultErrorCode;

/// The address field of an entry (the next table's or the frame's address):
/// bits 51:12, every bit that is not a flag (a 52-bit MAXPHYADDR).
pub const ADDRESS: u64 = !PageTableFlags::all().bits();

/// The flags of an entry read from memory (everything but [`ADDRESS`]).
#[inline]
pub(crate) const fn flags(entry: u64) -> PageTableFlags {
    PageTableFlags::from_bits_truncate(entry)
}

/// The kind of a simulated access: the core's two, plus instruction fetches
/// so that no-execute can be shown to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl From<HostAccessKind> for Kind {
    fn from(kind: HostAccessKind) -> Self {
        match kind {
            HostAccessKind::Read => Self::Read,
            HostAccessKind::Write => Self::Write,
        }
    }
}

/// What a walk ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The guest-physical address of the page (of `size`).
    pub gpa: u64,
    /// The host-physical address the page's first byte maps to.
    pub hpa: Hpa,
    /// The page size.
    pub size: HostPageSize,
    /// Writable at every level.
    pub writable: bool,
    /// No-execute at some level.
    pub nx: bool,
    /// The leaf's dirty flag after the walk.
    pub dirty: bool,
}

/// Why a walk failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// A page fault with this x86 error code.
    PageFault(PageFaultErrorCode),
    /// The EPT does not map a guest-physical address the walk needed.
    EptViolation(u64),
}

impl core::fmt::Display for WalkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::PageFault(code) => write!(f, "page fault (error code {code:?})"),
            Self::EptViolation(gpa) => {
                write!(f, "EPT violation at guest-physical {gpa:#x}")
            }
        }
    }
}

impl std::error::Error for WalkError {}

/// Walks the tables at guest-physical `cr3` for a user-mode access of `kind`
/// at `va`, counting every entry read (guest and EPT) in `references`.
pub fn walk(
    memory: &mut HostPhysicalMemory,
    ept: &Ept,
    cr3: u64,
    va: u64,
    kind: Kind,
    references: &mut u32,
) -> Result<Translation, WalkError> {
    let code = PageFaultErrorCode::USER_MODE
        | match kind {
            Kind::Write => PageFaultErrorCode::CAUSED_BY_WRITE,
            Kind::Execute => PageFaultErrorCode::INSTRUCTION_FETCH,
            Kind::Read => PageFaultErrorCode::empty(),
        };
    let mut table = cr3;
    let (mut writable, mut user, mut nx) = (true, true, false);
    for level in 0..4 {
        let entry_gpa = table + index(va, level) * 8;
        let entry_hpa = ept
            .translate(memory, entry_gpa, false, references)
            .ok_or(WalkError::EptViolation(entry_gpa))?;
        let entry = memory
            .read(entry_hpa)
            .ok_or(WalkError::EptViolation(entry_gpa))?;
        *references += 1;
        let entry_flags = flags(entry);
        if !entry_flags.contains(PageTableFlags::PRESENT) {
            return Err(WalkError::PageFault(code));
        }
        writable &= entry_flags.contains(PageTableFlags::WRITABLE);
        user &= entry_flags.contains(PageTableFlags::USER_ACCESSIBLE);
        nx |= entry_flags.contains(PageTableFlags::NO_EXECUTE);
        if !is_leaf(entry, level) {
            let _ = memory.write(entry_hpa, entry | PageTableFlags::ACCESSED.bits());
            table = entry & ADDRESS;
            continue;
        }
        let permitted = user
            && match kind {
                Kind::Read => true,
                Kind::Write => writable,
                Kind::Execute => !nx,
            };
        if !permitted {
            return Err(WalkError::PageFault(
                code | PageFaultErrorCode::PROTECTION_VIOLATION,
            ));
        }
        let dirty = entry_flags.contains(PageTableFlags::DIRTY) || kind == Kind::Write;
        let mut set = PageTableFlags::ACCESSED;
        set.set(PageTableFlags::DIRTY, kind == Kind::Write);
        let _ = memory.write(entry_hpa, entry | set.bits());
        let bytes = level_bytes(level);
        let gpa = entry & ADDRESS & !(bytes - 1);
        let hpa = ept
            .translate(
                memory,
                gpa | (va & (bytes - 1)),
                kind == Kind::Write,
                references,
            )
            .ok_or(WalkError::EptViolation(gpa))?;
        let size = match level {
            1 => HostPageSize::Size1G,
            2 => HostPageSize::Size2M,
            _ => HostPageSize::Size4K,
        };
        return Ok(Translation {
            gpa,
            hpa: hpa - (va & (bytes - 1)),
            size,
            writable,
            nx,
            dirty,
        });
    }
    Err(WalkError::PageFault(code))
}

/// The leaf entry for a mapping at `level`.
pub(crate) fn leaf(frame: u64, level: usize, writable: bool, executable: bool) -> u64 {
    let mut flags = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
    flags.set(PageTableFlags::WRITABLE, writable);
    flags.set(PageTableFlags::NO_EXECUTE, !executable);
    flags.set(PageTableFlags::HUGE_PAGE, level < 3);
    frame | flags.bits()
}

/// The entry that points at a lower table.
pub(crate) const fn table(gpa: u64) -> u64 {
    gpa | PageTableFlags::PRESENT
        .union(PageTableFlags::WRITABLE)
        .union(PageTableFlags::USER_ACCESSIBLE)
        .bits()
}

/// Whether `entry` is present.
pub(crate) const fn is_present(entry: u64) -> bool {
    flags(entry).contains(PageTableFlags::PRESENT)
}

/// Whether `entry` at `level` is a leaf: always in a PT, with the page-size
/// bit in a PDPT or PD (Intel SDM Vol. 3A, 4.5; no PS leaf in a PML4).
pub(crate) const fn is_leaf(entry: u64, level: usize) -> bool {
    level == 3 || (level > 0 && flags(entry).contains(PageTableFlags::HUGE_PAGE))
}
