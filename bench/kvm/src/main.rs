//! `zmmu-kvm-bench`: steady-state and warm-up costs of s390x storage
//! accesses through hv-kvm, side by side with the native limit, the core's
//! software TLB and a full DAT walk, in one process.
//!
//! For sequential, strided and random 8-byte loads and stores over working
//! sets from 1 MiB to 1 GiB of s390x storage, mapped with 4 KiB pages and
//! with EDAT-1 1 MiB frames:
//! - (a) `native`: the benchmark kernel run directly on the host, over the
//!   very host memory that backs guest storage (no translation);
//! - (b) `kvm`: the same kernel bytes at CPL3 in the VM at the s390x logical
//!   addresses, after a warm-up pass mapped every page;
//! - (c) `soft-tlb`: the core's software TLB ([`Tlb::lookup`], on a miss
//!   [`Tlb::access`]) and a load or store at the absolute address;
//! - (d) `walk`: [`access::access`] (the full DAT walk) for every access.
//!
//! Then the warm-up costs: the time, faults and exits to touch every page
//! of 64 MiB (and the largest size) once, with and without fault-around and
//! large frames.
//!
//! Usage: `cargo run --release -p zmmu-kvm-bench -- [--max-mib N] [--quick]
//! [--out DIR]`; writes `DIR/kvm-bench.csv`, `DIR/kvm-warmup.csv` and
//! `DIR/kvm-bench.svg` (`--out docs` for the committed results).
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use zmmu_hv_kvm::native::NativeKernel;
use zmmu_hv_kvm::runtime::{kernel_mask, Pattern, LCG, STRIDE};
use zmmu_hv_kvm::{BatchEngine, Context, EngineConfig, GuestStorage, KvmError};
use zmmu_mmu::access::{self, AccessKind, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::control::{AddressSpace, AsceSource, Controls, Cr0, Facilities};
use zmmu_mmu::host::HostPageSize;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::prelude::Asce;
use zmmu_mmu::shadow;
use zmmu_mmu::storage::Storage;
use zmmu_mmu::tlb::{partition_index, Tlb};

const MIB: u64 = 1 << 20;
/// Logical base of every working set (aligned to the largest one).
const LOGICAL_BASE: u64 = 1 << 30;
/// Absolute base of the data frames (tables live below).
const ABSOLUTE_BASE: u64 = 16 * MIB;
const SEGMENT_TABLE: u64 = 0x4000;
const PAGE_TABLES: u64 = 0x10_0000;
const SEED: u64 = 0x0123_4567_89AB_CDEF;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frames {
    Pages4K,
    Edat1M,
}

impl Frames {
    fn name(self) -> &'static str {
        match self {
            Self::Pages4K => "4K",
            Self::Edat1M => "EDAT-1 1M",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Native,
    Kvm,
    SoftTlb,
    Walk,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::Native, Mode::Kvm, Mode::SoftTlb, Mode::Walk];
    fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Kvm => "kvm",
            Self::SoftTlb => "soft-tlb",
            Self::Walk => "walk",
        }
    }
}

struct Args {
    max: u64,
    quick: bool,
    out: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        max: 1024 * MIB,
        quick: false,
        out: PathBuf::from("docs"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--max-mib" => {
                let v: u64 = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--max-mib needs a number")?;
                if !v.is_power_of_two() || !(1..=1024).contains(&v) {
                    return Err("--max-mib: a power of two from 1 to 1024".into());
                }
                a.max = v * MIB;
            }
            "--quick" => a.quick = true,
            "--out" => a.out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// Builds DAT tables mapping logical `LOGICAL_BASE..+size` to absolute
/// `ABSOLUTE_BASE..+size`, with 4 KiB pages or 1 MiB frames; every key R|C.
fn build_tables(storage: &mut GuestStorage, frames: Frames, size: u64) -> Context {
    let segments = size / MIB;
    for k in 0..segments {
        let segment = (LOGICAL_BASE / MIB) + k;
        let frame = ABSOLUTE_BASE + k * MIB;
        let entry = match frames {
            Frames::Pages4K => {
                let pt = PAGE_TABLES + k * 0x800;
                for i in 0..256 {
                    storage
                        .write_u64(AbsoluteAddress::new(pt + i * 8), frame + i * 4096)
                        .expect("page table");
                }
                pt
            }
            Frames::Edat1M => frame | 0x400,
        };
        storage
            .write_u64(AbsoluteAddress::new(SEGMENT_TABLE + segment * 8), entry)
            .expect("segment table");
    }
    storage.fill_keys(StorageKey::new(StorageKey::R | StorageKey::C));
    let (cr0, facilities) = match frames {
        Frames::Pages4K => (Cr0::empty(), Facilities::empty()),
        Frames::Edat1M => (Cr0::EDAT, Facilities::EDAT1),
    };
    // Segment table of 2048 entries (TL = 3): logical 0-2 GiB.
    let cr1 = Asce::new(SEGMENT_TABLE | 3);
    Context {
        controls: Controls {
            cr0,
            cr1,
            facilities,
            ..Controls::default()
        },
        space: AddressSpace::Primary,
        key: 0,
    }
}

fn engine(
    frames: Frames,
    size: u64,
    shadow: shadow::Config,
) -> Result<(BatchEngine, Context), KvmError> {
    let mut storage = GuestStorage::new(ABSOLUTE_BASE + size, frames == Frames::Edat1M)?;
    // Host memory is backed before the VM touches it: warm-up measures
    // translation, not the host kernel's demand paging.
    storage.memory().populate();
    let context = build_tables(&mut storage, frames, size);
    let config = EngineConfig {
        shadow,
        ..EngineConfig::default()
    };
    Ok((BatchEngine::new(storage, config)?, context))
}

fn shadow_config(fault_around: u16, large: bool) -> shadow::Config {
    shadow::Config {
        fault_around,
        largest: if large {
            HostPageSize::Size2M
        } else {
            HostPageSize::Size4K
        },
        ..shadow::Config::default()
    }
}

/// The offset sequence of the kernels, in Rust.
struct Offsets {
    pattern: Pattern,
    mask: u64,
    offset: u64,
    state: u64,
}

impl Offsets {
    fn new(pattern: Pattern, size: u64, seed: u64) -> Self {
        let mask = kernel_mask(pattern, size);
        Self {
            pattern,
            mask: (size - 1) & !7,
            offset: seed & mask,
            state: seed,
        }
    }

    #[inline(always)]
    fn next(&mut self) -> u64 {
        let at = self.offset;
        self.offset = match self.pattern {
            Pattern::Sequential => self.offset + 8,
            Pattern::Strided => self.offset + STRIDE,
            Pattern::Random => {
                self.state = self.state.wrapping_mul(LCG.0).wrapping_add(LCG.1);
                self.state >> 16
            }
        } & self.mask
            & !7;
        at
    }
}

/// The access kind of a step: a store when `write`, else an operand fetch.
fn access_kind(write: bool) -> AccessKind {
    if write {
        AccessKind::Write
    } else {
        AccessKind::Read
    }
}

/// A request for `kind` at `address` in `ctx`'s space with its key.
#[inline(always)]
fn request(ctx: &Context, address: u64, kind: AccessKind) -> Request {
    Request {
        address: LogicalAddress::new(address),
        space: ctx.space,
        kind,
        key: ctx.key,
    }
}

/// The storage access of step `i` at `absolute`: a store of `i` (as the
/// guest stores it, big-endian) when `write`, else a fetch added to `sum`.
#[inline(always)]
fn touch(storage: &mut GuestStorage, absolute: u64, write: bool, i: u64, sum: &mut u64) {
    if write {
        let _ = storage.memory().store_u64(absolute, i.swap_bytes());
    } else {
        *sum = sum.wrapping_add(
            storage
                .memory()
                .load_u64(absolute)
                .unwrap_or(0)
                .swap_bytes(),
        );
    }
}

fn soft_tlb(
    tlb: &mut Tlb,
    storage: &mut GuestStorage,
    ctx: &Context,
    pattern: Pattern,
    write: bool,
    size: u64,
    count: u64,
) -> u64 {
    let kind = access_kind(write);
    let partition = partition_index(Some(AsceSource::Primary));
    let mut offsets = Offsets::new(pattern, size, SEED);
    let mut sum = 0u64;
    for i in (1..=count).rev() {
        let address = LOGICAL_BASE + offsets.next();
        let absolute = match tlb.lookup(partition, address, kind, ctx.key) {
            Some(absolute) => absolute,
            None => match tlb.access(storage, request(ctx, address, kind)) {
                Ok(t) => t.absolute.value(),
                Err(_) => continue,
            },
        };
        touch(storage, absolute, write, i, &mut sum);
    }
    sum
}

fn walk(
    storage: &mut GuestStorage,
    ctx: &Context,
    pattern: Pattern,
    write: bool,
    size: u64,
    count: u64,
) -> u64 {
    let kind = access_kind(write);
    let mut offsets = Offsets::new(pattern, size, SEED);
    let mut sum = 0u64;
    for i in (1..=count).rev() {
        let address = LOGICAL_BASE + offsets.next();
        let Ok(done) = access::access(storage, &ctx.controls, request(ctx, address, kind)) else {
            continue;
        };
        touch(storage, done.absolute.value(), write, i, &mut sum);
    }
    sum
}

struct Row {
    frames: Frames,
    pattern: Pattern,
    write: bool,
    size: u64,
    mode: Mode,
    ns: f64,
}

fn steady_state(frames: Frames, args: &Args, rows: &mut Vec<Row>) -> Result<(), KvmError> {
    let (mut engine, ctx) = engine(frames, args.max, shadow_config(16, true))?;
    // Warm-up: every page of the largest working set mapped and written.
    let t = Instant::now();
    engine
        .run_pattern(
            &ctx,
            Pattern::Sequential,
            true,
            LogicalAddress::new(LOGICAL_BASE),
            args.max,
            args.max / 8,
            0,
        )?
        .map_err(|f| KvmError::Config(format!("warm-up raised {f:?}")))?;
    eprintln!(
        "[{}] warm-up of {} MiB: {:.2} s",
        frames.name(),
        args.max / MIB,
        t.elapsed().as_secs_f64()
    );
    let natives: Vec<NativeKernel> = engine
        .host()
        .kernels()
        .iter()
        .map(NativeKernel::new)
        .collect::<Result<_, _>>()?;
    let (reps, reps_slow) = if args.quick { (2, 1) } else { (5, 3) };
    let (n_fast, n_tlb, n_walk) = if args.quick {
        (1 << 21, 1 << 19, 1 << 17)
    } else {
        (1 << 24, 1 << 21, 1 << 19)
    };
    let mut tlb = Tlb::new(&ctx.controls);
    let host_base = engine
        .storage()
        .memory()
        .as_ptr()
        .wrapping_add(ABSOLUTE_BASE as usize);
    let mut size = MIB;
    while size <= args.max {
        for (k, &pattern) in Pattern::ALL.iter().enumerate() {
            for write in [false, true] {
                let kernel = &natives[k * 2 + usize::from(write)];
                let mut times: [Vec<f64>; 4] = Default::default();
                // Modes interleaved within each repetition, best of the
                // repetitions kept: the machine is shared, and noise only
                // ever adds time.
                for rep in 0..reps {
                    for (m, mode) in Mode::ALL.iter().enumerate() {
                        if rep >= reps_slow && matches!(mode, Mode::SoftTlb | Mode::Walk) {
                            continue;
                        }
                        let count = match mode {
                            Mode::Native | Mode::Kvm => n_fast,
                            Mode::SoftTlb => n_tlb,
                            Mode::Walk => n_walk,
                        };
                        let t = Instant::now();
                        let sum = match mode {
                            // SAFETY: host_base..+size lies inside guest storage's host
                            // memory (ABSOLUTE_BASE + args.max bytes), which the engine
                            // owns and nothing else touches during the call.
                            Mode::Native => unsafe { kernel.call(host_base, size, count, SEED) },
                            Mode::Kvm => engine
                                .run_pattern(
                                    &ctx,
                                    pattern,
                                    write,
                                    LogicalAddress::new(LOGICAL_BASE),
                                    size,
                                    count,
                                    SEED,
                                )?
                                .map_err(|f| {
                                    KvmError::Config(format!("steady state raised {f:?}"))
                                })?,
                            Mode::SoftTlb => soft_tlb(
                                &mut tlb,
                                engine.storage_mut(),
                                &ctx,
                                pattern,
                                write,
                                size,
                                count,
                            ),
                            Mode::Walk => {
                                walk(engine.storage_mut(), &ctx, pattern, write, size, count)
                            }
                        };
                        std::hint::black_box(sum);
                        times[m].push(t.elapsed().as_nanos() as f64 / count as f64);
                    }
                }
                for (m, mode) in Mode::ALL.into_iter().enumerate() {
                    let best = times[m].iter().copied().fold(f64::MAX, f64::min);
                    rows.push(Row {
                        frames,
                        pattern,
                        write,
                        size,
                        mode,
                        ns: best,
                    });
                }
                let last = &rows[rows.len() - 4..];
                eprintln!(
                    "[{}] {:>6} {:5} {:>5} MiB: native {:6.2}  kvm {:6.2}  soft-tlb {:6.2}  walk {:7.2} ns",
                    frames.name(),
                    pattern.name(),
                    if write { "write" } else { "read" },
                    size / MIB,
                    last[0].ns,
                    last[1].ns,
                    last[2].ns,
                    last[3].ns
                );
            }
        }
        size *= 2;
    }
    Ok(())
}

struct Warm {
    config: String,
    size: u64,
    faults: u64,
    exits: u64,
    mapped_4k: u64,
    mapped_2m: u64,
    around: u64,
    seconds: f64,
}

fn warm_up(frames: Frames, fault_around: u16, large: bool, size: u64) -> Result<Warm, KvmError> {
    let (mut engine, ctx) = engine(frames, size, shadow_config(fault_around, large))?;
    let before = engine.host().stats();
    let t = Instant::now();
    engine
        .run_pattern(
            &ctx,
            Pattern::Sequential,
            true,
            LogicalAddress::new(LOGICAL_BASE),
            size,
            size / 8,
            0,
        )?
        .map_err(|f| KvmError::Config(format!("warm-up raised {f:?}")))?;
    let seconds = t.elapsed().as_secs_f64();
    let after = engine.host().stats();
    let pager = *engine.pager().stats();
    Ok(Warm {
        config: format!(
            "{}, fault-around {}, {}",
            frames.name(),
            fault_around.max(1),
            if large { "2M pages" } else { "4K pages only" }
        ),
        size,
        faults: after.faults - before.faults,
        exits: after.exits - before.exits,
        mapped_4k: pager.mapped_4k,
        mapped_2m: pager.mapped_2m,
        around: pager.around,
        seconds,
    })
}

fn plot(rows: &[Row], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1500, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("zmmu hv-kvm: ns per 8-byte access vs working set (MiB), log scales; solid 4K pages, dashed EDAT-1 1M frames", ("sans-serif", 18))?;
    let panels = root.split_evenly((2, 3));
    let colors = [BLACK, RED, BLUE, GREEN];
    let max_size = rows.iter().map(|r| r.size).max().unwrap_or(MIB) / MIB;
    let lo = rows.iter().map(|r| r.ns).fold(f64::MAX, f64::min).max(0.05) * 0.8;
    let hi = rows.iter().map(|r| r.ns).fold(0.0, f64::max) * 1.25;
    for (i, panel) in panels.iter().enumerate() {
        let write = i >= 3;
        let pattern = Pattern::ALL[i % 3];
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{} {}",
                    pattern.name(),
                    if write { "write" } else { "read" }
                ),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d((1u64..max_size.max(2)).log_scale(), (lo..hi).log_scale())?;
        chart.configure_mesh().x_desc("MiB").y_desc("ns").draw()?;
        for (m, mode) in Mode::ALL.iter().enumerate() {
            for frames in [Frames::Pages4K, Frames::Edat1M] {
                let points: Vec<(u64, f64)> = rows
                    .iter()
                    .filter(|r| {
                        r.mode == *mode
                            && r.frames == frames
                            && r.pattern == pattern
                            && r.write == write
                    })
                    .map(|r| (r.size / MIB, r.ns))
                    .collect();
                let color = colors[m];
                let series = if frames == Frames::Pages4K {
                    chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?
                } else {
                    chart.draw_series(DashedLineSeries::new(points, 6, 4, color.stroke_width(2)))?
                };
                if frames == Frames::Pages4K && i == 0 {
                    series
                        .label(mode.name())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
                }
            }
        }
        if i == 0 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kvm = if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        "kvm_pvm (shadow paging)"
    } else if std::path::Path::new("/sys/module/kvm_intel").exists() {
        "kvm_intel"
    } else if std::path::Path::new("/sys/module/kvm_amd").exists() {
        "kvm_amd"
    } else {
        "unknown KVM module"
    };
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cpu}, {cpus} CPUs, {kvm}")
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("zmmu-kvm-bench: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = zmmu_hv_kvm::vm::available() {
        eprintln!("SKIP: {e}");
        std::process::exit(if e.is_unavailable() { 0 } else { 1 });
    }
    if let Err(e) = run(&args) {
        eprintln!("zmmu-kvm-bench: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    println!("machine: {}", machine());
    let mut rows = Vec::new();
    for frames in [Frames::Pages4K, Frames::Edat1M] {
        steady_state(frames, args, &mut rows)?;
    }
    let mut warm = Vec::new();
    let mut sizes = vec![(64 * MIB).min(args.max)];
    if args.max > 64 * MIB {
        sizes.push(args.max);
    }
    for &size in &sizes {
        for (frames, around, large) in [
            (Frames::Pages4K, 1, false),
            (Frames::Pages4K, 16, false),
            (Frames::Pages4K, 512, false),
            (Frames::Edat1M, 16, false),
            (Frames::Edat1M, 16, true),
        ] {
            let w = warm_up(frames, around, large, size)?;
            eprintln!(
                "warm-up {} {} MiB: {:.3} s, {} faults",
                w.config,
                size / MIB,
                w.seconds,
                w.faults
            );
            warm.push(w);
        }
    }

    std::fs::create_dir_all(&args.out)?;
    let mut csv = String::from("frames,pattern,op,size_mib,mode,ns_per_access\n");
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{:.3}",
            r.frames.name(),
            r.pattern.name(),
            if r.write { "write" } else { "read" },
            r.size / MIB,
            r.mode.name(),
            r.ns
        );
    }
    std::fs::write(args.out.join("kvm-bench.csv"), csv)?;
    let mut csv = String::from("config,size_mib,faults,exits,mapped_4k,mapped_2m,around,seconds\n");
    for w in &warm {
        let _ = writeln!(
            csv,
            "\"{}\",{},{},{},{},{},{},{:.4}",
            w.config,
            w.size / MIB,
            w.faults,
            w.exits,
            w.mapped_4k,
            w.mapped_2m,
            w.around,
            w.seconds
        );
    }
    std::fs::write(args.out.join("kvm-warmup.csv"), csv)?;
    plot(&rows, &args.out.join("kvm-bench.svg"))?;

    // Markdown tables for docs/PERFORMANCE.md.
    println!("\n| frames | pattern | op | MiB | (a) native | (b) kvm | (c) soft TLB | (d) walk | b/a | c/b |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for chunk in rows.chunks(4) {
        let [a, b, c, d] = chunk else { continue };
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.1} |",
            a.frames.name(),
            a.pattern.name(),
            if a.write { "write" } else { "read" },
            a.size / MIB,
            a.ns,
            b.ns,
            c.ns,
            d.ns,
            b.ns / a.ns,
            c.ns / b.ns
        );
    }
    println!("\n| warm-up config | MiB | faults | exits | 4K maps | 2M maps | around | time (s) | us/page |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for w in &warm {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.1} |",
            w.config,
            w.size / MIB,
            w.faults,
            w.exits,
            w.mapped_4k,
            w.mapped_2m,
            w.around,
            w.seconds,
            w.seconds * 1e6 / (w.size / 4096) as f64
        );
    }
    Ok(())
}
