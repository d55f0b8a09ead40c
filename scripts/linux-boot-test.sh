#!/usr/bin/env bash
# Boots Debian's s390x kernel with our initramfs (scripts/linux-image.sh)
# under zmmu (--engine jit, the fastest engine here, unless engines are
# named), and under
# qemu-system-s390x where it is installed, each with one CPU and with two
# (--smp 2, QEMU's -smp 2), and checks that /init's results
# (scripts/linux-init.sh) are the expected values (the CPUs counted in
# /proc/cpuinfo and online in /sys among them) and that the run ends with
# exit status 0 (poweroff -f). Each machine also gets a fresh 8 MiB
# ext4 image as a virtio block device (zmmu's --drive,
# QEMU's virtio-blk-ccw): /init mounts it, reads a file, hashes another,
# writes a third and unmounts; the third is then looked for in the image
# (debugfs).
#
# Usage: bash scripts/linux-boot-test.sh [ENGINE...]   (default: jit)
#   Under --engine interp /init runs its workloads on inputs a hundred
#   times smaller (`zmmu.quick` on the kernel command line): the whole
#   boot then takes 4-8 minutes (228-438 s measured) instead of about an
#   hour.
#   ZMMU_FLAGS: more options for zmmu run (e.g. --stats: the engine's
#   counters are printed after the check).
#   SMP: the CPU counts to boot with (default "1 2").
# Takes about 2-5 minutes on 2 cores (most of it the zmmu boots and demos;
# QEMU TCG about 20 s each).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
engines=("${@:-jit}")
read -r -a smps <<<"${SMP:-1 2}"

eval "$(bash "$here/linux-image.sh" | grep -E '^(KERNEL|INITRD)=')"
release="$(basename "$KERNEL")"
release="${release#vmlinuz-}"
append="console=ttysclp0 quiet"

# The expected results, computed here as /init computes them.
chunk="$(mktemp)"
yes 'zmmu s390x memory workload' | head -c 1048576 >"$chunk"
tail_md5="$(cat "$chunk" "$chunk" "$chunk" "$chunk" | md5sum | cut -d' ' -f1)"
rm -f "$chunk"
# The disk image of a run: an 8 MiB ext4 file system holding hello.txt
# and a 1 MiB data.bin.
PATH="$PATH:/usr/sbin:/sbin"
if ! command -v mkfs.ext4 >/dev/null || ! command -v debugfs >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq e2fsprogs >/dev/null
fi
disk="$(mktemp)"
files="$(mktemp -d)"
echo 'zmmu s390x disk' >"$files/hello.txt"
yes 'zmmu s390x disk image' | head -c 1048576 >"$files/data.bin"
disk_md5="$(md5sum <"$files/data.bin" | cut -d' ' -f1)"
fresh_disk() {
  rm -f "$disk"
  truncate -s 8M "$disk"
  mkfs.ext4 -q -F -d "$files" "$disk"
}
# expected N QUICK: the results with N CPUs, with `zmmu.quick` if QUICK
# is 1 (scripts/linux-init.sh: squares of 1..500 or 1..50000, primes
# below 1000 or 10000, 16 or 256 MiB, 30 or 300 processes).
expected() {
  local squares=41667916675000 primes=1229 bytes=268435456 processes=300
  if [ "$2" -eq 1 ]; then
    squares=41791750 primes=168 bytes=16777216 processes=30
  fi
  echo "uname: Linux s390x
release: $release
cpus: $1
online: $([ "$1" -eq 1 ] && echo 0 || echo "0-$(($1 - 1))")
squares: $squares
primes: $primes
memory: $bytes bytes, tail md5 $tail_md5
disk: 16384 sectors
disk file: zmmu s390x disk
disk data md5: $disk_md5
disk: unmounted
processes: $processes"
}

bash "$root/scripts/rust-target.sh"
(cd "$root" && cargo build --release -q -p zmmu-cli) || exit 1
zmmu="$root/target/release/zmmu"

passed=0
failed=0
# check NAME STATUS OUTPUT-FILE CPUS QUICK: the results between the demo
# markers (without the zmmu-time lines) against the expected ones with
# CPUS CPUs (and `zmmu.quick` if QUICK is 1), and status 0.
check() {
  local name=$1 status=$2 out=$3 expected got written=ok
  expected="$(expected "$4" "$5")"
  got="$(tr -d '\r' <"$out" | sed -n '/^zmmu-demo: begin$/,/^zmmu-demo: end$/p' |
    grep -v -e '^zmmu-demo: ' -e '^zmmu-time: ' -e '^\[')"
  grep '^zmmu-time: ' "$out" | tr -d '\r' | sed "s/^/  $name: /"
  if [ "$(debugfs -R 'cat /written.txt' "$disk" 2>/dev/null)" != 'written by /init' ]; then
    written="/written.txt is not in the file system"
  fi
  if [ "$status" -eq 0 ] && [ "$got" = "$expected" ] && [ "$written" = ok ]; then
    echo "ok: $name boots Linux $release, /init's results as expected, exit status 0"
    passed=$((passed + 1))
  else
    echo "FAILED: $name: exit status $status; disk image: $written; results:"
    echo "$got" | sed 's/^/    /'
    echo "  expected:"
    echo "$expected" | sed 's/^/    /'
    echo "  last output lines:"
    tail -n 30 "$out" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# timed NAME COMMAND...: runs COMMAND with its output in $out and its
# status in $status; prints the time from start to /init's first line
# (userland up: the prompt) and to the end (power-off).
timed() {
  local name=$1 start prompt=""
  shift
  start=$(date +%s.%N)
  : >"$out"
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$out"
    if [ -z "$prompt" ] && [[ $line == *"zmmu-demo: begin"* ]]; then
      prompt=$(seconds_since "$start")
    fi
  done < <("$@" </dev/null 2>&1; echo "status=$?")
  status=$(tail -n 1 "$out" | sed -n 's/^status=//p')
  status=${status:-1}
  echo "$name: start to /init $prompt s, to power-off $(seconds_since "$start") s"
}

out="$(mktemp)"
for smp in "${smps[@]}"; do
  for engine in "${engines[@]}"; do
    fresh_disk
    # The kvm engine's boot took 94-118 s on a shared 2-core machine
    # (docs/PERFORMANCE.md, ninth session): about three times that. The
    # interpreter runs /init's workloads on smaller inputs (zmmu.quick).
    quick=0 limit=1200
    case $engine in
      kvm) limit=360 ;;
      interp) quick=1 limit=2400 ;;
    esac
    timed "zmmu --engine $engine --smp $smp" timeout "$limit" "$zmmu" run "$KERNEL" \
      --initrd "$INITRD" --memory 512M --append "$append$([ $quick -eq 1 ] && echo ' zmmu.quick')" \
      --engine "$engine" --smp "$smp" --drive "$disk" ${ZMMU_FLAGS:-}
    check "zmmu --engine $engine --smp $smp" "$status" "$out" "$smp" "$quick"
    grep -a '^stats: ' "$out" | sed 's/^/  /'
  done

  if command -v qemu-system-s390x >/dev/null; then
    fresh_disk
    timed "qemu-system-s390x (TCG) -smp $smp" timeout 600 qemu-system-s390x \
      -M s390-ccw-virtio -cpu qemu -smp "$smp" -nographic -m 512M -kernel "$KERNEL" \
      -initrd "$INITRD" -append "$append" -no-reboot \
      -drive "file=$disk,format=raw,if=none,id=d0" -device virtio-blk-ccw,drive=d0
    check "qemu-system-s390x -smp $smp" "$status" "$out" "$smp" 0
  else
    echo "SKIP: qemu-system-s390x is not installed: no comparison with QEMU"
  fi
done
rm -rf "$out" "$disk" "$files"

echo "linux-boot: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
