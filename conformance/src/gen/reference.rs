//! The reference machines: building the probe program with Debian's s390x
//! cross compiler, and running one batch on QEMU (TCG) or Hercules.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::layout::{
    BLOB_ADDR, MAX_RECORDS, PROBE_START, RECORD_WORDS, RESULTS_ADDR, RESULTS_SIZE, STORAGE_SIZE,
};
use super::plan::Caps;
use super::record::{Record, Rules};

/// A reference machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Reference {
    /// qemu-system-s390x in TCG mode, `-cpu max`.
    Qemu,
    /// Hercules (z/Arch mode).
    Hercules,
}

impl Reference {
    /// The name used in scenario names and file names.
    pub fn name(self) -> &'static str {
        match self {
            Reference::Qemu => "qemu",
            Reference::Hercules => "hercules",
        }
    }

    /// What this reference implements (observed: STFLE and behaviour, see
    /// `conformance/vectors/README.md`).
    pub fn caps(self) -> Caps {
        match self {
            Reference::Qemu => Caps {
                keys: false,
                edat1: false,
                iep: true,
                esop2: true,
                late_lap: false,
                lap_every_byte: false,
                operand_wrap: false,
            },
            Reference::Hercules => Caps {
                keys: true,
                edat1: true,
                iep: false,
                esop2: false,
                late_lap: true,
                lap_every_byte: true,
                operand_wrap: true,
            },
        }
    }

    /// How records of this reference are decoded for a scenario with
    /// `prefix`: LOAD REAL ADDRESS is architected only on Hercules; only
    /// QEMU installs ESOP-1/ESOP-2, which define the TEID of protection
    /// exceptions.
    pub fn rules(self, prefix: u64) -> Rules {
        Rules {
            lra: self == Reference::Hercules,
            protection_teid: self.caps().esop2,
            prefix,
        }
    }

    /// The `zmmu run --cpu` model with the DAT facilities this reference
    /// offers (QEMU: ESOP-2 and not EDAT-1, which zmmu offers by default;
    /// Hercules: EDAT-1).
    pub fn zmmu_cpu(self) -> &'static str {
        match self {
            Reference::Qemu => "max,sea_esop2=on,edat=off",
            Reference::Hercules => "max,edat=on",
        }
    }

    /// Whether the probe prints its records on the SCLP ASCII console
    /// (QEMU) rather than leaving them for a storage dump (Hercules).
    pub fn console(self) -> bool {
        self == Reference::Qemu
    }

    /// The program that must be installed, and the Debian package with it.
    fn program(self) -> (&'static str, &'static str) {
        match self {
            Reference::Qemu => ("qemu-system-s390x", "qemu-system-misc"),
            Reference::Hercules => ("hercules", "hercules"),
        }
    }

    /// The version line the reference prints.
    pub fn version(self) -> Result<String, String> {
        let (program, _) = self.program();
        let arg = match self {
            Reference::Qemu => "--version",
            Reference::Hercules => "-h",
        };
        let out = Command::new(program)
            .arg(arg)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| missing(program, self.program().1, &e))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find(|l| l.contains("version") || l.contains("Version"))
            .map(|l| l.trim().to_string())
            .ok_or_else(|| format!("{program} printed no version"))
    }
}

fn missing(program: &str, package: &str, e: &std::io::Error) -> String {
    format!("cannot run {program} ({e}); install it with: apt-get install {package}")
}

/// The built probe program.
#[derive(Debug, Clone)]
pub struct ProbeProgram {
    /// The ELF image (QEMU `-kernel`).
    pub elf: PathBuf,
    /// The raw image loaded at `PROBE_START` (Hercules `loadcore`).
    pub bin: PathBuf,
    /// The entry point.
    pub entry: u64,
    /// Its compiled objects, for linking it with a batch blob
    /// ([`run_zmmu`]).
    pub objects: Vec<PathBuf>,
}

/// The probe's compiler and linker options.
const CFLAGS: [&str; 17] = [
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "--param=min-pagesize=0",
    "-ffreestanding",
    "-fno-builtin",
    "-nostdlib",
    "-static",
    "-msoft-float",
    "-mno-vx",
    "-march=z10",
    "-fno-pic",
    "-no-pie",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-Wl,--build-id=none",
];

/// An execution engine of `zmmu run`, for running the probe on zmmu itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ZmmuEngine {
    /// `zmmu run --engine interp`.
    Interp,
    /// `zmmu run --engine jit`.
    Jit,
    /// `zmmu run --engine kvm`.
    Kvm,
}

impl ZmmuEngine {
    /// The engine's name on the `zmmu run` command line.
    pub fn name(self) -> &'static str {
        match self {
            ZmmuEngine::Interp => "interp",
            ZmmuEngine::Jit => "jit",
            ZmmuEngine::Kvm => "kvm",
        }
    }
}

/// Runs one batch blob under `zmmu run --engine engine`, with the DAT
/// facilities of `reference` (whose rules the records are read by): the
/// probe and the blob linked into one ELF (the blob as a section at its
/// load address, as QEMU's loader device places it), the records read
/// from the SCLP console as on QEMU. `zmmu` is looked for next to this
/// program (`cargo build --release -p zmmu-cli`).
pub fn run_zmmu(
    engine: ZmmuEngine,
    reference: Reference,
    probe: &ProbeProgram,
    blob: &Path,
    work: &Path,
    limit: Duration,
) -> Result<Vec<Record>, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("gen");
    let script =
        std::fs::read_to_string(src.join("probe.ld")).map_err(|e| format!("probe.ld: {e}"))?;
    let discard = "    /DISCARD/";
    if !script.contains(discard) {
        return Err("probe.ld has no /DISCARD/ line to place the blob before".into());
    }
    let script = script.replace(
        discard,
        &format!("    . = {BLOB_ADDR:#x};\n    .blob : {{ *(.blob) }}\n{discard}"),
    );
    let ld = work.join("probe-blob.ld");
    let asm = work.join("blob.S");
    let elf = work.join("probe-blob.elf");
    let blob = std::fs::canonicalize(blob).map_err(|e| format!("{}: {e}", blob.display()))?;
    std::fs::write(&ld, script).map_err(|e| format!("{}: {e}", ld.display()))?;
    std::fs::write(
        &asm,
        format!(
            "    .section .blob, \"a\"\n    .incbin \"{}\"\n    .section .note.GNU-stack,\"\",@progbits\n",
            blob.display()
        ),
    )
    .map_err(|e| format!("{}: {e}", asm.display()))?;
    run_tool(
        Command::new("s390x-linux-gnu-gcc")
            .args(CFLAGS)
            .arg("-T")
            .arg(&ld)
            .arg("-o")
            .arg(&elf)
            .args(&probe.objects)
            .arg(&asm),
        "s390x-linux-gnu-gcc",
        PACKAGES,
    )?;
    let zmmu = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("zmmu");
    let out = run_bounded(
        Command::new(&zmmu)
            .args([
                "run",
                "--engine",
                engine.name(),
                "--cpu",
                reference.zmmu_cpu(),
            ])
            .arg("--memory")
            .arg(format!("{}M", STORAGE_SIZE >> 20))
            .arg(&elf),
        limit,
        ("zmmu", "(cargo build --release -p zmmu-cli)"),
        None,
    )?;
    console_records(&out, "zmmu")
}

/// The records the probe printed on the SCLP ASCII console (`R` lines,
/// `D` at the end).
fn console_records(out: &[u8], machine: &str) -> Result<Vec<Record>, String> {
    let text = String::from_utf8_lossy(out);
    let mut records = Vec::new();
    let mut done = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line == "D" {
            done = true;
        } else if let Some(rest) = line.strip_prefix("R ") {
            let words: Vec<u64> = rest
                .split(' ')
                .map(|w| u64::from_str_radix(w, 16))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("bad record line {line:?}: {e}"))?;
            let words: [u64; RECORD_WORDS] = words
                .try_into()
                .map_err(|_| format!("bad record line {line:?}"))?;
            records.push(Record(words));
        }
    }
    if !done {
        return Err(format!(
            "the probe did not finish on {machine} ({} records)",
            records.len()
        ));
    }
    Ok(records)
}

/// The Debian packages of the cross compiler and binutils.
const PACKAGES: &str = "gcc-s390x-linux-gnu binutils-s390x-linux-gnu";

/// Builds the probe from `conformance/gen` into `work`.
pub fn build_probe(work: &Path) -> Result<ProbeProgram, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("gen");
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let elf = work.join("probe.elf");
    let bin = work.join("probe.bin");
    let mut objects = Vec::new();
    for source in ["entry.S", "probe.c"] {
        let object = work.join(source).with_extension("o");
        run_tool(
            Command::new("s390x-linux-gnu-gcc")
                .args(CFLAGS)
                .arg("-c")
                .arg("-o")
                .arg(&object)
                .arg(src.join(source)),
            "s390x-linux-gnu-gcc",
            PACKAGES,
        )?;
        objects.push(object);
    }
    run_tool(
        Command::new("s390x-linux-gnu-gcc")
            .args(CFLAGS)
            .arg("-T")
            .arg(src.join("probe.ld"))
            .arg("-o")
            .arg(&elf)
            .args(&objects),
        "s390x-linux-gnu-gcc",
        PACKAGES,
    )?;
    run_tool(
        Command::new("s390x-linux-gnu-objcopy")
            .args(["-O", "binary"])
            .arg(&elf)
            .arg(&bin),
        "s390x-linux-gnu-objcopy",
        PACKAGES,
    )?;
    let image = std::fs::read(&elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let entry = image
        .get(24..32)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or("probe.elf has no ELF header")?;
    Ok(ProbeProgram {
        elf,
        bin,
        entry,
        objects,
    })
}

fn run_tool(cmd: &mut Command, program: &str, package: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| missing(program, package, &e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs `cmd` with a time limit and returns its standard output. With
/// `done`, the run ends (and the process is killed) as soon as a line of
/// output contains that marker.
fn run_bounded(
    cmd: &mut Command,
    limit: Duration,
    (what, package): (&str, &str),
    done: Option<&'static str>,
) -> Result<Vec<u8>, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| missing(what, package, &e))?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut lines = std::io::BufReader::new(stdout);
        loop {
            let start = buf.len();
            match lines.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if done.is_some_and(|m| String::from_utf8_lossy(&buf[start..]).contains(m)) {
                        let _ = tx.send(());
                    }
                }
            }
        }
        buf
    });
    let start = Instant::now();
    let mut finished = false;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            finished = true;
            break;
        }
        if rx.try_recv().is_ok() {
            finished = true;
            break;
        }
        if start.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let out = reader
        .join()
        .map_err(|_| "reader thread failed".to_string())?;
    if finished {
        Ok(out)
    } else {
        Err(format!("{what}: no result within {} s", limit.as_secs()))
    }
}

/// Runs one batch blob and returns the probe's records.
pub fn run_batch(
    reference: Reference,
    probe: &ProbeProgram,
    blob: &Path,
    work: &Path,
    limit: Duration,
) -> Result<Vec<Record>, String> {
    match reference {
        Reference::Qemu => run_qemu(probe, blob, limit),
        Reference::Hercules => run_hercules(probe, blob, work, limit),
    }
}

fn run_qemu(probe: &ProbeProgram, blob: &Path, limit: Duration) -> Result<Vec<Record>, String> {
    let out = run_bounded(
        Command::new("qemu-system-s390x")
            .args([
                "-nodefaults",
                "-nographic",
                "-machine",
                "s390-ccw-virtio,accel=tcg",
                "-cpu",
                "max",
                "-m",
                &format!("{}M", STORAGE_SIZE >> 20),
                "-chardev",
                "stdio,id=con0",
                "-device",
                "sclpconsole,chardev=con0",
                "-kernel",
            ])
            .arg(&probe.elf)
            .arg("-device")
            .arg(format!(
                "loader,file={},addr={BLOB_ADDR:#x},force-raw=on",
                blob.display()
            )),
        limit,
        Reference::Qemu.program(),
        None,
    )?;
    console_records(&out, "QEMU")
}

fn run_hercules(
    probe: &ProbeProgram,
    blob: &Path,
    work: &Path,
    limit: Duration,
) -> Result<Vec<Record>, String> {
    let results = work.join("results.bin");
    let _ = std::fs::remove_file(&results);
    let conf = work.join("hercules.cnf");
    let rc = work.join("hercules.rc");
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(
        &conf,
        format!(
            "ARCHMODE z/Arch\nMAINSIZE {}\nNUMCPU 1\nOSTAILOR QUIET\nPGMPRDOS LICENSED\n000E 1403 /dev/null\n",
            STORAGE_SIZE >> 20
        ),
    )?;
    // The disabled wait fires a savecore, which Hercules rejects until the
    // CPU has stopped: the rejection fires it again.
    let dump = format!(
        "{} {RESULTS_ADDR:x} {:x}",
        results.display(),
        RESULTS_ADDR + RESULTS_SIZE - 1
    );
    write(
        &rc,
        format!(
            "sysclear\nloadcore {} {PROBE_START:x}\nloadcore {} {BLOB_ADDR:x}\n\
             r 1a0=0000000180000000\nr 1a8={:016x}\n\
             hao tgt HHCCP011I\nhao cmd savecore {dump}\n\
             hao tgt HHCPN102E\nhao cmd savecore {dump}\nrestart\n",
            probe.bin.display(),
            blob.display(),
            probe.entry,
        ),
    )?;
    let log = run_bounded(
        Command::new("hercules")
            .arg("-f")
            .arg(&conf)
            .arg("-d")
            .env("HERCULES_RC", &rc)
            .current_dir(work),
        limit,
        Reference::Hercules.program(),
        Some("HHCPN170I"),
    )?;
    let dump = std::fs::read(&results)
        .map_err(|e| format!("hercules wrote no results ({e}); log tail:\n{}", tail(&log)))?;
    let words: Vec<u64> = dump
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    if words.len() < 8 || words[0] != 0x7a_6d6d_7572_6573 || words[2] != 1 {
        return Err(format!(
            "the probe did not finish on Hercules; log tail:\n{}",
            tail(&log)
        ));
    }
    let count = (words[1] as usize).min(MAX_RECORDS);
    Ok(words[8..]
        .chunks_exact(RECORD_WORDS)
        .take(count)
        .map(|c| Record(c.try_into().unwrap_or([0; RECORD_WORDS])))
        .collect())
}

fn tail(log: &[u8]) -> String {
    let text = String::from_utf8_lossy(log);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
