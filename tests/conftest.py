"""Shared fixtures: real models fitted on small corpora into temporary folders."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.loadgen import free_port, http  # noqa: F401  (http is re-exported for the tests)
from training.pipeline import Hyperparameters
from training.options import TrainOptions
from training.train import train

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEED_ARTICLE = SHARED / "examples" / "seed-article.txt"

# A small vocabulary per label; documents are drawn from it so that a model
# can learn the labels, and a few documents carry two labels or none.
VOCABULARY = {
    "sport": "match goal striker league coach stadium season cup referee penalty keeper fans".split(),
    "markets": "shares index investors bond yields currency profit earnings rally trading dividend stock".split(),
    "weather": "storm rain forecast flooding winds temperature snow heatwave drought clouds frost gale".split(),
}
FILLER = "the a city on monday said officials report week new after year people".split()


def json_lines(text: str) -> list[dict]:
    """The JSON objects among a server's output lines (gunicorn's own lines are plain text)."""
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def make_documents(n_per_label: int = 30, seed: int = 7) -> list[dict]:
    """Return labeled toy documents: single-label, two-label and unlabeled ones."""
    rng = random.Random(seed)
    docs = []
    labels = sorted(VOCABULARY)
    for label in labels:
        for i in range(n_per_label):
            words = rng.sample(VOCABULARY[label], 5) + rng.sample(FILLER, 4)
            rng.shuffle(words)
            docs.append({"id": f"{label}-{i}", "title": " ".join(words[:3]), "text": " ".join(words),
                         "labels": [label]})
    for i in range(12):
        a, b = rng.sample(labels, 2)
        words = rng.sample(VOCABULARY[a], 4) + rng.sample(VOCABULARY[b], 4) + rng.sample(FILLER, 2)
        docs.append({"id": f"mix-{i}", "title": "", "text": " ".join(words), "labels": sorted([a, b])})
    for i in range(10):
        docs.append({"id": f"none-{i}", "title": "", "text": " ".join(rng.sample(FILLER, 8)), "labels": []})
    rng.shuffle(docs)
    return docs


def write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def train_into(out: Path, data: list[Path], params: Hyperparameters | None = None, **overrides) -> Path:
    """Train quietly into ``out`` (with ``params``, or min_df=1 for the small corpora) and return the published
    bundle folder."""
    options = TrainOptions(data=data, out=out, quiet=True, folds=3, params=params or Hyperparameters(min_df=1),
                           **overrides)
    return train(options)


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "toy.jsonl", make_documents())


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory, toy_corpus) -> Path:
    """A models folder with one published toy bundle (treat as read-only)."""
    out = tmp_path_factory.mktemp("models")
    train_into(out, [toy_corpus])
    return out


@pytest.fixture
def models_dir(tmp_path, toy_corpus) -> Path:
    """A fresh, writable models folder with one published toy bundle."""
    out = tmp_path / "models"
    train_into(out, [toy_corpus])
    return out


@pytest.fixture(scope="session")
def seed_models(tmp_path_factory) -> Path:
    """The default model: trained on seeds/ with default options."""
    out = tmp_path_factory.mktemp("seed-models")
    train(TrainOptions(data=[ROOT / "seeds"], out=out, quiet=True))
    return out


@pytest.fixture
def app(models_dir):
    """The service over a fresh, writable toy models folder."""
    from service import create_app

    return create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(models_dir), "TOPICS_RELOAD_INTERVAL": 0.0})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def seed_client(seed_models):
    """A client of the service over the default (seed) model."""
    from service import create_app

    return create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(seed_models)}).test_client()


class Server:
    """A gunicorn process serving the app on a free loopback port."""

    def __init__(self, process, url, log_path):
        self.process, self.url, self.log_path = process, url, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Servers:
    """Start gunicorn with gunicorn.conf.py, each server's log and metrics in ``folder``; ``stop`` ends them all."""

    def __init__(self, folder: Path):
        self.folder, self.started = folder, []

    def start(self, model_dir: Path, workers: int = 2, **env) -> Server:
        import os
        import subprocess
        import sys
        import time

        port = free_port()
        log_path = self.folder / f"gunicorn-{port}.log"
        environ = {**os.environ, "TOPICS_MODEL_DIR": str(model_dir), "TOPICS_BIND": f"127.0.0.1:{port}",
                   "TOPICS_WORKERS": str(workers),
                   "PROMETHEUS_MULTIPROC_DIR": str(self.folder / f"metrics-{port}"),
                   # Short: a test's server that is still busy (a trickling client, a worker that missed SIGTERM
                   # while starting: docs/operations.md) is killed at teardown 2 s after SIGTERM.
                   "TOPICS_GRACEFUL_TIMEOUT": "2", **env}
        log = open(log_path, "wb")
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
                                   cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        server = Server(process, f"http://127.0.0.1:{port}", log_path)
        self.started.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited early:\n{server.log()}")
            try:
                if http("GET", server.url + "/healthz", timeout=1)[0] == 200:
                    return server
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer within 30 s:\n{server.log()}")

    def stop(self) -> None:
        import subprocess

        for server in self.started:
            if server.process.poll() is None:
                server.process.terminate()
                try:
                    server.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.process.kill()
            if server.process.returncode is None:
                server.process.wait()  # reap it, so no zombie (or ResourceWarning) is left behind


@pytest.fixture
def start_server(tmp_path):
    """Start gunicorn servers for one test; they stop when the test ends."""
    servers = Servers(tmp_path)
    yield servers.start
    servers.stop()


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory):
    """Start gunicorn servers shared by a module's tests, which must leave them as they found them."""
    servers = Servers(tmp_path_factory.mktemp("servers"))
    yield servers.start
    servers.stop()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
