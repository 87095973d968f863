"""Structured logs: one JSON object per line on stdout (python-json-logger), and one line per request.

The lines are encoded with orjson (python-json-logger's OrjsonFormatter), the
encoder the service already uses for its answers (service/jsonio.py), since
every request writes one. The lines are compact JSON, non-ASCII text as UTF-8.
"""

from __future__ import annotations

import logging
import sys
import time

from flask import Flask, current_app, g, request
from pythonjsonlogger.orjson import OrjsonFormatter

log = logging.getLogger("service.request")


def formatter() -> OrjsonFormatter:
    """The one JSON line format: time, level, logger, pid, message, then the record's extra fields."""
    return OrjsonFormatter("{levelname}{name}{process}{message}", style="{", timestamp="time",
                           rename_fields={"levelname": "level", "name": "logger", "process": "pid"})


def configure(level: str = "INFO") -> None:
    """Send the service's logs to stdout as JSON lines (called by gunicorn.conf.py and the dev server)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter())
    logger = logging.getLogger("service")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _start() -> None:
    g.started = time.perf_counter()


def _finish(response):
    if not log.isEnabledFor(logging.INFO):  # e.g. TOPICS_LOG_LEVEL=warning: build no line nobody reads
        return response
    duration = time.perf_counter() - g.get("started", time.perf_counter())
    model = g.get("model")
    fields = {
        "request_id": getattr(request, "request_id", None),
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(duration * 1000, 3),
        "model_version": model.version if model is not None else None,
        "articles": g.get("articles", 0),
        "bytes_in": request.content_length or 0,
        "remote_addr": request.remote_addr,
    }
    body = g.get("body")  # only a body the view read: never read one just to log it
    if current_app.config["TOPICS_LOG_TEXT"] and body is not None and request.path.startswith("/v1/classify"):
        fields["body"] = body[:40_000].decode("utf-8", "replace")[:10_000]
    log.info("%s %s %s", request.method, request.path, response.status_code, extra=fields)
    return response


def init_app(app: Flask) -> None:
    """Log one JSON line per request."""
    app.before_request(_start)
    app.after_request(_finish)
