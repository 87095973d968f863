"""The news topic classification service: ``create_app()`` builds the Flask app."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Mapping

from flask import Flask, g, request

from service import api, config, errors, health, logs
from service.model import ModelHolder

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: configuration from defaults, then TOPICS_* variables, then ``test_config``."""
    app = Flask(__name__)
    app.config.update(config.from_environment())
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = app.config["TOPICS_MAX_BATCH_BYTES"]

    key = app.config["TOPICS_SIGNING_KEY"]
    holder = ModelHolder(app.config["TOPICS_MODEL_DIR"], key.encode() if key else None,
                         app.config["TOPICS_RELOAD_INTERVAL"])
    holder.load()
    app.extensions["topics"] = holder

    errors.init_app(app)
    logs.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.before_request(_before)
    app.after_request(_after)
    return app


def _before() -> None:
    from flask import current_app

    request.request_id = request.headers.get("X-Request-ID", "")[:200] or uuid.uuid4().hex
    # Each endpoint gets its own body limit, enforced before the body is read.
    limit = current_app.config["TOPICS_MAX_BATCH_BYTES" if request.endpoint == "api.classify_batch"
                               else "TOPICS_MAX_BODY_BYTES"]
    request.max_content_length = limit  # also stops chunked bodies while they are read
    if request.content_length is not None and request.content_length > limit:
        raise errors.PayloadTooLarge(f"The body has {request.content_length} bytes; this endpoint accepts "
                                     f"at most {limit}.")
    current_app.extensions["topics"].maybe_reload()


def _after(response):
    response.headers["X-Request-ID"] = request.request_id if hasattr(request, "request_id") else ""
    model = getattr(g, "model", None)
    if model is not None:
        response.headers["X-Model-Version"] = model.version
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/v1/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


logging.getLogger("service").addHandler(logging.NullHandler())
