"""The news topic classification service: ``create_app()`` builds the Flask app."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Mapping

from flask import Flask, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from service import admin, api, auth, config, drift, errors, feedback, health, logs, metrics, openapi, review, \
    samples, shadow, web
from service.jsonio import OrjsonProvider
from service.holder import ModelHolder

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}
# The headers every response gets unless its view set them, as (lowercase name, name, value);
# API answers must not be cached either.
_DEFAULT_HEADERS = [(name.lower(), name, value) for name, value in SECURITY_HEADERS.items()]
_API_DEFAULT_HEADERS = _DEFAULT_HEADERS + [("cache-control", "Cache-Control", "no-store")]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: configuration from defaults, then TOPICS_* variables, then ``test_config``."""
    app = Flask(__name__)
    app.config.update(config.from_environment())
    if test_config:
        app.config.update(test_config)
    app.json = OrjsonProvider(app)
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = app.config["TOPICS_MAX_BATCH_BYTES"]

    key = app.config["TOPICS_SIGNING_KEY"]
    # With shadow scoring on, the candidate is loaded from the start (in the master, shared with the workers).
    holder = ModelHolder(app.config["TOPICS_MODEL_DIR"], key.encode() if key else None,
                         app.config["TOPICS_RELOAD_INTERVAL"], follow_candidate=shadow.sample_share(app.config) > 0)
    holder.load()
    app.extensions["topics"] = holder

    # Order matters: request id and body limits first, then logging and
    # metrics, then authentication, then the reload check.
    errors.init_app(app)
    app.before_request(_identify_and_limit)
    logs.init_app(app)
    metrics.init_app(app)
    drift.init_app(app)
    samples.init_app(app)
    auth.init_app(app)
    app.before_request(_maybe_reload)
    app.after_request(_headers)

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(feedback.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(shadow.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(web.bp)
    if auth.has_admin_key(app):
        app.register_blueprint(admin.bp)
    hops = app.config["TOPICS_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app


def _identify_and_limit() -> None:
    request.request_id = request.headers.get("X-Request-ID", "")[:200] or uuid.uuid4().hex
    # Each endpoint gets its own body limit, enforced before the body is read.
    limit = current_app.config["TOPICS_MAX_BATCH_BYTES" if request.endpoint == "api.classify_batch"
                               else "TOPICS_MAX_BODY_BYTES"]
    request.max_content_length = limit  # also stops chunked bodies while they are read
    if request.content_length is not None and request.content_length > limit:
        raise errors.PayloadTooLarge(f"The body has {request.content_length} bytes; this endpoint accepts "
                                     f"at most {limit}.")


def _maybe_reload() -> None:
    current_app.extensions["topics"].maybe_reload()


def _headers(response):
    headers = response.headers
    headers["X-Request-ID"] = getattr(request, "request_id", "")
    model = g.get("model")
    if model is not None:
        headers["X-Model-Version"] = model.version
    # What headers.setdefault does for each default, with one look at the
    # present names instead of two scans of all headers per default.
    present = {name.lower() for name in headers.keys()}
    for lower, name, value in _API_DEFAULT_HEADERS if request.path.startswith("/v1/") else _DEFAULT_HEADERS:
        if lower not in present:
            headers.add(name, value)
    return response


logging.getLogger("service").addHandler(logging.NullHandler())
