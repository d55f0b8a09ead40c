//! Translates and runs arbitrary bytes as s390x code under DAT with
//! hostile tables (the ASCE, the control registers, the registers and the
//! tables all come from the input) on the jit: no panic, no access outside
//! guest storage and the code buffer (a wild access would crash), every
//! run within its instruction budget. The state is not compared with the
//! interpreter's here: code that stores into its own DAT tables without
//! IPTE makes what a TLB holds unpredictable, and the two engines refill
//! the TLB differently (the seeded differential test in
//! `jit/tests/jit_diff.rs` keeps its tables out of reach and compares).
//!
//! `cd jit && cargo +nightly fuzz run run`
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use zmmu_cpu::state::mask;
use zmmu_jit::Jit;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;
use zmmu_testkit::hostile;

const STORAGE: usize = 0x4_0000;
const IMAGE: u64 = 0x1_0000;

thread_local! {
    static JIT: RefCell<Jit> = RefCell::new(Jit::new(1 << 20).expect("executable memory"));
}

fuzz_target!(|data: &[u8]| {
    if data.len() < hostile::HEAD {
        return;
    }
    let (head, image) = data.split_at(hostile::HEAD);
    let mut storage = OwnedStorage::new(STORAGE);
    let image = &image[..image.len().min(STORAGE - IMAGE as usize)];
    storage
        .write(AbsoluteAddress::new(IMAGE), image)
        .expect("the image fits");
    let cpu = hostile::cpu(head, IMAGE, 0x1000);
    let mut jitted = (cpu, DatBus::new(storage));
    JIT.with(|jit| {
        let mut jit = jit.borrow_mut();
        jit.flush(&mut jitted.1);
        let mut total = 0;
        while total < 2000 {
            let chunk = 1 + (total % 37);
            let ran = jit.run(&mut jitted.0, &mut jitted.1, chunk);
            assert!(ran.instructions >= 1 && ran.instructions <= chunk);
            total += ran.instructions;
            let psw = jitted.0.psw;
            if ran.result.is_err() || psw.mask & mask::WAIT != 0 {
                break;
            }
        }
    });
});
