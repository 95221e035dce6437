#!/usr/bin/env python3
"""Compression benchmark: a list response of about 1 MB (conversations with
their scalar fields), fetched with each Accept-Encoding. Prints, per
encoding, the bytes before and after, the ratio, and the gateway process's
CPU time (utime + stime from /proc) per MB of response: cold (each request
executed again: `Cache-Control: no-cache`) and on a hot whole-response hit
(the same request answered from the response cache, its encoded form made
once before).

Usage: bench/compression.py --bin target/release/liveagent-graphql
Needs Node.js 20 (the test upstream). Load goes to 127.0.0.1 only.
"""
import argparse, gzip, json, os, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = 2600
QUERY = """query($n: Int!) { conversations(first: $n, orderBy: [{id: ASC}]) { nodes {
  id accountId inboxId assigneeId createdAt updatedAt contactId displayId
  uuid identifier lastActivityAt teamId contactLastSeenAt agentLastSeenAt } } }"""
ENCODINGS = ["identity", "gzip", "br", "zstd"]
COLD_RUNS = 30
HOT_RUNS = 500
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def fetch(url, encoding, cold):
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer admin-token-1",
        "Accept-Encoding": encoding,
    }
    if cold:
        headers["Cache-Control"] = "no-cache"
    body = json.dumps({"query": QUERY, "variables": {"n": ROWS}}).encode()
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.headers.get("Content-Encoding") or "identity", r.read()


def cpu_ms_per_mb(pid, url, encoding, cold, runs, identity_bytes):
    before = cpu_seconds(pid)
    for _ in range(runs):
        fetch(url, encoding, cold)
    spent = cpu_seconds(pid) - before
    return spent * 1000 / (runs * identity_bytes / 1e6)


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--bin", default="target/release/liveagent-graphql")
    opts = args.parse_args()
    env = {"PORT": "0", "CONVERSATIONS": str(ROWS + 100), "PARENT_PID": str(os.getpid())}
    upstream = subprocess.Popen(["node", "tests/upstream/server.js"], cwd=ROOT, env={**os.environ, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(upstream.stdout.readline().split()[1])
    gw_port = free_port()
    gateway = subprocess.Popen(
        [opts.bin, "--upstream", f"http://127.0.0.1:{port}/v1.1/odata", "--listen", f"127.0.0.1:{gw_port}",
         "--max-first", "10000", "--upstream-dialect", "odata4"],
        cwd=ROOT, env={**os.environ, "LOG": "warn"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        url = f"http://127.0.0.1:{gw_port}/graphql"
        _, plain = fetch(url, "identity", True)
        data = json.loads(plain)
        if "errors" in data:
            sys.exit(f"errors: {json.dumps(data['errors'])[:500]}")
        size = len(plain)
        print(f"list of {len(data['data']['conversations']['nodes'])} conversations: {size} bytes; "
              f"CPU per MB of the identity body, cold over {COLD_RUNS} runs, hot over {HOT_RUNS}")
        print(f"{'encoding':<9} {'bytes':>9} {'after':>9} {'ratio':>6} {'cold ms/MB':>11} {'hot ms/MB':>10}")
        for encoding in ENCODINGS:
            sent, body = fetch(url, encoding, True)
            if sent != encoding:
                sys.exit(f"asked {encoding}, got {sent}")
            if encoding == "gzip" and gzip.decompress(body) != plain:
                sys.exit("the gzip body does not decode to the identity body")
            cold = cpu_ms_per_mb(gateway.pid, url, encoding, True, COLD_RUNS, size)
            fetch(url, encoding, False)  # the entry and its encoded form, made once
            hot = cpu_ms_per_mb(gateway.pid, url, encoding, False, HOT_RUNS, size)
            print(f"{encoding:<9} {size:>9} {len(body):>9} {size / len(body):>6.1f} {cold:>11.1f} {hot:>10.2f}")
    finally:
        gateway.terminate()
        upstream.terminate()
        gateway.wait()
        upstream.wait()


if __name__ == "__main__":
    main()
