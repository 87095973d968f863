"""Collect corrected labels from users: POST /v1/feedback appends them to a JSON Lines file.

The file is a training corpus: ``python -m training --data seeds/ feedback/``
folds the corrections into the next model. A correction that gives only an
``id`` relabels the document with that id in the other sources.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from flask import Blueprint, current_app

from runtime.articles import check_known, json_type, parse_article
from service import metrics
from service.api import current_model
from service.errors import InsufficientStorage, InvalidField, NotReady
from service.requests import json_object

bp = Blueprint("feedback", __name__, url_prefix="/v1")
FEEDBACK_FILE = "feedback.jsonl"


def append_line(path: Path, record: dict, max_bytes: int, sync: bool = True) -> int:
    """Append one JSON line atomically; return the file's new size.

    An exclusive lock serializes writers across worker processes; the line is
    written with a single ``write`` on an ``O_APPEND`` descriptor and synced
    (unless ``sync`` is False: the sample store trades durability for speed).
    A line left incomplete by a writer that died mid-write is cut off first,
    so the file always holds whole lines.
    """
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            _drop_partial_line(fd, size)
            size = os.fstat(fd).st_size
        if size + len(data) > max_bytes:
            raise InsufficientStorage(f"The feedback file has reached its cap of {max_bytes} bytes; "
                                      "retrain and archive it, or raise TOPICS_FEEDBACK_MAX_BYTES.")
        os.write(fd, data)
        if sync:
            os.fsync(fd)
        return size + len(data)
    finally:
        os.close(fd)


def _drop_partial_line(fd: int, size: int) -> None:
    """Truncate the file after its last newline, if it does not end with one."""
    if os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:
        start = max(0, end - (1 << 16))
        cut = os.pread(fd, end - start, start).rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, start + cut + 1)
            return
        end = start
    os.ftruncate(fd, 0)


@bp.post("/feedback")
def feedback():
    """Record the labels an article should have had."""
    directory = current_app.config["TOPICS_FEEDBACK_DIR"]
    if not directory:
        raise NotReady("Feedback is not enabled on this server (set TOPICS_FEEDBACK_DIR).")
    body = json_object()
    check_known(body, {"id", "text", "title", "labels"})
    labels = body.get("labels")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise InvalidField(f"'labels' must be an array of strings, not {json_type(labels)}.", field="labels")
    known = current_model().labels
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise InvalidField(f"Unknown labels {unknown}; the model's labels are {known}.", field="labels")
    record: dict = {"labels": sorted(set(labels), key=labels.index)}
    if "text" in body:
        article = parse_article(body)
        for field, value in (("text", article.text), ("title", article.title or "")):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate: valid JSON, but no file can hold it as UTF-8
                raise InvalidField(f"'{field}' holds a lone surrogate (character {exc.start}), which cannot be "
                                   "stored as UTF-8.", field=field) from None
        record.update(text=article.text, title=article.title or "", id=article.id, correction=True)
    elif isinstance(body.get("id"), (str, int)) and not isinstance(body.get("id"), bool) and str(body["id"]).strip():
        record.update(id=body["id"], correction=True)
    else:
        raise InvalidField("Send the article's 'text' (and optional 'title'), or the 'id' of an article in "
                           "your training data.", field="text")
    record["received_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["model_version"] = current_model().version
    record = {k: v for k, v in record.items() if v is not None}
    append_line(Path(directory) / FEEDBACK_FILE, record, current_app.config["TOPICS_FEEDBACK_MAX_BYTES"])
    metrics.FEEDBACK.inc()
    return {"status": "recorded", "labels": record["labels"], "id": record.get("id")}, 201
