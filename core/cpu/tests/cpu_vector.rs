//! The vector facility's rules, one architected rule per test.

mod cpu_common;

use zmmu_cpu::interrupt::{lowcore, Interruption};
use zmmu_cpu::memory::FlatMemory;
use zmmu_cpu::state::{mask, Cpu, Psw, CR0_VECTOR};
use zmmu_mmu::exception::Code;

const CODE: u64 = 0x1000;
const DATA: u64 = 0x2000;

/// A six-byte E7 instruction from the nibbles at bits 8, 12, 16, 20, 24,
/// 28 and 32; the fields at bits 8, 12, 16 and 32 may be vector registers
/// 0-31, whose fifth bit goes to the RXB field.
fn e7(op: u8, n: [u8; 7]) -> [u8; 6] {
    let rxb = (n[0] >> 4 & 1) << 3 | (n[1] >> 4 & 1) << 2 | (n[2] >> 4 & 1) << 1 | (n[6] >> 4 & 1);
    [
        0xE7,
        (n[0] & 15) << 4 | (n[1] & 15),
        (n[2] & 15) << 4 | (n[3] & 15),
        (n[4] & 15) << 4 | (n[5] & 15),
        (n[6] & 15) << 4 | rxb,
        op,
    ]
}

/// VRR-c: V1, V2, V3, M4 (and M5, M6).
fn vrr(op: u8, v1: u8, v2: u8, v3: u8, m4: u8, m5: u8) -> [u8; 6] {
    e7(op, [v1, v2, v3, 0, 0, m5, m4])
}

/// A CPU in 64-bit supervisor state with the vector-enablement control on,
/// at CODE, and 64 KiB of memory holding `code` there.
fn machine(code: &[u8]) -> (Cpu, FlatMemory) {
    let mut mem = FlatMemory::new(0, 0x10000);
    mem.load(CODE, code).unwrap();
    let mut cpu = Cpu::new();
    cpu.cr[0] |= CR0_VECTOR;
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    (cpu, mem)
}

fn program_exception(r: Result<(), Interruption>) -> (u16, u8) {
    match r {
        Err(Interruption::Program { exception, ilc }) => (exception.code.0, ilc),
        other => panic!("expected a program interruption, got {other:?}"),
    }
}

/// Run `code` (one instruction) with V2 = `a`, V3 = `b`, V4 = `c`; returns
/// V1 and the cc.
fn run3(code: [u8; 6], a: u128, b: u128, c: u128) -> (u128, u8) {
    let (mut cpu, mut mem) = machine(&code);
    cpu.set_v128(2, a);
    cpu.set_v128(3, b);
    cpu.set_v128(4, c);
    cpu.step(&mut mem).unwrap();
    (cpu.v128(1), cpu.psw.cc())
}

fn bytes(s: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    b[..s.len()].copy_from_slice(s);
    u128::from_be_bytes(b)
}

#[test]
fn vector_instructions_without_the_vector_enablement_control_are_a_data_exception_with_dxc_fe() {
    // vl %v1,0(%r2)
    let vl = e7(0x06, [1, 0, 2, 0, 0, 0, 0]);
    let (mut cpu, mut mem) = machine(&vl);
    cpu.cr[0] &= !CR0_VECTOR;
    cpu.gpr[2] = DATA;
    let intr = cpu.step(&mut mem).unwrap_err();
    assert_eq!(program_exception(Err(intr)), (0x0007, 3));
    assert_eq!(cpu.psw.addr, CODE + 6, "suppressed");
    assert_eq!(cpu.v128(1), 0, "nothing loaded");
    cpu.deliver(&mut mem, intr).unwrap();
    assert_eq!(mem.slice(lowcore::DXC, 1).unwrap(), &[0xFE]);

    let (mut cpu, mut mem) = machine(&vl);
    mem.load(DATA, &[0x5A; 16]).unwrap();
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(1), u128::from_be_bytes([0x5A; 16]));
}

#[test]
fn load_count_to_block_boundary_needs_no_vector_enablement() {
    // lcbb %r1,0(%r2),0 (64-byte blocks): 10 bytes to the boundary -> cc 3
    let (mut cpu, mut mem) = machine(&[0xE7, 0x10, 0x20, 0x00, 0x00, 0x27]);
    cpu.cr[0] &= !CR0_VECTOR;
    cpu.gpr[1] = 0xAAAA_AAAA_0000_0000;
    cpu.gpr[2] = DATA + 54;
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.gpr[1], cpu.psw.cc()), (0xAAAA_AAAA_0000_000A, 3));
    // 16 or more bytes to the boundary: 16, cc 0
    let (mut cpu, mut mem) = machine(&[0xE7, 0x10, 0x20, 0x00, 0x00, 0x27]);
    cpu.gpr[2] = DATA + 8;
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.gpr[1], cpu.psw.cc()), (16, 0));
}

#[test]
fn floating_point_registers_are_the_leftmost_doublewords_of_vector_registers_0_to_15() {
    // ldgr %f5,%r1 ; vlgvg %r3,%v5,1 ; vlgvg %r2,%v5,0
    let mut code = vec![0xB3, 0xC1, 0x00, 0x51];
    code.extend(e7(0x21, [3, 5, 0, 0, 0, 1, 3]));
    code.extend(e7(0x21, [2, 5, 0, 0, 0, 0, 3]));
    let (mut cpu, mut mem) = machine(&code);
    cpu.cr[0] |= 1 << (63 - 45);
    cpu.set_v128(5, u128::MAX);
    cpu.gpr[1] = 0x0123_4567_89AB_CDEF;
    for _ in 0..3 {
        cpu.step(&mut mem).unwrap();
    }
    assert_eq!(cpu.gpr[2], 0x0123_4567_89AB_CDEF, "FPR 5 is VR 5 bits 0-63");
    assert_eq!(cpu.gpr[3], u64::MAX, "bits 64-127 unchanged");
    assert_eq!(cpu.fpr(5), cpu.vr[5][0]);
}

#[test]
fn rxb_bits_extend_every_register_field_to_vector_registers_16_to_31() {
    // vperm %v17,%v18,%v19,%v20: each operand field names a register >= 16
    let code = e7(0x8C, [17, 18, 19, 0, 0, 0, 20]);
    assert_eq!(code[4] & 0xF, 0xF, "RXB");
    let (mut cpu, mut mem) = machine(&code);
    cpu.set_v128(18, bytes(b"ABCDEFGHIJKLMNOP"));
    cpu.set_v128(19, bytes(b"abcdefghijklmnop"));
    cpu.set_v128(
        20,
        bytes(&[0, 16, 1, 17, 15, 31, 32, 48, 0, 0, 0, 0, 0, 0, 0, 0]),
    );
    cpu.set_v128(1, 7);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(1), 7, "V1 without RXB untouched");
    // Only bits 3-7 of each control byte count: 32 and 48 select 0 and 16.
    assert_eq!(cpu.v128(17), bytes(b"AaBbPpAaAAAAAAAA"));
}

#[test]
fn vll_and_vstl_move_bytes_up_to_the_index_in_r3_at_most_16() {
    // vll %v1,%r3,0(%r2)
    let vll = e7(0x37, [1, 3, 2, 0, 0, 0, 0]);
    let (mut cpu, mut mem) = machine(&vll);
    mem.load(DATA, b"0123456789abcdefXYZ").unwrap();
    cpu.set_v128(1, u128::MAX);
    cpu.gpr[2] = DATA;
    cpu.gpr[3] = 0xFFFF_FFFF_0000_0003; // bits 32-63: highest index 3
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(1), bytes(b"0123"), "4 bytes, the rest zero");

    let (mut cpu, mut mem) = machine(&vll);
    mem.load(DATA, b"0123456789abcdefXYZ").unwrap();
    cpu.gpr[2] = DATA;
    cpu.gpr[3] = 0x100;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(1), bytes(b"0123456789abcdef"));

    // vstl %v1,%r3,0(%r2): the bytes after the length are not stored
    let (mut cpu, mut mem) = machine(&e7(0x3F, [1, 3, 2, 0, 0, 0, 0]));
    cpu.set_v128(1, bytes(b"ABCDEFGHIJKLMNOP"));
    cpu.gpr[2] = DATA;
    cpu.gpr[3] = 1;
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(DATA, 3).unwrap(), b"AB\0");
}

#[test]
fn element_index_beyond_the_element_count_is_a_specification_exception() {
    // vleh %v1,0(%r2),8: halfword elements are 0-7
    let (mut cpu, mut mem) = machine(&e7(0x01, [1, 0, 2, 0, 0, 0, 8]));
    cpu.gpr[2] = DATA;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    // vrep %v1,%v3,16,0: byte elements are 0-15
    let (mut cpu, mut mem) = machine(&e7(0x4D, [1, 3, 0, 0, 1, 0, 0]));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    // va %v1,%v2,%v3,5: no element size 5
    let (mut cpu, mut mem) = machine(&vrr(0xF3, 1, 2, 3, 5, 0));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
}

#[test]
fn vlgv_and_vlvg_take_the_element_index_modulo_the_element_count() {
    // vlgvf %r1,%v3,5(%r0): word elements 0-3, 5 selects element 1
    let (mut cpu, mut mem) = machine(&e7(0x21, [1, 3, 0, 0, 0, 5, 2]));
    cpu.set_v128(3, 0x0000_0000_1111_1111_2222_2222_3333_3333);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.gpr[1], 0x1111_1111);
    // vlvgh %v1,%r3,9(%r2) with r2 = 0x10: index 0x19 modulo 8 = 1
    let (mut cpu, mut mem) = machine(&e7(0x22, [1, 3, 2, 0, 0, 9, 1]));
    cpu.gpr[2] = 0x10;
    cpu.gpr[3] = 0xABCD;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(1), 0xABCD << 96);
}

#[test]
fn vlm_of_more_than_16_registers_or_v3_below_v1_is_a_specification_exception() {
    // vlm %v0,%v16,0(%r2)
    let (mut cpu, mut mem) = machine(&e7(0x36, [0, 16, 2, 0, 0, 0, 0]));
    cpu.gpr[2] = DATA;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    // vlm %v5,%v4,0(%r2)
    let (mut cpu, mut mem) = machine(&e7(0x36, [5, 4, 2, 0, 0, 0, 0]));
    cpu.gpr[2] = DATA;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    // vlm %v16,%v31,0(%r2): all 16 high registers, in order
    let (mut cpu, mut mem) = machine(&e7(0x36, [16, 31, 2, 0, 0, 0, 0]));
    let data: Vec<u8> = (0..=255).collect();
    mem.load(DATA, &data).unwrap();
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(16), bytes(&data[..16]));
    assert_eq!(cpu.v128(31), bytes(&data[240..]));
}

#[test]
fn quadword_add_carries_across_the_whole_register() {
    // va %v1,%v2,%v3,4 (as kvm-unit-tests' vector test adds 21 + 21)
    let (r, _) = run3(vrr(0xF3, 1, 2, 3, 4, 0), 21, 21, 0);
    assert_eq!(r, 42);
    let (r, _) = run3(vrr(0xF3, 1, 2, 3, 4, 0), u64::MAX as u128, 1, 0);
    assert_eq!(r, 1 << 64);
    // vaccf: the carry out of each word
    let (r, _) = run3(
        vrr(0xF1, 1, 2, 3, 2, 0),
        0xFFFF_FFFF << 96 | 1,
        1 << 96 | 1,
        0,
    );
    assert_eq!(r, 1 << 96);
}

#[test]
fn compares_set_the_cc_only_with_the_cs_flag() {
    // vceqf %v1,%v2,%v3 with and without CS (VRR-b: M5 at bits 24-27)
    let vceqf = |m5: u8| e7(0xF8, [1, 2, 3, 0, m5, 0, 2]);
    let a = 0x0000_0001_0000_0002_0000_0003_0000_0004;
    let b = 0x0000_0001_0000_0000_0000_0003_0000_0000;
    let (r, cc) = run3(vceqf(CS), a, b, 0);
    assert_eq!(r, 0xFFFF_FFFF_0000_0000_FFFF_FFFF_0000_0000);
    assert_eq!(cc, 1, "mixed");
    let (_, cc) = run3(vceqf(CS), a, a, 0);
    assert_eq!(cc, 0, "all equal");
    let (_, cc) = run3(vceqf(CS), a, !a, 0);
    assert_eq!(cc, 3, "none equal");
    let (_, cc) = run3(vceqf(0), a, a, 0);
    assert_eq!(cc, 0, "unchanged (initial cc 0)");
}

/// VFAE/VFEE/VFENE flags in M5.
const ZS: u8 = 2;
const CS: u8 = 1;
const RT: u8 = 4;

#[test]
fn find_element_equal_reports_the_byte_index_of_the_first_match_or_zero() {
    // vfeeb %v1,%v2,%v3 (VRR-b: M5 in bits 24-27)
    let vfee = |m5: u8| e7(0x80, [1, 2, 3, 0, m5, 0, 0]);
    let a = bytes(b"hello, world\0xyz");
    let b = bytes(b"QQQQQQQQQQQQQQQQ");
    // No match and no zero search: index 16, cc 3.
    let (r, cc) = run3(vfee(CS), a, b, 0);
    assert_eq!((r, cc), (16 << 64, 3));
    // Zero search finds the terminator at 12: cc 0.
    let (r, cc) = run3(vfee(ZS | CS), a, b, 0);
    assert_eq!((r, cc), (12 << 64, 0));
    // A match at 4 ('o') before the zero: index 4, cc 2.
    let (r, cc) = run3(vfee(ZS | CS), a, bytes(b"QQQQoQQQQQQQQQQQ"), 0);
    assert_eq!((r, cc), (4 << 64, 2));
    // A match without zero search: cc 1.
    let (r, cc) = run3(vfee(CS), a, bytes(b"QQQQoQQQQQQQQQQQ"), 0);
    assert_eq!((r, cc), (4 << 64, 1));
}

#[test]
fn find_element_not_equal_reports_which_operand_is_low() {
    let vfene = |m5: u8| e7(0x81, [1, 2, 3, 0, m5, 0, 0]);
    let (r, cc) = run3(vfene(CS), bytes(b"abcd"), bytes(b"abzd"), 0);
    assert_eq!((r, cc), (2 << 64, 1), "'c' < 'z'");
    let (r, cc) = run3(vfene(CS), bytes(b"abzd"), bytes(b"abcd"), 0);
    assert_eq!((r, cc), (2 << 64, 2));
    let (r, cc) = run3(vfene(CS), bytes(b"abcd"), bytes(b"abcd"), 0);
    assert_eq!((r, cc), (16 << 64, 3), "all equal");
    // Equal strings up to their terminator: the zero at 4 comes first.
    let (r, cc) = run3(vfene(ZS | CS), bytes(b"abcd\0x"), bytes(b"abcd\0y"), 0);
    assert_eq!((r, cc), (4 << 64, 0));
}

#[test]
fn find_any_element_equal_with_mask_result_and_invert() {
    // vfaeb %v1,%v2,%v3 with RT: a mask of the bytes that are in the set
    let vfae = |m5: u8| e7(0x82, [1, 2, 3, 0, m5, 0, 0]);
    let a = bytes(b"a,b;c");
    let set = bytes(b",;,;,;,;,;,;,;,;");
    let (r, cc) = run3(vfae(RT | CS), a, set, 0);
    assert_eq!(r, bytes(&[0, 0xFF, 0, 0xFF]));
    assert_eq!(cc, 1);
    // Inverted (IN = 8): the first byte not in the set is at 0.
    let (r, _) = run3(vfae(8 | CS), a, set, 0);
    assert_eq!(r, 0);
    // Index result with zero search: ',' at 1 comes before the zero at 5.
    let (r, cc) = run3(vfae(ZS | CS), a, set, 0);
    assert_eq!((r, cc), (1 << 64, 2));
}

#[test]
fn string_range_compare_matches_elements_inside_any_range() {
    // vstrcb %v1,%v2,%v3,%v4 (VRR-d: M5 at bits 20-27 is the element size,
    // M6 at bits 24-27 the flags): ranges 'a' <= x <= 'z'
    let vstrc = |m6: u8| e7(0x8A, [1, 2, 3, 0, m6, 0, 4]);
    let range = bytes(b"az");
    // Controls: element 0 "equal or high" (bits 0 and 2), element 1 "equal
    // or low" (bits 0 and 1); all other pairs never match (zero controls).
    let ctl = bytes(&[0xA0, 0xC0]);
    let a = bytes(b"ABcD\0e");
    let (r, cc) = run3(vstrc(CS), a, range, ctl);
    assert_eq!((r, cc), (2 << 64, 1), "'c' at 2");
    let (r, cc) = run3(vstrc(ZS | CS), bytes(b"AB\0cD"), range, ctl);
    assert_eq!((r, cc), (2 << 64, 0), "the zero at 2 comes first");
    let (r, cc) = run3(vstrc(RT | CS), a, range, ctl);
    assert_eq!((r, cc), (bytes(&[0, 0, 0xFF, 0, 0, 0xFF]), 1));
    let (r, cc) = run3(vstrc(CS), bytes(b"ABC"), range, ctl);
    assert_eq!((r, cc), (16 << 64, 3));
}

#[test]
fn vistr_clears_everything_from_the_first_zero_element() {
    // vistrb %v1,%v2 with CS (VRR-a: M5 at bits 24-27)
    let code = e7(0x5C, [1, 2, 0, 0, CS, 0, 0]);
    let (r, cc) = run3(code, bytes(b"abc\0def"), 0, 0);
    assert_eq!((r, cc), (bytes(b"abc"), 0));
    let (r, cc) = run3(code, bytes(b"0123456789abcdef"), 0, 0);
    assert_eq!((r, cc), (bytes(b"0123456789abcdef"), 3));
}

#[test]
fn pack_saturate_sets_the_cc_from_how_many_elements_saturated() {
    // vpksh %v1,%v2,%v3 with CS: halfwords to bytes
    let code = e7(0x97, [1, 2, 3, 0, CS, 0, 1]);
    let (r, cc) = run3(code, 0x0001_0080_FF7F_FF00 << 64, 0, 0);
    assert_eq!(r, 0x01_7F_80_80_00_00_00_00 << 64);
    assert_eq!(cc, 1);
    let (_, cc) = run3(code, 0, 0, 0);
    assert_eq!(cc, 0);
}

#[test]
fn vector_shift_left_double_by_byte_concatenates_the_operands() {
    // vsldb %v1,%v2,%v3,3
    let (r, _) = run3(
        e7(0x77, [1, 2, 3, 0, 0, 3, 0]),
        bytes(b"ABCDEFGHIJKLMNOP"),
        bytes(b"abcdefghijklmnop"),
        0,
    );
    assert_eq!(r, bytes(b"DEFGHIJKLMNOPabc"));
}

#[test]
fn generate_mask_wraps_around_when_the_start_bit_follows_the_end_bit() {
    // vgmb %v1,6,1: bits 6, 7, 0 and 1 of each byte
    let (r, _) = run3(e7(0x46, [1, 0, 0, 6, 0, 1, 0]), 0, 0, 0);
    assert_eq!(r, u128::from_be_bytes([0xC3; 16]));
}

#[test]
fn multiply_even_gives_double_width_products() {
    // vmef %v1,%v2,%v3: words 0 and 2, signed
    let a = (-3i32 as u32 as u128) << 96 | 5 << 32;
    let b = 7u128 << 96 | 9 << 32;
    let (r, _) = run3(vrr(0xA6, 1, 2, 3, 2, 0), a, b, 0);
    assert_eq!(r, ((-21i64 as u64 as u128) << 64) | 45);
}

#[test]
fn sum_across_words_adds_the_rightmost_element_of_the_third_operand() {
    // vsumb %v1,%v2,%v3: each word = its four bytes + byte 3 of V3's word
    let (r, _) = run3(
        vrr(0x64, 1, 2, 3, 0, 0),
        u128::from_be_bytes([0xFF; 16]),
        1,
        0,
    );
    assert_eq!(
        r,
        (4 * 255) << 96 | (4 * 255) << 64 | (4 * 255) << 32 | (4 * 255 + 1)
    );
}

#[test]
fn checksum_adds_the_words_with_end_around_carry_into_word_1() {
    // vcksm %v1,%v2,%v3: word 1 of V3 plus the four words of V2, each carry
    // out of bit 0 added back in; the other words of V1 zero
    let a = 0xFFFF_FFFF_0000_0001_8000_0000_8000_0000;
    let (r, _) = run3(vrr(0x66, 1, 2, 3, 0, 0), a, 5 << 64 | 99, 0);
    // 5 + 0xFFFFFFFF = 4 + carry -> 5; + 1 -> 6; + 0x80000000 -> 0x80000006;
    // + 0x80000000 = 6 + carry -> 7.
    assert_eq!(r, 7 << 64);
}

#[test]
fn vector_shift_left_shifts_each_byte_by_its_own_amount_with_bits_of_the_next() {
    // vsl %v1,%v2,%v3: byte i by bits 5-7 of byte i of V3 (0x0A -> 2)
    let a = bytes(&[0x81, 0xC0, 0x01]);
    let amounts = bytes(&[0x0A, 0x01, 0xF8]);
    let (r, _) = run3(vrr(0x74, 1, 2, 3, 0, 0), a, amounts, 0);
    assert_eq!(r, bytes(&[0x07, 0x80, 0x01]));
    // vsra %v1,%v2,%v3: the sign comes into byte 0
    let (r, _) = run3(
        vrr(0x7E, 1, 2, 3, 0, 0),
        bytes(&[0x80, 0x01]),
        bytes(&[0x01, 0x01]),
        0,
    );
    assert_eq!(r, bytes(&[0xC0, 0x00]));
}

#[test]
fn the_kvm_unit_tests_vector_sequence_adds_21_and_21() {
    // vlm %v0,%v15 and %v16,%v31 from a page of 0xFF; vl %v0 and %v1 of the
    // quadword 21; va %v2,%v0,%v1,4; vst %v2
    let mut code = Vec::new();
    code.extend(e7(0x36, [0, 15, 2, 0, 0, 0, 0]));
    code.extend(e7(0x36, [16, 31, 2, 1, 0, 0, 0]));
    code.extend(e7(0x06, [0, 0, 3, 0, 0, 0, 0]));
    code.extend(e7(0x06, [1, 0, 3, 0, 1, 0, 0]));
    code.extend(vrr(0xF3, 2, 0, 1, 4, 0));
    code.extend(e7(0x0E, [2, 0, 3, 0, 2, 0, 0]));
    let (mut cpu, mut mem) = machine(&code);
    mem.load(0x4000, &[0xFF; 512]).unwrap();
    mem.load(0x3000, &21u128.to_be_bytes()).unwrap();
    mem.load(0x3010, &21u128.to_be_bytes()).unwrap();
    cpu.gpr[2] = 0x4000;
    cpu.gpr[3] = 0x3000;
    for _ in 0..6 {
        cpu.step(&mut mem).unwrap();
    }
    assert_eq!(cpu.v128(31), u128::MAX);
    assert_eq!(mem.slice(0x3020, 16).unwrap(), &42u128.to_be_bytes());
}

#[test]
fn arbitrary_vector_instructions_on_arbitrary_registers_never_panic() {
    use zmmu_cpu::opcode::TABLE;
    let vector: Vec<u16> = TABLE
        .iter()
        .filter(|r| r.op.is_vector())
        .map(|r| r.key)
        .collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..200_000 {
        let key = vector[(next() % vector.len() as u64) as usize];
        let mut code: [u8; 6] = next().to_be_bytes()[..6].try_into().unwrap();
        code[0] = (key >> 8) as u8;
        code[5] = key as u8;
        let (mut cpu, mut mem) = machine(&code);
        for v in 0..32 {
            cpu.set_v128(v, u128::from(next()) << 64 | u128::from(next()));
        }
        for g in cpu.gpr.iter_mut() {
            *g = if next() % 2 == 0 {
                next() % 0xF000
            } else {
                next()
            };
        }
        let _ = cpu.step(&mut mem);
    }
}

#[test]
fn every_vector_table_instruction_is_interpreted() {
    use zmmu_cpu::opcode::TABLE;
    let mut unimplemented = Vec::new();
    for row in TABLE.iter().filter(|r| r.op.is_vector()) {
        let code = cpu_common::encode_key(row.key, &[0; 6]);
        let (mut cpu, mut mem) = machine(&code);
        if let Err(Interruption::Program { exception, .. }) = cpu.step(&mut mem) {
            if exception.code == Code::OPERATION {
                unimplemented.push(row.op.mnemonic());
            }
        }
    }
    assert!(unimplemented.is_empty(), "{unimplemented:?}");
}

/// A VRX instruction with first byte E6 (the vector-enhancements facility
/// 2): V1, 0(B2), M3.
fn e6(op: u8, v1: u8, b2: u8, m3: u8) -> [u8; 6] {
    let mut code = e7(op, [v1, 0, b2, 0, 0, 0, m3]);
    code[0] = 0xE6;
    code
}

/// Run one storage instruction with %r2 = DATA holding `data`; V1 is `v1`
/// before. Returns V1, the 16 bytes at DATA and the interruption, if any.
fn run_storage(code: [u8; 6], v1: u128, data: [u8; 16]) -> (u128, [u8; 16], Option<(u16, u8)>) {
    let (mut cpu, mut mem) = machine(&code);
    mem.load(DATA, &data).unwrap();
    cpu.gpr[2] = DATA;
    cpu.set_v128(1, v1);
    let r = cpu.step(&mut mem);
    let intr = r.is_err().then(|| program_exception(r));
    let out = mem.slice(DATA, 16).unwrap().try_into().unwrap();
    (cpu.v128(1), out, intr)
}

const SPEC: Option<(u16, u8)> = Some((0x0006, 3));
const ASCENDING: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

#[test]
fn vlbr_reverses_the_bytes_of_each_element_and_vler_the_order_of_the_elements() {
    let (v, _, _) = run_storage(e6(0x06, 1, 2, 2), 0, ASCENDING); // vlbrf
    assert_eq!(v, 0x03020100_07060504_0B0A0908_0F0E0D0C);
    let (v, _, _) = run_storage(e6(0x06, 1, 2, 4), 0, ASCENDING); // vlbrq
    assert_eq!(v, u128::from_le_bytes(ASCENDING));
    let (v, _, _) = run_storage(e6(0x07, 1, 2, 3), 0, ASCENDING); // vlerg
    assert_eq!(v, 0x08090A0B0C0D0E0F_0001020304050607);
    // The stores are the same reorderings.
    let (_, m, _) = run_storage(e6(0x0E, 1, 2, 1), u128::from_be_bytes(ASCENDING), [0; 16]);
    assert_eq!(m, [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14]); // vstbrh
    let (_, m, _) = run_storage(e6(0x0F, 1, 2, 2), u128::from_be_bytes(ASCENDING), [0; 16]);
    assert_eq!(m, [12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3]); // vsterf
}

#[test]
fn reversed_loads_and_stores_with_an_invalid_element_size_are_specification_exceptions() {
    for (code, what) in [
        (e6(0x06, 1, 2, 0), "vlbr M3 0"),
        (e6(0x06, 1, 2, 5), "vlbr M3 5"),
        (e6(0x07, 1, 2, 4), "vler M3 4"),
        (e6(0x0E, 1, 2, 0), "vstbr M3 0"),
        (e6(0x0F, 1, 2, 4), "vster M3 4"),
        (e6(0x04, 1, 2, 0), "vllebrz M3 0"),
        (e6(0x04, 1, 2, 4), "vllebrz M3 4"),
        (e6(0x05, 1, 2, 0), "vlbrrep M3 0"),
        (e6(0x01, 1, 2, 8), "vlebrh index 8"),
        (e6(0x03, 1, 2, 4), "vlebrf index 4"),
        (e6(0x0A, 1, 2, 2), "vstebrg index 2"),
        (e7(0x04, [1, 0, 2, 0, 0, 0, 5]), "vllez M3 5"),
    ] {
        let (v, m, intr) = run_storage(code, 7, [0xAA; 16]);
        assert_eq!(intr, SPEC, "{what}");
        assert_eq!((v, m), (7, [0xAA; 16]), "{what}: suppressed");
    }
}

#[test]
fn byte_reversed_element_loads_zero_replicate_and_store_one_element() {
    let (v, _, _) = run_storage(e6(0x01, 1, 2, 7), u128::MAX, ASCENDING); // vlebrh 7
    assert_eq!(v, u128::MAX << 16 | 0x0100);
    let (v, _, _) = run_storage(e6(0x04, 1, 2, 3), u128::MAX, ASCENDING); // vllebrzg
    assert_eq!(v, 0x0706050403020100 << 64);
    let (v, _, _) = run_storage(e6(0x04, 1, 2, 6), u128::MAX, ASCENDING); // vllebrze
    assert_eq!(v, 0x03020100 << 96);
    let (v, _, _) = run_storage(e7(0x04, [1, 0, 2, 0, 0, 0, 6]), u128::MAX, ASCENDING); // vllezlf
    assert_eq!(v, 0x00010203 << 96);
    let (v, _, _) = run_storage(e6(0x05, 1, 2, 2), 0, ASCENDING); // vlbrrepf
    assert_eq!(v, 0x03020100_03020100_03020100_03020100);
    let (_, m, _) = run_storage(e6(0x0B, 1, 2, 1), 0x11223344_55667788 << 64, [0; 16]); // vstebrf 1
    assert_eq!(m[..5], [0x88, 0x77, 0x66, 0x55, 0]);
}

#[test]
fn vsld_and_vsrd_shift_the_concatenation_by_bits_and_reject_i4_above_7() {
    // vsld %v1,%v2,%v3,4 ; vsrd %v1,%v2,%v3,4
    let (a, b) = (
        0x0123_4567_89AB_CDEF_0011_2233_4455_6677,
        0x8899_AABB_CCDD_EEFF_0000_0000_0000_0000,
    );
    assert_eq!(
        run3(e7(0x86, [1, 2, 3, 0, 0, 4, 0]), a, b, 0).0,
        a << 4 | b >> 124
    );
    assert_eq!(
        run3(e7(0x87, [1, 2, 3, 0, 0, 4, 0]), a, b, 0).0,
        b >> 4 | a << 124
    );
    assert_eq!(
        run3(e7(0x87, [1, 2, 3, 0, 0, 0, 0]), a, b, 0).0,
        b,
        "vsrd by 0 is V3"
    );
    let (mut cpu, mut mem) = machine(&e7(0x86, [1, 2, 3, 0, 0, 8, 0]));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
}

/// vstrs %v1,%v2,%v3,%v4,M5,M6.
fn vstrs(m5: u8, m6: u8) -> [u8; 6] {
    e7(0x8B, [1, 2, 3, m5, m6, 0, 4])
}

#[test]
fn vstrs_finds_the_leftmost_full_or_partial_match_of_the_substring() {
    let len = |n: u128| n << 64; // byte 7 of V4
    let s = bytes(b"xxabcabcaxxxxxab");
    // Full match of "abc" at byte 2: cc 2.
    assert_eq!(run3(vstrs(0, 0), s, bytes(b"abc"), len(3)), (2 << 64, 2));
    // "abx" only as a prefix running off the right end: partial, cc 3.
    assert_eq!(run3(vstrs(0, 0), s, bytes(b"abx"), len(3)), (14 << 64, 3));
    // No match: index 16, cc 0.
    assert_eq!(run3(vstrs(0, 0), s, bytes(b"q"), len(1)), (16 << 64, 0));
    // An empty substring matches at 0: cc 2.
    assert_eq!(run3(vstrs(0, 0), s, bytes(b"q"), len(0)), (0, 2));
}

#[test]
fn vstrs_with_zero_search_ends_both_strings_at_their_first_zero() {
    let len = |n: u128| n << 64;
    let s = bytes(b"xxab\0xabc");
    // "abc" follows the string's end: no match with a zero, cc 1.
    assert_eq!(run3(vstrs(0, 2), s, bytes(b"abc"), len(3)), (16 << 64, 1));
    // The substring ends at its zero: "ab" matches at 2, fully.
    assert_eq!(run3(vstrs(0, 2), s, bytes(b"ab\0z"), len(4)), (2 << 64, 2));
    // Halfword elements: byte index of the element.
    let h = bytes(&[0, 1, 0, 2, 0, 3, 0, 4]);
    assert_eq!(
        run3(vstrs(1, 0), h, bytes(&[0, 3, 0, 4]), len(4)),
        (4 << 64, 2)
    );
}

#[test]
fn vstrs_with_an_invalid_element_size_or_flag_is_a_specification_exception() {
    for code in [vstrs(3, 0), vstrs(0, 1), vstrs(0, 8)] {
        let (mut cpu, mut mem) = machine(&code);
        assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    }
}

#[test]
fn vector_enhancements_1_logic_bit_permute_and_multiply_sum() {
    let (a, b) = (0xF0F0u128 << 100 | 0x1234, 0xFF00u128 << 100 | 0xFFFF);
    assert_eq!(run3(vrr(0x6C, 1, 2, 3, 0, 0), a, b, 0).0, !(a ^ b)); // vnx
    assert_eq!(run3(vrr(0x6E, 1, 2, 3, 0, 0), a, b, 0).0, !(a & b)); // vnn
    assert_eq!(run3(vrr(0x6F, 1, 2, 3, 0, 0), a, b, 0).0, a | !b); // voc
                                                                   // vbperm: bits 0, 127 and 1 of V2, then indexes 128 and above (zero).
    let idx = bytes(&[
        0, 127, 1, 128, 255, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 200,
    ]);
    let r = run3(vrr(0x85, 1, 2, 3, 0, 0), 1 << 127 | 1, idx, 0).0;
    assert_eq!(r, 0b1100 << 76);
    // vmsl %v1,%v2,%v3,%v4,3,M6: 3*5 + 7*11 (even product doubled with M6 8) + V4.
    let vmsl = |m6: u8| e7(0xB8, [1, 2, 3, 3, m6, 0, 4]);
    let (x, y) = (3u128 << 64 | 7, 5u128 << 64 | 11);
    assert_eq!(run3(vmsl(0), x, y, 1).0, 15 + 77 + 1);
    assert_eq!(run3(vmsl(8), x, y, 1).0, 30 + 77 + 1);
    assert_eq!(run3(vmsl(4), x, y, 1).0, 15 + 154 + 1);
    let (mut cpu, mut mem) = machine(&e7(0xB8, [1, 2, 3, 2, 0, 0, 4]));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3), "M5 2");
}

#[test]
fn vector_enhancements_2_loads_need_the_vector_enablement_control() {
    let (mut cpu, mut mem) = machine(&e6(0x06, 1, 2, 2));
    cpu.cr[0] &= !CR0_VECTOR;
    cpu.gpr[2] = DATA;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0007, 3));
}

/// Long BFP elements of a vector register.
fn longs(a: f64, b: f64) -> u128 {
    u128::from(a.to_bits()) << 64 | u128::from(b.to_bits())
}

/// vfa %v1,%v2,%v3,M4,M5 (VRR-c).
fn vfa(m4: u8, m5: u8) -> [u8; 6] {
    e7(0xE3, [1, 2, 3, 0, 0, m5, m4])
}

#[test]
fn vector_fp_add_adds_each_long_element_and_the_w_form_only_element_0() {
    let (r, _) = run3(vfa(3, 0), longs(1.5, -2.0), longs(2.25, 0.5), 0);
    assert_eq!(r, longs(3.75, -1.5));
    // wfadb: element 0; the other elements of V1 are zero (as QEMU).
    let (mut cpu, mut mem) = machine(&vfa(3, 8));
    cpu.set_v128(1, u128::MAX);
    cpu.set_v128(2, longs(1.5, -2.0));
    cpu.set_v128(3, longs(2.25, 0.5));
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(1), longs(3.75, 0.0));
    // Short elements (M4 2): four of them.
    let shorts = |x: [f32; 4]| {
        x.iter()
            .fold(0u128, |v, f| v << 32 | u128::from(f.to_bits()))
    };
    let (r, _) = run3(vfa(2, 0), shorts([1.0, 2.0, 3.0, 4.0]), shorts([0.5; 4]), 0);
    assert_eq!(r, shorts([1.5, 2.5, 3.5, 4.5]));
}

#[test]
fn vector_fp_with_an_undefined_format_is_a_specification_exception() {
    for m4 in [0, 1, 5, 15] {
        let (mut cpu, mut mem) = machine(&vfa(m4, 0));
        assert_eq!(
            program_exception(cpu.step(&mut mem)),
            (0x0006, 3),
            "M4 {m4}"
        );
    }
}

#[test]
fn an_enabled_ieee_exception_in_an_element_is_a_vector_processing_exception_naming_it() {
    // vfadb with the overflow mask on: element 1 overflows. VXC = index 1,
    // kind 3 (overflow); nothing is stored and no flag is set.
    let (mut cpu, mut mem) = machine(&vfa(3, 0));
    cpu.fpc = 0x2000_0000;
    cpu.set_v128(1, 7);
    cpu.set_v128(2, longs(1.0, f64::MAX));
    cpu.set_v128(3, longs(1.0, f64::MAX));
    let intr = cpu.step(&mut mem).unwrap_err();
    match intr {
        Interruption::Program { exception, ilc } => {
            assert_eq!((exception.code.0, exception.dxc, ilc), (0x001B, 0x13, 3))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        (cpu.v128(1), cpu.fpc),
        (7, 0x2000_0000),
        "suppressed, no flags"
    );
    assert_eq!(cpu.psw.addr, CODE + 6);
    cpu.cr[0] |= 1 << (63 - 45);
    cpu.deliver(&mut mem, intr).unwrap();
    assert_eq!(mem.slice(lowcore::DXC, 1).unwrap(), &[0x13], "the VXC");
    assert_eq!(cpu.fpc >> 8 & 0xFF, 0x13, "in the FPC's DXC byte too");
    // The mask off: both elements are stored, the flags of all set.
    let (mut cpu, mut mem) = machine(&vfa(3, 0));
    cpu.set_v128(2, longs(1.0, f64::MAX));
    cpu.set_v128(3, longs(f64::MIN_POSITIVE, f64::MAX));
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(1), longs(1.0, f64::INFINITY));
    assert_eq!(cpu.fpc, 0x0028_0000, "overflow and inexact");
}

#[test]
fn the_leftmost_element_with_an_enabled_exception_and_its_first_exception_make_the_vxc() {
    // vfd with invalid and divide-by-zero masks: element 0 divides by
    // zero, element 1 is 0/0 (invalid): VXC 0x02.
    let vfd = e7(0xE5, [1, 2, 3, 0, 0, 0, 3]);
    let (mut cpu, mut mem) = machine(&vfd);
    cpu.fpc = 0xC000_0000;
    cpu.set_v128(2, longs(1.0, 0.0));
    cpu.set_v128(3, longs(0.0, 0.0));
    match cpu.step(&mut mem) {
        Err(Interruption::Program { exception, .. }) => assert_eq!(exception.dxc, 0x02),
        other => panic!("{other:?}"),
    }
    // Element 0 both invalid and inexact? An invalid operation first: 0/0
    // in element 0 with every mask on gives kind 1.
    cpu.psw.addr = CODE;
    cpu.fpc = 0xF800_0000;
    cpu.set_v128(2, longs(0.0, 1.0));
    match cpu.step(&mut mem) {
        Err(Interruption::Program { exception, .. }) => assert_eq!(exception.dxc, 0x01),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_inexact_suppression_control_takes_the_inexact_exception_away() {
    // vfidb %v1,%v2,0,M4,5 (round toward zero): 2.5 -> 2.0, inexact.
    let vfi = |m4: u8| e7(0xC7, [1, 2, 0, 0, 5, m4, 3]);
    let (mut cpu, mut mem) = machine(&vfi(0));
    cpu.set_v128(2, longs(2.5, -7.0));
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.v128(1), cpu.fpc), (longs(2.0, -7.0), 0x0008_0000));
    let (mut cpu, mut mem) = machine(&vfi(4));
    cpu.fpc = 0x0800_0000; // the inexact mask on: no interruption either
    cpu.set_v128(2, longs(2.5, -7.0));
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.v128(1), cpu.fpc), (longs(2.0, -7.0), 0x0800_0000));
}

#[test]
fn vector_fp_compares_set_element_masks_and_the_cc_with_m6_bit_3() {
    // vfchdbs %v1,%v2,%v3: 2 > 1 true, NaN > 0 false: cc 1.
    let vfch = |m5: u8, m6: u8| e7(0xEB, [1, 2, 3, 0, m6, m5, 3]);
    let (r, cc) = run3(vfch(0, 1), longs(2.0, f64::NAN), longs(1.0, 0.0), 0);
    assert_eq!((r, cc), (u128::MAX << 64, 1));
    // wfcdb: element 0 only, cc 1 (low).
    let wfc = e7(0xCB, [2, 3, 0, 0, 0, 0, 3]);
    let (mut cpu, mut mem) = machine(&wfc);
    cpu.set_v128(2, longs(1.0, 9.0));
    cpu.set_v128(3, longs(2.0, 0.0));
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.cc(), 1);
    // wfc with M4 nonzero: specification exception.
    let (mut cpu, mut mem) = machine(&e7(0xCB, [2, 3, 0, 0, 0, 1, 3]));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
}

#[test]
fn rounding_to_prepare_for_shorter_precision_rounds_inexact_results_to_odd() {
    // vfidb %v1,%v2,3,0,3: 2.5 -> 3, 3.5 -> 3, -4.25 -> -5, 6.0 exact.
    let (r, _) = run3(e7(0xC7, [1, 2, 0, 0, 3, 0, 3]), longs(2.5, -4.25), 0, 0);
    assert_eq!(r, longs(3.0, -5.0));
    let (r, _) = run3(e7(0xC7, [1, 2, 0, 0, 3, 0, 3]), longs(3.5, 6.0), 0, 0);
    assert_eq!(r, longs(3.0, 6.0));
    // vcgdb %v1,%v2,3,0,3: 2.5 -> 3, -4.25 -> -5.
    let (r, _) = run3(e7(0xC2, [1, 2, 0, 0, 3, 0, 3]), longs(2.5, -4.25), 0, 0);
    assert_eq!(r, 3u128 << 64 | (-5i64 as u64 as u128));
    // vflrd (long to short) %v1,%v2,3,0,3: 1 + 2**-30 is truncated to 1.0
    // and made odd (the rightmost fraction bit one).
    let x = 1.0 + (-30f64).exp2();
    let (r, _) = run3(e7(0xC5, [1, 2, 0, 0, 3, 0, 3]), longs(x, 1.0), 0, 0);
    assert_eq!(r >> 96, u128::from(1f32.to_bits() | 1));
}

#[test]
fn vector_fp_rounding_m5_2_and_sign_operation_3_are_specification_exceptions() {
    // vfidb M5 2.
    let (mut cpu, mut mem) = machine(&e7(0xC7, [1, 2, 0, 0, 2, 0, 3]));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    // vfpsodb M5 3.
    let (mut cpu, mut mem) = machine(&e7(0xCC, [1, 2, 0, 0, 3, 0, 3]));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    // vfll with M3 4, vflr with M3 2: no longer format.
    let (mut cpu, mut mem) = machine(&e7(0xC4, [1, 2, 0, 0, 0, 0, 4]));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    let (mut cpu, mut mem) = machine(&e7(0xC5, [1, 2, 0, 0, 0, 0, 2]));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    // vcdg and vcgd with M3 4: no conversions of extended elements.
    for op in [0xC3, 0xC2] {
        let (mut cpu, mut mem) = machine(&e7(op, [1, 2, 0, 0, 0, 0, 4]));
        assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
    }
}

/// The extended value of an f64 (zero or normal): exact.
fn extended(v: f64) -> u128 {
    if v == 0.0 {
        return u128::from(v.is_sign_negative()) << 127;
    }
    let b = v.to_bits();
    let sign = u128::from(b >> 63) << 127;
    let exp = (((b >> 52) & 0x7FF) as u128 + 16383 - 1023) << 112;
    sign | exp | u128::from(b & ((1 << 52) - 1)) << 60
}

#[test]
fn vector_fp_extended_format_is_the_whole_register_whatever_the_single_element_control() {
    // wfaxb (M4 4): 1 + 2**-112, exact in 113 bits.
    let tiny = (16383u128 - 112) << 112;
    for m5 in [0, 8] {
        let (r, _) = run3(vfa(4, m5), extended(1.0), tiny, 0);
        assert_eq!(r, extended(1.0) + 1, "M5 {m5}");
    }
    // wfsqxb %v1,%v2: the square root of 2.25.
    let (r, _) = run3(e7(0xCE, [1, 2, 0, 0, 0, 8, 4]), extended(2.25), 0, 0);
    assert_eq!(r, extended(1.5));
    // wfmaxb %v1,%v2,%v3,%v4 (VRR-e: M6, the format, at bits 20-23).
    let wfmaxb = e7(0x8F, [1, 2, 3, 4, 8, 0, 4]);
    let (r, _) = run3(wfmaxb, extended(3.0), extended(0.5), extended(1.0));
    assert_eq!(r, extended(2.5));
    // wfcxb %v2,%v3 (cc 1: low) and wfcexb (all ones where equal).
    let (_, cc) = run3(
        e7(0xCB, [2, 3, 0, 0, 0, 0, 4]),
        extended(1.0),
        extended(2.0),
        0,
    );
    assert_eq!(cc, 1);
    let wfcexb = e7(0xE8, [1, 2, 3, 0, 0, 8, 4]);
    assert_eq!(run3(wfcexb, extended(2.0), extended(2.0), 0).0, u128::MAX);
}

#[test]
fn wflld_lengthens_long_element_0_and_wflrx_rounds_into_it_leaving_element_1() {
    // wflld %v1,%v2 (M3 3).
    let (r, _) = run3(e7(0xC4, [1, 2, 0, 0, 0, 8, 3]), longs(-0.75, 9.0), 0, 0);
    assert_eq!(r, extended(-0.75));
    // wflrx %v1,%v2 (M3 4, M5 0: the FPC's rounding): 1 + 2**-112 to 1.0.
    let (mut cpu, mut mem) = machine(&e7(0xC5, [1, 2, 0, 0, 0, 8, 4]));
    cpu.set_v128(1, 0x1234);
    cpu.set_v128(2, extended(1.0) + 1);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.v128(1), longs(1.0, 0.0) | 0x1234, "element 1 unchanged");
    assert_eq!(cpu.fpc, 0x0008_0000, "inexact");
}

#[test]
fn an_enabled_ieee_exception_of_an_extended_element_names_element_0() {
    // wfmxb with the overflow mask on: 2**10000 squared. VXC 0x03.
    let big = (16383u128 + 10000) << 112;
    let (mut cpu, mut mem) = machine(&e7(0xE7, [1, 2, 3, 0, 0, 8, 4]));
    cpu.fpc = 0x2000_0000;
    cpu.set_v128(2, big);
    cpu.set_v128(3, big);
    match cpu.step(&mut mem).unwrap_err() {
        Interruption::Program { exception, .. } => {
            assert_eq!((exception.code.0, exception.dxc), (0x001B, 0x03))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cpu.v128(1), 0, "suppressed");
}

#[test]
fn vector_fp_needs_the_vector_enablement_control() {
    let (mut cpu, mut mem) = machine(&vfa(3, 0));
    cpu.cr[0] &= !CR0_VECTOR;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0007, 3));
}

#[test]
fn vfmin_and_vfmax_follow_the_kind_m6_names() {
    // vfmin/vfmax %v1,%v2,%v3,3,0,M6 (VRR-c: M6 at bits 24-27).
    let vfm = |op: u8, m6: u8| e7(op, [1, 2, 3, 0, m6, 0, 3]);
    let nan = f64::from_bits(0x7FF8_0000_0000_0001);
    // IEEE minNum: the number beside a quiet NaN; -0 below +0.
    let (r, _) = run3(vfm(0xEE, 0), longs(nan, 0.0), longs(2.0, -0.0), 0);
    assert_eq!(r, longs(2.0, -0.0));
    // Java max: the NaN; C macro min: V3; C++ min: V2 (both invalid).
    assert_eq!(
        run3(vfm(0xEF, 1), longs(nan, 1.0), longs(2.0, 3.0), 0).0,
        longs(nan, 3.0)
    );
    assert_eq!(
        run3(vfm(0xEE, 2), longs(nan, 1.0), longs(2.0, 3.0), 0).0,
        longs(2.0, 1.0)
    );
    assert_eq!(
        run3(vfm(0xEE, 3), longs(nan, 1.0), longs(2.0, 3.0), 0).0,
        longs(nan, 1.0)
    );
    // fmax of magnitudes (M6 12): the larger magnitude, as a magnitude.
    assert_eq!(
        run3(vfm(0xEF, 12), longs(-5.0, 1.0), longs(2.0, -3.0), 0).0,
        longs(5.0, 3.0)
    );
    // maxNumMag (M6 8): the operand itself.
    assert_eq!(
        run3(vfm(0xEF, 8), longs(-5.0, 1.0), longs(2.0, -3.0), 0).0,
        longs(-5.0, -3.0)
    );
    for m6 in [5, 7, 13, 15] {
        let (mut cpu, mut mem) = machine(&vfm(0xEE, m6));
        assert_eq!(
            program_exception(cpu.step(&mut mem)),
            (0x0006, 3),
            "M6 {m6}"
        );
    }
}

#[test]
fn vpopct_counts_the_ones_of_each_element_of_the_size_m3_names() {
    // vpopct %v1,%v2,M3 (M3 1-3: the vector-enhancements facility 1).
    let v = 0x0103_0000_0000_0007_FFFF_FFFF_8000_0001;
    let vpopct = |m3: u8| e7(0x50, [1, 2, 0, 0, 0, 0, m3]);
    assert_eq!(
        run3(vpopct(0), v, 0, 0).0,
        0x0102_0000_0000_0003_0808_0808_0100_0001
    );
    assert_eq!(
        run3(vpopct(1), v, 0, 0).0,
        0x0003_0000_0000_0003_0010_0010_0001_0001
    );
    assert_eq!(
        run3(vpopct(2), v, 0, 0).0,
        0x0000_0003_0000_0003_0000_0020_0000_0002
    );
    assert_eq!(run3(vpopct(3), v, 0, 0).0, 6 << 64 | 34);
    let (mut cpu, mut mem) = machine(&vpopct(4));
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 3));
}
