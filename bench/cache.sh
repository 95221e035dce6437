#!/usr/bin/env bash
# Measures what the response cache buys: a 20-row list query at 32
# connections for 10 s each, against the release build, in one run:
#   hot     the gateway answering from its cache
#   cold    the same query with Cache-Control: no-cache (cache skipped;
#           identical requests in flight at once still go upstream once)
#   cold-distinct  no-cache and a different offset per request: every
#           request goes upstream
#   direct  the gateway's own OData request, sent to the upstream directly
# All load goes to 127.0.0.1. Needs wrk (Debian: apt-get install wrk).
# DURATION, CONNECTIONS, THREADS override 10s, 32, 2.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
TOKEN=admin-token-1
QUERY='{ conversations(first: 20) { nodes { id displayId inboxId assigneeId createdAt } } }'

command -v wrk >/dev/null || { echo "bench needs wrk (Debian: apt-get install wrk)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
scripts/setup.sh
cargo build --release --locked -q

. bench/lib.sh
start_upstream
start_gateway

last_seq() {
  curl -sf "http://127.0.0.1:${up_port}/_test/requests?since=0" |
    python3 -c 'import json,sys; print(max([e["seq"] for e in json.load(sys.stdin)] or [0]))'
}
upstream_requests_since() {
  curl -sf "http://127.0.0.1:${up_port}/_test/requests?since=$1" |
    python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if "$metadata" not in e["url"]))'
}

# One request first: checks the answer, warms the cache, and reveals the
# exact OData request the gateway sends for it.
seq0=$(last_seq)
body=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$QUERY")
answer=$(curl -sf "$gateway/graphql" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$body")
echo "$answer" | python3 -c '
import json,sys
a = json.load(sys.stdin)
assert "errors" not in a, a
assert len(a["data"]["conversations"]["nodes"]) == 20, a'
odata_path=$(curl -sf "http://127.0.0.1:${up_port}/_test/requests?since=$seq0" |
  python3 -c 'import json,sys; print([e["url"] for e in json.load(sys.stdin) if "Conversation" in e["url"]][-1])')

# Runs wrk; prints "requests/s p50_ms p99_ms errors".
measure() {
  wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" >"$work/wrk.out" 2>&1
  wrk_figures "$work/wrk.out" | cut -d' ' -f1-4
}

run() { # name, then wrk arguments
  local name=$1; shift
  local since; since=$(last_seq)
  local figures; figures=$(measure "$@")
  local sent; sent=$(upstream_requests_since "$since")
  echo "$name $figures $sent" >>"$work/results"
  echo "  $name done" >&2
}

echo "measuring: $CONNECTIONS connections, $THREADS threads, $DURATION each" >&2
export BENCH_QUERY="$QUERY" BENCH_TOKEN="$TOKEN"
BENCH_NO_CACHE=0 BENCH_DISTINCT=0 run hot -s bench/graphql.lua "$gateway/graphql"
BENCH_NO_CACHE=1 BENCH_DISTINCT=0 run cold -s bench/graphql.lua "$gateway/graphql"
BENCH_NO_CACHE=1 BENCH_DISTINCT=1 run cold-distinct -s bench/graphql.lua "$gateway/graphql"
run direct -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${up_port}${odata_path}"

python3 - "$work/results" "$odata_path" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, bad, sent = line.split()
    rows[name] = dict(rps=float(rps), p50=float(p50), p99=float(p99), bad=int(bad), sent=int(sent))
labels = {
    "hot": "hot (cache hit)",
    "cold": "cold (no-cache, identical)",
    "cold-distinct": "cold (no-cache, distinct offsets)",
    "direct": "direct OData upstream",
}
print(f"\nOData request: {sys.argv[2]}\n")
print(f"{'mode':36} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'upstream reqs':>14} {'errors':>7}")
for name, label in labels.items():
    r = rows[name]
    print(f"{label:36} {r['rps']:>10.1f} {r['p50']:>9.2f} {r['p99']:>9.2f} {r['sent']:>14} {r['bad']:>7}")
h, c, d, cd = rows["hot"], rows["cold"], rows["direct"], rows["cold-distinct"]
print()
print(f"hot / direct:          {h['rps']/d['rps']:.2f}x req/s, p50 {d['p50']/h['p50']:.2f}x lower, p99 {d['p99']/h['p99']:.2f}x lower")
print(f"hot / cold:            {h['rps']/c['rps']:.2f}x req/s, p50 {c['p50']/h['p50']:.2f}x lower, p99 {c['p99']/h['p99']:.2f}x lower")
print(f"hot / cold-distinct:   {h['rps']/cd['rps']:.2f}x req/s, p50 {cd['p50']/h['p50']:.2f}x lower")
print(f"cold-distinct / direct: {cd['rps']/d['rps']:.2f}x req/s (the gateway's own cost on a miss)")
if any(r["bad"] for r in rows.values()):
    print("\nWARNING: some requests failed (non-2xx or socket errors); see the errors column")
PY
