"""A gunicorn worker that shares a burst of new connections with its siblings.

gunicorn's threaded worker (gthread) accepts every connection it is woken for.
When a client opens several keep-alive connections at once (a proxy, a
connection pool, a load generator), the worker that wakes first often takes
all of them, and keeps them for as long as they live: one process serves while
the other idles, at half the throughput. ``python -m bench.http`` met this in
about one run in five with 2 workers and 8 connections (the server used one
core, the machine sat 40 % idle).

:class:`BalancedThreadWorker` is gthread with one rule added. Every worker
writes how many connections it holds into a small table in memory shared by
all workers (mapped by the master before it forks them). A worker that holds
at least as many connections as it has threads, and more than some sibling,
lets a new connection wait for that sibling, for at most ``MAX_DEFER`` (5 ms
unless ``TOPICS_ACCEPT_WAIT_MS`` says otherwise); if no sibling has accepted it
by then, it accepts the connection itself. So the rule can delay a connection
by a few milliseconds, never refuse one.

It overrides two methods of gunicorn's ``ThreadWorker`` (``accept`` and
``wait_for_and_dispatch_events``, gunicorn 27, pinned in requirements.txt);
tests/test_workers.py checks the sharing end to end, so an upgrade that
changes them shows there.
"""

from __future__ import annotations

import mmap
import os
import time

from gunicorn.workers.gthread import ThreadWorker

# How long a busier worker leaves a new connection to a less busy sibling (TOPICS_ACCEPT_WAIT_MS,
# read by the master), and how long it sleeps between looks (its request threads keep running).
MAX_DEFER = float(os.environ.get("TOPICS_ACCEPT_WAIT_MS", "5")) / 1000
PAUSE = 0.0002
# What a worker that is shutting down publishes: more than anyone holds, so nobody waits for it.
_LEAVING = 1 << 40


class ConnectionTable:
    """Connections held per worker, in anonymous shared memory: one (pid, connections) pair per slot.

    Slots are handed out by the master (``claim``, before the fork) and given
    back when it reaps the worker (``release``). A pid of 0 marks a free slot,
    -1 a claimed one whose worker has not started yet.
    """

    def __init__(self, slots: int = 64):
        self.slots = slots
        self._memory = mmap.mmap(-1, slots * 16)  # MAP_SHARED: forked workers see each other's writes
        self._cells = memoryview(self._memory).cast("q")

    def claim(self) -> int | None:
        """Return a free slot (in the master), or None when all are taken.

        A slot whose worker is gone without a release is free.
        """
        for slot in range(self.slots):
            pid = self._cells[2 * slot]
            if pid > 0 and not _alive(pid):
                pid = 0
            if pid == 0:
                self._cells[2 * slot + 1] = 0
                self._cells[2 * slot] = -1
                return slot
        return None

    def start(self, slot: int, pid: int) -> None:
        """Mark the slot as held by a running worker (in the worker)."""
        self._cells[2 * slot + 1] = 0
        self._cells[2 * slot] = pid

    def publish(self, slot: int, connections: int) -> None:
        """Say how many connections the slot's worker holds (in the worker)."""
        self._cells[2 * slot + 1] = connections

    def release(self, slot: int) -> None:
        """Free the slot (in the master, once the worker is gone)."""
        self._cells[2 * slot] = 0

    def fewest_elsewhere(self, slot: int) -> int | None:
        """The fewest connections any other running worker holds, or None if there is none."""
        cells, fewest = self._cells, None
        for other in range(self.slots):
            if other != slot and cells[2 * other] > 0:
                held = cells[2 * other + 1]
                if fewest is None or held < fewest:
                    fewest = held
        return fewest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid now is someone else's process
        return False
    return True


def should_defer(held: int, threads: int, fewest_elsewhere: int | None, waited: float) -> bool:
    """Whether a worker holding ``held`` connections leaves a new one to a sibling for now."""
    if held < threads or fewest_elsewhere is None or fewest_elsewhere >= held:
        return False  # a thread of ours is free, or nobody is less busy
    return waited < MAX_DEFER


TABLE = ConnectionTable()


class BalancedThreadWorker(ThreadWorker):
    """gthread, except that a busier worker lets a less busy sibling accept new connections first."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # runs in the master, before the fork
        # A worker beyond the table's slots (over 64 at once) works as plain gthread.
        self.slot = TABLE.claim()
        self._waiting_since: float | None = None  # when the connection now pending was first left
        self._listener_ready = False

    def init_process(self):
        if self.slot is not None:
            TABLE.start(self.slot, os.getpid())
        super().init_process()

    def _publish(self) -> None:
        if self.slot is not None:
            TABLE.publish(self.slot, self.nr_conns if self.alive else _LEAVING)

    def wait_for_and_dispatch_events(self, timeout):
        # Called once per turn of gthread's event loop: publish the count, and forget a
        # pending connection that a sibling took meanwhile (the listener was not ready).
        self._publish()
        self._listener_ready = False
        super().wait_for_and_dispatch_events(timeout)
        if not self._listener_ready:
            self._waiting_since = None

    def accept(self, listener):
        self._listener_ready = True
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
        held, threads = self.nr_conns, self.cfg.threads
        if held >= threads and self.slot is not None and should_defer(
                held, threads, TABLE.fewest_elsewhere(self.slot), now - self._waiting_since):
            time.sleep(PAUSE)  # give the sibling a moment; the listener is still ready next turn
            return
        self._waiting_since = None
        super().accept(listener)
        self._publish()


def release(worker) -> None:
    """Give a reaped worker's slot back (gunicorn's child_exit hook, in the master)."""
    slot = getattr(worker, "slot", None)
    if slot is not None:
        TABLE.release(slot)
