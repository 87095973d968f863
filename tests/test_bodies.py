"""Request bodies as they arrive over HTTP: with a Content-Length, chunked, or cut short."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

SPORT = "the striker scored a late goal and the keeper saved a penalty in the cup match"


def _exchange(url: str, request: bytes, half_close: bool = False) -> tuple[int, dict]:
    """Send raw bytes to the server; return the status and the JSON body of its answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


def _chunked(body: bytes, size: int = 100) -> bytes:
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_chunked_body_is_classified_like_a_sized_one(start_server, models_dir):
    server = start_server(models_dir, workers=1)
    body = json.dumps({"text": SPORT, "id": "c-1"}).encode()
    head = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
    status, chunked = _exchange(server.url, head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body))
    assert status == 200
    status, sized = _exchange(server.url, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert status == 200
    assert chunked["id"] == "c-1" and chunked["scores"] == sized["scores"] and chunked["topics"][0]["label"] == "sport"


def test_chunked_body_over_the_limit_is_refused_while_read(start_server, models_dir):
    server = start_server(models_dir, workers=1, TOPICS_MAX_BODY_BYTES="5000")
    body = json.dumps({"text": SPORT * 100}).encode()
    assert len(body) > 5000
    status, problem = _exchange(server.url, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                            b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                            + _chunked(body, 1000))
    assert status == 413 and problem["type"] == "/problems/payload-too-large"
    exactly = json.dumps({"text": SPORT}).encode().ljust(5000)  # JSON may end in spaces: the limit itself is fine
    status, answer = _exchange(server.url, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                           b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                           + _chunked(exactly, 1000))
    assert status == 200 and answer["topics"][0]["label"] == "sport"


def test_body_shorter_than_its_content_length_is_a_400(start_server, models_dir):
    server = start_server(models_dir, workers=1)
    body = json.dumps({"text": SPORT}).encode()
    request = (b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (len(body) + 50)) + body
    status, problem = _exchange(server.url, request, half_close=True)
    assert status == 400 and problem["status"] == 400 and "Traceback" not in json.dumps(problem)


def test_body_read_once_serves_the_request_log(app, client, caplog):
    import logging

    app.config["TOPICS_LOG_TEXT"] = True
    with caplog.at_level(logging.INFO, logger="service.request"):
        r = client.post("/v1/classify", data="goal striker keeper", content_type="text/plain")
    assert r.status_code == 200
    assert caplog.records[-1].body == "goal striker keeper"
