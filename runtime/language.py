"""Which language an article is in, and whether the model can read it.

The detector is py3langid (its model ships in the wheel; nothing is
downloaded at run time). On short text it is unreliable: on five-word English
headlines it names another language a quarter to a third of the time, but
almost never with a probability of 0.9 or more (BENCHMARKS.md, ``bench.language``).
So an article is declared *unsupported* only when the detector is confident
(:data:`MIN_PROBABILITY`) and the text is long enough (:data:`MIN_CHARS`);
otherwise it is read as the model's language. The answer still names what
the detector thought, with ``language_confident`` saying whether it counted.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

MIN_PROBABILITY = 0.9
MIN_CHARS = 40  # letters and digits, not bytes: Chinese needs no spaces
DETECT_CHARS = 2000  # the first 2,000 characters decide: cost stays flat on long articles


class Language(NamedTuple):
    """What the detector said: an ISO 639-1 code, its probability, and whether the rule trusts it."""

    code: str
    probability: float
    confident: bool


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def detect(text: str) -> Language:
    """Return the language of ``text`` and whether it is confident enough to refuse an article on."""
    sample = text[:DETECT_CHARS]
    code, probability = _identifier().classify(sample)
    letters = sum(1 for c in sample if c.isalnum())
    probability = float(probability)
    return Language(code, round(probability, 4), probability >= MIN_PROBABILITY and letters >= MIN_CHARS)


def supported(language: Language, trained: list[str] | tuple[str, ...]) -> bool:
    """Return False only when the detector is confident the article is in none of ``trained``."""
    return not language.confident or language.code in trained
