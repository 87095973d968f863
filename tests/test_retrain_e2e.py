"""The issue's end to end: a damaged candidate is refused naming its topic; a good one is shadow-scored on live
traffic, promoted on that evidence and served by every gunicorn worker while a client keeps classifying without
one failed request; rollback restores."""

import json
import re
import threading
import time

from runtime import bundle
from tests.conftest import http, make_documents, train_into, write_jsonl
from tests.test_gate import _damaged
from training import promote

BODY = json.dumps({"text": "goal striker match league"}).encode()


def _wait_for(server, version: str, in_a_row: int = 20) -> None:
    """Poll until ``in_a_row`` consecutive answers (spread over the workers) come from ``version``."""
    deadline, streak = time.monotonic() + 30, 0
    while streak < in_a_row:
        assert time.monotonic() < deadline, f"{version} not served by every worker"
        status, headers, _ = http("POST", server.url + "/v1/classify", BODY, {"Content-Type": "application/json"})
        streak = streak + 1 if status == 200 and headers.get("X-Model-Version") == version else 0


def _workers_serving(server) -> dict[str, str]:
    """Each live worker's pid and the version it serves, from /metrics (``topics_model_info``, one series per pid)."""
    _, _, text = http("GET", server.url + "/metrics")
    text = text.decode() if isinstance(text, bytes) else str(text)
    serving = {}
    for labels, value in re.findall(r"^topics_model_info\{([^}]*)\} (\S+)$", text, re.M):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if float(value) == 1:
            serving[fields["pid"]] = fields["version"]
    return serving


def _every_worker_serves(server, version: str, workers: int) -> None:
    """Poll until each of the ``workers`` live workers reports ``version`` (after ``_wait_for`` sent it traffic)."""
    deadline = time.monotonic() + 30
    while True:
        serving = _workers_serving(server)
        if len(serving) == workers and set(serving.values()) == {version}:
            return
        assert time.monotonic() < deadline, f"not every worker serves {version}: {serving}"
        http("POST", server.url + "/v1/classify", BODY, {"Content-Type": "application/json"})
        time.sleep(0.05)


def _wait_for_shadow(server, version: str, samples: int) -> None:
    """Poll GET /v1/model/candidate until ``version`` has been shadow-scored on ``samples`` articles."""
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, f"{version} not shadow-scored on {samples} articles"
        status, _, body = http("GET", server.url + "/v1/model/candidate")
        described = body if status == 200 else {}
        if described.get("version") == version and described["shadow"]["samples"] >= samples:
            return
        time.sleep(0.1)


def test_refuse_promote_serve_rollback_without_a_failed_request(start_server, models_dir, tmp_path, toy_corpus,
                                                                 capsys):
    first = bundle.current_version(models_dir)
    server = start_server(models_dir, workers=2, TOPICS_RELOAD_INTERVAL="0.2", TOPICS_SHADOW_SAMPLE="1.0")
    failures, answers, stop = [], [], threading.Event()

    def client_loop():
        while not stop.is_set():
            try:
                status, headers, _ = http("POST", server.url + "/v1/classify", BODY,
                                          {"Content-Type": "application/json"})
            except OSError as exc:
                failures.append(repr(exc))
                continue
            answers.append(headers.get("X-Model-Version"))
            if status != 200:
                failures.append(status)

    loop = threading.Thread(target=client_loop)
    loop.start()
    try:
        golden = write_jsonl(tmp_path / "golden.jsonl", make_documents(8, seed=11))
        train_into(models_dir, [write_jsonl(tmp_path / "bad.jsonl", _damaged("weather"))], candidate=True)
        assert promote.main(["promote", "--out", str(models_dir), "--golden", str(golden)]) == 1
        assert "topic 'weather'" in capsys.readouterr().out
        assert promote.main(["refuse", "--out", str(models_dir)]) == 0
        good = train_into(models_dir, [toy_corpus], candidate=True, seed=5).name
        assert bundle.current_version(models_dir) == first  # a candidate is not served
        _wait_for_shadow(server, good, 20)  # the client loop's articles, scored by the candidate too
        assert promote.main(["promote", "--out", str(models_dir), "--golden", str(golden),
                             "--min-shadow-samples", "20", "--min-shadow-agreement", "0.5",
                             "--shadow-from", server.url]) == 0
        assert "shadow scoring of " + good in capsys.readouterr().out
        _wait_for(server, good)
        _every_worker_serves(server, good, 2)
        assert promote.main(["rollback", "--out", str(models_dir)]) == 0
        _wait_for(server, first)
        _every_worker_serves(server, first, 2)
    finally:
        stop.set()
        loop.join()
    assert failures == []
    assert {first, good} <= set(answers)
