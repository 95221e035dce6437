#!/usr/bin/env python3
"""Live queries benchmark: N subscribers at a 1 s interval over a few cohorts,
half over SSE and half over WebSocket (graphql-transport-ws), all with one
credential. Per N it prints the gateway's CPU over a steady window (results
unchanged: the pollers run, nothing is pushed), its resident memory and the
growth per subscriber, the upstream requests per interval (one per cohort is
the goal), and the push latency: a row every cohort reads is changed through
the test upstream's write hook, and the time from the write to each
subscriber's receipt of the changed result is taken (p50, p99, max).

Usage: bench/live.py [N ...]   (default 1000 5000; builds the release binary;
needs Node.js 20). One gateway per N; load goes to 127.0.0.1 only. The
clients are one asyncio process on the same machine: SSE over raw sockets and
a minimal RFC 6455 client, standard library only.
"""
import asyncio, base64, json, os, statistics, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, http_json, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "admin-token-1"
COHORTS = 4
STEADY_S = 20
CHANGES = 3
OPEN_AT_ONCE = 100
# Every cohort reads inbox 1, so one write changes them all; each selects
# other columns, so their upstream requests differ (none shares another's).
EXTRA = ["", " channelType", " timezone", " createdAt"]
DOCUMENTS = [f"subscription Board{k} {{ inbox(id: 1, everySeconds: 1) {{ id name{EXTRA[k]} }} }}" for k in range(COHORTS)]
TICK = os.sysconf("SC_CLK_TCK")
BIN = "target/release/liveagent-graphql"


class Subscriber:
    """One subscription; notes when each marker first arrived."""

    def __init__(self):
        self.results = 0
        self.seen = {}
        self.failed = None

    def result(self, text):
        self.results += 1
        if '"name":"bench-' in text:
            marker = text.split('"name":"', 1)[1].split('"', 1)[0]
            self.seen.setdefault(marker, time.perf_counter())


async def sse(port, document, sub):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"query": document}).encode()
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: text/event-stream\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.decode(errors="replace"))
    chunked = b"transfer-encoding: chunked" in head.lower()
    pending = b""
    while True:
        if chunked:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                return
            data = await reader.readexactly(size + 2)
            pending += data[:-2]
        else:
            data = await reader.read(65536)
            if not data:
                return
            pending += data
        while b"\n\n" in pending:
            event, pending = pending.split(b"\n\n", 1)
            lines = event.decode().split("\n")
            if "event: next" in lines or "event:next" in lines:
                sub.result("\n".join(line[5:].lstrip() for line in lines if line.startswith("data:")))


async def ws(port, document, sub):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.decode(errors="replace"))

    def send(opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        writer.write(bytes([0x80 | opcode]) + size + mask + masked)

    send(1, json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {TOKEN}"}}).encode())
    while True:
        first, second = await reader.readexactly(2)
        n = second & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(n)
        opcode = first & 0x0F
        if opcode == 9:
            send(10, payload)
        elif opcode == 8:
            return
        elif opcode == 1:
            text = payload.decode()
            if '"connection_ack"' in text:
                send(1, json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}).encode())
            elif '"type":"next"' in text:
                sub.result(text)
            elif '"type":"error"' in text or '"type":"complete"' in text:
                raise RuntimeError(text[:300])


async def run_subscriber(port, index, sub):
    transport = sse if index % 2 == 0 else ws
    try:
        await transport(port, DOCUMENTS[index % COHORTS], sub)
    except Exception as error:  # noqa: BLE001 (a benchmark notes and goes on)
        sub.failed = f"{transport.__name__}: {error}"


def proc_cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def upstream_requests(up_port, since):
    log = http_json(f"http://127.0.0.1:{up_port}/_test/requests?since={since}")
    return [e for e in log if "$metadata" not in e["url"]], max([e["seq"] for e in log] or [since])


def last_seq(up_port):
    return max([e["seq"] for e in http_json(f"http://127.0.0.1:{up_port}/_test/requests")] or [0])


def write_name(up_port, name):
    body = {"entity": "Inbox", "id": 1, "set": {"name": name}}
    http_json(f"http://127.0.0.1:{up_port}/_test/update", body, {"Content-Type": "application/json"})


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def measure(n, up_port):
    gw_port = free_port()
    gateway = subprocess.Popen(
        [BIN, "--upstream", f"http://127.0.0.1:{up_port}/v1.1/odata",
         "--listen", f"127.0.0.1:{gw_port}", "--live-min-interval-s", "1",
         "--max-subscriptions", str(n + 100), "--max-subscriptions-per-credential", str(n + 100)],
        cwd=ROOT, env={**os.environ, "LOG": "warn"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    tasks = []
    try:
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        url = f"http://127.0.0.1:{gw_port}/graphql"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        http_json(url, {"query": "{ inbox(id: 1) { id name } }"}, headers)  # reads $metadata
        await asyncio.sleep(1)
        rss_idle = proc_rss_mb(gateway.pid)

        subs = [Subscriber() for _ in range(n)]
        t0 = time.perf_counter()
        for i, sub in enumerate(subs):
            tasks.append(asyncio.create_task(run_subscriber(gw_port, i, sub)))
            if i % OPEN_AT_ONCE == OPEN_AT_ONCE - 1:
                await asyncio.sleep(0.05)  # a wave at a time, not one burst
        while sum(1 for s in subs if s.results or s.failed) < n and time.perf_counter() - t0 < 120:
            await asyncio.sleep(0.1)
        opened_s = time.perf_counter() - t0
        failed = [s.failed for s in subs if s.failed]
        if failed:
            print(f"  {len(failed)} subscriptions failed, e.g. {failed[0]}")
        live = n - len(failed)

        await asyncio.sleep(3)
        since = last_seq(up_port)
        cpu0, w0 = proc_cpu_s(gateway.pid), time.perf_counter()
        rss = []
        while time.perf_counter() - w0 < STEADY_S:
            await asyncio.sleep(1)
            rss.append(proc_rss_mb(gateway.pid))
        cpu = (proc_cpu_s(gateway.pid) - cpu0) / (time.perf_counter() - w0)
        window = time.perf_counter() - w0
        requests, _ = upstream_requests(up_port, since)
        rss_steady = statistics.median(rss)

        latencies, missing = [], 0
        for change in range(CHANGES):
            marker = f"bench-{n}-{change}-{time.time_ns()}"
            written = time.perf_counter()
            await asyncio.get_running_loop().run_in_executor(None, write_name, up_port, marker)
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline and sum(1 for s in subs if marker in s.seen) < live:
                await asyncio.sleep(0.05)
            got = [s.seen[marker] - written for s in subs if marker in s.seen]
            missing += live - len(got)
            latencies += [t * 1000 for t in got]
            await asyncio.sleep(2.5)
        return {
            "n": n, "live": live, "opened_s": opened_s, "cpu": cpu * 100, "window": window,
            "rss_idle": rss_idle, "rss": rss_steady, "per_sub_kb": (rss_steady - rss_idle) * 1024 / max(live, 1),
            "requests": len(requests), "per_interval": len(requests) / window,
            "p50": pct(latencies, 0.5) if latencies else None, "p99": pct(latencies, 0.99) if latencies else None,
            "max": max(latencies) if latencies else None, "pushes": len(latencies), "missing": missing,
        }
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        gateway.terminate()
        gateway.wait()


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 5000]
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    env = {**os.environ, "PORT": "0", "PARENT_PID": str(os.getpid())}
    upstream = subprocess.Popen(["node", "tests/upstream/server.js"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    try:
        up_port = int(upstream.stdout.readline().split()[1])
        print(f"{COHORTS} cohorts (inbox 1, every 1 s), half SSE, half WebSocket, one credential; "
              f"CPU over {STEADY_S} s with results unchanged; latency over {CHANGES} writes")
        print(f"{'subscribers':>11} {'open s':>6} {'CPU %':>6} {'RSS idle MB':>11} {'RSS MB':>7} {'KB/sub':>7} "
              f"{'upstream req/interval':>21} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'pushes':>7} {'missed':>6}")
        for n in sizes:
            r = asyncio.run(measure(n, up_port))
            print(f"{r['live']:>11} {r['opened_s']:>6.1f} {r['cpu']:>6.1f} {r['rss_idle']:>11.1f} {r['rss']:>7.1f} "
                  f"{r['per_sub_kb']:>7.1f} {r['per_interval']:>21.2f} {r['p50']:>7.0f} {r['p99']:>7.0f} "
                  f"{r['max']:>7.0f} {r['pushes']:>7} {r['missing']:>6}", flush=True)
    finally:
        upstream.terminate()


if __name__ == "__main__":
    main()
