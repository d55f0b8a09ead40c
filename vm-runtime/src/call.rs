//! A host call completed in the VM: the instruction at a [`Site`] runs
//! with the interpreter's semantics (`zmmu_cpu::exec::execute`) against a
//! bus that offers the clock, the machine's facilities and one deferred
//! store, made through the active shadow root (the x86 MMU) once the
//! instruction is done. Anything else the instruction would need (a
//! fetch, a second store, storage keys, the machine, an exception to
//! deliver, a change that ends the block) makes the image answer
//! [`HOST`], having changed nothing: the host then runs it exactly as
//! before, and delivers its interruption if it has one.

use zmmu_cpu::clock::{Clock, ClockState, TimeSource, TscScale};
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
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::lap::is_low_address;
use zmmu_mmu::storage::Storage;

use crate::protocol::{cpu_page, find_site, ClockPage, Shared, Site, COMPLETED, HOST};

/// Whether the host enters a site for `op` (an instruction translated
/// code calls the host for): every instruction but those that end a
/// block (`Opcode::ends_block`: branches, EXECUTE, the PSW, control and
/// DAT instructions), which are the host's. Whether the image completes
/// one is decided at each call by what its execution needs: registers,
/// the FPC, the clock and one store of at most 16 bytes in the PSW's
/// space complete (the BFP and vector register instructions, LOC*R,
/// EFPC and SFPC, STORE CLOCK, STPT ...); a fetch, storage keys, the
/// machine or a change of other state leave the site to the host
/// ([`Site::refused`]).
pub fn may_complete(op: Opcode) -> bool {
    op != Opcode::Unknown && !op.ends_block()
}

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
    /// The TSC.
    fn tsc(&mut self) -> u64;
}

/// The CPU state page in the VM (`zmmu_cpu::state::offset` layout), as
/// words.
pub type CpuPage = [u64; 512];

/// The time source of the clock page: its nanoseconds plus those of its
/// TSC scale at the TSC read when the call began (standing still when the
/// scale's `mult` is 0).
#[derive(Clone, Copy, Debug)]
struct PageTime {
    ns: u64,
    scale: TscScale,
    tsc: u64,
}

impl TimeSource for PageTime {
    fn now_ns(&mut self) -> u64 {
        self.ns.wrapping_add(self.scale.ns(self.tsc))
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

/// The bus of one call: operand fetches through the active root, the
/// clock (where the page holds it), the facilities, and room for one
/// store.
struct Bus<'g, G> {
    guest: &'g mut G,
    amode: AddressingMode,
    clock: Option<Clock<PageTime>>,
    facilities: Facilities,
    store: Option<(u64, [u8; 16], usize)>,
    /// The instruction needed what this bus does not offer.
    refused: bool,
    storage: NoStorage,
}

impl<G> Bus<'_, G> {
    fn refuse(&mut self) -> Exception {
        self.refused = true;
        Exception::new(Code::OPERATION)
    }
}

impl<G: Guest> Memory for Bus<'_, G> {
    /// An operand fetch in the PSW's address space with the PSW key (the
    /// active root's), page by page, that does not wrap in the addressing
    /// mode and does not overlap the store kept aside (which the
    /// instruction would read back).
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        let operand =
            acc.kind == AccessKind::Read && matches!(acc.space, AddressType::Logical { .. });
        let len = buf.len() as u64;
        let last = addr.wrapping_add(len.wrapping_sub(1));
        let overlaps = self
            .store
            .is_some_and(|(at, _, n)| addr < at + n as u64 && at <= last);
        if !operand
            || len == 0
            || last < addr
            || last > self.amode.mask()
            || last >= 1 << 47
            || overlaps
        {
            return Err(self.refuse());
        }
        let mut at = addr;
        for chunk in buf.chunks_mut(4096) {
            let in_page = (4096 - (at & 0xfff)) as usize;
            let (head, tail) = chunk.split_at_mut(in_page.min(chunk.len()));
            for (part, from) in [(head, at), (tail, at + in_page as u64)] {
                if !part.is_empty() && !self.guest.load(from, part) {
                    return Err(self.refuse());
                }
            }
            at += chunk.len() as u64;
        }
        Ok(())
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
        self.facilities
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

impl<G: Guest> System for Bus<'_, G> {
    fn system_instruction(
        &mut self,
        _: &mut Cpu,
        _: &zmmu_cpu::decode::Insn,
    ) -> Result<(), Exception> {
        Err(self.refuse())
    }

    fn clock(&mut self) -> Option<&mut dyn zmmu_cpu::clock::Timing> {
        if self.clock.is_none() {
            self.refused = true;
        }
        self.clock
            .as_mut()
            .map(|clock| clock as &mut dyn zmmu_cpu::clock::Timing)
    }
}

/// Byte `at` of the CPU page (its words are little-endian, as the host
/// and the image store them).
fn byte(page: &CpuPage, at: usize) -> u8 {
    (page[at / 8] >> (8 * (at % 8))) as u8
}

/// The little-endian field of `N` bytes at `at` of the CPU page.
fn field<const N: usize>(page: &CpuPage, at: usize) -> [u8; N] {
    core::array::from_fn(|i| byte(page, at + i))
}

/// Writes the little-endian `bytes` at `at` of the CPU page.
fn set_field(page: &mut CpuPage, at: usize, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        let (word, shift) = ((at + i) / 8, 8 * ((at + i) % 8));
        page[word] = page[word] & !(0xff << shift) | u64::from(b) << shift;
    }
}

/// The CPU as the page holds it (registers, PSW, prefix, FPC, CPU address
/// and model), with the clock page's timer, clock comparator and TOD
/// programmable register.
fn load_cpu(page: &CpuPage, clock: &ClockPage) -> Cpu {
    let word = |at: usize| page[at / 8];
    let mut cpu = Cpu::new();
    for (r, value) in cpu.gpr.iter_mut().enumerate() {
        *value = word(offset::GPR + 8 * r);
    }
    for (r, value) in cpu.ar.iter_mut().enumerate() {
        *value = u32::from_le_bytes(field(page, offset::AR + 4 * r));
    }
    for (r, value) in cpu.cr.iter_mut().enumerate() {
        *value = word(offset::CR + 8 * r);
    }
    for (v, value) in cpu.vr.iter_mut().enumerate() {
        *value = [word(offset::VR + 16 * v), word(offset::VR + 16 * v + 8)];
    }
    cpu.psw.mask = word(offset::PSW_MASK);
    cpu.psw.addr = word(offset::PSW_ADDR);
    cpu.prefix = zmmu_mmu::prefix::Prefix::new(word(offset::PREFIX));
    cpu.fpc = u32::from_le_bytes(field(page, cpu_page::FPC));
    cpu.cpu_addr = u16::from_le_bytes(field(page, cpu_page::CPU_ADDR));
    cpu.vector_facility = byte(page, cpu_page::VECTOR_FACILITY) != 0;
    cpu.mie3_facility = byte(page, cpu_page::MIE3_FACILITY) != 0;
    cpu.cpu_timer_zero = clock.cpu_timer_zero;
    cpu.tod_programmable = clock.tod_programmable as u16;
    cpu.clock_comparator = clock.clock_comparator;
    cpu
}

/// Whether `after` differs from `before` only in what the image writes
/// back: the general, vector (floating-point) and floating-point-control
/// registers and the condition code. Anything else (the program mask,
/// access or control registers, the timers) is the host's to change: it
/// may have to leave the chain for it.
fn only_results_changed(before: &Cpu, after: &Cpu) -> bool {
    let mut rest = after.clone();
    rest.gpr = before.gpr;
    rest.vr = before.vr;
    rest.fpc = before.fpc;
    rest.psw.mask = after.psw.mask & !mask::CC | before.psw.mask & mask::CC;
    rest.psw.addr = before.psw.addr;
    rest == *before
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
    if !may_complete(insn.op) {
        return HOST;
    }
    let clock = shared.clock;
    let mut cpu = load_cpu(page, &clock);
    // Access-register mode (a base register's ALET), PER events and an
    // invalid PSW are the host's.
    let psw = cpu.psw;
    if !psw.is_valid() || psw.mask & mask::PER != 0 || (psw.dat() && psw.asc() == 1) {
        return HOST;
    }
    cpu.psw.addr = site.at;
    let before = cpu.clone();
    let time = PageTime {
        ns: clock.ns,
        scale: TscScale {
            at: clock.tsc,
            mult: clock.mult,
            shift: clock.shift as u32,
        },
        tsc: guest.tsc(),
    };
    let state = ClockState {
        epoch: clock.epoch,
        last: clock.last,
    };
    let mut bus = Bus {
        guest: &mut *guest,
        amode: cpu.psw.amode(),
        clock: (clock.valid != 0).then(|| Clock::with_state(time, state)),
        facilities: Facilities::from_bits_truncate(shared.facilities as u32),
        store: None,
        refused: false,
        storage: NoStorage,
    };
    let result = execute(&mut cpu, &mut bus, insn, site.at);
    let (refused, store) = (bus.refused, bus.store);
    let last = bus.clock.map(|clock| clock.state().last);
    if refused || (result.is_ok() && !only_results_changed(&before, &cpu)) {
        // What this instruction needs is the host's at every call.
        sites[slot].refused = 1;
        return HOST;
    }
    // A program interruption (an IEEE exception, a data or specification
    // exception ...) or a branch: the host runs the instruction again from
    // the same state, which the image has not changed, and delivers it.
    if !matches!(result, Ok(Next::Seq)) {
        return HOST;
    }
    let amode = cpu.psw.amode();
    if let Some((addr, data, len)) = store {
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
    for (v, value) in cpu.vr.iter().enumerate() {
        page[(offset::VR + 16 * v) / 8] = value[0];
        page[(offset::VR + 16 * v + 8) / 8] = value[1];
    }
    set_field(page, cpu_page::FPC, &cpu.fpc.to_le_bytes());
    page[offset::PSW_MASK / 8] = cpu.psw.mask;
    page[offset::PSW_ADDR / 8] = amode.wrap(site.at.wrapping_add(u64::from(site.len)));
    if let Some(last) = last {
        shared.clock.last = last;
    }
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
        /// The loads made (address, length); each byte loaded is the low
        /// byte of its address.
        loads: Vec<(u64, usize)>,
        stores: Vec<(u64, Vec<u8>)>,
        faults: bool,
        tsc: u64,
    }

    impl Guest for Recorded {
        fn load(&mut self, addr: u64, buf: &mut [u8]) -> bool {
            if self.faults {
                return false;
            }
            self.loads.push((addr, buf.len()));
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (addr as usize + i) as u8;
            }
            true
        }
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
            loads: Vec::new(),
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

    /// Floating-point register `r` of the page.
    fn fpr(c: &Call, r: usize) -> u64 {
        c.page[(offset::FPR + offset::FPR_STRIDE * r) / 8]
    }

    /// `bytes` as block 3's instruction 1 with the AFP-register and vector
    /// controls on (CR0 bits 45, 46), the vector facility in the model,
    /// f0 = 1.5 and f2 = `f2`.
    fn float_setup(bytes: &[u8], f2: f64) -> Call {
        let mut c = setup(bytes);
        c.page[offset::CR / 8] |= 1 << 18 | 1 << 17;
        set_field(&mut c.page, cpu_page::VECTOR_FACILITY, &[1]);
        c.page[offset::FPR / 8] = 1.5f64.to_bits();
        c.page[(offset::FPR + 2 * offset::FPR_STRIDE) / 8] = f2.to_bits();
        c
    }

    fn fpc(c: &Call) -> u32 {
        u32::from_le_bytes(field(&c.page, cpu_page::FPC))
    }

    #[test]
    fn a_bfp_register_instruction_completes_with_its_result_and_condition_code() {
        // adbr f0,f2: 1.5 + 2.25 = 3.75, cc 2 (greater than zero).
        let mut c = float_setup(&[0xb3, 0x1a, 0x00, 0x02], 2.25);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(f64::from_bits(fpr(&c, 0)), 3.75);
        assert_eq!(c.page[offset::PSW_MASK / 8] & mask::CC, 2 << 44);
        assert_eq!(c.page[offset::PSW_ADDR / 8], 0x1004);
        assert_eq!(c.counts[Opcode::ADBR as usize], 1);
    }

    #[test]
    fn a_masked_ieee_exception_sets_its_flag_in_the_fpc() {
        // ddbr f0,f2 by zero, the trap disabled: infinity, flag z (FPC bit 9).
        let mut c = float_setup(&[0xb3, 0x1d, 0x00, 0x02], 0.0);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(fpr(&c, 0), f64::INFINITY.to_bits());
        assert_eq!(fpc(&c), 0x0040_0000);
    }

    #[test]
    fn an_enabled_ieee_exception_is_the_hosts_with_nothing_changed() {
        // ddbr f0,f2 by zero with the divide-by-zero trap on (FPC bit 1):
        // a data exception, which the host delivers after running it again.
        let mut c = float_setup(&[0xb3, 0x1d, 0x00, 0x02], 0.0);
        set_field(&mut c.page, cpu_page::FPC, &0x4000_0000u32.to_le_bytes());
        let before = c.page;
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
        assert_eq!(c.page, before);
        // The site stays the image's: the next division may be exact.
        c.page[(offset::FPR + 2 * offset::FPR_STRIDE) / 8] = 0.5f64.to_bits();
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(f64::from_bits(fpr(&c, 0)), 3.0);
    }

    #[test]
    fn bfp_without_the_afp_register_control_is_the_hosts() {
        // adbr with CR0 bit 45 off: a data exception (DXC 2).
        let mut c = float_setup(&[0xb3, 0x1a, 0x00, 0x02], 2.25);
        c.page[offset::CR / 8] &= !(1 << 18);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
    }

    #[test]
    fn a_vector_register_instruction_completes() {
        // vlgv r1,v0,1,3 (element 1 of v0 as doublewords): the low word of v0.
        let mut c = float_setup(&[0xe7, 0x10, 0x00, 0x01, 0x30, 0x21], 0.0);
        c.page[offset::VR / 8 + 1] = 0x1234_5678_9abc_def0;
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 0x1234_5678_9abc_def0);
    }

    #[test]
    fn a_vector_instruction_without_the_facility_is_the_hosts() {
        let mut c = float_setup(&[0xe7, 0x10, 0x00, 0x01, 0x30, 0x21], 0.0);
        set_field(&mut c.page, cpu_page::VECTOR_FACILITY, &[0]);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), HOST);
    }

    #[test]
    fn load_on_condition_and_extract_fpc_complete() {
        // locgr r1,r2,8 (cc 0: taken), then efpc r3.
        let mut c = setup(&[0xb9, 0xe2, 0x80, 0x12]);
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 0x2000);
        let mut c = setup(&[0xb3, 0x8c, 0x00, 0x30]);
        set_field(&mut c.page, cpu_page::FPC, &0x0000_0003u32.to_le_bytes());
        assert_eq!(c.call(3 << 8 | 1, &mut guest()), COMPLETED);
        assert_eq!(c.page[(offset::GPR + 24) / 8], 3);
    }

    #[test]
    fn store_clock_comparator_stores_the_published_comparator() {
        // stckc 0(r2)
        let mut c = setup(&[0xb2, 0x07, 0x20, 0x00]);
        c.shared.clock.clock_comparator = 0x1122_3344_5566_7788;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(
            g.stores,
            [(0x2000, 0x1122_3344_5566_7788u64.to_be_bytes().to_vec())]
        );
    }

    #[test]
    fn an_operand_fetch_is_made_through_the_root_page_by_page() {
        // lg r1,0xffc(r2): 8 bytes across the page boundary at 0x3000.
        let mut c = setup(&[0xe3, 0x12, 0x0f, 0xfc, 0x00, 0x04]);
        c.page[(offset::GPR + 16) / 8] = 0x2000;
        let mut g = guest();
        assert_eq!(c.call(3 << 8 | 1, &mut g), COMPLETED);
        assert_eq!(g.loads, [(0x2ffc, 4), (0x3000, 4)]);
        assert_eq!(c.page[(offset::GPR + 8) / 8], 0xfcfd_feff_0001_0203);
    }

    #[test]
    fn a_fetch_the_root_refuses_or_a_change_of_the_program_mask_leaves_the_site_to_the_host() {
        // lg r1,0(r2) faults; spm r1 changes the program mask.
        for bytes in [&[0xe3, 0x10, 0x20, 0x00, 0x00, 0x04][..], &[0x04, 0x10]] {
            let mut c = setup(bytes);
            c.page[(offset::GPR + 8) / 8] = 0x0f00_0000;
            let before = c.page;
            let mut g = Recorded {
                faults: true,
                ..guest()
            };
            assert_eq!(c.call(3 << 8 | 1, &mut g), HOST, "{bytes:x?}");
            assert_eq!(c.page, before);
            let slot = crate::protocol::find_site(&c.sites, 3 << 8 | 1).unwrap();
            assert_eq!(c.sites[slot].refused, 1, "{bytes:x?}");
        }
    }
}
