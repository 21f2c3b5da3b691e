"""How much of cleaning's gain can the held-out check see, depending on what it scores the predictions against?

Without verified rows, ``method=recommended`` compares the models trained on every row and on the cleaned rows by
how often their held-out predictions agree with the *given* labels. Under class-conditional noise that is not
symmetric, the model trained on the noisy labels is the better predictor of noisy labels even where the cleaned model
is the better predictor of the truth, so the comparison is biased against cleaning. The backward-corrected score
(``criterion="corrected"``: ``T⁺[prediction, given]``) removes that bias when ``T`` is right. This script measures,
over the jobs stored by ``benchmarks/guard_study.py``, the power of four scores of the same held-out predictions:

* ``given``: agreement with the given labels (what the check reads today);
* ``corrected``: backward-corrected with the estimated noise matrix (confident learning's, from cross-validation);
* ``corrected, true T`` (analysis only): backward-corrected with the noise matrix of the injected noise itself;
* ``true labels`` (analysis only): accuracy on the true labels of the training rows, the check every row verified.

For each score and margin (cleaning used when it wins by more than ``min_z`` standard errors of the paired
difference, no trust gate), it prints how many jobs used the cleaning, the summed test gain of the cleaned model over
the noisy baseline in those jobs (points; beside the summed gain of every job where cleaning helped), and the jobs
more than 1 point worse.

    python benchmarks/check_power.py /work/bench/guard_dev_lr --pattern '*logistic_regression*'
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from runner.learn.check import check_cleaning

MIN_Z = (1.0, 2.0, 3.0)
HARM = 1.0  # points


def injected_noise_matrix(given, true, n_classes) -> np.ndarray:
    """``P(given = row | true = column)`` of the noise actually injected."""
    return confusion_matrix(given, true, labels=np.arange(n_classes), normalize="pred")


def job_checks(stored: dict) -> dict:
    """The z of each score's paired comparison in one job, and the job's test gain (points)."""
    given, true = stored["given"], stored["true"]
    kept, cleaned = stored["kept_probs"], stored["cleaned_probs"]
    n_classes = kept.shape[1]
    y_test = stored["y_test"]
    checks = {
        "given": check_cleaning(given, kept, cleaned, criterion="given", gate_margin=float("nan")),
        "corrected": check_cleaning(given, kept, cleaned, noise_matrix=stored["noise_matrix"]),
        "corrected, true T": check_cleaning(
            given, kept, cleaned, noise_matrix=injected_noise_matrix(given, true, n_classes)
        ),
        "true labels": check_cleaning(true, kept, cleaned, criterion="given", gate_margin=float("nan")),
    }
    test_gain = np.mean(stored["test_cleaned"].argmax(axis=1) == y_test) - np.mean(
        stored["test_baseline"].argmax(axis=1) == y_test
    )
    return {"test_gain": 100 * test_gain, **{name: check.z for name, check in checks.items()}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a directory of benchmarks/guard_study.py jobs")
    parser.add_argument("--pattern", default="*.npz", help="which jobs (a glob of their file names)")
    args = parser.parse_args(argv)
    rows = []
    for path in sorted(args.study.glob(args.pattern)):
        with np.load(path) as stored:
            rows.append({"job": path.stem, **job_checks({key: stored[key] for key in stored.files})})
    jobs = pd.DataFrame(rows).set_index("job")
    helped = jobs["test_gain"].clip(lower=0).sum()
    print(f"{args.study} ({args.pattern}): {len(jobs)} jobs; summed test gain where cleaning helped {helped:+.1f} pt")
    scores = [column for column in jobs if column != "test_gain"]
    print("correlation of z with the test gain:", ", ".join(f"{s} {jobs[s].corr(jobs.test_gain):+.2f}" for s in scores))
    table = []
    for score in scores:
        for min_z in MIN_Z:
            gains = jobs.loc[jobs[score] > min_z, "test_gain"]
            table.append(
                {
                    "score": score,
                    "min_z": min_z,
                    "jobs cleaned": len(gains),
                    "summed gain (pt)": gains.sum(),
                    "share of the helped gain": gains.sum() / helped,
                    f"jobs < -{HARM:g} pt": int((gains < -HARM).sum()),
                    "worst (pt)": gains.min() if len(gains) else np.nan,
                }
            )
    print(pd.DataFrame(table).to_string(index=False, float_format=lambda value: f"{value:.2f}"))


if __name__ == "__main__":
    main()
