//! What the image reaches outside its own memory ([`Guest`]: the guest's
//! storage through the active shadow root and the absolute window, the
//! TSC, the gate), the CPU state page, and the instruction fetch's
//! translation as the interpreter checks it: what the host calls
//! ([`crate::call`]), the dispatcher's miss ([`crate::miss`]) and the
//! gate ([`crate::gate`]) share.

use zmmu_cpu::memory::logical_space;
use zmmu_cpu::state::Cpu;
use zmmu_mmu::access::{check, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::storage::Storage;

use crate::protocol::Shared;

/// What the image reaches outside its own memory.
pub trait Guest {
    /// Loads `buf.len()` bytes at s390x logical address `addr` (one page,
    /// below 2^47) through the active shadow root, as translated code
    /// would; `false` when the access faulted and the host did not map it
    /// (the host then makes it).
    fn load(&mut self, addr: u64, buf: &mut [u8]) -> bool;
    /// Stores `data` at s390x logical address `addr` (one page, below
    /// 2^47) through the active shadow root, as translated code would;
    /// `false` when the access faulted and the host did not map it (the
    /// host then makes it), with nothing stored.
    fn store(&mut self, addr: u64, data: &[u8]) -> bool;
    /// One interlocked update of the `len`-byte (4, 8 or 16) big-endian
    /// operand at s390x logical address `addr` (aligned on `len`, below
    /// 2^47) through the active shadow root: replaced by `new` if it
    /// equals `old` (x86 `LOCK CMPXCHG` or `CMPXCHG16B`, atomic against
    /// the host's and the other vCPUs' interlocked updates of the same
    /// storage, and a store to the root either way, as the s390x
    /// interlocked update is). The value found, or `None` when the access
    /// faulted and the host did not map it (the host then makes it), with
    /// nothing stored.
    fn compare_swap(&mut self, addr: u64, len: usize, old: u128, new: u128) -> Option<u128>;
    /// Reads `buf.len()` bytes of guest absolute storage at `addr`
    /// through the absolute window (`protocol::ABSOLUTE_VA`); the caller
    /// checked that they lie below [`Shared::absolute_size`].
    fn read_absolute(&self, addr: u64, buf: &mut [u8]);
    /// Stores `data` into guest absolute storage at `addr` through the
    /// absolute window, in one frame the host listed storable
    /// (`protocol::STORABLE`) below [`Shared::absolute_size`], as the
    /// caller checked.
    fn store_absolute(&mut self, addr: u64, data: &[u8]);
    /// The TSC.
    fn tsc(&mut self) -> u64;
    /// The 8-byte entry of an x86 page table of the shadow roots at
    /// virtual address `at` (in the pool, `Shared::pool_va`, 8-byte
    /// aligned, as the caller checked).
    fn load_table(&self, at: u64) -> u64;
    /// Writes the 8-byte entry of an x86 page table at virtual address
    /// `at` (as for [`Guest::load_table`]); the shadow fill's
    /// (`crate::fill`).
    fn store_table(&mut self, at: u64, entry: u64);
    /// Whether the host's fault path marked an access of this call as
    /// faulted for a cause the next call may not meet
    /// ([`Shared::transient`]), the mark then cleared. Read where the host
    /// writes it, in the shared page, not through the call's own view of
    /// that page: the host writes it while the image's access waits on
    /// the fault, which that view (a `&mut`, whose fields the compiler may
    /// take to be the call's own) does not see.
    fn take_transient(&mut self) -> bool;
    /// Asks the CPL0 #BP handler to load the CR3 of root `index` of
    /// `protocol::Gate::roots` (docs/CHOICES.md 77): whether it did (it
    /// refuses an index out of range or a root the host no longer names).
    fn gate(&mut self, index: u64) -> bool;
}

/// The CPU state page in the VM (`zmmu_cpu::state::offset` layout), as
/// words.
pub type CpuPage = [u64; 512];

/// Absolute storage as the image reads it through the absolute window
/// (`protocol::ABSOLUTE_VA`), below [`Shared::absolute_size`]: the DAT
/// tables of a walk (PoP ch. 3 "Translation Tables": they lie in absolute
/// storage). Storage keys are the host's: a frame's key reads as 0 with
/// the reference bit, which only an access with the access key 0 may
/// rely on (key-controlled protection permits it whatever the key, PoP
/// ch. 3 "Key-Controlled Protection"), and whose reference the host
/// recorded ([`Published`](crate::protocol::Published)). Nothing is stored.
pub(crate) struct Window<'g, G> {
    guest: &'g G,
    size: u64,
}

impl<'g, G: Guest> Window<'g, G> {
    /// The window onto `size` bytes of absolute storage through `guest`.
    pub(crate) fn new(guest: &'g G, size: u64) -> Self {
        Self { guest, size }
    }
}

impl<G: Guest> Storage for Window<'_, G> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
        let end = address.value().checked_add(buf.len() as u64)?;
        if end > self.size {
            return None;
        }
        self.guest.read_absolute(address.value(), buf);
        Some(())
    }

    fn write(&mut self, _: AbsoluteAddress, _: &[u8]) -> Option<()> {
        None
    }

    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
        (address.value() < self.size).then_some(StorageKey::new(StorageKey::R))
    }

    fn set_key(&mut self, _: AbsoluteAddress, _: StorageKey) -> Option<()> {
        None
    }
}

/// The absolute address the instruction fetch at `at` translates to
/// under `cpu`'s controls, with the PSW key 0, as the interpreter's own
/// access check makes it (DAT in the fetch's space through the absolute
/// window, instruction-execution protection, prefixing, addressing);
/// `None` for any exception, which is the host's.
pub(crate) fn fetch_absolute(
    cpu: &Cpu,
    shared: &Shared,
    guest: &impl Guest,
    at: u64,
) -> Option<u64> {
    let facilities = Facilities::from_bits_truncate(shared.facilities as u32);
    let controls = Controls::from_registers(&cpu.cr, cpu.prefix, facilities);
    let request = Request {
        address: LogicalAddress::new(at),
        space: logical_space(cpu, 0),
        kind: AccessKind::InstructionFetch,
        key: 0,
    };
    let window = Window::new(guest, shared.absolute_size);
    Some(check(&window, &controls, request).ok()?.absolute.value())
}
