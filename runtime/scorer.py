r"""A prediction path that computes exactly what the fitted pipeline computes, faster.

scikit-learn's ``TfidfVectorizer.transform`` builds a sparse matrix through
several generic layers per call; for one article that overhead dominates.
This module does the same arithmetic with everything that can be prepared
once done at load time:

* the vocabulary stays a dict from term to column;
* the idf weights are folded into the classifier's coefficients, so each
  vocabulary term owns one row ``idf[t] * coef[:, t]`` of a dense
  (terms x labels) matrix;
* per article only lowercasing, tokenizing, n-gram joining, counting and one
  small dense product remain;
* in a batch, even the n-grams are not joined: tokens become integer ids and
  every n-gram one integer key, looked up for the whole batch at once in a
  small open-addressing hash table.

Tokens: with the vectorizer's default pattern ``\b\w\w+\b``, the tokens are
exactly the maximal runs of two or more word characters (``\w`` on str is
``ch.isalnum() or ch == "_"``). For ASCII text (most articles)
``str.translate`` turns every other character into a space and ``split()``
finds the runs, several times faster than the regular expression; runs of
one character are dropped before n-grams are formed, as the pattern never
yields them. Non-ASCII text gets the same treatment on its UTF-8 bytes, and
only the pieces that hold a non-ASCII character go through ``re``; any other
token pattern always goes through ``re``.

For a term ``t`` with count ``c`` the pipeline's feature is
``w(c) * idf[t] / norm`` with ``w(c) = 1 + log(c)`` (sublinear tf) or ``c``,
and ``norm`` the L2 norm of ``w(c) * idf`` over the article's terms; the
decision for label ``j`` is ``sum_t feature_t * coef[j, t] + intercept[j]``.
Probabilities follow the classifier: a logistic sigmoid per label for
one-vs-rest models, a softmax for multinomial ones. ``tests/test_scorer.py``
checks the result against ``pipeline.predict_proba`` on thousands of documents.

Where ``make`` could build it, :mod:`runtime.scorer_c` does the whole
single-article path in C for models of words (and of words and word pairs),
any UTF-8 text; this module
stays the reference for it and the fallback everywhere else. A model of
words and character n-grams (``--char-ngrams``: a union of the two
vectorizers, each row normalized on its own) adds the n-grams' sums to the
words' (:class:`_CharNgrams`), in C as well where it is built.

Bundles of the streaming trainer (hashed features, an SGD learner) get
:class:`HashedScorer`: the same tokenizer, a remembered hash per term, and
the same arithmetic (``tests/test_streaming.py`` checks it the same way).
:func:`scorer_for` picks the one that fits a pipeline.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import chain, repeat
from typing import Sequence

import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils import murmurhash3_32

from runtime import scorer_c
from runtime.estimators import IncrementalOneVsRest, ScopeGatedOneVsRest, scope_gated


# scikit-learn's default token pattern: tokens are the maximal runs of 2+ word characters.
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# A str.translate table for ASCII text: word characters ([A-Za-z0-9_], what re's \w
# matches in ASCII) stay, every other character becomes a space.
_ASCII_WORDS = "".join(ch if ch.isalnum() or ch == "_" else " " for ch in map(chr, range(128)))
# The same for UTF-8 bytes; bytes >= 0x80 (parts of non-ASCII characters) stay.
_UTF8_WORDS = _ASCII_WORDS.encode() + bytes(range(128, 256))
# Token id of a one-character word in a batch (see LinearScorer._words); -1 is "not in the vocabulary".
_ONE_CHAR = -2
# Fibonacci hashing: multiply by 2**64 / golden ratio and keep the top bits.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


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


def _check_chars(vect) -> None:
    if not isinstance(vect, TfidfVectorizer) or vect.analyzer != "char_wb":
        raise Unsupported("only character n-grams within words (analyzer='char_wb') are reproduced next to words")
    if vect.preprocessor is not None or vect.strip_accents is not None or vect.binary:
        raise Unsupported("a preprocessor, strip_accents and binary are not reproduced for character n-grams")
    if vect.norm != "l2" or not vect.use_idf or vect.input != "content":
        raise Unsupported("only l2-normalized tf-idf over strings is reproduced")


def _vectorizers(vect) -> tuple[TfidfVectorizer, TfidfVectorizer | None]:
    """(words, character n-grams or None) of a word vectorizer, or of the union of the two that
    ``--char-ngrams`` trains (training/pipeline.py); the union's columns are the words' first."""
    if not isinstance(vect, FeatureUnion):
        _check_vectorizer(vect)
        return vect, None
    parts = [part for _, part in vect.transformer_list]
    if len(parts) != 2 or vect.transformer_weights:
        raise Unsupported("only a union of words and character n-grams, unweighted, is reproduced")
    _check_vectorizer(parts[0])
    _check_chars(parts[1])
    return parts[0], parts[1]


def _linear_parts(clf) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (coef as labels x terms, intercepts, link) of a supported classifier."""
    if isinstance(clf, (OneVsRestClassifier, ScopeGatedOneVsRest)):
        if not all(hasattr(est, "coef_") for est in clf.estimators_):
            raise Unsupported("a one-vs-rest label was constant during training")
        coef = np.vstack([est.coef_ for est in clf.estimators_])
        intercept = np.concatenate([est.intercept_ for est in clf.estimators_])
        # The gate's row comes last; the link turns it into a factor on every label (runtime/estimators.py).
        return coef, intercept, "scope-gated-sigmoid" if getattr(clf, "gated_", False) else "sigmoid"
    if isinstance(clf, LogisticRegression):
        if clf.coef_.shape[0] == 1:
            # Binary problem: sklearn stores one row for the positive class.
            return np.vstack([-clf.coef_, clf.coef_]) / 2, np.array([-1, 1]) * clf.intercept_ / 2, "softmax"
        return clf.coef_, clf.intercept_, "softmax"
    raise Unsupported(f"classifier is {type(clf).__name__}")


def _index_ngrams(vocabulary: dict[str, int], max_n: int):
    """Give every token of the vocabulary an integer id, and each n-gram an integer key.

    Returns (token ids, {n: (keys, their columns)}, number of tokens). Built
    with C-level passes (``dict.fromkeys``, ``map``) and numpy rather than a
    loop per term: it runs at every model load (docs/performance.md).
    """
    words = [term.split(" ") for term in vocabulary]
    flat = list(chain.from_iterable(words))
    token_ids = {token: i for i, token in enumerate(dict.fromkeys(flat))}
    ids = np.fromiter(map(token_ids.__getitem__, flat), dtype=np.int64, count=len(flat))
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    starts = np.cumsum(lengths) - lengths
    columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(words))
    base = max(len(token_ids), 1)
    if base ** max_n >= 2 ** 62:
        raise Unsupported(f"{base} distinct tokens are too many to key {max_n}-grams in 64 bits")
    tables = {}
    for n in np.unique(lengths).tolist():
        of_n = lengths == n
        key = ids[starts[of_n]]
        for k in range(1, n):
            key = key * base + ids[starts[of_n] + k]
        tables[n] = (key, columns[of_n])
    return token_ids, tables, base


class _KeyTable:
    """A read-only map from non-negative int64 keys to columns, looked up for whole arrays at once.

    Open addressing with linear probing in a table at most 1/4 full, so most
    keys are found (or found absent) at the first probe: a few array passes,
    several times faster than ``searchsorted`` over the sorted keys.
    """

    def __init__(self, keys: np.ndarray, columns: np.ndarray):
        bits = max(4, (4 * len(keys)).bit_length())
        self._mask, self._shift = (1 << bits) - 1, np.uint64(64 - bits)
        owner = np.full(1 << bits, -1, dtype=np.int64)  # slot -> index into keys
        slot = self._slots(keys)
        todo = np.arange(len(keys))
        while len(todo):
            # Every key claims its slot if free; of those claiming the same one, a
            # single write lands. The others move one slot on, so each key's probe
            # sequence only crosses occupied slots before reaching it.
            at = slot[todo]
            free = owner[at] == -1
            owner[at[free]] = todo[free]
            todo = todo[owner[at] != todo]
            slot[todo] = (slot[todo] + 1) & self._mask
        self._keys = np.where(owner >= 0, keys[owner], -1)
        self._columns = np.where(owner >= 0, columns[owner], -1)

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.view(np.uint64) * _GOLDEN) >> self._shift).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """Return each key's column, or -1 where the key is absent."""
        out = np.full(len(keys), -1, dtype=np.int64)
        slot = self._slots(keys)
        todo = np.arange(len(keys))
        while len(todo):
            held = self._keys[slot]
            hit = held == keys[todo]
            out[todo[hit]] = self._columns[slot[hit]]
            more = ~hit & (held != -1)  # an empty slot ends the probe: absent
            todo, slot = todo[more], (slot[more] + 1) & self._mask
        return out


class _Words:
    """The vectorizer's word tokenizer and term counting, fast (see the module docstring).

    Subclasses set ``_min_n`` and ``_max_n`` (the n-gram range) and ``_drop_one_char``.
    """

    def __init__(self, token_pattern: str, lowercase: bool):
        self._pattern = re.compile(token_pattern)
        # Only the default pattern is known to equal translate() + split() (see the module docstring).
        self._split_ascii = token_pattern == DEFAULT_TOKEN_PATTERN
        self._lowercase = lowercase

    def _words(self, text: str) -> list[str]:
        """Return the vectorizer's tokens of ``text`` in order and, under the default pattern,
        one-character ASCII words too (callers that form n-grams drop them)."""
        if self._lowercase:
            text = text.lower()
        if not self._split_ascii:
            return self._pattern.findall(text)
        if text.isascii():  # O(1) on str, and translate() has a fast path for ASCII
            return text.translate(_ASCII_WORDS).split()
        # Mostly-ASCII text with a few "£" or "é": bytes.translate() is a plain table walk,
        # unlike str.translate() on non-ASCII text. The split gives the maximal runs between
        # ASCII non-word characters; only runs holding a non-ASCII character need the pattern.
        # surrogatepass: a lone surrogate (possible in str) round-trips instead of raising.
        utf8 = text.encode("utf-8", "surrogatepass").translate(_UTF8_WORDS)
        words = []
        for word in utf8.decode("utf-8", "surrogatepass").split():
            if word.isascii():
                words.append(word)
            else:
                words += self._pattern.findall(word)
        return words

    def _grams(self, tokens: list[str], min_n: int, max_n: int) -> list[str]:
        """Every n-gram of ``tokens`` for n in min_n..max_n, as the vectorizer joins them."""
        grams: list[str] = tokens if min_n == 1 else []
        for n in range(max(2, min_n), max_n + 1):
            # zip() of shifted lists gives the n-token windows; map() joins them in C.
            grams = grams + list(map(" ".join, zip(*(tokens[k:] for k in range(n)))))
        return grams

    def _term_counts(self, text: str) -> Counter:
        """Count the article's terms (its n-grams for n in the vectorizer's range)."""
        tokens = self._words(text)
        if self._drop_one_char:
            tokens = [token for token in tokens if len(token) > 1]
        return Counter(self._grams(tokens, self._min_n, self._max_n))


def _probabilities(z: np.ndarray, link: str) -> np.ndarray:
    """Turn decision values into the classifier's probabilities."""
    if link == "sigmoid":  # one-vs-rest: one independent probability per label
        return expit(z)  # 1 / (1 + exp(-z)) in one call
    if link == "scope-gated-sigmoid":  # one-vs-rest scaled by the none-of-these gate (the last column)
        return scope_gated(z)
    if link == "normalized-sigmoid":  # SGDClassifier's multi-class probabilities (one-vs-rest, normalized)
        p = expit(z)
        return p / p.sum(axis=1, keepdims=True)
    if link == "binary-sigmoid":  # a binary SGDClassifier: one decision value for the second class
        p = expit(z[:, :1])
        return np.hstack([1.0 - p, p])
    z = z - z.max(axis=1, keepdims=True)  # softmax
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _weight_rows(coef: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """Row t holds idf[t] * coef[:, t], one contiguous row per term, and a last row of zeros (the
    column every term outside the vocabulary gets; ``idf`` ends with its zero)."""
    return np.ascontiguousarray(np.vstack([(coef * idf[None, :-1]).T, np.zeros(len(coef))]))


class _TermColumns:
    """Counted terms to (columns, tf weights) and their tf-idf norm, for a vocabulary with a zero-idf
    ``_unknown`` column; shared by the word scorer and the character n-gram half."""

    vocabulary: dict[str, int]
    _unknown: int
    _idf: np.ndarray
    _sublinear: bool

    def _columns(self, counts: Counter) -> tuple[np.ndarray, np.ndarray]:
        """(columns, tf weights) of counted terms; ``_unknown`` for terms outside the vocabulary."""
        columns = np.fromiter(map(self.vocabulary.get, counts, repeat(self._unknown)), dtype=np.intp,
                              count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self._sublinear:
            np.log(tf, out=tf)
            tf += 1.0
        return columns, tf

    def _norm(self, columns: np.ndarray, tf: np.ndarray) -> float:
        weighted = tf * self._idf.take(columns)
        return math.sqrt(weighted @ weighted) or 1.0


class _CharNgrams(_TermColumns):
    """The character n-gram half of a model of words and character n-grams (``--char-ngrams``).

    Its columns follow the words' in the union, each half normalized on its
    own, so an article's decision values are the words' sums plus these. One
    article goes through the compiled scorer (``chars_score`` in
    runtime/_scorer.c) where it is built; elsewhere the n-grams come from the
    vectorizer's own analyzer, and a batch from its ``transform``, so they are
    the pipeline's by construction.
    """

    def __init__(self, vect: TfidfVectorizer, coef: np.ndarray):
        self._vect = vect
        self._analyzer = vect.build_analyzer()
        self._sublinear = vect.sublinear_tf
        self.vocabulary: dict[str, int] = vect.vocabulary_
        self._unknown = len(vect.idf_)
        self._idf = np.append(np.asarray(vect.idf_, dtype=np.float64), 0.0)
        self._weights = _weight_rows(coef, self._idf)
        self._coef = np.ascontiguousarray(coef.T)
        self.compiled: scorer_c.CompiledScorer | None = None
        if scorer_c.enabled() and vect.lowercase:
            self.compiled = scorer_c.CompiledScorer(self.vocabulary, self._weights, self._idf, self._sublinear,
                                                    char_range=vect.ngram_range)
        self._names: np.ndarray | None = None

    def _counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        return self._columns(Counter(self._analyzer(text)))

    def sums(self, text: str) -> np.ndarray:
        """The labels' normalized sums of one article, before intercepts."""
        found = self.compiled.scores(text) if self.compiled is not None else None
        if found is not None:
            return found[0]
        columns, tf = self._counts(text)
        return tf @ self._weights.take(columns, axis=0) / self._norm(columns, tf)

    def batch_sums(self, texts: Sequence[str]) -> np.ndarray:
        """The same for many articles: compiled one by one where built, else the vectorizer's rows."""
        if self.compiled is not None:
            return np.vstack([self.sums(text) for text in texts]) if len(texts) else np.empty((0, self._coef.shape[1]))
        return np.asarray(self._vect.transform(texts) @ self._coef)

    def contributions(self, text: str, label_index: int) -> list[tuple[str, float]]:
        """(n-gram shown between brackets, feature value x coefficient) for the article's known n-grams."""
        columns, tf = self._counts(text)
        known = columns != self._unknown
        columns, tf = columns[known], tf[known]
        if self._names is None:
            self._names = np.empty(len(self.vocabulary), dtype=object)
            for gram, column in self.vocabulary.items():
                self._names[column] = f"[{gram}]"
        values = tf * self._idf[columns] / self._norm(columns, tf) * self._coef[columns, label_index]
        return [(self._names[c], float(v)) for c, v in zip(columns, values)]


class LinearScorer(_Words, _TermColumns):
    """Score articles with a fitted word TF-IDF + linear pipeline, without scikit-learn per call.

    A model of words and character n-grams (a union of the two vectorizers)
    is scored as words here plus :class:`_CharNgrams`.
    """

    def __init__(self, pipeline: Pipeline):
        vect, clf = pipeline.named_steps["vect"], pipeline.named_steps["clf"]
        vect, chars = _vectorizers(vect)
        coef, intercept, self.link = _linear_parts(clf)
        super().__init__(vect.token_pattern, vect.lowercase)
        self._min_n, self._max_n = vect.ngram_range
        self._sublinear = vect.sublinear_tf
        self.vocabulary: dict[str, int] = vect.vocabulary_
        coef = coef.toarray() if sparse.issparse(coef) else np.asarray(coef, dtype=np.float64)
        self._chars = _CharNgrams(chars, coef[:, len(vect.idf_):]) if chars is not None else None
        coef = coef[:, :len(vect.idf_)]
        # Column `_unknown` (one past the vocabulary) stands for every term outside it: its idf and
        # weights are zero, so a single article needs no mask to leave those terms out.
        self._unknown = len(vect.idf_)
        self._idf = np.append(np.asarray(vect.idf_, dtype=np.float64), 0.0)
        self._weights = _weight_rows(coef, self._idf)
        self._coef = np.ascontiguousarray(coef.T)
        self._intercept = np.asarray(intercept, dtype=np.float64)
        self._terms: np.ndarray | None = None
        self._token_ids, tables, self._n_tokens = _index_ngrams(self.vocabulary, self._max_n)
        # The fast tokenizer also yields one-character words, which are no tokens: they must go
        # before n-grams are joined ("new x york" holds "new york") and before lookups in a
        # vocabulary given with one-character terms; otherwise no lookup can match them.
        self._drop_one_char = self._split_ascii and (
            self._max_n > 1 or any(len(token) == 1 for token in self._token_ids))
        if self._split_ascii:  # in a batch, they get an id to drop them by
            ascii_words = {ch for ch in _ASCII_WORDS if ch != " "}
            self._token_ids.update(dict.fromkeys(ascii_words, _ONE_CHAR))
        # Token id -> column of the single-word term, or -1. Two extra -1 entries at the end are
        # where ids -1 (unknown) and -2 (_ONE_CHAR) index, so a batch needs no mask before indexing.
        self._unigram_columns = np.full(self._n_tokens + 2, -1, dtype=np.int64)
        if 1 in tables:
            self._unigram_columns[tables[1][0]] = tables[1][1]
        # A vocabulary given to the vectorizer may hold n-grams outside ngram_range: never counted.
        self._gram_tables = {n: _KeyTable(keys, columns) for n, (keys, columns) in tables.items()
                             if max(2, self._min_n) <= n <= self._max_n}
        # One article goes through the compiled scorer where it is built and the model is one it
        # reproduces: words, or words and word pairs, the default pattern, lowercased
        # (runtime/scorer_c.py). The few it hands back (characters Python lowercases by context) are
        # counted in `fallbacks`.
        self._compiled: scorer_c.CompiledScorer | None = None
        self.compiled_articles = 0
        self.fallbacks = 0
        if scorer_c.enabled() and self._split_ascii and self._lowercase and self._min_n == 1 and self._max_n <= 2:
            self._compiled = scorer_c.CompiledScorer(self.vocabulary, self._weights, self._idf, self._sublinear,
                                                     bigrams=self._max_n == 2)

    # -- features ---------------------------------------------------------
    def _counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (columns, tf weights) of the article's distinct terms; ``_unknown`` for terms
        outside the vocabulary."""
        return self._columns(self._term_counts(text))

    # -- scores -----------------------------------------------------------
    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """Return the linear decision values, shaped (articles, labels)."""
        return self.decision_and_coverage(texts)[0]

    def decision_and_coverage(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return the decision values and, per article, the share of its words the vocabulary knows.

        The share comes free where an article is scored by the compiled path or as single words in
        Python; elsewhere (n-gram models' batches) it is NaN, and callers that need it compute it.
        """
        if len(texts) == 1:
            # Per request in the service: compiled where it can be, else as few numpy calls as the
            # arithmetic allows.
            text = texts[0]
            found = self._compiled.scores(text) if self._compiled is not None else None
            if found is not None:
                self.compiled_articles += 1
                scores, coverage = found
            else:
                if self._compiled is not None:
                    self.fallbacks += 1
                counts = self._term_counts(text)
                columns, tf = self._columns(counts)
                scores = tf @ self._weights.take(columns, axis=0)
                scores /= self._norm(columns, tf)
                coverage = self._coverage(counts, columns)
            if self._chars is not None:
                scores = scores + self._chars.sums(text)
            scores += self._intercept
            return scores[None, :], np.array([coverage])
        if self._compiled is not None:
            z, coverage = self._compiled_batch(texts)
        else:
            z = np.asarray(self._batch_features(texts) @ self._weights) + self._intercept
            coverage = np.full(len(texts), math.nan)
        if self._chars is not None:
            z += self._chars.batch_sums(texts)
        return z, coverage

    def _coverage(self, counts: Counter, columns: np.ndarray) -> float:
        """The share of single-word tokens in the vocabulary (NaN without single words or tokens)."""
        if self._min_n != 1 or not counts:
            return math.nan
        total = known = 0
        for (term, count), column in zip(counts.items(), columns):
            if self._split_ascii and len(term) < 2:  # the fast split's one-character words are no tokens
                continue
            if self._max_n > 1 and " " in term:  # an n-gram: tokens never hold a space
                continue
            total += count
            known += count if column != self._unknown else 0
        return known / total if total else math.nan

    def _compiled_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Score a batch article by article in C; the few it hands back go through the array path together."""
        out = np.empty((len(texts), len(self._intercept)))
        coverage = np.full(len(texts), math.nan)
        back = []
        for i, text in enumerate(texts):
            found = self._compiled.scores(text)
            if found is None:
                back.append(i)
            else:
                out[i], coverage[i] = found
        self.compiled_articles += len(texts) - len(back)
        if back:
            self.fallbacks += len(back)
            out[back] = np.asarray(self._batch_features([texts[i] for i in back]) @ self._weights)
        return out + self._intercept, coverage

    def _batch_features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Return the normalized tf-idf rows of many articles, built with whole-batch array operations.

        Per article, Python only tokenizes; one ``map`` turns all tokens into
        integer ids. Every n-gram then becomes one integer key (its token ids
        in base ``n_tokens``), looked up in a hash table for the whole batch;
        windows that cross an article boundary or hold a token outside the
        vocabulary are masked out.
        """
        tokens: list[str] = []
        lengths = []
        for text in texts:
            found = self._words(text)
            tokens += found
            lengths.append(len(found))
        # map() with a repeated default runs the dict lookups in C.
        token_ids = np.fromiter(map(self._token_ids.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        n_docs, n_terms = len(texts), self._weights.shape[0]
        doc = np.repeat(np.arange(n_docs), lengths)  # each token's article
        if self._drop_one_char:
            keep = token_ids != _ONE_CHAR
            token_ids, doc = token_ids[keep], doc[keep]
        # Each term occurrence becomes one key, row * n_terms + column, so that one sort groups them.
        found_keys = []
        if self._min_n == 1:
            column = self._unigram_columns[token_ids]
            found = column >= 0  # a token may be in the vocabulary only as part of n-grams
            found_keys.append(doc[found] * n_terms + column[found])
        for n, table in self._gram_tables.items():
            m = len(token_ids) - n + 1
            if m <= 0:
                continue
            key = token_ids[:m]
            ok = (key >= 0) & (doc[n - 1:] == doc[:m])  # doc is sorted: first and last token in one article
            for k in range(1, n):
                following = token_ids[k:k + m]
                key = key * self._n_tokens + following
                ok &= following >= 0
            column = table.get(key[ok])
            found = column >= 0
            found_keys.append(doc[:m][ok][found] * n_terms + column[found])
        key = np.concatenate(found_keys) if found_keys else np.empty(0, np.int64)
        # Keys arrive grouped by article; numpy's stable sort (timsort for int64) profits from that
        # and took half the time of the default quicksort here.
        key.sort(kind="stable")
        first = np.flatnonzero(np.diff(key, prepend=-1))  # first occurrence of each (row, column)
        count = np.diff(first, append=len(key))
        row, column = np.divmod(key[first], n_terms)
        tf = np.log(count) + 1.0 if self._sublinear else count.astype(np.float64)
        norms = np.sqrt(np.bincount(row, weights=(tf * self._idf[column]) ** 2, minlength=n_docs))
        norms[norms == 0] = 1.0
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=n_docs), out=indptr[1:])
        return sparse.csr_matrix((tf / norms[row], column, indptr), shape=(n_docs, n_terms))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return probabilities, shaped (articles, labels), as the pipeline would."""
        return _probabilities(self.decision(texts), self.link)

    def predict_proba_and_coverage(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities, and each article's share of known words (see :meth:`decision_and_coverage`)."""
        z, coverage = self.decision_and_coverage(texts)
        return _probabilities(z, self.link), coverage

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
        known = columns != self._unknown
        columns, tf = columns[known], tf[known]
        values = tf * self._idf[columns] / self._norm(columns, tf) * self._coef[columns, label_index]
        pairs = [(self.terms[c], float(v)) for c, v in zip(columns, values)]
        if self._chars is not None:
            pairs += self._chars.contributions(text, label_index)
        return sorted(pairs, key=lambda pair: -pair[1])  # stable: ties keep the article's order


def _sgd_parts(clf) -> tuple[sparse.csr_matrix, np.ndarray, str]:
    """Return (coef as a sparse labels x columns matrix, intercepts, link) of a streaming bundle's learner."""
    if isinstance(clf, IncrementalOneVsRest):
        estimators = clf.estimators_
        link = "sigmoid"
    elif isinstance(clf, SGDClassifier) and clf.loss == "log_loss":
        estimators = [clf]
        link = "binary-sigmoid" if clf.coef_.shape[0] == 1 else "normalized-sigmoid"
    else:
        raise Unsupported(f"classifier is {type(clf).__name__}, not a logistic SGD model")
    coef = sparse.vstack([sparse.csr_matrix(e.coef_) for e in estimators]).tocsr()
    intercept = np.concatenate([np.atleast_1d(e.intercept_) for e in estimators]).astype(np.float64)
    return coef, intercept, link


class HashedScorer(_Words):
    """The fast path of streaming bundles: ``HashingVectorizer`` -> ``TfidfTransformer`` -> SGD.

    A term's column is its hash (scikit-learn's signed 32-bit MurmurHash3 of
    the UTF-8 term, absolute value, modulo the number of columns). Hashing is
    the one costly step, so each term's column is remembered the first time
    the term is met (up to ``CACHE_TERMS`` terms, then the memory starts
    over). Terms that share a column add up before tf is taken, as in the
    vectorizer. Only columns with a non-zero weight for some label keep a
    row of weights; every column still counts towards the article's norm.
    """

    CACHE_TERMS = 1_000_000

    def __init__(self, pipeline: Pipeline):
        if len(pipeline.steps) != 3:
            raise Unsupported("expected hashing, tf-idf and classifier steps")
        vect, tfidf, clf = (step for _, step in pipeline.steps)
        if not isinstance(vect, HashingVectorizer) or vect.analyzer != "word" or vect.tokenizer is not None \
                or vect.preprocessor is not None or vect.strip_accents is not None or vect.stop_words is not None \
                or vect.binary or vect.norm is not None or vect.alternate_sign or vect.input != "content":
            raise Unsupported("only an unsigned, unnormalized word HashingVectorizer is reproduced")
        if not isinstance(tfidf, TfidfTransformer) or tfidf.norm != "l2" or not tfidf.use_idf:
            raise Unsupported("only l2-normalized tf-idf is reproduced")
        super().__init__(vect.token_pattern, vect.lowercase)
        coef, self._intercept, self.link = _sgd_parts(clf)
        self._min_n, self._max_n = vect.ngram_range
        # Every term counts in hashing, so the fast tokenizer's one-character words always go.
        self._drop_one_char = self._split_ascii
        self._n_columns = vect.n_features
        self._sublinear = tfidf.sublinear_tf
        self._idf = np.asarray(tfidf.idf_, dtype=np.float64)
        coef = coef.tocsc()
        seen = np.flatnonzero(np.diff(coef.indptr))  # columns some label weighs
        self._row_of = np.full(self._n_columns, -1, dtype=np.int64)
        self._row_of[seen] = np.arange(len(seen))
        self._coef = np.ascontiguousarray(coef[:, seen].toarray().T)
        self._columns: dict[str, int] = {}

    def _column(self, term: str) -> int:
        column = abs(murmurhash3_32(term, seed=0)) % self._n_columns
        if len(self._columns) >= self.CACHE_TERMS:
            self._columns.clear()
        self._columns[term] = column
        return column

    def _counts(self, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Return (columns, tf weights, the distinct terms) of one article."""
        counts = self._term_counts(text)
        terms = list(counts)
        column_of = list(map(self._columns.get, terms))
        for i, column in enumerate(column_of):
            if column is None:
                column_of[i] = self._column(terms[i])
        columns = np.array(column_of, dtype=np.int64)
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if len(set(column_of)) < len(column_of):  # two terms hashed to one column: add them up
            columns, where = np.unique(columns, return_inverse=True)
            tf = np.bincount(where, weights=tf)
        if self._sublinear:
            tf = np.log(tf) + 1.0
        return columns, tf, terms

    def _scaled(self, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Return (columns, normalized tf-idf values, terms): the tf-idf transformer's row."""
        columns, tf, terms = self._counts(text)
        values = tf * self._idf[columns]
        norm = float(np.sqrt(values @ values))
        return columns, values / (norm if norm > 0 else 1.0), terms

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """Return the linear decision values, shaped (articles, labels)."""
        out = np.tile(self._intercept, (len(texts), 1))
        for i, text in enumerate(texts):
            columns, values, _ = self._scaled(text)
            rows = self._row_of[columns]
            weighed = rows >= 0
            out[i] += values[weighed] @ self._coef[rows[weighed]]
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return probabilities, shaped (articles, labels), as the pipeline would."""
        return _probabilities(self.decision(texts), self.link)

    def contributions(self, text: str, label_index: int) -> list[tuple[str, float]]:
        """Return (terms of one column, value x coefficient) for the article's columns, largest first."""
        columns, values, terms = self._scaled(text)
        rows = self._row_of[columns]
        weighed = rows >= 0
        if self.link == "binary-sigmoid":  # one decision value: the second class's
            sign, label_index = (1.0 if label_index == 1 else -1.0), 0
        else:
            sign = 1.0
        named: dict[int, list[str]] = {}  # column -> the article's terms that hash there
        for term in terms:
            column = self._columns.get(term)
            named.setdefault(self._column(term) if column is None else column, []).append(term)
        columns, values, rows = columns[weighed], values[weighed], rows[weighed]
        scores = sign * values * self._coef[rows, label_index]
        order = np.argsort(-scores, kind="stable")
        return [(" / ".join(named[int(columns[i])]), float(scores[i])) for i in order]


def scorer_for(pipeline: Pipeline) -> LinearScorer | HashedScorer | None:
    """Return the fast path that reproduces ``pipeline``, or None when none does."""
    for kind in (LinearScorer, HashedScorer):
        try:
            return kind(pipeline)
        except (Unsupported, KeyError):  # KeyError: the pipeline has no "vect"/"clf" step
            continue
    return None
