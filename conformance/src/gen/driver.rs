//! Recording a vector file: plans from a seed, run in batches on a reference
//! machine, decoded into scenarios and written as JSON Lines.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::blob;
use super::layout::{MAX_RECORDS, STORAGE_SIZE};
use super::plan::{generate, Caps, Plan};
use super::record::{decode, Dropped, Record, Rules};
use super::reference::{build_probe, run_batch, ProbeProgram, Reference};
use crate::vector::{write_scenario, Expect, Probe, Scenario};

/// What to record.
#[derive(Debug, Clone)]
pub struct Job {
    /// The reference machine.
    pub reference: Reference,
    /// The seed all scenarios derive from.
    pub seed: u64,
    /// How many scenarios to draw.
    pub scenarios: u64,
    /// Scenarios per machine boot.
    pub batch: usize,
    /// The output vector file.
    pub out: PathBuf,
    /// Directory for the probe build, blobs and dumps.
    pub work: PathBuf,
    /// Time limit of one machine run.
    pub limit: Duration,
}

/// What a recording produced.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Scenarios written.
    pub scenarios: usize,
    /// Probes written.
    pub probes: usize,
    /// Probes dropped, by reason.
    pub dropped: BTreeMap<Dropped, usize>,
    /// Scenarios whose run failed even alone (named with the error).
    pub failed: Vec<(String, String)>,
}

/// Records the vectors of `job`; `progress` is told how many scenarios are done.
pub fn record(job: &Job, progress: impl FnMut(u64)) -> Result<Summary, String> {
    let caps = job.reference.caps();
    let plans: Vec<Plan> = (0..job.scenarios)
        .map(|i| {
            let name = format!("{}-s{}-{i:04}", job.reference.name(), job.seed);
            generate(name, job.seed, i, caps)
        })
        .collect();
    let file =
        std::fs::File::create(&job.out).map_err(|e| format!("{}: {e}", job.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut summary = Summary::default();
    for (plan, records) in run_plans(job, &plans, &mut summary.failed, progress)? {
        let observed = observe(plan, &records, job.reference.rules(plan.prefix));
        let mut probes = Vec::new();
        for (_, result) in observed {
            match result {
                Ok(p) => probes.push(p),
                Err(why) => *summary.dropped.entry(why).or_default() += 1,
            }
        }
        if probes.is_empty() {
            continue;
        }
        let scenario = scenario_of(plan, probes);
        summary.scenarios += 1;
        summary.probes += scenario.probes.len();
        write_scenario(&mut out, &scenario).map_err(|e| format!("{}: {e}", job.out.display()))?;
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", job.out.display()))?;
    Ok(summary)
}

/// Builds the probe and runs `plans` in batches; returns each plan that
/// ran with its records.
fn run_plans<'a>(
    job: &Job,
    plans: &'a [Plan],
    failed: &mut Vec<(String, String)>,
    mut progress: impl FnMut(u64),
) -> Result<Vec<(&'a Plan, Vec<Record>)>, String> {
    let probe = build_probe(&job.work)?;
    let mut results = Vec::new();
    let mut done = 0;
    for batch in batches(plans, job.batch) {
        run_split(job, &probe, batch, &mut results, failed)?;
        done += batch.len() as u64;
        progress(done);
    }
    Ok(results)
}

/// Each probe of `plan` (by index) decoded from its record.
fn observe(plan: &Plan, records: &[Record], rules: Rules) -> Vec<(usize, Result<Probe, Dropped>)> {
    records
        .iter()
        .filter_map(|rec| {
            let index = rec.position().1 as usize;
            let spec = plan.probes.get(index)?;
            Some((index, decode(spec, rec, rules)))
        })
        .collect()
}

/// One probe on which two references disagree.
#[derive(Debug, Clone)]
pub struct Disagreement {
    /// Scenario name.
    pub scenario: String,
    /// The probe as the first reference recorded it.
    pub first: Probe,
    /// The probe as the second reference recorded it.
    pub second: Probe,
}

/// The outcome of running the same scenarios on two references.
#[derive(Debug, Default, Clone)]
pub struct CrossCheck {
    /// Probes both references recorded.
    pub compared: usize,
    /// Probes on which they agree (outcome and key after).
    pub agreed: usize,
    /// The others.
    pub disagreements: Vec<Disagreement>,
}

/// Runs the scenarios of `job` (drawn for what both references implement)
/// on `job.reference` and on `other`, and compares every probe both
/// recorded.
pub fn cross_check(job: &Job, other: Reference) -> Result<CrossCheck, String> {
    let a = job.reference.caps();
    let b = other.caps();
    let caps = Caps {
        keys: a.keys && b.keys,
        edat1: a.edat1 && b.edat1,
        iep: a.iep && b.iep,
        esop2: a.esop2 && b.esop2,
        late_lap: false,
    };
    let plans: Vec<Plan> = (0..job.scenarios)
        .map(|i| generate(format!("cross-s{}-{i:04}", job.seed), job.seed, i, caps))
        .collect();
    let mut failed = Vec::new();
    let first = run_plans(job, &plans, &mut failed, |_| {})?;
    let other_job = Job {
        reference: other,
        ..job.clone()
    };
    let second = run_plans(&other_job, &plans, &mut failed, |_| {})?;
    if let Some((name, e)) = failed.first() {
        return Err(format!("scenario {name} failed: {e}"));
    }
    let mut check = CrossCheck::default();
    for ((plan, ra), (_, rb)) in first.iter().zip(&second) {
        let pa: BTreeMap<usize, Probe> = observe(plan, ra, job.reference.rules(plan.prefix))
            .into_iter()
            .filter_map(|(i, p)| Some((i, p.ok()?)))
            .collect();
        for (i, q) in observe(plan, rb, other.rules(plan.prefix)) {
            let (Some(p), Ok(q)) = (pa.get(&i), q) else {
                continue;
            };
            check.compared += 1;
            if same_outcome(&p.expect, &q.expect) && p.key_after == q.key_after {
                check.agreed += 1;
            } else {
                check.disagreements.push(Disagreement {
                    scenario: plan.name.clone(),
                    first: p.clone(),
                    second: q,
                });
            }
        }
    }
    Ok(check)
}

/// Whether two outcomes agree; a TEID one reference leaves out is not
/// compared.
fn same_outcome(a: &Expect, b: &Expect) -> bool {
    match (a, b) {
        (Expect::Exception { pic: pa, teid: ta }, Expect::Exception { pic: pb, teid: tb }) => {
            pa == pb && (ta.is_none() || tb.is_none() || ta == tb)
        }
        _ => a == b,
    }
}

/// Splits `plans` into batches of at most `size` scenarios whose records fit.
fn batches(plans: &[Plan], size: usize) -> Vec<&[Plan]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < plans.len() {
        let mut end = start;
        let mut records = 0;
        while end < plans.len()
            && end - start < size.max(1)
            && records + plans[end].probes.len() <= MAX_RECORDS
        {
            records += plans[end].probes.len();
            end += 1;
        }
        let end = end.max(start + 1);
        out.push(&plans[start..end]);
        start = end;
    }
    out
}

/// Runs `batch`; on failure runs its halves, down to single scenarios.
fn run_split<'a>(
    job: &Job,
    probe: &ProbeProgram,
    batch: &'a [Plan],
    results: &mut Vec<(&'a Plan, Vec<Record>)>,
    failed: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let blob_path = job.work.join("batch.bin");
    let bytes = blob::encode(batch, job.reference == Reference::Qemu)?;
    std::fs::write(&blob_path, bytes).map_err(|e| format!("{}: {e}", blob_path.display()))?;
    match run_batch(job.reference, probe, &blob_path, &job.work, job.limit) {
        Ok(records) => {
            let mut by_scenario: Vec<Vec<Record>> = vec![Vec::new(); batch.len()];
            for rec in records {
                let (s, _) = rec.position();
                if let Some(list) = by_scenario.get_mut(s as usize) {
                    list.push(rec);
                }
            }
            results.extend(batch.iter().zip(by_scenario));
            Ok(())
        }
        Err(e) if batch.len() == 1 => {
            failed.push((batch[0].name.clone(), e));
            Ok(())
        }
        Err(_) => {
            let (a, b) = batch.split_at(batch.len() / 2);
            run_split(job, probe, a, results, failed)?;
            run_split(job, probe, b, results, failed)
        }
    }
}

/// The vector scenario of one plan with its recorded probes.
pub fn scenario_of(plan: &Plan, probes: Vec<Probe>) -> Scenario {
    Scenario {
        name: plan.name.clone(),
        facilities: plan.facilities.clone(),
        storage_size: STORAGE_SIZE,
        prefix: plan.prefix,
        cr0: plan.cr0,
        cr1: plan.cr1,
        cr7: plan.cr7,
        cr13: plan.cr13,
        mem: plan.mem(),
        keys: plan.keys.iter().map(|(&a, &k)| (a, k)).collect(),
        probes,
    }
}

/// The default work directory (ignored by git).
pub fn default_work_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("gen")
        .join("build")
}
