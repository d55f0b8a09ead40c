//! The KVM system and VM objects: opening `/dev/kvm` with a typed error,
//! creating the VM and registering its two memory slots.

use std::sync::Arc;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Cap, Kvm, VmFd};

use crate::error::{KvmError, KVM_API_VERSION};
use crate::memory::SlotMemory;

/// The path of the KVM device.
pub const KVM_DEVICE: &str = "/dev/kvm";

/// Slot 0: guest-absolute storage at guest-physical 0.
pub(crate) const STORAGE_SLOT: u32 = 0;
/// Slot 1: the runtime and the page-table pool.
pub(crate) const SYSTEM_SLOT: u32 = 1;
/// Slot 2: the code cache of translated code.
pub(crate) const CODE_SLOT: u32 = 2;
/// Slot 3: the in-VM runtime image (`image`).
pub(crate) const IMAGE_SLOT: u32 = 3;

/// Opens `/dev/kvm` and checks the API version and the capabilities this
/// backend needs.
pub fn open() -> Result<Kvm, KvmError> {
    open_at(std::path::Path::new(KVM_DEVICE))
}

/// [`open`] for a KVM device at another path (tests, containers).
pub fn open_at(path: &std::path::Path) -> Result<Kvm, KvmError> {
    if !path.exists() {
        return Err(KvmError::DeviceMissing);
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| KvmError::Config("device path contains NUL".into()))?;
    let kvm = Kvm::new_with_path(&c_path).map_err(|e| match e.errno() {
        libc::ENOENT | libc::ENODEV | libc::ENXIO => KvmError::DeviceMissing,
        libc::EACCES | libc::EPERM => KvmError::PermissionDenied,
        errno => KvmError::Open(std::io::Error::from_raw_os_error(errno)),
    })?;
    let found = kvm.get_api_version();
    if found != KVM_API_VERSION {
        return Err(KvmError::ApiVersion { found });
    }
    if !kvm.check_extension(Cap::UserMemory) {
        return Err(KvmError::MissingCapability("KVM_CAP_USER_MEMORY"));
    }
    Ok(kvm)
}

/// Checks that KVM is usable here, without creating a VM.
pub fn available() -> Result<(), KvmError> {
    open().map(drop)
}

/// A VM with its memory slots.
#[derive(Debug)]
pub(crate) struct Vm {
    pub kvm: Kvm,
    pub fd: Arc<VmFd>,
}

impl Vm {
    pub fn new() -> Result<Self, KvmError> {
        let kvm = open()?;
        let fd = kvm
            .create_vm()
            .map_err(|e| KvmError::ioctl("KVM_CREATE_VM", e))?;
        Ok(Self {
            kvm,
            fd: Arc::new(fd),
        })
    }

    /// The region of a slot over `memory` at `gpa`.
    pub fn region(slot: u32, gpa: u64, memory: &SlotMemory) -> kvm_userspace_memory_region {
        kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: memory.len(),
            userspace_addr: memory.as_ptr() as u64,
        }
    }

    /// Registers a slot.
    pub fn add_slot(&self, region: kvm_userspace_memory_region) -> Result<(), KvmError> {
        // SAFETY: the region names host memory owned by the backend that
        // owns this VM; that memory is unmapped only after the VM is closed
        // (field order of `KvmHost`), so KVM never sees a dangling range.
        unsafe { self.fd.set_user_memory_region(region) }
            .map_err(|e| KvmError::ioctl("KVM_SET_USER_MEMORY_REGION", e))
    }
}
