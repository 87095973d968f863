"""Check a taxonomy's IPTC Media Topics codes against the official vocabulary, fetched by the user.

    python -m training.check_codes seeds/labels.json --vocabulary cptall-en-GB.json

IPTC publishes Media Topics under CC BY 4.0 as JSON-LD (``cptall-en-GB.json``
or ``cptall-en-US.json`` from the IPTC controlled-vocabulary server;
docs/training.md). The project keeps the small subset its own labels use
(``seeds/iptc-mediatopics.json``, the default here, checked by the tests); for
a newer release, or a taxonomy of your own, fetch the whole file. For every
code in ``labels.json`` this says whether it exists, whether it is retired,
and whether its English preferred label and its URI match. The labels here
use IPTC's American spelling ("defense"); give the en-GB and the en-US file
together to accept either.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

URI_PREFIX = "http://cv.iptc.org/newscodes/mediatopic/"
VOCABULARY = Path(__file__).resolve().parent.parent / "seeds" / "iptc-mediatopics.json"


def read_vocabulary(path: Path) -> dict[str, dict]:
    """Map each code in an IPTC JSON-LD file to {"labels", "uri", "retired"}; labels are its English prefLabels."""
    data = json.loads(path.read_text(encoding="utf-8"))
    concepts = data.get("conceptSet", []) if isinstance(data, dict) else data
    vocabulary = {}
    for concept in concepts:
        qcode = concept.get("qcode", "")
        code = qcode.split(":", 1)[-1] if qcode else concept.get("uri", "").rsplit("/", 1)[-1]
        labels = concept.get("prefLabel", {})
        english = [v for k, v in labels.items() if k == "en" or k.startswith("en-")] if isinstance(labels, dict) \
            else [labels]
        vocabulary[code] = {"labels": english, "uri": concept.get("uri", URI_PREFIX + code),
                            "retired": "retired" in concept}
    return vocabulary


def merge(vocabularies: Sequence[dict[str, dict]]) -> dict[str, dict]:
    """One vocabulary from several files (en-GB and en-US, say): a code's labels are all of theirs."""
    merged: dict[str, dict] = {}
    for vocabulary in vocabularies:
        for code, known in vocabulary.items():
            entry = merged.setdefault(code, {"labels": [], "uri": known["uri"], "retired": False})
            entry["labels"] += [name for name in known["labels"] if name not in entry["labels"]]
            entry["retired"] = entry["retired"] or known["retired"]
    return merged


def check(codes: dict[str, list[dict]], vocabulary: dict[str, dict]) -> list[str]:
    """Return one line per problem: unknown or retired codes, labels or URIs that differ."""
    problems = []
    for label, entries in codes.items():
        for entry in entries:
            if entry.get("scheme", "iptc-mediatopic") != "iptc-mediatopic":
                continue
            code, known = entry["code"], vocabulary.get(entry["code"])
            if known is None:
                problems.append(f"{label}: {code} is not in the vocabulary")
                continue
            if known["retired"]:
                problems.append(f"{label}: {code} is retired")
            if entry.get("label") and known["labels"] and entry["label"] not in known["labels"]:
                names = " / ".join(repr(name) for name in known["labels"])
                problems.append(f"{label}: {code} is {names} in the vocabulary, not {entry['label']!r}")
            if entry.get("uri") and entry["uri"] != known["uri"]:
                problems.append(f"{label}: {code}'s URI is {known['uri']}, not {entry['uri']}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Print every problem found and return 1 if there is any, 0 when all codes check out."""
    parser = argparse.ArgumentParser(prog="python -m training.check_codes", description=__doc__.split("\n\n")[0])
    parser.add_argument("taxonomy", type=Path, help="a labels.json with a 'codes' object")
    parser.add_argument("--vocabulary", type=Path, action="append",
                        help="IPTC's cptall-en-US.json or cptall-en-GB.json (JSON-LD); give both to accept either "
                             "spelling; default: the subset in seeds/")
    args = parser.parse_args(argv)
    codes = json.loads(args.taxonomy.read_text(encoding="utf-8")).get("codes", {})
    problems = check(codes, merge([read_vocabulary(path) for path in args.vocabulary or [VOCABULARY]]))
    for line in problems:
        print(line)
    count = sum(len(v) for v in codes.values())
    print(f"{count - len(problems)} of {count} codes check out" if problems else f"all {count} codes check out")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
