"""Prometheus metrics at /metrics, correct across several gunicorn workers.

With several workers each process writes its samples to memory-mapped files
in ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py sets a fresh one), and
/metrics aggregates every worker's files. Without it (one process, tests) the
default in-process registry is used.

The share of articles with no topic is
``topics_articles_without_topic_total / topics_articles_classified_total``.

Shadow scoring (service/shadow.py) counts how a candidate agrees with the
current model in the ``topics_shadow_*`` series, labelled by the candidate's
version so each candidate starts from zero; ``GET /v1/model/candidate`` reads
the same series back through :func:`samples`, summed over workers like /metrics.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest, multiprocess
from prometheus_client.samples import Sample

from service import drift

bp = Blueprint("metrics", __name__)

REQUESTS = Counter("topics_http_requests_total", "HTTP requests handled.", ["endpoint", "method", "status"])
LATENCY = Histogram("topics_http_request_duration_seconds", "Time to answer a request.", ["endpoint"],
                    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ARTICLES = Counter("topics_articles_classified_total", "Articles classified.")
NO_TOPIC = Counter("topics_articles_without_topic_total", "Articles that cleared no label's threshold.")
TOPICS = Counter("topics_topics_assigned_total", "Topics assigned to articles, per label.", ["label"])
LENGTH = Histogram("topics_article_length_chars", "Length of classified articles (title and text), in characters.",
                   buckets=(50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000))
# Under gunicorn each live worker reports its own series (a ``pid`` label), so a rollout shows which
# worker serves which version; dead workers' series go with them (gunicorn.conf.py's child_exit).
MODEL = Gauge("topics_model_info", "The model version a worker serves (1) or served before (0).", ["version"],
              multiprocess_mode="liveall")
RELOADS = Counter("topics_model_reloads_total", "Successful loads of a newly published model.")
RELOAD_FAILURES = Counter("topics_model_reload_failures_total", "Bundles refused at load or reload.")
FEEDBACK = Counter("topics_feedback_total", "Corrections received through /v1/feedback.")
SHADOW_ARTICLES = Counter("topics_shadow_articles_total", "Articles scored by the candidate too (shadow scoring).",
                          ["candidate"])
SHADOW_SAME = Counter("topics_shadow_same_topics_total",
                      "Shadow-scored articles to which the candidate gives exactly the current model's topics.",
                      ["candidate"])
# Under gunicorn every increment is a locked write to a memory-mapped file (3-4 µs; an observation 8 µs), so the
# shadow series are as few as the figures allow: the common outcome, neither model assigning a label, is not
# written but is what remains of topics_shadow_articles_total, and the histogram takes one value per article.
SHADOW_TOPIC = Counter("topics_shadow_topic_total",
                       "Shadow-scored articles per label where both models assign it or only one does (outcome "
                       "both, current_only, candidate_only); the rest of topics_shadow_articles_total is neither.",
                       ["candidate", "label", "outcome"])
SHADOW_CHANGE = Counter("topics_shadow_score_delta_abs",
                        "Sum of the absolute difference between the candidate's and the current model's score, per "
                        "label (over topics_shadow_articles_total: the mean size of the change).",
                        ["candidate", "label"])
# A gauge because the sum goes down as well as up; "sum" adds up the workers, living or not, as counters do.
SHADOW_DELTA_SUM = Gauge("topics_shadow_score_delta_sum",
                         "Sum of candidate minus current score, per label (over topics_shadow_articles_total: the "
                         "mean change).", ["candidate", "label"], multiprocess_mode="sum")
SHADOW_DELTA_MAX = Histogram("topics_shadow_score_delta_max",
                             "Per shadow-scored article, the largest absolute difference between the two models' "
                             "scores of any label.", ["candidate"],
                             buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0))
SHADOW_OUTCOMES = ("both", "neither", "current_only", "candidate_only")


_reported: tuple[int, str] | None = None  # (process, version) last reported


# Each request updates a few labelled series; ``labels()`` checks and locks on
# every call, so the children are looked up once per label values and kept.
@functools.lru_cache(maxsize=1024)
def _request_count(endpoint: str, method: str, status: int) -> Counter:
    return REQUESTS.labels(endpoint, method, str(status))


@functools.lru_cache(maxsize=1024)
def _latency(endpoint: str) -> Histogram:
    return LATENCY.labels(endpoint)


@functools.lru_cache(maxsize=1024)
def _topic_count(label: str) -> Counter:
    return TOPICS.labels(label)


def model_event(event: str, model) -> None:
    """Record a model load, reload or refused bundle (a ModelHolder listener)."""
    if event == "failure":
        RELOAD_FAILURES.inc()
        return
    if event == "reloaded":
        RELOADS.inc()
    _report_model(model)


def _report_model(model) -> None:
    global _reported
    _reported = (os.getpid(), model.version)
    for sample in MODEL.collect()[0].samples:
        MODEL.labels(version=sample.labels["version"]).set(0)
    MODEL.labels(version=model.version).set(1)


def record_results(articles, results) -> None:
    """Count articles, their lengths and the topics assigned."""
    ARTICLES.inc(len(results))
    for article, result in zip(articles, results):
        LENGTH.observe(len(article.text) + len(article.title or ""))
        if not result["topics"]:
            NO_TOPIC.inc()
        for topic in result["topics"]:
            _topic_count(topic["label"]).inc()


@functools.lru_cache(maxsize=4096)
def _shadow_child(metric, *labels: str):
    return metric.labels(*labels)


def record_shadow(candidate: str, articles: int, same: int, outcomes: dict[str, dict[str, int]],
                  changes: dict[str, tuple[float, float]], largest: list[float]) -> None:
    """Count one request's shadow-scored articles.

    ``outcomes[label][outcome]`` counts articles, ``changes[label]`` is the
    (absolute, signed) sum of score changes, ``largest`` each article's
    largest absolute change.
    """
    _shadow_child(SHADOW_ARTICLES, candidate).inc(articles)
    if same:
        _shadow_child(SHADOW_SAME, candidate).inc(same)
    for label, counts in outcomes.items():
        for outcome, count in counts.items():
            if count and outcome != "neither":
                _shadow_child(SHADOW_TOPIC, candidate, label, outcome).inc(count)
    for label, (size, change) in changes.items():
        _shadow_child(SHADOW_CHANGE, candidate, label).inc(size)
        _shadow_child(SHADOW_DELTA_SUM, candidate, label).inc(change)
    histogram = _shadow_child(SHADOW_DELTA_MAX, candidate)
    for value in largest:
        histogram.observe(value)


def _registry() -> CollectorRegistry:
    """Every worker's metrics (from PROMETHEUS_MULTIPROC_DIR) when there are several, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def samples(prefix: str) -> Iterator[Sample]:
    """Yield the samples whose name starts with ``prefix``, summed over workers as /metrics shows them."""
    for family in _registry().collect():
        if family.name.startswith(prefix):
            yield from (sample for sample in family.samples if sample.name.startswith(prefix))


def _start() -> None:
    g.metrics_started = time.perf_counter()
    # Report the served version from each worker, not from the gunicorn
    # master that preloaded the app (its samples would outlive a reload).
    model = current_app.extensions["topics"].model
    if model is not None and _reported != (os.getpid(), model.version):
        _report_model(model)


def _finish(response):
    endpoint = request.endpoint or "unmatched"
    _request_count(endpoint, request.method, response.status_code).inc()
    _latency(endpoint).observe(time.perf_counter() - g.get("metrics_started", time.perf_counter()))
    return response


@bp.get("/metrics")
def metrics():
    """Expose every worker's metrics in the Prometheus text format."""
    drift.flush()
    data = generate_latest(drift.WithShares(_registry()))  # adds the drift windows' shares (service/drift.py)
    return Response(data, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Time and count every request, and follow model loads."""
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
    app.extensions["topics"].listeners.append(model_event)


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (gunicorn's child_exit hook)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)

