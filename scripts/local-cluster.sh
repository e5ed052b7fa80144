#!/usr/bin/env bash
# A local "cluster" of any service, for external sweeps on one machine:
# instances of a command, each on its own CPU budget (a cgroup, v2 or v1),
# behind `authscale proxy`. As an experiment's scale command it grows or
# shrinks the instances to N and points the proxy at them.
#
#   scripts/local-cluster.sh up      # the proxy (target 127.0.0.1:$PROXY_PORT)
#   scripts/local-cluster.sh scale N # N instances, the proxy pointed at them
#   scripts/local-cluster.sh down    # everything stopped, cgroups removed
#
# Environment (defaults in brackets):
#   SERVICE      the instance command; {port} is replaced by its port
#                [python3 examples/shaped-service/service.py {port}]
#   BASE_PORT    instance i listens on BASE_PORT + i [18100]
#   PROXY_PORT   the proxy's port, admin on PROXY_PORT + 1 [18090]
#   CPU          each instance's budget in cores [0.1]; period 10 ms
#   PROXY_ARGS   more `authscale proxy` flags, e.g. "--policy least-conn" []
#   STATE        where pids are kept [/tmp/authscale-local-cluster]
#   AUTHSCALE    the authscale binary [target/release/authscale]
# Root is needed for the CPU budgets (cgroups); without it the instances
# run uncapped and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVICE=${SERVICE:-"python3 examples/shaped-service/service.py {port}"}
BASE_PORT=${BASE_PORT:-18100}
PROXY_PORT=${PROXY_PORT:-18090}
CPU=${CPU:-0.1}
STATE=${STATE:-/tmp/authscale-local-cluster}
AUTHSCALE=${AUTHSCALE:-target/release/authscale}
PROXY_ARGS=${PROXY_ARGS:-}
PERIOD_US=10000
mkdir -p "$STATE"

say() { printf 'local-cluster: %s\n' "$*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The cgroup of instance $1: created with the budget, its path printed.
cgroup_for() {
  local name="authscale-local-$1" quota
  quota=$(awk -v c="$CPU" -v p="$PERIOD_US" 'BEGIN { printf "%d", c * p }')
  if [ -w /sys/fs/cgroup/cgroup.subtree_control ] && [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mkdir -p "/sys/fs/cgroup/$name"
    echo "$quota $PERIOD_US" >"/sys/fs/cgroup/$name/cpu.max"
    echo "/sys/fs/cgroup/$name"
  elif [ -w /sys/fs/cgroup/cpu ]; then
    mkdir -p "/sys/fs/cgroup/cpu/$name"
    echo "$PERIOD_US" >"/sys/fs/cgroup/cpu/$name/cpu.cfs_period_us"
    echo "$quota" >"/sys/fs/cgroup/cpu/$name/cpu.cfs_quota_us"
    echo "/sys/fs/cgroup/cpu/$name"
  fi
}

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  say "nothing answers on port $1"
  return 1
}

start_instance() {
  local i=$1 port=$((BASE_PORT + $1)) group
  local command=${SERVICE//\{port\}/$port}
  # shellcheck disable=SC2086
  setsid $command >"$STATE/instance-$i.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$STATE/instance-$i.pid"
  group=$(cgroup_for "$i" || true)
  if [ -n "$group" ]; then
    echo "$pid" >"$group/cgroup.procs"
  else
    say "instance $i runs uncapped (no writable cgroup CPU controller; run as root)"
  fi
  wait_port "$port"
}

stop_instance() {
  local i=$1 pidfile="$STATE/instance-$1.pid"
  if alive "$pidfile"; then
    kill -- "-$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pidfile" || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
  rmdir "/sys/fs/cgroup/authscale-local-$i" "/sys/fs/cgroup/cpu/authscale-local-$i" 2>/dev/null || true
}

point_proxy() {
  local n=$1 list="" i
  for ((i = 0; i < n; i++)); do list+="${list:+,}\"127.0.0.1:$((BASE_PORT + i))\""; done
  curl -sf -X PUT "http://127.0.0.1:$((PROXY_PORT + 1))/upstreams" -d "[$list]" >/dev/null
}

case "${1:-}" in
  up)
    if ! alive "$STATE/proxy.pid"; then
      [ -x "$AUTHSCALE" ] || { say "no $AUTHSCALE: cargo build --release -p authscale-cli"; exit 2; }
      # shellcheck disable=SC2086
      setsid "$AUTHSCALE" proxy --listen "127.0.0.1:$PROXY_PORT" --admin "127.0.0.1:$((PROXY_PORT + 1))" \
        $PROXY_ARGS >"$STATE/proxy.log" 2>&1 &
      echo $! >"$STATE/proxy.pid"
      wait_port "$PROXY_PORT"
    fi
    say "proxy on 127.0.0.1:$PROXY_PORT (admin $((PROXY_PORT + 1)))"
    ;;
  scale)
    n=${2:?usage: local-cluster.sh scale N}
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 64 ] || { say "N must be 1 to 64"; exit 2; }
    alive "$STATE/proxy.pid" || "$0" up
    for ((i = 0; i < n; i++)); do alive "$STATE/instance-$i.pid" || start_instance "$i"; done
    for pidfile in "$STATE"/instance-*.pid; do
      [ -e "$pidfile" ] || continue
      i=${pidfile##*/instance-}; i=${i%.pid}
      [ "$i" -ge "$n" ] && stop_instance "$i"
    done
    point_proxy "$n"
    say "$n instances (ports $BASE_PORT..$((BASE_PORT + n - 1)), $CPU core each) behind 127.0.0.1:$PROXY_PORT"
    ;;
  down)
    for pidfile in "$STATE"/instance-*.pid; do
      [ -e "$pidfile" ] || continue
      i=${pidfile##*/instance-}; i=${i%.pid}
      stop_instance "$i"
    done
    if alive "$STATE/proxy.pid"; then kill "$(cat "$STATE/proxy.pid")" || true; fi
    rm -f "$STATE/proxy.pid"
    say "stopped"
    ;;
  *)
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
