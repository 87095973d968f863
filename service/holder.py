"""The loaded model of one service process, and its hot reload.

:class:`ModelHolder` knows nothing of HTTP. It loads bundles only through
:meth:`runtime.model.TopicModel.load` (checksums verified before
unpickling), swaps in a newly published bundle when ``<dir>/current`` moves,
and keeps serving the old model when a new one fails verification.
A request takes one reference to the model and uses it throughout, so it
finishes on the model it started with and a batch never mixes versions.

Beside it the holder can follow the ``candidate`` link (a bundle waiting for
the promotion gate) for shadow scoring: from the start when shadow scoring is
on, or from the first time anyone asks for :attr:`ModelHolder.candidate`, so a
service that never looks at candidates never loads one. The candidate is
verified the same way, re-checked with the current model, dropped when its
link goes, and a candidate that fails to load only leaves ``candidate`` None.

Load errors are kept for /readyz, /v1/model and /v1/model/candidate with
paths relative to the model folder: clients learn which bundle failed and
why, not where the server keeps its files. The log keeps the full paths.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from runtime.language import detect
from runtime.bundle import CANDIDATE_LINK, CURRENT_LINK, MANIFEST_FILE, BundleError
from runtime.model import TopicModel

log = logging.getLogger("service")
SMOKE_TEXT = "Ministers met on Monday to discuss the economy, trade and security."


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ModelHolder:
    """Hold the current model; load, verify and hot-reload it."""

    def __init__(self, model_dir: str | Path, signing_key: bytes | None = None, reload_interval: float = 1.0,
                 follow_candidate: bool = False):
        self.model_dir = Path(model_dir)
        self.signing_key = signing_key
        self.reload_interval = reload_interval
        self._model: TopicModel | None = None
        self._loaded_key: tuple | None = None
        self._failed_key: tuple | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        self.loaded_at: str | None = None
        self.last_error: dict | None = None
        self.reloads = 0
        self.reload_failures = 0
        self.listeners: list = []
        self._follow_candidate = follow_candidate
        self._candidate: TopicModel | None = None
        self._candidate_key: tuple | None = None
        self._candidate_failed_key: tuple | None = None
        self.candidate_loaded_at: str | None = None
        self.candidate_error: dict | None = None

    def _error(self, path: Path, exc: Exception) -> dict:
        """A load failure as clients see it: the bundle and the reason, without the server's folders."""
        message = str(exc)
        for root in {str(self.model_dir.resolve()), str(self.model_dir)}:
            message = message.replace(root.rstrip("/") + "/", "")
        try:
            shown = str(path.relative_to(self.model_dir.resolve()))
        except ValueError:  # the link points outside the model folder
            shown = path.name
        return {"path": shown, "error": message, "at": _now()}

    # -- state ------------------------------------------------------------
    @property
    def model(self) -> TopicModel | None:
        """The model to use for one request (take it once per request)."""
        return self._model

    @property
    def candidate(self) -> TopicModel | None:
        """The verified candidate bundle, or None: none published, or it failed to load (take it once per request).

        The first call starts following the ``candidate`` link and loads it;
        from then on it is re-checked on the reload cadence.
        """
        if not self._follow_candidate:
            with self._lock:
                if not self._follow_candidate:
                    self._follow_candidate = True
                    self._check_candidate()
        return self._candidate

    @property
    def ready(self) -> bool:
        """True when a model is loaded and passed its smoke prediction."""
        return self._model is not None

    def _bundle_path(self) -> Path:
        if (self.model_dir / MANIFEST_FILE).is_file() and not (self.model_dir / CURRENT_LINK).exists():
            return self.model_dir
        return self.model_dir / CURRENT_LINK

    def _key(self, path: Path | None = None) -> tuple | None:
        """Identify what is published now, cheaply: the resolved folder and its manifest's mtime."""
        path = path or self._bundle_path()
        try:
            real = path.resolve(strict=True)
            stat = (real / MANIFEST_FILE).stat()
        except (FileNotFoundError, NotADirectoryError, RuntimeError):
            return None
        return (str(real), stat.st_mtime_ns, stat.st_size)

    # -- loading ----------------------------------------------------------
    def load(self) -> bool:
        """Load what is published now; log one clear line when nothing is."""
        key = self._key()
        if key is None:
            log.warning("no model bundle at %s: the service is not ready until one is published "
                        "(run `make train` or `python -m training --out %s`)",
                        self._bundle_path(), self.model_dir)
            self._failed_key = None
            loaded = False
        else:
            loaded = self._load(key)
        if self._follow_candidate:
            self._check_candidate()
        return loaded

    def _verified(self, path: Path) -> TopicModel:
        """Load a bundle through :meth:`TopicModel.load` (checksums first) and check that it predicts."""
        model = TopicModel.load(path, self.signing_key)
        scores = model.predict_proba([SMOKE_TEXT])
        if scores.shape != (1, len(model.labels)) or not np.all(np.isfinite(scores)):
            raise BundleError(f"{path}: smoke prediction returned {scores!r}")
        return model

    def _load(self, key: tuple) -> bool:
        path = Path(key[0])
        started = time.perf_counter()
        try:
            model = self._verified(path)
            detect(SMOKE_TEXT)  # loads the detector's model now, not on the first request
        except (BundleError, OSError, ValueError) as exc:
            self._failed_key = key
            self.reload_failures += 1
            self.last_error = self._error(path, exc)
            keeps = f"; still serving {self._model.version}" if self._model else ""
            log.error("refused model bundle %s: %s%s", path, exc, keeps)
            self._notify("failure", None)
            return False
        previous = self._model.version if self._model else None
        self._model = model
        self._loaded_key = key
        self._failed_key = None
        self.loaded_at = _now()
        self.last_error = None
        if previous is not None:
            self.reloads += 1
        log.info("loaded model %s from %s in %.2fs%s", model.version, path, time.perf_counter() - started,
                 f" (was {previous})" if previous else "")
        self._notify("reloaded" if previous else "loaded", model)
        return True

    def _check_candidate(self) -> None:
        """Follow the ``candidate`` link: load a new candidate, drop a removed one (call with the lock held)."""
        key = self._key(self.model_dir / CANDIDATE_LINK)
        if key is None:
            if self._candidate is not None:
                log.info("candidate %s dropped: the candidate link is gone", self._candidate.version)
            self._candidate = self._candidate_key = self._candidate_failed_key = None
            self.candidate_loaded_at = self.candidate_error = None
            return
        if key in (self._candidate_key, self._candidate_failed_key):
            return
        path = Path(key[0])
        try:
            candidate = self._verified(path)
        except Exception as exc:  # whatever a candidate does wrong, serving goes on without it
            self._candidate, self._candidate_key, self._candidate_failed_key = None, None, key
            self.candidate_loaded_at = None
            self.candidate_error = self._error(path, exc)
            log.error("refused candidate bundle %s: %s; shadow scoring waits for another candidate", path, exc)
            return
        self._candidate, self._candidate_key, self._candidate_failed_key = candidate, key, None
        self.candidate_loaded_at, self.candidate_error = _now(), None
        log.info("loaded candidate %s from %s beside %s", candidate.version, path,
                 self._model.version if self._model else "no current model")

    def _notify(self, event: str, model: TopicModel | None) -> None:
        for listener in self.listeners:
            listener(event, model)

    def maybe_reload(self) -> None:
        """Check, at most once per interval, whether a new bundle was published; load it if so.

        The thread that notices the change loads it; other threads keep using
        the old model meanwhile instead of waiting.
        """
        now = time.monotonic()
        if now < self._next_check:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._next_check = now + self.reload_interval
            key = self._key()
            if key is not None and key != self._loaded_key and key != self._failed_key:
                self._load(key)
            if self._follow_candidate:
                self._check_candidate()
        finally:
            self._lock.release()

    def reload(self) -> bool:
        """Check for a new bundle now (admin reload); True when the model changed."""
        with self._lock:
            key = self._key()
            if self._follow_candidate:
                self._check_candidate()
            if key is None:
                raise BundleError(f"no model bundle at {self._bundle_path().relative_to(self.model_dir)} "
                                  "in the model folder")
            if key == self._loaded_key:
                return False
            if not self._load(key):
                raise BundleError(self.last_error["error"])
            return True

    def status(self) -> dict:
        """Describe what is loaded and the last reload failure, for /v1/model."""
        return {
            "ready": self.ready,
            "version": self._model.version if self._model else None,
            "loaded_at": self.loaded_at,
            "fast_path": bool(self._model and self._model.scorer is not None),
            "reloads": self.reloads,
            "reload_failures": self.reload_failures,
            "last_reload_error": self.last_error,
        }
