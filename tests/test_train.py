"""Training end to end: round trip, reproducibility, splits, thresholds, the CLI."""

from __future__ import annotations

import json
import numpy as np
import pytest

from tests.conftest import make_documents, train_into, write_jsonl
from runtime import bundle
from runtime.model import TopicModel
from training.pipeline import Hyperparameters
from training.cli import main
from training.options import TrainOptions
from training.train import train

PROBE_TEXTS = ["striker goal penalty in the cup match", "bond yields and shares rally", "storm and flooding winds",
               "the city said on monday"]


def test_round_trip_train_load_predict(toy_models):
    model = TopicModel.load(toy_models / "current")
    assert model.labels == ["markets", "sport", "weather"]
    assert model.multilabel
    P = model.predict_proba(PROBE_TEXTS)
    assert P.shape == (4, 3)
    assert [model.labels[i] for i in P[:3].argmax(axis=1)] == ["sport", "markets", "weather"]
    assert [t.label for t in model.topics(P[0])][0] == "sport"


@pytest.mark.parametrize("scores", [[0.9, 0.2, 0.6], [0.4, 0.4, 0.4], [0.0, 0.7, 0.7], [0.51, 0.5, 0.49]])
@pytest.mark.parametrize("threshold, top_k", [(None, None), (0.45, None), (None, 1), (0.0, 2), (1.0, None)])
def test_answer_agrees_with_topics(toy_models, scores, threshold, top_k):
    model = TopicModel.load(toy_models / "current")
    scores = np.array(scores)
    answer = model.answer(scores, threshold, top_k)
    expected = [(t.label, round(t.score, 6)) for t in model.topics(scores, threshold)][:top_k]
    assert [(t["label"], t["score"]) for t in answer["topics"]] == expected
    order = np.argsort(-scores, kind="stable")[:top_k]
    assert list(answer["scores"].items()) == [(model.labels[j], round(float(scores[j]), 6)) for j in order]
    assert answer["model"] == {"version": model.version}


def test_bundle_holds_manifest_and_reports(toy_models):
    folder = (toy_models / "current").resolve()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model.joblib", "report.json", "report.md", "report.png", "evaluation.jsonl",
                                      "reference.json", "model_card.json", "model_card.md"}
    assert manifest["version"] == folder.name
    for key in ("labels", "thresholds", "metrics", "hyperparameters", "data", "versions", "created_at",
                "label_counts", "cross_validation", "training"):
        assert key in manifest, key
    assert manifest["data"]["sources"][0]["sha256"]
    assert manifest["versions"]["scikit-learn"]
    report = json.loads((folder / "report.json").read_text())
    assert set(report["per_label"]) == set(manifest["labels"])
    assert report["hamming_loss"] is not None
    assert "## Per label" in (folder / "report.md").read_text()
    assert (folder / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_runs_give_identical_predictions(tmp_path, toy_corpus):
    a = TopicModel.load(train_into(tmp_path / "a", [toy_corpus]))
    b = TopicModel.load(train_into(tmp_path / "b", [toy_corpus]))
    np.testing.assert_array_equal(a.predict_proba(PROBE_TEXTS), b.predict_proba(PROBE_TEXTS))
    np.testing.assert_array_equal(a.thresholds, b.thresholds)


def test_thresholds_in_the_manifest_are_the_ones_used(models_dir):
    folder = (models_dir / "current").resolve()
    model = TopicModel.load(folder)
    scores = model.predict_proba([PROBE_TEXTS[0]])[0]
    sport = model.labels.index("sport")
    # Rewrite the sport threshold just above its score: the model must drop it.
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["thresholds"]["sport"] = float(scores[sport]) + 1e-6
    del manifest["files"]
    bundle.write_manifest(folder, manifest)
    reloaded = TopicModel.load(folder)
    assert reloaded.thresholds[sport] == pytest.approx(scores[sport] + 1e-6)
    assert "sport" not in [t.label for t in reloaded.topics(scores)]
    assert "sport" in [t.label for t in reloaded.topics(scores, threshold=0.0)]


def test_split_field_uses_the_corpus_split(tmp_path):
    docs = make_documents()
    for i, doc in enumerate(docs):
        doc["part"] = "test" if i % 4 == 0 else "train"
    path = write_jsonl(tmp_path / "c.jsonl", docs)
    folder = train_into(tmp_path / "m", [path], split_field="part")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["data"]["test_documents"] == sum(d["part"] == "test" for d in docs)
    assert manifest["data"]["refit_on_all"] is False


def test_single_label_corpus_gets_softmax_probabilities(tmp_path):
    docs = [d for d in make_documents() if len(d["labels"]) == 1]
    folder = train_into(tmp_path / "m", [write_jsonl(tmp_path / "c.jsonl", docs)])
    model = TopicModel.load(folder)
    assert not model.multilabel
    np.testing.assert_allclose(model.predict_proba(PROBE_TEXTS).sum(axis=1), 1.0)


def test_search_records_the_winner(tmp_path, toy_corpus, monkeypatch):
    monkeypatch.setattr("training.train.SEARCH_GRID", {"C": [0.01, 10.0], "ngram_max": [1], "title_weight": [1]})
    folder = train_into(tmp_path / "m", [toy_corpus], search=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["search"]) == 2
    best = max(manifest["search"], key=lambda row: row["score"])
    assert manifest["hyperparameters"]["C"] == best["C"]


def test_cli_trains_and_publishes(tmp_path, toy_corpus, capsys):
    assert main(["--data", str(toy_corpus), "--out", str(tmp_path / "m"), "--folds", "3", "--min-df", "1"]) == 0
    err = capsys.readouterr().err
    for stage in ("reading", "tuning thresholds", "fitting", "evaluating", "publishing"):
        assert f"[{stage}] done in" in err
    assert (tmp_path / "m" / "current" / "manifest.json").is_file()


def test_cli_can_leave_out_the_scope_gate(tmp_path, toy_corpus):
    for flags, gated in (([], True), (["--no-scope-gate"], False)):
        out = tmp_path / ("m-" + str(gated))
        assert main(["--data", str(toy_corpus), "--out", str(out), "--folds", "3", "--min-df", "1", "--quiet",
                     *flags]) == 0
        manifest = json.loads((out / "current" / "manifest.json").read_text())
        assert manifest["hyperparameters"]["scope_gate"] is gated
        assert ("scope_gate" in manifest.get("hyperparameters_why", {})) is gated


def test_cli_quiet_prints_nothing(tmp_path, toy_corpus, capsys):
    assert main(["--data", str(toy_corpus), "--out", str(tmp_path / "m"), "--folds", "3", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_cli_bad_row_publishes_nothing(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine", "labels": ["x"]}\n{"text": 3, "labels": ["x"]}\n')
    assert main(["--data", str(path), "--out", str(tmp_path / "m"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2: missing or empty 'text'" in err and "nothing was published" in err
    assert not (tmp_path / "m" / "current").exists()


def test_cli_unwritable_output_is_a_clear_error(tmp_path, toy_corpus, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["--data", str(toy_corpus), "--out", str(blocker / "models"), "--quiet"]) == 2
    assert "cannot write the bundle" in capsys.readouterr().err


def test_cli_full_disk_keeps_current(models_dir, toy_corpus, capsys, monkeypatch):
    before = bundle.current_version(models_dir)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("runtime.bundle._write_durably", no_space)
    assert main(["--data", str(toy_corpus), "--out", str(models_dir), "--quiet"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert bundle.current_version(models_dir) == before
    assert [p.name for p in models_dir.iterdir() if p.name.startswith(".staging")] == []
    TopicModel.load(models_dir / "current")


def test_label_only_in_test_part_is_an_error(tmp_path):
    docs = make_documents()
    for doc in docs:
        doc["split"] = "train"
    docs[0] = {**docs[0], "labels": ["orphan"], "split": "test"}
    docs.append({"id": "orphan-2", "text": "x y", "labels": ["orphan"], "split": "test"})
    path = write_jsonl(tmp_path / "c.jsonl", docs)
    options = TrainOptions(data=[path], out=tmp_path / "m", quiet=True, split_field="split",
                           params=Hyperparameters(min_df=1))
    with pytest.raises(ValueError, match="'orphan' appears in the test part but never in the training part"):
        train(options)


def test_answer_rounds_like_round_to_six_decimals(toy_models):
    model = TopicModel.load(toy_models / "current")
    rng = np.random.default_rng(3)
    for row in rng.random((2000, 3)) ** rng.integers(1, 8, size=(2000, 1)):  # spread over magnitudes
        assert sorted(model.answer(row)["scores"].values()) == sorted(round(float(v), 6) for v in row)


def test_the_manifest_says_why_for_each_option_left_at_its_default(toy_models):
    manifest = json.loads((toy_models / "current" / "manifest.json").read_text())
    why = manifest["hyperparameters_why"]
    # The toy models set min_df=1, so only that option lacks a reason; every other one has its sentence.
    assert "min_df" not in why
    assert {"C", "ngram_max", "title_weight", "class_weight", "char_ngrams"} <= set(why)
    assert all(isinstance(v, str) and len(v) > 20 for v in why.values())


def test_why_defaults_leaves_out_the_options_a_user_changed():
    from training.pipeline import why_defaults
    assert "C" not in why_defaults(Hyperparameters(C=2.0).resolved(True), True)
    assert "C" in why_defaults(Hyperparameters().resolved(True), True)
    assert "ngram_max" not in why_defaults(Hyperparameters().resolved(False), False)  # single-label defaults differ


def test_the_scope_gate_learns_none_of_these_from_unlabeled_documents(tmp_path):
    """The gate: a model of the unlabeled documents scales every label; constant targets get constant models."""
    from runtime.estimators import ScopeGatedOneVsRest
    from training.pipeline import Hyperparameters, build_pipeline

    texts = [f"tariffs on steel imports round {i}" for i in range(20)] + \
            [f"striker scores in the cup final {i}" for i in range(20)] + \
            [f"ministers meet for summit talks {i}" for i in range(20)]
    Y = np.array([[1, 0]] * 20 + [[0, 0]] * 20 + [[0, 1]] * 20)
    gated = build_pipeline(Hyperparameters(min_df=1), multilabel=True).fit(texts, Y)
    plain = build_pipeline(Hyperparameters(min_df=1, scope_gate=False), multilabel=True).fit(texts, Y)
    assert isinstance(gated[-1], ScopeGatedOneVsRest) and gated[-1].gated_ and len(gated[-1].estimators_) == 3
    sport = ["striker scores a late winner in the cup final"]
    assert gated.predict_proba(sport).max() < plain.predict_proba(sport).max()
    trade = ["new tariffs on steel imports"]
    assert gated.predict_proba(trade)[0, 0] > 0.5
    # No unlabeled documents: no gate, the plain per-label probabilities; a label never seen: probability 0.
    Y2 = np.array([[1, 0]] * 30 + [[1, 0]] * 30)
    ungated = build_pipeline(Hyperparameters(min_df=1), multilabel=True).fit(texts, Y2)
    assert not ungated[-1].gated_ and len(ungated[-1].estimators_) == 2
    np.testing.assert_array_equal(ungated.predict_proba(trade), [[1.0, 0.0]])
