"""The HTTP API: every endpoint, option semantics and the matrix of bad inputs."""

from __future__ import annotations

import json

import pytest

SPORT = "the striker scored a late goal and the keeper saved a penalty in the cup match"
MARKETS = "shares rally as bond yields fall and investors cheer earnings and dividend"


def test_classify_json(client):
    r = client.post("/v1/classify", json={"text": SPORT, "title": "Cup final", "id": "a-1"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] == "a-1"
    assert body["topics"][0]["label"] == "sport"
    assert set(body["scores"]) == {"markets", "sport", "weather"}
    assert body["model"]["version"] == r.headers["X-Model-Version"]
    assert "explanation" not in body
    scores = [t["score"] for t in body["topics"]]
    assert scores == sorted(scores, reverse=True)


def test_classify_text_plain_with_query_options(client):
    r = client.post("/v1/classify?top_k=1&explain=true", data=MARKETS.encode(), content_type="text/plain; charset=utf-8")
    assert r.status_code == 200
    body = r.get_json()
    assert list(body["scores"]) == ["markets"]
    assert body["topics"][0]["label"] == "markets"
    terms = [t["term"] for t in body["explanation"]["markets"]]
    assert terms and all(term in MARKETS for term in terms)


def test_top_k_limits_scores_and_topics(client):
    body = client.post("/v1/classify", json={"text": SPORT + " " + MARKETS, "top_k": 2, "threshold": 0.0}).get_json()
    assert len(body["scores"]) == 2 and len(body["topics"]) == 2
    assert list(body["scores"].values()) == sorted(body["scores"].values(), reverse=True)


def test_threshold_overrides_tuned_thresholds(client):
    everything = client.post("/v1/classify", json={"text": SPORT, "threshold": 0.0}).get_json()
    assert len(everything["topics"]) == 3
    nothing = client.post("/v1/classify", json={"text": SPORT, "threshold": 1.0}).get_json()
    assert nothing["topics"] == []


def test_no_topic_is_an_empty_list_not_an_error(client):
    # Words the toy corpus's unlabeled documents are made of: about none of its topics.
    r = client.post("/v1/classify", json={"text": "officials said on monday the city report"})
    assert r.status_code == 200
    assert r.get_json()["topics"] == []


def test_explanation_weights_are_exact_for_the_linear_model(app, client):
    import numpy as np

    body = client.post("/v1/classify", json={"text": SPORT, "explain": True}).get_json()
    model = app.extensions["topics"].model
    j = model.labels.index("sport")
    contributions = model.scorer.contributions(SPORT, j)
    decision = sum(w for _, w in contributions) + model.scorer._intercept[j]
    gate = len(model.labels)  # the none-of-these gate's row comes after the labels' (runtime/estimators.py)
    none = sum(w for _, w in model.scorer.contributions(SPORT, gate)) + model.scorer._intercept[gate]
    probability = 1 / (1 + np.exp(-decision)) * (1 - 1 / (1 + np.exp(-none)))
    assert probability == pytest.approx(body["scores"]["sport"], abs=1e-6)
    top = body["explanation"]["sport"]
    assert top[0]["term"] == contributions[0][0]
    assert [t["weight"] for t in top] == sorted((t["weight"] for t in top), reverse=True)


def test_batch_keeps_order_and_ids(client):
    articles = [{"text": SPORT, "id": 1}, {"text": MARKETS, "id": "two"}, {"text": "storm winds and flooding"}]
    r = client.post("/v1/classify/batch", json={"articles": articles, "top_k": 1})
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert [res["id"] for res in results] == [1, "two", None]
    assert [res["topics"][0]["label"] for res in results] == ["sport", "markets", "weather"]
    assert len({res["model"]["version"] for res in results}) == 1


def test_batch_matches_single(client):
    single = client.post("/v1/classify", json={"text": MARKETS, "title": "Markets"}).get_json()
    batch = client.post("/v1/classify/batch", json={"articles": [{"text": MARKETS, "title": "Markets"}]}).get_json()
    assert batch["results"][0]["scores"] == single["scores"]


def test_labels_and_model(client):
    labels = client.get("/v1/labels").get_json()
    assert [entry["label"] for entry in labels["labels"]] == ["markets", "sport", "weather"]
    assert all(entry["training_count"] > 0 and 0 < entry["threshold"] < 1 for entry in labels["labels"])
    info = client.get("/v1/model").get_json()
    assert info["version"] == info["manifest"]["version"]
    for key in ("metrics", "data", "created_at", "versions"):
        assert key in info["manifest"]
    assert info["status"]["ready"] is True


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_unicode_and_very_long_input(client):
    text = "Ünïcödé 北京 — «goal» striker ✓ " * 10000
    r = client.post("/v1/classify", json={"text": text})
    assert r.status_code == 200
    assert r.get_json()["topics"][0]["label"] == "sport"


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


def test_security_headers(client):
    r = client.post("/v1/classify", json={"text": SPORT})
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    for name in ("X-Frame-Options", "Referrer-Policy", "Cross-Origin-Resource-Policy", "Cache-Control"):
        assert len(r.headers.getlist(name)) == 1, name
    health = client.get("/healthz")
    assert health.headers["X-Frame-Options"] == "DENY" and "Cache-Control" not in health.headers


def test_headers_a_view_sets_are_kept_not_repeated(app):
    headers = {"X-Frame-Options": "SAMEORIGIN", "cache-control": "max-age=60"}
    app.add_url_rule("/v1/framed", "framed", lambda: ({"ok": True}, headers))
    r = app.test_client().get("/v1/framed")
    assert r.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert r.headers.getlist("Cache-Control") == ["max-age=60"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def _problem(r, status):
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    assert "Traceback" not in r.get_data(as_text=True)
    return body


BAD_CLASSIFY = [
    # (body bytes or json, content type, query, status, field)
    (b'{"text": "a"', "application/json", "", 400, None),
    (b'{"text": "a", "text": "b"}', "application/json", "", 400, None),
    (b'{"text": NaN}', "application/json", "", 400, None),
    (b"\xff\xfe", "application/json", "", 400, None),
    (b"\xff\xfe", "text/plain", "", 400, None),
    (b"<a/>", "application/xml", "", 415, None),
    (b"text=a", "application/x-www-form-urlencoded", "", 415, None),
    (b'"just a string"', "application/json", "", 422, ""),
    ({}, None, "", 422, "text"),
    ({"text": ""}, None, "", 422, "text"),
    ({"text": "   "}, None, "", 422, "text"),
    ({"text": 42}, None, "", 422, "text"),
    ({"text": None}, None, "", 422, "text"),
    ({"text": ["a"]}, None, "", 422, "text"),
    ({"text": "a", "title": 3}, None, "", 422, "title"),
    ({"text": "a", "id": {"x": 1}}, None, "", 422, "id"),
    ({"text": "a", "id": True}, None, "", 422, "id"),
    ({"text": "a", "top_k": 0}, None, "", 422, "top_k"),
    ({"text": "a", "top_k": -1}, None, "", 422, "top_k"),
    ({"text": "a", "top_k": 1.5}, None, "", 422, "top_k"),
    ({"text": "a", "top_k": "3"}, None, "", 422, "top_k"),
    ({"text": "a", "top_k": True}, None, "", 422, "top_k"),
    ({"text": "a", "threshold": 1.5}, None, "", 422, "threshold"),
    ({"text": "a", "threshold": -0.1}, None, "", 422, "threshold"),
    ({"text": "a", "threshold": "high"}, None, "", 422, "threshold"),
    (b'{"text": "a", "threshold": 1e400}', "application/json", "", 422, "threshold"),
    ({"text": "a", "explain": "yes"}, None, "", 422, "explain"),
    ({"text": "a", "explain": 1}, None, "", 422, "explain"),
    ({"text": "a", "colour": "red"}, None, "", 422, "colour"),
    ({"text": "a"}, None, "?top_k=zero", 422, "top_k"),
    ({"text": "a"}, None, "?threshold=2", 422, "threshold"),
    ({"text": "a"}, None, "?explain=maybe", 422, "explain"),
    ({"text": "a"}, None, "?verbose=1", 422, "verbose"),
]


@pytest.mark.parametrize("body, content_type, query, status, field", BAD_CLASSIFY)
def test_classify_bad_input(client, body, content_type, query, status, field):
    if isinstance(body, dict):
        body, content_type = json.dumps(body).encode(), "application/json"
    r = client.post("/v1/classify" + query, data=body, content_type=content_type)
    problem = _problem(r, status)
    if field is not None:
        assert problem["field"] == field


@pytest.mark.parametrize("path, body", [
    ("/v1/classify", b'{"title": "t", "text": "a", "text": "b"}'),
    ("/v1/classify/batch", b'{"articles": [{"text": "a", "id": 1, "text": "b"}]}'),
])
def test_duplicate_keys_are_refused_at_any_depth(client, path, body):
    problem = _problem(client.post(path, data=body, content_type="application/json"), 400)
    assert "duplicate key 'text'" in problem["detail"]


BAD_BATCH = [
    ({}, "articles"),
    ({"articles": "a"}, "articles"),
    ({"articles": []}, "articles"),
    ({"articles": [{"text": "ok"}, {"text": ""}]}, "articles[1].text"),
    ({"articles": [{"text": "ok"}, "plain string"]}, "articles[1]"),
    ({"articles": [{"text": "ok", "lang": "en"}]}, "articles[0].lang"),
    ({"articles": [{"text": "ok"}], "top_k": 0}, "top_k"),
    ({"articles": [{"text": "ok"}], "extra": 1}, "extra"),
]


@pytest.mark.parametrize("body, field", BAD_BATCH)
def test_batch_bad_input(client, body, field):
    problem = _problem(client.post("/v1/classify/batch", json=body), 422)
    assert problem["field"] == field


def test_batch_count_limit(app, client):
    app.config["TOPICS_MAX_BATCH_ARTICLES"] = 3
    problem = _problem(client.post("/v1/classify/batch", json={"articles": [{"text": "a"}] * 4}), 422)
    assert "limit is 3" in problem["detail"]


def test_body_size_limits_are_checked_before_parsing(app, client, monkeypatch):
    app.config["TOPICS_MAX_BODY_BYTES"] = 1000
    app.config["TOPICS_MAX_BATCH_BYTES"] = 5000

    def must_not_parse(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr("service.requests.decode_json", must_not_parse)
    _problem(client.post("/v1/classify", json={"text": "a" * 2000}), 413)
    _problem(client.post("/v1/classify/batch", json={"articles": [{"text": "a" * 6000}]}), 413)


def test_batch_gets_the_larger_limit(app, client):
    app.config["TOPICS_MAX_BODY_BYTES"] = 1000
    r = client.post("/v1/classify/batch", json={"articles": [{"text": "goal " * 400}]})
    assert r.status_code == 200


@pytest.mark.parametrize("method, path, status", [
    ("get", "/v1/nothing", 404), ("get", "/v1/classify", 405), ("put", "/v1/labels", 405), ("delete", "/healthz", 405),
])
def test_framework_errors_are_problems(client, method, path, status):
    r = getattr(client, method)(path)
    _problem(r, status)
    if status == 405:
        assert "Allow" in r.headers


def test_unexpected_error_is_a_500_problem_without_trace(app, client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["topics"].model, "score", explode)
    r = client.post("/v1/classify", json={"text": "a"})
    body = _problem(r, 500)
    assert "secret internals" not in r.get_data(as_text=True) and body["type"] == "/problems/internal-error"
