"""Which language an article is in, and whether the model can read it.

The detector is py3langid (its model ships in the wheel; nothing is
downloaded at run time). On short text its first guess is unreliable: it
names another language for a fifth (seed corpus) to nearly half (HuffPost)
of five-word English headlines. So an article is declared *unsupported* only
when all of these hold (BENCHMARKS.md, ``bench.language``, has the shares):

- it has at least :data:`MIN_CHARS` letters and digits (Chinese needs no spaces);
- and either the detector's first guess is outside the model's languages with a
  probability of at least :data:`MIN_PROBABILITY`, or the probability of all
  the model's languages together is below :data:`MAX_TRAINED_PROBABILITY`
  (Arabic and Chinese split their first guess with neighbours such as Persian
  or Japanese, but leave English nothing).

Otherwise the article is read as the model's language. The text is lowercased
first: Title Case headlines otherwise pass for other languages.

The detector costs about ten times the model's own scoring, so it is not asked
at all about an article at least :data:`MIN_COVERAGE` of whose words the
vocabulary of a one-language model knows (the scorer counts them as it scores):
such a text is in the model's language. With the default model, unseen English
news (HuffPost, ``bench.language``) sits at a median near 0.9, and 95.5 % of the
benchmarks' real-news mix reaches 0.8 (98.7 % reaches 0.7). Foreign text stays below: paragraphs in
twelve other languages (tests/test_html_language.py) at 0.37 or less, ordinary
French and Spanish news sentences at about 0.55, and a German body under an
English headline (the title counts twice) at 0.63, which a cut at 0.6 let through. As the seed
vocabulary grows it takes in foreign words (names, quoted phrases): with the ninth-round seeds that German
article reached 0.71 and passed a cut at 0.7, so the cut is 0.8 (one-off coverage counts with the
bench.realnews model).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Sequence

MIN_CHARS = 40
MIN_PROBABILITY = 0.9
MAX_TRAINED_PROBABILITY = 1e-6
DETECT_CHARS = 600  # the first 600 characters decide: the cost stays flat (bench.language)
MIN_COVERAGE = 0.8


class Language(NamedTuple):
    """The detector's first guess (ISO 639-1 code, probability) and whether the model can read the text."""

    code: str
    probability: float | None  # None: decided by the model's vocabulary, without the detector
    supported: bool


@lru_cache(maxsize=1)
def _identifier():
    """py3langid's model, unpacked in memory.

    py3langid's own loader unpacks the model into a temporary file larger than the 64 MB /tmp a
    read-only container gives the service (docker-compose.yml), so the bundle failed to load there.
    """
    import io
    import lzma

    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import _to_array

    with lzma.open(MODEL_DIR / MODEL_FILE) as packed:
        unpacked = io.BytesIO(packed.read())
    with np.load(unpacked, allow_pickle=False) as data:
        return LanguageIdentifier(np.asarray(data["ptc"]), np.asarray(data["pc"]), data["classes"].tolist(),
                                  _to_array(data["nextmove"]), data["out_feat"].tolist(), norm_probs=True,
                                  tk_row=_to_array(data["nextmove_row"]))


def detect(text: str, trained: Sequence[str] = ("en",)) -> Language:
    """Return the language of ``text`` and whether a model trained on ``trained`` languages reads it."""
    sample = text[:DETECT_CHARS].lower()
    ranked = _identifier().rank(sample)
    code, probability = ranked[0]
    probability = float(probability)
    letters = sum(1 for c in sample if c.isalnum())
    if letters < MIN_CHARS or code in trained:
        return Language(code, round(probability, 4), True)
    in_trained = sum(float(p) for lang, p in ranked if lang in trained)
    refused = probability >= MIN_PROBABILITY or in_trained < MAX_TRAINED_PROBABILITY
    return Language(code, round(probability, 4), not refused)


def language_of(article, model, coverage: float | None = None) -> Language:
    """:func:`detect` for an article (title and text) and the model that would read it.

    ``coverage`` is the share of the article's words the model knows (:meth:`runtime.model.TopicModel.score`):
    at :data:`MIN_COVERAGE` or more, a one-language model's language is the answer without the detector.
    """
    known = _by_vocabulary(model.languages, coverage)  # before the text is joined: most articles stop here
    if known is not None:
        return known
    text = f"{article.title}\n{article.text}" if article.title else article.text
    return detect(text, model.languages)


def _by_vocabulary(trained: Sequence[str], coverage: float | None) -> Language | None:
    """The model's one language for a text whose words it mostly knows; None to ask the detector."""
    if coverage is not None and coverage >= MIN_COVERAGE and len(trained) == 1:  # NaN compares False
        return Language(trained[0], None, True)
    return None
