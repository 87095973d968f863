"""The training command line: ``python -m training`` (or ``topics-train``) parses options and runs a trainer.

    python -m training                              # seeds/ -> models/current
    python -m training --data my.jsonl --out models/
    python -m training --streaming --data archive.jsonl.gz

Only argument parsing and error reporting live here; the run itself is
``training.train.train``, which code and tests call directly.
"""

from __future__ import annotations

import argparse
from argparse import SUPPRESS
import sys
from concurrent.futures import BrokenExecutor
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from runtime.bundle import CURRENT_LINK, DEFAULT_KEEP, BundleError, signing_key_from_environment
from training.corpus import CorpusError, CsvColumns
from training.options import DEFAULT_DATA, DEFAULT_OUT, StreamingOptions, TrainOptions
from training.pipeline import RANDOM_STATE, Hyperparameters
from training.train import SEARCH_GRID, train


MODEL_OPTIONS = [f.name for f in fields(Hyperparameters)]


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs == 0 or jobs < -1:
        raise argparse.ArgumentTypeError(f"must be -1 (one per core) or a positive number, got {value!r}")
    return jobs


def _max_features(value: str) -> int | None:
    if value == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'all', got {value!r}") from None


def _parser() -> argparse.ArgumentParser:
    defaults = Hyperparameters()
    p = argparse.ArgumentParser(prog="python -m training",
                                description="Train a topic model and publish it as a verified bundle.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    io = p.add_argument_group("data")
    io.add_argument("--data", nargs="+", type=Path, default=[DEFAULT_DATA],
                    help="JSONL/CSV files (optionally .gz), folders of them, or LABEL/*.txt folders")
    io.add_argument("--out", type=Path, default=DEFAULT_OUT, help="models folder; the new bundle becomes OUT/current")
    io.add_argument("--split-field", help="use this field's train/test values instead of a random hold-out")
    io.add_argument("--test-size", type=float, default=0.2, help="hold-out share when there is no split field")
    io.add_argument("--folds", type=int, default=5, help="cross-validation folds on the training part")
    io.add_argument("--seed", type=int, default=RANDOM_STATE, help="seed of the split and the folds")
    io.add_argument("--jobs", type=_jobs, default=-1,
                    help="fits (folds, model, refit) run at once in worker processes; -1: one per core, 1: none")
    io.add_argument("--min-examples", type=int, default=2, help="fewest documents a label may have")
    io.add_argument("--text-column", default="text", help="CSV column holding the article text")
    io.add_argument("--title-column", default="title", help="CSV column holding the title (optional)")
    io.add_argument("--labels-column", default="labels", help="CSV column holding the labels")
    io.add_argument("--id-column", default="id", help="CSV column holding the document id (optional)")
    io.add_argument("--languages", nargs="+", metavar="CODE",
                    help="ISO 639-1 codes the model reads (default: detected from the corpus); "
                         "articles confidently in another language get no topics")
    io.add_argument("--label-separator", default="|", help="separates several labels in one CSV cell")
    model = p.add_argument_group("model")
    # No parser defaults: the flags given are the caller's choices (TrainOptions.chosen), and the rest come
    # from the corpus folder's training.json or the built-in defaults.
    model.add_argument("--C", type=float, default=SUPPRESS,
                       help="inverse regularization strength (default: 30 single-label, 5 multi-label)")
    model.add_argument("--ngram-max", type=int, default=SUPPRESS,
                       help="longest word n-gram (default: 2 single-label, 1 multi-label; seeds/ asks for 2)")
    model.add_argument("--min-df", type=int, default=SUPPRESS,
                       help=f"drop terms in fewer documents (default: {defaults.min_df})")
    model.add_argument("--max-df", type=float, default=SUPPRESS,
                       help=f"drop terms in a larger share (default: {defaults.max_df})")
    model.add_argument("--max-features", type=_max_features, default=SUPPRESS,
                       help="keep the most frequent terms, or 'all' (default: all)")
    model.add_argument("--title-weight", type=int, default=SUPPRESS,
                       help=f"times the title is counted (default: {defaults.title_weight})")
    model.add_argument("--char-ngrams", action=argparse.BooleanOptionalAction, default=SUPPRESS,
                       help="add character 2-5-grams (slower, no fast path; default: off)")
    model.add_argument("--class-weight", choices=["balanced", "none"], default=SUPPRESS,
                       help=f"'balanced' reweights rare labels up (default: {defaults.class_weight})")
    model.add_argument("--sublinear-tf", action=argparse.BooleanOptionalAction, default=SUPPRESS,
                       help="1 + log(count) instead of raw term counts (default: on)")
    model.add_argument("--scope-gate", action=argparse.BooleanOptionalAction, default=SUPPRESS,
                       help="multi-label: a model of 'none of these' scales the labels' probabilities (default: on)")
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
    run.add_argument("--candidate", action="store_true",
                     help="publish as OUT/candidate; `python -m training.promote` gates it into current")
    run.add_argument("--keep", type=int, default=DEFAULT_KEEP, help="published versions to keep")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def options_from_args(argv: Sequence[str] | None = None) -> TrainOptions:
    """Parse the command line into TrainOptions."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    given = {name: getattr(args, name) for name in MODEL_OPTIONS if hasattr(args, name)}
    if given.get("class_weight") == "none":
        given["class_weight"] = None
    return TrainOptions(
        data=args.data, out=args.out, split_field=args.split_field, test_size=args.test_size, folds=args.folds,
        jobs=args.jobs, seed=args.seed, min_examples=args.min_examples,
        refit=args.refit, search=args.search, keep=args.keep,
        candidate=args.candidate,
        quiet=args.quiet, languages=args.languages, signing_key=signing_key_from_environment(), argv=argv,
        streaming=StreamingOptions(hash_bits=args.hash_bits, epochs=args.epochs, alpha=args.alpha,
                                   batch_size=args.batch_size, shuffle_buffer=args.shuffle_buffer)
        if args.streaming else None,
        columns=CsvColumns(text=args.text_column, title=args.title_column, labels=args.labels_column,
                           id=args.id_column, split=args.split_field or "split", separator=args.label_separator),
        params=Hyperparameters(**given),
        chosen=frozenset(given),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Train and publish; print one clear error and return 2 on bad input."""
    options = options_from_args(argv)
    try:
        train(options)
    except (CorpusError, BundleError, ValueError) as exc:
        print(f"error: {exc}\nnothing was published.", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the bundle: {exc}\nnothing was published; "
              f"{options.out / CURRENT_LINK} is unchanged.", file=sys.stderr)
        return 2
    except BrokenExecutor as exc:  # a worker process died: most often killed for memory
        print(f"error: a training worker process stopped ({exc})\nnothing was published; with less memory, "
              "try --jobs 1 (one process) or --streaming.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was published.", file=sys.stderr)
        return 130
    return 0
