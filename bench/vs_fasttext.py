"""Quality and training time: the default model beside fastText, on the same splits of the public corpora.

    python -m bench.vs_fasttext

fastText (supervised, word bigrams, one thread so runs repeat, the same lowercase regex tokens as the
TF-IDF model, training lines shuffled) gets its learning rate tuned on a 10 % validation slice of each
training split, then is retrained on the whole training split. Single-label
corpora use softmax and are judged by accuracy; Reuters uses one-vs-all and
micro/macro-F1 at fastText's usual 0.5 threshold. The default model's figures
come from the bundles `python -m bench.quality` wrote (run it first); its
training time includes the 5-fold cross-validation that tunes thresholds.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import WORK, read_records, record, require_corpora, reuters_90, usable
from training.pipeline import TOKEN_PATTERN

TOKENS = re.compile(TOKEN_PATTERN)
RATES = (0.1, 0.25, 0.5, 1.0)


def _line(record_: dict) -> str:
    return " ".join(TOKENS.findall(f"{record_.get('title') or ''} {record_.get('title') or ''} {record_['text']}".lower()))


def _write(records, path: Path, multilabel: bool) -> None:
    # fastText reads its file in order: corpora grouped by label must be shuffled, or one thread
    # sees one label after another and ends up knowing mostly the last ones.
    records = list(records)
    random.Random(0).shuffle(records)
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(" ".join(f"__label__{label}" for label in r["labels"]) + " " + _line(r) + "\n")


def _fit(fasttext, records, lr, multilabel):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        _write(records, path, multilabel)
        return fasttext.train_supervised(str(path), lr=lr, epoch=25, wordNgrams=2, dim=100, minCount=1, seed=0,
                                         loss="ova" if multilabel else "softmax", verbose=0, thread=1)


def _score(model, records, labels, multilabel) -> dict:
    predict = model.f.predict  # predict() on one string breaks under numpy 2; call the binding underneath
    if not multilabel:
        hits = [predict(_line(r) + "\n", 1, 0.0, "strict")[0][1] == "__label__" + r["labels"][0] for r in records]
        return {"accuracy": float(np.mean(hits))}
    tp = fp = fn = 0
    per = {label: [0, 0, 0] for label in labels}
    for r in records:
        got = {label.replace("__label__", "") for _, label in predict(_line(r) + "\n", -1, 0.5, "strict")}
        want = set(r["labels"])
        for label in got & want:
            per[label][0] += 1
        for label in got - want:
            if label in per:
                per[label][1] += 1
        for label in want - got:
            per[label][2] += 1
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    f1 = [2 * a / (2 * a + b + c) if a else 0.0 for a, b, c in per.values()]
    return {"micro_f1": 2 * tp / (2 * tp + fp + fn), "macro_f1": float(np.mean(f1))}


def main() -> int:
    try:
        import fasttext
    except ImportError:
        raise SystemExit("benchmark needs fastText: pip install -c requirements.txt -e .[bench]")
    require_corpora()
    rows = ["| corpus | model | accuracy | micro-F1 | macro-F1 | training time |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name in ("bbc", "20newsgroups", "reuters21578"):
        records = usable(read_records(name))
        multilabel = name == "reuters21578"
        if multilabel:
            records = reuters_90(records)
        train = [r for r in records if r["split"] == "train"]
        test = [r for r in records if r["split"] == "test"]
        labels = sorted({label for r in records for label in r["labels"]})
        rng = random.Random(0)
        shuffled = train[:]
        rng.shuffle(shuffled)
        cut = len(shuffled) // 10
        metric = "macro_f1" if multilabel else "accuracy"
        best = max(RATES, key=lambda lr: _score(_fit(fasttext, shuffled[cut:], lr, multilabel), shuffled[:cut],
                                                labels, multilabel)[metric])
        start = time.perf_counter()
        model = _fit(fasttext, train, best, multilabel)
        seconds = time.perf_counter() - start
        ft = _score(model, test, labels, multilabel)
        manifest_path = WORK / "quality" / f"models-{name}" / "current" / "manifest.json"
        if manifest_path.is_file():
            manifest = json.loads(manifest_path.read_text())
            m = manifest["metrics"]
            ours_time = sum(manifest["training"]["timings"].values())
            rows.append(f"| {name} | default (TF-IDF + logistic, tuned thresholds) | {m['accuracy']:.4f} | "
                        f"{m['micro']['f1']:.4f} | {m['macro']['f1']:.4f} | {ours_time:.0f} s |")
        cells = " | ".join(f"{ft[k]:.4f}" if k in ft else "-" for k in ("accuracy", "micro_f1", "macro_f1"))
        rows.append(f"| {name} | fastText (lr {best}, 25 epochs, bigrams) | {cells} | {seconds:.0f} s |")
    record("Quality and training time beside fastText", "python -m bench.vs_fasttext", "\n".join(rows),
           __doc__.split("\n\n", 2)[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
