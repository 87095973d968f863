"""The local engine: classify a JSON Lines or Parquet archive on every core of one machine, resumably."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

import client
from batch.records import BatchError, classify_records, read_article
from runtime.articles import article_files
from runtime.model import TopicModel

JSON_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)


_worker_model: TopicModel | None = None


def _init_worker(model: TopicModel) -> None:
    global _worker_model
    _worker_model = model
    # Ctrl-C reaches the whole process group: the parent stops the pool; workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _classify_chunk(first_line: int, items: list, threshold: float | None, top_k: int | None) -> str:
    """Decode and classify one chunk in a worker; return its output lines, ready to append."""
    records: list[dict | None] = []
    read: list = []
    for item in items:
        if isinstance(item, bytes):
            try:
                item = json.loads(item)
            except ValueError as exc:
                records.append(None)
                read.append(f"invalid JSON: {exc}")
                continue
        records.append(item)
        read.append(read_article(item))
    answers = classify_records(_worker_model, records, read, threshold, top_k)
    return "".join(json.dumps({"line": first_line + i, **answer}, ensure_ascii=False) + "\n"
                   for i, answer in enumerate(answers))


def input_files(path: Path) -> list[Path]:
    """Return the input files: ``path`` itself, or the JSON Lines / Parquet files in that folder, sorted."""
    try:
        return article_files(path, JSON_SUFFIXES + PARQUET_SUFFIXES, ".jsonl, .jsonl.gz or .parquet")
    except ValueError as exc:
        raise BatchError(str(exc)) from None


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
            raise BatchError(f"{path}: reading Parquet needs pyarrow (pip install -c requirements.txt '.[spark]')") \
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
    """A tqdm bar on stderr over the input's bytes, with the articles written and their rate."""

    def __init__(self, total_bytes: int, quiet: bool):
        self.bar = tqdm(total=max(total_bytes, 1), unit="B", unit_scale=True, disable=quiet, file=sys.stderr)
        self.started = time.monotonic()

    def seen(self, read: int) -> None:
        self.bar.update(min(read, self.bar.total) - self.bar.n)

    def show(self, done: int, final: bool = False) -> None:
        rate = done / max(time.monotonic() - self.started, 1e-9)
        self.bar.set_postfix_str(f"{done:,} articles, {rate:,.0f}/s", refresh=final)
        if final:
            self.bar.close()


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
