"""The gunicorn worker that shares new connections between workers (service/workers.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from bench.loadgen import worker_pids
from service import workers
from service.workers import MAX_DEFER, ConnectionTable, should_defer


@pytest.mark.parametrize("held, threads, fewest, waited, expected", [
    (0, 2, 0, 0.0, False),        # idle: take it
    (1, 2, 0, 0.0, False),        # a thread is still free
    (2, 2, 0, 0.0, True),         # all threads have a connection and a sibling has none: leave it
    (2, 2, 1, 0.0, True),
    (2, 2, 2, 0.0, False),        # nobody is less busy
    (5, 2, 7, 0.0, False),
    (2, 2, None, 0.0, False),     # no sibling
    (4, 2, 1, MAX_DEFER / 2, True),
    (4, 2, 1, MAX_DEFER, False),  # waited long enough: nobody took it, so take it
])
def test_should_defer(held, threads, fewest, waited, expected):
    assert should_defer(held, threads, fewest, waited) is expected


def test_connection_table_slots():
    table = ConnectionTable(slots=3)
    first, second = table.claim(), table.claim()
    assert (first, second) == (0, 1)
    assert table.fewest_elsewhere(first) is None  # slot 1 is claimed but its worker has not started
    table.start(first, os.getpid())
    table.start(second, os.getppid())
    table.publish(first, 5)
    table.publish(second, 3)
    assert table.fewest_elsewhere(first) == 3
    assert table.fewest_elsewhere(second) == 5
    table.release(second)
    assert table.fewest_elsewhere(first) is None
    assert table.claim() == 1  # a released slot is handed out again
    third = table.claim()
    assert table.claim() is None  # full: that worker runs as plain gthread
    # A worker that died without a release (its master was killed, say) frees its slot too.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    table.start(third, gone.pid)
    assert table.claim() == third


def test_table_is_shared_with_forked_processes():
    table = ConnectionTable(slots=2)
    slot = table.claim()
    pid = os.fork()
    if pid == 0:  # the child writes, as a worker would
        table.start(slot, os.getpid())
        table.publish(slot, 7)
        os._exit(0)
    os.waitpid(pid, 0)
    assert table._cells[2 * slot + 1] == 7


def _fds(pid: int) -> dict[str, str]:
    fds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed meanwhile
            pass
    return fds


def _sockets(pid: int) -> int:
    return sum(target.startswith("socket:") for target in _fds(pid).values())


def _accepting(pid: int) -> bool:
    """Whether the worker's event loop watches the listener (its epoll set holds the wake-up pipe and it)."""
    for fd, target in _fds(pid).items():
        if target == "anon_inode:[eventpoll]":
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                if sum(line.startswith("tfd:") for line in info) >= 2:
                    return True
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts each worker's sockets in /proc (Linux)")
def test_a_burst_of_keepalive_connections_is_shared(start_server, models_dir):
    """Eight keep-alive connections opened at once end up spread over both workers.

    With plain gthread the first worker to wake often took all eight (one
    core serving, the other idle); here each burst must leave at least three
    with each worker. The workers wait up to a second for each other here (5 ms
    by default), so a slow wake-up on a busy test machine cannot decide it.
    """
    server = start_server(models_dir, workers=2, threads=2, TOPICS_ACCEPT_WAIT_MS="1000")
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    deadline = time.monotonic() + 30  # the first worker answered; wait for both to accept
    while time.monotonic() < deadline:
        pids = worker_pids(server.process.pid)
        if len(pids) == 2 and all(_accepting(pid) for pid in pids):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"two accepting workers expected, found {worker_pids(server.process.pid)}")
    idle = {pid: _sockets(pid) for pid in pids}
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    for burst in range(4):
        clients = [socket.create_connection((host, port), timeout=10) for _ in range(8)]
        try:
            for client in clients:
                client.sendall(request)
            for client in clients:
                assert client.recv(65536).startswith(b"HTTP/1.1 200")
            held = {pid: _sockets(pid) - idle[pid] for pid in pids}
            assert sum(held.values()) == 8, held
            assert min(held.values()) >= 3, f"burst {burst}: connections per worker {held}"
        finally:
            for client in clients:
                client.close()
        deadline = time.monotonic() + 10
        while any(_sockets(pid) > idle[pid] for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)  # the workers close their ends
    assert {pid: _sockets(pid) for pid in pids} == idle


def test_release_ignores_workers_without_a_slot():
    workers.release(object())  # e.g. a sync worker: nothing to give back
    workers.release(type("Full", (), {"slot": None})())  # a worker the full table had no slot for
