"""Hostile input: property-based fuzzing of every endpoint, and the extreme cases by hand.

Every answer must be a documented status with a JSON body (never a 5xx for bad
input, never a stack trace), and the service must keep serving afterwards.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import create_app
from service.auth import hash_key

DOCUMENTED = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 503, 507}
ADMIN = "fuzz-admin"
POST_PATHS = ["/v1/classify", "/v1/classify/batch", "/v1/feedback", "/v1/model/reload", "/v1/model/rollback"]
ALL_PATHS = POST_PATHS + ["/v1/labels", "/v1/model", "/healthz", "/readyz", "/metrics", "/openapi.json", "/nope"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
field_names = st.sampled_from(["text", "title", "id", "labels", "articles", "top_k", "threshold", "explain", "x"])
objects = st.dictionaries(field_names, json_values, max_size=6)
articles = st.lists(st.one_of(objects, json_values), max_size=6)
content_types = st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8",
                                 "application/xml", "multipart/form-data", "", "text/plain; charset=latin-1"])


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory, toy_models):
    app = create_app({"TESTING": False, "TOPICS_MODEL_DIR": str(toy_models),
                      "TOPICS_FEEDBACK_DIR": str(tmp_path_factory.mktemp("fb")),
                      "TOPICS_API_KEYS": f"{hash_key(ADMIN)}:admin", "TOPICS_MAX_BODY_BYTES": 200_000})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN}"
    return client


def _assert_documented(response):
    assert response.status_code in DOCUMENTED, (response.status_code, response.get_data(as_text=True)[:500])
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    if response.request.path != "/metrics":
        json.loads(text)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


def _still_serving(client):
    r = client.post("/v1/classify", json={"text": "goal striker"})
    assert r.status_code == 200 and r.get_json()["topics"][0]["label"] == "sport"


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(path=st.sampled_from(POST_PATHS), body=json_values)
def test_any_json_value_to_any_endpoint(fuzz_client, path, body):
    _assert_documented(fuzz_client.post(path, data=json.dumps(body), content_type="application/json"))


@FUZZ
@given(body=objects, query=st.dictionaries(field_names, st.text(max_size=8), max_size=3))
def test_classify_objects_and_query_strings(fuzz_client, body, query):
    _assert_documented(fuzz_client.post("/v1/classify", json=body, query_string=query))


@FUZZ
@given(items=articles, options=st.dictionaries(st.sampled_from(["top_k", "threshold", "explain"]), json_values))
def test_batch_of_anything(fuzz_client, items, options):
    _assert_documented(fuzz_client.post("/v1/classify/batch", json={"articles": items, **options}))


@FUZZ
@given(path=st.sampled_from(ALL_PATHS), raw=st.binary(max_size=2000), content_type=content_types,
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
def test_raw_bytes_any_method_any_type(fuzz_client, path, raw, content_type, method):
    _assert_documented(fuzz_client.open(path, method=method, data=raw, content_type=content_type))


@FUZZ
@given(text=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=3000))
def test_any_unicode_text_is_classified(fuzz_client, text):
    r = fuzz_client.post("/v1/classify", json={"text": text})
    _assert_documented(r)
    assert r.status_code == (200 if text.strip() else 422)


HOSTILE = [
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ("deep nesting in an object", b'{"text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "application/json", 400),
    ("huge float", b'{"text": "a", "threshold": 1e999999}', "application/json", 422),
    ("huge integer", b'{"text": "a", "top_k": ' + b"9" * 5000 + b"}", "application/json", 400),
    ("NUL bytes in text", json.dumps({"text": "goal\u0000striker\u0000"}).encode(), "application/json", 200),
    ("NUL bytes raw", b"goal\x00striker", "text/plain", 200),
    ("invalid UTF-8", b'{"text": "\xc3\x28"}', "application/json", 400),
    ("lone surrogate escape", b'{"text": "\\ud800 goal"}', "application/json", 200),
    ("duplicated keys", b'{"text": "a", "text": "b"}', "application/json", 400),
    ("BOM", b'\xef\xbb\xbf{"text": "goal"}', "application/json", 400),
    ("empty body", b"", "application/json", 400),
    ("wrong type", b'{"text": "a"}', "application/x-www-form-urlencoded", 415),
]


@pytest.mark.parametrize("name, body, content_type, status", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies(fuzz_client, name, body, content_type, status):
    r = fuzz_client.post("/v1/classify", data=body, content_type=content_type)
    _assert_documented(r)
    assert r.status_code == status
    _still_serving(fuzz_client)


def test_ten_megabyte_bodies_are_refused_unread(fuzz_client):
    big = b'{"text": "' + b"a" * 10_500_000 + b'"}'
    assert fuzz_client.post("/v1/classify", data=big, content_type="application/json").status_code == 413
    batch = b'{"articles": [{"text": "' + b"a" * 10_500_000 + b'"}]}'
    assert fuzz_client.post("/v1/classify/batch", data=batch, content_type="application/json").status_code == 413
    _still_serving(fuzz_client)


def test_a_batch_of_100000_tiny_items(fuzz_client):
    body = json.dumps({"articles": [{"text": "a"}] * 100_000})
    r = fuzz_client.post("/v1/classify/batch", data=body, content_type="application/json")
    _assert_documented(r)
    assert r.status_code == 422 and "limit is 1000" in r.get_json()["detail"]
    _still_serving(fuzz_client)
