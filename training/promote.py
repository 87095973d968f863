"""``python -m training.promote``: gate a candidate into current, or roll back; every step is audited.

    python -m training.promote promote --golden golden.jsonl   # promote if it passes the gate
    python -m training.promote promote --min-shadow-agreement 0.9 --min-shadow-samples 500 \
        --shadow-from http://localhost:8000                    # ... and agrees with current on live traffic
    python -m training.promote refuse                          # drop the candidate, audited
    python -m training.promote rollback                        # current -> the previous version

Only argument parsing, printing and reading the shadow figures from a running
service live here; the decision is ``runtime.gate``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

import httpx

from runtime import bundle, gate
from runtime.bundle import BundleError, signing_key_from_environment
from training.options import DEFAULT_OUT


def shadow_figures(url: str, key: str | None = None, timeout: float = 10.0) -> dict | None:
    """Read the candidate's shadow figures from a running service's ``GET /v1/model/candidate``.

    Returns ``{"version", "samples", "agreement", ...}``, or None when the
    service has no candidate loaded; raises OSError when it cannot be asked.
    """
    headers = {"Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    where = url.rstrip("/") + "/v1/model/candidate"
    try:
        response = httpx.get(where, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise OSError(f"{where}: the service could not be asked ({exc})") from None
    if response.status_code == 404:
        return None
    if response.is_error:
        raise OSError(f"{where} answered {response.status_code} {response.reason_phrase}")
    try:
        body = response.json()
        return {"version": body["version"], **body["shadow"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise OSError(f"{where} did not describe a candidate ({exc!r})") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one gate action; return 0 on promotion/rollback, 1 on refusal, 2 on error."""
    p = argparse.ArgumentParser(prog="python -m training.promote", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("action", choices=["promote", "refuse", "rollback"])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="models folder")
    p.add_argument("--golden", type=Path, help="pinned JSONL of articles with their true labels")
    p.add_argument("--micro-margin", type=float, default=gate.MICRO_MARGIN, help="largest micro-F1 fall allowed")
    p.add_argument("--topic-margin", type=float, default=gate.TOPIC_MARGIN, help="largest per-topic F1 fall")
    p.add_argument("--force", action="store_true", help="promote even if the gate refuses (audited as forced)")
    p.add_argument("--who", help="operator name for the audit log (default: $TOPICS_OPERATOR or the user)")
    shadow = p.add_argument_group("shadow evidence (off by default; the figures come from --shadow-from)")
    shadow.add_argument("--min-shadow-agreement", type=float, default=gate.MIN_SHADOW_AGREEMENT,
                        help="least share of live articles given the same topics by both models (0: not required)")
    shadow.add_argument("--min-shadow-samples", type=int, default=gate.MIN_SHADOW_SAMPLES,
                        help="least number of live articles scored by both models (0: not required)")
    shadow.add_argument("--shadow-from", metavar="URL",
                        help="the running service whose GET /v1/model/candidate has the shadow figures")
    shadow.add_argument("--shadow-key", default=os.environ.get("TOPICS_API_KEY"),
                        help="API key for --shadow-from, when the service requires one (env TOPICS_API_KEY)")
    args = p.parse_args(argv)
    wants_shadow = args.min_shadow_agreement > 0 or args.min_shadow_samples > 0
    if args.action == "promote" and wants_shadow and not args.shadow_from:
        p.error("--min-shadow-agreement and --min-shadow-samples need --shadow-from URL (the service that "
                "shadow-scores the candidate)")
    try:
        if args.action == "rollback":
            before, after = gate.rollback(args.out, args.who)
            print(f"rolled back: current {before} -> {after}")
            return 0
        if args.action == "refuse":
            candidate = bundle.candidate_version(args.out)
            if candidate is None:
                raise BundleError(f"{args.out}: no candidate to refuse")
            bundle.clear_candidate(args.out, refused=True)
            gate.audit(args.out, "refuse", args.who, candidate=candidate, reasons=["refused by operator"])
            print(f"refused {candidate}")
            return 0
        figures = shadow_figures(args.shadow_from, args.shadow_key) if args.shadow_from else None
        decision = gate.gate(args.out, args.golden, args.force, args.who, args.micro_margin, args.topic_margin,
                             signing_key_from_environment(), figures, args.min_shadow_agreement,
                             args.min_shadow_samples)
    except (BundleError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"micro-F1 {decision.micro['current_f1']:.4f} -> {decision.micro['candidate_f1']:.4f} "
          f"on {decision.documents} documents")
    if decision.shadow is not None:
        print(f"shadow scoring of {decision.shadow['version'] or 'no candidate'}: {decision.shadow['samples'] or 0} "
              f"live articles, agreement {decision.shadow['agreement']}")
    for reason in decision.reasons:
        print(f"  {'refused' if reason.startswith('shadow') else 'worse'}: {reason}")
        label = reason.split("'")[1] if reason.startswith("topic") else None
        for example in decision.topics.get(label, {}).get("examples", []):
            print(f"    e.g. {json.dumps(example)[:200]}")
    if decision.promote or args.force:
        print(f"promoted {decision.candidate}" + (" (forced)" if not decision.promote else ""))
        return 0
    print(f"refused {decision.candidate}; {decision.current} stays current")
    return 1


if __name__ == "__main__":
    sys.exit(main())
