"""Load the pickled pipeline of any bundle: either model-file format, and classes under their old module paths.

Bundles name their model file's format in the manifest (``model_format``,
``runtime.bundle.MODEL_FORMAT``: a zlib-compressed pickle, read with the C
unpickler); bundles without one were written by ``joblib.dump`` and are read
with ``joblib.load``.

Bundles written before the runtime package existed (version 0.1) pickle the
streaming trainer's ``IncrementalOneVsRest`` as ``training.streaming``. That
class now lives in :mod:`runtime.estimators`, so a serving process needs no
training code; :data:`MOVED` maps each old path to the new one while
unpickling. joblib has no hook for this, so its unpickler is swapped for a
subclass for the duration of one load, under a lock; the subclass differs
only in :meth:`find_class`. ``tests/test_layers.py`` loads bundles written by
version 0.1.
"""

from __future__ import annotations

import io
import pickle
import threading
import zlib
from pathlib import Path

import joblib
from joblib import numpy_pickle

from runtime.bundle import MODEL_FORMAT

# (old module, class) -> the module that defines the class now
MOVED = {
    ("training.streaming", "IncrementalOneVsRest"): "runtime.estimators",
}
_LOCK = threading.Lock()


class _MappingUnpickler(numpy_pickle.NumpyUnpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(MOVED.get((module, name), module), name)


class _MappingCUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(MOVED.get((module, name), module), name)


def load_pickle(path: Path, model_format: str | None = None):
    """Unpickle a verified bundle's model file, with the classes of :data:`MOVED` found at their new paths."""
    if model_format == MODEL_FORMAT:
        return _MappingCUnpickler(io.BytesIO(zlib.decompress(path.read_bytes()))).load()
    if model_format is not None:
        raise ValueError(f"unknown model format {model_format!r} (this version reads {MODEL_FORMAT!r})")
    with _LOCK:
        original = numpy_pickle.NumpyUnpickler
        numpy_pickle.NumpyUnpickler = _MappingUnpickler
        try:
            return joblib.load(path)
        finally:
            numpy_pickle.NumpyUnpickler = original
