//! The EPT-like second level: guest-physical to host-physical, four levels
//! of 512-entry tables in host memory, with 1 GiB and 2 MiB leaves, walked
//! as the CPU walks EPT (read, write and execute bits, the large-page bit,
//! the accessed and dirty flags).

use zmmu_mmu::host::HostPageSize;

use crate::memory::{HostPhysicalMemory, Hpa};

/// Readable.
pub const R: u64 = 1 << 0;
/// Writable.
pub const W: u64 = 1 << 1;
/// Executable.
pub const X: u64 = 1 << 2;
/// A leaf at the PDPT or PD level.
pub const PS: u64 = 1 << 7;
/// Accessed.
pub const A: u64 = 1 << 8;
/// Dirty (leaves).
pub const D: u64 = 1 << 9;
/// The next table's or the frame's address.
pub const ADDRESS: u64 = 0x000F_FFFF_FFFF_F000;

/// The table level (0 = PML4) at which a page of `size` is a leaf.
pub(crate) const fn leaf_level(size: HostPageSize) -> usize {
    match size {
        HostPageSize::Size1G => 1,
        HostPageSize::Size2M => 2,
        HostPageSize::Size4K => 3,
    }
}

/// The index of `address` at `level` (0 = PML4).
pub(crate) const fn index(address: u64, level: usize) -> u64 {
    (address >> (39 - 9 * level as u32)) & 511
}

/// The page size of a leaf at `level`.
pub(crate) const fn level_bytes(level: usize) -> u64 {
    1 << (39 - 9 * level as u32)
}

/// An EPT hierarchy.
#[derive(Debug)]
pub struct Ept {
    root: Hpa,
}

impl Ept {
    /// An empty hierarchy.
    pub fn new(memory: &mut HostPhysicalMemory) -> Self {
        Self {
            root: memory.alloc(),
        }
    }

    /// Maps the `size`-aligned guest-physical range at `gpa` to `hpa` with
    /// read, write and execute permission (a hypervisor's setup; not
    /// counted).
    pub fn map(&mut self, memory: &mut HostPhysicalMemory, gpa: u64, hpa: Hpa, size: HostPageSize) {
        let leaf = leaf_level(size);
        let mut table = self.root;
        for level in 0..leaf {
            let at = table + index(gpa, level) * 8;
            let entry = memory.read(at).unwrap_or(0);
            table = if entry & R == 0 {
                let next = memory.alloc();
                let _ = memory.write(at, next | R | W | X);
                next
            } else {
                entry & ADDRESS
            };
        }
        let large = if leaf < 3 { PS } else { 0 };
        let _ = memory.write(table + index(gpa, leaf) * 8, hpa | R | W | X | large);
    }

    /// Translates a guest-physical address for a load or (`write`) a store
    /// as the CPU does, counting each entry read in `references` and setting
    /// the accessed flags, and the leaf's dirty flag for a store. `None` is
    /// an EPT violation.
    pub fn translate(
        &self,
        memory: &mut HostPhysicalMemory,
        gpa: u64,
        write: bool,
        references: &mut u32,
    ) -> Option<Hpa> {
        let mut table = self.root;
        for level in 0..4 {
            let at = table + index(gpa, level) * 8;
            let entry = memory.read(at)?;
            *references += 1;
            if entry & R == 0 || (write && entry & W == 0) {
                return None;
            }
            let leaf = level == 3 || (level > 0 && entry & PS != 0);
            let flags = A | if leaf && write { D } else { 0 };
            if entry & flags != flags {
                memory.write(at, entry | flags)?;
            }
            if leaf {
                let bytes = level_bytes(level);
                return Some((entry & ADDRESS & !(bytes - 1)) | (gpa & (bytes - 1)));
            }
            table = entry & ADDRESS;
        }
        None
    }
}
