#!/usr/bin/env bash
# zmmu's test command: installs what the tests need, then runs every check.
# Usage: bash ci/test.sh        (the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Debian packages the tests use: the s390x cross compiler and binutils (test
# programs, the reference decoder) and qemu-user (differential testing).
need_pkgs=()
command -v s390x-linux-gnu-gcc >/dev/null || need_pkgs+=(gcc-s390x-linux-gnu)
command -v gdb-multiarch >/dev/null || need_pkgs+=(gdb-multiarch)
command -v s390x-linux-gnu-objdump >/dev/null || need_pkgs+=(binutils-s390x-linux-gnu)
command -v qemu-s390x >/dev/null || need_pkgs+=(qemu-user)
command -v qemu-system-s390x >/dev/null || need_pkgs+=(qemu-system-misc)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "installing ${need_pkgs[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

bash scripts/rust-target.sh
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "the core crates build no_std for x86_64-unknown-none"
cargo build -p zmmu-mmu -p zmmu-cpu --target x86_64-unknown-none --no-default-features
cargo build -p zmmu-mmu -p zmmu-cpu -p zmmu-translator -p zmmu-machine --target x86_64-unknown-none

step "the in-VM runtime image (built by hv-kvm/build.rs) passes clippy for x86_64-unknown-none"
cargo clippy -p zmmu-vm-runtime --lib --bin zmmu-vm-runtime --features image --target x86_64-unknown-none -- -D warnings

step "the documentation builds without broken links"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace -q

step "no module cycles inside any crate"
python3 ci/module-cycles.py --all

step "the core crates' tests in debug (what a plain \`cargo test\` runs)"
cargo test -p zmmu-mmu -p zmmu-cpu -p zmmu-machine

step "all tests (release: the model and differential tests run many steps)"
cargo test --workspace --release

step "ThreadSanitizer: zmmu run --smp 4 on every engine (nightly, std rebuilt instrumented; 3-5 minutes)"
bash ci/tsan.sh

step "conformance: every committed vector (formats 1 and 2) through every backend available here (kvm: every 4th scenario)"
cargo run --release -p zmmu-conformance -- run --backend all --kvm-sample 4

step "conformance: the committed vectors as s390x programs under zmmu run, every engine (interp, jit, kvm; every 4th scenario)"
cargo build --release -p zmmu-cli
cargo run --release -p zmmu-conformance -- run --engine all --engine-sample 4

step "Linux: Debian's s390x kernel and a busybox initramfs boot under zmmu (jit) and QEMU, with one CPU and with two, with the expected results (2-5 minutes)"
bash scripts/linux-boot-test.sh

step "Linux on the other engines, one CPU: interp (/init's workloads a hundred times smaller, 4-8 minutes) and kvm (4-10 minutes)"
engines=(interp)
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  engines+=(kvm)
else
  echo "SKIP: /dev/kvm is missing or not usable here: no Linux boot on --engine kvm"
fi
SMP=1 bash scripts/linux-boot-test.sh "${engines[@]}"
