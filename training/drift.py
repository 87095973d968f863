"""``python -m training.drift``: does recent traffic still look like what the model was trained and tested on?

    python -m training.drift --model models/current --recent samples/          # a folder of samples-*.jsonl
    python -m training.drift --model models/current --recent week.jsonl --json

Recent articles (JSON Lines with ``text`` and an optional ``title``: the
service's sample store, or any export) are scored with the model, or their
stored ``scores`` are used when they come from the same model version, and
summarised as the bundle's reference was (``runtime/drift.py``). The report
compares, in plain words:

- the share of articles each topic is predicted for, and the share with no
  topic: a change is reported when it is at least ``SHARE_CHANGE`` (10
  points) *and* beyond sampling noise (two-proportion z of at least
  ``SHARE_Z``, 3);
- each topic's score distribution and the length distribution, by the
  population stability index, PSI = sum over bins of (recent - reference) *
  ln(recent / reference), bin shares smoothed by half an article. The rule
  of thumb reads PSI below 0.1 as stable, 0.1 to 0.25 as a moderate shift
  and above 0.25 as a significant one. Two finite samples of one
  distribution already differ by about (bins - 1) * (1/n + 1/m), so that
  sampling baseline is added to both cut-offs;
- the mean share of words the model does not know (10 points more than in
  the reference is significant).

Any significant finding advises retraining. Exit status: 0 no significant
drift, 3 retraining advised, 4 no verdict (the bundle carries no reference,
or fewer than ``--min-articles`` readable articles), 2 bad input.

The reference (:func:`held_out_reference`) is built at training time from
the held-out documents scored by the model fitted *without* them; their
unknown-word share is counted against that model's vocabulary, so it is the
share of new words on unseen articles. (On training documents it would be
about 0 by construction.) The published model may be refit on all documents,
so its vocabulary is a little larger and the recent share a little lower:
the comparison errs towards "no drift".
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from runtime.articles import InvalidArticle, article_files, parse_article
from runtime.bundle import BundleError, signing_key_from_environment
from runtime.drift import article_length, read_reference, summarise
from runtime.model import TopicModel

PSI_MODERATE = 0.10
PSI_SIGNIFICANT = 0.25
SHARE_CHANGE = 0.10
SHARE_Z = 3.0
UNKNOWN_CHANGE = 0.10
MIN_ARTICLES = 100
EXIT_OK, EXIT_ERROR, EXIT_RETRAIN, EXIT_NO_VERDICT = 0, 2, 3, 4


# -- the reference, at training time ------------------------------------------------

def held_out_reference(pipeline, P: np.ndarray, thresholds: Sequence[float], labels: list[str], multilabel: bool,
                       lengths: Sequence[int], texts: Sequence[str] | None, what: str) -> dict:
    """Summarise the held-out documents as the drift report's reference.

    ``pipeline`` is the model fitted without them, ``P`` its scores on them,
    ``texts`` their composed strings (None: no word vocabulary to count
    against, as with hashed features).
    """
    unknown, basis = None, "hashed features: the model keeps no word vocabulary"
    if texts is not None:
        stub = TopicModel(pipeline, {"version": "held-out", "labels": labels, "multilabel": multilabel,
                                     "thresholds": dict(zip(labels, map(float, thresholds))),
                                     "hyperparameters": {}})
        unknown = stub.unknown_share(list(texts))
        basis = "held-out documents against the vocabulary of the model fitted without them"
        if np.isnan(unknown).all():
            unknown, basis = None, "the model keeps no word vocabulary"
    return summarise(P, thresholds, labels, lengths, unknown, what, basis)


# -- reading recent articles ------------------------------------------------------------

@dataclass
class Recent:
    """Recent articles to compare, and the rows that could not be read."""

    titles: list[str | None]
    texts: list[str]
    stored: list[dict | None]  # each row's stored scores and model version, when it has them
    problems: list[str]
    files: list[str]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        yield from enumerate(fh, 1)


def read_recent(paths: Sequence[Path]) -> Recent:
    """Read JSON Lines files (or folders of them); a bad row is noted with its file and line and skipped."""
    recent = Recent([], [], [], [], [])
    for path in (f for p in paths for f in article_files(Path(p), (".jsonl", ".jsonl.gz"), ".jsonl")):
        recent.files.append(str(path))
        for number, line in _lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                recent.problems.append(f"{path}:{number}: not valid JSON ({exc.msg})")
                continue
            try:
                if not isinstance(row, dict):
                    raise InvalidArticle("a row must be a JSON object")
                article = parse_article({k: row[k] for k in ("text", "title") if k in row})
            except InvalidArticle as exc:
                recent.problems.append(f"{path}:{number}: {exc.detail}")
                continue
            recent.titles.append(article.title)
            recent.texts.append(article.text)
            scores = row.get("scores")
            recent.stored.append({"model": row.get("model"), "scores": scores} if isinstance(scores, dict) else None)
    return recent


def score_recent(model: TopicModel, recent: Recent) -> tuple[np.ndarray, int]:
    """Scores of the recent articles: stored ones when this model version made them, the rest scored now.

    Returns the scores and how many came from storage.
    """
    P = np.zeros((len(recent.texts), len(model.labels)))
    missing = []
    for i, stored in enumerate(recent.stored):
        scores = stored and stored["model"] == model.version and stored["scores"]
        if scores and all(isinstance(scores.get(label), (int, float)) for label in model.labels):
            P[i] = [scores[label] for label in model.labels]
        else:
            missing.append(i)
    if missing:
        P[missing] = model.predict_proba([recent.texts[i] for i in missing], [recent.titles[i] for i in missing])
    return P, len(recent.texts) - len(missing)


# -- comparing ----------------------------------------------------------------------------

@dataclass
class Finding:
    """One comparison: what, how large, how serious, and a sentence that says it."""

    subject: str  # a topic label, "no topic", "length" or "unknown words"
    measure: str  # "predicted share", "score PSI", "length PSI" or "unknown share"
    recent: float | None
    reference: float | None
    statistic: float | None
    severity: str  # "significant", "moderate" or "stable"
    sentence: str


def psi(reference_counts: Sequence[int], recent_counts: Sequence[int]) -> tuple[float, float]:
    """Return the population stability index of two histograms and its sampling baseline.

    Bin shares are smoothed by half an article so that an empty bin does not
    make the index infinite. The baseline, (bins used - 1) * (1/n + 1/m), is
    what two samples of one distribution differ by on average.
    """
    e = np.asarray(reference_counts, dtype=float)
    a = np.asarray(recent_counts, dtype=float)
    n, m = e.sum(), a.sum()
    if not n or not m:
        return 0.0, 0.0
    es, as_ = (e + 0.5) / (n + 0.5 * len(e)), (a + 0.5) / (m + 0.5 * len(a))
    value = float(np.sum((as_ - es) * np.log(as_ / es)))
    used = int(np.count_nonzero((e + a) > 0))
    return value, max(used - 1, 0) * (1 / n + 1 / m)


def _z(p1: float, n1: int, p2: float, n2: int) -> float:
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return (p2 - p1) / se if se else (0.0 if p1 == p2 else math.inf)


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 or x == 0 else f"{x:.1%}"


def _share_finding(subject: str, ref: float, rec: float, n_ref: int, n_rec: int, where: str) -> Finding:
    z = _z(ref, n_ref, rec, n_rec)
    significant = abs(rec - ref) >= SHARE_CHANGE and abs(z) >= SHARE_Z
    if subject == "no topic":
        sentence = f"{_pct(rec)} of recent articles get no topic, against {_pct(ref)} in {where}"
    else:
        sentence = f"'{subject}' is predicted for {_pct(rec)} of recent articles, against {_pct(ref)} in {where}"
    return Finding(subject, "predicted share", rec, ref, round(z, 2) if math.isfinite(z) else None,
                   "significant" if significant else "stable", sentence)


def _psi_severity(value: float, baseline: float) -> str:
    if value > PSI_SIGNIFICANT + baseline:
        return "significant"
    return "moderate" if value > PSI_MODERATE + baseline else "stable"


def compare(reference: dict, recent: dict) -> list[Finding]:
    """Compare a recent summary with the bundle's reference; most serious findings first."""
    where = f"the {reference['source']}"
    n_ref, n_rec = reference["documents"], recent["documents"]
    findings = []
    for label in reference["labels"]:
        findings.append(_share_finding(label, reference["predicted_share"][label],
                                       recent["predicted_share"].get(label, 0.0), n_ref, n_rec, where))
    findings.append(_share_finding("no topic", reference["no_topic_share"], recent["no_topic_share"],
                                   n_ref, n_rec, where))
    for label in reference["labels"]:
        value, baseline = psi(reference["score_counts"][label], recent["score_counts"].get(label, []))
        findings.append(Finding(label, "score PSI", None, None, round(value, 3), _psi_severity(value, baseline),
                                f"the scores of '{label}' are distributed differently (PSI {value:.2f}; "
                                f"two samples this size differ by about {baseline:.2f} by chance)"))
    value, baseline = psi(reference["length_counts"], recent["length_counts"])
    ref_median, rec_median = reference["length_quantiles"]["p50"], recent["length_quantiles"]["p50"]
    direction = "longer" if rec_median > ref_median else "shorter" if rec_median < ref_median else "as long"
    findings.append(Finding("length", "length PSI", rec_median, ref_median, round(value, 3),
                            _psi_severity(value, baseline),
                            f"recent articles are {direction}: median {rec_median:,} characters against "
                            f"{ref_median:,} in {where} (PSI {value:.2f})"))
    ref_unknown, rec_unknown = reference.get("unknown_share"), recent.get("unknown_share")
    if ref_unknown is not None and rec_unknown is not None:
        findings.append(Finding("unknown words", "unknown share", rec_unknown, ref_unknown, None,
                                "significant" if rec_unknown - ref_unknown >= UNKNOWN_CHANGE else "stable",
                                f"{_pct(rec_unknown)} of recent words are unknown to the model "
                                f"({_pct(ref_unknown)} in {where})"))
    order = {"significant": 0, "moderate": 1, "stable": 2}
    return sorted(findings, key=lambda f: order[f.severity])


# -- the command ------------------------------------------------------------------------------

def report(model: TopicModel, recent: Recent, min_articles: int = MIN_ARTICLES) -> tuple[dict, int]:
    """Build the drift report of ``recent`` against the model's reference; return it and the exit status."""
    reference = read_reference(model.path, model.manifest) if model.path else None
    out: dict = {"model": model.version, "files": recent.files, "articles": len(recent.texts),
                 "bad_rows": recent.problems, "findings": [], "retrain": False}
    if reference is None:
        out["verdict"] = (f"cannot compare: bundle {model.version} carries no drift reference (it was trained "
                          "before references were recorded); retrain it to get one")
        return out, EXIT_NO_VERDICT
    if len(recent.texts) < min_articles:
        out["verdict"] = (f"cannot judge: {len(recent.texts)} readable recent articles, at least {min_articles} "
                          "are needed (--min-articles)")
        return out, EXIT_NO_VERDICT
    P, from_store = score_recent(model, recent)
    unknown = model.unknown_share(recent.texts, recent.titles)
    summary = summarise(P, model.thresholds, model.labels,
                        [article_length(t, x) for t, x in zip(recent.titles, recent.texts)], unknown,
                        "recent articles")
    findings = compare(reference, summary)
    significant = [f for f in findings if f.severity == "significant"]
    out.update(reference={"source": reference["source"], "documents": reference["documents"]},
               scores_from_store=from_store, recent=summary, findings=[asdict(f) for f in findings],
               retrain=bool(significant))
    out["verdict"] = ("retraining advised: " + "; ".join(f.sentence for f in significant) if significant
                      else "no significant drift")
    return out, EXIT_RETRAIN if significant else EXIT_OK


def render(out: dict) -> str:
    """The report as plain text."""
    lines = [f"model {out['model']}: {out['articles']} recent articles from {len(out['files'])} file(s)"]
    if "reference" in out:
        lines.append(f"reference: {out['reference']['documents']} documents of the {out['reference']['source']}; "
                     f"{out['scores_from_store']} recent scores reused from the sample store")
    for problem in out["bad_rows"][:20]:
        lines.append(f"  skipped {problem}")
    if len(out["bad_rows"]) > 20:
        lines.append(f"  ... and {len(out['bad_rows']) - 20} more bad rows")
    for severity in ("significant", "moderate"):
        found = [f for f in out["findings"] if f["severity"] == severity]
        if found:
            lines.append(f"{severity}:")
            lines += [f"  - {f['sentence']}" for f in found]
    lines.append(out["verdict"][:1].upper() + out["verdict"][1:] + ".")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the drift report; return 0 (no drift), 3 (retraining advised), 4 (no verdict) or 2 (bad input)."""
    p = argparse.ArgumentParser(prog="python -m training.drift", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", type=Path, default=Path("models/current"), help="bundle folder (or a current link)")
    p.add_argument("--recent", type=Path, nargs="+", required=True,
                   help="JSONL files of recent articles, or folders of them (the service's TOPICS_SAMPLE_DIR)")
    p.add_argument("--min-articles", type=int, default=MIN_ARTICLES, help="fewest recent articles to judge")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    try:
        model = TopicModel.load(args.model, signing_key_from_environment())
        recent = read_recent(args.recent)
    except (BundleError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    out, status = report(model, recent, args.min_articles)
    print(json.dumps(out, indent=2) if args.json else render(out))
    return status


if __name__ == "__main__":
    sys.exit(main())
