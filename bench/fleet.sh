#!/usr/bin/env bash
# A fleet behind a load balancer: what sharing one Redis buys. Against the
# release build, in one run, nginx balances round-robin over
#   one       a single gateway instance
#   two       two instances, each with its own cache only
#   shared    two instances sharing a Redis (redis_url, cache_key_secret)
# and wrk sends, at 32 connections for 10 s each, the 20-row list with 400
# different offsets (so the fleet must fill 400 cache keys), with the whole
# response cache off so every request reaches the upstream layer. Printed:
# requests/s, p50/p99, and the upstream requests each fleet sent.
# All load goes to 127.0.0.1. Needs wrk, nginx and redis-server
# (Debian: apt-get install wrk nginx-light redis-server).
# DURATION, CONNECTIONS, THREADS override 10s, 32, 2.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
TOKEN=admin-token-1
QUERY='{ conversations(first: 20) { nodes { id displayId inboxId assigneeId createdAt } } }'
export PATH="$PATH:/usr/sbin"
for tool in wrk nginx redis-server python3 curl; do
  command -v "$tool" >/dev/null ||
    { echo "bench needs $tool (Debian: apt-get install wrk nginx-light redis-server)" >&2; exit 1; }
done
scripts/setup.sh
cargo build --release --locked -q

. bench/lib.sh
start_upstream

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

# Instances; the whole response cache is off so every request reaches the
# upstream layer, where the shared cache sits.
start_gateway --response-cache-bytes 0; one=$gw_port
start_gateway --response-cache-bytes 0; two_a=$gw_port
start_gateway --response-cache-bytes 0; two_b=$gw_port
export CACHE_KEY_SECRET=fleet-benchmark-shared-secret
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
start_gateway --response-cache-bytes 0; shared_a=$gw_port
start_gateway --response-cache-bytes 0; shared_b=$gw_port
unset CACHE_KEY_SECRET REDIS_URL

# A round-robin balancer over the ports given; sets lb_port.
balancer() {
  local port; port=$(free_port)
  local servers=""
  for p in "$@"; do servers+="server 127.0.0.1:$p; "; done
  mkdir -p "$work/nginx-$port/tmp"
  cat >"$work/nginx-$port/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx-$port/nginx.pid;
error_log $work/nginx-$port/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-$port/tmp; proxy_temp_path $work/nginx-$port/tmp;
  fastcgi_temp_path $work/nginx-$port/tmp; uwsgi_temp_path $work/nginx-$port/tmp;
  scgi_temp_path $work/nginx-$port/tmp;
  upstream fleet { $servers keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://fleet;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  nginx -c "$work/nginx-$port/nginx.conf" -p "$work/nginx-$port" &
  pids+=($!)
  for _ in $(seq 1 50); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  lb_port=$port
}

last_seq() {
  curl -sf "http://127.0.0.1:${up_port}/_test/requests?since=0" |
    python3 -c 'import json,sys; print(max([e["seq"] for e in json.load(sys.stdin)] or [0]))'
}
upstream_requests_since() {
  curl -sf "http://127.0.0.1:${up_port}/_test/requests?since=$1" |
    python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if "$metadata" not in e["url"]))'
}

export BENCH_QUERY="$QUERY" BENCH_TOKEN="$TOKEN" BENCH_NO_CACHE=0 BENCH_DISTINCT=1
run() { # name, balancer port
  local since; since=$(last_seq)
  wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s bench/graphql.lua \
    "http://127.0.0.1:$2/graphql" >"$work/wrk.out" 2>&1
  local sent; sent=$(upstream_requests_since "$since")
  local figures; figures=$(wrk_figures "$work/wrk.out")
  echo "$1 $(echo "$figures" | cut -d' ' -f1-4) $sent" >>"$work/results"
  echo "  $1 done" >&2
}

echo "measuring: $CONNECTIONS connections, $THREADS wrk threads, $DURATION each, 400 distinct queries" >&2
balancer "$one"; run one "$lb_port"
balancer "$two_a" "$two_b"; run two "$lb_port"
balancer "$shared_a" "$shared_b"; run shared "$lb_port"

python3 - "$work/results" <<'PY'
import sys
labels = {"one": "one instance", "two": "two instances, own caches", "shared": "two instances sharing Redis"}
print(f"\n{'fleet behind nginx':30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'upstream requests':>18}")
for line in open(sys.argv[1]):
    name, rps, p50, p99, bad, sent = line.split()
    print(f"{labels[name]:30} {float(rps):>9.1f} {float(p50):>8.2f} {float(p99):>8.2f} {bad:>7} {sent:>18}")
print("\n400 distinct queries: a fleet that shares fills each key once.")
PY
