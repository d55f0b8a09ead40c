//! The instructions the in-VM runtime image completes without an exit
//! (`zmmu_vm_runtime::call::may_complete`, docs/CHOICES.md 40): BFP and
//! vector register instructions, LOCGR, EFPC, and those whose operand
//! fetches the active root maps (ADB, VLBB, CLM). Their results equal the
//! interpreter's, a loop of them costs O(1) VM exits, and their program
//! interruptions (an IEEE exception whose trap the FPC enables, a data
//! exception for BFP with the AFP-register control off) are delivered as
//! the interpreter delivers them: the same PSW, interruption code, ILC and
//! DXC in the FPC and in the lowcore (PoP ch. 6 "Program Interruption",
//! ch. 9 "Data-Exception Code").

mod common;

use common::{assert_same, bytes_at, on_both, program_machine};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// CR0 bits 45 (AFP-register control) and 46 (vector enablement).
const AFP_AND_VECTOR: u64 = 1 << 18 | 1 << 17;

/// `program` at 0x2000 with the AFP-register and vector controls as
/// `cr0_bits` says, run by the interpreter and the kvm engine to the
/// disabled wait of the program-new PSW: the interpreter's machine, the
/// engine's and the engine (`None` where KVM is unavailable).
fn run(
    program: &[u8],
    cr0_bits: u64,
    limit: u64,
) -> Option<(Machine, Machine, zmmu_kvm::KvmEngine)> {
    let build = || {
        let mut machine = program_machine(0x2000, program);
        machine.cpu.cr[0] |= cr0_bits;
        // The operands of `operand_loop`: 2.5, then 0x11223344.
        let mut data = 2.5f64.to_bits().to_be_bytes().to_vec();
        data.extend([0x11, 0x22, 0x33, 0x44]);
        machine
            .bus
            .storage
            .write(AbsoluteAddress::new(0x3000), &data)
            .unwrap();
        machine
    };
    let (reference, kvm) = on_both(build, limit);
    let (machine, engine) = kvm?;
    Some((reference, machine, engine))
}

/// lghi r3,N ; lghi r4,7 ; cdgbr f2,r4 ; lzdr f0 ;
/// X: adbr f0,f2 ; ltdbr f4,f0 ; cgdbr r5,5,f0 ; ddbr f4,f2 ;
/// vlvg v1,r5,1,3 ; vlgv r6,v1,1,3 ; vrep v2,v1,1,3 ; cdbr f0,f2 ;
/// locgr r7,r6,4 ; efpc r8 ; brct r3,X ; then an invalid opcode.
fn register_loop(n: u16) -> Vec<u8> {
    let [hi, lo] = n.to_be_bytes();
    let mut p = vec![0xa7, 0x39, hi, lo, 0xa7, 0x49, 0x00, 0x07];
    p.extend([0xb3, 0xa5, 0x00, 0x24, 0xb3, 0x75, 0x00, 0x00]);
    let body: &[u8] = &[
        0xb3, 0x1a, 0x00, 0x02, // adbr f0,f2
        0xb3, 0x12, 0x00, 0x40, // ltdbr f4,f0
        0xb3, 0xa9, 0x50, 0x50, // cgdbr r5,5,f0
        0xb3, 0x1d, 0x00, 0x42, // ddbr f4,f2
        0xe7, 0x15, 0x00, 0x01, 0x30, 0x22, // vlvg v1,r5,1,3
        0xe7, 0x61, 0x00, 0x01, 0x30, 0x21, // vlgv r6,v1,1,3
        0xe7, 0x21, 0x00, 0x01, 0x30, 0x4d, // vrep v2,v1,1,3
        0xb3, 0x19, 0x00, 0x02, // cdbr f0,f2
        0xb9, 0xe2, 0x40, 0x76, // locgr r7,r6,4
        0xb3, 0x8c, 0x00, 0x80, // efpc r8
    ];
    p.extend(body);
    let back = (-(body.len() as i16) / 2).to_be_bytes();
    p.extend([0xa7, 0x36, back[0], back[1], 0x00, 0x00]);
    p
}

#[test]
fn register_instructions_give_the_interpreters_results_in_the_vm() {
    let program = register_loop(200);
    let Some((reference, machine, engine)) = run(&program, AFP_AND_VECTOR, 100_000) else {
        return;
    };
    assert_same(&machine, &reference);
    // The BFP arithmetic is translated under the host MMU too
    // (docs/CHOICES.md 70d): ADBR and CGDBR are no calls the image
    // completes; DDBR's inexact quotients take its slow path, which the
    // image completes in the VM after the first.
    let completed = engine.completed_in_vm();
    for mnemonic in ["ADBR", "CGDBR"] {
        assert!(
            !completed.iter().any(|&(m, _)| m == mnemonic),
            "{mnemonic}: {completed:?}"
        );
    }
    assert!(completed.contains(&("DDBR", 198)), "{completed:?}");
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for 200 turns of the loop");
}

/// lghi r4,2 ; cdgbr f2,r4 ; lghi r4,1 ; cdgbr f1,r4 ; cdgbr f0,r4 ;
/// llilh r5,0x4000 ; sfpc r5 (the divide-by-zero trap on) ; lghi r3,10 ;
/// X: ddbr f0,f2 ; sdbr f2,f1 ; brct r3,X ; then an invalid opcode. The
/// third division is by zero.
const DIVIDE_BY_ZERO: &[u8] = &[
    0xa7, 0x49, 0x00, 0x02, 0xb3, 0xa5, 0x00, 0x24, 0xa7, 0x49, 0x00, 0x01, 0xb3, 0xa5, 0x00, 0x14,
    0xb3, 0xa5, 0x00, 0x04, 0xa5, 0x5e, 0x40, 0x00, 0xb3, 0x84, 0x00, 0x50, 0xa7, 0x39, 0x00, 0x0a,
    0xb3, 0x1d, 0x00, 0x02, 0xb3, 0x1b, 0x00, 0x21, 0xa7, 0x36, 0xff, 0xfc, 0x00, 0x00,
];

#[test]
fn an_ieee_exception_whose_trap_is_enabled_is_the_interpreters_program_interruption() {
    let Some((reference, machine, engine)) = run(DIVIDE_BY_ZERO, AFP_AND_VECTOR, 1000) else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(machine.cpu.fpc >> 8 & 0xff, 0x40, "DXC 0x40 in the FPC");
    assert_eq!(
        bytes_at(&machine, 0x93, 1),
        [0x40],
        "DXC 0x40 in the lowcore"
    );
    assert_eq!(bytes_at(&machine, 0x8e, 2), [0, 7], "a data exception");
    // DDBR is translated (docs/CHOICES.md 70d): the division by zero with
    // its trap on is its slow path, which the host runs.
    let completed = engine.completed_in_vm();
    assert!(
        !completed.iter().any(|&(m, _)| m == "DDBR"),
        "{completed:?}"
    );
}

#[test]
fn bfp_with_the_afp_register_control_off_is_the_interpreters_data_exception() {
    // adbr f0,f2 with CR0 bit 45 off: DXC 2 (BFP instruction).
    let program = [0xb3, 0x1a, 0x00, 0x02, 0x00, 0x00];
    let Some((reference, machine, engine)) = run(&program, 0, 100) else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(bytes_at(&machine, 0x93, 1), [0x02]);
    assert!(engine.completed_in_vm().is_empty());
}

/// lghi r3,N ; llilf r4,AT ; lzdr f0 ;
/// X: adb f0,0(r4) ; vlbb v1,0(r4),6 ; clm r1,15,8(r4) ; brct r3,X ;
/// then an invalid opcode.
fn operand_loop(n: u16, at: u32) -> Vec<u8> {
    let [hi, lo] = n.to_be_bytes();
    let a = at.to_be_bytes();
    vec![
        0xa7, 0x39, hi, lo, 0xc0, 0x4f, a[0], a[1], a[2], a[3], 0xb3, 0x75, 0x00, 0x00, 0xed, 0x00,
        0x40, 0x00, 0x00, 0x1a, 0xe7, 0x10, 0x40, 0x00, 0x60, 0x07, 0xbd, 0x1f, 0x40, 0x08, 0xa7,
        0x36, 0xff, 0xf8, 0x00, 0x00,
    ]
}

#[test]
fn operand_fetches_the_root_maps_complete_in_the_vm() {
    let Some((reference, machine, engine)) =
        run(&operand_loop(200, 0x3000), AFP_AND_VECTOR, 10_000)
    else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(f64::from_bits(machine.cpu.fpr(0)), 500.0);
    // CLM, ADB and VLBB are translated (docs/CHOICES.md 39, 70d, 87).
    let completed = engine.completed_in_vm();
    for mnemonic in ["ADB", "VLBB"] {
        assert!(
            !completed.iter().any(|&(m, _)| m == mnemonic),
            "{completed:?}"
        );
    }
    let exits = engine.host().stats().exits;
    assert!(exits < 64, "{exits} exits for 200 turns of the loop");
}

#[test]
fn an_operand_outside_storage_is_the_interpreters_addressing_exception() {
    // adb f0,0(r4) at 32 MiB, past the 16 MiB of storage.
    let Some((reference, machine, engine)) = run(&operand_loop(2, 0x200_0000), AFP_AND_VECTOR, 100)
    else {
        return;
    };
    assert_same(&machine, &reference);
    assert_eq!(
        bytes_at(&machine, 0x8e, 2),
        [0, 5],
        "an addressing exception"
    );
    let completed = engine.completed_in_vm();
    assert!(!completed.iter().any(|&(m, _)| m == "ADB"), "{completed:?}");
}
