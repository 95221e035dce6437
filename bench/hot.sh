#!/usr/bin/env bash
# What a hot (cached) GraphQL answer costs, next to nginx serving the very
# same bytes, in one run against the release build:
#   nginx        the response body as a static file (GET)
#   hot GET      the gateway answering the same query from its response
#                cache (GET /graphql?query=...)
#   hot POST     the same over POST (JSON body)
#   304          GET with If-None-Match of the current ETag: no body
#   cold         POST with Cache-Control: no-cache (executed every time;
#                identical requests in flight at once go upstream once)
# For each: requests/s, p50 and p99 latency, errors; for the gateway also
# its CPU time per request (user + system, from /proc). All load goes to
# 127.0.0.1. Needs wrk and nginx (Debian: apt-get install wrk nginx-light).
# DURATION, CONNECTIONS, THREADS override 10s, 32, 2.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
TOKEN=admin-token-1
QUERY='{ conversations(first: 20) { nodes { id displayId inboxId assigneeId createdAt } } }'

for tool in wrk nginx python3 curl; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$tool" >/dev/null ||
    { echo "bench needs $tool (Debian: apt-get install wrk nginx-light)" >&2; exit 1; }
done
NGINX=$(PATH="$PATH:/usr/sbin" command -v nginx)
scripts/setup.sh
cargo build --release --locked -q

. bench/lib.sh
start_upstream
start_gateway
encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$QUERY")
get_url="$gateway/graphql?query=$encoded"

# Warm the cache; the body nginx serves is the gateway's own answer
# (readable by nginx's worker, which drops to an unprivileged user).
mkdir -p "$work/www"
chmod a+rx "$work" "$work/www"
curl -sf -D "$work/headers" -o "$work/www/graphql" -H "Authorization: Bearer $TOKEN" "$get_url"
python3 - "$work/www/graphql" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert "errors" not in a and len(a["data"]["conversations"]["nodes"]) == 20, a
PY
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$work/headers" | tr -d '\r')
[ -n "$etag" ] || { echo "no ETag on the gateway's answer" >&2; exit 1; }

ng_port=$(free_port)
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server {
    listen 127.0.0.1:$ng_port;
    root $work/www;
    location = /graphql { default_type application/json; }
  }
}
EOF
mkdir -p "$work/tmp"
"$NGINX" -c "$work/nginx.conf" -p "$work" &
pids+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:${ng_port}/graphql" >/dev/null && break; sleep 0.1; done
cmp -s <(curl -sf "http://127.0.0.1:${ng_port}/graphql") "$work/www/graphql" ||
  { echo "nginx does not serve the body" >&2; cat "$work/nginx.err" >&2; exit 1; }

# CPU seconds (user + system) the gateway has used so far.
cpu_seconds() {
  python3 - "$gw_pid" <<'PY'
import os, sys
fields = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
PY
}

# Runs wrk; appends "name requests/s p50_ms p99_ms errors requests cpu_s".
run() {
  local name=$1; shift
  local cpu0; cpu0=$(cpu_seconds)
  wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" >"$work/wrk.out" 2>&1
  local cpu1; cpu1=$(cpu_seconds)
  local figures; figures=$(wrk_figures "$work/wrk.out")
  local cpu; cpu=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$cpu0" "$cpu1")
  echo "$name $figures $cpu" >>"$work/results"
  echo "  $name done" >&2
}

echo "measuring: $CONNECTIONS connections, $THREADS wrk threads, $DURATION each" >&2
run nginx "http://127.0.0.1:${ng_port}/graphql"
run hot-get -H "Authorization: Bearer $TOKEN" "$get_url"
export BENCH_QUERY="$QUERY" BENCH_TOKEN="$TOKEN"
BENCH_NO_CACHE=0 BENCH_DISTINCT=0 run hot-post -s bench/graphql.lua "$gateway/graphql"
run not-modified -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $etag" "$get_url"
BENCH_NO_CACHE=1 BENCH_DISTINCT=0 run cold -s bench/graphql.lua "$gateway/graphql"

python3 - "$work/results" "$(wc -c <"$work/www/graphql")" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, bad, total, cpu = line.split()
    rows[name] = dict(rps=float(rps), p50=float(p50), p99=float(p99), bad=int(bad),
                      total=int(total), cpu=float(cpu))
labels = {
    "nginx": "nginx, same bytes (static file)",
    "hot-get": "gateway hot, GET",
    "hot-post": "gateway hot, POST",
    "not-modified": "gateway 304 (If-None-Match), GET",
    "cold": "gateway cold (no-cache), POST",
}
print(f"\nresponse body: {sys.argv[2]} bytes\n")
print(f"{'mode':36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'gateway CPU/req':>16}")
for name, label in labels.items():
    r = rows[name]
    cpu = "" if name == "nginx" else f"{1000 * r['cpu'] / max(r['total'], 1):.3f} ms"
    print(f"{label:36} {r['rps']:>9.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['bad']:>7} {cpu:>16}")
n, hg, hp, c = rows["nginx"], rows["hot-get"], rows["hot-post"], rows["cold"]
print()
print(f"hot GET / nginx:   {hg['rps'] / n['rps']:.2f}x req/s")
print(f"hot POST / nginx:  {hp['rps'] / n['rps']:.2f}x req/s")
print(f"hot GET / cold:    {hg['rps'] / c['rps']:.2f}x req/s")
PY
