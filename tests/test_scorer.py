"""The fast prediction path gives the fitted pipeline's probabilities, for every label and document."""

from __future__ import annotations

import gzip
import json
import re
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tests.conftest import ROOT, SHARED, train_into, write_jsonl
from training.corpus import compose_text, label_matrix, read_corpus
from runtime.scorer import _ASCII_WORDS, DEFAULT_TOKEN_PATTERN, LinearScorer, Unsupported, _KeyTable
from runtime.model import TopicModel
from training.pipeline import TOKEN_PATTERN, Hyperparameters, build_pipeline

LABELS = ["diplomacy", "economy", "energy", "environment", "health", "human-rights", "politics", "security",
          "technology", "trade"]
EDGE_CASES = ["", "a", "   ", "!!! ???", "x" * 5000, "Ünïcödé ÉLECTION à Paris 北京 déjà-vu", "the the the the",
              "tariffs tariffs tariffs " * 300, "NORTH KOREA missile test\n\ntariffs on steel\tand\rwine"]


def _texts():
    # Every kind of seed document, about 8,000 of them whatever the corpus's size, so the agreement tests
    # cost the same as seeds/ grows.
    docs = read_corpus([ROOT / "seeds"]).documents
    docs = docs[::max(1, len(docs) // 8000)]
    texts = [compose_text(d.title, d.text, 2) for d in docs]
    bbc = SHARED / "corpora" / "bbc" / "bbc.jsonl"
    if bbc.is_file():  # real articles, when ../shared is there
        with bbc.open(encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh]
    return texts + EDGE_CASES


def _assert_same(model: TopicModel, texts):
    reference = model.pipeline.predict_proba(texts)
    fast = model.scorer.predict_proba(texts)
    assert fast.shape == reference.shape == (len(texts), len(model.labels))
    np.testing.assert_allclose(fast, reference, rtol=1e-9, atol=1e-12)
    for text in texts[:300] + EDGE_CASES:  # the one-article path too
        np.testing.assert_allclose(model.scorer.predict_proba([text])[0], model.pipeline.predict_proba([text])[0],
                                   rtol=1e-9, atol=1e-12)


def test_multilabel_seed_model(seed_models):
    model = TopicModel.load(seed_models / "current")
    assert model.scorer is not None and model.scorer.link == "scope-gated-sigmoid"
    texts = _texts()
    assert len(texts) >= 1700
    _assert_same(model, texts)


def test_the_default_model_takes_the_options_the_seed_corpus_asks_for(seed_models):
    asked = json.loads((ROOT / "seeds" / "training.json").read_text())
    manifest = TopicModel.load(seed_models / "current").manifest
    assert asked["hyperparameters"]
    for name, value in asked["hyperparameters"].items():
        assert manifest["hyperparameters"][name] == value
        assert manifest["hyperparameters_why"][name] == f"{ROOT / 'seeds' / 'training.json'}: {asked['why'][name]}"


def test_multilabel_model_without_the_scope_gate():
    docs = read_corpus([ROOT / "seeds"]).documents[::4]
    pipeline = build_pipeline(Hyperparameters(scope_gate=False), multilabel=True)
    pipeline.fit([compose_text(d.title, d.text, 2) for d in docs], label_matrix(docs, LABELS))
    fast = LinearScorer(pipeline)
    assert fast.link == "sigmoid"
    texts = _texts()[:500] + EDGE_CASES
    np.testing.assert_allclose(fast.predict_proba(texts), pipeline.predict_proba(texts), rtol=1e-9, atol=1e-12)


def test_multiclass_model():
    docs = [d for d in read_corpus([ROOT / "seeds"]).documents[::3] if len(d.labels) == 1]
    pipeline = build_pipeline(Hyperparameters(C=10.0), multilabel=False)
    pipeline.fit([compose_text(d.title, d.text, 2) for d in docs], [d.labels[0] for d in docs])
    fast = LinearScorer(pipeline)
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
    model = TopicModel.load(train_into(tmp_path / "m", [toy_corpus], params))
    texts = [json.loads(line)["text"] for line in toy_corpus.read_text().splitlines()] + EDGE_CASES
    _assert_same(model, texts)


def test_binary_single_label_model(tmp_path, toy_corpus):
    records = [json.loads(line) for line in toy_corpus.read_text().splitlines()]
    records = [r for r in records if r["labels"] in (["sport"], ["markets"])]
    model = TopicModel.load(train_into(tmp_path / "m", [write_jsonl(tmp_path / "c.jsonl", records)]))
    assert model.labels == ["markets", "sport"]
    _assert_same(model, [r["text"] for r in records] + EDGE_CASES)


@pytest.mark.parametrize("compiled", ["1", "0"])
def test_words_and_character_ngrams(tmp_path, toy_corpus, monkeypatch, compiled):
    """A --char-ngrams bundle keeps the fast path, compiled or in Python, and its explanations add up."""
    monkeypatch.setenv("TOPICS_COMPILED", compiled)
    folder = train_into(tmp_path / "m", [toy_corpus], Hyperparameters(min_df=1, char_ngrams=True))
    model = TopicModel.load(folder)
    assert model.scorer is not None and model.scorer._chars is not None
    texts = [json.loads(line)["text"] for line in toy_corpus.read_text().splitlines()]
    _assert_same(model, texts + EDGE_CASES)
    doc = "goal striker penalty"
    index = model.labels.index("sport")
    terms = model.scorer.contributions(doc, index)
    assert "goal" in dict(terms) and "[ goa]" in dict(terms)
    generic = model._contributions_generic(doc, index)  # the pipeline's own columns, named words__ and chars__
    assert len(terms) == len(generic)
    assert sum(v for _, v in terms) == pytest.approx(sum(v for _, v in generic), rel=1e-9)
    z = model.pipeline.decision_function([doc])[0][index]
    assert sum(v for _, v in terms) == pytest.approx(z - model.pipeline[-1].estimators_[index].intercept_[0], rel=1e-9)


def test_unsupported_vectorizer_is_refused():
    pipeline = Pipeline([("vect", TfidfVectorizer(analyzer="char")), ("clf", None)])
    with pytest.raises(Unsupported):
        LinearScorer(pipeline)


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
    fast = LinearScorer(pipeline)
    assert len(pipeline.classes_) == 20 and len(test_texts) > 2000
    np.testing.assert_allclose(fast.predict_proba(test_texts), pipeline.predict_proba(test_texts),
                               rtol=1e-9, atol=1e-12)


# Text where a tokenizer other than the regular expression could go wrong: accents, curly quotes,
# underscores, digits (ASCII and not), one-letter words between words, characters whose lowercase
# form is longer ("İ" -> "i" + combining dot) or ASCII ("K" Kelvin sign -> "k"), combining marks,
# Unicode spaces, a lone surrogate, and articles that end/start with the halves of a bigram.
TRICKY = [
    "New x York: the new york office; NEW  X  YORK again, new York",
    "Café déjà vu — “quoted” ‘words’ naïve ÉLAN, it’s the café’s élan",
    "snake_case _under_ __dunder__ a_b x_ _ __ new_york",
    "x² 2² ٣٣ ٣ 12 3 4a b5 １２ ① Ⅻ ½ 3.14 e-mail U.S.A. don't",
    "İstanbul İİ İa aİ \u212aelvin 5\u212a ǅemal ẞtraße Straße",  # \u212a: Kelvin sign, lowercases to k
    "£100 €5 ¥ 50p — £ 3£4 new £ york prices",
    "tab\tsep\nline\r\ncr\x0bvt\x0cff\x1cfs\u00a0nbsp\u2003em\u2028ls\x85nel new\u00a0york",
    "e\u0301e cafe\u0301 x\u200by zero\u200dwidth 中文 字 日本語 한국어 Σίσυφος ΣΑΣ",
    "\U0001d400\U0001d401 𝐀𝐁 math ﬁne ﬂow lone\ud800surrogate new york",
    "a b c d e f g new", "york h i j", "A I O U new", "York", "\u212a new x york \u212a\u212a",  # ASCII once lowercased
]


def _tricky_pipeline(**vect_options) -> Pipeline:
    """A pipeline fitted on TRICKY itself, so that its odd terms are in the vocabulary with weights."""
    texts = TRICKY + [t.upper() for t in TRICKY] + [t.lower() for t in TRICKY]
    labels = [i % 3 for i in range(len(texts))]
    vect = TfidfVectorizer(sublinear_tf=True, **vect_options)
    pipeline = Pipeline([("vect", vect), ("clf", LogisticRegression(C=100.0, max_iter=2000))])
    return pipeline.fit(texts, labels)


def test_default_pattern_is_the_one_the_fast_tokenizer_reproduces():
    assert TOKEN_PATTERN == DEFAULT_TOKEN_PATTERN == TfidfVectorizer().token_pattern


def test_ascii_table_keeps_exactly_the_word_characters():
    word = re.compile(r"(?u)\w")
    assert len(_ASCII_WORDS) == 128
    for code in range(128):
        assert (_ASCII_WORDS[code] != " ") == bool(word.fullmatch(chr(code))), repr(chr(code))
        if _ASCII_WORDS[code] != " ":
            assert _ASCII_WORDS[code] == chr(code)


def test_unicode_whitespace_is_never_a_word_character():
    """split() also cuts at non-ASCII whitespace, which is right only if no whitespace is \\w."""
    word = re.compile(r"(?u)\w")
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert "\u00a0" in spaces and "\u2028" in spaces
    assert not any(word.fullmatch(ch) for ch in spaces)


@pytest.mark.parametrize("lowercase", [True, False])
def test_words_match_the_vectorizer_analyzer(lowercase):
    pipeline = _tricky_pipeline(lowercase=lowercase)
    fast = LinearScorer(pipeline)
    analyzer = pipeline.named_steps["vect"].build_analyzer()
    for text in TRICKY + [" ".join(TRICKY), "".join(TRICKY)] + [t.upper() for t in TRICKY]:
        # _words may add one-character words (dropped before n-grams); the rest must be the analyzer's.
        assert [w for w in fast._words(text) if len(w) > 1] == analyzer(text), text


@pytest.mark.parametrize("options", [
    {"ngram_range": (1, 2)}, {"ngram_range": (1, 3), "lowercase": False}, {"ngram_range": (2, 2)},
    {"ngram_range": (1, 1)}, {"ngram_range": (1, 2), "token_pattern": r"(?u)\b\w+\b"},
])
def test_tricky_text_gives_the_pipeline_probabilities(options):
    pipeline = _tricky_pipeline(**options)
    vocabulary = pipeline.named_steps["vect"].vocabulary_
    if options["ngram_range"] == (1, 2) and "token_pattern" not in options:
        # One-letter words must go before bigrams are formed: "new x york" holds "new york".
        assert "new york" in vocabulary and "x york" not in vocabulary
    fast = LinearScorer(pipeline)
    texts = TRICKY + [t.upper() for t in TRICKY] + [" ".join(TRICKY), "".join(TRICKY), "", "a", "new x york"]
    reference = pipeline.predict_proba(texts)
    np.testing.assert_allclose(fast.predict_proba(texts), reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.predict_proba(texts[::-1]), reference[::-1], rtol=1e-9, atol=1e-12)
    for text, expected in zip(texts, reference):
        np.testing.assert_allclose(fast.predict_proba([text])[0], expected, rtol=1e-9, atol=1e-12)


def test_words_only_inside_bigrams():
    """Tokens of the vocabulary's bigrams need not be terms themselves ("new" here)."""
    texts = ["new york prices rose", "york new york", "prices new", "rose prices", "new"] * 3
    vect = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
                           vocabulary=["new york", "prices rose", "york", "rose"])
    pipeline = Pipeline([("vect", vect), ("clf", LogisticRegression(C=100.0))]).fit(texts, [0, 1, 0, 1, 1] * 3)
    fast = LinearScorer(pipeline)
    probe = texts + ["new new new york", "york prices new", "new x york rose"]
    np.testing.assert_allclose(fast.predict_proba(probe), pipeline.predict_proba(probe), rtol=1e-9, atol=1e-12)
    for text in probe:
        np.testing.assert_allclose(fast.predict_proba([text]), pipeline.predict_proba([text]), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2)])
def test_given_vocabulary_with_one_letter_terms(ngram_range):
    """The pattern never yields "x", so a vocabulary term "x" (or "x york") never counts; nor do bigrams
    of the vocabulary when ngram_range stops at single words."""
    texts = ["new x york prices", "rose x x", "prices new", "rose rose x", "new york"] * 3
    vect = TfidfVectorizer(ngram_range=ngram_range, vocabulary=["x", "prices", "rose", "new", "x york", "new york"])
    pipeline = Pipeline([("vect", vect), ("clf", LogisticRegression(C=100.0))]).fit(texts, [0, 1, 0, 1, 1] * 3)
    fast = LinearScorer(pipeline)
    probe = texts + ["x", "x prices x", "café x prices", "new york prices", "rose new x york"]
    np.testing.assert_allclose(fast.predict_proba(probe), pipeline.predict_proba(probe), rtol=1e-9, atol=1e-12)
    for text in probe:
        np.testing.assert_allclose(fast.predict_proba([text]), pipeline.predict_proba([text]), rtol=1e-9, atol=1e-12)


def test_bigrams_do_not_cross_articles_in_a_batch():
    pipeline = _tricky_pipeline(ngram_range=(1, 2))
    fast = LinearScorer(pipeline)
    texts = ["prices rose in new", "york prices", "new", "york", "new x", "york"]
    np.testing.assert_allclose(fast.predict_proba(texts), pipeline.predict_proba(texts), rtol=1e-9, atol=1e-12)
    X = fast._batch_features(texts)
    assert X[:, pipeline.named_steps["vect"].vocabulary_["new york"]].nnz == 0


def test_key_table_finds_present_keys_and_only_those():
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2 ** 40, 5000))
    keys = np.concatenate([keys, np.arange(1000)])  # neighbouring keys too, as n-gram keys often are
    keys = np.unique(keys)
    columns = rng.permutation(len(keys))
    table = _KeyTable(keys, columns)
    np.testing.assert_array_equal(table.get(keys), columns)
    absent = np.setdiff1d(rng.integers(0, 2 ** 40, 5000), keys)
    np.testing.assert_array_equal(table.get(absent), -1)
    queries = np.concatenate([keys, absent, keys[:10]])
    expected = np.concatenate([columns, np.full(len(absent), -1), columns[:10]])
    order = rng.permutation(len(queries))
    np.testing.assert_array_equal(table.get(queries[order]), expected[order])
    assert len(table.get(np.empty(0, dtype=np.int64))) == 0


def test_key_table_with_colliding_keys():
    """300 keys whose home slots are the last 4 and first 4 of the table: long probes that wrap around."""
    rng = np.random.default_rng(1)
    candidates = np.unique(rng.integers(0, 2 ** 50, 400_000))
    sizer = _KeyTable(np.arange(300), np.arange(300))  # same key count, so same table size
    slots = sizer._slots(candidates)
    size = sizer._mask + 1
    crowded = candidates[(slots < 4) | (slots >= size - 4)]
    assert len(crowded) >= 300
    keys = rng.permutation(crowded)[:300]
    table = _KeyTable(keys, np.arange(300) * 7)
    np.testing.assert_array_equal(table.get(keys), np.arange(300) * 7)
    others = np.setdiff1d(crowded, keys)
    np.testing.assert_array_equal(table.get(others), -1)
