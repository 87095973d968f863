"""Report training stages and their timing on stderr."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, TextIO, TypeVar

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
        """Yield from ``items`` while drawing a progress bar."""
        interactive = not self.quiet and self.stream.isatty()
        start = time.perf_counter()
        for done, item in enumerate(items, start=1):
            yield item
            if self.quiet:
                continue
            elapsed = time.perf_counter() - start
            if interactive:
                filled = int(30 * done / max(total, 1))
                self.stream.write(f"\r  {label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {elapsed:.1f}s")
                self.stream.flush()
            else:
                self.say(f"  {label} {done}/{total} ({elapsed:.1f}s)")
        if interactive:
            self.stream.write("\n")
