"""Where a request's server time goes: the model, the classify view, Flask, and everything around them.

    python -m bench.breakdown [--seconds 5] [--rounds 7]

Runs the service as bench.http does (the project's gunicorn.conf.py, 2
workers, the same 1 KB article) but with bench/instrumented.py's
timers, and drives single-article classify and /healthz at 8 connections with
wrk, taking turns. The server's CPU time per request (from /proc) is split
into the model's ``score``, the rest of the classify view (reading and
checking the JSON, shaping the answer, metrics), the rest of the Flask app
(routing, request hooks, response headers) and everything outside the app
(gunicorn's parsing, threads and sockets, the kernel's TCP work, the master).
For comparison it then runs a server whose view calls the model twice per
request, timing the second call apart, and times the same article's
``score`` in a loop in this process, where the caches stay warm:
once while wrk keeps that server busy and once on the idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import read_records, record
from bench.http import default_model, measured, one_kb_article, start, stop, wrk
from bench.loadgen import http, worker_pids
from runtime.model import TopicModel

STAGES = ("app", "view", "model", "model again")


def snapshot(url: str, master: int) -> dict[int, dict]:
    """Every worker's stage totals, keyed by pid (each question is a new connection, so any worker may answer)."""
    pids, seen = set(worker_pids(master)), {}
    for _ in range(200):
        _, _, answer = http("GET", url + "/_bench/stages")
        seen[answer["pid"]] = answer["stages"]
        if pids <= seen.keys():
            return seen
    raise SystemExit(f"only workers {sorted(seen)} of {sorted(pids)} answered")


def stage_means(before: dict, after: dict) -> dict[str, float]:
    """Mean CPU microseconds per call of each stage between two snapshots, over all workers."""
    means = {}
    for stage in STAGES:
        spent = calls = 0
        for pid, stages in after.items():
            now, then = stages.get(stage, [0, 0]), before.get(pid, {}).get(stage, [0, 0])
            spent, calls = spent + now[0] - then[0], calls + now[1] - then[1]
        means[stage] = spent / calls / 1000 if calls else 0.0
    return means


def warm_predict(models: Path, article: dict, calls: int = 2000) -> float:
    """Median CPU microseconds of one score call (what the view calls) on the article, in a loop in this process."""
    model = TopicModel.load(models / "current")
    texts, titles = [article["text"]], [article["title"]]
    times = []
    for _ in range(7):
        started = time.thread_time_ns()
        for _ in range(calls):
            model.score(texts, titles)
        times.append((time.thread_time_ns() - started) / calls / 1000)
    return statistics.median(times[1:])  # the first pass warms up


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    models = default_model()
    tmp = Path(tempfile.mkdtemp(prefix="topics-breakdown-"))
    article = one_kb_article(read_records("bbc"))
    single = tmp / "single.json"
    single.write_text(json.dumps(article))

    loads = (("classify, 1 KB article", "/v1/classify", single), ("/healthz", "/healthz", None))
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in loads}
    process, url = start(models, 2, True, "bench.instrumented:app")
    try:
        for round_ in range(args.rounds):
            for name, path, body in loads if round_ % 2 == 0 else loads[::-1]:
                wrk(url + path, 8, 1, body)  # warm up
                before = snapshot(url, process.pid)
                run = measured(url + path, process.pid, 8, args.seconds, body)
                run.update(stage_means(before, snapshot(url, process.pid)))
                runs[name].append(run)
    finally:
        stop(process)

    os.environ["TOPICS_BENCH_MODEL_TWICE"] = "1"  # the servers' environment comes from this process's
    try:
        process, url = start(models, 2, True, "bench.instrumented:app")
    finally:
        del os.environ["TOPICS_BENCH_MODEL_TWICE"]
    twice = []
    try:
        for _ in range(min(args.rounds, 3)):
            wrk(url + "/v1/classify", 8, 1, single)
            before = snapshot(url, process.pid)
            measured(url + "/v1/classify", process.pid, 8, args.seconds, single)
            twice.append(stage_means(before, snapshot(url, process.pid)))
        # The loop again, while wrk keeps the server busy on /healthz: the same work on a loaded machine.
        load = threading.Thread(target=wrk, args=(url + "/healthz", 8, args.seconds * 3))
        load.start()
        time.sleep(1)
        loaded = warm_predict(models, article, calls=500)
        load.join()
    finally:
        stop(process)
    first, again = (statistics.median(run[stage] for run in twice) for stage in ("model", "model again"))
    warm = warm_predict(models, article)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    rows = ["| request | requests/s | server CPU per request | outside the app (gunicorn, kernel) | "
            "Flask: routing, hooks, response | classify view without the model | model (score) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    parts = {}
    for name, _, _ in loads:
        cpu, app, view, model = (median(name, key) for key in ("cpu_us", "app", "view", "model"))
        parts[name] = (median(name, "rate"), cpu, cpu - app, app - view, view - model, model)
    classify, healthz = parts["classify, 1 KB article"], parts["/healthz"]
    for name, (rate, *micros) in parts.items():
        rows.append(f"| {name} | {rate:,.0f} | " + " | ".join(f"{m:,.0f} µs" if m else "–" for m in micros) + " |")
    rows.append("| classify minus /healthz | | " + " | ".join(f"{c - h:,.0f} µs" for c, h in zip(classify[1:], healthz[1:]))
                + " |")
    ratios = [c["rate"] / h["rate"] for c, h in zip(runs["classify, 1 KB article"], runs["/healthz"])]
    record("Where a request's server time goes", "python -m bench.breakdown", "\n".join(rows),
           f"2 workers, 8 connections, {args.rounds} rounds of {args.seconds} s per request kind, "
           f"medians per column (the last row subtracts them). Stages are thread CPU time measured inside the "
           f"workers; 'outside the app' is the server's CPU per request from /proc minus the time in the Flask "
           f"app (for /healthz its one-line view is in the Flask column). In a server whose view calls the model twice per request, the first call took {first:.0f} µs "
           f"and the second, right after it, {again:.0f} µs; the same article's score called in a loop "
           f"in one process takes {warm:.0f} µs on the idle machine and {loaded:.0f} µs while wrk loads a server "
           f"on /healthz. "
           f"Classify's rate was {statistics.median(ratios):.0%} of /healthz's in this run (rounds: "
           f"{', '.join(f'{r:.0%}' for r in ratios)}); the timers' clock reads are included in both.")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
