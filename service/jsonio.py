"""JSON responses encoded with orjson.

Every classify answer is a dict of a dozen floats; Python's encoder turns
each float into text through ``float.__repr__`` and takes several times as
long as orjson for the same bytes (BENCHMARKS.md, "HTTP under gunicorn").
The output is the same JSON: shortest round-trip floats, keys in insertion
order (or sorted when ``sort_keys`` is set), UTF-8 instead of ``\\u``
escapes. Anything orjson refuses (an integer beyond 64 bits, say, which a
client may send as an article id) is encoded by Flask's own provider.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

_OPTIONS = (orjson.OPT_APPEND_NEWLINE  # Flask's responses end with a newline too
            | orjson.OPT_NON_STR_KEYS  # {1: ...} becomes {"1": ...}, as json.dumps does
            | orjson.OPT_SERIALIZE_NUMPY
            | orjson.OPT_PASSTHROUGH_DATETIME)  # dates go to Flask's default: HTTP dates, as before


class OrjsonProvider(DefaultJSONProvider):
    """Flask's default JSON provider, with response bodies encoded by orjson."""

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        options = _OPTIONS
        if self.sort_keys:
            options |= orjson.OPT_SORT_KEYS
        if (self.compact is None and self._app.debug) or self.compact is False:
            options |= orjson.OPT_INDENT_2
        try:
            body = orjson.dumps(obj, default=self.default, option=options)
        except TypeError:
            return super().response(obj)
        return self._app.response_class(body, mimetype=self.mimetype)
