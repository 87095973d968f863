"""Train on corpora larger than memory: hashed features and an incremental linear learner.

    python -m training --streaming --data archive.jsonl.gz --out models/

The default trainer holds the corpus, its vocabulary and its feature matrix
in memory (BENCHMARKS.md: about 14 GiB at 100,000 articles). This one never
holds more than a shuffle buffer of documents and one batch of features:

1. **scan**: read the corpus once, check every row (errors name file and
   line), count labels, and count document frequencies of hashed terms
   (``HashingVectorizer``: a term's column is its hash, so no vocabulary is
   kept);
2. **fit**: for each epoch, read the corpus again, shuffle it through a
   buffer, and update an ``SGDClassifier`` (logistic loss) batch by batch
   with ``partial_fit`` on sublinear tf-idf features;
3. **thresholds** are tuned on a validation share the learner never saw,
   and the **report** comes from the test share (or the corpus's own split).

Documents are assigned to train / validation / test by a hash of their text,
so the assignment is the same in every pass and duplicates never straddle
two parts. The bundle is an ordinary scikit-learn ``Pipeline`` (hashing,
tf-idf, classifier), written, verified and served like any other; the
manifest records ``"mode": "streaming"`` and these options. Memory grows with
the number of hashed features times labels (the coefficients), not with the
corpus.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline

from runtime.articles import compose_text
from runtime.drift import article_length
from runtime.estimators import IncrementalOneVsRest
from training.corpus import CorpusError, Document, corpus_languages, iter_documents, label_matrix, read_codes, \
    read_descriptions, source_fingerprints, texts
from training.drift import held_out_reference
from training.evaluate import compute_report
from training.options import StreamingOptions, TrainOptions
from training.pipeline import RANDOM_STATE, TOKEN_PATTERN, Hyperparameters
from training.progress import Progress
from training.publish import Trained
from training.thresholds import tune_thresholds

TRAIN, VALIDATION, TEST = "train", "validation", "test"
NONE = "\0none"  # the label counts' key for documents without a label
LANGUAGE_SAMPLE = 4000  # documents read from the start of the corpus to name its languages
EVALUATION_CAP = 20_000  # held-out documents kept in the bundle for the promotion gate


# -- passes over the corpus ----------------------------------------------------

def part_of(doc: Document, test_size: float, validation_share: float, split_field: str | None) -> str:
    """Assign a document to train, validation or test, the same way in every pass."""
    u = zlib.crc32(doc.text.encode("utf-8")) / 2**32
    if split_field:
        value = (doc.split or "").lower()
        if value in ("test", "testing"):
            return TEST
        if value not in ("train", "training"):
            raise CorpusError(doc.source, f"field {split_field!r} is {doc.split!r}; expected 'train' or 'test'",
                              doc.line)
        return VALIDATION if u < validation_share else TRAIN
    if u < test_size:
        return TEST
    return VALIDATION if u < test_size + validation_share * (1 - test_size) else TRAIN


def shuffled(docs: Iterable[Document], buffer: int, seed: int) -> Iterator[Document]:
    """Yield ``docs`` in a random order, holding at most ``buffer`` of them."""
    rng = random.Random(seed)
    held: list[Document] = []
    for doc in docs:
        if len(held) < buffer:
            held.append(doc)
            continue
        i = rng.randrange(buffer)
        yield held[i]
        held[i] = doc
    rng.shuffle(held)
    yield from held


def batches(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class Scan:
    """What one pass over the corpus learned."""

    counts: dict[str, Counter]
    documents: dict[str, int]
    multilabel: bool
    df: np.ndarray


def scan(docs: Iterable[Document], part, hasher: HashingVectorizer, title_weight: int, batch_size: int,
         progress: Progress) -> Scan:
    """Count labels and documents per part, and the document frequency of each hashed column in train."""
    counts = {p: Counter() for p in (TRAIN, VALIDATION, TEST)}
    documents = Counter()
    multilabel = False
    df = np.zeros(hasher.n_features, dtype=np.int64)
    pending: list[str] = []
    for doc in docs:
        where = part(doc)
        documents[where] += 1
        counts[where].update(doc.labels)
        counts[where][NONE] += not doc.labels
        multilabel = multilabel or len(doc.labels) != 1
        if where == TRAIN:
            pending.append(compose_text(doc.title, doc.text, title_weight))
            if len(pending) == batch_size:
                df += np.bincount(hasher.transform(pending).indices, minlength=hasher.n_features)
                pending = []
                if documents[TRAIN] % (batch_size * 25) == 0:
                    progress.say(f"  scanned {sum(documents.values()):,} documents")
    if pending:
        df += np.bincount(hasher.transform(pending).indices, minlength=hasher.n_features)
    return Scan(counts=counts, documents=dict(documents), multilabel=multilabel, df=df)


def check_scan(result: Scan, labels: list[str], minimum: int, source: Path) -> None:
    """Refuse corpora the learner cannot learn from, as the in-memory trainer does."""
    train = result.counts[TRAIN] + result.counts[VALIDATION]
    total = train + result.counts[TEST]
    if result.documents.get(TRAIN, 0) < 2 or result.documents.get(TEST, 0) < 1:
        raise CorpusError(source, f"{result.documents.get(TRAIN, 0)} training and {result.documents.get(TEST, 0)} "
                          "test documents; the streaming trainer needs both (use a larger corpus)")
    for label in labels:  # the in-memory trainer's rules: enough examples, and some to train on
        if total[label] < minimum:
            raise CorpusError(source, f"label {label!r} has {total[label]} example(s); at least {minimum} are "
                              "needed (add examples, drop the label, or lower --min-examples)")
        if not train[label]:
            raise CorpusError(source, f"label {label!r} appears in the test part but never in the training part")
    if len(labels) < 2 and not train[NONE]:
        raise CorpusError(source, f"need at least two labels (or one label and 'none' examples), found {labels}")


# -- the run ----------------------------------------------------------------------

@dataclass
class _Run:
    """One streaming run: how to read the corpus again, which part a document is in, what the scan found."""

    options: TrainOptions
    stream: StreamingOptions
    params: Hyperparameters
    scan: Scan | None = None  # None until _scan_corpus has read the corpus
    labels: list[str] = field(default_factory=list)
    multilabel: bool = False

    def read(self) -> Iterator[Document]:
        return iter_documents(self.options.data, self.options.columns, self.options.split_field or "split")

    def part(self, doc: Document) -> str:
        return part_of(doc, self.options.test_size, self.stream.validation_share, self.options.split_field)

    def batches_of(self, which: str) -> Iterator[list[Document]]:
        return batches((d for d in self.read() if self.part(d) == which), self.stream.batch_size)


def fit_streaming(options: TrainOptions, progress: Progress) -> Trained:
    """Scan, fit epoch by epoch, tune thresholds and evaluate; return what the publisher needs."""
    stream = options.streaming or StreamingOptions()
    stream.validate()
    options.params.validate()
    if options.params.char_ngrams or options.search:
        raise ValueError("--char-ngrams and --search need the in-memory trainer; drop --streaming")
    with progress.stage("scanning"):
        run = _scan_corpus(options, stream, progress)
    with progress.stage("fitting"):
        pipeline = _fit_epochs(run, progress)
    with progress.stage("tuning thresholds"):
        if run.scan.documents.get(VALIDATION):
            P_val, Y_val, _, _ = _predict(run, pipeline, VALIDATION)
            thresholds = tune_thresholds(Y_val, P_val)
        else:
            thresholds = np.full(len(run.labels), 0.5)
    with progress.stage("evaluating"):
        P_test, Y_test, titles, lengths = _predict(run, pipeline, TEST)
        report = compute_report(Y_test, P_test, run.labels, thresholds, run.multilabel, titles)
        # Hashed features keep no vocabulary: the reference has no unknown-word share.
        reference = held_out_reference(pipeline, P_test, thresholds, run.labels, run.multilabel, lengths, None,
                                       "held-out set")
    documents = run.scan.documents
    report["context"] = {
        "data": ", ".join(str(p) for p in options.data),
        "evaluated on": (f"the corpus's own test split ({documents[TEST]} documents)" if options.split_field
                         else f"a {options.test_size:.0%} hash-assigned hold-out ({documents[TEST]} documents)"),
        "published model trained on": f"{documents[TRAIN]} documents, streamed ({stream.epochs} epochs); "
                                      f"thresholds tuned on {documents.get(VALIDATION, 0)} validation documents",
    }
    # The promotion gate scores candidates on the bundle's held-out documents; a streamed corpus may be larger
    # than memory, so the bundle keeps the first EVALUATION_CAP of them.
    held_out = (d for batch in run.batches_of(TEST) for d in batch)
    evaluation = [{"id": d.id, "title": d.title, "text": d.text, "labels": list(d.labels)}
                  for d in islice(held_out, EVALUATION_CAP)]
    return Trained(pipeline, report, _manifest(run, thresholds), evaluation, reference)


def _scan_corpus(options: TrainOptions, stream: StreamingOptions, progress: Progress) -> _Run:
    """Read the corpus once (twice for other n-gram lengths): labels, their counts and term document frequencies."""
    params = options.params
    run = _Run(options, stream, params)
    # The n-gram length depends on the kind of corpus, known only after the scan; count
    # document frequencies for 1-2-grams (they include the single words) and refit idf below.
    result = scan(run.read(), run.part, _hasher(stream, 2), params.title_weight, stream.batch_size, progress)
    labels = sorted({label for c in result.counts.values() for label in c if label != NONE})
    check_scan(result, labels, options.min_examples, options.data[0])
    params = params.resolved(result.multilabel)
    progress.say(f"  {sum(result.documents.values()):,} documents ({result.documents.get(TRAIN, 0):,} train, "
                 f"{result.documents.get(VALIDATION, 0):,} validation, {result.documents.get(TEST, 0):,} test), "
                 f"{len(labels)} labels, {'multi' if result.multilabel else 'single'}-label")
    if params.ngram_max != 2:  # hashing is cheap next to fitting: count again for the n-grams used
        result = scan(run.read(), run.part, _hasher(stream, params.ngram_max), params.title_weight,
                      stream.batch_size, Progress(quiet=True))
    run.params, run.scan, run.labels, run.multilabel = params, result, labels, result.multilabel
    return run


def _fit_epochs(run: _Run, progress: Progress) -> Pipeline:
    """Build the hashing, tf-idf and SGD pipeline and train it with ``partial_fit``, epoch by epoch."""
    params, stream, labels = run.params, run.stream, run.labels
    hasher = _hasher(stream, params.ngram_max)
    tfidf = TfidfTransformer(sublinear_tf=params.sublinear_tf)
    n_train = run.scan.documents[TRAIN]
    tfidf.idf_ = np.log((1 + n_train) / (1 + run.scan.df)) + 1.0  # TfidfTransformer's smooth idf
    clf = _classifier(labels, run.multilabel, run.scan.counts[TRAIN], n_train, params, stream)
    for epoch in range(stream.epochs):
        train_docs = (d for d in run.read() if run.part(d) == TRAIN)
        for batch in batches(shuffled(train_docs, stream.shuffle_buffer, run.options.seed + epoch), stream.batch_size):
            X = tfidf.transform(hasher.transform(texts(batch, params.title_weight)))
            if run.multilabel:
                clf.partial_fit(X, label_matrix(batch, labels).astype(int))
            else:
                clf.partial_fit(X, np.array([d.labels[0] for d in batch]), classes=np.array(labels))
        progress.say(f"  epoch {epoch + 1}/{stream.epochs}")
    # Columns no training term hashed to keep a zero weight: store the coefficients sparse,
    # so the bundle and the service's memory grow with the terms seen, not with 2**hash_bits.
    clf.sparsify()
    return Pipeline([("vect", hasher), ("tfidf", tfidf), ("clf", clf)])


def _predict(run: _Run, pipeline: Pipeline, which: str) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """Probabilities, true labels, titles and lengths of one part of the corpus, batch by batch."""
    P, Y, titles, lengths = [], [], [], []
    for batch in run.batches_of(which):
        # Columns follow ``labels``: SGDClassifier sorts its classes, and the labels are sorted.
        P.append(np.asarray(pipeline.predict_proba(texts(batch, run.params.title_weight))))
        Y.append(label_matrix(batch, run.labels))
        titles += [d.title or d.text[:80] for d in batch]
        lengths += [article_length(d.title, d.text) for d in batch]
    return np.vstack(P), np.vstack(Y), titles, lengths


def _manifest(run: _Run, thresholds: np.ndarray) -> dict:
    """What the streaming trainer knows about its model, for the bundle's manifest."""
    options, stream, labels, documents = run.options, run.stream, run.labels, run.scan.documents
    descriptions: dict[str, str] = {}
    codes: dict[str, list[dict]] = {}
    for source in map(Path, options.data):
        if source.is_dir():
            descriptions.update(read_descriptions(source))
            codes.update(read_codes(source))
    seen = run.scan.counts[TRAIN]
    # The corpus is not held in memory: its languages are named from the first documents read.
    languages = options.languages or corpus_languages(list(islice(run.read(), LANGUAGE_SAMPLE)))
    return {
        "labels": labels,
        "thresholds": {label: float(t) for label, t in zip(labels, thresholds)},
        "descriptions": {label: descriptions[label] for label in labels if label in descriptions},
        "codes": {label: codes[label] for label in labels if label in codes},
        "languages": languages,
        "multilabel": run.multilabel,
        "label_counts": {label: int(seen[label]) for label in labels},
        "none_count": int(seen[NONE]),
        "cross_validation": None,
        "hyperparameters": run.params.to_dict(),
        "search": None,
        "data": {
            "sources": source_fingerprints(options.data),
            "documents": sum(documents.values()),
            "train_documents": documents[TRAIN],
            "validation_documents": documents.get(VALIDATION, 0),
            "test_documents": documents.get(TEST, 0),
            "split": (f"field {options.split_field!r}, validation by text hash" if options.split_field
                      else f"text hash, test_size={options.test_size}"),
            "refit_on_all": False,
        },
        "training": {
            "mode": "streaming",
            "features": f"HashingVectorizer, 2**{stream.hash_bits} columns, word 1-{run.params.ngram_max}-grams",
            "learner": "SGDClassifier(loss='log_loss') with partial_fit"
                       + (", one per label" if run.multilabel else ""),
            "streaming": asdict(stream),
            "argv": options.argv,
            "seed": options.seed,
            "min_examples": options.min_examples,
        },
    }


def _hasher(stream: StreamingOptions, ngram_max: int) -> HashingVectorizer:
    return HashingVectorizer(n_features=2 ** stream.hash_bits, ngram_range=(1, ngram_max), token_pattern=TOKEN_PATTERN,
                             lowercase=True, alternate_sign=False, norm=None, dtype=np.float64)


def _classifier(labels: list[str], multilabel: bool, counts: Counter, n_train: int, params: Hyperparameters,
                stream: StreamingOptions):
    """An SGD learner; 'balanced' class weights are computed from the scanned counts."""
    balanced = params.class_weight == "balanced"
    if multilabel:
        weights = None
        if balanced:
            # Per label, positives weigh sqrt(negatives / positives). Full balance (the ratio
            # itself, as LogisticRegression's "balanced" gives) makes SGD's steps on rare labels
            # huge: on Reuters-21578 macro-F1 fell to 0.37; the square root gave 0.58, as high as
            # the in-memory model's, and unweighted 0.43.
            weights = tuple((1.0, (max(n_train - counts[label], 1) / max(counts[label], 1)) ** 0.5)
                            for label in labels)
        return IncrementalOneVsRest(len(labels), stream.alpha, weights)
    class_weight = None
    if balanced:
        class_weight = {label: n_train / (len(labels) * max(counts[label], 1)) for label in labels}
    return SGDClassifier(loss="log_loss", alpha=stream.alpha, class_weight=class_weight, random_state=RANDOM_STATE)
