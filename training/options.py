"""What a training run depends on: the options both trainers read, built by ``training.cli`` or by code.

Kept apart from the trainers so that the in-memory trainer, the streaming
trainer and the publisher can all take them without importing each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import get_args, get_type_hints

from runtime.bundle import DEFAULT_KEEP
from training.corpus import CorpusError, CsvColumns, read_training_options
from training.pipeline import RANDOM_STATE, Hyperparameters

DEFAULT_DATA = Path("seeds")
DEFAULT_OUT = Path("models")


@dataclass(frozen=True)
class StreamingOptions:
    """How the streaming trainer hashes, shuffles and learns; recorded in the manifest.

    ``alpha`` (the SGD regularization) was picked on BBC News, 20 Newsgroups
    and Reuters-21578: 1e-5 scored within 0.001 of the best on the
    single-label corpora and best on Reuters (micro/macro-F1 0.870 / 0.582
    against 0.860 / 0.583 at 3e-6). 2**20 hashed columns keep collisions
    rare for news vocabularies.
    """

    hash_bits: int = 20
    epochs: int = 5
    alpha: float = 1e-5
    batch_size: int = 2000
    shuffle_buffer: int = 20000
    validation_share: float = 0.1

    def validate(self) -> None:
        """Raise ValueError naming the first option out of range."""
        if not 10 <= self.hash_bits <= 26:
            raise ValueError(f"hash_bits must be from 10 to 26, got {self.hash_bits}")
        if self.epochs < 1 or self.batch_size < 1 or self.shuffle_buffer < 1:
            raise ValueError("epochs, batch_size and shuffle_buffer must be 1 or more")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        if not 0 < self.validation_share < 0.5:
            raise ValueError(f"validation_share must be between 0 and 0.5, got {self.validation_share}")


@dataclass
class TrainOptions:
    """Everything a training run depends on."""

    data: list[Path] = field(default_factory=lambda: [DEFAULT_DATA])
    out: Path = DEFAULT_OUT
    params: Hyperparameters = field(default_factory=Hyperparameters)
    # The model options the caller chose; a corpus folder's training.json leaves them alone. None: those
    # that differ from the built-in defaults (the command line passes the flags it was given).
    chosen: frozenset[str] | None = None
    params_why: dict[str, str] = field(default_factory=dict)  # filled from training.json by with_corpus_options
    columns: CsvColumns = field(default_factory=CsvColumns)
    split_field: str | None = None
    test_size: float = 0.2
    folds: int = 5
    jobs: int = -1  # fits run at once in worker processes (-1: one per core); see training.train.run_fits
    seed: int = RANDOM_STATE
    min_examples: int = 2
    refit: bool | None = None
    search: bool = False
    keep: int = DEFAULT_KEEP
    candidate: bool = False  # publish beside current; runtime.gate decides promotion
    quiet: bool = False
    signing_key: bytes | None = None
    argv: list[str] = field(default_factory=list)
    languages: list[str] | None = None  # None: detected from the corpus (training.corpus.corpus_languages)
    streaming: StreamingOptions | None = None  # set: train on a corpus larger than memory


def _of_type(value, hint) -> bool:
    """Whether a JSON value fits a Hyperparameters annotation (an int does for a float; a bool only for a bool)."""
    kinds = get_args(hint) or (hint,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, tuple(k for k in kinds if k is not bool))


JSON_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a string", type(None): "null"}


def _json_type(hint) -> str:
    return " or ".join(JSON_NAMES.get(kind, str(kind)) for kind in (get_args(hint) or (hint,)))


def with_corpus_options(options: TrainOptions) -> TrainOptions:
    """Return ``options`` with the model options a corpus folder's ``training.json`` asks for.

    The caller's own choices win; each option taken from the file keeps the file's reason, which the
    manifest records beside the built-in defaults' reasons. The file's values are checked here, against
    the options' types and ranges, so that an error names the file.
    """
    hints = get_type_hints(Hyperparameters)
    values, why, path = read_training_options(options.data, set(hints))
    if path is None:
        return options
    for name, value in values.items():
        if not _of_type(value, hints[name]):
            raise CorpusError(path, f"bad model option: {name} must be {_json_type(hints[name])}, got "
                                    f"{json.dumps(value)}")
    built_in = Hyperparameters()
    try:
        replace(built_in, **values).validate()
    except ValueError as exc:
        raise CorpusError(path, f"bad model option: {exc}") from None
    chosen = options.chosen if options.chosen is not None else {
        name for name in hints if getattr(options.params, name) != getattr(built_in, name)}
    taken = {name: value for name, value in values.items() if name not in chosen}
    return replace(options, params=replace(options.params, **taken),
                   params_why={**options.params_why, **{name: f"{path}: {why[name]}" for name in taken}})
