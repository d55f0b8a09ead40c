//! `zmmu-vecgen`: records DAT conformance vectors from a reference machine
//! (QEMU TCG or Hercules) and prints the coverage table of vector files.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use zmmu_conformance::gen::driver::{cross_check, default_work_dir, record, Disagreement, Job};
use zmmu_conformance::gen::plan::Plan;
use zmmu_conformance::gen::reference::{Reference, ZmmuEngine};
use zmmu_conformance::gen::sequence::StepPlan;
use zmmu_conformance::gen::{coverage, step_coverage};
use zmmu_conformance::steps;
use zmmu_conformance::vector::{read_file, Expect, Probe};

/// Records DAT conformance vectors from a reference machine.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Draw scenarios from a seed, run them on the reference, write vectors.
    Record {
        /// The reference machine.
        #[arg(long, value_enum)]
        reference: Reference,
        /// Seed of every scenario.
        #[arg(long)]
        seed: u64,
        /// Number of scenarios to draw.
        #[arg(long)]
        scenarios: u64,
        /// Output vector file (JSON Lines).
        #[arg(long)]
        out: PathBuf,
        /// Scenarios per machine boot.
        #[arg(long, default_value_t = 50)]
        batch: usize,
        /// Time limit of one machine boot, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Work directory for the probe build and dumps.
        #[arg(long)]
        work: Option<PathBuf>,
        /// Vector format: 1 (one-byte probes) or 2 (steps, FORMAT-v2.md).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        format: u8,
        /// Record under `zmmu run --engine ENGINE` (with the reference's
        /// facilities and rules) instead of on the reference: a file to
        /// compare with the reference's line by line.
        #[arg(long, value_enum)]
        engine: Option<ZmmuEngine>,
    },
    /// Run the same scenarios (drawn for what both implement) on two
    /// references and report every probe on which they disagree.
    CrossCheck {
        /// The first reference.
        #[arg(long, value_enum)]
        reference: Reference,
        /// The second reference.
        #[arg(long, value_enum)]
        other: Reference,
        /// Seed of every scenario.
        #[arg(long)]
        seed: u64,
        /// Number of scenarios to draw.
        #[arg(long)]
        scenarios: u64,
        /// Examples to print per kind of disagreement.
        #[arg(long, default_value_t = 2)]
        examples: usize,
        /// Time limit of one machine boot, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Work directory for the probe build and dumps.
        #[arg(long)]
        work: Option<PathBuf>,
    },
    /// Print the coverage table (markdown) of vector files.
    Coverage {
        /// Vector files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zmmu-vecgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> Result<(), String> {
    match cmd {
        Cmd::Record {
            reference,
            seed,
            scenarios,
            out,
            batch,
            timeout,
            work,
            format,
            engine,
        } => {
            let job = Job {
                reference,
                seed,
                scenarios,
                batch,
                out,
                work: work_dir(work)?,
                limit: Duration::from_secs(timeout),
                engine,
            };
            match engine {
                Some(e) => eprintln!("zmmu run --engine {}", e.name()),
                None => eprintln!("reference: {}", reference.version()?),
            }
            let bar = ProgressBar::new(scenarios);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} scenarios {elapsed}")
                    .map_err(|e| e.to_string())?,
            );
            let summary = if format == 2 {
                record::<StepPlan>(&job, |n| bar.set_position(n))?
            } else {
                record::<Plan>(&job, |n| bar.set_position(n))?
            };
            bar.finish();
            eprintln!(
                "wrote {} scenarios, {} probes, {} operations to {}",
                summary.scenarios,
                summary.probes,
                summary.operations,
                job.out.display()
            );
            for (why, n) in &summary.dropped {
                eprintln!("dropped {n} steps: {why:?}");
            }
            for (name, e) in &summary.failed {
                eprintln!("scenario {name} failed: {e}");
            }
            Ok(())
        }
        Cmd::CrossCheck {
            reference,
            other,
            seed,
            scenarios,
            examples,
            timeout,
            work,
        } => {
            let job = Job {
                reference,
                seed,
                scenarios,
                batch: 50,
                out: PathBuf::new(),
                work: work_dir(work)?,
                limit: Duration::from_secs(timeout),
                engine: None,
            };
            let check = cross_check(&job, other)?;
            println!(
                "{} probes recorded by both, {} agree, {} disagree",
                check.compared,
                check.agreed,
                check.disagreements.len()
            );
            let mut kinds: BTreeMap<(String, String), Vec<&Disagreement>> = BTreeMap::new();
            for d in &check.disagreements {
                let key = (outcome(&d.first), outcome(&d.second));
                kinds.entry(key).or_default().push(d);
            }
            for ((a, b), list) in kinds {
                println!(
                    "\n{} probes: {} says {a}, {} says {b}",
                    list.len(),
                    reference.name(),
                    other.name()
                );
                for d in list.iter().take(examples) {
                    println!("  {}: {:x?}", d.scenario, d.first);
                    println!("  {}: {:x?}", " ".repeat(d.scenario.len()), d.second);
                }
            }
            Ok(())
        }
        Cmd::Coverage { files } => {
            // Files of format 2 get the table of steps; version-1 files the
            // table of probes.
            let mut v1 = Vec::new();
            let mut v2 = Vec::new();
            for f in &files {
                let scenarios = steps::read_file(f).map_err(|e| e.to_string())?;
                if scenarios.iter().all(|s| s.version == 1) {
                    v1.push((
                        f.display().to_string(),
                        read_file(f).map_err(|e| e.to_string())?,
                    ));
                } else {
                    v2.push((f.display().to_string(), scenarios));
                }
            }
            if !v1.is_empty() {
                print!("{}", coverage::table(&v1));
            }
            if !v2.is_empty() {
                print!("{}", step_coverage::table(&v2));
            }
            Ok(())
        }
    }
}

/// A short description of a probe's outcome, for grouping disagreements.
fn outcome(p: &Probe) -> String {
    let key = p
        .key_after
        .map_or(String::new(), |k| format!(", key after {k:#04x}"));
    match p.expect {
        Expect::Success { .. } => format!("success{key}"),
        Expect::Exception { pic, teid: None } => format!("pic {pic:#04x}"),
        Expect::Exception { pic, teid: Some(t) } => {
            format!("pic {pic:#04x} teid low bits {:#05x}", t & 0xfff)
        }
    }
}

/// The work directory, created and made absolute (Hercules runs in it).
fn work_dir(work: Option<PathBuf>) -> Result<PathBuf, String> {
    let work = work.unwrap_or_else(default_work_dir);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    std::fs::canonicalize(&work).map_err(|e| format!("{}: {e}", work.display()))
}
