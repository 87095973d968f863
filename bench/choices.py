"""Measure the two places where the project keeps its own code beside a well-kept library.

    python -m bench.choices [--articles 40000]

1. **Request parsing.** One classify request's JSON body (a 1 KB real article) decoded and checked
   by the service's own code (``service.requests`` + ``runtime.articles``), by msgspec (a typed
   ``Struct``, unknown fields forbidden) and by pydantic (``model_validate_json``), best of 7
   rounds of 20,000 bodies each; then what each says about six bad bodies.
2. **The offline batch's process pool.** ``batch.local.run_local`` (a ``multiprocessing`` pool whose
   forked workers share the loaded model) beside ``joblib.Parallel`` (loky workers; the model
   travels to them with the tasks), on the same articles, one run each: wall time and the peak
   resident memory of the whole process tree.

The article text is read from ../shared/corpora (BBC); the model is the default one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.common import WORK, article_mix, read_records, record, require_corpora, run_sampled
from training.options import TrainOptions
from training.train import train

BAD_BODIES = {
    "text is a number": b'{"text": 5}',
    "unknown field": b'{"text": "a b c", "colour": "red"}',
    "duplicate key": b'{"text": "a b c", "text": "d e f"}',
    "NaN threshold": b'{"text": "a b c", "threshold": NaN}',
    "empty text": b'{"text": "   "}',
    "top_k zero": b'{"text": "a b c", "top_k": 0}',
}


def _own(body: bytes):
    from flask import Flask

    from runtime.articles import check_known, parse_article
    from service.api import CLASSIFY_FIELDS
    from service.requests import _DECODER, parse_options

    app = Flask("bench")

    def parse(raw: bytes):
        data = _DECODER.decode(raw.decode("utf-8"))
        check_known(data, CLASSIFY_FIELDS)
        return parse_article(data), parse_options(data)

    def run(raw: bytes):
        with app.test_request_context("/v1/classify", method="POST"):
            return parse(raw)
    return parse, run, app


def _msgspec():
    import msgspec

    class Classify(msgspec.Struct, forbid_unknown_fields=True):
        text: str  # emptiness is checked below, as the service does
        title: str | None = None
        id: str | int | None = None
        top_k: int | None = None
        threshold: float | None = None
        explain: bool = False

    decoder = msgspec.json.Decoder(Classify)

    def parse(raw: bytes):
        value = decoder.decode(raw)
        if not value.text.strip():
            raise ValueError("'text' is empty.")
        if value.top_k is not None and value.top_k < 1:
            raise ValueError("'top_k' must be a positive integer")
        return value
    return parse


def _pydantic():
    from pydantic import BaseModel, ConfigDict, Field

    class Classify(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        text: str = Field(pattern=r"\S")
        title: str | None = None
        id: str | int | None = None
        top_k: int | None = Field(default=None, ge=1)
        threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
        explain: bool = False

    return Classify.model_validate_json


def _best(parse, body: bytes, n: int = 20_000, rounds: int = 7) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            parse(body)
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def _verdict(parse, body: bytes) -> str:
    try:
        parse(body)
    except Exception as exc:  # each library has its own error type
        return str(getattr(exc, "detail", exc)).replace("\n", " ").replace("|", "/")[:90]
    return "**accepted**"


def parsing_table() -> str:
    bbc = read_records("bbc")
    text = next(r["text"] for r in bbc if 1000 <= len(r["text"]) <= 1200)
    body = json.dumps({"title": "A headline", "text": text}).encode()
    own_parse, own_run, app = _own(body)
    parsers = {"service's own (json + checks)": own_parse, "msgspec Struct": _msgspec(), "pydantic model": _pydantic()}
    rows = ["| parser | µs per 1 KB body (best of 7) |", "| --- | ---: |"]
    with app.test_request_context("/v1/classify", method="POST"):
        for name, parse in parsers.items():
            rows.append(f"| {name} | {_best(parse, body):.1f} |")
        rows += ["", "| bad body | " + " | ".join(parsers) + " |", "| --- |" + " --- |" * len(parsers)]
        for what, bad in BAD_BODIES.items():
            rows.append(f"| {what} | " + " | ".join(_verdict(p, bad) for p in parsers.values()) + " |")
    return "\n".join(rows)


POOL = """
import sys, time
from pathlib import Path
from runtime.model import TopicModel
model = TopicModel.load(sys.argv[2])
source, out = Path(sys.argv[3]), Path(sys.argv[4])
if sys.argv[1] == "multiprocessing":
    from batch.local import run_local
    run_local(model, source, out, quiet=True, restart=True)
else:
    import json
    from joblib import Parallel, delayed
    from batch.local import input_files, read_chunks
    from batch.records import classify_records, read_article

    def chunk_lines(model, first, items):
        records = [json.loads(i) for i in items]
        answers = classify_records(model, records, [read_article(r) for r in records])
        return "".join(json.dumps({"line": first + k, **a}) + "\\n" for k, a in enumerate(answers))

    chunks = list(read_chunks(input_files(source), 500))
    starts = [1 + 500 * k for k in range(len(chunks))]
    with open(out, "w") as sink:
        for lines in Parallel(n_jobs=-1, return_as="generator", pre_dispatch="2*n_jobs")(
                delayed(chunk_lines)(model, s, c) for s, c in zip(starts, chunks)):
            sink.write(lines)
"""


def pool_table(articles: int) -> str:
    work = WORK / "choices"
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"articles-{articles}.jsonl"
    if not source.exists():
        with open(source, "w", encoding="utf-8") as fh:
            for i, (title, text) in enumerate(article_mix(articles, seed=1)):
                fh.write(json.dumps({"id": f"a{i}", "title": title, "text": text}, ensure_ascii=False) + "\n")
    model = train(TrainOptions(out=work / "models", quiet=True))
    rows = ["| pool | articles | wall time | articles/s | peak memory of the process tree |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for kind in ("multiprocessing", "joblib"):
        out = work / f"out-{kind}.jsonl"
        code, seconds, samples = run_sampled([sys.executable, "-c", POOL, kind, str(model), str(source), str(out)],
                                             every=0.2)
        if code != 0:
            rows.append(f"| {kind} | {articles:,} | failed (exit {code}) | | |")
            continue
        rows.append(f"| {kind} | {articles:,} | {seconds:.1f} s | {articles / seconds:,.0f} | "
                    f"{max(m for _, m in samples):.0f} MiB |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.choices", description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=40_000)
    args = parser.parse_args(argv)
    require_corpora()
    record("Choices: request parsing", "python -m bench.choices", parsing_table())
    record("Choices: the offline batch's process pool", "python -m bench.choices", pool_table(args.articles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
