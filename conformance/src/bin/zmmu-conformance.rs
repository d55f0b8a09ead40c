//! `zmmu-conformance`: checks zmmu's backends against DAT conformance vectors.
//!
//! ```text
//! zmmu-conformance run [--vectors FILE...] [--backend walk|tlb|mock|kvm|all]
//!                      [--engine interp|jit|kvm|all]
//! ```
//!
//! `--engine` runs the scenarios as s390x programs under `zmmu run` (the
//! probe they were recorded with, `zmmu` built beside this program:
//! `cargo build --release -p zmmu-cli`).
//!
//! Exit status: 0 when every step matches, 1 on any mismatch, 2 when the
//! input cannot be read or a backend cannot be started.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use zmmu_conformance::backend::{self, Backend};
use zmmu_conformance::gen::driver::default_work_dir;
use zmmu_conformance::gen::reference::ZmmuEngine;
use zmmu_conformance::runner::{self, Tally, VectorFile};
use zmmu_conformance::steps;

#[derive(Parser, Debug)]
#[command(
    name = "zmmu-conformance",
    version,
    about = "Check zmmu backends against DAT conformance vectors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run vector files through one or every backend.
    Run {
        /// Vector files (JSON Lines). Default: every `*.jsonl` committed in conformance/vectors.
        #[arg(long, num_args = 1..)]
        vectors: Vec<PathBuf>,
        /// Which backend to check; `all` runs every backend available on
        /// this machine. Default: `walk`, unless `--engine` is given.
        #[arg(long, value_enum)]
        backend: Option<BackendChoice>,
        /// Also run the scenarios as the reference ran them, under `zmmu
        /// run --engine E` (`all`: every engine available here).
        #[arg(long, value_enum)]
        engine: Option<EngineChoice>,
        /// Run only every Nth scenario of each file on the engines (`zmmu
        /// run` executes the probe program; CI samples).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        engine_sample: u64,
        /// How many mismatches to print per backend.
        #[arg(long, default_value_t = 20)]
        show: usize,
        /// Run only every Nth scenario of each file on the `kvm` backend
        /// (one VM entry per access makes it the slow one; CI uses 4).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        kvm_sample: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    /// The core's DAT walk.
    Walk,
    /// The core's software TLB, each access made twice.
    Tlb,
    /// The shadow pager on hv-mock's software x86-64 MMU.
    Mock,
    /// The shadow pager on a real KVM virtual machine.
    Kvm,
    /// Every backend available here.
    All,
}

/// The engines of `zmmu run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EngineChoice {
    /// The interpreter.
    Interp,
    /// The translator.
    Jit,
    /// Translated code in a KVM virtual machine.
    Kvm,
    /// Every engine available here.
    All,
}

fn main() -> ExitCode {
    let Command::Run {
        vectors,
        backend,
        engine,
        engine_sample,
        show,
        kvm_sample,
    } = Cli::parse().command;
    let backend = match (backend, engine) {
        (None, None) => Some(BackendChoice::Walk),
        (backend, _) => backend,
    };
    let files = match load(vectors) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("zmmu-conformance: {message}");
            return ExitCode::from(2);
        }
    };
    let backends = match backends(backend, engine) {
        Ok(backends) => backends,
        Err(message) => {
            eprintln!("zmmu-conformance: {message}");
            return ExitCode::from(2);
        }
    };
    let kvm_sampled = sample(&files, kvm_sample as usize);
    let engine_sampled = sample(&files, engine_sample as usize);
    let mut total = Tally::default();
    let mut diffs = String::new();
    for mut backend in backends {
        let files = if backend.name() == "kvm" && kvm_sample > 1 {
            println!("kvm: every {kvm_sample}th scenario of each file (--kvm-sample)");
            &kvm_sampled
        } else if backend.name().starts_with("engine") && engine_sample > 1 {
            println!(
                "{}: every {engine_sample}th scenario of each file (--engine-sample)",
                backend.name()
            );
            &engine_sampled
        } else {
            &files
        };
        if backend.name().starts_with("engine") {
            println!("{}: the scenarios run under zmmu run", backend.name());
        }
        let steps: usize = files
            .iter()
            .flat_map(|f| &f.scenarios)
            .map(|s| s.steps.len())
            .sum();
        let bar = ProgressBar::new(steps as u64).with_message(backend.name());
        bar.set_style(
            ProgressStyle::with_template("{msg:>5} [{bar:40}] {pos}/{len} steps ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let report = runner::run(backend.as_mut(), files, show, |n| bar.inc(n as u64));
        bar.finish_and_clear();
        print!("{}", runner::table(&report));
        diffs.push_str(&runner::diff(&report));
        total.steps += report.total.steps;
        total.passed += report.total.passed;
    }
    if !diffs.is_empty() {
        println!("\nfirst mismatches (- the reference, + the backend):");
        print!("{diffs}");
    }
    println!("{}", runner::summary_line(&total));
    if total.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Every `every`th scenario of each file (the first included).
fn sample(files: &[VectorFile], every: usize) -> Vec<VectorFile> {
    files
        .iter()
        .map(|f| VectorFile {
            name: f.name.clone(),
            scenarios: f.scenarios.iter().step_by(every).cloned().collect(),
        })
        .collect()
}

/// The vector files named, or every committed one.
fn load(paths: Vec<PathBuf>) -> Result<Vec<VectorFile>, String> {
    let paths = if paths.is_empty() {
        committed_vectors()?
    } else {
        paths
    };
    paths
        .into_iter()
        .map(|path| {
            let scenarios = steps::read_file(&path).map_err(|e| e.to_string())?;
            Ok(VectorFile {
                name: path.display().to_string(),
                scenarios,
            })
        })
        .collect()
}

/// Every `*.jsonl` file in the crate's `vectors` folder, sorted.
fn committed_vectors() -> Result<Vec<PathBuf>, String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no vector files (*.jsonl) in {}", dir.display()));
    }
    Ok(paths)
}

/// The backends to run for the choices. With `all`, a backend or engine
/// that cannot run on this machine is skipped with a visible line saying
/// why.
fn backends(
    choice: Option<BackendChoice>,
    engine: Option<EngineChoice>,
) -> Result<Vec<Box<dyn Backend>>, String> {
    let mut out = match choice {
        None => Vec::new(),
        Some(BackendChoice::All) => all_backends(),
        Some(choice) => vec![make(choice)?],
    };
    let engines = match engine {
        None => vec![],
        Some(EngineChoice::All) => vec![ZmmuEngine::Interp, ZmmuEngine::Jit, ZmmuEngine::Kvm],
        Some(EngineChoice::Interp) => vec![ZmmuEngine::Interp],
        Some(EngineChoice::Jit) => vec![ZmmuEngine::Jit],
        Some(EngineChoice::Kvm) => vec![ZmmuEngine::Kvm],
    };
    for e in engines {
        match backend::EngineBackend::new(e, default_work_dir()) {
            Ok(b) => out.push(Box::new(b)),
            Err(why) if engine == Some(EngineChoice::All) => {
                eprintln!("SKIP engine {}: {why}", e.name())
            }
            Err(why) => return Err(format!("engine {}: {why}", e.name())),
        }
    }
    Ok(out)
}

/// Every backend available here; the others are skipped with a visible
/// line saying why.
fn all_backends() -> Vec<Box<dyn Backend>> {
    let mut out = Vec::new();
    for choice in [
        BackendChoice::Walk,
        BackendChoice::Tlb,
        BackendChoice::Mock,
        BackendChoice::Kvm,
    ] {
        match make(choice) {
            Ok(backend) => out.push(backend),
            Err(why) => eprintln!(
                "SKIP backend {}: {why}",
                format!("{choice:?}").to_lowercase()
            ),
        }
    }
    out
}

/// One backend, or why it cannot run here.
fn make(choice: BackendChoice) -> Result<Box<dyn Backend>, String> {
    match choice {
        BackendChoice::Walk => Ok(Box::new(backend::WalkBackend)),
        BackendChoice::Tlb => Ok(Box::new(backend::TlbBackend)),
        BackendChoice::Mock => Ok(Box::new(backend::MockBackend)),
        BackendChoice::Kvm => backend::KvmBackend::new()
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "backend `{}` is not part of this build yet",
            format!("{other:?}").to_lowercase()
        )),
    }
}
