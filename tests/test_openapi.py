"""The OpenAPI document is valid, covers every route, and real responses match its schemas."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from service import create_app
from service.auth import hash_key

ADMIN = "admin-secret"


@pytest.fixture
def full_app(models_dir, tmp_path):
    return create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_RELOAD_INTERVAL": 0.0,
                       "TOPICS_FEEDBACK_DIR": str(tmp_path / "fb"), "TOPICS_API_KEYS": f"{hash_key(ADMIN)}:admin"})


@pytest.fixture
def admin_client(full_app):
    client = full_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN}"
    return client


@pytest.fixture
def spec(full_app):
    return full_app.test_client().get("/openapi.json").get_json()


def _check(spec, response, status, media="application/json"):
    assert response.status_code == status, response.get_data(as_text=True)
    operation = None
    path = response.request.path
    method = response.request.method.lower()
    operation = spec["paths"][path][method]
    declared = operation["responses"][str(status)]
    content_type = response.mimetype
    assert content_type in declared["content"], (path, status, content_type)
    schema = declared["content"][content_type]["schema"]
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": spec["components"], **schema}
    Draft202012Validator(root).validate(response.get_json())


def test_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_route_is_documented(full_app, spec):
    documented = {(path, method.upper()) for path, methods in spec["paths"].items() for method in methods}
    for rule in full_app.url_map.iter_rules():
        if rule.endpoint in ("static", "web.static", "web.swagger_asset") or rule.rule in ("/", "/docs", "/openapi.json"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (rule.rule, method) in documented, rule.rule


def test_admin_paths_only_with_an_admin_key(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "/v1/model/reload" not in paths and "/v1/classify" in paths


def test_responses_match_the_schemas(admin_client, spec, toy_corpus, models_dir):
    from tests.conftest import train_into

    c = admin_client
    _check(spec, c.post("/v1/classify", json={"text": "goal striker", "id": 3}), 200)
    _check(spec, c.post("/v1/classify?top_k=2", json={"text": "goal", "title": "T", "explain": True}), 200)
    _check(spec, c.post("/v1/classify", data="shares rally", content_type="text/plain"), 200)
    _check(spec, c.post("/v1/classify/batch", json={"articles": [{"text": "goal"}, {"text": "rain"}],
                                                     "explain": True}), 200)
    _check(spec, c.get("/v1/labels"), 200)
    _check(spec, c.get("/v1/model"), 200)
    _check(spec, c.get("/v1/model/card", headers={"Accept": "application/json"}), 200)
    _check(spec, c.get("/v1/queue"), 503, "application/problem+json")  # no queue source configured here
    _check(spec, c.post("/v1/feedback", json={"text": "goal", "labels": ["sport"]}), 201)
    _check(spec, c.get("/healthz"), 200)
    _check(spec, c.get("/readyz"), 200)
    _check(spec, c.post("/v1/model/rollback"), 409)
    train_into(models_dir, [toy_corpus])
    _check(spec, c.post("/v1/model/reload"), 200)
    _check(spec, c.post("/v1/model/rollback"), 200)
    _check(spec, c.get("/v1/model/candidate"), 404, "application/problem+json")
    train_into(models_dir, [toy_corpus], candidate=True)
    _check(spec, c.get("/v1/model/candidate"), 200)


def test_the_queue_matches_its_schema(spec, models_dir, tmp_path):
    queue = tmp_path / "queue.jsonl"
    queue.write_text('{"id": "a", "title": "Cup final", "text": "goal striker league"}\n{"text": "storm rain"}\n')
    app = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_QUEUE_FILE": str(queue)})
    client = app.test_client()
    _check(spec, client.get("/v1/queue"), 200)
    _check(spec, client.get("/v1/queue?limit=0"), 422, "application/problem+json")


@pytest.mark.parametrize("path, kwargs, status", [
    ("/v1/classify", {"data": b"{", "content_type": "application/json"}, 400),
    ("/v1/classify", {"data": b"<x/>", "content_type": "application/xml"}, 415),
    ("/v1/classify", {"json": {"text": ""}}, 422),
    ("/v1/classify/batch", {"json": {"articles": []}}, 422),
    ("/v1/feedback", {"json": {"labels": "x"}}, 422),
])
def test_problems_match_the_schemas(admin_client, spec, path, kwargs, status):
    _check(spec, admin_client.post(path, **kwargs), status, "application/problem+json")


def test_unauthorized_matches_the_schema(full_app, spec):
    _check(spec, full_app.test_client().get("/v1/labels"), 401, "application/problem+json")


def test_pages_are_served(client):
    for path in ("/", "/docs", "/static/demo.js", "/static/docs.js", "/static/app.css", "/static/review.js",
                 "/static/card.js", "/static/tabs.js"):
        with client.get(path) as r:
            assert r.status_code == 200, path
    assert b"Find topics" in client.get("/").data


def test_the_docs_page_serves_swagger_ui_from_the_installed_package(client):
    page = client.get("/docs")
    assert b'id="swagger-ui"' in page.data and b"/docs/swagger/swagger-ui-bundle.js" in page.data
    assert "'unsafe-inline'" in page.headers["Content-Security-Policy"]
    assert "script-src" not in page.headers["Content-Security-Policy"]  # scripts stay 'self' (default-src)
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        with client.get(f"/docs/swagger/{name}") as r:
            assert r.status_code == 200 and kind in r.content_type and len(r.data) > 10_000, name
    assert client.get("/docs/swagger/index.html").status_code == 404  # only the two files are served
    assert client.get("/docs/swagger/..%2Fswagger-ui.js").status_code == 404
