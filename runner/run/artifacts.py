"""The run directory: write and read a run's artifacts, atomically.

Every file is written under a temporary name in the same directory and renamed into place, so
a killed run never leaves a half-written file that looks complete; ``metrics.json`` is written
last, so its presence means the run finished. A failed run writes ``failure.json`` instead.
A run first clears what an earlier attempt left in its directory (:func:`clear_outcome`), so
the one of the two it holds belongs to its last attempt.

Files: ``label_issues.csv``, ``confident_joint.csv``, ``noise_matrix.csv``,
``inverse_noise_matrix.csv``, ``true_noise_matrix.csv`` (injected noise only),
``pred_probs.npy`` (optional), ``metrics.json`` — see DESIGN.md for their formats.
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

METRICS = "metrics.json"
FAILURE = "failure.json"
LABEL_ISSUES = "label_issues.csv"
PRED_PROBS = "pred_probs.npy"
# Top-level config keys (and groups) that say how a run runs, not what it computes: they change
# no number of metrics.json, so resume and the sweep report ignore them (``tracking`` is where
# experiment-tracking settings go, ``hydra`` the launcher's).
RUN_SETTINGS = ("cache_dir", "save_pred_probs", "resume", "tracking", "hydra")
# Large issue tables are written in chunks so the text never has to exist in memory at once.
CSV_CHUNK_ROWS = 200_000


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=False, default=_plain) + "\n")


def write_table(path: Path, frame: pd.DataFrame, *, index: bool = False) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "w", newline="") as stream:
            for start in range(0, max(len(frame), 1), CSV_CHUNK_ROWS):
                chunk = frame.iloc[start : start + CSV_CHUNK_ROWS]
                chunk.to_csv(stream, index=index, header=start == 0, lineterminator="\n")


def write_matrix(path: Path, matrix, class_names) -> None:
    """A K x K matrix with the class names as header and index."""
    names = [str(name) for name in class_names]
    write_table(path, pd.DataFrame(np.asarray(matrix), index=names, columns=names), index=True)


def write_array(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            np.save(stream, array, allow_pickle=False)


def write_failure(run_dir: Path, error: BaseException) -> None:
    """Record why a run failed, so that a sweep report can show it."""
    write_json(
        Path(run_dir) / FAILURE,
        {
            "error": f"{type(error).__name__}: {error}",
            "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        },
    )


def clear_outcome(run_dir: Path) -> None:
    """Remove an earlier attempt's ``metrics.json`` / ``failure.json`` and its half-written files.

    Called before a run starts: a rerun that fails must not leave the last attempt's metrics
    beside its failure, as if it had finished. A temporary file is what a killed attempt was
    writing when it died (:func:`atomic_path`).
    """
    run_dir = Path(run_dir)
    for name in (METRICS, FAILURE):
        (run_dir / name).unlink(missing_ok=True)
    for temporary in run_dir.glob(".*.tmp"):
        temporary.unlink(missing_ok=True)


def is_run_setting(key: str) -> bool:
    """True for a config key of :data:`RUN_SETTINGS` or under one (``tracking.uri``)."""
    return any(key == name or key.startswith(f"{name}.") or key.startswith(f"{name}/") for name in RUN_SETTINGS)


def read_metrics(run_dir: Path) -> dict | None:
    """The run's metrics, or None when it has not finished (or the file is unreadable)."""
    try:
        return json.loads((Path(run_dir) / METRICS).read_text())
    except (OSError, ValueError):
        return None


def read_failure(run_dir: Path) -> dict | None:
    """Why the run failed (``{"error", "traceback"}``), or None when it did not (or the file is unreadable)."""
    try:
        return json.loads((Path(run_dir) / FAILURE).read_text())
    except (OSError, ValueError):
        return None


def read_matrix(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, index_col=0)


def _plain(value):
    """JSON for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
