"""Quality with DEFAULT options on each public corpus, using the corpus's own split.

    python -m bench.quality [--only bbc reuters21578 20newsgroups]

Trains with `python -m training --split-field split` in a subprocess (so
its peak memory can be measured), then reads the held-out metrics from the
bundle's report and prints them beside published results.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.common import WORK, read_records, record, require_corpora, reuters_90, run_measured, usable, write_jsonl

# What each corpus is judged by, and a published or target figure to compare with.
SETTINGS = {
    "bbc": {"metric": "accuracy", "reference": "target 0.975 (issue #2)"},
    "20newsgroups": {"metric": "accuracy", "reference": "target 0.86 (issue #2)"},
    "reuters21578": {"metric": "micro/macro F1",
                     "reference": "linear SVM 0.860 / 0.525 (Yang & Liu 1999); target 0.87 / 0.55"},
}


def prepare(name: str) -> str:
    records = usable(read_records(name))
    if name == "reuters21578":
        records = reuters_90(records)
    return str(write_jsonl(WORK / "quality" / f"{name}.jsonl", records))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more training options, e.g. --extra --C 10 (then not the defaults)")
    args = parser.parse_args(argv)
    require_corpora()
    rows = ["| corpus | train / test docs | accuracy | micro-F1 | macro-F1 | ECE | training time | peak memory | "
            "reference |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name in args.only:
        data = prepare(name)
        # Custom options get their own folder, so bench.vs_fasttext keeps reading the default model.
        out = WORK / "quality" / (f"models-{name}" + ("-custom" if args.extra else ""))
        # One process (--jobs 1): its peak resident memory is the run's, and the times stay comparable.
        cmd = [sys.executable, "-m", "training", "--data", data, "--out", str(out), "--split-field", "split",
               "--jobs", "1", *args.extra]
        code, seconds, peak = run_measured(cmd)
        if code != 0:
            print(f"{name}: training failed with exit code {code}", file=sys.stderr)
            return 1
        manifest = json.loads((out / "current" / "manifest.json").read_text())
        m = manifest["metrics"]
        rows.append(f"| {name} | {manifest['data']['train_documents']} / {manifest['data']['test_documents']} | "
                    f"{m['accuracy']:.4f} | {m['micro']['f1']:.4f} | {m['macro']['f1']:.4f} | {m['ece']:.4f} | "
                    f"{seconds:.0f} s | {peak:.0f} MiB | {SETTINGS[name]['reference']} |")
    options = " ".join(args.extra) or "default options"
    record(f"Quality on the public corpora ({options})", "python -m bench.quality " + " ".join(argv or sys.argv[1:]),
           "\n".join(rows),
           "Accuracy is top-label accuracy for the single-label corpora and exact-match accuracy for Reuters; "
           "F1 uses the per-label thresholds tuned on out-of-fold predictions of the training split. Reuters "
           "keeps the 90 topics present in both ModApte splits. Training time includes the 5-fold "
           "cross-validation that tunes the thresholds.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
