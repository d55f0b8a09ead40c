//! Executable memory for translated code, W^X: the mapping is readable and
//! executable; the pages a new block goes to are made writable (and not
//! executable) while it is copied in, then executable again.

use std::ptr::NonNull;

/// A region of executable memory filled block after block.
#[derive(Debug)]
pub struct CodeBuffer {
    ptr: NonNull<u8>,
    len: usize,
    used: usize,
}

const PAGE: usize = 4096;
const ALIGN: usize = 16;

impl CodeBuffer {
    /// Maps `len` bytes (rounded up to pages), readable and executable.
    pub fn new(len: usize) -> Result<Self, String> {
        let len = len.max(PAGE).div_ceil(PAGE) * PAGE;
        // SAFETY: an anonymous private mapping at an address the kernel
        // chooses touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!(
                "cannot map {len} bytes of executable memory: {}",
                std::io::Error::last_os_error()
            ));
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or("mmap returned null")?;
        Ok(Self { ptr, len, used: 0 })
    }

    fn next_offset(&self) -> usize {
        self.used.div_ceil(ALIGN) * ALIGN
    }

    /// The host address the next block will be placed at.
    pub fn next_address(&self) -> u64 {
        self.ptr.as_ptr() as u64 + self.next_offset() as u64
    }

    /// The host address of offset `at`.
    pub fn address(&self, at: usize) -> *const u8 {
        self.ptr.as_ptr().wrapping_add(at)
    }

    /// Copies `code` to [`CodeBuffer::next_address`]; its offset, or `None`
    /// when it does not fit (or the protection cannot be changed).
    pub fn push(&mut self, code: &[u8]) -> Option<usize> {
        let start = self.next_offset();
        let end = start.checked_add(code.len())?;
        if end > self.len {
            return None;
        }
        let first = start / PAGE * PAGE;
        let last = end.div_ceil(PAGE) * PAGE;
        let pages = self.ptr.as_ptr().wrapping_add(first).cast::<libc::c_void>();
        // SAFETY: the pages are inside our mapping; no block runs while
        // they are writable (translation happens between blocks).
        if unsafe { libc::mprotect(pages, last - first, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
            return None;
        }
        // SAFETY: `start..end` is inside the mapping (checked above) and
        // now writable; `code` is a separate allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), self.ptr.as_ptr().add(start), code.len());
        }
        // SAFETY: as for the first mprotect.
        if unsafe { libc::mprotect(pages, last - first, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return None;
        }
        self.used = end;
        Some(start)
    }

    /// Forgets every block (the memory is reused from the start).
    pub fn reset(&mut self) {
        self.used = 0;
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.used
    }
}

impl Drop for CodeBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping was created in `new` with this length and is
        // not referenced after the buffer is dropped.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
