//! Self-modifying code under the kvm engine: a store from translated code
//! into the frame of the block that runs drops the block, and the next
//! pass runs the new instruction, exactly as the interpreter does.

use std::alloc::{GlobalAlloc, Layout, System};

use zmmu_machine::{Machine, Observer, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// KVM maps guest storage only from page-aligned host memory: large
/// allocations (guest storage) are page-aligned here, as the `zmmu`
/// binary's lazy allocator makes them.
struct PageAligned;

fn adjust(layout: Layout) -> Layout {
    if layout.size() >= 1 << 20 {
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

struct Quiet;
impl Observer for Quiet {}

/// lghi r3,0 ; lghi r4,7 ; lghi r5,2 ; larl r1,X ; nopr ;
/// X: aghi r3,5 ; sth r4,2(r1) (X becomes aghi r3,7) ; brctg r5,X ;
/// then an invalid opcode: the program-new PSW is a disabled wait.
const PROGRAM: [u8; 34] = [
    0xa7, 0x39, 0x00, 0x00, 0xa7, 0x49, 0x00, 0x07, 0xa7, 0x59, 0x00, 0x02, 0xc0, 0x10, 0x00, 0x00,
    0x00, 0x04, 0x07, 0x00, 0xa7, 0x3b, 0x00, 0x05, 0x40, 0x40, 0x10, 0x02, 0xa7, 0x57, 0xff, 0xfc,
    0x00, 0x00,
];

fn machine() -> Machine {
    let mut machine = Machine::new(16 << 20);
    let storage = &mut machine.bus.storage;
    storage
        .write(AbsoluteAddress::new(0x2000), &PROGRAM)
        .unwrap();
    // Program-new PSW: disabled wait, 64-bit, address 0x777.
    storage
        .write_u64(AbsoluteAddress::new(0x1d0), 0x0002_0001_8000_0000)
        .unwrap();
    storage
        .write_u64(AbsoluteAddress::new(0x1d8), 0x777)
        .unwrap();
    machine.start(0x2000);
    machine
}

#[test]
fn a_store_into_the_running_block_changes_the_next_pass_as_in_the_interpreter() {
    let mut reference = machine();
    let expected = reference.run(Some(1000), &mut Quiet);
    assert_eq!(
        reference.cpu.gpr[3], 12,
        "5 on the first pass, 7 on the second"
    );
    let mut machine = machine();
    let mut engine = match zmmu_kvm::KvmEngine::new(&machine.bus.storage, 2 << 20) {
        Ok(engine) => engine,
        Err(e) if e.is_unavailable() => {
            eprintln!("SKIP: {e}");
            return;
        }
        Err(e) => panic!("KVM is present but the engine failed: {e}"),
    };
    let outcome = machine.run_with(Some(1000), &mut Quiet, &mut engine);
    assert!(engine.failure().is_none(), "{:?}", engine.failure());
    assert!(
        matches!(outcome.stop, Stop::DisabledWait { .. }),
        "{:?}",
        outcome.stop
    );
    assert_eq!(outcome.stop, expected.stop);
    assert_eq!(outcome.instructions, expected.instructions);
    assert_eq!(machine.cpu.gpr, reference.cpu.gpr);
    assert!(engine.stats().code_page_writes >= 1, "{:?}", engine.stats());
}
