#!/usr/bin/env bash
# Runs Pluto's whole test suite on a fresh machine: installs what the tests need, then runs them.
#
#   bash tests/run.sh                 # everything
#   bash tests/run.sh -p pluto-paf    # extra arguments go to `cargo test`
#
# Needs only rustup (https://rustup.rs); the toolchain, its components and the wasm32-wasip2
# target come from rust-toolchain.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found: install rustup from https://rustup.rs, then run this again" >&2
  exit 2
fi
# Installs the pinned toolchain with its components and targets (instant when present).
if command -v rustup >/dev/null; then
  rustup toolchain install >/dev/null
fi

cargo test --workspace --locked "$@"
