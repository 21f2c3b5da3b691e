"""CleanLearning.fit wall time: ours (folds in parallel, threads pinned) against cleanlab 2.9.0.

Both run in this one process on the same data, alternating, median of ``--repeats`` runs.
cleanlab runs with its defaults (folds one after another, BLAS/OpenMP threads as the machine
sets them); ours with ``n_jobs=2`` and one thread per fit. The loky worker processes are
started once before timing (a warm-up fit), as they are in any session that fits more than
once. "other" is everything beyond the K+1 classifier fits (cross-validation folds and the
final fit): validation, detection, scores, the DataFrame — as a share of our total.

    python benchmarks/bench_fit.py
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import cleanlab
import numpy as np
from cleanlab.classification import CleanLearning as ReferenceCleanLearning
from sklearn.datasets import load_digits, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from runner import CleanLearning


def noisy(labels, rate=0.2, seed=0):
    rng = np.random.default_rng(seed)
    n_classes = labels.max() + 1
    flip = rng.random(len(labels)) < rate
    out = labels.copy()
    out[flip] = (out[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return out


def cases():
    X, y = make_classification(n_samples=50_000, n_features=20, n_informative=10, n_classes=5, random_state=0)
    yield (
        "HistGradientBoosting, synthetic 50,000 x 20, K=5",
        HistGradientBoostingClassifier(random_state=0),
        X,
        noisy(y),
    )
    X, y = load_digits(return_X_y=True)
    yield "LogisticRegression(max_iter=1000), digits 1,797 x 64, K=10", LogisticRegression(max_iter=1000), X, noisy(y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"  # also in the worker processes (convergence warnings)
    print(
        f"# {platform.machine()}, Python {platform.python_version()}, cleanlab {cleanlab.__version__}, "
        f"median of {args.repeats}; ours n_jobs={args.n_jobs}, 1 thread per fit"
    )
    print(
        "| case | ours s | cleanlab s | ratio | ours CV s | ours final fit s | ours other s | other share"
        " | same issues |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, clf, X, labels in cases():
        CleanLearning(clf, seed=0, n_jobs=args.n_jobs).fit(X[:500], labels[:500])  # start workers
        ours_times, ref_times, parts = [], [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            ours = CleanLearning(clf, seed=0, n_jobs=args.n_jobs).fit(X, labels)
            ours_times.append(time.perf_counter() - start)
            timings = ours.timings_
            parts.append(
                (timings["cv_s"], timings["final_fit_s"], ours_times[-1] - timings["cv_s"] - timings["final_fit_s"])
            )
            start = time.perf_counter()
            ref = ReferenceCleanLearning(clf, seed=0).fit(X, labels)
            ref_times.append(time.perf_counter() - start)
        ours_s, ref_s = np.median(ours_times), np.median(ref_times)
        cv_s, final_s, other_s = np.median(parts, axis=0)
        same = np.array_equal(ours.label_issues_mask, ref.label_issues_df["is_label_issue"].to_numpy())
        print(
            f"| {name} | {ours_s:.2f} | {ref_s:.2f} | {ours_s / ref_s:.2f} | {cv_s:.2f} | {final_s:.2f} | "
            f"{other_s:.3f} | {other_s / ours_s:.1%} | {'yes' if same else 'no'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
