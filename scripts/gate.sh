#!/usr/bin/env bash
# The performance gate, three layers, all judged even when one fails:
#   1. instructions per hot-path operation under callgrind against
#      results/baseline/instructions.toml (deterministic);
#   2. A/B: this build (B) against the revision in results/baseline/ab.toml
#      (A), side by side in alternating slices, rounds to a precision;
#      fails when a figure's whole 95% interval of B/A lies beyond its
#      bound, and cannot judge (2) when the day's noise hid +10% (statistical);
#   3. the quick experiment against results/baseline/run.json with its
#      thresholds (coarse: catches only large regressions).
# Exit 1 if any layer failed, else 2 if any could not judge, else 0.
# Usage: scripts/gate.sh [RESULTS_PARENT]     (default: a temporary folder)
# Environment: GATE_SUMMARY=FILE appends every layer's Markdown to FILE
# (e.g. $GITHUB_STEP_SUMMARY); AB_A_BIN=PATH uses a ready binary as side A.
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
scripts/gate-instructions.sh --markdown "$out/instructions.md"
codes+=($?)
[ -f "$out/instructions.md" ] && cat "$out/instructions.md" >>"$summary"

echo "== 2. A/B against the revision in results/baseline/ab.toml"
rev=$(sed -n 's/^rev *= *"\(.*\)"/\1/p' results/baseline/ab.toml)
same=no
if [ -n "${AB_A_BIN:-}" ]; then
    side_a=(--a-bin "$AB_A_BIN")
elif git rev-parse --verify --quiet "$rev^{commit}" >/dev/null \
    && git diff --quiet "$rev" -- crates Cargo.toml Cargo.lock; then
    # No code differs from the baseline revision (only docs, results or
    # scripts): nothing can have changed the nodes' cost, so a short A/A
    # with the one binary checks the layer runs (8 rounds, about 25 s)
    # instead of a comparison to the gate's precision.
    side_a=(--a-bin "$head" --rounds 8)
    same=yes
else
    # Code differs: rounds to the precision the gate needs (at most
    # --max-time, 150 s by default, after side A's build).
    side_a=(--a-rev "$rev" --build-target-dir target)
fi
rm -f "$out/ab.md" "$out/ab.json"
"$head" ab "${side_a[@]}" --gate results/baseline/ab.toml \
    --markdown "$out/ab.md" --json "$out/ab.json"
code=$?
if [ "$code" = 2 ] && [ "$same" = yes ] && grep -q "CANNOT JUDGE" "$out/ab.md" 2>/dev/null; then
    # Too short to have seen +10%, and with no code changed there was
    # nothing to see: not a failure.
    echo "A/B: no code differs from $rev; the short A/A could not judge +10% and did not need to"
    code=0
fi
codes+=($code)
[ -f "$out/ab.md" ] && cat "$out/ab.md" >>"$summary"

echo "== 3. quick experiment (release build, CPU budgets as in experiments/quick.toml)"
if "$head" sweep --config experiments/quick.toml --out "$out" --quiet; then
    run=$(ls -dt "$out"/*-quick | head -1)
    echo "== gate against results/baseline"
    "$head" gate --baseline results/baseline/run.json --run "$run" --markdown "$run/gate.md"
    codes+=($?)
    [ -f "$run/gate.md" ] && cat "$run/gate.md" >>"$summary"
else
    codes+=(2)
fi

echo "gate layers (instructions, A/B, quick): ${codes[*]}  (summary: $summary)"
for code in "${codes[@]}"; do [ "$code" = 1 ] && exit 1; done
for code in "${codes[@]}"; do [ "$code" != 0 ] && exit 2; done
exit 0
