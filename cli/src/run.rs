//! `zmmu run`: load, run, report.
//!
//! Exit status (QEMU itself always exits 0 on a disabled wait; the final
//! PSW is what `-d guest_errors` logs, and the tests compare against it):
//!
//! | stop | status |
//! |---|---|
//! | every CPU stopped (SIGP STOP to itself, a CPU reset) | 0, as QEMU |
//! | disabled-wait PSW | its instruction address modulo 256 (bits 56-63) |
//! | the diag288 watchdog expired with `--watchdog-action poweroff` | 0, as QEMU |
//! | a re-IPL: DIAGNOSE X'308' load clear, or the watchdog with `reset` (QEMU restarts the program; zmmu does not) | 122 |
//! | the watchdog expired with `--watchdog-action pause` (QEMU pauses) | 123 |
//! | instruction limit reached | 124 |
//! | unimplemented instruction | 125 |
//! | check-stop, or a wait that nothing can end | 126 |
//! | the program cannot be read or loaded | 3 |
//!
//! The stop reason is always printed to stderr, so a guest status that
//! collides with 124-126 or 3 can be told apart there.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use zmmu_cpu::clock::{ns_to_tod, TimeSource};
use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_machine::config::{Config, CpuFeatures, Device, WatchdogAction};
use zmmu_machine::{Machine, Observer, Stop};

use zmmu_machine::elf;

/// Exit status when the program asks for a re-IPL (DIAGNOSE X'308' load
/// clear) or the watchdog expires with the `reset` action.
pub const EXIT_REIPL: u8 = 122;
/// Exit status when the watchdog expires with the `pause` action.
pub const EXIT_PAUSED: u8 = 123;
/// Exit status when the instruction limit is reached.
pub const EXIT_LIMIT: u8 = 124;
/// Exit status for an unimplemented instruction.
pub const EXIT_UNIMPLEMENTED: u8 = 125;
/// Exit status for a check-stop or an endless wait.
pub const EXIT_CHECK_STOP: u8 = 126;
/// Exit status when the program cannot be loaded.
pub const EXIT_LOAD: u8 = 3;

/// The machine options of `zmmu run`, in the spirit of QEMU's, so that a
/// test's QEMU parameters map one to one.
#[derive(Clone, Debug, clap::Args)]
pub struct RunOptions {
    /// The program.
    pub program: std::path::PathBuf,
    /// Stop after this many instructions.
    #[arg(long, value_name = "N")]
    pub max_insns: Option<u64>,
    /// Print every instruction and interruption to stderr.
    #[arg(long)]
    pub trace: bool,
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
    /// What the watchdog does when it expires: reset, poweroff, pause, none
    /// or inject-nmi.
    #[arg(long, value_name = "ACTION", default_value = "reset", value_parser = parse_watchdog_action)]
    pub watchdog_action: WatchdogAction,
    /// The CPU model and the features switched on or off, as QEMU's -cpu:
    /// max[,vx=on|off][,gs=off].
    #[arg(long, value_name = "MODEL", default_value = "max", value_parser = parse_cpu)]
    pub cpu: CpuFeatures,
    /// The number of CPUs. zmmu runs one CPU today: more is refused.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_smp)]
    pub smp: u32,
    /// How instructions execute: `jit` (s390x blocks translated to x86-64
    /// code; x86-64 hosts only, the default there) or `interp` (the
    /// interpreter, the default elsewhere).
    #[arg(long, value_enum, default_value_t = EngineKind::DEFAULT)]
    pub engine: EngineKind,
    /// Print the engine's counters to stderr at exit.
    #[arg(long)]
    pub stats: bool,
}

/// The execution engines of `zmmu run --engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The interpreter.
    Interp,
    /// The translator (zmmu-jit).
    Jit,
}

impl EngineKind {
    /// The engine without `--engine`: the jit where it runs (x86-64
    /// hosts), else the interpreter.
    pub const DEFAULT: EngineKind = if cfg!(target_arch = "x86_64") {
        EngineKind::Jit
    } else {
        EngineKind::Interp
    };
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
        }
    }
}

fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    zmmu_machine::config::parse_uuid(text)
        .ok_or_else(|| format!("`{text}` is not a UUID (8-4-4-4-12 hexadecimal digits)"))
}

fn parse_device(text: &str) -> Result<Device, String> {
    Device::from_name(text)
        .ok_or_else(|| format!("`{text}`: zmmu has the devices virtio-net-ccw and diag288"))
}

fn parse_watchdog_action(text: &str) -> Result<WatchdogAction, String> {
    WatchdogAction::from_name(text).ok_or_else(|| {
        format!("`{text}`: the watchdog actions are reset, poweroff, pause, none and inject-nmi")
    })
}

fn parse_cpu(text: &str) -> Result<CpuFeatures, String> {
    CpuFeatures::parse(text).map_err(|e| e.to_string())
}

fn parse_smp(text: &str) -> Result<u32, String> {
    // QEMU's form: N, or N,maxcpus=M,... with the CPU count first.
    let count = text.split(',').next().unwrap_or_default();
    match count.parse::<u32>() {
        Ok(1) => Ok(1),
        Ok(n) if n > 1 => Err(format!(
            "{n} CPUs: zmmu runs one CPU today (multiprocessing is not implemented yet)"
        )),
        _ => Err(format!("`{text}` is not a CPU count")),
    }
}

/// The host's monotonic clock, for a machine that runs in real time: an
/// enabled wait sleeps on the host until the next timer interruption.
#[derive(Debug)]
struct HostTime {
    start: Instant,
}

impl TimeSource for HostTime {
    fn now_ns(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn wait_until_ns(&mut self, deadline: u64) {
        let now = self.now_ns();
        if deadline > now {
            std::thread::sleep(std::time::Duration::from_nanos(deadline - now));
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

/// Console to stdout, trace to stderr.
struct Report<'a> {
    console: BufWriter<io::StdoutLock<'a>>,
    trace: Option<BufWriter<io::StderrLock<'a>>>,
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("trace", &self.trace.is_some())
            .finish()
    }
}

impl Observer for Report<'_> {
    fn console(&mut self, bytes: &[u8]) {
        // A closed stdout does not stop the guest.
        let _ = self.console.write_all(bytes);
        if self.trace.is_some() {
            let _ = self.console.flush();
        }
    }

    fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    fn trace(&mut self, cpu: &Cpu, insn: &Insn) {
        if let Some(out) = &mut self.trace {
            let _ = writeln!(
                out,
                "{:016x} {:<8} {} cc={}",
                cpu.psw.addr,
                insn.op.mnemonic(),
                operands(insn),
                cpu.psw.cc()
            );
        }
    }

    fn interruption(&mut self, cpu: &Cpu, interruption: &Interruption) {
        if let Some(out) = &mut self.trace {
            let what = match interruption {
                Interruption::Program { exception, ilc, .. } => format!(
                    "program interruption code {:#06x} ilc {ilc} teid {:x?}",
                    exception.code.0,
                    exception.teid.map(|t| t.0)
                ),
                Interruption::Supervisor { code, .. } => format!("SVC {code}"),
                Interruption::External {
                    code, parameter, ..
                } => {
                    format!("external interruption {code:#06x} parameter {parameter:#x}")
                }
                Interruption::Restart => "restart interruption".to_string(),
                Interruption::Io {
                    subchannel_id,
                    parameter,
                    word,
                } => format!(
                    "I/O interruption subsystem id {subchannel_id:#010x} parameter {parameter:#010x} word {word:#010x}"
                ),
            };
            let _ = writeln!(
                out,
                "*** {what}; new PSW {:016x} {:016x}",
                cpu.psw.mask, cpu.psw.addr
            );
        }
    }
}

/// The nonzero fields of a decoded instruction, as `name=value` pairs
/// (displacements and relative offsets signed, in decimal).
fn operands(insn: &Insn) -> String {
    let f = &insn.f;
    let fields: [(&str, i64); 18] = [
        ("r1", f.r1.into()),
        ("r2", f.r2.into()),
        ("r3", f.r3.into()),
        ("m1", f.m1.into()),
        ("m3", f.m3.into()),
        ("m4", f.m4.into()),
        ("x2", f.x2.into()),
        ("b1", f.b1.into()),
        ("d1", f.d1.into()),
        ("b2", f.b2.into()),
        ("d2", f.d2.into()),
        ("b4", f.b4.into()),
        ("d4", f.d4.into()),
        ("i2", f.i2.into()),
        ("ri", f.ri),
        ("i3", f.i3.into()),
        ("i4", f.i4.into()),
        ("i5", f.i5.into()),
    ];
    let mut text = String::new();
    for (name, value) in fields.iter().filter(|(_, v)| *v != 0) {
        if !text.is_empty() {
            text.push(' ');
        }
        if matches!(*name, "d1" | "d2" | "d4" | "ri") {
            text.push_str(&format!("{name}={value}"));
        } else {
            text.push_str(&format!("{name}={value:#x}"));
        }
    }
    for (name, value) in [("l1", f.l1), ("l2", f.l2)] {
        if value != 0 {
            text.push_str(&format!(" {name}={value}"));
        }
    }
    text
}

/// Loads and runs `program`; the exit status per the module docs.
pub fn run(options: &RunOptions) -> ExitCode {
    let (program, max_insns, trace, memory) = (
        options.program.as_path(),
        options.max_insns,
        options.trace,
        options.memory,
    );
    let bytes = match std::fs::read(program) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("zmmu: cannot read {}: {e}", program.display());
            return ExitCode::from(EXIT_LOAD);
        }
    };
    let image = match elf::parse(&bytes, memory) {
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
    machine.services.clock = zmmu_cpu::clock::Clock::new(
        Box::new(HostTime {
            start: Instant::now(),
        }),
        host_tod(),
    );
    if let Err((index, e)) = machine.load_image(&image) {
        eprintln!(
            "zmmu: cannot load {}: segment {index}: {e}",
            program.display()
        );
        return ExitCode::from(EXIT_LOAD);
    }
    machine.start(image.entry);

    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut report = Report {
        console: BufWriter::new(stdout.lock()),
        trace: trace.then(|| BufWriter::new(stderr.lock())),
    };
    let mut jit = match options.engine {
        EngineKind::Interp => None,
        EngineKind::Jit => match zmmu_jit::Jit::new(zmmu_jit::DEFAULT_BUFFER) {
            Ok(jit) => Some(jit),
            Err(e) => {
                eprintln!("zmmu: --engine jit: {e}");
                return ExitCode::from(EXIT_LOAD);
            }
        },
    };
    let started = Instant::now();
    let outcome = match &mut jit {
        Some(jit) => machine.run_with(max_insns, &mut report, jit),
        None => machine.run(max_insns, &mut report),
    };
    let elapsed = started.elapsed();
    let _ = report.console.flush();
    if let Some(out) = &mut report.trace {
        let _ = out.flush();
    }
    drop(report);

    let (status, why) = match &outcome.stop {
        Stop::Stopped { psw } => (
            0,
            format!("CPU stopped, PSW {:016x} {:016x}", psw.mask, psw.addr),
        ),
        Stop::DisabledWait { psw } => (
            (psw.addr & 0xFF) as u8,
            format!("disabled wait, PSW {:016x} {:016x}", psw.mask, psw.addr),
        ),
        Stop::EnabledWaitForever { psw } => (
            EXIT_CHECK_STOP,
            format!(
                "enabled wait with nothing pending, PSW {:016x} {:016x}",
                psw.mask, psw.addr
            ),
        ),
        Stop::LimitReached => (
            EXIT_LIMIT,
            format!("instruction limit reached at {:016x}", machine.cpu.psw.addr),
        ),
        Stop::Unimplemented {
            mnemonic,
            detail,
            address,
        } => (
            EXIT_UNIMPLEMENTED,
            match detail {
                Some(d) => format!("unimplemented: {mnemonic} ({d}) at {address:#x}"),
                None => format!("unimplemented instruction {mnemonic} at {address:#x}"),
            },
        ),
        Stop::ReIpl { watchdog, psw } => (
            EXIT_REIPL,
            format!(
                "re-IPL requested by {} (zmmu does not re-IPL), PSW {:016x} {:016x}",
                if *watchdog {
                    "the diag288 watchdog"
                } else {
                    "DIAGNOSE X'308'"
                },
                psw.mask,
                psw.addr
            ),
        ),
        Stop::WatchdogExpired { action, psw } => (
            if *action == WatchdogAction::Pause {
                EXIT_PAUSED
            } else {
                0
            },
            format!(
                "the diag288 watchdog expired: {action:?}, PSW {:016x} {:016x}",
                psw.mask, psw.addr
            ),
        ),
        Stop::CheckStop { reason, psw } => (
            EXIT_CHECK_STOP,
            format!(
                "check-stop: {reason}, PSW {:016x} {:016x}",
                psw.mask, psw.addr
            ),
        ),
    };
    eprintln!(
        "zmmu: {why}; {} instructions in {:.3} s; exit status {status}",
        outcome.instructions,
        elapsed.as_secs_f64()
    );
    if options.stats {
        print_stats(outcome.instructions, elapsed, jit.as_ref());
    }
    ExitCode::from(status)
}

/// `--stats`: the engine's counters on stderr.
fn print_stats(instructions: u64, elapsed: std::time::Duration, jit: Option<&zmmu_jit::Jit>) {
    let seconds = elapsed.as_secs_f64();
    let mips = if seconds > 0.0 {
        instructions as f64 / seconds / 1e6
    } else {
        0.0
    };
    eprintln!("stats: instructions {instructions}, {mips:.1} MIPS");
    let Some(jit) = jit else {
        return;
    };
    let s = jit.stats();
    let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    eprintln!(
        "stats: native {} ({:.1}%), blocks translated {} ({} instructions, {} bytes of host code, {:.1} bytes per instruction), entries into translated code {}",
        s.native(),
        100.0 * per(s.native(), s.instructions),
        s.blocks,
        s.translated_instructions,
        s.code_bytes,
        per(s.code_bytes, s.translated_instructions),
        s.entries,
    );
    eprintln!(
        "stats: jump-cache hits {}, block-cache hits {}, helper calls {} (slow paths {}), interpreted steps {}, smc block drops {}, jump-cache drops {}, buffer flushes {}",
        s.jump_hits, s.cache_hits, s.helper_calls, s.slow_paths, s.steps, s.smc_invalidations, s.jump_flushes, s.flushes
    );
    eprintln!(
        "stats: TLB fills from translated code {}, stores let into code frames {}, translation {:.0} ns per guest instruction",
        s.tlb_fills,
        s.code_page_stores,
        per(s.translate_ns, s.translated_instructions),
    );
    let list = |counts: Vec<(&str, u64)>| {
        let list: Vec<String> = counts.iter().map(|(m, n)| format!("{m} {n}")).collect();
        list.join(", ")
    };
    eprintln!(
        "stats: interpreter fallbacks by mnemonic: {}",
        list(s.fallbacks())
    );
    eprintln!("stats: slow paths by mnemonic: {}", list(s.slow()));
}
