"""The instrumented app behind ``python -m bench.breakdown``: it must count what it claims to count."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from bench.breakdown import stage_means


@pytest.fixture
def instrumented(monkeypatch, toy_models):
    monkeypatch.setenv("TOPICS_MODEL_DIR", str(toy_models))
    monkeypatch.delitem(sys.modules, "bench.instrumented", raising=False)
    module = importlib.import_module("bench.instrumented")
    yield module
    sys.modules.pop("bench.instrumented", None)


def test_stages_count_each_request_once(instrumented):
    client = instrumented.app.test_client()
    for _ in range(2):
        assert client.post("/v1/classify", json={"text": "storm rain forecast"}).status_code == 200
    assert client.get("/healthz").status_code == 200
    answer = client.get("/_bench/stages").get_json()  # not counted itself
    stages = answer["stages"]
    assert {stage: calls for stage, (_, calls) in stages.items()} == {"app": 3, "view": 2, "model": 2}
    assert all(spent > 0 for spent, _ in stages.values())
    # Nested stages: the model runs inside the view, the view inside the app.
    assert stages["model"][0] <= stages["view"][0] <= stages["app"][0]
    assert answer["pid"] > 0


def test_model_twice_times_the_second_call_apart(monkeypatch, toy_models):
    monkeypatch.setenv("TOPICS_MODEL_DIR", str(toy_models))
    monkeypatch.setenv("TOPICS_BENCH_MODEL_TWICE", "1")
    monkeypatch.delitem(sys.modules, "bench.instrumented", raising=False)
    try:
        module = importlib.import_module("bench.instrumented")
        client = module.app.test_client()
        answer = client.post("/v1/classify", json={"text": "storm rain forecast"})
        assert answer.status_code == 200 and answer.get_json()["topics"][0]["label"] == "weather"
        stages = client.get("/_bench/stages").get_json()["stages"]
        assert stages["model"][1] == stages["model again"][1] == 1
    finally:
        sys.modules.pop("bench.instrumented", None)


def test_stage_means_subtract_snapshots_per_worker():
    before = {1: {"app": [1_000, 1], "view": [500, 1]}, 2: {"app": [4_000, 2]}}
    after = {1: {"app": [7_000, 3], "view": [2_500, 2], "model": [900, 1]},
             2: {"app": [10_000, 4]},
             3: {"app": [3_000, 1]}}  # a worker that did not answer before counts from zero
    means = stage_means(before, after)
    assert means == {"app": pytest.approx((6_000 + 6_000 + 3_000) / 5 / 1000), "view": pytest.approx(2.0),
                     "model": pytest.approx(0.9), "model again": 0.0}
    assert stage_means(after, after) == {"app": 0.0, "view": 0.0, "model": 0.0, "model again": 0.0}


def test_a_rerun_replaces_its_section_of_benchmarks_md():
    from bench.common import replace_section

    text = "# Benchmarks\n\nintro\n\n## A\n\nold a\n\n## C\n\nc\n"
    assert replace_section(text, "A", "## A\n\nnew a\n") == "# Benchmarks\n\nintro\n\n## A\n\nnew a\n\n## C\n\nc\n"
    assert replace_section(text, "C", "## C\n\nnew c\n") == "# Benchmarks\n\nintro\n\n## A\n\nold a\n\n## C\n\nnew c\n"
    assert replace_section(text, "D", "## D\n\nd\n") == text + "\n## D\n\nd\n"
    assert replace_section(replace_section(text, "A", "## A\n\nx\n"), "A", "## A\n\ny\n").count("## A") == 1


def test_the_news_mix_is_real_text_of_every_length():
    from bench.common import HUFFPOST, SEED_ARTICLE, news_mix
    if not (HUFFPOST.is_file() and SEED_ARTICLE.is_file()):
        pytest.skip(f"{HUFFPOST} or {SEED_ARTICLE} is absent")
    mix = news_mix(400, seed=3)
    assert mix == news_mix(400, seed=3)  # fixed by its seed
    sizes = [len((title + text).encode()) for title, text in mix]
    assert sum(1 for title, _ in mix if not title) >= 60  # headlines alone
    assert max(sizes) > 4000 and max(sizes) <= 5400  # up to about 5 KB, cut there
    assert 0.1 < sum(any(ord(c) > 127 for c in t + x) for t, x in mix) / len(mix) < 0.6  # left as it came


def test_ascii_only_keeps_the_words():
    from bench.common import ascii_only
    assert ascii_only("China’s “talks” — Pérez at the café…") == "China's \"talks\" - Perez at the cafe..."
    assert ascii_only("東京 and Zürich").isascii()


def test_the_plain_flask_peer_scores_like_the_pipeline(monkeypatch, tmp_path, toy_models):
    import joblib
    from runtime.articles import compose_text
    from runtime.model import TopicModel

    model = TopicModel.load(toy_models / "current")
    joblib.dump(model.pipeline, tmp_path / "model.joblib")
    monkeypatch.setenv("PEER_MODEL", str(tmp_path / "model.joblib"))
    sys.modules.pop("bench.peer_flask", None)
    peer = importlib.import_module("bench.peer_flask")
    article = {"title": "Ministers agree on tariffs", "text": "Trade talks ended with a deal on steel exports."}
    answer = peer.app.test_client().post("/predict", json=article).get_json()
    want = model.pipeline.predict_proba([compose_text(article["title"], article["text"], 2)])[0]
    assert answer["scores"] == pytest.approx(list(want), abs=1e-4)


def test_the_shadow_benchmark_times_every_setting_and_load(models_dir, toy_corpus):
    from bench import shadow
    from tests.conftest import train_into

    train_into(models_dir, [toy_corpus], candidate=True, seed=5)
    clients = shadow.apps(models_dir)
    body = json.dumps({"text": "storm rain forecast"}).encode()
    loads = [("one", "/v1/classify", [body] * 3), ("batch", "/v1/classify/batch",
                                                    [json.dumps({"articles": [{"text": "goal"}] * 2}).encode()])]
    times = shadow.measure(clients, loads, rounds=2)
    assert {key: len(values) for key, values in times.items()} == {
        (load, name): 2 * len(bodies) for load, _, bodies in loads for name, _ in shadow.SETTINGS}
    rows = shadow.table(times, ["one", "batch"]).splitlines()
    assert len(rows) == 2 + 2 * len(shadow.SETTINGS) and rows[2].endswith("| 1.00 |")
