//! The service-call logical processor (SCLP) as QEMU's `s390-ccw-virtio`
//! machine implements it for a console (hw/s390x/sclp.c,
//! event-facility.c, sclpconsole.c): SERVICE CALL with
//! *write event mask* (0x00780005) and *write event data* (0x00760005)
//! carrying ASCII console event buffers (type 0x1A). Completion is
//! signalled by a service-signal external interruption (code 0x2401) whose
//! parameter is the SCCB address.
//!
//! The SCCB is untrusted guest data: every length is checked against the
//! SCCB and the SCCB against storage, and nothing here can panic.

use alloc::vec::Vec;

use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::storage::Storage;

/// SCLP command words (after masking with [`COMMAND_MASK`]).
pub mod command {
    /// Read SCP information.
    pub const READ_SCP_INFO: u32 = 0x0002_0001;
    /// Read SCP information, forced.
    pub const READ_SCP_INFO_FORCED: u32 = 0x0012_0001;
    /// Read CPU information.
    pub const READ_CPU_INFO: u32 = 0x0001_0001;
    /// Configure an I/O adapter.
    pub const CONFIGURE_IOA: u32 = 0x001A_0001;
    /// Deconfigure an I/O adapter.
    pub const DECONFIGURE_IOA: u32 = 0x001B_0001;
    /// Read event data.
    pub const READ_EVENT_DATA: u32 = 0x0077_0005;
    /// Write event data.
    pub const WRITE_EVENT_DATA: u32 = 0x0076_0005;
    /// Write event mask.
    pub const WRITE_EVENT_MASK: u32 = 0x0078_0005;
}

/// The bits of a command word that select the command (QEMU
/// `SCLP_CMD_CODE_MASK`).
pub const COMMAND_MASK: u32 = 0xFFFF_00FF;

/// SCCB response codes QEMU stores.
pub mod response {
    /// Normal completion.
    pub const NORMAL: u16 = 0x0020;
    /// SCCB crosses a page boundary.
    pub const BOUNDARY_VIOLATION: u16 = 0x0300;
    /// Invalid function code.
    pub const INVALID_FUNCTION: u16 = 0x40F0;
    /// Invalid SCLP command.
    pub const INVALID_COMMAND: u16 = 0x01F0;
    /// Insufficient SCCB length.
    pub const INSUFFICIENT_LENGTH: u16 = 0x0300;
    /// Event buffer syntax error.
    pub const EVENT_BUFFER_SYNTAX: u16 = 0x73F0;
    /// Event buffers do not fill the SCCB exactly.
    pub const INCONSISTENT_LENGTHS: u16 = 0x5300;
    /// Invalid mask length.
    pub const INVALID_MASK_LENGTH: u16 = 0x74F0;
}

/// Event type of ASCII console data.
pub const EVENT_ASCII: u8 = 0x1A;
/// Event type of the signal-quiesce event.
pub const EVENT_SIGNAL_QUIESCE: u8 = 0x1D;
/// Event type of configuration-management data (CPU hotplug).
pub const EVENT_CONFIG_MGT: u8 = 0x04;
/// Event-buffer flag: the buffer was accepted.
pub const BUFFER_ACCEPTED: u8 = 0x80;

/// The 64-bit event mask bit of an event type (QEMU `SCLP_EVMASK`).
const fn event_mask(event: u8) -> u64 {
    1u64 << (64 - event as u32)
}

/// The largest mask length QEMU accepts.
const MASK_LENGTH_MAX: u16 = 1021;
/// The SCCB header: length, function code, control mask, response code.
const HEADER: usize = 8;
/// An event-buffer header: length, type, flags, reserved.
const EVENT_HEADER: usize = 6;

/// What a SERVICE CALL did besides its storage effects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serviced {
    /// The command completed: the condition code is 0 and a service signal
    /// with this parameter is now pending.
    Done {
        /// The external-interruption parameter (the SCCB address).
        parameter: u32,
    },
    /// A command QEMU performs that zmmu does not implement: the machine
    /// stops rather than pretend.
    Unsupported {
        /// The command word.
        command: u32,
    },
}

/// The SCLP state: the event masks the guest registered and the console
/// bytes written but not yet taken.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sclp {
    /// The guest's receive mask (events it accepts), from write event mask.
    pub receive_mask: u64,
    /// Console output not yet taken by [`Sclp::take_console`].
    pub console: Vec<u8>,
}

impl Sclp {
    /// The console bytes written since the last call.
    pub fn take_console(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.console)
    }

    /// SERVICE CALL with command word `command` and the SCCB at absolute
    /// address `sccb` (the real address, which QEMU uses unprefixed; an
    /// SCCB in the first 8 KiB is refused, so both agree).
    ///
    /// Program exceptions as QEMU raises them: specification if the SCCB is
    /// in the low 8 KiB or the prefix area, not doubleword aligned, at or
    /// above 2 GiB, or its length is below the header size; addressing if it
    /// is outside storage.
    pub fn service_call<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        prefix: u64,
        command: u32,
        sccb: u64,
    ) -> Result<Serviced, Exception> {
        if sccb & !0x1FFF == 0 || sccb & !0x1FFF == prefix || sccb & !0x7FFF_FFF8 != 0 {
            return Err(Exception::new(Code::SPECIFICATION));
        }
        let at = AbsoluteAddress::new(sccb);
        let mut header = [0u8; HEADER];
        storage
            .read(at, &mut header)
            .ok_or(Exception::new(Code::ADDRESSING))?;
        let length = usize::from(u16::from_be_bytes([header[0], header[1]]));
        if length < HEADER {
            return Err(Exception::new(Code::SPECIFICATION));
        }
        let mut block = alloc::vec![0u8; length];
        storage
            .read(at, &mut block)
            .ok_or(Exception::new(Code::ADDRESSING))?;

        let masked = command & COMMAND_MASK;
        let code = match masked {
            command::WRITE_EVENT_MASK | command::WRITE_EVENT_DATA
                if (sccb & 0xFFF) + length as u64 > 0x1000 =>
            {
                response::BOUNDARY_VIOLATION
            }
            command::WRITE_EVENT_MASK => self.write_event_mask(&mut block),
            command::WRITE_EVENT_DATA => self.write_event_data(&mut block),
            command::READ_SCP_INFO
            | command::READ_SCP_INFO_FORCED
            | command::READ_CPU_INFO
            | command::CONFIGURE_IOA
            | command::DECONFIGURE_IOA
            | command::READ_EVENT_DATA => return Ok(Serviced::Unsupported { command }),
            _ => response::INVALID_COMMAND,
        };
        block[6..8].copy_from_slice(&code.to_be_bytes());
        storage
            .write(at, &block)
            .ok_or(Exception::new(Code::ADDRESSING))?;
        Ok(Serviced::Done {
            parameter: (sccb & !3) as u32,
        })
    }

    /// Write event mask: records the guest's receive mask and answers the
    /// SCLP's own receive and send masks, each `mask_length` bytes.
    fn write_event_mask(&mut self, block: &mut [u8]) -> u16 {
        let Some(&[hi, lo]) = block.get(10..12) else {
            return response::INSUFFICIENT_LENGTH;
        };
        let mask_length = u16::from_be_bytes([hi, lo]);
        if mask_length == 0 || mask_length > MASK_LENGTH_MAX {
            return response::INVALID_MASK_LENGTH;
        }
        let len = usize::from(mask_length);
        // Four masks follow: CP receive, CP send, SCLP receive, SCLP send.
        let Some(masks) = block.get_mut(12..12 + 4 * len) else {
            return response::INSUFFICIENT_LENGTH;
        };
        self.receive_mask = read_mask(&masks[..len]);
        let sclp_receive = event_mask(EVENT_ASCII);
        let sclp_send = event_mask(EVENT_ASCII)
            | event_mask(EVENT_SIGNAL_QUIESCE)
            | event_mask(EVENT_CONFIG_MGT);
        write_mask(&mut masks[2 * len..3 * len], sclp_receive);
        write_mask(&mut masks[3 * len..4 * len], sclp_send);
        response::NORMAL
    }

    /// Write event data: checks that the event buffers exactly fill the
    /// SCCB, then hands each to its event type's handler; the ASCII console
    /// takes type 0x1A, and any other type ends the command with "invalid
    /// function" (trailing buffers are marked not accepted).
    fn write_event_data(&mut self, block: &mut [u8]) -> u16 {
        if block.get(2) != Some(&0) {
            return response::INVALID_FUNCTION;
        }
        let Ok(offsets) = event_buffers(block) else {
            return response::EVENT_BUFFER_SYNTAX;
        };
        let mut rc = response::NORMAL;
        for (start, len) in offsets {
            let Some(buffer) = block.get_mut(start..start + len) else {
                return response::EVENT_BUFFER_SYNTAX;
            };
            if rc != response::NORMAL {
                buffer[3] &= !BUFFER_ACCEPTED;
            } else if buffer[2] == EVENT_ASCII {
                self.console.extend_from_slice(&buffer[EVENT_HEADER..]);
                buffer[3] |= BUFFER_ACCEPTED;
            } else {
                rc = response::INVALID_FUNCTION;
            }
        }
        rc
    }
}

/// The event buffers of a write-event-data SCCB as `(start, length)`
/// pairs, or an error when a length is below the event-buffer header or
/// runs past the SCCB (QEMU `write_event_length_check`).
fn event_buffers(block: &[u8]) -> Result<Vec<(usize, usize)>, ()> {
    let mut buffers = Vec::new();
    let mut at = HEADER;
    while at < block.len() {
        let Some(&[hi, lo]) = block.get(at..at + 2) else {
            return Err(());
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < EVENT_HEADER || len > block.len() - at {
            return Err(());
        }
        buffers.push((at, len));
        at += len;
    }
    Ok(buffers)
}

fn read_mask(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0u64, |v, (i, &b)| v | (u64::from(b) << (56 - 8 * i)))
}

fn write_mask(bytes: &mut [u8], mask: u64) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = if i < 8 {
            (mask >> (56 - 8 * i)) as u8
        } else {
            0
        };
    }
}
