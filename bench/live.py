#!/usr/bin/env python3
"""Live queries benchmark: N subscribers at a 1 s interval over a few cohorts,
one transport at a time (SSE, then WebSocket with graphql-transport-ws), all
with one credential. Per transport and N it prints the time to open every
subscription, the gateway's CPU per interval over a steady window (results
unchanged: the pollers run, nothing is pushed), its resident memory idle,
with N subscribers and after they all left, the upstream requests per
interval (one per cohort is the goal), and the push latency: a row every
cohort reads is changed through the test upstream's write hook, and the time
from the write to each subscriber's receipt of the changed result is taken
(p50, p99, max).

Usage: bench/live.py [N ...] [--transport sse|ws|both] [--bin PATH]
       [--clients K]
Default N: as many as the open-file limit lets one gateway process hold (one
descriptor per subscriber). Builds the release binary unless --bin names
one. Needs Node.js 20. Load goes to loopback only: the gateway listens on
127.0.0.1, and each of the K client processes (default 2) opens its sockets
from its own loopback addresses (127.0.1.x), so that no address pair runs out
of ephemeral ports. Clients are standard-library asyncio: SSE over raw
sockets and a minimal RFC 6455 client that closes with the closing handshake.
"""
import asyncio, base64, json, os, resource, statistics, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, http_json, wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "admin-token-1"
COHORTS = 4
STEADY_S = 20
CHANGES = 3
LEAVE_S = 15
OPEN_AT_ONCE = 100
# Sockets per client source address, well under the ephemeral port range.
PER_ADDRESS = 5000
# Descriptors a gateway holds besides its subscribers (listener, upstream
# connections, epoll, stdio, ...), with room to spare.
GATEWAY_FDS = 48
# Every cohort reads inbox 1, so one write changes them all; each selects
# other columns, so their upstream requests differ (none shares another's).
EXTRA = ["", " channelType", " timezone", " createdAt"]
DOCUMENTS = [f"subscription Board{k} {{ inbox(id: 1, everySeconds: 1) {{ id name{EXTRA[k]} }} }}" for k in range(COHORTS)]
TICK = os.sysconf("SC_CLK_TCK")
BIN = "target/release/liveagent-graphql"


# ---------------------------------------------------------------- clients


class Subscriber:
    """One subscription; notes when each marker first arrived."""

    def __init__(self):
        self.results = 0
        self.seen = {}
        self.failed = None
        self.close = None  # a coroutine function that ends it cleanly

    def result(self, text):
        self.results += 1
        if '"name":"bench-' in text:
            marker = text.split('"name":"', 1)[1].split('"', 1)[0]
            self.seen.setdefault(marker, time.monotonic())


async def sse(port, source, document, sub):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    sub.close = lambda: close_socket(writer)
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


async def close_socket(writer):
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def ws(port, source, document, sub):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.decode(errors="replace"))
    closed = asyncio.get_running_loop().create_future()

    def send(opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        writer.write(bytes([0x80 | opcode]) + size + mask + masked)

    async def close():
        # The closing handshake: Close 1000, then the server's Close back.
        send(8, (1000).to_bytes(2, "big"))
        try:
            code = await asyncio.wait_for(asyncio.shield(closed), 5)
        except asyncio.TimeoutError:
            code = None
        if code is None:
            sub.failed = "ws: no Close frame back"
        await close_socket(writer)

    sub.close = close
    try:
        await ws_read(reader, send, closed, document, sub)
    finally:
        if not closed.done():
            closed.set_result(None)


async def ws_read(reader, send, closed, document, sub):
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
            if not closed.done():
                closed.set_result(payload[:2])
            return
        elif opcode == 1:
            text = payload.decode()
            if '"connection_ack"' in text:
                send(1, json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}).encode())
            elif '"type":"next"' in text:
                sub.result(text)
            elif '"type":"error"' in text or '"type":"complete"' in text:
                raise RuntimeError(text[:300])


async def run_subscriber(transport, port, source, document, sub):
    try:
        await transport(port, source, document, sub)
    except Exception as error:  # noqa: BLE001 (a benchmark notes and goes on)
        if sub.failed is None:
            sub.failed = f"{transport.__name__}: {error!r}"


def say(message):
    print(json.dumps(message), flush=True)


async def worker(port, transport, count, first_index, addresses):
    """One client process: `count` subscriptions, then commands on stdin:
    `wait MARKER SECONDS` (receipt times of a marker), `close`."""
    transport = {"sse": sse, "ws": ws}[transport]
    subs = [Subscriber() for _ in range(count)]
    tasks = []
    t0 = time.monotonic()
    for i, sub in enumerate(subs):
        source = addresses[i // PER_ADDRESS]
        document = DOCUMENTS[(first_index + i) % COHORTS]
        tasks.append(asyncio.create_task(run_subscriber(transport, port, source, document, sub)))
        if i % OPEN_AT_ONCE == OPEN_AT_ONCE - 1:
            await asyncio.sleep(0.05)  # a wave at a time, not one burst
    while sum(1 for s in subs if s.results or s.failed) < count and time.monotonic() - t0 < 180:
        await asyncio.sleep(0.1)
    failed = [s.failed for s in subs if s.failed]
    say({"opened": count - len(failed), "failed": len(failed), "example": failed[0] if failed else None,
         "seconds": time.monotonic() - t0})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        command = line.split()
        if not command:
            return
        if command[0] == "wait":
            marker, deadline = command[1], time.monotonic() + float(command[2])
            live = [s for s in subs if not s.failed]
            while time.monotonic() < deadline and sum(1 for s in live if marker in s.seen) < len(live):
                await asyncio.sleep(0.05)
            say({"times": [s.seen[marker] for s in live if marker in s.seen],
                 "missing": sum(1 for s in live if marker not in s.seen)})
        elif command[0] == "close":
            live = [s for s in subs if s.close and not s.failed]
            for start in range(0, len(live), 500):
                await asyncio.gather(*(s.close() for s in live[start:start + 500]), return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            bad = [s.failed for s in live if s.failed]
            say({"closed": len(live), "unclean": len(bad), "example": bad[0] if bad else None})


# ---------------------------------------------------------------- gateway


def proc_cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metric(port, name):
    """A gauge of the gateway's /metrics; None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        return None
    return 0.0


def upstream_requests(up_port, since):
    log = http_json(f"http://127.0.0.1:{up_port}/_test/requests?since={since}")
    return [e for e in log if "$metadata" not in e["url"]]


def last_seq(up_port):
    return max([e["seq"] for e in http_json(f"http://127.0.0.1:{up_port}/_test/requests")] or [0])


def write_name(up_port, name):
    body = {"entity": "Inbox", "id": 1, "set": {"name": name}}
    http_json(f"http://127.0.0.1:{up_port}/_test/update", body, {"Content-Type": "application/json"})


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Clients:
    """K client processes sharing N subscriptions."""

    def __init__(self, port, transport, n, k):
        self.procs = []
        share = -(-n // k)
        for w in range(k):
            count = min(share, n - w * share)
            if count <= 0:
                break
            addresses = [f"127.0.1.{10 * w + a + 1}" for a in range(-(-count // PER_ADDRESS))]
            args = [sys.executable, __file__, "--worker", str(port), transport, str(count), str(w * share),
                    ",".join(addresses)]
            self.procs.append(subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))

    def ask(self, command=None):
        for p in self.procs:
            if command:
                p.stdin.write(command + "\n")
                p.stdin.flush()
        return [json.loads(p.stdout.readline()) for p in self.procs]

    def end(self):
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def measure(binary, n, transport, k, up_port):
    gw_port = free_port()
    gateway = subprocess.Popen(
        [binary, "--upstream", f"http://127.0.0.1:{up_port}/v1.1/odata",
         "--listen", f"127.0.0.1:{gw_port}", "--live-min-interval-s", "1",
         "--max-subscriptions", str(n + 100), "--max-subscriptions-per-credential", str(n + 100)],
        cwd=ROOT, env={**os.environ, "LOG": "warn"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    clients = None
    try:
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        url = f"http://127.0.0.1:{gw_port}/graphql"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        http_json(url, {"query": "{ inbox(id: 1) { id name } }"}, headers)  # reads $metadata
        time.sleep(1)
        rss_idle = proc_rss_mb(gateway.pid)

        t0 = time.monotonic()
        clients = Clients(gw_port, transport, n, k)
        opened = clients.ask()
        opened_s = time.monotonic() - t0
        live = sum(o["opened"] for o in opened)
        failed = [o for o in opened if o["failed"]]
        if failed:
            print(f"  {sum(o['failed'] for o in failed)} {transport} subscriptions failed, e.g. {failed[0]['example']}")

        time.sleep(3)
        since = last_seq(up_port)
        cpu0, w0 = proc_cpu_s(gateway.pid), time.monotonic()
        rss = []
        while time.monotonic() - w0 < STEADY_S:
            time.sleep(1)
            rss.append(proc_rss_mb(gateway.pid))
        window = time.monotonic() - w0
        cpu_s = proc_cpu_s(gateway.pid) - cpu0
        requests = upstream_requests(up_port, since)
        rss_steady = statistics.median(rss)

        latencies, missing = [], 0
        for change in range(CHANGES):
            marker = f"bench-{n}-{change}-{time.time_ns()}"
            written = time.monotonic()
            write_name(up_port, marker)
            for answer in clients.ask(f"wait {marker} 10"):
                latencies += [(t - written) * 1000 for t in answer["times"]]
                missing += answer["missing"]
            time.sleep(2.5)

        closed = clients.ask("close")
        unclean = sum(c["unclean"] for c in closed)
        if unclean:
            print(f"  {unclean} closings without a Close frame back, e.g. {closed[0]['example']}")
        t_left = time.monotonic()
        while (metric(gw_port, "gateway_live_subscriptions") or 0) > 0 and time.monotonic() - t_left < 30:
            time.sleep(0.2)
        time.sleep(LEAVE_S)
        if gateway.poll() is not None or metric(gw_port, "gateway_live_subscriptions") is None:
            print(f"  the {transport} gateway stopped answering after the subscribers left")
        rss_left = proc_rss_mb(gateway.pid) if gateway.poll() is None else 0.0
        return {
            "transport": transport, "live": live, "opened_s": opened_s,
            "cpu_ms": cpu_s * 1000 / window, "rss_idle": rss_idle, "rss": rss_steady,
            "per_sub_kb": (rss_steady - rss_idle) * 1024 / max(live, 1), "rss_left": rss_left,
            "per_interval": len(requests) / window,
            "p50": pct(latencies, 0.5) if latencies else 0, "p99": pct(latencies, 0.99) if latencies else 0,
            "max": max(latencies) if latencies else 0, "pushes": len(latencies), "missing": missing,
        }
    finally:
        if clients:
            clients.end()
        gateway.terminate()
        gateway.wait()


def main(argv):
    if argv[:1] == ["--worker"]:
        port, transport, count, first, addresses = argv[1:6]
        asyncio.run(worker(int(port), transport, int(count), int(first), addresses.split(",")))
        return
    binary, transports, k, sizes = None, ["sse", "ws"], 2, []
    args = iter(argv)
    for a in args:
        if a == "--bin":
            binary = os.path.abspath(next(args))
        elif a == "--transport":
            t = next(args)
            transports = ["sse", "ws"] if t == "both" else [t]
        elif a == "--clients":
            k = int(next(args))
        else:
            sizes.append(int(a))
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    sizes = sizes or [min(20000, fd_limit - GATEWAY_FDS)]
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, BIN)
    resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
    env = {**os.environ, "PORT": "0", "PARENT_PID": str(os.getpid())}
    upstream = subprocess.Popen(["node", "tests/upstream/server.js"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    try:
        up_port = int(upstream.stdout.readline().split()[1])
        print(f"{COHORTS} cohorts (inbox 1, every 1 s), one credential, {k} client processes; CPU over "
              f"{STEADY_S} s with results unchanged; latency over {CHANGES} writes; RSS {LEAVE_S} s after leaving")
        print(f"{'transport':>9} {'subscribers':>11} {'open s':>6} {'CPU ms/interval':>15} {'RSS idle MB':>11} "
              f"{'RSS MB':>7} {'KiB/sub':>7} {'RSS left MB':>11} {'upstream req/interval':>21} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'max ms':>7} {'pushes':>7} {'missed':>6}")
        for n in sizes:
            for transport in transports:
                r = measure(binary, n, transport, k, up_port)
                print(f"{r['transport']:>9} {r['live']:>11} {r['opened_s']:>6.1f} {r['cpu_ms']:>15.1f} "
                      f"{r['rss_idle']:>11.1f} {r['rss']:>7.1f} {r['per_sub_kb']:>7.1f} {r['rss_left']:>11.1f} "
                      f"{r['per_interval']:>21.2f} {r['p50']:>7.0f} {r['p99']:>7.0f} {r['max']:>7.0f} "
                      f"{r['pushes']:>7} {r['missing']:>6}", flush=True)
    finally:
        upstream.terminate()


if __name__ == "__main__":
    main(sys.argv[1:])
