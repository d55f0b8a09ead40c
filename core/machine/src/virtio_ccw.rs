//! A virtio device on the channel subsystem (virtio-ccw, as QEMU's
//! hw/s390x/virtio-ccw.c presents it and the virtio specification's
//! "Virtio over channel I/O" describes): SENSE ID answers control-unit
//! type 0x3832 with the virtio device ID as model. zmmu's devices have no
//! backend: the network device `virtio-net-ccw` exists for the guest to
//! find, identify and drive through the channel subsystem, and its
//! virtio-specific commands are rejected (unit check, command reject) until
//! a backend exists.

use crate::css::{Ccw, DataStream, Device, Outcome, SENSE_ID_LEN};

/// The control-unit type of every virtio-ccw device.
pub const CU_TYPE: u16 = 0x3832;

/// The virtio device ID of a network device.
pub const DEVICE_ID_NET: u8 = 1;

/// A virtio-ccw device without a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioCcw {
    /// The virtio device ID (the control-unit model in SENSE ID).
    pub device_id: u8,
}

impl VirtioCcw {
    /// `virtio-net-ccw`.
    pub const fn net() -> Self {
        Self {
            device_id: DEVICE_ID_NET,
        }
    }
}

impl Device for VirtioCcw {
    /// Control-unit type 0x3832, model = the device ID; device type and
    /// model 0; no command-information words.
    fn sense_id(&self) -> [u8; SENSE_ID_LEN] {
        let mut id = [0u8; SENSE_ID_LEN];
        id[0] = 0xFF;
        id[1..3].copy_from_slice(&CU_TYPE.to_be_bytes());
        id[3] = self.device_id;
        id
    }

    fn command(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> Outcome {
        let _ = (ccw, data);
        Outcome::Reject
    }
}
