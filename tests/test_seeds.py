"""The seed corpus and the default model trained on it."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.conftest import ROOT, SEED_ARTICLE
from training.check_corpus import SHARED_WORDS, check, reference_texts, shared_sequences
from training.corpus import Document, read_corpus

SEEDS = ROOT / "seeds"
TAXONOMY = json.loads((SEEDS / "labels.json").read_text())["labels"]


@pytest.fixture(scope="module")
def seed_stats():
    corpus = read_corpus([SEEDS])  # the readers' schema checks: any bad row raises, naming file and line
    stats = check(corpus.documents, set(TAXONOMY))
    print("\n" + stats.render())
    return stats


def test_taxonomy_has_ten_topics_with_scope_notes():
    assert sorted(TAXONOMY) == sorted(["diplomacy", "security", "trade", "economy", "politics", "technology",
                                       "energy", "environment", "health", "human-rights"])
    for label, note in TAXONOMY.items():
        assert 2 <= note.count(". ") + 1 <= 4 and len(note) > 150, label


def test_seed_corpus_is_clean(seed_stats):
    assert seed_stats.problems == []


def test_seed_corpus_counts(seed_stats):
    n = seed_stats.documents
    assert n >= 10000
    for label in TAXONOMY:
        assert seed_stats.labels.get(label, 0) >= 240, label  # the first edition's floors, doubled
    assert seed_stats.multilabel >= 0.25 * n
    assert seed_stats.none >= 300
    low, high, _ = seed_stats.article_words
    assert 120 <= low and high <= 500


def test_second_edition_forms():
    """The second edition (files r2-*, r3-*, r4-*) is mostly headlines and standfirsts, as users' first calls are."""
    from training.check_corpus import form_of

    docs = read_corpus(sorted((SEEDS / "articles").glob("r[0-9]-*.jsonl"))).documents
    forms = Counter(form_of(d) for d in docs)
    assert len(docs) >= 4000
    assert forms["headline"] >= 0.40 * len(docs) and forms["lede"] >= 0.30 * len(docs), forms


def test_ids_are_unique_across_files():
    ids = [d.id for d in read_corpus([SEEDS]).documents]
    assert len(ids) == len(set(ids))


CORPORA = ROOT.parent / "shared" / "corpora"


@pytest.mark.skipif(not CORPORA.is_dir(), reason=f"{CORPORA} is absent: the check against public text needs it")
def test_no_seed_document_shares_eight_words_in_a_row_with_public_news():
    # every title and text of the public corpora, the yardstick's HuffPost included
    shared = shared_sequences(read_corpus([SEEDS]).documents, reference_texts(sorted(CORPORA.iterdir())))
    assert shared == {}, f"reword these documents (runs of {SHARED_WORDS} words shared): {sorted(shared.items())}"


def test_shared_sequences_finds_a_run_of_eight_words():
    docs = [Document(id="mine", title="", text="Ministers from both sides agreed on Tuesday to cut steel tariffs "
                                                 "next year", labels=()),
            Document(id="other", title="", text="Completely different words about a storm", labels=())]
    public = ["Elsewhere, ministers from both sides agreed to cut the duties on Tuesday.",
              "MINISTERS from both sides agreed, on Tuesday, to cut steel tariffs"]
    assert shared_sequences(docs, public[:1]) == {}  # seven words in a row at most
    assert shared_sequences(docs, public) == {"mine": 4}  # case and punctuation aside, 11 words: four runs of 8


def test_check_finds_near_duplicates_and_unknown_labels(tmp_path):
    docs = [
        Document(id="a", title="Ministers meet in Lima", text="Trade ministers met in Lima on Monday to talk tariffs.",
                 labels=("trade",)),
        Document(id="b", title="Ministers meet in Lima", text="Trade ministers met in Lima on Monday to talk tariffs!",
                 labels=("trade",)),
        Document(id="c", title="", text="A cat sat on a warm mat all afternoon", labels=("pets",)),
    ]
    problems = check(docs, set(TAXONOMY)).problems
    assert any("a and b" in p for p in problems)
    assert any("'pets'" in p for p in problems)


@pytest.mark.skipif(not SEED_ARTICLE.is_file(), reason=f"{SEED_ARTICLE} is absent (it lives in ../shared)")
def test_default_model_labels_the_seed_article(seed_client):
    title, _, body = SEED_ARTICLE.read_text(encoding="utf-8").partition("\n")
    r = seed_client.post("/v1/classify", json={"title": title, "text": body, "explain": True})
    assert r.status_code == 200
    result = r.get_json()
    topics = [t["label"] for t in result["topics"]]
    assert {"diplomacy", "security", "trade"} <= set(topics), result["scores"]
    text = SEED_ARTICLE.read_text(encoding="utf-8").lower()
    for label in ("diplomacy", "security", "trade"):
        terms = [t["term"] for t in result["explanation"][label]]
        assert terms and all(term in text for term in terms)


@pytest.mark.parametrize("text, expected", [
    ("Central bank raises interest rates again as consumer prices climb", {"economy"}),
    ("Striker's late header wins the cup final for the home side", set()),
    ("Cholera cases double in flooded districts as clinics run short of vaccines", {"health"}),
    ("Parliament passes vote of no confidence, toppling the coalition government", {"politics"}),
])
def test_default_model_on_headlines(seed_client, text, expected):
    topics = {t["label"] for t in seed_client.post("/v1/classify", json={"text": text}).get_json()["topics"]}
    assert expected <= topics and (expected or not topics), topics


def test_check_corpus_against_reads_public_files_as_they_are(tmp_path, capsys):
    """``--against`` reads .jsonl and .jsonl.gz, files or folders, and an empty post does not stop it."""
    import gzip

    from training.check_corpus import main

    mine = tmp_path / "mine.jsonl"
    mine.write_text(json.dumps({"id": "m1", "title": "", "labels": ["trade"],
                                "text": "Ministers from both sides agreed on Tuesday to cut steel tariffs"}) + "\n")
    public = tmp_path / "public"
    public.mkdir()
    (public / "a.jsonl").write_text(json.dumps({"id": "p1", "title": "", "text": ""}) + "\n")
    with gzip.open(public / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "p2", "text": "Unrelated words about a storm over the hills at night"}) + "\n")
    assert main([str(mine), "--against", str(public)]) == 0
    with gzip.open(public / "b.jsonl.gz", "at", encoding="utf-8") as fh:
        # ten words in common: three runs of eight
        fh.write(json.dumps({"title": "Ministers from both sides agreed on Tuesday to cut steel", "text": ""}) + "\n")
    capsys.readouterr()
    assert main([str(mine), "--against", str(public / "a.jsonl"), str(public / "b.jsonl.gz")]) == 1
    assert "problem: m1: shares 3 run(s) of 8 words" in capsys.readouterr().err


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9])
def test_near_duplicates_finds_every_pair_that_comparing_all_pairs_finds(threshold):
    import random

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from training.check_corpus import near_duplicates

    rng = random.Random(threshold)
    words = "tariff steel summit minister vote storm oil market court rights rally vaccine grid chip".split()
    docs = [Document(id="empty", title="", text="a", labels=())]  # no term at all
    for i in range(300):
        docs.append(Document(id=f"d{i}", title="", text=" ".join(rng.choices(words, k=rng.randint(2, 9))), labels=()))
    texts = [f"{d.title}\n{d.text}" for d in docs]
    X = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)).fit_transform(texts)
    cosine = (X @ X.T).toarray()  # every pair, the slow way
    expected = {(docs[i].id, docs[j].id) for i, j in zip(*np.nonzero(np.triu(cosine >= threshold, k=1)))}
    found = near_duplicates(docs, threshold, block=64)
    assert expected and {(a, b) for a, b, _ in found} == expected
