//! MVCOS completed in the VM (Linux's copy_to_user, copy_from_user and
//! clear_user: a move whose operands each name their address space): the
//! image walks each operand's DAT tables through its absolute window and
//! moves between frames the host listed after its own MVCOS there.
//! Registers, condition codes, stores, storage keys, exceptions and the
//! translated code a move reaches are the interpreter's.

mod common;

use common::{assert_same, bytes_at, in_vm, on_both, program_machine, write_words};
use zmmu_cpu::state::mask;
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::control::Cr0;
use zmmu_mmu::storage::Storage;

/// The frames of the operands: primary pages 0x50 and 0x51, secondary's,
/// home's.
const FRAMES: [u64; 6] = [0x8_0000, 0x8_1000, 0xa_0000, 0xa_1000, 0xb_0000, 0xb_1000];

/// `program` at 0x2000 run with DAT on in the primary-space mode, the
/// secondary-space control and low-address protection on, registers
/// `gprs` (register, value), over three address spaces:
/// - primary (CR1, segment table 0x10000, page table 0x11000): the first
///   MiB identical to real storage, but page 0x50 is frame 0x80000, 0x51
///   frame 0x81000, 0x60 frame 0x90000 DAT-protected, 0x70 invalid;
/// - secondary (CR7, 0x12000, 0x11800): page 0x50 is frame 0xa0000, 0x51
///   frame 0xa1000, the others invalid;
/// - home (CR13, 0x14000, 0x13000): page 0x50 is frame 0xb0000, 0x51 frame
///   0xb1000, the others invalid.
///
/// The operand frames hold bytes that differ from frame to frame.
fn in_spaces(program: &[u8], gprs: &[(usize, u64)]) -> Machine {
    let mut machine = program_machine(0x2000, program);
    let mut words = Vec::new();
    for (segments, pages) in [
        (0x1_0000, 0x1_1000),
        (0x1_2000, 0x1_1800),
        (0x1_4000, 0x1_3000),
    ] {
        words.extend((0..512).map(|s| (segments + 8 * s, 0x20)));
        words.push((segments, pages));
        words.extend((0..256).map(|p| (pages + 8 * p, 0x400)));
    }
    words.extend((0..256).map(|p| (0x1_1000 + 8 * p, p << 12)));
    for (pages, first) in [
        (0x1_1000, 0x8_0000),
        (0x1_1800, 0xa_0000),
        (0x1_3000, 0xb_0000),
    ] {
        words.push((pages + 8 * 0x50, first));
        words.push((pages + 8 * 0x51, first + 0x1000));
    }
    words.push((0x1_1000 + 8 * 0x60, 0x9_0000 | 0x200));
    words.push((0x1_1000 + 8 * 0x70, 0x400));
    for frame in FRAMES {
        words.extend((0..512).map(|i| {
            (
                frame + 8 * i,
                (frame << 20) ^ i.wrapping_mul(0x0101_0203_0507_0b0d),
            )
        }));
    }
    write_words(&mut machine, &words);
    let cpu = &mut machine.cpu;
    cpu.psw.mask |= mask::DAT;
    cpu.cr[0] |= (Cr0::SECONDARY_SPACE | Cr0::LOW_ADDRESS_PROTECTION).bits();
    (cpu.cr[1], cpu.cr[7], cpu.cr[13]) = (0x1_0000, 0x1_2000, 0x1_4000);
    for &(r, value) in gprs {
        cpu.gpr[r] = value;
    }
    machine
}

/// Whether the frame at `frame` holds the same bytes in both machines.
fn same_frame(machine: &Machine, reference: &Machine, frame: u64) -> bool {
    bytes_at(machine, frame, 4096) == bytes_at(reference, frame, 4096)
}

/// The storage key of the frame at `frame`.
fn key(machine: &Machine, frame: u64) -> u8 {
    let key = machine.bus.storage.key(AbsoluteAddress::new(frame));
    key.unwrap().value()
}

/// Turns of [`MOVES`].
const TURNS: u64 = 50;

/// `TURNS` times, with r4 and r5 from 0x50000 and r8 from 0x3000, each
/// turn 8 bytes on (12 for r8):
/// ```text
/// 2000 llilf r0,0x00830003 ; lghi r3,256
///      mvcos 0(r4),0x800(r5),r3     secondary <- primary, 256 bytes
///      ipm r6 ; st r6,0(r8)
/// 2018 llilf r0,0x00c30083 ; lgfi r3,5000
///      mvcos 0x10(r4),4(r5),r3      home <- secondary, 4096 bytes (cc 3), across pages
///      ipm r6 ; st r6,4(r8)
/// 2032 llilf r0,0x00030003 ; lghi r3,64
///      mvcos 8(r5),0(r5),r3         primary <- primary, overlapping
///      lghi r3,0
///      mvcos 0(r5),0x100(r5),r3     length 0
///      ipm r6 ; st r6,8(r8)
/// 2054 la r4,8(r4) ; la r5,8(r5) ; la r8,12(r8) ; brctg r1,0x2000
/// 2064 (invalid)
/// ```
const MOVES: [u8; 104] = [
    0xc0, 0x0f, 0x00, 0x83, 0x00, 0x03, 0xa7, 0x39, 0x01, 0x00, 0xc8, 0x30, 0x40, 0x00, 0x58, 0x00,
    0xb2, 0x22, 0x00, 0x60, 0x50, 0x60, 0x80, 0x00, 0xc0, 0x0f, 0x00, 0xc3, 0x00, 0x83, 0xc0, 0x31,
    0x00, 0x00, 0x13, 0x88, 0xc8, 0x30, 0x40, 0x10, 0x50, 0x04, 0xb2, 0x22, 0x00, 0x60, 0x50, 0x60,
    0x80, 0x04, 0xc0, 0x0f, 0x00, 0x03, 0x00, 0x03, 0xa7, 0x39, 0x00, 0x40, 0xc8, 0x30, 0x50, 0x08,
    0x50, 0x00, 0xa7, 0x39, 0x00, 0x00, 0xc8, 0x30, 0x50, 0x00, 0x51, 0x00, 0xb2, 0x22, 0x00, 0x60,
    0x50, 0x60, 0x80, 0x08, 0x41, 0x40, 0x40, 0x08, 0x41, 0x50, 0x50, 0x08, 0x41, 0x80, 0x80, 0x0c,
    0xa7, 0x17, 0xff, 0xd0, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn mvcos_between_the_three_spaces_completes_in_the_vm_as_the_interpreter() {
    let gprs = [(1, TURNS), (4, 0x5_0000), (5, 0x5_0000), (8, 0x3000)];
    let (reference, kvm) = on_both(|| in_spaces(&MOVES, &gprs), 100_000);
    // cc 0, 3 (4096 of 5000 bytes), 0 (length 0).
    assert_eq!(bytes_at(&reference, 0x3000, 12)[4] >> 4 & 3, 3);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    let results = 12 * TURNS as usize;
    assert_eq!(
        bytes_at(&machine, 0x3000, results),
        bytes_at(&reference, 0x3000, results),
        "the condition codes"
    );
    for frame in FRAMES {
        assert!(same_frame(&machine, &reference, frame), "frame {frame:#x}");
        assert_eq!(key(&machine, frame), key(&reference, frame), "{frame:#x}");
    }
    // Each frame's first move is the host's (it lists the frame), and a
    // batch's deadline may end a chain.
    let moves = in_vm(&engine, "MVCOS");
    assert!(moves >= 4 * TURNS - 20, "{moves} MVCOS completed in the VM");
}

/// Five turns of `mvcos 0(r4),0(r5),r3`, 16 bytes from primary 0x50800
/// to the primary address the list at 0x2800 gives each turn (r2):
/// ```text
/// 2000 lg r4,0(r2) ; lghi r0,0 ; lghi r3,16 ; mvcos 0(r4),0(r5),r3
///      la r2,8(r2) ; brctg r1,0x2000
/// 201c (invalid)
/// ```
const FAULTS: [u8; 32] = [
    0xe3, 0x40, 0x20, 0x00, 0x00, 0x04, 0xa7, 0x09, 0x00, 0x00, 0xa7, 0x39, 0x00, 0x10, 0xc8, 0x30,
    0x40, 0x00, 0x50, 0x00, 0x41, 0x20, 0x20, 0x08, 0xa7, 0x17, 0xff, 0xf4, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn protection_and_translation_exceptions_are_the_interpreters() {
    // The destinations before it are in frames the host lists, 0x200 in
    // frame 0 (outside the low-address-protected bytes). The last:
    // DAT-protected (page 0x60), low-address protected (0x100, in frame 0,
    // listed), an invalid page (0x70), and page 0x50 again (the program
    // ends at the invalid opcode).
    for last in [0x6_0000, 0x100, 0x7_0000, 0x5_0300] {
        let build = || {
            let mut machine = in_spaces(&FAULTS, &[(1, 5), (2, 0x2800), (5, 0x5_0800)]);
            let list = [0x5_0000, 0x200, 0x5_0100, 0x5_0200, last];
            let words: Vec<(u64, u64)> = (0x2800..).step_by(8).zip(list).collect();
            write_words(&mut machine, &words);
            machine
        };
        let (reference, kvm) = on_both(build, 1_000);
        let Some((machine, engine)) = kvm else {
            return;
        };
        assert_same(&machine, &reference);
        for frame in FRAMES {
            let case = format!("last {last:#x}, frame {frame:#x}");
            assert!(same_frame(&machine, &reference, frame), "{case}");
        }
        assert_eq!(
            bytes_at(&machine, 0x200, 16),
            bytes_at(&reference, 0x200, 16)
        );
        // The moves into frames the host listed are the image's; the
        // exception the host's to deliver.
        assert!(in_vm(&engine, "MVCOS") >= 2, "last {last:#x}");
        assert_eq!(reference.cpu.gpr[1], u64::from(last != 0x5_0300));
    }
}

/// Turns of [`PATCH`].
const PATCHES: u64 = 20;

/// Each turn stores `lghi r9,k ; nopr ; nopr` (k = 1 .. 20) at 0x2800
/// and moves it with MVCOS over the instruction at 0x2040 (the program's
/// own frame, which holds its translated code), then runs it and adds r9
/// to r7:
/// ```text
/// 2000 lghi r1,20 ; lghi r4,0x2040 ; lghi r5,0x2800 ; lghi r7,0
/// 2010 iihf r3,0xa7990001 ; iilf r3,0x07000700 ; llihl r11,1 ; lghi r0,0
/// 2024 stg r3,0(r5) ; lghi r2,8 ; mvcos 0(r4),0(r5),r2 ; j 0x2040
/// 2040 lghi r9,0 ; nopr ; nopr ; agr r7,r9 ; agr r3,r11 ; brctg r1,0x2024
/// 2054 (invalid)
/// ```
const PATCH: [u8; 88] = [
    0xa7, 0x19, 0x00, 0x14, 0xa7, 0x49, 0x20, 0x40, 0xa7, 0x59, 0x28, 0x00, 0xa7, 0x79, 0x00, 0x00,
    0xc0, 0x38, 0xa7, 0x99, 0x00, 0x01, 0xc0, 0x39, 0x07, 0x00, 0x07, 0x00, 0xa5, 0xbd, 0x00, 0x01,
    0xa7, 0x09, 0x00, 0x00, 0xe3, 0x30, 0x50, 0x00, 0x00, 0x24, 0xa7, 0x29, 0x00, 0x08, 0xc8, 0x20,
    0x40, 0x00, 0x50, 0x00, 0xa7, 0xf4, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xa7, 0x99, 0x00, 0x00, 0x07, 0x00, 0x07, 0x00, 0xb9, 0x08, 0x00, 0x79, 0xb9, 0x08, 0x00, 0x3b,
    0xa7, 0x17, 0xff, 0xea, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn an_mvcos_into_a_frame_holding_translated_code_drops_it_before_the_next_instruction() {
    let (reference, kvm) = on_both(|| in_spaces(&PATCH, &[]), 10_000);
    assert_eq!(reference.cpu.gpr[7], PATCHES * (PATCHES + 1) / 2);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(
        bytes_at(&machine, 0x2040, 8),
        bytes_at(&reference, 0x2040, 8)
    );
    // The host's move lists the frame, whose code it dropped; the next
    // block translated from it takes it out again: every move there is
    // the host's.
    assert_eq!(in_vm(&engine, "MVCOS"), 0);
}

/// 20 moves of 64 bytes from primary 0x51000 (frame 0x81000) to 0x50000
/// (frame 0x80000), then `sske r8,r6` with r8 = 0 on the destination's
/// frame (reference and change bits zero) and `rrbe r0,r7` on the
/// source's (reference bit zero), one move more, and `iske` of both:
/// ```text
/// 2000 lghi r0,0 ; lghi r1,20
/// 2008 lghi r3,64 ; mvcos 0(r4),0(r5),r3 ; brctg r1,0x2008
/// 2016 lghi r8,0 ; sske r8,r6 ; rrbe r0,r7 ; lghi r3,64
///      mvcos 0(r4),0(r5),r3 ; iske r9,r6 ; iske r10,r7
/// 2034 (invalid)
/// ```
const KEYS: [u8; 56] = [
    0xa7, 0x09, 0x00, 0x00, 0xa7, 0x19, 0x00, 0x14, 0xa7, 0x39, 0x00, 0x40, 0xc8, 0x30, 0x40, 0x00,
    0x50, 0x00, 0xa7, 0x17, 0xff, 0xfb, 0xa7, 0x89, 0x00, 0x00, 0xb2, 0x2b, 0x00, 0x86, 0xb2, 0x2a,
    0x00, 0x07, 0xa7, 0x39, 0x00, 0x40, 0xc8, 0x30, 0x40, 0x00, 0x50, 0x00, 0xb2, 0x29, 0x00, 0x96,
    0xb2, 0x29, 0x00, 0xa7, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn after_sske_and_rrbe_a_move_records_reference_and_change_again() {
    let gprs = [(4, 0x5_0000), (5, 0x5_1000), (6, 0x8_0000), (7, 0x8_1000)];
    let (reference, kvm) = on_both(|| in_spaces(&KEYS, &gprs), 1_000);
    // ISKE: the destination's R and C one again, the source's R.
    assert_eq!(reference.cpu.gpr[9] & 0x06, 0x06);
    assert_eq!(reference.cpu.gpr[10] & 0x04, 0x04);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(
        bytes_at(&machine, 0x8_0000, 64),
        bytes_at(&reference, 0x8_0000, 64)
    );
    assert!(in_vm(&engine, "MVCOS") >= 15);
}
