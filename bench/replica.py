#!/usr/bin/env python3
"""Analytics replica benchmark: the account of admin-token-1 on the test
upstream generated at 100 000 conversations (about 700 000 messages and
190 000 reporting events) copied into a replica, in SQLite and in
PostgreSQL, and four dashboard queries answered from it.

Per engine it prints the backfill (wall seconds from the gateway's start to
its first complete sync, rows per collection, rows/s), the replica's size on
disk (SQLite: file + WAL; PostgreSQL: pg_database_size), the gateway's
peak resident memory (VmHWM) after the backfill and after the queries, its
resident memory (VmRSS) after the queries, and how long a restarted gateway
takes to catch up on the existing replica. Per query it prints p50/p99
latency (nearest rank; one unmeasured request first) of:

  replica cold      response cache off (--response-cache-bytes 0); every
                    answer must carry extensions.replica.syncedAt
  replica repeated  a second gateway on the same replica, response cache on
                    (default size); the same request repeated
  scan              a gateway without replica, --aggregate-pushdown off,
                    Cache-Control: no-cache (each run reads the year upstream)
  scan repeated     the same gateway, the same request without no-cache
                    (answered from its response cache while the scanned
                    collections' TTLs last)

and fails unless the replica's data equals the scan's for every query.

  (a) conversations per inbox per day, for a year
  (b) average first-reply seconds per agent per week, for a year
  (c) conversationCounts (every status and assignment)
  (d) agentActivity per agent per week, for a year

Usage: bench/replica.py   (builds the release binary unless GATEWAY_BIN
names one; needs Node.js 20 and PostgreSQL's server binaries)
  GATEWAY_BIN=/path/to/liveagent-graphql bench/replica.py
The upstream data is kept in target/bench-aggregates-100000.sqlite, shared
with bench/aggregates.py (the first run generates it, ~1 min). Load goes to
127.0.0.1 only; the PostgreSQL cluster listens on a unix socket only.
"""
import json, math, os, re, subprocess, sys, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aggregates import CONVERSATIONS, QUERIES as AGGREGATES, close, peak_mb  # noqa: E402
from common import free_port, http_json, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "admin-token-1"
COLD_RUNS, REPEATED_RUNS, SCAN_RUNS = 20, 20, 3
SYNC_TIMEOUT_S = 3600
QUERIES = {
    **AGGREGATES,
    "(c) conversationCounts": "{ conversationCounts { all open resolved pending snoozed assigned unassigned } }",
    "(d) agentActivity per agent per week": """{ agentActivity(from: "2025-11-01T00:00:00Z",
        to: "2026-11-01T00:00:00Z", bucket: WEEK) { userId bucket conversationsAssigned
        conversationsResolved firstReplies avgFirstReplySeconds messagesSent } }""",
}
# Starts a private cluster (tests/upstream-pg), prints its socket folder and
# stays up until stdin closes or the benchmark dies; exiting removes it.
PG_SCRIPT = """
const { start } = require(process.argv[1])
start({}).then(c => process.stdout.write(c.socketDir + '\\n'), e => { console.error(e.message); process.exit(1) })
process.stdin.on('end', () => process.exit(0)).resume()
setInterval(() => { try { process.kill(Number(process.env.PARENT_PID), 0) } catch { process.exit(0) } }, 1000)
"""


def gateway_bin():
    if os.environ.get("GATEWAY_BIN"):
        return os.path.abspath(os.environ["GATEWAY_BIN"])
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "liveagent-graphql")


class Children:
    """Every process started here, stopped at the end whatever happens."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        proc = subprocess.Popen(args, cwd=ROOT, **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            if proc.stdin:
                proc.stdin.close()  # the PostgreSQL holder stops its cluster on EOF
            else:
                proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self):
        for proc in reversed(self.procs):
            self.stop(proc)


def start_gateway(children, binary, up_port, name, *args):
    port = free_port()
    log = open(os.path.join(ROOT, "target", f"bench-replica-{name}.log"), "w")
    proc = children.start(
        [binary, "--upstream", f"http://127.0.0.1:{up_port}/v1.1/odata", "--listen", f"127.0.0.1:{port}", *args],
        env={**os.environ, "LOG": "warn"}, stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc, port


def metrics(port):
    """/metrics as {'name{labels}': value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    found = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)", line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found


def per_collection(found, name):
    return {m.group(1): int(v) for k, v in found.items() if (m := re.fullmatch(name + r'\{collection="(\w+)"\}', k))}


def wait_synced(proc, port):
    """Seconds until the replica answers (gateway_replica_in_sync 1)."""
    t0 = time.time()
    while time.time() - t0 < SYNC_TIMEOUT_S:
        if proc.poll() is not None:
            sys.exit(f"gateway exited with {proc.returncode} during the sync (see target/bench-replica-*.log)")
        found = metrics(port)
        if found.get("gateway_replica_in_sync", 0) == 1:
            return time.time() - t0, found
        time.sleep(0.5)
    sys.exit("the replica did not sync in time")


def ask(port, query, no_cache=False):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    if no_cache:
        headers["Cache-Control"] = "no-cache"
    t0 = time.perf_counter()
    body = http_json(f"http://127.0.0.1:{port}/graphql", {"query": query}, headers)
    ms = (time.perf_counter() - t0) * 1000
    if "errors" in body:
        sys.exit(f"errors: {json.dumps(body['errors'])[:500]}")
    return ms, body


def timings(port, query, runs, replica=False, no_cache=False):
    """One unmeasured request (account check, $metadata), then `runs` timed
    ones; `replica`: each must carry extensions.replica.syncedAt."""
    times, data = [], None
    for i in range(runs + 1):
        ms, body = ask(port, query, no_cache)
        if replica and "syncedAt" not in body.get("extensions", {}).get("replica", {}):
            sys.exit(f"answer without extensions.replica.syncedAt: {json.dumps(body)[:300]}")
        data = next(iter(body["data"].values()))
        if i:
            times.append(ms)
    return times, data


def pct(times, p):
    ordered = sorted(times)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def start_postgres(children):
    holder = children.start(["node", "-e", PG_SCRIPT, os.path.join(ROOT, "tests/upstream-pg/lib/cluster.js")],
                            env={**os.environ, "PARENT_PID": str(os.getpid())},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    socket_dir = holder.stdout.readline().strip()
    if not socket_dir:
        sys.exit("PostgreSQL did not start")
    return socket_dir, f"postgres://postgres@{urllib.parse.quote(socket_dir, safe='')}/postgres"


def disk_mb(engine, where):
    if engine == "sqlite":
        return sum(os.path.getsize(f) for f in (where, where + "-wal") if os.path.exists(f)) / 2**20
    size = subprocess.run(["psql", "-h", where, "-U", "postgres", "-d", "postgres", "-Atc",
                           "SELECT pg_database_size('postgres')"], capture_output=True, text=True, check=True)
    return int(size.stdout.strip()) / 2**20


def bench_engine(children, binary, up_port, engine, scan_data, latencies):
    if engine == "sqlite":
        where = os.path.join(ROOT, "target", "bench-replica.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(where + suffix):
                os.remove(where + suffix)
        url = f"sqlite:///{where}"
    else:
        where, url = start_postgres(children)
    common = ["--replica-url", url, "--service-upstream-token", TOKEN]

    cold, port = start_gateway(children, binary, up_port, f"{engine}-cold", *common, "--response-cache-bytes", "0")
    backfill_s, found = wait_synced(cold, port)
    rows = per_collection(found, "gateway_replica_rows")
    result = {"backfill_s": backfill_s, "rows": rows, "rss_backfill": peak_mb(cold.pid), "disk_mb": disk_mb(engine, where)}
    print(f"{engine}: in sync after {backfill_s:.1f} s; rows {rows}", flush=True)
    for name, query in QUERIES.items():
        times, data = timings(port, query, COLD_RUNS, replica=True)
        if not close(data, scan_data[name]):
            sys.exit(f"{engine} {name}: the replica's answer differs from the scan's")
        latencies.append((name, f"{engine} replica cold", times))
    result["rss_queries"], result["rss_now"] = peak_mb(cold.pid), rss_mb(cold.pid)
    result["answers"] = int(metrics(port).get("gateway_replica_answers_total", 0))
    children.stop(cold)

    warm, port = start_gateway(children, binary, up_port, f"{engine}-repeated", *common)
    result["restart_sync_s"], _ = wait_synced(warm, port)
    hits0 = metrics(port).get("gateway_response_cache_hits_total", 0)
    for name, query in QUERIES.items():
        times, data = timings(port, query, REPEATED_RUNS, replica=True)
        if not close(data, scan_data[name]):
            sys.exit(f"{engine} {name} (repeated): the replica's answer differs from the scan's")
        latencies.append((name, f"{engine} replica repeated", times))
    result["cache_hits"] = int(metrics(port).get("gateway_response_cache_hits_total", 0) - hits0)
    children.stop(warm)
    return result


def main():
    binary = gateway_bin()
    children = Children()
    try:
        db = os.path.join(ROOT, "target", f"bench-aggregates-{CONVERSATIONS}.sqlite")
        env = {**os.environ, "PORT": "0", "CONVERSATIONS": str(CONVERSATIONS), "DB_FILE": db, "PARENT_PID": str(os.getpid())}
        t0 = time.time()
        upstream = children.start(["node", "tests/upstream/server.js"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        up_port = int(upstream.stdout.readline().split()[1])
        print(f"upstream ready in {time.time() - t0:.0f} s ({CONVERSATIONS} conversations, {db})", flush=True)

        latencies, scan_data = [], {}
        scan, port = start_gateway(children, binary, up_port, "scan", "--aggregate-pushdown", "off", "--max-scan-rows", "5000000")
        for name, query in QUERIES.items():
            times, scan_data[name] = timings(port, query, SCAN_RUNS, no_cache=True)
            latencies.append((name, "scan (no replica)", times))
            # Repeated: the first request scans and stores the response,
            # the next ones are answered from the response cache.
            times, again = timings(port, query, REPEATED_RUNS)
            if not close(again, scan_data[name]):
                sys.exit(f"{name}: the repeated scan answer differs")
            latencies.append((name, "scan repeated", times))
            print(f"scan {name}: {len(scan_data[name]) if isinstance(scan_data[name], list) else 1} rows", flush=True)
        children.stop(scan)

        engines = {engine: bench_engine(children, binary, up_port, engine, scan_data, latencies) for engine in ("sqlite", "postgres")}
    finally:
        children.stop_all()

    print(f"\n{'engine':<9} {'backfill s':>10} {'rows':>9} {'rows/s':>8} {'disk MB':>8} {'RSS MB backfill':>16} {'RSS MB queries':>15} {'RSS MB now':>11} {'restart sync s':>15} {'replica answers':>16} {'cache hits':>11}")
    for engine, r in engines.items():
        total = sum(r["rows"].values())
        print(f"{engine:<9} {r['backfill_s']:>10.1f} {total:>9} {total / r['backfill_s']:>8.0f} {r['disk_mb']:>8.1f} "
              f"{r['rss_backfill']:>16.1f} {r['rss_queries']:>15.1f} {r['rss_now']:>11.1f} {r['restart_sync_s']:>15.1f} {r['answers']:>16} {r['cache_hits']:>11}")
    for engine, r in engines.items():
        print(f"{engine} rows: " + ", ".join(f"{c} {n}" for c, n in sorted(r["rows"].items())))
    print(f"\n{'query':<40} {'path':<26} {'n':>3} {'p50 ms':>9} {'p99 ms':>9}")
    for name in QUERIES:
        for query, path, times in latencies:
            if query == name:
                print(f"{name:<40} {path:<26} {len(times):>3} {pct(times, 50):>9.1f} {pct(times, 99):>9.1f}")
    print("\nthe replica's answers equal the scan's for every query and engine")
    print("run: bench/replica.py   (or GATEWAY_BIN=path/to/liveagent-graphql bench/replica.py: no build)")


if __name__ == "__main__":
    main()
