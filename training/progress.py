"""Report training stages and their timing on stderr; tqdm draws the bars of long loops."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


class Progress:
    """Print one line per stage with its duration, and bars for long loops."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.timings: dict[str, float] = {}

    def say(self, message: str) -> None:
        """Print a line unless quiet."""
        if not self.quiet:
            print(message, file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage and report it when it ends."""
        self.say(f"[{name}] ...")
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.timings[name] = round(self.timings.get(name, 0.0) + elapsed, 3)
        self.say(f"[{name}] done in {elapsed:.2f}s")

    def bar(self, items: Iterable[T], total: int, label: str) -> Iterator[T]:
        """Yield from ``items`` while tqdm draws a progress bar (nothing when quiet)."""
        return iter(tqdm(items, total=total, desc=f"  {label}", disable=self.quiet, file=self.stream, leave=False))
