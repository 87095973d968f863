"""Measure a model on labeled documents and render the evaluation report.

Run as a command to evaluate any bundle on any labeled corpus::

    python -m training.evaluate --model models/current --data my-test.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

ECE_BINS = 10
CONFUSED_PAIRS = 10
EXAMPLES_PER_PAIR = 3
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 18
CONFIDENCE = 0.95
_BLOCK_CELLS = 4_000_000  # resampling weights held at once (32 MB of float64), whatever the test set's size


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> tuple[float, list]:
    """Return the ECE of ``confidence`` against 0/1 ``correct`` and the reliability table."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if not count:
            continue
        mean_conf = float(confidence[mask].mean())
        accuracy = float(correct[mask].mean())
        ece += count / len(confidence) * abs(mean_conf - accuracy)
        table.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "count": count,
                      "confidence": round(mean_conf, 4), "accuracy": round(accuracy, 4)})
    return float(ece), table


def _confused_pairs(Y: np.ndarray, P: np.ndarray, predicted: np.ndarray, labels: list[str],
                    multilabel: bool, titles: Sequence[str]) -> list[dict]:
    """Find the (true, predicted) label pairs the model mixes up most often."""
    pairs: Counter = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i in range(len(Y)):
        if multilabel:
            missed = np.flatnonzero(Y[i] & ~predicted[i])
            extra = np.flatnonzero(predicted[i] & ~Y[i])
            found = [(labels[a], labels[b]) for a in missed for b in extra]
        else:
            truth, guess = int(Y[i].argmax()), int(P[i].argmax())
            found = [(labels[truth], labels[guess])] if truth != guess else []
        for pair in found:
            pairs[pair] += 1
            if len(examples[pair]) < EXAMPLES_PER_PAIR and titles[i]:
                examples[pair].append(titles[i][:120])
    return [{"true": a, "predicted": b, "count": n, "examples": examples[(a, b)]}
            for (a, b), n in pairs.most_common(CONFUSED_PAIRS)]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (the figure is undefined in that resample)."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def bootstrap_intervals(Y: np.ndarray, predicted: np.ndarray, labels: list[str],
                        resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                        confidence: float = CONFIDENCE) -> dict:
    """Return confidence intervals for each label's precision, recall and F1, and for micro- and macro-F1.

    Why a bootstrap over documents and not Wilson intervals: precision and
    recall are proportions, but F1 is not, and micro- and macro-F1 pool
    labels that share documents; one method that resamples whole documents
    covers every figure alike and keeps the labels of one article together.
    It is the Poisson bootstrap (each document weighs Poisson(1) times in a
    resample): the weights of a block of resamples are one matrix, and the
    true/false positive and false negative counts of every resample are one
    matrix product, so 1,000 resamples of a few thousand documents take a
    fraction of a second. The seed is fixed, so a bundle's card is
    reproducible. Intervals are the percentile ones; a resample where a
    figure is undefined (no such documents and no such predictions) is left
    out of that figure, and a figure undefined in every resample gets None.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be 1 or more, got {resamples}")
    Y = np.asarray(Y, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    n = len(Y)
    counts = [(Y & predicted).astype(float), (~Y & predicted).astype(float), (Y & ~predicted).astype(float)]
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // max(n, 1))
    tp, fp, fn = [], [], []
    for start in range(0, resamples, block):
        weights = rng.poisson(1.0, size=(min(block, resamples - start), n)).astype(float)
        for out, matrix in zip((tp, fp, fn), counts):
            out.append(weights @ matrix)
    TP, FP, FN = (np.vstack(parts) for parts in (tp, fp, fn))
    precision, recall = _ratio(TP, TP + FP), _ratio(TP, TP + FN)
    f1 = _ratio(2 * TP, 2 * TP + FP + FN)
    micro = _ratio(2 * TP.sum(axis=1), 2 * TP.sum(axis=1) + FP.sum(axis=1) + FN.sum(axis=1))
    supported = np.where(TP + FN > 0, f1, np.nan)  # macro-F1 averages the labels present, as compute_report does
    tail = (1 - confidence) / 2 * 100

    def interval(values: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # an all-NaN column is a figure undefined everywhere: None below
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.round(np.nanpercentile(values, [tail, 100 - tail], axis=0), 4)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        macro = np.nanmean(supported, axis=1)
    bounds = {name: interval(values) for name, values in
              (("precision", precision), ("recall", recall), ("f1", f1))}
    per_label = {label: {name: _pair(bounds[name][:, j]) for name in bounds} for j, label in enumerate(labels)}
    return {
        "method": "percentile bootstrap over documents (Poisson weights)",
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "per_label": per_label,
        "micro_f1": _pair(interval(micro)),
        "macro_f1": _pair(interval(macro)),
    }


def _pair(bounds: np.ndarray) -> list:
    return [None if np.isnan(b) else float(b) for b in bounds]


def compute_report(Y: np.ndarray, P: np.ndarray, labels: list[str], thresholds: np.ndarray,
                   multilabel: bool, titles: Sequence[str] | None = None) -> dict:
    """Compute every metric of the evaluation report.

    ``Y`` is the 0/1 truth matrix, ``P`` the probabilities, both shaped
    (documents, labels). A label applies when its probability reaches its
    threshold. For single-label data, accuracy is that of the top label.
    """
    Y = np.asarray(Y).astype(bool)
    P = np.asarray(P, dtype=float)
    titles = list(titles) if titles is not None else [""] * len(Y)
    predicted = P >= np.asarray(thresholds)[None, :]
    tp = (Y & predicted).sum(axis=0).astype(float)
    fp = (~Y & predicted).sum(axis=0).astype(float)
    fn = (Y & ~predicted).sum(axis=0).astype(float)
    per_label = {}
    for j, label in enumerate(labels):
        p, r, f = _prf(tp[j], fp[j], fn[j])
        per_label[label] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4),
                            "support": int(Y[:, j].sum()), "threshold": float(thresholds[j])}
    micro = _prf(tp.sum(), fp.sum(), fn.sum())
    supported = [v for v in per_label.values() if v["support"] > 0]
    macro = [float(np.mean([v[k] for v in supported])) if supported else 0.0 for k in ("precision", "recall", "f1")]
    if multilabel:
        accuracy = float(np.mean((Y == predicted).all(axis=1)))
        hamming = float(np.mean(Y != predicted))
        ece, reliability = expected_calibration_error(P.ravel(), Y.ravel())
        calibration_kind = "every (document, label) probability"
    else:
        top = P.argmax(axis=1)
        correct = Y[np.arange(len(Y)), top]
        accuracy = float(np.mean(correct))
        hamming = None
        ece, reliability = expected_calibration_error(P.max(axis=1), correct)
        calibration_kind = "top-label confidence"
    return {
        "documents": int(len(Y)),
        "multilabel": multilabel,
        "accuracy": round(accuracy, 4),
        "accuracy_kind": "exact match of the label set" if multilabel else "top label",
        "micro": dict(zip(("precision", "recall", "f1"), (round(x, 4) for x in micro))),
        "macro": dict(zip(("precision", "recall", "f1"), (round(x, 4) for x in macro))),
        "hamming_loss": None if hamming is None else round(hamming, 5),
        "no_topic_share": round(float(np.mean(~predicted.any(axis=1))), 4),
        "calibration": {"ece": round(ece, 4), "over": calibration_kind, "bins": reliability},
        "per_label": per_label,
        "intervals": bootstrap_intervals(Y, predicted, labels),
        "confused_pairs": _confused_pairs(Y, P, predicted, labels, multilabel, titles),
    }


def render_markdown(report: dict, heading: str = "Evaluation report") -> str:
    """Render a report dict as readable Markdown."""
    lines = [f"# {heading}", ""]
    context = report.get("context", {})
    for key, value in context.items():
        lines.append(f"- **{key}**: {value}")
    if context:
        lines.append("")
    lines += [
        f"Documents evaluated: {report['documents']} ({'multi-label' if report['multilabel'] else 'single-label'}).",
        "",
        "| metric | value |",
        "| --- | ---: |",
        f"| accuracy ({report['accuracy_kind']}) | {report['accuracy']:.4f} |",
    ]
    intervals = report.get("intervals") or {}
    for avg in ("micro", "macro"):
        for k in ("precision", "recall", "f1"):
            low, high = (intervals.get(f"{avg}_f1") or (None, None)) if k == "f1" else (None, None)
            interval = f" (95 % interval {low:.4f}–{high:.4f})" if low is not None and high is not None else ""
            lines.append(f"| {avg} {k} | {report[avg][k]:.4f}{interval} |")
    if report.get("hamming_loss") is not None:
        lines.append(f"| Hamming loss | {report['hamming_loss']:.5f} |")
    lines.append(f"| share with no topic | {report['no_topic_share']:.4f} |")
    lines.append(f"| expected calibration error ({report['calibration']['over']}) | {report['calibration']['ece']:.4f} |")
    if "cross_validation" in report:
        cv = report["cross_validation"]
        lines.append(f"| {cv['folds']}-fold CV {cv['metric']} on the training part | "
                     f"{cv['mean']:.4f} ± {cv['std']:.4f} |")
    bounds = intervals.get("per_label", {})
    lines += ["", "## Per label", "", "| label | precision | recall | F1 | F1 95 % interval | support | threshold |",
              "| --- | ---: | ---: | ---: | :---: | ---: | ---: |"]
    for label, m in report["per_label"].items():
        low, high = bounds.get(label, {}).get("f1") or (None, None)
        interval = f"{low:.3f}–{high:.3f}" if low is not None and high is not None else "–"
        lines.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {interval} | "
                     f"{m['support']} | {m['threshold']:.2f} |")
    lines += ["", "## Most confused label pairs", ""]
    if report["confused_pairs"]:
        lines += ["| true | predicted | count | example titles |", "| --- | --- | ---: | --- |"]
        for pair in report["confused_pairs"]:
            examples = "; ".join(e.replace("|", "/") for e in pair["examples"]) or "-"
            lines.append(f"| {pair['true']} | {pair['predicted']} | {pair['count']} | {examples} |")
    else:
        lines.append("None: every document got exactly its labels.")
    lines += ["", "## Calibration", "", "| bin | documents | mean confidence | observed accuracy |",
              "| --- | ---: | ---: | ---: |"]
    for row in report["calibration"]["bins"]:
        lines.append(f"| {row['bin']} | {row['count']} | {row['confidence']:.3f} | {row['accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def plot_report(report: dict, path: Path) -> None:
    """Draw per-label F1 (bars) beside the support of each label into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(report["per_label"].items(), key=lambda kv: kv[1]["f1"])
    names = [k for k, _ in items]
    f1 = [v["f1"] for _, v in items]
    height = max(3.0, 0.22 * len(names) + 1.2)
    fig, ax = plt.subplots(figsize=(7.5, height), dpi=100)
    bars = ax.barh(names, f1, color="#3b6ea5")
    for bar, (_, v) in zip(bars, items):
        ax.text(min(bar.get_width() + 0.01, 0.9), bar.get_y() + bar.get_height() / 2,
                f"{v['f1']:.2f} (n={v['support']})", va="center", fontsize=7)
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("F1 on the held-out documents")
    ax.set_title(f"Per-label F1 (micro {report['micro']['f1']:.3f}, macro {report['macro']['f1']:.3f})")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None, "Creation Time": None})
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate a model bundle on a labeled corpus and print the report."""
    from runtime.bundle import BundleError
    from training.corpus import CorpusError, read_corpus
    from runtime.model import TopicModel

    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=main.__doc__)
    parser.add_argument("--model", default="models/current", help="bundle folder (default: models/current)")
    parser.add_argument("--data", nargs="+", required=True, help="labeled corpus files or folders")
    parser.add_argument("--split", help="evaluate only documents whose 'split' field has this value")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    parser.add_argument("--out", type=Path, help="also write report.json, report.md and report.png here")
    args = parser.parse_args(argv)
    try:
        model = TopicModel.load(args.model)
        corpus = read_corpus(args.data)
    except (BundleError, CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    docs = [d for d in corpus.documents if args.split is None or d.split == args.split]
    if not docs:
        print("error: no documents to evaluate", file=sys.stderr)
        return 2
    unknown = sorted({label for d in docs for label in d.labels} - set(model.labels))
    if unknown:
        print(f"warning: labels the model does not know are counted as missed: {unknown}", file=sys.stderr)
    P = model.predict_proba([d.text for d in docs], [d.title for d in docs])
    Y = np.array([[label in d.labels for label in model.labels] for d in docs])
    report = compute_report(Y, P, model.labels, model.thresholds, model.multilabel, [d.title or d.text[:80] for d in docs])
    report["context"] = {"model version": model.version, "data": ", ".join(map(str, args.data))}
    markdown = render_markdown(report, heading=f"Evaluation of {model.version}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "report.md").write_text(markdown)
        plot_report(report, args.out / "report.png")
    print(json.dumps(report, indent=2) if args.json else markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
