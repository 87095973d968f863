"""Tune one decision threshold per label on out-of-fold probabilities."""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5
CANDIDATES = np.round(np.linspace(0.05, 0.95, 91), 2)


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    tp = np.sum(truth & predicted)
    denominator = np.sum(truth) + np.sum(predicted)
    return 0.0 if denominator == 0 else 2.0 * tp / denominator


def tune_thresholds(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Return, per label, the threshold that maximizes F1 on ``(Y, P)``.

    ``Y`` is the 0/1 truth matrix and ``P`` the out-of-fold probabilities,
    both shaped (documents, labels). Among equally good thresholds the
    middle one is kept, which is less sensitive to the exact folds than the
    first or last. A label without positive examples keeps 0.5.
    """
    Y = Y.astype(bool)
    thresholds = np.full(Y.shape[1], DEFAULT_THRESHOLD)
    for j in range(Y.shape[1]):
        if not Y[:, j].any():
            continue
        scores = np.array([_f1(Y[:, j], P[:, j] >= t) for t in CANDIDATES])
        best = np.flatnonzero(np.isclose(scores, scores.max()))
        thresholds[j] = CANDIDATES[best[len(best) // 2]]
    return thresholds
