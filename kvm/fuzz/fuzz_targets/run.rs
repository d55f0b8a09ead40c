//! Translates and runs arbitrary bytes as s390x code under DAT with
//! hostile tables (the ASCE, the control registers, the registers, the
//! lowcore and the tables all come from the input) on the kvm engine: no
//! panic, no hang (every run ends within its instruction limit), and the
//! engine never gives up its VM. The VM reaches only its memory slots
//! (guest storage, the code cache, the runtime image), and the host reads
//! what the image wrote bounds-checked: a wild host access would crash.
//! The state is not compared with the interpreter's here (code that
//! stores into its own DAT tables without IPTE makes what a TLB holds
//! unpredictable); the seeded differential test `kvm/tests/kvm_diff.rs`
//! keeps its tables out of reach and compares.
//!
//! `cd kvm && cargo +nightly fuzz run run` (needs /dev/kvm)
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use zmmu_cli::lazy_alloc::{LazyZeroed, LAZY_FROM};
use zmmu_kvm::KvmEngine;
use zmmu_machine::Machine;
use zmmu_mmu::prelude::*;
use zmmu_testkit::hostile;

/// KVM maps only page-aligned guest storage: storage this large is an
/// anonymous mapping (`zmmu run`'s allocator), materialised as touched.
#[global_allocator]
static ALLOCATOR: LazyZeroed = LazyZeroed;

/// The lowcore and the tables and code the input brings.
const IMAGE: usize = 0x4_0000;
/// Instructions per input at most.
const LIMIT: u64 = 4000;

thread_local! {
    /// One VM for every input (each run maps the storage it is given).
    static ENGINE: RefCell<Option<KvmEngine>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    if data.len() < hostile::HEAD {
        return;
    }
    let (head, image) = data.split_at(hostile::HEAD);
    let mut machine = Machine::new(LAZY_FROM);
    let image = &image[..image.len().min(IMAGE)];
    machine
        .bus
        .storage
        .write(AbsoluteAddress::new(0), image)
        .expect("the image fits");
    machine.cpu = hostile::cpu(head, 0, IMAGE as u64);
    ENGINE.with(|engine| {
        let mut engine = engine.borrow_mut();
        let engine = engine.get_or_insert_with(|| {
            KvmEngine::new(&machine.bus.storage, 4 << 20).expect("KVM is usable")
        });
        engine.forget();
        let outcome = machine.run_with(Some(LIMIT), &mut (), engine);
        assert!(outcome.instructions <= LIMIT, "{outcome:?}");
        assert!(engine.failure().is_none(), "{:?}", engine.failure());
    });
});
