"""Admin endpoints: reload the published model now, or roll back to the previous version.

Registered only when an API key with the ``admin`` scope is configured.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app

from runtime import bundle
from service.errors import Conflict, NotReady

bp = Blueprint("admin", __name__, url_prefix="/v1/model")


@bp.post("/reload")
def reload():
    """Load the published bundle now instead of at the next check."""
    holder = current_app.extensions["topics"]
    before = holder.model.version if holder.model else None
    try:
        changed = holder.reload()
    except bundle.BundleError as exc:
        raise NotReady(f"Reload failed; still serving {before}: {exc}") from None
    return {"changed": changed, "version": holder.model.version, "previous": before}


@bp.post("/rollback")
def rollback():
    """Point ``current`` at the previous published version and load it."""
    holder = current_app.extensions["topics"]
    root = Path(current_app.config["TOPICS_MODEL_DIR"])
    target = bundle.previous_version(root)
    if target is None:
        raise Conflict(f"There is no version older than {bundle.current_version(root)} in {root} to roll back to.")
    before = bundle.current_version(root)
    bundle.point_current(root, target)
    try:
        holder.reload()
    except bundle.BundleError as exc:
        bundle.point_current(root, before)
        raise Conflict(f"Version {target} failed verification; {before} stays current: {exc}") from None
    return {"version": holder.model.version, "previous": before}
