//! PERFORM FRAME MANAGEMENT FUNCTION (PoP ch. 10), installed with enhanced
//! DAT 1 (facility 8): the set-key and clear-frame controls on a 4 KiB
//! frame (a real address, prefixed) and a 1 MiB frame (absolute, from
//! the block R2 designates to the frame's end, R2 advanced past it), and
//! its exceptions; and SET STORAGE KEY EXTENDED's multiple-block control,
//! which EDAT-1 installs too.

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

/// `pfmf %r1,%r2`.
const PFMF: [u8; 4] = [0xB9, 0xAF, 0x00, 0x12];
const CODE: u64 = 0x8000;
/// Set key (bit 46), clear frame (bit 47), frame size 1 MiB (bits 49-51).
const SK: u64 = 0x2_0000;
const CF: u64 = 0x1_0000;
const FSC_1M: u64 = 0x1000;

/// 4 MiB of storage filled with 0x2A, PFMF at 0x8000; a 64-bit
/// supervisor-state CPU with DAT off, prefix `prefix`; `edat1`: the
/// machine offers facility 8.
fn machine(edat1: bool, prefix: u64, r1: u64, r2: u64) -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(4 << 20);
    storage
        .write(AbsoluteAddress::new(0), &vec![0x2A; 4 << 20])
        .unwrap();
    storage.write(AbsoluteAddress::new(CODE), &PFMF).unwrap();
    let mut bus = DatBus::new(storage);
    if edat1 {
        bus.facilities = bus.facilities.union(Facilities::EDAT1);
    }
    let mut cpu = Cpu::new();
    cpu.prefix = Prefix::new(prefix);
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    cpu.gpr[1] = r1;
    cpu.gpr[2] = r2;
    (cpu, bus)
}

fn key(bus: &DatBus, at: u64) -> u8 {
    bus.storage.key(AbsoluteAddress::new(at)).unwrap().value()
}

fn byte(bus: &DatBus, at: u64) -> u8 {
    let mut b = [0];
    bus.storage.read(AbsoluteAddress::new(at), &mut b).unwrap();
    b[0]
}

fn program_code(r: Result<(), Interruption>) -> Code {
    match r {
        Err(Interruption::Program { exception, .. }) => exception.code,
        other => panic!("no program interruption: {other:?}"),
    }
}

#[test]
fn without_enhanced_dat_1_pfmf_is_an_operation_exception() {
    let (mut cpu, mut bus) = machine(false, 0, SK | 0x30, 0x3000);
    assert_eq!(program_code(cpu.step(&mut bus)), Code::OPERATION);
}

#[test]
fn pfmf_is_privileged() {
    let (mut cpu, mut bus) = machine(true, 0, SK | 0x30, 0x3000);
    cpu.psw.mask |= mask::PROBLEM;
    assert_eq!(program_code(cpu.step(&mut bus)), Code::PRIVILEGED_OPERATION);
}

#[test]
fn set_key_on_a_4k_frame_sets_the_key_of_the_prefixed_real_block() {
    // Real 0x1000 is absolute 0x11000 under prefix 0x10000; bit 63 of R1
    // is reserved, bits 0-31 are ignored.
    let (mut cpu, mut bus) = machine(true, 0x1_0000, 0xFFFF_0000_0000_0000 | SK | 0x36, 0x1234);
    cpu.step(&mut bus).unwrap();
    assert_eq!(key(&bus, 0x1_1000), 0x36);
    assert_eq!(key(&bus, 0x1000), 0, "not the absolute block");
    assert_eq!(byte(&bus, 0x1_1000), 0x2A, "not cleared");
    assert_eq!(cpu.gpr[2], 0x1234, "R2 unchanged for a 4 KiB frame");
}

#[test]
fn clear_frame_on_a_4k_frame_zeroes_the_block_and_records_a_change() {
    let (mut cpu, mut bus) = machine(true, 0, CF, 0x3ABC);
    cpu.step(&mut bus).unwrap();
    assert!((0x3000..0x4000).all(|a| byte(&bus, a) == 0));
    assert_eq!((byte(&bus, 0x2FFF), byte(&bus, 0x4000)), (0x2A, 0x2A));
    assert_eq!(key(&bus, 0x3000), StorageKey::R | StorageKey::C);
}

#[test]
fn a_1m_frame_is_absolute_done_from_the_block_r2_designates_and_r2_points_past_it() {
    // Absolute, not prefixed: the frame at 0x100000 under prefix 0x100000,
    // from its block 0x105000 (where an interrupted PFMF resumes) to its
    // end.
    let (mut cpu, mut bus) = machine(true, 0x10_0000, SK | CF | FSC_1M | 0x30, 0x10_5678);
    cpu.step(&mut bus).unwrap();
    for block in (0x10_5000..0x20_0000).step_by(0x1000) {
        assert_eq!(key(&bus, block), 0x30, "block {block:#x}");
    }
    assert!((0x10_5000..0x20_0000).all(|a| byte(&bus, a) == 0));
    assert_eq!((byte(&bus, 0x10_4FFF), byte(&bus, 0x20_0000)), (0x2A, 0x2A));
    assert_eq!((key(&bus, 0x10_4000), key(&bus, 0x20_0000)), (0, 0));
    assert_eq!(cpu.gpr[2], 0x20_0000);
}

#[test]
fn outside_the_64_bit_mode_only_bits_32_63_of_r2_advance() {
    let (mut cpu, mut bus) = machine(true, 0, SK | FSC_1M, 0xAAAA_AAAA_0010_0000);
    cpu.psw.mask &= !mask::EA;
    cpu.step(&mut bus).unwrap();
    assert_eq!(cpu.gpr[2], 0xAAAA_AAAA_0020_0000);
}

#[test]
fn reserved_bits_nonquiescing_and_2g_frames_are_specification_exceptions() {
    for r1 in [SK | 0x1, SK | 0x100, SK | 0x4_0000, SK | 0x800, SK | 0x2000] {
        let (mut cpu, mut bus) = machine(true, 0, r1, 0x3000);
        assert_eq!(
            program_code(cpu.step(&mut bus)),
            Code::SPECIFICATION,
            "R1 {r1:#x}"
        );
        assert_eq!(key(&bus, 0x3000), 0, "R1 {r1:#x}: nothing set");
    }
}

#[test]
fn clearing_a_low_address_frame_under_low_address_protection_is_a_protection_exception() {
    for at in [0, 0x1000] {
        let (mut cpu, mut bus) = machine(true, 0x2_0000, CF, at);
        cpu.cr[0] |= 1 << (63 - 35);
        assert_eq!(program_code(cpu.step(&mut bus)), Code::PROTECTION);
        assert_eq!(byte(&bus, 0x2_0000 + at), 0x2A, "nothing cleared");
    }
    // Setting a key only is no store.
    let (mut cpu, mut bus) = machine(true, 0, SK | 0x30, 0x1000);
    cpu.cr[0] |= 1 << (63 - 35);
    cpu.step(&mut bus).unwrap();
    assert_eq!(key(&bus, 0x1000), 0x30);
}

#[test]
fn a_frame_outside_storage_is_an_addressing_exception() {
    let (mut cpu, mut bus) = machine(true, 0, SK | 0x30, 0x40_0000);
    assert_eq!(program_code(cpu.step(&mut bus)), Code::ADDRESSING);
}

/// `sske %r1,%r2,M3` in place of the PFMF.
fn sske(bus: &mut DatBus, m3: u8) {
    let code = [0xB2, 0x2B, m3 << 4, 0x12];
    bus.storage
        .write(AbsoluteAddress::new(CODE), &code)
        .unwrap();
}

#[test]
fn sske_with_the_multiple_block_control_sets_every_block_to_the_end_of_the_1m_frame() {
    // R2 = absolute 0x1F_E123 under prefix 0x10000 (not prefixed): the
    // blocks 0x1F_E000 and 0x1F_F000; R2 then names the next frame, its
    // byte index unchanged.
    let (mut cpu, mut bus) = machine(true, 0x1_0000, 0x36, 0x1F_E123);
    sske(&mut bus, 1);
    cpu.step(&mut bus).unwrap();
    assert_eq!(key(&bus, 0x1F_E000), 0x36);
    assert_eq!(key(&bus, 0x1F_F000), 0x36);
    assert_eq!(key(&bus, 0x1F_D000), 0, "before R2's block");
    assert_eq!(key(&bus, 0x20_0000), 0, "the next frame");
    assert_eq!(cpu.gpr[2], 0x20_0123);
}

#[test]
fn sske_multiple_block_outside_the_64_bit_mode_advances_only_bits_32_51_of_r2() {
    let (mut cpu, mut bus) = machine(true, 0, 0x36, 0xAAAA_AAAA_001F_F000);
    cpu.psw.mask &= !mask::EA;
    sske(&mut bus, 1);
    cpu.step(&mut bus).unwrap();
    assert_eq!(key(&bus, 0x1F_F000), 0x36);
    assert_eq!(cpu.gpr[2], 0xAAAA_AAAA_0020_0000);
}

#[test]
fn sske_without_the_multiple_block_control_or_without_enhanced_dat_1_sets_one_prefixed_block() {
    // Real 0x1000 is absolute 0x11000 under prefix 0x10000.
    for (edat1, m3) in [(true, 0), (false, 1)] {
        let (mut cpu, mut bus) = machine(edat1, 0x1_0000, 0x36, 0x1000);
        sske(&mut bus, m3);
        cpu.step(&mut bus).unwrap();
        assert_eq!(key(&bus, 0x1_1000), 0x36, "edat1 {edat1}, m3 {m3}");
        assert_eq!(key(&bus, 0x1_2000), 0, "edat1 {edat1}, m3 {m3}");
        assert_eq!(cpu.gpr[2], 0x1000, "R2 unchanged");
    }
}
