//! The virtio block device on the channel subsystem (virtio 1.2 §4.3
//! "Virtio Over Channel I/O" and §5.2 "Block Device", as QEMU's
//! `virtio-blk-ccw` answers): each test drives it as a driver does, with
//! channel programs (SSCH, TSCH) and DIAGNOSE X'500' notifications, on a
//! machine whose only device it is, over an image in memory, and checks
//! the condition code, the status, the image and the rings.

mod common;

use std::sync::{Arc, Mutex};

use common::channel::*;
use common::{psw, u16_at, u64_at, DISABLED_WAIT};
use zmmu_machine::config::Config;
use zmmu_machine::virtio_blk::{BackendError, BlockBackend};
use zmmu_machine::virtio_ccw::{command, status, NOTIFY_INVALID};
use zmmu_machine::virtqueue::RingError;
use zmmu_machine::Machine;
use zmmu_mmu::exception::Code;

/// The image behind the device, shared with the test.
#[derive(Debug, Default)]
struct Disk {
    bytes: Vec<u8>,
    flushes: u32,
    /// The corruptions the device told its host side of, by queue.
    broken: Vec<(usize, RingError)>,
}

#[derive(Debug)]
struct MemoryImage {
    disk: Arc<Mutex<Disk>>,
    read_only: bool,
}

impl BlockBackend for MemoryImage {
    fn size(&self) -> u64 {
        self.disk.lock().unwrap().bytes.len() as u64
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let disk = self.disk.lock().unwrap();
        let at = offset as usize;
        buf.copy_from_slice(disk.bytes.get(at..at + buf.len()).ok_or(BackendError)?);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut disk = self.disk.lock().unwrap();
        let at = offset as usize;
        disk.bytes
            .get_mut(at..at + data.len())
            .ok_or(BackendError)?
            .copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.disk.lock().unwrap().flushes += 1;
        Ok(())
    }

    fn broken(&mut self, queue: usize, error: &RingError) {
        self.disk.lock().unwrap().broken.push((queue, *error));
    }
}

/// Sectors of the image: sector n holds the byte n + 1 throughout.
const SECTORS: usize = 16;

/// Where the rings, the indicators and the data go.
const DESC: u64 = 0x50000;
const AVAIL: u64 = 0x51000;
const USED: u64 = 0x52000;
const INDICATORS: u64 = 0x53000;
const CONFIG_INDICATORS: u64 = 0x53008;
const HEADER: u64 = 0x54000;
const BUFFER: u64 = 0x55000;
const STATUS: u64 = 0x57000;
const QUEUE: u16 = 8;

/// A machine whose one device is a block device over a fresh image; its
/// subchannel enabled, the I/O-new PSW a disabled wait at 0x10.
fn machine(read_only: bool) -> (Machine, Arc<Mutex<Disk>>) {
    let bytes = (0..SECTORS).flat_map(|n| [n as u8 + 1; 512]).collect();
    let disk = Arc::new(Mutex::new(Disk {
        bytes,
        flushes: 0,
        broken: Vec::new(),
    }));
    let mut m = Machine::with_config(1 << 20, Config::default()).unwrap();
    let image = MemoryImage {
        disk: disk.clone(),
        read_only,
    };
    assert_eq!(m.add_drive(Box::new(image), "zmmu-test"), 0);
    m.load(0x1d0, &psw(DISABLED_WAIT, 0xF)).unwrap();
    m.load(0x1f0, &psw(DISABLED_WAIT, 0x10)).unwrap();
    enable(&mut m);
    (m, disk)
}

/// One command with its data at [`DATA`]: TSCH's condition code, control
/// halfword, device and subchannel status and residual count.
fn command(m: &mut Machine, code: u8, flags: u8, data: &[u8]) -> (Ended, u16, u8, u8, u16) {
    m.load(DATA, data).unwrap();
    let ccw = ccw1(code, flags, data.len() as u16, DATA as u32);
    assert_eq!(start(m, &ccw, 0), Ended::Cc(0));
    test(m)
}

/// The command ends with channel end and device end, nothing else.
fn done(m: &mut Machine, code: u8, data: &[u8]) {
    let (_, _, dstat, cstat, _) = command(m, code, 0, data);
    assert_eq!((dstat, cstat), (0x0C, 0), "command {code:#x}");
}

/// The command is rejected: unit check.
fn rejected(m: &mut Machine, code: u8, data: &[u8]) -> bool {
    let (_, _, dstat, _, _) = command(m, code, 0, data);
    dstat & 0x02 != 0
}

/// Revision 2, features VERSION_1 (and `low`), the queue, the indicators,
/// DRIVER_OK: what Linux's virtio_ccw does (with revision 1).
fn ready(m: &mut Machine, low: u32) {
    done(m, command::SET_VIRTIO_REV, &[0, 2, 0, 0]);
    let [a, b, c, d] = low.to_le_bytes();
    done(m, command::WRITE_FEAT, &[a, b, c, d, 0]);
    done(m, command::WRITE_FEAT, &[1, 0, 0, 0, 1]);
    done(m, command::WRITE_STATUS, &[status::FEATURES_OK | 3]);
    set_queue(m, QUEUE);
    done(m, command::SET_IND, &INDICATORS.to_be_bytes());
    done(m, command::SET_CONF_IND, &CONFIG_INDICATORS.to_be_bytes());
    done(
        m,
        command::WRITE_STATUS,
        &[status::FEATURES_OK | status::DRIVER_OK | 3],
    );
}

fn set_queue(m: &mut Machine, size: u16) {
    let mut info = DESC.to_be_bytes().to_vec();
    info.extend_from_slice(&[0; 4]);
    info.extend_from_slice(&0u16.to_be_bytes());
    info.extend_from_slice(&size.to_be_bytes());
    info.extend_from_slice(&AVAIL.to_be_bytes());
    info.extend_from_slice(&USED.to_be_bytes());
    done(m, command::SET_VQ, &info);
}

/// Descriptor `index`: address, length, flags (1 next, 2 write, 4
/// indirect), next.
fn descriptor(m: &mut Machine, index: u16, address: u64, len: u32, flags: u16, next: u16) {
    let mut d = address.to_le_bytes().to_vec();
    d.extend_from_slice(&len.to_le_bytes());
    d.extend_from_slice(&flags.to_le_bytes());
    d.extend_from_slice(&next.to_le_bytes());
    m.load(DESC + 16 * u64::from(index), &d).unwrap();
}

/// A request of `kind` at `sector` with `len` data bytes at [`BUFFER`]
/// (written by the device when `into_buffer`), as descriptors 0-2 made
/// available as entry `entry` (the available index then `entry + 1`).
fn request(m: &mut Machine, entry: u16, kind: u32, sector: u64, len: u32, into_buffer: bool) {
    let mut header = kind.to_le_bytes().to_vec();
    header.extend_from_slice(&[0; 4]);
    header.extend_from_slice(&sector.to_le_bytes());
    m.load(HEADER, &header).unwrap();
    m.load(STATUS, &[0xEE]).unwrap();
    descriptor(m, 0, HEADER, 16, 1, 1);
    descriptor(m, 1, BUFFER, len, 1 | if into_buffer { 2 } else { 0 }, 2);
    descriptor(m, 2, STATUS, 1, 2, 0);
    make_available(m, entry, 0);
}

fn make_available(m: &mut Machine, entry: u16, head: u16) {
    m.load(
        AVAIL + 4 + 2 * u64::from(entry % QUEUE),
        &head.to_le_bytes(),
    )
    .unwrap();
    m.load(AVAIL + 2, &(entry + 1).to_le_bytes()).unwrap();
}

/// DIAGNOSE X'500' function 3 for `queue` of the first subchannel:
/// answers GR2.
fn notify(m: &mut Machine, queue: u64) -> u64 {
    m.cpu.gpr[3] = queue;
    assert_eq!(exec(m, &[0x83, 0x24, 0x05, 0x00], 3, SID), Ended::Cc(0));
    m.cpu.gpr[2]
}

/// The used ring's index, and its element `n` (head, length).
fn used(m: &Machine, n: u16) -> (u16, u32, u32) {
    let le16 = |a| u16::from_be_bytes(u16_at(m, a).to_le_bytes());
    let le32 = |a| u32::from_be_bytes(u32_at(m, a).to_le_bytes());
    let at = USED + 4 + 8 * u64::from(n);
    (le16(USED + 2), le32(at), le32(at + 4))
}

fn status_byte(m: &Machine) -> u8 {
    bytes_at(m, STATUS, 1)[0]
}

#[test]
fn sense_id_names_control_unit_type_3832_and_model_2_a_block_device() {
    let (mut m, _) = machine(false);
    let ccw = ccw1(0xE4, 0x20, 7, DATA as u32);
    start(&mut m, &ccw, 0);
    test(&mut m);
    assert_eq!(bytes_at(&m, DATA, 4), [0xFF, 0x38, 0x32, 0x02]);
}

#[test]
fn every_command_before_the_revision_is_set_is_a_command_reject() {
    let (mut m, _) = machine(false);
    assert!(rejected(&mut m, command::READ_FEAT, &[0; 5]));
    assert!(rejected(&mut m, command::WRITE_STATUS, &[1]));
}

#[test]
fn revision_0_is_rejected_revision_1_accepted_and_only_once() {
    let (mut m, _) = machine(false);
    assert!(rejected(&mut m, command::SET_VIRTIO_REV, &[0, 0, 0, 0]));
    assert!(rejected(&mut m, command::SET_VIRTIO_REV, &[0, 3, 0, 0]));
    done(&mut m, command::SET_VIRTIO_REV, &[0, 1, 0, 0]);
    assert!(rejected(&mut m, command::SET_VIRTIO_REV, &[0, 1, 0, 0]));
}

#[test]
fn the_features_offered_are_version_1_flush_and_read_only_for_a_read_only_image() {
    for (read_only, low) in [(false, 1u32 << 9), (true, 1 << 9 | 1 << 5)] {
        let (mut m, _) = machine(read_only);
        done(&mut m, command::SET_VIRTIO_REV, &[0, 1, 0, 0]);
        done(&mut m, command::READ_FEAT, &[0, 0, 0, 0, 0]);
        assert_eq!(
            bytes_at(&m, DATA, 5),
            &[low.to_le_bytes(), [0; 4]].concat()[..5]
        );
        done(&mut m, command::READ_FEAT, &[0, 0, 0, 0, 1]);
        assert_eq!(bytes_at(&m, DATA, 5), [1, 0, 0, 0, 1]);
    }
}

#[test]
fn a_count_that_does_not_fit_the_data_is_a_program_check_unless_sli_allows_a_longer_one() {
    let (mut m, _) = machine(false);
    let (_, _, _, cstat, _) = command(&mut m, command::SET_VIRTIO_REV, 0, &[0, 1, 0, 0, 0]);
    assert_eq!(cstat, 0x20);
    let (_, _, dstat, cstat, residual) =
        command(&mut m, command::SET_VIRTIO_REV, 0x20, &[0, 1, 0, 0, 0]);
    assert_eq!((dstat, cstat, residual), (0x0C, 0, 1));
}

#[test]
fn the_configuration_space_holds_the_capacity_in_sectors_little_endian() {
    let (mut m, _) = machine(false);
    done(&mut m, command::SET_VIRTIO_REV, &[0, 1, 0, 0]);
    done(&mut m, command::READ_CONF, &[0; 8]);
    assert_eq!(u64_at(&m, DATA), (SECTORS as u64).swap_bytes());
    let (_, _, _, cstat, _) = command(&mut m, command::READ_CONF, 0, &[0; 9]);
    assert_eq!(cstat, 0x20, "more than the space without SLI");
}

#[test]
fn features_ok_without_version_1_or_with_a_feature_not_offered_is_rejected() {
    let (mut m, _) = machine(false);
    done(&mut m, command::SET_VIRTIO_REV, &[0, 1, 0, 0]);
    assert!(rejected(
        &mut m,
        command::WRITE_STATUS,
        &[status::FEATURES_OK]
    ));
    done(&mut m, command::WRITE_FEAT, &[1, 0, 0, 0, 1]);
    done(&mut m, command::WRITE_FEAT, &[0, 0, 0, 0x80, 0]);
    assert!(rejected(
        &mut m,
        command::WRITE_STATUS,
        &[status::FEATURES_OK]
    ));
    assert!(rejected(
        &mut m,
        command::WRITE_STATUS,
        &[status::DRIVER_OK]
    ));
}

#[test]
fn a_read_fills_the_buffer_from_the_image_returns_the_chain_and_raises_the_indicator() {
    let (mut m, _) = machine(false);
    ready(&mut m, 0);
    request(&mut m, 0, 0, 3, 1024, true);
    assert_eq!(notify(&mut m, 0), 0);
    assert_eq!(bytes_at(&m, BUFFER, 1024), [[4; 512], [5; 512]].concat());
    assert_eq!(status_byte(&m), 0);
    assert_eq!(used(&m, 0), (1, 0, 1025));
    assert_eq!(u64_at(&m, INDICATORS), 1, "queue 0's bit");
    // Unsolicited: alert and status pending, no function, no device status.
    let (cc, ctrl, dstat, cstat, _) = test(&mut m);
    assert_eq!(
        (cc, ctrl & 0x7FFF, dstat, cstat),
        (Ended::Cc(0), 0x11, 0, 0)
    );
}

#[test]
fn a_write_changes_the_image_and_a_flush_syncs_it() {
    let (mut m, disk) = machine(false);
    ready(&mut m, 1 << 9);
    m.load(BUFFER, &[0xAB; 512]).unwrap();
    request(&mut m, 0, 1, 15, 512, false);
    assert_eq!(notify(&mut m, 0), 0);
    assert_eq!(status_byte(&m), 0);
    assert_eq!(used(&m, 0), (1, 0, 1));
    assert_eq!(disk.lock().unwrap().bytes[15 * 512..], [0xAB; 512]);
    request(&mut m, 1, 4, 0, 0, false);
    notify(&mut m, 0);
    assert_eq!((status_byte(&m), disk.lock().unwrap().flushes), (0, 1));
}

#[test]
fn a_write_to_a_read_only_image_is_an_io_error_and_changes_nothing() {
    let (mut m, disk) = machine(true);
    ready(&mut m, 1 << 5);
    m.load(BUFFER, &[0xAB; 512]).unwrap();
    request(&mut m, 0, 1, 0, 512, false);
    notify(&mut m, 0);
    assert_eq!(status_byte(&m), 1);
    assert_eq!(disk.lock().unwrap().bytes[..512], [1; 512]);
}

#[test]
fn a_range_beyond_the_capacity_or_not_whole_sectors_is_an_io_error() {
    let (mut m, _) = machine(false);
    ready(&mut m, 0);
    for (entry, sector, len) in [(0, 15, 1024), (1, 0, 100), (2, u64::MAX / 256, 512)] {
        request(&mut m, entry, 0, sector, len, true);
        notify(&mut m, 0);
        assert_eq!(status_byte(&m), 1, "sector {sector}, {len} bytes");
    }
}

#[test]
fn an_unknown_request_is_unsupported_and_get_id_answers_the_serial_and_its_zero() {
    let (mut m, _) = machine(false);
    ready(&mut m, 0);
    request(&mut m, 0, 7, 0, 512, true);
    notify(&mut m, 0);
    assert_eq!(status_byte(&m), 2);
    m.load(BUFFER, &[0xEE; 20]).unwrap();
    request(&mut m, 1, 8, 0, 20, true);
    notify(&mut m, 0);
    assert_eq!(status_byte(&m), 0);
    assert_eq!(bytes_at(&m, BUFFER, 11), b"zmmu-test\0\xEE");
    assert_eq!(used(&m, 1), (2, 0, 11));
}

#[test]
fn no_indicator_and_no_interruption_when_the_driver_suppresses_them() {
    let (mut m, _) = machine(false);
    ready(&mut m, 0);
    m.load(AVAIL, &1u16.to_le_bytes()).unwrap();
    request(&mut m, 0, 0, 0, 512, true);
    notify(&mut m, 0);
    assert_eq!(used(&m, 0).0, 1);
    assert_eq!(u64_at(&m, INDICATORS), 0);
    assert_eq!(test(&mut m).0, Ended::Cc(1), "not status pending");
}

/// A corrupt queue: the device needs a reset, says so by the
/// configuration indicator, tells its host side what the driver did
/// (`error`), and serves nothing more until reset.
fn needs_reset(m: &mut Machine, disk: &Mutex<Disk>, error: RingError) {
    assert_eq!(notify(m, 0), 0);
    assert_eq!(disk.lock().unwrap().broken, [(0, error)]);
    assert_eq!(u64_at(m, CONFIG_INDICATORS), 1);
    let (cc, ctrl, ..) = test(m);
    assert_eq!((cc, ctrl & 0x1F), (Ended::Cc(0), 0x11), "an alert");
    assert_eq!(used(m, 0).0, 0, "nothing returned");
    done(m, command::READ_STATUS, &[0]);
    assert_ne!(bytes_at(m, DATA, 1)[0] & status::NEEDS_RESET, 0);
}

#[test]
fn a_chain_that_loops_makes_the_device_need_a_reset() {
    let (mut m, disk) = machine(false);
    ready(&mut m, 0);
    request(&mut m, 0, 0, 0, 512, true);
    // The status descriptor leads back to the (writable) buffer: 0, 1, 2,
    // 1, 2, ... with every writable buffer after the readable header.
    descriptor(&mut m, 2, STATUS, 1, 3, 1);
    needs_reset_with_status(&mut m, &disk, RingError::Loop { head: 0 });
}

#[test]
fn a_buffer_outside_storage_makes_the_device_need_a_reset() {
    let (mut m, disk) = machine(false);
    ready(&mut m, 0);
    request(&mut m, 0, 0, 0, 512, true);
    descriptor(&mut m, 1, (1 << 20) - 256, 512, 3, 2);
    needs_reset_with_status(
        &mut m,
        &disk,
        RingError::Outside {
            address: (1 << 20) - 256,
            len: 512,
        },
    );
}

#[test]
fn an_indirect_descriptor_makes_the_device_need_a_reset() {
    let (mut m, disk) = machine(false);
    ready(&mut m, 0);
    request(&mut m, 0, 0, 0, 512, true);
    descriptor(&mut m, 1, BUFFER, 512, 1 | 2 | 4, 2);
    needs_reset_with_status(&mut m, &disk, RingError::Indirect { index: 1 });
}

#[test]
fn a_readable_buffer_after_a_writable_one_makes_the_device_need_a_reset() {
    let (mut m, disk) = machine(false);
    ready(&mut m, 0);
    request(&mut m, 0, 0, 0, 512, true);
    descriptor(&mut m, 2, BUFFER, 16, 1, 3);
    descriptor(&mut m, 3, STATUS, 1, 2, 0);
    needs_reset_with_status(&mut m, &disk, RingError::Order { index: 2 });
}

#[test]
fn an_available_index_more_than_a_queue_ahead_makes_the_device_need_a_reset() {
    let (mut m, disk) = machine(false);
    ready(&mut m, 0);
    request(&mut m, 0, 0, 0, 512, true);
    m.load(AVAIL + 2, &(QUEUE + 1).to_le_bytes()).unwrap();
    needs_reset_with_status(
        &mut m,
        &disk,
        RingError::AvailIndex {
            index: QUEUE + 1,
            next: 0,
        },
    );
}

#[test]
fn a_request_without_room_for_its_status_byte_makes_the_device_need_a_reset() {
    let (mut m, disk) = machine(false);
    ready(&mut m, 0);
    request(&mut m, 0, 1, 0, 512, false);
    descriptor(&mut m, 1, BUFFER, 512, 0, 0);
    needs_reset_with_status(&mut m, &disk, RingError::Request { head: 0 });
}

fn needs_reset_with_status(m: &mut Machine, disk: &Mutex<Disk>, error: RingError) {
    needs_reset(m, disk, error);
    assert_eq!(status_byte(m), 0xEE, "the request was not answered");
}

#[test]
fn a_status_of_zero_resets_the_device_and_its_queues() {
    let (mut m, _) = machine(false);
    ready(&mut m, 0);
    done(&mut m, command::WRITE_STATUS, &[0]);
    request(&mut m, 0, 0, 0, 512, true);
    assert_eq!(notify(&mut m, 0), 0);
    assert_eq!((status_byte(&m), used(&m, 0).0), (0xEE, 0));
}

#[test]
fn a_notification_of_no_such_subchannel_or_queue_answers_einval() {
    let (mut m, _) = machine(false);
    ready(&mut m, 0);
    assert_eq!(notify(&mut m, 1), NOTIFY_INVALID);
    m.cpu.gpr[3] = 0;
    exec(&mut m, &[0x83, 0x24, 0x05, 0x00], 3, SID | 1);
    assert_eq!(m.cpu.gpr[2], NOTIFY_INVALID);
}

#[test]
fn diagnose_500_with_another_function_code_is_a_specification_exception() {
    let (mut m, _) = machine(false);
    let ended = exec(&mut m, &[0x83, 0x24, 0x05, 0x00], 1, SID);
    assert_eq!(ended, Ended::Program(Code::SPECIFICATION));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever the driver puts in its rings (descriptors pointing
    /// anywhere, with any flags and links, any available index), a
    /// notification ends, and the device writes only into the used ring,
    /// the indicators and the buffers the descriptors name: a storage
    /// outside them is unchanged.
    #[test]
    fn random_rings_end_and_change_only_the_rings_and_buffers_they_name(
        descriptors in proptest::collection::vec(
            (0u64..0x8000, 0u32..0x2000, 0u16..8, 0u16..12), QUEUE as usize),
        heads in proptest::collection::vec(0u16..10, QUEUE as usize),
        available in 0u16..20,
        headers in proptest::collection::vec((0u32..10, 0u64..24), 4),
    ) {
        let (mut m, _) = machine(false);
        ready(&mut m, 1 << 9);
        // Buffers fall in 0x60000..0x70000 (or beyond storage, when
        // an address is turned into a huge one below).
        for (i, (address, len, flags, next)) in descriptors.iter().enumerate() {
            let address = if *len > 0x1F00 { u64::MAX - 0x100 } else { 0x60000 + address };
            descriptor(&mut m, i as u16, address, *len, *flags, *next);
        }
        for (i, (kind, sector)) in headers.iter().enumerate() {
            let mut header = kind.to_le_bytes().to_vec();
            header.extend_from_slice(&[0; 4]);
            header.extend_from_slice(&sector.to_le_bytes());
            m.load(0x60000 + 0x1000 * i as u64, &header).unwrap();
        }
        for (i, head) in heads.iter().enumerate() {
            m.load(AVAIL + 4 + 2 * i as u64, &head.to_le_bytes()).unwrap();
        }
        m.load(AVAIL + 2, &available.to_le_bytes()).unwrap();
        let outside = |m: &Machine| bytes_at(m, 0x70000, 0x10000);
        let before = outside(&m);
        notify(&mut m, 0);
        proptest::prop_assert_eq!(outside(&m), before);
    }
}
