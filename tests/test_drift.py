"""The drift reference in every bundle, and `python -m training.drift` on unshifted and shifted traffic."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from runtime import bundle
from runtime.drift import REFERENCE_FILE, SCORE_BOUNDS, read_reference, score_bins
from runtime.model import TopicModel
from tests.conftest import make_documents, train_into, write_jsonl
from training.drift import EXIT_NO_VERDICT, EXIT_OK, EXIT_RETRAIN, main, psi

FOREIGN = ("quantum processor software kernel compiler silicon startup smartphone chipset encryption browser "
           "algorithm robotics satellite battery").split()


@pytest.fixture(scope="module")
def drift_models(tmp_path_factory) -> Path:
    """A toy model with a held-out set large enough for stable shares (about 75 documents)."""
    folder = tmp_path_factory.mktemp("drift")
    corpus = write_jsonl(folder / "toy.jsonl", make_documents(n_per_label=100, seed=7))
    train_into(folder / "models", [corpus])
    return folder / "models"


def _recent(tmp_path: Path, docs: list[dict], name: str = "recent.jsonl") -> Path:
    rows = [{"id": d["id"], "title": d["title"], "text": d["text"]} for d in docs]
    return write_jsonl(tmp_path / name, rows)


def _report(capsys, model: Path, *recent: Path, extra: tuple = ()) -> tuple[int, dict]:
    status = main(["--model", str(model), "--recent", *map(str, recent), "--json", *extra])
    return status, json.loads(capsys.readouterr().out)


def test_a_bundle_carries_a_verified_reference_of_its_held_out_set(drift_models):
    model = TopicModel.load(drift_models / "current")
    assert REFERENCE_FILE in model.manifest["files"]  # checksummed, so verified at load
    reference = read_reference(model.path, model.manifest)
    assert reference["source"] == "held-out set"
    assert reference["documents"] == model.manifest["data"]["test_documents"]
    assert reference["labels"] == model.labels
    for label in model.labels:
        assert sum(reference["score_counts"][label]) == reference["documents"]
        assert 0.15 < reference["predicted_share"][label] < 0.5  # about a third each, plus the mixed ones
    assert sum(reference["length_counts"]) == reference["documents"]
    assert reference["length_quantiles"]["p10"] <= reference["length_quantiles"]["p50"] <= \
        reference["length_quantiles"]["p90"]
    assert reference["unknown_share"] is not None and reference["unknown_share"] < 0.05


def test_the_same_article_mix_is_not_drift(drift_models, tmp_path, capsys):
    recent = _recent(tmp_path, make_documents(n_per_label=80, seed=11))
    status, out = _report(capsys, drift_models / "current", recent)
    assert status == EXIT_OK, out["verdict"]
    assert out["retrain"] is False and out["verdict"] == "no significant drift"
    assert out["articles"] == 80 * 3 + 22 and out["bad_rows"] == []
    assert not [f for f in out["findings"] if f["severity"] == "significant"]


def test_one_topic_only_is_flagged_by_name_and_retraining_advised(drift_models, tmp_path, capsys):
    sport = [d for d in make_documents(n_per_label=150, seed=13) if d["labels"] == ["sport"]]
    status, out = _report(capsys, drift_models / "current", _recent(tmp_path, sport))
    assert status == EXIT_RETRAIN and out["retrain"] is True
    flagged = {(f["subject"], f["measure"]) for f in out["findings"] if f["severity"] == "significant"}
    assert ("sport", "predicted share") in flagged
    assert ("markets", "predicted share") in flagged and ("weather", "predicted share") in flagged
    assert re.search(r"'sport' is predicted for (9\d|100)% of recent articles, against \d+% in the held-out set",
                     out["verdict"])
    assert main(["--model", str(drift_models / "current"), "--recent", str(tmp_path / "recent.jsonl")]) == 3
    text = capsys.readouterr().out
    assert "significant:" in text and "Retraining advised: " in text and "held-out set" in text


def test_another_vocabulary_is_flagged_as_unknown_words(drift_models, tmp_path, capsys):
    import random

    rng = random.Random(3)
    docs = [{"id": str(i), "title": "", "text": " ".join(rng.sample(FOREIGN, 8))} for i in range(150)]
    status, out = _report(capsys, drift_models / "current", _recent(tmp_path, docs))
    assert status == EXIT_RETRAIN
    (unknown,) = [f for f in out["findings"] if f["subject"] == "unknown words"]
    assert unknown["severity"] == "significant" and unknown["recent"] > 0.9
    assert re.match(r"100% of recent words are unknown to the model \(0(\.\d)?% in the held-out set\)",
                    unknown["sentence"])


def test_long_articles_are_flagged_by_length(drift_models, tmp_path, capsys):
    docs = [dict(d, text=" ".join([d["text"]] * 40)) for d in make_documents(n_per_label=50, seed=17)]
    status, out = _report(capsys, drift_models / "current", _recent(tmp_path, docs))
    (length,) = [f for f in out["findings"] if f["subject"] == "length"]
    assert length["severity"] == "significant" and status == EXIT_RETRAIN
    assert "recent articles are longer" in length["sentence"]


def test_stored_scores_are_reused_only_from_the_same_model(drift_models, tmp_path, capsys):
    model = TopicModel.load(drift_models / "current")
    docs = make_documents(n_per_label=40, seed=19)
    P = model.predict_proba([d["text"] for d in docs], [d["title"] for d in docs])
    rows = [{"id": d["id"], "title": d["title"], "text": d["text"], "model": model.version,
             "scores": dict(zip(model.labels, map(float, P[i])))} for i, d in enumerate(docs)]
    rows[0]["model"] = "another-version"
    status, out = _report(capsys, drift_models / "current", write_jsonl(tmp_path / "samples-20261205.jsonl", rows))
    assert out["scores_from_store"] == len(docs) - 1
    assert status == EXIT_OK


def test_bad_rows_are_reported_with_file_and_line_and_skipped(drift_models, tmp_path, capsys):
    folder = tmp_path / "samples"
    folder.mkdir()
    good = make_documents(n_per_label=40, seed=23)
    _recent(folder, good, "samples-20261204.jsonl")
    bad = folder / "samples-20261205.jsonl"
    bad.write_text('{"text": "goal striker"}\nnot json\n["a list"]\n{"title": "no text"}\n{"text": "  "}\n')
    status, out = _report(capsys, drift_models / "current", folder)
    assert out["articles"] == len(good) + 1
    problems = out["bad_rows"]
    assert [p.split(": ", 1)[0] for p in problems] == [f"{bad}:{n}" for n in (2, 3, 4, 5)]
    assert "no 'text'" in problems[2] and "empty" in problems[3]
    assert status == EXIT_OK


def test_too_few_articles_give_no_verdict(drift_models, tmp_path, capsys):
    status, out = _report(capsys, drift_models / "current", _recent(tmp_path, make_documents(5, seed=29)))
    assert status == EXIT_NO_VERDICT and out["verdict"].startswith("cannot judge")


def test_missing_input_is_an_error(drift_models, tmp_path, capsys):
    assert main(["--model", str(drift_models / "current"), "--recent", str(tmp_path / "nothing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def _without_reference(source: Path, target: Path) -> Path:
    """Copy a bundle and rewrite it as bundles were made before references: no reference.json."""
    shutil.copytree(source.resolve(), target)
    (target / REFERENCE_FILE).unlink()
    manifest = json.loads((target / bundle.MANIFEST_FILE).read_text())
    del manifest["files"]
    bundle.write_manifest(target, manifest)
    return target


def test_an_old_bundle_without_reference_serves_and_the_report_cannot_compare(drift_models, tmp_path, capsys):
    old = _without_reference(drift_models / "current", tmp_path / "old")
    from service import create_app

    client = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(old)}).test_client()
    response = client.post("/v1/classify", json={"text": "striker goal penalty keeper"})
    assert response.status_code == 200 and response.get_json()["topics"][0]["label"] == "sport"
    assert client.get("/metrics").status_code == 200
    status, out = _report(capsys, old, _recent(tmp_path, make_documents(n_per_label=40, seed=31)))
    assert status == EXIT_NO_VERDICT
    assert out["verdict"].startswith("cannot compare: bundle") and "no drift reference" in out["verdict"]


def test_psi_is_zero_for_equal_histograms_and_large_for_shifted_ones():
    value, baseline = psi([50, 30, 20, 0], [100, 60, 40, 0])
    assert value == pytest.approx(0, abs=0.01) and baseline == pytest.approx(2 * (1 / 100 + 1 / 200))
    assert psi([80, 10, 10, 0], [10, 10, 80, 0])[0] > 1.0
    assert psi([], []) == (0.0, 0.0)


def test_score_bins_follow_prometheus_le_buckets():
    counts = score_bins([[0.0, 0.1], [0.1000001, 1.0], [0.55, 0.95]])
    assert counts.shape == (2, len(SCORE_BOUNDS))
    assert counts[0].tolist() == [1, 1, 0, 0, 0, 1, 0, 0, 0, 0]  # 0.1 itself is in the "le 0.1" bin
    assert counts[1].tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]


def test_a_streamed_bundle_has_a_reference_without_unknown_words(tmp_path):
    from tests.test_streaming import SMALL, stream_into

    docs = [dict(d, id=f"{d['id']}-{k}", text=f"{d['text']} copy{k}") for k in range(2) for d in make_documents()]
    folder = stream_into(tmp_path / "models", [write_jsonl(tmp_path / "toy.jsonl", docs)], SMALL)
    model = TopicModel.load(folder)
    reference = read_reference(model.path, model.manifest)
    assert reference["documents"] == model.manifest["data"]["test_documents"] > 0
    assert reference["unknown_share"] is None and "hashed" in reference["unknown_basis"]


def test_the_service_s_sample_store_feeds_the_report(drift_models, tmp_path, capsys):
    from service import create_app

    folder = tmp_path / "samples"
    client = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(drift_models), "TOPICS_SAMPLE_DIR": str(folder),
                         "TOPICS_SAMPLE_SHARE": 1.0, "TOPICS_DETECT_LANGUAGE": False}).test_client()
    docs = make_documents(n_per_label=40, seed=37)
    articles = [{"id": d["id"], "title": d["title"], "text": d["text"]} for d in docs]
    assert client.post("/v1/classify/batch", json={"articles": articles}).status_code == 200
    status, out = _report(capsys, drift_models / "current", folder)
    assert out["articles"] == len(docs) and out["scores_from_store"] == len(docs)
    assert status == EXIT_OK, out["verdict"]
