"""The labeling queue: uncertain, disputed and unusual articles first; bad lines counted; reviewed ones gone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runtime import labeling
from runtime.model import TopicModel
from service import create_app
from service.auth import hash_key
from tests.conftest import VOCABULARY

SPORT, WEATHER = VOCABULARY["sport"], VOCABULARY["weather"]
REVIEWER, READER, ADMIN = "reviewer-key-1", "reader-key-2", "admin-key-3"
KEYS = f"{hash_key(REVIEWER)}:classify,review:desk {hash_key(READER)}:classify:app {hash_key(ADMIN)}:admin:ops"


def _mixes() -> list[dict]:
    """Articles sliding from all sport words to all weather words: somewhere a topic crosses its threshold."""
    n = len(SPORT)
    return [{"id": f"mix-{k}", "title": None, "text": " ".join(SPORT[:n - k] + WEATHER[:k] + ["the", "city"])}
            for k in range(n + 1)]


def _write(path, records, extra_lines=()):
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _app(toy_models, tmp_path, **config):
    return create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(toy_models),
                       "TOPICS_FEEDBACK_DIR": str(tmp_path / "feedback"), **config})


@pytest.fixture
def model(toy_models):
    return TopicModel.load(toy_models / "current")


def test_an_article_near_a_threshold_ranks_above_a_confident_one(toy_models, tmp_path, model):
    articles = _mixes()
    client = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(_write(tmp_path / "q.jsonl", articles))).test_client()
    body = client.get("/v1/queue?limit=100").get_json()
    assert body["total"] == len(articles) and body["candidate"] is None
    P = model.predict_proba([a["text"] for a in articles])
    margins = np.abs(P - model.thresholds).min(axis=1)
    nearest, confident = articles[int(margins.argmin())]["id"], articles[int(margins.argmax())]["id"]
    assert margins.min() < 0.1 < margins.max()  # the slide really holds a doubtful and a clear article
    order = [item["id"] for item in body["items"]]
    assert order.index(nearest) < order.index(confident)
    assert order[0] == nearest
    first = body["items"][0]
    assert first["signals"]["margin"] == pytest.approx(margins.min(), abs=1e-4)
    assert first["signals"]["uncertainty"] > 0 and "from its threshold" in first["reasons"][0]
    assert [item["signals"]["margin"] for item in body["items"]] == sorted(item["signals"]["margin"]
                                                                          for item in body["items"])


def test_disagreement_with_the_candidate_is_a_reason(toy_models, tmp_path, model, monkeypatch):
    app = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(_write(tmp_path / "q.jsonl", _mixes())))
    # A candidate that calls every article every topic: it disagrees wherever current is choosier.
    eager = TopicModel(model.pipeline, {**model.manifest, "version": "candidate-1",
                                        "thresholds": {label: 0.0 for label in model.labels}})
    monkeypatch.setattr(type(app.extensions["topics"]), "candidate", property(lambda holder: eager))
    body = app.test_client().get("/v1/queue?limit=100").get_json()
    assert body["candidate"] == {"version": "candidate-1"}
    clear_sport = next(item for item in body["items"] if item["id"] == "mix-0")
    assert clear_sport["signals"]["disagreement"] == 1.0
    assert clear_sport["signals"]["candidate_topics"] == sorted(model.labels, key=lambda l: -clear_sport["scores"][l])
    assert any("candidate model says" in reason for reason in clear_sport["reasons"])
    assert all(item["priority"] >= 1.0 for item in body["items"] if item["signals"]["disagreement"])


def test_drift_outliers_are_named(toy_models, tmp_path):
    records = [{"id": "odd", "text": "quantum opera zebra violin sonnet glacier orchid"},
               {"id": "short", "text": "goal"}, {"id": "plain", "text": " ".join(SPORT)}]
    client = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(_write(tmp_path / "q.jsonl", records))).test_client()
    items = {item["id"]: item for item in client.get("/v1/queue").get_json()["items"]}
    assert items["odd"]["signals"]["unknown_share"] == 1.0 and items["odd"]["signals"]["drift"] == 1.0
    assert any("new to the model" in reason for reason in items["odd"]["reasons"])
    assert any("unusually short" in reason for reason in items["short"]["reasons"])
    assert items["plain"]["signals"]["drift"] == 0.0


def test_bad_lines_are_skipped_and_counted_and_duplicates_dropped(toy_models, tmp_path):
    path = tmp_path / "q.jsonl"
    good = [{"id": 1, "title": "Derby", "text": "goal striker league", "extra": "ignored"},
            {"id": 2, "text": "storm rain forecast"}]
    bad = ["not json", "[1, 2]", '{"text": ""}', '{"title": "no text"}', '{"text": 5}',
           '{"text": "rain", "id": true}', '{"text": "rain", "title": 3}', "[" * 50_000 + "]" * 50_000]
    dupes = [json.dumps({"id": 7, "text": "goal striker league"}),  # the same text under another id
             json.dumps({"text": "storm   rain\nforecast"})]  # the same text, spaced otherwise
    _write(path, good, bad + dupes + [""])
    with open(path, "ab") as fh:
        fh.write(b'{"text": "\xff\xfe not UTF-8"}\n')
        fh.write(b'{"id": 3, "text": "a lone surrogate \\ud800 in valid JSON"}\n')  # an article, not a 500
    client = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(path)).test_client()
    response = client.get("/v1/queue")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["read"] == {"files": 1, "articles": 3, "bad_lines": len(bad) + 1, "duplicates": 2,
                            "reviewed": 0, "capped": False}
    assert {item["id"] for item in body["items"]} == {1, 2, 3}
    assert {item["title"] for item in body["items"]} == {"Derby", None}


def test_articles_that_share_a_client_id_are_different_articles(toy_models, tmp_path):
    """Ids are the clients' own: two clients may both send id 1, and 1 is not "1"."""
    records = [{"id": 1, "text": "goal striker league cup"}, {"id": 1, "text": "storm rain forecast winds"},
               {"id": "1", "text": "shares index market bonds"}]
    client = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(_write(tmp_path / "q.jsonl", records))).test_client()
    assert client.get("/v1/queue").get_json()["total"] == 3
    assert client.post("/v1/feedback", json={"id": 1, "text": "goal striker league cup",
                                             "labels": ["sport"]}).status_code == 201
    body = client.get("/v1/queue").get_json()
    assert sorted(item["text"] for item in body["items"]) == ["shares index market bonds", "storm rain forecast winds"]


def test_a_reviewed_article_does_not_come_back(toy_models, tmp_path):
    records = [{"id": "a", "text": "goal striker league cup"}, {"text": "storm rain forecast winds"},
               {"id": "c", "text": "match coach stadium season"}]
    client = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(_write(tmp_path / "q.jsonl", records))).test_client()
    assert client.get("/v1/queue").get_json()["total"] == 3
    answer = {"text": "storm rain forecast winds", "labels": ["weather"]}
    assert client.post("/v1/feedback", json=answer).status_code == 201
    assert client.post("/v1/feedback", json={"id": "c", "labels": ["sport"]}).status_code == 201
    body = client.get("/v1/queue").get_json()
    assert [item["id"] for item in body["items"]] == ["a"]
    assert body["read"]["reviewed"] == 2


def test_the_sample_store_is_read_newest_first_and_capped(toy_models, tmp_path):
    store = tmp_path / "samples"
    store.mkdir()
    sample = {"at": "2026-12-01T10:00:00Z", "model": "v", "topics": [], "scores": {}}
    _write(store / "samples-20261201.jsonl", [{**sample, "id": f"old-{k}", "text": f"goal striker {w}"}
                                              for k, w in enumerate(WEATHER)])
    _write(store / "samples-20261205.jsonl", [{**sample, "id": "new-0", "title": "T", "text": "storm rain"}])
    (store / "other.jsonl").write_text('{"id": "not-a-sample", "text": "cup final"}\n')
    app = _app(toy_models, tmp_path, TOPICS_SAMPLE_DIR=str(store), TOPICS_QUEUE_MAX_ARTICLES=3, TOPICS_API_KEYS=KEYS)
    body = app.test_client().get("/v1/queue", headers={"Authorization": f"Bearer {REVIEWER}"}).get_json()
    assert body["read"]["files"] == 2 and body["read"]["capped"] and body["total"] == 3
    ids = {item["id"] for item in body["items"]}
    assert "new-0" in ids and "not-a-sample" not in ids


def test_paging(toy_models, tmp_path):
    client = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(_write(tmp_path / "q.jsonl", _mixes()))).test_client()
    everything = [item["id"] for item in client.get("/v1/queue?limit=100").get_json()["items"]]
    page = client.get("/v1/queue?limit=2&offset=3").get_json()
    assert [item["id"] for item in page["items"]] == everything[3:5]
    assert page["total"] == len(_mixes()) and page["limit"] == 2 and page["offset"] == 3
    assert client.get("/v1/queue?offset=50").get_json()["items"] == []


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"),
                                          ("offset=-1", "offset"), ("offset=100001", "offset")])
def test_bad_paging_is_a_422(toy_models, tmp_path, query, field):
    client = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(_write(tmp_path / "q.jsonl", _mixes()))).test_client()
    response = client.get(f"/v1/queue?{query}")
    assert response.status_code == 422 and response.get_json()["field"] == field


def test_without_a_source_the_queue_says_so(toy_models, tmp_path):
    assert _app(toy_models, tmp_path).test_client().get("/v1/queue").status_code == 503
    missing = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(tmp_path / "nope.jsonl")).test_client().get("/v1/queue")
    assert missing.status_code == 503 and "does not exist" in missing.get_json()["detail"]
    empty_store = _app(toy_models, tmp_path, TOPICS_SAMPLE_DIR=str(tmp_path / "not-yet"),
                       TOPICS_API_KEYS=KEYS).test_client()
    assert empty_store.get("/v1/queue", headers={"Authorization": f"Bearer {REVIEWER}"}).get_json()["total"] == 0


def test_without_keys_the_sample_store_is_not_handed_out(toy_models, tmp_path):
    """Without API keys anyone may call the service, so the queue will not read other clients' stored text."""
    store = tmp_path / "samples"
    store.mkdir()
    _write(store / "samples-20261205.jsonl", [{"id": "s", "text": "storm rain forecast"}])
    response = _app(toy_models, tmp_path, TOPICS_SAMPLE_DIR=str(store)).test_client().get("/v1/queue")
    assert response.status_code == 403 and "storm" not in response.get_data(as_text=True)
    assert response.get_json()["type"] == "/problems/forbidden"


def test_the_queue_needs_the_review_scope(toy_models, tmp_path):
    app = _app(toy_models, tmp_path, TOPICS_QUEUE_FILE=str(_write(tmp_path / "q.jsonl", _mixes())),
               TOPICS_API_KEYS=KEYS)
    client = app.test_client()

    def get(key):
        return client.get("/v1/queue", headers={"Authorization": f"Bearer {key}"} if key else {})

    assert get(None).status_code == 401
    assert get(READER).status_code == 403 and get(READER).get_json()["type"] == "/problems/forbidden"
    assert get(REVIEWER).status_code == 200 and get(ADMIN).status_code == 200
    # A reviewer's key also carries classify, so the review view can save answers as feedback.
    saved = client.post("/v1/feedback", json={"text": "goal", "labels": ["sport"]},
                        headers={"Authorization": f"Bearer {REVIEWER}"})
    assert saved.status_code == 201


def test_rank_is_pure_and_handles_nothing(model):
    assert labeling.rank(model, []) == []
    assert labeling.read_pool([], 10).counts()["articles"] == 0
