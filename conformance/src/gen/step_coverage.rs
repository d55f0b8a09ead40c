//! The coverage table of format-2 vector files (markdown): steps per
//! operation and option, accesses per width, placement, outcome and
//! instruction ending, stale windows, and PSW key or address-space changes
//! between consecutive accesses. Only the recorded steps are classified;
//! nothing here is an expected value.

use std::collections::BTreeMap;

use super::coverage::{categories, short, Counts};
use crate::steps::{Op, Outcome, Scenario};
use crate::vector::{Amode, ProbeKind};

/// Scenarios, probes (access steps) and operations per file.
type Totals = BTreeMap<String, (usize, usize, usize)>;

/// The operation and its option, as a coverage row.
fn operation(op: &Op) -> String {
    match *op {
        Op::Access { .. } => "access".into(),
        Op::Tprot { .. } => "TPROT".into(),
        Op::Lra { form, .. } => form.name().to_uppercase(),
        Op::Strag { .. } => "STRAG".into(),
        Op::Lptea { m4, .. } => format!("LPTEA (M4 {m4})"),
        Op::Ipte { range, local, .. } => format!(
            "IPTE{}{}",
            if range > 0 { " with range" } else { "" },
            if local { ", local clearing" } else { "" }
        ),
        Op::Idte { r2, local, .. } => format!(
            "IDTE {}{}",
            if r2 & 0x800 != 0 {
                "clearing by ASCE"
            } else {
                "invalidation"
            },
            if local { ", local clearing" } else { "" }
        ),
        Op::Csp { width, purge, .. } => format!(
            "{}{}",
            if width == 4 { "CSP" } else { "CSPG" },
            if purge {
                " with purge"
            } else {
                " without purge"
            }
        ),
        Op::Ptlb => "PTLB".into(),
        Op::Sske { m3, .. } => format!("SSKE (M3 {m3})"),
        Op::Rrbe { .. } => "RRBE".into(),
        Op::Spx { .. } => "SPX".into(),
        Op::Store { .. } => "store into a DAT table".into(),
        Op::Lctlg { cr, .. } => format!("LCTLG CR{cr}"),
    }
}

/// Where an access's bytes lie.
fn placement(addr: u64, amode: Amode, size: u64) -> &'static str {
    let last = addr.wrapping_add(size - 1) & amode.max_addr();
    if last < addr {
        return match amode {
            Amode::Bits24 => "wraps at the end of the 24-bit space",
            Amode::Bits31 => "wraps at the end of the 31-bit space",
            Amode::Bits64 => "wraps at the end of the 64-bit space",
        };
    }
    if last >> 12 != addr >> 12 {
        "crosses a page"
    } else if addr & 0x800 == 0 && last & 0x800 != 0 {
        "crosses the 2 KiB boundary"
    } else if addr % size == 0 {
        "aligned"
    } else {
        "unaligned"
    }
}

fn outcome(o: &Outcome) -> String {
    match *o {
        Outcome::Access { .. } => "success".into(),
        Outcome::Done { cc: Some(cc), .. } => format!("completed, cc {cc}"),
        Outcome::Done { .. } => "completed".into(),
        Outcome::Exception { pic, .. } => format!("{pic:#04x}"),
    }
}

fn count(files: &[(String, Vec<Scenario>)]) -> (Counts, Totals) {
    let mut counts: Counts = BTreeMap::new();
    let mut totals: Totals = BTreeMap::new();
    for (name, scenarios) in files {
        let name = short(name);
        let total = totals.entry(name.clone()).or_default();
        let mut add = |table: &'static str, row: String| {
            *counts
                .entry(table)
                .or_default()
                .entry(row)
                .or_default()
                .entry(name.clone())
                .or_default() += 1;
        };
        for s in scenarios {
            total.0 += 1;
            let mut psw = None;
            for step in &s.steps {
                add("1. operation", operation(&step.op));
                match step.op {
                    Op::Access {
                        addr,
                        space,
                        amode,
                        access,
                        key,
                        size,
                    } => {
                        total.1 += 1;
                        if access != ProbeKind::InstructionFetch {
                            add(
                                "2. access width",
                                format!("{size} bytes ({})", access.name()),
                            );
                            add("3. placement", placement(addr, amode, size).into());
                        }
                        add("4. access outcome", outcome(&step.expect));
                        if let Some(prev) = psw.replace((key, space)) {
                            if prev.0 != key {
                                add("7. PSW changes between accesses", "key".into());
                            }
                            if prev.1 != space {
                                add(
                                    "7. PSW changes between accesses",
                                    "address-space control".into(),
                                );
                            }
                        }
                    }
                    _ => {
                        total.2 += 1;
                        add("5. operation outcome", outcome(&step.expect));
                    }
                }
                if let Outcome::Exception {
                    nullified: Some(n), ..
                } = step.expect
                {
                    add(
                        "6. instruction ending",
                        if n {
                            "nullified (old PSW at the instruction)".into()
                        } else {
                            "suppressed or completed (old PSW past it)".into()
                        },
                    );
                }
                if !step.alt.is_empty() {
                    add(
                        "8. other",
                        "stale translation allowed until a purge (alt)".into(),
                    );
                }
                if step.key_after.is_some() {
                    add("8. other", "key_after recorded".into());
                }
            }
        }
    }
    (counts, totals)
}

/// The markdown coverage table of format-2 `files` (name, scenarios).
pub fn table(files: &[(String, Vec<Scenario>)]) -> String {
    let (counts, totals) = count(files);
    let mut out =
        String::from("| file | scenarios | probes | operations |\n|---|---:|---:|---:|\n");
    let mut sum = (0, 0, 0);
    for (name, (sc, pr, op)) in &totals {
        out.push_str(&format!("| {name} | {sc} | {pr} | {op} |\n"));
        sum = (sum.0 + sc, sum.1 + pr, sum.2 + op);
    }
    out.push_str(&format!(
        "| **total** | {} | {} | {} |\n",
        sum.0, sum.1, sum.2
    ));
    let cols: Vec<String> = totals.keys().cloned().collect();
    out.push_str(&categories(&counts, &cols, "steps by"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::read_file;

    /// The committed format-2 vectors meet the goals: at least 300
    /// scenarios per reference, 10,000 probes and 2,000 operations, every
    /// operation kind and every access width at least 100 times.
    #[test]
    fn committed_vectors_meet_the_format_2_goals() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
        let files: Vec<(String, Vec<Scenario>)> =
            ["qemu-v2-seed1.jsonl", "hercules-v2-seed1.jsonl"]
                .iter()
                .map(|f| {
                    let scenarios = read_file(&dir.join(f)).unwrap_or_else(|e| panic!("{e}"));
                    assert!(scenarios.len() >= 300, "{f}: {}", scenarios.len());
                    (f.to_string(), scenarios)
                })
                .collect();
        let (counts, totals) = count(&files);
        let probes: usize = totals.values().map(|t| t.1).sum();
        let operations: usize = totals.values().map(|t| t.2).sum();
        assert!(
            probes >= 10_000 && operations >= 2_000,
            "{probes} {operations}"
        );
        let by_prefix = |table: &str, prefix: &str| -> usize {
            counts.get(table).map_or(0, |rows| {
                rows.iter()
                    .filter(|(row, _)| row.starts_with(prefix))
                    .map(|(_, per_file)| per_file.values().sum::<usize>())
                    .sum()
            })
        };
        for op in [
            "TPROT", "LRA", "LRAY", "LRAG", "STRAG", "LPTEA", "IPTE", "IDTE", "CSP", "PTLB",
            "SSKE", "RRBE", "SPX", "store", "LCTLG",
        ] {
            let n = by_prefix("1. operation", op);
            assert!(n >= 100, "{op}: {n}");
        }
        for size in [1, 2, 4, 8, 16] {
            let n = by_prefix("2. access width", &format!("{size} bytes"));
            assert!(n >= 100, "{size} bytes: {n}");
        }
        for place in [
            "crosses a page",
            "wraps at the end of the 64-bit",
            "aligned",
            "unaligned",
        ] {
            assert!(by_prefix("3. placement", place) >= 100, "{place}");
        }
        assert!(by_prefix("8. other", "stale") >= 100);
    }
}
