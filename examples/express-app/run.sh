#!/usr/bin/env bash
# Sweeps examples/express-app, session vs token, 1 to 4 instances, with
# authscale's external path: installs what is missing (redis-server, Node.js
# and npm via scripts/setup.sh; the app's packages with `npm ci` from
# package-lock.json), builds authscale, starts Redis (port 18290) and the
# proxy (18280, admin 18281), runs `authscale sweep --config
# examples/express-app/sweep.toml` (scripts/local-cluster.sh scales the
# instances, ports 18300..18303, 0.3 core each), and stops everything.
# Usage: examples/express-app/run.sh [--out DIR]   (default: results/)
# Root is needed for the instances' CPU budgets (cgroups).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=()
case "${1:-}" in
  --out) out=(--out "${2:?--out needs a folder}") ;;
  "") ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

scripts/setup.sh nodejs
(cd examples/express-app && npm ci --no-audit --no-fund --omit=dev --silent)
cargo build --release --locked -p authscale-cli --quiet

export STATE=/tmp/authscale-express-app
export SERVICE="node examples/express-app/app.js {port}"
export REDIS_URL=redis://127.0.0.1:18290
export BASE_PORT=18300 PROXY_PORT=18280 CPU=0.3
# The fewest requests in flight: a Node instance that stalls in its CPU
# quota gets fewer new requests instead of holding every other one back.
export PROXY_ARGS="--policy least-conn"
export SESSION_SECRET=${SESSION_SECRET:-$(head -c 24 /dev/urandom | base64)}
export JWT_SECRET=${JWT_SECRET:-$(head -c 24 /dev/urandom | base64)}
mkdir -p "$STATE"

for port in 18290 18280 18281 18300 18301 18302 18303; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "run.sh: port $port is in use; stop what listens there (a run left over: STATE=$STATE scripts/local-cluster.sh down)" >&2
    exit 1
  fi
done

redis-server --port 18290 --bind 127.0.0.1 --save '' --appendonly no >"$STATE/redis.log" 2>&1 &
redis=$!
stop() {
  scripts/local-cluster.sh down || true
  kill "$redis" 2>/dev/null || true
  wait "$redis" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/18290) 2>/dev/null && break
  sleep 0.1
done

scripts/local-cluster.sh up
target/release/authscale sweep --config examples/express-app/sweep.toml "${out[@]}"
