//! Making the vCPU leave from another thread: what another s390x CPU
//! needs when it must reach this one at its next instruction boundary (a
//! SIGP order, an invalidation of configuration scope, a debugger's stop)
//! while it runs translated code in `KVM_RUN`.
//!
//! [`Interrupter::interrupt`] records the request, sets `immediate_exit`
//! in the vCPU's `kvm_run` and sends the kick signal (`kick.rs`) to
//! the thread that last ran the vCPU: inside `KVM_RUN` the signal makes it
//! return `EINTR`; a thread about to enter it finds `immediate_exit` set
//! and returns `EINTR` at once (the KVM API's race-free kick, QEMU's
//! `kvm_cpu_kick`). The run loop then treats the request as a deadline
//! that has passed ([`crate::ExitHandler::preempt`]).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::KvmError;
use crate::kick;

/// The vCPU's `immediate_exit` byte, while the vCPU exists.
#[derive(Debug)]
struct ExitByte(Option<*mut u8>);

// SAFETY: the pointer is only dereferenced under the mutex that holds it,
// as an atomic byte, and is cleared before the vCPU (its mapping) goes.
unsafe impl Send for ExitByte {}

#[derive(Debug)]
struct Shared {
    requested: AtomicBool,
    /// The thread that last ran the vCPU (0: none yet).
    thread: AtomicI32,
    exit: Mutex<ExitByte>,
}

/// A handle that makes the vCPU's current or next run leave at its next
/// safe point, from any thread ([`crate::KvmHost::interrupter`]).
#[derive(Clone, Debug)]
pub struct Interrupter(Arc<Shared>);

impl Interrupter {
    /// Asks the vCPU to leave its run (or its next one) at its next safe
    /// point; nothing once the vCPU is gone.
    pub fn interrupt(&self) {
        let shared = &*self.0;
        shared.requested.store(true, Ordering::SeqCst);
        let exit = shared.exit.lock().unwrap_or_else(|e| e.into_inner());
        let Some(byte) = exit.0 else {
            return;
        };
        // SAFETY: `byte` points into the vCPU's kvm_run mapping, which
        // lives until `Source` is dropped, and that clears it under this
        // lock first; the kernel reads the byte, this process writes it
        // only as an atomic byte.
        unsafe { AtomicU8::from_ptr(byte) }.store(1, Ordering::SeqCst);
        let thread = shared.thread.load(Ordering::SeqCst);
        if thread != 0 {
            kick::signal(thread);
        }
    }
}

/// The vCPU's side of its [`Interrupter`]s.
#[derive(Debug)]
pub(crate) struct Source(Interrupter);

impl Source {
    /// Interrupts through `immediate_exit`, the byte of the vCPU's
    /// `kvm_run`; installs the kick's signal handler.
    ///
    /// # Safety
    /// `immediate_exit` stays valid until this is dropped.
    pub unsafe fn new(immediate_exit: *mut u8) -> Result<Self, KvmError> {
        kick::ensure_handler()?;
        Ok(Self(Interrupter(Arc::new(Shared {
            requested: AtomicBool::new(false),
            thread: AtomicI32::new(0),
            exit: Mutex::new(ExitByte(Some(immediate_exit))),
        }))))
    }

    /// A handle for other threads.
    pub fn interrupter(&self) -> Interrupter {
        self.0.clone()
    }

    /// The calling thread runs the vCPU from now on.
    pub fn runs_here(&self) {
        let thread = kick::current_thread();
        (self.0).0.thread.store(thread, Ordering::SeqCst);
    }

    /// Takes a request, if one came: `immediate_exit` is cleared first, so
    /// a request that comes meanwhile is kept (at worst one more `EINTR`).
    pub fn take(&self) -> bool {
        let shared = &*(self.0).0;
        if let Some(byte) = shared.exit.lock().unwrap_or_else(|e| e.into_inner()).0 {
            // SAFETY: as in `Interrupter::interrupt`.
            unsafe { AtomicU8::from_ptr(byte) }.store(0, Ordering::SeqCst);
        }
        shared.requested.swap(false, Ordering::SeqCst)
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let shared = &*(self.0).0;
        shared.exit.lock().unwrap_or_else(|e| e.into_inner()).0 = None;
    }
}
