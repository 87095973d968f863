"""Shadow scoring: the candidate scores a share of live articles beside the current model, and never answers."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.serving import make_server

from runtime import bundle, gate
from runtime.model import TopicModel
from service import create_app
from service.auth import hash_key
from tests.conftest import http, json_lines, make_documents, train_into, write_jsonl
from tests.test_gate import _damaged
from tests.test_metrics import _sample
from training import promote

# Ten toy articles with titles, drawn like the training data but from another seed.
ARTICLES = [{"title": d["title"], "text": d["text"]} for d in make_documents(4, seed=23)[:10]]


def _app(models_dir, share: float, **config):
    # Language detection off: every toy article is compared, whatever the detector makes of it.
    return create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_RELOAD_INTERVAL": 0.0,
                       "TOPICS_DETECT_LANGUAGE": False, "TOPICS_SHADOW_SAMPLE": share, **config})


def _classify_all(client) -> None:
    for article in ARTICLES[:4]:
        assert client.post("/v1/classify", json=article).status_code == 200
    assert client.post("/v1/classify/batch", json={"articles": ARTICLES[4:]}).status_code == 200


def _expected(models_dir) -> dict:
    """The figures worked out directly from the two bundles, with each one's tuned thresholds."""
    texts, titles = [a["text"] for a in ARTICLES], [a["title"] for a in ARTICLES]
    current = TopicModel.load(models_dir / bundle.CURRENT_LINK)
    candidate = TopicModel.load(models_dir / bundle.CANDIDATE_LINK)
    ours = [{t.label for t in current.topics(row)} for row in current.predict_proba(texts, titles)]
    theirs = [{t.label for t in candidate.topics(row)} for row in candidate.predict_proba(texts, titles)]
    topics = {}
    for label in sorted(set(current.labels) | set(candidate.labels)):
        topics[label] = {"current_only": sum(label in a and label not in b for a, b in zip(ours, theirs)),
                         "candidate_only": sum(label not in a and label in b for a, b in zip(ours, theirs))}
    return {"same": sum(a == b for a, b in zip(ours, theirs)), "topics": topics}


def test_shadow_off_scores_nothing_even_with_a_candidate_loaded(models_dir, toy_corpus):
    version = train_into(models_dir, [toy_corpus], candidate=True).name
    app = _app(models_dir, 0.0)
    holder = app.extensions["topics"]
    assert holder._candidate is None  # off: nothing loads a candidate until someone asks for it
    client = app.test_client()
    described = client.get("/v1/model/candidate").get_json()  # asking loads it
    assert described["version"] == version and described["shadow"]["samples"] == 0
    calls = []
    candidate = holder.candidate
    predict = candidate.predict_proba
    candidate.predict_proba = lambda *args: calls.append(args) or predict(*args)
    _classify_all(client)
    assert calls == []
    assert client.get("/v1/model/candidate").get_json()["shadow"]["samples"] == 0


def test_answers_are_byte_identical_with_shadow_on_and_off(models_dir, tmp_path):
    train_into(models_dir, [write_jsonl(tmp_path / "bad.jsonl", _damaged("weather"))], candidate=True)
    off, on = _app(models_dir, 0.0).test_client(), _app(models_dir, 1.0).test_client()
    requests = [("/v1/classify", {"json": ARTICLES[0]}),
                ("/v1/classify?top_k=2", {"json": {**ARTICLES[1], "explain": True}}),
                ("/v1/classify", {"data": ARTICLES[2]["text"], "content_type": "text/plain"}),
                ("/v1/classify/batch", {"json": {"articles": ARTICLES, "threshold": 0.3, "codes": True}})]
    for path, kwargs in requests:
        a, b = off.post(path, **kwargs), on.post(path, **kwargs)
        assert a.status_code == b.status_code == 200
        assert a.data == b.data, path
    assert on.get("/v1/model/candidate").get_json()["shadow"]["samples"] == 3 + len(ARTICLES)


def test_a_candidate_that_is_the_same_model_agrees_fully(models_dir, toy_corpus):
    version = train_into(models_dir, [toy_corpus], candidate=True).name  # same data and options: same model
    client = _app(models_dir, 1.0).test_client()
    _classify_all(client)
    shadow = client.get("/v1/model/candidate").get_json()["shadow"]
    assert shadow["sample"] == 1.0 and shadow["samples"] == len(ARTICLES)
    assert shadow["agreement"] == 1.0 and shadow["flips"] == 0
    for label, topic in shadow["topics"].items():
        assert topic["agreement"] == 1.0 and topic["both"] + topic["neither"] == len(ARTICLES), label
        assert topic["mean_delta"] == 0.0 and topic["mean_abs_delta"] == 0.0
    text = client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "topics_shadow_articles_total", candidate=version) == len(ARTICLES)
    assert _sample(text, "topics_shadow_same_topics_total", candidate=version) == len(ARTICLES)
    assert _sample(text, "topics_shadow_score_delta_max_count", candidate=version) == len(ARTICLES)
    assert _sample(text, "topics_shadow_score_delta_max_bucket", candidate=version, le="0.001") == len(ARTICLES)


def test_a_candidate_trained_on_damaged_labels_flips_topics(models_dir, tmp_path):
    version = train_into(models_dir, [write_jsonl(tmp_path / "bad.jsonl", _damaged("weather"))],
                         candidate=True).name
    client = _app(models_dir, 1.0).test_client()
    _classify_all(client)
    described = client.get("/v1/model/candidate").get_json()
    shadow, expected = described["shadow"], _expected(models_dir)
    assert described["version"] == version and described["manifest"]["version"] == version
    assert "labels" in described["manifest"] and "metrics" in described["manifest"]
    assert shadow["samples"] == len(ARTICLES)
    assert shadow["agreement"] == pytest.approx(expected["same"] / len(ARTICLES)) and shadow["agreement"] < 1
    # Weather's single-label articles were relabelled as the other topics: the candidate adds those topics where
    # the current model does not, and its weather scores fall.
    assert shadow["flips"] > 0 and sum(shadow["topics"][label]["candidate_only"] for label in ("sport", "markets"))
    for label, want in expected["topics"].items():
        got = shadow["topics"][label]
        assert (got["current_only"], got["candidate_only"]) == (want["current_only"], want["candidate_only"]), label
        assert got["agreement"] == pytest.approx(1 - (got["flips"]) / len(ARTICLES))
    assert shadow["topics"]["weather"]["mean_delta"] < 0  # the damaged candidate has unlearned weather
    text = client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "topics_shadow_topic_total", candidate=version, label="weather",
                   outcome="current_only") == expected["topics"]["weather"]["current_only"]


def test_a_sampled_share_scores_some_articles_not_all(models_dir, toy_corpus):
    train_into(models_dir, [toy_corpus], candidate=True)
    client = _app(models_dir, 0.5).test_client()
    for _ in range(10):
        assert client.post("/v1/classify/batch", json={"articles": ARTICLES}).status_code == 200
    samples = client.get("/v1/model/candidate").get_json()["shadow"]["samples"]
    assert 0 < samples < 10 * len(ARTICLES)  # 100 draws at one half: all-or-nothing has odds of 2 ** -99


def test_a_removed_candidate_link_drops_the_candidate(models_dir, toy_corpus):
    version = train_into(models_dir, [toy_corpus], candidate=True).name
    app = _app(models_dir, 1.0)
    client = app.test_client()
    assert app.extensions["topics"].candidate.version == version
    bundle.clear_candidate(models_dir, refused=True)
    assert client.post("/v1/classify", json=ARTICLES[0]).status_code == 200  # the next request's check drops it
    assert app.extensions["topics"].candidate is None
    answer = client.get("/v1/model/candidate")
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert answer.get_json()["type"] == "/problems/no-candidate"


def test_a_candidate_that_fails_verification_does_not_disturb_serving(models_dir, toy_corpus):
    app = _app(models_dir, 1.0)
    client = app.test_client()
    holder = app.extensions["topics"]
    current = holder.model.version
    folder = train_into(models_dir, [toy_corpus], candidate=True)
    with open(folder / bundle.MODEL_FILE, "ab") as fh:
        fh.write(b"tampered")
    for article in ARTICLES[:3]:
        answer = client.post("/v1/classify", json=article)
        assert answer.status_code == 200 and answer.get_json()["model"]["version"] == current
    assert holder.candidate is None and holder.model.version == current
    assert holder.reload_failures == 0 and holder.last_error is None  # the current model's record stays clean
    problem = client.get("/v1/model/candidate").get_json()
    assert problem["status"] == 404 and "failed to load" in problem["detail"] and "manifest says" in problem["detail"]


def test_a_bad_share_is_refused_at_start(models_dir):
    for share in (1.5, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match="TOPICS_SHADOW_SAMPLE"):
            _app(models_dir, share)


def test_the_gate_requires_shadow_evidence_when_asked(models_dir, tmp_path, toy_corpus):
    golden = write_jsonl(tmp_path / "golden.jsonl", make_documents(8, seed=11))
    good = train_into(models_dir, [toy_corpus], candidate=True, seed=5).name
    before = bundle.current_version(models_dir)
    low = {"version": good, "samples": 200, "agreement": 0.8}
    refused = gate.gate(models_dir, golden, shadow=low, min_shadow_agreement=0.9)
    assert not refused.promote and bundle.current_version(models_dir) == before
    assert refused.reasons == [r for r in refused.reasons if r.startswith("shadow scoring")] and refused.reasons
    entry = json.loads((models_dir / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["action"] == "refuse" and "agreement" in entry["reasons"][0]
    assert entry["shadow"]["agreement"] == 0.8
    too_few = gate.gate(models_dir, golden, shadow=low, min_shadow_samples=500)
    assert not too_few.promote and "200 articles" in too_few.reasons[0]
    stale = gate.gate(models_dir, golden, shadow={**low, "version": "another"}, min_shadow_samples=1)
    assert not stale.promote and "no figures" in stale.reasons[0]
    assert gate.gate(models_dir, golden, shadow=low, min_shadow_agreement=0.7, min_shadow_samples=100).promote
    assert bundle.current_version(models_dir) == good


def test_admin_promotion_reads_the_live_shadow_figures(models_dir, tmp_path, toy_corpus):
    golden = write_jsonl(tmp_path / "golden.jsonl", make_documents(8, seed=11))
    app = _app(models_dir, 1.0, TOPICS_API_KEYS=f"{hash_key('boss')}:admin:ops", TOPICS_GOLDEN_FILE=str(golden))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer boss"
    assert client.post("/v1/model/promote", json={"min_shadow_samples": -1}).status_code == 422
    assert client.post("/v1/model/promote", json={"min_shadow_agreement": 2}).status_code == 422
    good = train_into(models_dir, [toy_corpus], candidate=True, seed=5).name
    wanted = {"min_shadow_samples": len(ARTICLES), "min_shadow_agreement": 0.5}
    refused = client.post("/v1/model/promote", json=wanted).get_json()
    assert refused["promoted"] is False and refused["shadow"]["samples"] == 0
    assert any(r.startswith("shadow scoring: 0 articles") for r in refused["reasons"])
    _classify_all(client)
    promoted = client.post("/v1/model/promote", json=wanted).get_json()
    assert promoted["promoted"] is True and promoted["version"] == good
    assert promoted["shadow"]["samples"] == len(ARTICLES) and promoted["shadow"]["agreement"] >= 0.5
    assert client.get("/v1/model/candidate").status_code == 404  # promoted: no candidate any more
    log = [json.loads(line) for line in (models_dir / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in log] == ["refuse", "promote"] and log[1]["shadow"]["samples"] == len(ARTICLES)


def test_the_command_line_reads_the_figures_from_a_running_service(models_dir, tmp_path, toy_corpus, capsys):
    golden = write_jsonl(tmp_path / "golden.jsonl", make_documents(8, seed=11))
    args = ["promote", "--out", str(models_dir), "--golden", str(golden)]
    with pytest.raises(SystemExit) as exit_:
        promote.main([*args, "--min-shadow-samples", "10"])
    assert exit_.value.code == 2 and "--shadow-from" in capsys.readouterr().err
    app = _app(models_dir, 1.0)
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        assert promote.shadow_figures(url) is None  # no candidate yet
        good = train_into(models_dir, [toy_corpus], candidate=True).name
        _classify_all(app.test_client())
        assert promote.main([*args, "--min-shadow-samples", "100", "--shadow-from", url]) == 1
        out = capsys.readouterr().out
        assert f"refused: shadow scoring: {len(ARTICLES)} articles scored by both models, at least 100" in out
        assert promote.main([*args, "--min-shadow-samples", str(len(ARTICLES)), "--min-shadow-agreement", "0.99",
                             "--shadow-from", url]) == 0
        assert f"promoted {good}" in capsys.readouterr().out
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    assert [json.loads(line)["action"] for line in (models_dir / "audit.jsonl").read_text().splitlines()] == [
        "refuse", "promote"]
    with pytest.raises(OSError, match="could not be asked"):  # the server is gone
        promote.shadow_figures(url, timeout=2)
    assert promote.main([*args, "--min-shadow-samples", "1", "--shadow-from", url]) == 2


def test_the_command_line_says_when_the_service_refuses_its_key(models_dir, tmp_path):
    app = _app(models_dir, 1.0, TOPICS_API_KEYS=f"{hash_key('boss')}:admin:ops")
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(OSError, match="answered 401"):
            promote.shadow_figures(url, key="not-the-key")
        assert promote.shadow_figures(url, key="boss") is None  # the right key: no candidate yet
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_figures_add_up_over_gunicorn_workers(start_server, models_dir, toy_corpus):
    version = train_into(models_dir, [toy_corpus], candidate=True).name
    server = start_server(models_dir, workers=2, TOPICS_SHADOW_SAMPLE="1.0", TOPICS_DETECT_LANGUAGE="false")

    def classify(i: int) -> int:
        body = json.dumps(ARTICLES[i % len(ARTICLES)]).encode()
        return http("POST", server.url + "/v1/classify", body,
                    {"Content-Type": "application/json", "Connection": "close"})[0]

    def pids() -> set:
        return {entry.get("pid") for entry in json_lines(server.log()) if entry.get("path") == "/v1/classify"}

    n = 0
    with ThreadPoolExecutor(4) as pool:  # rounds until both workers have answered (see test_metrics)
        while n < 400 and (n == 0 or len(pids()) < 2):
            assert set(pool.map(classify, range(n, n + 40))) == {200}
            n += 40
    assert len(pids()) == 2
    described = http("GET", server.url + "/v1/model/candidate")[2]
    assert described["version"] == version
    assert described["shadow"]["samples"] == n and described["shadow"]["agreement"] == 1.0
    text = http("GET", server.url + "/metrics")[2]
    assert _sample(text, "topics_shadow_articles_total", candidate=version) == n


def test_the_candidate_is_described_to_a_classify_key(models_dir, toy_corpus):
    app = _app(models_dir, 0.1, TOPICS_API_KEYS=f"{hash_key('reader')}:classify:desk")
    client = app.test_client()
    assert client.get("/v1/model/candidate").status_code == 401
    assert client.get("/v1/model/candidate", headers={"Authorization": "Bearer reader"}).status_code == 404
    train_into(models_dir, [toy_corpus], candidate=True)
    answer = client.get("/v1/model/candidate", headers={"Authorization": "Bearer reader"})
    assert answer.status_code == 200 and answer.get_json()["shadow"]["sample"] == 0.1
