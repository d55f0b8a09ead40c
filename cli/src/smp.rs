//! `zmmu run --smp N`: a machine of several CPUs, each run by its own host
//! thread ([`zmmu_machine::configuration`]): CPU 0 (on the calling thread)
//! starts running the program, the others stopped until a SIGP starts
//! them. With `--trace` each CPU traces to the one output
//! ([`crate::trace::Shared`]); with `--gdb` the stub serves on a thread of
//! its own, each CPU a gdb thread ([`crate::gdb::smp`]).

use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use zmmu_cpu::clock::{Clock, TimeSource};
use zmmu_cpu::state::Psw;
use zmmu_machine::configuration::{Configuration, Member, Park};
use zmmu_machine::engine::{Engine, Interpreter};
use zmmu_machine::secondary::Seed;
use zmmu_machine::{Machine, RunOutcome, Stop};

use crate::gdb::smp::{Cpus, Resumed, Shared, Stopper, WithGdb};
use crate::run::{EngineKind, Report};
use crate::trace::Tracer;

/// What `--trace` and `--gdb` ask of a run of several CPUs.
#[derive(Debug, Default)]
pub struct Debugging {
    /// The trace every CPU writes to.
    pub trace: Option<crate::trace::Shared>,
    /// `--gdb ADDR:PORT`, and `--wait-for-gdb`.
    pub gdb: Option<(String, bool)>,
}

/// The CPU threads, once spawned: parking is the host's.
#[derive(Debug, Default)]
struct HostThreads {
    threads: Arc<OnceLock<Vec<Thread>>>,
}

impl Park for HostThreads {
    fn park(&self, index: usize) {
        let _ = index;
        std::thread::park_timeout(Duration::from_millis(1));
    }

    fn relax(&self) {
        std::thread::yield_now();
    }

    fn unpark(&self, index: usize) {
        if let Some(thread) = self.threads.get().and_then(|t| t.get(index)) {
            thread.unpark();
        }
    }
}

/// What one CPU's thread runs it with (under gdb, the jit drops its
/// blocks whenever gdb resumed the guest).
fn engine(kind: EngineKind, gdb: Option<&Arc<Shared>>) -> Result<Box<dyn Engine>, String> {
    match kind {
        EngineKind::Interp => Ok(Box::new(Interpreter)),
        EngineKind::Jit => zmmu_jit::Jit::new(zmmu_jit::DEFAULT_BUFFER)
            .map(|jit| match gdb {
                Some(gdb) => Box::new(Resumed::new(jit, gdb)) as Box<dyn Engine>,
                None => Box::new(jit),
            })
            .map_err(|e| format!("--engine jit: {e}")),
        EngineKind::Kvm => Err("--engine kvm runs one CPU for now: drop --smp".into()),
    }
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
) -> Result<RunOutcome, String> {
    let configuration = Arc::clone(&member.configuration);
    let index = member.index;
    machine.member = Some(member);
    let tracer = debugging
        .trace
        .as_ref()
        .map(|trace| trace.tracer(machine.cpu.cpu_addr));
    if tracer.as_ref().is_some_and(Tracer::wants_tlb_log) {
        machine.bus.tlb_log = Some(Vec::new());
    }
    // No keyboard: the guest console reads none with several CPUs.
    let mut console = Report::new(None, tracer);
    let outcome = engine(kind, gdb).map(|mut engine| match gdb {
        Some(gdb) => {
            let mut observer = WithGdb {
                inner: &mut console,
                stopper: Stopper::new(gdb, index),
            };
            machine.run_with(limit, &mut observer, engine.as_mut())
        }
        None => machine.run_with(limit, &mut console, engine.as_mut()),
    });
    console.finish(&machine.cpu, &mut machine.bus);
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
/// executes at most `limit` instructions. The outcome is why the run ended
/// and the instructions of all CPUs.
pub fn run(
    first: &mut Machine,
    limit: Option<u64>,
    kind: EngineKind,
    clock: impl Fn() -> Clock<Box<dyn TimeSource>> + Sync,
    debugging: &Debugging,
) -> Result<RunOutcome, String> {
    let cpus = first.config.cpus.clone();
    let park = HostThreads::default();
    let threads = Arc::clone(&park.threads);
    let sclp = core::mem::take(&mut first.services.sclp);
    let configuration = Configuration::new(&cpus.core_ids, cpus.max_cpus, sclp, Box::new(park));
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
            let gdb = gdb.as_ref();
            let handle = std::thread::Builder::new()
                .name(format!("cpu{index}"))
                .spawn_scoped(s, move || {
                    let mut machine = seed.cpu(address, clock());
                    run_cpu(&mut machine, member, limit, kind, debugging, gdb)
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
        let mine = run_cpu(first, member(0), limit, kind, debugging, gdb.as_ref());
        if let Some(stub) = stub {
            stub.join()
                .map_err(|_| "the gdb stub's thread panicked".to_string())??;
        }
        let mut instructions = 0;
        for handle in handles {
            let outcome = handle
                .join()
                .map_err(|_| "a CPU thread panicked".to_string())??;
            instructions += outcome.instructions;
        }
        let mine = mine?;
        let stop = configuration.outcome().unwrap_or(mine.stop);
        Ok(RunOutcome {
            stop,
            instructions: instructions + mine.instructions,
        })
    })
}
