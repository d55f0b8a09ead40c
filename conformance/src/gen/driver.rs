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
use super::reference::{build_probe, run_batch, run_zmmu, ProbeProgram, Reference, ZmmuEngine};
use super::sequence::{generate_steps, StepPlan};
use super::step_record::{decode_step, StepRules};
use crate::steps::{self, Op, Outcome, Step};
use crate::vector::ProbeKind;
use crate::vector::{write_scenario, Expect, Probe, Scenario};
use zmmu_mmu::addr::RealAddress;
use zmmu_mmu::prefix::Prefix;

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
    /// Run the batches under `zmmu run` with this engine instead of on the
    /// reference (whose facilities zmmu then offers, and whose rules still
    /// decide the plans and how records are read).
    pub engine: Option<ZmmuEngine>,
}

/// A scenario the generator draws, as its name tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// The reference it is drawn for.
    pub reference: Reference,
    /// The vector format, 1 or 2.
    pub format: u8,
    /// The seed.
    pub seed: u64,
    /// Its index among the scenarios of the seed.
    pub index: u64,
}

impl Drawn {
    /// The scenario's name: `qemu-s1-0007` (format 1) or `qemu-v2-s1-0007`.
    pub fn name(self) -> String {
        let version = if self.format == 2 { "-v2" } else { "" };
        let reference = self.reference.name();
        format!("{reference}{version}-s{}-{:04}", self.seed, self.index)
    }

    /// The scenario named `name`, if the generator gives such names.
    pub fn parse(name: &str) -> Option<Self> {
        use clap::ValueEnum;
        let (reference, rest) = name.split_once('-')?;
        let reference = *Reference::value_variants()
            .iter()
            .find(|r| r.name() == reference)?;
        let (format, rest) = rest.strip_prefix("v2-").map_or((1, rest), |r| (2, r));
        let (seed, index) = rest.strip_prefix('s')?.split_once('-')?;
        let drawn = Self {
            reference,
            format,
            seed: seed.parse().ok()?,
            index: index.parse().ok()?,
        };
        (drawn.name() == name).then_some(drawn)
    }
}

/// What a recording produced.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Scenarios written.
    pub scenarios: usize,
    /// Probes (access steps) written.
    pub probes: usize,
    /// Operations (steps other than accesses) written.
    pub operations: usize,
    /// Probes dropped, by reason.
    pub dropped: BTreeMap<Dropped, usize>,
    /// Scenarios whose run failed even alone (named with the error).
    pub failed: Vec<(String, String)>,
}

/// Records the vectors of `job` in the format of `P` (version 1: [`Plan`],
/// version 2: [`StepPlan`]); `progress` is told how many scenarios are
/// done.
pub fn record<P: Batched>(job: &Job, progress: impl FnMut(u64)) -> Result<Summary, String> {
    let caps = job.reference.caps();
    let plans: Vec<P> = (0..job.scenarios).map(|i| P::draw(job, i, caps)).collect();
    let at = |e: std::io::Error| format!("{}: {e}", job.out.display());
    let file = std::fs::File::create(&job.out).map_err(at)?;
    let mut out = std::io::BufWriter::new(file);
    let mut summary = Summary::default();
    for (plan, records) in run_plans(job, &plans, &mut summary.failed, progress)? {
        let Some(scenario) = plan.scenario(&records, job.reference, &mut summary.dropped) else {
            continue;
        };
        let (probes, steps) = P::counts(&scenario);
        summary.scenarios += 1;
        summary.probes += probes;
        summary.operations += steps - probes;
        P::write(&mut out, &scenario).map_err(at)?;
    }
    out.flush().map_err(at)?;
    Ok(summary)
}

/// The version-1 scenario of one plan from its records (none if no probe
/// was kept).
fn probes_of(
    plan: &Plan,
    records: &[Record],
    reference: Reference,
    dropped: &mut BTreeMap<Dropped, usize>,
) -> Option<Scenario> {
    let mut probes = Vec::new();
    for (_, result) in observe(plan, records, reference.rules(plan.prefix)) {
        match result {
            Ok(p) => probes.push(p),
            Err(why) => *dropped.entry(why).or_default() += 1,
        }
    }
    (!probes.is_empty()).then(|| scenario_of(plan, probes))
}

impl Job {
    /// Scenario `index` of this job's reference and seed in `format`.
    fn drawn(&self, format: u8, index: u64) -> Drawn {
        Drawn {
            reference: self.reference,
            format,
            seed: self.seed,
            index,
        }
    }
}

/// A scenario as recorded, by name, or why it has no recording.
pub type Recorded = (String, Result<steps::Scenario, String>);

/// Draws the scenarios `indices` of `job`'s reference and seed in vector
/// `format` again, runs them as `job` says (on the reference, or under
/// `zmmu run`), and returns each as a recording writes it (format 1 read
/// as format 2), by name, or why it has none.
pub fn rerecord(job: &Job, format: u8, indices: &[u64]) -> Result<Vec<Recorded>, String> {
    let mut failed = Vec::new();
    let mut out = if format == 2 {
        rerun::<StepPlan>(job, indices, &mut failed)?
    } else {
        rerun::<Plan>(job, indices, &mut failed)?
    };
    out.extend(failed.into_iter().map(|(name, e)| (name, Err(e))));
    Ok(out)
}

/// The scenarios `indices` of `job` drawn as `P` again and run, each as
/// format 2, by name.
fn rerun<P: Batched>(
    job: &Job,
    indices: &[u64],
    failed: &mut Vec<(String, String)>,
) -> Result<Vec<Recorded>, String> {
    let caps = job.reference.caps();
    let plans: Vec<P> = indices.iter().map(|&i| P::draw(job, i, caps)).collect();
    let mut dropped = BTreeMap::new();
    Ok(run_plans(job, &plans, failed, |_| {})?
        .into_iter()
        .map(|(plan, records)| {
            let scenario = plan.scenario(&records, job.reference, &mut dropped);
            let scenario = scenario.map(P::into_steps);
            (
                plan.name().to_string(),
                scenario.ok_or_else(|| "no step recorded".to_string()),
            )
        })
        .collect())
}

/// A scenario plan that runs in a batch on the probe.
pub trait Batched: Sized {
    /// The scenario a recording makes of it.
    type Scenario;
    /// The plan of scenario `index` of `job`'s reference and seed.
    fn draw(job: &Job, index: u64, caps: Caps) -> Self;
    /// The scenario's name.
    fn name(&self) -> &str;
    /// How many records it produces.
    fn records(&self) -> usize;
    /// The blob of a batch of such plans.
    fn encode(batch: &[Self], console: bool) -> Result<Vec<u8>, String>;
    /// The scenario of the plan from its records (none if nothing was kept).
    fn scenario(
        &self,
        records: &[Record],
        reference: Reference,
        dropped: &mut BTreeMap<Dropped, usize>,
    ) -> Option<Self::Scenario>;
    /// The scenario's accesses (probes) and all its steps.
    fn counts(scenario: &Self::Scenario) -> (usize, usize);
    /// The scenario as format 2 reads it.
    fn into_steps(scenario: Self::Scenario) -> steps::Scenario;
    /// Writes the scenario as one line of its vector file.
    fn write(out: &mut impl Write, scenario: &Self::Scenario) -> std::io::Result<()>;
}

impl Batched for Plan {
    type Scenario = Scenario;

    fn draw(job: &Job, index: u64, caps: Caps) -> Self {
        generate(job.drawn(1, index).name(), job.seed, index, caps)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn records(&self) -> usize {
        self.probes.len()
    }

    fn encode(batch: &[Self], console: bool) -> Result<Vec<u8>, String> {
        blob::encode(batch, console)
    }

    fn scenario(
        &self,
        records: &[Record],
        reference: Reference,
        dropped: &mut BTreeMap<Dropped, usize>,
    ) -> Option<Scenario> {
        probes_of(self, records, reference, dropped)
    }

    fn counts(scenario: &Scenario) -> (usize, usize) {
        (scenario.probes.len(), scenario.probes.len())
    }

    fn into_steps(scenario: Scenario) -> steps::Scenario {
        steps::from_v1(scenario)
    }

    fn write(out: &mut impl Write, scenario: &Scenario) -> std::io::Result<()> {
        write_scenario(out, scenario)
    }
}

impl Batched for StepPlan {
    type Scenario = steps::Scenario;

    fn draw(job: &Job, index: u64, caps: Caps) -> Self {
        generate_steps(job.drawn(2, index).name(), job.seed, index, caps)
    }

    fn name(&self) -> &str {
        &self.base.name
    }

    fn records(&self) -> usize {
        self.steps.len()
    }

    fn encode(batch: &[Self], console: bool) -> Result<Vec<u8>, String> {
        blob::encode_steps(batch, console)
    }

    fn scenario(
        &self,
        records: &[Record],
        reference: Reference,
        dropped: &mut BTreeMap<Dropped, usize>,
    ) -> Option<steps::Scenario> {
        steps_of(self, records, reference, dropped)
    }

    fn counts(scenario: &steps::Scenario) -> (usize, usize) {
        (scenario.probes(), scenario.steps.len())
    }

    fn into_steps(scenario: steps::Scenario) -> steps::Scenario {
        scenario
    }

    fn write(out: &mut impl Write, scenario: &steps::Scenario) -> std::io::Result<()> {
        writeln!(out, "{}", steps::format_scenario(scenario))
    }
}

/// Builds the probe and runs `plans` in batches; returns each plan that
/// ran with its records.
pub fn run_plans<'a, P: Batched>(
    job: &Job,
    plans: &'a [P],
    failed: &mut Vec<(String, String)>,
    mut progress: impl FnMut(u64),
) -> Result<Vec<(&'a P, Vec<Record>)>, String> {
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
        lap_every_byte: a.lap_every_byte && b.lap_every_byte,
        operand_wrap: a.operand_wrap && b.operand_wrap,
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
fn batches<P: Batched>(plans: &[P], size: usize) -> Vec<&[P]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < plans.len() {
        let mut end = start;
        let mut records = 0;
        while end < plans.len()
            && end - start < size.max(1)
            && records + plans[end].records() <= MAX_RECORDS
        {
            records += plans[end].records();
            end += 1;
        }
        let end = end.max(start + 1);
        out.push(&plans[start..end]);
        start = end;
    }
    out
}

/// Runs `batch`; on failure runs its halves, down to single scenarios.
fn run_split<'a, P: Batched>(
    job: &Job,
    probe: &ProbeProgram,
    batch: &'a [P],
    results: &mut Vec<(&'a P, Vec<Record>)>,
    failed: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let blob_path = job.work.join("batch.bin");
    let bytes = P::encode(batch, job.reference.console() || job.engine.is_some())?;
    std::fs::write(&blob_path, bytes).map_err(|e| format!("{}: {e}", blob_path.display()))?;
    let ran = match job.engine {
        Some(engine) => run_zmmu(
            engine,
            job.reference,
            probe,
            &blob_path,
            &job.work,
            job.limit,
        ),
        None => run_batch(job.reference, probe, &blob_path, &job.work, job.limit),
    };
    match ran {
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
            failed.push((batch[0].name().to_string(), e));
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

/// An access whose bytes lie in two pages: Hercules does not always set
/// the reference bit of the first page's frame for it (recorded: a
/// successful crossing read leaves R zero), so its key is not recorded.
fn crosses_page(op: &Op) -> bool {
    match *op {
        Op::Access {
            addr, amode, size, ..
        } => (addr.wrapping_add(size - 1) & amode.max_addr()) >> 12 != addr >> 12,
        _ => false,
    }
}

/// Whether the references leave the keys after this step unpredictable for
/// the rest of the scenario: a store crossing a page that was refused (the
/// architecture lets the change bit of the first page be set; Hercules
/// sets it), and on QEMU a TEST PROTECTION (QEMU's TPROT sets the change
/// bit; the architecture records neither bit).
fn unsettles_keys(op: &Op, outcome: &Outcome, reference: Reference) -> bool {
    let refused_crossing_store = matches!(
        op,
        Op::Access {
            access: ProbeKind::Write,
            ..
        }
    ) && crosses_page(op)
        && matches!(outcome, Outcome::Exception { .. });
    refused_crossing_store || (reference == Reference::Qemu && matches!(op, Op::Tprot { .. }))
}

/// Whether dropping the step leaves later steps' state unknown (it changes
/// tables, keys, the prefix or control registers).
fn changes_state(op: &Op) -> bool {
    !matches!(
        op,
        Op::Access { .. } | Op::Tprot { .. } | Op::Lra { .. } | Op::Strag { .. } | Op::Lptea { .. }
    )
}

/// The format-2 scenario of one plan from its records: each step decoded
/// with the prefix in effect when it ran; a dropped operation that changes
/// state ends the scenario; a stale-window access keeps the witness's and
/// the post access's outcomes as alternatives.
fn steps_of(
    plan: &StepPlan,
    records: &[Record],
    reference: Reference,
    dropped: &mut BTreeMap<Dropped, usize>,
) -> Option<steps::Scenario> {
    let by_index: BTreeMap<usize, &Record> = records
        .iter()
        .map(|r| (r.position().1 as usize, r))
        .collect();
    let mut prefix = plan.base.prefix;
    // First frames of every lowcore the harness stored into: their keys
    // after a step are not recorded.
    let mut lowcores = vec![prefix];
    let mut seen: Vec<Option<Outcome>> = vec![None; plan.steps.len()];
    let mut kept: Vec<(usize, Step)> = Vec::new();
    // Set once a step made later keys unpredictable (see `key_rules`).
    let mut keys_unknown = false;
    for (i, op) in plan.steps.iter().enumerate() {
        let Some(rec) = by_index.get(&i) else {
            *dropped.entry(Dropped::AfterDropped).or_default() += plan.steps.len() - i;
            break;
        };
        let rules = StepRules {
            lra: reference == Reference::Hercules,
            protection_teid: reference.caps().esop2,
            window: !plan.alt_from[i].is_empty(),
            key_after: plan.window_start.is_none_or(|w| i < w) && !keys_unknown,
            prefix,
        };
        if let Op::Spx { prefix: p } = *op {
            let p = p & 0x7fff_e000;
            if p + 0x2000 <= STORAGE_SIZE {
                lowcores.push(p);
            }
        }
        match decode_step(op, rec, rules) {
            Ok(s) => {
                let named = match (op, s.outcome) {
                    (Op::Access { .. }, Outcome::Access { abs, .. }) => Some(abs),
                    (Op::Sske { addr, .. } | Op::Rrbe { addr }, _) => Some(
                        Prefix::new(prefix)
                            .to_absolute(RealAddress::new(*addr))
                            .value(),
                    ),
                    _ => None,
                };
                let key_after = s
                    .key_after
                    .filter(|_| named.is_some_and(|a| !lowcores.contains(&(a & !0xfff))))
                    .filter(|_| !crosses_page(op));
                keys_unknown |= unsettles_keys(op, &s.outcome, reference);
                // RRBE's condition code is the old reference and change bits.
                let outcome = match (op, s.outcome) {
                    (Op::Rrbe { .. }, Outcome::Done { .. }) if keys_unknown => {
                        Outcome::Done { cc: None, r1: None }
                    }
                    _ => s.outcome,
                };
                if let (Op::Spx { prefix: p }, Outcome::Done { .. }) = (op, s.outcome) {
                    prefix = p & 0x7fff_e000;
                }
                seen[i] = Some(outcome);
                kept.push((
                    i,
                    Step {
                        op: *op,
                        expect: outcome,
                        alt: Vec::new(),
                        lra: None,
                        key_after,
                    },
                ));
            }
            Err(why) => {
                *dropped.entry(why).or_default() += 1;
                if changes_state(op) {
                    *dropped.entry(Dropped::AfterDropped).or_default() += plan.steps.len() - i - 1;
                    break;
                }
            }
        }
    }
    let mut steps = Vec::with_capacity(kept.len());
    for (i, mut step) in kept {
        let from = &plan.alt_from[i];
        if !from.is_empty() {
            let Some(alts) = from.iter().map(|&j| seen[j]).collect::<Option<Vec<_>>>() else {
                *dropped.entry(Dropped::NoAlternative).or_default() += 1;
                continue;
            };
            for alt in alts {
                if alt != step.expect && !step.alt.contains(&alt) {
                    step.alt.push(alt);
                }
            }
        }
        steps.push(step);
    }
    if !steps.iter().any(|s| s.op.is_access()) {
        return None;
    }
    let base = scenario_of(&plan.base, Vec::new());
    Some(steps::Scenario {
        name: base.name,
        facilities: base.facilities,
        storage_size: base.storage_size,
        prefix: base.prefix,
        cr0: base.cr0,
        cr1: base.cr1,
        cr7: base.cr7,
        cr13: base.cr13,
        mem: base.mem,
        keys: base.keys,
        steps,
        version: 2,
    })
}
