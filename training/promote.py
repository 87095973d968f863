"""``python -m training.promote``: gate a candidate into current, or roll back; every step is audited.

    python -m training.promote promote --golden golden.jsonl   # promote if it passes the gate
    python -m training.promote refuse                          # drop the candidate, audited
    python -m training.promote rollback                        # current -> the previous version

Only argument parsing and printing live here; the decision is ``runtime.gate``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from runtime import bundle, gate
from runtime.bundle import BundleError, signing_key_from_environment
from training.options import DEFAULT_OUT


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
    args = p.parse_args(argv)
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
        decision = gate.gate(args.out, args.golden, args.force, args.who, args.micro_margin, args.topic_margin,
                             signing_key_from_environment())
    except (BundleError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"micro-F1 {decision.micro['current_f1']:.4f} -> {decision.micro['candidate_f1']:.4f} "
          f"on {decision.documents} documents")
    for reason in decision.reasons:
        print(f"  worse: {reason}")
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
