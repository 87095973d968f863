"""The fast prediction path gives the fitted pipeline's probabilities, for every label and document."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from tests.conftest import ROOT, SHARED, train_into, write_jsonl
from training.corpus import compose_text, read_corpus
from training.fastpath import FastLinearTfidf, Unsupported
from training.model import TopicModel
from training.pipeline import Hyperparameters, build_pipeline

EDGE_CASES = ["", "a", "   ", "!!! ???", "x" * 5000, "Ünïcödé ÉLECTION à Paris 北京 déjà-vu", "the the the the",
              "tariffs tariffs tariffs " * 300, "NORTH KOREA missile test\n\ntariffs on steel\tand\rwine"]


def _texts():
    docs = read_corpus([ROOT / "seeds"]).documents
    texts = [compose_text(d.title, d.text, 2) for d in docs]
    bbc = SHARED / "corpora" / "bbc" / "bbc.jsonl"
    if bbc.is_file():  # real articles, when ../shared is there
        with bbc.open(encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh]
    return texts + EDGE_CASES


def _assert_same(model: TopicModel, texts):
    reference = model.pipeline.predict_proba(texts)
    fast = model.fast.predict_proba(texts)
    assert fast.shape == reference.shape == (len(texts), len(model.labels))
    np.testing.assert_allclose(fast, reference, rtol=1e-9, atol=1e-12)
    for text in texts[:300] + EDGE_CASES:  # the one-article path too
        np.testing.assert_allclose(model.fast.predict_proba([text])[0], model.pipeline.predict_proba([text])[0],
                                   rtol=1e-9, atol=1e-12)


def test_multilabel_seed_model(seed_models):
    model = TopicModel.load(seed_models / "current")
    assert model.fast is not None and model.fast.link == "sigmoid"
    texts = _texts()
    assert len(texts) >= 1700
    _assert_same(model, texts)


def test_multiclass_model():
    docs = [d for d in read_corpus([ROOT / "seeds"]).documents if len(d.labels) == 1]
    pipeline = build_pipeline(Hyperparameters(C=10.0), multilabel=False)
    pipeline.fit([compose_text(d.title, d.text, 2) for d in docs], [d.labels[0] for d in docs])
    fast = FastLinearTfidf(pipeline)
    assert fast.link == "softmax" and len(pipeline.classes_) == 10
    texts = _texts()
    np.testing.assert_allclose(fast.predict_proba(texts), pipeline.predict_proba(texts), rtol=1e-9, atol=1e-12)
    for text in EDGE_CASES:
        np.testing.assert_allclose(fast.predict_proba([text]), pipeline.predict_proba([text]), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("params", [
    Hyperparameters(ngram_max=1, min_df=1), Hyperparameters(ngram_max=3, min_df=1, sublinear_tf=False),
    Hyperparameters(min_df=1, max_df=0.5, max_features=300),
])
def test_other_vectorizer_options(tmp_path, toy_corpus, params):
    from training.train import TrainOptions, train

    folder = train(TrainOptions(data=[toy_corpus], out=tmp_path / "m", quiet=True, folds=3, params=params))
    model = TopicModel.load(folder)
    texts = [json.loads(line)["text"] for line in toy_corpus.read_text().splitlines()] + EDGE_CASES
    _assert_same(model, texts)


def test_binary_single_label_model(tmp_path, toy_corpus):
    records = [json.loads(line) for line in toy_corpus.read_text().splitlines()]
    records = [r for r in records if r["labels"] in (["sport"], ["markets"])]
    model = TopicModel.load(train_into(tmp_path / "m", [write_jsonl(tmp_path / "c.jsonl", records)]))
    assert model.labels == ["markets", "sport"]
    _assert_same(model, [r["text"] for r in records] + EDGE_CASES)


def test_char_ngrams_fall_back_to_the_pipeline(tmp_path, toy_corpus):
    from training.train import TrainOptions, train

    folder = train(TrainOptions(data=[toy_corpus], out=tmp_path / "m", quiet=True, folds=3,
                                params=Hyperparameters(min_df=1, char_ngrams=True)))
    model = TopicModel.load(folder)
    assert model.fast is None
    assert model.predict_proba(["goal striker"]).shape == (1, 3)
    assert model.explain("goal striker penalty", None, "sport", 3)


def test_unsupported_vectorizer_is_refused():
    pipeline = Pipeline([("vect", TfidfVectorizer(analyzer="char")), ("clf", None)])
    with pytest.raises(Unsupported):
        FastLinearTfidf(pipeline)


@pytest.mark.skipif(not (SHARED / "corpora" / "20newsgroups").is_dir(), reason="../shared/corpora is absent")
def test_twenty_newsgroups_sample(tmp_path):
    """A 20-class model fitted on real posts agrees on thousands of real test posts."""
    path = SHARED / "corpora" / "20newsgroups" / "20newsgroups.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    train_part = [r for r in records if r["split"] == "train" and r["text"].strip()][::10]
    test_texts = [r["title"] + "\n" + r["text"] for r in records if r["split"] == "test"][::3]
    pipeline = build_pipeline(Hyperparameters(C=5.0), multilabel=False)
    pipeline.fit([r["title"] + "\n" + r["text"] for r in train_part], [r["labels"][0] for r in train_part])
    fast = FastLinearTfidf(pipeline)
    assert len(pipeline.classes_) == 20 and len(test_texts) > 2000
    np.testing.assert_allclose(fast.predict_proba(test_texts), pipeline.predict_proba(test_texts),
                               rtol=1e-9, atol=1e-12)
