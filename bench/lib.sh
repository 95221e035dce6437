# Shared set-up of the shell benchmarks: a scratch folder removed at exit
# with every process started, the CAP test upstream and the release
# gateway on free ports. Source it from the repository root after
# `cargo build --release`.

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sets up_port and upstream (its v1.1 service root).
start_upstream() {
  PORT=0 PARENT_PID=$$ node tests/upstream/server.js >"$work/upstream.out" 2>"$work/upstream.err" &
  pids+=($!)
  for _ in $(seq 1 240); do grep -q '^LISTENING' "$work/upstream.out" && break; sleep 0.25; done
  up_port=$(sed -n 's/^LISTENING //p' "$work/upstream.out")
  [ -n "$up_port" ] || { echo "the test upstream did not start" >&2; cat "$work/upstream.err" >&2; exit 1; }
  upstream="http://127.0.0.1:${up_port}/v1.1/odata"
}

# Sets gw_port, gw_pid and gateway (its base URL); extra flags follow.
start_gateway() {
  gw_port=$(free_port)
  LOG=warn target/release/liveagent-graphql --upstream "$upstream" --listen "127.0.0.1:${gw_port}" \
    "$@" 2>"$work/gateway.err" &
  gw_pid=$!
  pids+=($gw_pid)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${gw_port}/healthz" >/dev/null && break; sleep 0.1; done
  gateway="http://127.0.0.1:${gw_port}"
}

# Prints "requests/s p50_ms p99_ms errors requests" read from a file of
# `wrk --latency` output (errors: non-2xx/3xx, socket errors, and the
# GraphQL errors bench/graphql.lua counts).
wrk_figures() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
bad = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
bad += sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
bad += sum(int(x) for x in re.findall(r"GraphQL errors: (\d+)", text))
print(f"{rps:.1f} {p50:.3f} {p99:.3f} {bad} {total}")
PY
}
