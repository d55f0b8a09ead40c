//! Preemption of the running vCPU at a deadline, without a check in the
//! VM: a POSIX timer sends a real-time signal to the thread that runs the
//! vCPU, `KVM_RUN` returns `EINTR`, and the run loop lets the
//! [`ExitHandler`](crate::ExitHandler) make the guest code leave at its
//! next safe point. This is QEMU's and the rust-vmm VMMs' "kick" of a
//! vCPU; it costs one exit when the deadline comes and nothing before.

use std::sync::Once;
use std::time::Duration;

use crate::error::KvmError;

/// The signal number of the kick: the first real-time signal (the one
/// rust-vmm VMMs use to kick vCPUs).
fn kick_signal() -> libc::c_int {
    vmm_sys_util::signal::SIGRTMIN()
}

/// The kick's handler does nothing: its only effect is that `KVM_RUN`
/// returns `EINTR`.
extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

static HANDLER: Once = Once::new();

/// Installs [`on_kick`], with `SA_RESTART` so that the host's other system
/// calls go on (`KVM_RUN` returns `EINTR` whatever the flag says).
fn install_handler() -> Result<(), KvmError> {
    // SAFETY: a zeroed sigaction is valid (integers, an empty mask); the
    // handler is set below and does nothing, so it is async-signal-safe.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_kick as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: `action` is valid for the call; the old action is not read.
    if unsafe { libc::sigaction(kick_signal(), &action, std::ptr::null_mut()) } != 0 {
        return Err(KvmError::Config(format!(
            "the vCPU kick's signal handler: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Installs the kick's (empty) signal handler, once per process: before
/// anything sends the kick signal, whose default action ends the process.
pub(crate) fn ensure_handler() -> Result<(), KvmError> {
    let mut installed = Ok(());
    HANDLER.call_once(|| installed = install_handler());
    installed
}

/// Sends the kick signal to thread `thread` of this process.
pub(crate) fn signal(thread: libc::pid_t) {
    // SAFETY: tgkill has no memory effects; a thread that is gone makes it
    // fail with ESRCH, which is ignored (nothing to kick).
    unsafe {
        libc::syscall(libc::SYS_tgkill, libc::getpid(), thread, kick_signal());
    }
}

/// A timer that kicks the thread that armed it.
#[derive(Debug)]
pub(crate) struct Kick {
    timer: libc::timer_t,
    /// The thread the timer signals.
    thread: libc::pid_t,
    armed: bool,
}

// SAFETY: the timer id is a kernel handle, usable from any thread of the
// process; its target thread is updated when another thread arms it.
unsafe impl Send for Kick {}

/// The calling thread's id.
pub(crate) fn current_thread() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// A timer that signals `thread` with the kick signal.
fn create(thread: libc::pid_t) -> Result<libc::timer_t, KvmError> {
    // SAFETY: a zeroed sigevent is valid (all-integer fields); the fields
    // the kernel reads for SIGEV_THREAD_ID are set below.
    let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
    event.sigev_notify = libc::SIGEV_THREAD_ID;
    event.sigev_signo = kick_signal();
    event.sigev_notify_thread_id = thread;
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: `event` and `timer` are valid for the call.
    if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) } != 0 {
        return Err(KvmError::Config(format!(
            "timer_create for the vCPU kick: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(timer)
}

impl Kick {
    /// A disarmed timer aimed at the calling thread; installs the kick's
    /// (empty) signal handler once per process.
    pub(crate) fn new() -> Result<Self, KvmError> {
        ensure_handler()?;
        let thread = current_thread();
        Ok(Self {
            timer: create(thread)?,
            thread,
            armed: false,
        })
    }

    /// Kicks the calling thread once, after `delay` (a kick that lands
    /// outside `KVM_RUN` is lost: the caller arms it again).
    pub(crate) fn arm(&mut self, delay: Duration) -> Result<(), KvmError> {
        let thread = current_thread();
        if thread != self.thread {
            let timer = create(thread)?;
            self.delete();
            (self.timer, self.thread) = (timer, thread);
        }
        let spec = |d: Duration| libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        };
        // A zero value would disarm the timer: the earliest kick is 1 ns.
        let value = libc::itimerspec {
            it_value: spec(delay.max(Duration::from_nanos(1))),
            it_interval: spec(Duration::ZERO),
        };
        self.set(&value)?;
        self.armed = true;
        Ok(())
    }

    /// No more kicks.
    pub(crate) fn disarm(&mut self) -> Result<(), KvmError> {
        if !self.armed {
            return Ok(());
        }
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        self.set(&libc::itimerspec {
            it_value: zero,
            it_interval: zero,
        })?;
        self.armed = false;
        Ok(())
    }

    fn set(&self, value: &libc::itimerspec) -> Result<(), KvmError> {
        // SAFETY: the timer id is valid (created in new/arm, deleted only
        // on drop or replacement) and `value` lives for the call.
        if unsafe { libc::timer_settime(self.timer, 0, value, std::ptr::null_mut()) } != 0 {
            return Err(KvmError::Config(format!(
                "timer_settime for the vCPU kick: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }

    fn delete(&mut self) {
        // SAFETY: the timer id is valid and is not used after this.
        unsafe { libc::timer_delete(self.timer) };
    }
}

impl Drop for Kick {
    fn drop(&mut self) {
        self.delete();
    }
}
