#!/usr/bin/env python3
"""The CPU cost of OpenTelemetry traces: the gateway's CPU per request with
traces off (no OTLP endpoint) and at full sampling (`always_on`, exported
over OTLP http/protobuf to a local sink that accepts and drops them), on
two paths:

  hot   the same query again and again: every answer is a whole-response
        cache hit (one server span a request)
  cold  the same query with `Cache-Control: no-cache`: every request goes
        upstream (a server span and a client span a request)

Both gateways run side by side and take turns, 20 chunks of requests each
per path, so that both meet the same load of the (shared) machine. CPU is
each gateway process's utime+stime from /proc/<pid>/stat, read before the
requests and after them plus a pause longer than the batch exporter's
schedule delay, so that the export of the last spans is counted. Requests
go one at a time over one keep-alive connection per gateway. Each path is
measured ROUNDS times; the last line of a path is the mean of its rounds.

Usage: bench/tracing.py [--bin target/release/liveagent-graphql]
  HOT=20000 COLD=3000 ROUNDS=2 bench/tracing.py     other counts
(builds the release binary unless --bin names one; needs Node.js 20)
"""
import http.client, http.server, json, os, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "admin-token-1"
HOT = int(os.environ.get("HOT", "20000"))
COLD = int(os.environ.get("COLD", "3000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
# Requests of one path go in this many chunks, the two gateways taking turns.
CHUNKS = 20
QUERY = "query Labels { labels(first: 5, orderBy: [{id: ASC}]) { nodes { id title } } }"
# Longer than the batch exporter's default schedule delay (5 s).
SETTLE_S = 6
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that counts what it is sent and drops it."""
    received = {"requests": 0, "bytes": 0}

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        Sink.received["requests"] += 1
        Sink.received["bytes"] += length
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def run(conn, n, no_cache):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    if no_cache:
        headers["Cache-Control"] = "no-cache"
    body = json.dumps({"query": QUERY})
    for _ in range(n):
        conn.request("POST", "/graphql", body, headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200 or b'"errors"' in data:
            sys.exit(f"request failed: {response.status} {data[:300]!r}")


def start_gateway(binary, up_port, sink_port, traced):
    port = free_port()
    env = {**os.environ, "LOG": "warn"}
    for name in [k for k in env if k.startswith("OTEL_")]:
        del env[name]
    if traced:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"
        env["OTEL_TRACES_SAMPLER"] = "always_on"
    gateway = subprocess.Popen(
        [binary, "--upstream", f"http://127.0.0.1:{up_port}/v1.1/odata", "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_http(f"http://127.0.0.1:{port}/healthz")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    run(conn, 200, False)  # $metadata, caches, connections warm
    run(conn, 200, True)
    return gateway, conn


def measure(gateways, path, n, no_cache):
    """CPU ms per request of each gateway for `n` requests on `path`, sent
    in chunks taking turns, so that both meet the same machine load."""
    time.sleep(SETTLE_S)
    before = [cpu_ms(g.pid) for g, _ in gateways]
    elapsed = [0.0 for _ in gateways]
    for _ in range(CHUNKS):
        for i, (_, conn) in enumerate(gateways):
            started = time.monotonic()
            run(conn, n // CHUNKS, no_cache)
            elapsed[i] += time.monotonic() - started
    time.sleep(SETTLE_S)
    sent = n // CHUNKS * CHUNKS
    return [((cpu_ms(g.pid) - b) / sent, sent / e) for (g, _), b, e in zip(gateways, before, elapsed)]


def main():
    args = iter(sys.argv[1:])
    binary = None
    for a in args:
        if a == "--bin":
            binary = next(args)
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/liveagent-graphql")
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    env = {**os.environ, "PORT": "0", "PARENT_PID": str(os.getpid())}
    upstream = subprocess.Popen(["node", "tests/upstream/server.js"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    try:
        up_port = int(upstream.stdout.readline().split()[1])
        gateways = [start_gateway(binary, up_port, sink.server_address[1], traced) for traced in (False, True)]
        try:
            rounds = {"hot": [], "cold": []}
            for _ in range(ROUNDS):
                rounds["hot"].append(measure(gateways, "hot", HOT, False))
                rounds["cold"].append(measure(gateways, "cold", COLD, True))
        finally:
            for gateway, conn in gateways:
                conn.close()
                gateway.terminate()
                gateway.wait(timeout=30)
        print(f"gateway CPU per request, traces off and at full sampling, {ROUNDS} rounds of hot: {HOT} "
              f"and cold: {COLD} requests; sink got {Sink.received['requests']} exports, "
              f"{Sink.received['bytes'] / 1e6:.1f} MB")
        print(f"{'path':>5} {'round':>5} {'off ms/req':>10} {'on ms/req':>10} {'ratio':>6} {'off req/s':>9} {'on req/s':>9}")
        for path in ("hot", "cold"):
            for i, (off, on) in enumerate(rounds[path], 1):
                print(f"{path:>5} {i:>5} {off[0]:>10.4f} {on[0]:>10.4f} {on[0] / off[0]:>6.3f} {off[1]:>9.0f} {on[1]:>9.0f}")
            off = sum(r[0][0] for r in rounds[path]) / ROUNDS
            on = sum(r[1][0] for r in rounds[path]) / ROUNDS
            print(f"{path:>5} {'all':>5} {off:>10.4f} {on:>10.4f} {on / off:>6.3f}")
    finally:
        upstream.terminate()
        sink.shutdown()


if __name__ == "__main__":
    main()
