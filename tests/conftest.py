"""Shared fixtures: real models fitted on small corpora into temporary folders."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from training.pipeline import Hyperparameters
from training.train import TrainOptions, train

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


def train_into(out: Path, data: list[Path], **overrides) -> Path:
    """Train quietly into ``out`` and return the published bundle folder."""
    options = TrainOptions(data=data, out=out, quiet=True, folds=3, params=Hyperparameters(min_df=1), **overrides)
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
