"""On-disk cache of out-of-fold predicted probabilities.

Cross-validation is the expensive part of a run; a sweep over strategies, detection methods or
final-fit overrides needs the same out-of-fold ``pred_probs`` every time. The key is a hash of
everything that determines them: the features and the (noisy) labels, the classifier's
parameters, the fit kwargs, the folds and seed, the dtype and the library versions. Entries
are ``.npy`` files written under a temporary name and renamed, so concurrent jobs can share a
cache directory. Beside each entry, ``<key>.json`` records a digest of its content (and what
computing it cost); an entry that does not load, has the wrong shape, does not match its digest
or fails the caller's check of its values is discarded with a warning and recomputed.

A cache is an optimisation: a directory that cannot be written (read-only, full, or an entry
that cannot be deleted) is reported once and the run goes on without storing to it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from runner.common.atomic import write_array, write_json
from runner.common.provenance import library_versions

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "CLEANRUN_CACHE_DIR"

# Cache directories this process could not write to: warned about once, then only read.
_unwritable: set[Path] = set()


def _library_versions() -> str:
    """The versions that change out-of-fold probabilities, as one string of the key."""
    versions = library_versions()
    return ";".join(f"{name}={versions[name]}" for name in ("numpy", "sklearn", "xgboost", "cleanrun"))


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


def content_digest(array: np.ndarray) -> str:
    """A digest of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    digest = hashlib.blake2b(f"{array.dtype.str}{array.shape}".encode(), digest_size=20)
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def load(
    cache_dir: Path, key: str, shape, dtype, check: Callable[[np.ndarray], None] | None = None
) -> np.ndarray | None:
    """The cached array, or None when absent or unusable (an unusable entry is deleted).

    ``check(array)`` raises ValueError when the values are not what the entry must hold
    (probabilities, class codes, ...).
    """
    path = cache_dir / f"{key}.npy"
    if not path.exists():
        return None
    try:
        array = np.load(path, allow_pickle=False)
        if array.shape != tuple(shape) or array.dtype != np.dtype(dtype) or not np.isfinite(array).all():
            raise ValueError(f"unexpected content: shape {array.shape}, dtype {array.dtype}")
        recorded = _record(cache_dir, key).get("digest")
        if recorded != content_digest(array):
            raise ValueError(
                "its content does not match the digest recorded when it was stored"
                if recorded
                else "no content digest was recorded with it"
            )
        if check is not None:
            check(array)
    except (OSError, ValueError, EOFError) as error:
        log.warning("discarding cache entry %s and recomputing it (%s)", path, error)
        _discard(cache_dir, key)
        return None
    return array


def store(cache_dir: Path, key: str, array: np.ndarray, *, seconds: float | None = None) -> None:
    """Write an entry atomically (a temporary file in the same directory, then a rename).

    Its content digest, and ``seconds`` (what computing it cost, so that a run served from the
    cache can still report the cost of its method), go to ``<key>.json``, written first: a
    reader that finds the entry also finds its digest. A directory that cannot be written is
    reported once (see the module docstring) and the entry is not stored.
    """
    if cache_dir in _unwritable:
        return
    record = {"digest": content_digest(array)}
    if seconds is not None:
        record["seconds"] = seconds
    try:
        write_json(cache_dir / f"{key}.json", record)
        write_array(cache_dir / f"{key}.npy", array)
    except OSError as error:
        _cannot_write(cache_dir, error)


def compute_seconds(cache_dir: Path, key: str) -> float | None:
    """What computing a cached entry cost, when recorded."""
    try:
        return float(_record(cache_dir, key)["seconds"])
    except (KeyError, TypeError, ValueError):
        return None


def _record(cache_dir: Path, key: str) -> dict:
    """What was recorded beside an entry (empty when nothing readable was)."""
    try:
        record = json.loads((cache_dir / f"{key}.json").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _discard(cache_dir: Path, key: str) -> None:
    """Delete an entry and its record; a directory that does not allow it is reported once."""
    if cache_dir in _unwritable:
        return
    try:
        for suffix in (".npy", ".json"):
            (cache_dir / f"{key}{suffix}").unlink(missing_ok=True)
    except OSError as error:
        _cannot_write(cache_dir, error)


def _cannot_write(cache_dir: Path, error: OSError) -> None:
    if cache_dir not in _unwritable:
        _unwritable.add(cache_dir)
        log.warning(
            "cache directory %s cannot be written (%s: %s); going on without storing to it — "
            "set cache_dir to a writable directory, or cache_dir=null to turn the cache off",
            cache_dir,
            type(error).__name__,
            error.strerror or error,
        )
