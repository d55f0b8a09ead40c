#!/usr/bin/env bash
# Builds the bare-metal test programs into OUT (default ./build).
# Usage: bash cli/tests/programs/build.sh [OUT [SCALE]]
#   SCALE multiplies the problem sizes (1 for the tests, 4 for the benchmark).
#   S390_CC overrides the compiler (default s390x-linux-gnu-gcc).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-build}
scale=${2:-1}
cc=${S390_CC:-s390x-linux-gnu-gcc}
mkdir -p "$out"
programs=(hello sieve sort hash chase memops bytesum faults spaces crossspace remap pagefault keys svc stsi debugee smp shootdown serialize clock)
# NAME=SOURCE:FLAGS: a program built from another's source with extra flags
# (the benchmark's pointer chase over 64 MiB and 512 MiB).
variants=(chase64=chase:-DCHASE_MIB=64 chase512=chase:-DCHASE_MIB=512)
build() { # build NAME SOURCE [FLAGS...]
  local name=$1 source=$2
  shift 2
  "$cc" -O2 -g -march=z196 -ffreestanding -nostdlib -static -fno-pic -no-pie \
    -fno-builtin -fno-tree-loop-distribute-patterns -fno-stack-protector \
    -fno-asynchronous-unwind-tables -Wall -Wno-array-bounds -Wno-stringop-overflow \
    -DSCALE="$scale" "$@" \
    -Wl,-T,"$here/link.ld" -Wl,--build-id=none -Wl,-z,norelro -Wl,--no-warn-rwx-segments \
    -o "$out/$name.elf" "$here/start.S" "$here/rt.c" "$here/$source.c" -lgcc
}
for p in "${programs[@]}"; do
  build "$p" "$p"
done
for v in "${variants[@]}"; do
  name=${v%%=*} rest=${v#*=}
  build "$name" "${rest%%:*}" "${rest#*:}"
done
