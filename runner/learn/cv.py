"""Out-of-fold predicted probabilities: K stratified folds, fitted in parallel, threads pinned.

Every example's row of ``pred_probs`` comes from a copy of the classifier that never saw it,
with one exception, the reference's: a class with fewer examples than folds can be missing from
a training fold; that fold then also trains on the first of the class's held-out examples (with
a warning), and that example's row is set to certainty in its own label. Folds are drawn
exactly as the reference draws them
(``StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(labels, labels)``), so the
same seed gives the same folds. Fold fits run through joblib (``n_jobs``, any joblib backend)
and each runs under a BLAS/OpenMP thread cap: on small machines multi-threaded BLAS is much
slower and changes the fitted model, so parallelism comes from folds, not threads.

The reference's cross-validation helpers are here under their names
(:func:`estimate_cv_predicted_probabilities`, :func:`estimate_confident_joint_and_cv_pred_proba`,
:func:`estimate_py_noise_matrices_and_cv_pred_proba`, :func:`estimate_noise_matrices`).
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from typing import NamedTuple

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from runner.confident._validation import check_pred_probs
from runner.confident.count import compute_confident_joint, estimate_latent
from runner.learn import cache
from runner.learn.parallel import fold_backend

log = logging.getLogger(__name__)


def default_classifier():
    """The reference's default: ``LogisticRegression()`` with its default settings."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression()


def n_samples_of(X) -> int:
    """Number of rows of an array, DataFrame, sparse matrix or sequence."""
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)


def take_rows(X, rows):
    """Rows of ``X`` by integer index or boolean mask (``.iloc`` for pandas)."""
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def check_fold_sizes(labels: np.ndarray, n_folds: int, classes=None) -> None:
    """Refuse what stratified cross-validation cannot do, naming it (before any fitting).

    Fewer than 2 folds, fewer examples than folds, or a class without a single example (of
    ``classes``, or of ``0..labels.max()``) cannot be cross-validated. A class with fewer
    examples than folds can: :func:`cross_val_pred_probs` lends it a held-out example where a
    training fold lacks it, as the reference does.
    """
    if n_folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got cv_n_folds={n_folds}")
    if len(labels) < n_folds:
        raise ValueError(
            f"cross-validation with cv_n_folds={n_folds} needs at least {n_folds} examples, got "
            f"{len(labels)}; use fewer folds"
        )
    names = classes if classes is not None else np.arange(int(np.max(labels)) + 1)
    empty = np.flatnonzero(np.bincount(labels, minlength=len(names)) == 0)
    if empty.size:
        listed = ", ".join(repr(name) for name in np.asarray(names)[empty].tolist())
        raise ValueError(
            f"class {listed} has no training example, so no model can learn it; drop the class "
            "or give it labelled examples"
        )


def fresh_copy(clf):
    """An unfitted copy of ``clf``: ``sklearn.clone``, or a deep copy of what it cannot clone.

    ``clone`` needs ``get_params`` (scikit-learn's estimator API); Keras or PyTorch wrappers and
    hand-written classes often lack it. A deep copy carries whatever state ``clf`` holds, so
    such a classifier should be passed unfitted.
    """
    try:
        return clone(clf)
    except (TypeError, RuntimeError) as error:
        name = type(clf).__name__
        if name not in _DEEP_COPIED:
            _DEEP_COPIED.add(name)
            log.info("sklearn.clone cannot copy %s (%s); using copy.deepcopy instead", name, error)
        return copy.deepcopy(clf)


_DEEP_COPIED: set = set()  # classifiers whose fallback was logged (once per class and process)


def lend_missing_classes(train, holdout, labels, n_classes: int, eligible=None):
    """``(train, lent)``: the training rows plus ``lent``, one held-out row per class they lack.

    A class with fewer examples than folds can be absent from a training fold, and a model that
    never saw a class cannot predict it. As in the reference, the fold then also trains on the
    first held-out example of every class it lacks (classes in increasing order); that example
    is then no longer out-of-fold, and :func:`cross_val_pred_probs` sets its row to certainty in
    its label. A class with no held-out example either stays missing. ``eligible`` (bool, N)
    restricts the rows that may train at all (iterative detection drops the flagged ones).
    """
    missing = np.flatnonzero(np.bincount(labels[train], minlength=n_classes) == 0)
    if not missing.size:
        return train, train[:0]
    if eligible is not None:
        holdout = holdout[eligible[holdout]]
    held = labels[holdout]
    lent = np.array([holdout[np.argmax(held == k)] for k in missing if np.any(held == k)], dtype=train.dtype)
    return np.concatenate([train, lent]), lent


def _fit_fold(clf, X, labels, train, holdout, n_classes, fit_kwargs, validation_func, threads):
    """Fit a copy on the training rows; predicted probabilities of the held-out rows."""
    started = time.perf_counter()
    model = fresh_copy(clf)
    # The held-out rows are copied only after the fit unless a validation_func needs them: a
    # copy alive during the fit would add to the peak memory of every fold.
    extra = validation_func(take_rows(X, holdout), labels[holdout]) if validation_func is not None else {}
    with threadpool_limits(limits=threads):
        model.fit(take_rows(X, train), labels[train], **fit_kwargs, **extra)
        probs = model.predict_proba(take_rows(X, holdout))
    return align_columns(model, probs, n_classes), time.perf_counter() - started


def align_columns(model, probs, n_classes: int) -> np.ndarray:
    """predict_proba columns in class order 0..K-1 (a model may order or omit classes)."""
    probs = np.asarray(probs)
    classes = getattr(model, "classes_", None)
    if classes is None or (len(classes) == n_classes and np.array_equal(classes, np.arange(n_classes))):
        if probs.shape[1] != n_classes:
            raise ValueError(f"predict_proba returned {probs.shape[1]} columns for {n_classes} classes")
        return probs
    aligned = np.zeros((len(probs), n_classes), dtype=probs.dtype)
    aligned[:, np.asarray(classes, dtype=np.int64)] = probs
    return aligned


def cross_val_pred_probs(
    clf,
    X,
    labels,
    *,
    n_folds: int = 5,
    seed=None,
    n_jobs=None,
    backend=None,
    scheduler_address=None,
    fit_kwargs=None,
    validation_func=None,
    threads_per_fit: int | None = 1,
    dtype=np.float64,
    train_mask=None,
    train_labels=None,
    train_weights=None,
) -> np.ndarray:
    """Out-of-fold predicted probabilities of every example.

    Parameters
    ----------
    clf : estimator
        Any classifier with ``fit`` and ``predict_proba``; copied for every fold
        (:func:`fresh_copy`).
    X : array-like of shape (N, ...)
        Features (arrays, DataFrames, sparse matrices).
    labels : ndarray of shape (N,)
        Integers ``0..K-1``, every class with at least one example. A class with fewer
        examples than folds works as in the reference (:func:`lend_missing_classes`, with a
        ``UserWarning``).
    n_folds : int
        Number of stratified folds.
    seed : int, optional
        ``random_state`` of the fold shuffle.
    n_jobs : int, optional
        Folds fitted in parallel (joblib semantics: None = 1, -1 = all cores).
    backend : str, optional
        Where the folds run (:func:`runner.learn.parallel.fold_backend`): ``"loky"``, ``"threading"``,
        ``"dask"``, any registered joblib backend; None = joblib's default or enclosing config.
    scheduler_address : str, optional
        Address of a Dask scheduler (``backend="dask"``); without one a local cluster of
        ``n_jobs`` worker processes runs for the duration of the call.
    fit_kwargs : dict, optional
        Extra keyword arguments of every fold's ``fit``.
    validation_func : callable, optional
        ``validation_func(X_holdout, labels_holdout) -> dict`` of extra ``fit`` kwargs per fold.
    threads_per_fit : int or None
        BLAS/OpenMP threads of each fit (None: no cap).
    dtype : numpy dtype
        Of the returned array (float64 like the reference; float32 halves memory).
    train_mask : ndarray of bool, shape (N,), optional
        Only these rows are used to train the fold models (every row is still predicted by a
        model that did not see it): iterative detection trains without the rows it flagged.
    train_labels : ndarray of shape (N,), optional
        Labels the fold models train on, when not ``labels`` (iterative detection may relabel
        the rows it flagged); the folds are still drawn from ``labels``.
    train_weights : ndarray of shape (N,), optional
        ``sample_weight`` of each row when it trains a fold model.

    Returns
    -------
    ndarray of shape (N, K)
    """
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1
    fit_labels = labels if train_labels is None else np.asarray(train_labels)
    check_fold_sizes(labels, n_folds)
    if validation_func is not None and not callable(validation_func):
        raise TypeError("validation_func must be callable")
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    holdouts, lent_rows = [], []  # of the folds dispatched so far, in order

    def tasks():
        # Folds are drawn lazily: a fold's training indices (8 bytes a row) exist only while it
        # is dispatched, not for all folds at once.
        for train, holdout in folds.split(labels, labels):
            if train_mask is not None:
                train = train[train_mask[train]]
            train, lent = lend_missing_classes(train, holdout, fit_labels, n_classes, train_mask)
            holdouts.append(holdout)
            lent_rows.append(lent)
            kwargs = dict(fit_kwargs or {})
            if train_weights is not None:
                kwargs["sample_weight"] = train_weights[train]
            yield delayed(_fit_fold)(
                clf, X, fit_labels, train, holdout, n_classes, kwargs, validation_func, threads_per_fit
            )

    pred_probs = np.empty((len(labels), n_classes), dtype=dtype)
    # Results arrive in dispatch order (so result k belongs to holdouts[k]) whichever worker
    # finishes first, and must be consumed inside the block: a Dask cluster lives only as long
    # as the block.
    with fold_backend(backend, n_jobs=n_jobs, scheduler_address=scheduler_address) as n_jobs:
        results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks())
        for fold, (probs, seconds) in enumerate(results):
            pred_probs[holdouts[fold]] = probs
            holdouts[fold] = None
            log.info("fold %d/%d fitted in %.1f s", fold + 1, n_folds, seconds)
    lent = np.concatenate(lent_rows)
    if lent.size:
        # Their fold saw them: what it predicts is no out-of-fold estimate. Certainty in the
        # label they trained with stands in (never flagged), as in the reference.
        pred_probs[lent] = 0
        pred_probs[lent, fit_labels[lent]] = 1
        classes = np.unique(fit_labels[lent]).tolist()
        warnings.warn(
            f"classes {classes} (label codes) have too few examples for {n_folds}-fold "
            f"cross-validation: {lent.size} held-out example(s) were added to the training folds "
            "that lacked their class, so these examples are trained on in one fold and "
            "predicted there too; their pred_probs rows are set to certainty in their label",
            UserWarning,
            stacklevel=2,
        )
    return pred_probs


class OutOfFold(NamedTuple):
    """Out-of-fold probabilities, whether they came from the cache, and what computing them cost."""

    pred_probs: np.ndarray
    cache_hit: bool
    seconds: float


def cached_cross_val_pred_probs(clf, X, labels, *, cache_dir=None, **options) -> OutOfFold:
    """:func:`cross_val_pred_probs` through the on-disk cache.

    ``cache_dir`` None falls back to ``$CLEANRUN_CACHE_DIR``; with neither, nothing is cached.
    A ``validation_func`` cannot be fingerprinted, so it bypasses the cache, and so does a
    classifier without ``get_params`` (:func:`runner.learn.cache.can_fingerprint`). ``seconds`` is the
    cost of the computation even on a cache hit (NaN when it was not recorded).
    """
    started = time.perf_counter()
    directory = cache.resolve_cache_dir(cache_dir)
    if directory is not None and not cache.can_fingerprint(clf):
        log.info("out-of-fold pred_probs not cached: %s has no get_params to key them by", type(clf).__name__)
        directory = None
    if directory is None or options.get("validation_func") is not None:
        return OutOfFold(cross_val_pred_probs(clf, X, labels, **options), False, time.perf_counter() - started)
    labels = np.asarray(labels)
    dtype = options.get("dtype", np.float64)
    key = cache.cache_key(
        clf,
        X,
        labels,
        purpose="out-of-fold pred_probs",
        n_folds=options.get("n_folds", 5),
        seed=options.get("seed"),
        fit_kwargs=options.get("fit_kwargs") or {},
        dtype=np.dtype(dtype).str,
        train_mask=options.get("train_mask"),
        train_labels=options.get("train_labels"),
        # only when given: the keys of every unweighted cross-validation stay as they were
        **({"train_weights": options["train_weights"]} if options.get("train_weights") is not None else {}),
    )
    shape = (len(labels), int(labels.max()) + 1)
    cached = cache.load(directory, key, shape, dtype, check=check_pred_probs)
    if cached is not None:
        log.info("out-of-fold pred_probs from the cache (%s)", key[:12])
        seconds = cache.compute_seconds(directory, key)
        return OutOfFold(cached, True, float("nan") if seconds is None else seconds)
    pred_probs = cross_val_pred_probs(clf, X, labels, **options)
    seconds = time.perf_counter() - started
    cache.store(directory, key, pred_probs, seconds=seconds)
    return OutOfFold(pred_probs, False, seconds)


# --------------------------------------------------------------------------------------------
# The reference's cross-validation helpers


def _labels_for_cv(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iub":
        raise ValueError("labels must be a 1-D array of integers 0..K-1")
    present = np.unique(labels)
    if present[0] < 0 or not np.array_equal(present, np.arange(len(present))):
        raise ValueError(
            "labels must be the integers 0..K-1 with every class present; "
            "use runner.CleanLearning for other class values"
        )
    return labels.astype(np.int64, copy=False)


def estimate_cv_predicted_probabilities(
    X, labels, clf=None, *, cv_n_folds=5, seed=None, clf_kwargs=None, validation_func=None, n_jobs=None
) -> np.ndarray:
    """Out-of-fold ``pred_probs`` (see :func:`cross_val_pred_probs`)."""
    return cross_val_pred_probs(
        clf if clf is not None else default_classifier(),
        X,
        _labels_for_cv(labels),
        n_folds=cv_n_folds,
        seed=seed,
        n_jobs=n_jobs,
        fit_kwargs=clf_kwargs,
        validation_func=validation_func,
    )


def estimate_confident_joint_and_cv_pred_proba(
    X,
    labels,
    clf=None,
    *,
    cv_n_folds=5,
    thresholds=None,
    seed=None,
    calibrate=True,
    clf_kwargs=None,
    validation_func=None,
    n_jobs=None,
):
    """Out-of-fold ``pred_probs`` and the confident joint computed from them.

    Returns
    -------
    confident_joint : ndarray of shape (K, K)
    pred_probs : ndarray of shape (N, K)
    """
    labels = _labels_for_cv(labels)
    pred_probs = estimate_cv_predicted_probabilities(
        X,
        labels,
        clf,
        cv_n_folds=cv_n_folds,
        seed=seed,
        clf_kwargs=clf_kwargs,
        validation_func=validation_func,
        n_jobs=n_jobs,
    )
    joint = compute_confident_joint(labels, pred_probs, thresholds=thresholds, calibrate=calibrate)
    return joint, pred_probs


def estimate_py_noise_matrices_and_cv_pred_proba(
    X,
    labels,
    clf=None,
    *,
    cv_n_folds=5,
    thresholds=None,
    converge_latent_estimates=False,
    py_method="cnt",
    seed=None,
    clf_kwargs=None,
    validation_func=None,
    n_jobs=None,
):
    """Latent estimates, confident joint and out-of-fold ``pred_probs`` in one call.

    Returns
    -------
    py, noise_matrix, inverse_noise_matrix, confident_joint, pred_probs
    """
    labels = _labels_for_cv(labels)
    joint, pred_probs = estimate_confident_joint_and_cv_pred_proba(
        X,
        labels,
        clf,
        cv_n_folds=cv_n_folds,
        thresholds=thresholds,
        seed=seed,
        clf_kwargs=clf_kwargs,
        validation_func=validation_func,
        n_jobs=n_jobs,
    )
    py, noise_matrix, inverse_noise_matrix = estimate_latent(
        joint, labels, py_method=py_method, converge_latent_estimates=converge_latent_estimates
    )
    return py, noise_matrix, inverse_noise_matrix, joint, pred_probs


def estimate_noise_matrices(
    X,
    labels,
    clf=None,
    *,
    cv_n_folds=5,
    thresholds=None,
    converge_latent_estimates=True,
    seed=None,
    clf_kwargs=None,
    validation_func=None,
    n_jobs=None,
):
    """``(noise_matrix, inverse_noise_matrix)`` estimated by cross-validation."""
    _, noise_matrix, inverse_noise_matrix, _, _ = estimate_py_noise_matrices_and_cv_pred_proba(
        X,
        labels,
        clf,
        cv_n_folds=cv_n_folds,
        thresholds=thresholds,
        converge_latent_estimates=converge_latent_estimates,
        seed=seed,
        clf_kwargs=clf_kwargs,
        validation_func=validation_func,
        n_jobs=n_jobs,
    )
    return noise_matrix, inverse_noise_matrix
