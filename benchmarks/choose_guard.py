"""Replay held-out rules over the jobs of ``benchmarks/guard_study.py``: which rule does no harm?

A rule reads only what a user has (given labels, the two sets of held-out probabilities that
``validate_cleaning`` compares, the detection's noise matrix) and says whether the final fit uses
the cleaned rows; the job's test accuracy is then that of the cleaned model or of the model trained on every
row (the noisy baseline). Per rule this prints the do-no-harm count over cells (dataset, noise kind, rate,
classifier; mean over seeds; harm = more than 1 point below the baseline), the worst cell, the
mean difference and the pooled recovered fraction per noise kind and rate. ``oracle`` rules read
the true training labels or the test split and exist only to measure how much a perfect rule could
get. The recorded run: ``benchmarks/results/guard_choice.txt``.

    python benchmarks/choose_guard.py outputs/guard_study/halves
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from runner.learn.check import label_margin

CELL = ["dataset", "noise", "rate", "classifier"]
HARM = 0.01


def paired(kept_scores, cleaned_scores):
    """Mean gain of the cleaned models and the standard error of the paired difference."""
    difference = cleaned_scores - kept_scores
    return difference.mean(), difference.std(ddof=1) / np.sqrt(len(difference))


def statistics(job) -> dict:
    """Every quantity a rule might use, from one job's arrays."""
    given, true = job["given"], job["true"]
    n_classes = job["kept_probs"].shape[1]
    kept, cleaned = job["kept_probs"].argmax(1), job["cleaned_probs"].argmax(1)
    out = {}
    out["given_gain"], out["given_se"] = paired((kept == given) * 1.0, (cleaned == given) * 1.0)
    counts = np.bincount(given, minlength=n_classes).astype(float)
    balance = len(given) / (n_classes * np.maximum(counts[given], 1))
    out["balanced_gain"], out["balanced_se"] = paired((kept == given) * balance, (cleaned == given) * balance)
    inverse = np.linalg.pinv(job["noise_matrix"])
    out["corrected_gain"], out["corrected_se"] = paired(inverse[kept, given], inverse[cleaned, given])
    out["margin"] = label_margin(job["noise_matrix"])
    # Per given class: the recall of the given labels (does cleaning give up a whole class?).
    recalls = [
        paired((kept[given == k] == k) * 1.0, (cleaned[given == k] == k) * 1.0) if (given == k).sum() > 1 else (0, 0)
        for k in range(n_classes)
    ]
    out["worst_class_z"] = min(g / s if s > 0 else (0 if g == 0 else np.sign(g) * np.inf) for g, s in recalls)
    # Analysis only: the held-out accuracy on the true labels.
    out["true_gain"], _ = paired((kept == true) * 1.0, (cleaned == true) * 1.0)
    y_test = job["y_test"]
    for model in ("baseline", "cleaned", "clean"):
        out[f"acc_{model}"] = np.mean(job[f"test_{model}"].argmax(1) == y_test)
    # Analysis only: predictions corrected for the estimated noise instead of cleaning.
    matrix = job["noise_matrix"].astype(float)
    corrected = np.linalg.lstsq(matrix, job["test_baseline"].T.astype(float), rcond=None)[0].T
    out["acc_backward"] = np.mean(corrected.argmax(1) == y_test)
    true_prior = job["confident_joint"].sum(0) / job["confident_joint"].sum()
    given_prior = counts / counts.sum()
    shifted = job["test_baseline"] * (true_prior / np.maximum(given_prior, 1e-12))
    out["acc_prior"] = np.mean(shifted.argmax(1) == y_test)
    out["flagged"] = job["flagged"].mean()
    out["seconds"] = float(job["seconds"])
    return out


def load(directory) -> pd.DataFrame:
    rows = []
    for path in sorted(Path(directory).glob("*.npz")):
        dataset, noise, rate, classifier, seed = path.stem.split("__")
        with np.load(path) as job:
            rows.append(
                dict(
                    dataset=dataset,
                    noise=noise,
                    rate=float(rate),
                    classifier=classifier,
                    seed=int(seed),
                    **statistics(job),
                )
            )
    return pd.DataFrame(rows)


def z(gain, se, min_z):
    return (gain > 0) & (gain > min_z * se)


RULES = {
    "never": lambda j: pd.Series(False, j.index),
    "always": lambda j: pd.Series(True, j.index),
    **{f"given z{m:g}": (lambda m: lambda j: z(j.given_gain, j.given_se, m))(m) for m in (0, 1, 1.5, 2, 2.5, 3)},
    **{
        f"given z{m:g} + margin": (lambda m: lambda j: z(j.given_gain, j.given_se, m) & (j.margin > 0))(m)
        for m in (1, 1.5, 2, 3)
    },
    **{f"balanced z{m:g}": (lambda m: lambda j: z(j.balanced_gain, j.balanced_se, m))(m) for m in (1, 2, 3)},
    **{f"corrected z{m:g}": (lambda m: lambda j: z(j.corrected_gain, j.corrected_se, m))(m) for m in (1, 2, 3)},
    **{
        f"given+balanced z{m:g}": (
            lambda m: lambda j: z(j.given_gain, j.given_se, m) & z(j.balanced_gain, j.balanced_se, m)
        )(m)
        for m in (1, 2, 3)
    },
    **{
        f"given z{m:g} + no class z<-{c:g}": (
            lambda m, c: lambda j: z(j.given_gain, j.given_se, m) & (j.worst_class_z > -c)
        )(m, c)
        for m in (2, 3)
        for c in (1, 2)
    },
    **{
        f"given+balanced z{m:g} + no class z<-{c:g}": (
            lambda m, c: (
                lambda j: z(j.given_gain, j.given_se, m) & z(j.balanced_gain, j.balanced_se, m) & (j.worst_class_z > -c)
            )
        )(m, c)
        for m in (2, 3)
        for c in (1, 2)
    },
    "oracle: true held-out gain > 0": lambda j: j.true_gain > 0,
    "oracle: test gain > 0": lambda j: j.acc_cleaned > j.acc_baseline,
}


def cell_deltas(jobs, use) -> pd.Series:
    """Per cell, the seed-mean test accuracy under the rule minus the noisy baseline's, in points."""
    cells = jobs.assign(accuracy=jobs.acc_cleaned.where(use, jobs.acc_baseline)).groupby(CELL)
    return (cells.accuracy.mean() - cells.acc_baseline.mean()) * 100


def describe(name, jobs, use) -> str:
    jobs = jobs.assign(accuracy=jobs.acc_cleaned.where(use, jobs.acc_baseline))
    delta = cell_deltas(jobs, use)
    pooled = jobs.assign(gain=jobs.accuracy - jobs.acc_baseline, lost=jobs.acc_clean - jobs.acc_baseline)
    pooled = pooled.groupby(["noise", "rate", "seed"])[["gain", "lost"]].sum()
    recovered = (pooled.gain / pooled.lost).groupby(level=[0, 1]).mean()
    worst = delta.idxmin()
    # The same count in each seed alone: a rule that harms no seed-mean cell by luck harms single seeds.
    per_seed = jobs.assign(delta=(jobs.accuracy - jobs.acc_baseline) * 100)
    per_seed = per_seed[per_seed.delta < -HARM * 100].groupby("seed").size().reindex(jobs.seed.unique(), fill_value=0)
    return (
        f"{name:<30} used {use.mean():4.0%}  harmed {int((delta < -HARM * 100).sum()):>2}/{len(delta)} "
        f"(per seed {'/'.join(map(str, per_seed.sort_index()))})  "
        f"mean {delta.mean():+.2f}  worst {delta.min():+6.2f} {'/'.join(map(str, worst))}  recovered "
        + " ".join(f"{k[0][:4]} {k[1]:g}: {v:+.3f}" for k, v in recovered.items())
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--rules", default=None, help="comma-separated rule names (default: all)")
    parser.add_argument("--cells", action="store_true", help="also print the harmed cells of every rule")
    args = parser.parse_args(argv)
    jobs = load(args.directory)
    print(f"{len(jobs)} jobs, {jobs.groupby(CELL).ngroups} cells, seeds {sorted(jobs.seed.unique())}")
    for candidate in ("backward", "prior"):  # other ways to use the noise estimate, always applied
        print(
            describe(
                f"always {candidate} (analysis)",
                jobs.assign(acc_cleaned=jobs[f"acc_{candidate}"]),
                pd.Series(True, jobs.index),
            )
        )
    names = args.rules.split(",") if args.rules else list(RULES)
    for name in names:
        use = RULES[name](jobs)
        print(describe(name, jobs, use))
        if args.cells:
            delta = cell_deltas(jobs, use)
            for cell, value in delta[delta < -HARM * 100].sort_values().items():
                print(f"    {value:+.2f} {'/'.join(map(str, cell))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
