"""Helpers shared by the benchmark scripts: ports, JSON over HTTP, waiting."""
import json, socket, sys, time, urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, body=None, headers=None, timeout=600):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def wait_http(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"no answer from {url}")
