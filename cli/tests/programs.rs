//! The bare-metal test programs in `tests/programs/` behave on `zmmu run`
//! exactly as on `qemu-system-s390x -kernel`: the same console output and
//! the same exit status (for QEMU, read from the disabled-wait PSW that
//! `-d guest_errors` logs; zmmu's exit status is its address modulo 256).
//!
//! The programs are built here with `s390x-linux-gnu-gcc` (the test command
//! installs it). Each run is compared with the output recorded from QEMU in
//! `tests/programs/expected/`, and with a live QEMU run where
//! `qemu-system-s390x` is installed.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{built, have, kvm_usable, notice, PROGRAMS};

const ZMMU: &str = env!("CARGO_BIN_EXE_zmmu");
/// Far above what any program of one CPU needs; a runaway program fails,
/// not hangs.
const MAX_INSNS: &str = "400000000";
/// The hang guard of the programs of several CPUs, in seconds: their CPUs
/// wait for each other in loops, and how many turns of those loops run
/// depends on when the host schedules each CPU's thread (under load, a
/// whole time slice of the waiting CPU per round: hundreds of millions of
/// instructions on the kvm engine), so no instruction count bounds them.
const SMP_SECONDS: &str = "300";

/// What a run shows: console bytes and exit status.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    console: String,
    status: i32,
}

/// The engines every program runs on: the interpreter, and the jit on
/// x86-64 hosts; and `kvm` where /dev/kvm is usable ([`kvm_usable`]), so
/// that each program's kvm run is checked against the same output as the
/// interpreter's.
const ENGINES: &[&str] = if cfg!(target_arch = "x86_64") {
    &["interp", "jit"]
} else {
    &["interp"]
};

/// The programs that need several CPUs, and how many they run with
/// (`zmmu run --smp N`, QEMU's `-smp N`): `smp` with 4, more than the 2
/// host cores the tests run on, so the CPU threads are oversubscribed.
const CPUS: &[(&str, &str)] = &[
    ("smp", "4"),
    ("shootdown", "2"),
    ("serialize", "2"),
    ("clock", "2"),
];

/// The CPU count `elf` runs with.
fn cpus(elf: &Path) -> &'static str {
    let name = elf.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    CPUS.iter()
        .find(|(program, _)| *program == name)
        .map_or("1", |(_, n)| n)
}

fn zmmu(elf: &Path, engine: &str) -> (Run, String) {
    let mut command = match cpus(elf) {
        "1" => {
            let mut zmmu = Command::new(ZMMU);
            zmmu.args(["run", "--max-insns", MAX_INSNS]);
            zmmu
        }
        cpus => {
            let mut timeout = Command::new("timeout");
            timeout.args([SMP_SECONDS, ZMMU, "run", "--smp", cpus]);
            timeout
        }
    };
    let out: Output = command
        .args(["--engine", engine])
        .arg(elf)
        .output()
        .expect("zmmu runs");
    let run = Run {
        console: String::from_utf8_lossy(&out.stdout).into_owned(),
        status: out.status.code().unwrap_or(-1),
    };
    (run, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The run on QEMU, if it is installed. The exit status is the low byte of
/// the disabled-wait PSW's address, as logged with `-d guest_errors`.
fn qemu(elf: &Path) -> Option<Run> {
    if !have("qemu-system-s390x") {
        notice("qemu-system-s390x is not installed: comparing with recorded output only");
        return None;
    }
    let log = elf.with_extension("qemu.log");
    let _ = std::fs::remove_file(&log);
    let out = Command::new("timeout")
        .arg("120")
        .arg("qemu-system-s390x")
        .args([
            "-nodefaults",
            "-nographic",
            "-machine",
            "s390-ccw-virtio,accel=tcg",
        ])
        .args(["-cpu", "max", "-m", "128M", "-smp", cpus(elf)])
        .args([
            "-chardev",
            "stdio,id=con0",
            "-device",
            "sclpconsole,chardev=con0",
        ])
        .arg("-kernel")
        .arg(elf)
        .args(["-d", "guest_errors", "-D"])
        .arg(&log)
        .output()
        .expect("qemu runs");
    assert!(out.status.success(), "QEMU failed or timed out: {out:?}");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    let address = log
        .lines()
        .find_map(|l| l.strip_prefix("PSW: "))
        .and_then(|psw| psw.split_whitespace().nth(1))
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("no disabled-wait PSW in QEMU's log:\n{log}"));
    Some(Run {
        console: String::from_utf8_lossy(&out.stdout).into_owned(),
        status: (address & 0xFF) as i32,
    })
}

/// Runs `name` on zmmu and checks it against the recorded QEMU output, the
/// expected status and, where installed, a live QEMU run.
fn runs_as_on_qemu(name: &str, status: i32) {
    let Some(dir) = built() else { return };
    let elf = dir.join(format!("{name}.elf"));
    let expected = std::fs::read_to_string(format!("{PROGRAMS}/expected/{name}.out"))
        .expect("recorded output");
    let expected = Run {
        console: expected,
        status,
    };
    let mut run = None;
    let kvm = kvm_usable().then_some("kvm");
    for engine in ENGINES.iter().copied().chain(kvm) {
        let (this, stderr) = zmmu(&elf, engine);
        assert_eq!(
            this, expected,
            "zmmu run --engine {engine} {name}: {stderr}"
        );
        run = Some(this);
    }
    let run = run.expect("one engine at least");
    if let Some(reference) = qemu(&elf) {
        assert_eq!(run, reference, "zmmu run and QEMU differ on {name}");
    }
}

#[test]
fn store_system_information_and_cpu_id_answer_as_on_qemu() {
    runs_as_on_qemu("stsi", 0);
}

#[test]
fn hello_prints_and_exits_with_the_wait_psw_address() {
    runs_as_on_qemu("hello", 7);
}

#[test]
fn sieve_runs_as_on_qemu() {
    runs_as_on_qemu("sieve", 0);
}

#[test]
fn sort_runs_as_on_qemu() {
    runs_as_on_qemu("sort", 0);
}

#[test]
fn hash_table_runs_as_on_qemu() {
    runs_as_on_qemu("hash", 0);
}

#[test]
fn pointer_chase_runs_as_on_qemu() {
    runs_as_on_qemu("chase", 0);
}

#[test]
fn memcpy_and_memset_over_large_buffers_run_as_on_qemu() {
    runs_as_on_qemu("memops", 0);
}

#[test]
fn a_byte_wise_checksum_runs_as_on_qemu() {
    runs_as_on_qemu("bytesum", 0);
}

#[test]
fn secondary_space_accesses_through_sacf_run_as_on_qemu() {
    runs_as_on_qemu("spaces", 0);
}

#[test]
fn remapping_by_ipte_and_idte_runs_as_on_qemu() {
    runs_as_on_qemu("remap", 0);
}

#[test]
fn resolved_translation_and_protection_exceptions_run_as_on_qemu() {
    runs_as_on_qemu("pagefault", 0);
}

#[test]
fn demand_paging_and_a_second_space_over_the_same_tables_run_as_on_qemu() {
    runs_as_on_qemu("faults", 0);
}

/// The number after `label` in `text` (the first such).
fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The kvm engine's shadow fills in the VM (docs/CHOICES.md 91): the
/// second space maps pages the first space's faults had the host map (and
/// list), so the image maps them itself on the faults there, and the host
/// takes every mapping it made into its pager. The output is QEMU's.
#[test]
fn pages_mapped_in_one_space_are_mapped_by_the_image_in_another() {
    let Some(dir) = built() else { return };
    if !kvm_usable() {
        return;
    }
    let out = Command::new(ZMMU)
        .env("ZMMU_KVM_FILLS", "1")
        .args([
            "run",
            "--engine",
            "kvm",
            "--stats",
            "--max-insns",
            MAX_INSNS,
        ])
        .arg(dir.join("faults.elf"))
        .output()
        .expect("zmmu runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected = std::fs::read_to_string(format!("{PROGRAMS}/expected/faults.out")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    let filled = number_after(&stderr, "resolved in the VM by a shadow fill ").unwrap();
    let taken = number_after(&stderr, "mappings taken into the pager ").unwrap();
    let removed = number_after(&stderr, "removed again ").unwrap();
    // 4096 pages, a window of 64 per fill: 64 fills at least.
    assert!(filled >= 64, "{stderr}");
    assert!(taken >= 4096 && removed == 0, "{stderr}");
}

#[test]
fn storage_keys_record_references_and_changes_as_on_qemu() {
    runs_as_on_qemu("keys", 0);
}

#[test]
fn supervisor_calls_go_through_the_lowcore_as_on_qemu() {
    runs_as_on_qemu("svc", 0);
}

#[test]
fn mvcs_and_mvcp_move_between_the_primary_and_secondary_spaces_as_on_qemu() {
    runs_as_on_qemu("crossspace", 0);
}

/// `--trace all --trace-file` of a run of `elf` on `engine`.
fn trace(elf: &Path, engine: &str) -> String {
    let file = elf.with_extension(format!("{engine}.trace"));
    let out = Command::new(ZMMU)
        .args(["run", "--engine", engine, "--max-insns", MAX_INSNS])
        .args(["--trace", "all", "--trace-file"])
        .args([&file, elf])
        .output()
        .expect("zmmu runs");
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(&file).expect("the trace file")
}

#[test]
fn a_trace_shows_faults_tlb_fills_and_invalidations_identically_on_every_engine() {
    let Some(dir) = built() else { return };
    let elf = dir.join("pagefault.elf");
    // The kvm engine too: a traced run steps in the interpreter.
    let engines: Vec<&str> = ENGINES
        .iter()
        .copied()
        .chain(kvm_usable().then_some("kvm"))
        .collect();
    let traces: Vec<String> = engines.iter().map(|e| trace(&elf, e)).collect();
    let interp = &traces[0];
    for (engine, other) in engines.iter().zip(&traces) {
        assert!(other == interp, "--engine {engine} traces differently");
    }
    for expected in [
        "*** program interruption: segment-translation exception (code 0x0010), TEID 0x10000800, ilc 3; old PSW",
        "*** program interruption: page-translation exception (code 0x0011)",
        "    tlb fill Primary fetch 0000000010000000 -> absolute",
        "    tlb invalidate PageTableEntries",
        "  lpswe 336",
    ] {
        assert!(interp.contains(expected), "no `{expected}` in the trace");
    }
}

/// With several CPUs every line of the trace starts with its CPU's
/// address and is whole (an instruction, an interruption or a TLB event),
/// and the CPUs' lines share one file.
#[test]
fn a_trace_of_two_cpus_tags_each_whole_line_with_its_cpu() {
    let Some(dir) = built() else { return };
    let elf = dir.join("smp.elf");
    let file = elf.with_extension("smp.trace");
    let out = Command::new(ZMMU)
        .args(["run", "--engine", "interp", "--smp", "2"])
        .args([
            "--max-insns",
            MAX_INSNS,
            "--trace",
            "insn,exc",
            "--trace-file",
        ])
        .args([&file, &elf])
        .output()
        .expect("zmmu runs");
    assert!(out.status.success(), "{out:?}");
    let trace = std::fs::read_to_string(&file).expect("the trace file");
    let _ = std::fs::remove_file(&file);
    let mut lines = [0usize; 2];
    for line in trace.lines() {
        let (cpu, rest) = line.split_at(line.find(' ').unwrap_or(0) + 1);
        let cpu = match cpu {
            "cpu0 " => 0,
            "cpu1 " => 1,
            _ => panic!("a line without its CPU: `{line}`"),
        };
        let (address, text) = rest.split_at(rest.len().min(18));
        let instruction = address.len() == 18
            && address[..16].chars().all(|c| c.is_ascii_hexdigit())
            && address.ends_with("  ")
            && !text.is_empty();
        assert!(
            instruction || rest.starts_with("*** "),
            "not a whole line: `{line}`"
        );
        lines[cpu] += 1;
    }
    assert!(lines[0] > 0 && lines[1] > 0, "both CPUs trace: {lines:?}");
    assert!(
        trace.contains("cpu0 *** external interruption: code 0x2401"),
        "CPU 0 takes the service signal of its console writes"
    );
}

/// `--stats` tells each translating CPU's counters, tagged with its CPU,
/// as it tells one CPU's: both CPUs of `smp` ran native code.
#[test]
fn stats_of_two_jit_cpus_count_each_cpus_native_instructions() {
    let Some(dir) = built() else { return };
    let out = Command::new(ZMMU)
        .args(["run", "--engine", "jit", "--smp", "2", "--stats"])
        .args(["--max-insns", MAX_INSNS])
        .arg(dir.join("smp.elf"))
        .output()
        .expect("zmmu runs");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for cpu in ["cpu0", "cpu1"] {
        let native = stderr
            .lines()
            .find_map(|l| l.strip_prefix(&format!("stats: {cpu} native ")))
            .unwrap_or_else(|| panic!("no native count for {cpu} in:\n{stderr}"));
        let count: u64 = native.split(' ').next().unwrap().parse().unwrap();
        assert!(count > 0, "{cpu} ran no native instruction: {native}");
    }
}

#[test]
fn cpus_started_by_sigp_share_storage_with_no_lost_update_as_on_qemu() {
    runs_as_on_qemu("smp", 0);
}

#[test]
fn a_load_never_passes_a_store_across_bcr_14_0_on_another_cpu_as_on_qemu() {
    runs_as_on_qemu("serialize", 0);
}

#[test]
fn a_clock_read_after_another_cpus_read_is_never_below_it_as_on_qemu() {
    runs_as_on_qemu("clock", 0);
}

#[test]
fn remapping_by_csp_and_ipte_reaches_the_other_cpus_before_it_completes_as_on_qemu() {
    runs_as_on_qemu("shootdown", 0);
}
