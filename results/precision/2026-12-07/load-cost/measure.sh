#!/usr/bin/env bash
# Where the load generator's CPU per request goes: user vs kernel time
# (/usr/bin/time) and system calls per request (strace -c), against one
# `authscale node --auth none --threads 1`, uncapped and capped at 0.1 core
# (cgroup v1, 10 ms period, as a sweep's node), ROUNDS rounds each.
# Usage (from the repository root, root, quiet machine):
#   results/precision/2026-12-07/load-cost/measure.sh > results/precision/2026-12-07/load-cost/out.txt
set -euo pipefail
ROUNDS=${ROUNDS:-3}
source scripts/lib.sh
start_authscale node node --auth none --listen 127.0.0.1:0 --threads 1
node_pid=${pids[-1]}
group=/sys/fs/cgroup/cpu/authscale-load-cost-$$
load() {
  /usr/bin/time -f "%U %S" -o "$work/time" "$bin" load --target "http://$node" --auth none \
    -c "$1" -d 5s --warmup 1s --threads 1 -q --json "$work/load.json" >/dev/null 2>&1
  local requests; requests=$(jq '.requests' "$work/load.json")
  read -r user sys <"$work/time"
  awk -v u="$user" -v s="$sys" -v n="$requests" -v c="$1" -v k="$2" \
    'BEGIN { printf "%-8s c=%-3s %8d req  user %5.2f µs/req  kernel %5.2f µs/req  kernel share %3.0f%%\n", k, c, n, u*1e6/n, s*1e6/n, 100*s/(u+s) }'
}
echo "== uncapped node"
for r in $(seq "$ROUNDS"); do load 16 uncapped; done
mkdir -p "$group"; echo 10000 >"$group/cpu.cfs_period_us"; echo 1000 >"$group/cpu.cfs_quota_us"
echo "$node_pid" >"$group/cgroup.procs"
echo "== node capped at 0.1 core (10 ms period), 8 connections as a sweep's N = 1"
for r in $(seq "$ROUNDS"); do load 8 capped; done
echo "== system calls per request (strace -c -f), capped node, 8 connections"
strace -f -c -o "$work/strace" "$bin" load --target "http://$node" --auth none -c 8 -d 3s --warmup 0s \
  --threads 1 -q --json "$work/load.json" >/dev/null 2>&1
requests=$(jq '.requests' "$work/load.json")
awk -v n="$requests" '$NF ~ /^(sendto|recvfrom|epoll_wait|write|read|futex)$/ { printf "%-10s %6.3f per request\n", $NF, $4/n }' "$work/strace"
echo "$node_pid" >/sys/fs/cgroup/cpu/cgroup.procs
rmdir "$group"
