#!/usr/bin/env bash
# The A/B layer's power and false-alarm rate, in one command (needs a quiet
# machine; K × (1 + number of percentages) comparisons of at most 2.5
# minutes each: about 50 minutes for the defaults).
#
#   scripts/ab-power.sh                  # K=10, +10 %
#   scripts/ab-power.sh -k 20 -p "5 10 20" [-- more authscale ab arguments]
#
# What it does: K A/A comparisons of this build with itself, and K
# comparisons of each +P % in which B's nodes work P % of A's measured node
# CPU per protected request more (`authscale ab --b-costlier P`: a
# three-slice calibration of A, then B's --work-us; the regression is the
# same share of the cost on every machine), all with
# --gate results/baseline/ab.toml. It counts, per series, the comparisons
# the gate failed (exit 1), those it could not judge (exit 2, "cannot
# judge": too noisy to have seen +10%), the latency figures resolved
# (A/A should resolve none), the rounds, and the wall time.
# A/A failures are false alarms; +P % failures are the power at that size.
set -euo pipefail
cd "$(dirname "$0")/.."

k=10
percents="10"
while [ $# -gt 0 ]; do
    case $1 in
        -k) k=$2; shift 2 ;;
        -p) percents=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: $0 [-k K] [-p \"5 10 20\"] [-- ab args]" >&2; exit 2 ;;
    esac
done
extra=("$@")

cargo build --release --locked -p authscale-cli --quiet
bin=target/release/authscale
out=${AB_POWER_OUT:-$(mktemp -d)}
mkdir -p "$out"
echo "results: $out"

# One series of K comparisons: prints one line of counts.
series() {
    local name=$1 file=$2; shift 2
    local failed=0 unjudged=0 latency=0 code i
    local rounds="" times=""
    for i in $(seq "$k"); do
        code=0
        $bin ab --quiet --gate results/baseline/ab.toml --a-bin "$bin" \
            --json "$out/$file-$i.json" "$@" "${extra[@]}" >"$out/$file-$i.txt" 2>&1 || code=$?
        case $code in
            0) ;;
            1) failed=$((failed + 1)) ;;
            2) if grep -q "cannot judge" "$out/$file-$i.txt"; then
                   unjudged=$((unjudged + 1))
               else
                   echo "$name run $i could not run:" >&2; cat "$out/$file-$i.txt" >&2; exit 2
               fi ;;
            *) echo "$name run $i failed (exit $code)" >&2; cat "$out/$file-$i.txt" >&2; exit 2 ;;
        esac
        # From the JSON (the text is for people): a latency verdict, the
        # rounds measured and the wall time.
        read -r resolved n seconds < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
r = d["report"]
resolved = any(f["figure"] in ("p50_ms", "p99_ms") and f["verdict"] in ("slower", "faster")
               for f in r["figures"])
print(int(resolved), r["rounds"], round(d["run"]["wall_seconds"]))' "$out/$file-$i.json")
        latency=$((latency + resolved))
        rounds+=" $n"
        times+=" $seconds"
    done
    printf '%-8s failed %2d of %d, cannot judge %2d, latency resolved %2d; rounds:%s; seconds:%s\n' \
        "$name" "$failed" "$k" "$unjudged" "$latency" "$rounds" "$times"
}

series "A/A" aa
for p in $percents; do
    series "+$p%" "plus$p" --b-costlier "$p"
done
