"""Language detection and HTML extraction: accuracy on headlines and articles, and cost beside the model.

Measures (1) how often the service's language rule (runtime/language.py)
refuses English headlines cut to five words, whole headlines and whole
articles, on the seed corpus and the HuffPost corpus, and how often the raw
detector's first guess is not English; (2) the detector's cost per text;
(3) on 5 KB pages built around corpus articles, the cost of extraction
(runtime/html.py) and detection against the model's own prediction (the
service's fast path and the scikit-learn pipeline); (4) the share of words the
default model knows, which lets the service skip the detector for most
articles. Seeds are the training text, so their share is high by construction;
HuffPost is unseen. Times are medians of
single calls on one core; the machine is shared, so medians, not means.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import HUFFPOST, WORK, record, require_corpora
from runtime import scorer_c
from runtime.articles import compose_text
from runtime.html import extract
from runtime.language import MIN_COVERAGE, _identifier, detect
from runtime.model import TopicModel
from training.options import TrainOptions
from training.train import train

ROOT = Path(__file__).resolve().parent.parent


def _seed_records() -> list[dict]:
    return [json.loads(line) for path in sorted((ROOT / "seeds" / "articles").glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _huffpost_records() -> list[dict]:
    return [json.loads(line) for line in HUFFPOST.read_text(encoding="utf-8").splitlines() if line.strip()]


def _five(title: str) -> str | None:
    words = title.split()
    return " ".join(words[:5]) if len(words) >= 5 else None


def _median_ms(fn, items, repeats: int = 1) -> float:
    times = []
    for _ in range(repeats):
        for item in items:
            start = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def accuracy_rows(name: str, records: list[dict]) -> list[str]:
    """One row per kind of text: share refused by the rule, share whose first guess is not English, cost."""
    titles = [r["title"] for r in records if r.get("title")]
    kinds = {"five-word headlines": [t for t in map(_five, titles) if t], "whole headlines": titles,
             "whole articles": [compose_text(r.get("title"), r["text"]) for r in records if r.get("text")]}
    rows = []
    for kind, texts in kinds.items():
        refused = sum(not detect(t).supported for t in texts)
        not_en = sum(_identifier().classify(t[:2000].lower())[0] != "en" for t in texts)
        cost = _median_ms(detect, texts[:2000])
        rows.append(f"| {name} | {kind} | {len(texts):,} | {refused:,} ({refused / len(texts):.2%}) | "
                    f"{not_en / len(texts):.1%} | {cost:.3f} ms |")
    return rows


def coverage_rows(name: str, records: list[dict], model: TopicModel) -> list[str]:
    """Per kind of text: the known-word share's 5th percentile and median, and how many skip the detector."""
    titles = [r["title"] for r in records if r.get("title")]
    kinds = {"whole headlines": (titles, None),
             "whole articles": ([r["text"] for r in records if r.get("text")],
                                [r.get("title") for r in records if r.get("text")])}
    rows = []
    for kind, (texts, heads) in kinds.items():
        known = np.nan_to_num(model.score(texts, heads)[1], nan=0.0)
        skipped = float(np.mean(known >= MIN_COVERAGE))
        rows.append(f"| {name} | {kind} | {len(texts):,} | {np.quantile(known, 0.05):.2f} | {np.median(known):.2f} | "
                    f"{skipped:.1%} |")
    return rows


def page(title: str, text: str) -> str:
    """A 5 KB page: navigation, banner, the article, related links and footer (written here, not copied)."""
    nav = "".join(f"<li><a href='/section/{i}'>Section {i}</a></li>" for i in range(25))
    related = "".join(f"<li><a href='/story/{i}'>Another story about the week's events, part {i}</a></li>"
                      for i in range(12))
    paras = "".join(f"<p>{p}</p>" for p in text.split(". ") if p)
    html = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title} | Example</title>"
            f"<meta name='description' content='{title}'></head><body><header><nav><ul>{nav}</ul></nav></header>"
            "<div class='cookies'>We use cookies. <button>Accept</button></div>"
            f"<main><article><h1>{title}</h1>{paras}</article><aside><ul>{related}</ul></aside></main>"
            "<footer>Copyright Example. All rights reserved. <a href='/privacy'>Privacy</a></footer></body></html>")
    return html


def cost_rows(records: list[dict], model: TopicModel, n: int) -> tuple[list[str], str]:
    """Per-page medians on pages of 4.5 to 5.5 KB: extraction, detection, both, and the model."""
    pages = []
    for r in records:
        if r.get("title") and r.get("text"):
            html = page(r["title"], r["text"])
            if 4500 <= len(html.encode()) <= 5500:
                pages.append(html)
        if len(pages) >= n:
            break
    extracted = [extract(p) for p in pages]
    docs = [compose_text(e.title, e.text, model.title_weight) for e in extracted]
    texts = [f"{e.title}\n{e.text}" for e in extracted]
    both = _median_ms(lambda p: detect(extract(p).text), pages, 2)
    rows = [
        f"| extraction (trafilatura) | {_median_ms(extract, pages, 2):.3f} ms |",
        f"| language detection (py3langid) | {_median_ms(detect, texts, 2):.3f} ms |",
        f"| extraction + detection | {both:.3f} ms |",
        f"| model, service fast path ({'compiled' if scorer_c.enabled() else 'Python only: scorer not built'}) | {_median_ms(lambda d: model.scorer.predict_proba([d]), docs, 2):.3f} ms |",
        f"| model, scikit-learn pipeline | {_median_ms(lambda d: model.pipeline.predict_proba([d]), docs, 2):.3f} ms |",
    ]
    return rows, f"{len(pages)} pages of 4.5-5.5 KB built around HuffPost and seed articles"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.language", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args(argv)
    require_corpora()
    seeds, huffpost = _seed_records(), _huffpost_records()
    table = ["| corpus | texts | n | refused as not English (service rule) | detector's first guess not English | "
             "detection, median |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    table += accuracy_rows("seeds", seeds) + accuracy_rows("HuffPost", huffpost)
    model = TopicModel.load(train(TrainOptions(out=WORK / "language-models", quiet=True)))
    rows, note = cost_rows(seeds + huffpost, model, args.pages)
    table += ["", "| on a 5 KB page | median per page |", "| --- | ---: |"] + rows
    table += ["", f"| corpus | texts | n | known-word share, 5th percentile | median | read as English without the "
                  f"detector (share ≥ {MIN_COVERAGE}) |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    table += coverage_rows("seeds", seeds, model) + coverage_rows("HuffPost", huffpost, model)
    record("Language detection and HTML extraction", "python -m bench.language", "\n".join(table),
           note + ". " + __doc__.split("\n\n", 1)[1].replace("\n", " "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
