//! Why translated code left the VM, one counter per reason (issue 12:
//! "`--stats` adds VM exits by reason"). Each exit costs about 200 µs on
//! a PVM host, so this table is what decides which work to move into the
//! VM next.

use std::collections::HashMap;
use zmmu_hv_kvm::RunStats;

/// Why a chain of blocks ended (each chain is one VM entry and ends with
/// one exit of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEnd {
    /// The instruction budget was spent: the run's limit, or the batch's
    /// timer deadline in instructions.
    Budget,
    /// The vCPU was kicked at the deadline (a timer, or the periodic look
    /// at the host's side).
    Deadline,
    /// The dispatcher missed in the jump cache and the block was in the
    /// block cache.
    MissCached,
    /// ... and the block had to be translated, or interpreted (a fetch
    /// exception, an instruction across a page).
    MissNew,
    /// A host call asked to leave: an interruption, a change of the PSW
    /// bits or controls the blocks were made for, a branch run by the
    /// interpreter, a store into the running block.
    Left,
}

/// Why a host call asked to leave the chain, the first that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leave {
    /// The instruction ended in an interruption (a program exception).
    Interruption,
    /// The machine must look: it asked for attention, or the controls of
    /// interruptions changed (PSW mask, CR0, CR6, CR14, the timers).
    Machine,
    /// The batch's deadline passed (a timer, the look at the host's side).
    Deadline,
    /// A control register changed (those a root or the blocks were made
    /// for among them).
    Controls,
    /// The PSW bits the blocks were made for changed.
    Psw,
    /// Translations or storage keys may have changed (an invalidation: a
    /// purge, IPTE, IDTE, SSKE, ...).
    Translation,
    /// A store reached the running block.
    Dirty,
    /// The next instruction is not the sequential one (a branch taken, an
    /// interruptible instruction to be resumed).
    Elsewhere,
}

impl Leave {
    fn name(self) -> &'static str {
        match self {
            Leave::Interruption => "interruption",
            Leave::Machine => "machine",
            Leave::Deadline => "deadline",
            Leave::Controls => "controls",
            Leave::Psw => "PSW",
            Leave::Translation => "translation",
            Leave::Dirty => "own block",
            Leave::Elsewhere => "elsewhere",
        }
    }
}

/// The counters.
#[derive(Clone, Debug, Default)]
pub struct ExitReasons {
    chain_ends: [u64; 5],
    /// Host calls for instructions the translator does not translate, by
    /// mnemonic.
    untranslated: HashMap<&'static str, u64>,
    /// Of those, EXECUTE and EXECUTE RELATIVE LONG, by their target's
    /// mnemonic.
    executed: HashMap<&'static str, u64>,
    /// Host calls that left the chain, by mnemonic and why.
    left: HashMap<(&'static str, Leave), u64>,
    /// Slow paths of natively translated instructions that called the
    /// host, by mnemonic.
    slow: HashMap<&'static str, u64>,
    /// Host calls after which the chain went on at a new PSW (a branch
    /// taken, an LPSWE) or in a new address space (the root switched
    /// during the call), by mnemonic.
    switched: HashMap<&'static str, u64>,
}

/// The counts of `map`, most first (then by key).
fn most_first<K: Copy + Ord>(map: &HashMap<K, u64>) -> Vec<(K, u64)> {
    let mut list: Vec<_> = map.iter().map(|(&k, &n)| (k, n)).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list
}

/// The first `n` of `list` as `--stats` shows them.
fn first(list: &[(&str, u64)], n: usize) -> String {
    let shown: Vec<String> = list
        .iter()
        .take(n)
        .map(|(m, k)| format!("{m} {k}"))
        .collect();
    shown.join(", ")
}

impl ExitReasons {
    pub(crate) fn chain_ended(&mut self, end: ChainEnd) {
        self.chain_ends[end as usize] += 1;
    }

    pub(crate) fn untranslated(&mut self, mnemonic: &'static str) {
        *self.untranslated.entry(mnemonic).or_default() += 1;
    }

    /// The host ran an EXECUTE whose target is `target`.
    pub(crate) fn executed(&mut self, target: &'static str) {
        *self.executed.entry(target).or_default() += 1;
    }

    pub(crate) fn left(&mut self, mnemonic: &'static str, why: Leave) {
        *self.left.entry((mnemonic, why)).or_default() += 1;
    }

    pub(crate) fn slow_path(&mut self, mnemonic: &'static str) {
        *self.slow.entry(mnemonic).or_default() += 1;
    }

    /// Slow paths that called the host, by mnemonic, most first.
    pub fn slow_paths_by_mnemonic(&self) -> Vec<(&'static str, u64)> {
        most_first(&self.slow)
    }

    pub(crate) fn switched(&mut self, mnemonic: &'static str) {
        *self.switched.entry(mnemonic).or_default() += 1;
    }

    /// Host calls after which the chain went on at a new PSW or in a new
    /// address space, by mnemonic, most first.
    pub fn switched_by_mnemonic(&self) -> Vec<(&'static str, u64)> {
        most_first(&self.switched)
    }

    /// Host calls that left the chain, by mnemonic and why, most frequent
    /// first.
    pub fn left_by_mnemonic(&self) -> Vec<((&'static str, Leave), u64)> {
        most_first(&self.left)
    }

    /// Chains that ended for `end`.
    pub fn chains(&self, end: ChainEnd) -> u64 {
        self.chain_ends[end as usize]
    }

    /// Chains that ended at a jump-cache miss whose block was in the
    /// block cache (the jump cache had lost it).
    pub fn misses_cached(&self) -> u64 {
        self.chains(ChainEnd::MissCached)
    }

    /// Host calls for untranslated instructions, most frequent first.
    pub fn untranslated_by_mnemonic(&self) -> Vec<(&'static str, u64)> {
        most_first(&self.untranslated)
    }

    /// The targets of the EXECUTEs the host ran, most frequent first.
    pub fn executed_by_mnemonic(&self) -> Vec<(&'static str, u64)> {
        most_first(&self.executed)
    }

    /// The `--stats` line: chain ends by reason, then the other exits.
    pub(crate) fn report(&self, slow_paths: u64, run: &RunStats) -> String {
        let untranslated: u64 = self.untranslated.values().sum();
        let left: Vec<String> = self
            .left_by_mnemonic()
            .iter()
            .take(8)
            .map(|((m, why), n)| format!("{m} {} {n}", why.name()))
            .collect();
        let switched = self.switched_by_mnemonic();
        let switched_total: u64 = switched.iter().map(|&(_, n)| n).sum();
        format!(
            "kvm: exits by reason: chain ends at the budget {}, at the deadline (timers, host look) {}, at a jump-cache miss {} (block cached {}, new {}), after a host call that left {} (no exit of its own: the call's; {}); host calls after which the chain went on at a new PSW or in a new address space {} ({}); host calls for untranslated instructions {} ({}; the EXECUTEs' targets: {}), slow paths {} ({}); page faults {}; table-write chunks {}; kicks {} (making translated code leave {}, the host-call stub after the image {})",
            self.chains(ChainEnd::Budget),
            self.chains(ChainEnd::Deadline),
            self.chains(ChainEnd::MissCached) + self.chains(ChainEnd::MissNew),
            self.chains(ChainEnd::MissCached),
            self.chains(ChainEnd::MissNew),
            self.chains(ChainEnd::Left),
            left.join(", "),
            switched_total,
            first(&switched, 4),
            untranslated,
            first(&self.untranslated_by_mnemonic(), 8),
            first(&self.executed_by_mnemonic(), 8),
            slow_paths,
            first(&self.slow_paths_by_mnemonic(), 8),
            run.faults,
            run.chunks,
            run.kicks,
            run.preemptions,
            run.taken_after_image,
        )
    }
}
