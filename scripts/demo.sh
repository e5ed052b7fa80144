#!/usr/bin/env bash
# A walk-through: builds authscale, starts a real redis-server and one node per
# auth mode on free loopback ports, and walks each through
# login -> protected request -> logout -> protected request.
# Everything it starts is stopped when it exits.
# Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== building authscale (release)"
source scripts/lib.sh

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis_url="redis://127.0.0.1:$port"

head -c 32 /dev/urandom >"$work/hs256.secret"
start_authscale session_addr node --listen 127.0.0.1:0 --auth session --redis-url "$redis_url"
start_authscale token_addr node --listen 127.0.0.1:0 --auth token --jwt-secret "k1=$work/hs256.secret"

read -r user password < <("$bin" users --first 42)
login_body="{\"user\":\"$user\",\"password\":\"$password\"}"

show() { # method path status body
  printf '  %-6s %-10s -> %s  %s\n' "$1" "$2" "$3" "$4"
}
call() { # method addr path [curl args...]; sets status and body
  local method=$1 addr=$2 path=$3; shift 3
  body=$(curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' -X "$method" "http://$addr$path" "$@")
  status=$body; body=$(cat "$work/body")
}

echo
echo "== session mode: node http://$session_addr, store $redis_url"
redis-cli -p "$port" config resetstat >/dev/null
call POST "$session_addr" /login -H 'content-type: application/json' -d "$login_body"
cookie=$(grep -i '^set-cookie:' "$work/head" | sed 's/^[^:]*: *//; s/\r$//')
show POST /login "$status" "Set-Cookie: $cookie"
pair=${cookie%%;*}
for _ in 1 2 3; do call GET "$session_addr" /api/me -H "cookie: $pair"; show GET /api/me "$status" "$body"; done
call POST "$session_addr" /logout -H "cookie: $pair"; show POST /logout "$status" ""
call GET "$session_addr" /api/me -H "cookie: $pair"; show GET /api/me "$status" "$body"
echo "  store commands: $(redis-cli -p "$port" info commandstats | grep -o '^cmdstat_[a-z]*:calls=[0-9]*' | grep -v config | sed 's/cmdstat_//' | tr '\n' ' ')"
echo "  (one SET at login, one GET per protected request, one DEL at logout)"

echo
echo "== token mode: node http://$token_addr (HS256, verified on the node)"
call POST "$token_addr" /login -H 'content-type: application/json' -d "$login_body"
token=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/body")
show POST /login "$status" "access_token: ${token:0:32}... (expires_in $(sed -n 's/.*"expires_in":\([0-9]*\).*/\1/p' "$work/body") s)"
for _ in 1 2 3; do call GET "$token_addr" /api/me -H "authorization: Bearer $token"; show GET /api/me "$status" "$body"; done
call POST "$token_addr" /logout -H "authorization: Bearer $token"; show POST /logout "$status" ""
call GET "$token_addr" /api/me; show GET /api/me "$status" "$body (no token sent)"
call GET "$token_addr" /api/me -H "authorization: Bearer $token"
show GET /api/me "$status" "$body (the discarded token: still valid until exp)"
sig=${token##*.}
if [ "${sig:0:1}" = A ]; then flipped=B; else flipped=A; fi
call GET "$token_addr" /api/me -H "authorization: Bearer ${token%.*}.$flipped${sig:1}"
show GET /api/me "$status" "$body (signature tampered)"

echo
echo "Metrics: curl http://$token_addr/metrics (while running). Next: docs in README.md."
