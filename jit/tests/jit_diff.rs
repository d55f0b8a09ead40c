//! Differential test: the jit against the interpreter on seeded random
//! instruction streams with DAT on (and off), over the machine's `DatBus`:
//! loads and stores through random page tables (invalid, protected and
//! out-of-storage pages, storage keys), IPTE, EXECUTE, stores into the
//! code's own frames through an alias page, instructions the translator
//! does not translate, loops that run their body in one primary space,
//! another whose code differs, and the first again (LCTLG of CR1: the jump
//! cache's entries of one set aside while the other runs). After every `Jit::run` (a few blocks) the full CPU
//! state, storage and storage keys must equal those of a second machine
//! stepped by the interpreter as many times.
//!
//! ```text
//! ZMMU_JIT_DIFF_INSNS=5000000 ZMMU_JIT_DIFF_SEED=7 cargo test --release -p zmmu-jit --test jit_diff -- --nocapture
//! ```

use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{mask, Cpu};
use zmmu_jit::{Jit, JumpDrop};
use zmmu_machine::bus::DatBus;
use zmmu_mmu::exception::Ending;
use zmmu_testkit::streams::{case, compare};
use zmmu_testkit::{env_u64, Rng};

struct Case {
    cpu: Cpu,
    bus: DatBus,
}

fn same(a: &Case, b: &Case) -> Result<(), String> {
    compare(
        (&a.cpu, &a.bus.storage),
        (&b.cpu, &b.bus.storage),
        ["interp", "jit"],
        false,
    )
}

/// Runs one case; the guest instructions executed, or why it failed.
fn run_case(jit: &mut Jit, rng: &mut Rng, budget: u64) -> Result<u64, String> {
    let drawn = case(rng);
    let mut interp = Case {
        cpu: drawn.cpu,
        bus: DatBus::new(drawn.storage),
    };
    let mut jitted = Case {
        cpu: interp.cpu.clone(),
        bus: DatBus::over(interp.bus.storage.clone()),
    };
    jit.flush(&mut jitted.bus);
    let mut total = 0u64;
    let mut trail: Vec<String> = Vec::new();
    let mut faults = 0;
    while total < budget {
        let chunk = 1 + rng.below(60);
        let before = jitted.cpu.psw.addr;
        let ran = jit.run(&mut jitted.cpu, &mut jitted.bus, chunk);
        let (n, result) = (ran.instructions, ran.result);
        if n == 0 || n > chunk {
            return Err(format!("run({chunk}) executed {n}"));
        }
        let mut expected = Ok(());
        let mut last = 0;
        for i in 0..n {
            let at = interp.cpu.psw.addr;
            last = at;
            if let Ok(insn) = interp.cpu.fetch(&mut interp.bus, at) {
                trail.push(format!("{at:#x} {}", insn.op.mnemonic()));
            }
            expected = interp.cpu.step(&mut interp.bus);
            if expected.is_err() && i + 1 != n {
                let tail = trail.len().saturating_sub(12);
                return Err(format!(
                    "the interpreter stopped after {} of {n} instructions with {expected:?}; the jit ran on from {before:#x}, after [{}]",
                    i + 1,
                    trail[tail..].join("; ")
                ));
            }
        }
        total += n;
        if last != ran.last {
            let tail = trail.len().saturating_sub(12);
            return Err(format!(
                "last address: interp {last:#x} jit {:#x} (a run of {chunk} from {before:#x} that ran {n}: {result:?}), after [{}]",
                ran.last,
                trail[tail..].join("; ")
            ));
        }
        let tail = trail.len().saturating_sub(12);
        let context = || trail[tail..].join("; ");
        if expected != result {
            return Err(format!(
                "results differ: interp {expected:?} jit {result:?} after [{}]",
                context()
            ));
        }
        same(&interp, &jitted).map_err(|e| format!("{e}\n  after [{}]", context()))?;
        if trail.len() > 64 {
            trail.drain(..32);
        }
        match result {
            Ok(()) => {}
            Err(Interruption::Program { exception, ilc }) => {
                faults += 1;
                if ilc == 0 || faults > 200 {
                    break;
                }
                if exception.code.ending() == Ending::Nullify {
                    // Skip the nullified instruction, as a handler would.
                    let at = interp.cpu.psw.addr;
                    let Ok(insn) = interp.cpu.fetch(&mut interp.bus, at) else {
                        break;
                    };
                    let next = at + u64::from(Insn::ilc(&insn)) * 2;
                    interp.cpu.psw.addr = next;
                    jitted.cpu.psw.addr = next;
                }
            }
            Err(_) => {}
        }
        let psw = interp.cpu.psw;
        if psw.mask & mask::WAIT != 0 || !psw.is_valid() || psw.addr == drawn.end {
            break;
        }
    }
    Ok(total)
}

#[test]
fn jit_matches_the_interpreter_on_random_programs_under_dat() {
    let default = if cfg!(debug_assertions) {
        150_000
    } else {
        1_000_000
    };
    let target = env_u64("ZMMU_JIT_DIFF_INSNS", default);
    let seed = env_u64("ZMMU_JIT_DIFF_SEED", 0x5eed);
    // A small buffer, so that full-buffer flushes happen too.
    let mut jit = Jit::new(1 << 20).expect("executable memory");
    let mut total = 0u64;
    let mut cases = 0u64;
    while total < target {
        let case_seed = match std::env::var("ZMMU_JIT_DIFF_CASE") {
            Ok(v) => u64::from_str_radix(v.trim_start_matches("0x"), 16).expect("a hex case seed"),
            Err(_) => seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(cases) | 1,
        };
        let mut rng = Rng(case_seed);
        jit.set_movbe(cases % 2 == 0);
        // One case in eight translates a block at its second entry: the
        // interpreter runs the blocks entered once (docs/CHOICES.md §55a).
        jit.set_translate_after(if cases % 8 == 7 { 2 } else { 1 });
        match run_case(&mut jit, &mut rng, 4000) {
            Ok(n) => total += n,
            Err(why) => {
                panic!("case {cases} (ZMMU_JIT_DIFF_SEED={seed}, case seed {case_seed:#x}): {why}")
            }
        }
        cases += 1;
    }
    let s = jit.stats();
    let switches = s.jump_drops[JumpDrop::Space as usize];
    eprintln!(
        "jit_diff: {total} instructions in {cases} cases; native {}, helper calls {} (slow paths {}), blocks translated {} ({} crossing a page), steps {}, smc drops {}, code-page stores {}, flushes {}, primary-space switches {switches}",
        s.native(), s.helper_calls, s.slow_paths, s.blocks, s.crossing_blocks, s.steps, s.smc_invalidations, s.code_page_stores, s.flushes
    );
    assert!(
        switches > 0 || target < 100_000,
        "the streams switch the primary space (the jump cache's set-asides)"
    );
}
