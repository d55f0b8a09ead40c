//! `zmmu run --smp N`: a machine of several CPUs, each run by its own host
//! thread ([`zmmu_machine::configuration`]): CPU 0 (on the calling thread)
//! starts running the program, the others stopped until a SIGP starts
//! them. With `--trace` each CPU traces to the one output
//! ([`crate::trace::Shared`]); with `--gdb` the stub serves on a thread of
//! its own, each CPU a gdb thread ([`crate::gdb::smp`]). With `--engine
//! kvm` each CPU has a VM of its own over the one guest storage, and a
//! kick of the CPU also interrupts its vCPU in `KVM_RUN`
//! (`docs/CHOICES.md` 32).

use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use zmmu_cpu::clock::{Clock, TimeSource};
use zmmu_cpu::state::Psw;
use zmmu_machine::configuration::{Configuration, Member, Park};
use zmmu_machine::engine::{Engine, Interpreter};
use zmmu_machine::secondary::Seed;
use zmmu_machine::{Machine, RunOutcome, Stop};

use crate::engine::EngineKind;
use crate::gdb::smp::{Cpus, Resumed, Shared, Stopper, WithGdb};
use crate::gdb::Translator;
use crate::report::Report;
use crate::stats_signal::{Counters, Watched};
use crate::trace::Tracer;

/// What `--trace` and `--gdb` ask of a run of several CPUs.
#[derive(Debug, Default)]
pub struct Debugging {
    /// The trace every CPU writes to.
    pub trace: Option<crate::trace::Shared>,
    /// `--gdb ADDR:PORT`, and `--wait-for-gdb`.
    pub gdb: Option<(String, bool)>,
}

/// The CPU threads, once spawned, and the vCPUs of their kvm engines:
/// parking and kicking are the host's.
#[derive(Debug)]
struct HostThreads {
    threads: Arc<OnceLock<Vec<Thread>>>,
    /// Each CPU's vCPU (`--engine kvm`), interrupted with its thread's
    /// unpark: a CPU kicked while it runs translated code in `KVM_RUN`
    /// leaves it at its next block boundary.
    vcpus: Arc<[OnceLock<zmmu_kvm::Interrupter>]>,
}

impl Park for HostThreads {
    fn park(&self, index: usize, longest_ns: u64) {
        let _ = index;
        let longest = Duration::from_nanos(longest_ns).min(Duration::from_millis(1));
        std::thread::park_timeout(longest);
    }

    /// Yields the core a few times; a CPU that still spins then parks
    /// for 1 µs, 2 µs, ... up to a millisecond: on an overcommitted host a
    /// yield may find no other thread on this core's run queue while the
    /// CPU waited for (a lock holder) waits for a core elsewhere; a sleep
    /// lets the host move it here (as KVM's pause-loop exits yield to a
    /// preempted vCPU). An unpark (a signal for this CPU) ends it early.
    fn relax(&self, before: u32) {
        const YIELDS: u32 = 4;
        match before.checked_sub(YIELDS) {
            None => std::thread::yield_now(),
            Some(sleeps) => std::thread::park_timeout(Duration::from_micros(1 << sleeps.min(10))),
        }
    }

    fn unpark(&self, index: usize) {
        if let Some(thread) = self.threads.get().and_then(|t| t.get(index)) {
            thread.unpark();
        }
        if let Some(vcpu) = self.vcpus.get(index).and_then(OnceLock::get) {
            vcpu.interrupt();
        }
    }
}

/// What a run of several CPUs ends with.
#[derive(Debug)]
pub struct Finished {
    /// Why the run ended, and the instructions of all CPUs.
    pub outcome: RunOutcome,
    /// Each CPU whose kvm engine gave up its VM (the interpreter finished
    /// its run): why.
    pub failures: Vec<String>,
    /// The `--stats` lines of each CPU (its enabled waits, and its jit or
    /// kvm engine's counters), tagged `cpuN`.
    pub stats: Vec<String>,
}

/// What one CPU's run ends with: its outcome, and from a kvm engine its
/// failure and `--stats` lines.
type CpuRun = (RunOutcome, Option<String>, Vec<String>);

/// Runs `run` with a translating `engine`, which under gdb drops its
/// translations whenever gdb resumed the guest, else prints its counters
/// when a signal asks (`tag` before each line); gives the engine back.
fn under_gdb<E: Translator + Counters, R>(
    engine: E,
    gdb: Option<&Arc<Shared>>,
    tag: String,
    run: impl FnOnce(&mut dyn Engine) -> R,
) -> (R, E) {
    match gdb {
        Some(gdb) => {
            let mut resumed = Resumed::new(engine, gdb);
            let ran = run(&mut resumed);
            (ran, resumed.into_engine())
        }
        None => {
            let mut engine = engine;
            (run(&mut Watched::new(&mut engine, tag)), engine)
        }
    }
}

/// Runs `run` with the engine `kind` names, made on this CPU's thread
/// (with kvm, its vCPU's interrupter goes to `vcpu`; `tag` before its
/// counters' lines): with kvm, also the engine's failure; with jit and
/// kvm, the engine's `--stats` lines.
fn with_engine(
    kind: EngineKind,
    tag: String,
    machine: &mut Machine,
    gdb: Option<&Arc<Shared>>,
    vcpu: &OnceLock<zmmu_kvm::Interrupter>,
    run: impl FnOnce(&mut Machine, &mut dyn Engine) -> RunOutcome,
) -> Result<CpuRun, String> {
    Ok(match kind {
        EngineKind::Interp => {
            let outcome = match gdb {
                Some(_) => run(machine, &mut Interpreter),
                None => run(machine, &mut Watched::new(&mut Interpreter, tag)),
            };
            (outcome, None, Vec::new())
        }
        EngineKind::Jit => {
            let mut jit = zmmu_jit::Jit::new(zmmu_jit::DEFAULT_BUFFER)
                .map_err(|e| format!("--engine jit: {e}"))?;
            jit.set_translate_after(zmmu_jit::TRANSLATE_AFTER);
            let (outcome, jit) = under_gdb(jit, gdb, tag, |engine| run(machine, engine));
            (outcome, None, jit.report())
        }
        EngineKind::Kvm => {
            let storage = &machine.bus.storage;
            let kvm = zmmu_kvm::KvmEngine::new(storage, zmmu_kvm::DEFAULT_CODE_CACHE)
                .map_err(|e| format!("--engine kvm: {e}"))?;
            let _ = vcpu.set(kvm.interrupter());
            let (outcome, kvm) = under_gdb(kvm, gdb, tag, |engine| run(machine, engine));
            let failure = kvm.failure().map(ToString::to_string);
            (outcome, failure, kvm.report())
        }
    })
}

/// Runs one CPU of the configuration with its own engine, until the run
/// ends for all; traced and debugged as `debugging` and `gdb` say.
fn run_cpu(
    machine: &mut Machine,
    member: Member,
    limit: Option<u64>,
    kind: EngineKind,
    debugging: &Debugging,
    gdb: Option<&Arc<Shared>>,
    vcpu: &OnceLock<zmmu_kvm::Interrupter>,
) -> Result<CpuRun, String> {
    let configuration = Arc::clone(&member.configuration);
    let index = member.index;
    machine.join(member);
    let tracer = debugging
        .trace
        .as_ref()
        .map(|trace| trace.tracer(machine.cpu.cpu_addr));
    if tracer.as_ref().is_some_and(Tracer::wants_tlb_log) {
        machine.bus.tlb_log = Some(Vec::new());
    }
    // No keyboard: the guest console reads none with several CPUs.
    let mut console = Report::new(None, tracer);
    let tag = format!("cpu{index} ");
    let outcome = with_engine(kind, tag, machine, gdb, vcpu, |machine, engine| match gdb {
        Some(gdb) => {
            let mut observer = WithGdb {
                inner: &mut console,
                stopper: Stopper::new(gdb, index),
            };
            machine.run_with(limit, &mut observer, engine)
        }
        None => machine.run_with(limit, &mut console, engine),
    });
    console.finish(&machine.cpu, &mut machine.bus);
    let waits = crate::stats_signal::wait_stats(&machine.services.waits);
    let outcome = outcome.map(|(outcome, failure, mut stats)| {
        stats.push(waits);
        (outcome, failure, stats)
    });
    if outcome.is_err() {
        // The others cannot go on without this CPU.
        configuration.end(zmmu_machine::Stop::CheckStop {
            reason: "a CPU's engine could not be made",
            psw: machine.cpu.psw,
        });
    }
    outcome
}

/// Runs `first` (CPU 0, ready to start the program) on this thread and the
/// other CPUs its configuration names each on its own thread, each with
/// its own engine and `clock()`, until the run ends for all; each CPU
/// executes at most `limit` instructions.
pub fn run(
    first: &mut Machine,
    limit: Option<u64>,
    kind: EngineKind,
    clock: impl Fn() -> Clock<Box<dyn TimeSource>> + Sync,
    debugging: &Debugging,
) -> Result<Finished, String> {
    let cpus = first.config.cpus.clone();
    let park = HostThreads {
        threads: Arc::default(),
        vcpus: cpus.core_ids.iter().map(|_| OnceLock::new()).collect(),
    };
    let threads = Arc::clone(&park.threads);
    let vcpus = Arc::clone(&park.vcpus);
    let sclp = core::mem::take(&mut first.services.sclp);
    let configuration = Configuration::new(&cpus.core_ids, cpus.max_cpus, sclp, Box::new(park));
    configuration.adopt_css(core::mem::take(&mut first.services.css));
    let member = |index| Member {
        configuration: Arc::clone(&configuration),
        index,
    };
    let clock = &clock;
    let gdb = debugging
        .gdb
        .as_ref()
        .map(|(_, wait)| Shared::new(Arc::clone(&configuration), *wait));
    // The stub's own view of storage: another CPU's, never run.
    let view = Seed::of(first).cpu(0, clock()).bus;
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (index, address) in cpus.core_ids.iter().enumerate().skip(1) {
            let (seed, member, address) = (Seed::of(first), member(index), *address);
            let (gdb, vcpu) = (gdb.as_ref(), &vcpus[index]);
            let handle = std::thread::Builder::new()
                .name(format!("cpu{index}"))
                .spawn_scoped(s, move || {
                    let mut machine = seed.cpu(address, clock());
                    run_cpu(&mut machine, member, limit, kind, debugging, gdb, vcpu)
                })
                .map_err(|e| format!("cannot start a CPU thread: {e}"))?;
            handles.push(handle);
        }
        let mut all = vec![std::thread::current()];
        all.extend(handles.iter().map(|h| h.thread().clone()));
        let _ = threads.set(all);
        let stub = match (&debugging.gdb, &gdb) {
            (Some((address, wait)), Some(shared)) => {
                let mut cpus = Cpus::new(shared, view);
                let ending = Arc::clone(&configuration);
                let spawned =
                    std::thread::Builder::new()
                        .name("gdb".into())
                        .spawn_scoped(s, move || {
                            let served = crate::gdb::serve(address, *wait, &mut cpus);
                            ending.end(served.clone().unwrap_or(Stop::CheckStop {
                                reason: "the gdb stub failed",
                                psw: Psw::default(),
                            }));
                            served
                        });
                match spawned {
                    Ok(stub) => Some(stub),
                    Err(e) => {
                        configuration.end(Stop::CheckStop {
                            reason: "the gdb stub failed",
                            psw: Psw::default(),
                        });
                        return Err(format!("cannot start the gdb stub's thread: {e}"));
                    }
                }
            }
            _ => None,
        };
        let (gdb, vcpu) = (gdb.as_ref(), &vcpus[0]);
        let mine = run_cpu(first, member(0), limit, kind, debugging, gdb, vcpu);
        if let Some(stub) = stub {
            stub.join()
                .map_err(|_| "the gdb stub's thread panicked".to_string())??;
        }
        let mut runs = vec![mine];
        for handle in handles {
            runs.push(
                handle
                    .join()
                    .map_err(|_| "a CPU thread panicked".to_string())?,
            );
        }
        let mut finished = Finished {
            outcome: RunOutcome {
                stop: Stop::LimitReached,
                instructions: 0,
            },
            failures: Vec::new(),
            stats: Vec::new(),
        };
        for (index, run) in runs.into_iter().enumerate() {
            let (outcome, failure, stats) = run?;
            if index == 0 {
                finished.outcome.stop = configuration.outcome().unwrap_or(outcome.stop);
            }
            finished.outcome.instructions += outcome.instructions;
            finished
                .failures
                .extend(failure.map(|e| format!("cpu{index}: {e}")));
            finished
                .stats
                .extend(stats.iter().map(|line| format!("cpu{index} {line}")));
        }
        Ok(finished)
    })
}
