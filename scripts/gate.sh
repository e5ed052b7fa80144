#!/usr/bin/env bash
# The performance gate, three layers, all judged even when one fails:
#   1. instructions per hot-path operation under callgrind against
#      results/baseline/instructions.toml (deterministic);
#   2. A/B: this build (B) against the commit it starts from (A: the
#      parent, or the merge base with AB_BASE), side by side in alternating
#      slices, rounds to a precision, skipped when no node code differs;
#      fails when a figure's whole 95% interval of B/A lies beyond its
#      bound, and cannot judge (2) when the day's noise hid +10% (statistical);
#   3. the quick experiment against results/baseline/run.json with its
#      thresholds (coarse: catches only large regressions).
# Exit 1 if any layer failed, else 2 if any could not judge, else 0.
# Usage: scripts/gate.sh [RESULTS_PARENT]     (default: a temporary folder)
# Environment: GATE_SUMMARY=FILE appends every layer's Markdown to FILE
# (e.g. $GITHUB_STEP_SUMMARY); AB_A_BIN=PATH uses a ready binary as side A;
# AB_BASE=REF compares against where this change left REF (for a pushed
# range, the commit before the push) instead of the parent commit.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || exit 2
cargo build --release --locked -p authscale-cli --quiet || exit 2
out=${1:-$(mktemp -d)}
mkdir -p "$out"
# This build's binary, kept aside: building the A/B baseline revision in
# the shared target folder (its dependencies are this build's, so only
# the workspace's crates compile) leaves that revision's binary in
# target/release.
head="$(mktemp -d)/authscale"
cp target/release/authscale "$head"
summary=${GATE_SUMMARY:-$out/gate-summary.md}
codes=()

echo "== 1. instructions per operation against results/baseline/instructions.toml"
started=$SECONDS
scripts/gate-instructions.sh --markdown "$out/instructions.md"
codes+=($?)
echo "== 1. instructions: $((SECONDS - started)) s"
[ -f "$out/instructions.md" ] && cat "$out/instructions.md" >>"$summary"

echo "== 2. A/B: this build against the commit it starts from (results/baseline/ab.toml)"
started=$SECONDS
# Side A: AB_A_BIN (a ready binary), else the merge base with AB_BASE
# (e.g. the commit before a push, or origin/main), else the parent commit.
# When no node code differs from side A, ab says so and measures nothing.
if [ -n "${AB_A_BIN:-}" ]; then
    side_a=(--a-bin "$AB_A_BIN")
else
    side_a=(--a-base "${AB_BASE:-HEAD^}")
fi
rm -f "$out/ab.md" "$out/ab.json"
"$head" ab "${side_a[@]}" --gate results/baseline/ab.toml --build-target-dir target \
    --markdown "$out/ab.md" --json "$out/ab.json"
code=$?
echo "== 2. A/B: $((SECONDS - started)) s"
codes+=($code)
[ -f "$out/ab.md" ] && cat "$out/ab.md" >>"$summary"

echo "== 3. quick experiment (release build, CPU budgets as in experiments/quick.toml)"
started=$SECONDS
if "$head" sweep --config experiments/quick.toml --out "$out" --quiet; then
    run=$(ls -dt "$out"/*-quick | head -1)
    echo "== gate against results/baseline"
    "$head" gate --baseline results/baseline/run.json --run "$run" --markdown "$run/gate.md"
    codes+=($?)
    [ -f "$run/gate.md" ] && cat "$run/gate.md" >>"$summary"
else
    codes+=(2)
fi
echo "== 3. quick experiment: $((SECONDS - started)) s"

echo "gate layers (instructions, A/B, quick): ${codes[*]}  (summary: $summary)"
for code in "${codes[@]}"; do [ "$code" = 1 ] && exit 1; done
for code in "${codes[@]}"; do [ "$code" != 0 ] && exit 2; done
exit 0
