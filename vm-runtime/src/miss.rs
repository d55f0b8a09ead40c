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
//! ends and the host looks. Where the instruction at the address is an
//! LPSWE in the prefix area, the image runs it and switches the root
//! itself ([`crate::gate`], docs/CHOICES.md 77).

use zmmu_cpu::state::{mask, Cpu};

use crate::call::load_cpu;
use crate::guest::{CpuPage, Guest};
use crate::protocol::{
    published_slots, Entered, Gate, JumpEntry, Published, Shared, JUMP_TAG, JUMP_WAYS,
};

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
/// must look; after an LPSWE the image completed ([`crate::gate`]), the
/// new block's code, or the new PSW address with
/// [`Shared::redispatch`] set. `table` is the host's ([`Shared::published`]). The block is
/// entered in the address's jump-cache group `group` (the
/// [`JUMP_WAYS`] slots from `probed` & !3) and its slot logged in
/// `entered`, while the log has room: in the slot of a dropped entry for
/// the address and bits, else one not of the current generation, else
/// the one looked at last.
pub fn resolve(
    miss: Miss,
    shared: &mut Shared,
    page: &mut CpuPage,
    table: &[Published],
    switch: Option<Switch<'_>>,
    jump: Option<(&mut [JumpEntry], &mut Entered)>,
    guest: &mut impl Guest,
) -> u64 {
    shared.charged = 0;
    let mut cpu = load_cpu(page, &shared.clock);
    cpu.psw.addr = miss.addr;
    if let Some(block) = find(&cpu, miss.bits, shared, table, &*guest) {
        shared.resolved += 1;
        if let Some((group, entered)) = jump {
            enter(miss, block, group, entered);
        }
        return block.code;
    }
    // An LPSWE in the prefix area (docs/CHOICES.md 77): the chain goes on
    // under the new PSW, at its block if one is published (no jump-cache
    // entry: the address's group is another).
    let Some(Switch {
        gate,
        frames,
        context_bits,
    }) = switch
    else {
        return 0;
    };
    let Some(bits) =
        crate::lowcore::lpswe(&mut cpu, shared, page, gate, frames, context_bits, guest)
    else {
        return 0;
    };
    if let Some(block) = find(&cpu, bits, shared, table, &*guest) {
        shared.resolved += 1;
        return block.code;
    }
    // The dispatcher looks the new address up in the jump cache under the
    // new bits (a block not published: another key's, one across pages).
    shared.redispatch = 1;
    cpu.psw.addr
}

/// What the image needs to complete an LPSWE at a miss ([`crate::gate`]):
/// the host's [`Gate`], the table of storable frames, and the
/// translator's context's PSW bits.
#[derive(Debug)]
pub struct Switch<'a> {
    /// The roots and fetch controls the host published.
    pub gate: &'a Gate,
    /// The table at `protocol::STORABLE`.
    pub frames: &'a [u64],
    /// The context's PSW bits.
    pub context_bits: &'a mut u64,
}

/// Enters `block` for the miss in the address's jump-cache group `group`
/// (the [`JUMP_WAYS`] slots from `probed` & !3) and logs its slot in
/// `entered`, while the log has room: in the slot of a dropped entry for
/// the address and bits, else one not of the current generation, else
/// the one looked at last.
fn enter(miss: Miss, block: &Published, group: &mut [JumpEntry], entered: &mut Entered) {
    let len = entered.len as usize;
    // The slot of a dropped entry for the address and bits, as the
    // host's `jump_set` takes it (an address has one slot per bits:
    // the host's mirror finds the first), else a free one.
    let way = group
        .iter()
        .position(|e| (e.addr, e.bits) == (miss.addr, miss.bits))
        .or_else(|| group.iter().position(|e| e.generation != miss.generation))
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

/// The published block the instruction fetch at `cpu`'s PSW address
/// under `bits` gives, if the image can tell.
fn find<'t>(
    cpu: &Cpu,
    bits: u64,
    shared: &Shared,
    table: &'t [Published],
    guest: &impl Guest,
) -> Option<&'t Published> {
    let psw = cpu.psw;
    let addr = psw.addr;
    if table.is_empty() || shared.absolute_size == 0 || addr & 1 != 0 {
        return None;
    }
    // The storage key decides fetch protection under another key; PER
    // events and the access-register mode are the host's.
    if !psw.is_valid() || psw.key() != 0 || psw.mask & mask::PER != 0 || psw.dat() && psw.asc() == 1
    {
        return None;
    }
    let key = (
        addr,
        crate::guest::fetch_absolute(cpu, shared, guest, addr)?,
        bits & !JUMP_TAG,
    );
    published_slots(key, table.len())
        .filter_map(|slot| table.get(slot))
        .find(|p| p.code != 0 && (p.addr, p.absolute, p.bits) == key)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::protocol::{published_slots, ENTERED_SLOTS};
    use std::vec;
    use std::vec::Vec;
    use zmmu_cpu::state::offset;

    /// A guest of zeros: a fetch with DAT off reads no table, and no
    /// other access is made.
    struct Flat;

    impl Guest for Flat {
        fn load(&mut self, _: u64, _: &mut [u8]) -> bool {
            false
        }
        fn store(&mut self, _: u64, _: &[u8]) -> bool {
            false
        }
        fn compare_swap(&mut self, _: u64, _: usize, _: u128, _: u128) -> Option<u128> {
            None
        }
        fn read_absolute(&self, _: u64, buf: &mut [u8]) {
            buf.fill(0);
        }
        fn store_absolute(&mut self, _: u64, _: &[u8]) {}
        fn tsc(&mut self) -> u64 {
            0
        }
        fn take_transient(&mut self) -> bool {
            false
        }
        fn gate(&mut self, _: u64) -> bool {
            false
        }
        fn load_table(&self, _: u64) -> u64 {
            unreachable!("no shadow fills here")
        }

        fn store_table(&mut self, _: u64, _: u64) {
            unreachable!("no shadow fills here")
        }
    }

    /// The PSW bits of the blocks (a 64-bit supervisor PSW, DAT off, key
    /// 0) and the tag the context adds.
    const BITS: u64 = mask::EA | mask::BA;
    const TAG: u64 = 5;

    /// Block 7 at 0x1000 published, its code at 0x9000.
    fn table() -> Vec<Published> {
        let mut table = vec![Published::default(); 64];
        let key = (0x1000, 0x1000, BITS);
        let slot = published_slots(key, table.len()).next().unwrap();
        table[slot] = Published {
            addr: 0x1000,
            absolute: 0x1000,
            bits: BITS,
            code: 0x9000,
            id: 7,
        };
        table
    }

    fn shared() -> Shared {
        Shared {
            absolute_size: 0x10000,
            ..Shared::default()
        }
    }

    fn page(psw_mask: u64) -> CpuPage {
        let mut page = [0u64; 512];
        page[offset::PSW_MASK / 8] = psw_mask;
        page
    }

    /// A miss at `addr` with the dispatcher's last probe at slot 10 of
    /// group 8..12, generation 3.
    fn miss(addr: u64) -> Miss {
        Miss {
            addr,
            bits: BITS | TAG,
            generation: 3,
            probed: 10,
        }
    }

    fn entered() -> Entered {
        Entered {
            len: 0,
            slots: [0; ENTERED_SLOTS],
        }
    }

    /// A miss at 0x1000 resolved with a jump-cache group and log.
    fn resolve_into(group: &mut [JumpEntry], log: &mut Entered, shared: &mut Shared) -> u64 {
        resolve(
            miss(0x1000),
            shared,
            &mut page(BITS),
            &table(),
            None,
            Some((group, log)),
            &mut Flat,
        )
    }

    #[test]
    fn a_published_block_is_entered_in_the_slot_of_its_dropped_entry() {
        let mut group = [JumpEntry::default(); JUMP_WAYS];
        // Way 3 held the address's entry, dropped (generation 0); ways 0-2
        // are free: the host's mirror finds the address at way 3 first.
        group[3] = JumpEntry {
            addr: 0x1000,
            bits: BITS | TAG,
            ..JumpEntry::default()
        };
        let mut log = entered();
        let mut shared = shared();
        let code = resolve_into(&mut group, &mut log, &mut shared);
        assert_eq!(code, 0x9000);
        assert_eq!(shared.resolved, 1);
        let entry = JumpEntry {
            addr: 0x1000,
            bits: BITS | TAG,
            code: 0x9000,
            generation: 3,
            block: 7,
        };
        assert_eq!(
            group,
            [
                JumpEntry::default(),
                JumpEntry::default(),
                JumpEntry::default(),
                entry
            ]
        );
        assert_eq!((log.len, log.slots[0]), (1, 11));
    }

    #[test]
    fn a_full_group_gives_the_slot_the_dispatcher_looked_at_last() {
        let live = JumpEntry {
            addr: 0x2000,
            generation: 3,
            ..JumpEntry::default()
        };
        let mut group = [live; JUMP_WAYS];
        let mut log = entered();
        let code = resolve_into(&mut group, &mut log, &mut shared());
        assert_eq!(code, 0x9000);
        assert_eq!((group[2].addr, group[2].block), (0x1000, 7));
        assert_eq!((log.len, log.slots[0]), (1, 10));
    }

    #[test]
    fn a_full_log_leaves_the_jump_cache_alone_and_the_miss_resolved() {
        let mut group = [JumpEntry::default(); JUMP_WAYS];
        let mut log = entered();
        log.len = ENTERED_SLOTS as u64;
        let code = resolve_into(&mut group, &mut log, &mut shared());
        assert_eq!(code, 0x9000);
        assert_eq!(group, [JumpEntry::default(); JUMP_WAYS]);
    }

    #[test]
    fn what_the_image_cannot_tell_is_the_hosts() {
        let resolved = |addr: u64, psw_mask: u64, size: u64| {
            let mut shared = Shared {
                absolute_size: size,
                ..Shared::default()
            };
            resolve(
                miss(addr),
                &mut shared,
                &mut page(psw_mask),
                &table(),
                None,
                None,
                &mut Flat,
            )
        };
        assert_eq!(resolved(0x1000, BITS, 0x10000), 0x9000);
        // No block published at that address.
        assert_eq!(resolved(0x1002, BITS, 0x10000), 0);
        // The PSW key 2: fetch protection needs the storage key.
        assert_eq!(resolved(0x1000, BITS | 0x0020_0000_0000_0000, 0x10000), 0);
        // PER.
        assert_eq!(resolved(0x1000, BITS | mask::PER, 0x10000), 0);
        // Beyond storage (an addressing exception), and no window.
        assert_eq!(resolved(0x1000, BITS, 0x1000), 0);
        assert_eq!(resolved(0x1000, BITS, 0), 0);
        // An odd address (a specification exception).
        assert_eq!(resolved(0x1001, BITS, 0x10000), 0);
    }
}
