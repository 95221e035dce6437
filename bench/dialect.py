#!/usr/bin/env python3
"""Minimal-dialect benchmark: the gateway in front of the jaystack test
upstream (tests/upstream-pg: odata-v4-pg over PostgreSQL, no `not`, no null
literal, no `$count`, page cap 10 000) with 100 000 conversations. Per query:
wall time (median and min of several runs, cache bypassed with
`Cache-Control: no-cache`), and from the gateway's own explain output the
upstream requests, rows read and residual predicates.

  (a) a list with a filter the upstream evaluates (pushed down)
  (b) the same list with a residual (`isNull`, a negated `contains`)
  (c) `totalCount`: counted from ids (no `$count` on this upstream), and with
      `$count` on the CAP test upstream at the same size, for comparison
  (d) a 200-conversation dashboard with inbox, assignee, the 3 latest
      messages of each and their senders
  (e) the relations suite's dashboard (200 conversations with inbox,
      assignee, labels, the 3 latest messages and their senders; endpoint
      1.0) on the CAP test upstream at its default size (600 conversations)
      with a page cap of 1 000 (`MAX_TOP`) the gateway is not told, default
      configuration: the probes find the cap and `in`; requests counted
      per collection

Usage: bench/dialect.py [--conversations N] [--runs R] [--gateway-args ARGS] [--only-e]
(--gateway-args: extra gateway flags for (e), e.g. `--upstream-page-cap 1000`
to tell the cap to a build that cannot learn it; --only-e: (e) alone.)
Needs Node.js 20 and PostgreSQL (scripts/setup.sh --tests installs both);
builds the release binary. Load goes to 127.0.0.1 only and stops by itself.
"""
import argparse, json, os, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, http_json, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUERIES = [
    ("(a) list, pushed-down filter",
     "{ conversations(first: 50, where: {status: {in: [OPEN, PENDING]}, inboxId: {in: [1, 2]}}, orderBy: [{createdAt: DESC}]) { nodes { id status } } }"),
    ("(b) list, residual isNull",
     "{ conversations(first: 50, where: {assigneeId: {isNull: true}, inboxId: {in: [1, 2]}}, orderBy: [{createdAt: DESC}]) { nodes { id status } } }"),
    ("(b) list, residual not contains",
     "{ messages(first: 50, where: {not: {content: {contains: \"a\"}}, messageType: {eq: INCOMING}}) { nodes { id } } }"),
    ("(c) totalCount, one inbox",
     "{ conversations(first: 0, where: {inboxId: {eq: 1}}) { totalCount } }"),
    ("(c) totalCount, all",
     "{ conversations(first: 0) { totalCount } }"),
    ("(d) dashboard, 200 conversations",
     """{ conversations(first: 200, orderBy: [{createdAt: DESC}]) { nodes { id inbox { id name } assignee { id name }
        messages(first: 3, orderBy: [{createdAt: DESC}]) { id createdAt sender { id name } } } } }"""),
]


def start_upstream(directory, conversations, extra_env=None):
    env = {**os.environ, "PORT": "0", "CONVERSATIONS": str(conversations), "PARENT_PID": str(os.getpid()),
           **(extra_env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(["node", "server.js"], cwd=os.path.join(ROOT, directory), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("LISTENING "):
            return proc, int(line.split()[1]), time.perf_counter() - t0
    sys.exit(f"{directory} did not start")


DASHBOARD = """{ conversations(first: 200, orderBy: [{createdAt: DESC}]) { nodes { id inbox { id name }
    assignee { id name } labels { id title }
    messages(first: 3, orderBy: [{createdAt: DESC}]) { id createdAt senderType sender { id name } } } } }"""


def start_gateway(upstream_port, args, version="1.1"):
    port = free_port()
    proc = subprocess.Popen(
        ["target/release/liveagent-graphql", "--upstream", f"http://127.0.0.1:{upstream_port}/v{version}/odata",
         "--listen", f"127.0.0.1:{port}", *args],
        cwd=ROOT, env={**os.environ, "LOG": "warn"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc, f"http://127.0.0.1:{port}/graphql"


def measure(url, query, runs):
    headers = {"Content-Type": "application/json", "Authorization": "Bearer admin-token-1",
               "Cache-Control": "no-cache", "X-Explain": "1"}
    times, body = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        body = http_json(url, {"query": query}, headers)
        times.append((time.perf_counter() - t0) * 1000)
        if "errors" in body:
            sys.exit(f"errors: {json.dumps(body['errors'])[:500]}")
    explain = body["extensions"]["explain"]
    requests = explain["requests"]
    rows = sum(r.get("rows", 0) for r in requests)
    residuals = "; ".join(f"{r['predicate']} kept {r['rowsMatched']}/{r['rowsRead']}" for r in explain["residuals"])
    return statistics.median(times), min(times), len(requests), rows, residuals


def upstream_log(port):
    """`log()`: the upstream's last seq; `log(since)`: requests since then
    by collection, the gateway's capability probes left out."""
    def log(since=None):
        entries = http_json(f"http://127.0.0.1:{port}/_test/requests?since={since or 0}")
        if since is None:
            return max((e["seq"] for e in entries), default=0)
        counts = {}
        for e in entries:
            if e.get("request_id") == "capability-probe" or "$metadata" in e["url"]:
                continue
            collection = e["path"].rsplit("/", 1)[-1].split("(")[0]
            counts[collection] = counts.get(collection, 0) + 1
        return counts
    return log


def table(title, url, queries, runs, log=None):
    print(f"\n{title}, median and min of {runs} runs, cache bypassed")
    print(f"{'query':<34} {'median ms':>10} {'min ms':>8} {'requests':>9} {'rows read':>10}  residual")
    http_json(url, {"query": "{ inboxes(first: 1) { nodes { id } } }"},
              {"Content-Type": "application/json", "Authorization": "Bearer admin-token-1"})  # $metadata
    for name, query in queries:
        med, low, requests, rows, residuals = measure(url, query, runs)
        print(f"{name:<34} {med:>10.1f} {low:>8.1f} {requests:>9} {rows:>10}  {residuals}")
        if log:
            # Requests the upstream got for one run (explain lists only
            # answers the request waited for, not pages dropped in flight).
            since = log()
            measure(url, query, 1)
            for collection, n in sorted(log(since).items()):
                print(f"    {collection:<30} {n:>3} requests")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gateway-args", default="")
    parser.add_argument("--only-e", action="store_true")
    args = parser.parse_args()
    subprocess.run(["scripts/setup.sh", "--tests"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    if not args.only_e:
        minimal_dialect(args)
    dashboard(args)


def minimal_dialect(args):

    upstream, port, started = start_upstream("tests/upstream-pg", args.conversations)
    gateway, url = start_gateway(port, ["--upstream-dialect", "liveagent"])
    try:
        print(f"jaystack upstream (odata-v4-pg) with {args.conversations} conversations, ready in {started:.1f} s")
        table("liveagent dialect on the jaystack upstream", url, QUERIES, args.runs)
    finally:
        gateway.terminate()
        upstream.terminate()

    upstream, port, started = start_upstream("tests/upstream", args.conversations)
    gateway, url = start_gateway(port, ["--upstream-dialect", "odata4"])
    try:
        print(f"\nCAP upstream with {args.conversations} conversations, ready in {started:.1f} s")
        table("odata4 dialect on the CAP upstream ($count, $expand where declared)", url,
              [q for q in QUERIES if q[0].startswith("(c)")], args.runs)
    finally:
        gateway.terminate()
        upstream.terminate()


def dashboard(args):
    upstream, port, started = start_upstream("tests/upstream", 600, {"MAX_TOP": "1000"})
    gateway, url = start_gateway(port, args.gateway_args.split(), version="1.0")
    try:
        print(f"\nCAP upstream with 600 conversations and a page cap of 1000, ready in {started:.1f} s")
        table("default configuration on the CAP upstream, page cap not told", url,
              [("(e) relations suite's dashboard", DASHBOARD),
               ("(e) 400 conversations, messages", "{ conversations(first: 400) { nodes { id messages { id } } } }")],
              args.runs, upstream_log(port))
    finally:
        gateway.terminate()
        upstream.terminate()


if __name__ == "__main__":
    main()
