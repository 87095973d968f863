"""Every bundle carries a model card: checksummed with the model, intervals that hold, limits from facts, served."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest

from runtime.bundle import BundleError
from runtime.card import CARD_FILE, CARD_MARKDOWN, render_markdown
from runtime.model import TopicModel
from tests.conftest import ROOT, make_documents, train_into, write_jsonl
from training.evaluate import bootstrap_intervals

OLD_BUNDLE = ROOT / "tests" / "data" / "bundles-v0.1" / "in-memory"
RARE = "volcano lava eruption ash crater magma".split()


@pytest.fixture(scope="module")
def card_models(tmp_path_factory):
    """A toy bundle with three well-fed topics and one, 'rare', with eight documents."""
    folder = tmp_path_factory.mktemp("card")
    rng = random.Random(3)
    docs = make_documents(n_per_label=50) + [
        {"id": f"rare-{i}", "title": "", "text": " ".join(rng.sample(RARE, 4) + ["the", "city"]), "labels": ["rare"]}
        for i in range(8)]
    train_into(folder / "models", [write_jsonl(folder / "toy.jsonl", docs)])
    return folder / "models"


@pytest.fixture(scope="module")
def model(card_models):
    return TopicModel.load(card_models / "current")


def _figures(card):
    quality = card["quality"]
    yield "micro", quality["micro_f1"]
    yield "macro", quality["macro_f1"]
    for label, m in quality["per_topic"].items():
        for name in ("precision", "recall", "f1"):
            yield f"{label} {name}", m[name]


def test_the_card_is_in_the_bundle_and_its_checksum(model):
    folder = model.path
    assert {CARD_FILE, CARD_MARKDOWN} <= set(model.manifest["files"])
    assert model.card == json.loads((folder / CARD_FILE).read_text())
    assert model.card["model"]["version"] == model.version
    assert (folder / CARD_MARKDOWN).read_text() == render_markdown(model.card)


def test_a_tampered_card_is_refused(model, tmp_path):
    copy = shutil.copytree(model.path, tmp_path / "bundle")
    card = json.loads((copy / CARD_FILE).read_text())
    card["limits"] = []  # someone hides the limits
    (copy / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    with pytest.raises(BundleError, match=CARD_FILE):
        TopicModel.load(copy)


def test_intervals_hold_their_point_estimate_within_zero_and_one(model):
    checked = 0
    for name, figure in _figures(model.card):
        if figure["low"] is None:
            continue
        assert 0 <= figure["low"] <= figure["value"] <= figure["high"] <= 1, (name, figure)
        checked += 1
    assert checked >= 2 + 4 * 3 - 3  # every topic has held-out documents here; a precision may be undefined
    assert model.card["quality"]["interval"]["resamples"] == 1000


def test_data_counts_and_options_are_recorded(model):
    data = model.card["data"]
    assert data["documents_per_topic"]["rare"] == 8 and data["documents_per_topic"]["sport"] >= 50
    assert data["none_of_these"] == model.manifest["none_count"] > 0
    assert data["files"] == 1 and data["languages"] == model.languages
    options = model.card["options"]
    assert options["hyperparameters"] == model.manifest["hyperparameters"]
    assert options["why"] == model.manifest["hyperparameters_why"]


def test_known_limits_name_the_thin_topic_and_not_the_others(model):
    limits = model.card["limits"]
    thin = [limit for limit in limits if "training documents" in limit]
    assert any("'rare'" in limit and " 8 " in limit for limit in thin), limits
    assert not any("'sport'" in limit for limit in thin)
    assert any("bag-of-words" in limit for limit in limits)
    assert any("trained on text in en" in limit for limit in limits)
    assert model.card["intended_use"] and model.card["not_intended_use"]


def test_the_markdown_has_every_section(model):
    text = render_markdown(model.card)
    for heading in ("# Model card", "## Data", "## Options", "## Quality on held-out documents", "## Known limits",
                    "## Intended use", "## Not intended for"):
        assert heading in text, heading
    assert "| rare | 8 |" in text


def test_bootstrap_intervals_are_seeded_and_narrow_with_more_documents():
    rng = np.random.default_rng(0)

    def sample(n):
        Y = rng.random((n, 2)) < 0.4
        wrong = rng.random((n, 2)) < 0.15  # one decision in seven is wrong
        return Y, Y ^ wrong

    Y, predicted = sample(100)
    small = bootstrap_intervals(Y, predicted, ["a", "b"])
    assert small == bootstrap_intervals(Y, predicted, ["a", "b"])  # a fixed seed: the same card every time
    Y_big, predicted_big = sample(5000)
    big = bootstrap_intervals(Y_big, predicted_big, ["a", "b"])
    width = lambda pair: pair[1] - pair[0]  # noqa: E731
    assert width(big["micro_f1"]) < width(small["micro_f1"]) / 3
    tp, fp, fn = (Y_big & predicted_big).sum(), (~Y_big & predicted_big).sum(), (Y_big & ~predicted_big).sum()
    micro = 2 * tp / (2 * tp + fp + fn)
    assert big["micro_f1"][0] < micro < big["micro_f1"][1]


def test_a_figure_undefined_everywhere_has_no_interval():
    Y = np.array([[True, False]] * 20)
    intervals = bootstrap_intervals(Y, Y.copy(), ["seen", "never"])
    assert intervals["per_label"]["never"]["f1"] == [None, None]
    assert intervals["per_label"]["seen"]["f1"] == [1.0, 1.0]


@pytest.fixture
def card_client(card_models):
    from service import create_app

    return create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(card_models)}).test_client()


def test_v1_model_carries_the_card(card_client, model):
    body = card_client.get("/v1/model").get_json()
    assert body["card"] == model.card


def test_v1_model_card_speaks_markdown_and_json(card_client, model):
    markdown = card_client.get("/v1/model/card")
    assert markdown.status_code == 200 and markdown.mimetype == "text/markdown"
    assert markdown.get_data(as_text=True) == render_markdown(model.card)
    assert "Accept" in markdown.headers["Vary"]
    as_json = card_client.get("/v1/model/card", headers={"Accept": "application/json"})
    assert as_json.mimetype == "application/json" and as_json.get_json() == model.card
    prefers = card_client.get("/v1/model/card", headers={"Accept": "text/markdown, application/json;q=0.5"})
    assert prefers.mimetype == "text/markdown"


def test_a_bundle_from_before_cards_still_loads_and_serves():
    from service import create_app

    client = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(OLD_BUNDLE)}).test_client()
    assert client.post("/v1/classify", json={"text": "Ministers agree to cut steel tariffs"}).status_code == 200
    assert client.get("/v1/model").get_json()["card"] is None
    missing = client.get("/v1/model/card")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert "before bundles carried a model card" in missing.get_json()["detail"]
