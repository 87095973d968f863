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
from joblib import cpu_count, parallel_config
from threadpoolctl import threadpool_limits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.utils.parallel import Parallel, delayed

from runtime.drift import article_length
from training.corpus import Corpus, CorpusError, Document, check_label_support, corpus_languages, label_matrix, \
    read_codes, read_corpus, texts
from training.drift import held_out_reference
from training.evaluate import compute_report
from training.options import TrainOptions, with_corpus_options
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


def _splits(docs: list[Document], folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, held-out) index pairs of the cross-validation: stratified on first labels where possible."""
    strata = _strata(docs)
    folds = max(2, min(folds, len(docs) // 2))
    if strata is not None and min(strata.count(k) for k in set(strata)) >= folds:
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(docs, strata))
    return list(KFold(folds, shuffle=True, random_state=seed).split(docs))


def _fit_fold(params: Hyperparameters, part: list[Document], held: list[Document], labels: list[str],
              multilabel: bool) -> np.ndarray:
    """Fit on one fold's training part and return its probabilities for the held-out part."""
    with warnings.catch_warnings():
        # A rare label can be absent from one fold's training part.
        warnings.simplefilter("ignore", UserWarning)
        pipeline = fit(params, part, labels, multilabel)
        return _proba_in_label_order(pipeline, texts(held, params.title_weight), labels, multilabel)


def _fold_calls(params: Hyperparameters, docs: list[Document], splits, labels: list[str], multilabel: bool) -> list:
    return [delayed(_fit_fold)(params, [docs[i] for i in train_idx], [docs[i] for i in test_idx], labels, multilabel)
            for train_idx, test_idx in splits]


def _out_of_fold(docs: list[Document], labels: list[str], multilabel: bool, splits,
                 held_out: list[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """Assemble the folds' probabilities; score each fold (accuracy, or micro-F1 at 0.5 when multi-label)."""
    P = np.zeros((len(docs), len(labels)))
    Y = label_matrix(docs, labels)
    scores = []
    for (_, test_idx), proba in zip(splits, held_out):
        P[test_idx] = proba
        if multilabel:
            pred = P[test_idx] >= 0.5
            truth = Y[test_idx]
            tp = (pred & truth).sum()
            denominator = pred.sum() + truth.sum()
            scores.append(float(2 * tp / denominator) if denominator else 1.0)
        else:
            scores.append(float(np.mean(Y[test_idx, P[test_idx].argmax(axis=1)])))
    return P, scores


def run_fits(calls: list, jobs: int, progress: Progress | None = None, label: str = "fits") -> list:
    """Run independent fits (``delayed`` calls), ``jobs`` at a time in worker processes; results in order.

    Each fit vectorizes and solves on one core (liblinear and the vectorizer are single-threaded), so the
    folds, the model and its refit are spread over processes. One BLAS thread per worker keeps the
    coefficients the same whatever the number of jobs (``tests/test_train.py`` checks this). ``jobs`` 1
    runs them here, in order; -1 means one per core. scikit-learn's ``Parallel`` and ``delayed`` (thin
    layers over joblib's) carry this process's warning filters and scikit-learn settings into the workers.
    """
    if jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be -1 (one per core) or a positive number, got {jobs}")
    workers = min(jobs if jobs > 0 else cpu_count(), len(calls))
    with parallel_config(backend="loky", inner_max_num_threads=1):
        results = Parallel(n_jobs=workers, batch_size=1, return_as="generator")(calls)
        return list(progress.bar(results, len(calls), label) if progress else results)


def out_of_fold(params: Hyperparameters, docs: list[Document], labels: list[str], multilabel: bool, folds: int,
                seed: int, jobs: int = 1, progress: Progress | None = None) -> tuple[np.ndarray, list[float]]:
    """Return out-of-fold probabilities for ``docs`` and the score of each fold."""
    splits = _splits(docs, folds, seed)
    held_out = run_fits(_fold_calls(params, docs, splits, labels, multilabel), jobs, progress, "folds")
    return _out_of_fold(docs, labels, multilabel, splits, held_out)


def grid_search(options: TrainOptions, docs: list[Document], labels: list[str], multilabel: bool,
                progress: Progress) -> tuple[Hyperparameters, list[dict]]:
    """Cross-validate each combination of SEARCH_GRID; return the best options and the table."""
    keys = list(SEARCH_GRID)
    table = []
    for values in progress.bar(list(itertools.product(*SEARCH_GRID.values())),
                               int(np.prod([len(v) for v in SEARCH_GRID.values()])), "grid"):
        params = replace(options.params, **dict(zip(keys, values)))
        _, scores = out_of_fold(params, docs, labels, multilabel, options.folds, options.seed, options.jobs)
        table.append({**dict(zip(keys, values)), "score": round(float(np.mean(scores)), 4),
                      "std": round(float(np.std(scores)), 4)})
    best = max(table, key=lambda row: row["score"])
    return replace(options.params, **{k: best[k] for k in keys}), table


# -- the run --------------------------------------------------------------

def train(options: TrainOptions) -> Path:
    """Train with the trainer ``options`` ask for and publish the bundle; return its folder."""
    progress = Progress(options.quiet)
    if options.streaming is None:  # the options a corpus asks for were chosen for this trainer, not SGD's
        options = with_corpus_options(options)
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
    refit = options.refit if options.refit is not None else not options.split_field
    final_docs = train_docs + test_docs if refit else train_docs
    with progress.stage("fitting"):  # the folds, the model to evaluate and its refit are independent fits
        splits = _splits(train_docs, options.folds, options.seed)
        # The largest fits first, so that no worker is left with one at the end.
        finals = [delayed(fit)(params, docs, labels, multilabel)
                  for docs in ([final_docs] if refit else []) + [train_docs]]
        results = run_fits(finals + _fold_calls(params, train_docs, splits, labels, multilabel), options.jobs,
                           progress)
        oof, fold_scores = _out_of_fold(train_docs, labels, multilabel, splits, results[len(finals):])
        pipeline = results[len(finals) - 1]  # fitted on the training part: evaluated, then replaced by the refit
    with progress.stage("tuning thresholds"):
        thresholds = tune_thresholds(label_matrix(train_docs, labels), oof)
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
    if refit:
        pipeline = results[0]
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
        "hyperparameters_why": {**why_defaults(params, multilabel),
                                **{name: why for name, why in options.params_why.items()  # unless --search moved it
                                   if getattr(params, name) == getattr(options.params, name)}},
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
