#!/usr/bin/env bash
# The A/B layer's power and false-alarm rate, in one command (needs a quiet
# machine; about K × (1 + number of percentages) comparisons of ~35 s each).
#
#   scripts/ab-power.sh                  # K=10, +5 +10 +20 %
#   scripts/ab-power.sh -k 20 -p "3 5 10" [-- more authscale ab arguments]
#
# What it does:
#   1. Measures node CPU per protected request of this build at the base
#      work (--work-us BASE, 20 µs as in the experiments): one A/A
#      comparison, A's mean of node_cpu_us_per_protected_request = C.
#   2. For +P %, B's nodes do W = BASE + round(C × P / 100) µs of work per
#      protected request (the node's busy loop is calibrated to µs of CPU,
#      so W − BASE µs more work is that much more node CPU); the added
#      percentage it really stands for, 100 × (W − BASE) / C, is printed.
#   3. Runs K A/A comparisons and K comparisons of each +P % with
#      --gate results/baseline/ab.toml and counts how many the gate flagged
#      (exit 1: a whole interval beyond its bound) and how many resolved
#      node CPU as "more CPU".
# A/A flags are false alarms; +P % flags are the power at that size.
set -euo pipefail
cd "$(dirname "$0")/.."

k=10
percents="5 10 20"
base=20
while [ $# -gt 0 ]; do
    case $1 in
        -k) k=$2; shift 2 ;;
        -p) percents=$2; shift 2 ;;
        --base-work-us) base=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: $0 [-k K] [-p \"5 10 20\"] [--base-work-us US] [-- ab args]" >&2; exit 2 ;;
    esac
done
extra=("$@")

cargo build --release --locked -p authscale-cli --quiet
bin=target/release/authscale
out=$(mktemp -d)
echo "results: $out"

# Figure 1: the node CPU per protected request at the base work.
$bin ab --quiet --work-us "$base" "${extra[@]}" >"$out/calibrate.txt"
cpu=$(awk '$1 == "node_cpu_us_per_protected_request" { print $2 }' "$out/calibrate.txt")
echo "node CPU per protected request at --work-us $base: $cpu µs"

# One series of K comparisons: prints "flagged F of K, more CPU M of K".
series() {
    local name=$1 file=$2; shift 2
    local flagged=0 more=0 code
    for i in $(seq "$k"); do
        code=0
        $bin ab --quiet --work-us "$base" --gate results/baseline/ab.toml \
            --json "$out/$file-$i.json" "$@" "${extra[@]}" >"$out/$file-$i.txt" || code=$?
        case $code in
            0) ;;
            1) flagged=$((flagged + 1)) ;;
            *) echo "$name run $i could not run (exit $code)" >&2; exit 2 ;;
        esac
        if grep -q '^node_cpu_us_per_protected_request.*more CPU' "$out/$file-$i.txt"; then
            more=$((more + 1))
        fi
    done
    printf '%-34s flagged %2d of %d, node CPU resolved "more CPU" %2d of %d\n' \
        "$name" "$flagged" "$k" "$more" "$k"
}

series "A/A" aa
for p in $percents; do
    work=$(awk -v b="$base" -v c="$cpu" -v p="$p" 'BEGIN { printf "%d", b + int(c * p / 100 + 0.5) }')
    real=$(awk -v b="$base" -v c="$cpu" -v w="$work" 'BEGIN { printf "%.1f", 100 * (w - b) / c }')
    series "+$p% (--work-us $work, +$real%)" "plus$p" --b-node-args "--work-us $work"
done
