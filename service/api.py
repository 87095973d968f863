"""The JSON HTTP API's views: classify one article or a batch, list the labels, describe the model.

Request plumbing (bodies, JSON, options) is in :mod:`service.requests`; what
an article is, in :mod:`runtime.articles`; how a model computes, in
:mod:`runtime.model`. Here the three meet.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import NotFound

from runtime import card
from runtime.articles import ARTICLE_FIELDS, Article, article_from_html, check_known, json_type, parse_article
from runtime.language import language_of
from runtime.model import TopicModel
from service import drift, metrics, shadow
from service.errors import InvalidField, MalformedJSON, NotReady, UnsupportedLanguage
from service.requests import OPTION_FIELDS, Options, json_object, media_type, parse_options, request_body

bp = Blueprint("api", __name__, url_prefix="/v1")

CLASSIFY_FIELDS = ARTICLE_FIELDS | OPTION_FIELDS


# -- shaping ----------------------------------------------------------------

def current_model() -> TopicModel:
    """Return this request's model (one reference for the whole request)."""
    store = g._get_current_object()
    model = store.get("model")
    if model is None:
        model = current_app.extensions["topics"].model
        if model is None:
            raise NotReady("No model is loaded yet; publish one with `python -m training`.",
                           headers={"Retry-After": "5"})
        store.model = model
    return model


def _result(model: TopicModel, article: Article, scores, options: Options, language, readable: bool) -> dict:
    if readable:
        result = {"id": article.id, **model.answer(scores, options.threshold, options.top_k)}
    else:  # not "about nothing": the model cannot read this language
        result = {"id": article.id, "topics": [], "scores": {}, "model": {"version": model.version}}
    if language is not None:
        result["language"] = language.code
        result["language_supported"] = readable
    if article.html:
        result["extracted"] = {"characters": len(article.text), "title": article.title}
        if options.return_text:
            result["extracted"]["text"] = article.text
    if options.codes:
        for topic in result["topics"]:
            topic["codes"] = model.codes.get(topic["label"], [])
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
    app = current_app._get_current_object()  # one context lookup for the whole request
    config = app.config
    P, coverage = model.score([a.text for a in articles], [a.title for a in articles])
    if config["TOPICS_DETECT_LANGUAGE"]:
        languages = [language_of(a, model, known) for a, known in zip(articles, coverage.tolist())]
        readable = [lang.supported for lang in languages]
    else:
        languages, readable = [None] * len(articles), [True] * len(articles)
    if options.strict_language and not all(readable):
        i = readable.index(False)
        where = f"articles[{i}]" if request.endpoint == "api.classify_batch" else "text"
        raise UnsupportedLanguage(
            f"The article is in {languages[i].code!r} (probability {languages[i].probability}); this model "
            f"reads {', '.join(model.languages)}.", field=where)
    g.articles = len(articles)
    results = [_result(model, a, P[i], options, languages[i], readable[i]) for i, a in enumerate(articles)]
    metrics.record_results(articles, results)
    drift.observe(model, articles, P, readable, app.extensions)
    share = config["TOPICS_SHADOW_SAMPLE"]
    if share:  # after the answer is built, which it never changes
        shadow.score(app.extensions["topics"].candidate, model, articles, P, readable, share)
    return results


# -- views ------------------------------------------------------------------

@bp.post("/classify")
def classify():
    """Classify one article sent as JSON, as a text/plain body or as a text/html page."""
    content_type = media_type()
    if content_type == "text/html":
        article = article_from_html(request_body())  # bytes: trafilatura reads the page's own charset
        options = parse_options({})
    elif content_type == "text/plain":
        raw = request_body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSON(f"The text/plain body is not valid UTF-8 (byte {exc.start}).") from None
        article = parse_article({"text": text})
        options = parse_options({})
    else:
        body = json_object(content_type)
        check_known(body, CLASSIFY_FIELDS)
        article = parse_article(body)
        options = parse_options(body)
    return classify_articles([article], options)[0]


@bp.post("/classify/batch")
def classify_batch():
    """Classify a list of articles in one request; results keep the input order."""
    body = json_object()
    check_known(body, {"articles"} | OPTION_FIELDS)
    articles = body.get("articles")
    if not isinstance(articles, list):
        raise InvalidField(f"'articles' must be an array, not {json_type(articles)}.", field="articles")
    if not articles:
        raise InvalidField("'articles' is empty.", field="articles")
    limit = current_app.config["TOPICS_MAX_BATCH_ARTICLES"]
    if len(articles) > limit:
        raise InvalidField(f"{len(articles)} articles in one batch; the limit is {limit}.", field="articles")
    parsed = []
    for i, record in enumerate(articles):
        if isinstance(record, dict):
            check_known(record, ARTICLE_FIELDS, where=f"articles[{i}].")
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
             "threshold": float(model.thresholds[j]), "training_count": counts.get(label),
             "codes": model.codes.get(label, [])}
            for j, label in enumerate(model.labels)
        ],
        "languages": model.languages,
        "none_count": model.manifest.get("none_count"),
        "model": {"version": model.version},
    }


@bp.get("/model")
def model_info():
    """Return the loaded bundle's manifest and the reload status."""
    holder = current_app.extensions["topics"]
    model = current_model()
    return {"manifest": model.manifest, "version": model.version, "status": holder.status(), "card": model.card}


@bp.get("/model/card")
def model_card():
    """Return the loaded bundle's model card: Markdown, or JSON when the client prefers ``application/json``."""
    model = current_model()
    if model.card is None:
        raise NotFound(f"Model {model.version} was trained before bundles carried a model card; retrain to get one.")
    # Markdown unless JSON is preferred: a person with curl or a browser reads the card, code asks for JSON.
    if request.accept_mimetypes.best_match(["text/markdown", "application/json"]) == "application/json":
        response = current_app.json.response(model.card)
    else:
        response = Response(card.render_markdown(model.card), mimetype="text/markdown")
    response.vary.add("Accept")
    return response
