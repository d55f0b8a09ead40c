//! What the tests that run the bare-metal programs share: building them
//! once with `s390x-linux-gnu-gcc`, telling a skipped check, and whether
//! the kvm engine can run here.

// Each test crate uses part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The programs' sources.
pub const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs");

/// Prints a line the test harness does not capture (a SKIP must
/// be seen in the log of a passing run).
pub fn notice(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether `tool --version` runs.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `--engine kvm` can run here (`/dev/kvm` opens read-write);
/// prints a visible SKIP once where it cannot.
pub fn kvm_usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| {
        if !cfg!(target_arch = "x86_64") {
            return false;
        }
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
        {
            Ok(_) => true,
            Err(e) => {
                notice(&format!("SKIP: --engine kvm: /dev/kvm: {e}"));
                false
            }
        }
    })
}

/// Builds every program once; `None` (and a visible SKIP line) without the
/// cross compiler.
pub fn built() -> Option<&'static Path> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if !have("s390x-linux-gnu-gcc") {
                notice("SKIP: s390x-linux-gnu-gcc is not installed (bash ci/test.sh installs it)");
                return None;
            }
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("programs");
            let build = Command::new("bash")
                .arg(format!("{PROGRAMS}/build.sh"))
                .arg(&out)
                .output()
                .expect("bash runs");
            assert!(
                build.status.success(),
                "building the test programs failed:\n{}",
                String::from_utf8_lossy(&build.stderr)
            );
            Some(out)
        })
        .as_deref()
}

/// Starts `zmmu run --gdb 127.0.0.1:0 --wait-for-gdb ARGS ELF`, its
/// output piped: it waits for a debugger before the guest's first
/// instruction (its first line on stderr says where it listens).
pub fn zmmu_waiting_for_gdb(args: &[&str], elf: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_zmmu"))
        .args(["run", "--gdb", "127.0.0.1:0", "--wait-for-gdb"])
        .args(args)
        .arg(elf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zmmu runs")
}
