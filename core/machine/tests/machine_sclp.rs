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
        Ok(Serviced::Done {
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
    assert!(matches!(result, Ok(Serviced::Done { .. })));
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
