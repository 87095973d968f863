"""The offline batch's command line: ``python -m batch`` (or ``topics-batch``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from batch.local import run_local
from batch.records import BatchError
from batch.spark import run_spark
from runtime.bundle import BundleError, signing_key_from_environment
from runtime.model import TopicModel


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, load and verify the model, run the chosen engine."""
    parser = argparse.ArgumentParser(prog="python -m batch",
                                     description="Classify archives offline with a model bundle: on all cores "
                                                 "of one machine, or on Apache Spark.")
    parser.add_argument("--engine", choices=("local", "spark"), default="local")
    parser.add_argument("--model", default=os.environ.get("TOPICS_MODEL_DIR", "models") + "/current",
                        help="a bundle folder, or a models folder's 'current' (default: $TOPICS_MODEL_DIR/current)")
    parser.add_argument("--in", dest="source", required=True, help="a .jsonl(.gz)/.parquet file or a folder of them")
    parser.add_argument("--out", required=True, help="local: a JSON Lines file; spark: an output folder")
    parser.add_argument("--threshold", type=float, help="one threshold for every label (default: the tuned ones)")
    parser.add_argument("--top-k", type=int, help="keep only the k best scores")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    local = parser.add_argument_group("local engine")
    local.add_argument("--workers", type=int, help="processes (default: one per core)")
    local.add_argument("--chunk-size", type=int, default=500, help="articles per task (default 500)")
    local.add_argument("--restart", action="store_true", help="discard OUT and start over instead of resuming")
    spark = parser.add_argument_group("spark engine")
    spark.add_argument("--master", help="Spark master URL (default: local[*], or the one spark-submit gives)")
    spark.add_argument("--format", choices=("json", "parquet"), default="json", help="output format (default json)")
    spark.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    args = parser.parse_args(argv)
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        parser.error("--threshold must be from 0 to 1")
    if args.top_k is not None and args.top_k < 1:
        parser.error("--top-k must be 1 or more")
    try:
        model = TopicModel.load(args.model, signing_key_from_environment())
        started = time.perf_counter()
        if args.engine == "local":
            count = run_local(model, Path(args.source), Path(args.out), workers=args.workers,
                              chunk_size=args.chunk_size, threshold=args.threshold, top_k=args.top_k,
                              restart=args.restart, quiet=args.quiet)
        else:
            count = run_spark(model, args.source, args.out, master=args.master, output_format=args.format,
                              threshold=args.threshold, top_k=args.top_k, overwrite=args.overwrite)
    except (BatchError, BundleError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130
    if not args.quiet:
        elapsed = time.perf_counter() - started
        print(f"{count:,} articles classified with model {model.version} in {elapsed:.1f}s "
              f"({count / max(elapsed, 1e-9):,.0f}/s)", file=sys.stderr)
    return 0
