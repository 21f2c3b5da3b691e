"""The plots of the sweep report: test accuracy against the noise rate, detection precision and
recall, noise-matrix heatmaps.

matplotlib is imported only when plotting, and only through its object-oriented API on an Agg
canvas: importing this module or writing a report never changes the user's pyplot backend.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from runner.common.atomic import write_atomically
from runner.run.artifacts import read_matrix
from runner.sweep.collect import _group_columns, _groups, _numeric, override_columns
from runner.sweep.markdown import _format_value, _overrides_text

log = logging.getLogger(__name__)

#: Where the plots go, inside the sweep directory.
PLOTS_DIR = "plots"

#: At most this many noise-matrix heatmaps per report, to keep ``plots/`` small.
MAX_NOISE_MATRIX_PLOTS = 12

_NOISE_MATRIX_FILES = {"estimated": "noise_matrix.csv", "true (injected)": "true_noise_matrix.csv"}


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
    return write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


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
    return [c for c in group_columns if c not in (*_PLOT_AXES, *exclude) and done[c].nunique(dropna=False) > 1]


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
        if len(per_value) == 1 or all(m.index.equals(means[0].index) and np.allclose(m, means[0]) for m in means[1:]):
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


def _plot_accuracy_vs_noise_rate(done: pd.DataFrame, group_columns: list[str], sweep: Path) -> list[Path]:
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
                drawn = ax.errorbar(
                    stats.index,
                    stats["mean"],
                    yerr=stats["std"],
                    linestyle=style,
                    capsize=3,
                    marker="o" if style == "-" else None,
                    label=label,
                    color=colours.get(value, "black") if style != "-" else None,
                )
                if style == "-":
                    colours[value] = drawn.lines[0].get_color()
            title = [f"dataset={_format_value(dataset_key[0])}"] if several_datasets else []
            title += [f"by {column}"] if column else []
            ax.set(xlabel="noise.rate", ylabel="test_accuracy (mean ± std)", title=", ".join(title))
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
    return [_save_figure(fig, sweep / PLOTS_DIR / name)]


def _plot_detection_precision_recall(done: pd.DataFrame, group_columns: list[str], sweep: Path) -> list[Path]:
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
        ax.set_xticks(
            np.arange(len(stats)), stats.index, rotation=30 if crowded else 0, ha="right" if crowded else "center"
        )
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
            ax.text(
                j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="black" if value > 0.5 else "white"
            )
    return image
