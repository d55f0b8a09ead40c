//! Guest storage reserved lazily, as QEMU reserves it: a large zeroed
//! allocation (guest storage is one) becomes an anonymous private mapping
//! without swap reservation (`MAP_NORESERVE`), whose pages the host
//! materialises on first touch. So `--memory 64G` starts on a 24 GiB host,
//! and a guest pays only for the storage it uses. Everything else goes to
//! the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};

/// Zeroed allocations from this size up are mapped lazily.
pub const LAZY_FROM: usize = 64 << 20;

/// The allocator of the `zmmu` binary.
#[derive(Debug)]
pub struct LazyZeroed;

/// Maps `size` bytes of zeroed, lazily materialised memory, or null.
fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choice touches no existing memory; the result is checked below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    // Transparent huge pages where the host offers them on request (as
    // QEMU asks for its guest RAM): guest storage accessed at random
    // otherwise costs a host TLB miss per 4 KiB page (docs/PERFORMANCE.md,
    // "Translator, fourth step"). Advice only: a refusal changes nothing.
    // SAFETY: `p` is the mapping of `size` bytes just made.
    let _ = unsafe { libc::madvise(p, size, libc::MADV_HUGEPAGE) };
    p.cast()
}

/// Whether `size` bytes of guest storage can be reserved at all (the
/// address space and the host's overcommit policy allow it), so that a
/// size the host refuses is a one-line error rather than an abort.
pub fn can_reserve(size: usize) -> bool {
    let p = map(size);
    if p.is_null() {
        return false;
    }
    // SAFETY: `p` is the mapping of `size` bytes just made, used by nobody.
    unsafe { libc::munmap(p.cast(), size) };
    true
}

/// A mapping is page-aligned: it serves any alignment up to a page.
fn lazy(layout: Layout) -> bool {
    layout.size() >= LAZY_FROM && layout.align() <= 4096
}

// SAFETY: every block is either the system allocator's (and goes back to
// it) or a whole mapping of exactly `layout.size()` bytes (and is unmapped
// with that size); `lazy` decides which, from the layout alone, the same
// way at allocation and at deallocation.
unsafe impl GlobalAlloc for LazyZeroed {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if lazy(layout) {
            return map(layout.size());
        }
        // SAFETY: the caller's contract is passed through unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if lazy(layout) {
            // Anonymous mappings read as zeros.
            return map(layout.size());
        }
        // SAFETY: the caller's contract is passed through unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if lazy(layout) {
            // SAFETY: `ptr` is the mapping `alloc` made for this layout.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
            return;
        }
        // SAFETY: `ptr` came from the system allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}
