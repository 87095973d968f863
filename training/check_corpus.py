"""Check a labeled corpus before training on it, and print its statistics.

    python -m training.check_corpus seeds/
    python -m training.check_corpus my-corpus.jsonl --taxonomy seeds/labels.json

Checks: every row parses (the training readers' rules), labels belong to the
taxonomy when one is given (``labels.json``), ids are unique, no two
documents are exact or near duplicates (TF-IDF cosine at or above
``--near``), and, with ``--against``, no document shares a run of eight words
with another corpus (text written for this corpus must not copy others').
Exits 1 and names the offending documents when a check fails.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from training.corpus import (JSONL_SUFFIXES, LABELS_FILE, CorpusError, Document, open_text, read_corpus,
                             read_descriptions)

NEAR_DUPLICATE = 0.9
WORD = re.compile(r"\S+")


def form_of(doc: Document) -> str:
    """Classify a document's form: a headline, a headline with a lede, or a full article."""
    if not doc.title.strip():
        return "headline"
    return "lede" if len(WORD.findall(doc.text)) < 120 else "article"


@dataclass
class CorpusStats:
    """Counts that describe a corpus."""

    documents: int
    forms: dict[str, int]
    labels: dict[str, int]
    none: int
    multilabel: int
    label_sets: dict[str, int]
    article_words: tuple[int, int, float] | None
    problems: list[str] = field(default_factory=list)

    def render(self) -> str:
        """Return the statistics as a readable Markdown block."""
        n = max(self.documents, 1)
        lines = [f"documents: {self.documents}", "", "| form | documents | share |", "| --- | ---: | ---: |"]
        lines += [f"| {k} | {v} | {v / n:.1%} |" for k, v in sorted(self.forms.items())]
        lines += ["", "| label | documents | share |", "| --- | ---: | ---: |"]
        lines += [f"| {k} | {v} | {v / n:.1%} |" for k, v in sorted(self.labels.items(), key=lambda kv: -kv[1])]
        lines += [f"| (none of these) | {self.none} | {self.none / n:.1%} |", "",
                  f"documents with 2 or 3 labels: {self.multilabel} ({self.multilabel / n:.1%})"]
        if self.article_words:
            low, high, mean = self.article_words
            lines.append(f"full-article length: {low} to {high} words, mean {mean:.0f}")
        lines += ["", "most common label sets:"]
        lines += [f"  {k}: {v}" for k, v in sorted(self.label_sets.items(), key=lambda kv: -kv[1])[:15]]
        return "\n".join(lines)


def near_duplicates(docs: Sequence[Document], threshold: float = NEAR_DUPLICATE,
                    block: int = 2000) -> list[tuple[str, str, float]]:
    """Return (id, id, cosine) for every pair of documents at or above ``threshold``.

    Exact, but without scoring every pair (prefix filtering, as in Bayardo,
    Ma and Srikant's all-pairs similarity search). Rows are unit vectors with
    positive weights. Take each row's most common terms while their squared
    weights sum to less than ``threshold**2``: that part can add less than
    ``threshold`` to a cosine, so a pair at or above it must share one of the
    row's remaining, rarer terms. Candidates come from those rarer terms
    alone, which skips the common words and pairs that make the full product
    slow (seeds/: 7 s against 25 s), and each candidate's cosine is then
    computed in full. Blocks of rows keep memory bounded; each block is
    compared with the documents after it only, so every pair is seen once.
    """
    texts = [f"{d.title}\n{d.text}" for d in docs]
    X = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)).fit_transform(texts).tocsr()
    rarer = _rarer_terms(X, threshold)
    XT = X.T.tocsc()
    pairs = []
    for start in range(0, X.shape[0], block):
        candidates = (rarer[start:start + block] @ XT[:, start:]).tocoo()
        rows, cols = candidates.row + start, candidates.col + start
        rows, cols = rows[rows < cols], cols[rows < cols]
        cosine = np.asarray(X[rows].multiply(X[cols]).sum(axis=1)).ravel()
        keep = cosine >= threshold
        for i, j, value in zip(rows[keep], cols[keep], cosine[keep]):
            pairs.append((docs[i].id, docs[j].id, round(float(value), 3)))
    return sorted(pairs, key=lambda p: -p[2])


def _rarer_terms(X, threshold: float):
    """``X`` without each row's most common terms whose squared weights sum to less than ``threshold**2``."""
    frequency = np.bincount(X.indices, minlength=X.shape[1])
    rank = np.empty(X.shape[1], dtype=np.int64)
    rank[np.argsort(-frequency, kind="stable")] = np.arange(X.shape[1])
    lengths = np.diff(X.indptr)
    order = np.lexsort((rank[X.indices], np.repeat(np.arange(X.shape[0]), lengths)))  # by row, common first
    total = np.concatenate([[0.0], np.cumsum(X.data[order] ** 2)])
    mass = total[1:] - np.repeat(total[X.indptr[:-1]], lengths)  # each row's running sum, common first
    data = X.data.copy()
    data[order[mass < threshold ** 2]] = 0.0
    rarer = sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)
    rarer.eliminate_zeros()
    return rarer


def check(docs: Sequence[Document], taxonomy: set[str] | None, near: float = NEAR_DUPLICATE) -> CorpusStats:
    """Compute statistics and list every problem found."""
    problems = []
    if taxonomy is not None:
        for doc in docs:
            unknown = [label for label in doc.labels if label not in taxonomy]
            if unknown:
                problems.append(f"{doc.source}:{doc.line}: {doc.id}: labels {unknown} are not in the taxonomy")
    seen: dict[str, str] = {}
    for doc in docs:
        key = " ".join(f"{doc.title} {doc.text}".lower().split())
        if key in seen:
            problems.append(f"exact duplicate: {seen[key]} and {doc.id}")
        seen.setdefault(key, doc.id)
    for a, b, value in near_duplicates(docs, near):
        problems.append(f"near duplicate (cosine {value}): {a} and {b}")
    articles = [len(WORD.findall(d.text)) for d in docs if form_of(d) == "article"]
    return CorpusStats(
        documents=len(docs),
        forms=dict(Counter(form_of(d) for d in docs)),
        labels=dict(Counter(label for d in docs for label in d.labels)),
        none=sum(not d.labels for d in docs),
        multilabel=sum(len(d.labels) >= 2 for d in docs),
        label_sets=dict(Counter("+".join(sorted(d.labels)) or "(none)" for d in docs)),
        article_words=(min(articles), max(articles), float(np.mean(articles))) if articles else None,
        problems=problems,
    )


SHARED_WORDS = 8
_TOKEN = re.compile(r"\w+")
_BASE = np.uint64(0x9E3779B97F4A7C15)


def _sequence_keys(text: str, vocabulary: dict[str, int], grow: bool) -> np.ndarray:
    """64-bit keys of the text's runs of SHARED_WORDS lowercased words (only runs of words in ``vocabulary``)."""
    tokens = _TOKEN.findall(text.lower())
    if len(tokens) < SHARED_WORDS:
        return np.empty(0, dtype=np.uint64)
    if grow:
        ids = np.array([vocabulary.setdefault(t, len(vocabulary) + 1) for t in tokens], dtype=np.uint64)
    else:
        ids = np.array([vocabulary.get(t, 0) for t in tokens], dtype=np.uint64)
    windows = len(ids) - SHARED_WORDS + 1
    keys = np.zeros(windows, dtype=np.uint64)
    unknown = np.zeros(windows, dtype=bool)
    with np.errstate(over="ignore"):
        for k in range(SHARED_WORDS):  # a polynomial hash, wrapping at 2**64
            column = ids[k:k + windows]
            keys = keys * _BASE + column
            unknown |= column == 0
    return keys[~unknown]


def reference_texts(paths: Iterable[Path]) -> Iterator[str]:
    """Yield "title text" of every record in JSON Lines files (JSONL_SUFFIXES, gzipped or not), or folders of them.

    Reference corpora are only searched for shared words, so a record with an
    empty or missing field is read as it is rather than refused, as a training
    corpus would be (20 Newsgroups holds empty posts).
    """
    for path in paths:
        files = [path] if not path.is_dir() else sorted(
            p for p in path.iterdir() if p.name.lower().endswith(JSONL_SUFFIXES))
        for file in files:
            with open_text(file) as fh:
                for line in fh:
                    if line.strip():
                        record = json.loads(line)
                        yield f"{record.get('title') or ''} {record.get('text') or ''}"


def shared_sequences(docs: Sequence[Document], texts: Iterable[str]) -> dict[str, int]:
    """Map the id of each document that shares a run of SHARED_WORDS words with any of ``texts`` to how many runs.

    Words are compared lowercased, punctuation ignored; a run holding a word
    no document has cannot match, so those are skipped before hashing.
    """
    vocabulary: dict[str, int] = {}
    owners: dict[int, list[str]] = {}
    for doc in docs:
        for key in _sequence_keys(f"{doc.title} {doc.text}", vocabulary, grow=True).tolist():
            owners.setdefault(key, []).append(doc.id)
    known = np.array(sorted(owners), dtype=np.uint64)
    hits: Counter = Counter()
    for text in texts:
        keys = _sequence_keys(text, vocabulary, grow=False)
        if not len(keys) or not len(known):
            continue
        at = np.minimum(np.searchsorted(known, keys), len(known) - 1)
        found = keys[known[at] == keys]
        for key in found.tolist():
            for doc_id in owners[key]:
                hits[doc_id] += 1
    return dict(hits)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the corpus; print statistics and problems; return 1 if there are problems."""
    parser = argparse.ArgumentParser(prog="python -m training.check_corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", type=Path, help="corpus files or folders")
    parser.add_argument("--taxonomy", type=Path, help=f"a {LABELS_FILE} (default: the one in a given folder)")
    parser.add_argument("--near", type=float, default=NEAR_DUPLICATE, help="cosine that counts as near duplicate")
    parser.add_argument("--against", type=Path, nargs="+", default=[],
                        help="JSON Lines files (.jsonl, .ndjson, gzipped or not) or folders of them whose "
                             f"sentences must not appear: a document sharing {SHARED_WORDS} words in a row with any "
                             "of their texts is a problem")
    args = parser.parse_args(argv)
    try:
        corpus = read_corpus(args.data)
        if args.taxonomy:
            taxonomy = set(read_descriptions(args.taxonomy.parent) if args.taxonomy.name == LABELS_FILE else {})
        else:
            taxonomy = set(corpus.descriptions) or None
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stats = check(corpus.documents, taxonomy, args.near)
    if args.against:
        try:
            shared = shared_sequences(corpus.documents, reference_texts(args.against))
        except (OSError, ValueError) as exc:
            print(f"error: --against: {exc}", file=sys.stderr)
            return 1
        against = ", ".join(map(str, args.against))
        stats.problems += [f"{doc_id}: shares {count} run(s) of {SHARED_WORDS} words with {against}"
                           for doc_id, count in sorted(shared.items())]
    print(stats.render())
    for line in stats.problems:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if stats.problems else 0


if __name__ == "__main__":
    sys.exit(main())
