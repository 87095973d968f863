"""The gunicorn worker: gevent's, with deadlines for slow clients and a lingering close for early errors.

A threaded worker gives each connection a thread while it reads the request,
so a few clients that send their headers or body slowly (a bad mobile
network, or one script) hold every thread and nobody else is answered.
gunicorn's gevent worker reads each connection in a greenlet instead, so a
stalled client costs a socket and a few kilobytes, not a thread; it was also
faster than the threaded worker in ``python -m bench.http``. This subclass
adds what the gevent worker leaves open, as nginx does for its clients:

* **a header deadline** (``TOPICS_HEADER_TIMEOUT``, 5 s): the request line
  and headers, or the next request on a kept-alive connection, must arrive
  within it, or the connection is closed;
* **a body deadline** (``TOPICS_BODY_TIMEOUT``, 10 s from the end of the
  headers): reading the body past it raises ``TimeoutError``, which the
  service answers with a 408 problem (``service/requests.py``), and the
  connection is closed;
* **a lingering close**: when the service answered without reading the whole
  body (a 413, 415 or 401 decided from the headers), the rest of the body is
  read and dropped, up to ``TOPICS_LINGER_BYTES`` (64 MB) or
  ``TOPICS_LINGER_TIMEOUT`` (30 s), before the connection closes or serves
  its next request. A client that writes its whole body before reading the
  answer (Python's urllib, most simple clients) then reads the error instead
  of a connection reset;
* **a turn for everyone**: after each request the worker lets its other
  connections run before reading the next request on this one, which a
  client may have sent already;
* **a prompt stop**: on SIGTERM, connections still waiting for a request's
  headers after ``TOPICS_STOP_GRACE`` (1 s) are closed, as their deadline
  would close them; idle kept-alive ones are most of them. gunicorn's worker
  waits for every connection's greenlet to end, so one idle browser or
  keep-alive client held a stopping worker for the whole header deadline.
  Requests being read or answered still get the graceful timeout.

It overrides ``timeout_ctx`` and ``handle_request`` of gunicorn's
``GeventWorker`` (gunicorn 27, pinned in requirements.txt);
tests/test_workers.py checks each behaviour against a live server.
"""

from __future__ import annotations

import os

import gevent
from gunicorn.workers.ggevent import GeventWorker

HEADER_TIMEOUT = float(os.environ.get("TOPICS_HEADER_TIMEOUT", "5"))
BODY_TIMEOUT = float(os.environ.get("TOPICS_BODY_TIMEOUT", "10"))
LINGER_TIMEOUT = float(os.environ.get("TOPICS_LINGER_TIMEOUT", "30"))
LINGER_BYTES = int(os.environ.get("TOPICS_LINGER_BYTES", str(64 * 1024 * 1024)))
STOP_GRACE = float(os.environ.get("TOPICS_STOP_GRACE", "1"))
_CHUNK = 65536


class DeadlineBody:
    """A request body (gunicorn's ``Body``) whose reads must finish by a deadline.

    This is the WSGI input the application reads. Past the deadline a read
    raises ``TimeoutError`` and the connection is marked for closing: where
    the next request would start on it is unknown.
    """

    def __init__(self, req, seconds: float):
        self._req = req
        self._body = req.body
        self._deadline = gevent.get_hub().loop.now() + seconds
        self.timed_out = False

    def _call(self, method, *args):
        remaining = self._deadline - gevent.get_hub().loop.now()
        if remaining > 0:
            with gevent.Timeout(remaining, False):
                return method(*args)
        self.timed_out = True
        self._req.must_close = True
        raise TimeoutError(f"the request body did not arrive within {BODY_TIMEOUT:g} s")

    def read(self, size=None):
        return self._call(self._body.read, size)

    def readline(self, size=None):
        return self._call(self._body.readline, size)

    def readlines(self, size=None):
        return self._call(self._body.readlines, size)

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def linger(self) -> bool:
        """Read and drop what the application left of the body; True when all of it was read."""
        if self.timed_out:
            return False
        drained = 0
        with gevent.Timeout(LINGER_TIMEOUT, False):
            while drained <= LINGER_BYTES:
                chunk = self._body.read(_CHUNK)
                if not chunk:
                    return True
                drained += len(chunk)
        return False


class _HeaderWait:
    """The wait for a request's line and headers: it ends silently at the header deadline, or when
    the worker stops; while it lasts the worker knows this connection has no request being served."""

    def __init__(self, waiting: dict):
        self._waiting = waiting
        self._timeout = gevent.Timeout(HEADER_TIMEOUT, False)

    def __enter__(self):
        self._waiting[gevent.getcurrent()] = self._timeout
        return self._timeout.__enter__()

    def __exit__(self, *exc):
        self._waiting.pop(gevent.getcurrent(), None)
        return self._timeout.__exit__(*exc)


class TopicsWorker(GeventWorker):
    """gunicorn's gevent worker with header and body deadlines, a lingering close and a prompt stop."""

    def init_process(self):
        self._waiting: dict = {}  # greenlet -> the deadline of its wait for a request's headers
        super().init_process()

    def timeout_ctx(self):
        # Wraps reading the request line and headers (and the wait for the next request on a kept-alive
        # connection); the deadline ends that read silently, and the connection closes.
        return _HeaderWait(self._waiting)

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        gevent.spawn(self._end_waits)  # out of the signal handler

    def _end_waits(self):
        """After STOP_GRACE, end every wait for a request's headers as its deadline would."""
        gevent.sleep(STOP_GRACE)
        loop = gevent.get_hub().loop
        for greenlet in list(self._waiting):
            # From the hub, as a deadline fires: the greenlet is checked again when the callback runs, so
            # one that has meanwhile started serving a request is left alone.
            loop.run_callback(self._end_wait, greenlet)

    def _end_wait(self, greenlet):
        deadline = self._waiting.get(greenlet)
        if deadline is not None:
            greenlet.throw(deadline)

    def handle_request(self, listener_name, req, sock, addr):
        body = req.body = DeadlineBody(req, BODY_TIMEOUT)
        try:
            super().handle_request(listener_name, req, sock, addr)
        except StopIteration:  # the connection closes after this response
            body.linger()
            raise
        if not body.linger():  # kept alive: the rest of this body must go before the next request
            raise StopIteration
        # Let the other connections' greenlets run before reading this one's next request: a client that
        # sends it at once would otherwise find it already there and keep the worker to itself.
        gevent.sleep(0)
