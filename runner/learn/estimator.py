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
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from runner.learn.check import MIN_CLASS_COUNT
from runner.learn.cv import align_columns, fresh_copy, take_rows
from runner.learn.detecting import DetectionSteps, _NotGiven
from runner.learn.guard import CleaningCheckSteps
from runner.learn.inputs import (
    InputChecks,
    _check_same_length,
    _checked_sample_weight,
    _checked_trusted,
    _labels_or_y,
    _n_features,
    _weight_key,
    _width,
)
from runner.learn.parallel import lone_fit_limits
from runner.learn.progress import reports_progress
from runner.learn.weights import unweighted_reason
from runner.plugin_names import label, plugin_name
from runner.strategies import Remove, get_strategy, select_checked

log = logging.getLogger(__name__)


class CleanLearning(InputChecks, DetectionSteps, CleaningCheckSteps, ClassifierMixin, BaseEstimator):
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
        Log the steps at INFO level (DEBUG otherwise); in a script that configured no logging,
        show them on stderr during ``fit`` / ``find_label_issues`` (:mod:`runner.learn.progress`).
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
        the rows in ``validation_folds`` stratified folds (two halves by default); run this
        learner's detection and strategy on each training part alone (``3``-fold cross-validation
        within it) and fit ``clf`` on all of it and on what the strategy keeps of it; compare the
        two models' scores on the held-out fold's given labels (``validation_pred_probs_``). When
        cleaning does not win, the final fit trains on every row as given; the label issues are
        reported either way. With halves it costs about one more cross-validation. A class too
        small to split so (fewer than 6 rows for halves) keeps every row. With trusted rows
        (``fit(trusted=...)``) the comparison is made on them instead.
    validation_min_z : float, default 0.0
        With ``validate_cleaning``: how many standard errors of the paired held-out difference
        cleaning must win by.
    validation_criterion : str, default "corrected"
        How a held-out prediction is scored: against the given label corrected by the
        estimated noise matrix (``"corrected"``: an estimate of accuracy on the true labels),
        against the given label itself (``"given"``: 0/1), or by a proper score of the given
        label (``"log_likelihood"``, ``"brier"``; ``"forward_log_likelihood"``,
        ``"forward_brier"``: the cleaned model's probabilities mapped through the estimated
        noise matrix first). See :mod:`runner.learn.check`.
    validation_folds : int, default 2
        With ``validate_cleaning``: held-out folds of the check (2: halves). Each decision model
        trains on ``(K-1)/K`` of the rows, at about ``K/2`` times the cost of halves.
    validation_gate : {"dominance", "min_count", "bootstrap", "none"}, default "dominance"
        With a given-label criterion: when the estimated noise matrix says the given labels are no
        yardstick and cleaning is refused. ``"dominance"``: some class of the estimated noise
        matrix receives another label more often than its own (:func:`runner.learn.check.label_margin`);
        ``"min_count"``: the same, counting only classes with at least ``validation_min_count``
        given labels; ``"bootstrap"``: some class is so in 95% of bootstrap resamples of the rows
        (:func:`runner.learn.check.bootstrap_label_margin`, confident learning's estimate); ``"none"``:
        never.
    validation_min_count : int, default 50
        Given labels a class needs to count with ``validation_gate="min_count"``.
    validation_trusted_min_z : float or None, default None
        With trusted rows: how many standard errors of the paired difference on their verified
        labels cleaning must win by; ``None`` uses ``validation_min_z``. Verified labels measure
        accuracy itself, undiluted by noise, so a smaller margin than on given labels suffices.
    validation_trusted_rule : {"trusted", "either"}, default "trusted"
        With trusted rows and ``validate_cleaning``: who decides. ``"trusted"``: their verdict alone;
        ``"either"``: cleaning is also used when the given-label check (as without trusted rows, run
        on the other rows, gate included) passes and the verified labels do not score the cleaned
        model lower. A few hundred verified rows detect only gains of several points; the given
        labels of thousands of rows detect smaller ones where the noise leaves them a yardstick.
    validation_shares : sequence of float or None, default None
        With ``validate_cleaning``: partial cleanings to compare, each the most suspicious share of the
        flags (lowest label quality first), e.g. ``(0.25, 0.5, 1.0)``; of those that pass the check, the
        one that wins by most standard errors is used (``cleaning_share_``). ``None``: every flag, all or
        nothing. Each share costs one more fit per held-out fold; not with trusted rows.
    validation_strategies : dict or None, default None
        With trusted rows and ``validate_cleaning``: other cleanings of the same detection the verified
        rows judge besides ``strategy``'s, by name (strategy objects or built-in names), e.g.
        ``{"reweighted": Remove(reweight=True)}``; of those that pass, the one that wins by most standard
        errors is used (``cleaning_choice_``). Each costs two more fits, none when, the classifier taking
        no sample weights, it trains on the same rows and labels as one before it. Without trusted rows, unused.
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
    cleaning_check_ : runner.learn.check.CleaningCheck or None
        With ``validate_cleaning``: the held-out comparison (on the trusted rows when ``fit`` was
        given some), and whether cleaning was used.
    cleaning_choice_ : str or None
        With trusted rows: the cleaning used, ``"strategy"`` or a key of ``validation_strategies``; None
        when every row was kept.
    cleaning_share_ : float or None
        With ``validate_cleaning``: the share of the flags the final fit acted on (1.0 without
        ``validation_shares``); None when every row was kept.
    trusted_check_ : runner.learn.check.CleaningCheck or None
        With trusted rows (``fit(trusted=...)``): the accuracy on them of ``clf`` trained on every
        other row and on what the strategy keeps of them.
    trusted_pred_probs_ : dict or None
        With trusted rows: the probabilities the candidates gave the trusted rows (in row order), cross-fitted
        over halves of them, by candidate: ``"kept"`` (every other row), ``"strategy"`` and each of
        ``validation_strategies``; for reports and studies of the decision.
    cleaning_checks_ : dict
        With ``validate_cleaning``: the comparison under each criterion computed (``"given"``
        always), for reports.
    validation_pred_probs_ : dict or None
        With ``validate_cleaning``: ``{"kept": ..., "cleaned": ...}``, each row's probabilities
        from the models trained on the other half, on all of it and on its cleaned rows.
    n_features_in_ : int or None
        Number of features of 2-D ``X``.
    feature_names_in_ : ndarray of str
        The column names of ``X``, when it was a DataFrame with string column names.

    Notes
    -----
    Sample weights (the strategy's, or the caller's) reach a ``Pipeline``'s model as well: through
    scikit-learn's metadata routing when it is on, else as ``<last step>__sample_weight``
    (:mod:`runner.learn.weights`). A strategy that needs weights is refused before any fit when they
    cannot reach the model; optional ones (``remove``'s re-weighting) are then dropped with a warning.
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
    trusted_check_ = None
    trusted_pred_probs_ = None
    cleaning_share_ = None
    cleaning_choice_ = None

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
        validation_folds=2,
        validation_gate="dominance",
        validation_min_count=MIN_CLASS_COUNT,
        validation_trusted_min_z=None,
        validation_trusted_rule="trusted",
        validation_shares=None,
        validation_strategies=None,
        skip_final_fit=False,
    ):
        self.clf = clf
        self.seed = seed
        self.cv_n_folds = cv_n_folds
        self.converge_latent_estimates = converge_latent_estimates
        self.pulearning = pulearning
        # A dict from the start, as the reference's instances hold (code calls .get on it before fit); get_params
        # still reports the None it was given (_NotGiven), so clone and scikit-learn's checks see the default.
        self.find_label_issues_kwargs = _NotGiven() if find_label_issues_kwargs is None else find_label_issues_kwargs
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
        self.validation_folds = validation_folds
        self.validation_gate = validation_gate
        self.validation_min_count = validation_min_count
        self.validation_trusted_min_z = validation_trusted_min_z
        self.validation_trusted_rule = validation_trusted_rule
        self.validation_shares = validation_shares
        self.validation_strategies = validation_strategies
        self.skip_final_fit = skip_final_fit

    @classmethod
    def recommended(cls, clf=None, **params):
        """The recommended configuration (``method=recommended``), with ``params`` on top.

        Confident learning's detection, the flagged rows removed without re-weighting, and only
        if the cleaned rows win on held-out labels (``validate_cleaning``): on the given labels of
        held-out halves by more than 3 standard errors of the paired difference
        (``validation_min_z``) while the estimated noise matrix is diagonally dominant
        (:func:`runner.learn.check.label_margin`), or, when ``fit`` is given trusted rows, on their
        verified labels by more than 2 (``validation_trusted_min_z``), where the verified rows also
        judge the reference's re-weighted removal of the same flags and the cleaning that wins by
        most standard errors is used (``validation_strategies``; pass ``None`` for removal alone).
        Otherwise the final model trains on every row.
        """
        options = dict(
            strategy=Remove(reweight=False),
            validate_cleaning=True,
            validation_min_z=3.0,
            validation_criterion="given",
            validation_gate="dominance",
            validation_trusted_min_z=2.0,
            validation_strategies={"reweighted": Remove(reweight=True)},
        )
        return cls(clf, **{**options, **params})

    # ----------------------------------------------------------------------------------------
    # fit

    @reports_progress
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
        trusted=None,
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
        trusted : array-like of bool, shape (N,), optional
            Rows whose labels were verified. Detection and the strategy see only the other rows;
            ``clf`` fitted on every other row and on what the strategy keeps of them predicts the
            trusted rows (``trusted_check_``), and with ``validate_cleaning`` that comparison decides
            the cleaning. The trusted rows are never flagged and join the final fit with their labels.

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
        # Named alike in every message: 'remove' (built in), the class, or the option (strategy=mine).
        strategy_name = repr(self.strategy) if isinstance(self.strategy, str) else plugin_name(strategy)
        if self.final_params and not callable(getattr(clf, "set_params", None)):
            raise ValueError(f"final_params need a classifier with set_params; {type(clf).__name__} has none")
        # The fit keyword the weights travel by (a Pipeline's differs); None when they cannot reach the model.
        weight_key = _weight_key(clf, strategy, strategy_name, sample_weight)
        width = _width(pred_probs, noise_matrix, inverse_noise_matrix)
        encoded = self._encode(labels, width)
        _check_same_length(X, encoded, "X", "labels")
        if sample_weight is not None:
            sample_weight = _checked_sample_weight(sample_weight, len(encoded), strategy, strategy_name)
        trusted = _checked_trusted(trusted, len(encoded), label_issues)
        if trusted is not None and self.validation_shares is not None:
            raise ValueError("validation_shares is not supported with trusted rows; leave it None")
        # A check of an earlier fit must not outlive this one.
        self.cleaning_check_, self.cleaning_checks_, self.trusted_check_ = None, None, None
        self.cleaning_share_, self.cleaning_choice_ = None, None
        self.validation_pred_probs_, self.trusted_pred_probs_ = None, None

        if trusted is not None:
            training = self._judged_by_trusted(
                X,
                encoded,
                trusted,
                clf,
                strategy,
                strategy_name,
                sample_weight,
                weight_key,
                dict(
                    pred_probs=pred_probs,
                    thresholds=thresholds,
                    noise_matrix=noise_matrix,
                    inverse_noise_matrix=inverse_noise_matrix,
                    clf_kwargs=clf_kwargs,
                    validation_func=validation_func,
                ),
            )
        elif label_issues is None:
            detection = self._detect(
                X,
                encoded,
                clf,
                pred_probs=pred_probs,
                thresholds=thresholds,
                noise_matrix=noise_matrix,
                inverse_noise_matrix=inverse_noise_matrix,
                clf_kwargs=clf_kwargs,
                validation_func=validation_func,
            )
        else:
            self.timings_, self.cv_cache_hit_ = {}, None
            detection = self._given_issues(label_issues, labels, encoded, pred_probs)

        # The caller's negative weights pass through to the classifier, as in the reference
        # (strategies that scale weights refused them above).
        if trusted is None:

            def select(found):
                return select_checked(
                    strategy,
                    found,
                    encoded,
                    sample_weight,
                    self.num_classes,
                    strategy_name,
                    allow_negative_weights=sample_weight is not None and bool(np.any(sample_weight < 0)),
                )

            training = select(detection)
            # Kept for the cleaning check, which asks a fitted part for a share of its flags (runner.learn.guard).
            self._detection = detection
            self.label_issues_mask = np.asarray(detection.label_issues, dtype=bool)
            if self.validate_cleaning:
                training = self._validated(detection, select, X, encoded, clf, clf_kwargs, sample_weight, weight_key)
        strategy_weights = (
            weight_key not in final_kwargs and training.sample_weight is not None and weight_key is not None
        )
        if strategy_weights:
            final_kwargs[weight_key] = training.sample_weight
        elif training.sample_weight is not None and weight_key is None and not self.skip_final_fit:
            warnings.warn(
                f"{label('strategy', strategy_name)} gave sample weights (e.g. remove's class re-weighting) that "
                f"cannot reach the classifier: {unweighted_reason(clf)}; the final fit is unweighted",
                UserWarning,
                stacklevel=3,  # the caller of fit, past reports_progress
            )
        self.clf_kwargs, self.clf_final_kwargs = clf_kwargs, final_kwargs
        self.training_set_ = training

        self.__dict__.pop("feature_names_in_", None)
        if hasattr(X, "columns"):  # scikit-learn's own bookkeeping of a DataFrame's column names
            validate_data(self, X, reset=True, skip_check_array=True)
        self.n_features_in_ = _n_features(X)
        self.__dict__.pop("clf_", None)  # a model of an earlier fit must not outlive this one
        if not self.skip_final_fit:
            self._fit_final_model(clf, X, training, final_kwargs)
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
            self.label_issues_mask.sum(),
            len(encoded),
            len(training.rows),
            strategy_name,
        )
        return self

    def _fit_final_model(self, clf, X, training, final_kwargs):
        """Fit ``clf_``, a fresh copy of ``clf`` with ``final_params``, on the final training set."""
        started = time.perf_counter()
        self.clf_ = fresh_copy(clf)
        if self.final_params:
            self.clf_.set_params(**self.final_params)
        # Alone now, the final fit may use the cores the folds had (OpenMP only, same model).
        limits = lone_fit_limits(self.threads_per_fit, self.n_jobs, remote=bool(self.cv_scheduler_address))
        with threadpool_limits(limits=limits):
            self.clf_.fit(take_rows(X, training.rows), training.labels, **final_kwargs)
        self.timings_["final_fit_s"] = time.perf_counter() - started

    # ----------------------------------------------------------------------------------------
    # detection

    @reports_progress
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
            X,
            encoded,
            clf,
            pred_probs=pred_probs,
            thresholds=thresholds,
            noise_matrix=noise_matrix,
            inverse_noise_matrix=inverse_noise_matrix,
            clf_kwargs=clf_kwargs,
            validation_func=validation_func,
        )
        frame = self.label_issues_df
        if save_space:
            for name, value in kept.items():
                setattr(self, name, value)
        return frame

    def get_params(self, deep=True):
        """The parameters as set: ``find_label_issues_kwargs`` without what detection stored in it."""
        params = super().get_params(deep=deep)
        params["find_label_issues_kwargs"] = self._given_detection_kwargs()
        return params

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
                f"X has {n_features} features, but CleanLearning is expecting {self.n_features_in_} features as input"
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

    def _log(self, message, *args):
        log.log(logging.INFO if self.verbose else logging.DEBUG, message, *args)


_DETECTION_STATE = (
    "label_issues_df",
    "label_issues_mask",
    "sample_weight",
    "confident_joint",
    "py",
    "ps",
    "noise_matrix",
    "inverse_noise_matrix",
    "pred_probs",
)
