# Shared helpers for authscale's scripts (sourced from the repository's
# root, not run): builds the release CLI into $bin; processes recorded in
# `pids` are stopped when the script exits.

cargo build --release --locked -p authscale-cli --quiet
bin=target/release/authscale

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A free loopback port (probing; the caller binds it right away).
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "no free port found" >&2; exit 1
}

# Runs an authscale server in the background and stores the first address
# it reports ("... http://ADDR ...") in the variable named by $1, once it
# listens. Not in a $(subshell): the process must be recorded in `pids`.
# Usage: start_authscale VAR node --listen 127.0.0.1:0 ...
start_authscale() {
  local var=$1; shift
  local out="$work/server-$RANDOM.out"
  "$bin" "$@" >"$out" 2>"$out.log" &
  pids+=($!)
  for _ in $(seq 200); do
    if grep -q 'http://' "$out" 2>/dev/null; then
      printf -v "$var" '%s' "$(grep -o 'http://[^ )]*' "$out" | head -1 | sed 's|^http://||')"
      return
    fi
    sleep 0.05
  done
  echo "authscale $1 did not start:" >&2; cat "$out.log" >&2; exit 1
}

# Waits until something accepts connections on 127.0.0.1:PORT; on failure
# shows the log file given as $2.
wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  [ -n "${2:-}" ] && cat "$2" >&2
  exit 1
}

# nginx with one worker (config and logs in $work/nginx) as a reverse proxy
# to the upstream servers in $1 ("HOST:PORT HOST:PORT ..."), keep-alive to
# them; $2 holds the server block's `listen` lines, $3 any other lines of
# it (certificates). Records the process and stores its pid in nginx_pid.
start_nginx() {
  local servers="" upstream
  for upstream in $1; do servers+="server $upstream; "; done
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream nodes { ${servers}keepalive 128; }
  server {
$2
${3:-}
    location / {
      proxy_pass http://nodes;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx/stderr.log" 2>&1 &
  nginx_pid=$!
  pids+=($!)
}

# Starts HAProxy, one thread, balancing round-robin over the upstreams in
# $1 (space-separated host:port) with keep-alive reuse, on a free port.
# Records the process; stores its port in haproxy_port and its pid in
# haproxy_pid, once it listens.
start_haproxy() {
  local servers="" upstream i=0
  for upstream in $1; do i=$((i + 1)); servers+="  server up$i $upstream"$'\n'; done
  haproxy_port=$(free_port)
  cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$haproxy_port
  default_backend nodes
backend nodes
  balance roundrobin
$servers
CONF
  haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  pids+=($!)
  wait_port "$haproxy_port" "$work/haproxy.log"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
