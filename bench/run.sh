#!/usr/bin/env bash
# The benchmark of issue 6 in one command: builds the harness in release, then runs swoft-ws and
# the raw axum baseline alternately (3 repetitions of every figure) and prints the table.
#   bash bench/run.sh                 # the full run (a few minutes)
#   bash bench/run.sh --smoke         # ~1 s per mode, tiny counts, asserts nothing about speed
#   bash bench/run.sh all --only raw,json --reps 5 --out /tmp/table.md
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p swoft-ws-bench --bins
if [ "$#" -eq 0 ]; then set -- all; fi
exec "${CARGO_TARGET_DIR:-target}/release/bench" "$@"
