"""Bundles: verification before unpickling, atomic publishing, retention, rollback, signing."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import train_into
from runtime import bundle
from runtime.bundle import BundleError
from runtime.model import TopicModel


def _current(models_dir):
    return (models_dir / "current").resolve()


def _never_unpickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an unverified bundle's model file was unpickled")

    monkeypatch.setattr("runtime.legacy.load_pickle", refuse)  # the one way model.py unpickles


def test_tampered_model_is_refused_before_unpickling(models_dir, monkeypatch):
    model_file = _current(models_dir) / "model.joblib"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    _never_unpickle(monkeypatch)
    with pytest.raises(BundleError, match="sha256 does not match"):
        TopicModel.load(models_dir / "current")


def test_truncated_model_is_refused(models_dir, monkeypatch):
    model_file = _current(models_dir) / "model.joblib"
    model_file.write_bytes(model_file.read_bytes()[:100])
    _never_unpickle(monkeypatch)
    with pytest.raises(BundleError, match="truncated or replaced"):
        TopicModel.load(models_dir / "current")


def test_tampered_report_is_refused_too(models_dir):
    (_current(models_dir) / "report.md").write_text("edited")
    with pytest.raises(BundleError, match="report.md"):
        TopicModel.load(models_dir / "current")


@pytest.mark.parametrize("damage", ["missing", "garbage", "no-files", "other-format", "path-escape"])
def test_damaged_manifest_is_refused(models_dir, monkeypatch, damage):
    manifest_file = _current(models_dir) / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    if damage == "missing":
        manifest_file.unlink()
    elif damage == "garbage":
        manifest_file.write_text("{not json")
    elif damage == "no-files":
        del manifest["files"]
        manifest_file.write_text(json.dumps(manifest))
    elif damage == "other-format":
        manifest["format_version"] = 99
        manifest_file.write_text(json.dumps(manifest))
    else:
        manifest["files"]["../model.joblib"] = manifest["files"]["model.joblib"]
        manifest_file.write_text(json.dumps(manifest))
    _never_unpickle(monkeypatch)
    with pytest.raises(BundleError):
        TopicModel.load(models_dir / "current")


def test_other_scikit_learn_minor_version_is_refused(models_dir, monkeypatch):
    _never_unpickle(monkeypatch)
    monkeypatch.setattr("runtime.model.library_versions",
                        lambda: {"scikit-learn": "0.99.1", "python": "3.11", "numpy": "", "scipy": "", "joblib": ""})
    made_with = json.loads((_current(models_dir) / "manifest.json").read_text())["versions"]["scikit-learn"]
    with pytest.raises(BundleError) as info:
        TopicModel.load(models_dir / "current")
    assert f"scikit-learn {made_with}" in str(info.value) and "scikit-learn 0.99.1" in str(info.value)


def test_failure_during_publish_leaves_current_untouched(models_dir, toy_corpus, monkeypatch):
    before = bundle.current_version(models_dir)

    def crash(*args, **kwargs):
        raise OSError("disk vanished while repointing current")

    monkeypatch.setattr("runtime.bundle.point_current", crash)
    with pytest.raises(OSError):
        train_into(models_dir, [toy_corpus])
    assert bundle.current_version(models_dir) == before
    TopicModel.load(models_dir / "current")


def test_interrupt_while_writing_leaves_no_staging(models_dir, toy_corpus, monkeypatch):
    before = bundle.current_version(models_dir)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("training.publish.plot_report", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_into(models_dir, [toy_corpus])
    assert bundle.current_version(models_dir) == before
    assert not list(models_dir.glob(".staging-*"))


def test_retention_keeps_current_and_previous(tmp_path, toy_corpus):
    out = tmp_path / "m"
    versions = [train_into(out, [toy_corpus], keep=2).name for _ in range(4)]
    assert bundle.list_versions(out) == sorted(versions)[-2:]
    assert bundle.current_version(out) == versions[-1]
    assert bundle.previous_version(out) == versions[-2]


def test_point_current_rolls_back(tmp_path, toy_corpus):
    out = tmp_path / "m"
    first = train_into(out, [toy_corpus]).name
    second = train_into(out, [toy_corpus]).name
    assert bundle.previous_version(out) == first
    bundle.point_current(out, first)
    assert TopicModel.load(out / "current").version == first
    assert bundle.previous_version(out) is None
    with pytest.raises(BundleError):
        bundle.point_current(out, "no-such-version")
    assert bundle.current_version(out) == first != second


def test_signed_bundles(tmp_path, toy_corpus):
    key = b"a secret only trainer and service know"
    out = tmp_path / "m"
    train_into(out, [toy_corpus], signing_key=key)
    TopicModel.load(out / "current", signing_key=key)
    with pytest.raises(BundleError, match="signature does not match"):
        TopicModel.load(out / "current", signing_key=b"another key")
    (_current(out) / "manifest.sig").unlink()
    with pytest.raises(BundleError, match="unsigned bundle"):
        TopicModel.load(out / "current", signing_key=key)


def test_missing_folder_message(tmp_path):
    with pytest.raises(BundleError, match="no model bundle here"):
        TopicModel.load(tmp_path / "nothing")


def test_version_names_sort_by_time():
    from datetime import datetime, timezone

    early = bundle.make_version("f" * 64, datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc))
    late = bundle.make_version("0" * 64, datetime(2026, 1, 2, 3, 4, 5, 7000, tzinfo=timezone.utc))
    assert early == "20260102T030405006Z-ffffffff" and early < late


def test_bundle_folders_are_readable_by_other_users(models_dir):
    assert os.stat(_current(models_dir)).st_mode & 0o055 == 0o055


def test_unknown_share_counts_words_the_vocabulary_lacks(models_dir):
    model = TopicModel.load(models_dir / "current")
    known = sorted(model._word_vocabulary()[0])[:4]
    shares = model.unknown_share([" ".join(known), " ".join(known[:2] + ["zorblaxian", "quuxified"]), ""])
    assert shares.tolist() == [0.0, 0.5, 1.0]


def test_install_publishes_a_verified_copy_as_current(toy_models, tmp_path, capsys):
    from runtime.install import main

    source = (toy_models / "current").resolve()
    target = tmp_path / "served"
    assert main([str(source), str(target)]) == 0
    installed = TopicModel.load(target / "current")
    assert installed.version == source.name and (target / "current").resolve() != source
    assert main([str(source), str(target)]) == 1  # the same version twice
    assert "already exists" in capsys.readouterr().err


def test_install_refuses_a_tampered_bundle_and_leaves_the_models_folder_alone(toy_models, tmp_path, capsys):
    import shutil

    from runtime.install import main

    source = tmp_path / "copy"
    shutil.copytree((toy_models / "current").resolve(), source)
    with open(source / "model.joblib", "ab") as fh:
        fh.write(b"\0")
    target = tmp_path / "served"
    assert main([str(source), str(target)]) == 1
    assert "model.joblib" in capsys.readouterr().err
    assert not target.exists()  # refused before anything was written


def _predictions(model: TopicModel):
    import numpy as np

    texts = ["the striker scored a late goal", "shares and bond yields rally", "storm and heavy rain", ""]
    return np.asarray(model.predict_proba(texts, [None] * len(texts)))


def test_the_model_file_is_a_compressed_pickle_that_joblib_reads_too(toy_models):
    import joblib
    import numpy as np

    folder = _current(toy_models)
    model = TopicModel.load(folder)
    assert model.manifest["model_format"] == bundle.MODEL_FORMAT == "pickle-zlib"
    by_joblib = joblib.load(folder / "model.joblib")  # scripts that joblib.load a bundle keep working
    texts = ["the striker scored a late goal", "shares and bond yields rally"]
    np.testing.assert_array_equal(by_joblib.predict_proba(texts), model.pipeline.predict_proba(texts))


def test_a_bundle_written_by_joblib_dump_still_loads(toy_models, tmp_path):
    """Bundles from before the model_format field hold joblib.dump's format, read by joblib.load."""
    import shutil

    import joblib
    import numpy as np

    old = tmp_path / "old"
    shutil.copytree(_current(toy_models), old)
    pipeline = TopicModel.load(old).pipeline
    joblib.dump(pipeline, old / "model.joblib", compress=("zlib", 3))
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["model_format"], manifest["files"]
    bundle.write_manifest(old, manifest)
    now = TopicModel.load(_current(toy_models))
    np.testing.assert_array_equal(_predictions(TopicModel.load(old)), _predictions(now))
    manifest["model_format"] = "pickle-lz4"
    bundle.write_manifest(old, manifest)
    with pytest.raises(BundleError, match="unknown model format 'pickle-lz4'"):
        TopicModel.load(old)
