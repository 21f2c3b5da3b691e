"""Without verified rows, could the halves check veto the reference's harm instead of proving its gain?

``method=recommended`` cleans only when the held-out given labels show the cleaned model better by 3 standard
errors; they rarely can (``benchmarks/check_power.py``), so it keeps almost none of the reference's gain. The other
way round puts the burden on harm: use the reference's cleaning (the flags removed, the rest re-weighted) unless the
held-out rows say it is worse. This study stores per job what such a rule, or one scoring with a better estimate of
the noise matrix, could read, and what each choice would have given:

* what a rule may read: the given training labels; the held-out probabilities of the halves check (each half
  predicted by the classifier trained on the other half: on every row of it, ``kept_probs``; on what its own
  detection keeps, ``cleaned_probs``; and on the same rows re-weighted as the reference does, ``reweighted_probs``);
  the out-of-fold probabilities and noise matrix of the full detection (``pred_probs``, ``noise_matrix``) and of a
  second detection round whose folds train without the first round's flags (``pred_probs_round2``,
  ``noise_matrix_round2``);
* what only the analysis may read: the true training labels, and the test probabilities of the final model on
  every row (the noisy baseline), on the kept rows (``test_cleaned``), on the kept rows re-weighted (the
  reference's final model, ``test_reweighted``) and on the true labels (``test_clean``), with the test labels.

``benchmarks/veto_rules.py`` replays the rules over the stored jobs. A job whose file exists is skipped, so an
interrupted study resumes; the cross-validations are cached (``--cache-dir``).

    python benchmarks/veto_study.py --out /work/bench/veto_dev --classifiers logistic_regression --seeds 0,1,2 \\
        --cache-dir /work/bench/cache
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from threadpoolctl import threadpool_limits

from runner.common.atomic import atomic_path
from runner.datasets import standardized
from runner.learn.estimator import CleanLearning
from runner.run.build import instantiate_logged
from runner.run.experiment import apply_noise
from runner.strategies import Remove

sys.path.insert(0, str(Path(__file__).parent))
from guard_study import CONF_DIR, add_grid_arguments, final_test_probabilities, job_name, run_grid  # noqa: E402


def job_inputs(dataset_name, noise_name, rate, classifier_name, seed, max_rows):
    """One job's dataset (standardized as the runner would), unfitted classifier, given training labels, and the
    learner options of ``method=recommended``'s detection, composed from ``conf/`` as the runner would."""
    overrides = [f"dataset={dataset_name}", f"noise={noise_name}", f"noise.rate={rate}"]
    overrides += ["method=recommended", f"classifier={classifier_name}", f"seed={seed}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose("config", overrides=overrides)
    if "max_rows" in cfg.dataset:  # the scikit-learn tables have none: always at full size
        cfg.dataset.max_rows = max_rows
    dataset = instantiate_logged("dataset", cfg.dataset)
    if cfg.standardize:
        dataset = standardized(dataset)
    classifier = instantiate_logged("classifier", cfg.classifier)
    given = np.asarray(apply_noise(instantiate_logged("noise", cfg.noise), dataset, seed).labels)
    options = dict(seed=seed, cv_n_folds=cfg.cv.folds, detector=instantiate_logged("detection", cfg.detection))
    return dataset, classifier, given, options


def run_job(out: Path, dataset_name, noise_name, rate, classifier_name, seed, max_rows, cache_dir) -> str:
    name = job_name(dataset_name, noise_name, rate, classifier_name, seed)
    target = out / f"{name}.npz"
    if target.exists():
        return f"{name}: done earlier"
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        dataset, classifier, given, options = job_inputs(
            dataset_name, noise_name, rate, classifier_name, seed, max_rows
        )
        common = dict(options, cv_cache_dir=cache_dir, skip_final_fit=True)
        removal, reweighted = (
            CleanLearning(classifier, strategy=Remove(reweight=reweight), validate_cleaning=True, **common).fit(
                dataset.X_train, given
            )
            for reweight in (False, True)
        )
        # Unchecked, the reference's own training set (the same detection: the cross-validation is cached).
        training = CleanLearning(classifier, **common).fit(dataset.X_train, given).training_set_
        second = CleanLearning(classifier, detection_rounds=2, round_mode="drop", **common).fit(dataset.X_train, given)
        flagged = np.asarray(removal.label_issues_mask, dtype=bool)
        assert np.array_equal(np.flatnonzero(~flagged), training.rows)

        def test_probabilities(rows, labels, sample_weight=None):
            return final_test_probabilities(classifier, dataset, rows, labels, sample_weight)

        everything = np.arange(len(given))
        arrays = dict(
            given=given,
            true=dataset.y_train,
            flagged=flagged,
            pred_probs=removal.pred_probs.astype(np.float32),
            noise_matrix=removal.noise_matrix,
            pred_probs_round2=second.pred_probs.astype(np.float32),
            noise_matrix_round2=second.noise_matrix,
            kept_probs=removal.validation_pred_probs_["kept"],
            cleaned_probs=removal.validation_pred_probs_["cleaned"],
            reweighted_probs=reweighted.validation_pred_probs_["cleaned"],
            y_test=dataset.y_test,
            test_baseline=test_probabilities(everything, given),
            test_cleaned=test_probabilities(training.rows, given[training.rows]),
            test_reweighted=test_probabilities(training.rows, given[training.rows], training.sample_weight),
            test_clean=test_probabilities(everything, dataset.y_train),
            seconds=np.float64(time.perf_counter() - started),
        )
    with atomic_path(target) as partial, open(partial, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return f"{name}: {arrays['seconds']:.1f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-rows", type=int, default=10_000, help="rows of each table at most (before the split)")
    add_grid_arguments(parser)
    args = parser.parse_args(argv)
    run_grid(run_job, Path(args.out), args, args.max_rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
