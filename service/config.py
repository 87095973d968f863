"""Configuration: defaults, overridden by TOPICS_* environment variables, then by test config.

Every key is documented in docs/configuration.md.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

DEFAULTS: dict[str, Any] = {
    # Folder of published bundles (the service loads <dir>/current), or one bundle folder.
    "TOPICS_MODEL_DIR": "models",
    # Seconds between checks of <dir>/current for a newly published model.
    "TOPICS_RELOAD_INTERVAL": 1.0,
    # Largest request body for single-article endpoints, in bytes.
    "TOPICS_MAX_BODY_BYTES": 1_000_000,
    # Largest request body for the batch endpoint, in bytes.
    "TOPICS_MAX_BATCH_BYTES": 10_000_000,
    # Most articles in one batch request.
    "TOPICS_MAX_BATCH_ARTICLES": 1_000,
    # Detect each article's language and give no topics to one the model cannot read
    # (runtime/language.py). Off: no language fields, and every article is scored.
    "TOPICS_DETECT_LANGUAGE": True,
    # Terms returned per topic when an explanation is asked for.
    "TOPICS_EXPLAIN_TERMS": 10,
    # Shared secret to verify signed bundles (empty: checksums only).
    "TOPICS_SIGNING_KEY": "",
    # Log article text in request logs (off: text is never logged).
    "TOPICS_LOG_TEXT": False,
    # API keys: "sha256hex:scope[,scope] ..." separated by whitespace or newlines.
    "TOPICS_API_KEYS": "",
    # A file holding API key lines in the same format.
    "TOPICS_API_KEYS_FILE": "",
    # Require a key for /metrics too when keys are configured.
    "TOPICS_METRICS_AUTH": False,
    # Folder where POST /v1/feedback appends corrections (empty: feedback off).
    "TOPICS_FEEDBACK_DIR": "",
    # Largest feedback file, in bytes; further feedback is refused with 507.
    "TOPICS_FEEDBACK_MAX_BYTES": 50_000_000,
    # Proxies in front whose X-Forwarded-For / -Proto are trusted (0: none; the compose and Kubernetes
    # deployments put one nginx in front and set 1). The client's address then reaches the request log.
    "TOPICS_PROXY_HOPS": 0,
    # Articles in each worker's rolling drift window (/metrics: topics_drift_*; service/drift.py). 0: no drift
    # metrics at all.
    "TOPICS_DRIFT_WINDOW": 1_000,
    # Folder of the opt-in sample store (service/samples.py): a share of classified articles, TEXT INCLUDED, kept
    # for drift reports and the labeling queue. Empty (the default): no article text is ever stored.
    "TOPICS_SAMPLE_DIR": "",
    # Share of classified articles the sample store keeps (0 to 1).
    "TOPICS_SAMPLE_SHARE": 0.05,
    # Cap of the whole sample store, in bytes: the oldest day files go first; when today's file alone fills it,
    # new samples are dropped.
    "TOPICS_SAMPLE_MAX_BYTES": 200_000_000,
    # Sample files last written more than this many days ago are deleted.
    "TOPICS_SAMPLE_RETENTION_DAYS": 30,
    # Pinned JSONL of articles with true labels that the promotion gate scores besides the bundles' held-out split.
    "TOPICS_GOLDEN_FILE": "",
    # The labeling queue (GET /v1/queue) reads articles from this JSONL file (lines with "text", optional
    # "title" and "id") and/or from the sample store (TOPICS_SAMPLE_DIR, newest first); both empty: the queue is off.
    "TOPICS_QUEUE_FILE": "",
    # Most articles the queue reads and scores per request (each request re-reads its sources).
    "TOPICS_QUEUE_MAX_ARTICLES": 5_000,
    # Share of classified articles (0.0 to 1.0) also scored by the candidate bundle, if one is published, to
    # compare it with the current model on live traffic (service/shadow.py). 0.0: off, no candidate loaded.
    "TOPICS_SHADOW_SAMPLE": 0.0,
}


def _convert(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{name}={raw!r}: expected true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r}: expected an integer") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r}: expected a number") from None
    return raw


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return DEFAULTS with every TOPICS_* variable set in the environment applied."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for name, default in DEFAULTS.items():
        if name in environ:
            config[name] = _convert(name, environ[name], default)
    return config
