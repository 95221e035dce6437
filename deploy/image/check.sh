#!/usr/bin/env bash
# Runs the image the Dockerfile builds against the test upstream (sample
# data, on this machine) and checks what a container platform relies on:
# /healthz, a GraphQL query with a token, the image's own HEALTHCHECK, the
# unprivileged user, and a clean stop on SIGTERM.
#   podman build --format docker -t liveagent-graphql:local .
#   deploy/image/check.sh [IMAGE]
# Needs podman (and runc), Node.js and the test upstream's npm packages
# (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
image="${1:-liveagent-graphql:local}"
podman=(podman --runtime runc --cgroup-manager cgroupfs)
name="liveagent-graphql-check-$$"
log="$(mktemp)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

(cd tests/upstream && PORT=0 exec node server.js >"$log" 2>/dev/null) &
upstream_pid=$!
cleanup() {
  "${podman[@]}" rm -f "$name" >/dev/null 2>&1 || true
  kill "$upstream_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q '^LISTENING' "$log" && break; sleep 0.1; done
upstream_port="$(sed -n 's/^LISTENING \([0-9]*\)$/\1/p' "$log")"
[ -n "$upstream_port" ] || { echo "the test upstream did not start" >&2; exit 1; }
port="$(free_port)"

"${podman[@]}" run -d --name "$name" --network host \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  -e UPSTREAM_URL="http://127.0.0.1:$upstream_port/v1.1/odata" \
  -e LISTEN_ADDR="127.0.0.1:$port" \
  "$image" >/dev/null

for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "healthz: $(curl -fsS "http://127.0.0.1:$port/healthz")"

answer="$(curl -fsS "http://127.0.0.1:$port/graphql" \
  -H 'Authorization: Bearer admin-token-1' -H 'Content-Type: application/json' \
  -d '{"query":"{ inboxes(first: 2) { nodes { id name } } }"}')"
echo "query: $answer"
echo "$answer" | python3 -c 'import json,sys; b=json.load(sys.stdin); assert "errors" not in b and len(b["data"]["inboxes"]["nodes"]) == 2, b'

"${podman[@]}" healthcheck run "$name"
echo "healthcheck: $("${podman[@]}" inspect --format '{{.State.Health.Status}}' "$name")"
user="$("${podman[@]}" inspect --format '{{.Config.User}}' "$name")"
echo "user: $user"
[ "$user" = 10001 ]

"${podman[@]}" stop -t 10 "$name" >/dev/null
code="$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")"
echo "exit code after SIGTERM: $code"
[ "$code" = 0 ]
echo "image $image: ok"
