//! The jit's form of docs/CHOICES.md §64c: LOAD CONTROL of the
//! address-space-control elements only (CR1, CR7, CR13: Linux's switch
//! between the kernel's and a process's ASCE) goes on in the run without
//! returning to the machine; one that loads any other control register
//! (the interruption masks, the timers' subclass masks) returns to it
//! right after, so the machine sees what it enabled.

use zmmu_jit::Jit;
use zmmu_mmu::prelude::*;

mod common;
use common::DATA;

/// `lctlg %cR1,%cR3,0(%r3)`; `ahi %r2,1`; (0), with the current CR0 and
/// zeros for the others at DATA (r3): how many instructions the first
/// run of the jit ran and r2 after it.
fn run(r1: u8, r3: u8) -> (u64, u64) {
    let code = [
        0xeb,
        r1 << 4 | r3,
        0x30,
        0x00,
        0x00,
        0x2f,
        0xa7,
        0x2a,
        0x00,
        0x01,
        0,
        0,
    ];
    let (mut cpu, mut bus) = common::machine(0x10000, &code, &[0; 128], |cpu| {
        cpu.gpr[3] = DATA;
    });
    let cr0 = cpu.cr[0].to_be_bytes();
    let at = (16 - u64::from(r1)) % 16 * 8;
    bus.storage
        .write(AbsoluteAddress::new(DATA + at), &cr0)
        .unwrap();
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let ran = jit.run(&mut cpu, &mut bus, 20);
    (ran.instructions, cpu.gpr[2])
}

#[test]
fn loading_only_asces_goes_on_in_the_run() {
    for (r1, r3) in [(1, 1), (7, 7), (13, 13)] {
        assert_eq!(run(r1, r3), (3, 1), "lctlg %c{r1},%c{r3}");
    }
}

#[test]
fn loading_any_other_control_register_returns_to_the_machine() {
    // CR0 (reloaded unchanged), CR6, the range 7-13 (8-12 in it), and
    // 13-1 wrapping through 14, 15 and 0.
    for (r1, r3) in [(0, 0), (6, 6), (7, 13), (13, 1)] {
        assert_eq!(run(r1, r3), (1, 0), "lctlg %c{r1},%c{r3}");
    }
}
