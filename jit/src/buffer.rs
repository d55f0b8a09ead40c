//! Executable memory for translated code, W^X: the mapping code runs from
//! is readable and executable, never writable. Where the host allows it
//! (Linux: `memfd_create`) the same memory is mapped a second time,
//! readable and writable, at another address, and new blocks are copied
//! there (as QEMU's split-W^X mode): no system call per block. Elsewhere
//! the pages a new block goes to are made writable (and not executable)
//! while it is copied in, then executable again (two `mprotect` calls per
//! block).

use std::ptr::NonNull;

/// A region of executable memory filled block after block.
#[derive(Debug)]
pub struct CodeBuffer {
    ptr: NonNull<u8>,
    /// The writable view of a dual mapping (`None`: `mprotect` per block).
    write: Option<NonNull<u8>>,
    len: usize,
    used: usize,
}

const PAGE: usize = 4096;
const ALIGN: usize = 16;

impl CodeBuffer {
    /// Maps `len` bytes (rounded up to pages), readable and executable
    /// (and a writable view of them where the host allows it).
    pub fn new(len: usize) -> Result<Self, String> {
        let len = len.max(PAGE).div_ceil(PAGE) * PAGE;
        if let Some((ptr, write)) = dual_mapping(len) {
            return Ok(Self {
                ptr,
                write: Some(write),
                len,
                used: 0,
            });
        }
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
        Ok(Self {
            ptr,
            write: None,
            len,
            used: 0,
        })
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
        if end > self.len || !self.write(start, code) {
            return None;
        }
        self.used = end;
        Some(start)
    }

    /// Overwrites the bytes at host address `at` with `code`, inside code
    /// already pushed (a jump pointed at a block translated later);
    /// whether it did.
    pub fn patch(&mut self, at: u64, code: &[u8]) -> bool {
        let start = (at as usize).wrapping_sub(self.ptr.as_ptr() as usize);
        start
            .checked_add(code.len())
            .is_some_and(|end| end <= self.used)
            && self.write(start, code)
    }

    /// Writes `code` at offset `start` (`start + code.len()` within the
    /// mapping), through the writable view or by making the pages
    /// writable (and not executable) while it is copied in; whether it
    /// could.
    fn write(&mut self, start: usize, code: &[u8]) -> bool {
        let end = start + code.len();
        if let Some(write) = self.write {
            // SAFETY: `start..end` is inside the writable view (the
            // callers check), which no block runs from; `code` is a
            // separate allocation.
            unsafe {
                std::ptr::copy_nonoverlapping(code.as_ptr(), write.as_ptr().add(start), code.len());
            }
            return true;
        }
        let first = start / PAGE * PAGE;
        let last = end.div_ceil(PAGE) * PAGE;
        let pages = self.ptr.as_ptr().wrapping_add(first).cast::<libc::c_void>();
        // SAFETY: the pages are inside our mapping; no block runs while
        // they are writable (translation happens between blocks).
        if unsafe { libc::mprotect(pages, last - first, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
            return false;
        }
        // SAFETY: `start..end` is inside the mapping (the callers check)
        // and now writable; `code` is a separate allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), self.ptr.as_ptr().add(start), code.len());
        }
        // SAFETY: as for the first mprotect.
        unsafe { libc::mprotect(pages, last - first, libc::PROT_READ | libc::PROT_EXEC) == 0 }
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
        if let Some(write) = self.write {
            // SAFETY: as above, for the writable view.
            unsafe {
                libc::munmap(write.as_ptr().cast(), self.len);
            }
        }
    }
}

/// `len` bytes of anonymous shared memory mapped twice: (readable and
/// executable, readable and writable); `None` where the host cannot.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn dual_mapping(len: usize) -> Option<(NonNull<u8>, NonNull<u8>)> {
    // SAFETY: the name is a NUL-terminated string; the call creates a new
    // file descriptor and touches no memory of ours.
    let fd = unsafe { libc::memfd_create(c"zmmu-jit".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let size = libc::off_t::try_from(len).ok();
    // SAFETY: `fd` is the descriptor just created.
    let sized = size.is_some_and(|size| unsafe { libc::ftruncate(fd, size) } == 0);
    let map = |prot| {
        if !sized {
            return None;
        }
        // SAFETY: a shared mapping of our own memfd at an address the
        // kernel chooses touches no existing memory.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd, 0) };
        (p != libc::MAP_FAILED)
            .then(|| NonNull::new(p.cast::<u8>()))
            .flatten()
    };
    let exec = map(libc::PROT_READ | libc::PROT_EXEC);
    let write = map(libc::PROT_READ | libc::PROT_WRITE);
    // SAFETY: the mappings keep the memory; the descriptor is no longer
    // needed.
    unsafe {
        libc::close(fd);
    }
    match (exec, write) {
        (Some(exec), Some(write)) => Some((exec, write)),
        (exec, write) => {
            for p in [exec, write].into_iter().flatten() {
                // SAFETY: a mapping of `len` bytes made above, not used.
                unsafe {
                    libc::munmap(p.as_ptr().cast(), len);
                }
            }
            None
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn dual_mapping(_len: usize) -> Option<(NonNull<u8>, NonNull<u8>)> {
    None
}
