"""Errors as RFC 9457 problem details: one JSON shape for every error the service returns."""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from runtime.articles import InvalidArticle

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger("service")


class APIError(Exception):
    """An error with its HTTP status, a stable problem type and an optional offending field."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, field: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.headers = headers or {}


class MalformedJSON(APIError):
    status, slug, title = 400, "malformed-json", "Malformed JSON"


class Unauthorized(APIError):
    status, slug, title = 401, "unauthorized", "Missing or invalid API key"


class Forbidden(APIError):
    status, slug, title = 403, "forbidden", "API key lacks the required scope"


class RequestTimeout(APIError):
    status, slug, title = 408, "request-timeout", "Request body too slow"


class PayloadTooLarge(APIError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(APIError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported content type"


class InvalidField(APIError):
    status, slug, title = 422, "invalid-field", "Invalid field"


class UnsupportedLanguage(APIError):
    status, slug, title = 422, "unsupported-language", "Article language not supported by the model"


class NotReady(APIError):
    status, slug, title = 503, "model-not-ready", "No model is loaded"


class InsufficientStorage(APIError):
    status, slug, title = 507, "storage-full", "Feedback storage is full"


class Conflict(APIError):
    status, slug, title = 409, "conflict", "Conflict"


class NoCandidate(APIError):
    status, slug, title = 404, "no-candidate", "No candidate model is loaded"


def problem(status: int, title: str, detail: str, slug: str | None = None, field: str | None = None,
            headers: dict | None = None) -> Response:
    """Build a problem+json response."""
    body = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if field is not None:
        body["field"] = field
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _api_error(error: APIError) -> Response:
    return problem(error.status, error.title, error.detail, error.slug, error.field, error.headers)


def _invalid_article(error: InvalidArticle) -> Response:
    return _api_error(InvalidField(error.detail, field=error.field))


def _http_exception(error: HTTPException) -> Response:
    if error.code == 413:
        return problem(413, PayloadTooLarge.title, "The request body exceeds this endpoint's limit.",
                       PayloadTooLarge.slug)
    headers = {}
    if error.code == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return problem(error.code or 500, error.name, error.description or error.name, headers=headers)


def _unexpected(error: Exception) -> Response:
    # Never a stack trace in the response; the log has it.
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "Internal server error", "The server failed to process the request; see its log.",
                   "internal-error")


def init_app(app: Flask) -> None:
    """Render every error, Flask's own included, as a problem+json body."""
    app.register_error_handler(APIError, _api_error)
    app.register_error_handler(InvalidArticle, _invalid_article)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(Exception, _unexpected)
