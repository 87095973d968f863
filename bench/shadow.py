"""What shadow scoring adds to classify latency: off, every article, and a tenth of them.

    python -m bench.shadow [--requests 2000] [--batches 40] [--rounds 5] [--models DIR]

The default model (trained on seeds/) is current and a second one, trained on
the same seeds with another random seed, is the candidate; ``--models`` names
a models folder that already holds both. Three apps serve that folder in
this process, with ``TOPICS_SHADOW_SAMPLE`` at 0, 1.0 and 0.1 and everything
else at its default (language detection on). Requests go through Flask's
test client, the whole app as gunicorn runs it minus the socket, with the
metrics written to a multiprocess folder as under gunicorn: single articles of
the real-news mix (``bench.common.news_mix``) and batches of 100 of them. Each
round sends the same requests to the three apps in turn, the order rotating;
every request is timed on its own. The table gives medians and p99 over all
rounds and the median's ratio to shadow off.

The candidate scores its sample inside the request, after the answer is built.
Under gunicorn's gevent workers one worker runs one request's Python at a
time, so scoring after the response was sent would only move the same CPU
time to before the worker's next request: the added time here is what a
worker spends, whichever way it is arranged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import WORK, news_mix, record
from training.options import TrainOptions
from training.train import train

SETTINGS = (("off", 0.0), ("every article (1.0)", 1.0), ("a tenth (0.1)", 0.1))
BATCH = 100


def train_models(out: Path = WORK / "shadow-models") -> Path:
    """Train the default model as current and the same recipe with another seed as the candidate."""
    train(TrainOptions(out=out, quiet=True))
    train(TrainOptions(out=out, quiet=True, candidate=True, seed=1))
    return out


def apps(models: Path) -> dict:
    """One test client per shadow setting, over the same models folder."""
    from service import create_app  # after PROMETHEUS_MULTIPROC_DIR is set: metrics as under gunicorn

    clients = {}
    for name, share in SETTINGS:
        app = create_app({"TOPICS_MODEL_DIR": str(models), "TOPICS_SHADOW_SAMPLE": share})
        if share and app.extensions["topics"].candidate is None:
            raise SystemExit(f"{models} holds no candidate that loads; train one with --candidate")
        clients[name] = app.test_client()
    return clients


def timed(client, path: str, bodies: list[bytes]) -> list[float]:
    """Send each body; return each request's seconds."""
    seconds = []
    for body in bodies:
        started = time.perf_counter()
        response = client.post(path, data=body, content_type="application/json")
        seconds.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}: {response.get_data(as_text=True)[:200]}")
    return seconds


def measure(clients: dict, loads: list[tuple[str, str, list[bytes]]], rounds: int) -> dict:
    """Time every load on every app, in rounds that rotate the apps' order; {(load, setting): [seconds]}."""
    times: dict = {}
    names = list(clients)
    for name in names:  # warm up: caches, the detector, the first metric children
        for _, path, bodies in loads:
            timed(clients[name], path, bodies[:20])
    for round_ in range(rounds):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for load, path, bodies in loads:
            for name in order:
                times.setdefault((load, name), []).extend(timed(clients[name], path, bodies))
    return times


def table(times: dict, loads: list[str]) -> str:
    """Medians, p99 and the median's ratio to shadow off, per load and setting."""
    rows = ["| load | shadow sample | median | p99 | median vs off |", "| --- | --- | ---: | ---: | ---: |"]
    for load in loads:
        base = statistics.median(times[(load, SETTINGS[0][0])])
        for name, _ in SETTINGS:
            values = sorted(times[(load, name)])
            median, p99 = statistics.median(values), values[min(len(values) - 1, int(len(values) * 0.99))]
            rows.append(f"| {load} | {name} | {median * 1e3:.3f} ms | {p99 * 1e3:.3f} ms | {median / base:.2f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shadow", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="single-article requests per app and round")
    parser.add_argument("--batches", type=int, default=40, help=f"batches of {BATCH} articles per app and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", type=Path, help="a models folder with current and candidate (default: train both)")
    args = parser.parse_args(argv)
    if "prometheus_client" not in sys.modules:  # its value store is chosen when it is first imported
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="topics-shadow-metrics-"))
    singles = [json.dumps({"title": t, "text": x}).encode() for t, x in news_mix(args.requests)]
    mix = news_mix(args.batches * BATCH, seed=1)
    batches = [json.dumps({"articles": [{"title": t, "text": x} for t, x in mix[i:i + BATCH]]}).encode()
               for i in range(0, len(mix), BATCH)]
    models = args.models or train_models()
    clients = apps(models)
    loads = [("classify, one article", "/v1/classify", singles),
             (f"classify/batch, {BATCH} articles", "/v1/classify/batch", batches)]
    times = measure(clients, loads, args.rounds)
    single = {name: statistics.median(times[(loads[0][0], name)]) for name, _ in SETTINGS}
    added = (single[SETTINGS[1][0]] - single[SETTINGS[0][0]]) * 1e6
    record("Shadow scoring: classify latency", "python -m bench.shadow", table(times, [load for load, _, _ in loads]),
           f"In process through Flask's test client, metrics in a multiprocess folder as under gunicorn, language "
           f"detection on; rounds: {args.rounds}, each of {args.requests:,} single articles and {args.batches} "
           f"batches of {BATCH} of the real-news mix per app, the three apps taking turns. Scoring every article "
           f"with the "
           f"candidate too adds {added:,.0f} µs to a single-article request's median (the candidate's prediction "
           "and the topics_shadow_* counters); the answers are the same bytes either way (tests/test_shadow.py).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
