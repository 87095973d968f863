"""Training on corpora larger than memory: hashed features, partial_fit, and a bundle served like any other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_documents, write_jsonl
from runtime import bundle
from training.corpus import CorpusError, Document, iter_documents
from runtime.model import TopicModel
from training.pipeline import Hyperparameters
from training.streaming import TEST, TRAIN, VALIDATION, StreamingOptions, part_of, shuffled
from training.cli import main
from training.options import TrainOptions
from training.train import train

SMALL = StreamingOptions(hash_bits=16, epochs=10, batch_size=16, shuffle_buffer=50)


def stream_into(out: Path, data: list[Path], stream: StreamingOptions = SMALL) -> Path:
    options = TrainOptions(data=data, out=out, quiet=True, params=Hyperparameters(min_df=1), streaming=stream)
    return train(options)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory) -> Path:
    """A models folder with a streamed bundle of the toy corpus, three times over (so each part has enough)."""
    folder = tmp_path_factory.mktemp("streamed")
    docs = [dict(d, id=f"{d['id']}-{k}", text=f"{d['text']} copy{k}") for k in range(3) for d in make_documents()]
    corpus = write_jsonl(folder / "toy.jsonl", docs)
    stream_into(folder / "models", [corpus])
    return folder / "models"


def test_streamed_bundle_records_its_mode_and_loads(streamed):
    model = TopicModel.load(streamed / "current")
    manifest = model.manifest
    assert manifest["training"]["mode"] == "streaming"
    assert manifest["training"]["streaming"]["hash_bits"] == 16
    assert manifest["multilabel"] and model.labels == ["markets", "sport", "weather"]
    data = manifest["data"]
    assert data["train_documents"] + data["validation_documents"] + data["test_documents"] == data["documents"]
    assert data["sources"][0]["sha256"] == bundle.sha256_file(Path(data["sources"][0]["path"]))
    assert manifest["metrics"]["micro"]["f1"] > 0.8
    assert (streamed / "current" / "report.md").is_file()
    assert model.card["model"]["training_mode"] == "streaming"  # the streaming trainer's bundles have a card too
    assert set(model.card["quality"]["per_topic"]) == set(model.labels)


def test_streamed_bundle_is_served_and_explained(streamed):
    from service import create_app

    client = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(streamed)}).test_client()
    response = client.post("/v1/classify", json={"text": "the striker scored a goal and the keeper saved a penalty",
                                                 "explain": True})
    body = response.get_json()
    assert response.status_code == 200, body
    assert [t["label"] for t in body["topics"]] == ["sport"]
    assert body["model"]["version"] == TopicModel.load(streamed / "current").version
    terms = [e["term"] for e in body["explanation"]["sport"]]
    assert {"striker", "goal", "keeper", "penalty"} & set(terms)
    assert all(t.replace(" / ", "").replace(" ", "").isalpha() for t in terms)  # real words, not column numbers


def test_single_label_streaming_keeps_label_order(tmp_path):
    docs = [d for d in make_documents(40) if len(d["labels"]) == 1]
    models = tmp_path / "models"
    stream_into(models, [write_jsonl(tmp_path / "single.jsonl", docs)])
    model = TopicModel.load(models / "current")
    assert not model.multilabel
    texts = ["storm rain flooding winds forecast", "shares rally investors dividend stock", "goal striker coach"]
    P = model.predict_proba(texts)
    assert [model.labels[i] for i in P.argmax(axis=1)] == ["weather", "markets", "sport"]
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


def test_a_bad_row_names_file_and_line_and_publishes_nothing(tmp_path, capsys):
    corpus = tmp_path / "bad.jsonl"
    lines = [json.dumps(d) for d in make_documents()]
    lines[40] = '{"text": "no labels field at all", "labels": 7}'
    corpus.write_text("\n".join(lines) + "\n")
    out = tmp_path / "models"
    assert main(["--streaming", "--data", str(corpus), "--out", str(out), "--quiet"]) == 2
    assert f"{corpus}:41" in capsys.readouterr().err
    assert not (out / "current").exists()


def test_streaming_refuses_what_needs_the_whole_corpus(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", make_documents() + [{"id": "sport-1", "labels": ["weather"],
                                                                     "correction": True}])
    assert main(["--streaming", "--data", str(corpus), "--out", str(tmp_path / "m"), "--quiet"]) == 2
    assert "corrections need the whole corpus" in capsys.readouterr().err
    assert main(["--streaming", "--char-ngrams", "--data", str(corpus), "--out", str(tmp_path / "m")]) == 2


def test_parts_are_stable_and_follow_a_split_field():
    docs = [Document(id=str(i), text=f"article number {i}", labels=("a",), split="train" if i % 4 else "test")
            for i in range(2000)]
    parts = [part_of(d, 0.2, 0.1, None) for d in docs]
    assert parts == [part_of(d, 0.2, 0.1, None) for d in docs]
    shares = {p: parts.count(p) / len(parts) for p in (TRAIN, VALIDATION, TEST)}
    assert 0.17 < shares[TEST] < 0.23 and 0.06 < shares[VALIDATION] < 0.1
    by_field = [part_of(d, 0.2, 0.1, "split") for d in docs]
    assert all((p == TEST) == (d.split == "test") for p, d in zip(by_field, docs))


def test_shuffle_holds_at_most_the_buffer():
    pulled = []

    def source():
        for i in range(1000):
            pulled.append(i)
            yield i

    out = []
    for item in shuffled(source(), buffer=30, seed=1):
        assert len(pulled) - len(out) <= 31  # what was read but not yet given out
        out.append(item)
    assert sorted(out) == list(range(1000)) and out != list(range(1000))


def test_iter_documents_is_lazy_and_alternates_between_files(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": "x y", "labels": ["a"]} for i in range(3)])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": f"b{i}", "text": "x y", "labels": ["b"]} for i in range(5)])
    docs = iter_documents([a, b])
    assert next(docs).id == "a0"  # nothing else had to be read first
    assert [d.id for d in docs] == ["b0", "a1", "b1", "a2", "b2", "b3", "b4"]
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(CorpusError, match="no documents"):
        list(iter_documents([tmp_path / "empty.jsonl"]))


def test_a_label_seen_only_in_the_test_split_is_refused(tmp_path, capsys):
    docs = [dict(d, split="train") for d in make_documents()]
    docs += [{"id": "t1", "text": "storm goal shares", "labels": ["weather"], "split": "test"},
             {"id": "t2", "text": "a brand new topic", "labels": ["elections"], "split": "test"},
             {"id": "t3", "text": "another new topic", "labels": ["elections"], "split": "test"}]
    corpus = write_jsonl(tmp_path / "c.jsonl", docs)
    assert main(["--streaming", "--split-field", "split", "--data", str(corpus), "--out", str(tmp_path / "m")]) == 2
    assert "'elections' appears in the test part but never in the training part" in capsys.readouterr().err


TRICKY = ["Café Zürich: the striker’s goal — 2:1!", "İstanbul shares rally; ÅÄÖ åäö", "new x york storm a b c",
          "under_score CAPITALS MiXeD 42 ٣ ²", "", "x", "goal goal goal goal striker"]


def _texts() -> list[str]:
    from training.corpus import read_corpus
    from tests.conftest import ROOT

    seeds = [d.text for d in read_corpus([ROOT / "seeds"]).documents[::5]]
    return [d["text"] for d in make_documents()] + TRICKY + seeds


@pytest.mark.parametrize("kind, hash_bits", [("multi", 16), ("single", 16), ("binary", 16), ("multi", 10)])
def test_streamed_bundles_take_the_fast_path_and_agree_with_the_pipeline(tmp_path, kind, hash_bits):
    from runtime.scorer import HashedScorer

    docs = make_documents(40)
    if kind != "multi":
        docs = [d for d in docs if len(d["labels"]) == 1 and (kind == "single" or d["labels"][0] != "weather")]
    stream = StreamingOptions(hash_bits=hash_bits, epochs=5, batch_size=16, shuffle_buffer=50)
    models = tmp_path / "models"
    stream_into(models, [write_jsonl(tmp_path / "c.jsonl", docs)], stream)
    model = TopicModel.load(models / "current")
    assert isinstance(model.scorer, HashedScorer)
    texts = _texts()
    expected = model.pipeline.predict_proba(texts)
    np.testing.assert_allclose(model.scorer.predict_proba(texts), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.scorer.predict_proba(texts[-1:]), expected[-1:], rtol=1e-9, atol=1e-12)
    if hash_bits == 10:  # 1,024 columns: many terms share one, and must add up as in the vectorizer
        assert model.scorer._n_columns == 1024
    # Explanations: the same values as through the pipeline, for every label.
    text = "the striker scored a goal as shares and bond yields rally in the storm"
    for j in range(len(model.labels)):
        fast = {term: value for term, value in model.scorer.contributions(text, j) if value}
        generic = {term: value for term, value in model._contributions_generic(text, j) if value}
        assert fast.keys() == generic.keys() and fast
        for term, value in fast.items():
            assert value == pytest.approx(generic[term], rel=1e-9, abs=1e-12)


def test_a_streamed_bundle_keeps_its_held_out_documents_for_the_gate(streamed):
    from runtime.gate import read_documents

    folder = streamed / bundle.current_version(streamed)
    kept = read_documents(folder / bundle.EVALUATION_FILE)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(kept) == manifest["data"]["test_documents"] > 0
    assert all(doc["text"] for doc in kept) and any(doc["labels"] for doc in kept)
