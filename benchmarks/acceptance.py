"""Does a method meet issue 27's bar on a finished sweep? No harm, the reference's gain, the cost.

Each argument names a method and the sweep directories of its jobs, ``NAME=DIR[,DIR...]``; the first is the
reference. A cell is dataset × noise kind × rate × classifier, its accuracy the mean over seeds. Printed:

* the do-no-harm table of the sweep report (``runner.sweep.studies.no_harm_section``): per method the cells
  more than 1 point below the noisy baseline, the worst cell and the cost (median per job, over the reference job
  of the same cell and seed);
* the pooled recovered fraction ``Σ(accuracy − baseline) / Σ(clean − baseline)`` per noise kind and rate
  (``benchmarks/gain_ceiling.py``) over the cells where the noise cost accuracy, with the per-cell best of the
  reference, the method named by ``--ceiling`` and no cleaning, chosen with the test labels (a bound, not a rule);
* each criterion, met or not: no harmed cell; the pooled recovered fraction at least the reference's in every
  noise kind and rate; with ``--trusted NAME``, at least ``--share`` of the ceiling; cost at most ``--max-cost``.

    python benchmarks/acceptance.py reference=/work/bench/conf3_reference \\
        recommended=/work/bench/conf3_recommended "recommended, 300 trusted rows=/work/bench/conf3_trusted300" \\
        --ceiling recommended --trusted "recommended, 300 trusted rows"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from runner.sweep.collect import collect
from runner.sweep.studies import CELL_COLUMNS, COST_COLUMNS, HARM_THRESHOLD, no_harm_section

sys.path.insert(0, str(Path(__file__).parent))
from gain_ceiling import ceiling  # noqa: E402

CEILING = "ceiling (best per cell, or none)"


def load(named_sweeps: list[tuple[str, list[str]]]) -> pd.DataFrame:
    """Every finished job of the named sweeps, its ``method`` column set to the name given."""
    frames = []
    for name, sweeps in named_sweeps:
        for sweep in sweeps:
            jobs = collect(sweep)
            failed = int((jobs["status"] != "done").sum())
            if failed:
                print(f"note: {sweep}: {failed} job(s) not finished, left out", file=sys.stderr)
            frames.append(jobs[jobs["status"] == "done"].assign(method=name))
    return pd.concat(frames, ignore_index=True)


def cells(jobs: pd.DataFrame, own_baseline: bool = True) -> pd.DataFrame:
    """One row per cell complete for every method: the first method's noisy baseline and clean-label model, and
    each method's accuracy, with ``own_baseline`` shifted by the difference of the baselines so that it shows
    its gain over its own.

    The shift is zero unless a method's jobs train their baseline on other labels: with trusted rows the
    baseline is trained on the noisy labels plus the verified ones. Against its own baseline such a method is
    credited for its cleaning alone; against the first's, also for the verified labels themselves.
    """
    keys = list(CELL_COLUMNS)
    columns = ["test_accuracy", "baseline_test_accuracy", "clean_labels_test_accuracy"]
    numeric = jobs.assign(**{c: pd.to_numeric(jobs[c]) for c in columns})
    means = numeric.groupby([*keys, "method"], sort=False)[columns].mean()
    methods = list(dict.fromkeys(jobs["method"]))
    accuracy = means["test_accuracy"].unstack("method").dropna()[methods]
    first = means.xs(methods[0], level="method").reindex(accuracy.index)
    if own_baseline:
        shift = means["baseline_test_accuracy"].unstack("method").reindex(accuracy.index)[methods]
        accuracy = accuracy - shift.sub(first["baseline_test_accuracy"], axis=0)
    table = pd.DataFrame({"baseline": first["baseline_test_accuracy"], "clean": first["clean_labels_test_accuracy"]})
    table = table.join(accuracy).reset_index()
    return table.rename(columns={"noise.rate": "rate"})


def cost_ratios(jobs: pd.DataFrame, reference: str) -> pd.Series:
    """Per method, the median over jobs of (cross-validation as computed + detection + final fit) over the
    reference job of the same cell and seed."""
    keys = [*CELL_COLUMNS, "seed"]
    cost = sum(pd.to_numeric(jobs[c]).fillna(0) for c in COST_COLUMNS if c in jobs.columns)
    per_job = jobs.assign(_cost=cost).set_index(keys)
    base = per_job.loc[per_job["method"] == reference, "_cost"]
    return pd.Series(
        {method: (own / base.reindex(own.index)).median() for method, own in per_job.groupby("method")["_cost"]}
    )


def recovered_fractions(table: pd.DataFrame, reference: str, bound: list[str]) -> pd.DataFrame:
    """Pooled recovered fraction per method and noise kind and rate, and the ceiling of the ``bound`` methods.

    Only cells where the noise cost accuracy count: elsewhere there is nothing to recover, and a negative
    "loss" would flip the sign of the sums.
    """
    lost = table[table["clean"] > table["baseline"]]
    pooled = ceiling(lost)
    pooled.loc[CEILING] = ceiling(lost[[*lost.columns[:6], *bound]]).loc[CEILING]
    pooled.columns = [f"{noise} {rate}" for noise, rate in pooled.columns]
    return pooled


def verdicts(table, pooled: dict, costs, reference: str, trusted, share: float, max_cost: float) -> list[str]:
    """One line per criterion and method: what was measured and whether it holds. ``table`` holds each method's
    gain over its own baseline; ``pooled`` maps an accounting's name to its recovered fractions."""
    lines = []
    methods = [m for m in table.columns[6:] if m != reference]
    for method in methods:
        cheap = _holds(costs[method] <= max_cost)
        lines.append(f"{method}: cost {costs[method]:.2f}x the reference (median per job) -> {cheap}")
        delta = table[method] - table["baseline"]
        harmed = int((delta < -HARM_THRESHOLD).sum())
        lines.append(f"{method}: no harm: {harmed} of {len(table)} cells below -1 pt -> {_holds(harmed == 0)}")
        for accounting, recovered in pooled.items():
            short = [c for c in recovered.columns if recovered.loc[method, c] < recovered.loc[reference, c]]
            lines.append(
                f"{method} ({accounting}): recovered at least the reference's in every noise kind and rate: "
                + ("short in " + ", ".join(short) if short else "yes")
                + f" -> {_holds(not short)}"
            )
            if method == trusted:
                ratio = recovered.loc[method] / recovered.loc[CEILING]
                lines.append(
                    f"{method} ({accounting}): at least {share:g} of the ceiling: "
                    + ", ".join(f"{column} {value:.2f}" for column, value in ratio.items())
                    + f" -> {_holds(bool((ratio >= share).all()))}"
                )
    return lines


def _holds(ok: bool) -> str:
    return "holds" if ok else "FAILS"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="NAME=DIR[,DIR...]; the first is the reference")
    parser.add_argument("--ceiling", help="the method whose per-cell best with the reference and none is the ceiling")
    parser.add_argument("--trusted", help="the method held to a share of the ceiling")
    parser.add_argument("--share", type=float, default=0.9)
    parser.add_argument("--max-cost", type=float, default=3.0)
    parser.add_argument("--cells", action="store_true", help="also print every cell (the report's table)")
    args = parser.parse_args(argv)
    named = []
    for argument in args.sweeps:
        name, _, dirs = argument.partition("=")
        if not dirs:
            parser.error(f"{argument!r} is not NAME=DIR[,DIR...]")
        named.append((name, dirs.split(",")))
    jobs = load(named)
    reference = named[0][0]
    section = no_harm_section(jobs)
    print(section if args.cells else section.split("\n\n| dataset")[0], end="\n\n")
    bound = [reference, args.ceiling] if args.ceiling else [reference]
    table = cells(jobs)
    pooled = {"own baseline": recovered_fractions(table, reference, bound)}
    verified = pd.to_numeric(jobs.get("n_trusted", pd.Series(dtype=float)), errors="coerce")
    if (verified > 0).any():
        pooled["noisy baseline"] = recovered_fractions(cells(jobs, own_baseline=False), reference, bound)
    for accounting, recovered in pooled.items():
        print(f"Pooled recovered fraction, each method against its {accounting}, over the cells where noise cost")
        print(f"accuracy ({len(table)} cells complete for every method):\n")
        print(recovered.round(3).to_string(), end="\n\n")
    costs = cost_ratios(jobs, reference)
    for line in verdicts(table, pooled, costs, reference, args.trusted, args.share, args.max_cost):
        print(line)


if __name__ == "__main__":
    main()
