"""Training the default model: wall time and peak memory of ``python -m training`` on seeds/, with and without workers.

    python -m bench.training [--jobs 1 -1]

The trainer's seven fits (five folds, the model that is evaluated, its
refit) are independent; ``--jobs`` spreads them over worker processes
(``training.train.run_fits``). Each row runs the command line in a process of
its own: the default model (word 1-2-grams, from seeds/training.json),
single words (``--ngram-max 1``, what other multi-label corpora get) and
words with character n-grams (``--char-ngrams``), each
with the fits in the training process (``--jobs 1``) and one worker per core
(``--jobs -1``). Memory is the resident memory of the whole process tree,
sampled every half second, so the workers count. "Fitting" is the stage that
runs the fits, from the manifest's timings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from bench.common import WORK, record, run_sampled

VARIANTS = [("default (word 1-2-grams)", []), ("single words (`--ngram-max 1`)", ["--ngram-max", "1"]),
            ("words and character 2-5-grams (`--char-ngrams`)", ["--char-ngrams"])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, -1])
    args = parser.parse_args(argv)
    rows = ["| model | `--jobs` | wall time | fitting | speed-up | peak memory, all processes | documents |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, flags in VARIANTS:
        first = None
        for jobs in args.jobs:
            out = WORK / "training-models"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [sys.executable, "-m", "training", "--data", "seeds", "--out", str(out), "--quiet",
                   "--jobs", str(jobs), *flags]
            code, seconds, samples = run_sampled(cmd, every=0.5)
            if code != 0:
                sys.exit(f"{' '.join(cmd)} failed with exit status {code}")
            manifest = json.loads((out / "current" / "manifest.json").read_text())
            first = first or seconds
            rows.append(f"| {name} | {jobs} | {seconds:.0f} s | {manifest['training']['timings']['fitting']:.0f} s | "
                        f"{first / seconds:.2f}x | {max(mib for _, mib in samples):,.0f} MiB | "
                        f"{manifest['data']['documents']:,} |")
            print(rows[-1], file=sys.stderr)
    record("Training the default model: one process or workers", "python -m bench.training", "\n".join(rows),
           __doc__.split("\n\n", 2)[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
