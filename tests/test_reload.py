"""Hot reload: a newly published bundle takes over; a bad one is refused and the old one keeps serving."""

from __future__ import annotations

import json
import logging
import shutil

from tests.conftest import train_into
from runtime import bundle


def _version(client):
    r = client.post("/v1/classify", json={"text": "goal"})
    assert r.status_code == 200
    return r.get_json()["model"]["version"]


def test_new_bundle_is_picked_up_without_restart(app, client, models_dir, toy_corpus):
    first = _version(client)
    second = train_into(models_dir, [toy_corpus]).name
    assert second != first
    assert _version(client) == second
    assert client.get("/v1/model").get_json()["status"]["reloads"] == 1


def _publish_copy(models_dir, damage):
    """Publish a copy of the current bundle under a new name, damaged as asked."""
    source = (models_dir / "current").resolve()
    target = models_dir / (source.name[:-8] + "deadbeef")
    shutil.copytree(source, target)
    damage(target)
    bundle.point_current(models_dir, target.name)
    return target.name


def _tamper(folder):
    data = bytearray((folder / "model.joblib").read_bytes())
    data[-10] ^= 0x55
    (folder / "model.joblib").write_bytes(bytes(data))


def _truncate(folder):
    (folder / "model.joblib").write_bytes((folder / "model.joblib").read_bytes()[:50])


def _drop_manifest(folder):
    (folder / "manifest.json").unlink()


def test_bad_bundles_are_refused_and_the_old_model_keeps_serving(app, client, models_dir, caplog):
    good = _version(client)
    for damage in (_tamper, _truncate, _drop_manifest):
        with caplog.at_level(logging.ERROR, logger="service"):
            bad = _publish_copy(models_dir, damage)
            assert _version(client) == good
        assert any("refused model bundle" in r.getMessage() and bad in r.getMessage() for r in caplog.records)
        status = client.get("/v1/model").get_json()["status"]
        assert status["version"] == good and status["last_reload_error"]["path"] == bad
        assert client.get("/readyz").status_code == 200
        bundle.point_current(models_dir, good)
        shutil.rmtree(models_dir / bad)


def test_load_errors_name_the_bundle_but_not_the_servers_folders(tmp_path, toy_models, toy_corpus):
    from service import create_app

    models = tmp_path / "srv" / "topic-models"
    shutil.copytree(toy_models, models, symlinks=True)
    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models), "TOPICS_RELOAD_INTERVAL": 0.0})
    client = app.test_client()
    client.get("/v1/model/candidate")  # starts following the candidate link
    good = _version(client)
    bad = _publish_copy(models, _tamper)
    candidate = train_into(models, [toy_corpus], candidate=True)
    _tamper(candidate)
    assert _version(client) == good
    status = client.get("/v1/model").get_json()["status"]["last_reload_error"]
    assert status["path"] == bad and "model.joblib" in status["error"]
    problem = client.get("/v1/model/candidate")
    assert problem.status_code == 404 and candidate.name in problem.get_json()["detail"]
    shutil.rmtree(models / good)  # nothing loadable is left for a fresh process
    fresh = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models)}).test_client()
    ready = fresh.get("/readyz")
    assert ready.status_code == 503 and "model.joblib" in ready.get_json()["detail"]
    for body in (client.get("/v1/model").get_data(as_text=True), problem.get_data(as_text=True),
                 ready.get_data(as_text=True)):
        assert str(tmp_path) not in body and "srv" not in body


def test_service_starts_unready_and_becomes_ready_when_a_bundle_appears(tmp_path, toy_corpus, caplog):
    from service import create_app

    models = tmp_path / "models"
    with caplog.at_level(logging.WARNING, logger="service"):
        app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models), "TOPICS_RELOAD_INTERVAL": 0.0})
    assert [r.getMessage() for r in caplog.records if "no model bundle" in r.getMessage()]
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    problem = client.post("/v1/classify", json={"text": "goal"})
    assert problem.status_code == 503 and problem.headers["Retry-After"] == "5"
    assert problem.get_json()["type"] == "/problems/model-not-ready"
    version = train_into(models, [toy_corpus]).name
    assert client.get("/readyz").get_json()["model"]["version"] == version


def test_a_single_bundle_folder_can_be_served(toy_models):
    from service import create_app

    folder = (toy_models / "current").resolve()
    client = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(folder)}).test_client()
    assert client.get("/v1/model").get_json()["version"] == folder.name


def test_reload_interval_throttles_checks(models_dir, toy_corpus):
    from service import create_app

    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_RELOAD_INTERVAL": 3600.0})
    client = app.test_client()
    first = _version(client)
    train_into(models_dir, [toy_corpus])
    assert _version(client) == first  # not checked again within the hour
    app.extensions["topics"].reload()
    assert _version(client) != first


def test_manifest_listing_survives_json_round_trip(client):
    manifest = client.get("/v1/model").get_json()["manifest"]
    assert json.loads(json.dumps(manifest)) == manifest
