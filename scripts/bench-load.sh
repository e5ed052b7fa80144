#!/usr/bin/env bash
# authscale load vs wrk, measured in one run, interleaved: the same
# `authscale node --auth none`, `wrk -t1 -c64 -d5s` against
# `authscale load --connections 64 --duration 5s` (one generator thread,
# the same CPU budget as wrk -t1), ROUNDS times; prints req/s, the ratio,
# and each generator's CPU time per request (user + system, from the shell's
# `time`; CPU-µs per request = CPU-seconds per million requests).
# The node runs one thread (NODE_THREADS=1), so node and generator each
# have about one of the two cores.
# Usage: scripts/bench-load.sh   (ROUNDS=3 DURATION=5s CONNECTIONS=64 NODE_THREADS=1)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}

scripts/setup.sh wrk
source scripts/lib.sh

start_authscale node node --auth none --listen 127.0.0.1:0 --threads "${NODE_THREADS:-1}"
TIMEFORMAT='%U %S'

echo "against authscale node --auth none at $node, $ROUNDS interleaved rounds of $DURATION, $CONNECTIONS connections"
for round in $(seq "$ROUNDS"); do
  { time wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://$node/api/me" >"$work/wrk.out"; } 2>"$work/wrk.time"
  wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  wrk_n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  wrk_cpu=$(awk -v n="$wrk_n" '{printf "%.2f", ($1+$2)*1e6/n}' "$work/wrk.time")
  { time "$bin" load --target "http://$node" --connections "$CONNECTIONS" --duration "$DURATION" --threads 1 --quiet \
      --json "$work/load.json" >"$work/load.out"; } 2>"$work/load.time"
  load_rps=$(awk '/throughput/ {print $2}' "$work/load.out")
  load_n=$(awk 'NR==1 {print $1}' "$work/load.out")
  load_cpu=$(awk -v n="$load_n" '{printf "%.2f", ($1+$2)*1e6/n}' "$work/load.time")
  printf '  round %d  wrk %9.0f req/s %5.2f CPU-µs/req   authscale %9.0f req/s %5.2f CPU-µs/req\n' \
    "$round" "$wrk_rps" "$wrk_cpu" "$load_rps" "$load_cpu"
  echo "$wrk_rps" >>"$work/wrk.rps"; echo "$load_rps" >>"$work/load.rps"
  echo "$wrk_cpu" >>"$work/wrk.cpu"; echo "$load_cpu" >>"$work/load.cpu"
done

w=$(median <"$work/wrk.rps"); a=$(median <"$work/load.rps")
echo
printf '%-18s %12s %16s\n' generator "req/s" "CPU-µs per req"
printf '%-18s %12.0f %16s\n' "wrk -t1" "$w" "$(median <"$work/wrk.cpu")"
printf '%-18s %12.0f %16s\n' "authscale load" "$a" "$(median <"$work/load.cpu")"
echo
awk -v a="$a" -v w="$w" 'BEGIN {printf "authscale/wrk throughput %.2f\n", a/w}'
