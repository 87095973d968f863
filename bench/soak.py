"""Long reliability scenarios against gunicorn on loopback; its table replaces the last run's in RELIABILITY.md.

    python -m bench.soak [--seconds 60] [--clients 16]     (make soak)

1. Soak: N clients send real articles for T seconds: errors, latency, memory at start and end.
2. Hot reload under load: publish new bundles while clients send batches.
3. SIGKILL of one worker under load.
4. SIGTERM while a large batch is in flight.
Every loop is bounded in count and time, and only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.common import RELIABILITY, WORK, machine, read_records, replace_section, require_corpora
from bench.http import start, stop
from bench.loadgen import JSON, Load, http, rss_mib, worker_pids
from runtime import bundle
from training.options import TrainOptions
from training.train import train

ROOT = Path(__file__).resolve().parent.parent


def _latency(load: Load) -> str:
    times = sorted(t for _, _, t in load.results)
    return f"{statistics.median(times) * 1e3:.1f} / {times[int(len(times) * 0.99)] * 1e3:.1f} ms"


def run_clients(url: str, clients: int, articles: list[dict], seconds: float) -> list:
    """Run one client per thread, each sending its own article, for ``seconds``; return every result."""
    loads = [Load(url, threads=1, body=articles[i % len(articles)], max_requests=10**9, max_seconds=seconds)
             for i in range(clients)]
    for load in loads:
        load.__enter__()
    for load in loads:
        for t in load.threads:
            t.join()
    return [r for load in loads for r in load.results]


def soak(models: Path, seconds: int, clients: int, articles: list[dict]) -> str:
    process, url = start(models, int(os.environ.get("TOPICS_WORKERS", 2)), 2, preload=True)
    try:
        # Warm up with the same clients and articles first, so every worker has touched the model
        # and reached its working size: "start" is the steady state, not a half-loaded process.
        run_clients(url, clients, articles, 15)
        samples = [rss_mib([process.pid] + worker_pids(process.pid))]
        merged = Load(url)
        for _ in range(max(1, seconds // 15)):
            merged.results += run_clients(url, clients, articles, min(15, seconds))
            samples.append(rss_mib([process.pid] + worker_pids(process.pid)))
    finally:
        stop(process)
    series = " -> ".join(f"{m:.0f}" for m in samples)
    return (f"| soak: {clients} clients x {seconds} s, 200 real articles (after 15 s of warm-up) | "
            f"{len(merged.results):,} | {len(merged.failed)} | RSS every 15 s | {_latency(merged)} | {series} MiB |")


def hot_reload(models: Path, data: Path) -> str:
    process, url = start(models, 2, 2, preload=True)
    published = {bundle.current_version(models)}
    body = {"articles": [{"text": "goal striker"}, {"text": "shares bonds"}] * 25}
    try:
        with Load(url, threads=4, body=body, path="/v1/classify/batch", max_seconds=120) as load:
            for _ in range(5):
                published.add(train(TrainOptions(data=[data], out=models, quiet=True)).name)
                time.sleep(1.0)
    finally:
        stop(process)
    mixed = sum(len({r["model"]["version"] for r in body["results"]}) > 1 for s, body, _ in load.results if s == 200)
    unknown = sum(body["results"][0]["model"]["version"] not in published for s, body, _ in load.results if s == 200)
    seen = {body["results"][0]["model"]["version"] for s, body, _ in load.results if s == 200}
    return (f"| hot reload: 5 bundles published under 4 clients sending batches of 50 | {len(load.results):,} | "
            f"{len(load.failed)} | {mixed} mixed, {unknown} unknown versions; {len(seen)} versions served | "
            f"{_latency(load)} | |")


def sigkill(models: Path) -> str:
    process, url = start(models, 2, 2, preload=True)
    try:
        with Load(url, threads=4, max_requests=10**9, max_seconds=60) as load:
            time.sleep(2)
            os.kill(worker_pids(process.pid)[0], signal.SIGKILL)
            time.sleep(3)
        replaced = len(worker_pids(process.pid))
    finally:
        stop(process)
    return (f"| SIGKILL one of 2 workers under 4 clients | {len(load.results):,} | {len(load.failed)} | "
            f"lost connections only; {replaced} workers after | {_latency(load)} | |")


def sigterm(models: Path) -> str:
    os.environ.update(TOPICS_MAX_BATCH_BYTES="60000000", TOPICS_MAX_BATCH_ARTICLES="5000")
    process, url = start(models, 1, 2, preload=True)
    body = json.dumps({"articles": [{"text": "goal striker penalty keeper " * 400}] * 3000}).encode()
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(r=http("POST", url + "/v1/classify/batch", body, JSON,
                                                                   timeout=120)))
    thread.start()
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    thread.join()
    process.wait(timeout=60)
    status, _, result = outcome["r"]
    done = len(result["results"]) if status == 200 else 0
    return f"| SIGTERM with a 3,000-article batch in flight | 1 | {int(status != 200)} | {done} results returned | | |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args(argv)
    require_corpora()
    models = WORK / "soak-models"
    train(TrainOptions(out=models, quiet=True))
    articles = [{"title": r["title"], "text": r["text"]} for r in read_records("bbc")[:200]]
    data = WORK / "soak-data.jsonl"
    from tests.conftest import make_documents, write_jsonl

    write_jsonl(data, make_documents())
    rows = ["| scenario | requests | failed | notes | latency p50 / p99 | memory (all processes) start -> end |",
            "| --- | ---: | ---: | --- | ---: | --- |",
            soak(models, args.seconds, args.clients, articles), hot_reload(models, data), sigkill(models),
            sigterm(models)]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"## Soak and fault scenarios\n\n`python -m bench.soak --seconds {args.seconds} --clients "
             f"{args.clients}`, {stamp}; {machine()}.\n\n" + "\n".join(rows) + "\n")
    print(block)
    RELIABILITY.write_text(replace_section(RELIABILITY.read_text(encoding="utf-8"), "Soak and fault scenarios", block),
                           encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
