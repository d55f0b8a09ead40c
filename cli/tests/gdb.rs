//! `zmmu run --gdb` driven by `gdb-multiarch` in batch mode, on every
//! engine, against `tests/programs/debugee.c`: break at a symbol, continue,
//! read registers and variables through DAT, step into a page fault and
//! out of its handler, stop where a store changes a watched variable,
//! write a variable and continue to the changed output, detach (the guest
//! runs on to its end); and with two CPUs (`tests/programs/smp.c`, where
//! CPU 0 starts CPU 1): one gdb thread per CPU, stopped and resumed
//! together.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command};

mod common;
use common::{built, have, kvm_usable, notice, zmmu_waiting_for_gdb};

/// The session, as gdb reads it (`PORT` and `ELF` filled in).
const SCRIPT: &str = r#"set architecture s390:64-bit
set confirm off
set pagination off
file ELF
target remote 127.0.0.1:PORT
python
try:
    gdb.execute('x/gx 0x10000000')
except gdb.MemoryError as e:
    print('unmapped:', e)
end
break *touch
continue
printf "at touch %d\n", $pc == (long)&touch
stepi
printf "segment fault handler %d\n", $pc == (long)&rt_program_entry
printf "program old PSW at touch %d\n", *(long *)0x158 == (long)&touch
watch faults
continue
delete 2
continue
stepi
printf "page fault handler %d\n", $pc == (long)&rt_program_entry
continue
stepi
printf "loaded %x, pc past the load %d\n", $r2, $pc == (long)&touch + 6
x/gx 0x10000000
monitor translate 0x10000000
printf "secret %d, faults %d\n", secret, faults
set var secret = 1234
info registers pswm r15 acr0 fpc f0 cr0
break report
continue
printf "report gets %d\n", $r2
monitor read real 0x1d0 16
detach
"#;

/// Starts `zmmu run --gdb 127.0.0.1:0 --wait-for-gdb` on `engine` (and `more`) and
/// returns it with the port it listens on (from its first line on stderr).
fn listening_zmmu(elf: &Path, engine: &str, more: &[&str]) -> (Child, u16) {
    let args = [&["--engine", engine], more, &["--max-insns", "100000000"]].concat();
    let mut child = zmmu_waiting_for_gdb(&args, elf);
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.as_mut().expect("piped"));
    stderr
        .read_line(&mut line)
        .expect("zmmu says where it listens");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in `{line}`"));
    (child, port)
}

/// What gdb said in one session, and how the guest ended, on one engine.
struct Session {
    engine: &'static str,
    said: String,
    guest: std::process::Output,
}

/// Runs `gdb-multiarch -batch` with `script` (PORT and ELF filled in)
/// against `zmmu run --gdb PORT --wait-for-gdb PROGRAM more`, once per
/// engine with a gdb stub; none after a SKIP line where the test
/// programs or gdb-multiarch are missing.
fn sessions(program: &str, script: &str, more: &[&str]) -> Vec<Session> {
    let Some(dir) = built() else {
        return Vec::new();
    };
    if !have("gdb-multiarch") {
        notice("SKIP: gdb-multiarch is not installed (bash ci/test.sh installs it)");
        return Vec::new();
    }
    let elf = dir.join(program);
    let engines: &[&'static str] = if cfg!(target_arch = "x86_64") {
        &["interp", "jit"]
    } else {
        &["interp"]
    };
    let kvm = kvm_usable().then_some("kvm");
    let mut out = Vec::new();
    for engine in engines.iter().copied().chain(kvm) {
        let (child, port) = listening_zmmu(&elf, engine, more);
        let script = script
            .replace("PORT", &port.to_string())
            .replace("ELF", &elf.display().to_string());
        let file = dir.join(format!("{program}-session-{engine}.gdb"));
        std::fs::write(&file, script).unwrap();
        let gdb = Command::new("timeout")
            .args(["120", "gdb-multiarch", "-batch", "-nx", "-x"])
            .arg(&file)
            .output()
            .expect("gdb runs");
        let said = String::from_utf8_lossy(&gdb.stdout).into_owned()
            + &String::from_utf8_lossy(&gdb.stderr);
        let guest = child.wait_with_output().expect("zmmu ends");
        out.push(Session {
            engine,
            said,
            guest,
        });
    }
    out
}

#[test]
fn gdb_breaks_steps_through_a_page_fault_reads_and_writes_through_dat_on_every_engine() {
    for Session {
        engine,
        said,
        guest,
    } in sessions("debugee.elf", SCRIPT, &[])
    {
        let console = String::from_utf8_lossy(&guest.stdout);
        for expected in [
            "unmapped: Cannot access memory at address 0x10000000",
            "Breakpoint 1, touch (p=p@entry=0x10000000)",
            "at touch 1",
            "segment fault handler 1",
            "program old PSW at touch 1",
            "Hardware watchpoint 2: faults",
            "Old value = 0\nNew value = 1",
            "page fault handler 1",
            "loaded 5a4d4d55, pc past the load 1",
            "0x10000000:\t0x000000005a4d4d55",
            "logical 0x10000000 -> absolute 0x1000000",
            "secret 42, faults 2",
            "pswm           0x400100180000000",
            "report gets 1234",
            "00000000000001d0: 04 00 00 01 80 00 00 00 00 00 00 00 00 02 00 a2",
            "[Inferior 1 (process 1) detached]",
        ] {
            assert!(
                said.contains(expected),
                "--engine {engine}: gdb did not say `{expected}`:\n{said}"
            );
        }
        assert_eq!(
            console, "faults 2, read 5a4d4d55\nsecret 1234\n",
            "--engine {engine}"
        );
        assert_eq!(guest.status.code(), Some(0), "--engine {engine}");
    }
}

/// The two-CPU session: `secondary` is the code CPU 1 runs once CPU 0
/// started it (SIGP RESTART), while CPU 0 is inside its SIGP.
const SMP_SCRIPT: &str = r#"set architecture s390:64-bit
set confirm off
set pagination off
file ELF
target remote 127.0.0.1:PORT
break secondary
continue
info threads
printf "stopped in secondary %d\n", $pc == (long)&secondary
thread 1
printf "cpu 0 elsewhere %d\n", $pc != (long)&secondary
set $cpu0_r15 = $r15
thread 2
printf "each cpu its own stack %d\n", $r15 != $cpu0_r15
stepi
printf "cpu 1 stepped %d\n", $pc > (long)&secondary
delete
continue
"#;

#[test]
fn gdb_sees_one_thread_per_cpu_stopped_and_resumed_together() {
    for Session {
        engine,
        said,
        guest,
    } in sessions("smp.elf", SMP_SCRIPT, &["--smp", "2"])
    {
        for expected in [
            "Thread 2 hit Breakpoint 1, secondary ()",
            "Thread 1.1 (CPU 0 Running)",
            "Thread 1.2 (CPU 1 Running)",
            "stopped in secondary 1",
            "cpu 0 elsewhere 1",
            "each cpu its own stack 1",
            "cpu 1 stepped 1",
            "[Inferior 1 (process 1) exited normally]",
        ] {
            assert!(
                said.contains(expected),
                "--engine {engine}: gdb did not say `{expected}`:\n{said}"
            );
        }
        let console = String::from_utf8_lossy(&guest.stdout);
        assert!(
            console.contains("locked counter exact"),
            "--engine {engine}: {console}"
        );
        assert_eq!(guest.status.code(), Some(0), "--engine {engine}");
    }
}
