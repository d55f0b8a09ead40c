//! The interpreter with DAT on, through the machine's [`DatBus`]: translated
//! operand and instruction fetches, IPTE invalidating what the TLB cached,
//! LRA, and translation exceptions delivered with their TEID.

use zmmu_cpu::interrupt::{lowcore, Interruption};
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_machine::bus::DatBus;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::prelude::*;

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
            exception: Exception {
                code: Code::PAGE_TRANSLATION,
                teid: Some(Teid(0x5000 | Teid::FETCH)),
                access_id: None,
                dxc: 0,
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
        Err(Interruption::Program { exception, .. }) => {
            assert_eq!(exception.code, Code::PROTECTION)
        }
        other => panic!("expected protection, got {other:?}"),
    }
}

#[test]
fn with_esop_1_a_dat_protection_exception_identifies_the_page_a_store_and_bit_61() {
    // st %r1,0x10(%r2) with the page-table entry's protection bit on, on the
    // machine's facilities (ESOP-1 offered): TEID = page | store | bit 61.
    let (mut cpu, mut bus) = machine(&[0x50, 0x10, 0x20, 0x10]);
    bus.facilities = zmmu_machine::FACILITIES;
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGE_TABLE + 5 * 8), 0x7_3000 | 0x200)
        .unwrap();
    cpu.gpr[2] = 0x5000;
    let intr = cpu.step(&mut bus).unwrap_err();
    let esop1_dat = 0x4;
    assert_eq!(
        intr,
        Interruption::Program {
            exception: Exception {
                code: Code::PROTECTION,
                teid: Some(Teid(0x5000 | Teid::STORE | esop1_dat)),
                access_id: None,
                dxc: 0,
            },
            ilc: 2,
        }
    );
    cpu.deliver(&mut bus, intr).unwrap();
    let mut teid = [0u8; 8];
    bus.storage
        .read(AbsoluteAddress::new(lowcore::TEID), &mut teid)
        .unwrap();
    assert_eq!(u64::from_be_bytes(teid), 0x5000 | Teid::STORE | esop1_dat);
}

#[test]
fn spx_of_a_prefix_area_outside_storage_is_an_addressing_exception() {
    // spx 0x120(%r2) with the operand naming 0x100000-0x101FFF, past the
    // 1 MiB of storage
    let (mut cpu, mut bus) = machine(&[0xB2, 0x10, 0x21, 0x20]);
    bus.storage
        .write(
            AbsoluteAddress::new(0x7_3120),
            &0x0010_0000u32.to_be_bytes(),
        )
        .unwrap();
    cpu.gpr[2] = 0x5000;
    match cpu.step(&mut bus) {
        Err(Interruption::Program { exception, ilc }) => {
            assert_eq!((exception.code, ilc), (Code::ADDRESSING, 2))
        }
        other => panic!("expected an addressing exception, got {other:?}"),
    }
    assert_eq!(cpu.prefix, Prefix::new(0), "the prefix is unchanged");
}

#[test]
fn after_spx_translations_that_ended_in_the_old_lowcore_are_not_reused() {
    // spx 0x120(%r2) to 0x40000. The code's page (virtual 0x1000, real
    // 0x1000) is in the prefix area, so the next instruction is fetched
    // from absolute 0x41004 (lghi %r1,7), not from the cached 0x1004.
    let (mut cpu, mut bus) = machine(&[0xB2, 0x10, 0x21, 0x20, 0xA7, 0x19, 0x00, 0x01]);
    bus.storage
        .write(
            AbsoluteAddress::new(0x7_3120),
            &0x0004_0000u32.to_be_bytes(),
        )
        .unwrap();
    bus.storage
        .write(AbsoluteAddress::new(0x4_1004), &[0xA7, 0x19, 0x00, 0x07])
        .unwrap();
    cpu.gpr[2] = 0x5000;
    cpu.step(&mut bus).unwrap();
    cpu.step(&mut bus).unwrap();
    assert_eq!(cpu.gpr[1], 7);
}

const SECONDARY_SEGMENT_TABLE: u64 = 0x12000;
const SECONDARY_PAGE_TABLE: u64 = 0x13000;

/// The machine of [`machine`] with a secondary space (CR7) that maps
/// virtual page 5 to absolute 0x74000, secondary-space control on, and
/// `mvcs 0x100(%r1,%r2),0(%r2),%r3` (or MVCP, `op` 0xDA) as the code.
fn two_spaces(op: u8) -> (Cpu, DatBus) {
    let (mut cpu, mut bus) = machine(&[op, 0x13, 0x21, 0x00, 0x20, 0x00]);
    let w =
        |b: &mut DatBus, at: u64, v: u64| b.storage.write_u64(AbsoluteAddress::new(at), v).unwrap();
    w(&mut bus, SECONDARY_SEGMENT_TABLE, SECONDARY_PAGE_TABLE);
    w(&mut bus, SECONDARY_PAGE_TABLE + 5 * 8, 0x7_4000);
    cpu.cr[7] = SECONDARY_SEGMENT_TABLE;
    cpu.cr[0] |= 1 << 26;
    cpu.gpr[1] = 8;
    cpu.gpr[2] = 0x5000;
    (cpu, bus)
}

#[test]
fn mvcs_stores_into_the_secondary_space_and_mvcp_fetches_from_it() {
    let (mut cpu, mut bus) = two_spaces(0xDB);
    bus.storage
        .write(AbsoluteAddress::new(0x7_3000), b"primary!")
        .unwrap();
    cpu.step(&mut bus).unwrap();
    let mut moved = [0u8; 8];
    bus.storage
        .read(AbsoluteAddress::new(0x7_4100), &mut moved)
        .unwrap();
    assert_eq!((&moved, cpu.psw.cc()), (b"primary!", 0));

    let (mut cpu, mut bus) = two_spaces(0xDA);
    bus.storage
        .write(AbsoluteAddress::new(0x7_4000), b"second!!")
        .unwrap();
    cpu.step(&mut bus).unwrap();
    bus.storage
        .read(AbsoluteAddress::new(0x7_3100), &mut moved)
        .unwrap();
    assert_eq!(&moved, b"second!!");
}

#[test]
fn mvcs_stores_into_the_secondary_space_with_the_key_in_r3() {
    // The secondary frame has key 3; the PSW key 0 would be allowed to
    // store, R3's key 5 is not.
    let (mut cpu, mut bus) = two_spaces(0xDB);
    bus.storage
        .set_key(AbsoluteAddress::new(0x7_4000), StorageKey::new(0x30))
        .unwrap();
    cpu.gpr[3] = 0x50;
    match cpu.step(&mut bus) {
        Err(Interruption::Program { exception, .. }) => {
            assert_eq!(exception.code, Code::PROTECTION)
        }
        other => panic!("expected protection, got {other:?}"),
    }

    let (mut cpu, mut bus) = two_spaces(0xDB);
    bus.storage
        .set_key(AbsoluteAddress::new(0x7_4000), StorageKey::new(0x30))
        .unwrap();
    cpu.gpr[3] = 0x30;
    cpu.step(&mut bus).unwrap();
}

/// `mvcos 0x100(%r2),0(%r2),%r3` in the [`two_spaces`] machine, in the
/// home-space mode (CR13 the primary tables), with GR0 `oac`.
fn mvcos(oac: u64, len: u64) -> (Cpu, DatBus) {
    let (mut cpu, bus) = two_spaces(0xDB);
    let mut bus = bus;
    bus.storage
        .write(
            AbsoluteAddress::new(0x1000),
            &[0xC8, 0x30, 0x21, 0x00, 0x20, 0x00],
        )
        .unwrap();
    cpu.cr[13] = SEGMENT_TABLE;
    cpu.psw.mask |= mask::ASC;
    cpu.gpr[0] = oac;
    cpu.gpr[3] = len;
    (cpu, bus)
}

#[test]
fn mvcos_moves_from_the_space_each_operand_access_control_names() {
    // OAC1: none (the home space of the PSW); OAC2: secondary (AS 10, A).
    let (mut cpu, mut bus) = mvcos(0x0081, 8);
    bus.storage
        .write(AbsoluteAddress::new(0x7_4000), b"second!!")
        .unwrap();
    cpu.step(&mut bus).unwrap();
    let mut moved = [0u8; 8];
    bus.storage
        .read(AbsoluteAddress::new(0x7_3100), &mut moved)
        .unwrap();
    assert_eq!((&moved, cpu.psw.cc()), (b"second!!", 0));
}

#[test]
fn mvcos_moves_4096_bytes_with_cc_3_and_leaves_the_length() {
    let (mut cpu, mut bus) = mvcos(0x0081, 5000);
    cpu.gpr[2] = 0x5000;
    bus.storage
        .write(AbsoluteAddress::new(0x7_4000), &[7; 0x1000])
        .unwrap();
    // The first operand spans pages 5 and 6: map page 6 of the home space.
    bus.storage
        .write_u64(AbsoluteAddress::new(PAGE_TABLE + 6 * 8), 0x7_5000)
        .unwrap();
    bus.storage
        .write_u64(AbsoluteAddress::new(SECONDARY_PAGE_TABLE + 6 * 8), 0x7_6000)
        .unwrap();
    cpu.step(&mut bus).unwrap();
    assert_eq!((cpu.gpr[3], cpu.psw.cc()), (5000, 3));
    let mut last = [0u8; 2];
    bus.storage
        .read(AbsoluteAddress::new(0x7_5000 + 0xFF), &mut last)
        .unwrap();
    assert_eq!(last, [7, 0], "4096 bytes from 0x5100 end at 0x60FF");
}

#[test]
fn mvcos_is_a_special_operation_with_dat_off_or_without_the_secondary_space_control() {
    let (mut cpu, mut bus) = mvcos(0x0081, 8);
    cpu.psw.mask &= !mask::DAT;
    let code = |r: Result<(), Interruption>| match r {
        Err(Interruption::Program { exception, .. }) => exception.code,
        other => panic!("expected a program interruption, got {other:?}"),
    };
    assert_eq!(code(cpu.step(&mut bus)), Code::SPECIAL_OPERATION);
    let (mut cpu, mut bus) = mvcos(0x0081, 8);
    cpu.cr[0] &= !(1 << 26);
    assert_eq!(code(cpu.step(&mut bus)), Code::SPECIAL_OPERATION);
}
