"""API keys: every /v1 endpoint needs one when keys are configured; scopes; admin endpoints only with an admin key."""

from __future__ import annotations

import logging

import pytest

from service import create_app
from service.auth import find_key, hash_key, main, parse_entries

CLASSIFY_KEY, ADMIN_KEY = "reader-key-123", "admin-key-456"
KEYS = f"{hash_key(CLASSIFY_KEY)}:classify:reader  {hash_key(ADMIN_KEY)}:admin:ops"

ENDPOINTS = [
    ("post", "/v1/classify", {"json": {"text": "goal"}}, "classify"),
    ("post", "/v1/classify/batch", {"json": {"articles": [{"text": "goal"}]}}, "classify"),
    ("get", "/v1/labels", {}, "classify"),
    ("get", "/v1/model", {}, "classify"),
    ("post", "/v1/feedback", {"json": {"text": "goal", "labels": ["sport"]}}, "classify"),
    ("post", "/v1/model/reload", {}, "admin"),
    ("post", "/v1/model/rollback", {}, "admin"),
]


@pytest.fixture
def keyed_app(models_dir, tmp_path):
    return create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_API_KEYS": KEYS,
                       "TOPICS_FEEDBACK_DIR": str(tmp_path / "feedback")})


def _call(client, method, path, kwargs, key=None, scheme="Bearer"):
    headers = {"Authorization": f"{scheme} {key}"} if key is not None else {}
    return getattr(client, method)(path, headers=headers, **kwargs)


@pytest.mark.parametrize("method, path, kwargs, scope", ENDPOINTS)
def test_missing_or_wrong_key_is_401(keyed_app, method, path, kwargs, scope):
    client = keyed_app.test_client()
    for key, scheme in ((None, "Bearer"), ("not-a-key", "Bearer"), (CLASSIFY_KEY, "Basic"), ("", "Bearer")):
        r = _call(client, method, path, kwargs, key, scheme)
        assert r.status_code == 401, (path, key, scheme)
        assert r.mimetype == "application/problem+json"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method, path, kwargs, scope", ENDPOINTS)
def test_scopes(keyed_app, method, path, kwargs, scope):
    client = keyed_app.test_client()
    reader = _call(client, method, path, kwargs, CLASSIFY_KEY)
    admin = _call(client, method, path, kwargs, ADMIN_KEY)
    if scope == "classify":
        assert reader.status_code < 400 and admin.status_code < 400, (reader.get_json(), admin.get_json())
    else:
        assert reader.status_code == 403 and reader.get_json()["type"] == "/problems/forbidden"
        assert admin.status_code in (200, 409)  # rollback has nothing to roll back to here


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_health_and_metrics_stay_open(keyed_app, path):
    assert keyed_app.test_client().get(path).status_code == 200


def test_metrics_can_require_a_key(models_dir):
    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_API_KEYS": KEYS,
                      "TOPICS_METRICS_AUTH": True})
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {CLASSIFY_KEY}"}).status_code == 200


def test_admin_endpoints_do_not_exist_without_an_admin_key(models_dir):
    for keys in ("", f"{hash_key(CLASSIFY_KEY)}:classify"):
        client = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_API_KEYS": keys}).test_client()
        headers = {"Authorization": f"Bearer {CLASSIFY_KEY}"}
        assert client.post("/v1/model/reload", headers=headers).status_code == 404
        assert client.post("/v1/model/rollback", headers=headers).status_code == 404


def test_keys_are_never_logged(keyed_app, caplog):
    client = keyed_app.test_client()
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/classify", json={"text": "goal"}, headers={"Authorization": f"Bearer {CLASSIFY_KEY}"})
        client.post("/v1/classify", json={"text": "goal"}, headers={"Authorization": "Bearer wrong-secret-999"})
    logged = caplog.text + "".join(str(vars(r)) for r in caplog.records)
    for secret in (CLASSIFY_KEY, "wrong-secret-999", hash_key(CLASSIFY_KEY)):
        assert secret not in logged


def test_find_key_compares_every_hash(monkeypatch):
    keys = parse_entries(KEYS, "test")
    calls = []
    import hmac

    real = hmac.compare_digest
    monkeypatch.setattr("service.auth.hmac.compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert find_key(CLASSIFY_KEY, keys).name == "reader"
    assert len(calls) == len(keys)  # no early exit on the first match


@pytest.mark.parametrize("entry, message", [
    ("abc:classify", "64-digit"), (f"{hash_key('x')}:root", "scopes"), (f"{hash_key('x')}", "not '<sha256>"),
    (f"{hash_key('x')}:", "scopes"),
])
def test_bad_key_entries(entry, message):
    with pytest.raises(ValueError, match=message):
        parse_entries(entry, "TOPICS_API_KEYS")


def test_keys_file_with_comments(models_dir, tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# readers\n{hash_key(CLASSIFY_KEY)}:classify:reader  # newsroom\n\n")
    client = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir),
                         "TOPICS_API_KEYS_FILE": str(path)}).test_client()
    assert client.get("/v1/labels").status_code == 401
    assert client.get("/v1/labels", headers={"Authorization": f"Bearer {CLASSIFY_KEY}"}).status_code == 200


def test_key_tool_makes_a_working_entry(capsys):
    assert main(["new", "--scopes", "classify,admin", "--name", "ops"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[0].split(": ", 1)[1]
    entry = out[1].split(": ", 1)[1]
    (parsed,) = parse_entries(entry, "test")
    assert find_key(key, [parsed]) is parsed and parsed.scopes == {"classify", "admin"}
