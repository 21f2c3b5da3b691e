"""Aggregate a sweep: one table of every job, a markdown report and plots.

A *sweep directory* is what ``cleanrun -m ...`` leaves under ``outputs/multirun/<date>/<time>/``:
one *job directory* per job (``0/``, ``1/``, ...), each with Hydra's ``.hydra/overrides.yaml``
and, from our app, either ``metrics.json`` (the job is *done*), ``failure.json`` (it *failed*,
whatever else the directory holds) or neither (it is *incomplete*: killed, still running, or its
metrics file is unreadable).

* :func:`collect` reads a sweep into a DataFrame, one row per job: the job's overrides as
  columns, its status, and its scalar metrics;
* :func:`write_summary` writes that frame as ``summary.csv`` in the sweep directory;
* :func:`write_report` also writes ``report.md`` (mean ± std over seeds, grouped by every other
  override) and ``plots/*.png``;
* :class:`SweepSummary` is a Hydra callback that writes the report when a multirun ends;
* :func:`main` is the command line, ``python -m runner.sweep.report DIR`` (``cleanrun-report DIR``).

Every file is written to a temporary name and renamed, so a reader never sees half a file.
matplotlib is imported only when plotting, and only through its object-oriented API on an Agg
canvas: importing this module or writing a report never changes the user's pyplot backend.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback

from runner.common.atomic import atomic_path
from runner.run.artifacts import FAILURE, METRICS, is_run_setting, read_matrix

log = logging.getLogger(__name__)

#: Columns of :func:`collect` that describe the job rather than its overrides or metrics.
STATUS_COLUMNS = ("status", "error")

#: Metrics summarised in ``report.md``, in table order; ``gain`` is computed per job.
REPORT_METRICS = (
    "test_accuracy",
    "baseline_test_accuracy",
    "gain",
    "detection_precision",
    "detection_recall",
    "detection_f1",
    "n_label_issues",
)

#: Where the plots go, inside the sweep directory.
PLOTS_DIR = "plots"

#: At most this many noise-matrix heatmaps per report, to keep ``plots/`` small.
MAX_NOISE_MATRIX_PLOTS = 12

_MISSING = "—"
_NOISE_MATRIX_FILES = {"estimated": "noise_matrix.csv", "true (injected)": "true_noise_matrix.csv"}
_MAX_ERROR_CHARS = 300

# Hydra's own grammar, not YAML's: it is what the app saw (``1e-3`` is a float, ``yes`` a string).
_OVERRIDE_PARSER = OverridesParser.create()


# --------------------------------------------------------------------------------------------
# Reading a sweep
# --------------------------------------------------------------------------------------------


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
        out). A metric whose name is already a column (``seed`` when seeds are swept, say) is
        renamed ``<name>_metric``, so column names stay unique.

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
    taken = {"job", *override_keys, *STATUS_COLUMNS}
    renamed = {key: f"{key}_metric" if key in taken else key for key in metric_keys}
    rows = [
        {
            "job": job["job"],
            **job["overrides"],
            "status": job["status"],
            "error": job["error"],
            **{renamed[key]: value for key, value in job["metrics"].items()},
        }
        for job in jobs
    ]
    columns = ["job", *override_keys, *STATUS_COLUMNS, *renamed.values()]
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


# --------------------------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------------------------


def write_summary(sweep_dir: str | os.PathLike) -> Path:
    """Write ``summary.csv``, the :func:`collect` table, into the sweep directory.

    Parameters
    ----------
    sweep_dir : str or path-like
        The sweep directory.

    Returns
    -------
    pathlib.Path
        The path of ``summary.csv``.

    Raises
    ------
    NotADirectoryError
        If ``sweep_dir`` is not a directory.
    """
    return _write_summary(collect(sweep_dir), Path(sweep_dir))


def write_report(sweep_dir: str | os.PathLike) -> Path:
    """Write ``summary.csv``, ``report.md`` and ``plots/*.png`` into the sweep directory.

    ``report.md`` gives the job counts, a table of the failed jobs and, over the done jobs
    grouped by every override except ``seed``, the mean ± std of each metric of
    :data:`REPORT_METRICS` that some job has. The plots are
    ``test_accuracy_vs_noise_rate.png``, ``detection_precision_recall.png`` and
    ``noise_matrices/<job>.png``; each is skipped (logged at INFO) when its data is missing.
    Failed and incomplete jobs never make this fail.

    Parameters
    ----------
    sweep_dir : str or path-like
        The sweep directory.

    Returns
    -------
    pathlib.Path
        The path of ``report.md``.

    Raises
    ------
    NotADirectoryError
        If ``sweep_dir`` is not a directory.
    """
    sweep = _check_sweep_dir(sweep_dir)
    summary = collect(sweep)
    _write_summary(summary, sweep)
    done = _done_jobs(summary)
    plots = _write_plots(done, sweep) if len(done) else []
    markdown = _render_report(summary, done, sweep, plots)
    return _write_atomically(sweep / "report.md", lambda tmp: tmp.write_text(markdown, encoding="utf-8"))


def _write_summary(summary: pd.DataFrame, sweep: Path) -> Path:
    """Write a collected table as ``summary.csv`` in ``sweep``."""
    return _write_atomically(sweep / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))


def _write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write`` on a temporary sibling of ``path``, then rename it to ``path``."""
    # A reader (or the callback and the CLI writing the same sweep at once) never sees half a file.
    with atomic_path(path) as temporary:
        write(temporary)
    return path


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


# --------------------------------------------------------------------------------------------
# report.md
# --------------------------------------------------------------------------------------------


def _render_report(summary: pd.DataFrame, done: pd.DataFrame, sweep: Path, plots: list[Path]) -> str:
    """The whole markdown text of ``report.md``."""
    shared = shared_columns(summary)
    sections = [_header(summary, sweep, shared), _failed_section(summary, shared)]
    if len(done):
        sections.append(_recovery_section(done))
        sections.append(_no_harm_section(done))
        sections.append(_results_section(done, [c for c in _group_columns(done) if c not in shared]))
        sections.append(_plots_section(plots, sweep))
    else:
        sections.append("No job has finished successfully, so there is nothing to aggregate.")
    return "\n\n".join(section for section in sections if section) + "\n"


def shared_columns(summary: pd.DataFrame) -> list[str]:
    """The override columns with one value for every job of a :func:`collect` frame.

    The report lists them once, in its header, rather than in every row of its tables.
    """
    return [
        c for c in override_columns(summary)
        if len(summary) and summary[c].notna().all() and summary[c].nunique() == 1
    ]


def _header(summary: pd.DataFrame, sweep: Path, shared: list[str]) -> str:
    """Title, sweep directory, job counts and the settings every job shares."""
    counts = summary["status"].value_counts()
    lines = [
        "# Sweep report",
        "",
        f"Sweep directory: `{sweep.resolve()}`",
        "",
        f"Jobs: {len(summary)} — {counts.get('done', 0)} done, {counts.get('failed', 0)} failed, "
        f"{counts.get('incomplete', 0)} incomplete.",
    ]
    if shared:
        lines += ["", "Every job: " + " ".join(f"`{c}={_format_value(summary[c].iloc[0])}`" for c in shared)]
    incomplete = summary.loc[summary["status"] == "incomplete", "job"].tolist()
    if incomplete:
        lines += [
            "",
            "Incomplete jobs (killed, still running, or unreadable metrics.json): "
            + ", ".join(map(str, incomplete)),
        ]
    return "\n".join(lines)


def _failed_section(summary: pd.DataFrame, shared: list[str]) -> str:
    """A table of the failed jobs (their overrides but the shared ones), or nothing when none failed."""
    failed = summary[summary["status"] == "failed"]
    if failed.empty:
        return ""
    columns = [c for c in override_columns(summary) if c not in shared]
    rows = [
        [row["job"], _overrides_text(row, columns), _shorten(row["error"])]
        for _, row in failed.iterrows()
    ]
    return "## Failed jobs\n\n" + _markdown_table(["job", "overrides", "error"], rows)


def _overrides_text(row: pd.Series, columns: list[str]) -> str:
    """``key=value`` for each override the job has, space-separated."""
    return " ".join(f"{c}={_format_value(row[c])}" for c in columns if not _is_missing(row[c]))


def _shorten(text: str) -> str:
    """An error message cut to a table-friendly length (failure.json has all of it)."""
    text = str(text)
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _results_section(done: pd.DataFrame, group_columns: list[str]) -> str:
    """The main table: mean ± std of each reported metric per configuration."""
    metrics = [m for m in REPORT_METRICS if m in done.columns and _numeric(done[m]).notna().any()]
    header = [*group_columns, "n", *metrics]
    rows = [
        [
            *(_format_value(value) for value in key),
            str(len(rows)),
            *(_format_mean_std(_numeric(rows[m])) for m in metrics),
        ]
        for key, rows in _groups(done, group_columns)
    ]
    by = ", ".join(f"`{c}`" for c in group_columns) or "nothing (all jobs form one group)"
    note = (
        f"Done jobs grouped by {by}; each cell is the mean ± sample standard deviation (ddof=1) "
        "over the jobs of the group (its seeds), the std omitted when fewer than two jobs have "
        "the metric. `gain` is `test_accuracy - baseline_test_accuracy`, per job, then averaged."
    )
    return "## Results\n\n" + note + "\n\n" + _markdown_table(header, rows)


# Overrides that describe the problem rather than the method: recovery is pooled over them.
PROBLEM_COLUMNS = ("dataset", "classifier", "seed", "noise.rate")
# The reference's configuration (cleanlab's CleanLearning), the baseline of the cost column:
# swept either as its method bundle or as the groups it sets.
REFERENCE_METHOD = {
    "method": "reference", "cv": "stratified", "detection": "prune_by_noise_rate", "strategy": "remove",
}


def _recovery_section(done: pd.DataFrame) -> str:
    """Recovered fraction of the accuracy lost to noise, per method and noise rate.

    For one seed, ``sum(test_accuracy - baseline) / sum(clean_labels - baseline)`` over every
    dataset and classifier of the sweep: the share of all the accuracy that noise took away
    which cleaning gave back. A ratio of sums, because a per-job ratio explodes where noise
    barely hurt; the mean of the per-job ratios (jobs that lost accuracy) is shown beside it.
    Both: then mean ± std over seeds. Cost: the mean of cross-validation (as computed, cache or
    not), detection and final-fit seconds, relative to the reference configuration.
    """
    needed = {"test_accuracy", "baseline_test_accuracy", "clean_labels_test_accuracy", "noise.rate", "seed"}
    if not needed <= set(done.columns):
        return ""
    methods = [c for c in _group_columns(done) if c not in PROBLEM_COLUMNS]
    # An override every job shares (experiment=recovery, cache_dir=...) names no method.
    methods = [c for c in methods if done[c].nunique(dropna=False) > 1] or methods
    jobs = done.assign(
        _gain=_numeric(done["test_accuracy"]) - _numeric(done["baseline_test_accuracy"]),
        _lost=_numeric(done["clean_labels_test_accuracy"]) - _numeric(done["baseline_test_accuracy"]),
        _cost=sum(_numeric(done[c]).fillna(0) for c in COST_COLUMNS if c in done.columns),
    )
    rates = sorted(jobs["noise.rate"].dropna().unique())
    reference_cost = _reference_cost(jobs, methods)
    rows = []
    for key, rows_of_method in _groups(jobs, methods):
        pooled = pooled_recovery(
            rows_of_method["_gain"], rows_of_method["_lost"], [rows_of_method["noise.rate"], rows_of_method["seed"]]
        )
        lost = rows_of_method[rows_of_method["_lost"] > 0]
        per_job = (lost["_gain"] / lost["_lost"]).groupby([lost["noise.rate"], lost["seed"]]).mean()
        cells = [_format_mean_std(recovered.xs(rate, level="noise.rate"))
                 if rate in recovered.index.get_level_values(0) else _MISSING
                 for recovered in (pooled, per_job) for rate in rates]
        cost = rows_of_method["_cost"].mean() / reference_cost if reference_cost else np.nan
        rows.append([*(_format_value(v) for v in key), *cells, "" if np.isnan(cost) else f"{cost:.2f}×"])
    header = [
        *methods, *(f"recovered at noise {rate:g}" for rate in rates),
        *(f"per-job mean at noise {rate:g}" for rate in rates), "cost",
    ]
    note = (
        "Share of the test accuracy lost to label noise that cleaning recovered: per seed, "
        "Σ(test_accuracy − baseline_test_accuracy) / Σ(clean_labels_test_accuracy − baseline_test_accuracy) "
        f"over the {jobs['dataset'].nunique() if 'dataset' in jobs else 1} dataset(s) and "
        f"{jobs['classifier'].nunique() if 'classifier' in jobs else 1} classifier(s) of the sweep, "
        "then mean ± std over seeds (1 = as good as training on the true labels, 0 = no better than "
        "training on the noisy ones). Per-job mean: the mean over those jobs of each job's own "
        "(test_accuracy − baseline_test_accuracy) / (clean_labels_test_accuracy − baseline_test_accuracy) "
        "(jobs that lost accuracy to the noise), then mean ± std over seeds; it swings where noise barely "
        "hurt. Cost: mean seconds of cross-validation (as computed, cached or "
        "not), detection and final fit per job, relative to the reference configuration "
        "(method=reference, or cv=stratified, detection=prune_by_noise_rate, strategy=remove)."
    )
    return "## Recovered accuracy\n\n" + note + "\n\n" + _markdown_table(header, rows)


#: A method does harm in a cell where its mean test accuracy is this far below the noisy baseline's.
HARM_THRESHOLD = 0.01
# The cells of the do-no-harm check: one problem each, averaged over seeds.
CELL_COLUMNS = ("dataset", "noise", "noise.rate", "classifier")


def _no_harm_section(done: pd.DataFrame) -> str:
    """Per method: its cells (dataset, noise kind, rate, classifier) against the noisy baseline.

    A cell's accuracy is the mean over its seeds; a method does harm in a cell when that mean
    is more than :data:`HARM_THRESHOLD` below the mean of the model trained on the noisy
    labels. Cost: the median over jobs of each job's cost over the reference job of the same
    cell and seed. Then every cell, with the baseline, the clean-label model and each method.
    """
    needed = {"method", "test_accuracy", "baseline_test_accuracy", "clean_labels_test_accuracy", "seed"}
    if not needed <= set(done.columns) or done["method"].nunique() < 2:
        return ""
    cells = [c for c in CELL_COLUMNS if c in done.columns]
    jobs = done.assign(
        _accuracy=_numeric(done["test_accuracy"]), _baseline=_numeric(done["baseline_test_accuracy"]),
        _clean=_numeric(done["clean_labels_test_accuracy"]),
        _cost=sum(_numeric(done[c]).fillna(0) for c in COST_COLUMNS if c in done.columns),
    )
    by_cell = jobs.groupby([*cells, "method"], dropna=False)[["_accuracy", "_baseline", "_clean"]].mean()
    by_cell["_delta"] = by_cell["_accuracy"] - by_cell["_baseline"]
    reference_cost = jobs[jobs["method"] == "reference"].set_index([*cells, "seed"])["_cost"]
    summary_rows = []
    for method, rows in by_cell.groupby(level="method", sort=False):
        worst = rows["_delta"].idxmin()
        harmed = int((rows["_delta"] < -HARM_THRESHOLD).sum())
        own = jobs[jobs["method"] == method].set_index([*cells, "seed"])["_cost"]
        ratio = (own / reference_cost.reindex(own.index)).median() if len(reference_cost) else np.nan
        summary_rows.append([
            method, str(len(rows)), str(harmed), f"{rows['_delta'].mean() * 100:+.2f}",
            f"{rows['_delta'].min() * 100:+.2f} ({', '.join(_format_value(v) for v in worst[:-1])})",
            _MISSING if np.isnan(ratio) else f"{ratio:.2f}×",
        ])
    summary = _markdown_table(
        ["method", "cells", f"cells > {HARM_THRESHOLD * 100:g} pt below baseline", "mean Δ (pt)",
         "worst Δ (pt) and cell", "cost (median per job)"], summary_rows,
    )
    methods = list(dict.fromkeys(jobs["method"]))
    table = by_cell.unstack("method")
    cell_rows = [
        [*(_format_value(v) for v in key), f"{row[('_baseline', methods[0])]:.3f}", f"{row[('_clean', methods[0])]:.3f}",
         *(f"{row[('_accuracy', m)]:.3f} ({(row[('_accuracy', m)] - row[('_baseline', m)]) * 100:+.1f})"
           for m in methods)]
        for key, row in table.iterrows()
    ]
    note = (
        f"Each cell ({', '.join(cells)}) averages its seeds. Δ = mean test accuracy − mean test accuracy of the "
        f"same classifier trained on the noisy labels, in points; a method does harm in a cell where Δ < "
        f"−{HARM_THRESHOLD * 100:g}. Cost: per job, (cross-validation as computed + detection + final fit) over "
        "the reference job of the same cell and seed; the median over jobs."
    )
    return (
        "## Do no harm\n\n" + note + "\n\n" + summary + "\n\n"
        + _markdown_table([*cells, "noisy baseline", "clean labels", *(f"{m} (Δ pt)" for m in methods)], cell_rows)
    )


def pooled_recovery(gain: pd.Series, lost: pd.Series, by) -> pd.Series:
    """The recovered fraction of each group of ``by`` (e.g. noise rate and seed): ``Σ gain / Σ lost``.

    ``gain`` is each job's test accuracy minus its noisy baseline, ``lost`` the clean-label
    model's minus the same baseline. A group that lost nothing gives NaN.
    """
    sums = pd.DataFrame({"gain": gain, "lost": lost}).groupby(by).sum()
    return (sums["gain"] / sums["lost"]).replace([np.inf, -np.inf], np.nan)


COST_COLUMNS = ("time_cv_compute_s", "time_detect_s", "time_final_fit_s")


def _reference_cost(jobs: pd.DataFrame, methods: list[str]) -> float:
    """Mean cost of the jobs in the reference configuration (0 when the sweep has none)."""
    reference = jobs
    for column in methods:
        if column not in REFERENCE_METHOD:
            return 0.0
        reference = reference[reference[column].astype(str) == REFERENCE_METHOD[column]]
    return float(reference["_cost"].mean()) if len(reference) else 0.0


def _format_mean_std(values: pd.Series) -> str:
    """``"0.912 ± 0.004"`` over the non-missing values; no std for a single value."""
    values = values.dropna()
    if values.empty:
        return _MISSING
    if len(values) == 1:
        return f"{values.iloc[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _plots_section(plots: list[Path], sweep: Path) -> str:
    """Links to the written plots, relative to the sweep directory."""
    if not plots:
        return ""
    links = [f"![{p.relative_to(sweep / PLOTS_DIR).with_suffix('').as_posix()}]"
             f"({p.relative_to(sweep).as_posix()})" for p in plots]
    return "## Plots\n\n" + "\n\n".join(links)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown pipe table; cells are escaped so a ``|`` or newline cannot break it."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(_escape_cell(cell) for cell in line) + " |" for line in lines)


def _escape_cell(cell) -> str:
    """One markdown table cell."""
    return " ".join(str(cell).split()).replace("|", "\\|")


def _format_value(value) -> str:
    """An override value as it would be typed on the command line; missing → ``—``."""
    if _is_missing(value):
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    return str(value)


def _is_missing(value) -> bool:
    """True for a missing scalar (None, NaN, pd.NA); False for anything else."""
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def _write_plots(done: pd.DataFrame, sweep: Path) -> list[Path]:
    """Every plot whose data exists, under ``sweep/plots``; returns the written paths."""
    group_columns = _group_columns(done)
    written = []
    for plot in (_plot_accuracy_vs_noise_rate, _plot_detection_precision_recall, _plot_noise_matrices):
        try:
            written += plot(done, group_columns, sweep)
        except Exception:
            # A figure is a convenience: losing one must not lose the tables of a long sweep.
            log.warning("%s failed; the report goes on without it", plot.__name__, exc_info=True)
    return written


def _new_figure(n_panels: int = 1, width: float = 5.0, height: float = 4.0):
    """A figure with ``n_panels`` axes side by side, on an Agg canvas (no pyplot, no GUI)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Not pyplot: its global figure list and backend are the user's; this figure is freed with
    # its last reference, so there is nothing to close.
    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, n_panels, squeeze=False)[0]


def _save_figure(fig, path: Path) -> Path:
    """Save a figure as PNG, atomically."""
    return _write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def _skip(plot: str, reason: str) -> list[Path]:
    """Log why a plot was not drawn; no path was written."""
    log.info("Skipping %s: %s", plot, reason)
    return []


def _mean_std_by(rows: pd.DataFrame, by: str, value: str) -> pd.DataFrame:
    """Mean and std (0 where undefined) of ``value`` per ``by``, in order of first appearance."""
    stats = rows.groupby(by, dropna=False, sort=False)[value].agg(["mean", "std"])
    return stats.fillna({"std": 0.0})


def _label(columns: list[str], key: tuple) -> str:
    """A legend label for one line: the value alone, or ``k=v, ...`` for several keys."""
    if len(columns) == 1:
        return _format_value(key[0])
    return ", ".join(f"{c}={_format_value(v)}" for c, v in zip(columns, key))


#: Overrides that are axes or panels of the plots rather than lines or bars of their own.
_PLOT_AXES = ("noise.rate", "seed")
#: Reference accuracies drawn beside the cleaned model's: (metric, legend name, line style).
_REFERENCE_LINES = (
    ("baseline_test_accuracy", "baseline (noisy labels)", "--"),
    ("clean_labels_test_accuracy", "clean labels (oracle)", ":"),
)


def swept_columns(done: pd.DataFrame, group_columns: list[str], exclude=()) -> list[str]:
    """The overrides that vary across the done jobs (method, strategy, detection, classifier, ...).

    An override every job shares is a setting of the sweep, not something it compares; seeds and
    the noise rate (an axis) are never among them, nor the columns in ``exclude``.
    """
    return [c for c in group_columns
            if c not in (*_PLOT_AXES, *exclude) and done[c].nunique(dropna=False) > 1]


def accuracy_lines(rows: pd.DataFrame, column: str | None) -> list[tuple[str, pd.DataFrame, str, str | None]]:
    """The lines of one accuracy-vs-noise panel: ``(label, mean/std per noise rate, style, value)``.

    A solid line of ``test_accuracy`` per value of ``column`` (one line for all rows when
    ``column`` is None), then the reference accuracies when the jobs have them: one line when
    every value shares it (the baseline of a strategy sweep; ``value`` None), else a line per
    value (the baseline of each classifier of a classifier sweep; ``value`` names it).
    """
    rows = rows.assign(x=_numeric(rows["noise.rate"]))
    values = _groups(rows, [column] if column else [])
    lines = []
    for key, part in values:
        stats = _mean_std_by(part.assign(y=_numeric(part["test_accuracy"])).dropna(subset=["x", "y"]), "x", "y")
        if len(stats):
            value = _format_value(key[0]) if column else "cleaned"
            lines.append((value, stats.sort_index(), "-", value))
    for metric, name, style in _REFERENCE_LINES:
        if metric not in rows:
            continue
        per_value = []
        for key, part in values:
            stats = _mean_std_by(part.assign(y=_numeric(part[metric])).dropna(subset=["x", "y"]), "x", "y")
            if len(stats):
                per_value.append((_format_value(key[0]) if column else "cleaned", stats.sort_index()))
        if not per_value:
            continue
        means = [stats["mean"] for _, stats in per_value]
        if len(per_value) == 1 or all(m.index.equals(means[0].index) and np.allclose(m, means[0])
                                      for m in means[1:]):
            lines.append((name, per_value[0][1], style, None))  # one shared line, not identical copies
        else:
            lines += [(f"{value}: {name}", stats, style, value) for value, stats in per_value]
    return lines


def _new_grid(n_rows: int, n_cols: int, width: float = 5.0, height: float = 4.0):
    """A figure with an ``n_rows`` x ``n_cols`` grid of axes, on an Agg canvas (see :func:`_new_figure`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def _plot_accuracy_vs_noise_rate(
    done: pd.DataFrame, group_columns: list[str], sweep: Path
) -> list[Path]:
    """Test accuracy against ``noise.rate``: a panel per swept override (a row of panels per
    dataset), a line per value of that override, with the baseline and clean-label accuracies."""
    name = "test_accuracy_vs_noise_rate.png"
    if "noise.rate" not in group_columns or "test_accuracy" not in done:
        return _skip(name, "needs a `noise.rate` override and a test_accuracy metric")
    rows = done[_numeric(done["noise.rate"]).notna() & _numeric(done["test_accuracy"]).notna()]
    if rows.empty:
        return _skip(name, "no done job has a numeric noise.rate and a test_accuracy")
    several_datasets = "dataset" in rows and rows["dataset"].nunique(dropna=False) > 1
    datasets = _groups(rows, ["dataset"] if several_datasets else [])
    columns = swept_columns(rows, group_columns, exclude=("dataset",) if several_datasets else ()) or [None]
    fig, axes = _new_grid(len(datasets), len(columns))
    for axes_row, (dataset_key, dataset_rows) in zip(axes, datasets):
        for ax, column in zip(axes_row, columns):
            colours = {}  # a value's reference lines take the colour of its own line; shared ones black
            for label, stats, style, value in accuracy_lines(dataset_rows, column):
                drawn = ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], linestyle=style, capsize=3,
                                    marker="o" if style == "-" else None, label=label,
                                    color=colours.get(value, "black") if style != "-" else None)
                if style == "-":
                    colours[value] = drawn.lines[0].get_color()
            title = [f"dataset={_format_value(dataset_key[0])}"] if several_datasets else []
            title += [f"by {column}"] if column else []
            ax.set(xlabel="noise.rate", ylabel="test_accuracy (mean ± std)", title=", ".join(title))
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
    return [_save_figure(fig, sweep / PLOTS_DIR / name)]


def _plot_detection_precision_recall(
    done: pd.DataFrame, group_columns: list[str], sweep: Path
) -> list[Path]:
    """Grouped bars of detection precision and recall, a panel per swept override, a pair of bars
    per value (mean ± std over the jobs with that value)."""
    name = "detection_precision_recall.png"
    metrics = ["detection_precision", "detection_recall"]
    if not set(metrics) <= set(done.columns):
        return _skip(name, "no job has detection_precision and detection_recall (no injected noise?)")
    rows = done.assign(**{m: _numeric(done[m]) for m in metrics}).dropna(subset=metrics, how="all")
    if rows.empty:
        return _skip(name, "no done job has detection precision or recall")
    # Nothing swept but seeds and noise: each job's own filter_by metric still names its method.
    columns = swept_columns(rows, group_columns) or (["filter_by"] if "filter_by" in rows else [None])
    widths = [rows[c].nunique(dropna=False) if c else 1 for c in columns]
    fig, (axes,) = _new_grid(1, len(columns), width=max(5.0, 1.2 * max(widths) + 2))
    width = 0.4
    for ax, column in zip(axes, columns):
        categories = rows[column].map(_format_value) if column else pd.Series("all jobs", index=rows.index)
        panel = rows.assign(category=categories)
        for offset, metric in zip((-width / 2, width / 2), metrics):
            stats = _mean_std_by(panel, "category", metric)
            ax.bar(np.arange(len(stats)) + offset, stats["mean"], width, yerr=stats["std"], capsize=3, label=metric)
        crowded = len(stats) > 3  # long method names overlap unless tilted
        ax.set_xticks(np.arange(len(stats)), stats.index, rotation=30 if crowded else 0,
                      ha="right" if crowded else "center")
        ax.set(xlabel=column or "", ylabel="mean ± std over jobs", ylim=(0, 1.05))
        ax.legend(fontsize="small")
    return [_save_figure(fig, sweep / PLOTS_DIR / name)]


def _plot_noise_matrices(done: pd.DataFrame, group_columns: list[str], sweep: Path) -> list[Path]:
    """Estimated vs injected noise-matrix heatmaps, for the first seed of each configuration."""
    files = _NOISE_MATRIX_FILES.values()
    candidates = done[[all((sweep / job / f).is_file() for f in files) for job in done["job"]]]
    if candidates.empty:
        return _skip("noise_matrices/", "no done job has both " + " and ".join(files))
    firsts = [_first_seed(rows) for _, rows in _groups(candidates, group_columns)]
    written = []
    for row in firsts[:MAX_NOISE_MATRIX_PLOTS]:
        title = f"job {row['job']}: {_overrides_text(row, override_columns(done))}"
        written += _plot_noise_matrix(sweep / row["job"], sweep / PLOTS_DIR / "noise_matrices", title)
    return written


def _first_seed(rows: pd.DataFrame) -> pd.Series:
    """The row with the smallest seed (the first row if there is no seed column)."""
    # Job numbers need not follow seeds: the order of a sweep's overrides is the user's.
    return rows.sort_values("seed", kind="stable").iloc[0] if "seed" in rows else rows.iloc[0]


def _plot_noise_matrix(job_dir: Path, out_dir: Path, title: str) -> list[Path]:
    """One job's estimated and injected noise matrices side by side, on one colour scale."""
    name = f"noise_matrices/{job_dir.name}.png"
    try:
        matrices = {label: _read_matrix(job_dir / f) for label, f in _NOISE_MATRIX_FILES.items()}
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        return _skip(name, f"unreadable noise matrix in {job_dir} ({exc})")
    shapes = {m.shape for m in matrices.values()}
    if len(shapes) != 1 or len(set(next(iter(shapes)))) != 1:
        return _skip(name, f"the noise matrices are not square and of one shape: {shapes}")
    fig, axes = _new_figure(2, width=4.5)
    for ax, (label, matrix) in zip(axes, matrices.items()):
        image = _draw_heatmap(ax, matrix)
        ax.set_title(label)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="P(given label | true label)")
    fig.suptitle(title)
    return [_save_figure(fig, out_dir / f"{job_dir.name}.png")]


def _read_matrix(path: Path) -> pd.DataFrame:
    """A K×K matrix CSV with class names as header and index."""
    matrix = read_matrix(path)
    matrix.index = matrix.index.map(str)  # index parses as ints, the header as strings
    return matrix.astype(float)


def _draw_heatmap(ax, matrix: pd.DataFrame):
    """A heatmap of a noise matrix on [0, 1] (rows given, columns true), values written in."""
    image = ax.imshow(matrix.to_numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
    ticks = np.arange(len(matrix))
    ax.set_xticks(ticks, matrix.columns, rotation=90 if len(matrix) > 5 else 0)
    ax.set_yticks(ticks, matrix.index)
    ax.set(xlabel="true label", ylabel="given label")
    if len(matrix) <= 10:  # beyond that the numbers no longer fit in the cells
        for (i, j), value in np.ndenumerate(matrix.to_numpy()):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if value > 0.5 else "white")
    return image


# --------------------------------------------------------------------------------------------
# Entry points: Hydra callback and command line
# --------------------------------------------------------------------------------------------


def _report_and_log(sweep_dir: str | os.PathLike) -> Path:
    """Write the report and log the one line that says where it is."""
    path = write_report(sweep_dir)
    log.info("Sweep report: %s", path)
    return path


class SweepSummary(Callback):
    """Hydra callback: write ``summary.csv``, ``report.md`` and plots when a multirun ends.

    Register it in the Hydra config::

        hydra:
          callbacks:
            sweep_summary:
              _target_: runner.sweep.report.SweepSummary

    cleanrun's jobs record a failure in their directory and return, so Hydra reaches
    ``on_multirun_end`` even when some failed; the report lists them, and then the sweep exits
    with status 1. A sweep killed before its end can be reported with
    ``python -m runner.sweep.report DIR``.
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        """Write the report of ``config.hydra.sweep.dir``; log, never raise, on error.

        Parameters
        ----------
        config : omegaconf.DictConfig
            The sweep's config; only ``hydra.sweep.dir`` is read.
        **kwargs
            Ignored (Hydra's callback signature).
        """
        try:
            _report_and_log(config.hydra.sweep.dir)
            failed = int((collect(config.hydra.sweep.dir)["status"] == "failed").sum())
        except Exception:
            # A broken report must not turn the sweep into a failure.
            log.exception("Could not write the sweep report; retry with `python -m runner.sweep.report DIR`")
            return
        if failed:
            log.error("%d job(s) of the sweep failed: see report.md", failed)
            raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m runner.sweep.report DIR`` (``cleanrun-report DIR``).

    Writes ``summary.csv``, ``report.md`` and ``plots/`` into the sweep directory ``DIR`` and
    logs the path of ``report.md``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success.

    Raises
    ------
    SystemExit
        With code 2 and a message naming the path when ``DIR`` is not a directory.
    """
    parser = argparse.ArgumentParser(
        prog="cleanrun-report",
        description="Aggregate a cleanrun sweep directory into summary.csv, report.md and plots/.",
    )
    parser.add_argument(
        "sweep_dir", type=Path, help="the sweep directory (outputs/multirun/<date>/<time>)"
    )
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        parser.error(f"sweep directory {str(args.sweep_dir)!r} does not exist or is not a directory")
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    _report_and_log(args.sweep_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
