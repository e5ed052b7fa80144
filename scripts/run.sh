#!/usr/bin/env bash
# Quick start: installs what is missing, builds authscale (release), and
# runs the default sweep (experiments/default.toml: session vs token,
# N = 1..8 nodes on CPU budgets; its wall time on 2 cores is the `default`
# row of results/examples/times.tsv). The results
# folder gets run.json, summary.csv, report.md and SVG charts.
# Usage: scripts/run.sh [authscale sweep options]   e.g. --config experiments/store-x3.toml
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== building authscale (release)"
cargo build --release --locked -p authscale-cli --quiet
echo "== authscale sweep $*"
exec target/release/authscale sweep "$@"
