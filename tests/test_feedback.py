"""Feedback: corrections are appended safely and fold into the next model; admin reload and rollback."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from service import create_app
from service.auth import hash_key
from service.feedback import FEEDBACK_FILE, append_line
from tests.conftest import train_into
from runtime.model import TopicModel


@pytest.fixture
def fb_app(models_dir, tmp_path):
    return create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir),
                       "TOPICS_FEEDBACK_DIR": str(tmp_path / "feedback"), "TOPICS_RELOAD_INTERVAL": 0.0})


def _lines(app):
    path = os.path.join(app.config["TOPICS_FEEDBACK_DIR"], FEEDBACK_FILE)
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_feedback_with_text_and_with_id(fb_app):
    client = fb_app.test_client()
    r = client.post("/v1/feedback", json={"text": "new stadium roof", "title": "Roof", "labels": ["sport"], "id": 7})
    assert r.status_code == 201 and r.get_json()["labels"] == ["sport"]
    assert client.post("/v1/feedback", json={"id": "sport-3", "labels": []}).status_code == 201
    first, second = _lines(fb_app)
    assert first["text"] == "new stadium roof" and first["correction"] is True and first["model_version"]
    assert second == {**second, "id": "sport-3", "labels": [], "correction": True}
    assert "text" not in second


@pytest.mark.parametrize("body, field", [
    ({"labels": ["sport"]}, "text"),
    ({"text": "x", "labels": "sport"}, "labels"),
    ({"text": "x", "labels": ["cooking"]}, "labels"),
    ({"text": "x", "labels": [1]}, "labels"),
    ({"text": "", "labels": ["sport"]}, "text"),
    ({"text": "x", "labels": [], "score": 1}, "score"),
    ({"text": "a lone surrogate \ud800 here", "labels": ["sport"]}, "text"),  # valid JSON, no UTF-8 for it
    ({"text": "goal", "title": "\udfff", "labels": ["sport"]}, "title"),
])
def test_bad_feedback(fb_app, body, field):
    r = fb_app.test_client().post("/v1/feedback", json=body)
    assert r.status_code == 422 and r.get_json()["field"] == field


def test_feedback_off_without_a_folder(client):
    r = client.post("/v1/feedback", json={"text": "x", "labels": []})
    assert r.status_code == 503 and "TOPICS_FEEDBACK_DIR" in r.get_json()["detail"]


def test_size_cap(fb_app):
    fb_app.config["TOPICS_FEEDBACK_MAX_BYTES"] = 300
    client = fb_app.test_client()
    statuses = [client.post("/v1/feedback", json={"text": "goal " * 10, "labels": ["sport"]}).status_code
                for _ in range(5)]
    assert statuses[0] == 201 and statuses[-1] == 507
    assert all(len(json.dumps(line)) < 300 for line in _lines(fb_app))


def test_partial_line_from_a_dead_writer_is_cut(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"text": "whole", "labels": []}\n{"text": "cut off mid-wr')
    append_line(path, {"text": "next", "labels": []}, 10_000)
    assert [json.loads(line)["text"] for line in path.read_text().splitlines()] == ["whole", "next"]


def _hammer(path, n, tag):
    for i in range(n):
        append_line(path, {"text": f"{tag}-{i} " + "x" * 5000, "labels": []}, 10**9)


def test_concurrent_writers_never_interleave(tmp_path):
    path = tmp_path / "f.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hammer, args=(path, 50, tag)) for tag in "abcd"]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 200
    assert all(json.loads(line)["text"].endswith("x" * 5000) for line in lines)


def test_feedback_round_trips_into_a_retrain(fb_app, models_dir, toy_corpus, tmp_path):
    client = fb_app.test_client()
    text = "velodrome sprint cyclist medal"
    before = client.post("/v1/classify", json={"text": text}).get_json()["scores"]["sport"]
    for i in range(8):
        client.post("/v1/feedback", json={"text": f"{text} heat {i}", "labels": ["sport"]})
    client.post("/v1/feedback", json={"id": "markets-0", "labels": ["markets", "weather"]})
    feedback_dir = tmp_path / "feedback"
    version = train_into(models_dir, [toy_corpus, feedback_dir]).name
    after = client.post("/v1/classify", json={"text": text}).get_json()
    assert after["model"]["version"] == version
    assert after["scores"]["sport"] > before
    manifest = TopicModel.load(models_dir / "current").manifest
    assert any(src["path"].endswith(FEEDBACK_FILE) for src in manifest["data"]["sources"])


ADMIN = "admin-secret"


def test_admin_reload_and_rollback(models_dir, toy_corpus):
    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_RELOAD_INTERVAL": 3600.0,
                      "TOPICS_API_KEYS": f"{hash_key(ADMIN)}:admin"})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN}"}
    first = client.get("/v1/model", headers=headers).get_json()["version"]
    assert client.post("/v1/model/rollback", headers=headers).status_code == 409
    second = train_into(models_dir, [toy_corpus]).name
    reloaded = client.post("/v1/model/reload", headers=headers).get_json()
    assert reloaded == {"changed": True, "version": second, "previous": first}
    assert client.post("/v1/model/reload", headers=headers).get_json()["changed"] is False
    rolled = client.post("/v1/model/rollback", headers=headers).get_json()
    assert rolled == {"version": first, "previous": second}
    assert client.post("/v1/classify", json={"text": "goal"}, headers=headers).get_json()["model"]["version"] == first
