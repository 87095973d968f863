"""Choose the default model's options for real text: each candidate on the yardstick's dev half and the seeds.

    python -m bench.options

Each candidate is trained on seeds/ exactly as ``python -m training`` would
(seeds/training.json's options unless the candidate sets them, thresholds
tuned on out-of-fold scores, 5-fold cross-validation recorded in the
manifest), then scored on the dev half of the real-news yardstick
(``bench/data/realnews-labels.jsonl``), headline with standfirst and headline
alone. The test half is never read here: it is for the figures that are
reported (``python -m bench.realnews``). "Fitting time" is the trainer's
stage that fits the folds and the model (the manifest's timings; one worker
per core), the cost every retraining pays. The last column says which
prediction path the service would take for the candidate: a winner must keep
the compiled scorer and its exact agreement with the pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.common import WORK, record
from bench.realnews import evaluate, yardstick
from runtime.model import TopicModel
from training.options import TrainOptions
from training.pipeline import Hyperparameters
from training.train import train

CANDIDATES = [
    ("default (word 1-2-grams, from seeds/training.json)", Hyperparameters()),
    ("`--C 2`", Hyperparameters(C=2.0)),
    ("`--C 15`", Hyperparameters(C=15.0)),
    ("`--title-weight 1`", Hyperparameters(title_weight=1)),
    ("`--title-weight 3`", Hyperparameters(title_weight=3)),
    ("`--class-weight none`", Hyperparameters(class_weight=None)),
    ("`--no-scope-gate` (no model of none of these)", Hyperparameters(scope_gate=False)),
    ("`--ngram-max 1` (single words, as other multi-label corpora get)", Hyperparameters(ngram_max=1)),
    ("`--char-ngrams` (words and character n-grams)", Hyperparameters(char_ngrams=True)),
]


def prediction_path(model: TopicModel) -> str:
    if model.scorer is None:
        return "scikit-learn pipeline"
    return "compiled scorer" if getattr(model.scorer, "_compiled", None) is not None else "Python fast path"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.options", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    items = yardstick("dev")
    rows = ["| options | micro-F1 | macro-F1 | top-1 in gold | out of scope without a topic | headline only: micro-F1 "
            "| headline only: out of scope | seeds, 5-fold CV micro-F1 | fitting time | service's prediction path |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for index, (name, params) in enumerate(CANDIDATES):
        folder = train(TrainOptions(out=WORK / f"options-{index}", quiet=True, params=params))
        model = TopicModel.load(folder)
        both, headline = evaluate(model, items, False), evaluate(model, items, True)
        manifest = json.loads((folder / "manifest.json").read_text())
        cv, documents = manifest["cross_validation"], manifest["data"]["documents"]
        rows.append(f"| {name} | {both['micro']:.3f} | {both['macro']:.3f} | {both['top1']:.3f} | {both['none']:.3f} | "
                    f"{headline['micro']:.3f} | {headline['none']:.3f} | {cv['mean']:.3f} | "
                    f"{manifest['training']['timings']['fitting']:.0f} s | {prediction_path(model)} |")
        print(rows[-1], file=sys.stderr)
    record("Real news: options compared on the dev half", "python -m bench.options", "\n".join(rows),
           f"Dev half of the yardstick: {len(items):,} items, {sum(1 for it in items if not it['gold']):,} out of "
           f"scope; models trained on seeds/ ({documents:,} documents). " + __doc__.split("\n\n", 2)[2].replace("\n", " "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
