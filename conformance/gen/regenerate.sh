#!/bin/sh
# Regenerates the committed DAT conformance vectors (conformance/vectors/*.jsonl)
# and the coverage table in conformance/vectors/README.md. Installs the Debian
# packages it needs when they are missing.
set -eu
cd "$(dirname "$0")/../.."

missing=""
command -v s390x-linux-gnu-gcc >/dev/null 2>&1 || missing="$missing gcc-s390x-linux-gnu"
command -v s390x-linux-gnu-objcopy >/dev/null 2>&1 || missing="$missing binutils-s390x-linux-gnu"
command -v qemu-system-s390x >/dev/null 2>&1 || missing="$missing qemu-system-misc"
command -v hercules >/dev/null 2>&1 || missing="$missing hercules"
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    # shellcheck disable=SC2086
    $sudo apt-get install -y $missing
fi

vecgen() {
    cargo run --release -q -p zmmu-conformance --bin zmmu-vecgen -- "$@"
}

out=conformance/vectors
vecgen record --reference qemu --seed 1 --scenarios 400 --out "$out/qemu-seed1.jsonl"
vecgen record --reference hercules --seed 1 --scenarios 400 --out "$out/hercules-seed1.jsonl"
vecgen record --reference qemu --seed 1 --scenarios 300 --format 2 --out "$out/qemu-v2-seed1.jsonl"
vecgen record --reference hercules --seed 1 --scenarios 300 --format 2 --out "$out/hercules-v2-seed1.jsonl"

# Replace the text between each pair of coverage markers of the README
# (format 1: coverage:begin/end, format 2: coverage-v2:begin/end).
table=$(mktemp)
trap 'rm -f "$table"' EXIT
replace() {
    marker=$1
    shift
    vecgen coverage "$@" >"$table"
    awk -v table="$table" -v begin="<!-- $marker:begin -->" -v end="<!-- $marker:end -->" '
        $0 == begin { print; while ((getline line < table) > 0) print line; close(table); skip = 1; next }
        $0 == end { skip = 0 }
        !skip { print }
    ' "$out/README.md" >"$out/README.md.new"
    mv "$out/README.md.new" "$out/README.md"
}
replace coverage "$out/qemu-seed1.jsonl" "$out/hercules-seed1.jsonl"
replace coverage-v2 "$out/qemu-v2-seed1.jsonl" "$out/hercules-v2-seed1.jsonl"
