//! Jump-cache misses resolved in the VM (docs/CHOICES.md 74): when the
//! dispatcher misses at a block already translated (a new address space
//! running code another one ran: Linux's processes), the image translates
//! the instruction fetch with the interpreter's DAT code and goes on at
//! the block the host published for that address, frame and PSW bits,
//! without a VM exit. The fetch is the interpreter's at each miss (PoP
//! ch. 3, "Dynamic Address Translation", "Instruction-Execution
//! Protection"): an exception is the host's to deliver, a new mapping
//! runs the new frame's bytes, a block whose bytes were stored into or
//! whose frame's key changed is never the image's, and a block crossing
//! into a page that translates otherwise is not taken.

mod common;

use common::{assert_same, on_both, program_machine};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// The ASCEs of the address spaces, one doubleword each.
const ASCES: u64 = 0x3000;

/// The page index (in the first MiB) the called code is at: 0x50000.
const CODE_PAGE: u64 = 0x50;

/// The segment table of space `space`: its first entry names the page
/// table [`page_table`], the others are invalid.
fn segment_table(space: u64) -> u64 {
    0x80000 + space * 0x1000
}

/// The page table of space `space` (256 entries, the first MiB, where
/// the tables are too).
fn page_table(space: u64) -> u64 {
    0x98000 + space * 0x800
}

/// CR0 bit 43: instruction-execution protection (facility 130).
const CR0_IEP: u64 = 0x0010_0000;

/// A page-table entry's invalid bit.
const PTE_INVALID: u64 = 0x400;

/// A page-table entry's instruction-execution-protection bit.
const PTE_IEP: u64 = 0x100;

/// `aghi r9,1 ; br r14`.
const ADD_ONE: [u8; 6] = [0xa7, 0x9b, 0x00, 0x01, 0x07, 0xfe];

/// `aghi r9,16 ; br r14`.
const ADD_SIXTEEN: [u8; 6] = [0xa7, 0x9b, 0x00, 0x10, 0x07, 0xfe];

/// `lctlg c1,c1,8*space(r2)`: space `space`'s ASCE into CR1.
fn space(space: u8) -> Vec<u8> {
    vec![0xeb, 0x11, 0x20, 8 * space, 0x00, 0x2f]
}

/// `basr r14,r5`: calls the code at r5.
const CALL: [u8; 2] = [0x0d, 0xe5];

/// `lghi r2,0x3000 ; lctlg c1,c1,0(r2) ; stosm 0xf00,4` (DAT on, space
/// 0) ; `lghi r9,0 ; lgfi r5,target ; lgfi r6,0x60000 ; lgfi r7,page
/// table of space 0 ; lgfi r10,0x50000`, then `body`, then an invalid
/// opcode (the program-new PSW is a disabled wait).
fn program(target: u32, body: &[u8]) -> Vec<u8> {
    let lgfi = |r: u8, value: u32| {
        let mut insn = vec![0xc0, r << 4 | 1];
        insn.extend(value.to_be_bytes());
        insn
    };
    let mut code = vec![0xa7, 0x29, 0x30, 0x00];
    code.extend(space(0));
    code.extend([0xad, 0x04, 0x0f, 0x00, 0xa7, 0x99, 0x00, 0x00]);
    code.extend(lgfi(5, target));
    code.extend(lgfi(6, 0x60000));
    code.extend(lgfi(7, page_table(0) as u32));
    code.extend(lgfi(10, 0x50000));
    code.extend(body);
    code.extend([0, 0]);
    code
}

/// A machine running `body` ([`program`]) with `spaces` address spaces,
/// each mapping the first MiB onto itself but for the entries `mapped`
/// gives (space, page index) -> page-table entry, and `frames` written.
fn machine(
    target: u32,
    body: &[u8],
    spaces: u64,
    mapped: impl Fn(u64, u64) -> Option<u64>,
    frames: &[(u64, &[u8])],
) -> Machine {
    let mut machine = program_machine(0x2000, &program(target, body));
    let storage = &mut machine.bus.storage;
    let mut put = |at: u64, value: u64| {
        storage.write_u64(AbsoluteAddress::new(at), value).unwrap();
    };
    for s in 0..spaces {
        put(ASCES + 8 * s, segment_table(s));
        for segment in 0..512 {
            let entry = if segment == 0 { page_table(s) } else { 0x20 };
            put(segment_table(s) + 8 * segment, entry);
        }
        for page in 0..256 {
            put(
                page_table(s) + 8 * page,
                mapped(s, page).unwrap_or(page << 12),
            );
        }
    }
    for &(at, bytes) in frames {
        storage.write(AbsoluteAddress::new(at), bytes).unwrap();
    }
    machine
}

/// Every space maps the code page onto frame 0x60000.
fn shared_code(_: u64, page: u64) -> Option<u64> {
    (page == CODE_PAGE).then_some(0x60000)
}

/// Runs `build` on both engines: the kvm engine's registers and
/// interruption fields are the interpreter's, and it resolved at least
/// `resolved` misses in the VM (where KVM is usable).
fn same_as_interpreter(build: impl Fn() -> Machine, resolved: u64) -> Machine {
    let (reference, kvm) = on_both(build, 100_000);
    if let Some((machine, engine)) = kvm {
        assert_same(&machine, &reference);
        let done = engine.resolved_in_vm();
        assert!(done >= resolved, "{done} misses resolved in the VM");
    }
    reference
}

/// The program-interruption code stored at real 0x8e.
fn interruption_code(machine: &Machine) -> u16 {
    let word = machine.bus.storage.read_u64(AbsoluteAddress::new(0x88));
    word.unwrap() as u16
}

/// Spaces in [`the_same_code_in_a_new_address_space_goes_on_in_the_vm`].
const SPACES: u64 = 16;

/// Each of 16 address spaces calls the code the first one ran, at the
/// same address in the same frame: its first call and the return into
/// the loop miss the jump cache (a new tag) and are resolved in the VM,
/// with no chain ending at a miss to a cached block.
#[test]
fn the_same_code_in_a_new_address_space_goes_on_in_the_vm() {
    // `lghi r1,15`, then 16 times: `sllg r3,r1,3 ; la r4,0(r3,r2) ;
    // lctlg c1,c1,0(r4)` (space r1), `basr r14,r5 ; brctg r1` back.
    let body = [
        0xa7, 0x19, 0x00, 0x0f, 0xeb, 0x31, 0x00, 0x03, 0x00, 0x0d, 0x41, 0x43, 0x20, 0x00, 0xeb,
        0x11, 0x40, 0x00, 0x00, 0x2f, 0x0d, 0xe5, 0xa7, 0x17, 0xff, 0xf7,
    ];
    let build = || machine(0x50000, &body, SPACES, shared_code, &[(0x60000, &ADD_ONE)]);
    let (reference, kvm) = on_both(build, 100_000);
    assert_eq!(reference.cpu.gpr[9], SPACES - 1);
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_same(&machine, &reference);
    // The call and the return in each space after the first.
    let resolved = engine.resolved_in_vm();
    assert!(
        resolved >= 2 * (SPACES - 2),
        "{resolved} misses resolved in the VM"
    );
    let cached = engine.reasons().misses_cached();
    assert!(
        cached <= 2,
        "{cached} chains ended at a miss to a cached block"
    );
}

/// Space 1's page-table entry of the code page is invalid: the call
/// there after space 0 ran the block is a page-translation exception
/// (the interpreter's interruption code, TEID and old PSW), not the
/// block.
#[test]
fn an_invalid_page_in_another_space_is_the_interpreters_exception() {
    let mut body = CALL.to_vec();
    body.extend(space(1));
    body.extend(CALL);
    let mapped = |s: u64, page: u64| (page == CODE_PAGE).then_some(0x60000 | (s * PTE_INVALID));
    let reference = same_as_interpreter(
        || machine(0x50000, &body, 2, mapped, &[(0x60000, &ADD_ONE)]),
        0,
    );
    assert_eq!(reference.cpu.gpr[9], 1);
    // A page-translation exception (code 0x11).
    assert_eq!(interruption_code(&reference), 0x11);
}

/// Space 1 maps the code page with instruction-execution protection on:
/// the call there is a protection exception, not the block space 0 ran.
#[test]
fn instruction_execution_protection_in_another_space_is_the_interpreters_exception() {
    let mut body = CALL.to_vec();
    body.extend(space(1));
    body.extend(CALL);
    let mapped = |s: u64, page: u64| (page == CODE_PAGE).then_some(0x60000 | (s * PTE_IEP));
    let build = || {
        let mut machine = machine(0x50000, &body, 2, mapped, &[(0x60000, &ADD_ONE)]);
        machine.cpu.cr[0] |= CR0_IEP;
        machine
    };
    let reference = same_as_interpreter(build, 0);
    assert_eq!(reference.cpu.gpr[9], 1);
    // A protection exception (code 0x04).
    assert_eq!(interruption_code(&reference), 0x04);
}

/// `ipte r7,r10` invalidates the code page's entry; a new entry maps it
/// onto frame 0x70000, whose bytes differ (`stg r11,0(r12)`); the call,
/// in another space and back, runs them: r9 = 1 + 16 + 16.
#[test]
fn a_page_mapped_anew_after_ipte_runs_the_new_frames_bytes() {
    let mut body = vec![
        0xc0, 0xb1, 0x00, 0x07, 0x00, 0x00, // lgfi r11,0x70000
        0xc0, 0xc1, 0x00, 0x09, 0x82, 0x80, // lgfi r12,0x98280 (the entry)
    ];
    body.extend(CALL);
    body.extend([0xb2, 0x21, 0x00, 0x7a]); // ipte r7,r10
    body.extend([0xe3, 0xb0, 0xc0, 0x00, 0x00, 0x24]); // stg r11,0(r12)
    body.extend(CALL);
    body.extend(space(1));
    body.extend(space(0));
    body.extend(CALL);
    let frames: [(u64, &[u8]); 2] = [(0x60000, &ADD_ONE), (0x70000, &ADD_SIXTEEN)];
    let reference = same_as_interpreter(|| machine(0x50000, &body, 2, shared_code, &frames), 0);
    assert_eq!(reference.cpu.gpr[9], 33);
}

/// `mvi 3(r5),2` stores into the code (its immediate) after space 0 ran
/// it; the call in space 1 runs the new bytes: r9 = 1 + 2.
#[test]
fn a_store_into_the_code_frame_is_seen_by_the_next_space() {
    let mut body = CALL.to_vec();
    body.extend([0x92, 0x02, 0x50, 0x03]);
    body.extend(space(1));
    body.extend(CALL);
    let reference = same_as_interpreter(
        || machine(0x50000, &body, 2, shared_code, &[(0x60000, &ADD_ONE)]),
        0,
    );
    assert_eq!(reference.cpu.gpr[9], 3);
}

/// After `key` (RRBE or SSKE) changes the key of the code's frame, a
/// call from another space fetches from it again: `iske r8,r6` then
/// gives the interpreter's reference bit (one).
fn key_change_then_call(key: [u8; 4]) {
    let mut body = CALL.to_vec();
    body.extend(key);
    body.extend(space(1));
    body.extend(CALL);
    body.extend([0xb2, 0x29, 0x00, 0x86]);
    let reference = same_as_interpreter(
        || machine(0x50000, &body, 2, shared_code, &[(0x60000, &ADD_ONE)]),
        0,
    );
    assert_eq!(reference.cpu.gpr[9], 2);
    assert_ne!(reference.cpu.gpr[8] & 0x04, 0, "the reference bit");
}

/// RESET REFERENCE BIT EXTENDED of the code's frame.
#[test]
fn a_reference_bit_reset_in_the_code_frame_is_set_by_the_next_fetch() {
    key_change_then_call([0xb2, 0x2a, 0x00, 0x06]);
}

/// SET STORAGE KEY EXTENDED of the code's frame (key 0, R and C zero:
/// r0 is 0 in every run).
#[test]
fn a_key_set_in_the_code_frame_is_followed_by_the_next_fetch() {
    key_change_then_call([0xb2, 0x2b, 0x00, 0x06]);
}

/// `aghi r9,imm` at 0x50ffe crosses into page 0x51000, whose frame
/// differs in each space (immediate 1 in 0x61000, 0x100 in 0x62000); `br
/// r14` follows there. Each space runs its own bytes: r9 = 0x101.
#[test]
fn a_block_crossing_into_a_page_mapped_otherwise_runs_that_pages_bytes() {
    let mut body = CALL.to_vec();
    body.extend(space(1));
    body.extend(CALL);
    let mapped = |s: u64, page: u64| match page {
        CODE_PAGE => Some(0x60000),
        0x51 => Some(0x61000 + s * 0x1000),
        _ => None,
    };
    let frames: [(u64, &[u8]); 3] = [
        (0x60ffe, &[0xa7, 0x9b]),
        (0x61000, &[0x00, 0x01, 0x07, 0xfe]),
        (0x62000, &[0x01, 0x00, 0x07, 0xfe]),
    ];
    let reference = same_as_interpreter(|| machine(0x50ffe, &body, 2, mapped, &frames), 0);
    assert_eq!(reference.cpu.gpr[9], 0x101);
}
