//! Every instruction with a native translation translates in each context
//! of the condition code: followed by one that sets it again (its own cc
//! dead), by a branch that reads it, by a load (inside a deferred cc's
//! window), or at the end of its block; under the software TLB (the jit)
//! and under the host MMU (the kvm engine). A translation error is exact
//! (the engine runs the block in the interpreter instead) but silent and
//! slow: FLOGR's last label with nothing after it, where XILF after it
//! made its cc dead, made the kvm engine refuse Linux's blocks holding
//! that pair 1.37 million times a boot.

use zmmu_mmu::addr::AddressingMode;
use zmmu_testkit::streams::{instance, NATIVE};
use zmmu_testkit::Rng;
use zmmu_translator::{decode_block, stubs, translate, Env, MemoryAccess};

/// What follows the instruction in its block.
const FOLLOWERS: [&[u8]; 4] = [
    // xilf r1,1: sets the cc again.
    &[0xc0, 0x17, 0x00, 0x00, 0x00, 0x01],
    // je .: reads it.
    &[0xa7, 0x84, 0x00, 0x00],
    // lg r2,0(r10): neither.
    &[0xe3, 0x20, 0xa0, 0x00, 0x00, 0x04],
    // Nothing: the block ends.
    &[],
];

#[test]
fn every_native_instruction_translates_whatever_follows_it() {
    let (shared, stubs) = stubs(0x10_0000).unwrap();
    let ip = 0x10_0000 + shared.len() as u64;
    let envs = [
        MemoryAccess::SoftTlb {
            partition: 0,
            whole_pages: true,
            fma: false,
        },
        MemoryAccess::HostMmu,
    ]
    .map(|memory| Env {
        amode: AddressingMode::Bits64,
        key: 0,
        memory,
        movbe: false,
    });
    // A fixed seed: the relative fields are drawn, and a branch forward
    // to an instruction past the block's end is refused by design.
    let mut rng = Rng(0x7a11);
    let mut failed = Vec::new();
    for &op in NATIVE {
        for _ in 0..8 {
            let insn = instance(op, &mut rng);
            for follower in FOLLOWERS {
                // The invalid opcode 0 ends the block after the follower.
                let code = [&insn[..], follower, &[0, 0]].concat();
                let block = decode_block(&code, 0x2_0000, AddressingMode::Bits64, 16);
                for env in &envs {
                    if let Err(e) = translate(&block, env, ip, 0, &stubs, &[]) {
                        failed.push(format!("{op:?} {insn:02x?} then {follower:02x?}: {e}"));
                    }
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} refused:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
