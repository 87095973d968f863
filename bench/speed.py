"""In-process prediction speed: the service's fast path vs. the scikit-learn pipeline, fastText and the floor.

    python -m bench.speed [--articles 3000] [--repeats 3]

Articles: real news as it comes (``bench.common.news_mix``: HuffPost headlines
and standfirsts, Reuters and BBC stories cut at 5 KB, excerpts of the seed
article; curly quotes, dashes and accents left in), and beside it the same
articles made ASCII, the case the compiled scorer once covered alone. The
"1 KB" column is the 1 KB excerpt of ../shared/examples/seed-article.txt (its
ASCII form in the ASCII rows). The models are trained on seeds/: the default one (word 1-2-grams, which
seeds/training.json asks for), one with single words (as other multi-label
corpora get), one that adds character 2-5-grams within words (``--char-ngrams``), and one from the streaming trainer (hashed single words, SGD), each
fitted once on the training split (two folds, no refit: thresholds do not change the speed); fastText is
trained on the same seed documents. Everything runs on one core (BLAS limited to one thread).
"Floor" is Python's own ``lower()`` plus the same token regex, with no
counting and no model: the cost no Python tokenizer can avoid. Where the
compiled scorer is built (``make scorer``), the service's articles of
word, word-pair and character n-gram models, single and batched, go through it (any UTF-8 text; the
rare article it hands back is counted), and "Python only" is the same fast
path without it.

Loading a model (``TopicModel.load``: checksums, unpickling, the scorer's
tables) is timed five times per model. Single-article latency is measured
per article (median and p99 over the sample; the 1 KB median is the best of
the rounds); batch throughput runs the
whole sample through in batches of 1,000, best of the rounds. Rounds take the
paths in turn.
"""

from __future__ import annotations

import argparse
import copy
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import WORK, ascii_only, news_mix, record, require_corpora, seed_excerpt
from training.corpus import compose_text, read_corpus
from runtime.model import TopicModel
from training.pipeline import TOKEN_PATTERN, Hyperparameters
from training.streaming import StreamingOptions
from training.options import TrainOptions
from training.train import train

ROOT = Path(__file__).resolve().parent.parent


def time_each(fn, items) -> list[float]:
    timings = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        timings.append(time.perf_counter() - start)
    return timings


def time_batch(fn, items, size=1000, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(items), size):
            fn(items[i:i + size])
        best = min(best, time.perf_counter() - start)
    return best


def fasttext_peer(model: TopicModel):
    """Train fastText on the seed documents (same data as the default model); None if not installed."""
    try:
        import fasttext
    except ImportError:
        return None
    docs = read_corpus([ROOT / "seeds"]).documents
    random.Random(0).shuffle(docs)  # fastText reads in order; the seed files are grouped by topic
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        for d in docs:
            labels = " ".join(f"__label__{label}" for label in d.labels) or "__label__none"
            fh.write(f"{labels} {_ft_text(compose_text(d.title, d.text, model.title_weight))}\n")
    ft = fasttext.train_supervised(fh.name, lr=0.5, epoch=25, wordNgrams=2, loss="ova", verbose=0, seed=0, thread=1)
    Path(fh.name).unlink()
    return ft


def _ft_text(text: str) -> str:
    return " ".join(re.findall(TOKEN_PATTERN, text.lower()))


def measure(model: TopicModel, docs: list[str], one_kb: list[str], repeats: int, with_fasttext: bool) -> dict:
    """Time every prediction path on the same articles; return their figures."""
    pattern = re.compile(TOKEN_PATTERN)

    def floor(texts):
        for text in texts:
            pattern.findall(text.lower())

    peers = {
        "fast path (service)": (lambda t: model.scorer.predict_proba([t]), model.scorer.predict_proba),
    }
    if getattr(model.scorer, "_compiled", None) is not None:  # the service's single articles go through C
        python_only = copy.copy(model.scorer)
        python_only._compiled = None
        if getattr(python_only, "_chars", None) is not None:  # and the character n-grams' part
            python_only._chars = copy.copy(python_only._chars)
            python_only._chars.compiled = None
        peers["fast path, Python only"] = (lambda t: python_only.predict_proba([t]), python_only.predict_proba)
    peers |= {
        "scikit-learn pipeline": (lambda t: model.pipeline.predict_proba([t]), model.pipeline.predict_proba),
        "floor: lower() + regex": (lambda t: floor([t]), floor),
    }
    ft = fasttext_peer(model) if with_fasttext else None
    if ft is not None:
        # fastText's own tokenizer splits on whitespace; give it the same tokens. predict() on one
        # string breaks under numpy 2, so call the C++ binding underneath it.
        ft_predict = ft.f.predict
        peers["fastText (C++)"] = (lambda t: ft_predict(_ft_text(t) + "\n", -1, 0.0, "strict"),
                                   lambda ts: [ft_predict(_ft_text(t) + "\n", -1, 0.0, "strict") for t in ts])
    # Agreement check before timing: the fast path must give the pipeline's probabilities.
    np.testing.assert_allclose(model.scorer.predict_proba(docs[:500]), model.pipeline.predict_proba(docs[:500]),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.vstack([model.scorer.predict_proba([d]) for d in docs[:500]]),
                               model.pipeline.predict_proba(docs[:500]), rtol=1e-9, atol=1e-12)
    megabytes = sum(len(d.encode()) for d in docs) / 1e6
    each = {}
    kb_medians: dict[str, list[float]] = {name: [] for name in peers}
    batch_best = dict.fromkeys(peers, float("inf"))
    with threadpool_limits(1):
        for name, (single, _) in peers.items():
            each[name] = time_each(single, docs)
        # Rounds take every path in turn, so that a slow spell of this shared machine cannot land
        # on one path alone; each path keeps its best round.
        for _ in range(repeats):
            for name, (single, batch) in peers.items():
                kb_medians[name].append(statistics.median(time_each(single, one_kb)))
                batch_best[name] = min(batch_best[name], time_batch(batch, docs, repeats=1))
    return {name: {"median": statistics.median(each[name]), "p99": float(np.percentile(each[name], 99)),
                   "kb_median": min(kb_medians[name]), "rate": len(docs) / batch_best[name],
                   "mbps": megabytes / batch_best[name]}
            for name in peers}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    require_corpora()
    real = news_mix(args.articles)
    mixes = {"real news": (real, seed_excerpt()),
             "made ASCII": ([(ascii_only(t), ascii_only(x)) for t, x in real], tuple(map(ascii_only, seed_excerpt())))}
    table = ["| model | articles | prediction path | 1 KB real excerpt, median | all articles, median / p99 | "
             "batch articles/s | batch MB/s | single 1 KB vs pipeline | batch vs pipeline |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    notes = []
    models = [("default (1-2-grams)", Hyperparameters(), None), ("single words", Hyperparameters(ngram_max=1), None),
              ("words and character n-grams", Hyperparameters(char_ngrams=True), None),
              ("streaming (hashed words)", Hyperparameters(ngram_max=1), StreamingOptions())]
    for index, (label, params, streaming) in enumerate(models):
        # Two folds and no refit: the thresholds they tune do not change how fast a model scores, and the
        # character n-gram model's five folds and refit would take a quarter of an hour.
        folder = train(TrainOptions(out=WORK / f"speed-models-{index}", quiet=True, params=params,
                                    streaming=streaming, folds=2, refit=False))
        loads = []
        for _ in range(5):  # what every worker start and hot reload pays: verify, unpickle, build the tables
            start = time.perf_counter()
            model = TopicModel.load(folder)
            loads.append(time.perf_counter() - start)
        for mix, (articles, excerpt) in mixes.items():
            if index and mix != "real news":
                continue  # the ASCII comparison is for the default model
            docs = [compose_text(title, text, model.title_weight) for title, text in articles]
            one_kb = [compose_text(*excerpt, model.title_weight)] * 200
            before = (getattr(model.scorer, "compiled_articles", 0), getattr(model.scorer, "fallbacks", 0))
            rows = measure(model, docs, one_kb, args.repeats, with_fasttext=index == 0 and mix == "real news")
            compiled = getattr(model.scorer, "compiled_articles", 0) - before[0]
            fallbacks = getattr(model.scorer, "fallbacks", 0) - before[1]
            base = rows["scikit-learn pipeline"]
            for name, r in rows.items():
                table.append(f"| {label} | {mix} | {name} | {r['kb_median'] * 1e3:.4f} ms | {r['median'] * 1e3:.3f} / "
                             f"{r['p99'] * 1e3:.3f} ms | {r['rate']:,.0f} | {r['mbps']:.2f} | "
                             f"{base['kb_median'] / r['kb_median']:.1f}x | {r['rate'] / base['rate']:.1f}x |")
            if compiled or fallbacks:
                notes.append(f"{label}, {mix}: {compiled / (compiled + fallbacks):.2%} of the articles the fast "
                             f"path scored took the compiled path ({fallbacks:,} handed back to Python).")
        chars = getattr(model.scorer, "_chars", None)
        terms = (f"{len(model.scorer.vocabulary) + (len(chars.vocabulary) if chars else 0):,} terms"
                 if hasattr(model.scorer, "vocabulary")
                 else f"{len(model.scorer._row_of[model.scorer._row_of >= 0]):,} weighted hash columns")
        notes.append(f"{label}: model {model.version}, {len(model.labels)} labels, {terms}; loading it takes "
                     f"{statistics.median(loads):.2f} s (median of five).")
    megabytes = sum(len(compose_text(t, x, 2).encode()) for t, x in real) / 1e6
    share = sum(any(ord(c) > 127 for c in t + x) for t, x in real) / len(real)
    notes.insert(0, f"{len(real)} articles, {megabytes:.2f} MB, {share:.0%} of them with a character outside ASCII.")
    if not any(r.startswith("| default (1-2-grams) | real news | fastText") for r in table):
        notes.append("fastText is not installed (`pip install -c requirements.txt -e '.[bench]'`), so it is not in this run.")
    record("In-process prediction speed (one core)", "python -m bench.speed", "\n".join(table),
           " ".join(notes) + "\n\n" + __doc__.split("\n\n", 2)[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
