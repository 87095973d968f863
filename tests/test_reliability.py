"""Faults under load, against real gunicorn processes on loopback; every loop is bounded in count and time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from bench.loadgen import JSON, Load, http, worker_pids
from tests.conftest import ROOT, train_into
from runtime import bundle
from runtime.model import TopicModel

def test_sigkill_of_a_worker_under_load(start_server, models_dir):
    server = start_server(models_dir, workers=2)
    with Load(server.url, threads=4) as load:
        time.sleep(1.0)
        victim = worker_pids(server.process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(2.0)
    replaced = worker_pids(server.process.pid)
    assert victim not in replaced and len(replaced) == 2
    print(f"\nSIGKILL: {len(load.results)} requests, {len(load.failed)} failed")
    # At most the requests in flight on that worker may fail. A gthread worker
    # accepts connections ahead of its threads, so that is at most one per
    # client connection (4), never a request sent after the kill.
    assert len(load.failed) <= 4, load.failed[:5]
    assert all(status == 0 for status, _, _ in load.failed)  # lost connections, never an error answer
    assert len(load.results) > 50


def test_sigterm_lets_requests_in_flight_finish(start_server, models_dir):
    server = start_server(models_dir, workers=1, TOPICS_MAX_BATCH_BYTES="60000000",
                          TOPICS_MAX_BATCH_ARTICLES="5000", TOPICS_GRACEFUL_TIMEOUT="30")
    article = {"text": "goal striker penalty keeper " * 400}
    body = json.dumps({"articles": [article] * 3000}).encode()
    outcome = {}

    def slow():
        outcome["response"] = http("POST", server.url + "/v1/classify/batch", body, JSON, timeout=60)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)  # the request is being processed
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    thread.join(timeout=60)
    status, _, result = outcome["response"]
    assert status == 200 and len(result["results"]) == 3000
    server.process.wait(timeout=30)
    print(f"\nSIGTERM: the in-flight batch finished; shutdown took {time.monotonic() - started:.1f}s")


def test_hot_reload_under_load_never_fails_or_mixes_versions(start_server, models_dir, toy_corpus):
    server = start_server(models_dir, workers=2, TOPICS_RELOAD_INTERVAL="0.2")
    published = {bundle.current_version(models_dir)}
    body = {"articles": [{"text": "goal striker"}, {"text": "shares bonds"}, {"text": "storm rain"}] * 20}
    with Load(server.url, threads=3, body=body, path="/v1/classify/batch") as load:
        for _ in range(3):
            published.add(train_into(models_dir, [toy_corpus]).name)
            time.sleep(1.0)
    assert load.failed == []
    versions_seen = set()
    for _, result, _ in load.results:
        batch_versions = {r["model"]["version"] for r in result["results"]}
        assert len(batch_versions) == 1, batch_versions  # one batch, one model
        assert batch_versions <= published
        versions_seen |= batch_versions
    assert bundle.current_version(models_dir) in versions_seen
    print(f"\nhot reload: {len(load.results)} batches, 0 failed, versions seen {len(versions_seen)}/{len(published)}")


def test_corrupt_bundle_under_load_keeps_the_old_model(start_server, models_dir):
    import shutil

    server = start_server(models_dir, workers=2, TOPICS_RELOAD_INTERVAL="0.2")
    good = bundle.current_version(models_dir)
    bad = models_dir / (good[:-8] + "badbad00")
    shutil.copytree(models_dir / good, bad)
    (bad / "model.joblib").write_bytes(b"\x80\x04not a pickle at all")
    with Load(server.url, threads=2, max_seconds=3) as load:
        bundle.point_current(models_dir, bad.name)
        time.sleep(2.0)
    assert load.failed == []
    assert {body["model"]["version"] for _, body, _ in load.results} == {good}
    status = http("GET", server.url + "/v1/model")[2]["status"]
    assert status["version"] == good and bad.name in status["last_reload_error"]["path"]


def test_training_killed_during_publish_leaves_current_intact(models_dir, toy_corpus):
    before = bundle.current_version(models_dir)
    cmd = [sys.executable, "-m", "training", "--data", str(toy_corpus), "--out", str(models_dir),
           "--min-df", "1", "--folds", "3"]
    process = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # wait for the publishing stage, then kill
        if line.startswith("[publishing]"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert bundle.current_version(models_dir) == before
    TopicModel.load(models_dir / "current")
