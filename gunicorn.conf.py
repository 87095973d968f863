"""gunicorn settings for the topic service, driven by environment variables.

    gunicorn -c gunicorn.conf.py          # what `make serve` and the container run

The defaults were chosen by measurement (BENCHMARKS.md, `python -m bench.http`):
classification is CPU-bound, so one process per core (more workers than cores
were not reliably faster, and their p99 latency was higher); each worker is
gevent's, with deadlines for slow clients
(service/workers.py), so a connection that sends slowly costs a greenlet, not
a thread; the model is loaded once in the master before forking
(preload_app), so an extra worker costs a few MiB instead of a full copy.
"""

import gc
import glob
import multiprocessing
import os
import tempfile

# Metrics from several workers are aggregated through files in this folder;
# it must be set before prometheus_client is first imported, and emptied at
# start so counts from an earlier run do not leak in.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="topics-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
os.makedirs(_metrics_dir, exist_ok=True)
for _stale in glob.glob(os.path.join(_metrics_dir, "*.db")):
    os.remove(_stale)

from service import logs, metrics  # noqa: E402  (after the metrics folder is set)

wsgi_app = "service:create_app()"
bind = os.environ.get("TOPICS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("TOPICS_WORKERS", multiprocessing.cpu_count()))
# gevent, with header and body deadlines and a lingering close (service/workers.py).
worker_class = "service.workers.TopicsWorker"
# Connections one worker holds at once, idle and slow ones included; more wait in the listen backlog.
worker_connections = int(os.environ.get("TOPICS_WORKER_CONNECTIONS", "1000"))
preload_app = os.environ.get("TOPICS_PRELOAD", "true").lower() in ("1", "true", "yes")

# Requests in flight get this long to finish on SIGTERM before workers stop.
graceful_timeout = int(os.environ.get("TOPICS_GRACEFUL_TIMEOUT", "30"))
timeout = int(os.environ.get("TOPICS_TIMEOUT", "60"))
# Idle kept-alive connections close after this; the header deadline (TOPICS_HEADER_TIMEOUT) bounds them too.
keepalive = 5
# Recycle workers now and then, with jitter so they do not restart together.
max_requests = int(os.environ.get("TOPICS_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10

# Header limits; bodies are limited by the app (TOPICS_MAX_BODY_BYTES, TOPICS_MAX_BATCH_BYTES).
limit_request_line = 8190
limit_request_fields = 100

# The app writes one JSON line per request to stdout; gunicorn's own access
# log is off unless asked for, so each request is logged once.
accesslog = "-" if os.environ.get("TOPICS_GUNICORN_ACCESS_LOG") else None
errorlog = "-"
loglevel = os.environ.get("TOPICS_LOG_LEVEL", "info")
control_socket_disable = True
worker_tmp_dir = os.environ.get("TOPICS_WORKER_TMP_DIR") or None


# Service logs (JSON lines on stdout) are set up before the app is preloaded,
# so the model-loading lines of the master are formatted too.
logs.configure(loglevel.upper())


def pre_fork(server, worker):
    # Move everything the master made (the preloaded model above all) out of the garbage collector's
    # reach: a worker's collections would otherwise write to every object's header and copy the pages
    # they share with the master (`python -m bench.http`, "Memory per gunicorn worker": 52 MiB private
    # per gevent worker without this, 15 MiB with it).
    gc.freeze()


def child_exit(server, worker):
    metrics.mark_process_dead(worker.pid)
