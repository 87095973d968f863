"""Build a bundle's model card from what the trainer knows: its manifest entries and its evaluation report.

The card says what a newsroom needs before trusting the model: where its data
came from and how much of it, the options and why they were chosen, how well
each topic does on held-out documents with 95 % intervals
(``training.evaluate.bootstrap_intervals``), the known limits and what the
model is for. Every limit is derived from a fact of this run (a count, an
interval, a language list, a source path), so a card never claims what its
run does not show. The publisher writes it into the bundle; reading and
rendering it is ``runtime.card``'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.card import CARD_FORMAT

FEW_DOCUMENTS = 50  # a topic with fewer training documents than this is named as thin
FEW_SHARE = 0.25  # ... and so is one with under a quarter of the median topic's documents
WIDE_INTERVAL = 0.2  # an F1 interval wider than this is named as uncertain
SMALL_TEST = 200  # held-out documents below which every figure is named as rough

KIND = "bag of words: TF-IDF word counts and a linear model (logistic regression) per label"
INTENDED_USE = [
    "Suggesting topics for news articles (wire copy, headlines, standfirsts, full stories) in the model's "
    "languages, for an editor to accept or correct.",
    "Routing, tagging and filtering large volumes of copy where an occasional wrong or missing topic is "
    "cheap and is caught downstream.",
    "Counting topics over many articles (trends, coverage audits), where single errors average out; the "
    "per-topic intervals above say how far to trust each count.",
]
NOT_INTENDED_USE = [
    "Deciding alone, with no person in the loop, anything that affects people: publication, moderation, "
    "takedowns, pay or legal questions.",
    "Judging truth, bias, tone, quality or sentiment: it tells what an article is about, not what it says "
    "about it.",
    "Text unlike news copy (social media posts, comments, transcripts, documents in other languages) or "
    "topics outside its labels: it then still answers, and its figures here do not hold.",
    "Profiling authors, sources or readers.",
]


def _figure(value: float | None, bounds: list | None) -> dict:
    low, high = (bounds or [None, None])
    return {"value": value, "low": low, "high": high}


def _is_seed_source(path: str) -> bool:
    return "seeds" in Path(path).parts


def thin_topics(counts: dict[str, int]) -> list[str]:
    """Name the topics with few training documents: under FEW_DOCUMENTS, or under FEW_SHARE of the median."""
    if not counts:
        return []
    floor = max(FEW_DOCUMENTS, FEW_SHARE * float(np.median(list(counts.values()))))
    return [label for label, n in counts.items() if n < floor]


def known_limits(manifest: dict, quality: dict) -> list[str]:
    """Derive the model's known limits from this run's facts."""
    limits = [
        "It reads words, not meaning: a bag-of-words model sees which words occur, not their order, so it "
        "misses negation, irony and context (\"no sign of a trade war\" counts as trade words), and a word "
        "used in another sense (a football \"trade\", an \"energy\" drink) can pull a topic in.",
    ]
    counts = manifest.get("label_counts") or {}
    for label in thin_topics(counts):
        limits.append(f"Topic '{label}' had only {counts[label]} training documents; expect it to be missed "
                      f"more often than the others, and trust its figures less.")
    for label, m in (quality.get("per_topic") or {}).items():
        f1 = m["f1"]
        if f1["low"] is not None and f1["high"] is not None and f1["high"] - f1["low"] > WIDE_INTERVAL:
            limits.append(f"The F1 of topic '{label}' is uncertain: anywhere from {f1['low']:.2f} to {f1['high']:.2f} "
                          f"(95 % interval on {m['support']} held-out documents).")
        elif not m["support"]:
            limits.append(f"Topic '{label}' had no held-out documents: its quality is not measured.")
    if quality.get("documents", 0) < SMALL_TEST:
        limits.append(f"All figures rest on {quality.get('documents', 0)} held-out documents only; they are "
                      f"rough, as the intervals show.")
    languages = manifest.get("languages")
    if languages:
        limits.append(f"It was trained on text in {', '.join(languages)} only. With language detection on (the "
                      f"default) the service gives articles in other languages no topics; with it off, their "
                      f"topics are guesses.")
    else:
        limits.append("The training languages were not recorded; the service assumes English.")
    if not manifest.get("none_count"):
        limits.append("No training document was about none of the topics, so the model has not learned to "
                      "leave unrelated articles (sport, arts, crime) without a topic.")
    sources = [s.get("path", "") for s in (manifest.get("data") or {}).get("sources", [])]
    if any(_is_seed_source(p) for p in sources):
        limits.append("Part or all of its data is the project's seed corpus (seeds/README.md): documents "
                      "written by the project's team, invented but realistic wire items and items in the style "
                      "of real news of 1990 to 2024, not published articles. Real copy differs in style and "
                      "vocabulary; BENCHMARKS.md measures the drop on real news, which is larger than these "
                      "held-out figures suggest.")
    if (manifest.get("data") or {}).get("refit_on_all"):
        limits.append("The published model was refit on all documents after evaluation, so the figures describe "
                      "a model trained on slightly less data than the one served.")
    return limits


def build_card(manifest: dict, report: dict) -> dict:
    """Return the model card of a bundle from its manifest (without files) and its evaluation report."""
    data = manifest.get("data") or {}
    intervals = report.get("intervals") or {}
    bounds = intervals.get("per_label") or {}
    per_topic = {}
    for label, m in report["per_label"].items():
        b = bounds.get(label, {})
        per_topic[label] = {"support": m["support"], "threshold": m["threshold"],
                            **{k: _figure(m[k], b.get(k)) for k in ("precision", "recall", "f1")}}
    quality = {
        "evaluated_on": (report.get("context") or {}).get("evaluated on", f"{report['documents']} documents"),
        "documents": report["documents"],
        "interval": {k: intervals.get(k) for k in ("method", "confidence", "resamples", "seed")},
        "micro_f1": _figure(report["micro"]["f1"], intervals.get("micro_f1")),
        "macro_f1": _figure(report["macro"]["f1"], intervals.get("macro_f1")),
        "per_topic": per_topic,
    }
    labels = manifest["labels"]
    return {
        "card_format": CARD_FORMAT,
        "model": {
            "version": manifest.get("version"),
            "created_at": manifest.get("created_at"),
            "summary": f"Labels news articles with {len(labels)} topics"
                       f"{' (none, one or several each)' if manifest.get('multilabel') else ' (one each)'}: "
                       f"{', '.join(labels)}.",
            "kind": KIND if (manifest.get("training") or {}).get("mode") != "streaming"
            else KIND.replace("TF-IDF word counts", "hashed TF-IDF word counts"),
            "labels": labels,
            "multilabel": bool(manifest.get("multilabel")),
            "training_mode": (manifest.get("training") or {}).get("mode"),
        },
        "data": {
            "sources": [{k: s[k] for k in ("path", "documents") if k in s} for s in data.get("sources", [])],
            "files": len(data.get("sources", [])),
            "documents": data.get("documents"),
            "train_documents": data.get("train_documents"),
            "test_documents": data.get("test_documents"),
            "split": data.get("split"),
            "documents_per_topic": dict(manifest.get("label_counts") or {}),
            "none_of_these": manifest.get("none_count"),
            "languages": manifest.get("languages"),
        },
        "options": {"hyperparameters": manifest.get("hyperparameters") or {},
                    "why": manifest.get("hyperparameters_why") or {}},
        "quality": quality,
        "limits": known_limits(manifest, quality),
        "intended_use": INTENDED_USE,
        "not_intended_use": NOT_INTENDED_USE,
    }
