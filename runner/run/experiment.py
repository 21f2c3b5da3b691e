"""One experiment, without Hydra: data → noise → CleanLearning → evaluation → artifacts.

:func:`run_experiment` takes plain objects (a :class:`~runner.datasets.Dataset`, a noise
function, an unfitted classifier, a detector and a strategy) and returns an
:class:`ExperimentResult` holding the metrics and the tables of the run directory;
:func:`save_result` writes them. The Hydra app (:mod:`runner.run.app`) only builds the objects
from the config and calls these two.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from runner.common.atomic import write_array, write_json, write_matrix, write_table
from runner.common.provenance import git_commit, library_versions
from runner.datasets.cleaned import Cleaning, cleaning_of, write_cleaned_table
from runner.datasets.corrupt import no_noise, trust_rows
from runner.learn import cache
from runner.learn.cv import check_fold_sizes, fresh_copy
from runner.learn.estimator import CleanLearning
from runner.learn.parallel import lone_fit_limits
from runner.run import artifacts

log = logging.getLogger(__name__)


@dataclass
class ExperimentResult:
    """Everything a run directory holds, in memory."""

    metrics: dict
    label_issues: pd.DataFrame
    class_names: list
    matrices: dict = field(default_factory=dict)  # file stem -> K x K array
    pred_probs: np.ndarray | None = None
    cleaning: Cleaning | None = None  # file datasets: what becomes of each row of the file (cleaned table)


def run_experiment(
    dataset,
    learner: CleanLearning,
    *,
    noise=no_noise,
    seed: int = 0,
    trusted_rows: int = 0,
    pred_probs=None,
    fit_kwargs=None,
    compare_baseline: bool = True,
    compare_clean: bool = False,
    names: dict | None = None,
) -> ExperimentResult:
    """Corrupt the training labels, fit the learner, and score everything on the test split.

    Without a test split (``dataset.test_size=0``: every row is checked) or without a final fit
    (``learner.skip_final_fit``), the test metrics are absent.

    Parameters
    ----------
    dataset : Dataset
        Train/test split with encoded labels.
    learner : CleanLearning
        Unfitted; its classifier (``learner.clf``) also makes the baseline and clean-label references,
        cached in ``learner.cv_cache_dir``.
    noise : callable
        ``noise(labels, n_classes, seed=...) -> Corruption`` (see :mod:`runner.datasets.corrupt`).
    seed : int
        Drives the noise.
    trusted_rows : int
        Simulate a user who verified this many random training rows: they get their true label back
        and are trusted (:func:`runner.datasets.corrupt.trust_rows`; ``learner.fit(trusted=...)``). Not with
        a dataset that marks its own (``Dataset.trusted``), which is used as it is.
    pred_probs : ndarray of shape (N_train, K), optional
        Out-of-fold probabilities of the training rows made elsewhere (``cv=given``): no cross-validation.
    fit_kwargs : dict, optional
        Keyword arguments of the final fit only (cleanlab's ``clf_final_kwargs``).
    compare_baseline : bool
        Also fit the classifier on the uncleaned labels and report its test accuracy.
    compare_clean : bool
        With injected noise, also fit the classifier on the true training labels (an oracle)
        and report its test accuracy and the fraction of the accuracy lost to noise that
        cleaning recovered.
    names : dict, optional
        Display names of the plugins (``classifier``, ``strategy``), e.g. Hydra's choices.

    Returns
    -------
    ExperimentResult
    """
    started = time.perf_counter()
    corruption = apply_noise(noise, dataset, seed)
    given, trusted = np.asarray(corruption.labels), dataset.trusted
    if trusted_rows:
        if trusted is not None:
            raise ValueError(
                "trusted_rows simulates trusted rows, but the dataset marks its own "
                "(dataset.trusted_column): use one or the other"
            )
        # The true labels of the simulated trusted rows are the only true training labels read before scoring.
        given, trusted = trust_rows(given, dataset.y_train, trusted_rows, seed=seed)
    if pred_probs is None:
        # Fail before any fitting: no model can learn a class without a training example (a class
        # with fewer examples than folds is cross-validated as in the reference).
        check_fold_sizes(given, learner.cv_n_folds, dataset.classes)
    learner.fit(dataset.X_train, given, pred_probs=pred_probs, clf_final_kwargs=fit_kwargs, trusted=trusted)

    metrics = _description(learner, dataset, given, seed, names or {})
    metrics.update(_check_metrics(learner))
    metrics.update(_comparison_scores(learner, dataset, given, corruption, compare_baseline, compare_clean))
    issues = _issue_table(learner, dataset, given, trusted)
    matrices = {
        "confident_joint": learner.confident_joint,
        "noise_matrix": learner.noise_matrix,
        "inverse_noise_matrix": learner.inverse_noise_matrix,
    }
    if corruption.noise_matrix is not None:
        matrices["true_noise_matrix"] = corruption.noise_matrix
        metrics.update(_detection_scores(issues, learner.noise_matrix, corruption.noise_matrix))
    metrics.update(_cost_and_provenance(learner, started))
    return ExperimentResult(
        metrics=metrics,
        label_issues=issues,
        class_names=[str(name) for name in dataset.classes],
        matrices={name: matrix for name, matrix in matrices.items() if matrix is not None},
        pred_probs=learner.pred_probs,
        cleaning=_cleaning(dataset, learner, given),
    )


def _description(learner, dataset, given, seed, names) -> dict:
    """What ran on what: the first keys of ``metrics.json``."""
    strategy, detector = learner.strategy, learner.detector
    metrics = {
        "dataset": dataset.name,
        "classifier": names.get("classifier", type(learner.clf).__name__),
        "strategy": names.get("strategy", strategy if isinstance(strategy, str) else type(strategy).__name__),
    }
    filter_by = getattr(detector, "filter_by", None) if detector is not None else "prune_by_noise_rate"
    if filter_by is not None:
        metrics["filter_by"] = filter_by
    metrics.update(
        seed=seed,
        n_train=len(given),
        n_test=len(dataset.y_test),
        n_classes=dataset.n_classes,
        n_label_issues=int(learner.label_issues_mask.sum()),
    )
    if learner.pred_probs is not None:
        # From the training split alone: the default objective of a tuning sweep (runner.run.app).
        predicted = learner.classes_[np.asarray(learner.pred_probs).argmax(axis=1)]
        metrics["cv_given_accuracy"] = float(np.mean(predicted == np.asarray(given)))
    return metrics


def _check_metrics(learner) -> dict:
    """The cleaning check's verdict and held-out scores (``validate_cleaning``; on the trusted rows when there
    are some), and the accuracy on the trusted rows of ``clf`` trained on every other row (the noisy model) and
    on what the strategy keeps of them (the cleaned model)."""
    metrics = {}
    trusted = learner.trusted_check_
    if trusted is not None:
        metrics.update(
            n_trusted=trusted.n_rows,
            trusted_accuracy_noisy=trusted.kept_accuracy,
            trusted_accuracy_cleaned=trusted.cleaned_accuracy,
        )
    check = learner.cleaning_check_
    if check is not None and trusted is not None:  # validation_trusted_rule="either" may have asked the given labels
        metrics["cleaning_checked_on"] = (
            "trusted_rows" if learner.cleaning_checks_["given"] is trusted else "given_labels"
        )
    if trusted is not None and learner.validation_strategies and learner.validate_cleaning:
        metrics["cleaning_choice"] = learner.cleaning_choice_ or "none"
    if learner.validation_shares is not None and learner.validate_cleaning:
        metrics["cleaning_share"] = learner.cleaning_share_ or 0.0  # of the flags acted on; 0: no cleaning
    if check is not None:
        return metrics | dict(
            cleaning_used=check.use_cleaning,
            holdout_accuracy_kept=check.kept_accuracy,
            holdout_accuracy_cleaned=check.cleaned_accuracy,
            holdout_accuracy_standard_error=check.standard_error,
            noise_matrix_label_margin=check.label_margin,
            holdout_given_accuracy_kept=learner.cleaning_checks_["given"].kept_accuracy,
            holdout_given_accuracy_cleaned=learner.cleaning_checks_["given"].cleaned_accuracy,
        )
    if learner.validate_cleaning:  # too few rows in some class to check: every row was kept
        metrics["cleaning_used"] = False
    return metrics


def _comparison_scores(learner, dataset, given, corruption, compare_baseline, compare_clean) -> dict:
    """Test scores of the final model, of the baseline and of the clean-label oracle.

    Nothing to score without held-out rows or without a final model: the test metrics are then absent.
    The baseline and clean-label fits run alone, like the final fit (runner.learn.parallel.lone_fit_limits).
    """
    metrics = {}
    if not dataset.evaluates or learner.skip_final_fit:
        return metrics
    cache_dir, classifier = learner.cv_cache_dir, learner.clf
    limits = lone_fit_limits(learner.threads_per_fit, learner.n_jobs, remote=bool(learner.cv_scheduler_address))
    with threadpool_limits(limits=limits):
        metrics.update(_test_scores(learner, dataset))
        if compare_baseline or compare_clean:
            predicted = _reference_fit_predictions(classifier, dataset, given, cache_dir)
            metrics["baseline_test_accuracy"] = accuracy_score(dataset.y_test, predicted)
        if compare_clean and corruption.noise_matrix is not None:
            predicted = _reference_fit_predictions(classifier, dataset, dataset.y_train, cache_dir)
            clean = metrics["clean_labels_test_accuracy"] = accuracy_score(dataset.y_test, predicted)
            lost = clean - metrics["baseline_test_accuracy"]
            if lost > 0:
                metrics["recovered_fraction"] = (metrics["test_accuracy"] - metrics["baseline_test_accuracy"]) / lost
    return metrics


def _cost_and_provenance(learner, started: float) -> dict:
    """Timings, the cache hit, library versions and the commit: the last keys of ``metrics.json``."""
    timings = learner.timings_
    metrics = dict(
        time_cv_s=timings.get("cv_s", 0.0),
        time_detect_s=timings.get("detect_s", 0.0),
        time_final_fit_s=timings.get("final_fit_s", 0.0),
        time_total_s=time.perf_counter() - started,
        cv_cache_hit=bool(learner.cv_cache_hit_),
        versions=library_versions(),
    )
    if np.isfinite(timings.get("cv_compute_s", np.nan)):
        # What the cross-validations of this method cost when computed, cached or not.
        metrics["time_cv_compute_s"] = timings["cv_compute_s"]
    commit = git_commit()
    if commit:
        metrics["git_commit"] = commit
    return metrics


def apply_noise(noise, dataset, seed):
    """Apply a noise option; instance-dependent ones (a ``features`` keyword) see the training features."""
    if "features" in inspect.signature(noise).parameters:
        return noise(dataset.y_train, dataset.n_classes, seed=seed, features=dataset.X_train)
    return noise(dataset.y_train, dataset.n_classes, seed=seed)


def _cleaning(dataset, learner, given) -> Cleaning | None:
    """What the cleaned table is made of; none when the labels were corrupted on purpose, since the
    table would then carry the injected errors of every row the detection missed."""
    if dataset.source is not None and not np.array_equal(given, dataset.y_train):
        log.warning(
            "No cleaned table: the training labels were corrupted on purpose (the noise group); "
            "use noise=none to clean the labels of the file as they are."
        )
        return None
    return cleaning_of(dataset, learner.training_set_)


def _reference_fit_predictions(classifier, dataset, labels, cache_dir) -> np.ndarray:
    """Test predictions of the classifier trained on all rows with ``labels`` — the noisy ones
    (the baseline) or the true ones (the oracle). Cached like the CV: a sweep over strategies
    or detection methods needs the same references every time."""
    directory = cache.resolve_cache_dir(cache_dir)
    if directory is not None and not cache.can_fingerprint(classifier):
        directory = None  # logged by the cross-validation's cache (runner.learn.cv)
    if directory is not None:
        key = cache.cache_key(classifier, dataset.X_train, labels, purpose="reference fit", X_test=dataset.X_test)
        shape, check = (len(dataset.y_test),), _class_codes(dataset.n_classes)
        predicted = cache.load(directory, key, shape, np.int64, check=check)
        if predicted is not None:
            return predicted
    model = fresh_copy(classifier)
    model.fit(dataset.X_train, labels)
    predicted = np.asarray(model.predict(dataset.X_test), dtype=np.int64)
    if directory is not None:
        cache.store(directory, key, predicted)
    return predicted


def _class_codes(n_classes: int):
    """A cache-entry check: predictions must be class codes 0..K-1."""

    def check(predicted: np.ndarray) -> None:
        if predicted.size and (predicted.min() < 0 or predicted.max() >= n_classes):
            raise ValueError(f"predictions outside the class codes 0..{n_classes - 1}")

    return check


def _test_scores(learner, dataset) -> dict:
    """Scores on the held-out labels, which noise never touches (labels are codes 0..K-1)."""
    predicted = learner.predict(dataset.X_test)
    probs = learner.predict_proba(dataset.X_test)
    return {
        "test_accuracy": accuracy_score(dataset.y_test, predicted),
        "test_balanced_accuracy": balanced_accuracy_score(dataset.y_test, predicted),
        "test_macro_f1": f1_score(dataset.y_test, predicted, average="macro"),
        "test_log_loss": log_loss(dataset.y_test, probs, labels=np.arange(probs.shape[1])),
    }


def _issue_table(learner, dataset, given, trusted=None) -> pd.DataFrame:
    """One row per training example, worst label first; labels as the dataset's own class values.

    ``rank`` (1 = the most suspicious label), the row's identity in its source (``row``: its row number in the
    file, or the id column under its own name), ``index`` (its position in the training split), then the
    detection's columns.
    """
    frame = learner.label_issues_df
    source = dataset.source
    if source is not None and source.id_column is not None:
        identity = {source.id_column: source.ids[dataset.train_rows]}
    else:
        identity = {"row": dataset.train_rows}
    table = pd.DataFrame(
        {
            **identity,
            "index": np.arange(len(given)),
            "given_label": dataset.classes[given],
            "predicted_label": dataset.classes[frame["predicted_label"].to_numpy()],
            "label_quality": frame["label_quality"].to_numpy(),
            "is_label_issue": frame["is_label_issue"].to_numpy(),
        }
    )
    if not np.array_equal(given, dataset.y_train):
        table["true_label"] = dataset.classes[dataset.y_train]
        table["is_true_error"] = given != dataset.y_train
    if trusted is not None:
        table["trusted"] = trusted
    if "sample_weight" in frame.columns:
        table["sample_weight"] = frame["sample_weight"].to_numpy()
    # Worst first: the order in which a user should look at their labels (ties keep the split's order).
    table = table.take(np.argsort(table["label_quality"].to_numpy(), kind="stable"))
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def _detection_scores(issues, estimated_noise_matrix, true_noise_matrix) -> dict:
    """How well detection found the injected errors."""
    truth = issues["is_true_error"].to_numpy() if "is_true_error" in issues else np.zeros(len(issues), bool)
    flagged = issues["is_label_issue"].to_numpy()
    true_positives = np.sum(flagged & truth)
    scores = {"true_noise_rate": float(truth.mean())}
    if flagged.any():
        scores["detection_precision"] = true_positives / flagged.sum()
    if truth.any():
        scores["detection_recall"] = true_positives / truth.sum()
    if flagged.any() and truth.any():
        scores["detection_f1"] = 2 * true_positives / (flagged.sum() + truth.sum())
    if truth.any() and not truth.all():
        scores["detection_auroc"] = roc_auc_score(truth, -issues["label_quality"].to_numpy())
    if estimated_noise_matrix is not None:
        scores["noise_matrix_mae"] = float(np.mean(np.abs(estimated_noise_matrix - true_noise_matrix)))
    return scores


def save_result(run_dir, result: ExperimentResult, *, save_pred_probs: bool = True) -> None:
    """Write the artifacts; ``metrics.json`` last, so that it marks a complete run."""
    run_dir = Path(run_dir)
    write_table(run_dir / artifacts.LABEL_ISSUES, result.label_issues)
    for name, matrix in result.matrices.items():
        write_matrix(run_dir / f"{name}.csv", matrix, result.class_names)
    if save_pred_probs and result.pred_probs is not None:
        write_array(run_dir / artifacts.PRED_PROBS, result.pred_probs)
    if result.cleaning is not None:
        write_cleaned_table(run_dir, result.cleaning)
    write_json(run_dir / artifacts.METRICS, result.metrics)
