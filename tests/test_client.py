"""The command-line client against a live server: table and JSON output, resumable batches, retries."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from client import main
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def server(start_module_server, toy_models):
    """One server for the module: the client only reads from it."""
    return start_module_server(toy_models, workers=2)


def test_classify_prints_a_table(server, tmp_path, capsys):
    article = tmp_path / "a.txt"
    article.write_text("Cup final\nThe striker scored a late goal and the keeper saved a penalty")
    assert main(["--url", server.url, "classify", str(article), "--first-line-title", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "topics: sport" in out and "* sport" in out and "model " in out
    assert "goal" in out.split("sport:")[-1]


def test_classify_json_from_stdin(server, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("shares rally as bond yields fall"))
    assert main(["--url", server.url, "classify", "-", "--json", "--top-k", "1"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert list(body["scores"]) == ["markets"]


def test_classify_reports_server_errors(server, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("   ")
    assert main(["--url", server.url, "classify", str(empty)]) == 1
    assert "error 422" in capsys.readouterr().err


def _input(tmp_path, n):
    path = tmp_path / "in.jsonl"
    words = ["goal striker", "shares bonds", "storm rain"]
    lines = [json.dumps({"id": f"a{i}", "text": f"{words[i % 3]} {i}"}) for i in range(n)]
    lines[7] = "{not json"
    lines[8] = json.dumps({"id": "blank", "text": ""})
    path.write_text("\n".join(lines) + "\n")
    return path


def _check_output(out, n):
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["line"] for line in lines] == list(range(1, n + 1))
    assert "error" in lines[7] and "error" in lines[8]
    good = [line for line in lines if "error" not in line]
    assert all(line["id"] == f"a{line['line'] - 1}" and line["model"]["version"] for line in good)
    assert good[0]["topics"][0]["label"] == "sport"


def test_batch_resumes_after_a_partial_run(server, tmp_path):
    source = _input(tmp_path, 250)
    out = tmp_path / "out.jsonl"
    assert main(["--url", server.url, "batch", str(source), str(out), "--quiet", "--batch-size", "40"]) == 0
    full = out.read_text().splitlines()
    out.write_text("\n".join(full[:100]) + "\n" + full[100][:25])  # as if killed mid-write
    assert main(["--url", server.url, "batch", str(source), str(out), "--quiet", "--batch-size", "40"]) == 0
    _check_output(out, 250)


def test_batch_killed_and_resumed(server, tmp_path):
    source = _input(tmp_path, 3000)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "client", "--url", server.url, "batch", str(source), str(out), "--quiet",
           "--batch-size", "10"]
    process = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 200):
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert 0 < out.read_text().count("\n") < 3000, "the client finished before it could be interrupted"
    assert subprocess.run(cmd, cwd=ROOT).returncode == 0
    _check_output(out, 3000)


class _Flaky(BaseHTTPRequestHandler):
    failures = 2
    seen = 0

    def do_POST(self):
        type(self).seen += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).seen <= type(self).failures:
            self.send_response(429 if type(self).seen == 1 else 503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/problem+json")
            self.end_headers()
            self.wfile.write(b'{"detail": "busy"}')
            return
        body = json.dumps({"id": None, "topics": [], "scores": {"x": 0.1}, "model": {"version": "v"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_retries_on_429_and_503(capsys):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        import io
        import unittest.mock

        with unittest.mock.patch("sys.stdin", io.StringIO("text")):
            assert main(["--url", f"http://127.0.0.1:{httpd.server_port}", "classify", "-", "--json"]) == 0
        assert _Flaky.seen == 3
    finally:
        httpd.shutdown()
        httpd.server_close()
