#!/usr/bin/env bash
# One node's CPU per request under four ways of receiving the same
# requests, rounds interleaved: what a sweep's E(N) = X(N)/(N·X(1)) takes
# as constant when it compares a node at N = 1 with nodes at N > 1.
#
#   capped       the node at NODE_CPU of a core (quota period PERIOD), closed
#                loop, 8 connections: a sweep's N = 1 cell without the proxy
#   capped-2     the same with 2 connections
#   at-rate      the node uncapped, open loop at the rate `capped` reached in
#                the same round: the same requests per second, as a node of
#                a real cluster would receive them
#   uncapped     the node uncapped, closed loop, 8 connections (saturated)
#
# Per condition: the node's CPU-µs per request (the scheduler's count over
# all its threads, /proc/PID/task/*/schedstat), how often it was put on a
# CPU per request ("runs/request": each wake-up from waiting on its
# sockets, or from a throttled period, is one run), the share of quota
# periods throttled, and p99.
#
# Needs root and the cgroup cpu controller (v1 or v2). The node runs on the
# last CPU, the load generator on the first.
# Usage: scripts/node-cost.sh     (ROUNDS=3 DURATION=6s NODE_CPU=0.1 PERIOD_US=10000 AUTH=token)
#        NODE_ARGS="--work-us 20" scripts/node-cost.sh   (the default sweep's extra work per request)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6s}
NODE_CPU=${NODE_CPU:-0.1}
PERIOD_US=${PERIOD_US:-10000}
AUTH=${AUTH:-token}
case "$AUTH" in none | token) ;; *) echo "AUTH is none or token (no store is started)" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "node-cost: needs root (it writes a cgroup's CPU quota)" >&2; exit 2; }
command -v curl >/dev/null || { echo "node-cost: needs curl (Debian/Ubuntu: apt-get install curl)" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "node-cost: ROUNDS is a whole number from 1 (got $ROUNDS)" >&2; exit 2; }
[[ "$PERIOD_US" =~ ^[0-9]+$ ]] && [ "$PERIOD_US" -ge 1000 ] && [ "$PERIOD_US" -le 1000000 ] ||
  { echo "node-cost: PERIOD_US is the quota period in microseconds, 1000 to 1000000 (the kernel's limits; got $PERIOD_US)" >&2; exit 2; }
quota_us=$(awk -v c="$NODE_CPU" -v p="$PERIOD_US" 'BEGIN {printf "%.0f", c * p}')
[ "$quota_us" -ge 1000 ] 2>/dev/null ||
  { echo "node-cost: NODE_CPU x PERIOD_US is $quota_us us of quota, under the kernel's 1000 us minimum: raise PERIOD_US or NODE_CPU" >&2; exit 2; }
source scripts/lib.sh

group="authscale-node-cost-$$"
cg=""
# Once, on any exit: the processes, then the group. Ctrl-C and TERM exit
# through it with the usual statuses.
remove_group() { [ -n "$cg" ] && [ -d "$cg" ] || return 0; for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && return; sleep 0.1; done; }
trap 'cleanup; remove_group' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
  cg=/sys/fs/cgroup/cpu/$group
  mkdir "$cg"
  echo "$PERIOD_US" >"$cg/cpu.cfs_period_us"
  cap() { if [ "$1" = on ]; then echo "$quota_us" >"$cg/cpu.cfs_quota_us"; else echo -1 >"$cg/cpu.cfs_quota_us"; fi; }
elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
  cg=/sys/fs/cgroup/$group
  mkdir "$cg"
  cap() { if [ "$1" = on ]; then echo "$quota_us $PERIOD_US" >"$cg/cpu.max"; else echo "max $PERIOD_US" >"$cg/cpu.max"; fi; }
else
  echo "node-cost: no cgroup cpu controller found (v1 /sys/fs/cgroup/cpu or v2 with cpu)" >&2; exit 2
fi

last_cpu=$(($(nproc) - 1))
auth_args=(--auth "$AUTH")
if [ "$AUTH" = token ]; then
  head -c 32 /dev/urandom >"$work/secret"
  auth_args+=(--jwt-secret "k1=$work/secret")
fi
# shellcheck disable=SC2086
start_authscale node_addr node "${auth_args[@]}" ${NODE_ARGS:-} --threads 1 --listen 127.0.0.1:0
node_pid=${pids[-1]}
echo "$node_pid" >"$cg/cgroup.procs"
taskset -apc "$last_cpu" "$node_pid" >/dev/null

# Nanoseconds on a CPU and times put on one, over all the node's threads.
sched() { cat /proc/"$node_pid"/task/*/schedstat | awk '{ns += $1; runs += $3} END {printf "%.0f %.0f\n", ns, runs}'; }
stat_of() { awk -v k="$1" '$1 == k {print $2}' "$cg/cpu.stat"; }
# Requests the node has answered, every route (its own count, /metrics).
answered() { curl -sf "http://$node_addr/metrics" | awk '/^authscale_requests_total/ {n += $NF} END {printf "%.0f", n}'; }
json_first() { grep -m1 -o "\"$1\": *[0-9.]*" "$2" | grep -o '[0-9.]*$'; }

# measure NAME CAP CONNECTIONS [RATE]: one load run; prints its line and
# appends the figures to $work/NAME.*
measure() {
  local name=$1 capped=$2 conns=$3 rate=${4:-}
  cap "$capped"
  local rate_args=()
  [ -n "$rate" ] && rate_args=(--rate "$rate")
  read -r ns0 runs0 < <(sched)
  local answered0
  answered0=$(answered) || { echo "node-cost: the node's /metrics did not answer before the $name run" >&2; exit 1; }
  local periods0 throttled0
  periods0=$(stat_of nr_periods); throttled0=$(stat_of nr_throttled)
  taskset -c 0 "$bin" load --target "http://$node_addr" --auth "$AUTH" -c "$conns" -d "$DURATION" \
    --warmup 1s "${rate_args[@]}" --json "$work/load.json" >/dev/null 2>"$work/load.err" ||
    { cat "$work/load.err" >&2; exit 1; }
  read -r ns1 runs1 < <(sched)
  local answered1
  answered1=$(answered) || { echo "node-cost: the node's /metrics did not answer after the $name run" >&2; exit 1; }
  local served=$((answered1 - answered0))
  [ "$served" -gt 0 ] || { echo "node-cost: the node answered no request in the $name run" >&2; exit 1; }
  local periods=$(($(stat_of nr_periods) - periods0)) throttled=$(($(stat_of nr_throttled) - throttled0))
  local rps p99
  rps=$(json_first achieved_rate "$work/load.json")
  p99=$(json_first p99 "$work/load.json")
  # Per request the node answered (logins, warm-up and logouts included,
  # as its CPU includes them).
  awk -v ns=$((ns1 - ns0)) -v runs=$((runs1 - runs0)) -v served="$served" -v r="$rps" \
    -v p="$periods" -v t="$throttled" -v p99="$p99" -v name="$name" -v round="$round" -v w="$work" 'BEGIN {
      us = ns / 1000 / served; rr = runs / served; th = p > 0 ? 100 * t / p : 0
      printf "  round %d %-9s %8.0f req/s  %6.2f node-us/request  %6.3f runs/request  %5.1f%% periods throttled  p99 %6.0f us\n", round, name, r, us, rr, th, p99
      print us >> (w "/" name ".us"); print rr >> (w "/" name ".runs"); print r >> (w "/" name ".rps")
    }'
}

echo "authscale $(git describe --always --dirty 2>/dev/null || echo '(no git)'): one $AUTH node ${NODE_ARGS:+$NODE_ARGS }(threads 1, CPU $last_cpu), load on CPU 0, $DURATION per run, $ROUNDS interleaved rounds; capped = $NODE_CPU core, period ${PERIOD_US} us"
for round in $(seq "$ROUNDS"); do
  measure capped on 8
  rate=$(tail -1 "$work/capped.rps")
  measure capped-2 on 2
  measure at-rate off 8 "$(printf '%.0f' "$rate")"
  measure uncapped off 8
done

echo
printf '%-10s %10s %18s %14s\n' condition "req/s" "node-us/request" "runs/request"
for name in capped capped-2 at-rate uncapped; do
  printf '%-10s %10.0f %18.2f %14.3f\n' "$name" "$(median <"$work/$name.rps")" "$(median <"$work/$name.us")" "$(median <"$work/$name.runs")"
done
c=$(median <"$work/capped.us")
echo
for name in capped-2 at-rate uncapped; do
  awk -v a="$(median <"$work/$name.us")" -v c="$c" -v n="$name" 'BEGIN {printf "%s/capped node CPU per request %.2f\n", n, a / c}'
done
