//! The machine around the interpreter: interruptions go through the
//! lowcore as the architecture says, the SCLP console behaves as QEMU's,
//! and what is not implemented stops the machine by name.

mod common;

use common::*;

use zmmu_machine::sclp::response;
use zmmu_machine::{Machine, Observer, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Segment table at 0x10000 (TL 0) and a page table at 0x11000 that maps
/// the first MiB virtual = real except page `hole`; CR1 designates it.
fn identity_map_except(m: &mut Machine, hole: u64) {
    for s in 0..512u64 {
        let ste = if s == 0 { 0x11000 } else { 0x20 };
        m.bus
            .storage
            .write_u64(AbsoluteAddress::new(0x10000 + 8 * s), ste)
            .unwrap();
    }
    for p in 0..256u64 {
        let pte = if p == hole { 0x400 } else { p << 12 };
        m.bus
            .storage
            .write_u64(AbsoluteAddress::new(0x11000 + 8 * p), pte)
            .unwrap();
    }
    m.cpu.cr[1] = 0x10000;
}

/// Collects the console output of a run.
#[derive(Default)]
struct Console(Vec<u8>);

impl Observer for Console {
    fn console(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

fn stopped_at(m: &mut Machine, limit: u64) -> Stop {
    m.run(Some(limit), &mut ()).stop
}

fn waits_at(stop: &Stop, addr: u64) -> bool {
    matches!(stop, Stop::DisabledWait { psw } if psw.addr == addr)
}

#[test]
fn page_translation_exception_nullifies_and_stores_code_ilc_and_teid() {
    // LG 1,0(2) with R2 = 0x80000, whose page-table entry is invalid.
    let mut m = machine(&[0xe3, 0x10, 0x20, 0x00, 0x00, 0x04]);
    identity_map_except(&mut m, 0x80);
    m.cpu.cr[1] = 0x10000;
    m.cpu.gpr[2] = 0x80000;
    m.cpu.psw.mask = BITS64 | DAT;
    let stop = stopped_at(&mut m, 10);
    assert!(waits_at(&stop, 0xF), "{stop:?}");
    assert_eq!(u16_at(&m, 0x8e), 0x0011, "page-translation code");
    assert_eq!(u16_at(&m, 0x8c), 6, "ILC 3");
    assert_eq!(u64_at(&m, 0xa8), 0x80800, "TEID: page, fetch, primary");
    assert_eq!(u64_at(&m, 0x150), BITS64 | DAT, "old PSW mask");
    assert_eq!(
        u64_at(&m, 0x158),
        CODE,
        "nullified: the old PSW points at the LG"
    );
}

#[test]
fn operation_exception_suppresses_the_old_psw_points_past_the_opcode() {
    let mut m = machine(&[0x00, 0x00]);
    let stop = stopped_at(&mut m, 10);
    assert!(waits_at(&stop, 0xF), "{stop:?}");
    assert_eq!(u16_at(&m, 0x8e), 0x0001);
    assert_eq!(u16_at(&m, 0x8c), 2, "ILC 1");
    assert_eq!(u64_at(&m, 0x158), CODE + 2);
}

#[test]
fn supervisor_call_stores_its_number_and_the_next_address() {
    let mut m = machine(&[0x0a, 0x05]);
    let stop = stopped_at(&mut m, 10);
    assert!(waits_at(&stop, 0x5), "{stop:?}");
    assert_eq!(u16_at(&m, 0x8a), 5);
    assert_eq!(u64_at(&m, 0x148), CODE + 2);
}

/// SERVC 1,2 then J * ; R1 = write event data, R2 = the SCCB at 0x3000 with
/// one ASCII event buffer.
fn console_machine(sccb: u64, text: &[u8]) -> Machine {
    let mut m = machine(&[0xb2, 0x20, 0x00, 0x12, 0xa7, 0xf4, 0x00, 0x00]);
    let len = 8 + 6 + text.len() as u16;
    let mut block = vec![0u8; 8 + 6];
    block[..2].copy_from_slice(&len.to_be_bytes());
    block[8..10].copy_from_slice(&(len - 8).to_be_bytes());
    block[10] = 0x1a;
    block.extend_from_slice(text);
    m.load(sccb, &block).unwrap();
    m.cpu.gpr[1] = 0x0076_0005;
    m.cpu.gpr[2] = sccb;
    m
}

#[test]
fn write_event_data_prints_and_signals_only_when_enabled() {
    let mut m = console_machine(0x3000, b"hello");
    let mut console = Console::default();
    let outcome = m.run(Some(20), &mut console);
    assert_eq!(
        outcome.stop,
        Stop::LimitReached,
        "disabled: no interruption"
    );
    assert_eq!(console.0, b"hello");
    assert_eq!(u16_at(&m, 0x3006), response::NORMAL);
    assert_eq!(
        m.bus
            .storage
            .read_u64(AbsoluteAddress::new(0x3008))
            .unwrap()
            >> 32
            & 0x80,
        0x80,
        "event buffer accepted"
    );
    assert_eq!(m.cpu.psw.cc(), 0);

    // Enable the service-signal subclass (CR0 bit 54) and external
    // interruptions: the signal comes, with the SCCB address as parameter.
    m.cpu.cr[0] |= 1 << 9;
    m.cpu.psw.mask |= EXT;
    let stop = stopped_at(&mut m, 20);
    assert!(waits_at(&stop, 0xE), "{stop:?}");
    assert_eq!(u16_at(&m, 0x86), 0x2401);
    assert_eq!(u64_at(&m, 0x80) >> 32, 0x3000);
}

#[test]
fn an_sccb_crossing_a_page_is_a_boundary_violation() {
    let mut m = console_machine(0x3ff8, b"hello");
    let mut console = Console::default();
    m.run(Some(5), &mut console);
    assert!(console.0.is_empty());
    assert_eq!(u16_at(&m, 0x3ffe), response::BOUNDARY_VIOLATION);
}

#[test]
fn an_sccb_in_the_lowcore_is_a_specification_exception() {
    let mut m = console_machine(0x1000, b"hi");
    let stop = stopped_at(&mut m, 5);
    assert!(waits_at(&stop, 0xF), "{stop:?}");
    assert_eq!(u16_at(&m, 0x8e), 0x0006);
}

#[test]
fn an_unimplemented_instruction_stops_the_machine_by_name_without_executing() {
    // PTFF is known to the decoder; the machine does not implement it.
    let mut m = machine(&[0xa7, 0x19, 0x00, 0x01, 0x01, 0x04]);
    let outcome = m.run(Some(10), &mut ());
    assert!(
        matches!(outcome.stop, Stop::Unimplemented { mnemonic: "PTFF", address, .. } if address == CODE + 4),
        "{:?}",
        outcome.stop
    );
    assert_eq!(m.cpu.psw.addr, CODE + 4, "the PSW still points at it");
    assert_eq!(u16_at(&m, 0x8e), 0, "no program interruption was delivered");
}

#[test]
fn an_enabled_wait_with_nothing_pending_stops_instead_of_hanging() {
    // LPSWE 0xF00: a wait PSW with external interruptions enabled.
    let mut m = machine(&[0xb2, 0xb2, 0x0f, 0x00]);
    m.load(0xf00, &psw(DISABLED_WAIT | EXT, 0x42)).unwrap();
    assert!(matches!(
        stopped_at(&mut m, 10),
        Stop::EnabledWaitForever { .. }
    ));
}

#[test]
fn a_store_crossing_into_an_invalid_page_stores_nothing() {
    // STG 1,0(2) with R2 = 0x7ffc: four bytes in page 7, four in page 8,
    // whose entry is invalid.
    let mut m = machine(&[0xe3, 0x10, 0x20, 0x00, 0x00, 0x24]);
    identity_map_except(&mut m, 0x8);
    m.cpu.gpr[1] = 0x1122_3344_5566_7788;
    m.cpu.gpr[2] = 0x7ffc;
    m.cpu.psw.mask = BITS64 | DAT;
    let stop = stopped_at(&mut m, 10);
    assert!(waits_at(&stop, 0xF), "{stop:?}");
    assert_eq!(u16_at(&m, 0x8e), 0x0011);
    assert_eq!(u64_at(&m, 0xa8), 0x8400, "TEID: page 8, store");
    assert_eq!(u64_at(&m, 0x7ff8), 0, "page 7 is unchanged");
}

#[test]
fn an_unimplemented_target_of_exrl_is_named_at_the_exrl() {
    // EXRL 0,*+6 whose target is PTFF.
    let mut m = machine(&[0xc6, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x04]);
    let stop = stopped_at(&mut m, 10);
    assert!(
        matches!(
            stop,
            Stop::Unimplemented {
                mnemonic: "PTFF",
                address: CODE,
                ..
            }
        ),
        "{stop:?}"
    );
}

#[test]
fn an_unknown_target_of_exrl_raises_the_operation_exception() {
    // EXRL 0,*+6 whose target is the unassigned opcode 0x00.
    let mut m = machine(&[0xc6, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00]);
    let stop = stopped_at(&mut m, 10);
    assert!(waits_at(&stop, 0xF), "{stop:?}");
    assert_eq!(u16_at(&m, 0x8e), 0x0001);
    assert_eq!(u64_at(&m, 0x158), CODE + 6, "suppressed: past the EXRL");
}
