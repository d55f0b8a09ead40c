//! Format-2 steps on every backend: what an operation guarantees is seen by
//! the next access (IPTE, a store from invalid to valid, SPX), and after a
//! store that changes a valid entry without a purge both the old and the
//! new translation are accepted until PTLB, after which only the new one is;
//! an access crossing into an invalid page faults on the second page.

use zmmu_conformance::backend::{Backend, KvmBackend, MockBackend, TlbBackend, WalkBackend};
use zmmu_conformance::runner::{self, VectorFile};
use zmmu_conformance::steps::{Op, Outcome, Scenario, Step};
use zmmu_conformance::vector::{Amode, ProbeKind, ProbeSpace};

const SEGMENT_TABLE: u64 = 0x10_000;
const PAGE_TABLE: u64 = 0x11_000;
const PTE: u64 = PAGE_TABLE + 8; // page 0x1000
const PAGE_INVALID: u64 = 0x400;

fn read(size: u64, expect: Outcome, alt: Vec<Outcome>) -> Step {
    Step {
        op: Op::Access {
            addr: 0x1ff8,
            space: ProbeSpace::Primary,
            amode: Amode::Bits64,
            access: ProbeKind::Read,
            key: 0,
            size,
        },
        expect,
        alt,
        lra: None,
        key_after: None,
    }
}

fn op(op: Op) -> Step {
    Step {
        op,
        expect: Outcome::Done { cc: None, r1: None },
        alt: Vec::new(),
        lra: None,
        key_after: None,
    }
}

fn at(frame: u64) -> Outcome {
    Outcome::Access {
        real: frame | 0xff8,
        abs: frame | 0xff8,
        last: None,
    }
}

fn scenario() -> Scenario {
    let page_fault = Outcome::Exception {
        pic: 0x11,
        teid: Some(0x1800),
        nullified: Some(true),
    };
    let store = |frame| {
        op(Op::Store {
            addr: PTE,
            value: frame,
        })
    };
    let mut entries = vec![0u8; 24];
    entries[8..16].copy_from_slice(&0x5000u64.to_be_bytes());
    entries[16..].copy_from_slice(&PAGE_INVALID.to_be_bytes());
    Scenario {
        name: "rules".into(),
        facilities: Vec::new(),
        storage_size: 0x100_000,
        prefix: 0,
        cr0: 0xe0,
        cr1: SEGMENT_TABLE,
        cr7: SEGMENT_TABLE,
        cr13: SEGMENT_TABLE,
        mem: vec![
            (SEGMENT_TABLE, PAGE_TABLE.to_be_bytes().to_vec()),
            (PAGE_TABLE, entries),
        ],
        keys: Vec::new(),
        steps: vec![
            read(8, at(0x5000), Vec::new()),
            op(Op::Ipte {
                pto: PAGE_TABLE,
                va: 0x1000,
                range: 0,
                local: false,
            }),
            read(8, page_fault, Vec::new()),
            store(0x6000),
            read(8, at(0x6000), Vec::new()),
            store(0x7000),
            read(8, at(0x7000), vec![at(0x6000)]),
            store(0x7000 | PAGE_INVALID),
            read(8, page_fault, vec![at(0x6000), at(0x7000)]),
            op(Op::Ptlb),
            read(8, page_fault, Vec::new()),
            store(0x8000),
            read(
                16,
                Outcome::Exception {
                    pic: 0x11,
                    teid: Some(0x2800),
                    nullified: Some(true),
                },
                Vec::new(),
            ),
            read(4, at(0x8000), Vec::new()),
            op(Op::Spx { prefix: 0x8000 }),
            read(
                4,
                Outcome::Access {
                    real: 0x8ff8,
                    abs: 0xff8,
                    last: None,
                },
                Vec::new(),
            ),
        ],
        version: 2,
    }
}

fn passes(backend: &mut dyn Backend) {
    let files = [VectorFile {
        name: "inline".into(),
        scenarios: vec![scenario()],
    }];
    let report = runner::run(backend, &files, 10, |_| {});
    assert_eq!(report.total.failed(), 0, "{}", runner::diff(&report));
    assert_eq!(report.total.steps, 16);
}

#[test]
fn operations_take_effect_and_stale_translations_end_at_the_purge() {
    passes(&mut WalkBackend);
    passes(&mut TlbBackend);
    passes(&mut MockBackend);
    match KvmBackend::new() {
        Ok(mut kvm) => passes(&mut kvm),
        Err(why) => println!("SKIP kvm backend: {why}"),
    }
}
