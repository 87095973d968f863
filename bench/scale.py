"""Training cost against corpus size: time and peak memory of one fit, at 1k, 10k and 100k documents.

    python -m bench.scale [--sizes 1000 10000 100000] [--memory-limit-gib 22]

Documents are drawn with replacement (fixed seed) from 20 Newsgroups and BBC
News together (25 single-label classes, real text). Each size runs in its own
process so its peak resident memory can be read. "One fit" is vectorizing and
fitting the default pipeline once; `python -m training` does that
folds + 1 times (plus a refit when it makes its own split), so multiply.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from bench.common import WORK, read_records, record, require_corpora, run_measured, usable, write_jsonl

FIT = """
import json, sys, time
from training.corpus import compose_text
from training.pipeline import Hyperparameters, build_pipeline
records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
params = Hyperparameters()
start = time.perf_counter()
pipeline = build_pipeline(params, multilabel=False)
pipeline.fit([compose_text(r["title"], r["text"], params.title_weight) for r in records], [r["labels"][0] for r in records])
result = {"seconds": time.perf_counter() - start, "terms": len(pipeline.named_steps["vect"].vocabulary_)}
open(sys.argv[2], "w").write(json.dumps(result))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--memory-limit-gib", type=float,
                        help="cap each fit's address space; a fit that needs more fails (where it stops fitting)")
    args = parser.parse_args(argv)
    limit = int(args.memory_limit_gib * 2**30) if args.memory_limit_gib else None
    require_corpora()
    pool = usable(read_records("20newsgroups")) + read_records("bbc")
    rng = random.Random(0)
    rows = ["| documents | MB of text | one fit | peak memory | vocabulary |", "| --- | ---: | ---: | ---: | ---: |"]
    for size in args.sizes:
        sample = [dict(rng.choice(pool), id=str(i)) for i in range(size)]
        path = write_jsonl(WORK / "scale" / f"sample-{size}.jsonl", sample)
        out = WORK / "scale" / f"result-{size}.json"
        code, seconds, peak = run_measured([sys.executable, "-c", FIT, str(path), str(out)], limit)
        if code != 0:
            why = f"failed under the {args.memory_limit_gib:g} GiB cap (exit {code})" if limit else f"failed (exit {code})"
            rows.append(f"| {size:,} | | {why} after {seconds:.0f} s | {peak:.0f} MiB | |")
            continue
        result = json.loads(out.read_text())
        megabytes = sum(len(r["text"]) for r in sample) / 1e6
        rows.append(f"| {size:,} | {megabytes:.0f} | {result['seconds']:.1f} s | {peak:.0f} MiB | {result['terms']:,} |")
    record(f"Training cost against corpus size ({', '.join(f'{n:,}' for n in args.sizes)} documents)",
           "python -m bench.scale " + " ".join(argv if argv is not None
                                                                                    else sys.argv[1:]),
           "\n".join(rows), __doc__.split("\n\n", 2)[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
