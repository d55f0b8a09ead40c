//! Differential test: the kvm engine against the interpreter on the jit's
//! random programs (`zmmu_testkit::streams`: loads and stores through
//! random page tables and storage keys, IPTE, EXECUTE, stores into the
//! program's own code frame through an alias page, instructions the
//! translator does not translate). Two machines start from each drawn
//! case; both run in the same random slices of instructions, and after
//! every slice the run's outcome, the CPU state, storage and the storage
//! keys must be equal. The program-new PSW is a disabled wait: at each
//! program interruption (its old PSW, code and TEID are compared in the
//! lowcore) both machines resume at the old PSW, past the instruction
//! where the exception nullified it, as a handler would; a case ends at
//! its terminator, after 200 interruptions or 4000 instructions. The kvm
//! engine may set reference bits ahead of use (CHOICES 29), and change
//! bits of frames an instruction suppressed by an access exception could
//! have stored into (`settle_unpredictable_keys`), nothing else.
//!
//! ```text
//! ZMMU_KVM_DIFF_CASES=2000 ZMMU_KVM_DIFF_SEED=7 cargo test --release -p zmmu-kvm --test kvm_diff -- --nocapture
//! ZMMU_KVM_DIFF_CASE=155 ...   (that case alone)
//! ```

mod common;

use common::{engine, Quiet};
use zmmu_cpu::state::Psw;
use zmmu_kvm::KvmEngine;
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::storage::Storage;
use zmmu_testkit::streams::{case, compare, STORAGE};
use zmmu_testkit::{env_u64, Rng};

/// A machine in the state of `drawn`, with a disabled-wait program-new PSW.
fn machine(drawn: &zmmu_testkit::streams::Case) -> Machine {
    let mut m = Machine::new(STORAGE);
    let mut bytes = vec![0; STORAGE];
    drawn
        .storage
        .read(AbsoluteAddress::new(0), &mut bytes)
        .expect("the case's storage");
    let storage = &mut m.bus.storage;
    storage.write(AbsoluteAddress::new(0), &bytes).unwrap();
    for frame in 0..STORAGE as u64 / 0x1000 {
        let at = AbsoluteAddress::new(frame * 0x1000);
        storage.set_key(at, drawn.storage.key(at).unwrap()).unwrap();
    }
    storage
        .write_u64(AbsoluteAddress::new(0x1d0), 0x0002_0001_8000_0000)
        .unwrap();
    storage
        .write_u64(AbsoluteAddress::new(0x1d8), PROGRAM_NEW)
        .unwrap();
    m.cpu = drawn.cpu.clone();
    m
}

/// Instructions at most per case (a store into the code may make a loop).
const CASE_BUDGET: u64 = 4000;

/// The program-new PSW's address.
const PROGRAM_NEW: u64 = 0x777;

/// The last program interruption a machine took, as its lowcore holds it.
struct Lowcore {
    code: Code,
    ilc: u64,
    teid: u64,
    old: Psw,
}

impl Lowcore {
    fn of(m: &Machine) -> Lowcore {
        let storage = &m.bus.storage;
        let word = |at| storage.read_u64(AbsoluteAddress::new(at)).unwrap();
        let mut id = [0u8; 4];
        storage.read(AbsoluteAddress::new(0x8c), &mut id).unwrap();
        Lowcore {
            code: Code(u16::from_be_bytes([id[2], id[3]])),
            ilc: u64::from(id[1] >> 1 & 3),
            teid: word(0xa8),
            old: Psw {
                mask: word(0x150),
                addr: word(0x158),
            },
        }
    }

    /// Where a handler resumes: the old PSW, past the instruction if the
    /// exception nullified it; none for an interruption without an
    /// instruction length (nothing to skip).
    fn resume(&self) -> Option<Psw> {
        if self.ilc == 0 {
            return None;
        }
        let mut psw = self.old;
        if self.code.nullifies() {
            psw.addr += self.ilc * 2;
        }
        Some(psw)
    }

    /// An access exception: protection, addressing, segment or page
    /// translation.
    fn access_exception(&self) -> bool {
        matches!(self.code.0 & 0x7f, 0x04 | 0x05 | 0x10 | 0x11)
    }

    fn describe(&self) -> String {
        format!(
            "last program interruption: code {:#x}, ILC {}, TEID {:#x}, old PSW {:#x} {:#x}",
            self.code.0, self.ilc, self.teid, self.old.mask, self.old.addr
        )
    }
}

/// Runs one case on both; the instructions run, or the first difference.
fn run_case(rng: &mut Rng, seen: &mut Seen) -> Result<Option<u64>, String> {
    let drawn = case(rng);
    let mut interp = machine(&drawn);
    let mut vm = machine(&drawn);
    let Some(mut kvm): Option<KvmEngine> = engine(&vm.bus.storage) else {
        return Ok(None);
    };
    let mut total = 0;
    let mut interruptions = 0;
    loop {
        let slice = 1 + rng.below(400);
        let expected = interp.run(Some(slice), &mut Quiet);
        let got = vm.run_with(Some(slice), &mut Quiet, &mut kvm);
        if let Some(failure) = kvm.failure() {
            return Err(format!("the engine failed: {failure:?}"));
        }
        if got != expected {
            return Err(format!(
                "after {total} instructions: interp {expected:?} ({}), kvm {got:?} ({})",
                Lowcore::of(&interp).describe(),
                Lowcore::of(&vm).describe()
            ));
        }
        total += expected.instructions;
        let interrupted =
            matches!(expected.stop, Stop::DisabledWait { psw } if psw.addr == PROGRAM_NEW);
        let lowcore = Lowcore::of(&interp);
        if interrupted && lowcore.access_exception() {
            settle_unpredictable_keys(&mut interp, &vm);
        }
        compare(
            (&interp.cpu, &interp.bus.storage),
            (&vm.cpu, &vm.bus.storage),
            ["interp", "kvm"],
            true,
        )
        .map_err(|e| format!("after {total} instructions: {e}"))?;
        if interp.cpu.psw.addr == drawn.end || total >= CASE_BUDGET {
            break;
        }
        if expected.stop == Stop::LimitReached {
            continue;
        }
        let resumed = lowcore
            .resume()
            .filter(|_| interrupted && interruptions < 200);
        let Some(psw) = resumed else { break };
        interruptions += 1;
        interp.cpu.psw = psw;
        vm.cpu.psw = psw;
    }
    seen.add(&kvm);
    Ok(Some(total))
}

/// What the engine did over all cases, to show the streams reach it.
#[derive(Default)]
struct Seen {
    instructions: u64,
    helper_calls: u64,
    shadow_fills: u64,
    fault_exceptions: u64,
    code_page_writes: u64,
}

impl Seen {
    fn add(&mut self, kvm: &KvmEngine) {
        let s = kvm.stats();
        self.instructions += s.instructions;
        self.helper_calls += s.helper_calls;
        self.shadow_fills += s.shadow_fills;
        self.fault_exceptions += s.fault_exceptions;
        self.code_page_writes += s.code_page_writes;
    }
}

/// After an access exception the architecture leaves the reference and
/// change bits of the frames the suppressed instruction could have
/// reached unpredictable (a store crossing into a page that refuses it may
/// have set the first page's change bit: the kvm engine's write fault on
/// the first page records it before the second page faults; Hercules does
/// the same, `conformance/src/gen/driver.rs`). Where the kvm engine's key
/// differs from the interpreter's only by R or C bits set, the
/// interpreter's machine takes them; storage itself stays compared
/// exactly.
fn settle_unpredictable_keys(interp: &mut Machine, vm: &Machine) {
    const RC: u8 = StorageKey::R | StorageKey::C;
    for frame in 0..STORAGE as u64 / 0x1000 {
        let at = AbsoluteAddress::new(frame * 0x1000);
        let (Some(mine), Some(theirs)) = (interp.bus.storage.key(at), vm.bus.storage.key(at))
        else {
            continue;
        };
        if mine != theirs && mine.value() | (theirs.value() & RC) == theirs.value() {
            interp.bus.storage.set_key(at, theirs).unwrap();
        }
    }
}

#[test]
fn kvm_matches_the_interpreter_on_random_programs_under_dat() {
    let cases = env_u64("ZMMU_KVM_DIFF_CASES", 300);
    let seed = env_u64("ZMMU_KVM_DIFF_SEED", 0x5eed);
    let mut total = 0;
    let mut seen = Seen::default();
    let only = std::env::var("ZMMU_KVM_DIFF_CASE").ok();
    let only = only.map(|v| v.parse::<u64>().expect("a case index"));
    for index in only.map_or(0..cases, |i| i..i + 1) {
        match run_case(&mut Rng::new(seed.wrapping_add(index)), &mut seen) {
            Ok(Some(n)) => total += n,
            Ok(None) => return,
            Err(why) => {
                panic!("case {index} of ZMMU_KVM_DIFF_SEED={seed}: {why}")
            }
        }
    }
    eprintln!(
        "kvm_diff: {total} instructions in {cases} cases; in the VM {}, helper calls {}, shadow fills {}, faults to s390x exceptions {}, stores into code frames {}",
        seen.instructions, seen.helper_calls, seen.shadow_fills, seen.fault_exceptions, seen.code_page_writes
    );
    assert!(
        only.is_some()
            || seen.instructions > total / 2
                && seen.fault_exceptions > 0
                && seen.code_page_writes > 0,
        "the streams must run mostly in the VM, fault there and store into code"
    );
}
