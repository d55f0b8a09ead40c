//! What an s390x exception at a translated access costs in exits: the
//! fault (one exit) sends the code to the instruction's slow path, whose
//! host call (one exit) goes straight to the host, which delivers the
//! interruption; the run ends in that call's exit. The in-VM runtime
//! image, which would make the same access and fault the same way, is not
//! asked, and the chain's end costs no exit of its own.

mod common;

use common::{on_both, program_machine, write_words};
use zmmu_kvm::reasons::ChainEnd;
use zmmu_kvm::KvmEngine;
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Turns of [`TOUCH_NEW_PAGES`]'s loop.
const TURNS: u64 = 100;

/// `lghi r1,100 ; lgfi r5,0x100000 ; j X` (the loop is a block of its
/// own) ; X: `stg r1,0x100(r5) ; aghi r5,4096 ; brctg r1,X ; lpswe 0x900`
/// (a disabled wait): each turn stores into a page not mapped yet.
const TOUCH_NEW_PAGES: [u8; 32] = [
    0xa7, 0x19, 0x00, 0x64, 0xc0, 0x51, 0x00, 0x10, 0x00, 0x00, 0xa7, 0xf4, 0x00, 0x02, 0xe3, 0x10,
    0x51, 0x00, 0x00, 0x24, 0xa7, 0x5b, 0x10, 0x00, 0xa7, 0x17, 0xff, 0xfb, 0xb2, 0xb2, 0x09, 0x00,
];

/// The program-interruption handler at 0x2800 (DAT off): `lg r8,0xa8`
/// (the translation-exception identification) ; `nill r8,0xf000` (the
/// page) ; `lgr r9,r8 ; srlg r9,r9,9 ; agfi r9,0x11800` (its entry in the
/// second MiB's page table at 0x12000) ; `stg r8,0(r9)` (made valid,
/// onto the frame of the same address) ; `lpswe 0x150` (back to the
/// store, nullified).
const MAP_THE_PAGE: [u8; 36] = [
    0xe3, 0x80, 0x00, 0xa8, 0x00, 0x04, 0xa5, 0x87, 0xf0, 0x00, 0xb9, 0x04, 0x00, 0x98, 0xeb, 0x99,
    0x00, 0x09, 0x00, 0x0c, 0xc2, 0x98, 0x00, 0x01, 0x18, 0x00, 0xe3, 0x80, 0x90, 0x00, 0x00, 0x24,
    0xb2, 0xb2, 0x01, 0x50,
];

/// DAT on (PSW bit 5).
const DAT: u64 = 0x0400_0000_0000_0000;

/// [`TOUCH_NEW_PAGES`] under DAT: the first MiB mapped onto itself (page
/// table 0x11000), the second MiB's pages all invalid (page table
/// 0x12000), the program-interruption handler [`MAP_THE_PAGE`] with DAT
/// off, a disabled-wait PSW at 0x900.
fn demand_paging_machine() -> Machine {
    let mut machine = program_machine(0x2000, &TOUCH_NEW_PAGES);
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0x2800), &MAP_THE_PAGE)
        .unwrap();
    let mut words = vec![
        (0x1d0, 0x0000_0001_8000_0000),
        (0x1d8, 0x2800),
        (0x900, 0x0002_0001_8000_0000),
        (0x908, 0x777),
    ];
    for segment in 0..2048u64 {
        let entry = match segment {
            0 => 0x11000,
            1 => 0x12000,
            _ => 0x20,
        };
        words.push((0x10000 + segment * 8, entry));
    }
    for page in 0..256u64 {
        words.push((0x11000 + page * 8, page << 12));
        words.push((0x12000 + page * 8, (0x100 + page) << 12 | 0x400));
    }
    write_words(&mut machine, &words);
    machine.cpu.cr[1] = 0x10000;
    machine.cpu.psw.mask |= DAT;
    machine
}

/// Every exit is accounted for: a host call, a page fault, a table-write
/// chunk, a kick, or the end of a run, except a run that ended at a host
/// call that left the chain, whose end costs none.
fn assert_exits_accounted(engine: &KvmEngine) {
    let run = engine.host().stats();
    let left = engine.reasons().chains(ChainEnd::Left);
    assert_eq!(
        run.exits + left,
        run.calls + run.faults + run.chunks + run.kicks + run.runs,
        "{run:?}, {left} chains ended at a host call that left"
    );
}

#[test]
fn an_exception_at_a_translated_store_costs_the_fault_and_the_hosts_call() {
    let (reference, kvm) = on_both(demand_paging_machine, 100_000);
    assert_eq!(reference.cpu.gpr[1], 0, "every turn ran");
    assert_eq!(
        reference
            .bus
            .storage
            .read_u64(AbsoluteAddress::new(0x100100)),
        Some(TURNS),
        "the first turn's store, made again after the handler"
    );
    let Some((machine, engine)) = kvm else {
        return;
    };
    common::assert_same(&machine, &reference);
    // One page-translation exception per turn, each a fault of the
    // translated store only: the image, not asked, makes no second one.
    let stats = engine.stats();
    assert_eq!(stats.fault_exceptions, TURNS, "{stats:?}");
    // Each exception's host call left the chain, in its own exit.
    assert!(engine.reasons().chains(ChainEnd::Left) >= TURNS);
    assert_exits_accounted(&engine);
}
