//! `zmmu run --smp N`: a machine of several CPUs, each run by its own host
//! thread ([`zmmu_machine::configuration`]): CPU 0 (on the calling thread)
//! starts running the program, the others stopped until a SIGP starts
//! them.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use zmmu_cpu::clock::{Clock, TimeSource};
use zmmu_machine::configuration::{Configuration, Member, Park, Seed};
use zmmu_machine::engine::{Engine, Interpreter};
use zmmu_machine::{Machine, Observer, RunOutcome};

use crate::run::EngineKind;

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

    fn unpark(&self, index: usize) {
        if let Some(thread) = self.threads.get().and_then(|t| t.get(index)) {
            thread.unpark();
        }
    }
}

/// Console output of every CPU to stdout, a write at a time.
#[derive(Debug)]
struct Console;

impl Observer for Console {
    fn console(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        // A closed stdout does not stop the guest.
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
}

/// What one CPU's thread runs it with.
fn engine(kind: EngineKind) -> Result<Box<dyn Engine>, String> {
    match kind {
        EngineKind::Interp => Ok(Box::new(Interpreter)),
        EngineKind::Jit => zmmu_jit::Jit::new(zmmu_jit::DEFAULT_BUFFER)
            .map(|jit| Box::new(jit) as Box<dyn Engine>)
            .map_err(|e| format!("--engine jit: {e}")),
        EngineKind::Kvm => Err("--engine kvm runs one CPU for now".into()),
    }
}

/// Runs one CPU of the configuration with its own engine, until the run
/// ends for all.
fn run_cpu(
    machine: &mut Machine,
    member: Member,
    limit: Option<u64>,
    kind: EngineKind,
) -> Result<RunOutcome, String> {
    let configuration = Arc::clone(&member.configuration);
    machine.member = Some(member);
    let outcome =
        engine(kind).map(|mut engine| machine.run_with(limit, &mut Console, engine.as_mut()));
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
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (index, address) in cpus.core_ids.iter().enumerate().skip(1) {
            let (seed, member, address) = (Seed::of(first), member(index), *address);
            let handle = std::thread::Builder::new()
                .name(format!("cpu{index}"))
                .spawn_scoped(s, move || {
                    let mut machine = seed.cpu(address, clock());
                    run_cpu(&mut machine, member, limit, kind)
                })
                .map_err(|e| format!("cannot start a CPU thread: {e}"))?;
            handles.push(handle);
        }
        let mut all = vec![std::thread::current()];
        all.extend(handles.iter().map(|h| h.thread().clone()));
        let _ = threads.set(all);
        let mine = run_cpu(first, member(0), limit, kind);
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
