//! Linux's memset of zeros: EXECUTE RELATIVE LONG of `xc 0(1,r1),0(r1)`,
//! its length from a register, completed in the VM by the image, the
//! EXRL itself across a page boundary (a block of its own, made from the
//! bytes of both frames) and its clear across another between two pages
//! the host listed writable: x XOR x is zero whatever was read (PoP
//! "EXCLUSIVE OR"), so the store is made page by page. Registers, storage
//! and the condition code are the interpreter's.

mod common;

use common::{assert_same, bytes_at, in_vm, on_both, program_machine, write_words};
use zmmu_machine::Machine;

/// Turns of [`CLEAR`].
const TURNS: u64 = 200;
/// Where the cleared bytes start: r8 + r6, r6 in 0 .. 0x200.
const BASE: u64 = 0x5_0f00;
/// The bytes of the cleared area, across the boundary at 0x51000.
const AREA: usize = 0x300;

/// Each turn clears r7 + 1 bytes at r8 + r6, then steps r6 by 0x35 and r7
/// by 0x2b (modulo 0x200 and 0x100), the EXRL across the boundary at
/// 0x3000:
/// ```text
/// 2fe4 la r1,0(r6,r8) ; lgr r4,r7
///      la r6,0x35(r6) ; nill r6,0x1ff ; la r7,0x2b(r7) ; nill r7,0xff
/// 2ffc exrl r4,0x3040
/// 3002 brctg r5,0x2fe4
/// 3006 (invalid)
/// 3040 xc 0(1,r1),0(r1)
/// ```
const START: u64 = 0x2fe4;
const CLEAR: [u8; 36] = [
    0x41, 0x16, 0x80, 0x00, 0xb9, 0x04, 0x00, 0x47, 0x41, 0x60, 0x60, 0x35, 0xa5, 0x67, 0x01, 0xff,
    0x41, 0x70, 0x70, 0x2b, 0xa5, 0x77, 0x00, 0xff, 0xc6, 0x40, 0x00, 0x00, 0x00, 0x22, 0xa7, 0x57,
    0xff, 0xf1, 0x00, 0x00,
];
const TARGET: (u64, [u8; 6]) = (0x3040, [0xd7, 0x00, 0x10, 0x00, 0x10, 0x00]);

fn machine() -> Machine {
    let mut machine = program_machine(START, &CLEAR);
    let (at, target) = TARGET;
    let words: Vec<(u64, u64)> = (BASE..BASE + AREA as u64)
        .step_by(8)
        .map(|a| (a, a.wrapping_mul(0x0101_0203_0507_0b0d) | 1))
        .chain([(
            at,
            u64::from_be_bytes([
                target[0], target[1], target[2], target[3], target[4], target[5], 0, 0,
            ]),
        )])
        .collect();
    write_words(&mut machine, &words);
    let cpu = &mut machine.cpu;
    (cpu.gpr[5], cpu.gpr[6], cpu.gpr[7], cpu.gpr[8]) = (TURNS, 0, 0xf0, BASE);
    machine
}

/// The turns whose clear crosses the boundary at 0x51000.
fn crossing_turns() -> u64 {
    let (mut offset, mut len) = (0u64, 0xf0u64);
    let mut crossing = 0;
    for _ in 0..TURNS {
        let at = BASE + offset;
        crossing += u64::from(at >> 12 != (at + len) >> 12);
        (offset, len) = ((offset + 0x35) & 0x1ff, (len + 0x2b) & 0xff);
    }
    crossing
}

#[test]
fn an_executed_clear_across_pages_completes_in_the_vm_as_the_interpreter() {
    let (reference, kvm) = on_both(machine, 10 * TURNS);
    assert_eq!(reference.cpu.gpr[5], 0, "every turn ran");
    assert_eq!(
        bytes_at(&reference, BASE, 0xf1),
        vec![0; 0xf1],
        "the first turn's clear"
    );
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(
        bytes_at(&machine, BASE, AREA),
        bytes_at(&reference, BASE, AREA)
    );
    // The first clear across the boundary is the host's (it lists the
    // two pages writable); every other call is the image's.
    let crossing = crossing_turns();
    assert!(crossing >= TURNS / 4, "{crossing} turns cross");
    let completed = in_vm(&engine, "EXRL");
    assert!(
        completed >= TURNS - 5,
        "{completed} of {TURNS} EXRLs ({crossing} across pages) completed in the VM"
    );
}
