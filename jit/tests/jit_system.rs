//! Instructions the machine carries out (SIGNAL PROCESSOR, DIAGNOSE) and
//! STORE FACILITY LIST drop only the translated code they may store over
//! (`zmmu_machine::system::stores`): a loop of them keeps its blocks, as
//! kvm-unit-tests `exittime` runs millions of them.

mod common;

use common::disabled_wait_at;
use zmmu_jit::Jit;
use zmmu_machine::{Machine, Stop};

#[test]
fn a_loop_of_sigp_diagnose_and_stfl_keeps_its_translated_code() {
    let code: &[u8] = &[
        0xA7, 0x58, 0x03, 0xE8, // lhi %r5,1000
        0xAE, 0x24, 0x00, 0x15, // sigp %r2,%r4,0x15 (sense running status, to itself)
        0x83, 0x00, 0x00, 0x44, // diag 0,0,0x44
        0xB2, 0xB1, 0x00, 0x00, // stfl 0
        0xA7, 0x56, 0xFF, 0xFA, // brct %r5,sigp
        0xB2, 0xB2, 0x03, 0x00, // lpswe 0x300
    ];
    let mut m = Machine::new(1 << 20);
    m.load(0x20000, code).unwrap();
    disabled_wait_at(&mut m, 0x300, 0x77);
    m.start(0x20000);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let out = m.run_with(Some(100_000), &mut (), &mut jit);
    assert!(
        matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x77),
        "{:?}",
        out.stop
    );
    assert_eq!(out.instructions, 1 + 4 * 1000 + 1);
    assert_eq!(jit.stats().smc_invalidations, 0, "no block dropped");
}

/// STORE SUBCHANNEL (whose store the machine cannot bound for the jit:
/// `Stores::Anything`) over a routine the jit translated: the next call
/// runs the SCHIB's bytes (its interruption parameter, 0: an operation
/// exception), not the routine (PoP "Storage-Operand Consistency"). The
/// jit learns which of its frames the instruction wrote from the handle
/// it stored through (docs/CHOICES.md §69c).
#[test]
fn a_device_store_over_translated_code_drops_it() {
    let code: &[u8] = &[
        0xC0, 0x11, 0x00, 0x01, 0x00, 0x00, // lgfi %r1,0x10000 (subchannel 0.0.0000)
        0xC0, 0x21, 0x00, 0x02, 0x10, 0x00, // lgfi %r2,0x21000
        0xC0, 0xE5, 0x00, 0x00, 0x07, 0xFA, // brasl %r14,0x21000
        0xB2, 0x34, 0x20, 0x00, // stsch 0(%r2)
        0xC0, 0xE5, 0x00, 0x00, 0x07, 0xF5, // brasl %r14,0x21000
        0xB2, 0xB2, 0x03, 0x00, // lpswe 0x300
    ];
    let routine: &[u8] = &[
        0xA7, 0x79, 0x00, 0x01, // lghi %r7,1
        0x07, 0xFE, // br %r14
    ];
    let config = zmmu_machine::config::Config {
        devices: vec![zmmu_machine::config::Device::VirtioNetCcw],
        ..Default::default()
    };
    let mut m = Machine::with_config(1 << 20, config).unwrap();
    m.load(0x20000, code).unwrap();
    m.load(0x21000, routine).unwrap();
    disabled_wait_at(&mut m, 0x300, 0x77);
    // The program-new PSW: a disabled wait at 0xF.
    disabled_wait_at(&mut m, 0x1d0, 0xF);
    m.start(0x20000);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let out = m.run_with(Some(1000), &mut (), &mut jit);
    assert!(
        matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0xF),
        "{:?}",
        out.stop
    );
    assert_eq!(m.cpu.gpr[7], 1, "the routine ran once");
    assert!(
        jit.stats().smc_invalidations >= 1,
        "the routine's block dropped"
    );
}
