#!/usr/bin/env bash
# Samples syscall counts (tracepoints, via perf stat) of every node and the
# store, one second at a time, while a sweep runs; writes TSV lines.
out=$1
: > "$out"
while pgrep -f "authscale sweep" >/dev/null; do
  pids=$(pgrep -f "authscale node" | tr '\n' ' ')
  store=$(pgrep -x redis-server | tr '\n' ' ')
  proxy=$(pgrep -f "authscale proxy" | tr '\n' ' ')
  [ -z "$pids" ] && { sleep 0.2; continue; }
  t=$(date +%s.%N)
  for p in $pids $store $proxy; do
    ( perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait -p $p -- sleep 1 2>&1 | awk -F, -v t=$t -v p=$p '{printf "%s\t%s\t%s\t%s\n", t, p, $3, $1}' >> "$out" ) &
  done
  wait
done
