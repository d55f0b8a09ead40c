#!/bin/bash
# Boots the Linux image (scripts/linux-image.sh) on the kvm engine under
# `perf stat` with KVM's tracepoints, and prints what the host kernel did
# for the VM: instructions it emulated (on PVM every CPL0 instruction of
# the runtime's handlers, docs/CHOICES.md 84), exits to user space (zmmu's
# exits), exceptions injected (the #BP and #PF traps into the handlers),
# and shadow PTEs it set (PVM's own shadow paging of our tables).
#
# Usage: scripts/linux-kvm-traps.sh [ZMMU]
#   ZMMU    the binary (default target/release/zmmu)
# Needs perf and access to the kvm tracepoints (root, or
# kernel.perf_event_paranoid <= -1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
zmmu=$(realpath "${1:-$root/target/release/zmmu}")
linux=$root/target/linux
[ -d "$linux/kernel" ] || bash "$root/scripts/linux-image.sh"
command -v perf >/dev/null || { echo "linux-kvm-traps: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
events=kvm:kvm_emulate_insn,kvm:kvm_userspace_exit,kvm:kvm_inj_exception,kvmmmu:kvm_mmu_set_spte
stat=$(mktemp)
err=$(mktemp)
trap 'rm -f "$stat" "$err"' EXIT
cd "$linux"
# perf's own warnings and zmmu's stderr go to $err, shown if the run fails.
perf stat -x, -e "$events" -o "$stat" "$zmmu" run kernel/boot/vmlinuz-* --initrd initramfs.cpio.gz \
  --memory 512M --append "console=ttysclp0 quiet" --engine kvm </dev/null 2>"$err" |
  grep 'zmmu-time:' || { cat "$err" >&2; exit 1; }
awk -F, '/^[0-9]/ { n[$3] = $1 }
  END {
    exits = n["kvm:kvm_userspace_exit"]
    printf "emulated instructions %d (%.1f per exit)\n", n["kvm:kvm_emulate_insn"], n["kvm:kvm_emulate_insn"] / exits
    printf "exits to user space %d\n", exits
    printf "exceptions injected %d\n", n["kvm:kvm_inj_exception"]
    printf "shadow PTEs set by the host kernel %d\n", n["kvmmmu:kvm_mmu_set_spte"]
  }' "$stat"
