"""The real-news yardstick's files hold together, and bench.realnews counts what it says it counts."""

from __future__ import annotations

import json
import random

import numpy as np

from bench import realnews
from tests.conftest import ROOT

TAXONOMY = set(json.loads((ROOT / "seeds" / "labels.json").read_text())["labels"])
DATA = ROOT / "bench" / "data"


def test_the_yardstick_files_hold_together():
    labels = realnews.read_jsonl(realnews.LABELS)
    pool = json.loads((DATA / "labeling" / "pool-ids.json").read_text())
    ids = [row["id"] for row in labels]
    assert len(ids) == len(set(ids)) and set(ids) <= set(pool)
    assert all(set(row["labels"]) <= TAXONOMY and len(set(row["labels"])) == len(row["labels"]) for row in labels)
    # The split was drawn once over the whole pool: the sorted ids shuffled with the documented seed.
    order = sorted(pool)
    random.Random(20261205).shuffle(order)
    split = {i: "dev" if k < len(order) // 2 else "test" for k, i in enumerate(order)}
    assert all(row["split"] == split[row["id"]] for row in labels)
    final = {row["id"]: set(row["labels"]) for row in labels}
    second = {row["id"]: set(row["labels"]) for row in realnews.read_jsonl(realnews.SECOND)}
    adjudicated = realnews.read_jsonl(realnews.ADJUDICATED)
    for row in adjudicated:  # every disagreement has a final answer and a reason
        assert set(row["first"]) != set(row["second"]) == second[row["id"]]
        assert set(row["labels"]) == final[row["id"]] and row["why"]
    done = {row["id"] for row in adjudicated}
    assert all(final[i] == second[i] for i in second if i in final and i not in done)


class _Model:
    labels = ["economy", "sport"]
    thresholds = np.array([0.5, 0.5])

    def predict_proba(self, texts, titles):
        return np.array([[0.9 if "shares" in t else 0.1, 0.9 if "goal" in t else 0.1] for t in texts])


def test_evaluate_counts_f1_top1_and_out_of_scope():
    items = [{"id": "a", "title": "shares", "text": "", "gold": {"economy"}},
             {"id": "b", "title": "goal", "text": "", "gold": {"economy"}},
             {"id": "c", "title": "nothing", "text": "", "gold": set()},
             {"id": "d", "title": "shares goal", "text": "", "gold": set()}]
    result = realnews.evaluate(_Model(), items, headline_only=True)
    # economy: tp a, fp d, fn b -> F1 0.5; sport: fp b, fp d -> 0; micro: tp 1, fp 3, fn 1 -> 2/6
    assert result["per_topic"] == {"economy": 0.5, "sport": 0.0}
    assert abs(result["micro"] - 1 / 3) < 1e-12 and result["macro"] == 0.25
    assert result["top1"] == 0.5 and result["none"] == 0.5 and result["out_of_scope"] == 2
    assert dict(result["mistakes"])[("economy", "sport")] == ["b"]
