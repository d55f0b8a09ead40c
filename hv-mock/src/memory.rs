//! Simulated host-physical memory: the 4 KiB pages that hold EPT tables and
//! the guest's x86-64 page tables, as arrays of 512 little-endian entries.

/// A host-physical address.
pub type Hpa = u64;

/// Host-physical pages, allocated and freed one at a time. Page `n` is at
/// host-physical address `(n + 1) * 4096`, so that 0 is never a table.
#[derive(Debug, Default)]
pub struct HostPhysicalMemory {
    pages: Vec<Box<[u64; 512]>>,
    free: Vec<usize>,
}

impl HostPhysicalMemory {
    /// A zeroed page.
    pub fn alloc(&mut self) -> Hpa {
        let index = match self.free.pop() {
            Some(index) => {
                self.pages[index].fill(0);
                index
            }
            None => {
                self.pages.push(Box::new([0; 512]));
                self.pages.len() - 1
            }
        };
        (index as u64 + 1) << 12
    }

    /// Returns a page for reuse.
    pub fn free(&mut self, page: Hpa) {
        if let Some(index) = self.index(page) {
            self.free.push(index);
        }
    }

    fn index(&self, address: Hpa) -> Option<usize> {
        let index = usize::try_from(address >> 12).ok()?.checked_sub(1)?;
        (index < self.pages.len()).then_some(index)
    }

    /// The entry at an 8-byte-aligned host-physical address, if it is in a
    /// page of this memory.
    pub fn read(&self, address: Hpa) -> Option<u64> {
        Some(self.pages[self.index(address)?][(address as usize >> 3) & 511])
    }

    /// Stores an entry; `None` outside this memory.
    pub fn write(&mut self, address: Hpa, value: u64) -> Option<()> {
        let index = self.index(address)?;
        self.pages[index][(address as usize >> 3) & 511] = value;
        Some(())
    }
}
