//! Each purge of the TLB is followed by translation through the tables as
//! they are then (PoP ch. 3, "Translation-Lookaside Buffer"): the kvm
//! engine's check of its jump cache after a purge translates the fetches
//! again, and nothing a check before found stands for what a later one
//! finds.

mod common;

use common::{page_table, program_machine, run_like, segment_table, Quiet};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// `larl r2 ; lctlg c1,c1,0(r2)` (the ASCE at 0x2040), `stosm 0xf00,4`
/// (DAT on), `lgfi r5,0x50000 ; basr r14,r5` (r2 := 1 from frame
/// 0x60000), `lgr r6,r2`, `ptlb` (the tables unchanged: the check
/// translates 0x50000 to frame 0x60000), then `stg` 0x70000 into the
/// page-table entry of 0x50000, `ptlb`, `basr r14,r5` again (r2 := 2 from
/// the new frame); then an invalid opcode.
const REPURGE: [u8; 72] = [
    0xc0, 0x20, 0x00, 0x00, 0x00, 0x20, 0xeb, 0x11, 0x20, 0x00, 0x00, 0x2f, 0xad, 0x04, 0x0f, 0x00,
    0xc0, 0x51, 0x00, 0x05, 0x00, 0x00, 0x0d, 0xe5, 0xb9, 0x04, 0x00, 0x62, 0xb2, 0x0d, 0x00, 0x00,
    0xc0, 0x71, 0x00, 0x01, 0x12, 0x80, 0xc0, 0x81, 0x00, 0x07, 0x00, 0x00, 0xe3, 0x80, 0x70, 0x00,
    0x00, 0x24, 0xb2, 0x0d, 0x00, 0x00, 0x0d, 0xe5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
];

/// [`REPURGE`] with its tables: the segment table at 0x10000, its first
/// entry the page table at 0x11000 mapping the first MiB onto itself but
/// page 0x50000, mapped to frame 0x60000 (`lghi r2,1 ; br r14`); frame
/// 0x70000 holds `lghi r2,2 ; br r14`.
fn repurge_machine() -> Machine {
    let mut machine = program_machine(0x2000, &REPURGE);
    segment_table(&mut machine, 0x10000, 0x11000);
    page_table(&mut machine, 0x11000, |at| {
        if at == 0x50000 {
            0x60000
        } else {
            at
        }
    });
    let storage = &mut machine.bus.storage;
    for (at, value) in [(0x60000, 1u8), (0x70000, 2)] {
        let code = [0xa7, 0x29, 0x00, value, 0x07, 0xfe];
        storage.write(AbsoluteAddress::new(at), &code).unwrap();
    }
    machine
}

#[test]
fn a_purge_translates_again_what_the_check_of_an_earlier_purge_translated() {
    let mut reference = repurge_machine();
    let expected = reference.run(Some(100), &mut Quiet);
    assert_eq!((reference.cpu.gpr[6], reference.cpu.gpr[2]), (1, 2));
    let Some((machine, _)) = run_like(&expected, repurge_machine(), 100) else {
        return;
    };
    assert_eq!((machine.cpu.gpr[6], machine.cpu.gpr[2]), (1, 2));
}
