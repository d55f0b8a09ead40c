#!/usr/bin/env bash
# ThreadSanitizer over zmmu's synchronization core (the configuration of
# CPUs, SIGP, global invalidation, gdb's all-stop and the kick): `zmmu run`
# built with -Zsanitizer=thread (nightly, std rebuilt instrumented) runs the
# multi-CPU test programs with four CPUs on every engine; any data race
# report fails. Translated code is not instrumented (TSan sees the Rust
# side of every engine, not the guest's own accesses).
# Usage: bash ci/tsan.sh     (ci/test.sh runs it)
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { echo "SKIP: ThreadSanitizer: $*"; exit 0; }
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal >/dev/null 2>&1 ||
    skip "no nightly toolchain, and rustup could not install one"
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain nightly >/dev/null 2>&1 ||
    skip "the nightly toolchain's rust-src could not be installed (std is rebuilt instrumented)"
fi

bash scripts/rust-target.sh nightly ||
  skip "the nightly toolchain's x86_64-unknown-none target could not be installed (the in-VM runtime image)"

TARGET=${TSAN_TARGET_DIR:-target/tsan}
RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=$TARGET \
  cargo +nightly build -q --release -Zbuild-std --target x86_64-unknown-linux-gnu -p zmmu-cli
ZMMU=$TARGET/x86_64-unknown-linux-gnu/release/zmmu
PROGRAMS=$TARGET/programs
bash cli/tests/programs/build.sh "$PROGRAMS" 1 >/dev/null

engines=(interp jit)
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  engines+=(kvm)
else
  echo "SKIP: ThreadSanitizer on --engine kvm: /dev/kvm is not usable here"
fi
failed=0
for engine in "${engines[@]}"; do
  for program in smp shootdown; do
    log=$TARGET/$engine-$program.log
    status=0
    TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
      "$ZMMU" run --engine "$engine" --smp 4 "$PROGRAMS/$program.elf" >"$log" 2>&1 || status=$?
    races=$(grep -c 'WARNING: ThreadSanitizer' "$log" || true)
    if [ "$status" -ne 0 ] || [ "$races" -ne 0 ]; then
      echo "FAIL: $engine $program: exit status $status, $races ThreadSanitizer reports ($log)"
      failed=1
    else
      echo "ok: $engine $program with 4 CPUs, no data race reported"
    fi
  done
done
exit $failed
