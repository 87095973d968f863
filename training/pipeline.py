"""Build the estimator: TF-IDF features and a linear classifier with probabilities."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from runtime.estimators import ScopeGatedOneVsRest

# The vectorizer's default token pattern, written out because the fast
# prediction path (runtime/scorer.py) must tokenize exactly the same way.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
RANDOM_STATE = 0
# Options left as None take their default from the kind of corpus. Measured
# (BENCHMARKS.md): one multinomial model over single-label corpora does best
# with weak regularization and word bigrams (20 Newsgroups, BBC); one binary
# model per label does best with stronger regularization and single words,
# which keep the rare labels from drowning in features (Reuters macro-F1
# 0.538 with bigrams, 0.585 without; the seed corpus's held-out F1 rises too).
KIND_DEFAULTS = {False: {"C": 30.0, "ngram_max": 2}, True: {"C": 5.0, "ngram_max": 1}}


# Why each default is what it is, in a sentence; a bundle trained with an option at its default records
# the sentence in its manifest ("hyperparameters_why"). The figures are in BENCHMARKS.md, "Real news:
# options compared on the dev half" (python -m bench.options) and "Quality on the public corpora".
WHY_DEFAULTS = {
    "C": "5 for one binary model per label (stronger regularization keeps rare labels from drowning in "
         "features; Reuters macro-F1 0.585 against 0.538); on the real-news dev half C 2 is worse (micro-F1 0.772 "
         "against 0.778) and C 15 level (0.778) but leaves fewer out-of-scope items without a topic (0.909 "
         "against 0.917).",
    "ngram_max": "single words for multi-label corpora: on Reuters-21578 macro-F1 0.585 against 0.538 with word "
                 "1-2-grams (python -m bench.quality). A corpus folder can ask for 1-2-grams in its training.json, "
                 "as seeds/ does for the default model.",
    "min_df": "2: a term seen once cannot generalize and only grows the model.",
    "max_df": "1.0: sublinear TF-IDF already gives the commonest words little weight; not tuned.",
    "max_features": "no cap: the seeds' vocabulary stays small (303,357 words and word pairs with min_df 2 on "
                    "the 96,365 seed documents); capping it at 100,000 was level on the real-news dev half "
                    "(micro-F1 0.757 against 0.759, one-off, 52,372 documents).",
    "sublinear_tf": "1 + log(tf): a long article repeating a word is not that much more about it.",
    "title_weight": "2: headlines are dense with topic words; on the real-news dev half 1 is worse (micro-F1 "
                    "0.762 against 0.778) and 3 is level (0.779).",
    "char_ngrams": "off: on the real-news dev half character n-grams score about the same (micro-F1 0.781 against "
                   "0.778, headlines alone 0.746 against 0.733, macro-F1 0.774 against 0.778) and leave fewer "
                   "out-of-scope items without a topic (0.906 against 0.917); the compiled scorer reads them, but "
                   "fitting takes 775 s against 89 to 145 s for word models (python -m bench.options, 96,365 "
                   "documents) and a 1 KB article with its headline about 7 times as long (0.167 ms against 0.025 ms, "
                   "python -m bench.speed).",
    "class_weight": "balanced: seeds cross-validation micro-F1 0.813 against 0.759 without; on the real-news dev "
                    "half level (0.778 against 0.777) and more out-of-scope items left without a topic (0.917 "
                    "against 0.897).",
    "scope_gate": "on: a model of 'none of these' trained on the unlabeled documents scales every label's "
                  "probability; on the real-news dev half 0.917 of the out-of-scope items get no topic against "
                  "0.777 without it, at the same micro-F1 (0.778 against 0.777).",
}


@dataclass(frozen=True)
class Hyperparameters:
    """The options that shape the model; recorded in every bundle's manifest.

    The defaults were chosen by measuring on the public corpora (see
    BENCHMARKS.md and ``python -m bench.quality``). ``C`` and ``ngram_max``
    left as None depend on the kind of corpus: see KIND_DEFAULTS.
    """

    C: float | None = None
    ngram_max: int | None = None
    min_df: int = 2
    max_df: float = 1.0
    max_features: int | None = None
    sublinear_tf: bool = True
    title_weight: int = 2
    char_ngrams: bool = False
    class_weight: str | None = "balanced"
    scope_gate: bool = True

    def to_dict(self) -> dict:
        """Return the options as a plain dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Hyperparameters":
        """Build from a dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def resolved(self, multilabel: bool) -> "Hyperparameters":
        """Return a copy with the options left as None filled in for this kind of corpus."""
        defaults = KIND_DEFAULTS[multilabel]
        return replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})

    def validate(self) -> None:
        """Raise ValueError naming the first option out of range."""
        if self.C is not None and not self.C > 0:
            raise ValueError(f"C must be positive, got {self.C}")
        if self.ngram_max is not None and not 1 <= self.ngram_max <= 3:
            raise ValueError(f"ngram_max must be 1, 2 or 3, got {self.ngram_max}")
        if self.min_df < 1:
            raise ValueError(f"min_df must be at least 1, got {self.min_df}")
        if not 0 < self.max_df <= 1:
            raise ValueError(f"max_df must be in (0, 1], got {self.max_df}")
        if self.title_weight < 0:
            raise ValueError(f"title_weight must be 0 or more, got {self.title_weight}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")


def why_defaults(params: Hyperparameters, multilabel: bool) -> dict[str, str]:
    """The reasons (WHY_DEFAULTS) for the options of ``params`` that are at this kind of corpus's default."""
    default = Hyperparameters().resolved(multilabel)
    return {name: WHY_DEFAULTS[name] for name in WHY_DEFAULTS
            if getattr(params, name) == getattr(default, name)
            and (multilabel or name not in {*KIND_DEFAULTS[True], "scope_gate"})}


def _word_vectorizer(params: Hyperparameters, min_df: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        lowercase=True,
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, params.ngram_max),
        min_df=min_df,
        max_df=params.max_df,
        max_features=params.max_features,
        sublinear_tf=params.sublinear_tf,
        dtype=np.float64,
    )


def build_pipeline(params: Hyperparameters, multilabel: bool, n_documents: int | None = None) -> Pipeline:
    """Return an unfitted ``Pipeline([("vect", ...), ("clf", ...)])``.

    Multi-label corpora get one logistic regression per label (independent
    probabilities), scaled by a model of "none of these" unless
    ``scope_gate`` is off (runtime/estimators.py); single-label corpora get
    one multinomial model whose probabilities sum to one.
    """
    params.validate()
    params = params.resolved(multilabel)
    # A tiny corpus (tests, a first experiment) cannot afford min_df pruning.
    min_df = params.min_df if n_documents is None or n_documents >= 50 else 1
    words = _word_vectorizer(params, min_df)
    if params.char_ngrams:
        chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=min_df, sublinear_tf=params.sublinear_tf,
            max_features=200_000, dtype=np.float64,
        )
        vect = FeatureUnion([("words", words), ("chars", chars)])
    else:
        vect = words
    if multilabel and params.scope_gate:
        clf = ScopeGatedOneVsRest(C=params.C, class_weight=params.class_weight, random_state=RANDOM_STATE)
    elif multilabel:
        clf = OneVsRestClassifier(
            LogisticRegression(
                C=params.C, solver="liblinear", class_weight=params.class_weight,
                random_state=RANDOM_STATE,
            )
        )
    else:
        clf = LogisticRegression(
            C=params.C, max_iter=2000, class_weight=params.class_weight, random_state=RANDOM_STATE
        )
    return Pipeline([("vect", vect), ("clf", clf)])
