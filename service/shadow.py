"""Shadow scoring: a sampled share of live articles is scored by the candidate bundle too, and never answered by it.

With ``TOPICS_SHADOW_SAMPLE`` above 0 and a candidate loaded beside the
current model (``ModelHolder.candidate``), each article /v1/classify and
/v1/classify/batch score is, with that probability, also scored by the
candidate, after the answer is built from the current model and without
touching it. Both models use their own tuned thresholds (a request's
``threshold`` or ``top_k`` shapes its answer, not the comparison). Articles in
a language the current model does not read are not compared.

The figures live in one place, the ``topics_shadow_*`` Prometheus series
(service/metrics.py), labelled by candidate version: /metrics shows them and
``GET /v1/model/candidate`` and the promotion gate read them back through
:func:`figures`, summed over every worker. An error in shadow scoring is
logged and the answer goes out unchanged.
"""

from __future__ import annotations

import logging
import random
from typing import Mapping, Sequence

import numpy as np
from flask import Blueprint, current_app

from runtime.articles import Article
from runtime.model import TopicModel
from service import metrics
from service.errors import NoCandidate

bp = Blueprint("shadow", __name__, url_prefix="/v1/model")
log = logging.getLogger("service")
MANIFEST_SUMMARY = ("version", "created_at", "labels", "metrics", "data", "label_counts", "none_count")
_OUTCOME = {(True, True): "both", (False, False): "neither", (True, False): "current_only",
            (False, True): "candidate_only"}  # (current assigns it, candidate assigns it)
# The per-label series figures() reads, and what each sample counts (None: the sample's own outcome label).
_PER_TOPIC = {"topics_shadow_topic_total": None, "topics_shadow_score_delta_abs_total": "abs_sum",
              "topics_shadow_score_delta_sum": "sum"}


def sample_share(config: Mapping) -> float:
    """Return ``TOPICS_SHADOW_SAMPLE``; raise ValueError unless it is a share from 0 to 1."""
    share = config["TOPICS_SHADOW_SAMPLE"]
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise ValueError(f"TOPICS_SHADOW_SAMPLE={share!r}: expected a share of articles from 0.0 (off) to 1.0")
    return float(share)


def score(candidate: TopicModel | None, model: TopicModel, articles: Sequence[Article], scores: np.ndarray,
          readable: Sequence[bool], share: float) -> None:
    """Score a sampled ``share`` of the readable ``articles`` with ``candidate`` too; count how it agrees.

    ``scores`` are the current ``model``'s, already computed for the answer. Never raises.
    """
    if candidate is None:
        return
    try:
        chosen = [i for i, ok in enumerate(readable) if ok and (share >= 1.0 or random.random() < share)]
        if not chosen:
            return
        picked = [articles[i] for i in chosen]
        theirs = candidate.predict_proba([a.text for a in picked], [a.title for a in picked])
        _count(model, candidate, scores[chosen], theirs)
    except Exception:  # the answer is already built; shadow scoring must never cost a request
        log.exception("shadow scoring with candidate %s failed; the answer is not affected", candidate.version)


def _count(model: TopicModel, candidate: TopicModel, ours: np.ndarray, theirs: np.ndarray) -> None:
    # Plain Python on purpose: for one article and a few dozen labels it is several times faster than the
    # same comparison in numpy, whose per-call overhead dominates at that size (bench.shadow).
    mine = {label: j for j, label in enumerate(model.labels)}
    new = {label: j for j, label in enumerate(candidate.labels)}
    labels = model.labels + [label for label in candidate.labels if label not in mine]
    pairs = [(label, mine.get(label), new.get(label)) for label in labels]  # None: that model lacks the label
    cut_a, cut_b = model.thresholds.tolist(), candidate.thresholds.tolist()
    outcomes = {label: dict.fromkeys(metrics.SHADOW_OUTCOMES, 0) for label in labels}
    shared = [(label, i, k) for label, i, k in pairs if i is not None and k is not None]
    changes = {label: [0.0, 0.0] for label, _, _ in shared}  # absolute and signed sums of candidate - current
    same, largest = 0, []
    for a, b in zip(ours.tolist(), theirs.tolist()):
        agree = True
        for label, i, k in pairs:
            on_a = i is not None and a[i] >= cut_a[i]
            on_b = k is not None and b[k] >= cut_b[k]
            outcomes[label][_OUTCOME[on_a, on_b]] += 1
            agree = agree and on_a == on_b
        same += agree
        most = 0.0
        for label, i, k in shared:
            change = b[k] - a[i]
            sums = changes[label]
            sums[0] += abs(change)
            sums[1] += change
            most = max(most, abs(change))
        largest.append(most)
    metrics.record_shadow(candidate.version, len(ours), same, outcomes,
                          {label: (size, change) for label, (size, change) in changes.items()}, largest)


def figures(version: str) -> dict:
    """The shadow figures of candidate ``version`` so far, over every worker: the one reader of the metrics.

    ``samples`` articles were scored by both models; ``agreement`` is the share
    whose topic sets are equal (None before any sample); per topic, the share
    where both or neither assign it, the flips each way, and the mean change
    of its score (candidate minus current) and of its size.
    """
    articles = same = 0.0
    topics: dict[str, dict] = {}
    for sample in metrics.samples("topics_shadow_"):
        if sample.labels.get("candidate") != version:
            continue
        if sample.name == "topics_shadow_articles_total":
            articles += sample.value
        elif sample.name == "topics_shadow_same_topics_total":
            same += sample.value
        elif sample.name in _PER_TOPIC:
            entry = topics.setdefault(sample.labels["label"], {})
            key = _PER_TOPIC[sample.name] or sample.labels["outcome"]
            entry[key] = entry.get(key, 0.0) + sample.value
    per_topic = {}
    samples = int(articles)
    for label in sorted(topics):
        entry = topics[label]
        counts = {outcome: int(entry.get(outcome, 0)) for outcome in metrics.SHADOW_OUTCOMES if outcome != "neither"}
        counts["neither"] = samples - sum(counts.values())  # not written: what the other outcomes leave
        shared = "abs_sum" in entry  # both models have the label, so each sampled article changed its score
        per_topic[label] = {
            "agreement": round((counts["both"] + counts["neither"]) / samples, 6) if samples else None,
            **{outcome: counts[outcome] for outcome in metrics.SHADOW_OUTCOMES},
            "flips": counts["current_only"] + counts["candidate_only"],
            "mean_delta": round(entry.get("sum", 0.0) / samples, 6) if shared and samples else None,
            "mean_abs_delta": round(entry["abs_sum"] / samples, 6) if shared and samples else None,
        }
    return {"samples": samples, "agreement": round(same / articles, 6) if articles else None,
            "flips": sum(t["flips"] for t in per_topic.values()), "topics": per_topic}


@bp.get("/candidate")
def candidate():
    """Describe the candidate loaded beside the current model and how its shadow scores agree with it."""
    holder = current_app.extensions["topics"]
    model = holder.candidate
    if model is None:
        error = holder.candidate_error
        raise NoCandidate(f"The candidate bundle {error['path']} failed to load: {error['error']}" if error else
                          "There is no candidate model; publish one with `python -m training --candidate`.")
    current = holder.model
    return {"version": model.version, "loaded_at": holder.candidate_loaded_at,
            "current": current.version if current else None,
            "manifest": {key: model.manifest[key] for key in MANIFEST_SUMMARY if key in model.manifest},
            "shadow": {"sample": current_app.config["TOPICS_SHADOW_SAMPLE"], **figures(model.version)}}
