"""Helpers shared by the benchmark commands: corpora, machine description, the BENCHMARKS.md log."""

from __future__ import annotations

import gzip
import json
import os
import platform
import random
import subprocess
import sys
import time
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TOPICS_SHARED", ROOT.parent / "shared"))
CORPORA = SHARED / "corpora"
WORK = ROOT / "bench" / ".work"
BENCHMARKS = ROOT / "BENCHMARKS.md"
RELIABILITY = ROOT / "RELIABILITY.md"

SEED_ARTICLE = SHARED / "examples" / "seed-article.txt"
HUFFPOST = CORPORA / "huffpost" / "huffpost.jsonl"
CORPUS_FILES = {
    "20newsgroups": CORPORA / "20newsgroups" / "20newsgroups.jsonl.gz",
    "reuters21578": CORPORA / "reuters21578" / "reuters21578.jsonl",
    "bbc": CORPORA / "bbc" / "bbc.jsonl",
}


def require_corpora() -> None:
    """Exit with a clear message when ../shared/corpora is not there."""
    missing = [str(p) for p in CORPUS_FILES.values() if not p.is_file()]
    if missing:
        sys.exit(f"benchmark skipped: the public corpora are missing ({', '.join(missing)}); "
                 f"set TOPICS_SHARED to the folder that holds corpora/")


def read_records(name: str) -> list[dict]:
    """Read one public corpus as a list of JSON records."""
    path = CORPUS_FILES[name]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def article_mix(n: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    """Yield ``n`` (title, text) pairs sampled from the public corpora: a realistic mix of lengths.

    A quarter are headlines alone (BBC or Reuters, title ""), a quarter Reuters
    briefs, a quarter BBC articles and a quarter Usenet posts cut at 1,000
    words. A generator, so a million articles can be written without holding them.
    """
    rng = random.Random(seed)
    reuters = [r for r in read_records("reuters21578") if r["text"].strip()]
    bbc = read_records("bbc")
    news = [r for r in read_records("20newsgroups") if r["text"].strip()]
    headlines = bbc + reuters
    for i in range(n):
        kind = i % 4
        if kind == 0:
            r = rng.choice(headlines)
            yield "", r.get("title") or r["text"][:80]
        elif kind == 1:
            r = rng.choice(reuters)
            yield r.get("title") or "", r["text"]
        elif kind == 2:
            r = rng.choice(bbc)
            yield r["title"], r["text"]
        else:
            r = rng.choice(news)
            yield r["title"], " ".join(r["text"].split()[:1000])


def cut(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` UTF-8 bytes."""
    if len(text.encode()) <= limit:
        return text
    return text.encode()[:limit].decode(errors="ignore").rsplit(" ", 1)[0]


def seed_excerpt(limit: int = 1000) -> tuple[str, str]:
    """(title, text) of the seed article, its body cut to about ``limit`` bytes: the "1 KB real excerpt".

    The first 1 KB holds the article's typographic apostrophe, as real text does; the file
    stays in ../shared and is read here, never copied.
    """
    title, _, body = SEED_ARTICLE.read_text(encoding="utf-8").partition("\n")
    return title.strip(), cut(body.strip(), limit)


def news_mix(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` real (title, text) pairs as news traffic has them: headline-only through 5 KB, unedited.

    A fifth are headlines alone (HuffPost and BBC), a quarter HuffPost headlines
    with their standfirst, a fifth Reuters stories, a quarter BBC articles, and
    a tenth excerpts of the seed article at 0.5, 1, 2 and 4.4 KB. Bodies are cut
    at 5 KB on a word boundary. Curly quotes, dashes and accents stay as they
    are: about a fifth of the articles hold a character outside ASCII.
    """
    if not (HUFFPOST.is_file() and SEED_ARTICLE.is_file()):
        sys.exit(f"benchmark skipped: {HUFFPOST} or {SEED_ARTICLE} is absent; "
                 "set TOPICS_SHARED to the folder that holds corpora/ and examples/")
    rng = random.Random(seed)
    with open(HUFFPOST, encoding="utf-8") as fh:
        huffpost = [json.loads(line) for line in fh]
    reuters = [r for r in read_records("reuters21578") if r["text"].strip()]
    bbc = read_records("bbc")
    excerpts = [seed_excerpt(limit) for limit in (500, 1000, 2000, 4400)]
    kinds = ["headline"] * 4 + ["standfirst"] * 5 + ["reuters"] * 4 + ["bbc"] * 5 + ["seed"] * 2
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "headline":
            r = rng.choice(huffpost if rng.random() < 0.6 else bbc)
            out.append(("", r["title"]))
        elif kind == "standfirst":
            r = rng.choice(huffpost)
            out.append((r["title"], r["text"]))
        elif kind == "reuters":
            r = rng.choice(reuters)
            out.append((r.get("title") or "", cut(r["text"], 5000)))
        elif kind == "bbc":
            r = rng.choice(bbc)
            out.append((r["title"], cut(r["text"], 5000)))
        else:
            out.append(rng.choice(excerpts))
    return out


ASCII_LOOKALIKES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                                  "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u00a3": "GBP ", "\u20ac": "EUR "})


def ascii_only(text: str) -> str:
    """The same text made ASCII: typographic quotes and dashes as ASCII ones, accents dropped."""
    folded = unicodedata.normalize("NFKD", text.translate(ASCII_LOOKALIKES))
    return folded.encode("ascii", "ignore").decode()


def reuters_90(records: list[dict]) -> list[dict]:
    """Keep the 90 topics present in both ModApte splits and drop documents left without one."""
    train = {label for r in records if r["split"] == "train" for label in r["labels"]}
    test = {label for r in records if r["split"] == "test" for label in r["labels"]}
    keep = train & test
    out = []
    for r in records:
        labels = [label for label in r["labels"] if label in keep]
        if labels:
            out.append({**r, "labels": labels, "title": r.get("title") or ""})
    return out


def usable(records: list[dict]) -> list[dict]:
    """Drop records with an empty body (a few 20 Newsgroups posts), which training refuses."""
    return [{**r, "title": r.get("title") or ""} for r in records if (r.get("text") or "").strip()]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def run_measured(cmd: list[str], memory_limit: int | None = None) -> tuple[int, float, float]:
    """Run a command; return (exit code, wall seconds, peak resident MiB of that process).

    ``memory_limit`` caps the command's address space (bytes), so that running
    out of memory ends that command with a MemoryError instead of waking the
    kernel's OOM killer.
    """
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, preexec_fn=limit if memory_limit else None)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - start, usage.ru_maxrss / 1024


def machine() -> str:
    """Describe this machine and the library versions in one line."""
    import numpy
    import sklearn

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
            f"numpy {numpy.__version__}")


def record(title: str, command: str, table: str, notes: str = "", target: Path = BENCHMARKS) -> None:
    """Print a result table and put it, with machine, versions and date, into BENCHMARKS.md (or ``target``).

    A section is keyed by its title: a rerun replaces the section it wrote
    last time (history stays in git), a new title is added at the end.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = f"## {title}\n\n`{command}`, {stamp}; {machine()}.\n\n{table.strip()}\n"
    if notes:
        block += f"\n{notes.strip()}\n"
    print(block)
    text = target.read_text(encoding="utf-8") if target.exists() else (
        "# Benchmarks\n\nEvery section below is written by the command named in it; re-run the command to "
        "measure again (the section is replaced).\n")
    target.write_text(replace_section(text, title, block), encoding="utf-8")


def replace_section(text: str, title: str, block: str) -> str:
    """Return ``text`` with its ``## title`` section (up to the next ``## ``) replaced by ``block``, or appended."""
    heading = f"\n## {title}\n"
    start = text.find(heading)
    if start < 0:
        return text.rstrip("\n") + "\n\n" + block
    end = text.find("\n## ", start + len(heading))
    rest = text[end:] if end >= 0 else ""
    return text[:start] + "\n" + block.rstrip("\n") + "\n" + rest


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            children = [int(c) for task in Path(f"/proc/{current}/task").iterdir()
                        for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        found.append(current)
        stack += children
    return found


def _tree_kib(pid: int, file: str, field: str) -> int:
    """Sum one ``field:`` line (in KiB) of ``/proc/<pid>/<file>`` over a process tree."""
    total = 0
    for current in tree_pids(pid):
        try:
            for line in Path(f"/proc/{current}/{file}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB (Linux /proc)."""
    return _tree_kib(pid, "status", "VmRSS:") / 1024


def tree_pss_mib(pid: int) -> float:
    """Proportional memory of a process tree, in MiB: shared pages counted once across the tree."""
    return _tree_kib(pid, "smaps_rollup", "Pss:") / 1024


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process tree has used so far."""
    total = 0
    for current in tree_pids(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_sampled(cmd: list[str], every: float = 1.0, env: dict | None = None) -> tuple[int, float, list[tuple[float, float]]]:
    """Run a command; return (exit code, wall seconds, [(seconds, MiB of its whole process tree)])."""
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, env=env)
    samples = []
    while process.poll() is None:
        samples.append((time.perf_counter() - start, tree_rss_mib(process.pid)))
        time.sleep(every)
    return process.returncode, time.perf_counter() - start, samples
