"""Train a topic model in memory: read, split, cross-validate, tune thresholds, fit, evaluate.

    python -m training                       # seeds/ -> models/current (see training/cli.py)

Stages: read the corpus, split it, cross-validate on the training part to get
out-of-fold probabilities (and tune per-label thresholds on them), fit,
evaluate on the held-out part; :func:`train` then hands the result to the
publisher (``training/publish.py``). With ``options.streaming`` set the
corpus is streamed instead of held in memory (``training/streaming.py``).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from runtime.drift import article_length
from training.corpus import Corpus, CorpusError, Document, check_label_support, corpus_languages, label_matrix, \
    read_codes, read_corpus, texts
from training.drift import held_out_reference
from training.evaluate import compute_report
from training.options import TrainOptions
from training.pipeline import Hyperparameters, build_pipeline, why_defaults
from training.progress import Progress
from training.publish import Trained, publish
from training.streaming import fit_streaming
from training.thresholds import tune_thresholds

TRAIN_VALUES = {"train", "training"}
TEST_VALUES = {"test", "testing"}
SEARCH_GRID = {"C": [3.0, 10.0, 30.0, 100.0], "ngram_max": [1, 2], "title_weight": [1, 2]}


# -- data -----------------------------------------------------------------

def _targets(docs: Sequence[Document], labels: list[str], multilabel: bool):
    return label_matrix(docs, labels).astype(int) if multilabel else np.array([d.labels[0] for d in docs])


def _strata(docs: Sequence[Document]) -> list[str] | None:
    """Stratify on each document's first label; None when that is impossible."""
    keys = [d.labels[0] if d.labels else "" for d in docs]
    counts = {k: keys.count(k) for k in set(keys)}
    keys = [k if counts[k] >= 2 else "_rare" for k in keys]
    if keys.count("_rare") == 1 or len(set(keys)) < 2:
        return None
    return keys


def split_documents(docs: list[Document], options: TrainOptions) -> tuple[list[Document], list[Document]]:
    """Return (train, test): the corpus's own split, or a stratified hold-out."""
    if options.split_field:
        train, test = [], []
        for doc in docs:
            value = (doc.split or "").lower()
            if value in TRAIN_VALUES:
                train.append(doc)
            elif value in TEST_VALUES:
                test.append(doc)
            else:
                raise CorpusError(doc.source, f"field {options.split_field!r} is {doc.split!r}; "
                                  "expected 'train' or 'test'", doc.line)
        if not train or not test:
            raise CorpusError(options.data[0], f"the {options.split_field!r} field gives {len(train)} training "
                              f"and {len(test)} test documents; both must be non-empty")
        return train, test
    if len(docs) < 10:
        raise CorpusError(options.data[0], f"{len(docs)} documents are too few to train and evaluate (need 10)")
    train, test = train_test_split(docs, test_size=options.test_size, random_state=options.seed,
                                   stratify=_strata(docs))
    return list(train), list(test)


def _check_labels(corpus: Corpus, train: list[Document], test: list[Document], minimum: int) -> None:
    check_label_support(corpus.documents, minimum)
    known = {label for d in train for label in d.labels}
    for doc in test:
        for label in doc.labels:
            if label not in known:
                raise CorpusError(doc.source, f"label {label!r} appears in the test part but never in "
                                  "the training part", doc.line)
    if len(known) < 2 and not any(not d.labels for d in train):
        raise CorpusError(train[0].source, f"need at least two labels (or one label and 'none' examples), "
                          f"found {sorted(known)}")


# -- fitting --------------------------------------------------------------

def fit(params: Hyperparameters, docs: Sequence[Document], labels: list[str], multilabel: bool):
    """Fit a fresh pipeline on ``docs``."""
    pipeline = build_pipeline(params, multilabel, n_documents=len(docs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(texts(docs, params.title_weight), _targets(docs, labels, multilabel))
    return pipeline


def _proba_in_label_order(pipeline, strings: list[str], labels: list[str], multilabel: bool) -> np.ndarray:
    proba = np.asarray(pipeline.predict_proba(strings))
    if multilabel:
        return proba
    out = np.zeros((len(strings), len(labels)))
    for k, label in enumerate(pipeline.named_steps["clf"].classes_):
        out[:, labels.index(label)] = proba[:, k]
    return out


def out_of_fold(params: Hyperparameters, docs: list[Document], labels: list[str], multilabel: bool,
                folds: int, seed: int, progress: Progress | None = None) -> tuple[np.ndarray, list[float]]:
    """Return out-of-fold probabilities for ``docs`` and the score of each fold.

    The fold score is accuracy (single-label) or micro-F1 at 0.5 (multi-label).
    """
    strata = _strata(docs)
    folds = max(2, min(folds, len(docs) // 2))
    if strata is not None and min(strata.count(k) for k in set(strata)) >= folds:
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(docs, strata)
    else:
        splits = KFold(folds, shuffle=True, random_state=seed).split(docs)
    P = np.zeros((len(docs), len(labels)))
    Y = label_matrix(docs, labels)
    scores = []
    iterator = progress.bar(list(splits), folds, "folds") if progress else splits
    for train_idx, test_idx in iterator:
        part = [docs[i] for i in train_idx]
        held = [docs[i] for i in test_idx]
        with warnings.catch_warnings():
            # A rare label can be absent from one fold's training part.
            warnings.simplefilter("ignore", UserWarning)
            pipeline = fit(params, part, labels, multilabel)
            P[test_idx] = _proba_in_label_order(pipeline, texts(held, params.title_weight), labels, multilabel)
        if multilabel:
            pred = P[test_idx] >= 0.5
            truth = Y[test_idx]
            tp = (pred & truth).sum()
            denominator = pred.sum() + truth.sum()
            scores.append(float(2 * tp / denominator) if denominator else 1.0)
        else:
            scores.append(float(np.mean(Y[test_idx, P[test_idx].argmax(axis=1)])))
    return P, scores


def grid_search(options: TrainOptions, docs: list[Document], labels: list[str], multilabel: bool,
                progress: Progress) -> tuple[Hyperparameters, list[dict]]:
    """Cross-validate each combination of SEARCH_GRID; return the best options and the table."""
    keys = list(SEARCH_GRID)
    table = []
    for values in progress.bar(list(itertools.product(*SEARCH_GRID.values())),
                               int(np.prod([len(v) for v in SEARCH_GRID.values()])), "grid"):
        params = replace(options.params, **dict(zip(keys, values)))
        _, scores = out_of_fold(params, docs, labels, multilabel, options.folds, options.seed)
        table.append({**dict(zip(keys, values)), "score": round(float(np.mean(scores)), 4),
                      "std": round(float(np.std(scores)), 4)})
    best = max(table, key=lambda row: row["score"])
    return replace(options.params, **{k: best[k] for k in keys}), table


# -- the run --------------------------------------------------------------

def train(options: TrainOptions) -> Path:
    """Train with the trainer ``options`` ask for and publish the bundle; return its folder."""
    progress = Progress(options.quiet)
    # One BLAS thread: liblinear's vector operations are too short to gain from threads (one label's fit on
    # the seeds took 0.16 s with one thread, 1.67 s with two), and the model no longer depends on how
    # many cores the machine has (with two threads the coefficients moved by up to 1e-2).
    with threadpool_limits(limits=1, user_api="blas"):
        trained = fit_streaming(options, progress) if options.streaming is not None else fit_in_memory(options, progress)
    with progress.stage("publishing"):
        return publish(options, trained, progress)


def fit_in_memory(options: TrainOptions, progress: Progress) -> Trained:
    """Read, split, cross-validate, tune thresholds, fit and evaluate; return what the publisher needs."""
    params = options.params
    params.validate()
    with progress.stage("reading"):
        corpus = read_corpus(options.data, options.columns, options.split_field or "split")
        train_docs, test_docs = split_documents(corpus.documents, options)
        _check_labels(corpus, train_docs, test_docs, options.min_examples)
        labels = corpus.labels
        multilabel = any(len(d.labels) != 1 for d in corpus.documents)
        progress.say(f"  {len(corpus.documents)} documents ({len(train_docs)} train, {len(test_docs)} test), "
                     f"{len(labels)} labels, {'multi' if multilabel else 'single'}-label")
    search_table = None
    if options.search:
        with progress.stage("searching"):
            params, search_table = grid_search(options, train_docs, labels, multilabel, progress)
            progress.say(f"  best: C={params.C} ngram_max={params.ngram_max} title_weight={params.title_weight}")
    params = params.resolved(multilabel)  # record the values actually used
    with progress.stage("tuning thresholds"):
        oof, fold_scores = out_of_fold(params, train_docs, labels, multilabel, options.folds, options.seed, progress)
        thresholds = tune_thresholds(label_matrix(train_docs, labels), oof)
    with progress.stage("fitting"):
        pipeline = fit(params, train_docs, labels, multilabel)
    with progress.stage("evaluating"):
        test_texts = texts(test_docs, params.title_weight)
        P = _proba_in_label_order(pipeline, test_texts, labels, multilabel)
        report = compute_report(label_matrix(test_docs, labels), P, labels, thresholds, multilabel,
                                [d.title or d.text[:80] for d in test_docs])
        report["cross_validation"] = {
            "folds": len(fold_scores), "metric": "micro-F1 at 0.5" if multilabel else "accuracy",
            "mean": round(float(np.mean(fold_scores)), 4), "std": round(float(np.std(fold_scores)), 4),
            "scores": [round(s, 4) for s in fold_scores],
        }
        # Before any refit: the drift report's reference is how a model behaves on articles it never saw.
        reference = held_out_reference(pipeline, P, thresholds, labels, multilabel,
                                       [article_length(d.title, d.text) for d in test_docs], test_texts,
                                       "held-out set")
    refit = options.refit if options.refit is not None else not options.split_field
    final_docs = train_docs + test_docs if refit else train_docs
    if refit:
        with progress.stage("refitting on all documents"):
            pipeline = fit(params, final_docs, labels, multilabel)
    report["context"] = {
        "data": ", ".join(str(p) for p in options.data),
        "evaluated on": (f"the corpus's own test split ({len(test_docs)} documents)" if options.split_field
                         else f"a stratified {options.test_size:.0%} hold-out ({len(test_docs)} documents)"),
        "published model trained on": f"{len(final_docs)} documents" + (" (all, refit after evaluation)"
                                                                       if refit else ""),
    }
    if search_table is not None:
        report["search"] = search_table
    codes: dict[str, list[dict]] = {}
    for source in options.data:
        if Path(source).is_dir():
            codes.update(read_codes(Path(source)))
    manifest = {
        "labels": labels,
        "thresholds": {label: float(t) for label, t in zip(labels, thresholds)},
        "descriptions": {label: corpus.descriptions[label] for label in labels if label in corpus.descriptions},
        "codes": {label: codes[label] for label in labels if label in codes},
        "languages": options.languages or corpus_languages(final_docs),
        "multilabel": multilabel,
        "label_counts": {label: int(sum(label in d.labels for d in final_docs)) for label in labels},
        "none_count": int(sum(not d.labels for d in final_docs)),
        "cross_validation": report["cross_validation"],
        "hyperparameters": params.to_dict(),
        "hyperparameters_why": why_defaults(params, multilabel),
        "search": search_table,
        "data": {
            "sources": corpus.sources,
            "documents": len(corpus.documents),
            "train_documents": len(train_docs),
            "test_documents": len(test_docs),
            "split": (f"field {options.split_field!r}" if options.split_field
                      else f"stratified hold-out, test_size={options.test_size}, seed={options.seed}"),
            "refit_on_all": refit,
        },
        "training": {
            "mode": "in-memory",
            "argv": options.argv,
            "seed": options.seed,
            "folds": options.folds,
            "min_examples": options.min_examples,
        },
    }
    evaluation = [{"id": d.id, "title": d.title, "text": d.text, "labels": list(d.labels)} for d in test_docs]
    return Trained(pipeline, report, manifest, evaluation, reference)
