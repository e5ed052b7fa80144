#!/usr/bin/env bash
# The load generator's own cost of TLS: `authscale load` through one nginx
# (one worker) to one `authscale node --auth none`, plain HTTP/1.1, HTTPS
# with HTTP/1.1, and HTTPS with HTTP/2 (--http2), ROUNDS interleaved rounds
# of the same closed-loop load; prints the generator's CPU-µs per request
# (its own process CPU over its requests, from `load --json`) and req/s,
# with medians and the ratios to plain. The certificate is signed by a CA
# made here (openssl) and trusted with --ca-file.
# Usage: scripts/bench-tls.sh            (ROUNDS=5 DURATION=5s CONNECTIONS=32)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}

scripts/setup.sh nginx
PATH="$PATH:/usr/sbin"
source scripts/lib.sh

# A CA and a certificate for localhost signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=authscale bench CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null

start_authscale up node --auth none --listen 127.0.0.1:0 --node-id up

plain_port=$(free_port)
tls_port=$(free_port)
start_nginx "$up" "    listen 127.0.0.1:$plain_port;
    listen 127.0.0.1:$tls_port ssl http2;" "    ssl_certificate $work/server.pem;
    ssl_certificate_key $work/server.key;
    keepalive_requests 1000000;
    http2_max_requests 1000000;"
wait_port "$plain_port" "$work/nginx/stderr.log"
wait_port "$tls_port" "$work/nginx/stderr.log"

declare -A args=(
  [plain]="--target http://localhost:$plain_port"
  [https]="--target https://localhost:$tls_port --ca-file $work/ca.pem"
  [https-h2]="--target https://localhost:$tls_port --ca-file $work/ca.pem --http2"
)
names=(plain https https-h2)

# No warm-up: the generator's CPU covers the whole run, as its requests do
# (the TLS handshakes, one per connection, are in both).
echo "authscale load -c$CONNECTIONS -d$DURATION through nginx (1 worker) to one node, $ROUNDS interleaved rounds"
for round in $(seq "$ROUNDS"); do
  for name in "${names[@]}"; do
    # shellcheck disable=SC2086
    "$bin" load ${args[$name]} -c "$CONNECTIONS" -d "$DURATION" -q --json "$work/$name.json" >/dev/null
    read -r us rps errors < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["cpu_seconds"] / r["requests"] * 1e6, r["success_rate"], r["errors"])
' "$work/$name.json")
    printf '  round %d %-9s %7.2f load CPU-µs/request %9.0f req/s  %s errors\n' "$round" "$name" "$us" "$rps" "$errors"
    echo "$us" >>"$work/$name.us"; echo "$rps" >>"$work/$name.rps"
  done
done

echo
printf '%-9s %22s %10s %16s\n' protocol "load CPU-µs/request" "req/s" "CPU vs plain"
p=$(median <"$work/plain.us")
for name in "${names[@]}"; do
  m=$(median <"$work/$name.us")
  printf '%-9s %22.2f %10.0f %16s\n' "$name" "$m" "$(median <"$work/$name.rps")" "$(awk -v a="$m" -v b="$p" 'BEGIN {printf "%.2f", a/b}')"
done
