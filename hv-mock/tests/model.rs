//! Randomized model test: random s390x tables, accesses, plain guest stores
//! to table entries, invalidating operations, key and control changes, run
//! through the shadow pager on hv-mock. After every step, what hv-mock's
//! hardware walk (TLB included) grants must be what the core's DAT walk
//! grants now, or a translation the architecture lets a TLB keep: one that
//! DAT produced since the last invalidation covering it (Principles of
//! Operation, chapter 3, "Translation-Lookaside Buffer": an entry formed
//! from valid table entries may be used after a plain store changes them,
//! until IPTE, IDTE, CSP or PTLB clears it), used under the current keys,
//! low-address protection and C bit, which are never cached.
//!
//! `MODEL_STEPS` (default 100000) and `MODEL_SEED` (default 1) scale it.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use zmmu_hv_mock::pagetable::Kind;
use zmmu_hv_mock::MockHost;
use zmmu_mmu::access::{check, Access, AccessKind, Fault, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use zmmu_mmu::asce::{Asce, Level};
use zmmu_mmu::control::{AddressSpace, Controls, Cr0, Facilities};
use zmmu_mmu::host::LOWER_HALF_END;
use zmmu_mmu::invalidate::{self, CspWidth, Invalidation, PendingFlush};
use zmmu_mmu::keys::{KeyControls, StorageKey};
use zmmu_mmu::lap;
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::shadow::{Config, Engine, EngineError, Purpose, RootTag};
use zmmu_mmu::storage::{OwnedStorage, Storage};
use zmmu_mmu::walk::{walk_to_page_table, PageTableStep, TablePath, WalkControls};
use zmmu_testkit::Rng;

const STORAGE: u64 = 8 << 20;
/// Logical addresses used: four segments.
const UNIVERSE: u64 = 4 << 20;
const REGION_TABLE: u64 = 0x1_3000;
const SEGMENT_TABLES: [u64; 3] = [0x1_0000, 0x1_1000, 0x1_2000];
const PAGE_TABLES: u64 = 0x2_0000;
const PAGE_TABLE_COUNT: u64 = 24;
const PREFIXES: [u64; 3] = [0, 0x8000, 0x4_2000];

/// A translation DAT produced at some time: what a TLB may keep until an
/// invalidation covers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Formed {
    asce: Asce,
    absolute: AbsoluteAddress,
    protected: bool,
    iep: bool,
    path: TablePath,
}

struct Model {
    rng: Rng,
    storage: OwnedStorage,
    controls: Controls,
    asces: [Asce; 3],
    engine: Engine<MockHost>,
    /// Translations formed since the last covering invalidation, by ASCE tag
    /// and logical page.
    formed: HashMap<(u64, u64), Vec<Formed>>,
    /// Recent requests, to revisit mapped pages.
    recent: Vec<Request>,
    checked: u64,
    stale_served: u64,
    /// The host records first stores (`Config::change_by_host`): the keys
    /// are exact after a harvest, which precedes every look at them.
    tracking: bool,
}

fn frame_pool(rng: &mut Rng) -> u64 {
    // Mostly data frames; sometimes the low pages and prefix areas.
    if rng.chance(10) {
        rng.pick(&[0, 0x1000, 0x8000, 0x9000, 0x4_2000, 0x4_3000])
    } else {
        0x10_0000 + rng.below((STORAGE - 0x10_0000) >> 12) * 0x1000
    }
}

impl Model {
    fn new(seed: u64, tracking: bool) -> Self {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut storage = OwnedStorage::new(STORAGE as usize);
        // ASCE 0: region-third table -> segment table 0; the others: segment tables.
        let asces = [
            Asce::new(REGION_TABLE | (1 << 2)),
            Asce::new(SEGMENT_TABLES[1]),
            Asce::new(SEGMENT_TABLES[2] | Asce::P),
        ];
        storage
            .write_u64(
                AbsoluteAddress::new(REGION_TABLE),
                SEGMENT_TABLES[0] | (1 << 2),
            )
            .unwrap();
        for i in 1..512 {
            storage
                .write_u64(AbsoluteAddress::new(REGION_TABLE + i * 8), 0x20 | (1 << 2))
                .unwrap();
        }
        for table in SEGMENT_TABLES {
            for i in 0..512 {
                storage
                    .write_u64(AbsoluteAddress::new(table + i * 8), 0x20)
                    .unwrap();
            }
        }
        for i in 0..PAGE_TABLE_COUNT * 256 {
            storage
                .write_u64(AbsoluteAddress::new(PAGE_TABLES + i * 8), 0x400)
                .unwrap();
        }
        // Half of the 2 MiB blocks have one key throughout, so that large
        // mappings are possible; the rest have random keys.
        for block in (0..STORAGE).step_by(2 << 20) {
            let uniform = rng
                .chance(50)
                .then(|| ((rng.below(2) << 4) as u8) | StorageKey::R | StorageKey::C);
            for frame in (block..block + (2 << 20)).step_by(4096) {
                let key =
                    (rng.below(3) << 4) as u8 | if rng.chance(20) { StorageKey::F } else { 0 };
                let rc = if rng.chance(70) { StorageKey::R } else { 0 }
                    | if rng.chance(40) { StorageKey::C } else { 0 };
                let key = uniform.unwrap_or(key | rc);
                storage
                    .set_key(AbsoluteAddress::new(frame), StorageKey::new(key))
                    .unwrap();
            }
        }
        let controls = Controls {
            cr0: Cr0::EDAT,
            cr1: asces[0],
            cr7: asces[1],
            cr13: asces[2],
            prefix: Prefix::new(0x8000),
            facilities: Facilities::EDAT1 | Facilities::LAP | Facilities::ESOP2 | Facilities::IEP,
        };
        let config = Config {
            fault_around: 8,
            change_by_host: tracking,
            ..Config::default()
        };
        let mut model = Self {
            rng,
            storage,
            controls,
            asces,
            engine: Engine::new(MockHost::with_tlb(STORAGE, 256), config),
            formed: HashMap::new(),
            recent: Vec::new(),
            checked: 0,
            stale_served: 0,
            tracking,
        };
        for _ in 0..40 {
            for (at, value) in model.random_table_stores() {
                model
                    .storage
                    .write_u64(AbsoluteAddress::new(at), value)
                    .unwrap();
            }
        }
        model
    }

    /// Random plain stores to table entries: (entry address, new value),
    /// one or (for a pair of segment frames that can form a 2 MiB host
    /// page) two.
    fn random_table_stores(&mut self) -> Vec<(u64, u64)> {
        let rng = &mut self.rng;
        match rng.below(10) {
            0..=2 => {
                let table = rng.pick(&SEGMENT_TABLES);
                let segment = rng.below(UNIVERSE >> 20);
                let at = table + segment * 8;
                let protect = if rng.chance(20) { 0x200 } else { 0 };
                let value = match rng.below(8) {
                    0 => 0x20,
                    1 if rng.chance(50) => {
                        let block = 0x20_0000 * (1 + rng.below(3));
                        let bits = 0x400 | protect;
                        let pair = table + (segment & !1) * 8;
                        return vec![(pair, block | bits), (pair + 8, (block + 0x10_0000) | bits)];
                    }
                    1..=2 => {
                        // A 1 MiB frame (used with EDAT-1), mostly the half of a
                        // 2 MiB block that its neighbour segment may complete.
                        let sfaa = if rng.chance(70) {
                            0x20_0000 * (1 + rng.below(3)) + (segment & 1) * 0x10_0000
                        } else {
                            0x10_0000 * (1 + rng.below(7))
                        };
                        sfaa | 0x400 | protect | if rng.chance(10) { 0x100 } else { 0 }
                    }
                    3 if rng.chance(10) => PAGE_TABLES | 0x4, // wrong table type
                    _ => (PAGE_TABLES + rng.below(PAGE_TABLE_COUNT) * 0x800) | protect,
                };
                vec![(at, value)]
            }
            3 => {
                let valid = SEGMENT_TABLES[0] | (1 << 2);
                vec![(
                    REGION_TABLE,
                    if rng.chance(20) { valid | 0x20 } else { valid },
                )]
            }
            _ => {
                let at = PAGE_TABLES + rng.below(PAGE_TABLE_COUNT * 256) * 8;
                let value = frame_pool(rng)
                    | if rng.chance(15) { 0x400 } else { 0 }
                    | if rng.chance(15) { 0x200 } else { 0 }
                    | if rng.chance(10) { 0x100 } else { 0 }
                    | if rng.chance(2) { 0x800 } else { 0 };
                vec![(at, value)]
            }
        }
    }

    /// Records every translation through the table entry at `at` as formed:
    /// a TLB may keep using it after the store until an invalidation covers it.
    fn snapshot_through(&mut self, at: u64) {
        for asce in self.asces {
            for segment in 0..UNIVERSE >> 20 {
                let walk_controls = WalkControls::from(&self.controls);
                let (path, page_table) =
                    match walk_to_page_table(&self.storage, asce, segment << 20, walk_controls) {
                        Ok(PageTableStep::Entry { address, path, .. }) => {
                            (path, Some(address.value()))
                        }
                        Ok(PageTableStep::Leaf(walk)) => (walk.path, None),
                        Err(_) => continue,
                    };
                let through_segment = [Level::RegionThird, Level::Segment]
                    .iter()
                    .any(|level| path.entry(*level).map(AbsoluteAddress::value) == Some(at));
                let through_page_table =
                    page_table.is_some_and(|origin| (origin..origin + 0x800).contains(&at));
                if !(through_segment || through_page_table) {
                    continue;
                }
                for page in 0..256 {
                    let address = LogicalAddress::new((segment << 20) | (page << 12));
                    if let Some(formed) = self.walk(asce, address) {
                        let list = self
                            .formed
                            .entry((asce.tag(), address.value()))
                            .or_default();
                        if !list.contains(&formed) {
                            list.push(formed);
                        }
                    }
                }
            }
        }
    }

    /// The DAT translation of `address` through `asce` now, as a TLB would hold it.
    fn walk(&self, asce: Asce, address: LogicalAddress) -> Option<Formed> {
        let controls = Controls {
            cr1: asce,
            ..self.controls
        };
        let request = Request {
            address,
            space: AddressSpace::Primary,
            kind: AccessKind::Read,
            key: 0,
        };
        let access = check(&self.storage, &controls, request).ok()?;
        Some(Formed {
            asce,
            absolute: access.absolute.page(),
            protected: access.dat_protected,
            iep: access.iep,
            path: access.path,
        })
    }

    fn invalidate(&mut self, pending: PendingFlush) {
        let invalidation = pending.into_invalidation();
        match invalidation {
            // CSP with purge and PTLB: the pager keeps what the tables
            // translate again, which must be what DAT grants now.
            Invalidation::All => self.engine.purge(&self.storage, &self.controls),
            _ => self.engine.invalidate(&invalidation),
        }
        self.formed.retain(|_, list| {
            list.retain(|f| {
                !invalidation.covers(|level| f.path.entry(level), Some(f.asce), f.absolute)
            });
            !list.is_empty()
        });
    }

    fn set_controls(&mut self, new: Controls) {
        let old = self.controls;
        self.controls = new;
        self.engine.controls_changed(&old, &new);
        // A change of low-address protection changes no translation (a TLB
        // keeps its entries; the pager drops the low pages' mappings so that
        // the protection applies): what was formed may still be served.
        let rules = Cr0::FETCH_PROTECTION_OVERRIDE
            | Cr0::STORAGE_PROTECTION_OVERRIDE
            | Cr0::EDAT
            | Cr0::IEP;
        if (old.cr0 ^ new.cr0).intersects(rules) || old.facilities != new.facilities {
            self.formed.clear();
        }
    }

    fn random_request(&mut self) -> Request {
        if !self.recent.is_empty() && self.rng.chance(60) {
            let i = self.rng.below(self.recent.len() as u64) as usize;
            let kind = self.rng.pick(&[
                AccessKind::Read,
                AccessKind::Write,
                AccessKind::InstructionFetch,
            ]);
            let offset = self.rng.below(0x1000);
            let recent = self.recent[i];
            return Request {
                kind,
                address: LogicalAddress::new((recent.address.value() & !0xFFF) | offset),
                ..recent
            };
        }
        let rng = &mut self.rng;
        let address = if rng.chance(1) {
            LOWER_HALF_END + rng.below(1 << 20)
        } else if rng.chance(5) {
            rng.below(0x2000)
        } else {
            rng.below(UNIVERSE)
        };
        let space = rng.pick(&[
            AddressSpace::Real,
            AddressSpace::Primary,
            AddressSpace::Primary,
            AddressSpace::Secondary,
            AddressSpace::Home,
            AddressSpace::AccessRegister { alet: 0, ar: 1 },
            AddressSpace::AccessRegister { alet: 1, ar: 2 },
            AddressSpace::AccessRegister { alet: 7, ar: 3 },
        ]);
        let kind = rng.pick(&[
            AccessKind::Read,
            AccessKind::Read,
            AccessKind::Write,
            AccessKind::Write,
            AccessKind::InstructionFetch,
        ]);
        Request {
            address: LogicalAddress::new(address),
            space,
            kind,
            key: rng.below(3) as u8,
        }
    }

    /// The address of the `level` entry that a recent request's translation
    /// uses now, with the request's address.
    fn recent_path(&mut self, level: Level) -> Option<(u64, u64)> {
        if self.recent.is_empty() {
            return None;
        }
        let request = self.recent[self.rng.below(self.recent.len() as u64) as usize];
        let access = check(&self.storage, &self.controls, request).ok()?;
        Some((access.path.entry(level)?.value(), request.address.value()))
    }

    /// Moves the stores the host recorded into the C bits, where it does
    /// (before the keys are looked at or set).
    fn harvest(&mut self) {
        if self.tracking {
            self.engine.harvest(&mut self.storage);
        }
    }

    /// Whether the host granting `request` at `absolute` is legal now.
    fn legal(&self, request: Request, absolute: AbsoluteAddress) -> Result<(), String> {
        let page = absolute.page();
        let key = self
            .storage
            .key(absolute)
            .ok_or("host reached absent storage")?;
        if !key.referenced() {
            return Err(format!("{request:?} served at {absolute:?} with R = 0"));
        }
        if request.kind == AccessKind::Write && !key.changed() {
            return Err(format!("{request:?} stored at {absolute:?} with C = 0"));
        }
        if let Ok(now) = check(&self.storage, &self.controls, request) {
            if now.absolute == absolute {
                return Ok(());
            }
        }
        // Not what DAT says now: it must be a translation a TLB may keep,
        // used under today's keys and low-address protection.
        let source = zmmu_mmu::access::asce_source(request.space, request.kind)
            .map_err(|f| format!("{f:?}"))?;
        let Some(asce) = source.map(|s| self.controls.asce(s)) else {
            return Err(format!(
                "{request:?} served at {absolute:?}, DAT off says otherwise"
            ));
        };
        let keys = KeyControls::new(self.controls.cr0, asce.private());
        if !keys.permitted(request.kind, request.key, key, request.address.value()) {
            return Err(format!(
                "{request:?} at {absolute:?} refused by key {key:?}"
            ));
        }
        if request.kind == AccessKind::Write
            && lap::refuses_store(
                &self.controls,
                Some(asce.private()),
                request.address.value(),
            )
        {
            return Err(format!("{request:?} refused by low-address protection"));
        }
        let formed = self
            .formed
            .get(&(asce.tag(), request.address.page().value()));
        let kept = formed.is_some_and(|list| {
            list.iter().any(|f| {
                f.absolute == page
                    && !(request.kind == AccessKind::Write && f.protected)
                    && !(request.kind == AccessKind::InstructionFetch && f.iep)
            })
        });
        if kept {
            Ok(())
        } else {
            Err(format!(
                "{request:?} served at {absolute:?}: DAT says {:?}, formed since last purge {formed:?}",
                check(&self.storage, &self.controls, request)
            ))
        }
    }

    fn step(&mut self, step: u64) -> Result<(), String> {
        match self.rng.below(100) {
            0..=49 => self.access()?,
            50..=61 => {
                for (at, value) in self.random_table_stores() {
                    self.snapshot_through(at);
                    self.storage
                        .write_u64(AbsoluteAddress::new(at), value)
                        .unwrap();
                }
            }
            62..=67 => {
                // Mostly the page-table entry of a page in use.
                let (origin, first) = match self.recent_path(Level::Page) {
                    Some((pte, address)) if self.rng.chance(70) => {
                        (pte & !0x7FF, (address >> 12) & 0xFF)
                    }
                    _ => (
                        PAGE_TABLES + self.rng.below(PAGE_TABLE_COUNT) * 0x800,
                        self.rng.below(256),
                    ),
                };
                let extra = self.rng.below(4).min(255 - first) as u8;
                let inv = invalidate::ipte(&mut self.storage, origin, first << 12, extra)
                    .map_err(|e| format!("{e:?}"))?;
                self.invalidate(inv);
            }
            68..=71 => {
                let inv = match self.rng.below(3) {
                    0 => {
                        // Mostly the segment-table entry of a page in use.
                        let (table, segment) = match self.recent_path(Level::Segment) {
                            Some((ste, address)) if self.rng.chance(70) => {
                                (ste & !0xFFF, (address >> 20) & 0x7FF)
                            }
                            _ => (self.rng.pick(&SEGMENT_TABLES), self.rng.below(4)),
                        };
                        let r2 = (segment << 20) | self.rng.below(2);
                        invalidate::idte(&mut self.storage, table, r2, 0)
                    }
                    1 => invalidate::idte(&mut self.storage, REGION_TABLE | (1 << 2), 0, 0),
                    _ => {
                        let asce = self.rng.pick(&self.asces);
                        invalidate::idte(&mut self.storage, 0, 0x800, asce.value())
                    }
                }
                .map_err(|e| format!("{e:?}"))?;
                self.invalidate(inv);
            }
            72..=73 => {
                // CSP on the low word of a segment-table entry (how Linux
                // invalidates one), or PTLB.
                if self.rng.chance(50) {
                    let at = self.rng.pick(&SEGMENT_TABLES) + self.rng.below(4) * 8;
                    let old = self.storage.read_u64(AbsoluteAddress::new(at)).unwrap();
                    let outcome = invalidate::csp(
                        &mut self.storage,
                        AbsoluteAddress::new(at + 4),
                        CspWidth::Word,
                        old & 0xFFFF_FFFF,
                        (old | 0x20) & 0xFFFF_FFFF,
                        true,
                    )
                    .map_err(|e| format!("{e:?}"))?;
                    if let Some(inv) = outcome.invalidation {
                        self.invalidate(inv);
                    }
                } else {
                    self.invalidate(PendingFlush::new(Invalidation::All));
                }
            }
            75..=81 => {
                self.harvest();
                let frame = RealAddress::new(self.rng.below(STORAGE >> 12) << 12);
                if self.rng.chance(10) {
                    // SSKE over a whole 2 MiB block, as an operating system
                    // initializes keys: large mappings become possible again.
                    let block = frame.value() & !0x1F_FFFF;
                    let key = ((self.rng.below(2) << 4) as u8) | StorageKey::R | StorageKey::C;
                    for page in (block..block + (2 << 20)).step_by(4096) {
                        let inv = invalidate::sske(
                            &mut self.storage,
                            self.controls.prefix,
                            RealAddress::new(page),
                            key,
                        )
                        .map_err(|e| format!("{e:?}"))?;
                        self.invalidate(inv);
                    }
                } else {
                    let inv = if self.rng.chance(60) {
                        let key = ((self.rng.below(3) << 4) | self.rng.below(16)) as u8;
                        invalidate::sske(&mut self.storage, self.controls.prefix, frame, key)
                    } else {
                        invalidate::rrbe(&mut self.storage, self.controls.prefix, frame)
                            .map(|(_, inv)| inv)
                    }
                    .map_err(|e| format!("{e:?}"))?;
                    self.invalidate(inv);
                }
            }
            82..=83 => {
                let operand = self.rng.pick(&PREFIXES);
                let (prefix, inv) = invalidate::spx(&self.storage, self.controls.prefix, operand)
                    .map_err(|e| format!("{e:?}"))?;
                self.controls.prefix = prefix;
                self.invalidate(inv);
            }
            84..=87 => {
                let mut new = self.controls;
                match self.rng.below(12) {
                    0 => new.cr0 ^= Cr0::EDAT,
                    1 => new.cr0 ^= Cr0::LOW_ADDRESS_PROTECTION,
                    2 => new.cr0 ^= Cr0::FETCH_PROTECTION_OVERRIDE,
                    3 => new.cr0 ^= Cr0::STORAGE_PROTECTION_OVERRIDE | Cr0::IEP,
                    _ => {
                        new.cr1 = self.rng.pick(&self.asces);
                        new.cr7 = self.rng.pick(&self.asces);
                        new.cr13 = self.rng.pick(&self.asces);
                    }
                }
                self.set_controls(new);
            }
            _ => self.access()?,
        }
        self.verify_hardware()
            .map_err(|e| format!("step {step}: {e}"))
    }

    /// One access through the engine, compared with DAT.
    fn access(&mut self) -> Result<(), String> {
        let request = self.random_request();
        if self.recent.len() < 32 {
            self.recent.push(request);
        } else {
            let i = self.rng.below(32) as usize;
            self.recent[i] = request;
        }
        let expected: Result<Access, Fault> = check(&self.storage, &self.controls, request);
        let got = self
            .engine
            .access(&mut self.storage, &self.controls, request);
        match (got, expected) {
            (Ok(served), Ok(now)) if served.absolute == now.absolute => {
                if served.real != now.real {
                    return Err(format!(
                        "{request:?}: real {:?}, DAT says {:?}",
                        served.real, now.real
                    ));
                }
                self.harvest();
                let key = self
                    .storage
                    .key(served.absolute)
                    .ok_or("served outside storage")?;
                if !key.referenced() || (request.kind == AccessKind::Write && !key.changed()) {
                    return Err(format!("{request:?}: R/C not recorded, key {key:?}"));
                }
            }
            (Ok(served), _) => {
                self.stale_served += 1;
                self.legal(request, served.absolute)?;
            }
            (Err(EngineError::Fault(fault)), Err(now)) if fault == now => {}
            (got, expected) => {
                return Err(format!("{request:?}: engine {got:?}, DAT {expected:?}"))
            }
        }
        Ok(())
    }

    /// Probes hv-mock's hardware directly (no fault resolution) at random
    /// addresses in every root that exists: every grant must be legal, and
    /// nothing is ever executable.
    fn verify_hardware(&mut self) -> Result<(), String> {
        for _ in 0..4 {
            let request = self.random_request();
            let Ok(tag) = RootTag::for_request(&self.controls, &request) else {
                continue;
            };
            let Some(root) = self.engine.pager().root(tag) else {
                continue;
            };
            let kind = Kind::from(Purpose::host_kind(request.kind));
            if let Ok(absolute) = self.engine.host_mut().load(root, request.address, kind) {
                self.checked += 1;
                // A store the hardware let through is in C after a harvest.
                self.harvest();
                self.legal(request, absolute)?;
            }
            if self
                .engine
                .host_mut()
                .load(root, request.address, Kind::Execute)
                .is_ok()
            {
                return Err(format!("{:?} is executable", request.address));
            }
        }
        Ok(())
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn host_mmu_never_grants_what_dat_and_the_lag_rules_refuse() {
    run_model(false);
}

/// The same with the host recording first stores: a page with C zero may
/// be writable, and every store it lets through is in C at the next
/// harvest.
#[test]
fn host_mmu_never_grants_what_dat_refuses_with_stores_recorded_by_the_host() {
    run_model(true);
}

fn run_model(tracking: bool) {
    let steps = env("MODEL_STEPS", 100_000);
    let seed = env("MODEL_SEED", 1);
    let mut model = Model::new(seed, tracking);
    for step in 0..steps {
        if let Err(error) = model.step(step) {
            panic!("seed {seed}, step {step}: {error}");
        }
    }
    let counters = model.engine.host().counters();
    let stats = model.engine.pager().stats();
    println!(
        "seed {seed}: {steps} steps, {} hardware grants checked, {} served from kept translations, \
         pager {stats:?}, host {counters:?}",
        model.checked, model.stale_served
    );
    assert!(
        model.checked > steps / 10,
        "the hardware path was hardly exercised"
    );
    assert!(stats.mapped_2m > 0, "no 2 MiB mapping was made");
    assert!(stats.kept_by_purges > 0, "no purge kept a mapping");
    if tracking {
        assert!(stats.harvested > 0, "no store was recorded by the host");
    }
}
