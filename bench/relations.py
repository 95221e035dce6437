#!/usr/bin/env python3
"""Relations benchmark: the dashboard query (a page of conversations with
inbox, assignee, labels, their 3 latest messages and each message's sender)
at 50, 200 and 1000 conversations. Prints, per size, the upstream requests
the gateway sent and its wall time (median of several runs), beside the
requests a per-parent (N+1) resolver would send, once with batched requests
and once with $expand (test upstream started with DECLARE_NAVIGATION=1).

Usage: bench/relations.py   (builds the release binary; needs Node.js 20)
Load goes to 127.0.0.1 only and stops by itself.
"""
import json, os, socket, statistics, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, http_json, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = 5
SIZES = [50, 200, 1000]
QUERY = """query($n: Int!) { conversations(first: $n, orderBy: [{createdAt: DESC}]) { nodes {
  id inbox { id name } assignee { id name } labels { id title }
  messages(first: 3, orderBy: [{createdAt: DESC}]) { id createdAt sender { id name } } } } }"""


def start(cmd, env, ready):
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline() if ready == "stdout" else ""
    return proc, line


def series(navigation):
    env = {"PORT": "0", "CONVERSATIONS": "2000", "PARENT_PID": str(os.getpid())}
    if navigation:
        env["DECLARE_NAVIGATION"] = "1"
    upstream, line = start(["node", "tests/upstream/server.js"], env, "stdout")
    port = int(line.split()[1])
    gw_port = free_port()
    gateway, _ = start(
        ["target/release/liveagent-graphql", "--upstream", f"http://127.0.0.1:{port}/v1.0/odata", "--listen", f"127.0.0.1:{gw_port}"],
        {"LOG": "warn"},
        None,
    )
    try:
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        url = f"http://127.0.0.1:{gw_port}/graphql"
        headers = {"Content-Type": "application/json", "Authorization": "Bearer admin-token-1", "Cache-Control": "no-cache"}
        http_json(url, {"query": "{ labels(first: 1) { nodes { id } } }"}, headers)  # reads $metadata
        rows = []
        for n in SIZES:
            times, requests, body = [], None, None
            for _ in range(RUNS):
                since = max([e["seq"] for e in http_json(f"http://127.0.0.1:{port}/_test/requests")] or [0])
                t0 = time.perf_counter()
                body = http_json(url, {"query": QUERY, "variables": {"n": n}}, headers)
                times.append((time.perf_counter() - t0) * 1000)
                log = http_json(f"http://127.0.0.1:{port}/_test/requests?since={since}")
                requests = len([e for e in log if "$metadata" not in e["url"]])
            if "errors" in body:
                sys.exit(f"errors: {json.dumps(body['errors'])[:500]}")
            nodes = body["data"]["conversations"]["nodes"]
            messages = sum(len(c["messages"]) for c in nodes)
            # 1 list + inbox, assignee, labels, messages per conversation + sender per message
            n_plus_one = 1 + 4 * len(nodes) + messages
            rows.append((len(nodes), requests, n_plus_one, statistics.median(times), min(times)))
        return rows
    finally:
        gateway.terminate()
        upstream.terminate()


def main():
    subprocess.run(["scripts/setup.sh"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    for navigation in (False, True):
        mode = "$expand (navigation declared)" if navigation else "batched requests (no navigation)"
        print(f"\ndashboard query, {mode}, median of {RUNS} runs, cache bypassed")
        print(f"{'conversations':>13} {'upstream req':>12} {'N+1 req':>8} {'median ms':>10} {'min ms':>8}")
        for n, req, n1, med, low in series(navigation):
            print(f"{n:>13} {req:>12} {n1:>8} {med:>10.1f} {low:>8.1f}")


if __name__ == "__main__":
    main()
