"""The promotion gate: compare a candidate bundle with the current one on the same fixed documents.

It lives in the runtime, below both training and the service, because the
command line (``python -m training.promote``) and the admin HTTP endpoints
take the same decision. Each model predicts through its own
:class:`~runtime.model.TopicModel` with its own tuned thresholds.

The evaluation set is the held-out split the bundles carry
(``evaluation.jsonl``) plus an optional golden JSONL file the user pins.
Promotion is refused when micro-F1 falls by more than ``MICRO_MARGIN`` or any
topic's F1 falls by more than ``TOPIC_MARGIN``.

It can also require evidence from shadow scoring of live traffic: at least
``min_shadow_samples`` articles scored by both models and a share of at least
``min_shadow_agreement`` given the same topics. Both are off by default. The
figures come from the service (``GET /v1/model/candidate``, or the admin
endpoint's own); figures for another candidate version count as none.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from runtime import bundle
from runtime.model import TopicModel

MICRO_MARGIN = 0.01  # micro-F1 may fall by at most one point
TOPIC_MARGIN = 0.05  # any one topic's F1 may fall by at most five points
MIN_SHADOW_AGREEMENT = 0.0  # off: no share of live articles needs the same topics from both models
MIN_SHADOW_SAMPLES = 0  # off: no shadow-scored articles needed
AUDIT_FILE = "audit.jsonl"
EXAMPLES = 3


@dataclass
class Decision:
    """The gate's verdict with the figures behind it."""

    promote: bool
    reasons: list[str]
    current: str
    candidate: str
    documents: int
    micro: dict
    topics: dict
    shadow: dict | None = None  # the shadow figures the decision used, when it required any

    def to_dict(self) -> dict:
        """Return the decision as plain JSON-able data."""
        return dict(self.__dict__)


def read_documents(path: Path | str) -> list[dict]:
    """Read ``{"text", "title"?, "labels"}`` lines from a JSONL file; raise ValueError naming a bad line."""
    docs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            docs.append({"text": str(doc["text"]), "title": doc.get("title") or "",
                         "labels": [str(x) for x in doc.get("labels") or []]})
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not an article with 'text' and 'labels' ({exc})") from None
    return docs


def evaluation_set(root: Path, versions: list[str], golden: Path | None = None) -> list[dict]:
    """The bundles' held-out documents (each once) plus the golden file."""
    seen, docs = set(), []
    sources = [root / v / bundle.EVALUATION_FILE for v in versions] + ([golden] if golden else [])
    for path in sources:
        if path is None or not Path(path).is_file():
            continue
        for doc in read_documents(path):
            key = (doc["title"], doc["text"])
            if key not in seen:
                seen.add(key)
                docs.append(doc)
    return docs


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def _predict(model: TopicModel, docs: list[dict]) -> list[set[str]]:
    scores = model.predict_proba([d["text"] for d in docs], [d["title"] for d in docs])
    return [{t.label for t in model.topics(row)} for row in scores]


def _scores(predicted: list[set[str]], docs: list[dict], labels: list[str]) -> tuple[dict, dict]:
    per, total = {}, np.zeros(3, dtype=int)
    for label in labels:
        tp = sum(label in p and label in d["labels"] for p, d in zip(predicted, docs))
        fp = sum(label in p and label not in d["labels"] for p, d in zip(predicted, docs))
        fn = sum(label not in p and label in d["labels"] for p, d in zip(predicted, docs))
        per[label] = round(_f1(tp, fp, fn), 4)
        total += (tp, fp, fn)
    return per, {"f1": round(_f1(*total.tolist()), 4)}


def compare(current: TopicModel, candidate: TopicModel, docs: list[dict],
            micro_margin: float = MICRO_MARGIN, topic_margin: float = TOPIC_MARGIN) -> Decision:
    """Score both models on ``docs`` and decide; a refusal names each topic that got worse, with examples."""
    if not docs:
        raise ValueError("the evaluation set is empty: give a golden file or train with a held-out split")
    labels = sorted(set(current.labels) | set(candidate.labels))
    old, new = _predict(current, docs), _predict(candidate, docs)
    old_topics, old_micro = _scores(old, docs, labels)
    new_topics, new_micro = _scores(new, docs, labels)
    reasons, topics = [], {}
    for label in labels:
        delta = round(new_topics[label] - old_topics[label], 4)
        entry = {"current_f1": old_topics[label], "candidate_f1": new_topics[label], "delta": delta,
                 "support": sum(label in d["labels"] for d in docs)}
        if delta < -topic_margin:
            entry["examples"] = [
                {"title": d["title"], "text": d["text"][:200], "labels": d["labels"],
                 "current": sorted(o), "candidate": sorted(n)}
                for d, o, n in zip(docs, old, new)
                if (label in d["labels"]) == (label in o) and (label in d["labels"]) != (label in n)][:EXAMPLES]
            reasons.append(f"topic {label!r}: F1 {old_topics[label]:.3f} -> {new_topics[label]:.3f} "
                           f"(falls {-delta:.3f}, margin {topic_margin})")
        topics[label] = entry
    micro_delta = round(new_micro["f1"] - old_micro["f1"], 4)
    if micro_delta < -micro_margin:
        reasons.insert(0, f"micro-F1 {old_micro['f1']:.3f} -> {new_micro['f1']:.3f} "
                          f"(falls {-micro_delta:.3f}, margin {micro_margin})")
    return Decision(promote=not reasons, reasons=reasons, current=current.version, candidate=candidate.version,
                    documents=len(docs), topics=topics,
                    micro={"current_f1": old_micro["f1"], "candidate_f1": new_micro["f1"], "delta": micro_delta})


def shadow_reasons(shadow: dict | None, candidate: str, min_agreement: float = MIN_SHADOW_AGREEMENT,
                   min_samples: int = MIN_SHADOW_SAMPLES) -> list[str]:
    """Say why the shadow figures (``{"version", "samples", "agreement"}``) fall short; [] when they suffice.

    Nothing is required when both minimums are 0.
    """
    if min_agreement <= 0 and min_samples <= 0:
        return []
    if not shadow or shadow.get("version") != candidate:
        return [f"shadow scoring: no figures for candidate {candidate} (turn on TOPICS_SHADOW_SAMPLE and let it "
                f"score live traffic; required: {min_samples} articles, agreement {min_agreement})"]
    samples, agreement = int(shadow.get("samples") or 0), float(shadow.get("agreement") or 0.0)
    reasons = []
    if samples < max(min_samples, 1):  # an agreement over no articles is no evidence
        reasons.append(f"shadow scoring: {samples} articles scored by both models, at least "
                       f"{max(min_samples, 1)} required")
    if min_agreement > 0 and samples and agreement < min_agreement:
        reasons.append(f"shadow scoring: the models gave the same topics to {agreement:.3f} of {samples} live "
                       f"articles, below the minimum agreement {min_agreement}")
    return reasons


def audit(root: Path, action: str, who: str | None = None, **figures) -> dict:
    """Append one line (who, when, action, figures) to ``root/audit.jsonl`` and return it."""
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action,
             "who": who or os.environ.get("TOPICS_OPERATOR") or getpass.getuser(), **figures}
    with open(root / AUDIT_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def gate(root: Path, golden: Path | None = None, force: bool = False, who: str | None = None,
         micro_margin: float = MICRO_MARGIN, topic_margin: float = TOPIC_MARGIN,
         signing_key: bytes | None = None, shadow: dict | None = None,
         min_shadow_agreement: float = MIN_SHADOW_AGREEMENT, min_shadow_samples: int = MIN_SHADOW_SAMPLES) -> Decision:
    """Compare ``candidate`` with ``current`` in ``root``; promote it if it passes (or ``force``), audit either way.

    ``shadow`` holds the candidate's shadow figures (``version``, ``samples``,
    ``agreement``), needed only when a shadow minimum is set.
    """
    current_v, candidate_v = bundle.current_version(root), bundle.candidate_version(root)
    if candidate_v is None:
        raise bundle.BundleError(f"{root}: no candidate to promote (train with --candidate)")
    if current_v is None:
        raise bundle.BundleError(f"{root}: no current model to compare with")
    current = TopicModel.load(root / current_v, signing_key)
    candidate = TopicModel.load(root / candidate_v, signing_key)
    decision = compare(current, candidate, evaluation_set(root, [current_v, candidate_v], golden),
                       micro_margin, topic_margin)
    figures = {"current": current_v, "candidate": candidate_v, "documents": decision.documents,
               "micro": decision.micro, "reasons": decision.reasons,
               "golden": str(golden) if golden else None}
    if min_shadow_agreement > 0 or min_shadow_samples > 0:
        decision.reasons += shadow_reasons(shadow, candidate_v, min_shadow_agreement, min_shadow_samples)
        decision.promote = not decision.reasons
        decision.shadow = {key: (shadow or {}).get(key) for key in ("version", "samples", "agreement")}
        figures["shadow"] = {**decision.shadow, "min_agreement": min_shadow_agreement,
                             "min_samples": min_shadow_samples}
    if decision.promote or force:
        bundle.point_current(root, candidate_v)
        bundle.clear_candidate(root)
        audit(root, "promote", who, forced=force and not decision.promote, **figures)
    else:
        audit(root, "refuse", who, **figures)
    return decision


def rollback(root: Path, who: str | None = None) -> tuple[str, str]:
    """Point ``current`` at the previous version, audit it; return (before, after)."""
    before, target = bundle.current_version(root), bundle.previous_version(root)
    if target is None:
        raise bundle.BundleError(f"{root}: no version older than {before} to roll back to")
    bundle.point_current(root, target)
    audit(root, "rollback", who, current=before, restored=target)
    return before, target
