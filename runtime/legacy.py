"""Load the pickled pipeline of any bundle, including those that name classes by their old module paths.

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

import threading
from pathlib import Path

import joblib
from joblib import numpy_pickle

# (old module, class) -> the module that defines the class now
MOVED = {
    ("training.streaming", "IncrementalOneVsRest"): "runtime.estimators",
}
_LOCK = threading.Lock()


class _MappingUnpickler(numpy_pickle.NumpyUnpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(MOVED.get((module, name), module), name)


def load_pickle(path: Path):
    """``joblib.load(path)``, with the classes of :data:`MOVED` found at their new paths."""
    with _LOCK:
        original = numpy_pickle.NumpyUnpickler
        numpy_pickle.NumpyUnpickler = _MappingUnpickler
        try:
            return joblib.load(path)
        finally:
            numpy_pickle.NumpyUnpickler = original
