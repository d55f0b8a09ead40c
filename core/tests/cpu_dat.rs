//! The interpreter with DAT on, through the machine's [`DatBus`]: translated
//! operand and instruction fetches, IPTE invalidating what the TLB cached,
//! LRA, and translation exceptions delivered with their TEID.

use zmmu_core::cpu::exec::{lowcore, Interruption};
use zmmu_core::cpu::state::{mask, Cpu, Psw};
use zmmu_core::machine::bus::DatBus;
use zmmu_core::prelude::*;

const SEGMENT_TABLE: u64 = 0x10000;
const PAGE_TABLE: u64 = 0x11000;

/// 1 MiB of storage: virtual page 1 maps to absolute 0x1000 (the code),
/// virtual page 5 to absolute 0x73000; `code` at virtual 0x1000; a CPU in
/// 64-bit supervisor state with DAT on in the primary space.
fn machine(code: &[u8]) -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(1 << 20);
    let w =
        |s: &mut OwnedStorage, at: u64, v: u64| s.write_u64(AbsoluteAddress::new(at), v).unwrap();
    w(&mut storage, SEGMENT_TABLE, PAGE_TABLE);
    w(&mut storage, PAGE_TABLE + 8, 0x1000);
    w(&mut storage, PAGE_TABLE + 5 * 8, 0x7_3000);
    storage.write(AbsoluteAddress::new(0x1000), code).unwrap();
    let mut cpu = Cpu::new();
    cpu.cr[1] = SEGMENT_TABLE;
    cpu.psw = Psw {
        mask: mask::DAT | mask::EA | mask::BA,
        addr: 0x1000,
    };
    (cpu, DatBus::new(storage))
}

#[test]
fn operands_and_instructions_are_fetched_through_dat() {
    // l %r1,0x123(%r2)
    let (mut cpu, mut bus) = machine(&[0x58, 0x10, 0x21, 0x23]);
    bus.storage
        .write(AbsoluteAddress::new(0x7_3123), &[1, 2, 3, 4])
        .unwrap();
    cpu.gpr[2] = 0x5000;
    cpu.step(&mut bus).unwrap();
    assert_eq!(cpu.gpr[1], 0x0102_0304);
}

#[test]
fn lra_loads_the_real_address() {
    // lra %r5,0x123(%r2)
    let (mut cpu, mut bus) = machine(&[0xB1, 0x50, 0x21, 0x23]);
    cpu.gpr[2] = 0x5000;
    cpu.step(&mut bus).unwrap();
    assert_eq!((cpu.gpr[5], cpu.psw.cc()), (0x7_3123, 0));
}

#[test]
fn ipte_makes_the_next_access_a_nullifying_page_translation_exception() {
    // l %r1,0(%r2); ipte %r3,%r2; l %r1,0(%r2)
    let code = [
        0x58, 0x10, 0x20, 0x00, 0xB2, 0x21, 0x00, 0x32, 0x58, 0x10, 0x20, 0x00,
    ];
    let (mut cpu, mut bus) = machine(&code);
    cpu.gpr[2] = 0x5000;
    cpu.gpr[3] = PAGE_TABLE;
    cpu.step(&mut bus).unwrap(); // cached in the TLB
    cpu.step(&mut bus).unwrap(); // IPTE drops it
    let intr = cpu.step(&mut bus).unwrap_err();
    assert_eq!(
        intr,
        Interruption::Program {
            exc: zmmu_core::cpu::exception::ProgramException {
                code: 0x11,
                teid: Some(0x5000 | Teid::FETCH),
                dxc: 0,
                access_id: None,
            },
            ilc: 2,
        }
    );
    assert_eq!(
        cpu.psw.addr, 0x1008,
        "nullified: the old PSW points at the L"
    );
    cpu.deliver(&mut bus, intr).unwrap();
    let mut teid = [0u8; 8];
    bus.storage
        .read(AbsoluteAddress::new(lowcore::TEID), &mut teid)
        .unwrap();
    assert_eq!(u64::from_be_bytes(teid), 0x5000 | Teid::FETCH);
}

#[test]
fn a_store_to_a_dat_protected_page_is_a_protection_exception() {
    // st %r1,0(%r2) with the page-table entry's protection bit on
    let (mut cpu, mut bus) = machine(&[0x50, 0x10, 0x20, 0x00]);
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGE_TABLE + 5 * 8), 0x7_3000 | 0x200)
        .unwrap();
    cpu.gpr[2] = 0x5000;
    match cpu.step(&mut bus) {
        Err(Interruption::Program { exc, .. }) => assert_eq!(exc.code, 0x04),
        other => panic!("expected protection, got {other:?}"),
    }
}
