"""The compiled scorer gives the pipeline's probabilities, and the Python path takes over where it does not apply."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, train_into
from tests.test_scorer import EDGE_CASES, _texts
from training.corpus import read_corpus
from runtime import scorer_c
from runtime.model import TopicModel
from training.pipeline import Hyperparameters

pytestmark = pytest.mark.skipif(scorer_c.library() is None,
                                reason=f"the compiled scorer is not built ({scorer_c.LIBRARY.name}): run `make scorer`, "
                                       "which needs a C compiler")

# Text that stresses the tokenizer and the tables: nothing to find, single characters, case, digits
# and underscores, control characters, one huge token, a body near the service's limit, and Unicode:
# accents, typographic quotes and dashes, other scripts and digits, letters that change length in UTF-8
# when lowercased (Kelvin sign, U+023A), emoji and tag sequences, combining marks, a truncated-looking mix.
HOSTILE = ["", "a", "ab", "AB", "_x_", "a-b c.d e'f g/h", "TRADE Trade trade tRaDe", "1999 2000 economy_2 __",
           "\x00\x01 trade\x7f\x1fsecurity", "\t\n\r\x0b\x0c tariffs", "tariffs" * 2000, "x " * 50_000,
           "tariffs on steel and wine, said the minister. " * 20_000,
           "Élysée talks: Macron’s “tariff” truce — Zürich, São Paulo, Kraków", "ÉCONOMIE ÇA Ärger ØRSTED",
           "Биржа растёт; ΤΡΑΠΕΖΑ σήμερα; 貿易 战争; تجارة النفط; व्यापार ٣٤٥ ௧௨", "\u212a\u212aelvin \u023a\u023ab",
           "trade 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f talks 👍🏽 é\u0301conomie",
           "na\u00efve co\u00f6perate \u00bd \u2167 \u00b2 x\u00b2 \u2460"]
# What Python lowercases by context or into several characters: the Python path takes these.
FALLBACK = ["ΣΟΦΟΣ tariffs", "İstanbul trade talks", "trade \ud800 lone surrogate"]


def _agree(model: TopicModel, texts: list[str]) -> None:
    reference = model.pipeline.predict_proba(texts)
    for text, expected in zip(texts, reference):
        np.testing.assert_allclose(model.scorer.predict_proba([text])[0], expected, rtol=1e-9, atol=1e-12)


def _two_character_terms() -> list[str]:
    """Every two-character word: 1,369 of them, each the shortest token there is."""
    import itertools
    import string

    alphabet = string.ascii_lowercase + string.digits + "_"
    return ["".join(pair) for pair in itertools.product(alphabet, repeat=2)]


def _expected(terms: list[str], vocabulary: dict, weights: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """The labels' normalized sums for a text with these terms (sublinear tf), computed in numpy."""
    columns, tf = np.unique([vocabulary[t] for t in terms], return_counts=True)
    tf = 1.0 + np.log(tf)
    return tf @ weights[columns] / np.sqrt(np.sum((tf * idf[columns]) ** 2))


def test_the_densest_articles_fit_the_count_table():
    # Every two-character term of a made-up vocabulary, one separator byte apart: the most distinct
    # terms a text of its length can hold (683 in 2,048 bytes), at the size counted on the stack
    # (_scorer.c, STACK_BYTES) and just over it, checked against the formula computed in numpy.
    import itertools

    terms = _two_character_terms()
    rng = np.random.default_rng(0)
    vocabulary = {term: i for i, term in enumerate(terms)}
    weights, idf = rng.normal(size=(len(terms) + 1, 3)), rng.uniform(1, 5, size=len(terms) + 1)
    scorer = scorer_c.CompiledScorer(vocabulary, weights, idf, sublinear=True)
    for count, again in itertools.product((682, 683, 684, 1369), (0, 100)):
        words = [terms[i] for i in rng.permutation(len(terms))[:count]]
        words += words[:again]  # some terms twice
        for sep in (" ", ".", "\n"):
            text = sep.join(words)
            got, coverage = scorer.scores(text)
            np.testing.assert_allclose(got, _expected(words, vocabulary, weights, idf), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{count} terms")
            assert coverage == 1.0
    assert len(" ".join(terms[:683]).encode()) == 2048


def _with_pairs(words: list[str]) -> list[str]:
    """A text's terms under ngram_range=(1, 2): its words, then each word joined to the next by a space."""
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def test_the_densest_articles_fit_the_count_table_with_word_pairs():
    # As above for a model of words and word pairs: a pair is one more term per word, so articles up to
    # half the bytes (1,024: 342 words and 341 pairs) are counted on the stack. Around that size and
    # well over it, with every pair of the text in the vocabulary, and with pairs repeated.
    import itertools

    terms = _two_character_terms()
    rng = np.random.default_rng(1)
    for count, again in itertools.product((341, 342, 343, 1369), (0, 50)):
        words = [terms[i] for i in rng.permutation(len(terms))[:count]]
        words += words[:again]
        vocabulary = {term: i for i, term in enumerate(dict.fromkeys(terms + _with_pairs(words)))}
        weights, idf = rng.normal(size=(len(vocabulary) + 1, 3)), rng.uniform(1, 5, size=len(vocabulary) + 1)
        scorer = scorer_c.CompiledScorer(vocabulary, weights, idf, sublinear=True, bigrams=True)
        for sep in (" ", ".", "\n"):
            got, coverage = scorer.scores(sep.join(words))
            np.testing.assert_allclose(got, _expected(_with_pairs(words), vocabulary, weights, idf), rtol=1e-12,
                                       atol=1e-12, err_msg=f"{count} words")
            assert coverage == 1.0
    assert len(" ".join(terms[:342]).encode()) == 1025


@pytest.mark.parametrize("max_df, mode", [(1.0, 2), (0.05, 1)])
def test_word_pairs_are_scored_in_c_exactly_as_the_vectorizer_counts_them(max_df, mode):
    # A words-and-pairs vocabulary fitted on seed and BBC text, random coefficients: the compiled
    # scorer's sums must be the vectorizer's tf-idf rows times them, for single-character words between
    # pairs, one-word texts, Unicode and the hostile texts; its known-word share counts words only.
    # With min_df alone every pair's words are terms, and pairs with an unknown word are skipped (mode 2);
    # max_df drops common words but keeps pairs holding them, so every pair is looked up (mode 1).
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = _texts()[::7] + HOSTILE[:12] + HOSTILE[13:] + ["new x york", "a", "trade talks", "Trade  TALKS!"]
    vect = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_df=max_df).fit(texts)
    assert sum(" " in term for term in vect.vocabulary_) > 10_000
    assert scorer_c._pair_mode(vect.vocabulary_) == mode
    coef = np.random.default_rng(2).normal(size=(len(vect.idf_), 4))
    idf = np.append(vect.idf_, 0.0)
    scorer = scorer_c.CompiledScorer(vect.vocabulary_, np.vstack([coef * vect.idf_[:, None], np.zeros(4)]), idf,
                                     sublinear=True, bigrams=True)
    expected = np.asarray(vect.transform(texts) @ coef)
    analyzer = vect.build_analyzer()
    compiled = 0
    for text, row in zip(texts, expected):
        found = scorer.scores(text)
        if found is None:
            continue
        compiled += 1
        np.testing.assert_allclose(found[0], row, rtol=1e-9, atol=1e-12, err_msg=text[:60])
        words = [term for term in analyzer(text) if " " not in term]
        share = sum(word in vect.vocabulary_ for word in words) / len(words) if words else float("nan")
        np.testing.assert_allclose(found[1], share, rtol=1e-12, err_msg=text[:60])
    assert compiled >= len(texts) - 5


def test_default_model_is_scored_in_c_and_agrees(seed_models):
    model = TopicModel.load(seed_models / "current")
    assert model.scorer._compiled is not None
    assert model.scorer._compiled.pair_mode == 2  # word pairs, skipped when a word is unknown
    texts = _texts() + HOSTILE
    assert sum(text.isascii() for text in texts) >= 1500 and sum(not text.isascii() for text in texts) >= 100
    _agree(model, texts)


def test_raw_counts_instead_of_sublinear(tmp_path, toy_corpus):
    model = TopicModel.load(train_into(tmp_path, [toy_corpus], Hyperparameters(ngram_max=1, min_df=1,
                                                                               sublinear_tf=False)))
    assert model.scorer._compiled is not None
    _agree(model, EDGE_CASES + HOSTILE + ["storm rain storm rain storm forecast", "shares shares index"])


def test_single_articles_and_batches_of_any_text_go_to_c(seed_models):
    model = TopicModel.load(seed_models / "current")
    compiled = model.scorer._compiled
    assert compiled.scores("Élection à Paris: tariffs on steel") is not None
    for text in FALLBACK:
        assert compiled.scores(text) is None, text

    def refuse(text):
        raise AssertionError(f"sent to the compiled scorer: {text!r}")

    model.scorer._compiled.scores = refuse
    for texts in (["Élection à Paris"], ["tariffs", "trade talks"]):
        with pytest.raises(AssertionError, match="sent to the compiled scorer"):
            model.predict_proba(texts)


def test_a_batch_mixing_compiled_and_fallback_articles_agrees(seed_models):
    model = TopicModel.load(seed_models / "current")
    texts = ["tariffs on steel", FALLBACK[0], "Élection à Paris", FALLBACK[1]] * 3
    before = model.scorer.fallbacks
    np.testing.assert_allclose(model.predict_proba(texts), model.pipeline.predict_proba(texts), rtol=1e-9, atol=1e-12)
    assert model.scorer.fallbacks - before == 6


def test_fallbacks_are_scored_in_python_and_counted(seed_models):
    model = TopicModel.load(seed_models / "current")
    before = (model.scorer.compiled_articles, model.scorer.fallbacks)
    texts = [t for t in FALLBACK if "\ud800" not in t]  # the pipeline itself cannot take a lone surrogate
    _agree(model, texts + ["tariffs on steel"])
    assert (model.scorer.compiled_articles - before[0], model.scorer.fallbacks - before[1]) == (1, len(texts))


def test_no_character_above_the_table_is_a_word_character_or_whitespace_or_has_a_case():
    for cp in range(scorer_c.CHARMAP_SIZE, 0x110000):
        ch = chr(cp)
        assert not (ch.isalnum() or ch == "_" or ch.isspace()) and ch.lower() == ch, hex(cp)


CORPORA = ROOT.parent / "shared" / "corpora"


@pytest.mark.skipif(not CORPORA.is_dir(), reason=f"{CORPORA} is absent: the public corpora are needed")
def test_every_public_document_and_a_seventh_of_the_seeds_are_scored_in_c_exactly_as_the_pipeline(seed_models):
    import gzip
    import json

    model = TopicModel.load(seed_models / "current")
    # A seventh of the seeds (about 7,500, every kind of file): the pipeline's pair model is slow to run on
    # all of them, and the public corpora are the real text this test is for.
    texts = [model.compose([d.text], [d.title])[0] for d in read_corpus([ROOT / "seeds"]).documents[::7]]
    for path in sorted(CORPORA.glob("*/*.jsonl")) + sorted(CORPORA.glob("*/*.jsonl.gz")):
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as fh:
            texts += [model.compose([r["text"]], [r.get("title")])[0] for r in map(json.loads, fh)]
    before = model.scorer.compiled_articles, model.scorer.fallbacks
    got = np.vstack([model.scorer.predict_proba([text]) for text in texts])
    compiled, fallbacks = model.scorer.compiled_articles - before[0], model.scorer.fallbacks - before[1]
    print(f"\n{len(texts):,} documents: {compiled / len(texts):.2%} scored in C, {fallbacks} in Python")
    np.testing.assert_allclose(got, model.pipeline.predict_proba(texts), rtol=1e-9, atol=1e-12)
    assert compiled + fallbacks == len(texts) and fallbacks <= 0.001 * len(texts)


def test_used_for_word_pairs_not_longer_ngrams_nor_when_turned_off(tmp_path, toy_corpus, seed_models, monkeypatch):
    pairs = TopicModel.load(train_into(tmp_path / "2", [toy_corpus], Hyperparameters(ngram_max=2, min_df=1)))
    assert pairs.scorer._compiled is not None
    _agree(pairs, EDGE_CASES + HOSTILE[:12] + ["trade talks in new x york", "TRADE talks"])
    assert pairs.scorer.compiled_articles >= len(EDGE_CASES) + 12
    triples = TopicModel.load(train_into(tmp_path / "3", [toy_corpus], Hyperparameters(ngram_max=3, min_df=1)))
    assert triples.scorer._compiled is None
    monkeypatch.setenv("TOPICS_COMPILED", "0")
    model = TopicModel.load(seed_models / "current")
    assert model.scorer._compiled is None
    _agree(model, EDGE_CASES)


def _words_and_chars(char_range: tuple[int, int], sublinear: bool, lowercase: bool = True):
    """A model of words and character n-grams (what ``--char-ngrams`` trains, with any range), fitted on
    the toy corpus's texts and on text with whitespace of every kind, short words and Unicode."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline

    from tests.conftest import make_documents

    docs = make_documents()
    texts = [d["text"] for d in docs] + HOSTILE[:10] + HOSTILE[13:]
    labels = [[int(label in d["labels"]) for label in ("sport", "markets")] for d in docs] + \
             [[k % 2, (k + 1) % 2] for k in range(len(texts) - len(docs))]
    union = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=sublinear)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=char_range, sublinear_tf=sublinear,
                                  lowercase=lowercase)),
    ])
    pipeline = Pipeline([("vect", union), ("clf", OneVsRestClassifier(LogisticRegression(C=10.0)))])
    return pipeline.fit(texts, np.array(labels)), texts


# Whitespace Python splits at (no-break, ideographic, line and paragraph separators, the file and unit
# separators, NEL), words of one to six characters around the n-gram lengths, and scripts of all widths.
SPACES = ["a\u00a0bb\u3000ccc\u2028dddd\u2029eeeee\x1cffffff\x1dg\x1eh\x1fi\x85j\u200ak\u202fl\u205fm",
          "  lead  and trail  ", "\u200b zero\u200bwidth is no space", "a b c d e f", "ab cd ef", "abc def",
          "Ärger über Zölle — „Handel“ 貿易戦争 ৩৪ 🙂🙂 ok"]


@pytest.mark.parametrize("char_range, sublinear", [((2, 5), True), ((1, 3), False), ((4, 6), True), ((3, 3), True)])
def test_character_ngrams_are_scored_in_c_exactly_as_the_vectorizer_forms_them(char_range, sublinear):
    from runtime.scorer import LinearScorer

    pipeline, texts = _words_and_chars(char_range, sublinear)
    fast = LinearScorer(pipeline)
    assert fast._chars.compiled is not None and fast._compiled is not None
    articles = texts + SPACES + EDGE_CASES + HOSTILE
    for text in articles:
        np.testing.assert_allclose(fast.predict_proba([text])[0], pipeline.predict_proba([text])[0],
                                   rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.predict_proba(articles), pipeline.predict_proba(articles), rtol=1e-9, atol=1e-12)
    assert fast.compiled_articles >= 2 * len(articles)
    # The C part alone gives the char vectorizer's own row times the coefficients.
    chars = pipeline.named_steps["vect"].transformer_list[1][1]
    for text in SPACES:
        found = fast._chars.compiled.scores(text)
        assert found is not None
        np.testing.assert_allclose(found[0], (chars.transform([text]) @ fast._chars._coef)[0], rtol=1e-9, atol=1e-12)


def test_character_ngrams_hand_back_what_python_lowercases_by_context_and_keep_case_in_python():
    from runtime.scorer import LinearScorer

    pipeline, texts = _words_and_chars((2, 5), True)
    fast = LinearScorer(pipeline)
    for text in FALLBACK:
        assert fast._chars.compiled.scores(text) is None
        np.testing.assert_allclose(fast.predict_proba([text])[0], pipeline.predict_proba([text])[0],
                                   rtol=1e-9, atol=1e-12)
    cased, texts = _words_and_chars((2, 4), True, lowercase=False)
    fast = LinearScorer(cased)
    assert fast._chars.compiled is None  # C lowercases; a model that keeps case is scored in Python
    np.testing.assert_allclose(fast.predict_proba(texts + SPACES), cased.predict_proba(texts + SPACES),
                               rtol=1e-9, atol=1e-12)


def test_a_pickled_model_builds_its_own_table(seed_models):
    fast = TopicModel.load(seed_models / "current").scorer
    copy = pickle.loads(pickle.dumps(fast))
    assert copy._compiled is not None and copy._compiled._handle != fast._compiled._handle
    texts = _texts()[:200] + HOSTILE
    for text in texts:
        np.testing.assert_array_equal(copy.predict_proba([text]), fast.predict_proba([text]))


def test_threads_share_the_table(seed_models):
    model = TopicModel.load(seed_models / "current")
    texts = _texts()[:400] + HOSTILE[13:]
    alone = [model.predict_proba([text]) for text in texts]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda text: model.predict_proba([text]), texts * 3))
    for a, b in zip(alone * 3, together):
        np.testing.assert_array_equal(a, b)


def _python_coverage(model: TopicModel, text: str) -> float:
    """The share of the text's words the vocabulary knows, by the scikit-learn analyzer itself (single words:
    a pair model's pairs are not counted)."""
    tokens = [term for term in model.pipeline.named_steps["vect"].build_analyzer()(text) if " " not in term]
    vocabulary = model.pipeline.named_steps["vect"].vocabulary_
    return sum(token in vocabulary for token in tokens) / len(tokens) if tokens else float("nan")


def test_the_known_word_share_is_counted_alike_in_c_and_python(seed_models):
    model = TopicModel.load(seed_models / "current")
    texts = _texts()[:300] + HOSTILE + FALLBACK[:2]
    compiled_coverage = [model.scorer.decision_and_coverage([text])[1][0] for text in texts]
    batch_coverage = model.scorer.decision_and_coverage(texts)[1]
    python = TopicModel.load(seed_models / "current")
    python.scorer._compiled = None
    python_coverage = [python.scorer.decision_and_coverage([text])[1][0] for text in texts]
    for text, c, b, p in zip(texts, compiled_coverage, batch_coverage, python_coverage):
        expected = _python_coverage(model, text)
        if text in FALLBACK:  # the batch hands these back to the array path, which counts no shares
            assert np.isnan(b) and c == pytest.approx(expected), text[:60]
            continue
        np.testing.assert_allclose([c, b, p], [expected] * 3, rtol=1e-12, err_msg=text[:60])
    assert 0 < np.nanmean(compiled_coverage) < 1


def test_a_library_built_from_another_scorer_source_is_not_used(tmp_path, monkeypatch):
    """An old _scorer.so takes other arguments: calling it would write through a pointer it never got."""
    source = tmp_path / "old.c"
    source.write_text("long vocabulary_score(void) { return 0; }\n")
    old = tmp_path / "_scorer.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(old), str(source)], check=True)
    monkeypatch.setattr(scorer_c, "LIBRARY", old)
    scorer_c.library.cache_clear()
    try:
        assert scorer_c.library() is None
    finally:
        monkeypatch.undo()
        scorer_c.library.cache_clear()
    assert scorer_c.library() is not None


_SANITIZED_RUN = """
import sys
from pathlib import Path
import numpy as np
from runtime import scorer_c
scorer_c.LIBRARY = Path(sys.argv[1])
assert scorer_c.library() is not None, "the sanitized library did not load"
from tests.test_scorer_c import FALLBACK, HOSTILE, _two_character_terms, _with_pairs
terms = _two_character_terms()
rng = np.random.default_rng(0)
scorer = scorer_c.CompiledScorer({t: i for i, t in enumerate(terms)}, rng.normal(size=(len(terms) + 1, 3)),
                                 rng.uniform(1, 5, size=len(terms) + 1), sublinear=True)
texts = HOSTILE + FALLBACK + [" ".join(terms[:n]) for n in (341, 342, 343, 682, 683, 684, 1369)] + ["".join(terms)]
from tests.test_scorer_c import SPACES
texts += SPACES
pairs = dict.fromkeys(_with_pairs(terms))
paired = scorer_c.CompiledScorer({t: i for i, t in enumerate(pairs)}, rng.normal(size=(len(pairs) + 1, 3)),
                                 rng.uniform(1, 5, size=len(pairs) + 1), sublinear=True, bigrams=True)
grams = dict.fromkeys(terms + [" " + t for t in terms] + [t + " " for t in terms] + list("abc "))
chars = [scorer_c.CompiledScorer({t: i for i, t in enumerate(grams)}, rng.normal(size=(len(grams) + 1, 3)),
                                 rng.uniform(1, 5, size=len(grams) + 1), sublinear=True, char_range=char_range)
         for char_range in ((1, 3), (2, 5), (4, 6))]
scorers = (scorer, paired, *chars)
print(sum(s.scores(text) is not None for text in texts for s in scorers), "of", len(scorers) * len(texts),
      "scored in C")
"""


def test_the_scorer_is_clean_under_the_address_and_undefined_behaviour_sanitizers(tmp_path):
    # The C code reads untrusted text into fixed-size stack tables: build it with ASan and UBSan and
    # run the hostile and densest articles through it in a child process, which dies on any overflow.
    runtime_lib = subprocess.run(["cc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not Path(runtime_lib).is_absolute() or not Path(runtime_lib).is_file():
        pytest.skip("this C compiler has no AddressSanitizer runtime (libasan)")
    library = tmp_path / "_scorer_asan.so"
    subprocess.run(["cc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                    "-fno-omit-frame-pointer", "-shared", "-fPIC", "-o", str(library),
                    str(ROOT / "runtime" / "_scorer.c"), "-lm"], check=True)
    done = subprocess.run([sys.executable, "-c", _SANITIZED_RUN, str(library)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "LD_PRELOAD": runtime_lib, "ASAN_OPTIONS": "detect_leaks=0"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scored in C" in done.stdout
