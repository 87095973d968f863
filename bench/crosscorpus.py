"""Train on seeds/ only, then label real articles whose corpus labels map onto the taxonomy.

    python -m bench.crosscorpus

An article counts as correct when the model's topics include the mapped
topic; for BBC sport and entertainment (mapped to "no topic") when the model
returns no topic at all. All documents of both splits are used: the seed
model never saw any of them.
"""

from __future__ import annotations

import sys
from collections import defaultdict

from bench.common import WORK, read_records, record, require_corpora
from runtime.model import TopicModel
from training.options import TrainOptions
from training.train import train

REUTERS_MAP = {"trade": "trade", "crude": "energy", "nat-gas": "energy", "money-fx": "economy",
               "interest": "economy", "gnp": "economy"}
BBC_MAP = {"politics": "politics", "tech": "technology", "business": "economy", "sport": None,
           "entertainment": None}


def cases():
    """Yield (corpus, source label, expected topic or None, title, text)."""
    for r in read_records("reuters21578"):
        for label in r["labels"]:
            if label in REUTERS_MAP:
                yield "reuters21578", label, REUTERS_MAP[label], r.get("title") or "", r["text"]
    for r in read_records("bbc"):
        label = r["labels"][0]
        yield "bbc", label, BBC_MAP[label], r.get("title") or "", r["text"]


def main() -> int:
    require_corpora()
    folder = train(TrainOptions(out=WORK / "crosscorpus-models", quiet=True))
    model = TopicModel.load(folder)
    items = list(cases())
    P = model.predict_proba([i[4] for i in items], [i[3] for i in items])
    hits, totals = defaultdict(int), defaultdict(int)
    for (corpus, label, expected, _, _), scores in zip(items, P):
        topics = {t.label for t in model.topics(scores)}
        ok = (not topics) if expected is None else expected in topics
        hits[(corpus, label, expected)] += ok
        totals[(corpus, label, expected)] += 1
    rows = ["| corpus | corpus label | expected topic | articles | accuracy |", "| --- | --- | --- | ---: | ---: |"]
    for corpus in ("reuters21578", "bbc"):
        keys = [k for k in totals if k[0] == corpus]
        for key in sorted(keys, key=lambda k: k[1]):
            rows.append(f"| {corpus} | {key[1]} | {key[2] or '(no topic)'} | {totals[key]} | "
                        f"{hits[key] / totals[key]:.3f} |")
        n, h = sum(totals[k] for k in keys), sum(hits[k] for k in keys)
        rows.append(f"| {corpus} | **all mapped** | | {n} | **{h / n:.3f}** |")
    record("Cross-corpus: the default model on real articles", "python -m bench.crosscorpus",
           f"Model {model.version}, trained on seeds/ only.\n\n" + "\n".join(rows), __doc__.split("\n\n", 2)[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
