//! What survives a change of controls or a purge of the TLB: translated
//! blocks, their jump-cache entries and the shadow mappings stay as long
//! as the translation they were made from is still what DAT gives (PoP
//! ch. 3, "Translation-Lookaside Buffer": after a purge, translation uses
//! the tables again), and go exactly when it is not.

mod common;

use common::{on_both, page_table, program_machine, run_like, segment_table, write_words, Quiet};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// Iterations of [`LOOP`].
const TURNS: u64 = 200;

/// With DAT off, 200 times: `lctlg c0,c0` low-address protection on,
/// `ptlb`, `stg r1,0(r3)` (r3 = 0x10000), `lctlg c0,c0` protection off,
/// `brctg r1` back; then an invalid opcode. Low-address protection
/// touches no instruction fetch and nothing at 0x10000, and a purge of
/// the TLB nothing with DAT off (real addresses are not translated
/// through tables).
const LOOP: [u8; 64] = [
    0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x20, 0x00, 0x00, 0x00, 0x16, 0xc0, 0x31, 0x00, 0x01, 0x00, 0x00,
    0xeb, 0x00, 0x20, 0x00, 0x00, 0x2f, 0xb2, 0x0d, 0x00, 0x00, 0xe3, 0x10, 0x30, 0x00, 0x00, 0x24,
    0xeb, 0x00, 0x20, 0x08, 0x00, 0x2f, 0xa7, 0x17, 0xff, 0xf5, 0x00, 0x00, 0x00, 0x00, 0x07, 0x07,
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Runs [`LOOP`] on the interpreter and on the kvm engine (same end, same
/// instruction count): the engine, or `None` where KVM is unavailable.
fn run_loop() -> Option<zmmu_kvm::KvmEngine> {
    let (machine, engine) = on_both(|| program_machine(0x2000, &LOOP), 10_000).1?;
    assert_eq!(machine.cpu.gpr[1], 0);
    Some(engine)
}

#[test]
fn the_jump_cache_outlives_controls_and_purges_that_keep_fetches() {
    let Some(engine) = run_loop() else {
        return;
    };
    let misses = engine.reasons().misses_cached();
    assert!(
        misses <= 2,
        "{misses} jump-cache misses to cached blocks in {TURNS} turns"
    );
}

/// [`LOOP`]'s store hits the same mapping every turn.
#[test]
fn shadow_mappings_outlive_purges_with_dat_off_and_protection_of_other_pages() {
    let Some(engine) = run_loop() else {
        return;
    };
    let fills = engine.stats().shadow_fills;
    let dropped = engine.pager().stats().dropped;
    assert!(fills <= 2, "{fills} shadow fills in {TURNS} turns");
    assert!(dropped <= 2, "{dropped} mappings dropped in {TURNS} turns");
}

/// `larl r2 ; lctlg c1,c1,0(r2)` (the ASCE below), `stosm 0xf00,4` (DAT
/// on), `lgfi r5,0x50000 ; basr r14,r5` (r2 := 1), `lgr r6,r2`, then
/// `stg` 0x70000 into the page-table entry of 0x50000, `ptlb`, `basr
/// r14,r5` again (r2 := 2 from the new frame); then an invalid opcode.
const REMAP: [u8; 64] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x1c, 0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0xad, 0x04, 0x0f, 0x00,
    0xc0, 0x51, 0x00, 0x05, 0x00, 0x00, 0x0d, 0xe5, 0xb9, 0x04, 0x00, 0x62, 0xc0, 0x71, 0x00, 0x01,
    0x12, 0x80, 0xc0, 0x81, 0x00, 0x07, 0x00, 0x00, 0xe3, 0x80, 0x70, 0x00, 0x00, 0x24, 0xb2, 0x0d,
    0x00, 0x00, 0x0d, 0xe5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
];

/// [`RESEAT`]: as [`REMAP`], but with calls of two functions of the page,
/// at 0x50000 and 0x50010 (r6 := 1 and r7 := 3 from frame 0x60000 before
/// the purge; r9 := 2 and r2 := 4 from frame 0x70000 after it).
const RESEAT: [u8; 96] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x2c, 0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0xad, 0x04, 0x0f, 0x00,
    0xc0, 0x51, 0x00, 0x05, 0x00, 0x00, 0x0d, 0xe5, 0xb9, 0x04, 0x00, 0x62, 0xc0, 0x51, 0x00, 0x05,
    0x00, 0x10, 0x0d, 0xe5, 0xb9, 0x04, 0x00, 0x72, 0xc0, 0x31, 0x00, 0x01, 0x12, 0x80, 0xc0, 0x81,
    0x00, 0x07, 0x00, 0x00, 0xe3, 0x80, 0x30, 0x00, 0x00, 0x24, 0xb2, 0x0d, 0x00, 0x00, 0xc0, 0x51,
    0x00, 0x05, 0x00, 0x00, 0x0d, 0xe5, 0xb9, 0x04, 0x00, 0x92, 0xc0, 0x51, 0x00, 0x05, 0x00, 0x10,
    0x0d, 0xe5, 0x00, 0x00, 0x00, 0x00, 0x07, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
];

/// `program` (at 0x2000) with the tables [`REMAP`] and [`RESEAT`] use:
/// the segment table at 0x10000 (the ASCE, one page: 512 entries), its
/// first entry the page table at 0x11000 mapping the first MiB onto
/// itself but page 0x50000, mapped to frame 0x60000 (`lghi r2,1 ; br
/// r14`, and at 0x10 `lghi r2,3 ; br r14`); frame 0x70000 holds `lghi
/// r2,2 ; br r14` (and `lghi r2,4 ; br r14`).
fn remap_machine_with(program: &[u8]) -> Machine {
    let mut machine = program_machine(0x2000, program);
    segment_table(&mut machine, 0x10000, 0x11000);
    page_table(&mut machine, 0x11000, |at| {
        if at == 0x50000 {
            0x60000
        } else {
            at
        }
    });
    let storage = &mut machine.bus.storage;
    for (at, value) in [(0x60000, 1u8), (0x60010, 3), (0x70000, 2), (0x70010, 4)] {
        let code = [0xa7, 0x29, 0x00, value, 0x07, 0xfe];
        storage.write(AbsoluteAddress::new(at), &code).unwrap();
    }
    machine
}

fn remap_machine() -> Machine {
    remap_machine_with(&REMAP)
}

#[test]
fn a_purge_after_a_new_page_table_entry_fetches_from_the_new_frame() {
    let mut reference = remap_machine();
    let expected = reference.run(Some(100), &mut Quiet);
    assert_eq!((reference.cpu.gpr[6], reference.cpu.gpr[2]), (1, 2));
    let Some((machine, _)) = run_like(&expected, remap_machine(), 100) else {
        return;
    };
    assert_eq!((machine.cpu.gpr[6], machine.cpu.gpr[2]), (1, 2));
}

/// A purge of everything checks each entry of the page: both functions'
/// entries go (the page's one translation, `FetchFrames`, serves both).
#[test]
fn after_a_purge_of_everything_every_block_of_a_page_mapped_anew_fetches_from_the_new_frame() {
    let build = || remap_machine_with(&RESEAT);
    let mut reference = build();
    let expected = reference.run(Some(100), &mut Quiet);
    let results = |m: &Machine| [6, 7, 9, 2].map(|r| m.cpu.gpr[r]);
    assert_eq!(results(&reference), [1, 3, 2, 4]);
    let Some((machine, _)) = run_like(&expected, build(), 100) else {
        return;
    };
    assert_eq!(results(&machine), [1, 3, 2, 4]);
}

/// `lghi r1,5 ; larl r2`, `stg r1,0x100` (low-address protection off: the
/// store maps page 0 writable), `lctlg c0,c0,0(r2)` (protection on),
/// `stg r1,0x108` (refused: protection exception); then an invalid
/// opcode.
const LOW: [u8; 40] = [
    0xa7, 0x19, 0x00, 0x05, 0xc0, 0x20, 0x00, 0x00, 0x00, 0x0e, 0xe3, 0x10, 0x01, 0x00, 0x00, 0x24,
    0xeb, 0x00, 0x20, 0x00, 0x00, 0x2f, 0xe3, 0x10, 0x01, 0x08, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
];

/// The program-interruption code and the doubleword at 0x108.
fn low_state(machine: &Machine) -> (u16, u64) {
    let storage = &machine.bus.storage;
    let mut code = [0u8; 2];
    storage.read(AbsoluteAddress::new(0x8e), &mut code).unwrap();
    let stored = storage.read_u64(AbsoluteAddress::new(0x108)).unwrap();
    (u16::from_be_bytes(code), stored)
}

#[test]
fn low_address_protection_turned_on_refuses_a_store_to_a_page_mapped_before() {
    let mut reference = program_machine(0x2000, &LOW);
    let expected = reference.run(Some(100), &mut Quiet);
    assert_eq!(low_state(&reference), (4, 0), "protection exception");
    let Some((machine, _)) = run_like(&expected, program_machine(0x2000, &LOW), 100) else {
        return;
    };
    assert_eq!(low_state(&machine), (4, 0));
}

/// Three blocks whose addresses share a slot of the kvm engine's jump
/// cache, 0x4002 (`brcl 15,0x1aa42`), 0x1aa42 (`brcl 15,0x3f464`) and
/// 0x3f464 (`aghi r1,-1 ; brcl 7,0x4002`, then an invalid opcode),
/// entered from 0x2000 (`lghi r1,200 ; brcl 15,0x4002`).
fn group_machine() -> Machine {
    let start = [0xa7, 0x19, 0x00, 0xc8, 0xc0, 0xf4, 0x00, 0x00, 0x0f, 0xff];
    let mut machine = program_machine(0x2000, &start);
    let storage = &mut machine.bus.storage;
    for (at, code) in [
        (0x4002, &[0xc0, 0xf4, 0x00, 0x00, 0xb5, 0x20][..]),
        (0x1aa42, &[0xc0, 0xf4, 0x00, 0x01, 0x25, 0x11][..]),
        (
            0x3f464,
            &[
                0xa7, 0x1b, 0xff, 0xff, 0xc0, 0x74, 0xff, 0xfe, 0x25, 0xcd, 0x00, 0x00, 0x00, 0x00,
            ][..],
        ),
    ] {
        storage.write(AbsoluteAddress::new(at), code).unwrap();
    }
    machine
}

#[test]
fn hot_blocks_of_one_jump_cache_slot_do_not_evict_each_other() {
    let slot = |addr| zmmu_translator::abi::jump_slot_in(addr, zmmu_kvm::JUMP_ENTRIES);
    assert!(slot(0x4002) == slot(0x1aa42) && slot(0x4002) == slot(0x3f464));
    let mut reference = group_machine();
    let expected = reference.run(Some(10_000), &mut Quiet);
    assert_eq!(expected.instructions, 2 + 4 * TURNS + 1);
    let Some((_, engine)) = run_like(&expected, group_machine(), 10_000) else {
        return;
    };
    let misses = engine.reasons().misses_cached();
    assert!(
        misses <= 3,
        "{misses} jump-cache misses to cached blocks in {TURNS} turns"
    );
}

/// `larl r2` (the two ASCEs below), `lctlg c1,c1,0(r2)` (space A),
/// `stosm 0xf00,4` (DAT on), `lghi r1,200 ; lgfi r5,0x50000 ; lgfi
/// r6,0x58000`, then 200 times: `lctlg c1,c1,8(r2)` (space B), `basr
/// r14,r6`, `lctlg c1,c1,0(r2)` (space A), `basr r14,r5`, `brctg r1`
/// back; then an invalid opcode.
const SPACES: [u8; 72] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x1c, 0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0xad, 0x04, 0x0f, 0x00,
    0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x51, 0x00, 0x05, 0x00, 0x00, 0xc0, 0x61, 0x00, 0x05, 0x80, 0x00,
    0xeb, 0x11, 0x20, 0x08, 0x00, 0x2f, 0x0d, 0xe6, 0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0x0d, 0xe5,
    0xa7, 0x17, 0xff, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x00,
];

/// [`SPACES`] with two address spaces that map the first MiB onto itself
/// but their code pages: space A (segment table 0x10000, page table
/// 0x11000) maps 0x50000 onto frame 0x60000 (`aghi r9,1 ; br r14`), space
/// B (0x12000, 0x13000) maps `b_page` onto frame 0x70000 (`aghi r8,2 ; br
/// r14`), where `r6` points (`lgfi r6`); each leaves the other's code
/// page invalid. With `b_page` 0x58000 the spaces are a kernel's and a
/// process's code; with 0x50000 two processes running one program at the
/// same addresses.
fn spaces_machine(b_page: u64) -> Machine {
    let mut program = SPACES;
    program[28..32].copy_from_slice(&(b_page as u32).to_be_bytes());
    let mut machine = program_machine(0x2000, &program);
    spaces_tables(&mut machine, b_page);
    machine
}

/// The tables and code of [`spaces_machine`].
fn spaces_tables(machine: &mut Machine, b_page: u64) {
    let invalid = 0x400;
    for (segments, pages, code_page, frame) in [
        (0x10000, 0x11000, 0x50000, 0x60000),
        (0x12000, 0x13000, b_page, 0x70000),
    ] {
        segment_table(machine, segments, pages);
        page_table(machine, pages, |at| match at {
            at if at == code_page => frame,
            0x50000 | 0x58000 => invalid,
            at => at,
        });
    }
    let storage = &mut machine.bus.storage;
    for (frame, code) in [
        (0x60000, [0xa7, 0x9b, 0x00, 0x01]),
        (0x70000, [0xa7, 0x8b, 0x00, 0x02]),
    ] {
        storage.write(AbsoluteAddress::new(frame), &code).unwrap();
        storage
            .write(AbsoluteAddress::new(frame + 4), &[0x07, 0xfe])
            .unwrap();
    }
}

/// Runs the machine `build` makes on both engines: both end their 200
/// turns of each space (r8 400, r9 200), and the kvm engine misses cached
/// blocks in its jump cache at most four times (each space's first turn).
fn turns_missing_at_most_four_times(build: impl Fn() -> Machine) {
    let (reference, kvm) = on_both(build, 10_000);
    assert_eq!((reference.cpu.gpr[8], reference.cpu.gpr[9]), (400, 200));
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!((machine.cpu.gpr[8], machine.cpu.gpr[9]), (400, 200));
    let misses = engine.reasons().misses_cached();
    assert!(
        misses <= 4,
        "{misses} jump-cache misses to cached blocks in {TURNS} turns"
    );
}

/// Switching between two address spaces (a system call's kernel and
/// process spaces) keeps each one's jump-cache entries for its return:
/// neither space's block at its own address misses again after its first
/// turn (each was dropped at every switch: the other space does not map
/// it).
#[test]
fn each_address_space_keeps_its_jump_cache_entries_across_switches() {
    turns_missing_at_most_four_times(|| spaces_machine(0x58000));
}

/// Two processes running one program at the same addresses (busybox in
/// each of Linux's processes): each space's block at 0x50000 keeps its
/// jump-cache entry beside the other's, under its own tag, and neither
/// misses again after its first turn (with one entry per address each
/// replaced the other's at every switch: 400 misses).
#[test]
fn two_spaces_running_code_at_one_address_keep_an_entry_each() {
    turns_missing_at_most_four_times(|| spaces_machine(0x50000));
}

/// `larl r2` (the table of 21 ASCEs at 0x2038), `lghi r1,20 ; lgfi
/// r5,0x50000 ; lctlg c1,c1,0(r2) ; stosm 0xf00,4` (DAT on), then 20
/// times: `sllg r3,r1,3 ; la r4,0(r3,r2) ; lctlg c1,c1,0(r4)` (space r1),
/// `basr r14,r5`, `brctg r1` back; then an invalid opcode.
const PROCESSES: [u8; 52] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x1c, 0xa7, 0x19, 0x00, 0x14, 0xc0, 0x51, 0x00, 0x05, 0x00, 0x00,
    0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0xad, 0x04, 0x0f, 0x00, 0xeb, 0x31, 0x00, 0x03, 0x00, 0x0d,
    0x41, 0x43, 0x20, 0x00, 0xeb, 0x11, 0x40, 0x00, 0x00, 0x2f, 0x0d, 0xe5, 0xa7, 0x17, 0xff, 0xf7,
    0x00, 0x00, 0x00, 0x00,
];

/// [`PROCESSES`] with 21 address spaces (segment tables at 0x100000 +
/// 0x1000 * i, the ASCEs), each mapping the first MiB onto itself through
/// the page table at 0x11000 but 0x50000 onto frame 0x60000: one program
/// that each process runs at the same addresses, three blocks in a page
/// (`j 0x50100`; there `j 0x50200`; there `aghi r9,1 ; br r14`).
fn processes_machine() -> Machine {
    let mut machine = program_machine(0x2000, &PROCESSES);
    for space in 0..21 {
        let segments = 0x100000 + space * 0x1000;
        write_words(&mut machine, &[(0x2038 + space * 8, segments)]);
        segment_table(&mut machine, segments, 0x11000);
    }
    page_table(&mut machine, 0x11000, |at| {
        if at == 0x50000 {
            0x60000
        } else {
            at
        }
    });
    let storage = &mut machine.bus.storage;
    for (at, code) in [
        (0x60000, &[0xa7, 0xf4, 0x00, 0x80][..]),
        (0x60100, &[0xa7, 0xf4, 0x00, 0x80][..]),
        (0x60200, &[0xa7, 0x9b, 0x00, 0x01, 0x07, 0xfe][..]),
    ] {
        storage.write(AbsoluteAddress::new(at), code).unwrap();
    }
    machine
}

/// Each process's first pass through the program the others ran misses
/// the jump cache once per page (the block it enters there; the page's
/// other blocks are entered with it), not once per block.
#[test]
fn a_new_address_space_misses_once_per_page_of_cached_blocks() {
    let (reference, kvm) = on_both(processes_machine, 10_000);
    assert_eq!((reference.cpu.gpr[9], reference.cpu.gpr[1]), (20, 0));
    let Some((machine, engine)) = kvm else {
        return;
    };
    assert_eq!((machine.cpu.gpr[9], machine.cpu.gpr[1]), (20, 0));
    // The program's page and the loop's, in each of 19 spaces after the
    // first.
    let misses = engine.reasons().misses_cached();
    assert!(
        misses <= 2 * 19 + 4,
        "{misses} misses to cached blocks in 20 spaces"
    );
}

/// `larl r2` (the ASCEs of spaces A and B at 0x2048), `lctlg c1,c1,0(r2)`
/// (A), `stosm 0xf00,4` (DAT on), `lghi r1,200 ; lgfi r5,0x50000 ; lgfi
/// r6,0x58000 ; lgfi r7,0x11000 ; lgfi r10,0x80000`, then 200 times:
/// `lctlg c1,c1,8(r2)` (B), `basr r14,r6`, `lctlg c1,c1,0(r2)` (A), `ipte
/// r7,r10` (A's page 0x80000, which no code is in), `basr r14,r5`,
/// `brctg r1` back; then an invalid opcode.
const PURGES: [u8; 88] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x24, 0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0xad, 0x04, 0x0f, 0x00,
    0xa7, 0x19, 0x00, 0xc8, 0xc0, 0x51, 0x00, 0x05, 0x00, 0x00, 0xc0, 0x61, 0x00, 0x05, 0x80, 0x00,
    0xc0, 0x71, 0x00, 0x01, 0x10, 0x00, 0xc0, 0xa1, 0x00, 0x08, 0x00, 0x00, 0xeb, 0x11, 0x20, 0x08,
    0x00, 0x2f, 0x0d, 0xe6, 0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0xb2, 0x21, 0x00, 0x7a, 0x0d, 0xe5,
    0xa7, 0x17, 0xff, 0xf6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x00,
];

/// An IPTE (a kernel unmapping a page of one process) keeps the
/// jump-cache entries of blocks in pages with other page indexes, of
/// every address space: only translations through the entry it clears
/// change. Each turn's IPTE dropped B's block before (it was made under
/// other controls): 200 misses.
#[test]
fn an_ipte_keeps_the_entries_of_other_pages_in_every_space() {
    let build = || {
        let mut machine = program_machine(0x2000, &PURGES);
        spaces_tables(&mut machine, 0x58000);
        machine
    };
    turns_missing_at_most_four_times(build);
}

/// An IDTE clearing the translations of a third ASCE (a process that
/// ended: Linux flushes its address space) keeps the jump-cache entries
/// of the other spaces: [`PURGES`] with `lgfi r12,0x14000 ; lghi
/// r13,0x800 ; nopr` for the loads of r7 and r10 and `idte r11,r12,r13`
/// (bit 52 of r13: clearing by the ASCE in r12) for the IPTE.
#[test]
fn clearing_another_asce_keeps_the_entries_of_every_other_space() {
    let build = || {
        let mut program = PURGES;
        program[0x20..0x2c].copy_from_slice(&[
            0xc0, 0xc1, 0x00, 0x01, 0x40, 0x00, 0xa7, 0xd9, 0x08, 0x00, 0x07, 0x00,
        ]);
        program[0x3a..0x3e].copy_from_slice(&[0xb9, 0x8e, 0xc0, 0xbd]);
        let mut machine = program_machine(0x2000, &program);
        spaces_tables(&mut machine, 0x58000);
        machine
    };
    turns_missing_at_most_four_times(build);
}
