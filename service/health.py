"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, current_app

from service.errors import NotReady

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive and answering."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """A model is loaded and its smoke prediction succeeded."""
    holder = current_app.extensions["topics"]
    if not holder.ready:
        detail = "No model is loaded."
        if holder.last_error:
            detail += f" Last attempt failed: {holder.last_error['error']}"
        raise NotReady(detail, headers={"Retry-After": "5"})
    return {"status": "ready", "model": {"version": holder.model.version}}
