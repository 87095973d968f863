"""The opt-in sample store: off by default, the record format, the size cap, retention, several writers."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from runtime.articles import Article
from runtime.model import TopicModel
from service import config, feedback, samples
from service.samples import SampleStore

DAY = 86400
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc).timestamp()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _store(folder: Path, **kw) -> SampleStore:
    options = {"share": 1.0, "max_bytes": 10_000_000, "retention_days": 30, "clock": lambda: NOW} | kw
    return SampleStore(folder, **options)


def _record(i: int, size: int = 0) -> dict:
    return {"id": i, "title": "", "text": "x" * size, "at": "", "model": "m", "topics": [], "scores": {}}


def test_off_by_default_no_text_is_stored(app, client, tmp_path, monkeypatch):
    assert config.DEFAULTS["TOPICS_SAMPLE_DIR"] == ""
    assert app.extensions["samples"] is None
    written = []
    monkeypatch.setattr(samples, "append_line", lambda *a, **k: written.append(a))
    monkeypatch.setattr(feedback, "append_line", lambda *a, **k: written.append(a))
    assert client.post("/v1/classify", json={"text": "striker goal penalty"}).status_code == 200
    assert written == []


def test_on_it_keeps_the_model_s_topics_and_every_score(models_dir, tmp_path):
    from service import create_app

    folder = tmp_path / "samples"
    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_SAMPLE_DIR": str(folder),
                      "TOPICS_SAMPLE_SHARE": 1.0, "TOPICS_DETECT_LANGUAGE": False})
    client = app.test_client()
    articles = [{"id": "a1", "title": "Cup final", "text": "striker goal penalty keeper"},
                {"text": "shares bond yields investors"}]
    # A request's own threshold and top_k change its answer, not what the store keeps.
    body = client.post("/v1/classify/batch", json={"articles": articles, "threshold": 0.99, "top_k": 1}).get_json()
    (path,) = folder.iterdir()
    assert path.name == f"samples-{datetime.now(timezone.utc):%Y%m%d}.jsonl"
    first, second = _lines(path)
    model = TopicModel.load(models_dir / "current")
    assert set(first) == {"id", "title", "text", "at", "model", "topics", "scores"}
    assert (first["id"], first["title"], first["text"]) == ("a1", "Cup final", "striker goal penalty keeper")
    assert first["model"] == model.version and first["topics"] == ["sport"]
    assert sorted(first["scores"]) == sorted(model.labels)
    assert body["results"][0]["topics"] == []  # the client asked for 0.99
    assert second["title"] == "" and len(second["id"]) == 32 and second["topics"] == ["markets"]
    assert datetime.fromisoformat(first["at"]).tzinfo is not None


def test_share_decides_which_articles_are_kept(tmp_path, toy_models):
    model = TopicModel.load(toy_models / "current")
    draws = iter([0.01, 0.9, 0.04, 0.06])
    store = _store(tmp_path, share=0.05, draw=lambda: next(draws))
    articles = [Article(text=f"goal {i}", id=i) for i in range(4)]
    P = model.predict_proba([a.text for a in articles])
    assert store.offer(model, articles, P, [True, True, False, True]) == 2
    kept = _lines(tmp_path / "samples-20261205.jsonl")
    assert [r["id"] for r in kept] == [0, 2] and kept[1]["language_supported"] is False


def test_the_cap_deletes_the_oldest_day_files_first(tmp_path):
    for day, size in (("20261201", 400), ("20261203", 400), ("20261204", 400)):
        (tmp_path / f"samples-{day}.jsonl").write_bytes(b"x" * (size - 1) + b"\n")
    (tmp_path / "notes.txt").write_text("not a sample file")
    store = _store(tmp_path, max_bytes=1_000)
    assert store.store(_record(1, 100))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["notes.txt", "samples-20261203.jsonl", "samples-20261204.jsonl", "samples-20261205.jsonl"]
    assert sum(p.stat().st_size for p in tmp_path.glob("samples-*")) <= 1_000


def test_when_today_fills_the_cap_new_samples_are_dropped(tmp_path):
    line = len(json.dumps(_record(0, 150), ensure_ascii=False)) + 1
    store = _store(tmp_path, max_bytes=3 * line + 10)
    before = REGISTRY.get_sample_value("topics_samples_dropped_total")
    kept = [store.store(_record(i, 150)) for i in range(6)]
    assert kept == [True, True, True, False, False, False]
    assert len(_lines(tmp_path / "samples-20261205.jsonl")) == 3
    assert REGISTRY.get_sample_value("topics_samples_dropped_total") - before == 3


def test_retention_deletes_files_last_written_too_long_ago(tmp_path):
    old, recent = tmp_path / "samples-20261101.jsonl", tmp_path / "samples-20261130.jsonl"
    for path, age in ((old, 31), (recent, 5)):
        path.write_text("{}\n")
        os.utime(path, (NOW - age * DAY, NOW - age * DAY))
    _store(tmp_path).store(_record(1))
    assert not old.exists() and recent.exists()


def test_a_new_utc_day_starts_a_new_file(tmp_path):
    clock = iter([NOW, NOW + DAY])
    store = _store(tmp_path, clock=lambda: next(clock))
    store.store(_record(1))
    store.store(_record(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples-20261205.jsonl", "samples-20261206.jsonl"]


def _append_many(folder: str, start: int) -> None:
    store = _store(Path(folder))
    for i in range(start, start + 300):
        store.store(_record(i, 2000))


def test_two_processes_appending_leave_only_whole_lines(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(str(tmp_path), k * 1000)) for k in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [w.exitcode for w in workers] == [0, 0]
    ids = sorted(r["id"] for r in _lines(tmp_path / "samples-20261205.jsonl"))
    assert ids == list(range(300)) + list(range(1000, 1300))


@pytest.mark.parametrize("settings", [{"TOPICS_SAMPLE_SHARE": 1.5}, {"TOPICS_SAMPLE_MAX_BYTES": 0},
                                      {"TOPICS_SAMPLE_RETENTION_DAYS": -1}])
def test_bad_settings_are_refused_at_start(models_dir, tmp_path, settings):
    from service import create_app

    with pytest.raises(ValueError, match="TOPICS_SAMPLE"):
        create_app({"TOPICS_MODEL_DIR": str(models_dir), "TOPICS_SAMPLE_DIR": str(tmp_path), **settings})


def test_scores_are_rounded_like_answers(tmp_path, toy_models):
    model = TopicModel.load(toy_models / "current")
    record = _store(tmp_path).record(model, Article(text="goal"), np.array([0.1234567, 0.5, 0.9999999]))
    assert list(record["scores"].values()) == [0.123457, 0.5, 1.0]


@pytest.mark.parametrize("text", ["striker goal penalty keeper", "a lone surrogate \ud800 here"])
def test_a_sample_that_cannot_be_written_never_fails_the_answer(models_dir, tmp_path, text):
    """A full, read-only or wrong store (here: a regular file where the folder should be), or text the file
    cannot hold: the request is answered as with the store off, and the sample counts as dropped."""
    from service import create_app

    not_a_folder = tmp_path / "samples"
    not_a_folder.write_text("")
    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_SAMPLE_DIR": str(not_a_folder),
                      "TOPICS_SAMPLE_SHARE": 1.0})
    before = REGISTRY.get_sample_value("topics_samples_dropped_total") or 0
    response = app.test_client().post("/v1/classify", json={"text": text})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["topics"] is not None
    assert REGISTRY.get_sample_value("topics_samples_dropped_total") == before + 1
