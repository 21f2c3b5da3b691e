"""The sweep report: ``summary.csv``, ``report.md`` and plots, from the jobs of a sweep directory.

* :func:`write_summary` writes the :func:`runner.sweep.collect.collect` table as ``summary.csv``;
* :func:`write_report` also writes ``report.md`` (led by which differences are real, then mean ± std
  over seeds, grouped by every other override, plus the sections the jobs' ``report.sections`` turn
  on), ``plots/*.png``, and the comparison of the swept axis (:mod:`runner.sweep.comparison`) as
  ``cells.csv`` and ``comparison.json``;
* :func:`main` is the command line, ``python -m runner.report DIR [--compare AXIS]`` (``cleanrun-report``);
  :class:`runner.sweep.callbacks.SweepSummary` calls it when a multirun ends.

Every file is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import pandas as pd
from hydra.utils import instantiate
from omegaconf import OmegaConf

from runner.common.atomic import write_atomically
from runner.sweep.collect import (
    _check_sweep_dir,
    _done_jobs,
    _group_columns,
    _groups,
    _job_dirs,
    _numeric,
    _with_run_columns,
    collect,
    override_columns,
)
from runner.sweep.comparison import Comparison, UnknownAxisError, compare
from runner.sweep.comparison_section import comparison_section, critical_difference_figure
from runner.sweep.markdown import _format_mean_std, _format_value, _markdown_table, _overrides_text
from runner.sweep.plots import PLOTS_DIR, _save_figure, _write_plots

log = logging.getLogger(__name__)

#: Metrics counted in whole numbers: ``report.md`` shows them without decimals.
COUNT_METRICS = ("n_label_issues", "n_train", "n_test", "n_classes")

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

_MAX_ERROR_CHARS = 300
#: The comparison's files in the sweep directory: one row per cell and compared value, and every test.
CELLS_FILE, COMPARISON_FILE = "cells.csv", "comparison.json"
CRITICAL_DIFFERENCE_PLOT = "critical_difference.png"


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


def write_report(sweep_dir: str | os.PathLike, compare_axis: str | None = None) -> Path:
    """Write ``summary.csv``, ``report.md``, ``cells.csv``, ``comparison.json`` and ``plots/*.png``.

    ``report.md`` gives the job counts, then which differences are real — the comparison of the
    swept axis across cells (:func:`runner.sweep.comparison.compare`: mean ranks, Friedman and
    corrected pairwise tests, Δ against the noisy baseline with intervals, harm, recovered fraction
    with a bootstrap interval), or why there is none — a table of the failed jobs and, over the
    done jobs grouped by every override except ``seed``, the mean ± std of each metric of
    :data:`REPORT_METRICS` that some job has. ``cells.csv`` and ``comparison.json`` hold the
    comparison's cells and tests. The plots are ``critical_difference.png`` (when the tests ran),
    ``test_accuracy_vs_noise_rate.png``, ``detection_precision_recall.png`` and
    ``noise_matrices/<job>.png``; each is skipped (logged at INFO) when its data is missing.
    Failed and incomplete jobs never make this fail.

    Parameters
    ----------
    sweep_dir : str or path-like
        The sweep directory.
    compare_axis : str, optional
        The override to compare (``--compare``); by default the one swept override besides the
        cells' (dataset, noise, noise.rate, classifier) and ``seed``.

    Returns
    -------
    pathlib.Path
        The path of ``report.md``.

    Raises
    ------
    NotADirectoryError
        If ``sweep_dir`` is not a directory.
    runner.sweep.comparison.UnknownAxisError
        If ``compare_axis`` is not an override of the sweep (raised before anything is written).
    ValueError
        If it holds no job directory (it is no sweep): nothing is written.
    """
    sweep = _check_sweep_dir(sweep_dir)
    summary = collect(sweep)
    if summary.empty:
        raise ValueError(
            f"{str(sweep)!r} is not a sweep directory: it has no job directories (subdirectories with "
            ".hydra/overrides.yaml); give outputs/multirun/<date>/<time>"
        )
    # The run's own dataset, seed, ... where they were not swept: the cells and the comparison need them.
    jobs = _with_run_columns(summary)
    comparison = compare(jobs, compare_axis)
    _write_summary(summary, sweep)
    done = _done_jobs(jobs)
    diagram = _write_comparison(comparison, sweep)
    plots = _write_plots(done, sweep) if len(done) else []
    markdown = _render_report(summary, done, sweep, plots, configured_sections(sweep), comparison, diagram)
    return write_atomically(sweep / "report.md", lambda tmp: tmp.write_text(markdown, encoding="utf-8"))


def _write_comparison(comparison: Comparison, sweep: Path) -> Path | None:
    """Write ``cells.csv``, ``comparison.json`` and the critical-difference diagram; the diagram's path, or None."""
    write_atomically(sweep / CELLS_FILE, lambda tmp: comparison.cells.to_csv(tmp, index=False))
    text = json.dumps(comparison.tests, indent=2, allow_nan=False) + "\n"
    write_atomically(sweep / COMPARISON_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    path = sweep / PLOTS_DIR / CRITICAL_DIFFERENCE_PLOT
    try:
        figure = critical_difference_figure(comparison)
    except Exception:
        # A figure is a convenience: losing it must not lose the tables.
        log.warning("the critical-difference diagram failed; the report goes on without it", exc_info=True)
        figure = None
    if figure is None:
        path.unlink(missing_ok=True)  # an earlier report's diagram must not pass for this one's
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save_figure(figure, path)


def _write_summary(summary: pd.DataFrame, sweep: Path) -> Path:
    """Write a collected table as ``summary.csv`` in ``sweep``."""
    return write_atomically(sweep / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))


def configured_sections(sweep: Path) -> list:
    """The extra sections the sweep's jobs turn on (``report.sections`` of their saved config), as callables.

    Each entry is a ``_target_`` node naming a callable ``section(done) -> str``; jobs of one sweep share it.
    """
    for job_dir in _job_dirs(sweep):
        config = job_dir / ".hydra" / "config.yaml"
        if config.is_file():
            # A sweep recorded before report.sections existed has none.
            nodes = OmegaConf.select(OmegaConf.load(config), "report.sections", default=None) or []
            return [instantiate(node, _partial_=True) for node in nodes]
    return []


def _render_report(
    summary: pd.DataFrame,
    done: pd.DataFrame,
    sweep: Path,
    plots: list[Path],
    extra=(),
    comparison: Comparison | None = None,
    diagram: Path | None = None,
) -> str:
    """The whole markdown text of ``report.md``."""
    shared = shared_columns(summary)
    sections = [_header(summary, sweep, shared)]
    if comparison is not None:
        link = diagram.relative_to(sweep).as_posix() if diagram else None
        sections.append(comparison_section(comparison, link).rstrip())
    sections.append(_failed_section(summary, shared))
    if len(done):
        sections += [section(done) for section in extra]
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
        c for c in override_columns(summary) if len(summary) and summary[c].notna().all() and summary[c].nunique() == 1
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
            "Incomplete jobs (killed, still running, or unreadable metrics.json): " + ", ".join(map(str, incomplete)),
        ]
    return "\n".join(lines)


def _failed_section(summary: pd.DataFrame, shared: list[str]) -> str:
    """A table of the failed jobs (their overrides but the shared ones), or nothing when none failed."""
    failed = summary[summary["status"] == "failed"]
    if failed.empty:
        return ""
    columns = [c for c in override_columns(summary) if c not in shared]
    rows = [[row["job"], _overrides_text(row, columns), _shorten(row["error"])] for _, row in failed.iterrows()]
    return "## Failed jobs\n\n" + _markdown_table(["job", "overrides", "error"], rows)


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
            *(_format_mean_std(_numeric(rows[m]), count=m in COUNT_METRICS) for m in metrics),
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


def _plots_section(plots: list[Path], sweep: Path) -> str:
    """Links to the written plots, relative to the sweep directory."""
    if not plots:
        return ""
    links = [
        f"![{p.relative_to(sweep / PLOTS_DIR).with_suffix('').as_posix()}]({p.relative_to(sweep).as_posix()})"
        for p in plots
    ]
    return "## Plots\n\n" + "\n\n".join(links)


def _report_and_log(sweep_dir: str | os.PathLike, compare_axis: str | None = None) -> Path:
    """Write the report and log the one line that says where it is."""
    path = write_report(sweep_dir, compare_axis)
    log.info("Sweep report: %s", path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m runner.report DIR [--compare AXIS]`` (``cleanrun-report``).

    Writes ``summary.csv``, ``report.md``, ``cells.csv``, ``comparison.json`` and ``plots/``
    into the sweep directory ``DIR`` and logs the path of ``report.md``.

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
        With code 2 (a usage error) when ``DIR`` is not a directory or ``AXIS`` is not an override of the
        sweep; with code 1 and one line on stderr naming the path when it is not a sweep directory. Nothing is
        written then.
    """
    parser = argparse.ArgumentParser(
        prog="cleanrun-report",
        description="Aggregate a cleanrun sweep directory into summary.csv, report.md and plots/.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep directory (outputs/multirun/<date>/<time>)")
    parser.add_argument(
        "--compare",
        metavar="AXIS",
        default=None,
        help="the override whose values the report compares across cells (e.g. method, strategy); "
        "default: the one swept override besides dataset, noise, noise.rate, classifier and seed",
    )
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        parser.error(f"sweep directory {str(args.sweep_dir)!r} does not exist or is not a directory")
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    if not _job_dirs(args.sweep_dir):  # refused before collect() warns about it
        raise SystemExit(
            f"{parser.prog}: {str(args.sweep_dir)!r} is not a sweep directory: it has no job "
            "directories (subdirectories with .hydra/overrides.yaml); give outputs/multirun/<date>/<time>"
        )
    try:
        _report_and_log(args.sweep_dir, args.compare)
    except UnknownAxisError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
