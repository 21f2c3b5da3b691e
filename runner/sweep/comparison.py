"""Which differences of a sweep are real: ranks across cells, significance tests and confidence intervals.

A sweep compares the values of one *compared axis* (``method``, ``strategy``, ``detection``,
``classifier``, ...) over many *cells*; a cell is one problem — by default dataset × noise ×
noise rate × classifier, plus any other swept override — and a cell's score for a value is the
mean over its seeds. From the per-job table of :func:`runner.sweep.report.collect` (one row per job: the
overrides, ``status``, the scalar metrics of ``metrics.json``), :func:`compare` computes:

* per cell and value: the mean score with a 95% t-interval over seeds, the change against the
  model trained on the noisy labels (``baseline_test_accuracy`` of the same job) with its 95%
  t-interval, and whether that change is *harm* — a mean more than :data:`HARM_THRESHOLD` below
  the baseline, or an interval wholly below zero ("significantly below", per cell, uncorrected);
* across cells (Demšar, JMLR 2006): each value's mean rank, the Friedman test, and pairwise
  tests with a family-wise correction — the Wilcoxon signed-rank test with Holm's correction
  (default; Benavoli et al., JMLR 2016) or the Nemenyi test — with a critical-difference
  diagram (:func:`runner.sweep.comparison_section.critical_difference_figure`);
* the pooled recovered fraction of the accuracy lost to noise, per value and noise rate, with a
  percentile bootstrap interval that resamples *datasets*, beside the mean ± std over seeds.

The tests come from scipy.stats and scikit-posthocs; nothing here reads a file. The report's section and the
diagram are drawn from the result by :mod:`runner.sweep.comparison_section`.
A failed or incomplete job (or a done job without the score) is excluded and counted, never
imputed; the rank tests use, in each cell, the seeds done for every value. With fewer cells
than a test needs, the result says so instead of giving a p-value.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "ALPHA",
    "CELL_COLUMNS",
    "Comparison",
    "HARM_THRESHOLD",
    "MIN_CELLS",
    "UnknownAxisError",
    "compare",
    "find_axis",
]

#: The overrides that make a cell (those a sweep has), besides any other swept override.
CELL_COLUMNS = ("dataset", "noise", "noise.rate", "classifier")
#: Significance level of every test and confidence level ``1 - ALPHA`` of every interval.
ALPHA = 0.05
#: Fewest cells for a test: with 5 or fewer, the two-sided signed-rank test cannot reach p < 0.05
#: whatever the data (its smallest p-value is 2 / 2**n), and Friedman's chi-square approximation
#: is poor.
MIN_CELLS = 6
#: A value harms a cell when its mean is this far (in accuracy) below the noisy baseline's.
HARM_THRESHOLD = 0.01
#: Bootstrap resamples of the recovered fraction's interval.
BOOTSTRAP_RESAMPLES = 9999
POSTHOC_TESTS = {
    "wilcoxon": "Wilcoxon signed-rank, Holm-corrected",
    "nemenyi": "Nemenyi",
}
BASELINE = "baseline_test_accuracy"
CLEAN = "clean_labels_test_accuracy"


class UnknownAxisError(ValueError):
    """The axis named to compare is not an override of the sweep."""


@dataclass
class Comparison:
    """The result of :func:`compare`.

    Attributes
    ----------
    axis : str or None
        The compared override (None: the sweep has none; ``tests["no_comparison"]`` says why).
    cells : pandas.DataFrame
        ``cells.csv``: one row per cell and compared value (see :func:`compare`).
    tests : dict
        Everything else, JSON-able: counts, mean ranks, the omnibus and pairwise tests, harm per
        value, recovered fractions, and the reason for every test not run.
    scores : pandas.DataFrame or None
        The rank tests' input: one row per cell used, one column per value (paired seed means).
    pvalues : pandas.DataFrame or None
        The pairwise tests' corrected p-values (values × values), when they ran.
    """

    axis: str | None
    cells: pd.DataFrame
    tests: dict
    scores: pd.DataFrame | None = None
    pvalues: pd.DataFrame | None = field(default=None, repr=False)


def find_axis(jobs: pd.DataFrame, axis: str | None = None) -> tuple[str | None, str]:
    """The compared axis of a sweep: ``axis`` if given, else its one swept override besides the cells and seed.

    Parameters
    ----------
    jobs : pandas.DataFrame
        The :func:`runner.sweep.report.collect` frame.
    axis : str, optional
        The override to compare (e.g. from ``--compare``).

    Returns
    -------
    (str or None, str)
        The axis, or None and the reason there is none.

    Raises
    ------
    UnknownAxisError
        If ``axis`` is given but is not an override of the sweep.
    """
    overrides = _override_columns(jobs)
    if axis is not None:
        if axis not in overrides:
            raise UnknownAxisError(
                f"--compare {axis}: not an override of this sweep; its overrides: {', '.join(overrides)}"
            )
        return axis, ""
    # Swept among the done jobs: an override only a failed job has (a debug flag, say) compares nothing.
    done = jobs[jobs["status"].astype(str) == "done"]
    candidates = [c for c in _swept(done, overrides) if c != "seed" and c not in CELL_COLUMNS]
    if len(candidates) == 1:
        return candidates[0], ""
    if not candidates:
        return None, (
            "no override varies besides the cells (" + ", ".join(CELL_COLUMNS) + ") and the seed: "
            "nothing to compare; name an axis with --compare"
        )
    return None, (
        f"several overrides vary besides the cells and the seed ({', '.join(candidates)}): name the "
        "one to compare with --compare; the others then define the cells"
    )


def compare(
    jobs: pd.DataFrame,
    axis: str | None = None,
    *,
    metric: str = "test_accuracy",
    alpha: float = ALPHA,
    posthoc: str = "wilcoxon",
    random_state: int = 0,
) -> Comparison:
    """Compare the values of one axis of a sweep across its cells.

    Parameters
    ----------
    jobs : pandas.DataFrame
        One row per job, as :func:`runner.sweep.report.collect` returns it (or ``summary.csv`` read back):
        ``job``, the override columns, ``status``, ``error``, the scalar metrics.
    axis : str, optional
        The override whose values are compared; found by :func:`find_axis` when not given.
    metric : str
        The score to compare, higher is better (default ``test_accuracy``).
    alpha : float
        Significance level; intervals are ``1 - alpha``.
    posthoc : {"wilcoxon", "nemenyi"}
        The pairwise test: Wilcoxon signed-rank with Holm's correction, or Nemenyi's.
    random_state : int
        Seed of the bootstrap, so a report is the same each time it is rebuilt.

    Returns
    -------
    Comparison
        ``cells`` has the cell columns, the axis, then ``n_seeds``, ``mean``, ``ci_low``,
        ``ci_high`` (of ``metric`` over seeds), ``baseline``, ``delta``, ``delta_ci_low``,
        ``delta_ci_high`` (``metric`` − baseline), ``harm_1pt`` (``delta`` < −HARM_THRESHOLD),
        ``significantly_below`` (``delta_ci_high`` < 0; empty with one seed) and ``rank`` (1 =
        best in the cell; empty for a cell the rank tests could not use).

    Raises
    ------
    ValueError
        If ``axis`` is not an override of the sweep (:class:`UnknownAxisError`) or ``posthoc``
        is unknown.
    """
    if posthoc not in POSTHOC_TESTS:
        raise ValueError(f"posthoc must be one of {', '.join(POSTHOC_TESTS)}, got {posthoc!r}")
    axis, reason = find_axis(jobs, axis)
    if metric not in jobs.columns:
        axis, reason = None, f"no job has {metric}"
    status = jobs["status"].astype(str)
    score = pd.to_numeric(jobs[metric], errors="coerce") if metric in jobs.columns else pd.Series(np.nan, jobs.index)
    done = jobs[(status == "done") & score.notna()]
    tests = {
        "axis": axis,
        "metric": metric,
        "alpha": alpha,
        "jobs": int(len(jobs)),
        "jobs_used": int(len(done)),
        "jobs_excluded": {
            "failed": int((status == "failed").sum()),
            "incomplete": int((status == "incomplete").sum()),
            f"done without {metric}": int(((status == "done") & score.isna()).sum()),
        },
    }
    if axis is None:
        tests["no_comparison"] = reason
        return Comparison(None, pd.DataFrame(), tests)
    cells = _cell_columns(done, axis)
    frame = pd.DataFrame(
        {
            **{c: done[c] for c in cells},
            axis: done[axis],
            "seed": done["seed"] if "seed" in done.columns else done["job"],
            "score": pd.to_numeric(done[metric], errors="coerce"),
            "baseline": pd.to_numeric(done[BASELINE], errors="coerce") if BASELINE in done.columns else np.nan,
            "clean": pd.to_numeric(done[CLEAN], errors="coerce") if CLEAN in done.columns else np.nan,
        }
    )
    values = list(dict.fromkeys(frame[axis]))
    tests.update(values=[_plain(v) for v in values], cell_columns=cells)
    table = _cell_table(frame, cells, axis, alpha)
    scores, dropped = _paired_scores(frame, cells, axis, values)
    tests["cells"] = int(table[cells].drop_duplicates().shape[0]) if cells else 1
    tests["cells_ranked"] = int(len(scores))
    tests["cell_seeds_unpaired"] = dropped
    ranks = scores.rank(axis=1, ascending=False) if len(scores) else scores
    table["rank"] = _ranks_per_row(table, ranks, cells, axis)
    pvalues = _rank_tests(scores, ranks, tests, alpha, posthoc)
    tests["harm"] = _harm(table, axis, values)
    tests["recovered"] = _recovered(frame, axis, values, alpha, random_state)
    return Comparison(axis, table, tests, scores if len(scores) else None, pvalues)


# --------------------------------------------------------------------------------------------
# cells


def _override_columns(jobs: pd.DataFrame) -> list[str]:
    """The override columns of a collect frame: between ``job`` and ``status``."""
    columns = list(jobs.columns)
    return columns[columns.index("job") + 1 : columns.index("status")]


def _swept(jobs: pd.DataFrame, columns) -> list[str]:
    """The columns with more than one value (a job without the override counts as a value of its own)."""
    return [c for c in columns if jobs[c].nunique(dropna=False) > 1]


def _cell_columns(jobs: pd.DataFrame, axis: str) -> list[str]:
    """The cell keys: the sweep's dataset, noise, rate and classifier columns, and every other swept override."""
    overrides = _override_columns(jobs)
    swept = set(_swept(jobs, overrides))
    return [
        c
        for c in overrides
        if c not in (axis, "seed") and ((c in CELL_COLUMNS and jobs[c].notna().any()) or c in swept)
    ]


def _cell_table(frame: pd.DataFrame, cells: list[str], axis: str, alpha: float) -> pd.DataFrame:
    """Per cell and value: mean and interval of the score and of its change against the baseline."""
    jobs = frame.assign(delta=frame["score"] - frame["baseline"])
    grouped = jobs.groupby([*cells, axis], dropna=False, sort=False)
    table = grouped.agg(
        n_seeds=("score", "size"),
        mean=("score", "mean"),
        _std=("score", "std"),
        baseline=("baseline", "mean"),
        delta=("delta", "mean"),
        _delta_std=("delta", "std"),
        _delta_n=("delta", "count"),
    ).reset_index()
    table["ci_low"], table["ci_high"] = _t_interval(table["mean"], table["_std"], table["n_seeds"], alpha)
    table["delta_ci_low"], table["delta_ci_high"] = _t_interval(
        table["delta"], table["_delta_std"], table["_delta_n"], alpha
    )
    table["harm_1pt"] = table["delta"] < -HARM_THRESHOLD
    below = pd.array(table["delta_ci_high"] < 0, dtype="boolean")
    below[table["delta_ci_high"].isna().to_numpy()] = pd.NA
    table["significantly_below"] = below
    columns = [
        *cells,
        axis,
        "n_seeds",
        "mean",
        "ci_low",
        "ci_high",
        "baseline",
        "delta",
        "delta_ci_low",
        "delta_ci_high",
        "harm_1pt",
        "significantly_below",
    ]
    return table[columns]


def _t_interval(mean: pd.Series, std: pd.Series, n: pd.Series, alpha: float):
    """Student-t interval of a mean over ``n`` seeds (NaN for fewer than 2)."""
    n, mean, std = n.to_numpy(dtype=float), mean.to_numpy(dtype=float), std.to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(n > 1, n - 1, np.nan)
        low, high = stats.t.interval(1 - alpha, df, loc=mean, scale=std / np.sqrt(n))
    # Seeds that all agree (e.g. a method that kept every row: Δ = 0 each time) give a zero-width interval.
    agree = (n > 1) & (std == 0)
    return np.where(agree, mean, low), np.where(agree, mean, high)


def _paired_scores(frame, cells, axis, values) -> tuple[pd.DataFrame, int]:
    """Cells × values of seed means over the seeds done for every value; and how many (cell, seed) were dropped."""
    keys = [*cells, "seed"]
    wide = frame.pivot_table(index=keys, columns=axis, values="score", aggfunc="mean", dropna=False, sort=False)
    wide = wide.reindex(columns=values)
    paired = wide.dropna(how="any")
    dropped = int(len(wide.dropna(how="all")) - len(paired))
    if not cells:
        return paired.mean().to_frame().T, dropped
    scores = paired.groupby(level=list(range(len(cells))), dropna=False, sort=False).mean()
    scores.columns.name = axis
    return scores, dropped


def _ranks_per_row(table, ranks, cells, axis) -> np.ndarray:
    """Each row's rank within its cell, or NaN for a cell the rank tests do not use."""
    if not len(ranks):
        return np.full(len(table), np.nan)
    if not cells:
        return table[axis].map(ranks.iloc[0]).to_numpy(dtype=float)
    long = ranks.reset_index().melt(id_vars=cells, var_name=axis, value_name="rank")
    joined = table[[*cells, axis]].merge(long, on=[*cells, axis], how="left")
    return joined["rank"].to_numpy(dtype=float)


# --------------------------------------------------------------------------------------------
# ranks and tests


def _rank_tests(scores, ranks, tests, alpha, posthoc):
    """Mean ranks, Friedman, pairwise tests into ``tests``; the corrected p-values, or None."""
    n_cells, n_values = scores.shape
    tests["mean_ranks"] = None
    tests["omnibus"] = None
    tests["pairwise"] = None
    if n_values < 2:
        tests["no_ranks"] = "only one value of the compared axis has scores"
        return None
    if n_cells < 2:
        tests["no_ranks"] = (
            f"{n_cells} cell{'s' if n_cells != 1 else ''} with every value scored: ranks across cells need at least 2 "
            "(sweep more datasets, noise settings or classifiers); see each cell's change with its interval over seeds"
        )
        return None
    mean_ranks = ranks.mean().sort_values()
    tests["mean_ranks"] = {_plain(k): float(v) for k, v in mean_ranks.items()}
    if n_cells < MIN_CELLS:
        tests["no_tests"] = (
            f"{n_cells} cells: a test needs at least {MIN_CELLS} (with fewer, the signed-rank test cannot reach "
            f"p < {alpha:g} whatever the data); the mean ranks are descriptive only"
        )
        return None
    omnibus_rejects = True
    if n_values >= 3:
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.friedmanchisquare(*(scores[c].to_numpy() for c in scores.columns))
        statistic, p_value = float(result.statistic), float(result.pvalue)
        if np.isnan(p_value):  # every cell ties every value: no difference at all
            statistic, p_value = 0.0, 1.0
        omnibus_rejects = p_value < alpha
        tests["omnibus"] = {
            "test": "Friedman",
            "statistic": statistic,
            "df": n_values - 1,
            "p_value": p_value,
            "n_cells": n_cells,
            "rejects": omnibus_rejects,
        }
    pvalues = _pairwise_pvalues(scores, posthoc)
    pairs = []
    columns = list(scores.columns)
    for i, a in enumerate(columns):
        for b in columns[i + 1 :]:
            p = float(pvalues.loc[a, b])
            significant = bool(omnibus_rejects and p < alpha)
            better = a if mean_ranks[a] < mean_ranks[b] else b
            pairs.append(
                {
                    "a": _plain(a),
                    "b": _plain(b),
                    "p_value": p,
                    "significant": significant,
                    "better": _plain(better) if significant else None,
                }
            )
    tests["pairwise"] = {
        "test": POSTHOC_TESTS[posthoc],
        "gated_by_omnibus": n_values >= 3,
        "pairs": pairs,
    }
    return pvalues


def _pairwise_pvalues(scores: pd.DataFrame, posthoc: str) -> pd.DataFrame:
    """Corrected p-values of every pair of columns (values), paired by row (cell)."""
    # Imported here: it loads seaborn, statsmodels and pyplot (seconds), which only a test needs.
    import scikit_posthocs

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if posthoc == "nemenyi":
            pvalues = scikit_posthocs.posthoc_nemenyi_friedman(scores.reset_index(drop=True))
        else:
            long = scores.reset_index(drop=True).melt(var_name="value", value_name="score")
            # zsplit: a tie (zero difference) counts half for each side, as Demšar (2006) advises.
            pvalues = scikit_posthocs.posthoc_wilcoxon(
                long, val_col="score", group_col="value", zero_method="zsplit", p_adjust="holm"
            )
    pvalues = pvalues.reindex(index=scores.columns, columns=scores.columns)
    return pvalues.fillna(1.0)  # a pair with no difference at all in any cell


# --------------------------------------------------------------------------------------------
# harm and recovery


def _harm(table: pd.DataFrame, axis: str, values) -> dict:
    """Per value: cells, cells more than HARM_THRESHOLD below the baseline, cells significantly below it."""
    out = {}
    for value in values:
        rows = table[table[axis] == value]
        below = rows["significantly_below"]
        out[str(_plain(value))] = {
            "cells": int(len(rows)),
            "mean_delta": _float(rows["delta"].mean()),
            "cells_mean_below_threshold": int(rows["harm_1pt"].sum()),
            "cells_significantly_below": int(below.fillna(False).sum()),
            "cells_with_interval": int(below.notna().sum()),
            "worst_delta": _float(rows["delta"].min()),
        }
    return out


def _recovered(frame, axis, values, alpha, random_state) -> list[dict]:
    """Pooled recovered fraction per value and noise rate: mean ± std over seeds, bootstrap interval over datasets."""
    jobs = frame.assign(gain=frame["score"] - frame["baseline"], lost=frame["clean"] - frame["baseline"])
    jobs = jobs.dropna(subset=["gain", "lost"])
    if jobs.empty:
        return []
    rate = "noise.rate" if "noise.rate" in jobs.columns else None
    dataset = "dataset" if "dataset" in jobs.columns else None
    out = []
    for (value, level), rows in jobs.groupby(
        [axis, rate] if rate else [axis, np.zeros(len(jobs))], dropna=False, sort=False
    ):
        sums = rows.groupby("seed")[["gain", "lost"]].sum()
        per_seed = (sums["gain"] / sums["lost"]).replace([np.inf, -np.inf], np.nan).dropna()
        entry = {
            "value": _plain(value),
            "noise_rate": _plain(level) if rate else None,
            "recovered": _ratio(rows["gain"].sum(), rows["lost"].sum()),
            "seed_mean": _float(per_seed.mean()),
            "seed_std": _float(per_seed.std(ddof=1)),
            "n_seeds": int(len(per_seed)),
            "n_datasets": int(rows[dataset].nunique()) if dataset else 1,
            "ci_low": None,
            "ci_high": None,
        }
        if dataset and entry["n_datasets"] >= 2:
            entry["ci_low"], entry["ci_high"] = _bootstrap_ratio(
                rows.groupby(dataset)[["gain", "lost"]].sum(), alpha, random_state
            )
        out.append(entry)
    order = {v: i for i, v in enumerate(values)}
    return sorted(out, key=lambda e: (order.get(e["value"], len(order)), e["noise_rate"] or 0))


def _bootstrap_ratio(per_dataset: pd.DataFrame, alpha: float, random_state: int):
    """Percentile bootstrap interval of Σ gain / Σ lost, resampling datasets."""

    def ratio_of_sums(gain, lost, axis=-1):
        with np.errstate(invalid="ignore", divide="ignore"):
            return gain.sum(axis=axis) / lost.sum(axis=axis)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate resample (all lost ≤ 0) gives a NaN, reported as such
        result = stats.bootstrap(
            (per_dataset["gain"].to_numpy(), per_dataset["lost"].to_numpy()),
            ratio_of_sums,
            paired=True,
            vectorized=True,
            n_resamples=BOOTSTRAP_RESAMPLES,
            confidence_level=1 - alpha,
            method="percentile",
            rng=np.random.default_rng(random_state),
        )
    return _float(result.confidence_interval.low), _float(result.confidence_interval.high)


def _ratio(a, b):
    return _float(a / b) if b else None


def _float(value):
    """A JSON-able float: None for NaN or infinity."""
    value = float(value)
    return value if np.isfinite(value) else None


def _plain(value):
    """A value of an override column as a JSON-able scalar."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
