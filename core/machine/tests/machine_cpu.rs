//! The CPU as the machine runs it: SIGNAL PROCESSOR to itself, the stopped
//! state, store status, the restart interruption, the TOD clock, the clock
//! comparator and the CPU timer, and the kernel command line.

mod common;

use common::*;

use zmmu_cpu::interrupt::lowcore;
use zmmu_machine::config::{Config, COMMAND_LINE_ADDRESS};
use zmmu_machine::sigp::{status, STATUS_AREA};
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// `sigp %r2,%r4,ORDER` (R1 = 2, R3 = 4, D2 = order, B2 = 0).
fn sigp(order: u8) -> [u8; 4] {
    [0xAE, 0x24, 0x00, order]
}

/// `ipm %r6` (the condition code into bits 34-35 of R6).
const IPM_R6: [u8; 4] = [0xB2, 0x22, 0x00, 0x60];
/// `lpswe 0x100`: the disabled wait whose PSW the test put at 0x100.
const LPSWE_0X100: [u8; 4] = [0xB2, 0xB2, 0x01, 0x00];

/// Runs `sigp ORDER` to CPU address `target` with R2 = `r2` and the
/// parameter (R3, R1 + 1) `parameter`, then IPM and a disabled wait: the
/// final R2 and condition code.
fn signal_with(order: u8, target: u64, r2: u64, parameter: u64) -> (Machine, u64, u8) {
    let code = [sigp(order), IPM_R6, LPSWE_0X100].concat();
    let mut m = machine(&code);
    m.load(0x100, &psw(DISABLED_WAIT, 0x77)).unwrap();
    m.cpu.gpr[2] = r2;
    m.cpu.gpr[3] = parameter;
    m.cpu.gpr[4] = target;
    m.run(Some(100), &mut ());
    let cc = ((m.cpu.gpr[6] >> 28) & 3) as u8;
    let r2 = m.cpu.gpr[2];
    (m, r2, cc)
}

/// [`signal_with`] parameter 0.
fn signal(order: u8, target: u64, r2: u64) -> (Machine, u64, u8) {
    signal_with(order, target, r2, 0)
}

#[test]
fn sigp_set_architecture_is_refused_with_invalid_parameter_whatever_the_cpu_address() {
    for target in [0, 5] {
        let (_, r2, cc) = signal(0x12, target, 0xAAAA_AAAA_0000_0000);
        assert_eq!(cc, 1, "target {target}");
        assert_eq!(
            r2,
            0xAAAA_AAAA_0000_0000 | u64::from(status::INVALID_PARAMETER)
        );
    }
}

#[test]
fn sigp_to_a_cpu_address_that_does_not_exist_is_not_operational() {
    let (_, r2, cc) = signal(0x01, 1, 7);
    assert_eq!((cc, r2), (3, 7), "cc 3, R1 unchanged");
}

#[test]
fn sigp_sense_to_itself_is_accepted_while_operating() {
    let (_, _, cc) = signal(0x01, 0, 0);
    assert_eq!(cc, 0);
}

#[test]
fn sigp_with_an_unassigned_order_stores_invalid_order() {
    for order in [0x00, 0x07, 0x16, 0x40] {
        let (_, r2, cc) = signal(order, 0, 0xFFFF_FFFF_0000_0000);
        assert_eq!(
            (cc, r2),
            (1, 0xFFFF_FFFF_0000_0000 | u64::from(status::INVALID_ORDER)),
            "order {order:#x}"
        );
    }
}

#[test]
fn sigp_set_prefix_and_store_status_need_a_stopped_cpu() {
    for order in [0x0D, 0x0E] {
        let (_, r2, cc) = signal_with(order, 0, 0, 0x8000);
        assert_eq!(
            (cc, r2 as u32),
            (1, status::INCORRECT_STATE),
            "order {order:#x}"
        );
    }
    // A prefix area outside storage is an invalid parameter first.
    let (_, r2, cc) = signal_with(0x0D, 0, 0, 0x4000_0000);
    assert_eq!((cc, r2 as u32), (1, status::INVALID_PARAMETER));
}

#[test]
fn sigp_stop_to_itself_stops_the_cpu_once_the_sigp_has_completed() {
    let code = [sigp(0x05), IPM_R6].concat();
    let mut m = machine(&code);
    let out = m.run(Some(100), &mut ());
    assert!(matches!(out.stop, Stop::Stopped { psw } if psw.addr == CODE + 4));
    assert_eq!(out.instructions, 1, "nothing runs after the stop");
}

#[test]
fn sigp_stop_and_store_status_stores_the_registers_at_0x1200() {
    let mut m = machine(&sigp(0x09));
    m.cpu.gpr[7] = 0x0123_4567_89AB_CDEF;
    m.cpu.cr[5] = 0x55;
    m.cpu.ar[3] = 0x3333;
    let out = m.run(Some(100), &mut ());
    assert!(matches!(out.stop, Stop::Stopped { .. }));
    assert_eq!(
        u64_at(&m, STATUS_AREA + 0x80 + 7 * 8),
        0x0123_4567_89AB_CDEF
    );
    assert_eq!(u64_at(&m, STATUS_AREA + 0x180 + 5 * 8), 0x55);
    assert_eq!(u64_at(&m, STATUS_AREA + 0x148), 0x3333, "AR 2, AR 3");
    assert_eq!(
        u64_at(&m, STATUS_AREA + 0x108),
        CODE + 4,
        "PSW address past the SIGP"
    );
    let mut arch = [0u8];
    m.bus
        .storage
        .read(AbsoluteAddress::new(lowcore::ARCH_MODE_ID), &mut arch)
        .unwrap();
    assert_eq!(arch, [1], "z/Architecture mode");
}

#[test]
fn sigp_restart_to_itself_takes_a_restart_interruption_through_0x120_and_0x1a0() {
    let mut m = machine(&sigp(0x06));
    let out = m.run(Some(100), &mut ());
    assert!(matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0xA));
    assert_eq!(u64_at(&m, lowcore::RESTART_OLD_PSW + 8), CODE + 4);
}

#[test]
fn sigp_initial_cpu_reset_to_itself_clears_the_psw_and_stops_the_cpu() {
    let mut m = machine(&sigp(0x0B));
    m.cpu.gpr[9] = 9;
    m.cpu.cr[0] = 0x1234;
    let out = m.run(Some(100), &mut ());
    assert!(matches!(out.stop, Stop::Stopped { psw } if psw.addr == 0 && psw.mask == 0));
    assert_eq!(m.cpu.cr[0], 0xE0, "initial control-register values");
    assert_eq!(m.cpu.gpr[9], 9, "general registers are kept");
}

#[test]
fn store_clock_values_are_unique_and_increasing() {
    // stck 0x300 ; stck 0x308
    let code = [
        [0xB2, 0x05, 0x03, 0x00],
        [0xB2, 0x05, 0x03, 0x08],
        LPSWE_0X100,
    ]
    .concat();
    let mut m = machine(&code);
    m.load(0x100, &psw(DISABLED_WAIT, 0)).unwrap();
    m.run(Some(100), &mut ());
    assert!(u64_at(&m, 0x308) > u64_at(&m, 0x300));
}

#[test]
fn set_clock_sets_the_tod_clock_that_store_clock_then_reads() {
    // sck 0x300 ; stck 0x308
    let code = [
        [0xB2, 0x04, 0x03, 0x00],
        [0xB2, 0x05, 0x03, 0x08],
        LPSWE_0X100,
    ]
    .concat();
    let mut m = machine(&code);
    m.load(0x100, &psw(DISABLED_WAIT, 0)).unwrap();
    m.load(0x300, &0x1000_0000_0000_0000u64.to_be_bytes())
        .unwrap();
    m.run(Some(100), &mut ());
    let stored = u64_at(&m, 0x308);
    assert!(
        (0x1000_0000_0000_0000..0x1000_0000_0100_0000).contains(&stored),
        "{stored:#x}"
    );
}

/// An enabled wait PSW (external interruptions enabled) at 0x100.
fn enabled_wait(m: &mut Machine) {
    m.load(0x100, &psw(WAIT | EXT | BITS64, 0x999)).unwrap();
}

#[test]
fn the_clock_comparator_ends_an_enabled_wait_with_external_interruption_0x1004() {
    // stck 0x300 ; lg %r1,0x300 ; aghi %r1,4096 (1 µs) ; stg %r1,0x308 ;
    // sckc 0x308 ; lpswe 0x100 (enabled wait)
    let code = [
        vec![0xB2, 0x05, 0x03, 0x00],
        vec![0xE3, 0x10, 0x03, 0x00, 0x00, 0x04],
        vec![0xA7, 0x1B, 0x10, 0x00],
        vec![0xE3, 0x10, 0x03, 0x08, 0x00, 0x24],
        vec![0xB2, 0x06, 0x03, 0x08],
        LPSWE_0X100.to_vec(),
    ]
    .concat();
    let mut m = machine(&code);
    enabled_wait(&mut m);
    m.cpu.cr[0] |= 1 << (63 - 52); // clock-comparator subclass
    let out = m.run(Some(1000), &mut ());
    assert!(matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0xE));
    assert_eq!(u16_at(&m, lowcore::EXT_CODE), 0x1004);
    assert_eq!(
        u64_at(&m, lowcore::EXT_OLD_PSW + 8),
        0x999,
        "taken in the wait"
    );
}

#[test]
fn a_negative_cpu_timer_is_external_interruption_0x1005_when_its_subclass_is_enabled() {
    // spt 0x300 (timer 0: negative after the next unit) ; stpt 0x308 ; lpswe 0x100
    let code = [
        [0xB2, 0x08, 0x03, 0x00],
        [0xB2, 0x09, 0x03, 0x08],
        LPSWE_0X100,
    ]
    .concat();
    let mut m = machine(&code);
    enabled_wait(&mut m);
    m.cpu.cr[0] |= 1 << (63 - 53); // CPU-timer subclass
    let out = m.run(Some(1000), &mut ());
    assert!(matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0xE));
    assert_eq!(u16_at(&m, lowcore::EXT_CODE), 0x1005);
    assert!(
        (u64_at(&m, 0x308) as i64) <= 0,
        "STPT after SPT 0 stores a value that has counted down"
    );
}

#[test]
fn an_enabled_wait_with_no_timer_enabled_is_a_wait_nothing_can_end() {
    let mut m = machine(&LPSWE_0X100);
    enabled_wait(&mut m);
    let out = m.run(Some(100), &mut ());
    assert!(matches!(out.stop, Stop::EnabledWaitForever { .. }));
}

#[test]
fn the_command_line_is_stored_in_the_parm_area_as_qemus_loader_does() {
    let config = Config {
        command_line: Some("test 123".into()),
        ..Config::default()
    };
    let mut m = Machine::with_config(1 << 20, config).unwrap();
    m.start(CODE);
    let mut line = [0u8; 9];
    m.bus
        .storage
        .read(AbsoluteAddress::new(COMMAND_LINE_ADDRESS), &mut line)
        .unwrap();
    assert_eq!(&line, b"test 123\0");
    let long = Config {
        command_line: Some("x".repeat(896)),
        ..Config::default()
    };
    assert!(Machine::with_config(1 << 20, long).is_err());
}
