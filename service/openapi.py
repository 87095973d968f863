"""The OpenAPI 3.1 description of the service, served at /openapi.json.

Tests validate this document and check real responses against its schemas,
so it cannot drift from what the service does.
"""

from __future__ import annotations

from flask import Blueprint, current_app

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str, example: dict | None = None) -> dict:
    content = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"description": description, "content": {"application/json": content}}


def _problem(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


PROBLEMS = {
    "400": _problem("Malformed JSON, duplicate keys or a body that is not UTF-8 (`/problems/malformed-json`)."),
    "401": _problem("API keys are configured and none, or an invalid one, was sent (`/problems/unauthorized`)."),
    "403": _problem("The key lacks the scope this endpoint needs (`/problems/forbidden`)."),
    "408": _problem("The body did not arrive within the server's deadline; the connection closes "
                    "(`/problems/request-timeout`)."),
    "413": _problem("The body is larger than this endpoint's limit (`/problems/payload-too-large`)."),
    "415": _problem("The Content-Type is not one this endpoint reads (`/problems/unsupported-media-type`)."),
    "422": _problem("A field is missing, empty, of the wrong type or out of range, or unknown "
                    "(`/problems/invalid-field`; `field` names it)."),
    "503": _problem("No model is loaded yet (`/problems/model-not-ready`)."),
}

ARTICLE_EXAMPLE = {"id": "wire-0412", "title": "Ministers agree to cut steel tariffs",
                   "text": "Trade ministers from both countries agreed on Tuesday to phase out duties on steel..."}

OPTIONS = {
    "top_k": {"type": "integer", "minimum": 1,
              "description": "Return only the k best labels in `scores` (and at most k topics)."},
    "threshold": {"type": "number", "minimum": 0, "maximum": 1,
                  "description": "One threshold for every label, instead of the tuned per-label thresholds."},
    "explain": {"type": "boolean", "default": False,
                "description": "Add, for each returned topic, the article's terms that raised its score most."},
    "codes": {"type": "boolean", "default": False,
              "description": "Add each topic's standard codes (IPTC Media Topics for the default taxonomy)."},
    "return_text": {"type": "boolean", "default": False,
                    "description": "For an article sent as HTML, add the extracted text to `extracted`."},
    "strict_language": {"type": "boolean", "default": False,
                        "description": "Answer 422 for an article in a language the model does not read, "
                                       "instead of a result with `language_supported: false` and no topics."},
}

CODE = {"type": "object", "required": ["code"],
        "properties": {"scheme": {"type": "string"}, "code": {"type": "string"}, "label": {"type": "string"},
                       "uri": {"type": "string"}}}

SCHEMAS = {
    "Article": {
        "type": "object", "additionalProperties": False,
        "description": "Either `text` or `html`.",
        "properties": {
            "text": {"type": "string", "minLength": 1, "description": "The article body (or a headline)."},
            "html": {"type": "string", "minLength": 1,
                     "description": "A saved article page: its main text and title are extracted (trafilatura)."},
            "title": {"type": ["string", "null"], "description": "The headline; weighted like in training."},
            "id": {"type": ["string", "integer", "null"], "description": "Echoed back in the result."},
        },
    },
    "Topic": {
        "type": "object", "required": ["label", "score"], "additionalProperties": False,
        "properties": {"label": {"type": "string"}, "score": {"type": "number", "minimum": 0, "maximum": 1},
                       "codes": {"type": "array", "items": CODE, "description": "With the `codes` option."}},
    },
    "Term": {
        "type": "object", "required": ["term", "weight"], "additionalProperties": False,
        "properties": {"term": {"type": "string"}, "weight": {"type": "number", "exclusiveMinimum": 0}},
    },
    "ModelRef": {
        "type": "object", "required": ["version"], "additionalProperties": False,
        "properties": {"version": {"type": "string"}},
    },
    "ClassifyResult": {
        "type": "object", "required": ["id", "topics", "scores", "model"], "additionalProperties": False,
        "properties": {
            "id": {"type": ["string", "integer", "null"]},
            "topics": {"type": "array", "items": _ref("Topic"),
                       "description": "Labels at or above their threshold, best first; may be empty."},
            "scores": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                       "description": "Every label's probability (or the top_k best), best first."},
            "model": _ref("ModelRef"),
            "explanation": {"type": "object", "additionalProperties": {"type": "array", "items": _ref("Term")},
                            "description": "Per returned topic: terms with tf-idf value x coefficient."},
            "language": {"type": "string", "description": "The detected language (ISO 639-1)."},
            "language_supported": {"type": "boolean",
                                   "description": "False: the model does not read this language; no topics."},
            "extracted": {"type": "object", "description": "For an article sent as HTML.",
                          "properties": {"characters": {"type": "integer"}, "title": {"type": ["string", "null"]},
                                         "text": {"type": "string"}}},
        },
    },
    "BatchRequest": {
        "type": "object", "required": ["articles"], "additionalProperties": False,
        "properties": {"articles": {"type": "array", "minItems": 1, "items": _ref("Article"),
                                    "description": "At most TOPICS_MAX_BATCH_ARTICLES articles."}, **OPTIONS},
    },
    "BatchResult": {
        "type": "object", "required": ["results", "model"], "additionalProperties": False,
        "properties": {"results": {"type": "array", "items": _ref("ClassifyResult")}, "model": _ref("ModelRef")},
    },
    "Label": {
        "type": "object", "required": ["label", "description", "threshold", "training_count"],
        "additionalProperties": False,
        "properties": {"label": {"type": "string"}, "description": {"type": "string"},
                       "threshold": {"type": "number"}, "training_count": {"type": ["integer", "null"]},
                       "codes": {"type": "array", "items": CODE}},
    },
    "Labels": {
        "type": "object", "required": ["labels", "model"], "additionalProperties": False,
        "properties": {"labels": {"type": "array", "items": _ref("Label")},
                       "languages": {"type": "array", "items": {"type": "string"}},
                       "none_count": {"type": ["integer", "null"]}, "model": _ref("ModelRef")},
    },
    "ModelInfo": {
        "type": "object", "required": ["manifest", "version", "status"], "additionalProperties": False,
        "properties": {
            "version": {"type": "string"},
            "manifest": {"type": "object", "required": ["version", "labels", "thresholds", "metrics", "data",
                                                        "versions", "created_at", "files"],
                         "description": "The bundle's manifest.json."},
            "card": {"oneOf": [_ref("ModelCard"), {"type": "null"}],
                     "description": "The bundle's model card; null for a bundle trained before cards."},
            "status": {"type": "object", "required": ["ready", "version", "last_reload_error"],
                       "properties": {"ready": {"type": "boolean"}, "version": {"type": ["string", "null"]},
                                      "loaded_at": {"type": ["string", "null"]},
                                      "fast_path": {"type": "boolean"}, "reloads": {"type": "integer"},
                                      "reload_failures": {"type": "integer"},
                                      "last_reload_error": {"type": ["object", "null"]}}},
        },
    },
    "ModelCard": {
        "type": "object",
        "required": ["card_format", "model", "data", "options", "quality", "limits", "intended_use",
                     "not_intended_use"],
        "description": "The bundle's model_card.json: data sources and counts, options and their reasons, "
                       "per-topic quality on held-out documents with 95 % bootstrap intervals, known limits and "
                       "intended use.",
        "properties": {
            "card_format": {"type": "integer"}, "model": {"type": "object"}, "data": {"type": "object"},
            "options": {"type": "object"},
            "quality": {"type": "object", "required": ["micro_f1", "macro_f1", "per_topic"],
                        "properties": {"micro_f1": _ref("Figure"), "macro_f1": _ref("Figure"),
                                       "per_topic": {"type": "object", "additionalProperties": {
                                           "type": "object", "properties": {
                                               "support": {"type": "integer"}, "precision": _ref("Figure"),
                                               "recall": _ref("Figure"), "f1": _ref("Figure")}}}}},
            "limits": {"type": "array", "items": {"type": "string"}},
            "intended_use": {"type": "array", "items": {"type": "string"}},
            "not_intended_use": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Figure": {
        "type": "object", "required": ["value", "low", "high"], "additionalProperties": False,
        "description": "A figure and its 95 % interval (null where undefined).",
        "properties": {name: {"type": ["number", "null"], "minimum": 0, "maximum": 1}
                       for name in ("value", "low", "high")},
    },
    "QueueItem": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "title", "text", "priority", "topics", "scores", "signals", "reasons"],
        "properties": {
            "id": {"type": ["string", "integer", "null"]}, "title": {"type": ["string", "null"]},
            "text": {"type": "string"},
            "priority": {"type": "number", "minimum": 0, "maximum": 3,
                         "description": "uncertainty + disagreement + drift, each from 0 to 1."},
            "topics": {"type": "array", "items": _ref("Topic"), "description": "The current model's proposal."},
            "scores": {"type": "object", "additionalProperties": {"type": "number"}},
            "signals": {"type": "object", "required": ["margin", "uncertainty", "disagreement", "drift"],
                        "properties": {
                            "margin": {"type": "number"}, "nearest_label": {"type": "string"},
                            "uncertainty": {"type": "number"}, "disagreement": {"type": "number"},
                            "candidate_topics": {"type": "array", "items": {"type": "string"}},
                            "unknown_share": {"type": ["number", "null"]}, "words": {"type": "integer"},
                            "drift": {"type": "number"}}},
            "reasons": {"type": "array", "items": {"type": "string"},
                        "description": "Why the article was chosen, in words."},
        },
    },
    "Queue": {
        "type": "object", "additionalProperties": False,
        "required": ["items", "total", "offset", "limit", "read", "model", "candidate"],
        "properties": {
            "items": {"type": "array", "items": _ref("QueueItem")},
            "total": {"type": "integer", "description": "Articles in the queue, over all pages."},
            "offset": {"type": "integer"}, "limit": {"type": "integer"},
            "read": {"type": "object", "required": ["files", "articles", "bad_lines", "duplicates", "reviewed"],
                     "description": "What was read: files, articles, lines skipped as bad, duplicates, articles "
                                    "left out because they are in the feedback file, and whether the "
                                    "TOPICS_QUEUE_MAX_ARTICLES cap stopped the reading.",
                     "properties": {k: {"type": "integer"} for k in
                                    ("files", "articles", "bad_lines", "duplicates", "reviewed")}
                     | {"capped": {"type": "boolean"}}},
            "model": _ref("ModelRef"),
            "candidate": {"oneOf": [_ref("ModelRef"), {"type": "null"}]},
        },
    },
    "Candidate": {
        "type": "object", "required": ["version", "loaded_at", "current", "manifest", "shadow"],
        "additionalProperties": False,
        "properties": {
            "version": {"type": "string"},
            "loaded_at": {"type": ["string", "null"]},
            "current": {"type": ["string", "null"], "description": "The version answering meanwhile."},
            "manifest": {"type": "object", "description": "The candidate manifest's version, creation time, "
                                                          "labels, metrics, data and label counts."},
            "shadow": {
                "type": "object", "required": ["sample", "samples", "agreement", "flips", "topics"],
                "additionalProperties": False,
                "description": "How the candidate agrees with the current model on live articles, over all workers.",
                "properties": {
                    "sample": {"type": "number", "minimum": 0, "maximum": 1,
                               "description": "TOPICS_SHADOW_SAMPLE: the share of articles scored by both."},
                    "samples": {"type": "integer", "minimum": 0, "description": "Articles scored by both models."},
                    "agreement": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                                  "description": "Share of those articles given the same topics by both."},
                    "flips": {"type": "integer", "minimum": 0,
                              "description": "Topics one model assigns and the other not, summed over labels."},
                    "topics": {"type": "object", "additionalProperties": _ref("ShadowTopic")},
                },
            },
        },
    },
    "ShadowTopic": {
        "type": "object", "additionalProperties": False,
        "required": ["agreement", "both", "neither", "current_only", "candidate_only", "flips", "mean_delta",
                     "mean_abs_delta"],
        "properties": {
            "agreement": {"type": ["number", "null"], "description": "Share where both or neither assign it."},
            "both": {"type": "integer"}, "neither": {"type": "integer"},
            "current_only": {"type": "integer"}, "candidate_only": {"type": "integer"},
            "flips": {"type": "integer", "description": "current_only + candidate_only."},
            "mean_delta": {"type": ["number", "null"], "description": "Mean of candidate minus current score."},
            "mean_abs_delta": {"type": ["number", "null"], "description": "Mean size of that change."},
        },
    },
    "FeedbackRequest": {
        "type": "object", "required": ["labels"], "additionalProperties": False,
        "properties": {"text": {"type": "string", "minLength": 1}, "title": {"type": ["string", "null"]},
                       "id": {"type": ["string", "integer"]},
                       "labels": {"type": "array", "items": {"type": "string"},
                                  "description": "The labels the article should have ([] for none of them)."}},
        "description": "Either `text` (a new example) or `id` (relabel that document of your training data).",
    },
    "FeedbackResult": {
        "type": "object", "required": ["status", "labels"], "additionalProperties": False,
        "properties": {"status": {"const": "recorded"}, "labels": {"type": "array", "items": {"type": "string"}},
                       "id": {"type": ["string", "integer", "null"]}},
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {"type": "object", "required": ["status", "model"],
              "properties": {"status": {"const": "ready"}, "model": _ref("ModelRef")}},
    "Reload": {"type": "object", "required": ["changed", "version", "previous"],
               "properties": {"changed": {"type": "boolean"}, "version": {"type": "string"},
                              "previous": {"type": ["string", "null"]}}},
    "Rollback": {"type": "object", "required": ["version", "previous"],
                 "properties": {"version": {"type": "string"}, "previous": {"type": ["string", "null"]}}},
    "Problem": {
        "type": "object", "required": ["type", "title", "status", "detail"],
        "description": "RFC 9457 problem details.",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}, "instance": {"type": "string"},
                       "field": {"type": "string", "description": "The offending field, e.g. `articles[3].text`."},
                       "request_id": {"type": "string"}},
    },
}
# A single-article request: the article's fields plus the options.
SCHEMAS["ClassifyRequest"] = {
    "type": "object", "required": ["text"], "additionalProperties": False,
    "properties": {**SCHEMAS["Article"]["properties"], **OPTIONS},
}

QUERY_OPTIONS = [
    {"name": name, "in": "query", "required": False, "schema": schema, "description": schema["description"]}
    for name, schema in OPTIONS.items()
]
SECURITY = [{"bearer": []}, {}]


def _op(op_id: str, summary: str, description: str, responses: dict, request: dict | None = None, errors=(),
        parameters: list | None = None, tag: str = "classification", secured: bool = True) -> dict:
    operation = {"operationId": op_id, "summary": summary, "description": description, "tags": [tag],
                 "responses": {**responses, **{code: PROBLEMS[code] for code in errors}}}
    if request:
        operation["requestBody"] = request
    if parameters:
        operation["parameters"] = parameters
    if secured:
        operation["security"] = SECURITY
    return operation


def build_spec(admin: bool = True) -> dict:
    """Return the OpenAPI document; admin paths only when admin endpoints are enabled."""
    classify_body = {"required": True, "content": {
        "application/json": {"schema": _ref("ClassifyRequest"), "example": {**ARTICLE_EXAMPLE, "explain": True}},
        "text/plain": {"schema": {"type": "string", "minLength": 1},
                       "example": "Trade ministers agreed on Tuesday to phase out duties on steel..."},
        "text/html": {"schema": {"type": "string", "minLength": 1},
                      "example": "<html><head><title>Ministers agree to cut steel tariffs</title></head>..."}}}
    paths = {
        "/v1/classify": {"post": _op(
            "classify", "Classify one article",
            "Send JSON, the article as a text/plain body, or a saved page as text/html. Options come from the JSON body or the query "
            "string (the body wins). An article that clears no threshold gets an empty `topics` list.",
            {"200": _json(_ref("ClassifyResult"), "The article's topics and scores.")},
            classify_body, ("400", "401", "403", "408", "413", "415", "422", "503"), QUERY_OPTIONS)},
        "/v1/classify/batch": {"post": _op(
            "classifyBatch", "Classify many articles", "Results keep the input order; one model version answers the whole batch.",
            {"200": _json(_ref("BatchResult"), "One result per article, in order.")},
            {"required": True, "content": {"application/json": {"schema": _ref("BatchRequest"), "example": {
                "articles": [ARTICLE_EXAMPLE, {"id": 2, "text": "Storm floods coastal towns"}], "top_k": 3}}}},
            ("400", "401", "403", "408", "413", "415", "422", "503"), QUERY_OPTIONS)},
        "/v1/labels": {"get": _op("listLabels", "List the labels", "Scope notes, tuned thresholds and training counts.",
                                  {"200": _json(_ref("Labels"), "The model's labels.")}, errors=("401", "403", "503"),
                                  tag="model")},
        "/v1/model": {"get": _op("describeModel", "Describe the loaded model",
                                 "The bundle's manifest (version, metrics, data fingerprint, library versions) "
                                 "and the reload status, including the last refused bundle.",
                                 {"200": _json(_ref("ModelInfo"), "Manifest and status.")},
                                 errors=("401", "403", "503"), tag="model")},
        "/v1/model/card": {"get": _op(
            "modelCard", "The loaded model's card",
            "Markdown (`text/markdown`) by default; JSON when the `Accept` header prefers `application/json`.",
            {"200": {"description": "The model card.", "content": {
                "text/markdown": {"schema": {"type": "string"}},
                "application/json": {"schema": _ref("ModelCard")}}},
             "404": _problem("The bundle was trained before bundles carried a card.")},
            errors=("401", "403", "503"), tag="model")},
        "/v1/queue": {"get": _op(
            "labelingQueue", "Articles to label, most instructive first",
            "Needs a `review` (or `admin`) key when keys are configured: it hands out stored article text. "
            "Reads TOPICS_QUEUE_FILE and the sample store (TOPICS_SAMPLE_DIR), skips and counts bad lines, "
            "drops duplicates and articles already in the feedback file, and ranks the rest by uncertainty "
            "(a score near its threshold), disagreement with the candidate model, and drift (unknown words, "
            "extreme length). Answer each with `POST /v1/feedback`.",
            {"200": _json(_ref("Queue"), "One page of the queue.")},
            errors=("401", "403", "422", "503"), tag="feedback",
            parameters=[{"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                        {"name": "offset", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 0, "maximum": 100000, "default": 0}}])},
        "/v1/model/candidate": {"get": _op(
            "describeCandidate", "Describe the candidate and its shadow figures",
            "The candidate bundle loaded beside the current model (the `candidate` link of the models folder) and, "
            "with TOPICS_SHADOW_SAMPLE above 0, how it agrees with the current model on the share of live "
            "articles it also scored. Answers always come from the current model.",
            {"200": _json(_ref("Candidate"), "The candidate and its shadow figures."),
             "404": _problem("No candidate is published, or it failed verification (`/problems/no-candidate`).")},
            errors=("401", "403"), tag="model")},
        "/v1/feedback": {"post": _op(
            "recordFeedback", "Correct the labels of an article",
            "Appends the correction to the feedback file (TOPICS_FEEDBACK_DIR); retrain with "
            "`python -m training --data seeds/ feedback/` to fold it in.",
            {"201": _json(_ref("FeedbackResult"), "Recorded."),
             "507": _problem("The feedback file reached TOPICS_FEEDBACK_MAX_BYTES (`/problems/storage-full`).")},
            {"required": True, "content": {"application/json": {"schema": _ref("FeedbackRequest"),
                                                                 "example": {**ARTICLE_EXAMPLE,
                                                                             "labels": ["trade"]}}}},
            ("400", "401", "403", "408", "413", "415", "422", "503"), tag="feedback")},
        "/healthz": {"get": _op("liveness", "Liveness", "The process is up.", {"200": _json(_ref("Health"), "Alive.")},
                                tag="operations", secured=False)},
        "/readyz": {"get": _op("readiness", "Readiness", "A model is loaded and passed its smoke prediction.",
                               {"200": _json(_ref("Ready"), "Ready."), "503": PROBLEMS["503"]},
                               tag="operations", secured=False)},
        "/metrics": {"get": _op("metrics", "Prometheus metrics", "Text exposition format, summed over all workers.",
                                {"200": {"description": "Metrics.", "content": {"text/plain": {
                                    "schema": {"type": "string"}}}}}, tag="operations", secured=False)},
    }
    if admin:
        paths["/v1/model/reload"] = {"post": _op(
            "reloadModel", "Reload the published model now", "Needs an `admin` key. Exists only when one is configured.",
            {"200": _json(_ref("Reload"), "Reloaded (or unchanged).")}, errors=("401", "403", "503"), tag="admin")}
        paths["/v1/model/rollback"] = {"post": _op(
            "rollbackModel", "Roll back to the previous version", "Needs an `admin` key. Points `current` at the newest older "
            "version and loads it.", {"200": _json(_ref("Rollback"), "Rolled back."),
                                      "409": _problem("Nothing older to roll back to, or it failed verification.")},
            errors=("401", "403"), tag="admin")}
        paths["/v1/model/promote"] = {"post": _op(
            "promoteCandidate", "Gate the candidate into current", "Needs an `admin` key. Scores candidate and current "
            "on the bundles' held-out split plus `TOPICS_GOLDEN_FILE`; promotes only when micro-F1 falls by at most "
            "`micro_margin` (0.01) and no topic's F1 by more than `topic_margin` (0.05), or when `force` is true. "
            "`min_shadow_agreement` (0 to 1) and `min_shadow_samples` also require this service's shadow figures "
            "for the candidate (`GET /v1/model/candidate`) to reach them (both off by default). "
            "A refusal answers 200 with `promoted: false`, the reasons and per-topic figures with examples.",
            {"200": _json({"type": "object"}, "The decision and its figures."),
             "409": _problem("No candidate or no current model, or a bundle failed verification.")},
            errors=("401", "403", "422"), tag="admin")}
        paths["/v1/model/refuse"] = {"post": _op(
            "refuseCandidate", "Drop the candidate", "Needs an `admin` key. Removes the `candidate` link (audited).",
            {"200": _json({"type": "object"}, "Refused."), "409": _problem("There is no candidate.")},
            errors=("401", "403"), tag="admin")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "News topics", "version": "1",
                 "description": "Label news articles with topics. Every response names the model version "
                                "that produced it (body and `X-Model-Version` header); every error is an "
                                "RFC 9457 problem."},
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "Needed only when API keys are configured."}}},
    }


@bp.get("/openapi.json")
def openapi_json():
    """Serve the OpenAPI document."""
    from service.auth import has_admin_key

    return build_spec(admin=has_admin_key(current_app))
