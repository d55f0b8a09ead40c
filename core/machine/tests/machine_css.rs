//! The channel subsystem and its virtio-ccw device as the architecture
//! (PoP ch. 13-17) and QEMU's `s390-ccw-virtio` machine define them: each
//! test executes the I/O instruction it names on a machine with one
//! `virtio-net-ccw` device and checks the condition code, the program
//! exception, the stored block or the I/O interruption.

mod common;

use common::channel::*;
use common::{psw, u16_at, BITS64, CODE, DISABLED_WAIT, WAIT};
use zmmu_machine::config::{Config, Device};
use zmmu_machine::css::{MAX_CCWS, OPERAND};
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::exception::Code;

/// A machine with a `virtio-net-ccw` device; the program-new PSW is a
/// disabled wait at 0xF, the I/O-new PSW one at 0x10.
fn machine() -> Machine {
    let config = Config {
        devices: vec![Device::VirtioNetCcw],
        ..Config::default()
    };
    let mut m = Machine::with_config(1 << 20, config).unwrap();
    m.load(0x1d0, &psw(DISABLED_WAIT, 0xF)).unwrap();
    m.load(0x1f0, &psw(DISABLED_WAIT, 0x10)).unwrap();
    m
}

#[test]
fn stsch_of_a_subchannel_that_does_not_exist_is_cc_3() {
    let mut m = machine();
    assert_eq!(exec(&mut m, &s(STSCH, 0), SID | 1, BLOCK), Ended::Cc(3));
    assert_eq!(exec(&mut m, &s(STSCH, 0), 0x0001_FFFF, BLOCK), Ended::Cc(3));
    // Subchannel set 1 does not exist.
    assert_eq!(exec(&mut m, &s(STSCH, 0), 0x0003_0000, BLOCK), Ended::Cc(3));
}

#[test]
fn stsch_on_a_machine_without_devices_is_cc_3() {
    let mut m = Machine::new(1 << 20);
    m.load(0x1d0, &psw(DISABLED_WAIT, 0xF)).unwrap();
    assert_eq!(exec(&mut m, &s(STSCH, 0), SID, BLOCK), Ended::Cc(3));
}

#[test]
fn stsch_stores_the_schib_of_the_virtio_device_with_a_valid_device_number_and_one_path() {
    let mut m = machine();
    m.load(BLOCK, &[0xAA; 52]).unwrap();
    assert_eq!(exec(&mut m, &s(STSCH, 0), SID, BLOCK), Ended::Cc(0));
    let schib = bytes_at(&m, BLOCK, 52);
    assert_eq!(u16_at(&m, BLOCK + 4), 0x0001, "DNV only, disabled");
    assert_eq!(u16_at(&m, BLOCK + 6), 0, "device number 0");
    assert_eq!(schib[11], 0x80, "one path installed");
    assert_eq!(schib[16], 0, "CHPID 0");
    assert_eq!(&schib[28..52], &[0; 24], "no status, no measurement block");
}

#[test]
fn a_subsystem_id_without_the_one_bit_is_an_operand_exception() {
    let mut m = machine();
    assert_eq!(
        exec(&mut m, &s(STSCH, 0), 0x0000_FFFF, BLOCK),
        Ended::Program(OPERAND)
    );
    assert_eq!(
        exec(&mut m, &s(TSCH, 0), 0x0000_0000, BLOCK),
        Ended::Program(OPERAND)
    );
    assert_eq!(
        exec(&mut m, &s(CSCH, 0), 0x0000_0000, 0),
        Ended::Program(OPERAND)
    );
}

#[test]
fn a_cssid_without_the_m_bit_is_an_operand_exception() {
    let mut m = machine();
    assert_eq!(
        exec(&mut m, &s(STSCH, 0), 0x0101_0000, BLOCK),
        Ended::Program(OPERAND)
    );
}

#[test]
fn io_control_blocks_off_a_word_boundary_are_specification_exceptions() {
    let mut m = machine();
    for op in [MSCH, SSCH, STSCH, TSCH, STCRW, TPI] {
        for offset in [1, 2] {
            let ended = exec(&mut m, &s(op, offset), SID, BLOCK);
            assert_eq!(
                ended,
                Ended::Program(Code::SPECIFICATION),
                "{op:#x}+{offset}"
            );
        }
    }
}

#[test]
fn io_instructions_are_privileged() {
    let mut m = machine();
    m.load(CODE, &s(STSCH, 0)).unwrap();
    m.cpu.psw.mask = BITS64 | PROBLEM;
    m.cpu.psw.addr = CODE;
    m.cpu.gpr[1] = SID;
    m.cpu.gpr[2] = BLOCK;
    m.run(Some(1), &mut ());
    assert_eq!(Code(u16_at(&m, 0x8E)), Code::PRIVILEGED_OPERATION);
}

#[test]
fn msch_enables_the_subchannel_with_its_interruption_subclass() {
    let mut m = machine();
    enable(&mut m);
    assert_eq!(exec(&mut m, &s(STSCH, 0), SID, 0x34000), Ended::Cc(0));
    assert_eq!(u16_at(&m, 0x34004), 0x0081 | ISC << 11);
}

#[test]
fn msch_refuses_reserved_pmcw_flags_with_an_operand_exception_and_changes_nothing() {
    for bit in [0, 1, 6, 7] {
        let mut m = machine();
        exec(&mut m, &s(STSCH, 0), SID, BLOCK);
        m.load(BLOCK + 4, &(0x0001u16 | 0x8000 >> bit).to_be_bytes())
            .unwrap();
        assert_eq!(
            exec(&mut m, &s(MSCH, 0), SID, BLOCK),
            Ended::Program(OPERAND),
            "bit {bit}"
        );
        exec(&mut m, &s(STSCH, 0), SID, BLOCK);
        assert_eq!(u16_at(&m, BLOCK + 4), 0x0001);
    }
}

#[test]
fn msch_ignores_pmcw_bit_5_and_stsch_stores_it_zero() {
    let mut m = machine();
    exec(&mut m, &s(STSCH, 0), SID, BLOCK);
    m.load(BLOCK + 4, &0x0401u16.to_be_bytes()).unwrap();
    assert_eq!(exec(&mut m, &s(MSCH, 0), SID, BLOCK), Ended::Cc(0));
    exec(&mut m, &s(STSCH, 0), SID, BLOCK);
    assert_eq!(u16_at(&m, BLOCK + 4) & 0x0400, 0);
}

#[test]
fn msch_refuses_a_format_1_measurement_block_off_a_64_byte_boundary() {
    let mut m = machine();
    exec(&mut m, &s(STSCH, 0), SID, BLOCK);
    m.load(BLOCK + 24, &4u32.to_be_bytes()).unwrap();
    m.load(BLOCK + 40, &0x5001u64.to_be_bytes()).unwrap();
    assert_eq!(
        exec(&mut m, &s(MSCH, 0), SID, BLOCK),
        Ended::Program(OPERAND)
    );
}

#[test]
fn ssch_sense_id_stores_the_virtio_control_unit_type_and_raises_an_io_interruption() {
    let mut m = machine();
    enable(&mut m);
    let ended = start(&mut m, &ccw1(SENSE_ID, SLI, 256, DATA as u32), 0);
    assert_eq!(ended, Ended::Cc(0));
    assert_eq!(bytes_at(&m, DATA, 8), [0xFF, 0x38, 0x32, 0x01, 0, 0, 0, 0]);
    // Enabled for I/O with subclass 3: the interruption is taken at once.
    m.cpu.cr[6] = 0x10 << 24;
    m.cpu.psw.mask = BITS64 | IO;
    m.run(Some(1), &mut ());
    assert_eq!(m.cpu.psw.addr, 0x10, "I/O new PSW loaded");
    assert_eq!(
        u32_at(&m, 0xB8),
        0x0001_0000,
        "subsystem-identification word"
    );
    assert_eq!(u32_at(&m, 0xBC), 0x1234_5678, "interruption parameter");
    assert_eq!(u32_at(&m, 0xC0), 3 << 27, "subclass 3");
    assert_eq!(
        u64::from_be_bytes(bytes_at(&m, 0x170, 8).try_into().unwrap()),
        BITS64 | IO
    );
    assert!(!m.services.css.io_pending());
}

#[test]
fn tsch_stores_the_irb_with_primary_and_secondary_status_and_clears_it() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(SENSE_ID, SLI, 256, DATA as u32), 0);
    let (cc, ctrl, dstat, cstat, count) = test(&mut m);
    assert_eq!(cc, Ended::Cc(0));
    assert_eq!(
        ctrl,
        0x4000 | 0x0004 | 0x0002 | 0x0001,
        "start; primary, secondary, pending"
    );
    assert_eq!((dstat, cstat, count), (0x0C, 0, 0));
    assert_eq!(u32_at(&m, 0x33004), CCWS as u32 + 8, "CCW address");
    assert!(!m.services.css.io_pending(), "TSCH clears the interruption");
    let (cc, ctrl, ..) = test(&mut m);
    assert_eq!((cc, ctrl), (Ended::Cc(1), 0));
}

#[test]
fn a_short_sense_id_with_sli_leaves_a_residual_count_and_no_incorrect_length() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(SENSE_ID, SLI, 300, DATA as u32), 0);
    let (_, _, dstat, cstat, count) = test(&mut m);
    assert_eq!((dstat, cstat, count), (0x0C, 0, 44));
}

#[test]
fn a_sense_id_of_the_wrong_length_without_sli_is_incorrect_length() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(SENSE_ID, 0, 8, DATA as u32), 0);
    let (_, ctrl, dstat, cstat, count) = test(&mut m);
    assert_eq!((dstat, cstat, count), (0x0C, 0x40, 0));
    assert_ne!(ctrl & 0x0010, 0, "alert status");
}

#[test]
fn ssch_on_a_subchannel_that_is_not_enabled_is_cc_3() {
    let mut m = machine();
    assert_eq!(start(&mut m, &ccw1(NOOP, 0, 1, 0), 0), Ended::Cc(3));
}

#[test]
fn tsch_of_a_subchannel_that_is_not_enabled_is_cc_3() {
    let mut m = machine();
    assert_eq!(exec(&mut m, &s(TSCH, 0), SID, 0x33000), Ended::Cc(3));
}

#[test]
fn ssch_while_status_is_pending_is_cc_1() {
    let mut m = machine();
    enable(&mut m);
    assert_eq!(start(&mut m, &ccw1(NOOP, 0, 1, 0), 0), Ended::Cc(0));
    assert_eq!(start(&mut m, &ccw1(NOOP, 0, 1, 0), 0), Ended::Cc(1));
}

#[test]
fn msch_while_status_is_pending_is_cc_1() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(NOOP, 0, 1, 0), 0);
    assert_eq!(exec(&mut m, &s(MSCH, 0), SID, BLOCK), Ended::Cc(1));
}

#[test]
fn an_orb_with_reserved_bits_is_an_operand_exception() {
    let mut m = machine();
    enable(&mut m);
    m.load(0x32000, &[0xFF; 32]).unwrap();
    assert_eq!(
        exec(&mut m, &s(SSCH, 0), SID, 0x32000),
        Ended::Program(OPERAND)
    );
}

#[test]
fn a_tic_to_a_tic_is_a_channel_program_check() {
    let mut m = machine();
    enable(&mut m);
    let mut ccws = ccw1(TIC, 0, 0, CCWS as u32 + 8);
    ccws.extend(ccw1(TIC, 0, 0, CCWS as u32));
    start(&mut m, &ccws, 0);
    let (_, _, dstat, cstat, _) = test(&mut m);
    assert_eq!((dstat, cstat), (0, 0x20));
}

#[test]
fn a_looping_chain_of_nops_ends_after_max_ccws_with_a_program_check() {
    let mut m = machine();
    enable(&mut m);
    let mut ccws = ccw1(NOOP, CC, 0, 0);
    ccws.extend(ccw1(TIC, 0, 0, CCWS as u32));
    start(&mut m, &ccws, 0);
    let (cc, _, _, cstat, _) = test(&mut m);
    assert_eq!((cc, cstat), (Ended::Cc(0), 0x20));
    // The check ends the chain at the CCW one past the bound (the CCW
    // address in the SCSW is 8 past it).
    let one_too_many = CCWS as u32 + 8 * (MAX_CCWS as u32 % 2);
    assert_eq!(u32_at(&m, 0x33004), one_too_many + 8);
}

#[test]
fn a_channel_program_outside_storage_is_a_program_check() {
    let mut m = machine();
    enable(&mut m);
    let mut orb = vec![0; 4];
    orb.extend_from_slice(&[0x00, 0x80, 0x80, 0]);
    orb.extend_from_slice(&0x7FFF_FFF8u32.to_be_bytes());
    m.load(0x32000, &orb).unwrap();
    assert_eq!(exec(&mut m, &s(SSCH, 0), SID, 0x32000), Ended::Cc(0));
    let (_, _, _, cstat, _) = test(&mut m);
    assert_eq!(cstat, 0x20);
}

#[test]
fn a_data_area_outside_storage_is_a_program_check() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(SENSE_ID, SLI, 256, 0x7FFF_FF00), 0);
    let (_, _, _, cstat, _) = test(&mut m);
    assert_eq!(cstat, 0x20);
}

#[test]
fn sense_id_through_format_1_idaws_fills_each_2k_block() {
    let mut m = machine();
    enable(&mut m);
    // The data starts 4 bytes before a 2K boundary; the second IDAW
    // designates another block.
    let idal = [
        (DATA as u32 + 0x7FC).to_be_bytes(),
        0x5_0000u32.to_be_bytes(),
    ]
    .concat();
    m.load(0x35000, &idal).unwrap();
    start(&mut m, &ccw1(SENSE_ID, SLI | IDA, 8, 0x35000), 0);
    assert_eq!(bytes_at(&m, DATA + 0x7FC, 4), [0xFF, 0x38, 0x32, 0x01]);
    assert_eq!(bytes_at(&m, 0x5_0000, 4), [0; 4]);
    let (_, _, dstat, cstat, count) = test(&mut m);
    assert_eq!((dstat, cstat, count), (0x0C, 0, 0));
}

#[test]
fn an_idaw_off_a_block_boundary_after_the_first_is_a_program_check() {
    let mut m = machine();
    enable(&mut m);
    let idal = [
        (DATA as u32 + 0x7FC).to_be_bytes(),
        0x5_0010u32.to_be_bytes(),
    ]
    .concat();
    m.load(0x35000, &idal).unwrap();
    start(&mut m, &ccw1(SENSE_ID, SLI | IDA, 8, 0x35000), 0);
    let (_, _, _, cstat, _) = test(&mut m);
    assert_eq!(cstat, 0x20);
}

#[test]
fn tpi_with_a_zero_address_stores_the_interruption_code_in_the_lowcore_and_takes_it() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(NOOP, 0, 1, 0), 0);
    m.cpu.cr[6] = 0x10 << 24;
    let cr6 = m.cpu.cr[6];
    assert_eq!(exec(&mut m, &[0xB2, TPI, 0, 0], 0, 0), Ended::Cc(1));
    assert_eq!(u32_at(&m, 0xB8), 0x0001_0000);
    assert_eq!(u32_at(&m, 0xBC), 0x1234_5678);
    assert_eq!(u32_at(&m, 0xC0), 3 << 27);
    m.cpu.cr[6] = cr6;
    assert_eq!(exec(&mut m, &[0xB2, TPI, 0, 0], 0, 0), Ended::Cc(0));
}

#[test]
fn tpi_takes_no_interruption_of_a_subclass_cr6_disables() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(NOOP, 0, 1, 0), 0);
    m.cpu.cr[6] = 0x80 << 24;
    assert_eq!(exec(&mut m, &s(TPI, 0), 0, BLOCK), Ended::Cc(0));
    assert!(m.services.css.io_pending());
}

#[test]
fn tpi_with_an_address_stores_two_words() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(NOOP, 0, 1, 0), 0);
    m.cpu.cr[6] = 0xFF << 24;
    m.load(BLOCK, &[0xAA; 12]).unwrap();
    assert_eq!(exec(&mut m, &s(TPI, 0), 0, BLOCK), Ended::Cc(1));
    assert_eq!(
        bytes_at(&m, BLOCK, 12),
        [0, 1, 0, 0, 0x12, 0x34, 0x56, 0x78, 0xAA, 0xAA, 0xAA, 0xAA]
    );
}

#[test]
fn stcrw_without_a_crw_stores_zero_with_cc_1() {
    let mut m = machine();
    m.load(BLOCK, &[0xAA; 4]).unwrap();
    assert_eq!(exec(&mut m, &s(STCRW, 0), 0, BLOCK), Ended::Cc(1));
    assert_eq!(u32_at(&m, BLOCK), 0);
}

#[test]
fn rchp_of_the_installed_path_queues_a_solicited_channel_path_crw() {
    let mut m = machine();
    assert_eq!(exec(&mut m, &[0xB2, RCHP, 0, 0], 0, 0), Ended::Cc(0));
    assert_eq!(exec(&mut m, &s(STCRW, 0), 0, BLOCK), Ended::Cc(0));
    assert_eq!(u32_at(&m, BLOCK), 0x4402_0000);
    assert_eq!(exec(&mut m, &s(STCRW, 0), 0, BLOCK), Ended::Cc(1));
}

#[test]
fn rchp_of_a_path_not_installed_is_cc_3_and_a_cssid_is_an_operand_exception() {
    let mut m = machine();
    assert_eq!(exec(&mut m, &[0xB2, RCHP, 0, 0], 1, 0), Ended::Cc(3));
    assert_eq!(
        exec(&mut m, &[0xB2, RCHP, 0, 0], 0x0001_0000, 0),
        Ended::Program(OPERAND)
    );
}

#[test]
fn schm_refuses_reserved_bits_and_an_unaligned_origin() {
    let mut m = machine();
    assert_eq!(
        exec(&mut m, &[0xB2, SCHM, 0, 0], 0xFFFF_FFFC, 0),
        Ended::Program(OPERAND)
    );
    assert_eq!(
        exec(&mut m, &[0xB2, SCHM, 0, 0], 2, 1),
        Ended::Program(OPERAND)
    );
    assert_eq!(exec(&mut m, &[0xB2, SCHM, 0, 0], 2, 0), Ended::Cc(0));
}

#[test]
fn ssch_counts_in_the_format_0_measurement_block_at_the_subchannel_index() {
    let mut m = machine();
    exec(&mut m, &[0xB2, SCHM, 0, 0], 2, 0x36000);
    exec(&mut m, &s(STSCH, 0), SID, BLOCK);
    m.load(BLOCK + 4, &(0x0091u16 | ISC << 11).to_be_bytes())
        .unwrap();
    m.load(BLOCK + 12, &1u16.to_be_bytes()).unwrap();
    assert_eq!(exec(&mut m, &s(MSCH, 0), SID, BLOCK), Ended::Cc(0));
    for _ in 0..3 {
        start(&mut m, &ccw1(NOOP, 0, 1, 0), 0);
        test(&mut m);
    }
    assert_eq!(u16_at(&m, 0x36000), 0);
    assert_eq!(u16_at(&m, 0x36020), 3);
}

#[test]
fn hsch_and_csch_make_status_pending_with_their_function() {
    let mut m = machine();
    enable(&mut m);
    assert_eq!(exec(&mut m, &s(HSCH, 0), SID, 0), Ended::Cc(0));
    let (cc, ctrl, ..) = test(&mut m);
    assert_eq!((cc, ctrl & 0x7001), (Ended::Cc(0), 0x2001));
    assert_eq!(exec(&mut m, &s(CSCH, 0), SID, 0), Ended::Cc(0));
    let (cc, ctrl, ..) = test(&mut m);
    assert_eq!((cc, ctrl & 0x7001), (Ended::Cc(0), 0x1001));
}

#[test]
fn rsch_and_xsch_without_a_suspended_program_are_cc_2() {
    let mut m = machine();
    enable(&mut m);
    assert_eq!(exec(&mut m, &s(RSCH, 0), SID, 0), Ended::Cc(2));
    assert_eq!(exec(&mut m, &s(XSCH, 0), SID, 0), Ended::Cc(2));
}

#[test]
fn a_suspended_program_resumes_with_rsch() {
    let mut m = machine();
    enable(&mut m);
    // Suspend flag on the NOOP; the ORB allows suspension.
    start(&mut m, &ccw1(NOOP, 0x02, 1, 0), 0x0800);
    assert!(!m.services.css.io_pending());
    m.load(CCWS, &ccw1(NOOP, 0, 1, 0)).unwrap();
    assert_eq!(exec(&mut m, &s(RSCH, 0), SID, 0), Ended::Cc(0));
    let (cc, _, dstat, ..) = test(&mut m);
    assert_eq!((cc, dstat), (Ended::Cc(0), 0x0C));
}

#[test]
fn chsc_store_channel_subsystem_characteristics_answers_as_qemu() {
    let mut m = machine();
    let request = [0x00, 0x10, 0x00, 0x10]
        .iter()
        .chain([0u8; 12].iter())
        .copied()
        .collect::<Vec<_>>();
    m.load(0x37000, &request).unwrap();
    assert_eq!(
        exec(&mut m, &[0xB2, 0x5F, 0x00, 0x20], 0, 0x37000),
        Ended::Cc(0)
    );
    assert_eq!(u16_at(&m, 0x37010), 4080, "response length");
    assert_eq!(u16_at(&m, 0x37012), 1, "command executed");
    assert_eq!(u32_at(&m, 0x37018), 0x0300_0000);
}

#[test]
fn chsc_off_a_page_boundary_is_a_specification_exception() {
    let mut m = machine();
    assert_eq!(
        exec(&mut m, &[0xB2, 0x5F, 0x00, 0x20], 0, 0x37008),
        Ended::Program(Code::SPECIFICATION)
    );
}

#[test]
fn an_enabled_wait_with_an_io_interruption_of_a_disabled_subclass_never_ends() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(NOOP, 0, 1, 0), 0);
    m.cpu.cr[6] = 0;
    m.cpu.psw.mask = BITS64 | IO | WAIT;
    let stop = m.run(Some(10), &mut ()).stop;
    assert!(matches!(stop, Stop::EnabledWaitForever { .. }), "{stop:?}");
}

#[test]
fn an_enabled_wait_ends_with_the_pending_io_interruption() {
    let mut m = machine();
    enable(&mut m);
    start(&mut m, &ccw1(NOOP, 0, 1, 0), 0);
    m.cpu.cr[6] = 0x10 << 24;
    m.cpu.psw.mask = BITS64 | IO | WAIT;
    let stop = m.run(Some(10), &mut ()).stop;
    assert!(
        matches!(stop, Stop::DisabledWait { psw } if psw.addr == 0x10),
        "{stop:?}"
    );
    assert_ne!(
        u64::from_be_bytes(bytes_at(&m, 0x170, 8).try_into().unwrap()) & WAIT,
        0
    );
}
