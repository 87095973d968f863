"""The one loader for model bundles, and the model object everything predicts with.

The service, the offline batch, ``training.evaluate`` and the benchmarks all load bundles through
:meth:`TopicModel.load`, which verifies every checksum (and the signature,
when a key is set) before anything is unpickled.
"""

from __future__ import annotations

import gc
import platform
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import joblib
import numpy as np
import scipy
import scipy.sparse
import sklearn
from sklearn.base import clone
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import FeatureUnion

from runtime import legacy
from runtime.articles import compose_text
from runtime.bundle import MODEL_FILE, BundleError, check_compatible, read_manifest
from runtime.card import read_card
from runtime.scorer import DEFAULT_TOKEN_PATTERN, HashedScorer, LinearScorer, scorer_for


def library_versions() -> dict[str, str]:
    """Return the versions of the libraries a bundle depends on."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


@contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector while a model is built.

    Unpickling and indexing the vocabulary make hundreds of thousands of
    objects, none of them garbage, and each collection they trigger walks the
    whole heap: the default model loads in 0.58 s with the collector paused
    against 0.85 s without (docs/performance.md). It runs again afterwards,
    as it was, also when loading fails.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Topic:
    """One label and its probability."""

    label: str
    score: float


class TopicModel:
    """A verified, loaded bundle: labels, thresholds, probabilities and explanations."""

    def __init__(self, pipeline, manifest: dict, path: Path | None = None):
        self.pipeline = pipeline
        self.manifest = manifest
        self.path = path
        self.version: str = manifest["version"]
        self.labels: list[str] = list(manifest["labels"])
        self.thresholds = np.array([manifest["thresholds"][label] for label in self.labels], dtype=float)
        self._threshold_list: list[float] = self.thresholds.tolist()
        self.multilabel: bool = bool(manifest["multilabel"])
        self.title_weight: int = int(manifest["hyperparameters"].get("title_weight", 1))
        self.descriptions: dict[str, str] = manifest.get("descriptions", {})
        self.codes: dict[str, list[dict]] = manifest.get("codes", {})
        # Bundles from before languages were recorded were all trained on English.
        self.languages: list[str] = list(manifest.get("languages") or ["en"])
        self.scorer: LinearScorer | HashedScorer | None = scorer_for(pipeline)
        self.card: dict | None = None  # the bundle's model card; None for bundles trained before cards

    @classmethod
    def load(cls, path: Path | str, signing_key: bytes | None = None) -> "TopicModel":
        """Verify and load the bundle in ``path`` (a version folder or ``current``).

        Raises :class:`~runtime.bundle.BundleError` before unpickling when a
        checksum or signature fails or scikit-learn's minor version differs.
        """
        folder = Path(path).resolve()
        manifest = read_manifest(folder, signing_key)
        check_compatible(manifest, library_versions())
        with _collector_paused():
            try:
                pipeline = legacy.load_pickle(folder / MODEL_FILE, manifest.get("model_format"))
            except Exception as exc:  # a verified file that still fails to load is a bundle error
                raise BundleError(f"{folder / MODEL_FILE}: cannot be loaded ({exc})") from exc
            model = cls(pipeline, manifest, folder)
        model.card = read_card(folder, manifest)
        return model

    def compose(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> list[str]:
        """Join titles and texts the way the model was trained."""
        if titles is None:
            return list(texts)
        return [compose_text(title, text, self.title_weight) for title, text in zip(titles, texts)]

    def predict_proba(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        """Return the probability of every label, shaped (articles, labels)."""
        docs = self.compose(texts, titles)
        if not docs:
            return np.empty((0, len(self.labels)))
        if self.scorer is not None:
            return self.scorer.predict_proba(docs)
        return np.asarray(self.pipeline.predict_proba(docs))

    def score(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return :meth:`predict_proba`'s probabilities and each article's share of known words.

        The share is what :meth:`unknown_share` complements, given free by the word scorer's
        word and word-pair paths and NaN elsewhere; the service and the offline batch read it to skip
        language detection for articles the model plainly reads (runtime/language.py).
        """
        docs = self.compose(texts, titles)
        if not docs:
            return np.empty((0, len(self.labels))), np.empty(0)
        if isinstance(self.scorer, LinearScorer):
            return self.scorer.predict_proba_and_coverage(docs)
        return self.predict_proba(texts, titles), np.full(len(docs), np.nan)

    def unknown_share(self, texts: Sequence[str], titles: Sequence[str | None] | None = None,
                      coverage: np.ndarray | None = None) -> np.ndarray:
        """Return, per article, the share of its words that the model's vocabulary does not know.

        Words are the scikit-learn token rule after lowercasing; an article
        with no words counts as wholly unknown (1.0). A model without a word
        vocabulary (hashed features) gives NaN: it cannot tell known from new.
        Drift reports and the labeling queue read it; it is not on the
        classify path. ``coverage``, when the caller already has it from
        :meth:`score`, saves scoring the articles again.
        """
        if coverage is None:
            coverage = self.score(texts, titles)[1]
        out = 1.0 - coverage  # free where the word scorer counted them
        missing = np.flatnonzero(np.isnan(out))
        vocabulary, words_of = self._word_vocabulary()
        if vocabulary is None or not len(missing):
            return out
        docs = self.compose(texts, titles)
        for i in missing:
            words = words_of(docs[i].lower())
            out[i] = sum(w not in vocabulary for w in words) / len(words) if words else 1.0
        return out

    def _word_vocabulary(self) -> tuple[set[str] | None, object]:
        if not hasattr(self, "_vocabulary"):
            vect = self.pipeline[0] if hasattr(self.pipeline, "steps") else None
            if isinstance(vect, FeatureUnion):
                vect = dict(vect.transformer_list).get("words")
            names = getattr(vect, "vocabulary_", None)
            # Bigrams and longer count through their words: "white house" teaches "white" and "house".
            self._vocabulary = None if names is None else {w for term in names for w in term.split(" ")}
            self._words_of = re.compile(getattr(vect, "token_pattern", None) or DEFAULT_TOKEN_PATTERN).findall
        return self._vocabulary, self._words_of

    def topics(self, scores: np.ndarray, threshold: float | None = None) -> list[Topic]:
        """Return the labels whose score reaches the threshold, best first.

        ``threshold`` overrides the tuned per-label thresholds when given.
        """
        cut = self.thresholds if threshold is None else np.full(len(self.labels), threshold)
        chosen = np.flatnonzero(scores >= cut)
        chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
        return [Topic(self.labels[i], float(scores[i])) for i in chosen]

    def answer(self, scores: np.ndarray, threshold: float | None = None, top_k: int | None = None) -> dict:
        """Shape one article's scores the way every client sees them: the service, ``batch`` and Spark.

        ``topics`` are the labels at or above their threshold, best first;
        ``scores`` holds every label (or the ``top_k`` best), rounded to six
        decimals, best first.
        """
        # Plain Python on purpose: for a few dozen labels it is twice as fast as numpy's
        # argsort plus conversions, and this runs once per article. sorted() is stable,
        # so ties keep label order, as the stable argsort in topics() does.
        values = scores.tolist()
        cut = self._threshold_list if threshold is None else [threshold] * len(values)
        order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
        chosen = [j for j in order if values[j] >= cut[j]]
        if top_k is not None:
            order, chosen = order[:top_k], chosen[:top_k]
        labels = self.labels
        # Six decimals, halves up. round(value, 6) goes through a decimal string and cost more
        # than everything else here; on probabilities (0 to 1) this agrees with it except on
        # exact decimal halves, which no computed probability lands on.
        rounded = [int(value * 1e6 + 0.5) / 1e6 for value in values]
        return {
            "topics": [{"label": labels[j], "score": rounded[j]} for j in chosen],
            "scores": {labels[j]: rounded[j] for j in order},
            "model": {"version": self.version},
        }

    def explain(self, text: str, title: str | None, label: str, k: int = 10) -> list[tuple[str, float]]:
        """Return the ``k`` terms of this article that raised ``label``'s score most.

        Each weight is the term's tf-idf value times the label's coefficient:
        for a linear model the label's decision value is exactly their sum
        plus the intercept.
        """
        index = self.labels.index(label)
        doc = self.compose([text], [title])[0]
        if self.scorer is not None:
            pairs = self.scorer.contributions(doc, index)
        else:
            pairs = self._contributions_generic(doc, index)
        return [(term, round(weight, 6)) for term, weight in pairs[:k] if weight > 0]

    def _contributions_generic(self, doc: str, index: int) -> list[tuple[str, float]]:
        """Term contributions through the pipeline itself (character n-grams, hashed features)."""
        features, clf = self.pipeline[:-1], self.pipeline[-1]
        row = features.transform([doc]).tocsr()
        estimator = clf.estimators_[index] if hasattr(clf, "estimators_") else clf
        if not hasattr(estimator, "coef_"):  # the label never varied in training: no term moves it
            return []
        coef = estimator.coef_.toarray() if scipy.sparse.issparse(estimator.coef_) else np.asarray(estimator.coef_)
        if coef.shape[0] > 1:
            coef = coef[index]
        elif estimator is clf and index == 0:  # a binary model's one row speaks for the second label
            coef = -coef[0]
        else:
            coef = coef[0]
        names = _column_names(self.pipeline[0], doc, row.indices)
        values = row.data * coef[row.indices]
        order = np.argsort(-values, kind="stable")
        return [(names[row.indices[i]], float(values[i])) for i in order]


def _column_names(vect, doc: str, columns: np.ndarray) -> dict[int, str]:
    """Name the feature columns of one document: vocabulary names, or the terms that hash there."""
    if isinstance(vect, HashingVectorizer):
        terms = sorted(set(vect.build_analyzer()(doc)))
        # The same hasher over one-term "documents": row k holds term k's column.
        single = clone(vect).set_params(analyzer=_as_is, norm=None).transform([[t] for t in terms]).tocsr()
        named: dict[int, list[str]] = {}
        for k, term in enumerate(terms):
            named.setdefault(int(single.indices[single.indptr[k]]), []).append(term)
        return {c: " / ".join(named.get(int(c), ["?"])) for c in columns}
    names = vect.get_feature_names_out()
    return {c: str(names[c]) for c in columns}


def _as_is(terms: list[str]) -> list[str]:
    return terms
