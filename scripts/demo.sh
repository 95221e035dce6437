#!/usr/bin/env bash
# One command to try the gateway: installs and starts the Live Agent test
# upstream with sample data, builds and starts the gateway in front of it.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

UPSTREAM_PORT="${UPSTREAM_PORT:-4004}"
GATEWAY_ADDR="${LISTEN_ADDR:-127.0.0.1:8080}"
VERSION="${VERSION:-1.1}"

scripts/setup.sh
cargo build --release --locked

log=$(mktemp)
PORT="$UPSTREAM_PORT" PARENT_PID=$$ node tests/upstream/server.js >"$log" &
upstream_pid=$!
trap 'kill $upstream_pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 120); do
  grep -q '^LISTENING' "$log" && break
  kill -0 $upstream_pid 2>/dev/null || { echo "the test upstream failed to start" >&2; exit 1; }
  sleep 0.5
done
grep -q '^LISTENING' "$log" || { echo "the test upstream did not start in time" >&2; exit 1; }

cat <<MSG

  Playground:     http://${GATEWAY_ADDR}/   (put "Bearer admin-token-1" in the Authorization header)
  GraphQL:        http://${GATEWAY_ADDR}/graphql
  Test upstream:  http://127.0.0.1:${UPSTREAM_PORT}/v${VERSION}/odata  (tokens: admin-token-1, admin-token-2)

  Try:
    curl -s http://${GATEWAY_ADDR}/graphql \\
      -H 'Authorization: Bearer admin-token-1' -H 'Content-Type: application/json' \\
      -d '{"query":"{ conversations(first: 3, orderBy: [{createdAt: DESC}]) { totalCount nodes { id status createdAt } } }"}'

MSG
exec target/release/liveagent-graphql --upstream "http://127.0.0.1:${UPSTREAM_PORT}/v${VERSION}/odata" --listen "$GATEWAY_ADDR"
