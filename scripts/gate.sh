#!/usr/bin/env bash
# The performance gate: runs the quick experiment with a release build and
# judges it against the committed baseline (results/baseline/) with its
# thresholds. Exit 0 pass, 1 a threshold failed, 2 the gate could not judge.
# Usage: scripts/gate.sh [RESULTS_PARENT]     (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked -p authscale-cli --quiet
out=${1:-$(mktemp -d)}
echo "== quick experiment (release build, CPU budgets as in experiments/quick.toml)"
target/release/authscale sweep --config experiments/quick.toml --out "$out" --quiet
run=$(ls -dt "$out"/*-quick | head -1)
echo "== gate against results/baseline"
target/release/authscale gate --baseline results/baseline/run.json --run "$run" --markdown "$run/gate.md"
