"""The reference a bundle carries for drift reports, and how articles are summarised into the same shape.

Training summarises the held-out documents, scored by the model fitted
without them, into ``reference.json`` in the bundle (``write_manifest``
checksums it like every bundle file). ``python -m training.drift``
summarises recent articles the same way and compares the two; the service's
rolling-window metrics bin scores with :data:`SCORE_BOUNDS`, so a dashboard
and the report speak of the same histogram.

A topic is *predicted* when its score reaches the model's tuned threshold,
whatever threshold or ``top_k`` a request asked for: the figures describe the
model, not one client's options.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

REFERENCE_FILE = "reference.json"
REFERENCE_FORMAT = 1
# Upper bounds of 10 equal score bins on [0, 1]; a score equal to a bound falls in that bound's bin,
# as in a Prometheus histogram's "le" buckets.
SCORE_BOUNDS = tuple(round(0.1 * i, 1) for i in range(1, 11))
# Upper bounds of article-length bins in characters (title and text), doubling from 64; the last bin is open.
LENGTH_BOUNDS = tuple(2 ** k for k in range(6, 17))
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def score_bins(P: np.ndarray) -> np.ndarray:
    """Return, per label, the count of articles in each score bin, shaped (labels, 10)."""
    P = np.asarray(P, dtype=float)
    labels = P.shape[1] if P.ndim == 2 else 0
    if not P.size:
        return np.zeros((labels, len(SCORE_BOUNDS)), dtype=np.int64)
    index = np.minimum(np.searchsorted(SCORE_BOUNDS, np.clip(P, 0.0, 1.0), side="left"), len(SCORE_BOUNDS) - 1)
    flat = index + np.arange(labels) * len(SCORE_BOUNDS)
    return np.bincount(flat.ravel(), minlength=labels * len(SCORE_BOUNDS)).reshape(labels, len(SCORE_BOUNDS))


def length_bins(lengths: Sequence[int]) -> np.ndarray:
    """Return the count of articles in each length bin (``len(LENGTH_BOUNDS) + 1`` bins, the last open)."""
    index = np.searchsorted(LENGTH_BOUNDS, np.asarray(lengths, dtype=float), side="left")
    return np.bincount(index, minlength=len(LENGTH_BOUNDS) + 1)


def article_length(title: str | None, text: str) -> int:
    """Characters of an article as the service's length metric counts them: title and text."""
    return len(text) + len(title or "")


def summarise(P: np.ndarray, thresholds: Sequence[float], labels: Sequence[str], lengths: Sequence[int],
              unknown: Sequence[float] | None, source: str, unknown_basis: str = "") -> dict:
    """Summarise scored articles: predicted shares, score and length histograms, unknown-term share.

    ``P`` holds each article's scores (articles, labels); ``unknown`` each
    article's unknown-word share (None or NaN where the model has no word
    vocabulary). ``source`` says which articles these are, in words.
    """
    P = np.asarray(P, dtype=float).reshape(-1, len(labels))
    n = len(P)
    predicted = P >= np.asarray(thresholds, dtype=float)
    shares = predicted.mean(axis=0) if n else np.zeros(len(labels))
    counts = score_bins(P)
    lengths = np.asarray(lengths, dtype=float)
    values = np.asarray(unknown if unknown is not None else [], dtype=float)
    values = values[~np.isnan(values)]
    return {
        "format": REFERENCE_FORMAT,
        "source": source,
        "documents": n,
        "labels": list(labels),
        "predicted_share": {label: round(float(s), 6) for label, s in zip(labels, shares)},
        "no_topic_share": round(float((~predicted.any(axis=1)).mean()), 6) if n else 0.0,
        "score_bounds": list(SCORE_BOUNDS),
        "score_counts": {label: counts[j].tolist() for j, label in enumerate(labels)},
        "length_bounds": list(LENGTH_BOUNDS),
        "length_counts": length_bins(lengths).tolist(),
        "length_quantiles": {f"p{round(q * 100)}": int(np.quantile(lengths, q)) if n else 0 for q in QUANTILES},
        "unknown_share": round(float(values.mean()), 6) if values.size else None,
        "unknown_basis": unknown_basis,
    }


def write_reference(folder: Path, reference: dict) -> None:
    """Write ``reference.json`` into a bundle folder being assembled (before its manifest)."""
    (Path(folder) / REFERENCE_FILE).write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")


def read_reference(folder: Path | str, manifest: dict) -> dict | None:
    """Return the reference of a loaded bundle, or None for a bundle made before references existed.

    Only a file the manifest lists (and the loader therefore verified) is
    read.
    """
    if REFERENCE_FILE not in manifest.get("files", {}):
        return None
    reference = json.loads((Path(folder) / REFERENCE_FILE).read_text(encoding="utf-8"))
    if reference.get("format") != REFERENCE_FORMAT:
        return None
    return reference
