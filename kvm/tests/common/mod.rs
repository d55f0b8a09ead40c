//! What the kvm engine's tests share: page-aligned guest storage, a
//! machine running a short program, and the engine (or a visible SKIP
//! where KVM is unavailable) run against the interpreter.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};

use zmmu_kvm::KvmEngine;
use zmmu_machine::main_storage::MainStorage;
use zmmu_machine::{Machine, Observer, RunOutcome, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Host time as `zmmu run --engine kvm` has it (the host's TSC, which the
/// in-VM runtime follows), or `None` after a SKIP line where this host
/// cannot give it (no KVM, or the host kernel's clock is not the TSC).
pub fn host_time() -> Option<zmmu_kvm::TscTime> {
    zmmu_kvm::TscTime::new()
        .map_err(|e| eprintln!("SKIP: host time on the TSC: {e}"))
        .ok()
}

/// KVM maps guest storage only from page-aligned host memory: large
/// allocations (guest storage, 256 KiB and more) are page-aligned here, as the `zmmu`
/// binary's lazy allocator makes them.
struct PageAligned;

fn adjust(layout: Layout) -> Layout {
    if layout.size() >= 1 << 18 {
        layout.align_to(4096).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every call goes to the system allocator with the same adjusted
// layout for allocation and deallocation.
unsafe impl GlobalAlloc for PageAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for System, with a valid (stricter) layout.
        unsafe { System.alloc(adjust(layout)) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(adjust(layout)) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with the same adjusted layout.
        unsafe { System.dealloc(ptr, adjust(layout)) }
    }
}

#[global_allocator]
static ALLOCATOR: PageAligned = PageAligned;

/// The kvm engine over `storage`, or `None` after a SKIP line where KVM
/// cannot be used here.
pub fn engine(storage: &MainStorage) -> Option<KvmEngine> {
    match KvmEngine::new(storage, 2 << 20) {
        Ok(engine) => Some(engine),
        Err(e) if e.is_unavailable() => {
            eprintln!("SKIP: {e}");
            None
        }
        Err(e) => panic!("KVM is present but the engine failed: {e}"),
    }
}

/// An observer that looks at nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// A 16 MiB machine started at `at`, where `program` is, with a
/// disabled-wait program-new PSW (64-bit, address 0x777): the invalid
/// opcode that ends each test program stops the run.
pub fn program_machine(at: u64, program: &[u8]) -> Machine {
    let mut machine = Machine::new(16 << 20);
    let storage = &mut machine.bus.storage;
    storage.write(AbsoluteAddress::new(at), program).unwrap();
    storage
        .write_u64(AbsoluteAddress::new(0x1d0), 0x0002_0001_8000_0000)
        .unwrap();
    storage
        .write_u64(AbsoluteAddress::new(0x1d8), 0x777)
        .unwrap();
    machine.start(at);
    machine
}

/// Runs `machine` on the kvm engine for at most `limit` instructions and
/// checks that the engine did not fail and that the run stopped as the
/// interpreter's run `expected` did, after as many instructions: the
/// machine and the engine afterwards, or `None` after a SKIP line where
/// KVM is unavailable.
pub fn run_like(
    expected: &RunOutcome,
    mut machine: Machine,
    limit: u64,
) -> Option<(Machine, KvmEngine)> {
    let mut engine = engine(&machine.bus.storage)?;
    let outcome = machine.run_with(Some(limit), &mut Quiet, &mut engine);
    assert!(engine.failure().is_none(), "{:?}", engine.failure());
    assert_eq!(outcome.stop, expected.stop);
    assert_eq!(outcome.instructions, expected.instructions);
    Some((machine, engine))
}

/// The machine `build` makes, run by the interpreter for at most `limit`
/// instructions to a disabled wait (the reference, returned whatever
/// happens next), then by the kvm engine, which must end alike
/// ([`run_like`]): its machine and the engine, or `None` where KVM is
/// unavailable.
pub fn on_both(build: impl Fn() -> Machine, limit: u64) -> (Machine, Option<(Machine, KvmEngine)>) {
    let mut reference = build();
    let expected = reference.run(Some(limit), &mut Quiet);
    assert!(
        matches!(expected.stop, Stop::DisabledWait { .. }),
        "{:?}",
        expected.stop
    );
    let kvm = run_like(&expected, build(), limit);
    (reference, kvm)
}

/// Stores each doubleword `value` at absolute `at` of `machine`'s storage.
pub fn write_words(machine: &mut Machine, words: &[(u64, u64)]) {
    for &(at, value) in words {
        machine
            .bus
            .storage
            .write_u64(AbsoluteAddress::new(at), value)
            .unwrap();
    }
}

/// A segment table at `segments` (one page, 512 entries: what an ASCE of
/// the segment-table type designates, PoP ch. 3 "Translation Tables")
/// whose first entry is the page table at `pages` and the others invalid
/// (bit 58, 0x20): an address space of one MiB.
pub fn segment_table(machine: &mut Machine, segments: u64, pages: u64) {
    let words: Vec<(u64, u64)> = (0..512)
        .map(|segment| {
            (
                segments + segment * 8,
                if segment == 0 { pages } else { 0x20 },
            )
        })
        .collect();
    write_words(machine, &words);
}

/// A page table at `pages` for the first MiB: entry `n` is `entry` of
/// the page's address `n << 12` (a frame, or 0x400 for an invalid page).
pub fn page_table(machine: &mut Machine, pages: u64, entry: impl Fn(u64) -> u64) {
    let words: Vec<(u64, u64)> = (0..256)
        .map(|page| (pages + page * 8, entry(page << 12)))
        .collect();
    write_words(machine, &words);
}

/// `len` bytes of `machine`'s storage at absolute `at`.
pub fn bytes_at(machine: &Machine, at: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    machine
        .bus
        .storage
        .read(AbsoluteAddress::new(at), &mut bytes)
        .unwrap();
    bytes
}

/// The registers and lowcore both runs must agree on: the PSW, general
/// and vector registers, the FPC, and the program interruption's fields
/// (interruption code and ILC at 0x8c, DXC at 0x93, program old PSW at
/// 0x150).
pub fn assert_same(machine: &Machine, reference: &Machine) {
    assert_eq!(machine.cpu.psw, reference.cpu.psw);
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    assert_eq!(machine.cpu.vr, reference.cpu.vr);
    assert_eq!(machine.cpu.fpc, reference.cpu.fpc, "the FPC");
    assert_eq!(
        bytes_at(machine, 0x80, 0x180),
        bytes_at(reference, 0x80, 0x180),
        "the lowcore's interruption fields"
    );
}

/// The count `list` gives `mnemonic` (zero if it names it not): a list
/// by mnemonic of the engine's counters.
pub fn count(list: &[(&str, u64)], mnemonic: &str) -> u64 {
    list.iter()
        .find(|&&(m, _)| m == mnemonic)
        .map_or(0, |&(_, n)| n)
}

/// Calls of `mnemonic` the in-VM runtime image completed.
pub fn in_vm(engine: &KvmEngine, mnemonic: &str) -> u64 {
    count(&engine.completed_in_vm(), mnemonic)
}

pub mod paged;
pub mod system_call;
