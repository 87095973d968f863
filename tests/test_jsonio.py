"""JSON responses: orjson writes them, and what it cannot write Flask's encoder still does."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
from flask import Flask

from service.jsonio import OrjsonProvider

SPORT = "the striker scored a late goal and the keeper saved a penalty in the cup match"


def _app(**settings) -> Flask:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    for name, value in settings.items():
        setattr(app.json, name, value)
    return app


def test_same_json_as_the_standard_encoder():
    value = {"b": [1, 2.5, 0.860931, 1e-7, None, True], "a": {"é": "北京 — «x»"}, "n": -3}
    with _app(sort_keys=False).app_context() as ctx:
        body = ctx.app.json.response(value).get_data()
    assert body.endswith(b"\n")
    assert json.loads(body) == value
    assert list(json.loads(body)) == ["b", "a", "n"]  # insertion order kept
    assert "北京".encode() in body  # UTF-8, not \u escapes


def test_sort_keys_and_debug_indentation_are_honoured():
    with _app(sort_keys=True).app_context() as ctx:
        assert list(json.loads(ctx.app.json.response({"b": 1, "a": 2}).get_data())) == ["a", "b"]
    app = _app(sort_keys=False)
    app.debug = True
    with app.app_context():
        assert b'\n  "b": 1' in app.json.response({"b": 1}).get_data()


def test_numpy_numbers_dates_and_integer_keys():
    when = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    with _app().app_context() as ctx:
        body = json.loads(ctx.app.json.response({"x": np.float64(0.5), "y": np.arange(3), "when": when,
                                                 1: "one"}).get_data())
    assert body == {"x": 0.5, "y": [0, 1, 2], "when": "Sat, 28 Nov 2026 12:00:00 GMT", "1": "one"}


def test_what_orjson_refuses_falls_back_to_flask():
    huge = 2 ** 70
    with _app().app_context() as ctx:
        assert json.loads(ctx.app.json.response({"id": huge}).get_data()) == {"id": huge}


def test_an_article_id_beyond_64_bits_is_echoed(client):
    huge = 123456789012345678901234567890
    r = client.post("/v1/classify", data=f'{{"id": {huge}, "text": "{SPORT}"}}', content_type="application/json")
    assert r.status_code == 200
    assert json.loads(r.get_data())["id"] == huge
