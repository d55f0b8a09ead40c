//! A jump-cache miss resolved in the VM (docs/CHOICES.md 74): when the
//! dispatcher of translated code finds no entry for the next PSW address,
//! the image translates the instruction fetch as the interpreter does
//! (`zmmu_mmu::access::check`: the DAT walk over the tables in absolute
//! storage, read through the absolute window, instruction-execution
//! protection, prefixing, the addressing check) and looks the block up in
//! the table the host publishes ([`Published`]); the chain goes on there
//! without a VM exit. Anything the image does not decide (an exception of
//! the fetch, which the host delivers; a PSW key other than 0, whose
//! fetch protection needs the storage key; the access-register mode, PER,
//! an invalid PSW; a block not published) is a miss as before: the chain
//! ends and the host looks.

use zmmu_cpu::memory::logical_space;
use zmmu_cpu::state::mask;
use zmmu_mmu::access::{check, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::storage::Storage;

use crate::call::{load_cpu, CpuPage, Guest};
use crate::protocol::{
    published_slots, Entered, JumpEntry, Published, Shared, JUMP_TAG, JUMP_WAYS,
};

/// Absolute storage as the image reads it through the absolute window
/// (`protocol::ABSOLUTE_VA`), below [`Shared::absolute_size`]: the DAT
/// tables of a walk (PoP ch. 3 "Translation Tables": they lie in absolute
/// storage). Storage keys are the host's: a frame's key reads as 0 with
/// the reference bit, which only an access with the access key 0 may
/// rely on (key-controlled protection permits it whatever the key, PoP
/// ch. 3 "Key-Controlled Protection"), and whose reference the host
/// recorded ([`Published`]). Nothing is stored.
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

/// A miss of the dispatcher: the PSW address, the context's jump-cache
/// bits (the PSW bits the running blocks were translated for and the
/// fetch controls' tag) and generation, and the slot of its group the
/// dispatcher looked at last.
#[derive(Clone, Copy, Debug)]
pub struct Miss {
    /// The PSW address.
    pub addr: u64,
    /// The context's bits.
    pub bits: u64,
    /// The context's generation.
    pub generation: u32,
    /// The jump-cache slot looked at last (its group is the address's).
    pub probed: u64,
}

/// The code of the block the dispatcher missed at, or zero when the host
/// must look. `table` is the host's ([`Shared::published`]). The block is
/// entered in the address's jump-cache group `group` (the
/// [`JUMP_WAYS`] slots from `probed` & !3) and its slot logged in
/// `entered`, while the log has room: in a slot not of the current
/// generation, else in the one looked at last.
pub fn resolve(
    miss: Miss,
    shared: &mut Shared,
    page: &CpuPage,
    table: &[Published],
    jump: Option<(&mut [JumpEntry], &mut Entered)>,
    guest: &impl Guest,
) -> u64 {
    let Some(block) = find(miss.addr, miss.bits, shared, page, table, guest) else {
        return 0;
    };
    shared.resolved += 1;
    if let Some((group, entered)) = jump {
        let len = entered.len as usize;
        let way = group
            .iter()
            .position(|e| e.generation != miss.generation)
            .unwrap_or(miss.probed as usize % JUMP_WAYS);
        if let (Some(entry), Some(logged)) = (group.get_mut(way), entered.slots.get_mut(len)) {
            *entry = JumpEntry {
                addr: miss.addr,
                bits: miss.bits,
                code: block.code,
                generation: miss.generation,
                block: block.id as u32,
            };
            *logged = miss.probed & !(JUMP_WAYS as u64 - 1) | way as u64;
            entered.len += 1;
        }
    }
    block.code
}

/// The published block the instruction fetch at `addr` under `bits`
/// gives, if the image can tell.
fn find<'t>(
    addr: u64,
    bits: u64,
    shared: &Shared,
    page: &CpuPage,
    table: &'t [Published],
    guest: &impl Guest,
) -> Option<&'t Published> {
    if table.is_empty() || shared.absolute_size == 0 || addr & 1 != 0 {
        return None;
    }
    let mut cpu = load_cpu(page, &shared.clock);
    cpu.psw.addr = addr;
    let psw = cpu.psw;
    // The storage key decides fetch protection under another key; PER
    // events and the access-register mode are the host's.
    if !psw.is_valid() || psw.key() != 0 || psw.mask & mask::PER != 0 || psw.dat() && psw.asc() == 1
    {
        return None;
    }
    let facilities = Facilities::from_bits_truncate(shared.facilities as u32);
    let controls = Controls::from_registers(&cpu.cr, cpu.prefix, facilities);
    let request = Request {
        address: LogicalAddress::new(addr),
        space: logical_space(&cpu, 0),
        kind: AccessKind::InstructionFetch,
        key: 0,
    };
    let window = Window::new(guest, shared.absolute_size);
    let access = check(&window, &controls, request).ok()?;
    let key = (addr, access.absolute.value(), bits & !JUMP_TAG);
    published_slots(key, table.len())
        .filter_map(|slot| table.get(slot))
        .find(|p| p.code != 0 && (p.addr, p.absolute, p.bits) == key)
}
