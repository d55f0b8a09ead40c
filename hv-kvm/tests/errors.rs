//! The typed errors say what is missing and how to fix it.
#![forbid(unsafe_code)]

use std::path::Path;

use zmmu_hv_kvm::vm::open_at;
use zmmu_hv_kvm::KvmError;

#[test]
fn a_missing_device_names_the_module_to_load() {
    let error = open_at(Path::new("/nonexistent/kvm")).unwrap_err();
    assert!(matches!(error, KvmError::DeviceMissing));
    assert!(error.is_unavailable());
    let text = error.to_string();
    assert!(
        text.contains("/dev/kvm not present") && text.contains("modprobe"),
        "{text}"
    );
}

#[test]
fn a_device_that_is_not_kvm_is_an_open_or_ioctl_error() {
    // /dev/null opens but answers no KVM ioctl.
    match open_at(Path::new("/dev/null")) {
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(_) => panic!("/dev/null is not KVM"),
    }
}

#[test]
fn permission_denied_says_how_to_get_access() {
    let text = KvmError::PermissionDenied.to_string();
    assert!(text.contains("kvm group"), "{text}");
}
