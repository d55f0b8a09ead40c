//! `zmmu-conformance`: checks zmmu's backends against DAT conformance vectors.
//!
//! ```text
//! zmmu-conformance run [--vectors FILE...] [--backend walk|tlb|mock|kvm|all]
//! ```
//!
//! Exit status: 0 when every step matches, 1 on any mismatch, 2 when the
//! input cannot be read or a backend cannot be started.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use zmmu_conformance::backend::{self, Backend};
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
        /// Which backend to check; `all` runs every backend available on this machine.
        #[arg(long, value_enum, default_value_t = BackendChoice::Walk)]
        backend: BackendChoice,
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

fn main() -> ExitCode {
    let Command::Run {
        vectors,
        backend,
        show,
        kvm_sample,
    } = Cli::parse().command;
    let files = match load(vectors) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("zmmu-conformance: {message}");
            return ExitCode::from(2);
        }
    };
    let backends = match backends(backend) {
        Ok(backends) => backends,
        Err(message) => {
            eprintln!("zmmu-conformance: {message}");
            return ExitCode::from(2);
        }
    };
    let sampled = sample(&files, kvm_sample as usize);
    let mut total = Tally::default();
    let mut diffs = String::new();
    for mut backend in backends {
        let files = if backend.name() == "kvm" && kvm_sample > 1 {
            println!("kvm: every {kvm_sample}th scenario of each file (--kvm-sample)");
            &sampled
        } else {
            &files
        };
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

/// The backends to run for a choice. With `all`, a backend that cannot
/// run on this machine is skipped with a visible line saying why.
fn backends(choice: BackendChoice) -> Result<Vec<Box<dyn Backend>>, String> {
    if choice != BackendChoice::All {
        return make(choice).map(|b| vec![b]);
    }
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
    Ok(out)
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
