"""On-disk cache of out-of-fold predicted probabilities.

Cross-validation is the expensive part of a run; a sweep over strategies, detection methods or
final-fit overrides needs the same out-of-fold ``pred_probs`` every time. The key is a hash of
everything that determines them: the features and the (noisy) labels, the classifier's
parameters, the fit kwargs, the folds and seed, the dtype and the library versions. Entries
are ``.npy`` files written under a temporary name and renamed, so concurrent jobs can share a
cache directory; an entry that does not load, or has the wrong shape, is discarded and
recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from runner.artifacts import write_array, write_json

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "CLEANRUN_CACHE_DIR"


def _library_versions() -> str:
    import sklearn
    import xgboost

    import runner

    return f"numpy={np.__version__};sklearn={sklearn.__version__};xgboost={xgboost.__version__};cleanrun={runner.__version__}"


def _update_with_data(digest, X) -> None:
    """Feed the bytes of X (array, DataFrame or sparse matrix) to the hash."""
    if sparse.issparse(X):
        X = X.tocsr()
        for part in (X.data, X.indices, X.indptr):
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(repr(X.shape).encode())
    elif isinstance(X, pd.DataFrame):
        digest.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
        digest.update(repr(list(X.columns)).encode())
    else:
        X = np.ascontiguousarray(X)
        digest.update(f"{X.dtype}{X.shape}".encode())
        # A memoryview hashes the buffer in place; object arrays have no buffer to hash.
        digest.update(pickle.dumps(X) if X.dtype.hasobject else memoryview(X).cast("B"))


def cache_key(clf, X, labels, **settings) -> str:
    """A hex digest naming one computation: a classifier on (X, labels) under ``settings``.

    ``settings`` holds everything else that determines the result (folds, seed, dtype, fit
    kwargs, the purpose of the entry, ...); arrays among them are hashed by content.
    """
    digest = hashlib.blake2b(digest_size=20)
    _update_with_data(digest, X)
    _update_with_data(digest, np.asarray(labels))
    params = sorted((name, repr(value)) for name, value in clf.get_params(deep=True).items())
    parts = [type(clf).__module__, type(clf).__qualname__, repr(params)]
    parts += [f"{name}={_describe(value)}" for name, value in sorted(settings.items())]
    parts.append(_library_versions())
    digest.update("|".join(parts).encode())
    return digest.hexdigest()


def can_fingerprint(clf) -> bool:
    """Whether :func:`cache_key` can name ``clf``'s settings: it needs ``get_params``.

    Without it (hand-written, Keras or PyTorch classifiers) nothing reliable names what the
    object computes; a pickle would hold state that does not matter and miss the code that
    does, so a stale entry could be served. Such classifiers are not cached.
    """
    return callable(getattr(clf, "get_params", None))


def _describe(value) -> str:
    if isinstance(value, dict):
        return repr(sorted((name, _describe(item)) for name, item in value.items()))
    if isinstance(value, np.ndarray) or sparse.issparse(value) or isinstance(value, pd.DataFrame):
        digest = hashlib.blake2b(digest_size=16)
        _update_with_data(digest, value)
        return digest.hexdigest()
    return repr(value)


def resolve_cache_dir(cache_dir) -> Path | None:
    """The cache directory: the argument, else ``$CLEANRUN_CACHE_DIR``, else None (no cache)."""
    cache_dir = cache_dir or os.environ.get(ENV_CACHE_DIR)
    return Path(cache_dir) if cache_dir else None


def load(cache_dir: Path, key: str, shape, dtype) -> np.ndarray | None:
    """The cached array, or None when absent or unusable (an unusable entry is deleted)."""
    path = cache_dir / f"{key}.npy"
    if not path.exists():
        return None
    try:
        array = np.load(path, allow_pickle=False)
        if array.shape != tuple(shape) or array.dtype != np.dtype(dtype) or not np.isfinite(array).all():
            raise ValueError(f"unexpected content: shape {array.shape}, dtype {array.dtype}")
    except (OSError, ValueError, EOFError) as error:
        log.warning("discarding corrupt cache entry %s (%s)", path, error)
        path.unlink(missing_ok=True)
        return None
    return array


def store(cache_dir: Path, key: str, array: np.ndarray, *, seconds: float | None = None) -> None:
    """Write an entry atomically (a temporary file in the same directory, then a rename).

    ``seconds``, what computing the entry cost, is kept beside it so that a run served from
    the cache can still report the cost of its method.
    """
    if seconds is not None:
        write_json(cache_dir / f"{key}.json", {"seconds": seconds})
    write_array(cache_dir / f"{key}.npy", array)


def compute_seconds(cache_dir: Path, key: str) -> float | None:
    """What computing a cached entry cost, when recorded."""
    try:
        return float(json.loads((cache_dir / f"{key}.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
