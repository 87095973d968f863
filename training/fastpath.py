"""A prediction path that computes exactly what the fitted pipeline computes, faster.

scikit-learn's ``TfidfVectorizer.transform`` builds a sparse matrix through
several generic layers per call; for one article that overhead dominates.
This module does the same arithmetic with everything that can be prepared
once done at load time:

* the vocabulary stays a dict from term to column;
* the idf weights are folded into the classifier's coefficients, so each
  vocabulary term owns one row ``idf[t] * coef[:, t]`` of a dense
  (terms x labels) matrix;
* per article only lowercasing, the same regular expression, n-gram joining,
  counting and one small dense product remain;
* in a batch, even the n-grams are not joined: tokens become integer ids and
  every n-gram one integer key, looked up for the whole batch at once.

For a term ``t`` with count ``c`` the pipeline's feature is
``w(c) * idf[t] / norm`` with ``w(c) = 1 + log(c)`` (sublinear tf) or ``c``,
and ``norm`` the L2 norm of ``w(c) * idf`` over the article's terms; the
decision for label ``j`` is ``sum_t feature_t * coef[j, t] + intercept[j]``.
Probabilities follow the classifier: a logistic sigmoid per label for
one-vs-rest models, a softmax for multinomial ones. ``tests/test_fastpath.py``
checks the result against ``pipeline.predict_proba`` on thousands of documents.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import repeat
from typing import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline


class Unsupported(ValueError):
    """The pipeline uses an option the fast path does not reproduce."""


def _check_vectorizer(vect) -> None:
    if not isinstance(vect, TfidfVectorizer):
        raise Unsupported(f"vectorizer is {type(vect).__name__}, not a word TfidfVectorizer")
    if vect.analyzer != "word" or vect.tokenizer is not None or vect.preprocessor is not None:
        raise Unsupported("only the built-in word analyzer is reproduced")
    if vect.strip_accents is not None or vect.stop_words is not None or vect.binary:
        raise Unsupported("strip_accents, stop_words and binary are not reproduced")
    if vect.norm != "l2" or not vect.use_idf or vect.input != "content":
        raise Unsupported("only l2-normalized tf-idf over strings is reproduced")


def _linear_parts(clf) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (coef as labels x terms, intercepts, link) of a supported classifier."""
    if isinstance(clf, OneVsRestClassifier):
        if not all(hasattr(est, "coef_") for est in clf.estimators_):
            raise Unsupported("a one-vs-rest label was constant during training")
        coef = np.vstack([est.coef_ for est in clf.estimators_])
        intercept = np.concatenate([est.intercept_ for est in clf.estimators_])
        return coef, intercept, "sigmoid"
    if isinstance(clf, LogisticRegression):
        if clf.coef_.shape[0] == 1:
            # Binary problem: sklearn stores one row for the positive class.
            return np.vstack([-clf.coef_, clf.coef_]) / 2, np.array([-1, 1]) * clf.intercept_ / 2, "softmax"
        return clf.coef_, clf.intercept_, "softmax"
    raise Unsupported(f"classifier is {type(clf).__name__}")


def _index_ngrams(vocabulary: dict[str, int], max_n: int):
    """Give every token of the vocabulary an integer id, and each n-gram an integer key.

    Returns (token ids, {n: (sorted keys, their columns)}, number of tokens).
    """
    token_ids: dict[str, int] = {}
    grams: dict[int, tuple[list, list]] = {}
    for term, column in vocabulary.items():
        parts = [token_ids.setdefault(part, len(token_ids)) for part in term.split(" ")]
        keys, columns = grams.setdefault(len(parts), ([], []))
        keys.append(parts)
        columns.append(column)
    base = max(len(token_ids), 1)
    if base ** max_n >= 2 ** 62:
        raise Unsupported(f"{base} distinct tokens are too many to key {max_n}-grams in 64 bits")
    tables = {}
    for n, (parts, columns) in sorted(grams.items()):
        parts_ = np.array(parts, dtype=np.int64).reshape(len(parts), n)
        key = parts_[:, 0].copy()
        for k in range(1, n):
            key = key * base + parts_[:, k]
        order = np.argsort(key)
        tables[n] = (key[order], np.array(columns, dtype=np.int64)[order])
    return token_ids, tables, base


class FastLinearTfidf:
    """Score articles with a fitted word TF-IDF + linear pipeline, without scikit-learn per call."""

    def __init__(self, pipeline: Pipeline):
        vect, clf = pipeline.named_steps["vect"], pipeline.named_steps["clf"]
        _check_vectorizer(vect)
        coef, intercept, self.link = _linear_parts(clf)
        self._pattern = re.compile(vect.token_pattern)
        self._lowercase = vect.lowercase
        self._min_n, self._max_n = vect.ngram_range
        self._sublinear = vect.sublinear_tf
        self.vocabulary: dict[str, int] = vect.vocabulary_
        self._idf = np.asarray(vect.idf_, dtype=np.float64)
        coef = coef.toarray() if sparse.issparse(coef) else np.asarray(coef, dtype=np.float64)
        # Row t holds idf[t] * coef[:, t]: one contiguous row per term.
        self._weights = np.ascontiguousarray((coef * self._idf[None, :]).T)
        self._coef = np.ascontiguousarray(coef.T)
        self._intercept = np.asarray(intercept, dtype=np.float64)
        self._terms: np.ndarray | None = None
        self._token_ids, self._tables, self._n_tokens = _index_ngrams(self.vocabulary, self._max_n)
        self._unigram_columns = np.full(self._n_tokens, -1, dtype=np.int64)
        if 1 in self._tables:
            self._unigram_columns[self._tables[1][0]] = self._tables[1][1]

    # -- features ---------------------------------------------------------
    def _counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (column indices, tf weights) of the article's vocabulary terms."""
        if self._lowercase:
            text = text.lower()
        tokens = self._pattern.findall(text)
        grams: list[str] = tokens if self._min_n == 1 else []
        for n in range(max(2, self._min_n), self._max_n + 1):
            grams = grams + [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        get = self.vocabulary.get
        found = [(get(gram), count) for gram, count in Counter(grams).items()]
        found = [(column, count) for column, count in found if column is not None]
        if not found:
            return np.empty(0, dtype=np.intp), np.empty(0)
        columns = np.fromiter((column for column, _ in found), dtype=np.intp, count=len(found))
        tf = np.fromiter((count for _, count in found), dtype=np.float64, count=len(found))
        if self._sublinear:
            tf = np.log(tf) + 1.0
        return columns, tf

    def _norm(self, columns: np.ndarray, tf: np.ndarray) -> float:
        weighted = tf * self._idf[columns]
        norm = float(np.sqrt(weighted @ weighted))
        return norm if norm > 0 else 1.0

    # -- scores -----------------------------------------------------------
    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """Return the linear decision values, shaped (articles, labels)."""
        if len(texts) == 1:
            columns, tf = self._counts(texts[0])
            scores = (tf / self._norm(columns, tf)) @ self._weights[columns] if len(columns) else 0.0
            return (scores + self._intercept)[None, :]
        return np.asarray(self._batch_features(texts) @ self._weights) + self._intercept

    def _batch_features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Return the normalized tf-idf rows of many articles, built with whole-batch array operations.

        Per article, Python only lowercases, tokenizes and maps tokens to
        integer ids. Every n-gram then becomes one integer key (its token ids
        in base ``n_tokens``), looked up with one ``searchsorted`` per n over
        the whole batch; windows that cross an article boundary or hold a
        token outside the vocabulary are masked out.
        """
        pattern, lowercase = self._pattern, self._lowercase
        tokens: list[str] = []
        lengths = []
        for text in texts:
            found = pattern.findall(text.lower() if lowercase else text)
            tokens += found
            lengths.append(len(found))
        # map() with a repeated default runs the dict lookups in C.
        token_ids = np.fromiter(map(self._token_ids.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        lengths_ = np.array(lengths, dtype=np.int64)
        doc = np.repeat(np.arange(len(texts)), lengths_)
        end = np.repeat(np.cumsum(lengths_), lengths_)  # where each position's article ends
        position = np.arange(len(token_ids))
        rows, cols = [], []
        for n, (keys, columns) in self._tables.items():
            m = len(token_ids) - n + 1
            if m <= 0 or n < self._min_n:
                continue
            key = token_ids[:m].copy()
            ok = (key >= 0) & (position[:m] + n <= end[:m])
            for k in range(1, n):
                following = token_ids[k:k + m]
                key = key * self._n_tokens + following
                ok &= following >= 0
            key, row = key[ok], doc[:m][ok]
            if n == 1:  # single words: a direct table from token id to column
                column = self._unigram_columns[key]
                found = column >= 0
                rows.append(row[found])
                cols.append(column[found])
                continue
            at = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
            found = keys[at] == key
            rows.append(row[found])
            cols.append(columns[at[found]])
        n_docs, n_terms = len(texts), self._weights.shape[0]
        rows_ = np.concatenate(rows) if rows else np.empty(0, np.int64)
        cols_ = np.concatenate(cols) if cols else np.empty(0, np.int64)
        X = sparse.csr_matrix((np.ones(len(rows_)), (rows_, cols_)), shape=(n_docs, n_terms))
        X.sum_duplicates()
        tf = np.log(X.data) + 1.0 if self._sublinear else X.data
        row_of = np.repeat(np.arange(n_docs), np.diff(X.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=(tf * self._idf[X.indices]) ** 2, minlength=n_docs))
        norms[norms == 0] = 1.0
        X.data = tf / norms[row_of]
        return X

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return probabilities, shaped (articles, labels), as the pipeline would."""
        z = self.decision(texts)
        if self.link == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    # -- explanations -----------------------------------------------------
    @property
    def terms(self) -> np.ndarray:
        """Column index to term, built on first use."""
        if self._terms is None:
            terms = np.empty(len(self.vocabulary), dtype=object)
            for term, column in self.vocabulary.items():
                terms[column] = term
            self._terms = terms
        return self._terms

    def contributions(self, text: str, label_index: int) -> list[tuple[str, float]]:
        """Return (term, feature value x coefficient) for the article's terms, largest first."""
        columns, tf = self._counts(text)
        if not len(columns):
            return []
        values = tf * self._idf[columns] / self._norm(columns, tf) * self._coef[columns, label_index]
        order = np.argsort(-values, kind="stable")
        return [(self.terms[columns[i]], float(values[i])) for i in order]
