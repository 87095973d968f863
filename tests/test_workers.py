"""The gunicorn worker against slow and stalled clients (service/workers.py), on a live server.

Stalled clients of each kind must not keep anyone else waiting; headers and
bodies that do not arrive in time end the connection (the body with a 408
problem); an error decided before the body is read reaches a client that
writes its whole body first. The 2-second limits below are the issue's
"answered at all" deadlines, far above a normal answer, not speed figures.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from service.auth import hash_key
from tests.conftest import http

DEADLINE = 2.0  # "answered at all", for the other clients while the stalled ones hang on


class Stalled:
    """Connections that each send part of a request and then a byte now and then, in one background thread."""

    def __init__(self, url: str, count: int, start: bytes, drip: bytes = b"", every: float = 0.5):
        parts = urlsplit(url)
        self.sockets = [socket.create_connection((parts.hostname, parts.port), timeout=5) for _ in range(count)]
        for sock in self.sockets:
            if start:
                sock.sendall(start)
        self.drip, self.every = drip, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.drip and not self.stop.wait(self.every):
            for sock in self.sockets:
                try:
                    sock.sendall(self.drip)
                except OSError:
                    pass  # the server closed it: fine

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def _answers_while(server, stalled: Stalled, article: bool = False) -> None:
    try:
        for _ in range(5):
            assert http("GET", server.url + "/healthz", timeout=DEADLINE)[0] == 200
            if article:
                status, _, body = http("POST", server.url + "/v1/classify", b'{"text": "storm floods the coast"}',
                                       {"Content-Type": "application/json"}, timeout=DEADLINE)
                assert status == 200 and "topics" in body
    finally:
        stalled.close()


BODY_HEADERS = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


def test_body_tricklers_do_not_stop_the_others(start_server, models_dir):
    server = start_server(models_dir, workers=2)
    _answers_while(server, Stalled(server.url, 16, BODY_HEADERS + b'{"text": "', b"a"), article=True)


def test_header_tricklers_and_silent_connections_do_not_stop_the_others(start_server, models_dir):
    server = start_server(models_dir, workers=2)
    tricklers = Stalled(server.url, 16, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n", b"X-A: b\r\n")
    silent = Stalled(server.url, 16, b"")
    try:
        _answers_while(server, tricklers, article=True)
    finally:
        silent.close()


def _read_all(sock: socket.socket, limit: float = 10.0) -> bytes:
    sock.settimeout(limit)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_body_that_does_not_arrive_in_time_gets_a_408_and_the_connection_closes(start_server, models_dir):
    server = start_server(models_dir, workers=1, TOPICS_BODY_TIMEOUT="1")
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(BODY_HEADERS + b'{"text": "half an arti')
        answer = _read_all(sock)  # ends when the server closes the connection
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"application/problem+json" in head
    problem = json.loads(body)
    assert problem["type"] == "/problems/request-timeout" and "1 s" in problem["detail"]


def test_headers_that_do_not_arrive_in_time_close_the_connection(start_server, models_dir):
    server = start_server(models_dir, workers=1, TOPICS_HEADER_TIMEOUT="1")
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")
        assert _read_all(sock) == b""  # closed, without an answer
    assert http("GET", server.url + "/healthz")[0] == 200


def _urllib_post(url: str, body: bytes, content_type: str, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


TWENTY_MB = b'{"text": "' + b"x" * (20 * 1024 * 1024) + b'"}'


@pytest.mark.parametrize("content_type, headers, status, problem", [
    ("application/json", {}, 413, "/problems/payload-too-large"),
    ("application/xml", {}, 415, "/problems/unsupported-media-type"),
    ("application/json", {"Authorization": "Bearer wrong"}, 401, "/problems/unauthorized"),
])
def test_an_early_error_reaches_a_client_that_sends_its_whole_body_first(start_server, models_dir, content_type,
                                                                         headers, status, problem):
    # The 415 and 401 need a limit above 20 MB, or the body's size would be refused first.
    limit = "1000000" if status == 413 else str(30 * 1024 * 1024)
    server = start_server(models_dir, workers=1, TOPICS_MAX_BODY_BYTES=limit,
                          TOPICS_API_KEYS=f"{hash_key('right')}:classify" if status == 401 else "")
    got, body = _urllib_post(server.url + "/v1/classify", TWENTY_MB, content_type, headers)
    assert (got, body["type"]) == (status, problem), body
    assert http("GET", server.url + "/healthz")[0] == 200


def test_a_connection_with_requests_waiting_does_not_keep_the_worker_to_itself(start_server, models_dir):
    """One worker; connection A sends 300 requests at once (pipelined), then B sends one.

    B must be answered while A's answers are still coming: the worker takes turns between connections
    instead of serving everything A has queued first.
    """
    server = start_server(models_dir, workers=1)
    parts = urlsplit(server.url)
    body = b'{"text": "storm floods the coast and shares fall"}'
    request = (b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    with socket.create_connection((parts.hostname, parts.port)) as a, \
            socket.create_connection((parts.hostname, parts.port)) as b:
        a.sendall(request * 300)
        b.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        b.settimeout(30)
        assert b.recv(65536).startswith(b"HTTP/1.1 200")
        a.setblocking(False)
        answered = b""
        try:
            while chunk := a.recv(1 << 20):
                answered += chunk
        except BlockingIOError:
            pass
        assert answered.count(b"HTTP/1.1 200") < 300


def test_a_stopping_worker_closes_idle_connections_and_still_answers_a_request_arriving(start_server, models_dir):
    """SIGTERM with a kept-alive connection idle and another in the middle of sending its headers.

    The header deadline (120 s) and the graceful timeout (60 s) are far beyond the 30 s allowed here:
    without the prompt stop the idle connection would hold the worker until it was killed. The request
    whose headers end a moment after the signal is still answered (within TOPICS_STOP_GRACE, 1 s).
    """
    import subprocess
    import time

    server = start_server(models_dir, workers=1, TOPICS_HEADER_TIMEOUT="120", TOPICS_GRACEFUL_TIMEOUT="60")
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as idle, \
            socket.create_connection((parts.hostname, parts.port), timeout=30) as arriving:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = idle.recv(65536)
        while not answer.endswith(b"}\n"):  # headers and body may come apart
            answer += idle.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        arriving.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)  # the worker has read the first half of its headers
        server.process.terminate()
        time.sleep(0.2)
        arriving.sendall(b"\r\n")
        assert _read_all(arriving).startswith(b"HTTP/1.1 200")
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not stop: an idle kept-alive connection held its worker")
        assert _read_all(idle) == b""  # closed without a word: it had asked nothing
    log = server.log()
    assert "Worker exiting" in log and "graceful timeout" not in log and "Socket error" not in log, log[-2000:]
