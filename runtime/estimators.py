"""Estimators of this project's own that bundles pickle, so the runtime (not the trainer) must define them.

A bundle's ``model.joblib`` names each class by its module path; keeping
them here lets a serving process, or a Spark executor, load any bundle
without the training code. Bundles written before this package existed name
``training.streaming``; :mod:`runtime.model` maps that path when loading.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import SGDClassifier

RANDOM_STATE = 0


class IncrementalOneVsRest(ClassifierMixin, BaseEstimator):
    """One binary ``SGDClassifier`` per label, trained with ``partial_fit`` on a label indicator matrix.

    scikit-learn's ``OneVsRestClassifier.partial_fit`` does not take
    multi-label targets; this does, and gives each label its own class
    weights. ``predict_proba`` returns one independent probability per
    label, as the in-memory one-vs-rest model does.
    """

    def __init__(self, n_labels: int, alpha: float = 1e-5,
                 class_weights: tuple[tuple[float, float], ...] | None = None, random_state: int = RANDOM_STATE):
        self.n_labels = n_labels
        self.alpha = alpha
        self.class_weights = class_weights
        self.random_state = random_state

    def fit(self, X, Y) -> "IncrementalOneVsRest":
        """One pass over (X, Y) from scratch; the trainer calls ``partial_fit`` batch by batch."""
        if hasattr(self, "estimators_"):
            del self.estimators_
        return self.partial_fit(X, Y)

    def partial_fit(self, X, Y) -> "IncrementalOneVsRest":
        if not hasattr(self, "estimators_"):
            weights = self.class_weights or ((1.0, 1.0),) * self.n_labels
            self.estimators_ = [
                SGDClassifier(loss="log_loss", alpha=self.alpha, class_weight={0: w0, 1: w1},
                              random_state=self.random_state)
                for w0, w1 in weights
            ]
            self.classes_ = np.arange(self.n_labels)
        for j, estimator in enumerate(self.estimators_):
            estimator.partial_fit(X, Y[:, j], classes=[0, 1])
        return self

    def sparsify(self) -> "IncrementalOneVsRest":
        for estimator in self.estimators_:
            estimator.sparsify()
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.column_stack([e.decision_function(X) for e in self.estimators_])

    def predict_proba(self, X) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)
