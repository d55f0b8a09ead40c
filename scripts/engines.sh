#!/usr/bin/env bash
# Runs the example programs of cli/tests/programs on `zmmu run --engine
# interp` and `--engine jit`, best of N runs each, and prints guest MIPS
# (instructions / the run time zmmu reports, start-up excluded), the wall
# time of the whole process, and the jit's speed-up.
#
#   bash scripts/engines.sh [RUNS]      (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
out=target/engines-programs
cargo build --release -q -p zmmu-cli
bash cli/tests/programs/build.sh "$out" >/dev/null
zmmu=target/release/zmmu
best() { # engine program -> "instructions seconds wall"
  local b_s=999999 b_w=999999 n=0
  for _ in $(seq "$runs"); do
    local t0 t1 line s w
    t0=$(date +%s.%N)
    line=$("$zmmu" run --engine "$1" --max-insns 4000000000 "$2" 2>&1 >/dev/null | grep -o '[0-9]* instructions in [0-9.]* s')
    t1=$(date +%s.%N)
    n=${line%% *}
    s=$(echo "$line" | awk '{print $4}')
    w=$(echo "$t1 - $t0" | bc -l)
    b_s=$(echo "if ($s < $b_s) $s else $b_s" | bc -l)
    b_w=$(echo "if ($w < $b_w) $w else $b_w" | bc -l)
  done
  echo "$n $b_s $b_w"
}
printf "%-10s %12s %10s %10s %10s %10s %8s\n" program instructions "interp MIPS" "jit MIPS" "interp s" "jit s" speed-up
for p in sieve sort hash chase memops pagefault stsi remap; do
  read -r n si wi < <(best interp "$out/$p.elf")
  read -r _ sj wj < <(best jit "$out/$p.elf")
  mi=$(echo "$n / $si / 1000000" | bc -l)
  mj=$(echo "$n / $sj / 1000000" | bc -l)
  printf "%-10s %12d %10.1f %10.1f %10.3f %10.3f %7.1fx\n" "$p" "$n" "$mi" "$mj" "$wi" "$wj" "$(echo "$si / $sj" | bc -l)"
done
