#!/usr/bin/env bash
# The full check: formatting, lints, the performance gate (a quick sweep
# against the committed baseline), the benchmarks in test mode, and every
# test (real redis-server processes are started by the tests themselves on
# free loopback ports).
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== performance gate: the quick experiment against results/baseline"
scripts/gate.sh

echo "== benchmarks in test mode (each runs once: they must keep working)"
cargo test --locked -p authscale-bench --benches

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
