"""Does the halves check pass only because its two halves share units? Refit one job with grouped halves.

A table whose rows repeat a unit (house_democrat: most elections are two rows, one per term of the winner)
puts rows of the same unit in both halves of the cleaning check (:func:`runner.learn.check.held_out_folds`).
This refits a finished job of ``method=recommended`` from its saved config twice: with the check's stratified
halves, and with stratified halves that keep each unit whole (``StratifiedGroupKFold``; a unit = the rows equal
in the named feature columns, one-hot columns named by their prefix). It prints each check's held-out
given-label scores, z and verdict, and the final model's test accuracy. A diagnosis of a finished job, not a
rule: it reads the job's test split.

    python benchmarks/grouped_halves.py /work/bench/conf6_recommended/18 year lagdemvoteshare district state
"""

from __future__ import annotations

import argparse

import numpy as np
from omegaconf import OmegaConf
from sklearn.model_selection import StratifiedGroupKFold
from threadpoolctl import threadpool_limits

import runner.learn.guard as guard
from runner.run.build import build_learner, instantiate_logged, load_data
from runner.run.experiment import apply_noise


def unit_ids(X, feature_names, columns) -> np.ndarray:
    """One id per row: rows equal in every feature whose name is, or starts with, one of ``columns``."""
    picked = [i for i, name in enumerate(feature_names) if any(name.startswith(column) for column in columns)]
    if not picked:
        raise SystemExit(f"no feature named by {columns}; the features are {feature_names}")
    _, ids = np.unique(np.round(np.asarray(X)[:, picked].astype(float), 6), axis=0, return_inverse=True)
    return ids.ravel()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", help="a finished job directory of method=recommended (its .hydra/config.yaml)")
    parser.add_argument("columns", nargs="+", help="feature columns whose values identify a unit")
    parser.add_argument("--cache-dir", default=None, help="cross-validation cache (default: the job's)")
    args = parser.parse_args(argv)

    cfg = OmegaConf.load(f"{args.job}/.hydra/config.yaml")
    if args.cache_dir:
        cfg.cache_dir = args.cache_dir
    dataset, _ = load_data(cfg)
    given = np.asarray(apply_noise(instantiate_logged("noise", cfg.noise), dataset, cfg.seed).labels)
    units = unit_ids(dataset.X_train, dataset.feature_names, args.columns)
    print(f"{args.job}: {len(given)} training rows in {units.max() + 1} units")

    def grouped(labels, n_folds=2, seed=None):
        folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return list(folds.split(np.zeros(len(labels)), labels, units))

    for name, folds in (("stratified halves", guard.held_out_folds), ("grouped halves", grouped)):
        guard.held_out_folds = folds
        learner = build_learner(cfg)
        with threadpool_limits(cfg.threads_per_fit or 1):
            learner.fit(dataset.X_train, given)
        check = learner.cleaning_check_
        test = float(np.mean(learner.predict(dataset.X_test) == dataset.y_test))
        print(
            f"  {name}: held-out given-label agreement {check.kept_score:.4f} kept, {check.cleaned_score:.4f} "
            f"cleaned, z {check.z:.1f}, cleaning {'used' if check.use_cleaning else 'not used'}; test {test:.4f}"
        )


if __name__ == "__main__":
    main()
