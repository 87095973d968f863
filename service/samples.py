"""The opt-in sample store: a share of classified articles, text included, kept for drift reports and labeling.

Off unless ``TOPICS_SAMPLE_DIR`` is set: by default no article text is ever
written anywhere. When on, each classified article is kept with probability
``TOPICS_SAMPLE_SHARE`` as one JSON line in ``samples-YYYYMMDD.jsonl`` (the
UTC day it was classified)::

    {"id", "title", "text", "at", "model", "topics": [labels], "scores": {label: score}}

``topics`` and ``scores`` are the model's own (tuned thresholds, every
label), whatever the request asked for; an article in a language the model
cannot read also has ``"language_supported": false``. ``python -m
training.drift --recent DIR`` and the labeling queue read these files.

Limits, checked on every write: files last written more than
``TOPICS_SAMPLE_RETENTION_DAYS`` ago are deleted; when the folder would
exceed ``TOPICS_SAMPLE_MAX_BYTES``, the oldest day files are deleted first,
and when today's file alone fills the cap, new samples are dropped (counted
in ``topics_samples_dropped_total``) until the next day. Lines are appended
with :func:`service.feedback.append_line`, so several workers can write to
one file.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
from flask import Flask
from prometheus_client import Counter

from runtime.labeling import SAMPLE_PREFIX, SAMPLE_SUFFIX
from service.errors import InsufficientStorage
from service.feedback import append_line

log = logging.getLogger("service")
STORED = Counter("topics_samples_stored_total", "Classified articles kept in the sample store.")
DROPPED = Counter("topics_samples_dropped_total", "Samples dropped: today's file filled the store's cap, or a "
                  "write failed (logged).")


class SampleStore:
    """Keep a random share of classified articles in day files under a size cap and a retention period."""

    def __init__(self, folder: Path | str, share: float, max_bytes: int, retention_days: float,
                 clock: Callable[[], float] = time.time, draw: Callable[[], float] = random.random):
        if not 0 <= share <= 1:
            raise ValueError(f"TOPICS_SAMPLE_SHARE={share}: expected a share from 0 to 1")
        if max_bytes <= 0 or retention_days <= 0:
            raise ValueError("TOPICS_SAMPLE_MAX_BYTES and TOPICS_SAMPLE_RETENTION_DAYS must be positive")
        self.folder, self.share, self.max_bytes = Path(folder), share, max_bytes
        self.retention_seconds = retention_days * 86400
        self.clock, self.draw = clock, draw

    @classmethod
    def from_config(cls, config: Mapping) -> "SampleStore | None":
        """The store the configuration asks for, or None when ``TOPICS_SAMPLE_DIR`` is empty."""
        folder = config["TOPICS_SAMPLE_DIR"]
        if not folder:
            return None
        return cls(folder, float(config["TOPICS_SAMPLE_SHARE"]), int(config["TOPICS_SAMPLE_MAX_BYTES"]),
                   float(config["TOPICS_SAMPLE_RETENTION_DAYS"]))

    def offer(self, model, articles: list, P: np.ndarray, readable: list[bool]) -> int:
        """Keep each article with probability ``share``; return how many were kept.

        A sample is optional: a write that fails (a full or read-only disk, text the file cannot hold)
        is logged and counted as dropped, and the request it came from is answered as usual.
        """
        kept = 0
        for i, article in enumerate(articles):
            if self.draw() >= self.share:
                continue
            try:
                kept += self.store(self.record(model, article, P[i], readable[i]))
            except Exception:
                DROPPED.inc()
                log.exception("the sample store could not keep an article; the answer is not affected")
        return kept

    def record(self, model, article, scores: np.ndarray, readable: bool = True) -> dict:
        """The line kept for one article."""
        values = scores.tolist()
        record = {
            "id": article.id if article.id is not None else uuid.uuid4().hex,
            "title": article.title or "",
            "text": article.text,
            "at": datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(timespec="seconds"),
            "model": model.version,
            "topics": [t.label for t in model.topics(scores)],
            "scores": {label: round(v, 6) for label, v in zip(model.labels, values)},
        }
        if not readable:
            record["language_supported"] = False
        return record

    def store(self, record: dict) -> bool:
        """Append one record to today's file within the cap; return False when it was dropped."""
        now = self.clock()
        today = f"{SAMPLE_PREFIX}{datetime.fromtimestamp(now, timezone.utc):%Y%m%d}{SAMPLE_SUFFIX}"
        older = self._tidy(now, today)
        while True:
            try:
                append_line(self.folder / today, record, self.max_bytes - sum(size for _, size in older),
                            sync=False)
            except InsufficientStorage:
                if not older:
                    DROPPED.inc()
                    return False
                (self.folder / older.pop(0)[0]).unlink(missing_ok=True)  # oldest day first
                continue
            STORED.inc()
            return True

    def _tidy(self, now: float, today: str) -> list[tuple[str, int]]:
        """Delete files past retention; return the other day files left, oldest first, with their sizes."""
        older = []
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        for entry in entries:
            if not (entry.name.startswith(SAMPLE_PREFIX) and entry.name.endswith(SAMPLE_SUFFIX)) or not entry.is_file():
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:  # another worker deleted it just now
                continue
            if now - stat.st_mtime > self.retention_seconds:
                Path(entry.path).unlink(missing_ok=True)
            elif entry.name != today:
                older.append((entry.name, stat.st_size))
        return sorted(older)


def init_app(app: Flask) -> None:
    """Open the sample store when ``TOPICS_SAMPLE_DIR`` is set (service.drift.observe offers it each request)."""
    app.extensions["samples"] = SampleStore.from_config(app.config)
