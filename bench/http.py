"""HTTP throughput and latency under gunicorn, with wrk on loopback, and memory per worker.

    python -m bench.http [--seconds 5] [--rounds 7]

Runs the default model with the project's gunicorn.conf.py (2 workers unless
TOPICS_WORKERS says otherwise) on 127.0.0.1 and
drives it with wrk: single-article classify at 1, 8 and 64 connections on the
real-news mix (``bench.common.news_mix``: headlines through 5 KB stories, as
they come, with their quotes, dashes and accents), the same mix made ASCII and
one 1 KB article at 8, the batch endpoint (100 articles of the mix per
request) at 8, and /healthz at 8 as the framework's ceiling, in interleaved rounds, with the server's CPU time per
request read from /proc. It then compares the service's worker class with
gunicorn's threaded worker (and, with ``--baseline DIR``, another checkout of
the project: an earlier release, started from its own folder), tries 1 to 4
workers, and starts 1 and 4 workers with and without
preload_app and reads each process's memory (RSS, PSS, private) from
/proc/<pid>/smaps_rollup. wrk shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import WORK, ascii_only, news_mix, read_records, record, require_corpora, tree_cpu
from bench.loadgen import free_port, worker_pids
from training.options import TrainOptions
from training.train import train

ROOT = Path(__file__).resolve().parent.parent
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}"):read("*a")
"""
# A mix: one JSON body per line, requests made once per thread (in init, once wrk has set the Host
# header) and sent in turn from a random start.
LUA_MIX = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local requests = {{}}
local i = 0
function init(args)
  for line in io.lines("{body}") do requests[#requests + 1] = wrk.format(nil, nil, nil, line) end
  math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
  i = math.random(#requests)
end
function request() i = i % #requests + 1; return requests[i] end
"""


MIX = "classify, real-news mix"
ASCII = "classify, the mix made ASCII"
HEALTHZ = "/healthz (ceiling)"


def start(models: Path, workers: int, preload: bool, *options: str, root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """Start gunicorn with ``root``'s gunicorn.conf.py (another checkout of the project, for a baseline)."""
    port = free_port()
    env = {**os.environ, "TOPICS_MODEL_DIR": str(models), "TOPICS_BIND": f"127.0.0.1:{port}",
           "TOPICS_WORKERS": str(workers), "TOPICS_PRELOAD": str(preload).lower(), "TOPICS_LOG_LEVEL": "warning",
           "PYTHONPATH": str(root)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *options], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/readyz", timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not become ready")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def wrk(url: str, connections: int, seconds: int, body_file: Path | None = None) -> dict:
    cmd = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    if body_file is not None:
        script = body_file.with_suffix(".lua")
        script.write_text((LUA_MIX if body_file.suffix == ".jsonl" else LUA).format(body=body_file))
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = {}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        latency[pct] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    return {"rate": rate, "requests": requests, "p50": latency["50"], "p99": latency["99"],
            "errors": int(non2xx.group(1)) if non2xx else 0}


def server_pids(master: int) -> list[int]:
    """The gunicorn master and its workers."""
    return [master, *worker_pids(master)]


def measured(url: str, master: int, connections: int, seconds: int, body_file: Path | None) -> dict:
    """One wrk run, with the server's CPU time per request and the cores it kept busy."""
    before, started = tree_cpu(master), time.monotonic()
    run = wrk(url, connections, seconds, body_file)
    used = tree_cpu(master) - before
    run["cpu_us"] = used / max(run["requests"], 1) * 1e6
    run["cores"] = used / (time.monotonic() - started)
    return run


def memory(master: int) -> list[dict]:
    """Return RSS, PSS and private memory (MiB) of the master and each worker."""
    rows = []
    for pid in server_pids(master):
        fields = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, value = line.split(":")[0], line.split()[1]
            fields[name] = int(value) / 1024
        rows.append({"pid": pid, "rss": fields["Rss"], "pss": fields["Pss"],
                     "private": fields["Private_Clean"] + fields["Private_Dirty"]})
    return rows


def one_kb_article(bbc: list[dict]) -> dict:
    """The single article every HTTP benchmark sends: the first BBC story of about 1 KB."""
    r = next(r for r in bbc if 950 <= len(r["text"].encode()) <= 1100)
    return {"title": r["title"], "text": r["text"]}


def default_model() -> Path:
    """Check for the corpora and wrk, train the default model for the HTTP benchmarks, return its models folder."""
    require_corpora()
    if shutil.which("wrk") is None:
        raise SystemExit("benchmark needs wrk (Debian package 'wrk'; `make bench` installs it)")
    models = WORK / "http-models"
    train(TrainOptions(out=models, quiet=True))
    return models


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", help="another checkout of the project (e.g. a git worktree of the last "
                                           "release) to run beside this one in the worker comparison")
    args = parser.parse_args(argv)
    models = default_model()
    tmp = Path(tempfile.mkdtemp(prefix="topics-http-"))
    bbc = read_records("bbc")
    single = tmp / "single.json"
    single.write_text(json.dumps(one_kb_article(bbc)))
    real = news_mix(2000)
    mix, plain = tmp / "mix.jsonl", tmp / "ascii.jsonl"
    mix.write_text("".join(json.dumps({"title": t, "text": x}) + "\n" for t, x in real))
    plain.write_text("".join(json.dumps({"title": ascii_only(t), "text": ascii_only(x)}) + "\n" for t, x in real))
    batch = tmp / "batch.jsonl"
    batch.write_text("".join(json.dumps({"articles": [{"title": t, "text": x} for t, x in real[i:i + 100]]}) + "\n"
                             for i in range(0, len(real), 100)))

    workers = int(os.environ.get("TOPICS_WORKERS", 2))
    process, url = start(models, workers, preload=True)
    try:
        rows = [f"| load | connections | requests/s (median of {args.rounds}) | articles/s | p50 | p99 | "
                "server CPU per request | server cores busy (fewest) | non-2xx |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        loads = ([(MIX, "/v1/classify", mix, c, 1) for c in (1, 8, 64)]
                 + [(ASCII, "/v1/classify", plain, 8, 1),
                    ("classify, one 1 KB BBC article", "/v1/classify", single, 8, 1),
                    ("batch of 100 articles of the mix", "/v1/classify/batch", batch, 8, 100),
                    (HEALTHZ, "/healthz", None, 8, 0)])
        runs: dict = {}
        # Rounds interleave the loads, so a noisy spell on this shared machine hits all of them alike;
        # /healthz runs between the mix and its ASCII form at 8 connections, the pairs the ratios compare.
        # Every wrk run opens fresh connections, so each round also draws anew how they fall on the workers.
        order = [loads[1], loads[6], loads[3], loads[0], loads[2], loads[4], loads[5]]
        for _ in range(args.rounds):
            for name, path, body, connections, per in order:
                wrk(url + path, connections, 1, body)  # warm up
                runs.setdefault((name, connections), []).append(
                    measured(url + path, process.pid, connections, args.seconds, body))
        for name, path, body, connections, per in loads:
            group = runs[(name, connections)]
            r = sorted(group, key=lambda run: run["rate"])[len(group) // 2]
            cpu = statistics.median(run["cpu_us"] for run in group)
            cores = (statistics.median(run["cores"] for run in group), min(run["cores"] for run in group))
            rows.append(f"| {name} | {connections} | {r['rate']:,.0f} | {r['rate'] * per:,.0f} | {r['p50']:.2f} ms | "
                        f"{r['p99']:.2f} ms | {cpu:,.0f} µs | {cores[0]:.2f} ({cores[1]:.2f}) | "
                        f"{sum(run['errors'] for run in group)} |")
    finally:
        stop(process)
    # Each round's classify rate over the /healthz rate measured seconds later: a slow spell on this
    # shared machine moves both, so the median of the per-round ratios is steadier than a ratio of medians.
    health = runs[(HEALTHZ, 8)]
    ratios = {name: [c["rate"] / h["rate"] for c, h in zip(runs[(name, 8)], health)] for name in (MIX, ASCII)}
    cpu_ratio = (statistics.median(run["cpu_us"] for run in health)
                 / statistics.median(run["cpu_us"] for run in runs[(MIX, 8)]))
    record(f"HTTP under gunicorn ({workers} workers, wrk on loopback)", "python -m bench.http",
           "\n".join(rows), f"Single-article classify of the real-news mix at 8 connections reaches "
           f"{statistics.median(ratios[MIX]):.0%} of the same server's /healthz rate (median of {args.rounds} rounds' "
           f"ratios: {', '.join(f'{r:.0%}' for r in ratios[MIX])}); the same articles made ASCII "
           f"{statistics.median(ratios[ASCII]):.0%} ({', '.join(f'{r:.0%}' for r in ratios[ASCII])}). "
           f"By server CPU per request, /healthz costs {cpu_ratio:.0%} of a classify request of the mix. The mix: "
           f"{len(real):,} articles, median {statistics.median(len((t + x).encode()) for t, x in real):,.0f} bytes, "
           f"{sum(any(ord(c) > 127 for c in t + x) for t, x in real) / len(real):.0%} with a character outside ASCII. "
           "wrk runs on the same 2 cores as the server; server CPU is "
           "the master's and workers' user + system time over the requests wrk completed; cores busy is that time "
           "over the run's length (2 would be both cores; the fewest of the rounds shows whether one run left "
           "a worker idle).")

    # The same load against the service's worker, gunicorn's own threaded worker and, with --baseline,
    # another checkout of the project (its own gunicorn.conf.py and code), the servers taking turns.
    kinds = [("service.workers.TopicsWorker (gevent, deadlines)", (), ROOT),
             ("gthread (gunicorn's own, 2 threads)", ("-k", "gthread", "--threads", "2"), ROOT)]
    if args.baseline:
        kinds.append((f"baseline: {args.baseline}", (), Path(args.baseline).resolve()))
    servers = [start(models, workers, True, *options, root=root) for _, options, root in kinds]
    shared: dict = {name: {"classify": [], "healthz": []} for name, _, _ in kinds}
    pairs = list(zip(kinds, servers))
    try:
        for round_ in range(args.rounds):
            for (name, _, _), (process, url) in pairs if round_ % 2 == 0 else pairs[::-1]:  # who goes first alternates
                wrk(url + "/v1/classify", 8, 1, mix)  # warm up
                shared[name]["classify"].append(measured(url + "/v1/classify", process.pid, 8, args.seconds, mix))
                shared[name]["healthz"].append(measured(url + "/healthz", process.pid, 8, args.seconds, None))
    finally:
        for process, _ in servers:
            stop(process)
    balance = [f"| server | classify requests/s, median of {args.rounds} | slowest run | /healthz requests/s | "
               "classify / healthz | server cores busy: median (fewest) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, group in shared.items():
        rates, cores = [run["rate"] for run in group["classify"]], [run["cores"] for run in group["classify"]]
        health = [run["rate"] for run in group["healthz"]]
        ratio = statistics.median(c / h for c, h in zip(rates, health))
        balance.append(f"| {name} | {statistics.median(rates):,.0f} | {min(rates):,.0f} | {statistics.median(health):,.0f} "
                       f"| {ratio:.0%} | {statistics.median(cores):.2f} ({min(cores):.2f}) |")
    record("Worker classes", "python -m bench.http" + (f" --baseline {args.baseline}" if args.baseline else ""),
           "\n".join(balance),
           f"Single articles of the real-news mix and /healthz at 8 connections, {workers} workers, {args.rounds} rounds, the servers "
           "taking turns. A run whose connections all land on one worker keeps about one core busy.")

    matrix = [f"| workers | classify requests/s at 8 connections (median of {min(args.rounds, 3)}) | p99 |",
              "| --- | ---: | ---: |"]
    shapes = (1, 2, 3, 4)
    rates: dict = {shape: [] for shape in shapes}
    for _ in range(min(args.rounds, 3)):
        for n in shapes:
            process, url = start(models, n, preload=True)
            try:
                wrk(url + "/v1/classify", 8, 1, mix)
                rates[n].append(wrk(url + "/v1/classify", 8, args.seconds, mix))
            finally:
                stop(process)
    for n in shapes:
        r = sorted(rates[n], key=lambda run: run["rate"])[len(rates[n]) // 2]
        matrix.append(f"| {n} | {r['rate']:,.0f} | {r['p99']:.2f} ms |")
    record("Choosing gunicorn's worker count", "python -m bench.http", "\n".join(matrix),
           "Single articles of the real-news mix at 8 connections, the same server otherwise (preload_app on).")

    mem_rows = ["| preload_app | workers | master RSS | worker RSS (each) | worker PSS (each) | worker private (each) |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for preload in (True, False):
        for n in (1, 4):
            process, url = start(models, n, preload)
            try:
                wrk(url + "/v1/classify", 4, 3, mix)  # touch the model in every worker
                rows_ = memory(process.pid)
            finally:
                stop(process)
            master, workers_ = rows_[0], rows_[1:]
            mean = {k: sum(w[k] for w in workers_) / len(workers_) for k in ("rss", "pss", "private")}
            mem_rows.append(f"| {preload} | {n} | {master['rss']:.0f} MiB | {mean['rss']:.0f} MiB | {mean['pss']:.0f} MiB | "
                            f"{mean['private']:.0f} MiB |")
    record("Memory per gunicorn worker", "python -m bench.http", "\n".join(mem_rows),
           "Private memory is what each additional worker costs; with preload_app the model's pages are shared "
           "(copy-on-write) with the master. Measured after a short load so every worker has used the model.")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
