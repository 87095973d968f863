"""Admin endpoints: reload the published model, gate a candidate into it, refuse it, or roll back.

Registered only when an API key with the ``admin`` scope is configured. The
gate's decision is ``runtime.gate``'s, the same as ``python -m training.promote``;
each promotion, refusal and rollback is appended to ``audit.jsonl`` with the key's name.
A promotion can require shadow evidence (``min_shadow_agreement``,
``min_shadow_samples``); the gate then reads this service's live shadow figures.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, request

from runtime import bundle, gate
from service import shadow
from service.errors import Conflict, InvalidField, NotReady

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
    gate.audit(root, "rollback", _who(), current=before, restored=target)
    return {"version": holder.model.version, "previous": before}


def _who() -> str:
    return f"api-key:{getattr(request, 'api_key_name', 'unknown')}"


def _options() -> dict:
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise InvalidField("The body must be a JSON object.")
    options = {}
    if "force" in body:
        if not isinstance(body["force"], bool):
            raise InvalidField("'force' must be true or false.", field="force")
        options["force"] = body["force"]
    for name in ("micro_margin", "topic_margin", "min_shadow_agreement"):
        if name in body:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InvalidField(f"'{name}' must be a number from 0 to 1.", field=name)
            options[name] = float(value)
    if "min_shadow_samples" in body:
        value = body["min_shadow_samples"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidField("'min_shadow_samples' must be a whole number from 0.", field="min_shadow_samples")
        options["min_shadow_samples"] = value
    return options


@bp.post("/promote")
def promote():
    """Compare the candidate with current; promote it if it passes (or ``force``); answer with the figures."""
    holder = current_app.extensions["topics"]
    root = Path(current_app.config["TOPICS_MODEL_DIR"])
    golden = current_app.config["TOPICS_GOLDEN_FILE"] or None
    options = _options()
    candidate = bundle.candidate_version(root)
    if candidate is not None:  # this service's live figures, over every worker
        options["shadow"] = {"version": candidate, **shadow.figures(candidate)}
    try:
        decision = gate.gate(root, Path(golden) if golden else None, who=_who(),
                             signing_key=current_app.config["TOPICS_SIGNING_KEY"].encode() or None, **options)
    except (bundle.BundleError, ValueError, OSError) as exc:
        raise Conflict(f"Nothing was promoted: {exc}") from None
    promoted = decision.promote or options.get("force", False)
    if promoted:
        holder.reload()
    return {"promoted": promoted, "forced": promoted and not decision.promote,
            "version": holder.model.version, **decision.to_dict()}


@bp.post("/refuse")
def refuse():
    """Drop the candidate link, audited; the bundle stays on disk until pruned."""
    root = Path(current_app.config["TOPICS_MODEL_DIR"])
    candidate = bundle.candidate_version(root)
    if candidate is None:
        raise Conflict(f"There is no candidate in {root} to refuse.")
    bundle.clear_candidate(root, refused=True)
    gate.audit(root, "refuse", _who(), candidate=candidate, reasons=["refused by operator"])
    return {"refused": candidate}
