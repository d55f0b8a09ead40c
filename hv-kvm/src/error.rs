//! Why a KVM backend could not be built or could not run.

use std::fmt;

/// The KVM API version this crate is written against (`KVM_GET_API_VERSION`).
pub const KVM_API_VERSION: i32 = 12;

/// An error of the KVM backend. The variants about `/dev/kvm` name what is
/// missing and how to fix it; tests treat exactly [`KvmError::is_unavailable`]
/// as a reason to skip.
#[derive(Debug)]
pub enum KvmError {
    /// `/dev/kvm` does not exist.
    DeviceMissing,
    /// `/dev/kvm` exists but this process may not open it.
    PermissionDenied,
    /// Opening `/dev/kvm` failed for another reason.
    Open(std::io::Error),
    /// The kernel speaks another KVM API version.
    ApiVersion {
        /// What `KVM_GET_API_VERSION` answered.
        found: i32,
    },
    /// A capability the backend needs is absent.
    MissingCapability(&'static str),
    /// A KVM ioctl failed.
    Ioctl {
        /// Which operation.
        what: &'static str,
        /// The error the kernel returned.
        source: std::io::Error,
    },
    /// Host memory for guest storage or the runtime could not be mapped.
    Memory {
        /// What was being allocated.
        what: &'static str,
        /// The error of `mmap`.
        source: std::io::Error,
    },
    /// A configuration value is out of range.
    Config(String),
    /// The runtime could not be assembled (a bug in this crate).
    Assemble(String),
    /// The page-table pool has no free page left.
    PoolExhausted,
    /// A mapping order named a frame outside guest storage, an address
    /// outside the lower half, or a misaligned range.
    BadMapping(String),
    /// A root handle that this backend did not create or already released.
    UnknownRoot {
        /// The root's CR3 (the guest-physical address of its PML4).
        cr3: u64,
    },
    /// The runtime took an exception it cannot forward (a bug in this crate
    /// or a hypervisor that does not behave like x86).
    GuestException {
        /// The x86 exception vector.
        vector: u8,
        /// Where it happened.
        rip: u64,
        /// The error code pushed (0 where none).
        error_code: u64,
        /// CR2 at the time.
        cr2: u64,
    },
    /// The vCPU stopped for a reason the run loop does not expect.
    UnexpectedExit(String),
    /// The in-VM runtime image panicked (a bug in it, or a host and an
    /// image that disagree); it reported where through a fatal exit.
    RuntimePanic(PanicLocation),
}

/// Where the in-VM runtime image panicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicLocation {
    /// The source file.
    pub file: String,
    /// The line.
    pub line: u32,
    /// The column.
    pub column: u32,
}

impl KvmError {
    /// KVM is not usable on this machine at all (no device, no permission,
    /// wrong API): the case in which tests print `SKIP`.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::DeviceMissing | Self::PermissionDenied | Self::Open(_) | Self::ApiVersion { .. }
        )
    }

    pub(crate) fn ioctl(what: &'static str, error: kvm_ioctls::Error) -> Self {
        Self::Ioctl {
            what,
            source: std::io::Error::from_raw_os_error(error.errno()),
        }
    }
}

impl fmt::Display for KvmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeviceMissing => write!(
                f,
                "/dev/kvm not present: load the KVM module (modprobe kvm_intel or kvm_amd) \
                 or run on a host with hardware virtualization (or nested virtualization) enabled"
            ),
            Self::PermissionDenied => write!(
                f,
                "/dev/kvm: permission denied: add the user to the kvm group \
                 (usermod -aG kvm $USER, then log in again) or run as root"
            ),
            Self::Open(e) => write!(f, "/dev/kvm could not be opened: {e}"),
            Self::ApiVersion { found } => {
                write!(f, "KVM API version {found}, this crate needs {KVM_API_VERSION}: use a newer kernel")
            }
            Self::MissingCapability(cap) => write!(f, "KVM lacks capability {cap}"),
            Self::Ioctl { what, source } => write!(f, "KVM {what} failed: {source}"),
            Self::Memory { what, source } => write!(f, "could not map host memory for {what}: {source}"),
            Self::Config(why) => write!(f, "bad configuration: {why}"),
            Self::Assemble(why) => write!(f, "runtime assembly failed: {why}"),
            Self::PoolExhausted => write!(f, "the page-table pool is exhausted (raise KvmConfig::pool_size)"),
            Self::BadMapping(why) => write!(f, "bad mapping order: {why}"),
            Self::UnknownRoot { cr3 } => {
                write!(f, "unknown or released root (PML4 at guest-physical {cr3:#x})")
            }
            Self::GuestException { vector, rip, error_code, cr2 } => write!(
                f,
                "runtime exception vector {vector} at rip {rip:#x} (error code {error_code:#x}, cr2 {cr2:#x})"
            ),
            Self::UnexpectedExit(what) => write!(f, "unexpected vCPU exit: {what}"),
            Self::RuntimePanic(at) => write!(
                f,
                "the in-VM runtime panicked at {}:{}:{}",
                at.file, at.line, at.column
            ),
        }
    }
}

impl std::error::Error for KvmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Open(e) | Self::Ioctl { source: e, .. } | Self::Memory { source: e, .. } => {
                Some(e)
            }
            _ => None,
        }
    }
}
