"""How method=recommended was chosen: the candidates on the development datasets only.

Reads finished ``experiment=robustness_dev`` sweeps (methods ``reference``, ``guarded_remove``,
``guarded_posterior``, run with ``cv.validation_min_z=0``) and replays each guarded candidate's
decision at stricter thresholds ``min_z``: a job whose held-out gain is not above ``min_z``
standard errors trains on every row, which is the noisy baseline model. Prints, per candidate and
threshold, the do-no-harm count over cells (dataset, noise kind, rate, classifier), the worst
cell, and the pooled recovered fraction per noise kind and rate. A sweep's jobs are labelled
with its directory's name, so that runs of the same method under two criteria stay apart.

    python benchmarks/choose_recommended.py outputs/multirun/robustness_dev outputs/multirun/robustness_dev2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from runner.sweep.collect import collect
from runner.sweep.studies import HARM_THRESHOLD, pooled_recovery

CELL = ["dataset", "noise", "noise.rate", "classifier"]
THRESHOLDS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def replay(jobs: pd.DataFrame, min_z: float) -> pd.Series:
    """Test accuracy had the guard asked for ``min_z`` standard errors (never looser than the run)."""
    gain = jobs["holdout_accuracy_cleaned"] - jobs["holdout_accuracy_kept"]
    used = (gain > 0) & (gain > min_z * jobs["holdout_accuracy_standard_error"])
    return jobs["test_accuracy"].where(used, jobs["baseline_test_accuracy"])


def describe(name: str, jobs: pd.DataFrame, accuracy: pd.Series) -> str:
    jobs = jobs.assign(accuracy=accuracy)
    cells = jobs.groupby(CELL)[["accuracy", "baseline_test_accuracy"]].mean()
    delta = cells["accuracy"] - cells["baseline_test_accuracy"]
    recovered = (
        pooled_recovery(
            jobs["accuracy"] - jobs["baseline_test_accuracy"],
            jobs["clean_labels_test_accuracy"] - jobs["baseline_test_accuracy"],
            [jobs["noise"], jobs["noise.rate"], jobs["seed"]],
        )
        .groupby(level=[0, 1])
        .mean()
    )
    pooled = ", ".join(f"{kind} {rate:g}: {value:.3f}" for (kind, rate), value in recovered.items())
    return (
        f"{name:<28} harmed {int((delta < -HARM_THRESHOLD).sum()):>2}/{len(delta)}  mean Δ {delta.mean() * 100:+.2f}  "
        f"worst {delta.min() * 100:+.2f} {delta.idxmin()}  recovered {pooled}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", nargs="+")
    args = parser.parse_args(argv)
    sweeps = []
    for sweep_dir in args.sweep_dirs:
        jobs = collect(sweep_dir)
        jobs["method"] = jobs["method"].where(
            jobs["method"] == "reference", jobs["method"] + f" ({Path(sweep_dir).name})"
        )
        sweeps.append(jobs)
    done = pd.concat(sweeps, ignore_index=True)
    done = done[done["status"] == "done"]
    numeric = [c for c in done.columns if c.startswith(("test_", "baseline_", "clean_", "holdout_"))]
    done[numeric] = done[numeric].apply(pd.to_numeric, errors="coerce")
    reference = done[done["method"] == "reference"]
    print(describe("reference", reference, reference["test_accuracy"]))
    for method in sorted(set(done["method"]) - {"reference"}):
        jobs = done[done["method"] == method]
        for min_z in THRESHOLDS:
            print(describe(f"{method} min_z={min_z:g}", jobs, replay(jobs, min_z)))
        print(f"{method}: cleaning used in {np.mean(jobs['cleaning_used'].astype(str) == 'True'):.0%} of jobs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
