//! Every error type says what happened, with codes and addresses in hex,
//! and is a `core::error::Error`.

use zmmu_hv_mock::MockHost;
use zmmu_mmu::asce::Level;
use zmmu_mmu::exception::{Code, Exception, ProtectionKind, Teid};
use zmmu_mmu::host::{HostAccessKind, HostFault};
use zmmu_mmu::prelude::*;
use zmmu_mmu::shadow::{EngineError, ShadowError};
use zmmu_mmu::walk::{FaultReason, WalkFault};

fn is_error<E: core::error::Error>() {}

#[test]
fn every_error_type_is_a_core_error() {
    is_error::<Exception>();
    is_error::<Fault>();
    is_error::<WalkFault>();
    is_error::<HostFault>();
    is_error::<ShadowError<<MockHost as zmmu_mmu::host::HostPaging>::Error>>();
    is_error::<EngineError<<MockHost as zmmu_mmu::host::HostPaging>::Error>>();
}

#[test]
fn a_translation_exception_displays_its_name_code_and_teid() {
    let teid = Teid::for_access(
        LogicalAddress::new(0x12_3456),
        AccessKind::Write,
        AddressSpace::Secondary,
    );
    let e = Exception::translation(Code::PAGE_TRANSLATION, teid, AddressSpace::Secondary);
    assert_eq!(
        e.to_string(),
        "page-translation exception (code 0x0011), TEID 0x123402"
    );
}

#[test]
fn a_protection_exception_in_access_register_mode_displays_the_access_id() {
    let space = AddressSpace::AccessRegister { alet: 0, ar: 5 };
    let teid = Teid::for_access(LogicalAddress::new(0x1000), AccessKind::Write, space);
    let e = Exception::protection(ProtectionKind::Dat, teid, space, Facilities::ESOP2);
    assert_eq!(
        e.to_string(),
        "protection exception (code 0x0004), TEID 0x1405, exception access id 5"
    );
}

#[test]
fn exceptions_without_a_teid_display_only_their_code() {
    assert_eq!(
        Exception::addressing().to_string(),
        "addressing exception (code 0x0005)"
    );
    assert_eq!(
        Exception::data(0xFF).to_string(),
        "data exception (code 0x0007), DXC 0xff"
    );
    assert_eq!(
        Exception::new(Code(0x0A)).to_string(),
        "program interruption code 0x000a"
    );
}

#[test]
fn an_unsupported_art_fault_displays_the_alet() {
    assert_eq!(
        Fault::ArtUnsupported { alet: 0x1_0002 }.to_string(),
        "access-register translation (ALET 0x10002) is not implemented"
    );
    assert_eq!(
        Fault::from(Exception::addressing()).to_string(),
        "addressing exception (code 0x0005)"
    );
}

#[test]
fn a_walk_fault_displays_the_level_the_entry_address_and_the_code() {
    let fault = WalkFault {
        reason: FaultReason::Invalid,
        level: Level::Page,
        entry: Some(AbsoluteAddress::new(0x2_0118)),
    };
    assert_eq!(
        fault.to_string(),
        "DAT walk failed at the page table (entry at absolute 0x20118): the entry is \
         invalid; page-translation exception (code 0x0011)"
    );
    let fault = WalkFault {
        reason: FaultReason::AsceType,
        level: Level::RegionThird,
        entry: None,
    };
    assert_eq!(
        fault.to_string(),
        "DAT walk failed at the region-third table: an index above the designated \
         table is not zero; ASCE-type exception (code 0x0038)"
    );
}

#[test]
fn host_faults_and_pager_errors_display_the_logical_address() {
    let fault = HostFault {
        address: LogicalAddress::new(0x5000),
        kind: HostAccessKind::Write,
        present: true,
    };
    assert_eq!(
        fault.to_string(),
        "host page fault: store at logical 0x5000 (not permitted)"
    );
    let unmappable: ShadowError<()> = ShadowError::Unmappable(LogicalAddress::new(1 << 47));
    assert_eq!(
        unmappable.to_string(),
        "logical address 0x800000000000 is beyond what the host MMU maps"
    );
    let inconsistent: EngineError<()> = EngineError::Inconsistent(LogicalAddress::new(0x7000));
    assert_eq!(
        inconsistent.to_string(),
        "the host MMU disagrees with the shadow pager at logical 0x7000"
    );
    let host: EngineError<&str> = EngineError::Host("out of tables");
    assert_eq!(
        host.to_string(),
        "host paging backend failed: \"out of tables\""
    );
}
