"""How much could a rule that picks, per cell, between the methods of a report and no cleaning recover?

Reads the per-cell "Do no harm" table of recorded robustness reports (``runner.sweep.studies``' format:
one row per dataset x noise x rate x classifier with the noisy baseline, the clean-label model and
each method's mean test accuracy over seeds) and prints, per noise kind and rate, the pooled
recovered fraction ``Σ(accuracy − baseline) / Σ(clean − baseline)`` over the cells of

* each method as run;
* the *ceiling*: in every cell the best of the methods and of no cleaning, chosen by the test
  accuracy itself. No rule that decides from the training data alone, and reads nothing but these
  methods' outputs, can beat it on these cells.

The sums run over cell means (seeds averaged first), so the method rows differ slightly from the
report's own "Recovered accuracy" table, which averages the per-seed ratios.

    python benchmarks/gain_ceiling.py benchmarks/results/robustness_fresh_report.md
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

HEADER = re.compile(r"^\| dataset \| noise \| noise\.rate \| classifier \| noisy baseline \| clean labels \|")


def cell_table(report: Path) -> pd.DataFrame:
    """The per-cell table of one report: key columns, ``baseline``, ``clean`` and one column per method."""
    lines = report.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if HEADER.match(line)), None)
    if start is None:
        raise SystemExit(f"{report}: no per-cell 'Do no harm' table")
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    methods = [name.removesuffix(" (Δ pt)") for name in header[6:]]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        # A method's cell reads "0.921 (+13.2)": its mean accuracy, then its gain in points.
        accuracies = [float(cell.split()[0]) for cell in cells[6:]]
        rows.append([*cells[:4], float(cells[4]), float(cells[5]), *accuracies])
    return pd.DataFrame(rows, columns=["dataset", "noise", "rate", "classifier", "baseline", "clean", *methods])


def ceiling(cells: pd.DataFrame) -> pd.DataFrame:
    """Pooled recovered fraction of every method and of the per-cell best choice, by noise kind and rate."""
    methods = list(cells.columns[6:])
    gains = cells[methods].sub(cells["baseline"], axis=0)
    gains["ceiling (best per cell, or none)"] = gains.clip(lower=0).max(axis=1)
    gains["lost"] = cells["clean"] - cells["baseline"]
    sums = gains.groupby([cells["noise"], cells["rate"]]).sum()
    return sums.drop(columns="lost").div(sums["lost"], axis=0).T


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for report in args.reports:
        cells = cell_table(report)
        print(f"{report} ({len(cells)} cells): pooled recovered fraction over cell means")
        print(ceiling(cells).round(3).to_string())
        print()


if __name__ == "__main__":
    main()
