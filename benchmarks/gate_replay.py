"""What would the diagonal-dominance gate have done on a sweep of ``method=recommended`` run without it?

A job run with ``cv.validation_gate=none`` records the z test's verdict (``cleaning_used``) and the estimated
noise matrix (``noise_matrix.csv``); the gate would have vetoed the cleaning where that matrix's label margin
(:func:`runner.learn.check.label_margin`) is not positive. Where both pass, the gated run trains on exactly the
rows the ungated one did, so its test accuracy is the job's; elsewhere it is the noisy baseline's. Per cell
(dataset × noise kind × rate × classifier, mean over seeds) this prints the test gain over the noisy baseline of
the run as it was, of the gated replay and of the reference, the cells more than 1 point below the baseline, and
the pooled recovered fraction per noise kind and rate over the cells where the noise cost accuracy.

    python benchmarks/gate_replay.py /work/bench/conf3_recommended /work/bench/conf3_reference
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from runner.learn.check import label_margin
from runner.sweep.collect import collect
from runner.sweep.studies import CELL_COLUMNS, HARM_THRESHOLD, pooled_recovery

NUMERIC = ["test_accuracy", "baseline_test_accuracy", "clean_labels_test_accuracy"]


def _jobs(sweep: str) -> pd.DataFrame:
    jobs = collect(sweep)
    jobs = jobs[jobs["status"] == "done"].copy()
    jobs[NUMERIC] = jobs[NUMERIC].apply(pd.to_numeric)
    jobs["path"] = [Path(sweep) / name for name in jobs["job"]]
    for column in [*CELL_COLUMNS, "seed"]:
        jobs[column] = jobs[column].astype(str)
    return jobs


def replay(ungated: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Per job: the test gain (points) as run, with the gate replayed, and of the reference; the noise's cost."""
    keys = [*CELL_COLUMNS, "seed"]
    margin = [label_margin(pd.read_csv(p / "noise_matrix.csv", index_col=0).to_numpy(float)) for p in ungated["path"]]
    used = ungated["cleaning_used"].astype(str) == "True"
    jobs = ungated[keys].copy()
    jobs["as run"] = 100 * (ungated["test_accuracy"] - ungated["baseline_test_accuracy"])
    jobs["gated"] = jobs["as run"].where(used & (pd.Series(margin, index=ungated.index) > 0), 0.0)
    jobs["lost"] = 100 * (ungated["clean_labels_test_accuracy"] - ungated["baseline_test_accuracy"])
    gains = reference.assign(reference=100 * (reference["test_accuracy"] - reference["baseline_test_accuracy"]))
    return jobs.merge(gains[[*keys, "reference"]], on=keys)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ungated", help="sweep of method=recommended run with cv.validation_gate=none")
    parser.add_argument("reference", help="sweep of method=reference over the same cells and seeds")
    args = parser.parse_args(argv)
    jobs = replay(_jobs(args.ungated), _jobs(args.reference))
    rules = ["as run", "gated", "reference"]
    cells = jobs.groupby(list(CELL_COLUMNS))[[*rules, "lost"]].mean()
    harmed = (cells[rules] < -100 * HARM_THRESHOLD).sum()
    print(
        f"{len(jobs)} jobs, {len(cells)} cells; cells more than {100 * HARM_THRESHOLD:g} pt below the noisy baseline:"
    )
    print(harmed.to_string(), end="\n\n")
    print("Harmed cells (mean test gain over seeds, points):")
    print(cells[(cells[rules] < -100 * HARM_THRESHOLD).any(axis=1)].round(2).to_string(), end="\n\n")
    lost = cells[cells["lost"] > 0]
    by = [lost.index.get_level_values("noise"), lost.index.get_level_values("noise.rate")]
    pooled = pd.DataFrame({rule: pooled_recovery(lost[rule], lost["lost"], by) for rule in rules}).T
    print(f"Pooled recovered fraction over the {len(lost)} cells where the noise cost accuracy:")
    print(pooled.round(3).to_string())


if __name__ == "__main__":
    main()
