#!/usr/bin/env bash
# System calls per request of the proxies, counted by strace -c over 2 s
# of `wrk -t1 -c64` each: this build's authscale proxy, an older build's
# (BASE), and HAProxy, one thread each, in front of the same two
# `authscale node --auth none` upstreams. Run from the repository's root:
#   BASE=/path/to/older/authscale results/precision/2026-12-07/proxy-front/strace.sh
set -euo pipefail
: "${BASE:?BASE=an older authscale binary to compare with}"
PATH="$PATH:/usr/sbin"
source scripts/lib.sh
start_authscale up1 node --auth none --listen 127.0.0.1:0 --node-id a
start_authscale up2 node --auth none --listen 127.0.0.1:0 --node-id b
start_authscale new proxy --listen 127.0.0.1:0 --threads 1 --upstream "$up1" --upstream "$up2"
new_pid=${pids[-1]}
saved=$bin; bin=$BASE
start_authscale base proxy --listen 127.0.0.1:0 --threads 1 --upstream "$up1" --upstream "$up2"
base_pid=${pids[-1]}; bin=$saved
start_haproxy "$up1 $up2"
for entry in "authscale $new_pid $new" "base $base_pid $base" "haproxy $haproxy_pid 127.0.0.1:$haproxy_port"; do
  set -- $entry
  strace -c -f -p "$2" -o "$work/strace.$1" &
  tracer=$!
  sleep 0.5
  wrk -t1 -c64 -d2s "http://$3/api/me" | grep "requests in"
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
  echo "== $1"; head -6 "$work/strace.$1"
done
