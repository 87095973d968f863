"""The default model on real news: the team's hand-labeled HuffPost yardstick (2018-2022).

    python -m bench.realnews [--split test|dev] [--model models/current]

The yardstick is ``bench/data/realnews-labels.jsonl``: one line per item,
``{"id", "labels", "split"}``, with the ten topics as this team labeled them
by the scope notes in ``seeds/labels.json``; the text stays in
``../shared/corpora/huffpost`` and is joined by id here. The items were split
once into a dev half (for choices) and a test half (for the figures that are
reported), by a fixed seed (``bench/data/README.md``).

Reported, for headline with standfirst and for headline alone: micro- and
macro-F1 of the topic sets, top-1 in gold (of the items with a topic, the
share whose best-scoring label is one of theirs), the share of out-of-scope
items left without a topic, F1 per topic, and the most frequent mistakes with
example ids (only ids: the corpus's text stays out of this repository). The
agreement of the two independent labeling passes comes first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from bench.common import HUFFPOST, ROOT, WORK, record
from runtime.model import TopicModel

DATA = ROOT / "bench" / "data"
LABELS = DATA / "realnews-labels.jsonl"
SECOND = DATA / "realnews-second-pass.jsonl"
ADJUDICATED = DATA / "realnews-adjudication.jsonl"
EXAMPLES = 12


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def yardstick(split: str) -> list[dict]:
    """The labeled items of one half, joined with their text; exits with a message when ../shared is absent."""
    if not HUFFPOST.is_file():
        sys.exit(f"benchmark skipped: {HUFFPOST} is absent (set TOPICS_SHARED to the folder that holds corpora/)")
    texts = {r["id"]: r for r in read_jsonl(HUFFPOST)}
    items = []
    for row in read_jsonl(LABELS):
        if row["split"] == split:
            source = texts[row["id"]]
            items.append({"id": row["id"], "title": source["title"], "text": source["text"], "gold": set(row["labels"])})
    return items


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def agreement(first: dict[str, set], second: dict[str, set], topics: list[str]) -> dict:
    """Micro-F1 and per-topic F1 of one labeling pass against the other, on the items both labeled."""
    ids = sorted(first.keys() & second.keys())
    counts = {t: [0, 0, 0] for t in topics}
    for i in ids:
        for t in topics:
            a, b = t in first[i], t in second[i]
            counts[t][0] += a and b
            counts[t][1] += b and not a
            counts[t][2] += a and not b
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
    return {"items": len(ids), "micro": f1(tp, fp, fn), "per_topic": {t: f1(*c) for t, c in counts.items()},
            "exact": sum(first[i] == second[i] for i in ids) / max(len(ids), 1)}


def evaluate(model: TopicModel, items: list[dict], headline_only: bool) -> dict:
    """Score one form of the items; return the figures and the mistakes."""
    if headline_only:
        P = model.predict_proba([it["title"] for it in items], [None] * len(items))
    else:
        P = model.predict_proba([it["text"] for it in items], [it["title"] for it in items])
    topics = model.labels
    predicted = [{topics[j] for j in np.flatnonzero(p >= model.thresholds)} for p in P]
    counts = {t: [0, 0, 0] for t in topics}
    mistakes: dict[tuple[str, str], list[str]] = defaultdict(list)
    top1 = in_scope = none_right = out_of_scope = 0
    for item, p, pred in zip(items, P, predicted):
        gold = item["gold"]
        for t in topics:
            counts[t][0] += t in gold and t in pred
            counts[t][1] += t in pred and t not in gold
            counts[t][2] += t in gold and t not in pred
        if gold:
            in_scope += 1
            top1 += topics[int(np.argmax(p))] in gold
        else:
            out_of_scope += 1
            none_right += not pred
        missed, extra = sorted(gold - pred) or ["(none)"], sorted(pred - gold) or ["(none)"]
        if gold != pred:
            for g in missed:
                for e in extra:
                    if (g, e) != ("(none)", "(none)"):
                        mistakes[(g, e)].append(item["id"])
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
    per_topic = {t: f1(*c) for t, c in counts.items()}
    return {"micro": f1(tp, fp, fn), "macro": sum(per_topic.values()) / len(topics), "per_topic": per_topic,
            "support": {t: c[0] + c[2] for t, c in counts.items()}, "top1": top1 / max(in_scope, 1),
            "none": none_right / max(out_of_scope, 1), "items": len(items), "out_of_scope": out_of_scope,
            "mistakes": sorted(mistakes.items(), key=lambda kv: -len(kv[1]))}


def default_model() -> Path:
    from training.options import TrainOptions
    from training.train import train

    models = WORK / "realnews-models"
    train(TrainOptions(out=models, quiet=True))
    return models / "current"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.realnews", description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "dev"), default="test")
    parser.add_argument("--model", help="a bundle (default: the default model, trained from seeds/ now)")
    args = parser.parse_args(argv)
    items = yardstick(args.split)
    model = TopicModel.load(args.model or default_model())
    topics = model.labels

    rows = []
    if SECOND.is_file() and ADJUDICATED.is_file():
        second = {r["id"]: set(r["labels"]) for r in read_jsonl(SECOND)}
        first = {r["id"]: set(r["first"]) for r in read_jsonl(ADJUDICATED)}
        final = {r["id"]: set(r["labels"]) for r in read_jsonl(LABELS)}
        first = {i: first.get(i, final[i]) for i in second if i in final}  # agreed items kept the first pass's
        agree = agreement(first, second, topics)
        rows += [f"Two independent labeling passes over {agree['items']} items: micro-F1 {agree['micro']:.3f}, "
                 f"identical label sets {agree['exact']:.1%}; every disagreement was resolved "
                 f"({len(read_jsonl(ADJUDICATED))} items, `bench/data/realnews-adjudication.jsonl`).", "",
                 "| topic | " + " | ".join(topics) + " |", "| --- |" + " ---: |" * len(topics),
                 "| agreement F1 | " + " | ".join(f"{agree['per_topic'][t]:.2f}" for t in topics) + " |", ""]
    results = {form: evaluate(model, items, form == "headline only")
               for form in ("headline and standfirst", "headline only")}
    rows += ["| input | items | micro-F1 | macro-F1 | top-1 in gold | out of scope left without a topic |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for form, r in results.items():
        rows.append(f"| {form} | {r['items']} | {r['micro']:.3f} | {r['macro']:.3f} | {r['top1']:.3f} | "
                    f"{r['none']:.3f} ({r['out_of_scope']} items) |")
    rows += ["", "| topic | items | F1, headline and standfirst | F1, headline only |", "| --- | ---: | ---: | ---: |"]
    full, short = results["headline and standfirst"], results["headline only"]
    for t in topics:
        rows.append(f"| {t} | {full['support'][t]} | {full['per_topic'][t]:.3f} | {short['per_topic'][t]:.3f} |")
    rows += ["", "Most frequent mistakes (headline and standfirst): the gold topic the model missed (or "
             "\"(none)\" for an item about none of them) and the topic it gave instead (or \"(none)\").", "",
             "| gold → given | items | examples (ids in ../shared/corpora/huffpost) |", "| --- | ---: | --- |"]
    for (gold, given), ids in full["mistakes"][:8]:
        rows.append(f"| {gold} → {given} | {len(ids)} | {', '.join(ids[:EXAMPLES])} |")
    record(f"Real news: the hand-labeled HuffPost yardstick ({args.split} half)",
           "python -m bench.realnews" + (f" --split {args.split}" if args.split != "test" else ""), "\n".join(rows),
           f"Model {model.version}. " + __doc__.split("\n\n")[2].replace("\n", " "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
