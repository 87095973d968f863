"""Classify archives offline with a model bundle: on all cores of one machine, or on Apache Spark.

    python -m service.batch --model models/current --in archive.jsonl --out topics.jsonl
    python -m service.batch --engine spark --model models/current --in archive/ --out topics/

Both engines load the bundle with the service's verifying loader
(:meth:`training.model.TopicModel.load`), predict with the same path and shape
every answer with :meth:`~training.model.TopicModel.answer`, so an article gets
the same topics and scores here as from ``POST /v1/classify``.

**local** (the default) reads JSON Lines (``.jsonl``, ``.jsonl.gz``) or Parquet
(``.parquet``), a file or a folder of them, and writes one JSON line per input
article, in input order: ``{"line", "id", "topics", "scores", "model"}``, or
``{"line", "id", "error"}`` for an article that cannot be classified (bad JSON,
no text). Chunks of articles go to one process per core; only a few chunks are
in flight at a time, so memory stays flat on any input size. Interrupted, the
same command resumes after the last complete output line; it refuses to resume
a file written by another model version (``--restart`` starts over).

**spark** runs the same classification as a Spark job (``mapInPandas``). The
bundle folder is shipped once to each executor (``SparkContext.addFile``) and
verified and loaded there once per Python worker. Input is JSON Lines or
Parquet with ``id``, ``text`` and optional ``title``; the output folder (JSON
Lines, or Parquet with ``--format parquet``) holds one row per article, keyed by
``id``, with ``topics``, ``scores``, ``model`` and ``error``. Without
``--master`` it runs in local mode on every core; under ``spark-submit`` it
uses the cluster that was given.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import Iterator, Sequence

from service import client
from service.api import parse_article
from service.errors import InvalidField
from training.bundle import BundleError
from training.model import TopicModel

JSON_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)


class BatchError(Exception):
    """The batch cannot start or go on; the message says why."""


# -- one chunk of articles ----------------------------------------------------

def check_article(record: object) -> str | None:
    """Return why ``record`` cannot be classified, or None when it can: the API's own rules and words."""
    try:
        parse_article(record)
    except InvalidField as exc:
        return exc.detail
    return None


def classify_records(model: TopicModel, records: list[dict | None], errors: list[str | None],
                     threshold: float | None = None, top_k: int | None = None) -> list[dict]:
    """Answer each record like the service does; a record with an error gets that error instead."""
    good = [i for i, error in enumerate(errors) if error is None]
    P = model.predict_proba([records[i]["text"] for i in good], [records[i].get("title") for i in good])
    answers: list[dict] = [{"id": _id_of(record), "error": error} for record, error in zip(records, errors)]
    for row, i in enumerate(good):
        answers[i] = {"id": records[i].get("id"), **model.answer(P[row], threshold, top_k)}
    return answers


def _id_of(record: object):
    doc_id = record.get("id") if isinstance(record, dict) else None
    return doc_id if isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool) else None


# -- local engine ---------------------------------------------------------------

_worker_model: TopicModel | None = None


def _init_worker(model: TopicModel) -> None:
    global _worker_model
    _worker_model = model
    # Ctrl-C reaches the whole process group: the parent stops the pool; workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _classify_chunk(first_line: int, items: list, threshold: float | None, top_k: int | None) -> str:
    """Decode and classify one chunk in a worker; return its output lines, ready to append."""
    records: list[dict | None] = []
    errors: list[str | None] = []
    for item in items:
        if isinstance(item, bytes):
            try:
                item = json.loads(item)
            except ValueError as exc:
                records.append(None)
                errors.append(f"invalid JSON: {exc}")
                continue
        records.append(item)
        errors.append(check_article(item))
    answers = classify_records(_worker_model, records, errors, threshold, top_k)
    return "".join(json.dumps({"line": first_line + i, **answer}, ensure_ascii=False) + "\n"
                   for i, answer in enumerate(answers))


def input_files(path: Path) -> list[Path]:
    """Return the input files: ``path`` itself, or the JSON Lines / Parquet files in that folder, sorted."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(JSON_SUFFIXES + PARQUET_SUFFIXES))
        if not files:
            raise BatchError(f"{path}: no .jsonl, .jsonl.gz or .parquet files in this folder")
        return files
    if not path.is_file():
        raise BatchError(f"{path}: no such file or folder")
    return [path]


def read_chunks(files: list[Path], size: int, skip: int = 0, seen=None) -> Iterator[list]:
    """Yield chunks of at most ``size`` input records after skipping the first ``skip``.

    JSON Lines records stay raw bytes (workers decode them); Parquet rows come
    as dicts. ``seen(bytes_done)`` reports progress through the files.
    """
    chunk: list = []
    number = 0
    done_bytes = 0
    for path in files:
        for item, position in _records(path):
            number += 1
            if number <= skip:
                continue
            chunk.append(item)
            if len(chunk) >= size:
                if seen:
                    seen(done_bytes + position)
                yield chunk
                chunk = []
        done_bytes += path.stat().st_size
    if chunk:
        yield chunk
    if seen:
        seen(done_bytes)


def _records(path: Path) -> Iterator[tuple[object, int]]:
    """Yield (record, bytes of the file read so far) for one input file."""
    if path.name.endswith(PARQUET_SUFFIXES):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise BatchError(f"{path}: reading Parquet needs pyarrow (pip install -r requirements-spark.txt)") \
                from None

        parquet = pq.ParquetFile(path)
        columns = [c for c in ("id", "title", "text") if c in parquet.schema_arrow.names]
        if "text" not in columns:
            raise BatchError(f"{path}: the Parquet file has no 'text' column")
        per_group = path.stat().st_size / max(parquet.metadata.num_rows, 1)
        done = 0
        for batch in parquet.iter_batches(batch_size=4096, columns=columns):
            for row in batch.to_pylist():
                done += 1
                yield row, int(done * per_group)
        return
    with open(path, "rb") as raw:
        source = gzip.GzipFile(fileobj=raw) if path.name.endswith(".gz") else raw
        for line in source:  # a blank line is a record too: it gets an error line
            yield line, raw.tell()


def completed_lines(out: Path) -> tuple[int, str | None]:
    """Count whole lines in ``out`` and return the model version of the last one.

    A trailing partial line (left by a kill mid-write) is cut off first, as
    the command-line client does when it resumes.
    """
    count = client.completed_lines(out)
    if not count:
        return 0, None
    with open(out, "rb") as fh:
        fh.seek(max(0, fh.seek(0, os.SEEK_END) - 65536))
        last = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        return count, json.loads(last).get("model", {}).get("version")
    except ValueError:
        raise BatchError(f"{out}: the last line is not a result line; is this the right output file?") from None


class _Meter:
    """A progress line on stderr: records done, share of input read, rate."""

    def __init__(self, total_bytes: int, quiet: bool):
        self.total, self.quiet = max(total_bytes, 1), quiet
        self.read = 0
        self.started = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def seen(self, read: int) -> None:
        self.read = read

    def show(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not final and now - self.last < (0.2 if self.tty else 10)):
            return
        self.last = now
        share = min(self.read / self.total, 1.0)
        rate = done / max(now - self.started, 1e-9)
        line = f"[{'#' * int(30 * share)}{'.' * (30 - int(30 * share))}] {share:4.0%}  {done:,} articles  {rate:,.0f}/s"
        sys.stderr.write(("\r" + line) if self.tty else line + "\n")
        if final and self.tty:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run_local(model: TopicModel, source: Path, out: Path, *, workers: int | None = None, chunk_size: int = 500,
              threshold: float | None = None, top_k: int | None = None, restart: bool = False,
              quiet: bool = False) -> int:
    """Classify ``source`` into ``out`` (JSON Lines) on ``workers`` processes; return the lines written now."""
    files = input_files(source)
    if restart and out.exists():
        out.unlink()
    done, version = completed_lines(out)
    if version is not None and version != model.version:
        raise BatchError(f"{out} holds results of model {version}, not {model.version}; "
                         "use --restart to start over, or another --out")
    if done and not quiet:
        print(f"resuming after {done:,} articles already in {out}", file=sys.stderr)
    workers = workers or os.cpu_count() or 1
    meter = _Meter(sum(p.stat().st_size for p in files), quiet)
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    written = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with context.Pool(workers, initializer=_init_worker, initargs=(model,)) as pool, \
            open(out, "a", encoding="utf-8") as sink:
        pending: deque = deque()
        line = done + 1

        def write_oldest() -> None:
            nonlocal written
            lines, count = pending.popleft()
            sink.write(lines.get())
            sink.flush()
            written += count
            meter.show(done + written)

        # At most two chunks per worker are queued or running; results are
        # written in input order as soon as the oldest one is ready.
        for chunk in read_chunks(files, chunk_size, done, meter.seen):
            if len(pending) >= 2 * workers:
                write_oldest()
            pending.append((pool.apply_async(_classify_chunk, (line, chunk, threshold, top_k)), len(chunk)))
            line += len(chunk)
        while pending:
            write_oldest()
        os.fsync(sink.fileno())
    meter.show(done + written, final=True)
    return written


# -- Spark engine -----------------------------------------------------------------

SPARK_SCHEMA = ("id string, topics array<struct<label:string,score:double>>, scores map<string,double>, "
                "model struct<version:string>, error string")
_spark_models: dict[str, TopicModel] = {}


def _spark_model(folder_name: str) -> TopicModel:
    """Verify and load the shipped bundle once per Python worker."""
    if folder_name not in _spark_models:
        from pyspark import SparkFiles

        _spark_models[folder_name] = TopicModel.load(Path(SparkFiles.get(folder_name)), _signing_key())
    return _spark_models[folder_name]


def _spark_classifier(folder_name: str, threshold: float | None, top_k: int | None):
    def classify(frames):
        import pandas as pd

        model = _spark_model(folder_name)
        for frame in frames:
            records = frame.to_dict("records")
            for record in records:  # Spark gives missing values as None or NaN
                for key, value in list(record.items()):
                    if value is None or (isinstance(value, float) and value != value):
                        del record[key]
            answers = classify_records(model, records, [check_article(r) for r in records], threshold, top_k)
            yield pd.DataFrame({
                "id": [None if a["id"] is None else str(a["id"]) for a in answers],
                "topics": [a.get("topics") for a in answers],
                "scores": [a.get("scores") for a in answers],
                "model": [a.get("model") for a in answers],
                "error": [a.get("error") for a in answers],
            })
    return classify


def run_spark(model: TopicModel, source: str, out: str, *, master: str | None = None, output_format: str = "json",
              threshold: float | None = None, top_k: int | None = None, overwrite: bool = False,
              input_format: str | None = None) -> int:
    """Classify ``source`` into the ``out`` folder with Spark; return the number of articles."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BatchError("the Spark engine needs pyspark: pip install -r requirements-spark.txt") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter in local mode
    builder = SparkSession.builder.appName("topics-batch").config("spark.ui.showConsoleProgress", "false")
    # spark-submit sets SPARK_HOME and passes its own master; anywhere else, default to local mode.
    under_submit = bool(os.environ.get("SPARK_HOME")) or "spark.master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    if master or not under_submit:
        builder = builder.master(master or "local[*]")
    spark = builder.getOrCreate()
    from pyspark.errors import PySparkException

    try:
        folder = Path(model.path)
        spark.sparkContext.addFile(str(folder), recursive=True)
        fmt = input_format or ("parquet" if str(source).rstrip("/").endswith(".parquet") or _holds_parquet(source)
                               else "json")
        if fmt == "parquet":
            frame = spark.read.parquet(source)
        else:
            frame = spark.read.schema("id string, title string, text string").json(source)
        if "id" not in frame.columns or "text" not in frame.columns:
            raise BatchError(f"{source}: Spark input needs 'id' and 'text' fields (found {sorted(frame.columns)})")
        columns = [c for c in ("id", "title", "text") if c in frame.columns]
        frame = frame.select(*[frame[c].cast("string") for c in columns])
        result = frame.mapInPandas(_spark_classifier(folder.name, threshold, top_k), SPARK_SCHEMA)
        writer = result.write.mode("overwrite" if overwrite else "errorifexists")
        writer.parquet(out) if output_format == "parquet" else writer.json(out)
        # Count what was written (cheaply: Parquet footers, or lines of text).
        return spark.read.parquet(out).count() if output_format == "parquet" else spark.read.text(out).count()
    except PySparkException as exc:  # a missing input, an existing output, a failed task: one line, no trace
        raise BatchError(str(exc).strip().splitlines()[0]) from None
    finally:
        spark.stop()


def _holds_parquet(source: str) -> bool:
    path = Path(source)
    return path.is_dir() and any(p.suffix == ".parquet" for p in path.iterdir())


# -- command line -----------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, load and verify the model, run the chosen engine."""
    parser = argparse.ArgumentParser(prog="python -m service.batch", description=__doc__.split("\n\n")[0])
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
        model = TopicModel.load(args.model, _signing_key())
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


def _signing_key() -> bytes | None:
    key = os.environ.get("TOPICS_SIGNING_KEY")
    return key.encode() if key else None


if __name__ == "__main__":
    sys.exit(main())
