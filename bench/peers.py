"""The same trained pipeline served three ways, side by side: a plain Flask app, Seldon MLServer, this service.

    python -m bench.peers [--seconds 5] [--rounds 5]

One run, one machine, one load: wrk with 8 connections on loopback sending
single articles of the real-news mix (``bench.common.news_mix``) to

1. a plain Flask app that ``joblib.load``s the pipeline and calls
   ``predict_proba`` (``bench/peer_flask.py``), under gunicorn with the
   service's worker count and 2 threads each, as the tutorials have it;
2. Seldon MLServer with its scikit-learn runtime (V2 inference protocol), as
   one process (``parallel_workers: 0``) and with one inference worker
   process per core (``parallel_workers: 2``). MLServer runs in its own
   virtual environment (``bench/.work/peers-venv``, from
   ``bench/requirements-peers.txt``), made on first use, so it never touches
   the service's dependencies;
3. this service, with its own gunicorn.conf.py.

All serve the default model's pipeline, exported once with joblib; MLServer
gets the text already joined the way the service joins title and text, so
every server scores the same string (checked before timing). Servers take
turns in every round; the table has each one's median round. CPU per request
is the server's whole process tree's user + system time over the requests wrk
completed; memory is the tree's PSS after the load (shared pages counted once).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import joblib
import numpy as np

from bench.common import ROOT, WORK, news_mix, record, tree_cpu, tree_pss_mib
from bench.http import default_model, start, stop, wrk
from bench.loadgen import free_port
from runtime.articles import compose_text
from runtime.model import TopicModel

VENV = WORK / "peers-venv"
REQUIREMENTS = ROOT / "bench" / "requirements-peers.txt"
CONNECTIONS = 8
CEILING = "(the plain Flask app's empty /healthz route: no model)"


def peers_venv() -> Path:
    """The peers' virtual environment, made (or remade when the requirements change) on first use."""
    stamp = VENV / "requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (stamp.is_file() and stamp.read_text() == digest):
        print(f"making {VENV} from {REQUIREMENTS.relative_to(ROOT)} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(digest)
    return VENV / "bin"


def wait_ready(process: subprocess.Popen, url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {process.returncode} before it was ready")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{url}: not ready after {seconds:.0f} s")


def start_flask(model_file: Path, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PEER_MODEL": str(model_file), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", "2",
                                "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.peer_flask:app"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url + "/healthz")
    return process, url + "/predict"


def start_mlserver(bin_dir: Path, model_file: Path, parallel: int, folder: Path) -> tuple[subprocess.Popen, str]:
    (folder / "topics").mkdir(parents=True, exist_ok=True)
    port, grpc, metrics = free_port(), free_port(), free_port()
    (folder / "settings.json").write_text(json.dumps({
        "http_port": port, "grpc_port": grpc, "metrics_port": metrics, "parallel_workers": parallel,
        "debug": False}))
    (folder / "topics" / "model-settings.json").write_text(json.dumps({
        "name": "topics", "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": str(model_file)}}))
    # The pickled pipeline holds this project's estimator (runtime.estimators, the scope gate): MLServer's
    # process must be able to import it, as any server of the same pipeline must.
    process = subprocess.Popen([str(bin_dir / "mlserver"), "start", str(folder)], cwd=folder,
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=open(folder / "log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url + "/v2/models/topics/ready")
    return process, url + "/v2/models/topics/infer"


def v2_request(document: str) -> dict:
    return {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [document]}],
            "outputs": [{"name": "predict_proba"}]}


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def scores_of(kind: str, answer: dict, labels: list[str]) -> np.ndarray:
    if kind == "mlserver":
        return np.asarray(answer["outputs"][0]["data"])
    if kind == "flask":
        return np.asarray(answer["scores"])
    return np.asarray([answer["scores"][label] for label in labels])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    models = default_model()
    model = TopicModel.load(models / "current")
    bin_dir = peers_venv()
    tmp = Path(tempfile.mkdtemp(prefix="topics-peers-"))
    model_file = tmp / "model.joblib"
    joblib.dump(model.pipeline, model_file)  # the plain pickle the peers load; the service loads its checked bundle

    real = news_mix(2000)
    documents = [compose_text(title, text, model.title_weight) for title, text in real]
    bodies = {"flask": tmp / "articles.jsonl", "service": tmp / "articles.jsonl", "mlserver": tmp / "v2.jsonl"}
    bodies["flask"].write_text("".join(json.dumps({"title": t, "text": x}) + "\n" for t, x in real))
    bodies["mlserver"].write_text("".join(json.dumps(v2_request(d)) + "\n" for d in documents))

    workers = int(os.environ.get("TOPICS_WORKERS", 2))
    servers = []  # (name, kind, process, url)
    try:
        process, url = start_flask(model_file, workers, tmp / "flask.log")
        servers.append((f"plain Flask + joblib, gunicorn {workers} workers x 2 threads", "flask", process, url))
        for parallel in (0, workers):
            process, url = start_mlserver(bin_dir, model_file, parallel, tmp / f"mlserver-{parallel}")
            name = (f"MLServer 1.7.1, scikit-learn runtime, parallel_workers {parallel}"
                    + (" (one process)" if parallel == 0 else ""))
            servers.append((name, "mlserver", process, url))
        process, url = start(models, workers, preload=True)
        servers.append((f"this service, gunicorn {workers} workers", "service", process, url + "/v1/classify"))

        # The same pipeline must give the same scores through every server before any timing.
        expected = model.pipeline.predict_proba(documents[:20])
        for name, kind, _, url in servers:
            for (title, text), document, want in zip(real, documents, expected):
                body = v2_request(document) if kind == "mlserver" else {"title": title, "text": text}
                got = scores_of(kind, post(url, body), model.labels)
                np.testing.assert_allclose(got, want, atol=5e-4, err_msg=f"{name} scores differently")

        runs: dict = {name: [] for name, *_ in servers}
        for round_ in range(args.rounds):
            for name, kind, process, url in servers if round_ % 2 == 0 else servers[::-1]:
                wrk(url, CONNECTIONS, 1, bodies[kind])  # warm up
                before, started = tree_cpu(process.pid), time.monotonic()
                run = wrk(url, CONNECTIONS, args.seconds, bodies[kind])
                run["cpu_us"] = (tree_cpu(process.pid) - before) / max(run["requests"], 1) * 1e6
                runs[name].append(run)
                if kind == "flask":  # the same server's empty route: what any Flask view under it could reach
                    runs.setdefault(CEILING, []).append(wrk(url.replace("/predict", "/healthz"), CONNECTIONS,
                                                            args.seconds))
                    runs[CEILING][-1]["cpu_us"] = float("nan")
        memory = {name: tree_pss_mib(process.pid) for name, _, process, _ in servers}
        memory[CEILING] = float("nan")
    finally:
        for _, _, process, _ in servers:
            process.terminate()
        for _, _, process, _ in servers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    ours = statistics.median(r["rate"] for r in runs[servers[-1][0]])
    rows = [f"| server | requests/s (median of {args.rounds}) | p50 | p99 | server CPU per request | memory (PSS) | "
            "this service's rate over it | non-2xx |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, group in runs.items():
        r = sorted(group, key=lambda run: run["rate"])[len(group) // 2]
        cpu, mib = statistics.median(run["cpu_us"] for run in group), memory[name]
        rows.append(f"| {name} | {r['rate']:,.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | "
                    + ("–" if cpu != cpu else f"{cpu:,.0f} µs") + " | " + ("–" if mib != mib else f"{mib:,.0f} MiB")
                    + f" | {ours / statistics.median(run['rate'] for run in group):.1f}x | "
                    f"{sum(run['errors'] for run in group)} |")
    # Per-round ratios as well: each round's servers ran seconds apart, so a slow spell moves them together.
    per_round = {name: [o["rate"] / g["rate"] for o, g in zip(runs[servers[-1][0]], runs[name])] for name, *_ in servers[:-1]}
    ceiling = statistics.median(r["rate"] for r in runs[CEILING])
    flask = statistics.median(r["rate"] for r in runs[servers[0][0]])
    notes = "; ".join(f"{name}: {', '.join(f'{x:.1f}' for x in per_round[name])}" for name, *_ in servers[:-1])
    share = sum(any(ord(c) > 127 for c in t + x) for t, x in real) / len(real)
    record("The same pipeline, served three ways", "python -m bench.peers", "\n".join(rows),
           f"wrk, {CONNECTIONS} connections, {args.seconds} s per run, {args.rounds} rounds with the servers taking turns; "
           f"single articles of the real-news mix ({len(real):,} articles, {share:.0%} with a character outside "
           f"ASCII). This service's rate over each peer's, round by round: {notes}. The plain Flask app's "
           f"empty route answers {ceiling:,.0f} requests/s, {ceiling / flask:.1f} times its classify rate: the "
           f"most a Flask app under gunicorn reaches on this machine when its view does nothing. MLServer's parallel workers "
           "need uvloop 0.21 (bench/requirements-peers.txt says why); with the uvloop pip picks by default (0.23) "
           "every worker process dies at start and MLServer serves nothing. wrk shares the 2 cores with the "
           "servers.\n\n" + __doc__.split("\n\n", 2)[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
