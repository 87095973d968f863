"""Stalled clients against a fresh server: what the other clients see, and what the server's memory does.

    python -m bench.slowclients [--seconds 10] [--counts 16 64 256] [--url http://127.0.0.1:8080]

For each kind of stalled client (one that trickles its headers, one that sends
its headers and trickles its body, one that connects and sends nothing) and
each count, a fresh server (``gunicorn.conf.py``, as ``make serve`` runs it)
gets that many stalled connections, held open for the whole run: every
connection the server closes is opened again at once, and the tricklers send
one byte per connection every second. Meanwhile four other clients send
classify and /healthz requests in turn for ``--seconds``. The table gives their
p50 / p99 latency and errors, and the server's resident memory (master and
workers) before the stalled clients came and at the end. One row runs
gunicorn's own threaded worker (``-k gthread``, 2 threads) against 16 body
tricklers, as the service ran before. With ``--url`` the same load goes to a
running deployment (the compose stack's public port) instead, without the
memory columns. Everything stays on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import RELIABILITY, WORK, record
from bench.loadgen import JSON, free_port, http, rss_mib, worker_pids
from training.options import TrainOptions
from training.train import train

ROOT = Path(__file__).resolve().parent.parent
KINDS = {
    "trickle headers": (b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n", b"X"),
    "trickle body": (b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n{\"text\": \"", b"a"),
    "connect, send nothing": (b"", b""),
}
ARTICLE = json.dumps({"title": "Ministers agree to cut steel tariffs",
                      "text": "Trade ministers agreed on Tuesday to phase out duties on steel and aluminium."}).encode()


class StalledClients:
    """``count`` connections kept stalled by one thread: reopened when closed, one byte a second each."""

    def __init__(self, url: str, count: int, start: bytes, drip: bytes):
        parts = urlsplit(url)
        self.address, self.count, self.start, self.drip = (parts.hostname, parts.port), count, start, drip
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.reopened = 0
        for _ in range(count):
            self._open()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self) -> None:
        sock = socket.create_connection(self.address, timeout=5)
        sock.setblocking(False)
        if self.start:
            sock.sendall(self.start)
        self.selector.register(sock, selectors.EVENT_READ)

    def _run(self) -> None:
        next_drip = time.monotonic() + 1
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:  # closed by the server (a deadline): stall again on a new connection
                    self.selector.unregister(sock)
                    sock.close()
                    self.reopened += 1
                    try:
                        self._open()
                    except OSError:
                        pass
            if self.drip and time.monotonic() >= next_drip:
                next_drip += 1
                for key in list(self.selector.get_map().values()):
                    try:
                        key.fileobj.send(self.drip)
                    except OSError:
                        pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def others(url: str, seconds: float, clients: int = 4) -> dict[str, list]:
    """``clients`` threads alternating classify and /healthz for ``seconds``; latencies, or None for an error."""
    results: dict[str, list] = {"classify": [], "healthz": []}
    deadline = time.monotonic() + seconds

    def run() -> None:
        while time.monotonic() < deadline:
            for name, method, path, body in (("classify", "POST", "/v1/classify", ARTICLE),
                                             ("healthz", "GET", "/healthz", None)):
                started = time.perf_counter()
                try:
                    ok = http(method, url + path, body, JSON if body else None, timeout=10)[0] == 200
                except OSError:
                    ok = False
                results[name].append(time.perf_counter() - started if ok else None)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _cell(latencies: list) -> str:
    good = sorted(v for v in latencies if v is not None)
    errors = len(latencies) - len(good)
    if not good:
        return f"no answer ({errors} errors)"
    p99 = good[min(len(good) - 1, int(0.99 * len(good)))]
    return f"{statistics.median(good) * 1000:.1f} / {p99 * 1000:.1f} ms, {errors} errors"


def start_server(models: Path, *options: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "TOPICS_MODEL_DIR": str(models), "TOPICS_BIND": f"127.0.0.1:{port}",
           "TOPICS_WORKERS": "2", "TOPICS_LOG_LEVEL": "warning"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *options], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if http("GET", url + "/readyz", timeout=1)[0] == 200 and len(worker_pids(process.pid)) == 2:
                return process, url
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not become ready")


def scenario(url: str, kind: str, count: int, seconds: float, pid: int | None) -> str:
    memory = lambda: rss_mib([pid] + worker_pids(pid)) if pid else 0.0  # noqa: E731
    before = memory()
    start, drip = KINDS[kind]
    stalled = StalledClients(url, count, start, drip)
    try:
        time.sleep(1)  # let them settle in
        results = others(url, seconds)
        after = memory()
    finally:
        stalled.close()
    mem = f" | {before:.0f} → {after:.0f} MiB" if pid else ""
    return (f"| {kind} | {count} | {_cell(results['classify'])} | {_cell(results['healthz'])} | "
            f"{stalled.reopened}{mem} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slowclients", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--counts", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--url", help="a running deployment to load instead of fresh servers")
    args = parser.parse_args(argv)
    header = ("| stalled clients | count | other clients' classify p50 / p99 | /healthz p50 / p99 | "
              "stalled connections the server closed" + (" | server memory before → end |" if not args.url else " |"))
    rows = [header, "| --- | ---: | --- | --- | ---:" + (" | --- |" if not args.url else " |")]
    if args.url:
        for kind in KINDS:
            for count in args.counts:
                rows.append(scenario(args.url.rstrip("/"), kind, count, args.seconds, None))
        record("Stalled clients against the compose deployment", "python -m bench.slowclients --url " + args.url, "\n".join(rows),
               target=RELIABILITY)
        return 0
    models = WORK / "slowclients-models"
    if not (models / "current").exists():
        train(TrainOptions(out=models, quiet=True))
    runs = [(kind, count, ()) for kind in KINDS for count in args.counts]
    runs.append(("trickle body", 16, ("-k", "gthread", "--threads", "2")))
    for kind, count, options in runs:
        process, url = start_server(models, *options)
        try:
            row = scenario(url, kind, count, args.seconds, process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
        rows.append(row.replace(f"| {kind} |", f"| {kind} (gunicorn's gthread) |") if options else row)
    record("Stalled clients against a fresh server", "python -m bench.slowclients", "\n".join(rows),
           __doc__.split("\n\n", 2)[2], target=RELIABILITY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
