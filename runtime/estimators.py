"""Estimators of this project's own that bundles pickle, so the runtime (not the trainer) must define them.

A bundle's ``model.joblib`` names each class by its module path; keeping
them here lets a serving process, or a Spark executor, load any bundle
without the training code. Bundles written before this package existed name
``training.streaming``; :mod:`runtime.model` maps that path when loading.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression, SGDClassifier

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


class ScopeGatedOneVsRest(ClassifierMixin, BaseEstimator):
    """One logistic regression per label, and one more that recognises articles about none of them.

    Real news is mostly about none of a taxonomy's topics (sport, celebrity,
    lifestyle), and a per-label model learns that only from each label's
    negatives. The gate learns it directly, from the documents that carry no
    label, and scales every label's probability by its complement:

        p(label) = sigmoid(z_label) * (1 - sigmoid(z_none))

    An article that reads like none of the topics loses its topics together;
    one that reads like a topic keeps its scores nearly as they were. Every
    part is linear in the same features, so the service's fast path
    reproduces it (``runtime/scorer.py``, link ``"scope-gated-sigmoid"``).

    The labels' models take ``class_weight``; the gate is never reweighted,
    so that it stays calibrated to how often the corpus is about none of the
    topics. On the real-news dev half a balanced gate removed more topics
    than it should (micro-F1 0.722 against 0.735 unweighted, a one-off
    comparison on the corpus of 2026-12-05, not kept in BENCHMARKS.md).
    A label (or the gate) constant in the training data gets a constant
    model, as in scikit-learn's one-vs-rest; a corpus without unlabeled
    documents gets no gate, and the probabilities are the plain one-vs-rest
    ones.
    """

    def __init__(self, C: float = 1.0, class_weight: str | None = "balanced", random_state: int = RANDOM_STATE):
        self.C = C
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X, Y) -> "ScopeGatedOneVsRest":
        Y = np.asarray(Y).astype(int)
        none = (Y.sum(axis=1) == 0).astype(int)
        self.gated_ = bool(none.any())
        targets = [(Y[:, j], self.class_weight) for j in range(Y.shape[1])] + ([(none, None)] if self.gated_ else [])
        self.estimators_ = [_fit_binary(X, y, self.C, weight, self.random_state) for y, weight in targets]
        self.classes_ = np.arange(Y.shape[1])
        return self

    def decision_function(self, X) -> np.ndarray:
        """Decision values, shaped (articles, labels + 1 when gated): the labels', then the gate's."""
        return np.column_stack([e.decision_function(X) for e in self.estimators_])

    def predict_proba(self, X) -> np.ndarray:
        z = self.decision_function(X)
        return scope_gated(z) if self.gated_ else expit(z)

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= 0.5).astype(int)


def _fit_binary(X, y: np.ndarray, C: float, class_weight, random_state: int):
    if y.min() == y.max():
        return _Constant(float(y[0]))
    return LogisticRegression(C=C, solver="liblinear", class_weight=class_weight, random_state=random_state).fit(X, y)


class _Constant:
    """The model of a target that never varied in training: probability 0 or 1 whatever the input.

    scikit-learn's own (``sklearn.multiclass._ConstantPredictor``) is private
    and may move between releases, and its decision value is the constant
    0 or 1 itself. ``scope_gated`` needs a decision value whose sigmoid is
    exactly 0 or 1, so this one answers -inf or +inf.
    """

    def __init__(self, value: float):
        self.value = value

    def decision_function(self, X) -> np.ndarray:
        return np.full(X.shape[0], np.inf if self.value else -np.inf)


def scope_gated(z: np.ndarray) -> np.ndarray:
    """Label probabilities from decision values whose last column is the none-of-these gate's."""
    return expit(z[:, :-1]) * (1.0 - expit(z[:, -1:]))
