"""CleanLearning: find label issues by cross-validation, clean the training set, retrain.

``CleanLearning(clf).fit(X, labels)`` runs, in order:

1. **detection** — out-of-fold ``pred_probs`` from ``cv_n_folds`` stratified folds (each on a
   clone of ``clf``), the confident joint and noise matrices, and the label-issue mask from
   :func:`runner.confident.find_label_issues` with ``find_label_issues_kwargs``;
2. **strategy** — what the final fit sees (:mod:`runner.strategies`: ``remove`` by default,
   ``weight``, ``relabel``, ``none`` or any object with ``select``);
3. **final fit** — a clone of ``clf`` on that training set with ``clf_final_kwargs``.

It is a drop-in for ``cleanlab.classification.CleanLearning`` (same parameters, methods and
fitted attribute names) with these differences: labels may be any class values (they are
encoded to ``0..K-1`` and decoded in every output); ``clf`` is cloned, never refitted in place
(the fitted model is ``clf_``); nothing touches numpy's global random state; a second ``fit``
starts fresh; bad input is refused before any fitting; and the folds can run in parallel
(``n_jobs``) with every fit under a BLAS/OpenMP thread cap (``threads_per_fit``).
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import has_fit_parameter
from threadpoolctl import threadpool_limits

from runner.confident.rank import get_label_quality_scores
from runner.contracts import check_detection
from runner.learn.cv import (
    _fit_fold,
    align_columns,
    cached_cross_val_pred_probs,
    check_fold_sizes,
    default_classifier,
    fresh_copy,
    n_samples_of,
    take_rows,
)
from runner.detection import ConfidentLearning, Detection
from runner.learn.guard import VALIDATION_INNER_FOLDS, check_cleaning, held_out_halves
from runner.learn.parallel import lone_fit_limits
from runner.strategies import Remove, TrainingSet, check_training_set, get_strategy

log = logging.getLogger(__name__)

FORBIDDEN_DETECTION_KWARGS = ("return_indices_ranked_by", "multi_label")
IGNORED_DETECTION_KWARGS = ("n_jobs", "verbose")  # accepted for compatibility; detection needs no pool


class CleanLearning(ClassifierMixin, BaseEstimator):
    """Wrap any classifier so that it is trained only on the examples whose labels look right.

    Parameters
    ----------
    clf : estimator, default LogisticRegression()
        Any classifier with ``fit(X, y)`` and ``predict_proba(X)``; cloned for every fit.
    seed : int, optional
        ``random_state`` of the fold shuffle (the same folds as the reference).
    cv_n_folds : int, default 5
        Number of cross-validation folds.
    converge_latent_estimates : bool, default False
        Make the noise-matrix estimates mutually consistent (see ``estimate_latent``).
    pulearning : {0, 1}, optional
        For K=2: the class that is known to contain no label errors.
    find_label_issues_kwargs : dict, optional
        Passed to :func:`runner.confident.find_label_issues` (``min_examples_per_class``
        defaults to 10 here). After detection the attribute holds these defaults and the
        estimated ``confident_joint`` too, as in the reference; ``get_params`` (and ``clone``)
        still give what was set, and the next ``fit`` starts fresh.
    label_quality_scores_kwargs : dict, optional
        Passed to :func:`runner.confident.get_label_quality_scores`.
    verbose : bool, default False
        Log the steps at INFO level (DEBUG otherwise).
    low_memory : bool, default False
        Accepted for compatibility; detection here already works in bounded memory.
    strategy : str or Strategy, default "remove"
        ``"remove"``, ``"weight"``, ``"relabel"``, ``"none"``, ``"soft_weight"``,
        ``"relabel_confident"`` or an object with ``select`` (see :mod:`runner.strategies`).
    n_jobs : int, optional
        Folds fitted in parallel (joblib; None = 1, -1 = all cores).
    threads_per_fit : int or None, default 1
        BLAS/OpenMP threads of every fit (None: no cap).
    cv_backend : str, optional
        joblib backend of the fold fits (``"loky"``, ``"threading"``, ``"dask"``, ...).
    cv_scheduler_address : str, optional
        A Dask scheduler to run the folds on (``cv_backend="dask"``); without one, a local
        cluster runs for the duration of the cross-validation.
    pred_probs_dtype : str, default "float64"
        dtype of the out-of-fold probabilities (``"float32"`` halves their memory).
    detector : Detector, optional
        An object with ``detect(labels, pred_probs) -> Detection``; default: confident
        learning configured by ``find_label_issues_kwargs`` and ``label_quality_scores_kwargs``.
    final_params : dict, optional
        Hyperparameters set on the final model only (``clone(clf).set_params(**final_params)``).
    cv_cache_dir : str or Path, optional
        Cache the out-of-fold probabilities on disk here (default ``$CLEANRUN_CACHE_DIR`` if
        set, else no cache).
    ensemble : list of estimators, optional
        Detect with the mean of these classifiers' out-of-fold probabilities instead of
        ``clf``'s (the final fit still uses ``clf``).
    detection_rounds : int, default 1
        Rounds of detection; each round after the first cross-validates again with fold models
        that do not learn the labels flagged so far, and detects again on every row (stopping
        early when the flags stop changing).
    round_mode : {"drop", "relabel"}, default "drop"
        How those fold models treat the flagged rows: train without them, or train on them
        with the label the detection suggests (the argmax of its ``pred_probs``: the
        out-of-fold prediction, or the posterior's most probable class for
        :class:`~runner.detection.NoisePosterior`).
    round_mean : bool, default False
        After the rounds, detect once more on the mean of every round's out-of-fold
        probabilities: each round's models saw different labels, and their mean varies less
        than the last round's alone.
    validate_cleaning : bool, default False
        Use the strategy's training set only if it earns its place (:mod:`runner.learn.guard`): split
        the rows in two stratified halves; run this learner's detection and strategy on each half
        alone (``3``-fold cross-validation within it) and fit ``clf`` on all of the half and on
        what the strategy keeps of it; compare the two models' accuracy on the *other* half's
        given labels (``validation_pred_probs_``). When cleaning does not win, the final fit
        trains on every row as given; the label issues are reported either way. Costs about one
        more cross-validation. A class with fewer than 6 rows cannot be split so: every row is
        then kept.
    validation_min_z : float, default 0.0
        With ``validate_cleaning``: how many standard errors of the paired held-out difference
        cleaning must win by.
    validation_criterion : {"corrected", "given"}, default "corrected"
        How a held-out prediction is scored: against the given label corrected by the
        estimated noise matrix (an estimate of accuracy on the true labels), or against the
        given label itself (see :mod:`runner.learn.guard`).
    skip_final_fit : bool, default False
        Stop after the strategy: ``fit`` finds the issues and the cleaned training set
        (``training_set_``) but trains no final model, so ``predict`` is unavailable — for
        users who want only the issues and the cleaned data.

    Attributes
    ----------
    clf_ : estimator
        The classifier fitted on the cleaned data (absent with ``skip_final_fit``).
    training_set_ : TrainingSet
        What the strategy chose for the final fit: rows (indices into the N examples), their
        labels (codes into ``classes_``) and sample weights (None: unweighted).
    classes_ : ndarray
        The class values, in the order of ``predict_proba``'s columns.
    label_issues_df : pandas.DataFrame
        Per example: ``is_label_issue``, ``label_quality``, ``given_label``,
        ``predicted_label`` (class values; the argmax of the detection's ``pred_probs``, which
        is the out-of-fold prediction except for detectors such as
        :class:`~runner.detection.NoisePosterior`), and ``sample_weight`` when the final fit
        used weights.
    noise_matrix, inverse_noise_matrix, confident_joint, py, ps
        Noise estimates (``P(given | true)``, ``P(true | given)``, counts, priors).
    pred_probs : ndarray of shape (N, K)
        The out-of-fold predicted probabilities used for detection.
    timings_ : dict
        Seconds spent in cross-validation (``cv_s``; ``cv_compute_s`` is what the
        cross-validations cost when computed, also when they came from the cache), detection
        and the final fit; ``validate_cleaning``'s work on the halves counts as cross-validation
        and detection.
    cv_cache_hit_ : bool or None
        Whether the out-of-fold probabilities came from the cache (None: not cross-validated).
    cleaning_check_ : runner.learn.guard.CleaningCheck or None
        With ``validate_cleaning``: the held-out comparison, and whether cleaning was used.
    cleaning_checks_ : dict
        With ``validate_cleaning``: the comparison under each criterion computed (``"given"``
        always), for reports.
    validation_pred_probs_ : dict or None
        With ``validate_cleaning``: ``{"kept": ..., "cleaned": ...}``, each row's probabilities
        from the models trained on the other half, on all of it and on its cleaned rows.
    n_features_in_ : int or None
        Number of features of 2-D ``X``.
    """

    # Fitted state under the reference's public names: None until fit / find_label_issues.
    label_issues_df = None
    label_issues_mask = None
    sample_weight = None
    confident_joint = None
    py = None
    ps = None
    num_classes = None
    noise_matrix = None
    inverse_noise_matrix = None
    clf_kwargs = None
    clf_final_kwargs = None
    pred_probs = None
    cleaning_check_ = None
    cleaning_checks_ = None
    validation_pred_probs_ = None

    def __init__(
        self,
        clf=None,
        *,
        seed=None,
        cv_n_folds=5,
        converge_latent_estimates=False,
        pulearning=None,
        find_label_issues_kwargs=None,
        label_quality_scores_kwargs=None,
        verbose=False,
        low_memory=False,
        strategy="remove",
        n_jobs=None,
        threads_per_fit=1,
        cv_backend=None,
        pred_probs_dtype="float64",
        detector=None,
        final_params=None,
        cv_cache_dir=None,
        ensemble=None,
        detection_rounds=1,
        round_mode="drop",
        round_mean=False,
        cv_scheduler_address=None,
        validate_cleaning=False,
        validation_min_z=0.0,
        validation_criterion="corrected",
        skip_final_fit=False,
    ):
        self.clf = clf
        self.seed = seed
        self.cv_n_folds = cv_n_folds
        self.converge_latent_estimates = converge_latent_estimates
        self.pulearning = pulearning
        self.find_label_issues_kwargs = find_label_issues_kwargs
        self.label_quality_scores_kwargs = label_quality_scores_kwargs
        self.verbose = verbose
        self.low_memory = low_memory
        self.strategy = strategy
        self.n_jobs = n_jobs
        self.threads_per_fit = threads_per_fit
        self.cv_backend = cv_backend
        self.pred_probs_dtype = pred_probs_dtype
        self.detector = detector
        self.final_params = final_params
        self.cv_cache_dir = cv_cache_dir
        self.ensemble = ensemble
        self.detection_rounds = detection_rounds
        self.round_mode = round_mode
        self.round_mean = round_mean
        self.cv_scheduler_address = cv_scheduler_address
        self.validate_cleaning = validate_cleaning
        self.validation_min_z = validation_min_z
        self.validation_criterion = validation_criterion
        self.skip_final_fit = skip_final_fit

    @classmethod
    def recommended(cls, clf=None, **params):
        """The recommended configuration (``method=recommended``), with ``params`` on top.

        Confident learning's detection, the flagged rows removed without re-weighting, and only
        if held-out given labels say the cleaned rows win (``validate_cleaning``; the margin is
        ``validation_min_z`` = 3 standard errors) while the estimated noise matrix is diagonally
        dominant (:func:`runner.learn.guard.label_margin`); otherwise the final model trains on every row.
        """
        options = dict(
            strategy=Remove(reweight=False), validate_cleaning=True, validation_min_z=3.0,
            validation_criterion="given",
        )
        return cls(clf, **{**options, **params})

    # ----------------------------------------------------------------------------------------
    # fit

    def fit(
        self,
        X,
        labels=None,
        *,
        pred_probs=None,
        thresholds=None,
        noise_matrix=None,
        inverse_noise_matrix=None,
        label_issues=None,
        sample_weight=None,
        clf_kwargs=None,
        clf_final_kwargs=None,
        validation_func=None,
        y=None,
    ):
        """Detect label issues, build the final training set with the strategy, fit ``clf_``.

        Parameters
        ----------
        X : array-like of shape (N, ...)
            Training features (arrays, DataFrames, sparse matrices).
        labels : array-like of shape (N,)
            Given labels, any class values (``y`` is an alias).
        pred_probs : ndarray of shape (N, K), optional
            Out-of-fold probabilities; skips cross-validation.
        thresholds : array-like of shape (K,), optional
            Per-class confident thresholds.
        noise_matrix, inverse_noise_matrix : ndarray of shape (K, K), optional
            Known noise matrices (``P(given | true)``, ``P(true | given)``).
        label_issues : DataFrame, bool mask or int indices, optional
            Skip detection and use these issues.
        sample_weight : array-like of shape (N,), optional
            Weights of the final fit (the classifier must accept them): finite; negative
            weights reach the classifier as given, except with a strategy that scales the
            weights (``weight``, ``soft_weight``), which needs them ``>= 0``.
        clf_kwargs : dict, optional
            Extra ``fit`` kwargs of every fit (cross-validation and final).
        clf_final_kwargs : dict, optional
            Extra ``fit`` kwargs of the final fit only (they win over ``clf_kwargs``).
        validation_func : callable, optional
            ``validation_func(X_holdout, y_holdout) -> dict`` of extra ``fit`` kwargs per fold.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        labels = _labels_or_y(labels, y)
        clf = self._checked_classifier()
        X = self._features(X)
        clf_kwargs = dict(clf_kwargs or {})
        if "sample_weight" in clf_kwargs:
            raise ValueError("sample_weight belongs in fit(sample_weight=...), not in clf_kwargs")
        final_kwargs = {**clf_kwargs, **(clf_final_kwargs or {})}
        strategy = get_strategy(self.strategy)
        strategy_name = self.strategy if isinstance(self.strategy, str) else type(strategy).__name__
        if self.final_params and not callable(getattr(clf, "set_params", None)):
            raise ValueError(f"final_params need a classifier with set_params; {type(clf).__name__} has none")
        takes_weights = has_fit_parameter(clf, "sample_weight")
        if sample_weight is not None and not takes_weights:
            raise ValueError(
                f"{type(clf).__name__}.fit has no sample_weight parameter, so sample_weight cannot be used"
            )
        if strategy.requires_sample_weight and not takes_weights:
            raise ValueError(
                f"strategy {strategy_name!r} needs a classifier whose fit accepts sample_weight; "
                f"{type(clf).__name__}.fit does not (use strategy='remove' or another classifier)"
            )
        width = _width(pred_probs, noise_matrix, inverse_noise_matrix)
        encoded = self._encode(labels, width)
        _check_same_length(X, encoded, "X", "labels")
        if sample_weight is not None:
            sample_weight = _checked_sample_weight(sample_weight, len(encoded), strategy, strategy_name)

        if label_issues is None:
            detection = self._detect(
                X, encoded, clf, pred_probs=pred_probs, thresholds=thresholds,
                noise_matrix=noise_matrix, inverse_noise_matrix=inverse_noise_matrix,
                clf_kwargs=clf_kwargs, validation_func=validation_func,
            )
        else:
            self.timings_, self.cv_cache_hit_ = {}, None
            detection = self._given_issues(label_issues, labels, encoded, pred_probs)

        # The caller's negative weights pass through to the classifier, as in the reference
        # (strategies that scale weights refused them above).
        training = check_training_set(
            strategy.select(detection, encoded, sample_weight), encoded, self.num_classes, repr(strategy_name),
            allow_negative_weights=sample_weight is not None and bool(np.any(sample_weight < 0)),
        )
        self.cleaning_check_ = None
        if self.validate_cleaning:
            training = self._validated(training, X, encoded, clf, clf_kwargs, sample_weight, takes_weights)
        strategy_weights = (
            "sample_weight" not in final_kwargs and training.sample_weight is not None and takes_weights
        )
        if strategy_weights:
            final_kwargs["sample_weight"] = training.sample_weight
        self.label_issues_mask = np.asarray(detection.label_issues, dtype=bool)
        self.clf_kwargs, self.clf_final_kwargs = clf_kwargs, final_kwargs
        self.training_set_ = training

        self.n_features_in_ = _n_features(X)
        self.__dict__.pop("clf_", None)  # a model of an earlier fit must not outlive this one
        if not self.skip_final_fit:
            fit_started = time.perf_counter()
            self.clf_ = fresh_copy(clf)
            if self.final_params:
                self.clf_.set_params(**self.final_params)
            # Alone now, the final fit may use the cores the folds had (OpenMP only, same model).
            limits = lone_fit_limits(self.threads_per_fit, self.n_jobs, remote=bool(self.cv_scheduler_address))
            with threadpool_limits(limits=limits):
                self.clf_.fit(take_rows(X, training.rows), training.labels, **final_kwargs)
            self.timings_["final_fit_s"] = time.perf_counter() - fit_started
        # Recorded after the fit, so that this N-long column adds nothing to its peak memory.
        self.sample_weight = None
        if strategy_weights:
            weights = np.zeros(len(encoded))
            weights[training.rows] = training.sample_weight
            self.label_issues_df["sample_weight"] = weights
            self.sample_weight = self.label_issues_df["sample_weight"]
        self.timings_["total_s"] = time.perf_counter() - started
        self._log(
            "fit: %d of %d examples flagged, final fit on %d rows (%s)",
            self.label_issues_mask.sum(), len(encoded), len(training.rows), strategy_name,
        )
        return self

    # ----------------------------------------------------------------------------------------
    # detection

    def find_label_issues(
        self,
        X=None,
        labels=None,
        *,
        pred_probs=None,
        thresholds=None,
        noise_matrix=None,
        inverse_noise_matrix=None,
        save_space=False,
        clf_kwargs=None,
        validation_func=None,
    ) -> pd.DataFrame:
        """Detect label issues only (no final fit); return the per-example DataFrame.

        Parameters are those of :meth:`fit`. ``X`` may be None when ``pred_probs`` is given.
        ``save_space=True`` returns the DataFrame without storing state on the instance.
        """
        if labels is None:
            raise ValueError("labels are required")
        clf = self._checked_classifier()
        width = _width(pred_probs, noise_matrix, inverse_noise_matrix)
        encoded = self._encode(labels, width)
        if X is None and pred_probs is None:
            raise ValueError("X is required unless pred_probs is given")
        if X is not None:
            X = self._features(X)
            _check_same_length(X, encoded, "X", "labels")
            if pred_probs is not None:
                warnings.warn("pred_probs were given, so X is not used for detection", UserWarning, stacklevel=2)
        kept = {name: getattr(self, name) for name in ("label_issues_df", "label_issues_mask", "pred_probs")}
        self._detect(
            X, encoded, clf, pred_probs=pred_probs, thresholds=thresholds, noise_matrix=noise_matrix,
            inverse_noise_matrix=inverse_noise_matrix, clf_kwargs=clf_kwargs, validation_func=validation_func,
        )
        frame = self.label_issues_df
        if save_space:
            for name, value in kept.items():
                setattr(self, name, value)
        return frame

    def _detect(
        self, X, labels, clf, *, pred_probs, thresholds, noise_matrix, inverse_noise_matrix,
        clf_kwargs, validation_func,
    ) -> Detection:
        """Cross-validate (unless pred_probs are given), detect; stores the detection state."""
        n_classes = self.num_classes
        for name, matrix in (("noise_matrix", noise_matrix), ("inverse_noise_matrix", inverse_noise_matrix)):
            if matrix is not None and np.trace(matrix) <= 1:
                raise ValueError(f"trace({name}) must exceed 1 (labels better than chance), got {np.trace(matrix)}")
        detector = self._detector()
        known = {"noise_matrix": noise_matrix, "inverse_noise_matrix": inverse_noise_matrix, "thresholds": thresholds}
        known = {name: value for name, value in known.items() if value is not None}
        if known and not isinstance(detector, ConfidentLearning):
            raise ValueError(f"{', '.join(known)} can only be given with the confident-learning detector")
        if pred_probs is not None:
            pred_probs = np.asarray(pred_probs)
            if pred_probs.shape != (len(labels), n_classes):
                raise ValueError(
                    f"pred_probs must have shape (N, K) = ({len(labels)}, {n_classes}), got {pred_probs.shape}"
                )
        else:
            if X is None:
                raise ValueError("X is required for cross-validation when pred_probs are not given")
            check_fold_sizes(labels, self.cv_n_folds, self.classes_)

        self.timings_ = {"cv_s": 0.0, "cv_compute_s": 0.0, "detect_s": 0.0}
        self.cv_cache_hit_ = None
        if pred_probs is None:
            pred_probs = self._cv_pred_probs(clf, X, labels, clf_kwargs, validation_func)
        detection = self._timed_detection(detector, labels, pred_probs, known)
        # Iterative detection: cross-validate again with fold models that no longer learn the
        # flagged labels — without those rows ("drop") or with them relabelled to the label the
        # detection suggests ("relabel") — and detect again on every row: cleaner models give
        # better probabilities. Stop early when the flags stop changing.
        # round_mean: a running sum of the rounds' probabilities (a copy only when asked for).
        rounds_total, n_rounds = (pred_probs.astype(np.float64) if self.round_mean else None), 1
        for _ in range(1, self.detection_rounds):
            if X is None:
                raise ValueError("detection_rounds > 1 needs X: every round cross-validates again")
            flagged = detection.label_issues
            if self.round_mode == "drop":
                retrain = {"train_mask": ~flagged}
            else:
                retrain = {"train_labels": np.where(flagged, _suggested_labels(detection, pred_probs), labels)}
            pred_probs = self._cv_pred_probs(clf, X, labels, clf_kwargs, validation_func, **retrain)
            if self.round_mean:
                rounds_total += pred_probs
                n_rounds += 1
            detection = self._timed_detection(detector, labels, pred_probs, known)
            if np.array_equal(detection.label_issues, flagged):
                break
        if n_rounds > 1:
            pred_probs = (rounds_total / n_rounds).astype(pred_probs.dtype, copy=False)
            detection = self._timed_detection(detector, labels, pred_probs, known)

        mask = np.asarray(detection.label_issues, dtype=bool)
        self.ps = np.bincount(labels, minlength=n_classes) / len(labels)
        self.py, self.confident_joint = detection.py, detection.confident_joint
        self.noise_matrix, self.inverse_noise_matrix = detection.noise_matrix, detection.inverse_noise_matrix
        self.pred_probs = pred_probs
        self.label_issues_mask = mask
        frame = {"is_label_issue": mask}
        if detection.label_quality is not None:
            frame["label_quality"] = detection.label_quality
        frame["given_label"] = self.classes_[labels]
        frame["predicted_label"] = self.classes_[_suggested_labels(detection, pred_probs)]
        self.label_issues_df = pd.DataFrame(frame)
        if self.detector is None:
            self._store_detection_kwargs(detection.confident_joint)
        self._log("detection: %d of %d examples flagged", mask.sum(), len(labels))
        return detection

    def _validated(self, training, X, labels, clf, clf_kwargs, sample_weight, takes_weights):
        """The strategy's training set if held-out rows say it beats every row (runner.learn.guard), else every row."""
        if X is None:
            raise ValueError("validate_cleaning needs X: it cross-validates the cleaned rows")
        self.validation_pred_probs_ = None
        halves = held_out_halves(labels, self.seed)
        if halves is None:
            self._log("validate_cleaning: a class has fewer than %d rows, too few to split in halves and "
                      "cross-validate each; every row kept", 2 * VALIDATION_INNER_FOLDS)
            self.cleaning_check_, self.cleaning_checks_ = None, {}
            return TrainingSet(np.arange(len(labels)), labels, sample_weight)
        kept_probs, cleaned_probs = self._cross_fitted_probs(X, labels, clf, clf_kwargs, sample_weight,
                                                             takes_weights, halves)
        self.validation_pred_probs_ = {"kept": kept_probs, "cleaned": cleaned_probs}
        criterion = self.validation_criterion
        if criterion == "corrected" and self.noise_matrix is None:
            self._log("validate_cleaning: the detector estimated no noise matrix; scoring on the given labels")
            criterion = "given"
        self.cleaning_checks_ = {
            name: check_cleaning(labels, kept_probs, cleaned_probs, noise_matrix=self.noise_matrix,
                                 criterion=name, min_z=self.validation_min_z)
            for name in dict.fromkeys([criterion, "given"])
        }
        self.cleaning_check_ = check = self.cleaning_checks_[criterion]
        self._log(
            "validate_cleaning (%s): held-out accuracy %.4f with every row, %.4f cleaned: %s", criterion,
            check.kept_accuracy, check.cleaned_accuracy, "cleaning used" if check.use_cleaning else "every row kept",
        )
        if check.use_cleaning:
            return training
        return TrainingSet(np.arange(len(labels)), labels, sample_weight)

    def _cross_fitted_probs(self, X, labels, clf, clf_kwargs, sample_weight, takes_weights, halves):
        """Each half of the rows predicted by ``clf`` trained on the other half: on all of it, and on what
        this learner's detection and strategy keep of it when they see that half alone.

        Detecting on the other half alone matters: flags from the full cross-validation come from fold
        models that learned the predicted half's given labels, so cleaned models trained on them agree
        with those labels, noise included, and the check would favour cleaning (see :mod:`runner.learn.guard`).
        """
        n_classes = self.num_classes
        kept_probs, cleaned_probs = np.zeros((len(labels), n_classes)), np.zeros((len(labels), n_classes))
        inner = self.get_params(deep=False) | dict(
            validate_cleaning=False, skip_final_fit=True, verbose=False, cv_n_folds=VALIDATION_INNER_FOLDS,
        )
        for train, held in halves:
            weights = None if sample_weight is None else sample_weight[train]
            half = type(self)(**inner).fit(take_rows(X, train), labels[train], sample_weight=weights,
                                           clf_kwargs=clf_kwargs)
            cleaned = half.training_set_
            # The check's cost counts as this learner's: its cross-validations and detections, and the fits below.
            for name in ("cv_s", "cv_compute_s", "detect_s"):
                self.timings_[name] += half.timings_[name]
            # The same fit-and-predict as a fold of the cross-validation; the cleaned rows keep the labels
            # the half's strategy gave them (encoded by the half's own classes_: the classes it has).
            cleaned_rows, cleaned_labels = train[cleaned.rows], labels.copy()
            cleaned_labels[cleaned_rows] = half.classes_[cleaned.labels]
            fits = [(kept_probs, train, labels, weights), (cleaned_probs, cleaned_rows, cleaned_labels,
                                                           cleaned.sample_weight)]
            for probs, rows, fit_labels, fit_weights in fits:
                fit_kwargs = dict(clf_kwargs or {})
                if fit_weights is not None and takes_weights:
                    fit_kwargs["sample_weight"] = fit_weights
                probs[held], seconds = _fit_fold(clf, X, fit_labels, rows, held, n_classes, fit_kwargs, None,
                                                 self.threads_per_fit)
                self.timings_["cv_s"] += seconds
                self.timings_["cv_compute_s"] += seconds
        return kept_probs, cleaned_probs

    def _store_detection_kwargs(self, confident_joint):
        """Leave in ``find_label_issues_kwargs`` what the detection used, as the reference does.

        That is the defaults merged in and the estimated ``confident_joint`` (unless the caller
        gave one or chose ``filter_by="confident_learning"``): code written for the reference
        reads it there. The caller's own value is kept aside: ``get_params`` (hence ``clone``)
        and the next ``fit`` use it, so a second fit still starts fresh.
        """
        given = self._given_detection_kwargs()
        merged = {"min_examples_per_class": ConfidentLearning.min_examples_per_class, **(given or {})}
        if "confident_joint" not in merged and merged.get("filter_by") != "confident_learning":
            merged["confident_joint"] = confident_joint
        added = {name: value for name, value in merged.items() if name not in (given or {})}
        self.find_label_issues_kwargs = merged
        self._stored_detection_kwargs = (merged, dict(merged), given, added)

    def _given_detection_kwargs(self):
        """``find_label_issues_kwargs`` as the caller set them, without what detection stored.

        A dict replaced (``set_params``) is the caller's; one changed in place keeps the
        caller's changes but loses the entries detection added.
        """
        current = self.find_label_issues_kwargs
        stored = self.__dict__.get("_stored_detection_kwargs")
        if stored is None or current is not stored[0]:
            return current
        _, snapshot, given, added = stored
        if current.keys() == snapshot.keys() and all(current[name] is value for name, value in snapshot.items()):
            return given
        return {name: value for name, value in current.items() if not (name in added and added[name] is value)}

    def get_params(self, deep=True):
        """The parameters as set: ``find_label_issues_kwargs`` without what detection stored in it."""
        params = super().get_params(deep=deep)
        params["find_label_issues_kwargs"] = self._given_detection_kwargs()
        return params

    def _cv_pred_probs(self, clf, X, labels, clf_kwargs, validation_func, members=None, **retrain):
        """Out-of-fold probabilities of ``clf`` — or the mean over the ``ensemble`` members'."""
        started = time.perf_counter()
        members = members or (list(self.ensemble) if self.ensemble else [clf])
        total, hits = None, []
        for member in members:
            probs, hit, seconds = cached_cross_val_pred_probs(
                member, X, labels, cache_dir=self.cv_cache_dir, n_folds=self.cv_n_folds, seed=self.seed,
                n_jobs=self.n_jobs, backend=self.cv_backend, scheduler_address=self.cv_scheduler_address,
                fit_kwargs=clf_kwargs, validation_func=validation_func, threads_per_fit=self.threads_per_fit,
                dtype=np.dtype(self.pred_probs_dtype), **retrain,
            )
            total = probs if total is None else total + probs
            hits.append(hit)
            self.timings_["cv_compute_s"] += seconds
        # The cache hit of the first cross-validation is the run's (later rounds never were).
        if self.cv_cache_hit_ is None:
            self.cv_cache_hit_ = all(hits)
        self.timings_["cv_s"] += time.perf_counter() - started
        return total / len(members) if len(members) > 1 else total

    def _timed_detection(self, detector, labels, pred_probs, known):
        started = time.perf_counter()
        detection = check_detection(
            detector.detect(labels, pred_probs, **known), len(labels), self.num_classes, type(detector).__name__,
            labels=labels,
        )
        self.timings_["detect_s"] += time.perf_counter() - started
        return detection

    def _detector(self):
        """The detector: ``detector`` if set, else confident learning configured as the reference."""
        if self.detector is not None:
            if not callable(getattr(self.detector, "detect", None)):
                raise TypeError(f"a detector needs a detect(labels, pred_probs) method: {self.detector!r}")
            return self.detector
        options = dict(self._given_detection_kwargs() or {})
        for name in FORBIDDEN_DETECTION_KWARGS:
            if name in options:
                raise ValueError(f"find_label_issues_kwargs may not contain {name!r}")
        for name in IGNORED_DETECTION_KWARGS:
            options.pop(name, None)
        scoring = dict(self.label_quality_scores_kwargs or {})
        if "method" in scoring:
            scoring["rank_by"] = scoring.pop("method")
        try:
            return ConfidentLearning(
                **options, **scoring,
                converge_latent_estimates=self.converge_latent_estimates, pulearning=self.pulearning,
            )
        except TypeError as error:
            raise ValueError(
                f"unknown option in find_label_issues_kwargs / label_quality_scores_kwargs: {error}"
            ) from None

    def _given_issues(self, label_issues, labels, encoded, pred_probs) -> Detection:
        """A Detection from caller-supplied issues (DataFrame, bool mask or int indices)."""
        n = len(encoded)
        if isinstance(label_issues, pd.DataFrame):
            if "is_label_issue" not in label_issues.columns:
                raise ValueError("a label_issues DataFrame needs an 'is_label_issue' column")
            if len(label_issues) != n:
                raise ValueError(f"label_issues has {len(label_issues)} rows for {n} labels")
            if "given_label" in label_issues.columns and not np.array_equal(
                label_issues["given_label"].to_numpy(), np.asarray(labels)
            ):
                raise ValueError("label_issues['given_label'] differs from the labels passed to fit")
            frame = label_issues.copy()
        else:
            issues = np.asarray(label_issues)
            if issues.dtype == bool:
                if issues.shape != (n,):
                    raise ValueError(f"a label_issues mask must have shape ({n},), got {issues.shape}")
                mask = issues
            elif issues.dtype.kind in "iu" and issues.ndim == 1:
                if len(np.unique(issues)) != len(issues) or (issues.size and (issues.min() < 0 or issues.max() >= n)):
                    raise ValueError("label_issues indices must be unique and within 0..N-1")
                mask = np.zeros(n, dtype=bool)
                mask[issues] = True
            else:
                raise ValueError("label_issues must be a DataFrame, a boolean mask or an array of integer indices")
            frame = pd.DataFrame({"is_label_issue": mask})
        if "label_quality" not in frame.columns and pred_probs is not None:
            frame["label_quality"] = get_label_quality_scores(
                encoded, pred_probs, **(self.label_quality_scores_kwargs or {})
            )
        self.label_issues_df = frame
        noise_matrix = self.noise_matrix
        if noise_matrix is not None and np.shape(noise_matrix) != (self.num_classes, self.num_classes):
            noise_matrix = None
        return Detection(
            label_issues=frame["is_label_issue"].to_numpy(dtype=bool),
            label_quality=frame["label_quality"].to_numpy() if "label_quality" in frame.columns else None,
            pred_probs=None if pred_probs is None else np.asarray(pred_probs),
            noise_matrix=noise_matrix,
        )

    # ----------------------------------------------------------------------------------------
    # prediction

    def predict(self, X) -> np.ndarray:
        """Predicted class values of the cleanly trained classifier."""
        X = self._fitted_features(X)
        codes = np.asarray(self.clf_.predict(X), dtype=np.int64)
        return self.classes_[codes]

    def predict_proba(self, X) -> np.ndarray:
        """Predicted probabilities, one column per class of ``classes_``."""
        X = self._fitted_features(X)
        probs = self.clf_.predict_proba(X)
        return align_columns(self.clf_, probs, self.num_classes)

    def _fitted_features(self, X):
        if not hasattr(self, "clf_"):
            if self.skip_final_fit and self.label_issues_df is not None:
                raise NotFittedError("this CleanLearning instance has no final model: fitted with skip_final_fit")
            raise NotFittedError("this CleanLearning instance is not fitted yet: call fit() first")
        X = self._features(X)
        n_features = _n_features(X)
        if None not in (n_features, self.n_features_in_) and n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but CleanLearning is expecting {self.n_features_in_} "
                "features as input"
            )
        return X

    def get_label_issues(self):
        """The per-example label-issue DataFrame of the last fit or detection (None before)."""
        if self.label_issues_df is None:
            warnings.warn("no label issues yet: call fit() or find_label_issues() first", UserWarning, stacklevel=2)
        return self.label_issues_df

    def save_space(self):
        """Drop the stored detection state (keeps the fitted classifier)."""
        for name in _DETECTION_STATE + ("clf_kwargs", "clf_final_kwargs"):
            setattr(self, name, None)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Sparse X works exactly when the wrapped classifier accepts it.
        tags.input_tags.sparse = get_tags(self._checked_classifier()).input_tags.sparse
        return tags

    # ----------------------------------------------------------------------------------------
    # helpers

    def _check_options(self):
        """Refuse ill-typed constructor options before any fitting."""
        if not isinstance(self.detection_rounds, int) or self.detection_rounds < 1:
            raise ValueError(f"detection_rounds must be an integer >= 1, got {self.detection_rounds!r}")
        if self.round_mode not in ("drop", "relabel"):
            raise ValueError(f"round_mode must be 'drop' or 'relabel', got {self.round_mode!r}")
        if not isinstance(self.round_mean, bool):
            raise ValueError(f"round_mean must be true or false, got {self.round_mean!r}")
        if not isinstance(self.skip_final_fit, bool):
            raise ValueError(f"skip_final_fit must be true or false, got {self.skip_final_fit!r}")
        if self.ensemble is not None:
            for member in self.ensemble:
                if not callable(getattr(member, "predict_proba", None)):
                    raise ValueError(f"every ensemble member needs predict_proba; {type(member).__name__} has none")

    def _checked_classifier(self):
        self._check_options()
        clf = self.clf if self.clf is not None else default_classifier()
        for method in ("fit", "predict_proba"):
            if not callable(getattr(clf, method, None)):
                raise ValueError(
                    f"clf must have a {method} method; {type(clf).__name__} does not "
                    "(for SVC use probability=True, or wrap it in CalibratedClassifierCV)"
                )
        return clf

    def _features(self, X):
        if X is None:
            raise ValueError("X is required")
        if sparse.issparse(X):
            X = X.tocsr()  # row indexing for the folds
        elif not hasattr(X, "shape") and not hasattr(X, "iloc"):
            X = np.asarray(X)  # lists and other array-likes
        if self.clf is None and getattr(X, "ndim", 2) > 2:
            X = X.reshape(len(X), -1)
        return X

    def _encode(self, labels, width) -> np.ndarray:
        """Labels as codes 0..K-1; sets ``classes_`` and ``num_classes``."""
        self.classes_, codes = encode_labels(labels, width)
        self.num_classes = len(self.classes_)
        return codes

    def _log(self, message, *args):
        log.log(logging.INFO if self.verbose else logging.DEBUG, message, *args)


_DETECTION_STATE = (
    "label_issues_df", "label_issues_mask", "sample_weight", "confident_joint", "py", "ps",
    "noise_matrix", "inverse_noise_matrix", "pred_probs",
)


def encode_labels(labels, width=None):
    """``(classes, codes)``: sorted class values and each label's index into them.

    ``width`` (the number of columns of given pred_probs or noise matrices) may exceed the
    number of classes present when the labels are the integers ``0..width-1`` with some class
    absent; the classes are then ``0..width-1``.
    """
    values = labels.to_numpy() if hasattr(labels, "to_numpy") else np.asarray(labels)
    if values.ndim == 2 and values.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; flattened to shape (N,)",
            DataConversionWarning,
            stacklevel=3,
        )
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {values.shape}")
    if len(values) == 0:
        raise ValueError("labels are empty")
    missing = pd.isna(values)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(
            f"labels contain {len(rows)} missing values (NaN/None), e.g. at rows {rows[:5].tolist()}; "
            "drop or impute them first"
        )
    if values.dtype.kind == "f" and type_of_target(values) == "continuous":
        raise ValueError(
            "labels look continuous (Unknown label type: continuous); CleanLearning is a classifier "
            "and needs class labels"
        )
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError as error:
        raise ValueError(f"labels mix types that cannot be ordered: {error}") from None
    codes = codes.astype(np.int64)
    if width is not None and width != len(classes):
        if width < len(classes) or values.dtype.kind not in "iu" or classes[0] < 0 or classes[-1] >= width:
            raise ValueError(
                f"labels have {len(classes)} classes but pred_probs / noise matrices have {width} columns"
            )
        classes, codes = np.arange(width), values.astype(np.int64)
    if len(classes) < 2:
        raise ValueError(f"labels contain only one class ({classes[0]!r}); at least 2 classes are needed")
    return classes, codes


def _suggested_labels(detection: Detection, pred_probs: np.ndarray) -> np.ndarray:
    """The label the detection suggests for every row: the argmax of its ``pred_probs`` (the
    out-of-fold prediction, or e.g. NoisePosterior's most probable true class, which is what
    strategy "relabel" trains on), else of the out-of-fold probabilities."""
    suggestion = pred_probs if detection.pred_probs is None else np.asarray(detection.pred_probs)
    return suggestion.argmax(axis=1)


def _width(pred_probs, noise_matrix, inverse_noise_matrix):
    for given in (pred_probs, noise_matrix, inverse_noise_matrix):
        if given is not None:
            shape = np.shape(given)
            if len(shape) != 2:
                raise ValueError(f"pred_probs and noise matrices must be 2-D, got shape {shape}")
            return shape[1]
    return None


def _labels_or_y(labels, y):
    if labels is not None and y is not None:
        raise ValueError("pass labels or y, not both")
    if labels is None and y is None:
        raise ValueError("CleanLearning requires y to be passed, but the target y is None (fit(X, labels))")
    return labels if labels is not None else y


def _n_features(X):
    shape = getattr(X, "shape", None)
    return int(shape[1]) if shape is not None and len(shape) == 2 else None


def _checked_sample_weight(sample_weight, n_samples, strategy, strategy_name) -> np.ndarray:
    """The caller's ``sample_weight`` as float64 (N,), refused here, naming the caller's input."""
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("sample_weight passed to fit must be numbers, one weight per example") from None
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight passed to fit must have shape ({n_samples},), one weight per label; got {weights.shape}"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight passed to fit contains NaN or infinite values")
    if strategy.requires_sample_weight and weights.min() < 0:
        raise ValueError(
            f"sample_weight passed to fit has negative values; strategy {strategy_name!r} scales the "
            "weights and needs them >= 0 (or use strategy 'remove', which passes them to the classifier)"
        )
    return weights


def _check_same_length(a, labels, name_a, name_labels):
    if n_samples_of(a) != len(labels):
        raise ValueError(f"{name_a} and {name_labels} have different lengths: {n_samples_of(a)} vs {len(labels)}")
