//! Property: after any sequence of architected operations, every access the
//! software TLB serves equals a fresh DAT walk with protection checks, with
//! the same reference and change recording (PoP ch. 3, Translation-Lookaside
//! Buffer).

use proptest::prelude::*;
use zmmu_mmu::access::{self, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use zmmu_mmu::asce::Asce;
use zmmu_mmu::control::{Controls, Cr0, Facilities};
use zmmu_mmu::entry::{PageEntry, TableEntry};
use zmmu_mmu::invalidate::{self, CspWidth, PendingFlush};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::space::AddressSpace;
use zmmu_mmu::storage::{OwnedStorage, Storage};
use zmmu_mmu::tlb::{partition_index, Tlb};

const STORAGE: usize = 1 << 20;
const SEGMENTS: u64 = 4;
/// Two segment tables (primary and an alternative) sharing the page tables.
const SEGMENT_TABLES: [u64; 2] = [0x10000, 0x14000];
const PAGE_TABLES: u64 = 0x18000;

fn page_table(segment: u64) -> u64 {
    PAGE_TABLES + segment * 0x800
}

#[derive(Clone, Debug)]
enum Op {
    Access {
        space: u8,
        page: u64,
        offset: u64,
        kind: u8,
        key: u8,
    },
    /// A guest store that makes an invalid page-table entry valid (allowed
    /// without a purge: there are no negative TLB entries).
    Validate {
        segment: u64,
        page: u64,
        frame: u64,
        protect: bool,
    },
    Ipte {
        segment: u64,
        page: u64,
        extra: u8,
    },
    IdteSegment {
        table: usize,
        segment: u64,
    },
    IdteByAsce {
        table: usize,
    },
    CspPte {
        segment: u64,
        page: u64,
        frame: u64,
        purge: bool,
    },
    Ptlb,
    Sske {
        frame: u64,
        key: u8,
    },
    Rrbe {
        frame: u64,
    },
    Spx {
        prefix: u64,
    },
    Cr0 {
        bits: u64,
    },
    SwapSpaces,
    /// A frame starts or stops holding translated code (not architected:
    /// translations must not change, and stores to it must never hit).
    MarkCode {
        frame: u64,
        code: bool,
    },
}

/// Logical pages: mostly a few, so that entries are reused and hit.
fn hot_page() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..8, 1 => 0u64..(SEGMENTS * 256)]
}

/// Segments: mostly the first, where the hot pages are.
fn hot_segment() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 1 => 0..SEGMENTS]
}

/// Absolute frames: mostly a few (so that key changes meet cached entries),
/// some past the end of storage.
fn hot_frame() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..8, 1 => 0u64..0x110]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (prop_oneof![3 => Just(1u8), 1 => 0u8..4], hot_page(), 0u64..4096, 0u8..3, prop_oneof![3 => Just(0u8), 1 => 0u8..4])
            .prop_map(|(space, page, offset, kind, key)| Op::Access { space, page, offset, kind, key }),
        2 => (hot_segment(), hot_page(), hot_frame(), any::<bool>())
            .prop_map(|(segment, page, frame, protect)| Op::Validate { segment, page: page % 256, frame, protect }),
        2 => (hot_segment(), hot_page(), 0u8..4)
            .prop_map(|(segment, page, extra)| Op::Ipte { segment, page: page % 256, extra }),
        1 => (0usize..2, hot_segment()).prop_map(|(table, segment)| Op::IdteSegment { table, segment }),
        1 => (0usize..2).prop_map(|table| Op::IdteByAsce { table }),
        1 => (hot_segment(), hot_page(), hot_frame(), any::<bool>())
            .prop_map(|(segment, page, frame, purge)| Op::CspPte { segment, page: page % 256, frame, purge }),
        1 => Just(Op::Ptlb),
        2 => (hot_frame(), prop_oneof![1 => 0u8..4, 1 => 0u8..128]).prop_map(|(frame, key)| Op::Sske { frame, key: key << 1 }),
        1 => hot_frame().prop_map(|frame| Op::Rrbe { frame }),
        1 => prop_oneof![Just(0u64), Just(0x8000u64), Just(0x3_E000u64)].prop_map(|prefix| Op::Spx { prefix }),
        1 => (0u64..16).prop_map(|b| Op::Cr0 { bits: b << 24 }),
        1 => Just(Op::SwapSpaces),
        1 => (hot_frame(), any::<bool>()).prop_map(|(frame, code)| Op::MarkCode { frame, code }),
    ]
}

/// Two machines that start identical: one answers every access with a fresh
/// walk, the other through the TLB.
struct Pair {
    fresh: OwnedStorage,
    cached: OwnedStorage,
    controls: Controls,
    tlb: Tlb,
}

impl Pair {
    fn new(frames: &[(u64, bool, bool)]) -> Self {
        let mut storage = OwnedStorage::new(STORAGE);
        for table in SEGMENT_TABLES {
            for segment in 0..SEGMENTS {
                storage
                    .write_u64(
                        AbsoluteAddress::new(table + segment * 8),
                        page_table(segment),
                    )
                    .unwrap();
            }
            for segment in SEGMENTS..2048 {
                storage
                    .write_u64(AbsoluteAddress::new(table + segment * 8), TableEntry::I)
                    .unwrap();
            }
        }
        for segment in 0..SEGMENTS {
            for page in 0..256 {
                let (frame, valid, protect) = frames
                    .get((segment * 256 + page) as usize)
                    .map_or((0, false, false), |&(f, v, p)| (f, v, p));
                let pte = (frame << 12)
                    | if valid { 0 } else { PageEntry::I }
                    | if protect { PageEntry::P } else { 0 };
                storage
                    .write_u64(AbsoluteAddress::new(page_table(segment) + page * 8), pte)
                    .unwrap();
            }
        }
        let controls = Controls {
            cr0: Cr0::empty(),
            cr1: Asce::new(SEGMENT_TABLES[0] | 3),
            cr7: Asce::new(SEGMENT_TABLES[1] | 3),
            cr13: Asce::new(SEGMENT_TABLES[1] | 3 | Asce::P),
            prefix: Prefix::new(0),
            facilities: Facilities::ESOP2 | Facilities::LAP,
        };
        Self {
            fresh: storage.clone(),
            cached: storage,
            controls,
            // From one entry per partition, so that the sequences grow
            // partitions (fills) and shrink them (clears) as they go.
            tlb: Tlb::with_entries(&controls, 1),
        }
    }

    /// Applies an invalidation-producing operation to both storages and the TLB.
    fn both<T: PartialEq + std::fmt::Debug>(
        &mut self,
        f: impl Fn(
            &mut OwnedStorage,
        ) -> Result<(T, Option<PendingFlush>), zmmu_mmu::exception::Exception>,
    ) {
        let a = f(&mut self.fresh);
        let b = f(&mut self.cached);
        assert_eq!(a, b);
        if let Ok((_, Some(pending))) = b {
            pending.apply(|invalidation| self.tlb.invalidate(invalidation));
        }
    }

    fn set_controls(&mut self, controls: Controls) {
        self.controls = controls;
        self.tlb.set_controls(&controls);
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Access {
                space,
                page,
                offset,
                kind,
                key,
            } => {
                let space = [
                    AddressSpace::Real,
                    AddressSpace::Primary,
                    AddressSpace::Secondary,
                    AddressSpace::Home,
                ][space as usize];
                let kind = [
                    AccessKind::Read,
                    AccessKind::Write,
                    AccessKind::InstructionFetch,
                ][kind as usize];
                let request = Request {
                    address: LogicalAddress::new(page << 12 | offset),
                    space,
                    kind,
                    key,
                };
                let fresh = access::access(&mut self.fresh, &self.controls, request)
                    .map(|a| (a.real, a.absolute));
                let cached = self
                    .tlb
                    .access(&mut self.cached, request)
                    .map(|t| (t.real, t.absolute));
                assert_eq!(cached, fresh, "{request:?}");
                // A store to a frame holding code never hits the inline probe.
                if let Ok((_, absolute)) = cached {
                    if kind == AccessKind::Write && self.cached.code_frame(absolute) {
                        let source = access::asce_source(space, kind).unwrap();
                        let address = request.address.value();
                        assert_eq!(
                            self.tlb.lookup(partition_index(source), address, kind, key),
                            None,
                            "{request:?}"
                        );
                    }
                }
                assert!(
                    self.fresh == self.cached,
                    "storage or keys differ after {request:?}"
                );
            }
            Op::Validate {
                segment,
                page,
                frame,
                protect,
            } => {
                let at = AbsoluteAddress::new(page_table(segment) + page * 8);
                if self.fresh.read_u64(at).unwrap() & PageEntry::I != 0 {
                    let pte = (frame << 12) | if protect { PageEntry::P } else { 0 };
                    self.fresh.write_u64(at, pte).unwrap();
                    self.cached.write_u64(at, pte).unwrap();
                }
            }
            Op::Ipte {
                segment,
                page,
                extra,
            } => self.both(|s| {
                invalidate::ipte(s, page_table(segment), page << 12, extra).map(|i| ((), Some(i)))
            }),
            Op::IdteSegment { table, segment } => {
                let r1 = SEGMENT_TABLES[table];
                self.both(|s| invalidate::idte(s, r1, segment << 20, 0).map(|i| ((), Some(i))))
            }
            Op::IdteByAsce { table } => {
                let r3 = SEGMENT_TABLES[table] | 3;
                self.both(|s| invalidate::idte(s, 0, 0x800, r3).map(|i| ((), Some(i))))
            }
            Op::CspPte {
                segment,
                page,
                frame,
                purge,
            } => {
                // The architected protocol for changing a valid entry is CSP
                // with purge; without the purge the TLB may lag, so only
                // purging CSPs are made here.
                if !purge {
                    return;
                }
                let at = AbsoluteAddress::new(page_table(segment) + page * 8);
                let old = self.fresh.read_u64(at).unwrap();
                self.both(|s| {
                    invalidate::csp(s, at, CspWidth::Doubleword, old, frame << 12, true)
                        .map(|o| (o.cc, o.invalidation))
                })
            }
            Op::Ptlb => self.tlb.flush(),
            Op::Sske { frame, key } => {
                let prefix = self.controls.prefix;
                self.both(|s| {
                    invalidate::sske(s, prefix, RealAddress::new(frame << 12), key)
                        .map(|i| ((), Some(i)))
                })
            }
            Op::Rrbe { frame } => {
                let prefix = self.controls.prefix;
                self.both(|s| {
                    invalidate::rrbe(s, prefix, RealAddress::new(frame << 12))
                        .map(|(cc, i)| (cc, Some(i)))
                })
            }
            Op::Spx { prefix } => {
                if let Ok((new, pending)) =
                    invalidate::spx(&self.fresh, self.controls.prefix, prefix)
                {
                    pending.apply(|invalidation| self.tlb.invalidate(invalidation));
                    self.set_controls(Controls {
                        prefix: new,
                        ..self.controls
                    });
                }
            }
            Op::MarkCode { frame, code } => {
                let at = AbsoluteAddress::new(frame << 12);
                let fresh = self.fresh.set_code_frame(at, code);
                assert_eq!(self.cached.set_code_frame(at, code), fresh);
                if code {
                    self.tlb.mark_code(at);
                }
            }
            Op::Cr0 { bits } => self.set_controls(Controls {
                cr0: Cr0::from_bits_retain(bits),
                ..self.controls
            }),
            Op::SwapSpaces => {
                let c = self.controls;
                self.set_controls(Controls {
                    cr1: c.cr7,
                    cr7: c.cr1,
                    ..c
                })
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn tlb_translation_equals_fresh_walk_after_architected_operations(
        frames in prop::collection::vec((hot_frame(), prop::bool::weighted(0.8), prop::bool::weighted(0.2)), (SEGMENTS * 256) as usize),
        keys in prop::collection::vec(prop_oneof![3 => 0u8..4, 1 => 0u8..128], 0x100),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let mut pair = Pair::new(&frames);
        for (frame, key) in keys.iter().enumerate() {
            let at = AbsoluteAddress::new((frame as u64) << 12);
            pair.fresh.set_key(at, StorageKey::new(key << 1)).unwrap();
            pair.cached.set_key(at, StorageKey::new(key << 1)).unwrap();
        }
        for op in &ops {
            pair.step(op);
        }
    }
}
