//! Running a benchmark kernel natively on the host: the very bytes the VM
//! runs, in an executable mapping, called directly (the "physical limit"
//! the hv-kvm numbers are compared against).

use crate::error::KvmError;
use crate::runtime::Kernel;

/// A kernel copied into executable host memory.
#[derive(Debug)]
pub struct NativeKernel {
    code: *mut libc::c_void,
    len: usize,
}

impl NativeKernel {
    /// Copies `kernel` into a fresh executable mapping.
    pub fn new(kernel: &Kernel) -> Result<Self, KvmError> {
        let len = kernel.code.len().next_multiple_of(4096).max(4096);
        // SAFETY: a fresh anonymous private mapping.
        let code = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if code == libc::MAP_FAILED {
            return Err(KvmError::Memory {
                what: "native kernel",
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: the mapping is at least kernel.code.len() bytes and fresh.
        unsafe {
            std::ptr::copy_nonoverlapping(kernel.code.as_ptr(), code as *mut u8, kernel.code.len())
        };
        // SAFETY: changes the protection of our own mapping only.
        if unsafe { libc::mprotect(code, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            let source = std::io::Error::last_os_error();
            // SAFETY: unmapping the mapping created above.
            unsafe { libc::munmap(code, len) };
            return Err(KvmError::Memory {
                what: "native kernel",
                source,
            });
        }
        Ok(Self { code, len })
    }

    /// Runs the kernel over `size` bytes (a power of two, at least 32) at
    /// `base`, 8-byte aligned. Checked here: size and alignment (a panic
    /// otherwise); the caller guarantees the memory.
    ///
    /// # Safety
    /// `base..base + size` must be memory the caller owns exclusively for
    /// the duration of the call.
    pub unsafe fn call(&self, base: *mut u8, size: u64, count: u64, seed: u64) -> u64 {
        assert!(size.is_power_of_two() && size >= 32 && (base as usize) % 8 == 0);
        // SAFETY: the mapping holds the kernel's position-independent
        // System V code (`runtime::kernel`), which only touches
        // `base + (offset & (size - 1) & !7)` and its argument registers.
        let f: extern "sysv64" fn(*mut u8, u64, u64, u64) -> u64 =
            unsafe { std::mem::transmute(self.code) };
        f(base, size - 1, count, seed)
    }
}

impl Drop for NativeKernel {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping created in `new`.
        unsafe { libc::munmap(self.code, self.len) };
    }
}
