"""Training end to end: round trip, reproducibility, splits, thresholds, the CLI."""

from __future__ import annotations

import json
import os

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


def test_fits_in_worker_processes_give_the_same_model_as_fits_in_this_one(tmp_path, toy_corpus):
    here = train_into(tmp_path / "here", [toy_corpus], jobs=1)
    spread = train_into(tmp_path / "spread", [toy_corpus], jobs=2)
    manifests = [json.loads((folder / "manifest.json").read_text()) for folder in (here, spread)]
    for key in ("thresholds", "cross_validation"):
        assert manifests[0][key] == manifests[1][key]
    a, b = TopicModel.load(here), TopicModel.load(spread)
    np.testing.assert_array_equal(a.predict_proba(PROBE_TEXTS), b.predict_proba(PROBE_TEXTS))
    reports = [json.loads((folder / "report.json").read_text()) for folder in (here, spread)]
    for report in reports:
        del report["context"]  # names the bundle
    assert reports[0] == reports[1]


def test_the_report_evaluates_the_model_fitted_before_the_refit(tmp_path, toy_corpus):
    kept = train_into(tmp_path / "kept", [toy_corpus], jobs=2, refit=False)
    refitted = train_into(tmp_path / "refit", [toy_corpus], jobs=2, refit=True)
    reports = [json.loads((folder / "report.json").read_text()) for folder in (kept, refitted)]
    for report in reports:
        del report["context"]  # names the bundle and says whether it was refit
    assert reports[0] == reports[1]
    manifests = [json.loads((folder / "manifest.json").read_text()) for folder in (kept, refitted)]
    assert manifests[1]["data"]["refit_on_all"] and not manifests[0]["data"]["refit_on_all"]
    held_out = {row["id"] for row in map(json.loads, (kept / "evaluation.jsonl").read_text().splitlines())}
    assert held_out
    # The published refit model has seen the held-out documents; the kept one has not.
    assert not np.array_equal(TopicModel.load(kept).predict_proba(PROBE_TEXTS),
                              TopicModel.load(refitted).predict_proba(PROBE_TEXTS))


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


def _corpus_folder(tmp_path, options: dict | str):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_jsonl(folder / "docs.jsonl", make_documents())
    (folder / "training.json").write_text(options if isinstance(options, str) else json.dumps(options))
    return folder


def _cli(folder, out, *flags) -> int:
    return main(["--data", str(folder), "--out", str(out), "--folds", "3", "--min-df", "1", "--quiet", *flags])


def test_a_corpus_folder_asks_for_its_own_options_and_the_command_line_still_wins(tmp_path):
    folder = _corpus_folder(tmp_path, {"hyperparameters": {"ngram_max": 2, "title_weight": 3},
                                       "why": {"ngram_max": "pairs read better here", "title_weight": "short items"}})
    assert _cli(folder, tmp_path / "asked") == 0
    manifest = json.loads((tmp_path / "asked" / "current" / "manifest.json").read_text())
    assert manifest["hyperparameters"]["ngram_max"] == 2 and manifest["hyperparameters"]["title_weight"] == 3
    assert manifest["hyperparameters_why"]["ngram_max"] == f"{folder / 'training.json'}: pairs read better here"
    assert _cli(folder, tmp_path / "flags", "--ngram-max", "1", "--title-weight", "2") == 0
    manifest = json.loads((tmp_path / "flags" / "current" / "manifest.json").read_text())
    assert manifest["hyperparameters"]["ngram_max"] == 1 and manifest["hyperparameters"]["title_weight"] == 2
    assert "pairs read better here" not in json.dumps(manifest)
    # Code chooses the same way: what differs from the built-in defaults is the caller's.
    code = TopicModel.load(train_into(tmp_path / "code", [folder], Hyperparameters(min_df=1, ngram_max=3)))
    assert code.manifest["hyperparameters"]["ngram_max"] == 3 and code.manifest["hyperparameters"]["title_weight"] == 3


@pytest.mark.parametrize("options, message", [
    ({"hyperparameters": {"ngrams": 2}, "why": {"ngrams": "x"}}, "unknown model options ['ngrams']"),
    ({"hyperparameters": {"ngram_max": 2}}, "no reason for ['ngram_max']"),
    ({"hyperparameters": {"ngram_max": 9}, "why": {"ngram_max": "x"}}, "ngram_max must be 1, 2 or 3, got 9"),
    ({"hyperparameters": {"ngram_max": "2"}, "why": {"ngram_max": "x"}}, "ngram_max must be a whole number or null, got \"2\""),
    ({"hyperparameters": {"ngram_max": 2.0}, "why": {"ngram_max": "x"}}, "ngram_max must be a whole number or null, got 2.0"),
    ({"hyperparameters": {"title_weight": 1.5}, "why": {"title_weight": "x"}}, "title_weight must be a whole number, got 1.5"),
    ({"hyperparameters": {"scope_gate": 0}, "why": {"scope_gate": "x"}}, "scope_gate must be true or false, got 0"),
    ({"hyperparameters": {"C": True}, "why": {"C": "x"}}, "C must be a number or null, got true"),
    ('{"hyperparameters": ', "not valid JSON"),
    ([2], "expected {\"hyperparameters\""),
])
def test_a_bad_training_json_is_a_clear_error_naming_the_file(tmp_path, capsys, options, message):
    folder = _corpus_folder(tmp_path, options)
    assert _cli(folder, tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert f"{folder / 'training.json'}: " in err and message in err and "nothing was published" in err
    assert not (tmp_path / "m" / "current").exists()


def test_only_one_corpus_folder_may_carry_training_options(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = (_corpus_folder(tmp_path / name, {"hyperparameters": {}}) for name in "ab")
    assert main(["--data", str(first), str(second), "--out", str(tmp_path / "m"), "--quiet"]) == 2
    assert "only one corpus folder may carry training.json" in capsys.readouterr().err


def test_a_bad_flag_is_reported_as_the_flags_not_the_corpus_files(tmp_path, capsys):
    folder = _corpus_folder(tmp_path, {"hyperparameters": {"ngram_max": 2}, "why": {"ngram_max": "pairs"}})
    assert _cli(folder, tmp_path / "m", "--ngram-max", "9") == 2
    err = capsys.readouterr().err
    assert "ngram_max must be 1, 2 or 3, got 9" in err and "training.json" not in err


def test_the_command_line_can_undo_every_option_a_corpus_file_sets(tmp_path):
    asked = {"char_ngrams": True, "sublinear_tf": False, "scope_gate": False, "max_features": 50, "ngram_max": 2}
    folder = _corpus_folder(tmp_path, {"hyperparameters": asked, "why": dict.fromkeys(asked, "x")})
    assert _cli(folder, tmp_path / "m", "--no-char-ngrams", "--sublinear-tf", "--scope-gate", "--max-features", "all",
                "--ngram-max", "1") == 0
    manifest = json.loads((tmp_path / "m" / "current" / "manifest.json").read_text())
    assert {name: manifest["hyperparameters"][name] for name in asked} == {
        "char_ngrams": False, "sublinear_tf": True, "scope_gate": True, "max_features": None, "ngram_max": 1}


def test_a_search_that_moves_a_file_option_drops_the_files_reason(tmp_path, monkeypatch):
    monkeypatch.setattr("training.train.SEARCH_GRID", {"C": [5.0], "ngram_max": [1], "title_weight": [2]})
    folder = _corpus_folder(tmp_path, {"hyperparameters": {"ngram_max": 3}, "why": {"ngram_max": "long phrases"}})
    manifest = TopicModel.load(train_into(tmp_path / "m", [folder], search=True)).manifest
    assert manifest["hyperparameters"]["ngram_max"] == 1
    assert "long phrases" not in json.dumps(manifest["hyperparameters_why"])


def test_the_streaming_trainer_leaves_a_corpus_file_alone(tmp_path):
    folder = _corpus_folder(tmp_path, {"hyperparameters": {"ngram_max": 3}, "why": {"ngram_max": "long phrases"}})
    assert main(["--streaming", "--data", str(folder), "--out", str(tmp_path / "m"), "--quiet"]) == 0
    manifest = json.loads((tmp_path / "m" / "current" / "manifest.json").read_text())
    assert manifest["hyperparameters"]["ngram_max"] == 1 and "long phrases" not in json.dumps(manifest)


def test_run_fits_runs_in_worker_processes_and_keeps_the_order():
    from sklearn.utils.parallel import delayed

    from training.train import run_fits

    pids = run_fits([delayed(os.getpid)() for _ in range(4)], jobs=2)
    assert len(pids) == 4 and os.getpid() not in pids
    assert run_fits([delayed(pow)(k, 2) for k in range(7)], jobs=2) == [k * k for k in range(7)]
    assert run_fits([delayed(os.getpid)()], jobs=1) == [os.getpid()]
    for jobs in (0, -2):
        with pytest.raises(ValueError, match="jobs must be -1"):
            run_fits([delayed(os.getpid)()], jobs=jobs)


def test_a_worker_that_dies_is_a_clear_error_and_publishes_nothing(tmp_path, toy_corpus, capsys, monkeypatch):
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    def killed(*args, **kwargs):
        raise TerminatedWorkerError("A worker process managed by the executor was unexpectedly terminated (SIGKILL)")

    monkeypatch.setattr("training.train.run_fits", killed)
    assert main(["--data", str(toy_corpus), "--out", str(tmp_path / "m"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "a training worker process stopped" in err and "--jobs 1" in err and "nothing was published" in err
    assert not (tmp_path / "m" / "current").exists()


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_bad_jobs_flag_is_a_clear_usage_error(tmp_path, toy_corpus, capsys, value):
    with pytest.raises(SystemExit) as stop:
        main(["--data", str(toy_corpus), "--out", str(tmp_path / "m"), "--jobs", value])
    assert stop.value.code == 2
    assert f"argument --jobs: must be -1 (one per core) or a positive number, got '{value}'" in capsys.readouterr().err
