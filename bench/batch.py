"""Offline batch classification: articles/s of the local engine and of Spark local mode, and memory over time.

    python -m bench.batch [--articles 1000000] [--spark-articles 200000]

The input is synthesized by sampling the public corpora with a fixed seed in
a realistic mix (a quarter headlines, then Reuters briefs, BBC articles and
Usenet posts cut at 1,000 words), written once as JSON Lines. The model is
the default one, trained on seeds/. The local engine runs on every core with
its default chunk size; its whole process tree's resident memory is sampled
every second, to show that it stays flat however long the input. Spark runs
in local mode on every core (``local[*]``), start-up included, on the first
``--spark-articles`` lines; its figure includes the JVM and Python workers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench.common import WORK, article_mix, record, require_corpora, run_sampled
from training.options import TrainOptions
from training.train import train


def synthesize(path: Path, n: int, seed: int = 0) -> Path:
    """Write ``n`` sampled articles to ``path`` (kept between runs)."""
    if path.exists() and sum(1 for _ in open(path, "rb")) == n:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for i, (title, text) in enumerate(article_mix(n, seed)):
            article = {"id": f"a{i}", "title": title, "text": text} if title else {"id": f"a{i}", "text": text}
            fh.write(json.dumps(article, ensure_ascii=False) + "\n")
    return path


def head(source: Path, path: Path, n: int) -> Path:
    with open(source, "rb") as fh, open(path, "wb") as out:
        for i, line in enumerate(fh):
            if i == n:
                break
            out.write(line)
    return path


def memory_profile(samples: list[tuple[float, float]], seconds: float) -> str:
    """Resident memory at 10%, 25%, 50%, 75% and 95% of the run, then the peak."""
    points = []
    for share in (0.10, 0.25, 0.50, 0.75, 0.95):
        at = min(samples, key=lambda s: abs(s[0] - share * seconds))
        points.append(f"{at[1]:.0f}")
    return " / ".join(points) + f" MiB (peak {max(m for _, m in samples):.0f})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--spark-articles", type=int, default=200_000)
    args = parser.parse_args(argv)
    require_corpora()
    work = WORK / "batch"
    source = synthesize(work / f"articles-{args.articles}.jsonl", args.articles)
    megabytes = source.stat().st_size / 1e6
    model = train(TrainOptions(out=work / "models", quiet=True))
    rows = ["| engine | articles | input MB | wall time | articles/s | MB/s | resident memory at 10/25/50/75/95% of the run |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]

    out = work / "local-out.jsonl"
    out.unlink(missing_ok=True)
    code, seconds, samples = run_sampled([sys.executable, "-m", "batch", "--model", str(model),
                                          "--in", str(source), "--out", str(out), "--quiet"])
    if code != 0:
        print(f"local engine failed with exit code {code}", file=sys.stderr)
        return 1
    rows.append(f"| local (all cores) | {args.articles:,} | {megabytes:,.0f} | {seconds:.0f} s | "
                f"{args.articles / seconds:,.0f} | {megabytes / seconds:.1f} | {memory_profile(samples, seconds)} |")

    spark_in = head(source, work / f"spark-{args.spark_articles}.jsonl", args.spark_articles)
    spark_mb = spark_in.stat().st_size / 1e6
    spark_out = work / "spark-out"
    shutil.rmtree(spark_out, ignore_errors=True)
    code, seconds, samples = run_sampled([sys.executable, "-m", "batch", "--engine", "spark", "--model",
                                          str(model), "--in", str(spark_in), "--out", str(spark_out), "--quiet"])
    if code != 0:
        rows.append(f"| Spark local[*] | {args.spark_articles:,} | | failed (exit {code}) | | | |")
    else:
        rows.append(f"| Spark local[*] (start-up included) | {args.spark_articles:,} | {spark_mb:,.0f} | {seconds:.0f} s | "
                    f"{args.spark_articles / seconds:,.0f} | {spark_mb / seconds:.1f} | "
                    f"{memory_profile(samples, seconds)} |")
    record("Offline batch classification",
           f"python -m bench.batch --articles {args.articles} --spark-articles {args.spark_articles}",
           "\n".join(rows), __doc__.split("\n\n", 2)[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
