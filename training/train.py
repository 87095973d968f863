"""Train a topic model and publish it as a verified bundle.

    python -m training.train                       # seeds/ -> models/current
    python -m training.train --data my.jsonl --out models/

Stages: read the corpus, split it, cross-validate on the training part to get
out-of-fold probabilities (and tune per-label thresholds on them), fit,
evaluate on the held-out part, write the bundle and publish it atomically.
With ``--streaming`` the corpus is streamed instead of held in memory
(``training/streaming.py``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from training import bundle
from training.corpus import Corpus, CorpusError, CsvColumns, Document, check_label_support, label_matrix, \
    read_corpus, texts
from training.evaluate import compute_report, plot_report, render_markdown
from training.model import TopicModel, library_versions
from training.pipeline import RANDOM_STATE, Hyperparameters, build_pipeline
from training.progress import Progress
from training.streaming import StreamingOptions, train_streaming
from training.thresholds import tune_thresholds

DEFAULT_DATA = Path("seeds")
DEFAULT_OUT = Path("models")
TRAIN_VALUES = {"train", "training"}
TEST_VALUES = {"test", "testing"}
SEARCH_GRID = {"C": [3.0, 10.0, 30.0, 100.0], "ngram_max": [1, 2], "title_weight": [1, 2]}


@dataclass
class TrainOptions:
    """Everything a training run depends on."""

    data: list[Path] = field(default_factory=lambda: [DEFAULT_DATA])
    out: Path = DEFAULT_OUT
    params: Hyperparameters = field(default_factory=Hyperparameters)
    columns: CsvColumns = field(default_factory=CsvColumns)
    split_field: str | None = None
    test_size: float = 0.2
    folds: int = 5
    seed: int = RANDOM_STATE
    min_examples: int = 2
    refit: bool | None = None
    search: bool = False
    keep: int = bundle.DEFAULT_KEEP
    quiet: bool = False
    signing_key: bytes | None = None
    argv: list[str] = field(default_factory=list)
    streaming: StreamingOptions | None = None  # set: train on a corpus larger than memory


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

def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _summary(report: dict) -> dict:
    return {key: report[key] for key in ("documents", "accuracy", "accuracy_kind", "micro", "macro",
                                         "hamming_loss", "no_topic_share")} | {"ece": report["calibration"]["ece"]}


def train(options: TrainOptions) -> Path:
    """Run every stage and publish the bundle; return its folder."""
    if options.streaming is not None:
        return train_streaming(options, options.streaming)
    progress = Progress(options.quiet)
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
    refit = options.refit if options.refit is not None else not options.split_field
    final_docs = train_docs + test_docs if refit else train_docs
    if refit:
        with progress.stage("refitting on all documents"):
            pipeline = fit(params, final_docs, labels, multilabel)
    with progress.stage("publishing"):
        folder = _write_and_publish(options, pipeline, corpus, labels, thresholds, multilabel, report,
                                    params, search_table, train_docs, test_docs, final_docs, refit, progress)
    progress.say(f"published {folder.name}: accuracy {report['accuracy']:.4f}, micro-F1 "
                 f"{report['micro']['f1']:.4f}, macro-F1 {report['macro']['f1']:.4f} -> {options.out / 'current'}")
    return folder


def _write_and_publish(options, pipeline, corpus, labels, thresholds, multilabel, report, params,
                       search_table, train_docs, test_docs, final_docs, refit, progress) -> Path:
    report["context"] = {
        "data": ", ".join(str(p) for p in options.data),
        "evaluated on": (f"the corpus's own test split ({len(test_docs)} documents)" if options.split_field
                         else f"a stratified {options.test_size:.0%} hold-out ({len(test_docs)} documents)"),
        "published model trained on": f"{len(final_docs)} documents" + (" (all, refit after evaluation)"
                                                                       if refit else ""),
    }
    if search_table is not None:
        report["search"] = search_table
    manifest = {
        "labels": labels,
        "thresholds": {label: float(t) for label, t in zip(labels, thresholds)},
        "descriptions": {label: corpus.descriptions[label] for label in labels if label in corpus.descriptions},
        "multilabel": multilabel,
        "label_counts": {label: int(sum(label in d.labels for d in final_docs)) for label in labels},
        "none_count": int(sum(not d.labels for d in final_docs)),
        "metrics": _summary(report),
        "cross_validation": report["cross_validation"],
        "hyperparameters": params.to_dict(),
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
    return publish_bundle(options, pipeline, report, manifest, progress)


def publish_bundle(options: TrainOptions, pipeline, report: dict, manifest: dict, progress: Progress) -> Path:
    """Write the model, its report and manifest into a staging folder, check it loads, publish it.

    ``manifest`` holds what the trainer knows; the version (from the model's
    checksum), creation time, stage timings, library versions and git commit
    are added here.
    """
    staging = bundle.new_staging_dir(options.out)
    try:
        joblib.dump(pipeline, staging / bundle.MODEL_FILE, compress=("zlib", 3))
        version = bundle.make_version(bundle.sha256_file(staging / bundle.MODEL_FILE))
        report["context"] = {"model version": version, **report.get("context", {})}
        (staging / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (staging / "report.md").write_text(render_markdown(report, heading=f"Model {version}"))
        plot_report(report, staging / "report.png")
        manifest = {
            "version": version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **manifest,
            "versions": library_versions(),
            "git_commit": _git_commit(),
        }
        manifest["training"] = {**manifest.get("training", {}), "timings": dict(progress.timings)}
        bundle.write_manifest(staging, manifest, options.signing_key)
        TopicModel.load(staging, options.signing_key)  # the published bundle must load
        return bundle.publish(staging, options.out, version, options.keep, options.signing_key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# -- command line ---------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    defaults = Hyperparameters()
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    io = p.add_argument_group("data")
    io.add_argument("--data", nargs="+", type=Path, default=[DEFAULT_DATA],
                    help="JSONL/CSV files (optionally .gz), folders of them, or LABEL/*.txt folders")
    io.add_argument("--out", type=Path, default=DEFAULT_OUT, help="models folder; the new bundle becomes OUT/current")
    io.add_argument("--split-field", help="use this field's train/test values instead of a random hold-out")
    io.add_argument("--test-size", type=float, default=0.2, help="hold-out share when there is no split field")
    io.add_argument("--folds", type=int, default=5, help="cross-validation folds on the training part")
    io.add_argument("--seed", type=int, default=RANDOM_STATE, help="seed of the split and the folds")
    io.add_argument("--min-examples", type=int, default=2, help="fewest documents a label may have")
    io.add_argument("--text-column", default="text", help="CSV column holding the article text")
    io.add_argument("--title-column", default="title", help="CSV column holding the title (optional)")
    io.add_argument("--labels-column", default="labels", help="CSV column holding the labels")
    io.add_argument("--id-column", default="id", help="CSV column holding the document id (optional)")
    io.add_argument("--label-separator", default="|", help="separates several labels in one CSV cell")
    model = p.add_argument_group("model")
    model.add_argument("--C", type=float, default=defaults.C,
                       help="inverse regularization strength (default: 30 single-label, 5 multi-label)")
    model.add_argument("--ngram-max", type=int, default=defaults.ngram_max,
                       help="longest word n-gram (default: 2 single-label, 1 multi-label)")
    model.add_argument("--min-df", type=int, default=defaults.min_df, help="drop terms in fewer documents")
    model.add_argument("--max-df", type=float, default=defaults.max_df, help="drop terms in a larger share")
    model.add_argument("--max-features", type=int, default=defaults.max_features, help="keep the most frequent terms")
    model.add_argument("--title-weight", type=int, default=defaults.title_weight, help="times the title is counted")
    model.add_argument("--char-ngrams", action="store_true", help="add character 2-5-grams (slower, no fast path)")
    model.add_argument("--class-weight", choices=["balanced", "none"], default=defaults.class_weight,
                       help="'balanced' reweights rare labels up")
    model.add_argument("--no-sublinear-tf", action="store_true", help="use raw term counts")
    model.add_argument("--search", action="store_true", help=f"cross-validate the grid {SEARCH_GRID} first")
    stream_defaults = StreamingOptions()
    streaming = p.add_argument_group("streaming (corpora larger than memory; see training/streaming.py)")
    streaming.add_argument("--streaming", action="store_true",
                           help="stream the corpus: hashed features and SGD with partial_fit, bounded memory")
    streaming.add_argument("--epochs", type=int, default=stream_defaults.epochs, help="passes over the corpus")
    streaming.add_argument("--alpha", type=float, default=stream_defaults.alpha, help="SGD regularization")
    streaming.add_argument("--hash-bits", type=int, default=stream_defaults.hash_bits,
                           help="2**BITS hashed feature columns")
    streaming.add_argument("--batch-size", type=int, default=stream_defaults.batch_size,
                           help="documents per partial_fit")
    streaming.add_argument("--shuffle-buffer", type=int, default=stream_defaults.shuffle_buffer,
                           help="documents held to shuffle the stream")
    run = p.add_argument_group("run")
    refit = run.add_mutually_exclusive_group()
    refit.add_argument("--refit", dest="refit", action="store_true", default=None,
                       help="refit on all documents after evaluating (default without --split-field)")
    refit.add_argument("--no-refit", dest="refit", action="store_false", help="publish the model evaluated")
    run.add_argument("--keep", type=int, default=bundle.DEFAULT_KEEP, help="published versions to keep")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def options_from_args(argv: Sequence[str] | None = None) -> TrainOptions:
    """Parse the command line into TrainOptions."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    key = os.environ.get("TOPICS_SIGNING_KEY")
    return TrainOptions(
        data=args.data, out=args.out, split_field=args.split_field, test_size=args.test_size, folds=args.folds,
        seed=args.seed, min_examples=args.min_examples, refit=args.refit, search=args.search, keep=args.keep,
        quiet=args.quiet, signing_key=key.encode() if key else None, argv=argv,
        streaming=StreamingOptions(hash_bits=args.hash_bits, epochs=args.epochs, alpha=args.alpha,
                                   batch_size=args.batch_size, shuffle_buffer=args.shuffle_buffer)
        if args.streaming else None,
        columns=CsvColumns(text=args.text_column, title=args.title_column, labels=args.labels_column,
                           id=args.id_column, split=args.split_field or "split", separator=args.label_separator),
        params=Hyperparameters(C=args.C, ngram_max=args.ngram_max, min_df=args.min_df, max_df=args.max_df,
                               max_features=args.max_features, title_weight=args.title_weight,
                               char_ngrams=args.char_ngrams,
                               class_weight=None if args.class_weight == "none" else args.class_weight,
                               sublinear_tf=not args.no_sublinear_tf),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Train and publish; print one clear error and return 2 on bad input."""
    options = options_from_args(argv)
    try:
        train(options)
    except (CorpusError, bundle.BundleError, ValueError) as exc:
        print(f"error: {exc}\nnothing was published.", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the bundle: {exc}\nnothing was published; "
              f"{options.out / bundle.CURRENT_LINK} is unchanged.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was published.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
