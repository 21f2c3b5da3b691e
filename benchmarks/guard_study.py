"""Which held-out rule should decide whether cleaning is used? Everything a rule could read, per job.

For every job of a robustness grid (dataset x noise kind x rate x classifier x seed), composed from
``conf/`` exactly as the runner would compose ``method=recommended``, this stores one ``.npz`` with

* what a rule may read: the given training labels, the held-out probabilities that
  ``validate_cleaning`` compares (each half of the rows predicted by the classifier trained on the
  other half: on every row of it, ``kept_probs``, and on the rows its own detection keeps,
  ``cleaned_probs``), the full detection's flags and its estimated noise matrix;
* what only the analysis may read: the true training labels, and the test probabilities of the
  final model trained on every row (the noisy baseline), on the cleaned rows, and on the true
  labels (the oracle), with the test labels.

``benchmarks/choose_guard.py`` then replays any rule over the stored jobs in seconds. A job whose
file exists is skipped, so an interrupted study resumes.

    python benchmarks/guard_study.py --out outputs/guard_study/halves --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from runner.common.atomic import atomic_path
from runner.datasets import standardized
from runner.learn.cv import fresh_copy
from runner.learn.estimator import CleanLearning
from runner.learn.weights import weight_kwargs
from runner.run.build import instantiate_logged
from runner.run.experiment import apply_noise

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
# The 16 development tables: experiment=robustness_dev and the spent first confirmation (experiment=robustness).
DEV = (
    "diamonds,loans,mpls_stops,churn,attrition,gapminder,flights,lending_club,"
    "digits,breast_cancer,credit_default,storms,sacramento,credit,hpc,caravan"
)


def final_test_probabilities(classifier, dataset, rows, labels, sample_weight=None) -> np.ndarray:
    """The test probabilities of a fresh copy of ``classifier`` fitted on the training ``rows`` with ``labels``."""
    model = fresh_copy(classifier)
    model.fit(dataset.X_train[rows], labels, **weight_kwargs(model, sample_weight))
    return model.predict_proba(dataset.X_test).astype(np.float32)


def job_name(dataset, noise, rate, classifier, seed) -> str:
    return f"{dataset}__{noise}__{rate}__{classifier}__{seed}"


def run_job(out: Path, dataset_name, noise_name, rate, classifier_name, seed, cache_dir) -> str:
    name = job_name(dataset_name, noise_name, rate, classifier_name, seed)
    target = out / f"{name}.npz"
    if target.exists():
        return f"{name}: done earlier"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose(
            "config",
            overrides=[
                "method=recommended",
                f"dataset={dataset_name}",
                f"noise={noise_name}",
                f"noise.rate={rate}",
                f"classifier={classifier_name}",
                f"seed={seed}",
            ],
        )
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        dataset = instantiate_logged("dataset", cfg.dataset)
        if cfg.standardize:
            dataset = standardized(dataset)
        classifier = instantiate_logged("classifier", cfg.classifier)
        given = np.asarray(apply_noise(instantiate_logged("noise", cfg.noise), dataset, seed).labels)
        learner = CleanLearning(
            classifier,
            seed=seed,
            cv_n_folds=cfg.cv.folds,
            detector=instantiate_logged("detection", cfg.detection),
            strategy=instantiate_logged("strategy", cfg.strategy),
            cv_cache_dir=cache_dir,
            skip_final_fit=True,
            validate_cleaning=True,
            validation_criterion="given",
        ).fit(dataset.X_train, given)
        flagged = np.asarray(learner.label_issues_mask, dtype=bool)
        kept = np.flatnonzero(~flagged)

        def test_probabilities(rows, labels):
            return final_test_probabilities(classifier, dataset, rows, labels)

        everything = np.arange(len(given))
        arrays = dict(
            given=given,
            true=dataset.y_train,
            flagged=flagged,
            kept_probs=learner.validation_pred_probs_["kept"],
            cleaned_probs=learner.validation_pred_probs_["cleaned"],
            noise_matrix=learner.noise_matrix,
            confident_joint=learner.confident_joint,
            y_test=dataset.y_test,
            test_baseline=test_probabilities(everything, given),
            test_cleaned=test_probabilities(kept, given[kept]),
            test_clean=test_probabilities(everything, dataset.y_train),
            seconds=np.float64(time.perf_counter() - started),
        )
    with atomic_path(target) as partial, open(partial, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return f"{name}: {arrays['seconds']:.1f} s"


def add_grid_arguments(parser: argparse.ArgumentParser, datasets: str | None = DEV) -> None:
    """The options of a grid of jobs: its datasets (required when ``datasets`` is None), noise kinds, rates,
    classifiers and seeds, comma-separated, and how many jobs run at once with which cross-validation cache."""
    parser.add_argument("--datasets", default=datasets, required=datasets is None)
    parser.add_argument("--noises", default="matrix,instance")
    parser.add_argument("--rates", default="0.2,0.4")
    parser.add_argument("--classifiers", default="logistic_regression,hist_gradient_boosting,xgboost")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--cache-dir", default="outputs/.cache")


def run_grid(run_job, out: Path, args: argparse.Namespace, *options) -> None:
    """``run_job(out, dataset, noise, rate, classifier, seed, *options, cache_dir)`` over the grid of ``args``,
    seed by seed, ``args.n_jobs`` at a time, printing each job's line as it ends."""
    out.mkdir(parents=True, exist_ok=True)
    grid = itertools.product(
        args.seeds.split(","),
        args.datasets.split(","),
        args.noises.split(","),
        args.rates.split(","),
        args.classifiers.split(","),
    )
    jobs = (delayed(run_job)(out, d, n, r, c, int(s), *options, args.cache_dir) for s, d, n, r, c in grid)
    for line in Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(jobs):
        print(line, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    add_grid_arguments(parser)
    args = parser.parse_args(argv)
    run_grid(run_job, Path(args.out), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
