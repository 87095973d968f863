"""Drift in /metrics: the rolling window's shares and the score histograms, in one process and across workers."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import REGISTRY

from service import drift
from tests.conftest import http
from tests.test_metrics import _sample

ARTICLES = [{"text": "striker goal penalty keeper"}, {"text": "shares bond yields investors"},
            {"text": "storm rain forecast flooding"}, {"text": "striker goal coach league"},
            {"text": "the a city on monday said"}]


@pytest.fixture
def drift_client(models_dir):
    from service import create_app

    def make(**settings):
        app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_DETECT_LANGUAGE": False,
                          **settings})
        return app.test_client()

    return make


def test_window_shares_and_score_histograms_appear_after_classifying(drift_client):
    client = drift_client()
    before = client.get("/metrics").get_data(as_text=True)
    results = client.post("/v1/classify/batch", json={"articles": ARTICLES}).get_json()["results"]
    text = client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "topics_drift_window_articles") == 5
    for label in ("sport", "markets", "weather"):
        predicted = sum(label in [t["label"] for t in r["topics"]] for r in results)
        assert _sample(text, "topics_drift_window_predicted", label=label) == predicted
        assert _sample(text, "topics_drift_predicted_share", label=label) == pytest.approx(predicted / 5)
        count = _sample(text, "topics_score_count", label=label) - _sample(before, "topics_score_count", label=label)
        assert count == 5
        top = _sample(text, "topics_score_bucket", label=label, le="1.0")
        assert top - _sample(before, "topics_score_bucket", label=label, le="1.0") == 5
        assert _sample(text, "topics_score_bucket", label=label, le="0.1") <= top  # cumulative
    assert _sample(text, "topics_drift_predicted_share", label="sport") == pytest.approx(2 / 5)
    no_topic = sum(not r["topics"] for r in results)
    assert no_topic >= 1 and _sample(text, "topics_drift_no_topic_share") == pytest.approx(no_topic / 5)
    assert "# TYPE topics_score histogram" in text


def test_the_window_keeps_the_last_articles_and_ignores_request_options(drift_client):
    client = drift_client(TOPICS_DRIFT_WINDOW=3)
    for article in ARTICLES:  # the last three: sport, nothing... see ARTICLES
        client.post("/v1/classify", json={**article, "threshold": 0.999, "top_k": 1})
    text = client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "topics_drift_window_articles") == 3
    assert _sample(text, "topics_drift_window_predicted", label="weather") == 1
    assert _sample(text, "topics_drift_window_predicted", label="sport") == 1
    assert _sample(text, "topics_drift_window_predicted", label="markets") == 0
    assert _sample(text, "topics_drift_window_no_topic") == 1


def test_window_zero_turns_drift_metrics_off(drift_client):
    client = drift_client(TOPICS_DRIFT_WINDOW=0)
    assert client.application.extensions["drift"] is None
    assert client.post("/v1/classify", json=ARTICLES[0]).status_code == 200


def test_flushing_many_requests_at_once_matches_one_at_a_time(drift_client, monkeypatch):
    monkeypatch.setattr(drift, "FLUSH_SECONDS", 3600)  # nothing is folded in until /metrics asks
    client = drift_client()
    window = client.application.extensions["drift"]
    for article in ARTICLES * 4:
        client.post("/v1/classify", json=article)
    assert len(window.queue) >= 19  # queued, not yet folded in (the first request folds at once)
    text = client.get("/metrics").get_data(as_text=True)
    assert not window.queue and _sample(text, "topics_drift_window_articles") == 20
    assert _sample(text, "topics_drift_window_predicted", label="sport") == 8


def test_drift_metrics_across_two_gunicorn_workers(start_server, models_dir):
    server = start_server(models_dir, workers=2, TOPICS_DETECT_LANGUAGE="false")
    for i in range(12):
        status, _, _ = http("POST", server.url + "/v1/classify", json.dumps(ARTICLES[i % 5]).encode(),
                            {"Content-Type": "application/json", "Connection": "close"})
        assert status == 200
    text = http("GET", server.url + "/metrics")[2]
    # Each worker folds in its first request at once and later ones within a second, or when it answers
    # /metrics: the live windows hold between 1 and 12 articles, and the shares are computed over them.
    articles = _sample(text, "topics_drift_window_articles")
    assert 1 <= articles <= 12
    series = [line for line in text.splitlines() if line.startswith("topics_drift_window_articles")]
    assert len(series) == 1  # summed over the workers: one series, not one per worker
    sport = _sample(text, "topics_drift_window_predicted", label="sport")
    assert _sample(text, "topics_drift_predicted_share", label="sport") == pytest.approx(sport / articles)
    assert 1 <= _sample(text, "topics_score_count", label="sport") <= 12


def test_a_model_with_other_labels_starts_a_new_window():
    old = SimpleNamespace(labels=["drift-x", "drift-y"], thresholds=np.array([0.5, 0.5]))
    new = SimpleNamespace(labels=["drift-z"], thresholds=np.array([0.5]))
    window = drift.Window(10)
    window.add(old, np.array([[0.9, 0.1]]), [True])  # the first request is folded in at once
    assert REGISTRY.get_sample_value("topics_drift_window_predicted", {"label": "drift-x"}) == 1
    window.add(new, np.array([[0.7], [0.2]]), [True, False])
    window.flush()
    assert window.labels == ["drift-z"] and window.filled == 2
    assert REGISTRY.get_sample_value("topics_drift_window_predicted", {"label": "drift-x"}) == 0
    assert REGISTRY.get_sample_value("topics_drift_window_predicted", {"label": "drift-z"}) == 1
    assert REGISTRY.get_sample_value("topics_drift_window_no_topic") == 1  # the unreadable one
    assert REGISTRY.get_sample_value("topics_score_count", {"label": "drift-z"}) == 1  # readable ones only
