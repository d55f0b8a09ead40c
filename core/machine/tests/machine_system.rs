//! The machine's answers to STORE SYSTEM INFORMATION, STORE CPU ID, STORE
//! FACILITY LIST EXTENDED and DIAGNOSE: what QEMU 7.2's `s390-ccw-virtio`
//! machine answers under TCG, with the checks of the Principles of
//! Operation.

use zmmu_cpu::exec::control::{FACILITIES, MACHINE_TYPE};
use zmmu_machine::config::{Config, Device, WatchdogAction};
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

const CODE: u64 = 0x20000;
const BLOCK: u64 = 0x30000;
const DISABLED_WAIT: u64 = 0x0002_0001_8000_0000;
const ENABLED_WAIT: u64 = 0x0102_0001_8000_0000;
const PROBLEM: u64 = 0x0001_0000_0000_0000;
/// Where the test code's final LPSWE finds its disabled-wait PSW (address
/// 0x2A: "done").
const DONE_PSW: u64 = 0xF00;
const DONE: u64 = 0x2A;
/// Program-new PSW: disabled wait at 0xF; restart-new: at 0x3.
const PROGRAM: u64 = 0xF;
const RESTART: u64 = 0x3;

const SPECIFICATION: u16 = 0x0006;
const PRIVILEGED_OPERATION: u16 = 0x0002;
const ADDRESSING: u16 = 0x0005;

fn psw(mask: u64, addr: u64) -> Vec<u8> {
    [mask.to_be_bytes(), addr.to_be_bytes()].concat()
}

/// `code` at 0x20000 followed by IPM 15 and LPSWE of a disabled wait at
/// [`DONE`]; the program-new PSW a disabled wait at [`PROGRAM`], the
/// restart-new PSW one at [`RESTART`]; `gprs` set before the start.
fn machine_with(config: Config, code: &[u8], gprs: &[(usize, u64)]) -> Machine {
    let mut m = Machine::with_config(1 << 20, config).unwrap();
    let mut all = code.to_vec();
    all.extend_from_slice(&[0xb2, 0x22, 0x00, 0xf0]); // IPM 15
    all.extend_from_slice(&[0xb2, 0xb2, 0x0f, 0x00]); // LPSWE 0xF00
    m.load(CODE, &all).unwrap();
    m.load(DONE_PSW, &psw(DISABLED_WAIT, DONE)).unwrap();
    m.load(0x1d0, &psw(DISABLED_WAIT, PROGRAM)).unwrap();
    m.load(0x1a0, &psw(DISABLED_WAIT, RESTART)).unwrap();
    m.start(CODE);
    for &(r, v) in gprs {
        m.cpu.gpr[r] = v;
    }
    m
}

fn machine(code: &[u8], gprs: &[(usize, u64)]) -> Machine {
    machine_with(Config::default(), code, gprs)
}

fn run(m: &mut Machine) -> Stop {
    m.run(Some(10_000), &mut ()).stop
}

/// The run ended at [`DONE`]; the condition code the code left.
fn done_with_cc(m: &mut Machine) -> u64 {
    let stop = run(m);
    assert!(
        matches!(stop, Stop::DisabledWait { psw } if psw.addr == DONE),
        "{stop:?}"
    );
    (m.cpu.gpr[15] >> 28) & 3
}

/// The run ended in a program interruption; its code.
fn program_interruption(m: &mut Machine) -> u16 {
    let stop = run(m);
    assert!(
        matches!(stop, Stop::DisabledWait { psw } if psw.addr == PROGRAM),
        "{stop:?}"
    );
    let mut code = [0; 2];
    m.bus
        .storage
        .read(AbsoluteAddress::new(0x8e), &mut code)
        .unwrap();
    u16::from_be_bytes(code)
}

fn bytes_at(m: &Machine, at: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    m.bus
        .storage
        .read(AbsoluteAddress::new(at), &mut b)
        .unwrap();
    b
}

/// STSI 0(2).
const STSI: [u8; 4] = [0xb2, 0x7d, 0x20, 0x00];

fn stsi(fc: u64, sel1: u64, sel2: u64) -> [(usize, u64); 3] {
    [(0, (fc << 28) | sel1), (1, sel2), (2, BLOCK)]
}

fn ebcdic(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|c| zmmu_machine::sclp::ASCII_TO_EBCDIC[usize::from(c)])
        .collect()
}

#[test]
fn stsi_0_puts_the_current_level_3_in_r0() {
    let mut m = machine(&STSI, &[(0, 0xFFFF_FFFF_0000_0000), (2, BLOCK)]);
    assert_eq!(done_with_cc(&mut m), 0);
    assert_eq!(m.cpu.gpr[0], 3 << 28);
}

#[test]
fn stsi_3_2_2_reports_the_name_and_uuid_of_the_configuration() {
    let uuid = [
        0x0f, 0xb8, 0x4a, 0x86, 0x72, 0x7c, 0x11, 0xea, 0xbc, 0x55, 0x02, 0x42, 0xac, 0x13, 0x00,
        0x03,
    ];
    let config = Config {
        name: Some("kvm-unit-test".into()),
        uuid: Some(uuid),
        ..Config::default()
    };
    let mut m = machine_with(config, &STSI, &stsi(3, 2, 2));
    assert_eq!(done_with_cc(&mut m), 0);
    let b = bytes_at(&m, BLOCK, 4096);
    assert_eq!(b[31], 1, "one virtual-machine description");
    assert_eq!(
        &b[36..44],
        &[0, 1, 0, 1, 0, 0, 0, 0],
        "total, configured, standby, reserved"
    );
    assert_eq!(
        &b[44..52],
        ebcdic("kvm-unit").as_slice(),
        "the name, cut to 8"
    );
    assert_eq!(&b[52..56], &1000u32.to_be_bytes());
    assert_eq!(&b[56..72], ebcdic("KVM/Linux       ").as_slice());
    assert_eq!(b[75], 2, "extended name in UTF-8");
    assert_eq!(&b[80..96], &uuid);
    assert_eq!(&b[2048..2062], b"kvm-unit-test\0");
}

#[test]
fn stsi_3_2_2_blank_pads_a_short_name_and_names_an_unnamed_machine_tcgguest() {
    let config = Config {
        name: Some("vm".into()),
        ..Config::default()
    };
    let mut m = machine_with(config, &STSI, &stsi(3, 2, 2));
    assert_eq!(done_with_cc(&mut m), 0);
    assert_eq!(bytes_at(&m, BLOCK + 44, 8), ebcdic("vm      "));
    let mut m = machine(&STSI, &stsi(3, 2, 2));
    assert_eq!(done_with_cc(&mut m), 0);
    assert_eq!(bytes_at(&m, BLOCK + 44, 8), ebcdic("TCGguest"));
    assert_eq!(bytes_at(&m, BLOCK + 2048, 9), b"TCGguest\0");
    assert_eq!(bytes_at(&m, BLOCK + 80, 16), [0; 16], "no UUID");
}

#[test]
fn stsi_1_1_1_reports_manufacturer_qemu_and_the_machine_type_of_stidp() {
    let mut m = machine(&STSI, &stsi(1, 1, 1));
    assert_eq!(done_with_cc(&mut m), 0);
    let b = bytes_at(&m, BLOCK, 4096);
    assert_eq!(&b[32..48], ebcdic("QEMU            ").as_slice());
    assert_eq!(
        &b[48..52],
        ebcdic(&format!("{MACHINE_TYPE:04X}")).as_slice()
    );
    assert_eq!(&b[64..80], ebcdic("QEMU            ").as_slice());
    assert_eq!(&b[80..96], ebcdic("QEMU            ").as_slice());
    assert_eq!(&b[96..100], ebcdic("QEMU").as_slice());
    assert!(b[..32].iter().chain(&b[100..]).all(|&x| x == 0));
}

#[test]
fn stsi_1_2_2_and_2_2_2_count_one_configured_cpu() {
    let mut m = machine(&STSI, &stsi(1, 2, 2));
    assert_eq!(done_with_cc(&mut m), 0);
    assert_eq!(
        bytes_at(&m, BLOCK + 32, 12),
        [0x44, 0x3a, 0xfc, 0x29, 0, 1, 0, 1, 0, 0, 0, 0]
    );
    let mut m = machine(&STSI, &stsi(2, 2, 2));
    assert_eq!(done_with_cc(&mut m), 0);
    let b = bytes_at(&m, BLOCK, 80);
    assert_eq!(b[35], 0x80, "dedicated CPUs");
    assert_eq!(&b[36..44], &[0, 1, 0, 1, 0, 0, 0, 0]);
    assert_eq!(&b[44..52], ebcdic("QEMU    ").as_slice());
    assert_eq!(&b[72..74], &[0, 1], "dedicated CPU count");
}

#[test]
fn stsi_1_2_1_and_2_2_1_report_the_cpu_address() {
    for fc in [1, 2] {
        let mut m = machine(&STSI, &stsi(fc, 2, 1));
        assert_eq!(done_with_cc(&mut m), 0);
        assert_eq!(bytes_at(&m, BLOCK + 80, 16), ebcdic("QEMUQEMUQEMUQEMU"));
        assert_eq!(bytes_at(&m, BLOCK + 96, 4), ebcdic("QEMU"));
        assert_eq!(bytes_at(&m, BLOCK + 102, 2), [0, 0]);
    }
}

#[test]
fn stsi_with_a_function_code_above_3_is_cc_3_before_any_other_check() {
    // Function code 15 (topology: facility 11 not offered), reserved bits
    // set and an unaligned operand: still cc 3.
    let mut m = machine(
        &STSI,
        &[
            (0, (15 << 28) | 0x100 | 1),
            (1, 0xFFFF_0002),
            (2, BLOCK + 1),
        ],
    );
    assert_eq!(done_with_cc(&mut m), 3);
    let mut m = machine(&STSI, &stsi(4, 1, 1));
    assert_eq!(done_with_cc(&mut m), 3);
}

#[test]
fn stsi_with_reserved_bits_in_r0_or_r1_is_a_specification_exception() {
    let mut m = machine(
        &STSI,
        &[(0, (1 << 28) | (1 << (63 - 36)) | 1), (1, 1), (2, BLOCK)],
    );
    assert_eq!(program_interruption(&mut m), SPECIFICATION);
    let mut m = machine(
        &STSI,
        &[(0, (1 << 28) | 1), (1, (1 << (63 - 47)) | 1), (2, BLOCK)],
    );
    assert_eq!(program_interruption(&mut m), SPECIFICATION);
}

#[test]
fn stsi_bits_0_31_of_r0_and_r1_are_ignored() {
    let mut m = machine(
        &STSI,
        &[
            (0, (1 << 63) | (3 << 28) | 2),
            (1, (1 << 40) | 2),
            (2, BLOCK),
        ],
    );
    assert_eq!(done_with_cc(&mut m), 0);
}

#[test]
fn stsi_with_a_block_not_on_a_4k_boundary_is_a_specification_exception() {
    let mut m = machine(&STSI, &[(0, (1 << 28) | 1), (1, 1), (2, BLOCK + 42)]);
    assert_eq!(program_interruption(&mut m), SPECIFICATION);
}

#[test]
fn stsi_with_a_selector_pair_without_a_block_is_cc_3_and_stores_nothing() {
    for (fc, sel1, sel2) in [(1, 0, 1), (1, 1, 0), (2, 1, 1), (3, 1, 1), (3, 2, 1)] {
        let mut m = machine(&STSI, &stsi(fc, sel1, sel2));
        m.load(BLOCK, &[0x55; 4096]).unwrap();
        assert_eq!(done_with_cc(&mut m), 3, "{fc}.{sel1}.{sel2}");
        assert!(bytes_at(&m, BLOCK, 4096).iter().all(|&b| b == 0x55));
    }
}

#[test]
fn stsi_beyond_storage_is_an_addressing_exception() {
    let mut m = machine(&STSI, &[(0, (3 << 28) | 2), (1, 2), (2, 1 << 20)]);
    assert_eq!(program_interruption(&mut m), ADDRESSING);
}

#[test]
fn stsi_in_the_problem_state_is_a_privileged_operation_exception() {
    let mut m = machine(&STSI, &stsi(3, 2, 2));
    m.cpu.psw.mask |= PROBLEM;
    assert_eq!(program_interruption(&mut m), PRIVILEGED_OPERATION);
}

#[test]
fn stidp_stores_the_cpu_id_qemu_stores_for_tcg() {
    // STIDP 0(2)
    let mut m = machine(&[0xb2, 0x02, 0x20, 0x00], &[(2, BLOCK)]);
    done_with_cc(&mut m);
    assert_eq!(
        bytes_at(&m, BLOCK, 8),
        [0, 0, 0, 0, 0x85, 0x61, 0, 0],
        "version 0, CPU id 0, machine type 8561, format 0"
    );
}

#[test]
fn stfle_reports_the_facility_list_and_the_doublewords_it_needs() {
    // STFLE 0(2)
    let mut m = machine(&[0xb2, 0xb0, 0x20, 0x00], &[(0, 7), (2, BLOCK)]);
    assert_eq!(done_with_cc(&mut m), 0);
    assert_eq!(m.cpu.gpr[0], FACILITIES.len() as u64 - 1);
    let stored = bytes_at(&m, BLOCK, 8 * FACILITIES.len());
    // The CPU model's list and enhanced DAT 1 (facility 8), which the
    // default machine offers.
    let mut list = FACILITIES;
    list[0] |= 1 << (63 - 8);
    let expected: Vec<u8> = list.iter().flat_map(|d| d.to_be_bytes()).collect();
    assert_eq!(stored, expected);
    // One doubleword of room: cc 3, R0 says how many are needed.
    let mut m = machine(&[0xb2, 0xb0, 0x20, 0x00], &[(0, 0), (2, BLOCK)]);
    assert_eq!(done_with_cc(&mut m), 3);
    assert_eq!(m.cpu.gpr[0], FACILITIES.len() as u64 - 1);
}

#[test]
fn the_facility_list_offers_no_facility_zmmu_does_not_implement() {
    use zmmu_cpu::exec::control::installed;
    let cpu = zmmu_cpu::state::Cpu::new();
    let installed = |n| installed(&cpu, n);
    // The z/Architecture facilities and those whose instructions exist.
    // The message-security assist and its extensions 3, 4, 5 and 8 (17,
    // 76, 77, 57, 146) with their query functions. The high-word and
    // miscellaneous-instruction-extensions 3 facilities (45, 61). The
    // vector facility and its enhancements 1 and 2 (129, 135, 148). The
    // load/store-on-condition 2 and load-and-zero-rightmost-byte facility
    // (53).
    for n in [
        0, 1, 2, 3, 4, 5, 7, 9, 17, 18, 19, 21, 25, 27, 32, 33, 34, 35, 45, 53, 57, 61, 76, 77,
        129, 130, 135, 146, 148,
    ] {
        assert!(installed(n), "facility {n}");
    }
    // Not (or not completely) implemented: never offered.
    for n in [
        8, 10, 11, 14, 16, 22, 37, 40, 42, 49, 58, 73, 78, 133, 134, 155, 161,
    ] {
        assert!(!installed(n), "facility {n}");
    }
}

#[test]
fn a_model_without_mie3_neither_reports_it_nor_executes_its_instructions() {
    use zmmu_cpu::exec::control::installed;
    let mut cpu = zmmu_cpu::state::Cpu::new();
    cpu.mie3_facility = false;
    assert!(!installed(&cpu, 61));
    assert!(installed(&cpu, 45), "the high-word facility stays");
    let without = || {
        let mut config = Config::default();
        config.cpu = zmmu_machine::config::CpuFeatures::parse("max,mie3=off").unwrap();
        config
    };
    // ncgrk %r1,%r2,%r3: operation exception.
    let mut m = machine_with(without(), &[0xb9, 0xe5, 0x30, 0x12], &[]);
    assert_eq!(program_interruption(&mut m), 0x0001, "operation exception");
    // popcnt %r1,%r2,8 counts per byte, M3 ignored.
    let mut m = machine_with(without(), &[0xb9, 0xe1, 0x80, 0x12], &[(2, 0x0301)]);
    done_with_cc(&mut m);
    assert_eq!(m.cpu.gpr[1], 0x0201);
    let mut m = machine(&[0xb9, 0xe1, 0x80, 0x12], &[(2, 0x0301)]);
    done_with_cc(&mut m);
    assert_eq!(m.cpu.gpr[1], 3, "with it, the whole register's count");
}

#[test]
fn a_model_without_the_vector_enhancements_neither_reports_them_nor_executes_their_instructions() {
    use zmmu_cpu::exec::control::installed;
    let model = |features: &str| {
        let mut config = Config::default();
        config.cpu = zmmu_machine::config::CpuFeatures::parse(features).unwrap();
        config
    };
    // The instruction with the vector enablement control on.
    let run_with = |features: &str, insn: [u8; 6]| {
        let mut m = machine_with(model(features), &insn, &[]);
        m.cpu.cr[0] |= zmmu_cpu::state::CR0_VECTOR;
        m
    };
    let vnx = [0xe7, 0x12, 0x30, 0x00, 0x00, 0x6c];
    let wfaxb = [0xe7, 0x12, 0x30, 0x08, 0x40, 0xe3];
    let vpopcth = [0xe7, 0x12, 0x00, 0x00, 0x10, 0x50];
    let vlbrq = [0xe6, 0x10, 0x00, 0x00, 0x40, 0x06];
    let vcfps = [0xe7, 0x12, 0x00, 0x00, 0x20, 0xc3];
    for insn in [vnx, wfaxb, vpopcth, vlbrq, vcfps] {
        let mut m = run_with("max", insn);
        done_with_cc(&mut m);
    }
    // vxeh=off: 135 and 148 are gone; VNX an operation exception, the
    // extended format and VPOPCT's halfwords specification exceptions.
    let mut cpu = zmmu_cpu::state::Cpu::new();
    cpu.vxeh_facility = false;
    assert!(!installed(&cpu, 135) && !installed(&cpu, 148));
    assert!(installed(&cpu, 129));
    for (insn, code) in [(vnx, 0x0001), (wfaxb, 0x0006), (vpopcth, 0x0006)] {
        let mut m = run_with("max,vxeh=off", insn);
        assert_eq!(program_interruption(&mut m), code, "{insn:02x?}");
    }
    // vxeh2=off: 148 alone; VLBR an operation exception, VCFPS a
    // specification exception.
    let mut cpu = zmmu_cpu::state::Cpu::new();
    cpu.vxeh2_facility = false;
    assert!(installed(&cpu, 135) && !installed(&cpu, 148));
    for (insn, code) in [(vlbrq, 0x0001), (vcfps, 0x0006)] {
        let mut m = run_with("max,vxeh2=off", insn);
        assert_eq!(program_interruption(&mut m), code, "{insn:02x?}");
    }
    // vx=off takes both with it.
    let mut cpu = zmmu_cpu::state::Cpu::new();
    cpu.vector_facility = false;
    assert!(!installed(&cpu, 135) && !installed(&cpu, 148));
}

#[test]
fn a_model_without_the_vector_facility_neither_reports_it_nor_executes_vector_instructions() {
    use zmmu_cpu::exec::control::installed;
    let mut cpu = zmmu_cpu::state::Cpu::new();
    cpu.vector_facility = false;
    assert!(!installed(&cpu, 129));
    // vzero %v0 (vgbm %v0,0) with vector enablement on: operation exception.
    let mut m = machine(&[0xe7, 0x00, 0x00, 0x00, 0x00, 0x44], &[]);
    m.cpu.cr[0] |= zmmu_cpu::state::CR0_VECTOR;
    m.cpu.vector_facility = false;
    assert_eq!(program_interruption(&mut m), 0x0001, "operation exception");
}

/// DIAG r1,r3,code.
fn diag(r1: u8, r3: u8, code: u16) -> [u8; 4] {
    [0x83, (r1 << 4) | r3, (code >> 8) as u8, code as u8]
}

#[test]
fn diag10_with_an_inverted_range_is_a_specification_exception() {
    let mut m = machine(&diag(2, 3, 0x10), &[(2, 0x5000), (3, 0x4000)]);
    assert_eq!(program_interruption(&mut m), SPECIFICATION);
}

#[test]
fn diag10_with_an_unaligned_start_or_end_is_a_specification_exception() {
    let mut m = machine(&diag(2, 3, 0x10), &[(2, 0x4000 + 42), (3, 0x5000)]);
    assert_eq!(program_interruption(&mut m), SPECIFICATION);
    let mut m = machine(&diag(2, 3, 0x10), &[(2, 0x4000), (3, 0x5000 + 42)]);
    assert_eq!(program_interruption(&mut m), SPECIFICATION);
}

#[test]
fn diag10_of_the_prefix_pages_is_a_specification_exception() {
    for (start, end) in [(0, 0), (0x1000, 0x1000), (0, 0x1000)] {
        let mut m = machine(&diag(2, 3, 0x10), &[(2, start), (3, end)]);
        assert_eq!(program_interruption(&mut m), SPECIFICATION);
    }
}

#[test]
fn diag10_beyond_storage_is_an_addressing_exception() {
    let mut m = machine(&diag(2, 3, 0x10), &[(2, 0x4000), (3, 1 << 20)]);
    assert_eq!(program_interruption(&mut m), ADDRESSING);
}

#[test]
fn diag10_of_a_valid_range_keeps_the_storage() {
    let mut m = machine(&diag(2, 3, 0x10), &[(2, 0x4000), (3, 0x5000)]);
    m.load(0x4000, &[0xAB; 0x2000]).unwrap();
    done_with_cc(&mut m);
    assert!(bytes_at(&m, 0x4000, 0x2000).iter().all(|&b| b == 0xAB));
}

#[test]
fn diag10_in_the_problem_state_is_a_privileged_operation_exception() {
    let mut m = machine(&diag(2, 3, 0x10), &[(2, 0x4000), (3, 0x4000)]);
    m.cpu.psw.mask |= PROBLEM;
    assert_eq!(program_interruption(&mut m), PRIVILEGED_OPERATION);
}

#[test]
fn diag44_and_diag9c_yield_and_change_nothing() {
    let mut m = machine(&[diag(0, 0, 0x44), diag(2, 0, 0x9c)].concat(), &[(2, 5)]);
    done_with_cc(&mut m);
    assert_eq!(m.cpu.gpr[2], 5);
}

#[test]
fn a_diagnose_code_qemu_does_not_implement_is_a_specification_exception() {
    // 0x318: QEMU does not offer the diag318 facility to TCG guests.
    for code in [0x318, 0x500, 0x8, 0x260, 0xFFFF] {
        let mut m = machine(&diag(2, 0, code), &[(2, 0x42)]);
        assert_eq!(program_interruption(&mut m), SPECIFICATION, "{code:#x}");
    }
}

#[test]
fn the_diagnose_code_is_the_second_operand_address() {
    // DIAG 0,0,0x10(5) with R5 = 0x34: code 0x44.
    let mut m = machine(&[0x83, 0x00, 0x50, 0x10], &[(5, 0x34)]);
    done_with_cc(&mut m);
}

/// Puts a short PSW (64-bit mode, `addr`) at absolute 0 for load normal.
fn ipl_psw(m: &mut Machine, addr: u64) {
    let short = 0x0008_0001_8000_0000 | addr;
    m.bus
        .storage
        .write_u64(AbsoluteAddress::new(0), short)
        .unwrap();
}

#[test]
fn diag308_subcode_1_resets_the_cpu_and_loads_the_short_psw_at_absolute_0() {
    // DIAG 0,2,0x308 ; then, from the loaded PSW at CODE + 8: IPM, LPSWE.
    let code = [diag(0, 2, 0x308), [0xa7, 0xf4, 0x00, 0x02]].concat(); // J +4
    let mut m = machine(&code, &[(2, 1), (7, 0x77)]);
    ipl_psw(&mut m, CODE + 8);
    m.cpu.cr[0] = 0x00ff_0000;
    m.cpu.prefix = zmmu_mmu::prefix::Prefix::new(0x8000);
    m.load(0x8000 + 0x1d0, &psw(DISABLED_WAIT, PROGRAM))
        .unwrap();
    done_with_cc(&mut m);
    assert_eq!(m.cpu.gpr[7], 0x77, "the general registers stay");
    assert_eq!(m.cpu.cr[0], 0xe0, "initial CPU reset");
    assert_eq!(m.cpu.prefix.value(), 0);
}

#[test]
fn diag308_subcode_0_clears_the_registers_and_loads_the_short_psw_at_absolute_0() {
    let mut m = machine(&diag(0, 2, 0x308), &[(2, 0), (7, 0x77)]);
    ipl_psw(&mut m, CODE + 4);
    done_with_cc(&mut m);
    assert_eq!(m.cpu.gpr[7], 0, "clear reset");
    assert_eq!(m.cpu.gpr[2], 0);
}

#[test]
fn diag308_load_normal_of_a_psw_without_bit_12_check_stops() {
    let mut m = machine(&diag(0, 2, 0x308), &[(2, 1)]);
    m.bus
        .storage
        .write_u64(AbsoluteAddress::new(0), 0x0000_0001_8000_0000 | (CODE + 4))
        .unwrap();
    assert!(matches!(run(&mut m), Stop::CheckStop { .. }));
}

#[test]
fn diag308_subcode_3_ends_the_run_with_a_re_ipl() {
    let mut m = machine(&diag(0, 2, 0x308), &[(2, 3)]);
    assert!(matches!(
        run(&mut m),
        Stop::ReIpl {
            watchdog: false,
            ..
        }
    ));
}

#[test]
fn diag308_with_an_unassigned_subcode_is_a_specification_exception() {
    for sub in [2, 4, 7, 8, 10, 0x101, 0xffff, 0x10001, u64::MAX] {
        let mut m = machine(&diag(0, 2, 0x308), &[(2, sub)]);
        assert_eq!(program_interruption(&mut m), SPECIFICATION, "{sub:#x}");
    }
}

#[test]
fn diag308_set_and_store_with_an_odd_register_or_unaligned_block_are_specification_exceptions() {
    for sub in [5, 6] {
        let mut m = machine(&diag(9, 6, 0x308), &[(6, sub), (9, 0x2000)]);
        assert_eq!(program_interruption(&mut m), SPECIFICATION);
        let mut m = machine(&diag(8, 6, 0x308), &[(6, sub), (8, 54321)]);
        assert_eq!(program_interruption(&mut m), SPECIFICATION);
        let mut m = machine(
            &diag(8, 6, 0x308),
            &[(6, sub), (8, (1 << 20) - 0x1000 + 0x1000)],
        );
        assert_eq!(program_interruption(&mut m), ADDRESSING);
    }
}

#[test]
fn diag308_store_before_set_answers_no_configuration() {
    let mut m = machine(&diag(8, 6, 0x308), &[(6, 6), (8, 0x4000)]);
    done_with_cc(&mut m);
    assert_eq!(m.cpu.gpr[9], 0x0102);
}

#[test]
fn diag308_set_of_an_invalid_block_answers_invalid_and_a_valid_one_is_stored_back() {
    // A CCW block (type 2) shorter than 200 bytes: invalid.
    let mut block = vec![0u8; 200];
    block[..4].copy_from_slice(&100u32.to_be_bytes());
    block[12] = 2;
    let mut m = machine(&diag(8, 6, 0x308), &[(6, 5), (8, 0x4000)]);
    m.load(0x4000, &block).unwrap();
    done_with_cc(&mut m);
    assert_eq!(m.cpu.gpr[9], 0x0402);
    // 200 bytes: set, then store at another page gives it back.
    block[..4].copy_from_slice(&200u32.to_be_bytes());
    block[199] = 0x99;
    let code = [diag(8, 6, 0x308), diag(10, 7, 0x308)].concat();
    let mut m = machine(&code, &[(6, 5), (8, 0x4000), (7, 6), (10, 0x6000)]);
    m.load(0x4000, &block).unwrap();
    done_with_cc(&mut m);
    assert_eq!((m.cpu.gpr[9], m.cpu.gpr[11]), (1, 1));
    assert_eq!(bytes_at(&m, 0x6000, 200), block);
}

/// DIAG 0,2,0x288 with function, seconds, action in R0, R1, R2.
fn diag288(function: u64, seconds: u64, action: u64) -> [(usize, u64); 3] {
    [(0, function), (1, seconds), (2, action)]
}

fn with_watchdog(action: WatchdogAction) -> Config {
    Config {
        devices: vec![Device::Diag288],
        watchdog_action: action,
        ..Config::default()
    }
}

#[test]
fn diag288_without_the_device_is_a_specification_exception() {
    let mut m = machine(&diag(0, 2, 0x288), &diag288(0, 15, 0));
    assert_eq!(program_interruption(&mut m), SPECIFICATION);
}

#[test]
fn diag288_with_bad_operands_is_a_specification_exception() {
    let cases = [
        (diag(1, 2, 0x288), diag288(0, 15, 0)),  // odd R1
        (diag(0, 2, 0x288), diag288(0, 15, 42)), // action
        (diag(0, 2, 0x288), diag288(42, 15, 0)), // function
        (diag(0, 2, 0x288), diag288(2, 15, 0)),  // cancel, not started
        (diag(0, 2, 0x288), diag288(1, 15, 0)),  // change, not started
        (diag(0, 2, 0x288), diag288(0, 14, 0)),  // under 15 seconds
    ];
    for (code, gprs) in cases {
        let mut m = machine_with(with_watchdog(WatchdogAction::InjectNmi), &code, &gprs);
        assert_eq!(program_interruption(&mut m), SPECIFICATION, "{gprs:?}");
    }
}

/// Starts the watchdog (15 s), then waits enabled for external
/// interruptions with none coming: only the watchdog ends the wait.
fn watchdog_then_wait(action: WatchdogAction, cancel: bool) -> Machine {
    let mut code = diag(0, 2, 0x288).to_vec();
    if cancel {
        code.extend_from_slice(&[0xa7, 0x09, 0x00, 0x02]); // LGHI 0,2
        code.extend_from_slice(&diag(0, 2, 0x288));
    }
    code.extend_from_slice(&[0xb2, 0xb2, 0x0e, 0x00]); // LPSWE 0xE00
    let mut m = machine_with(with_watchdog(action), &code, &diag288(0, 15, 0));
    m.load(0xE00, &psw(ENABLED_WAIT, 0x100)).unwrap();
    m
}

#[test]
fn diag288_expiry_with_inject_nmi_is_a_restart_interruption() {
    let mut m = watchdog_then_wait(WatchdogAction::InjectNmi, false);
    let stop = run(&mut m);
    assert!(
        matches!(stop, Stop::DisabledWait { psw } if psw.addr == RESTART),
        "{stop:?}"
    );
    assert!(m.services.clock.monotonic() >= 15 * zmmu_machine::watchdog::TOD_PER_SECOND);
    assert_eq!(m.services.watchdog.deadline, None, "it fires once");
}

#[test]
fn diag288_expiry_with_poweroff_pause_or_reset_ends_the_run() {
    let mut m = watchdog_then_wait(WatchdogAction::Poweroff, false);
    assert!(matches!(
        run(&mut m),
        Stop::WatchdogExpired {
            action: WatchdogAction::Poweroff,
            ..
        }
    ));
    let mut m = watchdog_then_wait(WatchdogAction::Pause, false);
    assert!(matches!(
        run(&mut m),
        Stop::WatchdogExpired {
            action: WatchdogAction::Pause,
            ..
        }
    ));
    let mut m = watchdog_then_wait(WatchdogAction::Reset, false);
    assert!(matches!(run(&mut m), Stop::ReIpl { watchdog: true, .. }));
}

#[test]
fn diag288_expiry_with_action_none_does_nothing() {
    let mut m = watchdog_then_wait(WatchdogAction::None, false);
    assert!(matches!(run(&mut m), Stop::EnabledWaitForever { .. }));
}

#[test]
fn diag288_cancel_stops_the_watchdog() {
    let mut m = watchdog_then_wait(WatchdogAction::InjectNmi, true);
    assert!(matches!(run(&mut m), Stop::EnabledWaitForever { .. }));
}

#[test]
fn a_running_program_is_interrupted_when_the_watchdog_expires() {
    // DIAG (start), then J . (a loop).
    let code = [diag(0, 2, 0x288), [0xa7, 0xf4, 0x00, 0x00]].concat();
    let mut m = machine_with(
        with_watchdog(WatchdogAction::InjectNmi),
        &code,
        &diag288(0, 15, 0),
    );
    // Virtual time: one nanosecond per instruction; start the clock close
    // to the deadline instead of running 15 billion instructions.
    let stop = m.run(Some(1), &mut ()).stop;
    assert_eq!(stop, Stop::LimitReached);
    m.services.clock.source.wait_until_ns(15_000_000_000);
    let stop = m.run(Some(1000), &mut ()).stop;
    assert!(
        matches!(stop, Stop::DisabledWait { psw } if psw.addr == RESTART),
        "{stop:?}"
    );
}

/// TB 0,2.
const TB: [u8; 4] = [0xb2, 0x2c, 0x00, 0x02];

#[test]
fn test_block_clears_the_prefixed_block_and_sets_cc_0() {
    // Real 0x5123: block 0x5000; real 0x1000 with prefix 0x8000: absolute
    // 0x9000.
    let code = [TB, [0xb2, 0x2c, 0x00, 0x03]].concat();
    let mut m = machine(&code, &[(2, 0x5123), (3, 0x1000)]);
    m.cpu.prefix = zmmu_mmu::prefix::Prefix::new(0x8000);
    m.load(0x8000 + 0xf00, &psw(DISABLED_WAIT, DONE)).unwrap();
    m.load(0x5000, &[0xAA; 0x1001]).unwrap();
    m.load(0x9000, &[0xAA; 0x1000]).unwrap();
    m.load(0x1000, &[0xAA; 0x1000]).unwrap();
    assert_eq!(done_with_cc(&mut m), 0);
    assert!(bytes_at(&m, 0x5000, 0x1000).iter().all(|&b| b == 0));
    assert_eq!(bytes_at(&m, 0x6000, 1), [0xAA]);
    assert!(bytes_at(&m, 0x9000, 0x1000).iter().all(|&b| b == 0));
    assert!(bytes_at(&m, 0x1000, 0x1000).iter().all(|&b| b == 0xAA));
}

#[test]
fn test_block_under_low_address_protection_is_a_protection_exception() {
    let mut m = machine(&TB, &[(2, 0x1000)]);
    m.cpu.cr[0] |= 1 << (63 - 35);
    assert_eq!(program_interruption(&mut m), 0x0004);
}

#[test]
fn test_block_beyond_storage_is_an_addressing_exception() {
    let mut m = machine(&TB, &[(2, 1 << 20)]);
    assert_eq!(program_interruption(&mut m), ADDRESSING);
}

#[test]
fn test_block_ignores_key_controlled_protection() {
    let mut m = machine(&TB, &[(2, 0x5000)]);
    m.bus
        .storage
        .set_key(
            AbsoluteAddress::new(0x5000),
            zmmu_mmu::keys::StorageKey::new(0x30),
        )
        .unwrap();
    m.cpu.psw.mask |= 0x2 << 52;
    assert_eq!(done_with_cc(&mut m), 0);
}

#[test]
fn test_block_in_the_problem_state_is_a_privileged_operation_exception() {
    let mut m = machine(&TB, &[(2, 0x5000)]);
    m.cpu.psw.mask |= PROBLEM;
    assert_eq!(program_interruption(&mut m), PRIVILEGED_OPERATION);
}

/// CRT 0,0 with mask 8 (equal): always traps, data exception DXC 0xFF.
const TRAP: [u8; 4] = [0xb9, 0x72, 0x80, 0x00];

#[test]
fn a_data_exception_stores_the_dxc_word_and_with_afp_the_fpc_dxc() {
    let mut m = machine(&TRAP, &[]);
    m.load(0x90, &0x1234_5678u32.to_be_bytes()).unwrap();
    m.cpu.cr[0] |= zmmu_cpu::state::CR0_AFP_REGISTER;
    assert_eq!(program_interruption(&mut m), 0x0007);
    assert_eq!(bytes_at(&m, 0x90, 4), [0, 0, 0, 0xff]);
    assert_eq!(m.cpu.fpc, 0x0000_ff00);
}

#[test]
fn a_data_exception_without_afp_leaves_the_fpc_alone() {
    let mut m = machine(&TRAP, &[]);
    m.load(0x90, &0x1234_5678u32.to_be_bytes()).unwrap();
    m.cpu.cr[0] &= !zmmu_cpu::state::CR0_AFP_REGISTER;
    assert_eq!(program_interruption(&mut m), 0x0007);
    assert_eq!(bytes_at(&m, 0x90, 4), [0, 0, 0, 0xff]);
    assert_eq!(m.cpu.fpc, 0);
}

#[test]
fn sigp_and_diagnose_tell_an_engine_which_storage_they_may_store_into() {
    use zmmu_cpu::decode::decode;
    use zmmu_cpu::state::Cpu;
    use zmmu_machine::sigp::STATUS_AREA;
    use zmmu_machine::system::{stores, Stores};
    let cpu = Cpu::new();
    let of = |bytes: &[u8]| stores(&cpu, &decode(bytes).unwrap());
    // SIGP: at most STOP AND STORE STATUS's area in absolute page 0.
    assert_eq!(
        of(&[0xAE, 0x24, 0x00, 0x09]),
        Stores::Absolute {
            start: 0,
            end: STATUS_AREA + 0x200
        }
    );
    // DIAGNOSE X'044', X'09C', X'010', X'288': nothing; X'308': anything.
    for code in [0x44u8, 0x9C, 0x10] {
        assert_eq!(of(&[0x83, 0x00, 0x00, code]), Stores::Nothing);
    }
    assert_eq!(of(&[0x83, 0x00, 0x02, 0x88]), Stores::Nothing);
    assert_eq!(of(&[0x83, 0x00, 0x03, 0x08]), Stores::Anything);
    // An I/O instruction: anything (the channel subsystem stores).
    assert_eq!(of(&[0xB2, 0x35, 0x10, 0x00]), Stores::Anything);
}

#[test]
fn enhanced_dat_1_and_esop_2_are_offered_and_reported_as_the_cpu_model_says() {
    use zmmu_machine::config::CpuFeatures;
    use zmmu_mmu::control::Facilities;
    // STFLE (b2b0 0(%r2)) with three doublewords of room.
    let stfle = [0xb2, 0xb0, 0x20, 0x00];
    let reported = |m: &Machine, n: usize| bytes_at(m, BLOCK, 24)[n / 8] & (0x80 >> (n % 8)) != 0;
    // The default model: EDAT-1, no ESOP-2.
    let mut m = machine(&stfle, &[(0, 2), (2, BLOCK)]);
    assert_eq!(done_with_cc(&mut m), 0);
    assert!(reported(&m, 8) && !reported(&m, 131));
    assert!(m.bus.facilities.contains(Facilities::EDAT1));
    assert!(!m.bus.facilities.contains(Facilities::ESOP2));
    // QEMU 7.2's -cpu max under TCG: neither.
    let config = Config {
        cpu: CpuFeatures {
            edat: false,
            ..CpuFeatures::default()
        },
        ..Config::default()
    };
    let mut m = machine_with(config, &stfle, &[(0, 2), (2, BLOCK)]);
    assert_eq!(done_with_cc(&mut m), 0);
    assert!(!reported(&m, 8) && !reported(&m, 131));
    assert!(!m
        .bus
        .facilities
        .intersects(Facilities::EDAT1 | Facilities::ESOP2));
    let config = Config {
        cpu: CpuFeatures {
            sea_esop2: true,
            ..CpuFeatures::default()
        },
        ..Config::default()
    };
    let mut m = machine_with(config, &stfle, &[(0, 2), (2, BLOCK)]);
    assert_eq!(done_with_cc(&mut m), 0);
    assert!(reported(&m, 8) && reported(&m, 131));
    assert!(m
        .bus
        .facilities
        .contains(Facilities::EDAT1 | Facilities::ESOP2));
}
