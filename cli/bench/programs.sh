#!/usr/bin/env bash
# Side-by-side times of the bare-metal test programs on `zmmu run --engine
# interp`, `zmmu run --engine jit`, `zmmu run --engine kvm` (where
# /dev/kvm is usable; "-" otherwise) and qemu-system-s390x (TCG), whole
# processes including start-up, as a Markdown table for docs/PERFORMANCE.md,
# and a plot of it (SVG, gnuplot).
#
# Usage: bash cli/bench/programs.sh [SCALE [RUNS]]
#   SCALE multiplies the problem sizes (default 4; the tests use 1),
#   RUNS is the number of runs per cell, of which the median is shown
#   (default 3). Needs s390x-linux-gnu-gcc and qemu-system-s390x.
#   chase64 and chase512 chase pointers over 64 MiB and 512 MiB (whatever
#   SCALE; 1 GiB of storage); the interpreter runs them once (minutes).
#   BENCH_PROGRAMS="hello sieve ..." runs only those.
#   Where KUT_DIR points to a built kvm-unit-tests tree, its s390x `sieve`
#   is a row too (7.4 billion instructions: not on the interpreter).
#   The plot goes to PLOT (default $TARGET/bench-programs-SCALE/programs.svg);
#   gnuplot is installed with apt-get where it is missing and we are root,
#   else the plot is skipped with a line saying so.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALE=${1:-4}
RUNS=${2:-3}
read -r -a PROGRAMS <<<"${BENCH_PROGRAMS:-hello sieve sort hash chase chase64 chase512 memops bytesum faults spaces remap pagefault keys svc}"
TARGET=${CARGO_TARGET_DIR:-target}
case $TARGET in /*) ;; *) TARGET=$PWD/$TARGET ;; esac
OUT=$TARGET/bench-programs-$SCALE
PLOT=${PLOT:-$OUT/programs.svg}
bash cli/tests/programs/build.sh "$OUT" "$SCALE"
cargo build -q --release -p zmmu-cli
ZMMU=$TARGET/release/zmmu

# "wall cpu": the median wall seconds and the median CPU seconds (user +
# system, which the other processes on a shared machine do not inflate) of
# N runs of "$@".
median() { # median N CMD...
  python3 - "$@" <<'PY'
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
ROWS=()
for p in "${PROGRAMS[@]}"; do ROWS+=("$p=$OUT/$p.elf"); done
if [ -n "${KUT_DIR:-}" ]; then
  if [ -f "$KUT_DIR/s390x/sieve.elf" ]; then
    ROWS+=("kut-sieve=$KUT_DIR/s390x/sieve.elf")
  else
    echo "programs.sh: no kut-sieve row: $KUT_DIR/s390x/sieve.elf is missing (build kvm-unit-tests there)" >&2
  fi
fi
DATA=$OUT/programs.dat
echo "# program interp-MIPS jit-MIPS qemu-MIPS (guest instructions per CPU second)" >"$DATA"
echo "| program | instructions | interp CPU (s) | jit CPU (s) | qemu CPU (s) | jit wall (s) | qemu wall (s) | jit MIPS (CPU) | jit / interp | qemu / jit (CPU) | kvm wall (s) | kvm MIPS (wall) | kvm exits |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
  p=${row%%=*} elf=${row#*=}
  mem=128M interp_runs=$RUNS
  case $p in
    chase64 | chase512) mem=1G interp_runs=1 ;;
    kut-sieve) interp_runs=0 ;;
  esac
  insns=$( ("$ZMMU" run --memory "$mem" "$elf" 2>&1 >/dev/null || true) | sed -n "s/.*; \([0-9]*\) instructions in.*/\1/p")
  ic=- ratio=- imips=?
  if [ "$interp_runs" -gt 0 ]; then
    read -r _ ic < <(median "$interp_runs" "$ZMMU" run --memory "$mem" --engine interp "$elf")
    imips=$(echo "$insns / $ic / 1000000" | bc -l)
  fi
  read -r jw jc < <(median "$RUNS" "$ZMMU" run --memory "$mem" --engine jit "$elf")
  read -r qw qc < <(median "$RUNS" qemu-system-s390x -nodefaults -nographic \
    -machine s390-ccw-virtio,accel=tcg -cpu max -m "$mem" -chardev stdio,id=con0 \
    -device sclpconsole,chardev=con0 -kernel "$elf")
  if [ "$ic" != - ]; then
    ratio=$(printf '%.1fx' "$(echo "$ic / $jc" | bc -l)")
    ic=$(printf '%.3f' "$ic")
  fi
  kw=- kmips=- kexits=-
  if [ $KVM = yes ]; then
    # The VM's time is wall time (the vCPU's CPU time is the host kernel's).
    read -r kw _ < <(median "$RUNS" "$ZMMU" run --memory "$mem" --engine kvm "$elf")
    kmips=$(printf '%.1f' "$(echo "$insns / $kw / 1000000" | bc -l)")
    kexits=$( ("$ZMMU" run --memory "$mem" --engine kvm --stats "$elf" 2>&1 >/dev/null || true) | sed -n 's/.*VM exits \([0-9]*\).*/\1/p')
  fi
  printf '| %s | %s | %s | %.3f | %.3f | %.3f | %.3f | %.0f | %s | %.2f | %s | %s | %s |\n' "$p" "$insns" \
    "$ic" "$jc" "$qc" "$jw" "$qw" "$(echo "$insns / $jc / 1000000" | bc -l)" \
    "$ratio" "$(echo "$qc / $jc" | bc -l)" "$kw" "$kmips" "$kexits"
  echo "$p $imips $(echo "$insns / $jc / 1000000" | bc -l) $(echo "$insns / $qc / 1000000" | bc -l)" >>"$DATA"
done

# The plot: guest MIPS per CPU second of each engine, per program (QEMU's
# counted as zmmu counts the same program's instructions), log scale.
# gnuplot: packaged everywhere, writes SVG itself, and needs no Python
# stack; a missing tool costs the plot, never the table.
if ! command -v gnuplot >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 || true
fi
if command -v gnuplot >/dev/null; then
  gnuplot <<GP
set terminal svg size 1200,480 dynamic font "sans,11"
set output "$PLOT"
set title "Guest instructions per CPU second (millions, log scale), SCALE=$SCALE, median of $RUNS"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [1:5000]
set bmargin 3
set ylabel "MIPS (CPU)"
set xtics scale 0 nomirror
set key top left
set datafile missing "?"
plot "$DATA" using 2:xtic(1) title "zmmu --engine interp", \
     "" using 3 title "zmmu --engine jit", \
     "" using 4 title "QEMU TCG"
GP
  echo "programs.sh: plot written to $PLOT" >&2
else
  echo "programs.sh: no plot: gnuplot is not installed (apt-get install gnuplot-nox)" >&2
fi
