//! The one long-mode vCPU: its initial state (64-bit mode entered directly
//! through `KVM_SET_SREGS`, no real-mode boot code) and its run loop, which
//! turns exits into [`Exit`] values.

use kvm_bindings::{
    kvm_device_attr, kvm_dtable, kvm_regs, kvm_segment, KVMIO, KVM_MAX_CPUID_ENTRIES,
    KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET,
};
use kvm_ioctls::{VcpuExit, VcpuFd};
use vmm_sys_util::ioctl::ioctl_with_ref;
use vmm_sys_util::ioctl_iow_nr;

use crate::error::KvmError;
use crate::runtime::{off, port, sel, va};
use crate::vm::Vm;

/// Why the vCPU came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The run (batch, kernel or flush) is over.
    Done,
    /// A page fault from CPL3 is waiting in the control block.
    Fault,
    /// The runtime took an unexpected exception (details in the control block).
    Fatal,
    /// The runtime asks for the next chunk of pending writes.
    More,
    /// CPL3 code asks the host for a call (argument in the user page).
    Call,
    /// A signal interrupted `KVM_RUN` (the kick, [`crate::kick`]); the
    /// vCPU is where it was and runs on at the next entry.
    Interrupted,
}

/// The vCPU.
#[derive(Debug)]
pub(crate) struct Vcpu {
    fd: VcpuFd,
}

const CR0_PE: u64 = 1 << 0;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

impl Vcpu {
    pub fn new(vm: &Vm) -> Result<Self, KvmError> {
        let fd = vm
            .fd
            .create_vcpu(0)
            .map_err(|e| KvmError::ioctl("KVM_CREATE_VCPU", e))?;
        let cpuid = vm
            .kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|e| KvmError::ioctl("KVM_GET_SUPPORTED_CPUID", e))?;
        fd.set_cpuid2(&cpuid)
            .map_err(|e| KvmError::ioctl("KVM_SET_CPUID2", e))?;
        Ok(Self { fd })
    }

    /// The guest TSC's rate in kHz (`KVM_GET_TSC_KHZ`).
    pub fn tsc_khz(&self) -> Result<u32, KvmError> {
        self.fd
            .get_tsc_khz()
            .map_err(|e| KvmError::ioctl("KVM_GET_TSC_KHZ", e))
    }

    /// The guest TSC's offset from the host's (`KVM_GET_DEVICE_ATTR` of
    /// `KVM_VCPU_TSC_OFFSET`, Linux 5.16; kvm-ioctls offers the call on
    /// aarch64 only): the guest reads the host's TSC plus this while its
    /// rate is the host's.
    pub fn tsc_offset(&self) -> Result<u64, KvmError> {
        ioctl_iow_nr!(KVM_GET_DEVICE_ATTR, KVMIO, 0xe2, kvm_device_attr);
        let mut offset = 0u64;
        let attr = kvm_device_attr {
            flags: 0,
            group: KVM_VCPU_TSC_CTRL,
            attr: u64::from(KVM_VCPU_TSC_OFFSET),
            addr: &mut offset as *mut u64 as u64,
        };
        // SAFETY: KVM_GET_DEVICE_ATTR reads `attr` and writes the 8 bytes
        // of the attribute at `attr.addr`, `offset`, which outlives the call.
        let ret = unsafe { ioctl_with_ref(&self.fd, KVM_GET_DEVICE_ATTR(), &attr) };
        if ret < 0 {
            return Err(KvmError::ioctl(
                "KVM_GET_DEVICE_ATTR (KVM_VCPU_TSC_OFFSET)",
                kvm_ioctls::Error::last(),
            ));
        }
        Ok(offset)
    }

    /// Puts the vCPU at the dispatcher, at CPL0 in 64-bit mode, with `cr3`.
    pub fn reset(&self, cr3: u64, dispatch: u64) -> Result<(), KvmError> {
        let mut s = self
            .fd
            .get_sregs()
            .map_err(|e| KvmError::ioctl("KVM_GET_SREGS", e))?;
        let code = kvm_segment {
            base: 0,
            limit: 0xffff_ffff,
            selector: sel::KCODE,
            type_: 11,
            present: 1,
            dpl: 0,
            db: 0,
            s: 1,
            l: 1,
            g: 1,
            avl: 0,
            unusable: 0,
            padding: 0,
        };
        let data = kvm_segment {
            selector: sel::KDATA,
            type_: 3,
            l: 0,
            db: 1,
            ..code
        };
        s.cs = code;
        s.ds = data;
        s.es = data;
        s.fs = data;
        s.gs = data;
        s.ss = data;
        s.tr = kvm_segment {
            base: va(off::TSS),
            limit: 103,
            selector: sel::TSS,
            type_: 11,
            s: 0,
            l: 0,
            g: 0,
            db: 0,
            ..code
        };
        s.ldt = kvm_segment {
            base: 0,
            limit: 0,
            selector: 0,
            type_: 2,
            s: 0,
            l: 0,
            g: 0,
            db: 0,
            unusable: 1,
            ..code
        };
        s.gdt = kvm_dtable {
            base: va(off::GDT),
            limit: 0x37,
            padding: [0; 3],
        };
        s.idt = kvm_dtable {
            base: va(off::IDT),
            limit: 32 * 16 - 1,
            padding: [0; 3],
        };
        s.cr0 = CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE;
        s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
        s.cr3 = cr3;
        s.efer = EFER_LME | EFER_LMA | EFER_NXE;
        self.fd
            .set_sregs(&s)
            .map_err(|e| KvmError::ioctl("KVM_SET_SREGS", e))?;
        let regs = kvm_regs {
            rip: dispatch,
            rsp: va(off::KSTACK_TOP),
            rflags: 2,
            ..Default::default()
        };
        self.fd
            .set_regs(&regs)
            .map_err(|e| KvmError::ioctl("KVM_SET_REGS", e))
    }

    /// The general registers.
    pub fn regs(&self) -> Result<kvm_regs, KvmError> {
        self.fd
            .get_regs()
            .map_err(|e| KvmError::ioctl("KVM_GET_REGS", e))
    }

    /// Sets the general registers.
    pub fn set_regs(&self, regs: &kvm_regs) -> Result<(), KvmError> {
        self.fd
            .set_regs(regs)
            .map_err(|e| KvmError::ioctl("KVM_SET_REGS", e))
    }

    /// The `immediate_exit` byte of the vCPU's `kvm_run` (valid while the
    /// vCPU lives): set, `KVM_RUN` returns `EINTR` at once.
    pub fn immediate_exit(&mut self) -> *mut u8 {
        &mut self.fd.get_kvm_run().immediate_exit
    }

    /// Runs until the runtime reports on one of its ports.
    pub fn run(&mut self) -> Result<Exit, KvmError> {
        loop {
            let exit = match self.fd.run() {
                Ok(VcpuExit::IoOut(p, _)) => match p {
                    port::DONE => Exit::Done,
                    port::FAULT => Exit::Fault,
                    port::FATAL => Exit::Fatal,
                    port::MORE => Exit::More,
                    port::CALL => Exit::Call,
                    other => {
                        return Err(KvmError::UnexpectedExit(format!("OUT to port {other:#x}")))
                    }
                },
                Ok(other) => return Err(KvmError::UnexpectedExit(format!("{other:?}"))),
                Err(e) if e.errno() == libc::EINTR => Exit::Interrupted,
                Err(e) if e.errno() == libc::EAGAIN => continue,
                Err(e) => return Err(KvmError::ioctl("KVM_RUN", e)),
            };
            return Ok(exit);
        }
    }
}
