//! Format-2 plans: a version-1 style scenario (tables, keys, control
//! registers, multi-byte probes from [`generate_v2`]) turned into a
//! sequence of steps with operations between the accesses. Like the
//! version-1 planner, this only chooses inputs: every outcome comes from the
//! reference machine.
//!
//! The planner keeps a model of the tables (a storage with the entries it
//! wrote, walked with the core's walk) only to aim operations at entries
//! that accesses use and to stay safe: it never changes or invalidates an
//! entry on the walk of the probe's own snippet page, never moves the prefix
//! onto a frame that a store reaches below offset 0x200, and after an
//! operation re-probes the accesses of the target it aimed at. Stale-window
//! groups (witness accesses, a store changing a valid page-table entry
//! without a purge, the same accesses again, a purge, the accesses again)
//! come last; the accesses in the window accept the witness's and the post
//! access's outcome (`FORMAT-v2.md`, "Stale translations").

use std::collections::BTreeSet;

use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::asce::{Asce, Level};
use zmmu_mmu::control::{Controls, Cr0, Facilities};
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::storage::{OwnedStorage, Storage};
use zmmu_mmu::walk::{self, WalkControls};

use super::layout::{DATA_ZONE, PROBE_START, SNIPPET_PAGE, STORAGE_SIZE, TABLE_ZONE};
use super::plan::{cr0, generate_v2, Caps, Plan, Shape};
use super::prng::Prng;
use crate::steps::{LraForm, Op};
use crate::vector::{Amode, ProbeKind, ProbeSpace};

/// A format-2 scenario before it has been run.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// The initial state (its `probes` are the accesses as first drawn).
    pub base: Plan,
    /// The steps, in order.
    pub steps: Vec<Op>,
    /// For each step, the steps whose observed outcomes are allowed
    /// alternatives (stale windows).
    pub alt_from: Vec<Vec<usize>>,
    /// The first step of the first stale window: `key_after` is not
    /// recorded from there on.
    pub window_start: Option<usize>,
}

const PTE_INVALID: u64 = 0x400;
const TABLE_INVALID: u64 = 0x20;
const PROT: u64 = 0x200;
const FRAME: u64 = 0xffff_ffff_ffff_f000;

/// The planner's model: the tables as written so far and the controls.
struct Model {
    storage: OwnedStorage,
    controls: Controls,
    /// Table entries on the walks of the snippet page (never touched).
    protected: BTreeSet<u64>,
}

impl Model {
    fn new(plan: &Plan, caps: Caps) -> Model {
        let mut storage = OwnedStorage::new(STORAGE_SIZE as usize);
        for (&at, &value) in &plan.entries {
            let _ = storage.write_u64(AbsoluteAddress::new(at), value);
        }
        let mut facilities = Facilities::empty();
        if caps.edat1 {
            facilities |= Facilities::EDAT1;
        }
        let controls = Controls {
            cr0: Cr0::from_bits_retain(plan.cr0),
            cr1: Asce::new(plan.cr1),
            cr7: Asce::new(plan.cr7),
            cr13: Asce::new(plan.cr13),
            prefix: Prefix::new(plan.prefix),
            facilities,
        };
        let mut model = Model {
            storage,
            controls,
            protected: BTreeSet::new(),
        };
        for asce in [plan.cr1, plan.cr13] {
            for level in Level::TABLES.into_iter().chain([Level::Page]) {
                if let Some(at) = model.entry(asce, SNIPPET_PAGE, level) {
                    model.protected.insert(at);
                }
            }
        }
        model
    }

    /// The address of the entry at `level` that the walk of `va` in `asce`
    /// reaches (the entry exists and the walk got that far).
    fn entry(&self, asce: u64, va: u64, level: Level) -> Option<u64> {
        let controls = WalkControls::from(&self.controls);
        let path = match walk::walk(&self.storage, Asce::new(asce), va, controls) {
            Ok(w) => w.path.entry(level),
            Err(f) if f.level == level => f.entry,
            Err(_) => None,
        };
        path.map(|a| a.value())
    }

    /// Whether the planner may change the entry at `at`: it lies in the
    /// table zone (where the planner's tables are) and off the snippet's
    /// walk.
    fn changeable(&self, at: u64) -> bool {
        (TABLE_ZONE..DATA_ZONE).contains(&at) && !self.protected.contains(&at)
    }

    fn read(&self, at: u64) -> u64 {
        self.storage.read_u64(AbsoluteAddress::new(at)).unwrap_or(0)
    }

    fn write(&mut self, at: u64, value: u64) {
        let _ = self.storage.write_u64(AbsoluteAddress::new(at), value);
    }

    fn real_of_abs(&self, abs: u64) -> u64 {
        let p = self.controls.prefix.value();
        if abs < 0x2000 {
            abs + p
        } else if abs >= p && abs < p + 0x2000 {
            abs - p
        } else {
            abs
        }
    }
}

/// An access of the plan with its shape.
#[derive(Clone, Copy)]
struct Access {
    op: Op,
    shape: Shape,
}

impl Access {
    fn parts(&self) -> (u64, ProbeSpace, Amode, ProbeKind, u64) {
        match self.op {
            Op::Access {
                addr,
                space,
                amode,
                access,
                key,
                ..
            } => (addr, space, amode, access, key),
            _ => unreachable!("accesses only"),
        }
    }

    fn is_write(&self) -> bool {
        self.parts().3 == ProbeKind::Write
    }

    /// Whether a byte lies in logical 0-8191, where low-address protection
    /// may apply: after an operation the planner no longer knows whether
    /// such a store translates, and a reference that checks low-address
    /// protection after translation (`Caps::late_lap`) would answer
    /// differently from the architecture.
    fn reaches_low_pages(&self) -> bool {
        let (addr, _, amode, _, _) = self.parts();
        let Op::Access { size, .. } = self.op else {
            return false;
        };
        addr >> 13 == 0 || (addr.wrapping_add(size - 1) & amode.max_addr()) >> 13 == 0
    }
}

struct Planner<'a> {
    rng: Prng,
    caps: Caps,
    model: Model,
    steps: Vec<Op>,
    alt_from: Vec<Vec<usize>>,
    /// Absolute frames a store reaches below offset 0x200 (the prefix never
    /// moves onto them).
    low_store_frames: BTreeSet<u64>,
    plan: &'a Plan,
    spx_done: bool,
}

impl Planner<'_> {
    fn push(&mut self, op: Op) -> usize {
        self.steps.push(op);
        self.alt_from.push(Vec::new());
        self.steps.len() - 1
    }

    /// The accesses of `group` again (after SPX, only reads: a store that
    /// was safe may now reach the new lowcore).
    fn reprobe(&mut self, group: &[Access]) -> Vec<usize> {
        let safe: Vec<Access> = group
            .iter()
            .filter(|a| !self.spx_done || a.parts().3 == ProbeKind::Read)
            .filter(|a| !(self.caps.late_lap && a.is_write() && a.reaches_low_pages()))
            .copied()
            .collect();
        safe.iter().map(|a| self.push(a.op)).collect()
    }

    /// A query instruction at the address of `a`.
    fn query(&mut self, a: &Access) {
        let (addr, space, amode, access, key) = a.parts();
        let space = if access == ProbeKind::InstructionFetch && space == ProbeSpace::Secondary {
            ProbeSpace::Primary
        } else {
            space
        };
        // With DAT off, LRA, STRAG and LPTEA translate through tables the
        // planner did not build for the address: only TPROT.
        let pick = if space == ProbeSpace::Real {
            0
        } else {
            self.rng.range(0, 4)
        };
        let op = match pick {
            0 => Op::Tprot {
                addr,
                space,
                amode,
                key: if self.caps.keys && self.rng.chance(50) {
                    self.rng.range(0, 16)
                } else {
                    key
                },
            },
            1 => Op::Lra {
                form: self.rng.pick(&LraForm::ALL),
                addr,
                space,
                amode,
            },
            2 if space != ProbeSpace::Secondary => Op::Strag { addr, space, amode },
            _ => Op::Lptea {
                addr,
                m4: match space {
                    ProbeSpace::Primary => 0,
                    ProbeSpace::Secondary => 2,
                    _ => 3,
                },
            },
        };
        self.push(op);
    }

    /// The ASCE and address of a DAT group, for aiming at its entries.
    fn dat_target(group: &[Access]) -> Option<(u64, u64)> {
        let first = group.first()?;
        let asce = first.shape.asce?;
        if asce & 0x20 != 0 {
            return None;
        }
        Some((asce, first.parts().0))
    }

    /// One operation aimed at `group`, the re-probes it calls for, and
    /// where an entry was invalidated, its restoration (a store from
    /// invalid to valid) and the re-probes again.
    fn mutate(&mut self, group: &[Access]) {
        let target = Self::dat_target(group);
        let choice = self.rng.range(0, 100);
        let mut restore: Vec<(u64, u64)> = Vec::new();
        // A valid entry changed by CSP is put back by CSPG with purge (a
        // plain store would leave the changed translation usable).
        let mut restore_purging = false;
        match (choice, target) {
            (0..=17, Some((asce, va))) => {
                let Some(pte) = self.model.entry(asce, va, Level::Page) else {
                    return self.purge_and_reprobe(group);
                };
                let index = (pte >> 3) & 0xff;
                let mut range = if self.rng.chance(40) {
                    self.rng.range(1, 4)
                } else {
                    0
                };
                range = range.min(255 - index);
                let covered: Vec<u64> = (0..=range).map(|i| pte + 8 * i).collect();
                if !covered.iter().all(|&e| self.model.changeable(e)) {
                    return self.purge_and_reprobe(group);
                }
                for &e in &covered {
                    let old = self.model.read(e);
                    restore.push((e, old));
                    self.model.write(e, old | PTE_INVALID);
                }
                let local = self.rng.chance(30);
                self.push(Op::Ipte {
                    pto: pte & !0x7ff,
                    va,
                    range,
                    local,
                });
            }
            (18..=33, Some((asce, va))) => {
                let local = self.rng.chance(30);
                if self.rng.chance(25) {
                    self.push(Op::Idte {
                        r1: 0,
                        r2: 0x800,
                        r3: asce,
                        local,
                    });
                } else {
                    let top = Asce::new(asce).designation_type();
                    let levels: Vec<Level> = Level::TABLES
                        .into_iter()
                        .filter(|&l| l as u8 >= top as u8)
                        .collect();
                    let level = self.rng.pick(&levels);
                    let Some(entry) = self.model.entry(asce, va, level) else {
                        return self.purge_and_reprobe(group);
                    };
                    let origin = entry - level.index(va) * 8;
                    let count = if self.rng.chance(30) {
                        self.rng.range(1, 3)
                    } else {
                        0
                    };
                    let covered: Vec<u64> = (0..=count)
                        .map(|i| origin + ((level.index(va) + i) & 0x7ff) * 8)
                        .collect();
                    if !covered.iter().all(|&e| self.model.changeable(e)) {
                        return self.purge_and_reprobe(group);
                    }
                    for &e in &covered {
                        let old = self.model.read(e);
                        restore.push((e, old));
                        self.model.write(e, old | TABLE_INVALID);
                    }
                    let index_bits = va & !((1u64 << level.shift()) - 1);
                    let index_bits = if level == Level::RegionFirst {
                        index_bits
                    } else {
                        index_bits & ((1u64 << (level.shift() + 11)) - 1)
                    };
                    self.push(Op::Idte {
                        r1: origin | (level.type_code() << 2),
                        r2: index_bits | count,
                        r3: 0,
                        local,
                    });
                }
            }
            (34..=49, Some((asce, va))) => {
                let Some(pte) = self.model.entry(asce, va, Level::Page) else {
                    return self.purge_and_reprobe(group);
                };
                if !self.model.changeable(pte) {
                    return self.purge_and_reprobe(group);
                }
                let old = self.model.read(pte);
                let new = self.changed_pte(old);
                let mismatch = self.rng.chance(20);
                let word = self.rng.chance(40);
                let (width, addr, compare, replace) = if word {
                    (4, pte + 4, old & 0xffff_ffff, new & 0xffff_ffff)
                } else {
                    (8, pte, old, new)
                };
                let compare = if mismatch { compare ^ 0x100 } else { compare };
                if !mismatch {
                    let stored = if word {
                        (old & !0xffff_ffff) | replace
                    } else {
                        new
                    };
                    restore.push((pte, old));
                    restore_purging = true;
                    self.model.write(pte, stored);
                }
                self.push(Op::Csp {
                    width,
                    addr,
                    compare,
                    replace,
                    purge: true,
                });
            }
            (50..=59, _) => {
                let Some(frame) = group.iter().find_map(|a| a.shape.data_frame) else {
                    return self.purge_and_reprobe(group);
                };
                let key = if self.rng.chance(50) {
                    0
                } else {
                    (self.rng.range(0, 16) << 4)
                        | (u64::from(self.rng.chance(40)) << 3)
                        | (self.rng.range(0, 4) << 1)
                };
                let m3 = if self.rng.chance(30) { 8 } else { 0 };
                let addr = self.model.real_of_abs(frame);
                self.push(Op::Sske { addr, key, m3 });
            }
            (60..=69, _) => {
                let Some(frame) = group.iter().find_map(|a| a.shape.data_frame) else {
                    return self.purge_and_reprobe(group);
                };
                let addr = self.model.real_of_abs(frame) | self.rng.range(0, 0x1000);
                self.push(Op::Rrbe { addr });
            }
            (70..=79, _) if !self.spx_done => {
                let candidates = [
                    self.rng.range(1, PROBE_START >> 13) << 13,
                    self.rng.range(DATA_ZONE >> 13, STORAGE_SIZE >> 13) << 13,
                    STORAGE_SIZE + (self.rng.range(0, 64) << 13),
                    0x7fff_e000,
                    0,
                ];
                let prefix = self.rng.pick(&candidates);
                let clashes = self.low_store_frames.contains(&prefix)
                    || self.low_store_frames.contains(&(prefix + 0x1000));
                if clashes {
                    return self.purge_and_reprobe(group);
                }
                self.push(Op::Spx { prefix });
                if prefix + 0x2000 <= STORAGE_SIZE {
                    self.model.controls.prefix = Prefix::new(prefix);
                    self.spx_done = true;
                }
            }
            (80..=89, _) => return self.load_controls(group),
            _ => return self.purge_and_reprobe(group),
        }
        self.reprobe(group);
        if !restore.is_empty() {
            let mut seen = BTreeSet::new();
            for &(at, old) in &restore {
                if seen.insert(at) {
                    let now = self.model.read(at);
                    self.push(if restore_purging {
                        Op::Csp {
                            width: 8,
                            addr: at,
                            compare: now,
                            replace: old,
                            purge: true,
                        }
                    } else {
                        Op::Store {
                            addr: at,
                            value: old,
                        }
                    });
                }
            }
            for &(at, old) in restore.iter().rev() {
                self.model.write(at, old);
            }
            self.reprobe(group);
        }
    }

    /// A page-table entry changed as a program would: protection toggled,
    /// another data frame, or invalid.
    fn changed_pte(&mut self, old: u64) -> u64 {
        match self.rng.range(0, 3) {
            // After SPX a data frame may be the new lowcore: no new frames.
            1 if !self.spx_done => (old & !FRAME) | self.rng.pick(&self.plan.pool_frames()),
            0 | 1 => old ^ PROT,
            _ => old | PTE_INVALID,
        }
    }

    fn purge_and_reprobe(&mut self, group: &[Access]) {
        self.push(Op::Ptlb);
        self.reprobe(group);
    }

    /// Control-register loads: CR0's override or IEP bits toggled, CR7
    /// given the primary ASCE, or CR1 and CR13 exchanged; the group's
    /// accesses are re-probed in the space that now holds their ASCE, and
    /// the registers are restored.
    fn load_controls(&mut self, group: &[Access]) {
        let c = self.model.controls;
        let (cr1, cr7, cr13) = (c.cr1.value(), c.cr7.value(), c.cr13.value());
        match self.rng.range(0, 3) {
            0 => {
                let toggle = match (self.caps.keys, self.caps.iep) {
                    (true, _) => self.rng.pick(&[cr0::FETCH_OVERRIDE, cr0::STORE_OVERRIDE]),
                    (false, true) => cr0::IEP,
                    _ => 0,
                };
                let old = c.cr0.bits();
                self.push(Op::Lctlg {
                    cr: 0,
                    value: old ^ toggle,
                });
                self.reprobe(group);
                self.push(Op::Lctlg { cr: 0, value: old });
            }
            1 => {
                self.push(Op::Lctlg { cr: 7, value: cr1 });
                let moved: Vec<Access> = group
                    .iter()
                    .filter(|a| a.shape.asce == Some(cr1))
                    .filter(|a| a.parts().3 != ProbeKind::InstructionFetch)
                    .map(|a| with_space(a, ProbeSpace::Secondary))
                    .collect();
                self.reprobe(&moved);
                self.push(Op::Lctlg { cr: 7, value: cr7 });
            }
            _ => {
                self.push(Op::Lctlg { cr: 1, value: cr13 });
                self.push(Op::Lctlg { cr: 13, value: cr1 });
                let moved: Vec<Access> = group
                    .iter()
                    .filter_map(|a| {
                        let (_, space, ..) = a.parts();
                        match (space, a.shape.asce) {
                            (ProbeSpace::Primary, Some(x)) if x == cr1 => {
                                Some(with_space(a, ProbeSpace::Home))
                            }
                            (ProbeSpace::Home, Some(x)) if x == cr13 => {
                                Some(with_space(a, ProbeSpace::Primary))
                            }
                            _ => None,
                        }
                    })
                    .collect();
                self.reprobe(&moved);
                self.push(Op::Lctlg { cr: 1, value: cr1 });
                self.push(Op::Lctlg {
                    cr: 13,
                    value: cr13,
                });
            }
        }
    }

    /// A stale window on the page-table entry of `group` (which must be a
    /// valid 4 KiB translation to a data frame): witness, unpurged change,
    /// window, purge, post. Returns the first step of the window.
    fn window(&mut self, group: &[Access]) -> Option<usize> {
        let (asce, va) = Self::dat_target(group)?;
        group
            .iter()
            .all(|a| a.shape.data_frame.is_some())
            .then_some(())?;
        let pte = self.model.entry(asce, va, Level::Page)?;
        let old = self.model.read(pte);
        if !self.model.changeable(pte) || old & (PTE_INVALID | 0x800) != 0 {
            return None;
        }
        let accesses: Vec<Access> = group
            .iter()
            .filter(|a| a.parts().3 != ProbeKind::InstructionFetch)
            .filter(|a| !(a.is_write() && a.parts().0 & 0xfff < 0x200))
            .copied()
            .collect();
        if accesses.is_empty() {
            return None;
        }
        let witness = self.reprobe(&accesses);
        let new = self.changed_pte(old);
        let start = if self.rng.chance(30) {
            self.push(Op::Csp {
                width: 8,
                addr: pte,
                compare: old,
                replace: new,
                purge: false,
            })
        } else {
            self.push(Op::Store {
                addr: pte,
                value: new,
            })
        };
        self.model.write(pte, new);
        let stale = self.reprobe(&accesses);
        if self.rng.chance(60) {
            self.push(Op::Ptlb);
        } else {
            self.push(Op::Csp {
                width: 8,
                addr: pte,
                compare: new,
                replace: new,
                purge: true,
            });
        }
        let post = self.reprobe(&accesses);
        if stale.len() == witness.len() && post.len() == witness.len() {
            for ((s, w), p) in stale.iter().zip(&witness).zip(&post) {
                self.alt_from[*s] = vec![*w, *p];
            }
        }
        Some(start)
    }
}

fn with_space(a: &Access, new: ProbeSpace) -> Access {
    let mut moved = *a;
    if let Op::Access { space, .. } = &mut moved.op {
        *space = new;
    }
    moved
}

impl Plan {
    /// The data frames the planner used for page-table entries.
    fn pool_frames(&self) -> Vec<u64> {
        let mut frames: Vec<u64> = self.shapes.iter().filter_map(|s| s.data_frame).collect();
        frames.retain(|&f| f >= DATA_ZONE);
        if frames.is_empty() {
            frames.push(DATA_ZONE);
        }
        frames
    }
}

/// Draws format-2 scenario `index` of `seed` for a reference with `caps`.
pub fn generate_steps(name: String, seed: u64, index: u64, caps: Caps) -> StepPlan {
    let base = generate_v2(name, seed, index, caps);
    let accesses: Vec<Access> = base
        .probes
        .iter()
        .zip(&base.shapes)
        .map(|(p, &shape)| Access {
            op: Op::Access {
                addr: p.addr,
                space: p.space,
                amode: p.amode,
                access: p.access,
                key: p.key,
                size: shape.size,
            },
            shape,
        })
        .collect();
    let low_store_frames = accesses
        .iter()
        .filter(|a| a.is_write() && a.parts().0 & 0xfff < 0x200)
        .filter_map(|a| a.shape.data_frame)
        .collect();
    let mut p = Planner {
        rng: Prng::new(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed_0002),
        caps,
        model: Model::new(&base, caps),
        steps: Vec::new(),
        alt_from: Vec::new(),
        low_store_frames,
        plan: &base,
        spx_done: false,
    };
    let mut groups: Vec<Vec<Access>> = Vec::new();
    for a in &accesses {
        match groups.last_mut() {
            Some(g) if g[0].shape.target == a.shape.target => g.push(*a),
            _ => groups.push(vec![*a]),
        }
    }
    for group in &groups {
        for a in group {
            p.push(a.op);
            if p.rng.chance(45) {
                p.query(a);
            }
        }
        for _ in 0..p.rng.range(1, 3) {
            p.mutate(group);
        }
    }
    let mut window_start = None;
    for _ in 0..p.rng.range(1, 3) {
        let group = p.rng.pick(&groups.iter().collect::<Vec<_>>()).clone();
        if let Some(start) = p.window(&group) {
            window_start.get_or_insert(start);
        }
    }
    let (steps, alt_from) = (p.steps, p.alt_from);
    StepPlan {
        base,
        steps,
        alt_from,
        window_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::reference::Reference;

    #[test]
    fn deterministic_and_never_touches_the_snippet_walk() {
        for reference in [Reference::Qemu, Reference::Hercules] {
            for i in 0..100 {
                let a = generate_steps("a".into(), 3, i, reference.caps());
                let b = generate_steps("a".into(), 3, i, reference.caps());
                assert_eq!(a.steps, b.steps);
                let model = Model::new(&a.base, reference.caps());
                for op in &a.steps {
                    let touched = match *op {
                        Op::Store { addr, .. } => vec![addr],
                        Op::Csp { addr, .. } => vec![addr & !7],
                        Op::Ipte { pto, va, range, .. } => (0..=range)
                            .map(|r| pto + (((va >> 12) & 0xff) + r) * 8)
                            .collect(),
                        _ => Vec::new(),
                    };
                    for at in touched {
                        assert!(model.changeable(at), "{op:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn window_accesses_name_their_witness_and_post() {
        let mut windows = 0;
        for i in 0..100 {
            let plan = generate_steps("w".into(), 4, i, Reference::Hercules.caps());
            for (s, from) in plan.alt_from.iter().enumerate() {
                if let [w, p] = from[..] {
                    assert!(w < s && s < p);
                    assert_eq!(plan.steps[w], plan.steps[s]);
                    assert_eq!(plan.steps[p], plan.steps[s]);
                    windows += 1;
                }
            }
        }
        assert!(windows > 50, "{windows}");
    }
}
