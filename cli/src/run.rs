//! `zmmu run`: load, run, report (the exit statuses: [`crate::report`]).

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use zmmu_cpu::clock::{ns_to_tod, TimeSource};
use zmmu_machine::config::{Config, CpuFeatures, Device, WatchdogAction};
use zmmu_machine::engine::Interpreter;
use zmmu_machine::{Machine, RunOutcome};

use crate::engine::EngineKind;
use crate::gdb::session::Session;
use crate::report::{
    stop_status, Report, EXIT_CHECK_STOP, EXIT_LOAD, EXIT_UNIMPLEMENTED, EXIT_USAGE,
};
use crate::stats_signal::Watched;
use crate::trace::Tracer;

use zmmu_machine::kernel;

use crate::terminal::{Keyboard, RawMode};

/// The machine options of `zmmu run`, in the spirit of QEMU's, so that a
/// test's QEMU parameters map one to one.
#[derive(Clone, Debug, clap::Args)]
pub struct RunOptions {
    /// The program: an s390x ELF, or a kernel image as QEMU's -kernel
    /// loads it (Linux's vmlinuz: copied to 0, started at 0x10000).
    pub program: std::path::PathBuf,
    /// An initial RAM disk, placed as QEMU's -initrd places it (8 MiB or
    /// the first megabyte boundary a megabyte past the kernel) and
    /// announced in the kernel's parm area (0x10408: start, size).
    #[arg(long, value_name = "FILE")]
    pub initrd: Option<std::path::PathBuf>,
    /// Stop after this many instructions.
    #[arg(long, value_name = "N")]
    pub max_insns: Option<u64>,
    /// Trace, one line per event: `insn` (each instruction in assembler
    /// syntax with the registers it changed), `exc` (each interruption
    /// with its code, TEID and old PSW), `mmu` (TLB fills and
    /// invalidations), or `all`; comma-separated. A traced run executes
    /// one instruction at a time in the interpreter, whatever the engine.
    #[arg(long, value_name = "KINDS", value_parser = crate::trace::parse_kinds)]
    pub trace: Option<crate::trace::Kinds>,
    /// Trace only addresses in LO-HI (hexadecimal, inclusive: the
    /// instruction address, the old PSW's, the logical address a TLB entry
    /// was filled for). Repeatable.
    #[arg(long, value_name = "LO-HI", value_parser = crate::trace::parse_range)]
    pub trace_range: Vec<crate::trace::Range>,
    /// Write the trace to this file instead of stderr.
    #[arg(long, value_name = "PATH")]
    pub trace_file: Option<std::path::PathBuf>,
    /// Guest storage size, with an optional K, M or G suffix (a bare
    /// number is bytes).
    #[arg(long, value_name = "SIZE", default_value = "128M", value_parser = parse_size)]
    pub memory: u64,
    /// The kernel command line, stored in the parm area at 0x10480 as
    /// QEMU's -kernel loader stores it (at most 895 bytes).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub append: Option<String>,
    /// The guest's name, as STSI 3.2.2 reports it.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The guest's UUID (8-4-4-4-12 hexadecimal), as STSI 3.2.2 reports it.
    #[arg(long, value_name = "UUID", value_parser = parse_uuid)]
    pub uuid: Option<[u8; 16]>,
    /// A device: virtio-net-ccw (a network device without a backend on the
    /// channel subsystem) or diag288 (the DIAGNOSE 0x288 watchdog).
    /// Repeatable.
    #[arg(long = "device", value_name = "DEVICE", value_parser = parse_device)]
    pub devices: Vec<Device>,
    /// A raw disk image as a virtio block device on the channel subsystem
    /// (QEMU's -drive file=FILE,format=raw,if=none,id=d -device
    /// virtio-blk-ccw,drive=d): FILE, or file=FILE followed by any of
    /// ,readonly=on|off ,format=raw ,serial=ID. Its capacity
    /// is the file's length in 512-byte sectors; the guest's writes go to
    /// the file. Repeatable, after the --device devices.
    #[arg(long = "drive", value_name = "FILE", value_parser = crate::drive::parse)]
    pub drives: Vec<crate::drive::Drive>,
    /// What the watchdog does when it expires: reset, poweroff, pause, none
    /// or inject-nmi.
    #[arg(long, value_name = "ACTION", default_value = "reset", value_parser = parse_watchdog_action)]
    pub watchdog_action: WatchdogAction,
    /// The CPU model and the features switched on or off, as QEMU's -cpu:
    /// max, optionally followed by ,vx=on|off ,mie3=on|off ,gs=off
    /// ,vxeh=on|off ,vxeh2=on|off ,edat=on|off and ,sea_esop2=on|off (the
    /// vector-enhancements facilities 1 and 2 and EDAT-1 on unless switched
    /// off, ESOP-2 off unless asked for).
    #[arg(long, value_name = "MODEL", default_value = "max", value_parser = parse_cpu)]
    pub cpu: CpuFeatures,
    /// The number of CPUs, each run by its own host thread (CPU 0 starts
    /// the program, the others are stopped until a SIGP starts them), as
    /// QEMU's -smp: N[,maxcpus=M].
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_smp)]
    pub smp: (u16, Option<u16>),
    /// At most this many CPUs (STSI and the SCLP report it; core ids are
    /// below it); the default is the --smp count.
    #[arg(long, value_name = "M")]
    pub maxcpus: Option<u16>,
    /// The CPU addresses (core ids) of the CPUs in the order they are
    /// configured, comma-separated (as QEMU's `-device
    /// s390x-cpu,core-id=`); the default is 0, 1, ... N-1.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub core_ids: Option<Vec<u16>>,
    /// How instructions execute: `jit` (s390x blocks translated to x86-64
    /// code; x86-64 hosts only, the default there), `interp` (the
    /// interpreter, the default elsewhere) or `kvm` (translated code in a
    /// KVM VM, guest accesses translated by the x86 MMU; needs /dev/kvm;
    /// with `--smp`, a VM per CPU).
    #[arg(long, value_enum, default_value_t = EngineKind::DEFAULT)]
    pub engine: EngineKind,
    /// Print the engine's counters to stderr at exit, and whenever zmmu
    /// gets SIGUSR1 (the run goes on) or SIGINT/SIGTERM (it ends).
    #[arg(long)]
    pub stats: bool,
    /// Serve gdb's remote protocol on ADDR:PORT (gdb-multiarch, `set
    /// architecture s390:64-bit`, `target remote ADDR:PORT`); the guest
    /// runs until gdb attaches.
    #[arg(long, value_name = "ADDR:PORT")]
    pub gdb: Option<String>,
    /// With --gdb: start the guest only once gdb has attached.
    #[arg(long, requires = "gdb")]
    pub wait_for_gdb: bool,
}

impl RunOptions {
    /// The machine configuration these options describe.
    pub fn config(&self) -> Config {
        Config {
            command_line: self.append.clone(),
            name: self.name.clone(),
            uuid: self.uuid,
            devices: self.devices.clone(),
            watchdog_action: self.watchdog_action,
            cpu: self.cpu,
            cpus: self.cpus(),
        }
    }

    /// The CPUs `--smp`, `--maxcpus` and `--core-ids` describe (checked
    /// by the machine).
    pub fn cpus(&self) -> zmmu_machine::config::Cpus {
        let (count, max) = self.smp;
        let core_ids = self
            .core_ids
            .clone()
            .unwrap_or_else(|| (0..count).collect());
        let max_cpus = self.maxcpus.or(max).unwrap_or(core_ids.len() as u16);
        zmmu_machine::config::Cpus { core_ids, max_cpus }
    }
}

fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    zmmu_machine::config::parse_uuid(text)
        .ok_or_else(|| format!("`{text}` is not a UUID (8-4-4-4-12 hexadecimal digits)"))
}

fn parse_device(text: &str) -> Result<Device, String> {
    Device::from_name(text)
        .ok_or_else(|| {
            format!("`{text}`: zmmu has the devices virtio-net-ccw and diag288 (a virtio-blk-ccw disk comes with --drive FILE)")
        })
}

fn parse_watchdog_action(text: &str) -> Result<WatchdogAction, String> {
    WatchdogAction::from_name(text).ok_or_else(|| {
        format!("`{text}`: the watchdog actions are reset, poweroff, pause, none and inject-nmi")
    })
}

fn parse_cpu(text: &str) -> Result<CpuFeatures, String> {
    CpuFeatures::parse(text).map_err(|e| e.to_string())
}

/// QEMU's `-smp` form: N (or cpus=N), then maxcpus=M. The CPU topology
/// keys (sockets, cores, threads, books, drawers...) are refused: zmmu has
/// no topology (no configuration-topology facility, 11), and a run that
/// asked for one would not see it.
fn parse_smp(text: &str) -> Result<(u16, Option<u16>), String> {
    let mut count = None;
    let mut max = None;
    let cpus = |n: &str| match n.parse::<u16>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{n}` is not a CPU count")),
    };
    for (i, part) in text.split(',').enumerate() {
        match part.split_once('=') {
            None if i == 0 => count = Some(cpus(part)?),
            Some(("cpus", n)) if count.is_none() => count = Some(cpus(n)?),
            Some(("maxcpus", m)) => max = Some(cpus(m)?),
            Some((
                key @ ("sockets" | "cores" | "threads" | "books" | "drawers" | "dies"
                | "clusters"),
                _,
            )) => {
                return Err(format!(
                    "`{key}`: zmmu has no CPU topology (the configuration-topology facility is not offered); it takes N[,maxcpus=M]"
                ))
            }
            _ => return Err(format!("`{part}`: zmmu takes N[,maxcpus=M]")),
        }
    }
    let count = count.ok_or_else(|| format!("`{text}` is not a CPU count"))?;
    Ok((count, max))
}

/// Host time, for a machine that runs in real time: an enabled wait
/// sleeps on the host until the next timer interruption.
#[derive(Clone, Copy, Debug)]
enum HostTime {
    /// The host's monotonic clock since the start.
    Monotonic(Instant),
    /// The host's TSC, which the kvm engine's in-VM runtime follows
    /// exactly: its clock reads need no exit (docs/CHOICES.md 49).
    Tsc(zmmu_kvm::TscTime),
}

impl HostTime {
    /// The host time `engine` runs in: on the TSC for the kvm engine where
    /// the host allows it (its kernel's clock is the TSC), otherwise the
    /// monotonic clock, which the kvm engine reads with an exit. The TSC's
    /// rate is `kvm`'s, if it is made yet (one CPU).
    fn of(engine: EngineKind, kvm: Option<&zmmu_kvm::KvmEngine>) -> Self {
        match engine {
            EngineKind::Kvm => kvm
                .map_or_else(zmmu_kvm::TscTime::new, zmmu_kvm::KvmEngine::tsc_time)
                .map(Self::Tsc)
                .unwrap_or_else(|_| Self::Monotonic(Instant::now())),
            EngineKind::Interp | EngineKind::Jit => Self::Monotonic(Instant::now()),
        }
    }
}

impl TimeSource for HostTime {
    fn now_ns(&mut self) -> u64 {
        match self {
            Self::Monotonic(start) => u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Self::Tsc(tsc) => tsc.now_ns(),
        }
    }

    fn wait_until_ns(&mut self, deadline: u64) {
        match self {
            Self::Monotonic(_) => {
                let now = self.now_ns();
                if deadline > now {
                    std::thread::sleep(std::time::Duration::from_nanos(deadline - now));
                }
            }
            Self::Tsc(tsc) => tsc.wait_until_ns(deadline),
        }
    }

    /// `CLOCK_MONOTONIC` is no function of anything a VM can read.
    fn pace(&self) -> Option<zmmu_cpu::clock::Pace> {
        match self {
            Self::Monotonic(_) => None,
            Self::Tsc(tsc) => tsc.pace(),
        }
    }
}

/// The TOD clock value of the host's wall clock (the TOD clock counts from
/// 1900-01-01; the Unix epoch is 2,208,988,800 s later).
fn host_tod() -> u64 {
    const UNIX_EPOCH_IN_TOD_SECONDS: u64 = 2_208_988_800;
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ns = (UNIX_EPOCH_IN_TOD_SECONDS + since_unix.as_secs()) * 1_000_000_000
        + u64::from(since_unix.subsec_nanos());
    ns_to_tod(ns)
}

/// Parses a storage size: a byte count with an optional K, M or G suffix
/// (powers of 1024). At least 64 KiB (the lowcore and the program area),
/// at most 64 GiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 10),
        Some((i, 'm' | 'M')) => (&text[..i], 20),
        Some((i, 'g' | 'G')) => (&text[..i], 30),
        _ => (text, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (like 65536, 64K, 128M or 1G)"))?;
    let size = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if !(0x1_0000..=1 << 36).contains(&size) {
        return Err(format!("`{text}`: storage must be between 64K and 64G"));
    }
    Ok(size)
}

/// The trace `--trace`, `--trace-range` and `--trace-file` ask for: one
/// CPU's tracer, or (`several` CPUs) the output they share.
fn tracing(
    options: &RunOptions,
    several: bool,
) -> Result<(Option<Tracer>, Option<crate::trace::Shared>), String> {
    let Some(kinds) = options.trace.filter(|k| k.any()) else {
        return Ok((None, None));
    };
    let out: Box<dyn Write + Send> = match &options.trace_file {
        Some(path) => Box::new(BufWriter::new(std::fs::File::create(path).map_err(
            |e| format!("cannot create the trace file {}: {e}", path.display()),
        )?)),
        None => Box::new(BufWriter::new(io::stderr())),
    };
    let ranges = options.trace_range.clone();
    Ok(match several {
        true => (None, Some(crate::trace::Shared::new(out, kinds, ranges))),
        false => (Some(Tracer::new(out, kinds, ranges)), None),
    })
}

/// Loads and runs `program`; the exit status per the module docs.
pub fn run(options: &RunOptions) -> ExitCode {
    let (program, max_insns, memory) =
        (options.program.as_path(), options.max_insns, options.memory);
    let bytes = match std::fs::read(program) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("zmmu: cannot read {}: {e}", program.display());
            return ExitCode::from(EXIT_LOAD);
        }
    };
    let initrd = match &options.initrd {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                eprintln!("zmmu: cannot read {}: {e}", path.display());
                return ExitCode::from(EXIT_LOAD);
            }
        },
        None => None,
    };
    let image = match kernel::parse(&bytes, initrd.as_deref(), memory) {
        Ok(image) => image,
        Err(e) => {
            eprintln!("zmmu: cannot load {}: {e}", program.display());
            return ExitCode::from(EXIT_LOAD);
        }
    };
    let Ok(memory) = usize::try_from(memory) else {
        eprintln!("zmmu: {memory} bytes of storage do not fit this host");
        return ExitCode::from(EXIT_LOAD);
    };
    if !crate::lazy_alloc::can_reserve(memory) {
        eprintln!(
            "zmmu: the host cannot reserve {memory:#x} bytes of guest storage (address space or overcommit policy); choose a smaller --memory"
        );
        return ExitCode::from(EXIT_LOAD);
    }
    let mut machine = match Machine::with_config(memory, options.config()) {
        Ok(machine) => machine,
        Err(e) => {
            eprintln!("zmmu: {e}");
            return ExitCode::from(EXIT_LOAD);
        }
    };
    if let Err(e) = crate::drive::attach(&mut machine, &options.drives) {
        eprintln!("zmmu: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    // The kvm engine is made before the clock, whose TSC rate its vCPU
    // tells; a failure is reported where it was before, after the load.
    let several = machine.config.cpus.core_ids.len() > 1;
    let mut kvm = None;
    let made_kvm = match (options.engine, several) {
        (EngineKind::Kvm, true) => zmmu_kvm::available(),
        (EngineKind::Kvm, false) => {
            zmmu_kvm::KvmEngine::new(&machine.bus.storage, zmmu_kvm::DEFAULT_CODE_CACHE)
                .map(|engine| kvm = Some(engine))
        }
        (EngineKind::Interp | EngineKind::Jit, _) => Ok(()),
    };
    let time = HostTime::of(options.engine, kvm.as_ref());
    machine.services.clock = zmmu_cpu::clock::Clock::new(Box::new(time), host_tod());
    if let Err((index, e)) = machine.load_image(&image) {
        eprintln!(
            "zmmu: cannot load {}: segment {index}: {e}",
            program.display()
        );
        return ExitCode::from(EXIT_LOAD);
    }
    machine.start(image.entry);

    let (tracer, shared_trace) = match tracing(options, several) {
        Ok(trace) => trace,
        Err(e) => {
            eprintln!("zmmu: {e}");
            return ExitCode::from(EXIT_LOAD);
        }
    };
    if tracer.as_ref().is_some_and(Tracer::wants_tlb_log) {
        machine.bus.tlb_log = Some(Vec::new());
    }
    let raw_mode = RawMode::enter();
    let mut report = Report::new(Some(Keyboard::start()), tracer);
    // With several CPUs each makes its own kvm engine on its own thread.
    if let Err(e) = made_kvm {
        eprintln!("zmmu: --engine kvm: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut jit = match options.engine {
        EngineKind::Interp | EngineKind::Kvm => None,
        EngineKind::Jit => match zmmu_jit::Jit::new(zmmu_jit::DEFAULT_BUFFER) {
            Ok(mut jit) => {
                jit.set_translate_after(zmmu_jit::TRANSLATE_AFTER);
                Some(jit)
            }
            Err(e) => {
                eprintln!("zmmu: --engine jit: {e}");
                return ExitCode::from(EXIT_LOAD);
            }
        },
    };
    let started = Instant::now();
    // Several CPUs: each kvm CPU that gave up its VM, and the engines'
    // `--stats` lines.
    let (mut failures, mut engine_stats) = (Vec::new(), Vec::new());
    if options.stats && options.gdb.is_none() {
        crate::stats_signal::install();
    }
    let outcome = if several {
        let debugging = crate::smp::Debugging {
            trace: shared_trace,
            gdb: options
                .gdb
                .as_ref()
                .map(|address| (address.clone(), options.wait_for_gdb)),
        };
        // Every CPU reads one TOD clock: the same host time and epoch,
        // taken once (a clock made later from the same TOD value would
        // start that much behind: docs/CHOICES.md 47).
        let state = machine.services.clock.state();
        let clock = || zmmu_cpu::clock::Clock::with_state(Box::new(time) as _, state);
        match crate::smp::run(&mut machine, max_insns, options.engine, clock, &debugging) {
            Ok(finished) => {
                (failures, engine_stats) = (finished.failures, finished.stats);
                finished.outcome
            }
            Err(e) => {
                eprintln!("zmmu: {e}");
                return ExitCode::from(EXIT_CHECK_STOP);
            }
        }
    } else {
        match &options.gdb {
            Some(address) => {
                let engine = match (&mut jit, &mut kvm) {
                    (Some(jit), _) => Some(jit as &mut dyn crate::gdb::Translator),
                    (_, Some(kvm)) => Some(kvm as &mut dyn crate::gdb::Translator),
                    _ => None,
                };
                let mut session = Session::new(&mut machine, &mut report, engine, max_insns);
                match crate::gdb::serve(address, options.wait_for_gdb, &mut session) {
                    Ok(stop) => RunOutcome {
                        stop,
                        instructions: session.executed,
                    },
                    Err(e) => {
                        eprintln!("zmmu: {e}");
                        return ExitCode::from(EXIT_LOAD);
                    }
                }
            }
            None => {
                let tag = String::new();
                match (&mut jit, &mut kvm) {
                    (Some(jit), _) => {
                        machine.run_with(max_insns, &mut report, &mut Watched::new(jit, tag))
                    }
                    (_, Some(kvm)) => {
                        machine.run_with(max_insns, &mut report, &mut Watched::new(kvm, tag))
                    }
                    _ => machine.run_with(
                        max_insns,
                        &mut report,
                        &mut Watched::new(&mut Interpreter, tag),
                    ),
                }
            }
        }
    };
    let elapsed = started.elapsed();
    report.finish(&machine.cpu, &mut machine.bus);
    drop(report);
    drop(raw_mode);

    let (status, why) = stop_status(&outcome.stop, &machine.cpu.psw);
    eprintln!(
        "zmmu: {why}; {} instructions in {:.3} s; exit status {status}",
        outcome.instructions,
        elapsed.as_secs_f64()
    );
    if options.stats {
        eprintln!(
            "stats: {}",
            crate::stats_signal::instructions_line(outcome.instructions, elapsed)
        );
        if !several {
            eprintln!(
                "stats: {}",
                crate::stats_signal::wait_stats(&machine.services.waits)
            );
        }
        jit.iter()
            .flat_map(|j| j.report())
            .chain(kvm.iter().flat_map(|k| k.report()))
            .chain(engine_stats)
            .for_each(|l| eprintln!("stats: {l}"));
    }
    failures.extend(
        kvm.as_ref()
            .and_then(|k| k.failure())
            .map(ToString::to_string),
    );
    if !failures.is_empty() {
        for e in failures {
            eprintln!("zmmu: --engine kvm gave up the VM (the interpreter finished the run): {e}");
        }
        return ExitCode::from(EXIT_UNIMPLEMENTED);
    }
    ExitCode::from(status)
}
