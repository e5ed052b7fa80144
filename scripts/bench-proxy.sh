#!/usr/bin/env bash
# authscale proxy vs nginx vs HAProxy, measured in one run, interleaved:
# the same two `authscale node --auth none` upstreams, the same wrk command
# through each proxy, ROUNDS times; prints medians and ratios of
# throughput, latency and each proxy's CPU per request (its processes'
# utime + stime from /proc over the wrk run, divided by wrk's requests,
# and the user part alone), as medians of the rounds and as the median of
# the per-round ratios (the pairs).
# Each proxy gets one worker: nginx worker_processes 1, HAProxy nbthread 1,
# authscale proxy --threads 1.
# Also each proxy's context switches per request (voluntary + involuntary,
# /proc/PID/status): how often it ran out of work and slept.
# Usage: scripts/bench-proxy.sh            (ROUNDS=5 DURATION=5s CONNECTIONS=64)
#        BASE=/path/to/older/authscale scripts/bench-proxy.sh
#          also runs that binary's proxy in the same rounds, as "base",
#          and prints this build's ratios to it (a change measured paired).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}

scripts/setup.sh wrk nginx haproxy
PATH="$PATH:/usr/sbin"
source scripts/lib.sh

start_authscale up1 node --auth none --listen 127.0.0.1:0 --node-id up1
start_authscale up2 node --auth none --listen 127.0.0.1:0 --node-id up2

start_authscale authscale_addr proxy --listen 127.0.0.1:0 --threads 1 --upstream "$up1" --upstream "$up2"
declare -A procs=([authscale]=${pids[-1]})
names=(authscale)
if [ -n "${BASE:-}" ]; then
  [ -x "$BASE" ] || { echo "BASE=$BASE is not an executable authscale binary" >&2; exit 2; }
  saved_bin=$bin; bin=$BASE
  start_authscale base_addr proxy --listen 127.0.0.1:0 --threads 1 --upstream "$up1" --upstream "$up2"
  bin=$saved_bin
  procs[base]=${pids[-1]}
  names+=(base)
fi
names+=(nginx haproxy)

nginx_port=$(free_port)
start_nginx "$up1 $up2" "    listen 127.0.0.1:$nginx_port;"
procs[nginx]=$nginx_pid

start_haproxy "$up1 $up2"
procs[haproxy]=$haproxy_pid
wait_port "$nginx_port" "$work/nginx/stderr.log"
# nginx's worker does the forwarding: the master and its children count.
procs[nginx]="${procs[nginx]} $(pgrep -P "${procs[nginx]}" | tr '\n' ' ')"
tick_us=$((1000000 / $(getconf CLK_TCK)))
# Context switches, voluntary and involuntary, of the processes given.
switches() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '/ctxt_switches/ {s += $2} END {print s}' "/proc/$pid/status"))); done
  echo "$total"
}
# Clock ticks of the processes given, from /proc/PID/stat: utime + stime
# (cpu_ticks), or utime alone, the CPU spent outside the kernel (user_ticks).
stat_ticks() {
  local expr=$1 total=0 pid
  shift
  for pid in "$@"; do total=$((total + $(awk "{print $expr}" "/proc/$pid/stat"))); done
  echo "$total"
}
cpu_ticks() { stat_ticks '$14 + $15' "$@"; }
user_ticks() { stat_ticks '$14' "$@"; }

declare -A target=(
  [authscale]="http://$authscale_addr/api/me"
  [nginx]="http://127.0.0.1:$nginx_port/api/me"
  [haproxy]="http://127.0.0.1:$haproxy_port/api/me"
)
[ -n "${BASE:-}" ] && target[base]="http://$base_addr/api/me"

# wrk's latency figures to microseconds.
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1e6}}'; }

echo "wrk -t1 -c$CONNECTIONS -d$DURATION through each proxy to 2 hyper upstreams, $ROUNDS interleaved rounds"
for round in $(seq "$ROUNDS"); do
  for name in "${names[@]}"; do
    # shellcheck disable=SC2086
    before=$(cpu_ticks ${procs[$name]})
    # shellcheck disable=SC2086
    user_before=$(user_ticks ${procs[$name]})
    # shellcheck disable=SC2086
    cs_before=$(switches ${procs[$name]})
    out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "${target[$name]}")
    # shellcheck disable=SC2086
    after=$(cpu_ticks ${procs[$name]})
    # shellcheck disable=SC2086
    user_after=$(user_ticks ${procs[$name]})
    # shellcheck disable=SC2086
    cs_after=$(switches ${procs[$name]})
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    cpu=$(awk -v t=$((after - before)) -v us="$tick_us" -v n="$requests" 'BEGIN {printf "%.2f", t * us / n}')
    user=$(awk -v t=$((user_after - user_before)) -v us="$tick_us" -v n="$requests" 'BEGIN {printf "%.2f", t * us / n}')
    cs=$(awk -v c=$((cs_after - cs_before)) -v n="$requests" 'BEGIN {printf "%.3f", c / n}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_us)
    p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_us)
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    printf '  round %d %-10s %10.0f req/s  p50 %7.0f us  p99 %7.0f us  %6.2f CPU-us/request (user %5.2f)  %5.3f switches/request %s\n' "$round" "$name" "$rps" "$p50" "$p99" "$cpu" "$user" "$cs" "$errors"
    echo "$rps" >>"$work/$name.rps"; echo "$p50" >>"$work/$name.p50"; echo "$p99" >>"$work/$name.p99"; echo "$cpu" >>"$work/$name.cpu"; echo "$user" >>"$work/$name.user"; echo "$cs" >>"$work/$name.cs"
  done
done

echo
printf '%-10s %12s %10s %10s %16s %16s %18s\n' proxy "req/s" "p50 us" "p99 us" "CPU-us/request" "user-us/request" "switches/request"
for name in "${names[@]}"; do
  printf '%-10s %12.0f %10.0f %10.0f %16.2f %16.2f %18.3f\n' "$name" "$(median <"$work/$name.rps")" "$(median <"$work/$name.p50")" "$(median <"$work/$name.p99")" "$(median <"$work/$name.cpu")" "$(median <"$work/$name.user")" "$(median <"$work/$name.cs")"
done
a=$(median <"$work/authscale.rps")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
echo
c=$(median <"$work/authscale.cpu")
others=(nginx haproxy)
[ -n "${BASE:-}" ] && others=(base nginx haproxy)
for other in "${others[@]}"; do
  printf 'authscale/%-8s throughput %s   p99 %s   CPU per request %s (lower is better for both)\n' "$other" \
    "$(ratio "$a" "$(median <"$work/$other.rps")")" \
    "$(ratio "$(median <"$work/authscale.p99")" "$(median <"$work/$other.p99")")" \
    "$(ratio "$c" "$(median <"$work/$other.cpu")")"
done
# The same comparisons pair by pair: each round's authscale figure over
# the other's in that round, the median of those ratios and their range
# (rounds are interleaved, so a drift of the machine falls on both).
echo
for other in "${others[@]}"; do
  for figure in rps cpu; do
    paste "$work/authscale.$figure" "$work/$other.$figure" | awk '{print $1 / $2}' >"$work/pairs.$figure"
  done
  printf 'authscale/%-8s per round: throughput %s [%s, %s]   CPU per request %s [%s, %s] (median [min, max] of %d rounds)\n' "$other" \
    "$(median <"$work/pairs.rps" | xargs printf '%.2f')" "$(sort -g "$work/pairs.rps" | head -1 | xargs printf '%.2f')" "$(sort -g "$work/pairs.rps" | tail -1 | xargs printf '%.2f')" \
    "$(median <"$work/pairs.cpu" | xargs printf '%.2f')" "$(sort -g "$work/pairs.cpu" | head -1 | xargs printf '%.2f')" "$(sort -g "$work/pairs.cpu" | tail -1 | xargs printf '%.2f')" \
    "$ROUNDS"
done
