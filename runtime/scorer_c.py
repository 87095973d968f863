"""The compiled scorer: one ASCII article tokenized, counted and scored in C (``runtime/_scorer.c``).

The Python fast path (``runtime/scorer.py``) spends most of a single
article's time in per-token work: splitting, counting, dictionary lookups,
then a dozen small numpy calls. The C library does all of it in one pass
(about a quarter of the time; BENCHMARKS.md), for the case the service meets
most: one ASCII article, a model of single words with the default token
pattern and lowercasing. Non-ASCII text, batches and other models keep the
Python path, which stays the fallback and is tested against the pipeline in
the same way.

The library is built by ``make`` (``cc -O2 -shared -fPIC``; libc and libm
only, loaded with ctypes). Without a C compiler it is simply absent and
everything runs in Python. ``TOPICS_COMPILED=0`` turns it off when a model
is loaded. ctypes releases the GIL during the call; the vocabulary table is
read-only once built, so threads and forked workers share it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np

LIBRARY = Path(__file__).with_name("_scorer.so")
log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded library, or None where it was not built (or was built for another system)."""
    if not LIBRARY.is_file():
        return None
    try:
        lib = ctypes.CDLL(str(LIBRARY))
    except OSError as exc:
        log.warning("not using the compiled scorer %s: %s; rebuild it with `make`", LIBRARY, exc)
        return None
    lib.vocabulary_new.restype = ctypes.c_void_p
    lib.vocabulary_new.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    lib.vocabulary_score.restype = ctypes.c_int64
    lib.vocabulary_score.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_void_p]
    lib.vocabulary_free.restype = None
    lib.vocabulary_free.argtypes = [ctypes.c_void_p]
    return lib


def enabled() -> bool:
    """True when the library is built and ``TOPICS_COMPILED`` does not turn it off."""
    return os.environ.get("TOPICS_COMPILED", "1") != "0" and library() is not None


class CompiledScorer:
    """The labels' normalized tf-idf sums of one ASCII article, from a vocabulary and its weight rows.

    ``weights`` is (columns + 1) x labels and ``idf`` has columns + 1 entries, as in LinearScorer;
    the scorer keeps both alive, since the library reads them in place.
    """

    def __init__(self, vocabulary: dict[str, int], weights: np.ndarray, idf: np.ndarray, sublinear: bool):
        lib = library()
        if lib is None:
            raise RuntimeError(f"{LIBRARY.name} is not built; run `make`")
        self._args = (vocabulary, weights, idf, sublinear)  # to rebuild it in another process
        self._weights = np.ascontiguousarray(weights, dtype=np.float64)
        self._idf = np.ascontiguousarray(idf, dtype=np.float64)
        self.labels = self._weights.shape[1]
        encoded = [term.encode("utf-8") for term in vocabulary]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(term) for term in encoded], out=offsets[1:])
        columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        self._handle = lib.vocabulary_new(b"".join(encoded), offsets.ctypes.data, columns.ctypes.data, len(encoded),
                                          self._weights.ctypes.data, self._idf.ctypes.data, self.labels,
                                          int(sublinear))
        if not self._handle:
            raise MemoryError("the compiled scorer could not allocate its vocabulary table")
        weakref.finalize(self, lib.vocabulary_free, self._handle)
        self._score = lib.vocabulary_score

    def __reduce__(self):
        # The handle is an address in this process: another process builds its own table.
        return CompiledScorer, self._args

    def scores(self, text: str) -> np.ndarray:
        """The labels' sums (before intercepts) for ``text``, which must be ASCII."""
        raw = text.encode("ascii")
        out = np.empty(self.labels)
        if self._score(self._handle, raw, len(raw), out.ctypes.data) < 0:
            raise MemoryError("the compiled scorer could not allocate")
        return out
