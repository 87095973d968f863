"""Request plumbing for the JSON API: read the body once, decode JSON strictly, check the media type, parse options.

What an article is and how one is checked lives in :mod:`runtime.articles`;
this module is only about HTTP: bodies, media types, JSON and the query
string.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from flask import g, request
from werkzeug.exceptions import ClientDisconnected

from runtime.articles import json_type
from service.errors import InvalidField, MalformedJSON, PayloadTooLarge, RequestTimeout, UnsupportedMediaType

OPTION_FIELDS = {"top_k", "threshold", "explain", "return_text", "codes", "strict_language"}
FLAG_FIELDS = ("explain", "return_text", "codes", "strict_language")
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Options:
    """How to answer: how many scores, which threshold, whether to explain."""

    top_k: int | None = None
    threshold: float | None = None
    explain: bool = False
    return_text: bool = False  # answer with the text extracted from HTML
    codes: bool = False  # answer with each topic's IPTC Media Topics codes
    strict_language: bool = False  # an article in a language the model was not trained on is a 422


DEFAULT_OPTIONS = Options()


def request_body() -> bytes:
    """Return the request's body, read once per request (and kept for the request log).

    The body is read from the WSGI input in one call: werkzeug's wrapper
    stream costs more than the read itself for a 1 KB article, and it cuts a
    chunked body at the limit without saying so (the JSON then looks broken).
    A Content-Length was checked against the endpoint's limit before any view
    ran; a chunked body is read up to one byte past the limit.
    """
    store = g._get_current_object()  # one context lookup instead of one per attribute (a classify hot spot)
    body = store.get("body")
    if body is None:
        req = request._get_current_object()
        body = store.body = _read_body(req.environ, req.content_length, req.max_content_length)
    return body


def _read_body(environ: dict, length: int | None, limit: int | None) -> bytes:
    try:
        return _read_input(environ, length, limit)
    except TimeoutError as exc:  # the server's body deadline (service/workers.py)
        raise RequestTimeout(f"{exc}; send the whole body promptly, or put a buffering proxy in front.") from None


def _read_input(environ: dict, length: int | None, limit: int | None) -> bytes:
    stream = environ["wsgi.input"]
    if length is not None:
        body = stream.read(length) if length else b""
        if len(body) < length:
            raise ClientDisconnected()  # a 400, as werkzeug's stream would raise
        return body
    if not environ.get("wsgi.input_terminated"):
        # No length, and a server that does not end the stream: nothing can be read safely.
        return b""
    body = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(body) > limit:
        raise PayloadTooLarge(f"The chunked body exceeds this endpoint's limit of {limit} bytes.")
    return body


def decode_json() -> object:
    raw = request_body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"The body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        return _DECODER.decode(text)
    except ValueError as exc:
        raise MalformedJSON(f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedJSON("The body is nested too deeply.") from None


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    # Build the dict at C speed; a key that came twice leaves it shorter than
    # the pairs, and only then are the pairs searched for the first repeat.
    result = dict(pairs)
    if len(result) < len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# The standard library's parser (orjson would keep the last of two equal keys silently), built
# once: json.loads() with these options would build a new decoder for every request.
_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)


def media_type() -> str:
    raw = request.environ.get("CONTENT_TYPE", "")
    if raw == "application/json":  # what nearly every client sends: no header parsing needed
        return raw
    return (request.mimetype or "").lower()


def json_object(known_type: str | None = None) -> dict:
    """Return the request's JSON object, or raise the matching problem (``known_type``: the media type, if read)."""
    if (known_type or media_type()) != "application/json":
        raise UnsupportedMediaType(
            f"Send application/json{', text/plain or text/html' if request.endpoint == 'api.classify' else ''}, "
            f"not {request.mimetype or 'a body without Content-Type'}."
        )
    body = decode_json()
    if not isinstance(body, dict):
        raise InvalidField(f"The body must be a JSON object, not {json_type(body)}.", field="")
    return body


def _option_from_query(name: str, raw: str) -> object:
    if name in FLAG_FIELDS:
        lowered = raw.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        return raw
    try:
        return int(raw) if name == "top_k" else float(raw)
    except ValueError:
        return raw


def parse_options(body: dict) -> Options:
    """Read top_k, threshold and the flags from the query string, then the JSON body (which wins)."""
    values: dict = {}
    if request.query_string:  # most requests have none: skip parsing an empty one
        for name, raw in request.args.items(multi=True):
            if name not in OPTION_FIELDS:
                raise InvalidField(f"Unknown option {name!r}; options are {sorted(OPTION_FIELDS)}.", field=name)
            values[name] = _option_from_query(name, raw)
    elif OPTION_FIELDS.isdisjoint(body):  # the common case: nothing to check
        return DEFAULT_OPTIONS
    values.update({k: v for k, v in body.items() if k in OPTION_FIELDS})
    top_k = values.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise InvalidField(f"'top_k' must be a positive integer, not {top_k!r}.", field="top_k")
    threshold = values.get("threshold")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
                or not 0.0 <= threshold <= 1.0:
            raise InvalidField(f"'threshold' must be a number from 0 to 1, not {threshold!r}.", field="threshold")
        threshold = float(threshold)
    flags = {}
    for name in FLAG_FIELDS:
        flags[name] = values.get(name, False)
        if not isinstance(flags[name], bool):
            raise InvalidField(f"'{name}' must be true or false, not {flags[name]!r}.", field=name)
    return Options(top_k=top_k, threshold=threshold, **flags)
