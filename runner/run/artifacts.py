"""The run directory: the names of a run's artifacts, its failure record, and reading them back.

Every file is written atomically (:mod:`runner.common.atomic`), so a killed run never leaves a
half-written file that looks complete; ``metrics.json`` is written
last, so its presence means the run finished. A failed run writes ``failure.json`` instead.
A run first clears what an earlier attempt left in its directory (:func:`clear_outcome`), so
the one of the two it holds belongs to its last attempt.

Files: ``label_issues.csv``, ``confident_joint.csv``, ``noise_matrix.csv``,
``inverse_noise_matrix.csv``, ``true_noise_matrix.csv`` (injected noise only),
``pred_probs.npy`` (optional), ``metrics.json`` — see DESIGN.md for their formats.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pandas as pd

from runner.common.atomic import write_json

METRICS = "metrics.json"
FAILURE = "failure.json"
LABEL_ISSUES = "label_issues.csv"
PRED_PROBS = "pred_probs.npy"
# Top-level config keys (and groups) that say how a run runs, not what it computes: they change
# no number of metrics.json, so resume and the sweep report ignore them (``tracking`` is where
# experiment-tracking settings go, ``hydra`` the launcher's).
RUN_SETTINGS = ("cache_dir", "save_pred_probs", "resume", "tracking", "report", "hydra")


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
    writing when it died (:func:`runner.common.atomic.atomic_path`).
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
