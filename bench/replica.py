#!/usr/bin/env python3
"""Analytics replica at enterprise size: the account of admin-token-1 on the
test upstream generated at 1 000 000 conversations (7 000 865 messages,
1 866 429 reporting events) copied into a replica, in SQLite and in
PostgreSQL, and the year's dashboard answered from it in six time zones.

Per engine it prints the backfill (seconds from the gateway's start to its
first complete sync, rows, rows/s), the gateway's peak resident memory
during it (VmHWM, and the highest VmRSS sampled every 0.2 s), the replica's
size on disk (SQLite: file + WAL; PostgreSQL: pg_database_size) and how
long a restarted gateway takes to find it in sync. Per query and zone it
prints p50/p95 latency (nearest rank) over RUNS requests:

  first     the first request after the sync (response cache off)
  cold      response cache off (--response-cache-bytes 0): every answer is
            computed from the replica, and must carry
            extensions.replica.syncedAt
  repeated  a restarted gateway on the same replica with its response
            cache on: the same request again

The queries (year 2025-11-01 to 2026-11-01, in UTC, America/New_York,
Europe/Berlin, Asia/Kolkata, Asia/Kathmandu and Australia/Lord_Howe):

  (a) conversations per inbox per day
  (b) average first reply per agent per week
  (c) conversationCounts (no time: once)
  (d) agentActivity per agent per week
  (e) messages per type per month

It fails unless every answer equals the one computed from the upstream's
SQLite file with SQL and Python's zoneinfo (bench/replica_reference.py),
and unless, on a smaller account (CHECK_CONVERSATIONS), the replica's
answers equal the scan's (the gateway reading every row upstream).

Usage: bench/replica.py   (builds the release binary unless GATEWAY_BIN
names one; needs Node.js 20 and PostgreSQL's server binaries)
  CONVERSATIONS=100000 bench/replica.py     another size
  ENGINES=sqlite bench/replica.py           one engine
The upstream data is kept in target/bench-aggregates-<size>.sqlite, shared
with bench/aggregates.py (generating a million conversations takes about
5 minutes; the file is 2.4 GB). Load goes to 127.0.0.1 only; the
PostgreSQL cluster listens on a unix socket only.
"""
import json, math, os, re, subprocess, sys, threading, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, http_json, wait_http  # noqa: E402
from replica_reference import FROM, TO, Reference, same  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "admin-token-1"
CONVERSATIONS = int(os.environ.get("CONVERSATIONS", "1000000"))
CHECK_CONVERSATIONS = int(os.environ.get("CHECK_CONVERSATIONS", "20000"))
ENGINES = os.environ.get("ENGINES", "sqlite,postgres").split(",")
RUNS = int(os.environ.get("RUNS", "20"))
SYNC_TIMEOUT_S = 3600
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"]
YEAR = f'{{gte: "{FROM}", lt: "{TO}"}}'
# name: (query in `zone`, reference function, whether the zone matters)
QUERIES = {
    "(a) conversations per inbox per day": (
        lambda z: f"""{{ conversationsAggregate(where: {{createdAt: {YEAR}}}, groupBy: [INBOX_ID],
            bucket: {{field: CREATED_AT, unit: DAY, timeZone: "{z}"}}) {{ key {{ inboxId bucket }} count }} }}""",
        Reference.conversations_per_inbox_per_day, True),
    "(b) avg first reply per agent per week": (
        lambda z: f"""{{ reportingEventsAggregate(where: {{name: {{eq: "first_reply_created"}}, createdAt: {YEAR}}},
            groupBy: [USER_ID], bucket: {{field: CREATED_AT, unit: WEEK, timeZone: "{z}"}}) {{
            key {{ userId bucket }} count avg {{ value }} }} }}""",
        Reference.first_reply_per_agent_per_week, True),
    "(c) conversationCounts": (
        lambda z: "{ conversationCounts { all open resolved pending snoozed assigned unassigned } }",
        Reference.conversation_counts, False),
    "(d) agentActivity per agent per week": (
        lambda z: f"""{{ agentActivity(from: "{FROM}", to: "{TO}", bucket: WEEK, timeZone: "{z}") {{
            userId bucket conversationsAssigned conversationsResolved firstReplies avgFirstReplySeconds
            messagesSent }} }}""",
        Reference.agent_activity_per_week, True),
    "(e) messages per type per month": (
        lambda z: f"""{{ messagesAggregate(where: {{createdAt: {YEAR}}}, groupBy: [MESSAGE_TYPE],
            bucket: {{field: CREATED_AT, unit: MONTH, timeZone: "{z}"}}) {{ key {{ messageType bucket }} count }} }}""",
        Reference.messages_per_type_per_month, True),
}
# Starts a private cluster (tests/upstream-pg), prints its socket folder and
# stays up until stdin closes or the benchmark dies; exiting removes it.
PG_SCRIPT = """
const { start } = require(process.argv[1])
start({}).then(c => process.stdout.write(c.socketDir + '\\n'), e => { console.error(e.message); process.exit(1) })
process.stdin.on('end', () => process.exit(0)).resume()
setInterval(() => { try { process.kill(Number(process.env.PARENT_PID), 0) } catch { process.exit(0) } }, 1000)
"""


def cases():
    """(query name, zone) pairs: each zone for zoned queries, once for the others."""
    for name, (_, _, zoned) in QUERIES.items():
        for zone in ZONES if zoned else ["-"]:
            yield name, zone


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


def start_upstream(children, conversations):
    db = os.path.join(ROOT, "target", f"bench-aggregates-{conversations}.sqlite")
    env = {**os.environ, "PORT": "0", "CONVERSATIONS": str(conversations), "DB_FILE": db,
           "PARENT_PID": str(os.getpid())}
    t0 = time.time()
    upstream = children.start(["node", "tests/upstream/server.js"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    port = int(upstream.stdout.readline().split()[1])
    print(f"upstream ready in {time.time() - t0:.0f} s ({conversations} conversations, {db})", flush=True)
    return upstream, port, db


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
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    found = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)", line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found


def status_mb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field + ":"))


class RssSampler(threading.Thread):
    """The highest VmRSS of a process, sampled every 0.2 s."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def run(self):
        while not self.done.wait(0.2):
            try:
                self.peak = max(self.peak, status_mb(self.pid, "VmRSS"))
            except (OSError, StopIteration):
                return


def wait_synced(proc, port):
    """Seconds until the replica answers (gateway_replica_in_sync 1)."""
    t0 = time.time()
    while time.time() - t0 < SYNC_TIMEOUT_S:
        if proc.poll() is not None:
            sys.exit(f"gateway exited with {proc.returncode} during the sync (see target/bench-replica-*.log)")
        found = metrics(port)
        if found.get("gateway_replica_in_sync", 0) == 1:
            return time.time() - t0, found
        time.sleep(0.2)
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


def from_replica(body):
    if "syncedAt" not in body.get("extensions", {}).get("replica", {}):
        sys.exit(f"answer without extensions.replica.syncedAt: {json.dumps(body)[:300]}")
    return next(iter(body["data"].values()))


def pct(times, p):
    ordered = sorted(times)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def start_postgres(children):
    holder = children.start(["node", "-e", PG_SCRIPT, os.path.join(ROOT, "tests/upstream-pg/lib/cluster.js")],
                            env={**os.environ, "PARENT_PID": str(os.getpid())},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    socket_dir = holder.stdout.readline().strip()
    if not socket_dir:
        sys.exit("PostgreSQL did not start")
    return holder, socket_dir, f"postgres://postgres@{urllib.parse.quote(socket_dir, safe='')}/postgres"


def fresh_store(children, engine, name):
    """(url, where, holder): a new SQLite file or a new PostgreSQL cluster."""
    if engine == "sqlite":
        where = os.path.join(ROOT, "target", f"bench-replica-{name}.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(where + suffix):
                os.remove(where + suffix)
        return f"sqlite:///{where}", where, None
    holder, where, url = start_postgres(children)
    return url, where, holder


def disk_mb(engine, where):
    if engine == "sqlite":
        return sum(os.path.getsize(f) for f in (where, where + "-wal") if os.path.exists(f)) / 2**20
    size = subprocess.run(["psql", "-h", where, "-U", "postgres", "-d", "postgres", "-Atc",
                           "SELECT pg_database_size('postgres')"], capture_output=True, text=True, check=True)
    return int(size.stdout.strip()) / 2**20


def check_against_scan(children, binary):
    """On the smaller account, every (query, zone) from each engine's replica
    equals the scan's (no replica, no pushdown, no cache)."""
    upstream, up_port, _ = start_upstream(children, CHECK_CONVERSATIONS)
    scan, port = start_gateway(children, binary, up_port, "check-scan", "--aggregate-pushdown", "off",
                               "--max-scan-rows", "10000000")
    t0 = time.time()
    expected = {case: next(iter(ask(port, QUERIES[case[0]][0](case[1]), no_cache=True)[1]["data"].values()))
                for case in cases()}
    print(f"scan of the {CHECK_CONVERSATIONS}-conversation account: {len(expected)} answers in "
          f"{time.time() - t0:.0f} s", flush=True)
    children.stop(scan)
    for engine in ENGINES:
        url, _, holder = fresh_store(children, engine, "check")
        gw, port = start_gateway(children, binary, up_port, f"check-{engine}", "--replica-url", url,
                                 "--service-upstream-token", TOKEN, "--response-cache-bytes", "0")
        wait_synced(gw, port)
        for (name, zone), want in expected.items():
            got = from_replica(ask(port, QUERIES[name][0](zone))[1])
            if not same(got, want):
                sys.exit(f"{engine} {name} {zone}: the replica's answer differs from the scan's")
        children.stop(gw)
        if holder:
            children.stop(holder)
    children.stop(upstream)
    print(f"the replica's answers equal the scan's for every query and zone ({', '.join(ENGINES)})", flush=True)


def bench_engine(children, binary, up_port, engine, reference, latencies):
    url, where, holder = fresh_store(children, engine, "large")
    common = ["--replica-url", url, "--service-upstream-token", TOKEN]
    cold, port = start_gateway(children, binary, up_port, f"{engine}-cold", *common, "--response-cache-bytes", "0")
    sampler = RssSampler(cold.pid)
    sampler.start()
    backfill_s, found = wait_synced(cold, port)
    sampler.done.set()
    rows = {m.group(1): int(v) for k, v in found.items()
            if (m := re.fullmatch(r'gateway_replica_rows\{collection="(\w+)"\}', k))}
    result = {"backfill_s": backfill_s, "rows": rows, "hwm": status_mb(cold.pid, "VmHWM"),
              "rss_peak": sampler.peak, "disk_mb": disk_mb(engine, where)}
    print(f"{engine}: in sync after {backfill_s:.1f} s; rows {rows}; peak RSS {result['hwm']:.1f} MB", flush=True)
    before = metrics(port)
    for name, zone in cases():
        query = QUERIES[name][0](zone)
        times = []
        for _ in range(RUNS + 1):
            ms, body = ask(port, query)
            times.append(ms)
            if not same(from_replica(body), reference[(name, zone)]):
                sys.exit(f"{engine} {name} {zone}: the replica's answer differs from the rows' (SQL)")
        latencies[(name, zone, engine, "first")] = times[:1]
        latencies[(name, zone, engine, "cold")] = times[1:]
    after = metrics(port)
    answers = after.get("gateway_replica_answers_total", 0) - before.get("gateway_replica_answers_total", 0)
    rollups = (after.get("gateway_replica_rollup_answers_total", 0)
               - before.get("gateway_replica_rollup_answers_total", 0))
    result["from_rollups"] = f"{rollups:.0f}/{answers:.0f}"
    result["rss_queries"] = status_mb(cold.pid, "VmRSS")
    children.stop(cold)

    warm, port = start_gateway(children, binary, up_port, f"{engine}-repeated", *common)
    result["restart_sync_s"], _ = wait_synced(warm, port)
    for name, zone in cases():
        query = QUERIES[name][0](zone)
        times = [ask(port, query)[0] for _ in range(RUNS + 1)]
        latencies[(name, zone, engine, "repeated")] = times[1:]
    children.stop(warm)
    if holder:
        children.stop(holder)
    return result


def report(engines, latencies):
    print(f"\n{'engine':<9} {'backfill s':>10} {'rows':>9} {'rows/s':>8} {'peak RSS MB':>12} {'sampled RSS MB':>15} "
          f"{'disk MB':>8} {'restart sync s':>15} {'from rollups':>13}")
    for engine, r in engines.items():
        total = sum(r["rows"].values())
        print(f"{engine:<9} {r['backfill_s']:>10.1f} {total:>9} {total / r['backfill_s']:>8.0f} {r['hwm']:>12.1f} "
              f"{r['rss_peak']:>15.1f} {r['disk_mb']:>8.0f} {r['restart_sync_s']:>15.1f} {r['from_rollups']:>13}")
    for engine, r in engines.items():
        print(f"{engine} rows: " + ", ".join(f"{c} {n}" for c, n in sorted(r["rows"].items())))
    header = "".join(f" {e + ' first':>14} {e + ' cold p50/p95':>22} {e + ' repeated p50/p95':>26}" for e in engines)
    print(f"\n{'query':<40} {'zone':<20}{header}")
    worst = {e: 0.0 for e in engines}
    for name, zone in cases():
        line = f"{name:<40} {zone:<20}"
        for e in engines:
            first, cold, rep = (latencies[(name, zone, e, k)] for k in ("first", "cold", "repeated"))
            worst[e] = max(worst[e], pct(cold, 95))
            line += f" {first[0]:>14.1f} {pct(cold, 50):>11.1f} /{pct(cold, 95):>9.1f} {pct(rep, 50):>13.1f} /{pct(rep, 95):>11.1f}"
        print(line)
    print(f"\n(ms; n = {RUNS} per cold and repeated figure, nearest rank)")
    for e, ms in worst.items():
        print(f"{e}: slowest cold p95 {ms:.1f} ms: {'under' if ms < 100 else 'NOT under'} 100 ms")
    print("every answer equals the one computed from the upstream's rows with SQL")


def main():
    binary = gateway_bin()
    children = Children()
    try:
        check_against_scan(children, binary)
        _, up_port, db = start_upstream(children, CONVERSATIONS)
        t0 = time.time()
        ref = Reference(db)
        reference = {(name, zone): QUERIES[name][1](ref, zone) for name, zone in cases()}
        print(f"answers computed from the upstream's rows in {time.time() - t0:.0f} s", flush=True)
        latencies = {}
        engines = {e: bench_engine(children, binary, up_port, e, reference, latencies) for e in ENGINES}
    finally:
        children.stop_all()
    report(engines, latencies)
    print("run: bench/replica.py   (or GATEWAY_BIN=path/to/liveagent-graphql bench/replica.py: no build)")


if __name__ == "__main__":
    main()
