"""The service's app with CPU timers around its stages, for ``python -m bench.breakdown`` only.

    gunicorn -c gunicorn.conf.py bench.instrumented:app

Every worker adds up the CPU time (``time.thread_time_ns``: time the thread
ran, not time it waited for the GIL or the network) its threads spend in
three nested stages: the whole Flask app (``app.wsgi_app``), the classify
view, and the model's ``score`` inside it. With
``TOPICS_BENCH_MODEL_TWICE=1`` the view calls the model a second time right
after the first and times that call apart ("model again"): the same work with
the caches just filled by the first call. ``GET /_bench/stages``
returns the answering worker's totals and pid; the benchmark asks until it
has heard from every worker. The timers cost a clock read (a system call)
at the start and end of each stage, which the totals include.
"""

from __future__ import annotations

import os
import threading
import time

from service import create_app

app = create_app()
_totals: dict[str, list[int]] = {}  # stage -> [nanoseconds, calls]
_lock = threading.Lock()


def _add(stage: str, spent: int) -> None:
    with _lock:
        entry = _totals.setdefault(stage, [0, 0])
        entry[0] += spent
        entry[1] += 1


def _timed(stage: str, function):
    def timed(*args, **kwargs):
        started = time.thread_time_ns()
        try:
            return function(*args, **kwargs)
        finally:
            _add(stage, time.thread_time_ns() - started)
    return timed


def _timed_app(wsgi_app):
    def timed(environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_bench/"):  # the benchmark's own questions do not count
            return wsgi_app(environ, start_response)
        started = time.thread_time_ns()
        try:
            return wsgi_app(environ, start_response)
        finally:
            _add("app", time.thread_time_ns() - started)
    return timed


def stages():
    """This worker's totals: {"pid": ..., "stages": {stage: [nanoseconds, calls]}}."""
    with _lock:
        return {"pid": os.getpid(), "stages": {stage: list(entry) for stage, entry in _totals.items()}}


def _twice(first, again):
    def predict_twice(*args, **kwargs):
        result = first(*args, **kwargs)
        again(*args, **kwargs)
        return result
    return predict_twice


model = app.extensions["topics"].model
# This instance only; a reload would drop the timers.
if os.environ.get("TOPICS_BENCH_MODEL_TWICE") == "1":
    model.score = _twice(_timed("model", model.score), _timed("model again", model.score))
else:
    model.score = _timed("model", model.score)
app.view_functions["api.classify"] = _timed("view", app.view_functions["api.classify"])
app.add_url_rule("/_bench/stages", "bench_stages", stages)
app.wsgi_app = _timed_app(app.wsgi_app)
