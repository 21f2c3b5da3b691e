"""The comparison in words and in a picture: the report's "Which differences are real" section and the
critical-difference diagram of a :class:`runner.sweep.comparison.Comparison`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from runner.sweep.comparison import BASELINE, HARM_THRESHOLD, Comparison, _plain


def critical_difference_figure(comparison: Comparison):
    """The critical-difference diagram of a comparison whose pairwise tests ran (a matplotlib Figure), else None.

    Values joined by a bar are not significantly different (the pairwise tests, gated by the
    Friedman test when there are 3 or more values). The figure has an Agg canvas and no pyplot
    state; the caller saves it.
    """
    if comparison.pvalues is None or comparison.tests.get("mean_ranks") is None:
        return None
    import scikit_posthocs
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tests = comparison.tests
    ranks = pd.Series(tests["mean_ranks"])
    pvalues = comparison.pvalues.copy()
    pvalues.index = pvalues.columns = [str(_plain(v)) for v in pvalues.columns]
    ranks.index = [str(v) for v in ranks.index]
    omnibus = tests.get("omnibus")
    if omnibus is not None and not omnibus["rejects"]:
        pvalues.loc[:, :] = 1.0  # the Friedman test found no difference: no pair is told apart
    fig = Figure(figsize=(7, 1.0 + 0.35 * len(ranks)))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    scikit_posthocs.critical_difference_diagram(ranks, pvalues, alpha=tests["alpha"], ax=ax)
    ax.set_title(
        f"{tests['axis']}: mean rank of {tests['metric']} over {tests['cells_ranked']} cells (1 = best)\n"
        "a bar joins values not significantly different",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def comparison_section(comparison: Comparison, diagram: str | None = None) -> str:
    """The "Which differences are real" section of ``report.md`` (markdown).

    Parameters
    ----------
    comparison : Comparison
    diagram : str, optional
        The critical-difference diagram's path relative to the report, to link.
    """
    tests = comparison.tests
    title = "## Which differences are real\n\n"
    excluded = ", ".join(f"{n} {kind}" for kind, n in tests["jobs_excluded"].items() if n) or "none"
    jobs_line = f"{tests['jobs_used']} of {tests['jobs']} jobs used; excluded (never imputed): {excluded}."
    if comparison.axis is None:
        return title + f"No comparison: {tests['no_comparison']}. {jobs_line}\n"
    axis, alpha = comparison.axis, tests["alpha"]
    cells = " × ".join(tests["cell_columns"]) or "the whole sweep"
    lines = [
        f"Compared: **{axis}** ({len(tests['values'])} values) on `{tests['metric']}`, over {tests['cells']} "
        f"cell{'s' if tests['cells'] != 1 else ''} "
        f"({cells}; each the mean of its seeds). {jobs_line}"
    ]
    if tests.get("cell_seeds_unpaired"):
        n = tests["cell_seeds_unpaired"]
        lines.append(
            f"{n} (cell, seed) pair{'s lack' if n > 1 else ' lacks'} a value of {axis} and "
            f"{'are' if n > 1 else 'is'} left out of the ranks."
        )
    if tests.get("no_ranks"):
        lines.append(f"No rank section: {tests['no_ranks']}.")
    elif tests.get("no_tests"):
        lines.append(f"No significance test: {tests['no_tests']}.")
    omnibus = tests.get("omnibus")
    if omnibus:
        verdict = f"the {axis} values differ" if omnibus["rejects"] else f"no difference between the {axis} values"
        lines.append(
            f"Friedman test: χ²({omnibus['df']}) = {omnibus['statistic']:.2f}, "
            f"p = {_p(omnibus['p_value'])} over {omnibus['n_cells']} cells: {verdict} at α = {alpha:g}."
        )
    pairwise = tests.get("pairwise")
    if pairwise:
        real = [p for p in pairwise["pairs"] if p["significant"]]
        if real:
            listed = "; ".join(
                f"{p['better']} better than {p['b'] if p['better'] == p['a'] else p['a']} (p = {_p(p['p_value'])})"
                for p in real
            )
            lines.append(f"Pairs that differ ({pairwise['test']}, α = {alpha:g}): {listed}. No other pair differs.")
        else:
            after = (
                ": the values differ as a whole, but no single pair does after the correction"
                if omnibus and omnibus["rejects"]
                else ""
            )
            lines.append(f"No pair differs ({pairwise['test']}, α = {alpha:g}){after}.")
    text = title + "\n".join(lines) + "\n\n" + _summary_table(comparison)
    if diagram:
        text += f"\n\n![critical-difference diagram]({diagram})"
    return text + "\n"


def _summary_table(comparison: Comparison) -> str:
    tests = comparison.tests
    ranks = tests.get("mean_ranks") or {}
    values = sorted(tests["values"], key=lambda v: ranks.get(v, np.inf))
    recovered = {(e["value"], e["noise_rate"]): e for e in tests["recovered"]}
    rates = list(dict.fromkeys(e["noise_rate"] for e in tests["recovered"]))
    header = [
        tests["axis"],
        "mean rank",
        "mean Δ (pt)",
        f"cells > {HARM_THRESHOLD * 100:g} pt below",
        "cells significantly below",
        *(
            f"recovered{'' if rate is None else f' at {rate:g}'} [95% CI over datasets] (± std over seeds)"
            for rate in rates
        ),
    ]
    rows = []
    for value in values:
        harm = tests["harm"][str(value)]
        row = [
            str(value),
            f"{ranks[value]:.2f}" if value in ranks else "—",
            "—" if harm["mean_delta"] is None else f"{harm['mean_delta'] * 100:+.2f}",
            f"{harm['cells_mean_below_threshold']} / {harm['cells']}",
            f"{harm['cells_significantly_below']} / {harm['cells_with_interval']}",
        ]
        for rate in rates:
            entry = recovered.get((value, rate))
            row.append(_recovered_text(entry))
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    note = (
        f"Δ: {tests['metric']} − the same classifier's on the noisy labels (`{BASELINE}`), per cell; "
        f"significantly below: the cell's {100 * (1 - tests['alpha']):g}% t-interval over seeds lies wholly "
        "below 0 (per cell, uncorrected; cells with 2+ seeds). Every cell: `cells.csv`; every test: "
        "`comparison.json`."
    )
    return "\n".join(lines) + "\n\n" + note


def _recovered_text(entry) -> str:
    if entry is None or entry["recovered"] is None:
        return "—"
    text = f"{entry['recovered']:.2f}"
    if entry["ci_low"] is not None and entry["ci_high"] is not None:
        text += f" [{entry['ci_low']:.2f}, {entry['ci_high']:.2f}]"
    if entry["seed_std"] is not None:
        text += f" (± {entry['seed_std']:.2f})"
    return text


def _p(p: float) -> str:
    # Three digits, so a p-value just under α does not print as α itself.
    return f"{p:.3g}" if p >= 1e-4 else "< 0.0001"
