"""The streaming trainer against the in-memory default: quality on the public corpora, and cost against size.

    python -m bench.streaming [--only bbc 20newsgroups reuters21578] [--sizes 100000 300000]

Quality: both trainers run as `python -m training --split-field split`
(the streaming one with `--streaming`) on each corpus's own split, each in
its own process so its wall time and peak resident memory can be read. The
in-memory time includes its 5-fold cross-validation (which tunes the
thresholds); the streaming time includes its passes (two scans, five epochs,
validation and test). Scale: the streaming trainer on documents drawn with
replacement from 20 Newsgroups and BBC News (as `python -m bench.scale` draws
them for one in-memory fit).
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from bench.common import WORK, read_records, record, require_corpora, run_measured, usable, write_jsonl
from bench.quality import prepare


def trained(data: str, out, extra: list[str]) -> tuple[dict | None, float, float]:
    # One process (--jobs 1): its peak resident memory is the run's (workers would not be counted).
    cmd = [sys.executable, "-m", "training", "--data", data, "--out", str(out), "--quiet", "--jobs", "1", *extra]
    code, seconds, peak = run_measured(cmd)
    if code != 0:
        return None, seconds, peak
    return json.loads((out / "current" / "manifest.json").read_text()), seconds, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streaming", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=["bbc", "20newsgroups", "reuters21578"])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 300_000])
    args = parser.parse_args(argv)
    require_corpora()
    work = WORK / "streaming"
    rows = ["| corpus | trainer | accuracy | micro-F1 | macro-F1 | training time | peak memory |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in args.only:
        data = prepare(name)
        for trainer, extra in (("in-memory default", []), ("streaming", ["--streaming"])):
            slug = trainer.split()[0].replace("-", "")
            manifest, seconds, peak = trained(data, work / f"{name}-{slug}", ["--split-field", "split", *extra])
            if manifest is None:
                rows.append(f"| {name} | {trainer} | failed | | | {seconds:.0f} s | {peak:.0f} MiB |")
                continue
            m = manifest["metrics"]
            rows.append(f"| {name} | {trainer} | {m['accuracy']:.4f} | {m['micro']['f1']:.4f} | "
                        f"{m['macro']['f1']:.4f} | {seconds:.0f} s | {peak:.0f} MiB |")
    scale = ["| documents | MB of text | streaming training, all passes | peak memory | held-out accuracy |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    pool = usable(read_records("20newsgroups")) + read_records("bbc")
    for size in args.sizes:
        rng = random.Random(0)
        sample = [{**rng.choice(pool), "id": str(i), "split": None} for i in range(size)]
        for r in sample:
            r.pop("split")
        path = write_jsonl(work / f"sample-{size}.jsonl", sample)
        megabytes = sum(len(r["text"]) for r in sample) / 1e6
        del sample
        manifest, seconds, peak = trained(str(path), work / f"scale-{size}", ["--streaming"])
        accuracy = f"{manifest['metrics']['accuracy']:.4f}" if manifest else "failed"
        scale.append(f"| {size:,} | {megabytes:.0f} | {seconds:.0f} s | {peak:,.0f} MiB | {accuracy} |")
        path.unlink()
    table = "\n".join(rows) + ("\n\n" + "\n".join(scale) if args.sizes else "")
    record("Streaming trainer vs the in-memory default",
           "python -m bench.streaming " + " ".join(argv if argv is not None else sys.argv[1:]), table,
           __doc__.split("\n\n", 2)[2] + "\n\nA sample drawn with replacement repeats documents; the trainer assigns "
           "documents to train, validation and test by a hash of their text, so repeats stay in one part and do "
           "not leak into the held-out accuracy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
