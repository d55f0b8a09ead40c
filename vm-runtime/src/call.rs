//! A host call completed in the VM: the instruction at a [`Site`] runs
//! with the interpreter's semantics (`zmmu_cpu::exec::execute`) against a
//! bus that offers only the clock and one deferred store, made through
//! the active shadow root (the x86 MMU) once the instruction is done.
//! Anything else the instruction would need (a fetch, a second store, the
//! machine, an exception to deliver, a change that ends the block) makes
//! the image answer [`HOST`], having changed nothing: the host then runs
//! it as before.

use zmmu_cpu::clock::{Clock, ClockState, TimeSource};
use zmmu_cpu::decode::decode;
use zmmu_cpu::exec::{execute, Next};
use zmmu_cpu::memory::{Access, AddressType, Memory, System};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, offset, Cpu};
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::{AbsoluteAddress, AddressingMode};
use zmmu_mmu::control::Facilities;
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::PendingFlush;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::lap::is_low_address;
use zmmu_mmu::storage::Storage;

use crate::protocol::{find_site, ClockPage, Shared, Site, COMPLETED, HOST};

/// Whether the image completes `op`: STORE CLOCK (STCK, STCKF, STCKE) and
/// STORE CPU TIMER (STPT), whose semantics need only the PSW, the clock
/// and one store of their result. The host enters sites only for these.
pub const fn completes(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::STCK | Opcode::STCKF | Opcode::STCKE | Opcode::STPT
    )
}

/// What the image reaches outside its own memory.
pub trait Guest {
    /// Stores `data` at s390x logical address `addr` (one page, below
    /// 2^47) through the active shadow root, as translated code would;
    /// `false` when the access faulted and the host did not map it (the
    /// host then makes it), with nothing stored.
    fn store(&mut self, addr: u64, data: &[u8]) -> bool;
    /// The TSC.
    fn tsc(&mut self) -> u64;
}

/// The CPU state page in the VM (`zmmu_cpu::state::offset` layout), as
/// words.
pub type CpuPage = [u64; 512];

/// The time source of the clock page: the host's nanoseconds at a TSC
/// value, advanced by the TSC read when the call began (standing still
/// when `mult` is 0).
#[derive(Clone, Copy, Debug)]
struct PageTime {
    ns: u64,
    ticks: u64,
    mult: u64,
    shift: u64,
}

impl TimeSource for PageTime {
    fn now_ns(&mut self) -> u64 {
        let delta = (u128::from(self.ticks) * u128::from(self.mult)) >> self.shift.min(127);
        self.ns.wrapping_add(delta as u64)
    }

    fn wait_until_ns(&mut self, _: u64) {}
}

/// Storage the image cannot reach: every access refused.
struct NoStorage;

impl Storage for NoStorage {
    fn size(&self) -> u64 {
        0
    }
    fn read(&self, _: AbsoluteAddress, _: &mut [u8]) -> Option<()> {
        None
    }
    fn write(&mut self, _: AbsoluteAddress, _: &[u8]) -> Option<()> {
        None
    }
    fn key(&self, _: AbsoluteAddress) -> Option<StorageKey> {
        None
    }
    fn set_key(&mut self, _: AbsoluteAddress, _: StorageKey) -> Option<()> {
        None
    }
}

/// The bus of one call: the clock, and room for one store.
struct Bus {
    clock: Clock<PageTime>,
    store: Option<(u64, [u8; 16], usize)>,
    /// The instruction needed what this bus does not offer.
    refused: bool,
    storage: NoStorage,
}

impl Bus {
    fn refuse(&mut self) -> Exception {
        self.refused = true;
        Exception::new(Code::OPERATION)
    }
}

impl Memory for Bus {
    fn read(&mut self, _: &Access<'_>, _: u64, _: &mut [u8]) -> Result<(), Exception> {
        Err(self.refuse())
    }

    /// Keeps the one store an instruction of the class makes, in the
    /// PSW's address space with the PSW key (the active root's).
    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        let logical = matches!(acc.space, AddressType::Logical { .. });
        if !logical || self.store.is_some() || data.len() > 16 {
            return Err(self.refuse());
        }
        let mut bytes = [0u8; 16];
        bytes[..data.len()].copy_from_slice(data);
        self.store = Some((addr, bytes, data.len()));
        Ok(())
    }

    fn check(&mut self, _: &Access<'_>, _: u64, _: u64) -> Result<(), Exception> {
        Err(self.refuse())
    }

    fn translate(&mut self, _: &Access<'_>, _: u64) -> Result<AbsoluteAddress, Exception> {
        Err(self.refuse())
    }

    fn facilities(&self) -> Facilities {
        Facilities::empty()
    }

    fn storage(&mut self) -> &mut dyn Storage {
        self.refused = true;
        &mut self.storage
    }

    fn invalidate(&mut self, _: PendingFlush) {
        self.refused = true;
    }

    fn fault(&mut self, _: Fault) -> Exception {
        self.refuse()
    }
}

impl System for Bus {
    fn system_instruction(
        &mut self,
        _: &mut Cpu,
        _: &zmmu_cpu::decode::Insn,
    ) -> Result<(), Exception> {
        Err(self.refuse())
    }

    fn clock(&mut self) -> Option<&mut dyn zmmu_cpu::clock::Timing> {
        Some(&mut self.clock)
    }
}

/// The CPU as far as the page holds it, with the clock page's timer and
/// TOD programmable register.
fn load_cpu(page: &CpuPage, clock: &ClockPage) -> Cpu {
    let word = |at: usize| page[at / 8];
    let mut cpu = Cpu::new();
    for (r, value) in cpu.gpr.iter_mut().enumerate() {
        *value = word(offset::GPR + 8 * r);
    }
    for (r, value) in cpu.cr.iter_mut().enumerate() {
        *value = word(offset::CR + 8 * r);
    }
    cpu.psw.mask = word(offset::PSW_MASK);
    cpu.psw.addr = word(offset::PSW_ADDR);
    cpu.prefix = zmmu_mmu::prefix::Prefix::new(word(offset::PREFIX));
    cpu.cpu_timer_zero = clock.cpu_timer_zero;
    cpu.tod_programmable = clock.tod_programmable as u16;
    cpu
}

/// Whether a store of `len` bytes at `addr` is one the active root can
/// make: in one page, not wrapping in the addressing mode, below 2^47,
/// and touching neither of the ranges low-address protection covers
/// (PoP ch. 3: bytes 0-511 and 4096-4607), which the shadow maps
/// writable with the rest of their pages: as for translated code's
/// stores, the host decides those (the controls say whether they are
/// protected).
fn storable(addr: u64, len: usize, amode: AddressingMode) -> bool {
    let last = addr.wrapping_add(len as u64 - 1);
    len > 0
        && last >= addr
        && last <= amode.mask()
        && last < 1 << 47
        && addr >> 12 == last >> 12
        && !is_low_address(addr)
        && !is_low_address(last)
}

/// Host call `which`: completes the instruction in the VM and answers
/// [`COMPLETED`], or answers [`HOST`] having changed nothing.
///
/// # Panics
/// On a [`Shared::version`] other than this image's (`VERSION`).
pub fn host_call(
    which: u64,
    shared: &mut Shared,
    sites: &mut [Site],
    counts: &mut [u64],
    page: &mut CpuPage,
    guest: &mut impl Guest,
) -> u64 {
    assert_eq!(
        shared.version,
        crate::protocol::VERSION,
        "the host speaks another version of the call protocol"
    );
    let Some(slot) = find_site(sites, which) else {
        return HOST;
    };
    let site = sites[slot];
    if site.refused != 0 {
        return HOST;
    }
    let bytes = site.insn_bytes();
    let Ok(insn) = decode(&bytes[..(site.len as usize).min(6)]) else {
        return HOST;
    };
    let clock = shared.clock;
    if !completes(insn.op) || clock.valid == 0 {
        return HOST;
    }
    let mut cpu = load_cpu(page, &clock);
    // Access-register mode (a base register's ALET), PER events and an
    // invalid PSW are the host's.
    let psw = cpu.psw;
    if !psw.is_valid() || psw.mask & mask::PER != 0 || (psw.dat() && psw.asc() == 1) {
        return HOST;
    }
    cpu.psw.addr = site.at;
    let time = PageTime {
        ns: clock.ns,
        ticks: guest.tsc().wrapping_sub(clock.tsc),
        mult: clock.mult,
        shift: clock.shift,
    };
    let state = ClockState {
        epoch: clock.epoch,
        last: clock.last,
    };
    let mut bus = Bus {
        clock: Clock::with_state(time, state),
        store: None,
        refused: false,
        storage: NoStorage,
    };
    let result = execute(&mut cpu, &mut bus, insn, site.at);
    if bus.refused || !matches!(result, Ok(Next::Seq)) {
        return HOST;
    }
    let amode = cpu.psw.amode();
    if let Some((addr, data, len)) = bus.store {
        if !storable(addr, len, amode) {
            return HOST;
        }
        if !guest.store(addr, &data[..len]) {
            sites[slot].refused = 1;
            return HOST;
        }
    }
    for (r, value) in cpu.gpr.iter().enumerate() {
        page[(offset::GPR + 8 * r) / 8] = *value;
    }
    page[offset::PSW_MASK / 8] = cpu.psw.mask;
    page[offset::PSW_ADDR / 8] = amode.wrap(site.at.wrapping_add(u64::from(site.len)));
    shared.clock.last = bus.clock.state().last;
    if let Some(count) = counts.get_mut(insn.op as usize) {
        *count += 1;
    }
    COMPLETED
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::protocol::{site_slots, VERSION};
    use std::vec;
    use std::vec::Vec;

    /// A guest whose stores land in a list, or fault.
    struct Recorded {
        stores: Vec<(u64, Vec<u8>)>,
        faults: bool,
        tsc: u64,
    }

    impl Guest for Recorded {
        fn store(&mut self, addr: u64, data: &[u8]) -> bool {
            if self.faults {
                return false;
            }
            self.stores.push((addr, data.to_vec()));
            true
        }
        fn tsc(&mut self) -> u64 {
            self.tsc
        }
    }

    /// The tables of one call (block 3's instruction 1 and what it reads).
    struct Call {
        shared: Shared,
        sites: Vec<Site>,
        counts: Vec<u64>,
        page: CpuPage,
    }

    impl Call {
        /// Host call `which` against these tables.
        fn call(&mut self, which: u64, g: &mut Recorded) -> u64 {
            let Self {
                shared,
                sites,
                counts,
                page,
            } = self;
            host_call(which, shared, sites, counts, page, g)
        }
    }

    /// The tables of one call: `bytes` at 0x1000 as block 3's instruction 1,
    /// a 64-bit supervisor PSW, r2 = 0x2000, a clock standing still at
    /// 1000 ns with epoch 0x5000_0000.
    fn setup(bytes: &[u8]) -> Call {
        let which = 3 << 8 | 1;
        let mut sites = vec![Site::default(); crate::protocol::SITE_SLOTS];
        let slot = site_slots(which).next().unwrap();
        sites[slot] = Site::new(which, 0x1000, bytes);
        let mut page = [0u64; 512];
        page[offset::PSW_MASK / 8] = mask::EA | mask::BA;
        page[offset::PSW_ADDR / 8] = 0x1000;
        page[(offset::GPR + 16) / 8] = 0x2000;
        let shared = Shared {
            version: VERSION,
            clock: ClockPage {
                valid: 1,
                epoch: 0x5000_0000,
                ns: 1000,
                ..ClockPage::default()
            },
            ..Shared::default()
        };
        Call {
            shared,
            sites,
            counts: vec![0; zmmu_cpu::opcode::COUNT],
            page,
        }
    }

    fn guest() -> Recorded {
        Recorded {
            stores: Vec::new(),
            faults: false,
            tsc: 0,
        }
    }

    #[test]
    fn store_clock_stores_the_tod_and_steps_past_the_last_value() {
        // stck 0(r2)
        let mut c = setup(&[0xb2, 0x05, 0x20, 0x00]);
        let mut g = guest();
        let which = 3 << 8 | 1;
        assert_eq!(c.call(which, &mut g), COMPLETED);
        let tod = 0x5000_0000 + zmmu_cpu::clock::ns_to_tod(1000);
        assert_eq!(g.stores, [(0x2000, tod.to_be_bytes().to_vec())]);
        assert_eq!(c.shared.clock.last, tod);
        assert_eq!(
            c.page[offset::PSW_ADDR / 8],
            0x1004,
            "the PSW points past it"
        );
        assert_eq!(
            c.page[offset::PSW_MASK / 8] & mask::CC,
            0,
            "cc 0: the clock is set"
        );
        assert_eq!(c.counts[Opcode::STCK as usize], 1);
        // The clock stands still: the next value is the last plus one.
        assert_eq!(c.call(which, &mut g), COMPLETED);
        assert_eq!(g.stores[1].1, (tod + 1).to_be_bytes());
    }

    #[test]
    fn a_store_the_root_refuses_leaves_everything_and_the_site_to_the_host() {
        let mut c = setup(&[0xb2, 0x05, 0x20, 0x00]);
        let before = c.page;
        let mut g = Recorded {
            faults: true,
            ..guest()
        };
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert_eq!(c.page, before);
        assert_eq!(c.shared.clock.last, 0);
        assert_eq!(c.counts[Opcode::STCK as usize], 0);
        // The site is the host's from now on: no second attempt (and fault).
        g.faults = false;
        let which = 3 << 8 | 1;
        assert_eq!(c.call(which, &mut g), HOST);
        assert!(g.stores.is_empty());
    }

    #[test]
    fn an_operand_crossing_a_page_is_the_hosts() {
        let mut c = setup(&[0xb2, 0x05, 0x2f, 0xfc]);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert!(g.stores.is_empty());
    }

    #[test]
    fn other_instructions_and_unknown_sites_are_the_hosts() {
        // lctlg c0,c0,0(r2): not in the class.
        let mut c = setup(&[0xeb, 0x00, 0x20, 0x00, 0x00, 0x2f]);
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
        assert_eq!(c.call(4 << 8 | 1, &mut g), HOST);
    }

    #[test]
    fn store_cpu_timer_in_the_problem_state_is_the_hosts() {
        // stpt 0(r2) is privileged: the program interruption is delivered by the host.
        let mut c = setup(&[0xb2, 0x09, 0x20, 0x00]);
        c.page[offset::PSW_MASK / 8] |= mask::PROBLEM;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), HOST);
    }

    #[test]
    fn store_cpu_timer_follows_the_tsc() {
        let mut c = setup(&[0xb2, 0x09, 0x20, 0x00]);
        // 1 ns per 2 ticks, 4000 ticks since the page: 2000 ns later.
        c.shared.clock.mult = 1;
        c.shared.clock.shift = 1;
        c.shared.clock.tsc = 100;
        c.shared.clock.cpu_timer_zero = zmmu_cpu::clock::ns_to_tod(10_000);
        let mut g = Recorded {
            tsc: 4100,
            ..guest()
        };
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        let timer = zmmu_cpu::clock::ns_to_tod(10_000) - zmmu_cpu::clock::ns_to_tod(3000);
        assert_eq!(g.stores, [(0x2000, timer.to_be_bytes().to_vec())]);
    }
}
