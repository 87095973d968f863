"""A small, bounded load generator for loopback tests and the soak script."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

JSON = {"Content-Type": "application/json"}


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 10):
    """Send one request; return (status, headers, parsed JSON or text)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, data = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, data = e.code, dict(e.headers), e.read()
    try:
        return status, hdrs, json.loads(data)
    except ValueError:
        return status, hdrs, data.decode("utf-8", "replace")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_pids(master: int) -> list[int]:
    """Return the pids of a gunicorn master's workers."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def rss_mib(pids: list[int]) -> float:
    """Sum the resident memory of processes, in MiB."""
    total = 0
    for pid in pids:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


class Load:
    """Threads that send requests until stopped or a count/time bound is hit, recording every outcome.

    Each result is (status, body, seconds); status 0 is a lost connection.
    """

    def __init__(self, url: str, threads: int = 4, body: dict | None = None, path: str = "/v1/classify",
                 max_requests: int = 5000, max_seconds: float = 60):
        self.url, self.path = url, path
        self.body = json.dumps(body or {"text": "goal striker penalty"}).encode()
        self.results: list[tuple[int, object, float]] = []
        self.stop = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.max_requests = max_requests
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline and len(self.results) < self.max_requests:
            start = time.perf_counter()
            try:
                status, _, body = http("POST", self.url + self.path, self.body, JSON, timeout=30)
            except Exception as exc:  # connection reset, bad status line: a failed request, counted
                status, body = 0, f"{type(exc).__name__}: {exc}"
            self.results.append((status, body, time.perf_counter() - start))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    @property
    def failed(self):
        return [r for r in self.results if r[0] != 200]
