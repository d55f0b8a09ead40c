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
