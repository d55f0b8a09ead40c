#!/bin/bash
# Boots the Linux image (scripts/linux-image.sh) under `zmmu run --stats`
# and asks for the counters at each phase line /init prints (SIGUSR1 at
# every `zmmu-time:` line): where the exits of each phase go.
#
# Usage: scripts/linux-phase-stats.sh [ZMMU] [ENGINE] [OUT]
#   ZMMU    the binary (default target/release/zmmu)
#   ENGINE  kvm, jit or interp (default kvm)
#   OUT     the output prefix (default target/phase-stats): OUT.out is the
#           console, OUT.err the counters after each phase, then the run's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
zmmu=$(realpath "${1:-$root/target/release/zmmu}")
engine=${2:-kvm}
out=$(realpath -m "${3:-$root/target/phase-stats}")
linux=$root/target/linux
[ -d "$linux/kernel" ] || bash "$root/scripts/linux-image.sh"
: >"$out.out"
cd "$linux"
coproc ZMMU { exec "$zmmu" run kernel/boot/vmlinuz-* --initrd initramfs.cpio.gz \
  --memory 512M --append "console=ttysclp0 quiet" --engine "$engine" --stats \
  </dev/null 2>"$out.err"; }
pid=$ZMMU_PID
while IFS= read -r line <&"${ZMMU[0]}"; do
  echo "$line" >>"$out.out"
  case "$line" in *zmmu-time:*) kill -USR1 "$pid" ;; esac
done
wait "$pid"
grep 'zmmu-time:' "$out.out"
