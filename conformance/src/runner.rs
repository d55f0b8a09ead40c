//! Runs vector files through backends and compares every probe with what the
//! reference machine did.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::backend::{Backend, Observed};
use crate::vector::{Expect, Probe, Scenario};

/// A vector file's scenarios, with the name to report it by.
#[derive(Debug)]
pub struct VectorFile {
    /// The path or name of the file.
    pub name: String,
    /// Its scenarios.
    pub scenarios: Vec<Scenario>,
}

/// One field of one probe that a backend got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The vector file.
    pub file: String,
    /// The scenario name.
    pub scenario: String,
    /// The probe's index in the scenario.
    pub probe: usize,
    /// The probe, described.
    pub access: String,
    /// Which part differs (`expect`, `repeat`, `lra`, `key_after`, or `scenario` for a backend error).
    pub field: &'static str,
    /// What the reference recorded.
    pub expected: String,
    /// What the backend produced.
    pub got: String,
}

/// Counts for one outcome class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Probes.
    pub probes: usize,
    /// Probes whose every recorded field matched.
    pub passed: usize,
}

impl Tally {
    /// Probes with at least one mismatch.
    pub fn failed(&self) -> usize {
        self.probes - self.passed
    }

    fn add(&mut self, passed: bool) {
        self.probes += 1;
        self.passed += usize::from(passed);
    }
}

/// The result of running every file through one backend.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The backend's name.
    pub backend: String,
    /// All probes.
    pub total: Tally,
    /// By the expected outcome (`ok` or the interruption code).
    pub by_outcome: BTreeMap<String, Tally>,
    /// The mismatches, in order (at most the number asked for).
    pub mismatches: Vec<Mismatch>,
}

/// The class a probe is counted under: `ok` or its expected interruption code.
pub fn outcome_class(expect: &Expect) -> String {
    match expect {
        Expect::Success { .. } => "ok".to_string(),
        Expect::Exception { pic, .. } => format!("{pic:#06x}"),
    }
}

/// Renders an outcome as it appears in vector files.
pub fn show(expect: &Expect) -> String {
    match expect {
        Expect::Success { real, abs } => format!("{{real: {real:#x}, abs: {abs:#x}}}"),
        Expect::Exception {
            pic,
            teid: Some(teid),
        } => format!("{{pic: {pic:#x}, teid: {teid:#x}}}"),
        Expect::Exception { pic, teid: None } => format!("{{pic: {pic:#x}}}"),
    }
}

/// Whether `got` matches the recorded `expected` outcome. A TEID is compared
/// only where the vector records one (the format omits it where the
/// architecture stores none or leaves it unpredictable).
pub fn matches(expected: &Expect, got: &Expect) -> bool {
    match (expected, got) {
        (Expect::Exception { pic, teid: None }, Expect::Exception { pic: got_pic, .. }) => {
            pic == got_pic
        }
        _ => expected == got,
    }
}

/// Every field of `outcome` that differs from what `probe` records.
pub fn differences(probe: &Probe, outcome: &Observed) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    if !matches(&probe.expect, &outcome.expect) {
        out.push(("expect", show(&probe.expect), show(&outcome.expect)));
    }
    if let Some(repeat) = &outcome.repeat {
        if !matches(&probe.expect, repeat) {
            out.push(("repeat", show(&probe.expect), show(repeat)));
        }
    }
    if let Some(lra) = &probe.lra {
        let show_lra = |l: &crate::vector::Lra| format!("{{cc: {}, r1: {:#x}}}", l.cc, l.r1);
        if outcome.lra.as_ref() != Some(lra) {
            out.push((
                "lra",
                show_lra(lra),
                outcome
                    .lra
                    .as_ref()
                    .map_or("no condition code (interruption)".into(), show_lra),
            ));
        }
    }
    if let Some(key) = probe.key_after {
        if outcome.key_after != Some(key) {
            let got = outcome
                .key_after
                .map_or("no frame".into(), |k| format!("{k:#04x}"));
            out.push(("key_after", format!("{key:#04x}"), got));
        }
    }
    out
}

/// Describes a probe in one line.
pub fn describe(probe: &Probe) -> String {
    format!(
        "{} {:#x} in {} ({}-bit) with key {}",
        probe.access.name(),
        probe.addr,
        probe.space.name(),
        probe.amode.bits(),
        probe.key
    )
}

/// Runs every scenario of every file through `backend`, calling `progress`
/// with the number of probes done after each scenario, and keeps at most
/// `keep` mismatches.
pub fn run(
    backend: &mut dyn Backend,
    files: &[VectorFile],
    keep: usize,
    mut progress: impl FnMut(usize),
) -> Report {
    let mut report = Report {
        backend: backend.name().to_string(),
        ..Report::default()
    };
    let record = |report: &mut Report, m: Mismatch| {
        if report.mismatches.len() < keep {
            report.mismatches.push(m);
        }
    };
    for file in files {
        for scenario in &file.scenarios {
            let mismatch = |probe: usize, access: String, field, expected, got| Mismatch {
                file: file.name.clone(),
                scenario: scenario.name.clone(),
                probe,
                access,
                field,
                expected,
                got,
            };
            match backend.run(scenario) {
                Ok(outcomes) if outcomes.len() == scenario.probes.len() => {
                    for (i, (probe, outcome)) in scenario.probes.iter().zip(&outcomes).enumerate() {
                        let diffs = differences(probe, outcome);
                        report.total.add(diffs.is_empty());
                        report
                            .by_outcome
                            .entry(outcome_class(&probe.expect))
                            .or_default()
                            .add(diffs.is_empty());
                        for (field, expected, got) in diffs {
                            record(
                                &mut report,
                                mismatch(i, describe(probe), field, expected, got),
                            );
                        }
                    }
                }
                other => {
                    let why = match other {
                        Ok(outcomes) => format!(
                            "{} outcomes for {} probes",
                            outcomes.len(),
                            scenario.probes.len()
                        ),
                        Err(e) => e.to_string(),
                    };
                    for probe in &scenario.probes {
                        report.total.add(false);
                        report
                            .by_outcome
                            .entry(outcome_class(&probe.expect))
                            .or_default()
                            .add(false);
                    }
                    record(
                        &mut report,
                        mismatch(
                            0,
                            "whole scenario".into(),
                            "scenario",
                            "the probes run".into(),
                            why,
                        ),
                    );
                }
            }
            progress(scenario.probes.len());
        }
    }
    report
}

/// The summary line of tallies: `N probes, N passed, N failed`.
pub fn summary_line(tally: &Tally) -> String {
    format!(
        "{} probes, {} passed, {} failed",
        tally.probes,
        tally.passed,
        tally.failed()
    )
}

/// A report as a table: one row per outcome class, a total row, and the
/// summary line last.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "backend {}", report.backend);
    let _ = writeln!(
        out,
        "  {:<10} {:>8} {:>8} {:>8}",
        "outcome", "probes", "passed", "failed"
    );
    for (class, tally) in &report.by_outcome {
        let _ = writeln!(
            out,
            "  {:<10} {:>8} {:>8} {:>8}",
            class,
            tally.probes,
            tally.passed,
            tally.failed()
        );
    }
    let t = &report.total;
    let _ = writeln!(
        out,
        "  {:<10} {:>8} {:>8} {:>8}",
        "all",
        t.probes,
        t.passed,
        t.failed()
    );
    let _ = writeln!(out, "{}: {}", report.backend, summary_line(t));
    out
}

/// Mismatches as a readable diff.
pub fn diff(report: &Report) -> String {
    let mut out = String::new();
    for m in &report.mismatches {
        let _ = writeln!(
            out,
            "[{}] {} scenario {} probe {}: {}",
            report.backend, m.file, m.scenario, m.probe, m.access
        );
        let _ = writeln!(out, "    {:<9} - expected {}", m.field, m.expected);
        let _ = writeln!(out, "    {:<9} + got      {}", "", m.got);
    }
    out
}
