//! The SCLP as QEMU implements it, with hostile SCCBs: every malformed
//! request gets QEMU's response code or program exception, nothing panics
//! and nothing outside the SCCB is written.

use proptest::prelude::*;
use zmmu_machine::sclp::{command, response, Sclp, Serviced};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::storage::{OwnedStorage, Storage};

const SCCB: u64 = 0x4000;

fn call(block: &[u8], cmd: u32) -> (Result<Serviced, Exception>, OwnedStorage, Sclp) {
    let mut storage = OwnedStorage::new(0x10000);
    storage.write(AbsoluteAddress::new(SCCB), block).unwrap();
    let mut sclp = Sclp::default();
    let result = sclp.service_call(&mut storage, 0, cmd, SCCB);
    (result, storage, sclp)
}

fn response_of(storage: &OwnedStorage) -> u16 {
    let mut b = [0; 2];
    storage
        .read(AbsoluteAddress::new(SCCB + 6), &mut b)
        .unwrap();
    u16::from_be_bytes(b)
}

/// An SCCB holding `events`, each `(length field, type, payload)`.
fn sccb(events: &[(u16, u8, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; 8];
    for (len, kind, payload) in events {
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&[*kind, 0, 0, 0]);
        b.extend_from_slice(payload);
    }
    let total = b.len() as u16;
    b[..2].copy_from_slice(&total.to_be_bytes());
    b
}

#[test]
fn two_ascii_event_buffers_are_both_printed() {
    let block = sccb(&[(8, 0x1a, b"ab"), (9, 0x1a, b"cde")]);
    let (result, storage, sclp) = call(&block, command::WRITE_EVENT_DATA);
    assert_eq!(
        result,
        Ok(Serviced {
            parameter: SCCB as u32
        })
    );
    assert_eq!(sclp.console, b"abcde");
    assert_eq!(response_of(&storage), response::NORMAL);
}

#[test]
fn an_event_buffer_shorter_than_its_header_is_a_syntax_error() {
    let block = sccb(&[(4, 0x1a, b"xx")]);
    let (_, storage, sclp) = call(&block, command::WRITE_EVENT_DATA);
    assert_eq!(response_of(&storage), response::EVENT_BUFFER_SYNTAX);
    assert!(sclp.console.is_empty());
}

#[test]
fn an_event_buffer_running_past_the_sccb_is_a_syntax_error() {
    let block = sccb(&[(200, 0x1a, b"xx")]);
    let (_, storage, sclp) = call(&block, command::WRITE_EVENT_DATA);
    assert_eq!(response_of(&storage), response::EVENT_BUFFER_SYNTAX);
    assert!(sclp.console.is_empty());
}

#[test]
fn an_event_type_without_a_handler_is_an_invalid_function() {
    let block = sccb(&[(8, 0x1a, b"ok"), (8, 0x02, b"no"), (10, 0x1a, b"late")]);
    let (_, storage, sclp) = call(&block, command::WRITE_EVENT_DATA);
    assert_eq!(response_of(&storage), response::INVALID_FUNCTION);
    assert_eq!(
        sclp.console, b"ok",
        "buffers after the failing one are not accepted"
    );
}

#[test]
fn an_unknown_command_is_answered_invalid_command() {
    let (result, storage, _) = call(&sccb(&[]), 0x1234_5678);
    assert!(matches!(result, Ok(Serviced { .. })));
    assert_eq!(response_of(&storage), response::INVALID_COMMAND);
}

#[test]
fn a_length_below_the_header_is_a_specification_exception() {
    let (result, _, _) = call(&[0, 4, 0, 0, 0, 0, 0, 0], command::WRITE_EVENT_DATA);
    assert_eq!(result, Err(Exception::new(Code::SPECIFICATION)));
}

#[test]
fn an_sccb_that_is_not_doubleword_aligned_is_a_specification_exception() {
    let mut storage = OwnedStorage::new(0x10000);
    let result = Sclp::default().service_call(&mut storage, 0, command::WRITE_EVENT_DATA, 0x4004);
    assert_eq!(result, Err(Exception::new(Code::SPECIFICATION)));
}

#[test]
fn an_sccb_past_the_end_of_storage_is_an_addressing_exception() {
    let mut storage = OwnedStorage::new(0x10000);
    let result = Sclp::default().service_call(&mut storage, 0, command::WRITE_EVENT_DATA, 0x20000);
    assert_eq!(result, Err(Exception::new(Code::ADDRESSING)));
}

#[test]
fn write_event_mask_answers_the_sclp_masks_in_the_guests_length() {
    // Mask length 4: CP receive, CP send, SCLP receive, SCLP send.
    let mut block = vec![0u8; 12 + 16];
    block[..2].copy_from_slice(&28u16.to_be_bytes());
    block[10..12].copy_from_slice(&4u16.to_be_bytes());
    let (_, storage, _) = call(&block, command::WRITE_EVENT_MASK);
    assert_eq!(response_of(&storage), response::NORMAL);
    let mut masks = [0u8; 16];
    storage
        .read(AbsoluteAddress::new(SCCB + 12), &mut masks)
        .unwrap();
    assert_eq!(
        &masks[8..12],
        &[0, 0, 0, 0x40],
        "SCLP receives ASCII (type 0x1a)"
    );
    assert_ne!(masks[12..16], [0; 4], "SCLP sends at least ASCII");
}

#[test]
fn a_zero_mask_length_is_refused() {
    let mut block = vec![0u8; 12];
    block[..2].copy_from_slice(&12u16.to_be_bytes());
    let (_, storage, _) = call(&block, command::WRITE_EVENT_MASK);
    assert_eq!(response_of(&storage), response::INVALID_MASK_LENGTH);
}

proptest! {
    #[test]
    fn any_sccb_leaves_storage_outside_it_alone(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        which in 0usize..4,
    ) {
        let cmd = [command::WRITE_EVENT_DATA, command::WRITE_EVENT_MASK, 0, command::READ_EVENT_DATA][which];
        let mut storage = OwnedStorage::new(0x10000);
        let guard = vec![0xAAu8; 0x10000];
        storage.write(AbsoluteAddress::new(0), &guard).unwrap();
        storage.write(AbsoluteAddress::new(SCCB), &body).unwrap();
        let declared = body.get(..2).map_or(0xAAAA, |b| u16::from_be_bytes([b[0], b[1]]) as u64);
        let _ = Sclp::default().service_call(&mut storage, 0, cmd, SCCB);
        let mut after = vec![0u8; 0x10000];
        storage.read(AbsoluteAddress::new(0), &mut after).unwrap();
        let end = (SCCB + declared.max(body.len() as u64)) as usize;
        prop_assert!(after[..SCCB as usize].iter().all(|&b| b == 0xAA));
        prop_assert!(after[end.min(0x10000)..].iter().all(|&b| b == 0xAA));
    }
}

// ---------------------------------------------------------------------------
// Read SCP info, read CPU info, I/O adapters, read event data, line mode:
// QEMU's `s390-ccw-virtio` SCLP and the kvm-unit-tests `sclp` test.
// ---------------------------------------------------------------------------

use zmmu_machine::sclp::{conf_char, SclpConfig, EVENT_PENDING};

/// Storage for the tests below: 4 MiB, so that SCCBs may be anywhere.
const STORAGE: usize = 4 << 20;

/// `block` (its length field as given) at `at` in storage filled with
/// `fill`, then one SERVICE CALL through `sclp`.
fn serve(
    sclp: &mut Sclp,
    at: u64,
    block: &[u8],
    cmd: u32,
    fill: u8,
) -> (Result<Serviced, Exception>, OwnedStorage) {
    let mut storage = OwnedStorage::new(STORAGE);
    storage
        .write(AbsoluteAddress::new(0), &vec![fill; STORAGE])
        .unwrap();
    storage.write(AbsoluteAddress::new(at), block).unwrap();
    let result = sclp.service_call(&mut storage, 0, cmd, at);
    (result, storage)
}

/// An SCCB of `len` bytes filled with `fill` after a zero header whose
/// length field is `len`.
fn block_of(len: usize, fill: u8) -> Vec<u8> {
    let mut b = vec![fill; len];
    b[..8].fill(0);
    b[..2].copy_from_slice(&(len as u16).to_be_bytes());
    b
}

fn bytes_at(storage: &OwnedStorage, at: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    storage.read(AbsoluteAddress::new(at), &mut b).unwrap();
    b
}

fn u16_at(storage: &OwnedStorage, at: u64) -> u16 {
    let b = bytes_at(storage, at, 2);
    u16::from_be_bytes([b[0], b[1]])
}

fn rc_at(storage: &OwnedStorage, sccb: u64) -> u16 {
    u16_at(storage, sccb + 6)
}

fn with(config: SclpConfig) -> Sclp {
    Sclp::new(config)
}

/// Write event mask with 4-byte masks: the guest receives `receive`.
fn enable(sclp: &mut Sclp, receive: u32) {
    let mut block = vec![0u8; 12 + 16];
    block[..2].copy_from_slice(&28u16.to_be_bytes());
    block[10..12].copy_from_slice(&4u16.to_be_bytes());
    block[12..16].copy_from_slice(&receive.to_be_bytes());
    let (_, storage) = serve(sclp, SCCB, &block, command::WRITE_EVENT_MASK, 0);
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL);
}

/// A 4 KiB read-event-data SCCB with function code `function` and control
/// byte `control`.
fn read_sccb(function: u8, control: u8) -> Vec<u8> {
    let mut b = block_of(4096, 0);
    b[2] = function;
    b[5] = control;
    b
}

const MASK_OPCMD: u32 = 0x8000_0000;
const MASK_ASCII: u32 = 0x0000_0040;
const MASK_QUIESCE: u32 = 0x0000_0008;

#[test]
fn read_scp_info_reports_storage_increments_as_qemu_does() {
    // 1 MiB increments (rnsize 1), rnmax their number: the storage size.
    let (result, storage) = serve(
        &mut Sclp::default(),
        SCCB,
        &block_of(4096, 0),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(
        result,
        Ok(Serviced {
            parameter: SCCB as u32
        })
    );
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL_READ);
    assert_eq!(bytes_at(&storage, SCCB + 8, 3), [0x00, 0x04, 0x01]);
    assert_eq!(
        bytes_at(&storage, SCCB + 100, 12),
        [0; 12],
        "no rnsize2/rnmax2"
    );

    // kvm-unit-tests' sclp-3g: 3 GiB is 3072 increments.
    let mut sclp = with(SclpConfig {
        memory_size: Some(3 << 30),
        ..SclpConfig::default()
    });
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &block_of(4096, 0),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(bytes_at(&storage, SCCB + 8, 3), [0x0c, 0x00, 0x01]);
}

#[test]
fn read_scp_info_reports_64_gib_and_more_in_rnmax2() {
    let mut sclp = with(SclpConfig {
        memory_size: Some(64 << 30),
        ..SclpConfig::default()
    });
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &block_of(4096, 0xAA),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(
        bytes_at(&storage, SCCB + 8, 3),
        [0, 0, 1],
        "rnmax 0, rnsize 1"
    );
    assert_eq!(
        bytes_at(&storage, SCCB + 100, 12),
        [0xAA, 0xAA, 0xAA, 0xAA, 0, 0, 0, 0, 0, 1, 0, 0],
        "rnsize2 untouched, rnmax2 = 65536"
    );
}

#[test]
fn read_scp_info_writes_qemu_fields_and_leaves_the_rest_alone() {
    let block = block_of(4096, 0xAA);
    let (_, storage) = serve(
        &mut Sclp::default(),
        SCCB,
        &block,
        command::READ_SCP_INFO,
        0,
    );
    let mut expected = block.clone();
    expected[6..8].copy_from_slice(&[0x00, 0x10]);
    expected[8..11].copy_from_slice(&[0x00, 0x04, 0x01]); // rnmax, rnsize
    expected[16..20].copy_from_slice(&[0, 1, 0, 128]); // one CPU at 128
    expected[24..32].copy_from_slice(&[0x40; 8]); // blank load parameter
    expected[48..56].copy_from_slice(&[0x08, 0, 0, 0, 0x40, 0, 0, 0]);
    expected[76..80].copy_from_slice(&[0; 4]); // IBC
    expected[99] = 47; // MHA power
    expected[120..122].copy_from_slice(&[0, 0]); // highest CPU
    expected[124..128].copy_from_slice(&[0x08, 0, 0, 0]); // HMFAI
    expected[128] = 0; // CPU address
    expected[130..136].copy_from_slice(&[0; 6]); // CPU features
    expected[142] = 0; // CPU type
                       // Configuration characteristics (80-98, 116-119) are ORed in: none.
    assert_eq!(bytes_at(&storage, SCCB, 4096), expected);
}

#[test]
fn read_scp_info_ors_in_the_configuration_characteristics() {
    let mut config = SclpConfig::default();
    config.set_conf_char(conf_char::ESOP);
    let (_, storage) = serve(
        &mut with(config),
        SCCB,
        &block_of(4096, 0x10),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(
        bytes_at(&storage, SCCB + 84, 2),
        [0x10, 0x12],
        "byte 85 bit 6"
    );
}

#[test]
fn read_scp_info_reports_the_load_parameter_in_ebcdic() {
    let mut config = SclpConfig::default();
    config.set_loadparm(b"LINUX");
    let (_, storage) = serve(
        &mut with(config),
        SCCB,
        &block_of(4096, 0),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(
        bytes_at(&storage, SCCB + 24, 8),
        [0xD3, 0xC9, 0xD5, 0xE4, 0xE7, 0x40, 0x40, 0x40]
    );
}

#[test]
fn read_scp_info_lists_the_configured_cpus_at_offset_128_without_els() {
    let mut sclp = with(SclpConfig {
        cpus: vec![0, 1, 5],
        max_cpus: 8,
        ..SclpConfig::default()
    });
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &block_of(4096, 0xAA),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(bytes_at(&storage, SCCB + 16, 4), [0, 3, 0, 128]);
    assert_eq!(
        bytes_at(&storage, SCCB + 120, 2),
        [0, 7],
        "highest CPU = max - 1"
    );
    for (i, address) in [0u8, 1, 5].into_iter().enumerate() {
        let entry = bytes_at(&storage, SCCB + 128 + 16 * i as u64, 16);
        let mut expected = [0xAA; 16];
        expected[0] = address;
        expected[2..8].fill(0);
        expected[14] = 0;
        assert_eq!(entry, expected, "entry {i}");
    }
    assert_eq!(bytes_at(&storage, SCCB + 128 + 48, 16), [0xAA; 16]);
}

#[test]
fn read_scp_info_with_a_short_sccb_answers_insufficient_length() {
    // kvm-unit-tests: every length from 8 to 143; QEMU needs 144 bytes and
    // 16 per possible CPU, and changes nothing else.
    for len in 8..160 {
        let block = block_of(len, 0xAA);
        let (result, storage) = serve(
            &mut Sclp::default(),
            SCCB,
            &block,
            command::READ_SCP_INFO,
            0,
        );
        assert!(matches!(result, Ok(Serviced { .. })));
        let mut expected = block.clone();
        expected[6..8].copy_from_slice(&response::INSUFFICIENT_LENGTH.to_be_bytes());
        assert_eq!(bytes_at(&storage, SCCB, len), expected, "length {len}");
    }
    let (_, storage) = serve(
        &mut Sclp::default(),
        SCCB,
        &block_of(160, 0),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL_READ);
}

#[test]
fn read_scp_info_needs_room_for_every_possible_cpu() {
    let config = SclpConfig {
        max_cpus: 4,
        ..SclpConfig::default()
    };
    let (_, storage) = serve(
        &mut with(config.clone()),
        SCCB,
        &block_of(207, 0),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::INSUFFICIENT_LENGTH);
    let (_, storage) = serve(
        &mut with(config),
        SCCB,
        &block_of(208, 0),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL_READ);
}

#[test]
fn read_scp_info_crossing_a_page_without_els_is_a_boundary_violation() {
    let at = SCCB + 0xF00;
    let block = block_of(0x200, 0xAA);
    let (_, storage) = serve(&mut Sclp::default(), at, &block, command::READ_SCP_INFO, 0);
    let mut expected = block.clone();
    expected[6..8].copy_from_slice(&response::BOUNDARY_VIOLATION.to_be_bytes());
    assert_eq!(bytes_at(&storage, at, 0x200), expected);
}

#[test]
fn read_scp_info_with_els_puts_cpus_at_144_and_may_cross_a_page() {
    let mut sclp = with(SclpConfig {
        extended_length_sccb: true,
        fac134: 0x80,
        ..SclpConfig::default()
    });
    let at = SCCB + 0xF00;
    let (_, storage) = serve(
        &mut sclp,
        at,
        &block_of(0x200, 0x11),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(rc_at(&storage, at), response::NORMAL_READ);
    assert_eq!(bytes_at(&storage, at + 16, 4), [0, 1, 0, 144]);
    assert_eq!(bytes_at(&storage, at + 134, 1), [0x91], "byte 134 ORed in");
    assert_eq!(bytes_at(&storage, at + 144, 1), [0], "CPU 0 at 144");
    assert_eq!(bytes_at(&storage, at + 128, 6), [0x11; 6], "not at 128");
}

#[test]
fn read_scp_info_with_els_and_variable_length_reports_the_length_it_needs() {
    let config = SclpConfig {
        extended_length_sccb: true,
        max_cpus: 8,
        ..SclpConfig::default()
    };
    let mut block = block_of(100, 0);
    block[5] = 0x80;
    let (_, storage) = serve(
        &mut with(config.clone()),
        SCCB,
        &block,
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::INSUFFICIENT_LENGTH);
    assert_eq!(u16_at(&storage, SCCB), 144 + 8 * 16);

    // Without the variable-length bit, or without the facility, the length
    // stays.
    let (_, storage) = serve(
        &mut with(config),
        SCCB,
        &block_of(100, 0),
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(u16_at(&storage, SCCB), 100);
    let (_, storage) = serve(
        &mut Sclp::default(),
        SCCB,
        &block,
        command::READ_SCP_INFO,
        0,
    );
    assert_eq!(u16_at(&storage, SCCB), 100);
    assert_eq!(rc_at(&storage, SCCB), response::INSUFFICIENT_LENGTH);
}

#[test]
fn read_scp_info_forced_and_the_ignored_command_byte_select_read_scp_info() {
    for cmd in [command::READ_SCP_INFO_FORCED, 0x0002_FF01, 0x0012_3401] {
        let (_, storage) = serve(&mut Sclp::default(), SCCB, &block_of(4096, 0), cmd, 0);
        assert_eq!(rc_at(&storage, SCCB), response::NORMAL_READ, "{cmd:#x}");
    }
}

#[test]
fn invalid_command_codes_answer_invalid_command_before_the_boundary_check() {
    // kvm-unit-tests: every detail code with class 0xdead, every class code
    // with read SCP info's detail code.
    let mut sclp = Sclp::default();
    let mut storage = OwnedStorage::new(STORAGE);
    storage
        .write(AbsoluteAddress::new(SCCB), &block_of(4096, 0))
        .unwrap();
    let codes = (0..=0xFFFFu32)
        .map(|i| 0xDEAD_0000 | i)
        .chain((0..=0xFFu32).filter(|&i| i != 1).map(|i| 0x0002_0000 | i));
    for cmd in codes {
        storage
            .write(AbsoluteAddress::new(SCCB + 6), &[0, 0])
            .unwrap();
        assert!(matches!(
            sclp.service_call(&mut storage, 0, cmd, SCCB),
            Ok(Serviced { .. })
        ));
        assert_eq!(rc_at(&storage, SCCB), response::INVALID_COMMAND, "{cmd:#x}");
    }
    let at = SCCB + 0xFF8;
    let (_, storage) = serve(&mut sclp, at, &block_of(0x100, 0), 0xDEAD_0000, 0);
    assert_eq!(rc_at(&storage, at), response::INVALID_COMMAND);
}

#[test]
fn write_event_data_crossing_a_page_is_a_boundary_violation() {
    // kvm-unit-tests' test_boundary, on a sample of lengths and offsets.
    let mut sclp = Sclp::default();
    for len in (32..=4096usize).step_by(61) {
        for offset in (4096 - (len & !7)..4096).step_by(8 * 7) {
            let at = SCCB + offset as u64;
            if offset + len <= 4096 {
                continue;
            }
            let (_, storage) = serve(
                &mut sclp,
                at,
                &block_of(len, 0),
                command::WRITE_EVENT_DATA,
                0,
            );
            assert_eq!(
                rc_at(&storage, at),
                response::BOUNDARY_VIOLATION,
                "{len} at {offset}"
            );
        }
    }
    assert!(sclp.console.is_empty());
}

#[test]
fn an_sccb_longer_than_4k_is_a_boundary_violation() {
    // kvm-unit-tests' test_toolong.
    let mut sclp = Sclp::default();
    for len in (4097..8192).step_by(37) {
        let (_, storage) = serve(
            &mut sclp,
            SCCB,
            &block_of(len, 0),
            command::WRITE_EVENT_DATA,
            0,
        );
        assert_eq!(rc_at(&storage, SCCB), response::BOUNDARY_VIOLATION, "{len}");
    }
}

#[test]
fn an_sccb_address_outside_storage_is_an_addressing_exception_before_alignment() {
    let mut storage = OwnedStorage::new(0x10000);
    for sccb in [0x10000, 0x10004, 0x8000_0000, 0xFFFF_FFFF_FFFF_FFF8] {
        let result = Sclp::default().service_call(&mut storage, 0, command::READ_SCP_INFO, sccb);
        assert_eq!(result, Err(Exception::new(Code::ADDRESSING)), "{sccb:#x}");
    }
}

#[test]
fn an_sccb_running_past_the_end_of_storage_is_an_addressing_exception() {
    let mut storage = OwnedStorage::new(0x10000);
    storage
        .write(AbsoluteAddress::new(0xFF00), &block_of(0x100, 0)[..8])
        .unwrap();
    storage
        .write(AbsoluteAddress::new(0xFF00), &[0x02, 0x00])
        .unwrap();
    let result = Sclp::default().service_call(&mut storage, 0, command::WRITE_EVENT_DATA, 0xFF00);
    assert_eq!(result, Err(Exception::new(Code::ADDRESSING)));
}

#[test]
fn an_sccb_in_the_prefix_area_is_a_specification_exception() {
    let mut storage = OwnedStorage::new(0x40000);
    for sccb in [0x20000, 0x21ff8] {
        let result =
            Sclp::default().service_call(&mut storage, 0x20000, command::READ_SCP_INFO, sccb);
        assert_eq!(
            result,
            Err(Exception::new(Code::SPECIFICATION)),
            "{sccb:#x}"
        );
    }
}

#[test]
fn read_cpu_info_lists_the_configured_cpus() {
    let mut sclp = with(SclpConfig {
        cpus: vec![0, 2],
        max_cpus: 4,
        ..SclpConfig::default()
    });
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &block_of(88, 0xAA),
        command::READ_CPU_INFO,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL_READ);
    let mut expected = block_of(88, 0xAA);
    expected[6..8].copy_from_slice(&[0x00, 0x10]);
    // Configured 2 at 24, standby 0 at 24 + 2 * 16.
    expected[8..16].copy_from_slice(&[0, 2, 0, 24, 0, 0, 0, 56]);
    for (i, address) in [0u8, 2].into_iter().enumerate() {
        let entry = 24 + 16 * i;
        expected[entry] = address;
        expected[entry + 2..entry + 8].fill(0);
        expected[entry + 14] = 0;
    }
    assert_eq!(bytes_at(&storage, SCCB, 88), expected);
}

#[test]
fn read_cpu_info_with_a_short_sccb_answers_insufficient_length() {
    // kvm-unit-tests: lengths 8 to 39 for one CPU.
    for len in 8..40 {
        let (_, storage) = serve(
            &mut Sclp::default(),
            SCCB,
            &block_of(len, 0),
            command::READ_CPU_INFO,
            0,
        );
        assert_eq!(
            rc_at(&storage, SCCB),
            response::INSUFFICIENT_LENGTH,
            "{len}"
        );
        assert_eq!(u16_at(&storage, SCCB + 8), 0, "{len}");
    }
    let (_, storage) = serve(
        &mut Sclp::default(),
        SCCB,
        &block_of(40, 0),
        command::READ_CPU_INFO,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL_READ);
}

#[test]
fn configure_io_adapter_without_zpci_answers_adapter_type_not_recognized() {
    for cmd in [command::CONFIGURE_IOA, command::DECONFIGURE_IOA] {
        let mut block = block_of(16, 0);
        block[8] = 2; // PCI
        let (_, storage) = serve(&mut Sclp::default(), SCCB, &block, cmd, 0);
        assert_eq!(rc_at(&storage, SCCB), response::ADAPTER_TYPE_NOT_RECOGNIZED);
        let short = block_of(15, 0);
        let (_, storage) = serve(&mut Sclp::default(), SCCB, &short, cmd, 0);
        assert_eq!(rc_at(&storage, SCCB), response::INSUFFICIENT_LENGTH);
    }
}

#[test]
fn configure_io_adapter_with_zpci_finds_no_pci_function() {
    let config = SclpConfig {
        zpci: true,
        ..SclpConfig::default()
    };
    let mut block = block_of(16, 0);
    block[8] = 2;
    let (_, storage) = serve(
        &mut with(config.clone()),
        SCCB,
        &block,
        command::CONFIGURE_IOA,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::ADAPTER_ID_NOT_RECOGNIZED);
    block[8] = 1;
    let (_, storage) = serve(&mut with(config), SCCB, &block, command::CONFIGURE_IOA, 0);
    assert_eq!(rc_at(&storage, SCCB), response::ADAPTER_TYPE_NOT_RECOGNIZED);
}

#[test]
fn write_event_mask_answers_qemu_masks_for_the_vt220_console() {
    let mut block = vec![0u8; 12 + 16];
    block[..2].copy_from_slice(&28u16.to_be_bytes());
    block[10..12].copy_from_slice(&4u16.to_be_bytes());
    let (_, storage) = serve(
        &mut Sclp::default(),
        SCCB,
        &block,
        command::WRITE_EVENT_MASK,
        0,
    );
    // SCLP receive: ASCII; send: config management, ASCII, signal quiesce.
    assert_eq!(
        bytes_at(&storage, SCCB + 20, 8),
        [0, 0, 0, 0x40, 0x10, 0, 0, 0x48]
    );
}

#[test]
fn write_event_mask_advertises_line_mode_when_configured() {
    let mut sclp = with(SclpConfig {
        line_mode_console: true,
        control_program_id: true,
        ..SclpConfig::default()
    });
    let mut block = vec![0u8; 12 + 4 * 10];
    block[..2].copy_from_slice(&52u16.to_be_bytes());
    block[10..12].copy_from_slice(&10u16.to_be_bytes());
    let (_, storage) = serve(&mut sclp, SCCB, &block, command::WRITE_EVENT_MASK, 0);
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL);
    // Receive: message (2), priority message/command (9), CPI (0x0B),
    // ASCII; send: operator command (1), config management (4), priority
    // message/command, ASCII, signal quiesce; then zeros to 10 bytes.
    assert_eq!(
        bytes_at(&storage, SCCB + 32, 20),
        [
            0x40, 0xA0, 0, 0x40, 0, 0, 0, 0, 0, 0, //
            0x90, 0x80, 0, 0x48, 0, 0, 0, 0, 0, 0,
        ]
    );
}

#[test]
fn read_event_data_without_events_answers_no_event_buffers() {
    let mut sclp = Sclp::default();
    enable(&mut sclp, MASK_ASCII);
    let mut block = read_sccb(0, 0x80);
    block[8..10].copy_from_slice(&[0xFF, 0xFF]);
    let (result, storage) = serve(&mut sclp, SCCB, &block, command::READ_EVENT_DATA, 0);
    assert_eq!(
        result,
        Ok(Serviced {
            parameter: SCCB as u32
        })
    );
    assert_eq!(rc_at(&storage, SCCB), response::NO_EVENT_BUFFERS);
    // Length shrunk to the header, variable-length bit cleared, the first
    // event length cleared.
    assert_eq!(
        bytes_at(&storage, SCCB, 10),
        [0, 8, 0, 0, 0, 0, 0x60, 0xF0, 0, 0]
    );
}

#[test]
fn read_event_data_needs_a_4k_sccb() {
    let mut sclp = Sclp::default();
    enable(&mut sclp, MASK_ASCII);
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &block_of(4088, 0xAA),
        command::READ_EVENT_DATA,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::INSUFFICIENT_LENGTH);
    assert_eq!(bytes_at(&storage, SCCB + 8, 2), [0xAA, 0xAA]);
}

#[test]
fn read_event_data_with_an_unknown_function_code_is_an_invalid_function() {
    let mut sclp = Sclp::default();
    enable(&mut sclp, MASK_ASCII);
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &read_sccb(2, 0),
        command::READ_EVENT_DATA,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::INVALID_FUNCTION);
}

#[test]
fn vt220_input_is_read_as_ascii_console_data() {
    let mut sclp = Sclp::default();
    enable(&mut sclp, MASK_ASCII | MASK_OPCMD);
    assert_eq!(sclp.push_input(b"ls\r"), 3);
    assert_eq!(sclp.attention(), Some(EVENT_PENDING));
    let mut block = read_sccb(0, 0x80);
    block[11] = 0x01; // flags: QEMU ORs "accepted" in
    let (result, storage) = serve(&mut sclp, SCCB, &block, command::READ_EVENT_DATA, 0);
    assert_eq!(
        result,
        Ok(Serviced {
            parameter: SCCB as u32
        }),
        "nothing pending any more"
    );
    assert_eq!(
        bytes_at(&storage, SCCB, 18),
        [0, 18, 0, 0, 0, 0, 0x00, 0x20, 0, 10, 0x1A, 0x81, 0, 0, 0, b'l', b's', b'\r']
    );
    assert_eq!(sclp.pending_input(), 0);
}

#[test]
fn vt220_input_beyond_4080_bytes_waits() {
    let mut sclp = Sclp::default();
    assert_eq!(sclp.push_input(&[b'x'; 5000]), 4080);
    enable(&mut sclp, MASK_ASCII);
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &read_sccb(0, 0),
        command::READ_EVENT_DATA,
        0,
    );
    assert_eq!(u16_at(&storage, SCCB + 8), 6 + 1 + 4080);
    assert_eq!(sclp.push_input(&[b'x'; 5000]), 4080);
}

#[test]
fn input_sets_the_event_pending_bit_only_when_the_guest_accepts_it() {
    let mut sclp = Sclp::default();
    sclp.push_input(b"x");
    assert!(!sclp.has_pending_events(), "receive mask empty");
    assert_eq!(sclp.attention(), None);

    let mut block = vec![0u8; 28];
    block[..2].copy_from_slice(&28u16.to_be_bytes());
    block[10..12].copy_from_slice(&4u16.to_be_bytes());
    block[12..16].copy_from_slice(&MASK_ASCII.to_be_bytes());
    let (result, _) = serve(&mut sclp, SCCB, &block, command::WRITE_EVENT_MASK, 0);
    assert_eq!(
        result,
        Ok(Serviced {
            parameter: SCCB as u32 | EVENT_PENDING
        })
    );
    assert!(sclp.has_pending_events());
}

#[test]
fn line_mode_input_is_read_as_an_operator_command_in_ebcdic() {
    let mut sclp = with(SclpConfig {
        vt220_console: false,
        line_mode_console: true,
        ..SclpConfig::default()
    });
    enable(&mut sclp, MASK_OPCMD);
    sclp.push_input(b"hi");
    assert!(!sclp.has_pending_events(), "no line yet");
    sclp.push_input(b"\nnext");
    assert_eq!(sclp.attention(), Some(EVENT_PENDING));
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &read_sccb(0, 0x80),
        command::READ_EVENT_DATA,
        0,
    );
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL);
    assert_eq!(u16_at(&storage, SCCB), 8 + 24);
    assert_eq!(
        bytes_at(&storage, SCCB + 8, 24),
        [
            0, 24, 0x01, 0, 0, 0, // event buffer: operator command
            0, 16, 0x13, 0x10, // MDS message unit
            0, 12, 0x12, 0x12, // control-program MSU
            0, 8, 0x13, 0x20, // text command
            4, 0x31, // self-defining text message
            4, 0x30, // text message
            0x88, 0x89, // "hi" in EBCDIC
        ]
    );
    assert_eq!(sclp.pending_input(), 4, "\"next\" waits for its line end");
}

#[test]
fn with_both_consoles_input_is_vt220_data_when_the_guest_reads_ascii() {
    let mut sclp = with(SclpConfig {
        line_mode_console: true,
        ..SclpConfig::default()
    });
    enable(&mut sclp, MASK_ASCII | MASK_OPCMD);
    sclp.push_input(b"a\n");
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &read_sccb(0, 0),
        command::READ_EVENT_DATA,
        0,
    );
    assert_eq!(bytes_at(&storage, SCCB + 8, 3), [0, 9, 0x1A]);
}

#[test]
fn selective_read_outside_the_receive_mask_is_an_invalid_selection() {
    let mut sclp = Sclp::default();
    let mut block = read_sccb(1, 0);
    block[8..12].copy_from_slice(&MASK_ASCII.to_be_bytes());
    let (_, storage) = serve(&mut sclp, SCCB, &block, command::READ_EVENT_DATA, 0);
    assert_eq!(
        rc_at(&storage, SCCB),
        response::INVALID_SELECTION_MASK,
        "no receive mask"
    );

    enable(&mut sclp, MASK_ASCII);
    block[8..12].copy_from_slice(&(MASK_ASCII | MASK_OPCMD).to_be_bytes());
    let (_, storage) = serve(&mut sclp, SCCB, &block, command::READ_EVENT_DATA, 0);
    assert_eq!(rc_at(&storage, SCCB), response::INVALID_SELECTION_MASK);
    assert_eq!(bytes_at(&storage, SCCB + 8, 2), [0x80, 0], "nothing read");

    sclp.push_input(b"z");
    block[8..12].copy_from_slice(&MASK_ASCII.to_be_bytes());
    let (_, storage) = serve(&mut sclp, SCCB, &block, command::READ_EVENT_DATA, 0);
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL);
    assert_eq!(bytes_at(&storage, SCCB + 8, 3), [0, 8, 0x1A]);
}

#[test]
fn a_quiesce_request_is_read_as_a_signal_quiesce_event() {
    let mut sclp = Sclp::default();
    sclp.request_quiesce();
    assert_eq!(sclp.attention(), None, "not in the receive mask");
    enable(&mut sclp, MASK_QUIESCE | MASK_ASCII);
    assert_eq!(sclp.attention(), Some(EVENT_PENDING));
    let (_, storage) = serve(
        &mut sclp,
        SCCB,
        &read_sccb(0, 0x80),
        command::READ_EVENT_DATA,
        0xAA,
    );
    assert_eq!(
        bytes_at(&storage, SCCB, 18),
        [0, 17, 0, 0, 0, 0, 0x00, 0x20, 0, 9, 0x1D, 0x80, 0, 0, 0, 0, 0, 0]
    );
    assert!(!sclp.has_pending_events());
}

/// A line-mode message SCCB as kvm-unit-tests' `lm_print` builds it: MDB
/// header, a general object, then one message-text object per line.
fn lm_message(lines: &[&[u8]]) -> Vec<u8> {
    let mut mdb = vec![0u8; 12];
    mdb[2..4].copy_from_slice(&1u16.to_be_bytes());
    mdb[4..8].copy_from_slice(&0xD4C4_C240u32.to_be_bytes());
    mdb[8..12].copy_from_slice(&1u32.to_be_bytes());
    let mut go = vec![0u8; 56];
    go[..2].copy_from_slice(&56u16.to_be_bytes());
    go[2..4].copy_from_slice(&1u16.to_be_bytes());
    mdb.extend_from_slice(&go);
    for line in lines {
        let mut mto = vec![0u8; 10];
        mto[..2].copy_from_slice(&(10 + line.len() as u16).to_be_bytes());
        mto[2..4].copy_from_slice(&4u16.to_be_bytes());
        mto[4..6].copy_from_slice(&0x1000u16.to_be_bytes());
        mto.extend_from_slice(line);
        mdb.extend_from_slice(&mto);
    }
    let mdb_len = mdb.len() as u16;
    mdb[..2].copy_from_slice(&mdb_len.to_be_bytes());
    let mut b = vec![0u8; 8 + 6];
    b.extend_from_slice(&mdb);
    let total = b.len() as u16;
    b[..2].copy_from_slice(&total.to_be_bytes());
    b[8..10].copy_from_slice(&(total - 8).to_be_bytes());
    b[10] = 0x02;
    b[11] = 0x01;
    b
}

#[test]
fn line_mode_messages_print_each_text_object_after_a_newline() {
    let mut sclp = with(SclpConfig {
        line_mode_console: true,
        ..SclpConfig::default()
    });
    // "ok" and "A1" in EBCDIC.
    let block = lm_message(&[&[0x96, 0x92], &[0xC1, 0xF1]]);
    let (_, storage) = serve(&mut sclp, SCCB, &block, command::WRITE_EVENT_DATA, 0);
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL);
    assert_eq!(
        bytes_at(&storage, SCCB + 11, 1),
        [0x80],
        "flags set to accepted"
    );
    assert_eq!(sclp.take_console(), b"\nok\nA1");
}

#[test]
fn a_line_mode_message_with_inconsistent_lengths_is_refused() {
    let mut sclp = with(SclpConfig {
        line_mode_console: true,
        ..SclpConfig::default()
    });
    let good = lm_message(&[&[0x96, 0x92]]);
    let mut cases = Vec::new();
    // MDB shorter than its header.
    let mut b = good.clone();
    b[14..16].copy_from_slice(&11u16.to_be_bytes());
    cases.push(b);
    // An object longer than what is left of the MDB.
    let mut b = good.clone();
    b[26 + 56..28 + 56].copy_from_slice(&13u16.to_be_bytes());
    cases.push(b);
    // An object of length 0.
    let mut b = good.clone();
    b[26..28].copy_from_slice(&0u16.to_be_bytes());
    cases.push(b);
    for (i, block) in cases.iter().enumerate() {
        let (_, storage) = serve(&mut sclp, SCCB, block, command::WRITE_EVENT_DATA, 0);
        assert_eq!(
            rc_at(&storage, SCCB),
            response::INCONSISTENT_LENGTHS,
            "case {i}"
        );
        assert_eq!(
            bytes_at(&storage, SCCB + 11, 1),
            [0x01],
            "case {i}: not accepted"
        );
    }
    assert!(sclp.console.is_empty());
}

#[test]
fn control_program_identification_is_accepted_only_when_configured() {
    let block = sccb(&[(6 + 64, 0x0b, &[0x40; 64])]);
    let (_, storage, _) = call(&block, command::WRITE_EVENT_DATA);
    assert_eq!(response_of(&storage), response::INVALID_FUNCTION);
    let mut sclp = with(SclpConfig {
        control_program_id: true,
        ..SclpConfig::default()
    });
    let (_, storage) = serve(&mut sclp, SCCB, &block, command::WRITE_EVENT_DATA, 0);
    assert_eq!(rc_at(&storage, SCCB), response::NORMAL);
    assert_eq!(bytes_at(&storage, SCCB + 11, 1), [0x80]);
}

#[test]
fn write_event_data_with_a_nonzero_function_code_is_an_invalid_function() {
    let mut block = sccb(&[(8, 0x1a, b"no")]);
    block[2] = 1;
    let (_, storage, sclp) = call(&block, command::WRITE_EVENT_DATA);
    assert_eq!(response_of(&storage), response::INVALID_FUNCTION);
    assert!(sclp.console.is_empty());
}

proptest! {
    #[test]
    fn any_command_on_any_sccb_changes_only_the_sccb(
        body in proptest::collection::vec(any::<u8>(), 0..5000),
        which in 0usize..9,
        offset in 0u64..0x400,
        els in any::<bool>(),
        line_mode in any::<bool>(),
        input in proptest::collection::vec(any::<u8>(), 0..64),
        receive in any::<u32>(),
    ) {
        let cmd = [
            command::READ_SCP_INFO, command::READ_CPU_INFO, command::CONFIGURE_IOA,
            command::READ_EVENT_DATA, command::WRITE_EVENT_DATA, command::WRITE_EVENT_MASK,
            command::DECONFIGURE_IOA, command::READ_SCP_INFO_FORCED, 0x0042_0001,
        ][which];
        let mut sclp = with(SclpConfig {
            extended_length_sccb: els,
            line_mode_console: line_mode,
            control_program_id: line_mode,
            max_cpus: 2,
            ..SclpConfig::default()
        });
        enable(&mut sclp, receive);
        sclp.push_input(&input);
        sclp.request_quiesce();
        let at = 0x10000 + offset * 8;
        let mut storage = OwnedStorage::new(0x20000);
        storage.write(AbsoluteAddress::new(0), &vec![0xAA; 0x20000]).unwrap();
        storage.write(AbsoluteAddress::new(at), &body).unwrap();
        let declared = u64::from(u16_at(&storage, at));
        let result = sclp.service_call(&mut storage, 0, cmd, at);
        let after = bytes_at(&storage, 0, 0x20000);
        let end = (at + declared.max(body.len() as u64)) as usize;
        prop_assert!(after[..at as usize].iter().all(|&b| b == 0xAA));
        prop_assert!(after[end.min(0x20000)..].iter().all(|&b| b == 0xAA));
        let done = matches!(result, Ok(Serviced { .. }));
        prop_assert_eq!(done, declared >= 8 && at + declared <= 0x20000);
    }
}
