"""The compiled scorer gives the pipeline's probabilities, and the Python path takes over where it does not apply."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import train_into
from tests.test_scorer import EDGE_CASES, _texts
from runtime import scorer_c
from runtime.model import TopicModel
from training.pipeline import Hyperparameters

pytestmark = pytest.mark.skipif(scorer_c.library() is None,
                                reason=f"the compiled scorer is not built ({scorer_c.LIBRARY.name}): run `make scorer`, "
                                       "which needs a C compiler")

# ASCII text that stresses the tokenizer and the tables: nothing to find, single characters, case,
# digits and underscores, control characters, one huge token, and a body near the service's limit.
HOSTILE = ["", "a", "ab", "AB", "_x_", "a-b c.d e'f g/h", "TRADE Trade trade tRaDe", "1999 2000 economy_2 __",
           "\x00\x01 trade\x7f\x1fsecurity", "\t\n\r\x0b\x0c tariffs", "tariffs" * 2000, "x " * 50_000,
           "tariffs on steel and wine, said the minister. " * 20_000]


def _agree(model: TopicModel, texts: list[str]) -> None:
    reference = model.pipeline.predict_proba(texts)
    for text, expected in zip(texts, reference):
        np.testing.assert_allclose(model.scorer.predict_proba([text])[0], expected, rtol=1e-9, atol=1e-12)


def test_default_model_is_scored_in_c_and_agrees(seed_models):
    model = TopicModel.load(seed_models / "current")
    assert model.scorer._compiled is not None
    texts = _texts() + HOSTILE
    assert sum(text.isascii() for text in texts) >= 1500
    _agree(model, texts)


def test_raw_counts_instead_of_sublinear(tmp_path, toy_corpus):
    model = TopicModel.load(train_into(tmp_path, [toy_corpus], Hyperparameters(ngram_max=1, min_df=1,
                                                                               sublinear_tf=False)))
    assert model.scorer._compiled is not None
    _agree(model, EDGE_CASES + HOSTILE + ["storm rain storm rain storm forecast", "shares shares index"])


def test_only_ascii_single_articles_go_to_c(seed_models):
    model = TopicModel.load(seed_models / "current")

    def refuse(text):
        raise AssertionError(f"sent to the compiled scorer: {text!r}")

    expected = model.pipeline.predict_proba(["Élection à Paris: tariffs on steel", "tariffs", "trade talks"])
    model.scorer._compiled.scores = refuse
    np.testing.assert_allclose(model.predict_proba(["Élection à Paris: tariffs on steel"])[0], expected[0],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(["tariffs", "trade talks"]), expected[1:], rtol=1e-9, atol=1e-12)
    with pytest.raises(AssertionError, match="sent to the compiled scorer"):
        model.predict_proba(["tariffs"])


def test_not_used_for_ngrams_or_when_turned_off(tmp_path, toy_corpus, seed_models, monkeypatch):
    bigrams = TopicModel.load(train_into(tmp_path, [toy_corpus], Hyperparameters(ngram_max=2, min_df=1)))
    assert bigrams.scorer._compiled is None
    monkeypatch.setenv("TOPICS_COMPILED", "0")
    model = TopicModel.load(seed_models / "current")
    assert model.scorer._compiled is None
    _agree(model, EDGE_CASES)


def test_a_pickled_model_builds_its_own_table(seed_models):
    fast = TopicModel.load(seed_models / "current").scorer
    copy = pickle.loads(pickle.dumps(fast))
    assert copy._compiled is not None and copy._compiled._handle != fast._compiled._handle
    texts = [text for text in _texts()[:200] if text.isascii()]
    for text in texts:
        np.testing.assert_array_equal(copy.predict_proba([text]), fast.predict_proba([text]))


def test_threads_share_the_table(seed_models):
    model = TopicModel.load(seed_models / "current")
    texts = [text for text in _texts()[:400] if text.isascii()]
    alone = [model.predict_proba([text]) for text in texts]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda text: model.predict_proba([text]), texts * 3))
    for a, b in zip(alone * 3, together):
        np.testing.assert_array_equal(a, b)
