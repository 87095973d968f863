"""Watch live traffic for drift: a rolling window of predictions per worker, score histograms, and samples.

The classify path calls :func:`observe` once per request. It only queues
the request's score matrix (one ``deque.append``); at most once a second,
and before ``/metrics`` answers, the queue is folded into the metrics with
numpy in one go. Per-label Prometheus ``observe`` calls on every article
cost about as much as classifying it, so the histogram buckets are added to
in bulk (see ``_add_counts``). An idle worker may hold up to a second of
traffic until its next request.

Metrics (a topic is predicted when its score reaches the model's tuned
threshold, whatever a request asked for; runtime/drift.py):

- ``topics_drift_window_articles``, ``topics_drift_window_predicted{label}``
  and ``topics_drift_window_no_topic``: the last ``TOPICS_DRIFT_WINDOW``
  articles of each live worker, summed over workers (gauges, ``livesum``).
- ``topics_drift_predicted_share{label}`` and
  ``topics_drift_no_topic_share``: their ratios over all live workers'
  windows, computed when ``/metrics`` is scraped.
- ``topics_score{label}``: a histogram of every scored article's score per
  label, cumulative, in the drift report's ten bins; take windows with
  ``rate()``.

Articles in a language the model cannot read count in the window (with no
topic, as their answer has) but not in the score histograms.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque

import numpy as np
from flask import Flask, current_app
from prometheus_client import Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from runtime.drift import SCORE_BOUNDS, score_bins

FLUSH_SECONDS = 1.0
MAX_QUEUED = 10_000  # articles queued before a flush is forced, whatever the time

ARTICLES_NAME, PREDICTED_NAME, NO_TOPIC_NAME = ("topics_drift_window_articles", "topics_drift_window_predicted",
                                                "topics_drift_window_no_topic")
WINDOW_ARTICLES = Gauge(ARTICLES_NAME, "Articles in the rolling windows of the live workers.",
                        multiprocess_mode="livesum")
WINDOW_PREDICTED = Gauge(PREDICTED_NAME, "Articles in the rolling windows predicted with a label.", ["label"],
                         multiprocess_mode="livesum")
WINDOW_NO_TOPIC = Gauge(NO_TOPIC_NAME, "Articles in the rolling windows with no topic.", multiprocess_mode="livesum")
SCORES = Histogram("topics_score", "Scores of classified articles, per label.", ["label"], buckets=SCORE_BOUNDS)


@functools.lru_cache(maxsize=4096)
def _scores_of(label: str):
    return SCORES.labels(label)


def _add_counts(child, counts, total: float) -> None:
    """Add a batch of observations to a histogram child: ``counts`` per bucket and their ``total``.

    prometheus_client offers only one observation at a time; this adds to
    the same per-bucket values ``observe`` does (non-cumulative, summed when
    collected), once per bucket instead of once per article.
    tests/test_drift_metrics.py pins the exposed result.
    """
    for i, count in enumerate(counts):
        if count:
            child._buckets[i].inc(int(count))
    child._sum.inc(float(total))


class Window:
    """The last ``size`` articles one worker classified: which topics each got, or none."""

    def __init__(self, size: int):
        self.size = size
        self.queue: deque = deque()
        self.queued = 0
        self.flushed_at = 0.0
        self.labels: list[str] = []
        self.rows = np.zeros((0, 1), dtype=bool)  # per article: a column per label, then "no topic"
        self.filled = self.position = 0
        self._folding = threading.Lock()  # a threaded server could flush from two requests at once

    def add(self, model, P: np.ndarray, readable: list[bool]) -> None:
        """Queue one request's scores; fold the queue in when a second has passed."""
        self.queue.append((model, P, readable))
        self.queued += len(readable)
        if self.queued >= MAX_QUEUED or time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Fold the queued requests into the window and the histograms, then set the gauges."""
        if not self._folding.acquire(blocking=False):
            return  # another thread is folding; what it misses waits for the next flush
        try:
            self.flushed_at = time.monotonic()
            self.queued = 0
            run: list = []
            while self.queue:
                entry = self.queue.popleft()
                if run and entry[0] is not run[0][0]:
                    self._fold(run)
                    run = []
                run.append(entry)
            if run:
                self._fold(run)
            self._publish()
        finally:
            self._folding.release()

    def _fold(self, run: list) -> None:
        model = run[0][0]
        P = np.vstack([entry[1] for entry in run])
        readable = np.fromiter((ok for entry in run for ok in entry[2]), dtype=bool, count=len(P))
        if model.labels != self.labels:  # another model's topics: start a new window
            self._zero_gauges()
            self.labels = list(model.labels)
            self.rows = np.zeros((self.size, len(self.labels) + 1), dtype=bool)
            self.filled = self.position = 0
        predicted = (P >= model.thresholds) & readable[:, None]
        rows = np.column_stack([predicted, ~predicted.any(axis=1)])[-self.size:]
        at = (self.position + np.arange(len(rows))) % self.size
        self.rows[at] = rows
        self.position = int((self.position + len(rows)) % self.size)
        self.filled = min(self.size, self.filled + len(rows))
        scored = P[readable]
        if len(scored):
            counts, totals = score_bins(scored), scored.sum(axis=0)
            for j, label in enumerate(self.labels):
                _add_counts(_scores_of(label), counts[j], totals[j])

    def _publish(self) -> None:
        if not self.labels:
            return
        sums = self.rows[: self.filled].sum(axis=0)
        WINDOW_ARTICLES.set(self.filled)
        for j, label in enumerate(self.labels):
            WINDOW_PREDICTED.labels(label).set(int(sums[j]))
        WINDOW_NO_TOPIC.set(int(sums[-1]))

    def _zero_gauges(self) -> None:
        for label in self.labels:
            WINDOW_PREDICTED.labels(label).set(0)


def observe(model, articles: list, P: np.ndarray, readable: list[bool], extensions: dict | None = None) -> None:
    """Record one classify request for drift: queue its scores, and offer it to the sample store if on.

    ``extensions`` is the app's, when the caller has it at hand.
    """
    if extensions is None:
        extensions = current_app.extensions
    window = extensions.get("drift")
    if window is not None:
        window.add(model, P, readable)
    store = extensions.get("samples")  # service/samples.py; not imported here, it imports the API through feedback
    if store is not None:
        store.offer(model, articles, P, readable)


def flush() -> None:
    """Fold this worker's queued requests into the metrics (before /metrics answers)."""
    window = current_app.extensions.get("drift")
    if window is not None:
        window.flush()


class WithShares:
    """A collector that passes another's metrics through and adds the window shares computed from them."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        articles, predicted, no_topic = 0.0, {}, 0.0
        for metric in self.source.collect():
            if metric.name == ARTICLES_NAME:
                articles = sum(s.value for s in metric.samples)
            elif metric.name == NO_TOPIC_NAME:
                no_topic = sum(s.value for s in metric.samples)
            elif metric.name == PREDICTED_NAME:
                for s in metric.samples:
                    predicted[s.labels["label"]] = predicted.get(s.labels["label"], 0.0) + s.value
            yield metric
        if not articles:
            return
        shares = GaugeMetricFamily("topics_drift_predicted_share", "Share of the rolling windows' articles "
                                   "predicted with each label, over all live workers.", labels=["label"])
        for label, count in sorted(predicted.items()):
            shares.add_metric([label], count / articles)
        yield shares
        yield GaugeMetricFamily("topics_drift_no_topic_share", "Share of the rolling windows' articles with no "
                                "topic, over all live workers.", value=no_topic / articles)


def init_app(app: Flask) -> None:
    """Keep a window of ``TOPICS_DRIFT_WINDOW`` articles (none when 0: no drift metrics)."""
    size = int(app.config["TOPICS_DRIFT_WINDOW"])
    if size < 0:
        raise ValueError(f"TOPICS_DRIFT_WINDOW={size}: expected 0 (off) or a positive number of articles")
    app.extensions["drift"] = Window(size) if size else None
