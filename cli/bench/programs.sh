#!/usr/bin/env bash
# Side-by-side times of the bare-metal test programs on `zmmu run --engine
# interp`, `zmmu run --engine jit`, `zmmu run --engine kvm` (where
# /dev/kvm is usable; "-" otherwise) and qemu-system-s390x (TCG), whole
# processes including start-up, as a Markdown table for docs/PERFORMANCE.md.
#
# Usage: bash cli/bench/programs.sh [SCALE [RUNS]]
#   SCALE multiplies the problem sizes (default 4; the tests use 1),
#   RUNS is the number of runs per cell, of which the median is shown
#   (default 3). Needs s390x-linux-gnu-gcc and qemu-system-s390x.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALE=${1:-4}
RUNS=${2:-3}
PROGRAMS=(hello sieve sort hash chase memops spaces remap pagefault keys svc)
TARGET=${CARGO_TARGET_DIR:-target}
case $TARGET in /*) ;; *) TARGET=$PWD/$TARGET ;; esac
OUT=$TARGET/bench-programs-$SCALE
bash cli/tests/programs/build.sh "$OUT" "$SCALE"
cargo build -q --release -p zmmu-cli
ZMMU=$TARGET/release/zmmu

# "wall cpu": the median wall seconds and the median CPU seconds (user +
# system, which the other processes on a shared machine do not inflate) of
# RUNS runs of "$@".
median() {
  python3 - "$RUNS" "$@" <<'PY'
import resource, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
walls, cpus = [], []
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    walls.append(time.monotonic() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
mid = lambda v: sorted(v)[len(v) // 2]
print(f"{mid(walls):.3f} {mid(cpus):.3f}")
PY
}

KVM=no
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then KVM=yes; fi
echo "| program | instructions | interp CPU (s) | jit CPU (s) | qemu CPU (s) | jit wall (s) | qemu wall (s) | jit MIPS (CPU) | jit / interp | qemu / jit (CPU) | kvm wall (s) | kvm MIPS (wall) | kvm exits |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for p in "${PROGRAMS[@]}"; do
  elf="$OUT/$p.elf"
  insns=$( ("$ZMMU" run "$elf" 2>&1 >/dev/null || true) | sed -n "s/.*; \([0-9]*\) instructions in.*/\1/p")
  read -r _ ic < <(median "$ZMMU" run --engine interp "$elf")
  read -r jw jc < <(median "$ZMMU" run --engine jit "$elf")
  read -r qw qc < <(median qemu-system-s390x -nodefaults -nographic \
    -machine s390-ccw-virtio,accel=tcg -cpu max -m 128M -chardev stdio,id=con0 \
    -device sclpconsole,chardev=con0 -kernel "$elf")
  kw=- kmips=- kexits=-
  if [ $KVM = yes ]; then
    # The VM's time is wall time (the vCPU's CPU time is the host kernel's).
    read -r kw _ < <(median "$ZMMU" run --engine kvm "$elf")
    kmips=$(printf '%.1f' "$(echo "$insns / $kw / 1000000" | bc -l)")
    kexits=$( ("$ZMMU" run --engine kvm --stats "$elf" 2>&1 >/dev/null || true) | sed -n 's/.*VM exits \([0-9]*\).*/\1/p')
  fi
  printf '| %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.0f | %.1fx | %.2f | %s | %s | %s |\n' "$p" "$insns" \
    "$ic" "$jc" "$qc" "$jw" "$qw" "$(echo "$insns / $jc / 1000000" | bc -l)" \
    "$(echo "$ic / $jc" | bc -l)" "$(echo "$qc / $jc" | bc -l)" "$kw" "$kmips" "$kexits"
done
