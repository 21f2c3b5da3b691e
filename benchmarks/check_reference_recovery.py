"""Does ``method=reference`` reproduce cleanlab's own numbers? Rerun its jobs with cleanlab 2.9.0.

For every job of a sweep with ``method=reference`` (e.g. ``python -m runner -m
experiment=recovery``), rebuild the job's data, injected noise and classifier from its saved
``.hydra/config.yaml``, fit ``cleanlab.classification.CleanLearning`` with the same seed and
folds, and compare its test accuracy with the job's ``metrics.json``. Prints one line per
mismatch, the number of identical jobs and the recovered fraction of both sides (per seed,
sum over datasets and classifiers of the gain over the sum of what noise took, then mean ± std).

    python benchmarks/check_reference_recovery.py outputs/multirun/recovery
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from runner.datasets import standardized
from runner.run.experiment import apply_noise
from runner.sweep.studies import pooled_recovery


def reference_jobs(sweep: Path):
    for config_path in sorted(sweep.glob("*/.hydra/config.yaml")):
        job = config_path.parent.parent
        overrides = OmegaConf.load(job / ".hydra" / "overrides.yaml")
        if "method=reference" in overrides and (job / "metrics.json").exists():
            yield job, OmegaConf.load(config_path)


def cleanlab_test_accuracy(cfg) -> float:
    from cleanlab.classification import CleanLearning

    dataset = instantiate(cfg.dataset)
    if cfg.standardize:
        dataset = standardized(dataset)
    noisy = apply_noise(instantiate(cfg.noise), dataset, cfg.seed).labels
    learner = CleanLearning(instantiate(cfg.classifier), seed=cfg.seed, cv_n_folds=cfg.cv.folds)
    with threadpool_limits(limits=cfg.threads_per_fit), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner.fit(dataset.X_train, noisy)
        return float(np.mean(learner.predict(dataset.X_test) == dataset.y_test))


def recovered(jobs: pd.DataFrame, column: str) -> str:
    fraction = pooled_recovery(jobs[column] - jobs.baseline, jobs.clean - jobs.baseline, [jobs.rate, jobs.seed])
    fraction = fraction.groupby("rate")
    return ", ".join(f"noise {rate:g}: {m:.3f} ± {s:.3f}" for rate, (m, s) in fraction.agg(["mean", "std"]).iterrows())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for job, cfg in reference_jobs(args.sweep_dir):
        metrics = json.loads((job / "metrics.json").read_text())
        theirs = cleanlab_test_accuracy(cfg)
        rows.append(
            {
                "job": job.name,
                "dataset": cfg.dataset.name,
                "rate": cfg.noise.rate,
                "seed": cfg.seed,
                "ours": metrics["test_accuracy"],
                "cleanlab": theirs,
                "baseline": metrics["baseline_test_accuracy"],
                "clean": metrics["clean_labels_test_accuracy"],
            }
        )
        if theirs != metrics["test_accuracy"]:
            print(f"job {job.name}: ours {metrics['test_accuracy']:.4f}, cleanlab {theirs:.4f}")
    if not rows:
        print(f"no finished method=reference jobs in {args.sweep_dir}")
        return 1
    jobs = pd.DataFrame(rows)
    print(f"{(jobs.ours == jobs.cleanlab).sum()} of {len(jobs)} reference jobs: identical test accuracy")
    print(f"recovered fraction, ours:     {recovered(jobs, 'ours')}")
    print(f"recovered fraction, cleanlab: {recovered(jobs, 'cleanlab')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
