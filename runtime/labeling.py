"""The labeling queue: rank articles by how much a person's labels would teach the model.

Articles come from JSON Lines files: the sample store's ``samples-YYYYMMDD.jsonl``
(newest first) or a file the user supplies; each line needs a ``text`` and may
have a ``title`` and an ``id``, and other fields are ignored. A line that is
not such an object is skipped and counted, never fatal. Articles are
deduplicated by text (ids are the clients' own and may repeat), and those
already in the feedback file (same text, or the id of a correction sent by
id alone) are left out, so an article a person reviewed does not come back.

Three signals rank them, each reported with every item:

- **uncertainty**: some label's score sits near its tuned threshold, so a
  small change of wording flips that topic; strength ``1 - margin / UNCERTAIN_MARGIN``
  where the margin is the smallest ``|score - threshold|`` over the labels;
- **disagreement**: the candidate model (when one is loaded) gives another set
  of topics than the current model; strength 1;
- **drift**: the article is unlike the training data: many words the model's
  vocabulary lacks (:meth:`TopicModel.unknown_share`), or an extreme length.

The priority is the sum of the three strengths (0 to 3); ties go to the
smaller margin. This module knows nothing of HTTP: ``service/review.py``
serves it as ``GET /v1/queue``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from runtime.model import TopicModel

SAMPLE_PREFIX, SAMPLE_SUFFIX = "samples-", ".jsonl"  # the sample store's day files (service/samples.py)
SAMPLE_PATTERN = f"{SAMPLE_PREFIX}*{SAMPLE_SUFFIX}"
UNCERTAIN_MARGIN = 0.25  # a score this far from its threshold, or farther, is not uncertain at all
UNKNOWN_FLOOR = 0.3  # a share of unknown words up to this is ordinary news; above, it counts as drift
MIN_WORDS, MAX_WORDS = 3, 5000  # fewer or more words than this is an extreme length
MAX_LINE_BYTES = 64_000_000  # a longer line is counted as bad, not parsed (a sampled batch article fits)
_WORD = re.compile(r"\w+")


@dataclass
class Pool:
    """The articles read for the queue, and what was left out on the way."""

    articles: list[dict] = field(default_factory=list)  # {"id", "title", "text"}
    files: int = 0
    bad_lines: int = 0
    duplicates: int = 0
    reviewed: int = 0
    capped: bool = False  # more articles were there than the cap allowed to read

    def counts(self) -> dict:
        """The pool's counts, for the answer."""
        return {"files": self.files, "articles": len(self.articles), "bad_lines": self.bad_lines,
                "duplicates": self.duplicates, "reviewed": self.reviewed, "capped": self.capped}


def sample_files(folder: Path) -> list[Path]:
    """The sample store's files, newest first (their names sort by date)."""
    return sorted(folder.glob(SAMPLE_PATTERN), reverse=True) if folder.is_dir() else []


def _text_key(text: str) -> tuple[str, str]:
    # surrogatepass: a lone surrogate is valid JSON and must not stop the queue
    return "text", hashlib.sha256(" ".join(text.split()).encode("utf-8", "surrogatepass")).hexdigest()


def _id_key(doc_id) -> tuple[str, str]:
    return "id", json.dumps(doc_id)  # 1 and "1" are different ids


def keys_of(record: dict) -> set[tuple[str, str]]:
    """The keys a feedback record marks as reviewed: its text, or its id when it names a document by id alone.

    Ids are the clients' own and need not be unique (two clients may both send id 1), so an article is
    one article by its text; an id counts only for a correction that relabels a document by id.
    """
    if isinstance(record.get("text"), str):
        return {_text_key(record["text"])}
    doc_id = record.get("id")
    return {_id_key(doc_id)} if isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool) else set()


def _lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        yield from fh


def _article(line: bytes) -> dict | None:
    """One line as an article, or None when it is not an object with a non-empty string ``text``."""
    if len(line) > MAX_LINE_BYTES:
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, nesting too deep
        return None
    if not isinstance(record, dict):
        return None
    text, title, doc_id = record.get("text"), record.get("title"), record.get("id")
    if not isinstance(text, str) or not text.strip():
        return None
    if title is not None and not isinstance(title, str):
        return None
    if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, (str, int))):
        return None
    return {"id": doc_id, "title": title or None, "text": text}


def read_pool(paths: Iterable[Path], limit: int, reviewed: set[tuple[str, str]] | None = None) -> Pool:
    """Read up to ``limit`` distinct, unreviewed articles from JSONL ``paths``, in order."""
    pool = Pool()
    seen: set[tuple[str, str]] = set()
    reviewed = reviewed or set()
    for path in paths:
        pool.files += 1
        for line in _lines(path):
            if not line.strip():
                continue
            article = _article(line)
            if article is None:
                pool.bad_lines += 1
                continue
            text_key = _text_key(article["text"])
            if text_key in reviewed or (article["id"] is not None and _id_key(article["id"]) in reviewed):
                pool.reviewed += 1
            elif text_key in seen:
                pool.duplicates += 1
            elif len(pool.articles) >= limit:
                pool.capped = True
                return pool
            else:
                pool.articles.append(article)
            seen.add(text_key)
    return pool


def reviewed_keys(feedback_file: Path) -> set[tuple[str, str]]:
    """The keys of every article already in the feedback file (bad lines there are ignored)."""
    keys: set[tuple[str, str]] = set()
    if not feedback_file.is_file():
        return keys
    for line in _lines(feedback_file):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            keys |= keys_of(record)
    return keys


def _words(article: dict) -> int:
    return len(_WORD.findall(article["text"]))


def rank(model: TopicModel, articles: list[dict], candidate: TopicModel | None = None) -> list[dict]:
    """Score ``articles`` and return them as queue items, the most instructive first."""
    if not articles:
        return []
    texts = [a["text"] for a in articles]
    titles = [a["title"] for a in articles]
    P, coverage = model.score(texts, titles)
    distance = np.abs(P - model.thresholds[None, :])
    nearest = distance.argmin(axis=1)
    margin = distance.min(axis=1)
    uncertainty = np.clip(1.0 - margin / UNCERTAIN_MARGIN, 0.0, 1.0)
    unknown = model.unknown_share(texts, titles, coverage)  # from the same pass, not a second scoring
    others = None
    if candidate is not None and candidate.version != model.version:
        others = candidate.predict_proba(texts, titles)
    items = []
    for i, article in enumerate(articles):
        answer = model.answer(P[i])
        topics = [t["label"] for t in answer["topics"]]
        j = int(nearest[i])
        signals = {"margin": round(float(margin[i]), 4), "nearest_label": model.labels[j],
                   "uncertainty": round(float(uncertainty[i]), 4)}
        reasons = []
        if uncertainty[i] > 0:
            reasons.append(f"'{model.labels[j]}' scored {P[i, j]:.2f}, {margin[i]:.2f} from its threshold "
                           f"{model.thresholds[j]:.2f}")
        disagreement = 0.0
        if others is not None:
            theirs = [t["label"] for t in candidate.answer(others[i])["topics"]]
            disagreement = float(set(theirs) != set(topics))
            signals["candidate_topics"] = theirs
            if disagreement:
                reasons.append(f"the candidate model says {', '.join(theirs) or 'no topic'}; the current one "
                               f"{', '.join(topics) or 'no topic'}")
        signals["disagreement"] = disagreement
        drift, words = 0.0, _words(article)
        share = None if np.isnan(unknown[i]) else round(float(unknown[i]), 4)
        if share is not None and share > UNKNOWN_FLOOR:
            drift = (share - UNKNOWN_FLOOR) / (1 - UNKNOWN_FLOOR)
            reasons.append(f"{share:.0%} of its words are new to the model")
        if words < MIN_WORDS or words > MAX_WORDS:
            drift = 1.0
            reasons.append(f"{words} words: unusually {'short' if words < MIN_WORDS else 'long'}")
        signals.update(unknown_share=share, words=words, drift=round(drift, 4))
        priority = float(uncertainty[i]) + disagreement + drift
        items.append({"id": article["id"], "title": article["title"], "text": article["text"],
                      "priority": round(priority, 4), "topics": answer["topics"], "scores": answer["scores"],
                      "signals": signals, "reasons": reasons or ["the model is confident: no signal"]})
    order = sorted(range(len(items)), key=lambda k: (-items[k]["priority"], margin[k], k))
    return [items[k] for k in order]
