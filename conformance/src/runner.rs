//! Runs vector files through backends and compares every probe with what the
//! reference machine did.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::backend::{Backend, Observed};
use crate::steps::{format_op, format_outcome, Op, Outcome, Scenario, Step};
use crate::vector::Lra;

/// A vector file's scenarios (either version, read as version 2), with the
/// name to report it by.
#[derive(Debug)]
pub struct VectorFile {
    /// The path or name of the file.
    pub name: String,
    /// Its scenarios.
    pub scenarios: Vec<Scenario>,
}

/// One field of one step that a backend got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The vector file.
    pub file: String,
    /// The scenario name.
    pub scenario: String,
    /// The step's index in the scenario.
    pub step: usize,
    /// The step, described.
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
    /// Steps.
    pub steps: usize,
    /// Steps whose every recorded field matched.
    pub passed: usize,
}

impl Tally {
    /// Steps with at least one mismatch.
    pub fn failed(&self) -> usize {
        self.steps - self.passed
    }

    fn add(&mut self, passed: bool) {
        self.steps += 1;
        self.passed += usize::from(passed);
    }
}

/// The result of running every file through one backend.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The backend's name.
    pub backend: String,
    /// All steps.
    pub total: Tally,
    /// By class: an access by its expected outcome (`ok` or the
    /// interruption code), an operation by its name.
    pub by_outcome: BTreeMap<String, Tally>,
    /// The mismatches, in order (at most the number asked for).
    pub mismatches: Vec<Mismatch>,
}

/// The class a step is counted under: for an access `ok` or its expected
/// interruption code, for an operation its name.
pub fn outcome_class(step: &Step) -> String {
    match (&step.op, &step.expect) {
        (Op::Access { .. }, Outcome::Exception { pic, .. }) => format!("{pic:#06x}"),
        (Op::Access { .. }, _) => "ok".to_string(),
        (op, _) => op.name().to_string(),
    }
}

/// Renders an outcome as it appears in vector files.
pub fn show(outcome: &Outcome) -> String {
    format_outcome(outcome)
}

/// Whether `got` matches the recorded `expected` outcome. Only what the
/// vector records is compared: a TEID, the nullification, a condition code,
/// a register or the last byte's address left out is not compared (the
/// format omits them where the architecture leaves them unpredictable or
/// the reference did not report them).
pub fn matches(expected: &Outcome, got: &Outcome) -> bool {
    fn same<T: PartialEq>(recorded: &Option<T>, got: &Option<T>) -> bool {
        recorded.is_none() || recorded == got
    }
    match (expected, got) {
        (
            Outcome::Exception {
                pic,
                teid,
                nullified,
            },
            Outcome::Exception {
                pic: p,
                teid: t,
                nullified: n,
            },
        ) => pic == p && same(teid, t) && same(nullified, n),
        (
            Outcome::Access { real, abs, last },
            Outcome::Access {
                real: r,
                abs: a,
                last: l,
            },
        ) => real == r && abs == a && same(last, l),
        (Outcome::Done { cc, r1 }, Outcome::Done { cc: c, r1: r }) => same(cc, c) && same(r1, r),
        _ => false,
    }
}

/// Whether `got` is an outcome the step accepts: the recorded one or an
/// allowed alternative (a stale translation until a purge).
pub fn accepts(step: &Step, got: &Outcome) -> bool {
    matches(&step.expect, got) || step.alt.iter().any(|alt| matches(alt, got))
}

fn show_expected(step: &Step) -> String {
    let mut out = show(&step.expect);
    for alt in &step.alt {
        out.push_str(" or ");
        out.push_str(&show(alt));
    }
    out
}

/// Every field of `seen` that differs from what `step` records.
pub fn differences(step: &Step, seen: &Observed) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    if !accepts(step, &seen.outcome) {
        out.push(("expect", show_expected(step), show(&seen.outcome)));
    }
    if let Some(repeat) = &seen.repeat {
        if !accepts(step, repeat) {
            out.push(("repeat", show_expected(step), show(repeat)));
        }
    }
    if let Some(lra) = &step.lra {
        let show_lra = |l: &Lra| format!("{{cc: {}, r1: {:#x}}}", l.cc, l.r1);
        if seen.lra.as_ref() != Some(lra) {
            out.push((
                "lra",
                show_lra(lra),
                seen.lra
                    .as_ref()
                    .map_or("no condition code (interruption)".into(), show_lra),
            ));
        }
    }
    if let Some(key) = step.key_after {
        if seen.key_after != Some(key) {
            let got = seen
                .key_after
                .map_or("no frame".into(), |k| format!("{k:#04x}"));
            out.push(("key_after", format!("{key:#04x}"), got));
        }
    }
    out
}

/// Describes a step in one line.
pub fn describe(step: &Step) -> String {
    match step.op {
        Op::Access {
            addr,
            space,
            amode,
            access,
            key,
            size,
        } => format!(
            "{} of {size} at {addr:#x} in {} ({}-bit) with key {key}",
            access.name(),
            space.name(),
            amode.bits(),
        ),
        op => format!("{{{}}}", format_op(&op)),
    }
}

/// Runs every scenario of every file through `backend`, calling `progress`
/// with the number of steps done after each scenario, and keeps at most
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
    let all: Vec<&Scenario> = files.iter().flat_map(|f| &f.scenarios).collect();
    backend.prepare(&all);
    for file in files {
        for scenario in &file.scenarios {
            let mismatch = |step: usize, access: String, field, expected, got| Mismatch {
                file: file.name.clone(),
                scenario: scenario.name.clone(),
                step,
                access,
                field,
                expected,
                got,
            };
            match backend.run(scenario) {
                Ok(outcomes) if outcomes.len() == scenario.steps.len() => {
                    for (i, (step, seen)) in scenario.steps.iter().zip(&outcomes).enumerate() {
                        let diffs = differences(step, seen);
                        report.total.add(diffs.is_empty());
                        report
                            .by_outcome
                            .entry(outcome_class(step))
                            .or_default()
                            .add(diffs.is_empty());
                        for (field, expected, got) in diffs {
                            record(
                                &mut report,
                                mismatch(i, describe(step), field, expected, got),
                            );
                        }
                    }
                }
                other => {
                    let why = match other {
                        Ok(outcomes) => format!(
                            "{} outcomes for {} steps",
                            outcomes.len(),
                            scenario.steps.len()
                        ),
                        Err(e) => e.to_string(),
                    };
                    for step in &scenario.steps {
                        report.total.add(false);
                        report
                            .by_outcome
                            .entry(outcome_class(step))
                            .or_default()
                            .add(false);
                    }
                    record(
                        &mut report,
                        mismatch(
                            0,
                            "whole scenario".into(),
                            "scenario",
                            "the steps run".into(),
                            why,
                        ),
                    );
                }
            }
            progress(scenario.steps.len());
        }
    }
    report
}

/// The summary line of tallies: `N steps, N passed, N failed`.
pub fn summary_line(tally: &Tally) -> String {
    format!(
        "{} steps, {} passed, {} failed",
        tally.steps,
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
        "  {:<12} {:>8} {:>8} {:>8}",
        "class", "steps", "passed", "failed"
    );
    for (class, tally) in &report.by_outcome {
        let _ = writeln!(
            out,
            "  {:<12} {:>8} {:>8} {:>8}",
            class,
            tally.steps,
            tally.passed,
            tally.failed()
        );
    }
    let t = &report.total;
    let _ = writeln!(
        out,
        "  {:<12} {:>8} {:>8} {:>8}",
        "all",
        t.steps,
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
            "[{}] {} scenario {} step {}: {}",
            report.backend, m.file, m.scenario, m.step, m.access
        );
        let _ = writeln!(out, "    {:<9} - expected {}", m.field, m.expected);
        let _ = writeln!(out, "    {:<9} + got      {}", "", m.got);
    }
    out
}
