#!/usr/bin/env python3
"""Aggregates benchmark: two dashboard aggregates on the test upstream
generated at 100 000 conversations (about 840 000 messages), each computed
by $apply pushdown and by the gateway's scan. Prints, per query and path,
the groups, the upstream requests, the wall time (median of several runs,
cache bypassed) and the gateway's peak resident memory (VmHWM of its
process; a fresh gateway per query and path, so each peak is its own).

  (a) conversations per inbox per day, for a year
  (b) average first-reply seconds per agent per week, for a year

Usage: bench/aggregates.py   (builds the release binary; needs Node.js 20)
The data is kept in target/bench-aggregates-100000.sqlite and reused (the
first run generates it, ~1 min). Load goes to 127.0.0.1 only.
"""
import json, os, socket, statistics, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, http_json, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONVERSATIONS = 100_000
RUNS = 3
YEAR = '{gte: "2025-11-01T00:00:00Z", lt: "2026-11-01T00:00:00Z"}'
QUERIES = {
    "(a) conversations per inbox per day": f"""{{ conversationsAggregate(where: {{createdAt: {YEAR}}},
        groupBy: [INBOX_ID], bucket: {{field: CREATED_AT, unit: DAY}}) {{ key {{ inboxId bucket }} count }} }}""",
    "(b) avg first reply per agent per week": f"""{{ reportingEventsAggregate(
        where: {{name: {{eq: "first_reply_created"}}, createdAt: {YEAR}}},
        groupBy: [USER_ID], bucket: {{field: CREATED_AT, unit: WEEK}}) {{ key {{ userId bucket }} count avg {{ value }} }} }}""",
}


def peak_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def last_seq(up_port):
    return max([e["seq"] for e in http_json(f"http://127.0.0.1:{up_port}/_test/requests")] or [0])


def measure(up_port, path, query):
    """A fresh gateway; returns (groups, requests, median ms, peak MB, idle MB, data)."""
    port = free_port()
    gateway = subprocess.Popen(
        ["target/release/liveagent-graphql", "--upstream", f"http://127.0.0.1:{up_port}/v1.1/odata",
         "--listen", f"127.0.0.1:{port}", "--aggregate-pushdown", path],
        cwd=ROOT, env={**os.environ, "LOG": "warn"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        url = f"http://127.0.0.1:{port}/graphql"
        headers = {"Content-Type": "application/json", "Authorization": "Bearer admin-token-1", "Cache-Control": "no-cache"}
        http_json(url, {"query": "{ inboxes(first: 1) { nodes { id } } }"}, headers)  # reads $metadata
        idle = peak_mb(gateway.pid)
        times, requests, body = [], 0, None
        for _ in range(RUNS):
            since = last_seq(up_port)
            t0 = time.perf_counter()
            body = http_json(url, {"query": query}, headers)
            times.append((time.perf_counter() - t0) * 1000)
            log = http_json(f"http://127.0.0.1:{up_port}/_test/requests?since={since}")
            requests = len([e for e in log if "$metadata" not in e["url"]])
        if "errors" in body:
            sys.exit(f"errors: {json.dumps(body['errors'])[:500]}")
        data = next(iter(body["data"].values()))
        return len(data), requests, statistics.median(times), peak_mb(gateway.pid), idle, data
    finally:
        gateway.terminate()
        gateway.wait()


def close(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def main():
    subprocess.run(["scripts/setup.sh"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    db = os.path.join(ROOT, "target", f"bench-aggregates-{CONVERSATIONS}.sqlite")
    env = {**os.environ, "PORT": "0", "CONVERSATIONS": str(CONVERSATIONS), "DB_FILE": db, "PARENT_PID": str(os.getpid())}
    t0 = time.time()
    upstream = subprocess.Popen(["node", "tests/upstream/server.js"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        up_port = int(upstream.stdout.readline().split()[1])
        print(f"upstream ready in {time.time() - t0:.0f} s ({CONVERSATIONS} conversations, {db})")
        print(f"\n{'query':<40} {'path':<9} {'groups':>6} {'upstream req':>12} {'median ms':>10} {'peak MB':>8} {'idle MB':>8}")
        for name, query in QUERIES.items():
            results = {}
            for path in ("on", "off"):
                groups, requests, ms, peak, idle, data = measure(up_port, path, query)
                results[path] = data
                label = "pushdown" if path == "on" else "scan"
                print(f"{name:<40} {label:<9} {groups:>6} {requests:>12} {ms:>10.0f} {peak:>8.1f} {idle:>8.1f}")
            if not close(results["on"], results["off"]):
                sys.exit(f"{name}: pushdown and scan differ")
        print("\npushdown and scan gave the same groups for both queries")
    finally:
        upstream.terminate()


if __name__ == "__main__":
    main()
