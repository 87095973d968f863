"""GET /v1/queue: the labeling queue over HTTP, for the demo page's review view and for scripts.

It needs the ``review`` scope (or ``admin``) when keys are configured: the
queue hands out stored article text, which a ``classify`` key (given to the
applications that send articles) must not read. Without keys it reads only
the operator's own queue file, never the sample store of other clients' text. The ranking is
``runtime.labeling``'s; here the sources come from the configuration, the
page from the query string, and the candidate from the model holder, when
it has one.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, request

from runtime import labeling
from service.api import current_model
from service.errors import Forbidden, InvalidField, NotReady
from service.feedback import FEEDBACK_FILE

bp = Blueprint("review", __name__, url_prefix="/v1")
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 20, 100, 100_000


def _bounded(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidField(f"'{name}' must be an integer from {low} to {high}, not {raw!r}.", field=name) from None
    if not low <= value <= high:
        raise InvalidField(f"'{name}' must be from {low} to {high}, not {value}.", field=name)
    return value


def _sources() -> list[Path]:
    """The queue file first (the user chose it), then the sample store's files, newest first."""
    config = current_app.config
    paths = []
    if config["TOPICS_QUEUE_FILE"]:
        path = Path(config["TOPICS_QUEUE_FILE"])
        if not path.is_file():
            raise NotReady(f"The queue file {path} (TOPICS_QUEUE_FILE) does not exist or is not a file.")
        paths.append(path)
    if config["TOPICS_SAMPLE_DIR"]:
        if not current_app.extensions["topics.keys"]:
            # The store holds the text other clients sent; without keys anyone could read it here.
            raise Forbidden("The sample store holds articles other clients sent: the queue reads it only when API "
                            "keys are configured, for a key with the review (or admin) scope.")
        paths += labeling.sample_files(Path(config["TOPICS_SAMPLE_DIR"]))
    elif not paths:
        raise NotReady("The labeling queue has no source: set TOPICS_QUEUE_FILE or TOPICS_SAMPLE_DIR.")
    return paths


@bp.get("/queue")
def queue():
    """Propose the articles whose labels would teach the model most, with the reasons, a page at a time."""
    limit = _bounded("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _bounded("offset", 0, 0, MAX_OFFSET)
    paths = _sources()
    model = current_model()
    feedback_dir = current_app.config["TOPICS_FEEDBACK_DIR"]
    reviewed = labeling.reviewed_keys(Path(feedback_dir) / FEEDBACK_FILE) if feedback_dir else set()
    try:
        pool = labeling.read_pool(paths, current_app.config["TOPICS_QUEUE_MAX_ARTICLES"], reviewed)
    except OSError as exc:
        raise NotReady(f"The labeling queue's source cannot be read: {exc.strerror or exc}.") from None
    candidate = current_app.extensions["topics"].candidate  # verified, or None (service/holder.py)
    items = labeling.rank(model, pool.articles, candidate)
    return {
        "items": items[offset:offset + limit],
        "total": len(items),
        "offset": offset,
        "limit": limit,
        "read": pool.counts(),
        "model": {"version": model.version},
        "candidate": {"version": candidate.version} if candidate is not None else None,
    }
