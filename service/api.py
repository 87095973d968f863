"""The JSON HTTP API: parse and validate requests, shape responses, delegate to the model.

Nothing here knows how a model computes; everything here is about HTTP.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import NamedTuple

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import ClientDisconnected

from service import metrics
from service.errors import InvalidField, MalformedJSON, NotReady, PayloadTooLarge, UnsupportedMediaType
from training.model import TopicModel

bp = Blueprint("api", __name__, url_prefix="/v1")

ARTICLE_FIELDS = {"text", "title", "id"}
OPTION_FIELDS = {"top_k", "threshold", "explain"}
CLASSIFY_FIELDS = ARTICLE_FIELDS | OPTION_FIELDS
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class Article(NamedTuple):
    """One article to classify (a named tuple: made once per article, and cheaper than a frozen dataclass)."""

    text: str
    title: str | None = None
    id: str | int | None = None


@dataclass(frozen=True)
class Options:
    """How to answer: how many scores, which threshold, whether to explain."""

    top_k: int | None = None
    threshold: float | None = None
    explain: bool = False


DEFAULT_OPTIONS = Options()


# -- parsing ----------------------------------------------------------------

def request_body() -> bytes:
    """Return the request's body, read once per request (and kept for the request log).

    The body is read from the WSGI input in one call: werkzeug's wrapper
    stream costs more than the read itself for a 1 KB article, and it cuts a
    chunked body at the limit without saying so (the JSON then looks broken).
    A Content-Length was checked against the endpoint's limit before any view
    ran; a chunked body is read up to one byte past the limit.
    """
    body = g.get("body")
    if body is None:
        body = g.body = _read_body(request.environ, request.content_length, request.max_content_length)
    return body


def _read_body(environ: dict, length: int | None, limit: int | None) -> bytes:
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


def _decode_json() -> object:
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


def _media_type() -> str:
    raw = request.environ.get("CONTENT_TYPE", "")
    if raw == "application/json":  # what nearly every client sends: no header parsing needed
        return raw
    return (request.mimetype or "").lower()


def _json_object(media_type: str | None = None) -> dict:
    """Return the request's JSON object, or raise the matching problem (``media_type``: if already read)."""
    if (media_type or _media_type()) != "application/json":
        raise UnsupportedMediaType(
            f"Send application/json{' or text/plain' if request.endpoint == 'api.classify' else ''}, "
            f"not {request.mimetype or 'a body without Content-Type'}."
        )
    body = _decode_json()
    if not isinstance(body, dict):
        raise InvalidField(f"The body must be a JSON object, not {_json_type(body)}.", field="")
    return body


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def parse_article(record: object, where: str = "") -> Article:
    """Validate one article object."""
    if not isinstance(record, dict):
        raise InvalidField(f"An article must be a JSON object, not {_json_type(record)}.", field=where.rstrip("."))
    text = record.get("text")
    if "text" not in record:
        raise InvalidField("The article has no 'text'.", field=f"{where}text")
    if not isinstance(text, str):
        raise InvalidField(f"'text' must be a string, not {_json_type(text)}.", field=f"{where}text")
    if not text.strip():
        raise InvalidField("'text' is empty.", field=f"{where}text")
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidField(f"'title' must be a string, not {_json_type(title)}.", field=f"{where}title")
    doc_id = record.get("id")
    if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, (str, int))):
        raise InvalidField(f"'id' must be a string or an integer, not {_json_type(doc_id)}.", field=f"{where}id")
    return Article(text=text, title=title, id=doc_id)


def _option_from_query(name: str, raw: str) -> object:
    if name == "explain":
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
    """Read top_k, threshold and explain from the query string, then the JSON body (which wins)."""
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
    explain = values.get("explain", False)
    if not isinstance(explain, bool):
        raise InvalidField(f"'explain' must be true or false, not {explain!r}.", field="explain")
    return Options(top_k=top_k, threshold=threshold, explain=explain)


def _check_known(body: dict, allowed: set[str], where: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise InvalidField(f"Unknown field {key!r}; allowed are {sorted(allowed)}.", field=f"{where}{key}")


# -- shaping ----------------------------------------------------------------

def current_model() -> TopicModel:
    """Return this request's model (one reference for the whole request)."""
    model = g.get("model")
    if model is None:
        model = current_app.extensions["topics"].model
        if model is None:
            raise NotReady("No model is loaded yet; publish one with `python -m training.train`.",
                           headers={"Retry-After": "5"})
        g.model = model
    return model


def _result(model: TopicModel, article: Article, scores, options: Options) -> dict:
    result = {"id": article.id, **model.answer(scores, options.threshold, options.top_k)}
    if options.explain:
        k = current_app.config["TOPICS_EXPLAIN_TERMS"]
        result["explanation"] = {
            t["label"]: [{"term": term, "weight": weight}
                         for term, weight in model.explain(article.text, article.title, t["label"], k)]
            for t in result["topics"]
        }
    return result


def classify_articles(articles: list[Article], options: Options) -> list[dict]:
    """Score articles with this request's model and shape one result each."""
    model = current_model()
    P = model.predict_proba([a.text for a in articles], [a.title for a in articles])
    g.articles = len(articles)
    results = [_result(model, a, P[i], options) for i, a in enumerate(articles)]
    metrics.record_results(articles, results)
    return results


# -- views ------------------------------------------------------------------

@bp.post("/classify")
def classify():
    """Classify one article sent as JSON or as a text/plain body."""
    media_type = _media_type()
    if media_type == "text/plain":
        raw = request_body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSON(f"The text/plain body is not valid UTF-8 (byte {exc.start}).") from None
        article = parse_article({"text": text})
        options = parse_options({})
    else:
        body = _json_object(media_type)
        _check_known(body, CLASSIFY_FIELDS)
        article = parse_article(body)
        options = parse_options(body)
    return classify_articles([article], options)[0]


@bp.post("/classify/batch")
def classify_batch():
    """Classify a list of articles in one request; results keep the input order."""
    body = _json_object()
    _check_known(body, {"articles"} | OPTION_FIELDS)
    articles = body.get("articles")
    if not isinstance(articles, list):
        raise InvalidField(f"'articles' must be an array, not {_json_type(articles)}.", field="articles")
    if not articles:
        raise InvalidField("'articles' is empty.", field="articles")
    limit = current_app.config["TOPICS_MAX_BATCH_ARTICLES"]
    if len(articles) > limit:
        raise InvalidField(f"{len(articles)} articles in one batch; the limit is {limit}.", field="articles")
    parsed = []
    for i, record in enumerate(articles):
        if isinstance(record, dict):
            _check_known(record, ARTICLE_FIELDS, where=f"articles[{i}].")
        parsed.append(parse_article(record, where=f"articles[{i}]."))
    options = parse_options(body)
    results = classify_articles(parsed, options)
    return {"results": results, "model": {"version": results[0]["model"]["version"]}}


@bp.get("/labels")
def labels():
    """List the labels with their scope notes, thresholds and training counts."""
    model = current_model()
    counts = model.manifest.get("label_counts", {})
    return {
        "labels": [
            {"label": label, "description": model.descriptions.get(label, ""),
             "threshold": float(model.thresholds[j]), "training_count": counts.get(label)}
            for j, label in enumerate(model.labels)
        ],
        "none_count": model.manifest.get("none_count"),
        "model": {"version": model.version},
    }


@bp.get("/model")
def model_info():
    """Return the loaded bundle's manifest and the reload status."""
    holder = current_app.extensions["topics"]
    model = current_model()
    return {"manifest": model.manifest, "version": model.version, "status": holder.status()}
