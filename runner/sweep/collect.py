"""Read a sweep: one row per job -- its overrides, its status and its scalar metrics.

A *sweep directory* is what ``cleanrun -m ...`` leaves under ``outputs/multirun/<date>/<time>/``:
one *job directory* per job (``0/``, ``1/``, ...), each with Hydra's ``.hydra/overrides.yaml``
and, from our app, either ``metrics.json`` (the job is *done*), ``failure.json`` (it *failed*,
whatever else the directory holds) or neither (it is *incomplete*: killed, still running, or its
metrics file is unreadable). :func:`collect` reads it; the helpers below group its done jobs.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from runner.run.artifacts import FAILURE, METRICS, is_run_setting

log = logging.getLogger(__name__)

#: Columns of :func:`collect` that describe the job rather than its overrides or metrics.
STATUS_COLUMNS = ("status", "error")

#: The top-level keys of cleanrun's config (its groups and settings). A metric of the same name
#: (``dataset``, ``classifier``, ``strategy``, ``seed``) is always the column ``<name>_metric``,
#: swept or not, so an override column ``seed`` never meets a metric column ``seed`` and a
#: summary has the same metric columns whatever was swept.
CONFIG_KEYS = frozenset(
    {
        "dataset",
        "noise",
        "classifier",
        "cv",
        "detection",
        "strategy",
        "final_fit",
        "method",
        "experiment",
        "tracking",
        "seed",
        "standardize",
        "compare_baseline",
        "compare_clean",
        "save_pred_probs",
        "threads_per_fit",
        "pred_probs_dtype",
        "cache_dir",
        "resume",
        "hydra",
    }
)

# Hydra's own grammar, not YAML's: it is what the app saw (``1e-3`` is a float, ``yes`` a string).
_OVERRIDE_PARSER = OverridesParser.create()


def collect(sweep_dir: str | os.PathLike) -> pd.DataFrame:
    """Read every job of a sweep into one table.

    Parameters
    ----------
    sweep_dir : str or path-like
        The sweep directory. Its job directories are the direct subdirectories that contain
        ``.hydra/overrides.yaml``; anything else in it is ignored.

    Returns
    -------
    pandas.DataFrame
        One row per job, ordered by job number (non-numeric names after, alphabetically).
        Columns: ``job`` (the directory name, a string); one column per override key, the value
        parsed as Hydra parses it (``0.1`` → float, ``true`` → bool, ``digits`` → str; NaN for
        jobs that do not override that key); ``status`` (``"done"``, ``"failed"`` or
        ``"incomplete"``); ``error`` (the failure message, ``""`` otherwise); then every scalar
        metric of ``metrics.json`` (dict- and list-valued ones such as ``versions`` are left
        out), under its own name — except a metric named like a config key (:data:`CONFIG_KEYS`:
        ``dataset``, ``classifier``, ``strategy``, ``seed``), which is always ``<name>_metric``.
        The metric columns are so the same whatever was swept, and never share a name with an
        override (should an added ``+key=...`` override be named like a metric, the override
        column becomes ``<key>_override``).

    Raises
    ------
    NotADirectoryError
        If ``sweep_dir`` is not a directory.

    Examples
    --------
    >>> df = collect("outputs/multirun/2024-01-01/12-00-00")  # doctest: +SKIP
    >>> df.groupby("strategy")["test_accuracy"].mean()  # doctest: +SKIP
    """
    sweep = _check_sweep_dir(sweep_dir)
    jobs = [_read_job(job_dir) for job_dir in _job_dirs(sweep)]
    if not jobs:
        # Likely the parent of the sweep (outputs/multirun) or a single run's directory.
        log.warning("No job directories (subdirectories with .hydra/overrides.yaml) in %s", sweep)
    override_keys = _union_keys(job["overrides"] for job in jobs)
    metric_keys = _union_keys(job["metrics"] for job in jobs)
    renamed = {key: f"{key}_metric" if key in {"job", *STATUS_COLUMNS, *CONFIG_KEYS} else key for key in metric_keys}
    metric_columns = set(renamed.values())
    override_names = {key: f"{key}_override" if key in metric_columns else key for key in override_keys}
    rows = [
        {
            "job": job["job"],
            **{override_names[key]: value for key, value in job["overrides"].items()},
            "status": job["status"],
            "error": job["error"],
            **{renamed[key]: value for key, value in job["metrics"].items()},
        }
        for job in jobs
    ]
    columns = ["job", *override_names.values(), *STATUS_COLUMNS, *renamed.values()]
    return pd.DataFrame.from_records(rows, columns=columns)


def override_columns(summary: pd.DataFrame) -> list[str]:
    """The override columns of a :func:`collect` frame (or of a re-read ``summary.csv``).

    Parameters
    ----------
    summary : pandas.DataFrame
        A frame with the column layout of :func:`collect`.

    Returns
    -------
    list of str
        The columns between ``job`` and ``status``, in order.
    """
    # Positional, so it also works on a summary.csv read back from disk.
    columns = list(summary.columns)
    return columns[columns.index("job") + 1 : columns.index("status")]


def _check_sweep_dir(sweep_dir: str | os.PathLike) -> Path:
    """The sweep directory as a Path; refuse anything that is not a directory."""
    sweep = Path(sweep_dir)
    if not sweep.is_dir():
        raise NotADirectoryError(f"sweep directory {str(sweep)!r} does not exist or is not a directory")
    return sweep


def _job_dirs(sweep: Path) -> list[Path]:
    """Direct subdirectories holding Hydra's ``.hydra/overrides.yaml``, by job number."""
    dirs = [path for path in sweep.iterdir() if (path / ".hydra" / "overrides.yaml").is_file()]
    # Numeric order: job 10 comes after job 9, not after job 1.
    return sorted(dirs, key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))


def _union_keys(dicts) -> list[str]:
    """Every key of a sequence of dicts, in order of first appearance."""
    return list(dict.fromkeys(key for d in dicts for key in d))


def _read_job(job_dir: Path) -> dict:
    """One job's name, overrides, status, error message and scalar metrics."""
    job = {"job": job_dir.name, "overrides": _read_overrides(job_dir), "error": "", "metrics": {}}
    failure = _read_json(job_dir / FAILURE)
    metrics = _read_json(job_dir / METRICS)
    # A failure wins: metrics beside it can only be an earlier attempt's.
    if failure is not None:
        job["status"] = "failed"
        job["error"] = str(failure.get("error", "unknown error (failure.json has no 'error')"))
    elif metrics is not None:
        job["status"] = "done"
        job["metrics"] = {k: v for k, v in metrics.items() if _is_scalar(v)}
    else:
        job["status"] = "incomplete"
    return job


def _read_json(path: Path) -> dict | None:
    """A JSON object from ``path``; None if absent, or if unreadable (with a warning)."""
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("Ignoring unreadable %s (%s); the job counts as incomplete", path, exc)
        return None
    if not isinstance(content, dict):
        log.warning("Ignoring %s: expected a JSON object, got %s", path, type(content).__name__)
        return None
    return content


def _is_scalar(value) -> bool:
    """True for the metric values that fit in one table cell."""
    return value is None or isinstance(value, (str, int, float, bool))


def _read_overrides(job_dir: Path) -> dict:
    """The job's overrides as ``{key: parsed value}``, from ``.hydra/overrides.yaml``."""
    path = job_dir / ".hydra" / "overrides.yaml"
    try:
        overrides = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("Ignoring unreadable %s (%s)", path, exc)
        return {}
    if not isinstance(overrides, list):
        log.warning("Ignoring %s: expected a list of overrides", path)
        return {}
    parsed = dict(_parse_override(str(text)) for text in overrides)
    # Overrides that say how a sweep ran, not what it measured (cache_dir, resume, ...): no columns.
    return {key: value for key, value in parsed.items() if not is_run_setting(key)}


def _parse_override(text: str) -> tuple[str, object]:
    """``"noise.rate=0.1"`` → ``("noise.rate", 0.1)``; prefixes ``+``, ``++``, ``~`` dropped."""
    try:
        override = _OVERRIDE_PARSER.parse_override(text)
    except Exception:  # Hydra wrote it, so this is unexpected: fall back to YAML.
        key, _, raw = text.lstrip("+~").partition("=")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        return key, value if _is_scalar(value) else raw
    key = override.key_or_group + (f"@{override.package}" if override.package else "")
    if override.is_delete():
        return key, "(deleted)"
    value = override.value()
    # Lists and dicts keep their text: a table cell, and a groupby key, must be hashable.
    return key, value if _is_scalar(value) else text.partition("=")[2]


def _with_run_columns(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with ``dataset``, ``seed``, ... as the report groups by them: the override when
    swept, else the run's own value (its ``<name>_metric``), added after the other columns."""
    summary = summary.copy()
    for key in sorted(CONFIG_KEYS):
        if key not in summary.columns and f"{key}_metric" in summary.columns:
            summary[key] = summary[f"{key}_metric"]
    return summary


def _done_jobs(summary: pd.DataFrame) -> pd.DataFrame:
    """The done jobs, with the per-job ``gain`` over the baseline when both scores exist."""
    done = summary[summary["status"] == "done"].copy()
    if {"test_accuracy", "baseline_test_accuracy"} <= set(done.columns):
        # Per job, then averaged: the mean of differences, whose std reflects paired seeds.
        done["gain"] = _numeric(done["test_accuracy"]) - _numeric(done["baseline_test_accuracy"])
    return done


def _numeric(values: pd.Series) -> pd.Series:
    """A column as floats, anything non-numeric as NaN."""
    return pd.to_numeric(values, errors="coerce").astype(float)


def _group_columns(jobs: pd.DataFrame) -> list[str]:
    """The overrides that define a configuration: all but ``seed``, which it is averaged over.

    A column that none of ``jobs`` overrides (say, one only a failed job had) is left out: it
    would split no group and only add a column of dashes.
    """
    columns = override_columns(jobs)
    return [c for c in columns if c != "seed" and jobs[c].notna().any()]


def _groups(done: pd.DataFrame, columns: list[str]):
    """``(key tuple, rows)`` per configuration, in order of first job; one group if no columns."""
    if not columns:
        return [((), done)]
    # dropna=False: a key some jobs don't override (NaN) is a configuration of its own.
    return list(done.groupby(columns, dropna=False, sort=False))
