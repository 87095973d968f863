"""The compiled scorer: one article tokenized, counted and scored in C (``runtime/_scorer.c``).

The Python fast path (``runtime/scorer.py``) spends most of a single
article's time in per-token work: splitting, counting, dictionary lookups,
then a dozen small numpy calls. The C library does all of it in one pass
(about a quarter of the time; BENCHMARKS.md), for the case the service meets
most: one article of any UTF-8 text, a model of single words, or of words
and pairs of neighbouring words, with the default token pattern and
lowercasing, and the character n-grams within words that ``--char-ngrams``
adds (``analyzer="char_wb"``, lowercased). What a word character is and what
each character lowercases to, and where ``str.split()`` splits, come from
Python itself (:func:`charmap`), so the tokens are exactly the pipeline's; an article holding one of the few
characters Python lowercases by context or into several, or a lone
surrogate, is scored in Python instead, and counted (``fallbacks``).
Batches and other models keep the Python path, which stays the fallback and
is tested against the pipeline in the same way.

The library is built by ``make`` (``cc -O2 -shared -fPIC``; libc and libm
only, loaded with ctypes). Without a C compiler it is simply absent and
everything runs in Python. ``TOPICS_COMPILED=0`` turns it off when a model
is loaded. ctypes releases the GIL during the call; the vocabulary table is
read-only once built, so threads and forked workers share it.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np

LIBRARY = Path(__file__).with_name("_scorer.so")
ABI = 4  # scorer_abi() of the _scorer.c this module calls
log = logging.getLogger(__name__)
# The character table covers the code points below this (the C file's CHARMAP_SIZE); above it no
# character is a word character or has a case (checked by tests/test_scorer_c.py).
CHARMAP_SIZE = 0x40000
CHAR_WORD, CHAR_FALLBACK, CHAR_SPACE = 1, 2, 4
_CONTEXTUAL = {0x03A3}  # capital sigma: str.lower() gives a final or a medial sigma by its neighbours


@lru_cache(maxsize=1)
def charmap() -> tuple[np.ndarray, np.ndarray]:
    """(flags, lowercase) for every code point below CHARMAP_SIZE, from Python's str.lower and str.isalnum.

    A word character (``\\w`` in a str pattern) is one that is alphanumeric
    or ``_``; the flag is set on characters whose lowercase is one. Characters
    whose lowercase is not one character, or depends on context, or would need
    more than twice the bytes, are marked for the Python path.
    """
    flags = np.zeros(CHARMAP_SIZE, dtype=np.uint8)
    lower = np.arange(CHARMAP_SIZE, dtype=np.int32)
    for cp in range(CHARMAP_SIZE):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates: not in any text that encodes to UTF-8
        ch = chr(cp)
        low = ch.lower()
        if len(low) != 1 or cp in _CONTEXTUAL or len(low.encode()) > 2 * len(ch.encode()):
            flags[cp] = CHAR_FALLBACK
            continue
        lower[cp] = ord(low)
        if low.isalnum() or low == "_":
            flags[cp] = CHAR_WORD
        elif ch.isspace():  # where str.split() splits: the character n-grams' word boundaries
            flags[cp] = CHAR_SPACE
    return flags, lower


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
    # A library built from an older _scorer.c takes other arguments: calling it would write through
    # a pointer it was never given.
    abi = getattr(lib, "scorer_abi", None)
    if abi is None or abi() != ABI:
        log.warning("not using the compiled scorer %s: built from another version of _scorer.c; rebuild it "
                    "with `make scorer`", LIBRARY)
        return None
    lib.vocabulary_new.restype = ctypes.c_void_p
    lib.vocabulary_new.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_int]
    lib.vocabulary_score.restype = ctypes.c_int64
    lib.vocabulary_score.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_double),
                                     ctypes.POINTER(ctypes.c_int64)]
    lib.chars_score.restype = ctypes.c_int64
    lib.chars_score.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                ctypes.POINTER(ctypes.c_double)]
    lib.vocabulary_free.restype = None
    lib.vocabulary_free.argtypes = [ctypes.c_void_p]
    lib.charmap_set.restype = None
    lib.charmap_set.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    flags, lower = charmap()  # kept alive by charmap()'s cache: the library reads them in place
    lib.charmap_set(flags.ctypes.data, lower.ctypes.data)
    return lib


def enabled() -> bool:
    """True when the library is built and ``TOPICS_COMPILED`` does not turn it off."""
    return os.environ.get("TOPICS_COMPILED", "1") != "0" and library() is not None


def _pair_mode(vocabulary: dict[str, int]) -> int:
    """2 when every word pair's two words are terms too (then pairs with an unknown word are skipped), else 1."""
    for term in vocabulary:
        first, space, second = term.partition(" ")
        if space and (first not in vocabulary or second not in vocabulary):
            return 1
    return 2


class CompiledScorer:
    """The labels' normalized tf-idf sums of one article, from a vocabulary and its weight rows.

    ``weights`` is (columns + 1) x labels and ``idf`` has columns + 1 entries, as in LinearScorer;
    the scorer keeps both alive, since the library reads them in place. With ``bigrams`` the
    vocabulary's terms are words and pairs of neighbouring words joined by a space
    (``ngram_range=(1, 2)``). When every pair's two words are terms too (so with scikit-learn's
    ``min_df`` alone: a pair is in no more documents than either of its words), a pair with an
    unknown word cannot be a term and is not looked up (``bench.speed``; the answer is the same).
    With ``char_range`` (min_n, max_n) the terms are instead character n-grams within words
    (``analyzer="char_wb"``, lowercased), and there is no share of known words to give.
    """

    def __init__(self, vocabulary: dict[str, int], weights: np.ndarray, idf: np.ndarray, sublinear: bool,
                 bigrams: bool = False, char_range: tuple[int, int] | None = None):
        lib = library()
        if lib is None:
            raise RuntimeError(f"{LIBRARY.name} is not built; run `make`")
        self._args = (vocabulary, weights, idf, sublinear, bigrams, char_range)  # to rebuild it in another process
        self._weights = np.ascontiguousarray(weights, dtype=np.float64)
        self._idf = np.ascontiguousarray(idf, dtype=np.float64)
        self.labels = self._weights.shape[1]
        encoded = [term.encode("utf-8") for term in vocabulary]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(term) for term in encoded], out=offsets[1:])
        columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        # 0: words only (or character n-grams); 1: pairs; 2: pairs of terms
        self.pair_mode = _pair_mode(vocabulary) if bigrams and char_range is None else 0
        self._char_range = char_range
        self._handle = lib.vocabulary_new(b"".join(encoded), offsets.ctypes.data, columns.ctypes.data, len(encoded),
                                          self._weights.ctypes.data, self._idf.ctypes.data, self.labels,
                                          int(sublinear), self.pair_mode)
        if not self._handle:
            raise MemoryError("the compiled scorer could not build its vocabulary table: out of memory, or a "
                              "vocabulary beyond its 32-bit columns and offsets")
        weakref.finalize(self, lib.vocabulary_free, self._handle)
        self._score, self._chars_score = lib.vocabulary_score, lib.chars_score
        # Each call gets its own answer buffers (threads may score at once): ctypes arrays, which cost a
        # tenth of what numpy arrays and their .ctypes addresses do.
        self._out_type, self._tokens_type = ctypes.c_double * self.labels, ctypes.c_int64 * 2

    def __reduce__(self):
        # The handle is an address in this process: another process builds its own table.
        return CompiledScorer, self._args

    def scores(self, text: str) -> tuple[np.ndarray, float] | None:
        """The labels' sums (before intercepts) for ``text`` and the share of its tokens (single words)
        the vocabulary knows (NaN for a text without tokens, and for character n-grams); None when it
        must be scored in Python."""
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return None
        out = self._out_type()
        if self._char_range is not None:
            found = self._chars_score(self._handle, raw, len(raw), *self._char_range, out)
            if found >= 0:
                return np.frombuffer(out), math.nan
        else:
            tokens = self._tokens_type()
            found = self._score(self._handle, raw, len(raw), out, tokens)
            if found >= 0:
                return np.frombuffer(out), (tokens[1] / tokens[0] if tokens[0] else math.nan)
        if found == -2:
            return None
        raise MemoryError("the compiled scorer could not allocate") if found == -1 else \
            RuntimeError("the compiled scorer has no character table")
