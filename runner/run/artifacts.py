"""The run directory: the names of a run's artifacts, its failure record, and reading them back.

Every file is written atomically (:mod:`runner.common.atomic`), so a killed run never leaves a
half-written file that looks complete; ``metrics.json`` is written
last, so its presence means the run finished. A failed run writes ``failure.json`` instead.
A run owns its directory: it holds a lock file there while it runs (:func:`run_lock`; a second
run started in it is refused), and first removes every artifact an earlier run may have left
(:data:`RUN_ARTIFACTS`, :func:`clear_outcome`), so that every file there belongs to its last run.

Files: ``label_issues.csv``, ``confident_joint.csv``, ``noise_matrix.csv``,
``inverse_noise_matrix.csv``, ``true_noise_matrix.csv`` (injected noise only),
``pred_probs.npy`` (optional), ``cleaned.csv`` / ``cleaned.parquet`` (file datasets),
``metrics.json`` — see DESIGN.md for their formats.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from runner.common.atomic import write_error, write_json

METRICS = "metrics.json"
FAILURE = "failure.json"
LABEL_ISSUES = "label_issues.csv"
PRED_PROBS = "pred_probs.npy"
MATRICES = ("confident_joint.csv", "noise_matrix.csv", "inverse_noise_matrix.csv", "true_noise_matrix.csv")
CLEANED = ("cleaned.csv", "cleaned.parquet")
#: Every file a run can write into its directory: what a new run there removes before it starts.
RUN_ARTIFACTS = (METRICS, FAILURE, LABEL_ISSUES, PRED_PROBS, *MATRICES, *CLEANED)
#: Held by the run in progress, with its process id.
LOCK = ".cleanrun.lock"
# Top-level config keys (and groups) that say how a run runs, not what it computes: they change
# no number of metrics.json, so resume and the sweep report ignore them (``tracking`` is where
# experiment-tracking settings go, ``hydra`` the launcher's).
RUN_SETTINGS = ("cache_dir", "save_pred_probs", "resume", "tracking", "report", "hydra")


class RunDirectoryBusy(RuntimeError):
    """Another run, still in progress, holds the run directory."""


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
    """Remove every artifact an earlier run left (:data:`RUN_ARTIFACTS`) and its half-written files.

    Called before a run starts, holding :func:`run_lock`: a rerun must not leave the last run's
    metrics beside its failure, nor its ``cleaned.csv`` or ``pred_probs.npy`` beside its own
    results (where tracking would log them as this run's). A temporary file is what a killed run
    was writing when it died (:func:`runner.common.atomic.atomic_path`).
    """
    run_dir = Path(run_dir)
    try:
        for name in RUN_ARTIFACTS:
            (run_dir / name).unlink(missing_ok=True)
        for temporary in run_dir.glob(".*.tmp"):
            temporary.unlink(missing_ok=True)
    except OSError as error:
        raise write_error(run_dir, error) from None


@contextmanager
def run_lock(run_dir: Path):
    """Hold ``run_dir`` for this process while the block runs.

    The lock is a file holding the process id, created only if absent. A lock whose process is
    gone (a killed run) is taken over.

    Raises
    ------
    RunDirectoryBusy
        If a live process holds the lock (the message names it).
    WriteError
        If the lock cannot be written (read-only directory, ...).
    """
    run_dir = Path(run_dir)
    lock = run_dir / LOCK
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(run_dir, error) from None
    while True:
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(lock)
            if (holder is not None and _alive(holder)) or (holder is None and _just_made(lock)):
                raise RunDirectoryBusy(
                    f"run directory '{run_dir}' is in use by a run in progress (pid {holder}, lock file '{lock}'); "
                    "wait for it to finish or give this run another directory"
                ) from None
            lock.unlink(missing_ok=True)  # its process is gone: the lock is stale
            continue
        except OSError as error:
            raise write_error(lock, error) from None
        with os.fdopen(handle, "w") as stream:
            stream.write(f"{os.getpid()}\n")
        break
    try:
        yield
    finally:
        if _lock_holder(lock) == os.getpid():
            lock.unlink(missing_ok=True)


def _lock_holder(lock: Path) -> int | None:
    """The process id in a lock file; None when it is unreadable (being written, or not a lock)."""
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _just_made(lock: Path) -> bool:
    """A lock without a process id yet that is younger than a second: another run is writing it."""
    try:
        return time.time() - lock.stat().st_mtime < 1.0
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


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
