//! Scenario plans drawn from a seed: DAT tables, control registers, prefix,
//! storage keys and the probes to make. A plan holds only inputs; outcomes
//! come from the reference machine.
//!
//! The builder keeps a model of the layout it wrote only to stay safe: it
//! probes logical addresses whose walk uses entries it wrote, and it stores
//! (one zero byte at an even address) or executes only where the frame it
//! intended holds tags. See `conformance/gen/README.md`.

use std::collections::BTreeMap;

use super::layout::{DATA_ZONE, PROBE_START, SNIPPET_PAGE, STORAGE_SIZE, TABLE_ZONE};
use super::prng::Prng;
use crate::vector::{Amode, Facility, ProbeKind, ProbeSpace};

/// CR0 bits the generator varies.
pub mod cr0 {
    /// The reset value of CR0 (external subclass masks).
    pub const BASE: u64 = 0xe0;
    /// Secondary-space control (bit 37).
    pub const SECONDARY_SPACE: u64 = 0x0400_0000;
    /// Low-address protection (bit 35).
    pub const LAP: u64 = 0x1000_0000;
    /// Fetch-protection override (bit 38).
    pub const FETCH_OVERRIDE: u64 = 0x0200_0000;
    /// Storage-protection override (bit 39).
    pub const STORE_OVERRIDE: u64 = 0x0100_0000;
    /// EDAT-1 enable (bit 40).
    pub const EDAT: u64 = 0x0080_0000;
    /// Instruction-execution protection enable (bit 43).
    pub const IEP: u64 = 0x0010_0000;
}

/// What a reference machine implements, as far as plans depend on it.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Key-controlled and fetch protection (else every PSW key is 0).
    pub keys: bool,
    /// EDAT-1 (CR0 bit 40, 1 MiB frames, region protection).
    pub edat1: bool,
    /// Instruction-execution protection (facility 130).
    pub iep: bool,
    /// ESOP-1 and ESOP-2 (facility 131): protection TEIDs depend on them.
    pub esop2: bool,
    /// Low-address protection is checked only after a successful
    /// translation (Hercules 3.13; QEMU and the PoP check it first), so
    /// stores that low-address protection should refuse are made only
    /// where the translation succeeds.
    pub late_lap: bool,
    /// Low-address protection is checked for every byte of a store,
    /// including bytes that wrap to 0 at the end of the 24- or 31-bit space
    /// (Hercules; QEMU 7.2 checks the first byte only, so stores that wrap
    /// into a protected page are not made there).
    pub lap_every_byte: bool,
    /// Operands wrap at the end of the 24- and 31-bit space (QEMU 7.2 wraps
    /// only MVC: a load or store crossing the end is made at the unwrapped
    /// address, so no wrap targets in those modes are drawn for it).
    pub operand_wrap: bool,
}

/// One access to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Logical address, wrapped for `amode`.
    pub addr: u64,
    /// Address space.
    pub space: ProbeSpace,
    /// Addressing mode.
    pub amode: Amode,
    /// Access kind.
    pub access: ProbeKind,
    /// PSW key.
    pub key: u64,
}

/// A scenario before it has been run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// Facilities the outcomes depend on.
    pub facilities: Vec<Facility>,
    /// Prefix register.
    pub prefix: u64,
    /// Control register 0.
    pub cr0: u64,
    /// Primary ASCE.
    pub cr1: u64,
    /// Secondary ASCE.
    pub cr7: u64,
    /// Home ASCE.
    pub cr13: u64,
    /// Nonzero doublewords of the DAT tables, by absolute address; every
    /// other byte of a table frame is zero.
    pub entries: BTreeMap<u64, u64>,
    /// Storage keys by absolute frame address.
    pub keys: BTreeMap<u64, u64>,
    /// Probes, in order.
    pub probes: Vec<ProbeSpec>,
    /// For each probe, what format 2 adds: its size and what the planner
    /// meant it to reach.
    pub shapes: Vec<Shape>,
}

/// A probe's size and the planner's intent for it (format 2; version-1
/// plans have one-byte probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Bytes accessed (1 for every version-1 probe; 2 for a format-2
    /// instruction fetch).
    pub size: u64,
    /// The ASCE the target was mapped through (`None` for DAT off).
    pub asce: Option<u64>,
    /// The absolute frame the planner meant the first byte to reach, when
    /// it is a data frame (tags everywhere).
    pub data_frame: Option<u64>,
    /// The target (page) the probe belongs to, numbered in drawing order.
    pub target: usize,
}

/// Sizes of format-2 operand accesses.
pub const SIZES: [u64; 5] = [1, 2, 4, 8, 16];
/// The doublewords the probe reads next to an accessed byte to learn its
/// frame (offsets 0x400 and 0xc00 of the page; `conformance/gen/probe.c`):
/// format-2 stores never reach them.
pub const TAG_SIBLINGS: [u64; 2] = [0x400, 0xc00];

impl Plan {
    /// The table doublewords as `mem` runs of consecutive bytes.
    pub fn mem(&self) -> Vec<(u64, Vec<u8>)> {
        let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
        for (&addr, &value) in &self.entries {
            match runs.last_mut() {
                Some((start, bytes)) if *start + bytes.len() as u64 == addr => {
                    bytes.extend_from_slice(&value.to_be_bytes())
                }
                _ => runs.push((addr, value.to_be_bytes().to_vec())),
            }
        }
        runs
    }
}

const INVALID: u64 = 0x20;
const PTE_INVALID: u64 = 0x400;
const PTE_BIT52: u64 = 0x800;
const PROT: u64 = 0x200;
const PTE_IEP: u64 = 0x100;
const STE_FC: u64 = 0x400;
const STE_CS: u64 = 0x10;
const ASCE_PRIVATE: u64 = 0x100;
const ASCE_REAL: u64 = 0x20;
const ORIGIN: u64 = 0xffff_ffff_ffff_f000;
const PTO: u64 = 0xffff_ffff_ffff_f800;
const SFAA: u64 = 0xffff_ffff_fff0_0000;

/// Level numbers: 4 region-first, 3 region-second, 2 region-third,
/// 1 segment, 0 page.
fn index(va: u64, level: u32) -> u64 {
    match level {
        0 => (va >> 12) & 0xff,
        _ => (va >> (20 + 11 * (level - 1))) & 0x7ff,
    }
}

/// The TT (or DT) field of a table at `level` (1..=4).
fn tt(level: u32) -> u64 {
    u64::from(level - 1) << 2
}

/// How an ASCE was built.
#[derive(Debug, Clone, Copy)]
struct Asce {
    value: u64,
    top: u32,
    real: bool,
    private: bool,
}

/// Where the builder meant an access to land.
#[derive(Debug, Clone, Copy)]
enum Intent {
    /// A frame with tags everywhere (a data frame), absolute address.
    Data(u64),
    /// A frame with tags from offset 0x200 (a lowcore frame).
    Lowcore(u64),
    /// Beyond storage, or a fault before any frame is reached.
    Nowhere,
}

struct Builder<'a> {
    rng: &'a mut Prng,
    caps: Caps,
    cr0: u64,
    prefix: u64,
    fault_pct: u64,
    next_frame: u64,
    spare_half: Option<u64>,
    entries: BTreeMap<u64, u64>,
    pool: Vec<u64>,
    large_pool: Vec<u64>,
    /// Segment-table entries written, by segment (logical address >> 20):
    /// the ASCE and the entry.
    segments: BTreeMap<u64, Vec<(u64, u64)>>,
}

impl Builder<'_> {
    fn alloc(&mut self, frames: u64) -> u64 {
        let at = self.next_frame;
        self.next_frame += frames << 12;
        assert!(self.next_frame <= DATA_ZONE, "table zone exhausted");
        at
    }

    fn alloc_page_table(&mut self) -> u64 {
        match self.spare_half.take() {
            Some(half) => half,
            None => {
                let at = self.alloc(1);
                self.spare_half = Some(at + 0x800);
                at
            }
        }
    }

    fn beyond_storage(&mut self, align_shift: u32) -> u64 {
        if self.rng.chance(70) {
            STORAGE_SIZE + (self.rng.range(0, 64) << align_shift)
        } else {
            (self.rng.range(1, 1 << 20) << 32) & !((1u64 << align_shift) - 1)
        }
    }

    fn absolute(&self, real: u64) -> u64 {
        let p = self.prefix;
        if real < 0x2000 {
            real + p
        } else if real >= p && real < p + 0x2000 {
            real - p
        } else {
            real
        }
    }

    fn intent_of_abs(&self, abs_frame: u64) -> Intent {
        if abs_frame >= STORAGE_SIZE {
            Intent::Nowhere
        } else if abs_frame == 0 || abs_frame == self.prefix {
            Intent::Lowcore(abs_frame)
        } else {
            Intent::Data(abs_frame)
        }
    }

    fn intent_of_real(&self, real_frame: u64) -> Intent {
        if real_frame >= STORAGE_SIZE {
            return Intent::Nowhere;
        }
        self.intent_of_abs(self.absolute(real_frame))
    }

    /// A real frame for a page-table entry or a real-space access.
    fn real_frame(&mut self) -> u64 {
        let p = self.prefix;
        match self.rng.range(0, 100) {
            0..=69 => self.rng.pick(&self.pool),
            70..=84 => {
                let low = [
                    0,
                    0x1000,
                    p,
                    p + 0x1000,
                    self.rng.range(2, PROBE_START >> 12) << 12,
                ];
                self.rng.pick(&low)
            }
            85..=89 => self.rng.range(DATA_ZONE >> 12, STORAGE_SIZE >> 12) << 12,
            _ => self.beyond_storage(12),
        }
    }

    /// TF/TL for a next table that includes `next_index`.
    fn next_table_bounds(&mut self, next_index: u64) -> (u64, u64) {
        let top2 = next_index >> 9;
        let tf = if self.rng.chance(70) {
            0
        } else {
            self.rng.range(0, top2 + 1)
        };
        (tf, self.rng.range(top2, 4))
    }

    /// A new region-table entry at `level` (4..=2) for `va`.
    fn region_entry(&mut self, level: u32, va: u64, clean: bool) -> u64 {
        let faulty = !clean && self.rng.chance(self.fault_pct);
        let protect = !clean && self.rng.chance(20);
        let p_bit = if protect { PROT } else { 0 };
        let next_level = level - 1;
        let next_index = index(va, next_level);
        if faulty {
            match self.rng.range(0, 5) {
                0 => {
                    let junk = self.rng.next_u64() & ORIGIN;
                    return junk | INVALID | tt(level) | self.rng.range(0, 4);
                }
                1 => {
                    let wrong = (tt(level) + (self.rng.range(1, 4) << 2)) & 0xc;
                    let origin = self.alloc(1);
                    return origin | wrong | 3;
                }
                2 => {
                    let origin = self.beyond_storage(12);
                    return origin | tt(level) | 3 | p_bit;
                }
                _ => {}
            }
        }
        let (tf, tl) = if faulty {
            self.length_fault(next_index)
        } else {
            self.next_table_bounds(next_index)
        };
        let origin = self.alloc(tl + 1);
        origin | (tf << 6) | tt(level) | tl | p_bit
    }

    /// TF/TL for the next table, mostly excluding `next_index` (for index
    /// 0 half of them are plain 0/0, which includes it).
    fn length_fault(&mut self, next_index: u64) -> (u64, u64) {
        let top2 = next_index >> 9;
        if top2 == 0 {
            if self.rng.chance(50) {
                (self.rng.range(1, 4), 3)
            } else {
                (0, 0)
            }
        } else if top2 == 3 || self.rng.chance(50) {
            (0, self.rng.range(0, top2))
        } else {
            (self.rng.range(top2 + 1, 4), 3)
        }
    }

    /// A new segment-table entry for `va`.
    fn segment_entry(&mut self, asce: &Asce, clean: bool) -> u64 {
        let faulty = !clean && self.rng.chance(self.fault_pct);
        let p_bit = if !clean && self.rng.chance(12) {
            PROT
        } else {
            0
        };
        let cs = if !clean && self.rng.chance(if asce.private { 25 } else { 10 }) {
            STE_CS
        } else {
            0
        };
        if faulty {
            match self.rng.range(0, 4) {
                0 => {
                    let junk = self.rng.next_u64() & PTO;
                    return junk | INVALID | cs;
                }
                1 => {
                    let pto = self.alloc_page_table();
                    return pto | (self.rng.range(1, 4) << 2) | p_bit;
                }
                _ => {
                    let pto = self.beyond_storage(11);
                    return pto | p_bit | cs;
                }
            }
        }
        let edat = self.cr0 & cr0::EDAT != 0;
        if !clean && self.caps.edat1 && self.rng.chance(if edat { 35 } else { 10 }) {
            if edat {
                let sfaa = if self.rng.chance(90) {
                    self.rng.pick(&self.large_pool)
                } else {
                    self.beyond_storage(20)
                };
                let accf = self.rng.range(0, 32) << 11;
                return sfaa | accf | STE_FC | p_bit | cs;
            }
            let pto = self.alloc_page_table();
            return pto | STE_FC | p_bit | cs;
        }
        let pto = self.alloc_page_table();
        pto | p_bit | cs
    }

    /// A new segment-table entry for `va` that keeps common segments
    /// consistent: a TLB entry formed from a common segment may serve every
    /// non-private space, so a non-private space reuses a common segment
    /// another space has at the same address, and a segment becomes common
    /// only where no other non-private space maps that address differently.
    fn shared_segment_entry(&mut self, asce: &Asce, va: u64, clean: bool) -> u64 {
        let seg = va >> 20;
        let others: Vec<(u64, u64)> = self
            .segments
            .get(&seg)
            .map(|list| {
                list.iter()
                    .filter(|&&(a, _)| a != asce.value && a & ASCE_PRIVATE == 0)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let common = others.iter().find(|&&(_, ste)| ste & STE_CS != 0);
        let mut v = match common {
            Some(&(_, ste)) if !asce.private => ste,
            _ => self.segment_entry(asce, clean),
        };
        if v & STE_CS != 0 && !asce.private && others.iter().any(|&(_, ste)| ste != v) {
            v &= !STE_CS;
        }
        self.segments.entry(seg).or_default().push((asce.value, v));
        v
    }

    /// Drops the probes whose outcome could come from a common-segment TLB
    /// entry of another space: a valid common segment of a non-private
    /// space may serve a non-private space at the same segment address
    /// whatever that space's own tables say (even when they fault before
    /// the segment level), unless they lead to the same entry.
    fn without_foreign_common_segments(
        &self,
        probes: Vec<ProbeSpec>,
        shapes: Vec<Shape>,
        translated_by: &[Option<Asce>],
    ) -> (Vec<ProbeSpec>, Vec<Shape>) {
        probes
            .into_iter()
            .zip(shapes)
            .zip(translated_by)
            .filter(|((p, _), asce)| {
                let Some(asce) = asce else {
                    return true;
                };
                let Some(list) = self.segments.get(&(p.addr >> 20)) else {
                    return true;
                };
                if asce.private {
                    return true;
                }
                let own = list.iter().find(|&&(a, _)| a == asce.value).map(|e| e.1);
                !list.iter().any(|&(a, ste)| {
                    a != asce.value
                        && a & ASCE_PRIVATE == 0
                        && ste & (STE_CS | INVALID) == STE_CS
                        && own != Some(ste)
                })
            })
            .map(|(p, _)| p)
            .unzip()
    }

    /// A new page-table entry.
    fn page_entry(&mut self, clean: bool) -> u64 {
        if clean {
            return SNIPPET_PAGE;
        }
        let mut bits = 0;
        if self.rng.chance(self.fault_pct) {
            bits |= if self.rng.chance(60) {
                PTE_INVALID
            } else {
                PTE_BIT52
            };
        }
        if self.rng.chance(12) {
            bits |= PROT;
        }
        if self.caps.iep && self.rng.chance(35) {
            bits |= PTE_IEP;
        }
        if self.rng.chance(10) {
            bits |= self.rng.range(0, 256);
        }
        let frame = self.real_frame();
        frame | bits
    }

    /// Writes the walk for `va` in `asce` where entries are missing and
    /// says where an access to `va` was meant to land.
    fn map(&mut self, asce: &Asce, va: u64, clean: bool) -> Intent {
        if asce.real {
            return self.intent_of_real(va & ORIGIN);
        }
        let mut level = asce.top;
        if level < 4 && va >> (20 + 11 * level) != 0 {
            return Intent::Nowhere;
        }
        let mut origin = asce.value & ORIGIN;
        let (mut tf, mut tl) = (0, asce.value & 3);
        loop {
            let idx = index(va, level);
            if level == 0 {
                let at = origin + idx * 8;
                let pte = match self.entries.get(&at) {
                    Some(&v) => v,
                    None => {
                        let v = self.page_entry(clean);
                        self.entries.insert(at, v);
                        v
                    }
                };
                if pte & (PTE_INVALID | PTE_BIT52) != 0 {
                    return Intent::Nowhere;
                }
                return self.intent_of_real(pte & ORIGIN);
            }
            if idx >> 9 < tf || idx >> 9 > tl {
                return Intent::Nowhere;
            }
            let at = origin + idx * 8;
            let entry = match self.entries.get(&at) {
                Some(&v) => v,
                None => {
                    let v = if level == 1 {
                        self.shared_segment_entry(asce, va, clean)
                    } else {
                        self.region_entry(level, va, clean)
                    };
                    self.entries.insert(at, v);
                    v
                }
            };
            let expected_tt = if level == 1 { 0 } else { tt(level) };
            if entry & INVALID != 0 || entry & 0xc != expected_tt {
                return Intent::Nowhere;
            }
            if level == 1 {
                if entry & STE_CS != 0 && asce.private {
                    return Intent::Nowhere;
                }
                if entry & STE_FC != 0 && self.cr0 & cr0::EDAT != 0 {
                    return self.intent_of_abs((entry & SFAA) | (va & 0xf_f000));
                }
                origin = entry & PTO;
            } else {
                origin = entry & ORIGIN;
                tf = (entry >> 6) & 3;
                tl = entry & 3;
            }
            if origin >= STORAGE_SIZE {
                return Intent::Nowhere;
            }
            level -= 1;
        }
    }

    fn new_asce(&mut self, fetch_space: bool) -> Asce {
        let private = self.rng.chance(20);
        let p_bit = if private { ASCE_PRIVATE } else { 0 };
        if self.rng.chance(if fetch_space { 8 } else { 12 }) {
            let junk = self.rng.range(0, 1 << 20) << 12;
            return Asce {
                value: junk | ASCE_REAL | p_bit | self.rng.range(0, 16),
                top: 0,
                real: true,
                private,
            };
        }
        let top = self.rng.range(1, 5) as u32;
        let tl = self.rng.range(0, 4);
        let origin = self.alloc(tl + 1);
        Asce {
            value: origin | p_bit | tt(top) | tl,
            top,
            real: false,
            private,
        }
    }

    /// A logical address for a new target in `asce`.
    fn target_va(&mut self, asce: &Asce, near: Option<u64>) -> u64 {
        let page = |rng: &mut Prng, limit: u64| rng.range(0, limit >> 12) << 12;
        let va = match (near, self.rng.range(0, 100)) {
            (Some(n), 0..=29) => {
                if self.rng.chance(70) {
                    (n & !0xf_ffff) | page(self.rng, 1 << 20)
                } else {
                    (n & !0x7fff_ffff) | page(self.rng, 1 << 31)
                }
            }
            (_, 30..=49) => self.rng.pick(&[0, 0, 0x1000]),
            (_, 50..=69) => page(self.rng, 1 << 24),
            (_, 70..=84) => page(self.rng, 1 << 31),
            _ => {
                let bits = if asce.real || self.rng.chance(8) {
                    64
                } else {
                    31 + 11 * (asce.top - 1)
                };
                if bits == 64 {
                    self.rng.next_u64() & ORIGIN
                } else {
                    self.rng.next_u64() & ORIGIN & ((1 << bits) - 1)
                }
            }
        };
        if va >> 16 == SNIPPET_PAGE >> 16 {
            va ^ 0x10_0000
        } else {
            va
        }
    }
}

/// Which control register (or none, for DAT off) a target belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Primary,
    Secondary,
    Home,
    DatOff,
}

/// Draws scenario `index` of `seed` for a reference with `caps`.
pub fn generate(name: String, seed: u64, index: u64, caps: Caps) -> Plan {
    draw(name, seed, index, caps, false)
}

/// Draws scenario `index` of `seed` with format-2 accesses: sizes of 1 to
/// 16 bytes, aligned, unaligned, crossing a page or the 2 KiB boundary, and
/// targets at the top of the 24-, 31- or 64-bit space whose accesses wrap.
/// Version-1 plans ([`generate`]) are unchanged by this.
pub fn generate_v2(name: String, seed: u64, index: u64, caps: Caps) -> Plan {
    draw(name, seed, index, caps, true)
}

/// Whether a store of `size` bytes at page offset `offset` may be made on
/// a frame with tags: it spares the tag siblings.
fn spares_siblings(offset: u64, size: u64) -> bool {
    TAG_SIBLINGS
        .iter()
        .all(|&t| offset + size <= t || offset >= t + 8)
}

fn draw(name: String, seed: u64, index: u64, caps: Caps, v2: bool) -> Plan {
    let mut rng = Prng::new(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03));
    let rng = &mut rng;
    let prefix = match rng.range(0, 10) {
        0..=3 => 0,
        4..=6 => rng.range(1, PROBE_START >> 13) << 13,
        _ => rng.range(DATA_ZONE >> 13, STORAGE_SIZE >> 13) << 13,
    };
    let mut cr0 = cr0::BASE | cr0::SECONDARY_SPACE;
    if rng.chance(35) {
        cr0 |= cr0::LAP;
    }
    if caps.keys && rng.chance(50) {
        cr0 |= cr0::FETCH_OVERRIDE;
    }
    if caps.keys && rng.chance(50) {
        cr0 |= cr0::STORE_OVERRIDE;
    }
    if caps.edat1 && rng.chance(65) {
        cr0 |= cr0::EDAT;
    }
    if caps.iep && rng.chance(50) {
        cr0 |= cr0::IEP;
    }
    let pool = (0..8)
        .map(|_| rng.range(DATA_ZONE >> 12, STORAGE_SIZE >> 12) << 12)
        .collect();
    let large_pool = (0..4)
        .map(|_| rng.range(DATA_ZONE >> 20, STORAGE_SIZE >> 20) << 20)
        .collect();
    let fault_pct = rng.range(8, 30);
    let mut b = Builder {
        rng,
        caps,
        cr0,
        prefix,
        fault_pct,
        next_frame: TABLE_ZONE,
        spare_half: None,
        entries: BTreeMap::new(),
        pool,
        large_pool,
        segments: BTreeMap::new(),
    };
    let primary = b.new_asce(true);
    let home = if b.rng.chance(25) {
        primary
    } else {
        b.new_asce(true)
    };
    let secondary = if b.rng.chance(15) {
        primary
    } else {
        b.new_asce(false)
    };
    for asce in [&primary, &home] {
        b.map(asce, SNIPPET_PAGE, true);
    }

    let mut keys: BTreeMap<u64, u64> = BTreeMap::new();
    let mut probes = Vec::new();
    let mut translated_by: Vec<Option<Asce>> = Vec::new();
    let mut shapes: Vec<Shape> = Vec::new();
    let mut last: [Option<u64>; 3] = [None; 3];
    let n_targets = b.rng.range(9, 15);
    for target in 0..n_targets {
        // Format 2: a target at the top of an addressing mode's space,
        // whose accesses wrap to 0.
        let wrap_modes: &[Amode] = if caps.operand_wrap {
            &Amode::ALL
        } else {
            &[Amode::Bits64]
        };
        let wrap_mode = (v2 && b.rng.chance(10)).then(|| b.rng.pick(wrap_modes));
        let domain = match b.rng.range(0, 100) {
            0..=34 => Domain::Primary,
            35..=59 => Domain::Secondary,
            60..=79 => Domain::Home,
            _ => Domain::DatOff,
        };
        let (asce, slot) = match domain {
            Domain::Primary => (Some(primary), 0),
            Domain::Secondary => (Some(secondary), 1),
            Domain::Home => (Some(home), 2),
            Domain::DatOff => (None, 0),
        };
        let (va, intent) = match (asce, wrap_mode) {
            (Some(a), Some(m)) if !a.real => {
                let va = m.max_addr() & ORIGIN;
                (va, b.map(&a, va, false))
            }
            (_, Some(m)) => {
                let va = m.max_addr() & ORIGIN;
                (va, b.intent_of_real(va))
            }
            (Some(a), None) if !a.real => {
                let va = b.target_va(&a, last[slot]);
                last[slot] = Some(va);
                (va, b.map(&a, va, false))
            }
            _ => {
                let real = if b.rng.chance(30) { 0 } else { b.real_frame() };
                (real, b.intent_of_real(real))
            }
        };
        // The page an access crossing the end of this one reaches.
        let next_va = wrap_mode.map_or(va.wrapping_add(0x1000), |_| 0);
        let next_intent = match asce {
            Some(a) if v2 && !a.real => b.map(&a, next_va, false),
            _ if v2 => b.intent_of_real(next_va),
            _ => Intent::Nowhere,
        };
        if let Intent::Data(abs) | Intent::Lowcore(abs) = intent {
            if !keys.contains_key(&abs) && b.rng.chance(60) {
                let acc = if b.rng.chance(35) {
                    9
                } else {
                    b.rng.range(0, 16)
                };
                let f = u64::from(b.rng.chance(if va >> 12 == 0 { 75 } else { 40 }));
                let rc = b.rng.range(0, 4);
                keys.insert(abs, acc << 4 | f << 3 | rc << 1);
            }
        }
        let lap_applies = cr0 & cr0::LAP != 0 && asce.is_none_or(|a| !a.private && !a.real);
        let low_page = va >> 13 == 0;
        let n = b.rng.range(2, 6);
        for _ in 0..n {
            let mut access = b.rng.pick(&[
                ProbeKind::Read,
                ProbeKind::Read,
                ProbeKind::Write,
                ProbeKind::Write,
                ProbeKind::InstructionFetch,
            ]);
            let space = match domain {
                Domain::Primary if access == ProbeKind::InstructionFetch && b.rng.chance(35) => {
                    ProbeSpace::Secondary
                }
                Domain::Primary => ProbeSpace::Primary,
                Domain::Secondary => {
                    if access == ProbeKind::InstructionFetch {
                        access = ProbeKind::Read;
                    }
                    ProbeSpace::Secondary
                }
                Domain::Home => ProbeSpace::Home,
                Domain::DatOff => ProbeSpace::Real,
            };
            let mut offset =
                if low_page && lap_applies && access == ProbeKind::Write && b.rng.chance(70) {
                    b.rng.range(0, 0x200)
                } else if low_page && b.rng.chance(60) {
                    b.rng.range(0, 0x800)
                } else {
                    b.rng.range(0, 0x1000)
                };
            if access != ProbeKind::Read {
                offset &= !1;
                let translated = matches!(intent, Intent::Data(_) | Intent::Lowcore(_));
                let lap_write = access == ProbeKind::Write
                    && lap_applies
                    && low_page
                    && offset < 0x200
                    && (translated || !caps.late_lap);
                if offset < 0x200 && !lap_write && !matches!(intent, Intent::Data(_)) {
                    offset += 0x200;
                }
            } else if offset < 0x200 && matches!(intent, Intent::Lowcore(_)) {
                offset += 0x200;
            }
            let size = if !v2 {
                1
            } else if access == ProbeKind::InstructionFetch {
                2
            } else {
                let size = b.rng.pick(&SIZES);
                offset = match (b.rng.range(0, 100), wrap_mode) {
                    (_, Some(_)) | (0..=24, _) if size > 1 => 0x1000 - b.rng.range(1, size),
                    (25..=34, _) if size > 1 && low_page => 0x800 - b.rng.range(1, size),
                    (35..=69, _) => offset & !(size - 1),
                    _ => offset.min(0x1000 - size),
                };
                if access == ProbeKind::Write {
                    // A store may cross only into a frame with tags, a
                    // lowcore (its first 16 bytes hold nothing the probe
                    // uses) or nowhere: never into the probe program.
                    let next_ok = match next_intent {
                        Intent::Data(f) => !(PROBE_START..DATA_ZONE).contains(&f),
                        Intent::Lowcore(_) | Intent::Nowhere => true,
                    };
                    // Hercules checks low-address protection after
                    // translation (see `Caps::late_lap`): no store crosses
                    // into a low page that does not translate there.
                    let late_lap = caps.late_lap
                        && lap_applies
                        && next_va >> 13 == 0
                        && matches!(next_intent, Intent::Nowhere);
                    let first_byte_lap =
                        !caps.lap_every_byte && cr0 & cr0::LAP != 0 && next_va >> 13 == 0;
                    if offset + size > 0x1000 && (!next_ok || late_lap || first_byte_lap) {
                        offset = 0x1000 - size;
                    }
                    if !spares_siblings(offset, size.min(0x1000 - offset)) {
                        offset ^= 0x100;
                    }
                    let low_store = offset < 0x200 && !matches!(intent, Intent::Data(_));
                    let lap_refused = lap_applies && low_page && offset < 0x200;
                    if low_store && !lap_refused {
                        offset += 0x200;
                    }
                    if !spares_siblings(offset, size.min(0x1000 - offset)) {
                        offset ^= 0x100;
                    }
                }
                size
            };
            let addr = va | offset;
            let amode = match wrap_mode {
                Some(m) => m,
                None => {
                    let amodes: Vec<Amode> = Amode::ALL
                        .into_iter()
                        .filter(|m| {
                            addr.checked_add(size - 1)
                                .is_some_and(|end| end <= m.max_addr())
                        })
                        .collect();
                    if amodes.is_empty() {
                        continue;
                    }
                    b.rng.pick(&amodes)
                }
            };
            shapes.push(Shape {
                size,
                asce: asce.map(|a| a.value),
                data_frame: match intent {
                    Intent::Data(abs) => Some(abs),
                    _ => None,
                },
                target: target as usize,
            });
            let key = if !caps.keys {
                0
            } else if va == 0 && b.rng.chance(60) {
                b.rng.range(1, 16)
            } else {
                match (b.rng.range(0, 100), intent) {
                    (0..=24, _) => 0,
                    (25..=59, Intent::Data(abs) | Intent::Lowcore(abs)) => {
                        keys.get(&abs).map_or(0, |k| k >> 4)
                    }
                    _ => b.rng.range(0, 16),
                }
            };
            translated_by.push(asce.filter(|a| !a.real));
            probes.push(ProbeSpec {
                addr,
                space,
                amode,
                access,
                key,
            });
        }
    }

    let (probes, shapes) = b.without_foreign_common_segments(probes, shapes, &translated_by);

    let mut facilities = Vec::new();
    if caps.edat1 && cr0 & cr0::EDAT != 0 {
        facilities.push(Facility::Edat1);
    }
    if caps.iep {
        facilities.push(Facility::Iep);
    }
    if caps.esop2 {
        facilities.push(Facility::Esop1);
        facilities.push(Facility::Esop2);
    }
    if cr0 & cr0::LAP != 0 {
        facilities.push(Facility::Lap);
    }
    Plan {
        name,
        facilities,
        prefix,
        cr0,
        cr1: primary.value,
        cr7: secondary.value,
        cr13: home.value,
        entries: b.entries,
        keys,
        probes,
        shapes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        keys: true,
        edat1: true,
        iep: false,
        esop2: false,
        late_lap: true,
        lap_every_byte: true,
        operand_wrap: true,
    };

    #[test]
    fn deterministic_and_inside_the_table_zone() {
        for i in 0..200 {
            let a = generate("a".into(), 5, i, CAPS);
            let b = generate("a".into(), 5, i, CAPS);
            assert_eq!(a.entries, b.entries);
            assert_eq!(a.probes, b.probes);
            for &addr in a.entries.keys() {
                assert!((TABLE_ZONE..DATA_ZONE).contains(&addr), "{addr:#x}");
            }
            for p in &a.probes {
                assert!(p.addr <= p.amode.max_addr());
                if p.access != ProbeKind::Read {
                    assert_eq!(p.addr & 1, 0);
                }
            }
        }
    }

    #[test]
    fn snippet_page_is_mapped_in_primary_and_home() {
        for i in 0..50 {
            let plan = generate("a".into(), 9, i, CAPS);
            for asce in [plan.cr1, plan.cr13] {
                if asce & ASCE_REAL == 0 {
                    assert!(plan.entries.values().any(|&e| e == SNIPPET_PAGE));
                }
            }
        }
    }

    #[test]
    fn probes_that_a_foreign_common_segment_could_serve_are_dropped() {
        let mut rng = Prng::new(1);
        let mut b = Builder {
            rng: &mut rng,
            caps: CAPS,
            cr0: cr0::BASE,
            prefix: 0,
            fault_pct: 0,
            next_frame: TABLE_ZONE,
            spare_half: None,
            entries: BTreeMap::new(),
            pool: vec![DATA_ZONE],
            large_pool: vec![DATA_ZONE],
            segments: BTreeMap::new(),
        };
        let asce = |value| Asce {
            value,
            top: 1,
            real: false,
            private: value & ASCE_PRIVATE != 0,
        };
        let (a, other, private) = (asce(0x40_0000), asce(0x40_1000), asce(0x40_2100));
        b.segments.insert(5, vec![(a.value, 0x40_8000 | STE_CS)]);
        b.segments.insert(
            6,
            vec![
                (a.value, 0x40_8800 | STE_CS),
                (other.value, 0x40_8800 | STE_CS),
            ],
        );
        let probe = |addr| ProbeSpec {
            addr,
            space: ProbeSpace::Primary,
            amode: Amode::Bits64,
            access: ProbeKind::Read,
            key: 0,
        };
        let probes = vec![
            probe(0x50_0000),
            probe(0x50_0000),
            probe(0x50_0000),
            probe(0x60_0000),
        ];
        let by = [Some(a), Some(other), Some(private), Some(other)];
        let shapes = vec![
            Shape {
                size: 1,
                asce: None,
                data_frame: None,
                target: 0,
            };
            probes.len()
        ];
        let (kept, _) = b.without_foreign_common_segments(probes, shapes, &by);
        assert_eq!(
            kept.len(),
            3,
            "only the other space's probe of segment 5 goes"
        );
    }

    #[test]
    fn mem_runs_are_contiguous_doublewords() {
        let plan = generate("a".into(), 1, 1, CAPS);
        let total: usize = plan.mem().iter().map(|(_, b)| b.len()).sum();
        assert_eq!(total, plan.entries.len() * 8);
    }
}
