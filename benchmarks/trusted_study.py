"""Which rule should verified rows decide the cleaning by? Everything such a rule could read, per job.

For every job of a grid (dataset x noise kind x rate x classifier x seed, ``trusted_rows`` of its training rows
verified as the runner simulates them), composed from ``conf/`` as the runner composes ``method=recommended``, this
fits ``method=recommended`` once and stores one ``.npz`` with

* what a rule may read: the verified labels and, for each candidate it judged (``kept``: every other row;
  ``strategy``: the flagged rows removed; ``reweighted``: removed with the reference's class re-weighting), the
  probabilities its cross-fitted models gave the verified rows (``CleanLearning.trusted_pred_probs_``);
* what only the analysis may read: the test labels and the test probabilities of the final model each candidate
  leads to (its rows plus the verified ones, as ``fit`` joins them), of the classifier on every noisy label (no
  verified row: the noisy baseline), on the true labels (the oracle), and of ``method=reference``.

The final models of the candidates are refitted here from the learner's flags; the one the learner chose must
predict the test rows as its own final model does, which each job checks (``consistent``).
``benchmarks/choose_trusted.py`` then replays any rule over the stored jobs in seconds. A job whose file exists is
skipped, so an interrupted study resumes.

    python benchmarks/trusted_study.py --out /work/bench/trusted_study6 --datasets house_democrat,... --seeds 0,1,2
    python benchmarks/trusted_study.py --out /work/bench/trusted_study_dev --datasets storms,... --seeds 0 \\
        --override dataset.max_rows=10000
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
from runner.datasets.corrupt import trust_rows
from runner.learn.cv import fresh_copy
from runner.learn.weights import weight_kwargs
from runner.run.build import build_learner, instantiate_logged, load_data
from runner.run.experiment import apply_noise
from runner.strategies import MIN_DIAGONAL

sys.path.insert(0, str(Path(__file__).parent))
from guard_study import add_grid_arguments, job_name, run_grid  # noqa: E402

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_job(dataset, noise, rate, classifier, seed, trusted_rows, cache_dir, method="recommended", overrides=()):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(
            "config",
            overrides=[
                f"method={method}",
                f"dataset={dataset}",
                f"noise={noise}",
                f"noise.rate={rate}",
                f"classifier={classifier}",
                f"seed={seed}",
                f"trusted_rows={trusted_rows}",
                f"cache_dir={cache_dir}",
                *overrides,
            ],
        )


def run_job(
    out: Path, dataset_name, noise_name, rate, classifier_name, seed, trusted_rows, overrides, cache_dir
) -> str:
    name = job_name(dataset_name, noise_name, rate, classifier_name, seed)
    target = out / f"{name}.npz"
    if target.exists():
        return f"{name}: done earlier"
    job = (dataset_name, noise_name, rate, classifier_name, seed)
    cfg = compose_job(*job, trusted_rows, cache_dir, overrides=overrides)
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        dataset, _ = load_data(cfg)
        noisy = np.asarray(apply_noise(instantiate_logged("noise", cfg.noise), dataset, seed).labels)
        labels, trusted = trust_rows(noisy, dataset.y_train, trusted_rows, seed=seed)
        learner = build_learner(cfg).fit(dataset.X_train, labels, trusted=trusted)
        classifier = learner.clf
        rows, judges = np.flatnonzero(~trusted), np.flatnonzero(trusted)
        kept = rows[~learner.label_issues_mask[rows]]
        reweighting = 1.0 / np.maximum(np.diagonal(learner.noise_matrix), MIN_DIAGONAL)

        def test_probs(fit_rows, fit_labels, weights=None):
            model = fresh_copy(classifier)
            model.fit(dataset.X_train[fit_rows], fit_labels, **weight_kwargs(model, weights))
            return model.predict_proba(dataset.X_test).astype(np.float32)

        def with_verified(fit_rows, weights=None):
            both = np.concatenate([fit_rows, judges])
            if weights is not None:
                weights = np.concatenate([weights, np.ones(len(judges))])
            return test_probs(both, labels[both], weights)

        finals = {
            "kept": with_verified(rows),
            "strategy": with_verified(kept),
            "reweighted": with_verified(kept, reweighting[labels[kept]]),
        }
        chosen = learner.cleaning_choice_ or "kept"
        own = learner.predict_proba(dataset.X_test)
        reference = build_learner(compose_job(*job, 0, cache_dir, "reference", overrides))
        reference.fit(dataset.X_train, noisy)
        everything = np.arange(len(noisy))
        arrays = dict(
            truth=labels[judges],
            **{
                f"trusted_{candidate}": probs.astype(np.float32)
                for candidate, probs in learner.trusted_pred_probs_.items()
            },
            **{f"test_{candidate}": probs for candidate, probs in finals.items()},
            chosen=np.array(chosen),
            consistent=np.array(bool(np.array_equal(own.argmax(axis=1), finals[chosen].argmax(axis=1)))),
            test_noisy=test_probs(everything, noisy),
            test_clean=test_probs(everything, dataset.y_train),
            test_reference=reference.predict_proba(dataset.X_test).astype(np.float32),
            y_test=dataset.y_test,
            n_train=np.int64(len(noisy)),
            seconds=np.float64(time.perf_counter() - started),
        )
    with atomic_path(target) as partial, open(partial, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    note = "" if arrays["consistent"] else " (the chosen candidate's refit differs from the learner's final model)"
    return f"{name}: {arrays['seconds']:.1f} s{note}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    add_grid_arguments(parser, datasets=None)
    parser.set_defaults(classifiers="logistic_regression,hist_gradient_boosting", n_jobs=1)
    parser.add_argument("--trusted-rows", type=int, default=300)
    parser.add_argument("--override", action="append", default=[], help="a Hydra override of every job, repeatable")
    args = parser.parse_args(argv)
    run_grid(run_job, Path(args.out), args, args.trusted_rows, tuple(args.override))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
