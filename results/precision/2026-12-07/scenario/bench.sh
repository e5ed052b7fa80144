#!/usr/bin/env bash
# Old built-in path vs new built-in path vs new scenario file, against one
# token node pinned to CPU 1, the generator pinned to CPU 0; 5 rounds,
# order rotated; generator CPU per request and throughput from --json.
set -euo pipefail
secret=/work/main/crates/authscale-testkit/fixtures/keys/hs256-a.secret
taskset -c 1 /tmp/authscale-new node --auth token --listen 127.0.0.1:18431 --jwt-secret k=$secret --threads 1 >/tmp/scen-node.log 2>&1 &
node=$!
trap 'kill $node' EXIT
sleep 1
run() { # name binary args...
  local name=$1 bin=$2; shift 2
  taskset -c 0 $bin load --target http://127.0.0.1:18431 -c 16 --users 64 -k 20 -d 4s --warmup 1s -q --json /tmp/scen-$name.json "$@" >/dev/null
  python3 -c "
import json; r=json.load(open('/tmp/scen-$name.json'))
print('$name', round(r['success_rate']), round(r['cpu_seconds']*1e6/r['requests'],2), r['errors'])"
}
for round in 1 2 3 4 5; do
  case $((round % 3)) in
    0) order="old new file";; 1) order="new file old";; 2) order="file old new";;
  esac
  for which in $order; do
    case $which in
      old) run old /tmp/authscale-old --auth token;;
      new) run new /tmp/authscale-new --auth token;;
      file) run file /tmp/authscale-new --scenario /work/main/experiments/scenarios/node-token.toml;;
    esac
  done
done
