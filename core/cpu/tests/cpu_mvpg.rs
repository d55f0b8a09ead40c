//! MOVE PAGE: general register 0's options, keys and addressing, without
//! DAT (the DAT rules: `core/machine/tests/cpu_mvpg.rs`).

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::memory::FlatMemory;
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_mmu::exception::Code;

const CODE: u64 = 0x1000;

/// `mvpg %r4,%r6` at CODE in 64-bit supervisor state; a pattern in the
/// page at 0x3000.
fn machine() -> (Cpu, FlatMemory) {
    let mut mem = FlatMemory::new(0, 0x10000);
    mem.load(CODE, &[0xB2, 0x54, 0x00, 0x46]).unwrap();
    let pattern: Vec<u8> = (0..4096u32).map(|i| (i + 42) as u8).collect();
    mem.load(0x3000, &pattern).unwrap();
    let mut cpu = Cpu::new();
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    cpu.gpr[4] = 0x5000;
    cpu.gpr[6] = 0x3000;
    (cpu, mem)
}

fn program_code(r: Result<(), Interruption>) -> Code {
    match r {
        Err(Interruption::Program { exception, .. }) => exception.code,
        other => panic!("expected a program interruption, got {other:?}"),
    }
}

#[test]
fn move_page_copies_4096_bytes_with_cc_0_ignoring_the_low_12_address_bits() {
    let (mut cpu, mut mem) = machine();
    cpu.gpr[4] = 0x5FFF;
    cpu.gpr[6] = 0x3ABC;
    cpu.psw.set_cc(3);
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(0x5000, 4096), mem.slice(0x3000, 4096));
    assert_eq!(cpu.psw.cc(), 0);
}

#[test]
fn move_page_addresses_wrap_to_the_24_bit_addressing_mode() {
    let (mut cpu, mut mem) = machine();
    cpu.psw.mask &= !(mask::EA | mask::BA);
    cpu.gpr[4] = 0xFF00_0000_0000_5000;
    cpu.gpr[6] = 0x7F00_3000;
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(0x5000, 4096), mem.slice(0x3000, 4096));
}

#[test]
fn gr0_bits_48_to_51_or_both_f_and_s_are_a_specification_exception() {
    for gr0 in [0x1000u64, 0x8000, 0x0C00, 3 << 10, 31 << 10] {
        let (mut cpu, mut mem) = machine();
        cpu.gpr[0] = gr0;
        assert_eq!(
            program_code(cpu.step(&mut mem)),
            Code::SPECIFICATION,
            "{gr0:#x}"
        );
        assert_eq!(mem.slice(0x5000, 1), Some(&[0u8][..]));
    }
}

#[test]
fn bits_outside_48_to_59_of_gr0_and_the_reference_bit_54_are_ignored() {
    let (mut cpu, mut mem) = machine();
    cpu.gpr[0] = 0xFFFF_FFFF_FFFF_020F;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.cc(), 0);
}

#[test]
fn a_key_the_psw_key_mask_does_not_authorize_is_a_privileged_operation_in_the_problem_state() {
    for (f_or_s, cr3_mask, ok) in [
        (0x800u64, 0u64, false),
        (0x400, 0, false),
        (0x400, 0x0800, true),
    ] {
        let (mut cpu, mut mem) = machine();
        cpu.psw.mask |= mask::PROBLEM;
        cpu.cr[3] = cr3_mask << 16; // key 4's bit: 0x0800 of bits 32-47
        cpu.gpr[0] = f_or_s | 0x40; // key 4
        let r = cpu.step(&mut mem);
        if ok {
            r.unwrap();
        } else {
            assert_eq!(program_code(r), Code::PRIVILEGED_OPERATION);
        }
    }
}

#[test]
fn an_operand_outside_storage_is_an_addressing_exception() {
    for (r, v) in [(4, 0x10000u64), (6, 0xFFFF_F000)] {
        let (mut cpu, mut mem) = machine();
        cpu.gpr[r] = v;
        assert_eq!(program_code(cpu.step(&mut mem)), Code::ADDRESSING);
    }
}
