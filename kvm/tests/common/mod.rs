//! What the kvm engine's tests share: page-aligned guest storage and the
//! engine, or a visible SKIP where KVM is unavailable.

use std::alloc::{GlobalAlloc, Layout, System};

use zmmu_machine::main_storage::MainStorage;

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

/// The kvm engine over `storage`, or `None` after a SKIP line where KVM
/// cannot be used here.
pub fn engine(storage: &MainStorage) -> Option<zmmu_kvm::KvmEngine> {
    match zmmu_kvm::KvmEngine::new(storage, 2 << 20) {
        Ok(engine) => Some(engine),
        Err(e) if e.is_unavailable() => {
            eprintln!("SKIP: {e}");
            None
        }
        Err(e) => panic!("KVM is present but the engine failed: {e}"),
    }
}
