#!/usr/bin/env bash
# Installs the x86_64-unknown-none target for a toolchain (default: the
# active one) where it is missing: zmmu-hv-kvm's build script builds the
# in-VM runtime image for it, so every build of the workspace needs it.
# Usage: bash scripts/rust-target.sh [TOOLCHAIN]
set -euo pipefail
toolchain=()
[ $# -gt 0 ] && toolchain=(--toolchain "$1")
if ! rustup target list "${toolchain[@]}" --installed 2>/dev/null | grep -qx x86_64-unknown-none; then
  echo "installing the x86_64-unknown-none target ${1:-}" >&2
  rustup target add "${toolchain[@]}" x86_64-unknown-none >&2
fi
