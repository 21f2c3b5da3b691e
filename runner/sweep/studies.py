"""Report sections of the method studies: recovered accuracy and do no harm.

Each section is a callable ``section(done) -> str`` (the done jobs of :func:`runner.sweep.collect.collect`;
an empty string when the sweep lacks what it needs). A preset turns sections on with ``report.sections``,
a list of ``_target_`` nodes (``conf/experiment/recovery.yaml``, ``conf/experiment/robustness.yaml``); any
importable callable of that shape is a section, the way plugins are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from runner.sweep.collect import _group_columns, _groups, _numeric
from runner.sweep.markdown import _MISSING, _format_mean_std, _format_value, _markdown_table

# Overrides that describe the problem rather than the method: recovery is pooled over them.
PROBLEM_COLUMNS = ("dataset", "classifier", "seed", "noise.rate")
# The reference's configuration (cleanlab's CleanLearning), the baseline of the cost column:
# swept either as its method bundle or as the groups it sets.
REFERENCE_METHOD = {
    "method": "reference",
    "cv": "stratified",
    "detection": "prune_by_noise_rate",
    "strategy": "remove",
}


def recovery_section(done: pd.DataFrame) -> str:
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
        cells = [
            _format_mean_std(recovered.xs(rate, level="noise.rate"))
            if rate in recovered.index.get_level_values(0)
            else _MISSING
            for recovered in (pooled, per_job)
            for rate in rates
        ]
        cost = rows_of_method["_cost"].mean() / reference_cost if reference_cost else np.nan
        rows.append([*(_format_value(v) for v in key), *cells, "" if np.isnan(cost) else f"{cost:.2f}×"])
    header = [
        *methods,
        *(f"recovered at noise {rate:g}" for rate in rates),
        *(f"per-job mean at noise {rate:g}" for rate in rates),
        "cost",
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


def no_harm_section(done: pd.DataFrame) -> str:
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
        _accuracy=_numeric(done["test_accuracy"]),
        _baseline=_numeric(done["baseline_test_accuracy"]),
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
        summary_rows.append(
            [
                method,
                str(len(rows)),
                str(harmed),
                f"{rows['_delta'].mean() * 100:+.2f}",
                f"{rows['_delta'].min() * 100:+.2f} ({', '.join(_format_value(v) for v in worst[:-1])})",
                _MISSING if np.isnan(ratio) else f"{ratio:.2f}×",
            ]
        )
    summary = _markdown_table(
        [
            "method",
            "cells",
            f"cells > {HARM_THRESHOLD * 100:g} pt below baseline",
            "mean Δ (pt)",
            "worst Δ (pt) and cell",
            "cost (median per job)",
        ],
        summary_rows,
    )
    methods = list(dict.fromkeys(jobs["method"]))
    table = by_cell.unstack("method")
    cell_rows = [
        [
            *(_format_value(v) for v in key),
            f"{row[('_baseline', methods[0])]:.3f}",
            f"{row[('_clean', methods[0])]:.3f}",
            *(
                f"{row[('_accuracy', m)]:.3f} ({(row[('_accuracy', m)] - row[('_baseline', m)]) * 100:+.1f})"
                for m in methods
            ),
        ]
        for key, row in table.iterrows()
    ]
    note = (
        f"Each cell ({', '.join(cells)}) averages its seeds. Δ = mean test accuracy − mean test accuracy of the "
        f"same classifier trained on the noisy labels, in points; a method does harm in a cell where Δ < "
        f"−{HARM_THRESHOLD * 100:g}. Cost: per job, (cross-validation as computed + detection + final fit) over "
        "the reference job of the same cell and seed; the median over jobs."
    )
    return (
        "## Do no harm\n\n"
        + note
        + "\n\n"
        + summary
        + "\n\n"
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
