//! `zmmu run`: load, run, report.
//!
//! Exit status (QEMU itself always exits 0 on a disabled wait; the final
//! PSW is what `-d guest_errors` logs, and the tests compare against it):
//!
//! | stop | status |
//! |---|---|
//! | disabled-wait PSW | its instruction address modulo 256 (bits 56-63) |
//! | instruction limit reached | 124 |
//! | unimplemented instruction | 125 |
//! | check-stop, or a wait that nothing can end | 126 |
//! | the program cannot be read or loaded | 3 |
//!
//! The stop reason is always printed to stderr, so a guest status that
//! collides with 124-126 or 3 can be told apart there.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_machine::{Machine, Observer, Stop};

use zmmu_machine::elf;

/// Exit status when the instruction limit is reached.
pub const EXIT_LIMIT: u8 = 124;
/// Exit status for an unimplemented instruction.
pub const EXIT_UNIMPLEMENTED: u8 = 125;
/// Exit status for a check-stop or an endless wait.
pub const EXIT_CHECK_STOP: u8 = 126;
/// Exit status when the program cannot be loaded.
pub const EXIT_LOAD: u8 = 3;

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
                Interruption::External { code, parameter } => {
                    format!("external interruption {code:#06x} parameter {parameter:#x}")
                }
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
pub fn run(program: &Path, max_insns: Option<u64>, trace: bool, memory: u64) -> ExitCode {
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
    let mut machine = Machine::new(memory);
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
    let started = Instant::now();
    let outcome = machine.run(max_insns, &mut report);
    let elapsed = started.elapsed();
    let _ = report.console.flush();
    if let Some(out) = &mut report.trace {
        let _ = out.flush();
    }
    drop(report);

    let (status, why) = match &outcome.stop {
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
    ExitCode::from(status)
}
