"""Turn a trained model into a published bundle: one publisher for both trainers.

A trainer returns a :class:`Trained` (the fitted pipeline, its evaluation
report and what it knows for the manifest); :func:`publish` writes the
model, the report, the model card (``training/card.py``) and the manifest
into a staging folder, checks that the
bundle loads through the same loader the service uses, and moves it into
place (``runtime.bundle.publish``). Nothing here knows how a model was
fitted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from runtime import bundle, card
from runtime.drift import write_reference
from runtime.model import TopicModel, library_versions
from training.card import build_card
from training.evaluate import plot_report, render_markdown
from training.options import TrainOptions
from training.progress import Progress


@dataclass
class Trained:
    """What a trainer hands the publisher: the fitted pipeline, its report and its manifest entries."""

    pipeline: object
    report: dict
    manifest: dict
    evaluation: list[dict] | None = None  # the held-out documents, kept in the bundle for the promotion gate
    reference: dict | None = None  # the held-out summary drift reports compare with (runtime/drift.py)


def summary(report: dict) -> dict:
    """The headline figures of an evaluation report, as the manifest records them."""
    return {key: report[key] for key in ("documents", "accuracy", "accuracy_kind", "micro", "macro",
                                         "hamming_loss", "no_topic_share")} | {"ece": report["calibration"]["ece"]}


def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def publish(options: TrainOptions, trained: Trained, progress: Progress) -> Path:
    """Write the model, its report and manifest into a staging folder, check it loads, publish it.

    ``trained.manifest`` holds what the trainer knows; the version (from the
    model's checksum), creation time, stage timings, library versions and git
    commit are added here.
    """
    report = trained.report
    staging = bundle.new_staging_dir(options.out)
    try:
        bundle.write_model(trained.pipeline, staging / bundle.MODEL_FILE)
        version = bundle.make_version(bundle.sha256_file(staging / bundle.MODEL_FILE))
        report["context"] = {"model version": version, **report.get("context", {})}
        (staging / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (staging / "report.md").write_text(render_markdown(report, heading=f"Model {version}"))
        plot_report(report, staging / "report.png")
        if trained.evaluation:
            (staging / bundle.EVALUATION_FILE).write_text(
                "".join(json.dumps(doc) + "\n" for doc in trained.evaluation), encoding="utf-8")
        if trained.reference:
            write_reference(staging, trained.reference)
        manifest = {
            "version": version,
            "model_format": bundle.MODEL_FORMAT,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **trained.manifest,
            "metrics": summary(report),
            "versions": library_versions(),
            "git_commit": _git_commit(),
        }
        manifest["training"] = {**manifest.get("training", {}), "timings": dict(progress.timings)}
        # The card goes in before the manifest, so its checksum is in the manifest like the model's.
        model_card = build_card(manifest, report)
        (staging / card.CARD_FILE).write_text(json.dumps(model_card, indent=2) + "\n", encoding="utf-8")
        (staging / card.CARD_MARKDOWN).write_text(card.render_markdown(model_card), encoding="utf-8")
        bundle.write_manifest(staging, manifest, options.signing_key)
        TopicModel.load(staging, options.signing_key)  # the published bundle must load
        folder = bundle.publish(staging, options.out, version, options.keep, options.signing_key,
                                options.candidate)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    progress.say(f"published {folder.name}: accuracy {report['accuracy']:.4f}, micro-F1 "
                 f"{report['micro']['f1']:.4f}, macro-F1 {report['macro']['f1']:.4f} -> "
                 f"{options.out / bundle.link_of(options.out, folder.name)}")
    return folder
