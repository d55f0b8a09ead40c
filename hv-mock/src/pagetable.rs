//! x86-64 4-level paging as the CPU walks it for a user-mode access with
//! CR0.WP = 1 and EFER.NXE = 1: present, writable, user and no-execute
//! accumulated over the levels, page-size leaves at the PDPT (1 GiB) and
//! PD (2 MiB) levels, accessed flags on every entry used and the dirty flag
//! on the leaf of a store. The tables are in guest-physical memory, so
//! every entry fetch goes through the EPT first: a two-dimensional walk.

use zmmu_mmu::host::{HostAccessKind, HostPageSize};

use crate::ept::{index, level_bytes, Ept};
use crate::memory::{HostMemory, Hpa};

/// Present.
pub const P: u64 = 1 << 0;
/// Writable.
pub const W: u64 = 1 << 1;
/// User-accessible.
pub const U: u64 = 1 << 2;
/// Accessed.
pub const A: u64 = 1 << 5;
/// Dirty (leaves).
pub const D: u64 = 1 << 6;
/// A leaf at the PDPT or PD level.
pub const PS: u64 = 1 << 7;
/// No-execute.
pub const NX: u64 = 1 << 63;
/// The next table's or the frame's address.
pub const ADDRESS: u64 = 0x000F_FFFF_FFFF_F000;

/// Page-fault error code: the translation was present (a protection fault).
pub const PF_PRESENT: u32 = 1 << 0;
/// Page-fault error code: the access was a store.
pub const PF_WRITE: u32 = 1 << 1;
/// Page-fault error code: the access was made at CPL 3.
pub const PF_USER: u32 = 1 << 2;
/// Page-fault error code: the access was an instruction fetch.
pub const PF_FETCH: u32 = 1 << 4;

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
    PageFault(u32),
    /// The EPT does not map a guest-physical address the walk needed.
    EptViolation(u64),
}

/// Walks the tables at guest-physical `cr3` for a user-mode access of `kind`
/// at `va`, counting every entry read (guest and EPT) in `references`.
pub fn walk(
    memory: &mut HostMemory,
    ept: &Ept,
    cr3: u64,
    va: u64,
    kind: Kind,
    references: &mut u32,
) -> Result<Translation, WalkError> {
    let mut code = PF_USER;
    match kind {
        Kind::Write => code |= PF_WRITE,
        Kind::Execute => code |= PF_FETCH,
        Kind::Read => {}
    }
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
        if entry & P == 0 {
            return Err(WalkError::PageFault(code));
        }
        writable &= entry & W != 0;
        user &= entry & U != 0;
        nx |= entry & NX != 0;
        let leaf = level == 3 || (level > 0 && entry & PS != 0);
        if !leaf {
            let _ = memory.write(entry_hpa, entry | A);
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
            return Err(WalkError::PageFault(code | PF_PRESENT));
        }
        let dirty = entry & D != 0 || kind == Kind::Write;
        let _ = memory.write(
            entry_hpa,
            entry | A | if kind == Kind::Write { D } else { 0 },
        );
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
    frame
        | P
        | U
        | if writable { W } else { 0 }
        | if executable { 0 } else { NX }
        | if level < 3 { PS } else { 0 }
}

/// The entry that points at a lower table.
pub(crate) const fn table(gpa: u64) -> u64 {
    gpa | P | W | U
}

/// Whether `entry` at `level` is a leaf.
pub(crate) const fn is_leaf(entry: u64, level: usize) -> bool {
    level == 3 || (level > 0 && entry & PS != 0)
}
