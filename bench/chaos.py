#!/usr/bin/env python3
"""Chaos soak: mixed dashboard queries for a while (default 10 minutes)
while the test upstream misbehaves at random — added latency, reset
connections, truncated bodies, 5xx answers, garbage — and slow clients hold
connections open a byte at a time (slowloris). Reports the requests served,
errors by code, wrong answers (data that differs from the answer the same
query got before the chaos began; must be 0), whether the gateway process
survived, and its resident memory at start and end.

Usage: bench/chaos.py [--seconds S] [--workers N] [--slow-clients M]
Needs Node.js 20; builds the release binary. Load goes to 127.0.0.1 only
and stops by itself.
"""
import argparse, collections, json, os, random, socket, subprocess, sys, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, http_json, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUERIES = [
    "{ conversations(first: 20, orderBy: [{createdAt: DESC}]) { nodes { id status inbox { name } assignee { name } messages(first: 3) { id sender { name } } } } }",
    "{ conversations(first: 50, where: {status: {in: [OPEN, PENDING]}}) { totalCount nodes { id } } }",
    "{ conversationsAggregate(groupBy: [INBOX_ID]) { key { inboxId } count } }",
    "{ conversationCounts { open unassigned pending resolved all } }",
    "{ agentActivity(from: \"2025-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\", bucket: WEEK) { userId bucket conversationsAssigned } }",
    "{ inboxes { nodes { id name conversations(first: 2) { totalCount } } } }",
    "{ conversation(id: 7) { id status labels { title } } }",
    "{ messages(first: 30, where: {content: {contains: \"100%\"}}) { nodes { id content } } }",
]

# What the upstream does to each request during the soak (shares of all).
CHAOS = {"latency_ms": [0, 400], "reset": 0.03, "truncate": 0.03, "status_5xx": 0.08, "garbage": 0.03}


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def post(url, query, no_cache):
    headers = {"Content-Type": "application/json", "Authorization": "Bearer admin-token-1"}
    if no_cache:
        headers["Cache-Control"] = "no-cache"
    req = urllib.request.Request(url, data=json.dumps({"query": query}).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def slow_client(port, stop, closed):
    """Sends a request line and headers a byte every few seconds."""
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            for byte in b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n":
                if stop.is_set():
                    break
                s.send(bytes([byte]))
                stop.wait(3)
            s.close()
        except OSError:
            closed["count"] += 1
            stop.wait(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--slow-clients", type=int, default=50)
    args = parser.parse_args()
    subprocess.run(["scripts/setup.sh"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)

    env = {**os.environ, "PORT": "0", "PARENT_PID": str(os.getpid())}
    upstream = subprocess.Popen(["node", "server.js"], cwd=os.path.join(ROOT, "tests/upstream"), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    up_port = int(upstream.stdout.readline().split()[1])
    gw_port = free_port()
    gateway = subprocess.Popen(
        ["target/release/liveagent-graphql", "--upstream", f"http://127.0.0.1:{up_port}/v1.0/odata",
         "--listen", f"127.0.0.1:{gw_port}", "--upstream-dialect", "odata4"],
        cwd=ROOT, env={**os.environ, "LOG": "warn"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{gw_port}/graphql"
    chaos = f"http://127.0.0.1:{up_port}/_test/chaos"
    try:
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        expected = {}
        for q in QUERIES:
            body = post(url, q, True)
            if "errors" in body:
                sys.exit(f"before the chaos: {json.dumps(body['errors'])[:400]}")
            expected[q] = body["data"]
        rss_start = rss_kb(gateway.pid)
        http_json(chaos, CHAOS)

        stop = threading.Event()
        counts = collections.Counter()
        lock = threading.Lock()
        closed = {"count": 0}

        def worker(seed):
            rng = random.Random(seed)
            while not stop.is_set():
                q = rng.choice(QUERIES)
                try:
                    body = post(url, q, rng.random() < 0.5)
                except Exception as e:  # the gateway answers every request
                    kind = f"no answer: {type(e).__name__}"
                else:
                    errors = body.get("errors") or []
                    if not errors:
                        kind = "answered" if body.get("data") == expected[q] else "WRONG ANSWER"
                    else:
                        codes = sorted({(e.get("extensions") or {}).get("code", "?") for e in errors})
                        kind = "error " + ",".join(codes)
                with lock:
                    counts[kind] += 1

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.workers)]
        threads += [threading.Thread(target=slow_client, args=(gw_port, stop, closed), daemon=True)
                    for _ in range(args.slow_clients)]
        started = time.time()
        for t in threads:
            t.start()
        stop.wait(args.seconds)
        stop.set()
        for t in threads:
            t.join(timeout=130)
        elapsed = time.time() - started
        urllib.request.urlopen(urllib.request.Request(chaos, method="DELETE"), timeout=10)
        alive = gateway.poll() is None
        after = post(url, QUERIES[0], True) if alive else None
        rss_end = rss_kb(gateway.pid) if alive else 0

        total = sum(counts.values())
        print(f"chaos soak: {elapsed:.0f} s, {args.workers} workers, {args.slow_clients} slow clients, upstream chaos {json.dumps(CHAOS)}")
        print(f"{'outcome':<48} {'requests':>9} {'share':>7}")
        for kind, n in counts.most_common():
            print(f"{kind:<48} {n:>9} {100 * n / max(total, 1):>6.1f}%")
        print(f"{'total':<48} {total:>9}   ({total / elapsed:.1f}/s)")
        print(f"wrong answers: {counts['WRONG ANSWER']}")
        print(f"gateway process alive at the end: {'yes' if alive else 'NO'}; answers after the chaos: "
              f"{'right' if after and after.get('data') == expected[QUERIES[0]] else 'WRONG'}")
        print(f"slow-client connections closed by the gateway: {closed['count']}")
        print(f"gateway RSS: {rss_start / 1024:.1f} MB at start, {rss_end / 1024:.1f} MB at end")
        if counts["WRONG ANSWER"] or not alive:
            sys.exit(1)
    finally:
        gateway.terminate()
        upstream.terminate()


if __name__ == "__main__":
    main()
