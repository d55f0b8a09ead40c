//! Low-address protection (PoP ch. 3, Low-Address Protection).

use crate::control::{Controls, Cr0};

/// The effective address lies in a low-address-protected range: bytes
/// 0-511 and 4096-4607, that is `(address & !0x11FF) == 0`.
#[inline]
pub const fn is_low_address(address: u64) -> bool {
    address & !0x11FF == 0
}

/// Low-address protection is active for an access: CR0 bit 35 is one and
/// either DAT is off or the space used is not private (ASCE P = 0).
#[inline]
pub fn active(controls: &Controls, private_space: Option<bool>) -> bool {
    controls.cr0.contains(Cr0::LOW_ADDRESS_PROTECTION) && private_space != Some(true)
}

/// Low-address protection refuses a store at `address`.
#[inline]
pub fn refuses_store(controls: &Controls, private_space: Option<bool>, address: u64) -> bool {
    is_low_address(address) && active(controls, private_space)
}
