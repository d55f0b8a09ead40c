//! VECTOR LOAD TO BLOCK BOUNDARY in translated code under the host MMU
//! (glibc's string functions): 16 bytes that end at or before the next
//! `64 << M3`-byte boundary are two doubleword loads without a host call;
//! nearer the boundary (PoP "VECTOR LOAD TO BLOCK BOUNDARY": only the
//! bytes up to it are accessed), with the vector facility disabled, at an
//! access exception or an address the shadow does not map, the slow path
//! gives the interpreter's registers, V1 unchanged at an exception.

mod common;

use common::paged::{interruption, paged_machine, run_paged, INVALID};
use zmmu_machine::Machine;

/// `vlbb v1,0(r2),6 ; vlbb v2,0(r3),0 ; vlbb v17,0(r4),3` then an invalid
/// opcode.
const PROGRAM: [u8; 24] = [
    0xe7, 0x10, 0x20, 0x00, 0x60, 0x07, 0xe7, 0x20, 0x30, 0x00, 0x00, 0x07, 0xe7, 0x10, 0x40, 0x00,
    0x38, 0x07, 0, 0, 0, 0, 0x07, 0x07,
];

/// CR0 bit 46: vector enablement.
const VECTOR: u64 = 1 << 17;

/// Runs the program with R2, R3, R4 = `regs`, the vector registers
/// nonzero, and CR0's vector bit from `vector`, on both engines: the
/// reference and the VLBBs the kvm engine ran other than in translated
/// code.
fn run(regs: [u64; 3], vector: bool) -> Option<(Machine, u64)> {
    let build = || {
        let mut machine = paged_machine(&PROGRAM, |gpr| gpr[2..5].copy_from_slice(&regs));
        if vector {
            machine.cpu.cr[0] |= VECTOR;
        }
        for (i, v) in machine.cpu.vr.iter_mut().enumerate() {
            *v = [0x5555_0000 + i as u64, !(i as u64)];
        }
        machine
    };
    run_paged(build, &["VLBB"], &format!("{regs:x?}, vector {vector}"))
}

#[test]
fn sixteen_bytes_before_the_boundary_load_in_translated_code() {
    // 16 bytes ending at the 4 KiB, 64-byte and 512-byte boundary; in
    // the page of another's frame.
    for regs in [
        [0x2_1ff0, 0x2_2030, 0x2_35f0],
        [0x2_4000, 0x3_1008, 0x2_5123],
    ] {
        let Some((reference, calls)) = run(regs, true) else {
            return;
        };
        assert_eq!(interruption(&reference), 1, "{regs:x?}: the end");
        assert_eq!(calls, 0, "{regs:x?}: VLBB in translated code");
    }
}

#[test]
fn nearer_the_boundary_disabled_or_at_an_exception_the_slow_path_is_the_interpreters() {
    // Fewer than 16 bytes to each boundary; the vector facility off (a
    // data exception); an invalid page; 2^47.
    let cases = [
        ([0x2_1ff8, 0x2_2031, 0x2_35f1], true, 1),
        ([0x2_1000, 0x2_2000, 0x2_3000], false, 7),
        ([INVALID + 0x10, 0x2_2000, 0x2_3000], true, 0x11),
        ([0x2_1000, 1 << 47, 0x2_3000], true, 0x38),
    ];
    for (regs, vector, code) in cases {
        let Some((reference, calls)) = run(regs, vector) else {
            return;
        };
        assert_eq!(interruption(&reference), code, "{regs:x?}");
        assert!(calls >= 1, "{regs:x?}: the slow path");
    }
}
