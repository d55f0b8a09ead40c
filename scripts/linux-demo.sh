#!/usr/bin/env bash
# The README's main job: fetches what is missing (Debian's s390x kernel and
# busybox, the initramfs: scripts/linux-image.sh; zmmu itself), then boots
# Linux under zmmu. /init runs a short demo (uname, a compute, a memory and
# a process workload, with each phase's time); on a terminal a shell
# follows (leave it with `poweroff -f`, or Ctrl-A x), otherwise the guest
# powers off. The engine and the time taken are printed at the end.
#
# Usage: bash scripts/linux-demo.sh [--engine interp|jit] [zmmu run options]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."

eval "$(bash "$here/linux-image.sh" | grep -E '^(KERNEL|INITRD)=')"
bash "$here/rust-target.sh"
(cd "$root" && cargo build --release -q -p zmmu-cli)

engine=jit
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine="$2"; shift 2 ;;
    --engine=*) engine="${1#--engine=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
append="console=ttysclp0 quiet"
if [ -t 0 ]; then
  append="$append zmmu.shell"
fi

echo "zmmu: booting $(basename "$KERNEL") with $(basename "$INITRD") on the $engine engine" >&2
start=$(date +%s.%N)
status=0
"$root/target/release/zmmu" run "$KERNEL" --initrd "$INITRD" --memory 512M \
  --append "$append" --engine "$engine" "${args[@]}" || status=$?
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" -v e="$engine" -v s="$status" \
  'BEGIN { printf "zmmu: Linux ran on the %s engine for %.1f s, exit status %d\n", e, b - a, s }' >&2
exit "$status"
