"""The cleaning check: should the final fit use the cleaned training set? Ask held-out rows, with the
labels as given.

The test labels cannot decide (a user has none, and reading them would be cheating) and the true
training labels are unknown; the given labels of held-out rows are known. The rows are split in two
stratified halves (:func:`held_out_halves`); on each half the learner's own detection and strategy run
alone (cross-validated within the half), the classifier is fitted on all of the half and on what the
strategy keeps of it, and both predict the other half. Each held-out row is thus predicted twice, and
each prediction is scored against the row's given label (:func:`check_cleaning`):

* ``criterion="given"``: 1 when the prediction is the given label. This ranks models as their true
  accuracy does while every class keeps its own label more often than any other (the estimated noise
  matrix is diagonally dominant, :func:`label_margin`); under heavy asymmetric noise a model that learns
  the noise scores higher, so the cleaning is then not used.
* ``criterion="corrected"`` (the default): ``T⁺[prediction, given]``, with ``T`` the estimated noise
  matrix ``P(given | true)`` and ``T⁺`` its (pseudo-)inverse. Its expectation over the noise is 1 when
  the prediction is the true class and 0 otherwise (``Σ_g T⁺[p, g] T[g, t] = [p = t]``), so its mean
  estimates the accuracy on the true labels (backward correction, Natarajan et al. 2013; Patrini et al.
  2017), as far as the noise is class-conditional and ``T`` is well estimated.

The halves, not the detection's own folds: those flags come from out-of-fold models that learned the
held-out fold's given labels, so a check on them favours cleaning. The cleaned set is kept only when
its score is higher by more than ``min_z`` standard errors of the paired difference. The check reads
nothing but the training features and given labels. Why it is built this way, with the measurements:
``benchmarks/results/guard_design.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from runner.learn.cv import _fit_fold, take_rows
from runner.strategies import TrainingSet

#: Folds of the detection run inside each half (fewer than the usual 5 keep the check's cost at about
#: one more cross-validation: 2 x 3 fits on a third of the rows, and 4 fits on half of them).
VALIDATION_INNER_FOLDS = 3


@dataclass(frozen=True)
class CleaningCheck:
    """Estimated held-out accuracy of the models trained on every row and on the cleaned rows."""

    kept_accuracy: float
    cleaned_accuracy: float
    standard_error: float
    min_z: float
    #: The smallest ``T[k, k] - max_{j != k} T[j, k]`` of the estimated noise matrix (NaN: not checked).
    label_margin: float = float("nan")

    @property
    def gain(self) -> float:
        return self.cleaned_accuracy - self.kept_accuracy

    @property
    def use_cleaning(self) -> bool:
        """Cleaning is used only when it wins by more than ``min_z`` standard errors (a tie keeps every
        row), and not when the given labels are no yardstick (a non-positive ``label_margin``)."""
        trusted = np.isnan(self.label_margin) or self.label_margin > 0
        return trusted and self.gain > 0 and self.gain > self.min_z * self.standard_error


def check_cleaning(
    labels, kept_probs, cleaned_probs, *, noise_matrix=None, criterion: str = "corrected", min_z: float = 0.0
) -> CleaningCheck:
    """Compare two sets of out-of-fold probabilities by their estimated accuracy on the held-out rows.

    Parameters
    ----------
    labels : ndarray of shape (N,)
        Given labels, ``0..K-1``.
    kept_probs, cleaned_probs : ndarray of shape (N, K)
        Out-of-fold probabilities of fold models trained on every row, and on the cleaned rows.
    noise_matrix : ndarray of shape (K, K), optional
        Estimated ``P(given = row | true = column)``; needed by ``criterion="corrected"``, and
        with ``criterion="given"`` the gate on its diagonal dominance.
    criterion : {"corrected", "given"}
        How a held-out prediction is scored (see the module docstring).
    min_z : float
        How many standard errors of the paired difference the cleaned models must win by.
    """
    labels = np.asarray(labels)
    if min_z < 0:
        raise ValueError(f"min_z must be at least 0, got {min_z}")
    margin = float("nan")
    if criterion == "given":
        score = np.eye(np.shape(kept_probs)[1])
        if noise_matrix is not None:
            margin = label_margin(noise_matrix)
    elif criterion == "corrected":
        if noise_matrix is None:
            raise ValueError("criterion 'corrected' needs the estimated noise matrix")
        score = np.linalg.pinv(np.asarray(noise_matrix, dtype=np.float64))
    else:
        raise ValueError(f"criterion must be 'corrected' or 'given', got {criterion!r}")
    kept = score[np.asarray(kept_probs).argmax(axis=1), labels]
    cleaned = score[np.asarray(cleaned_probs).argmax(axis=1), labels]
    difference = cleaned - kept
    standard_error = float(difference.std(ddof=1) / np.sqrt(len(labels))) if len(labels) > 1 else float("inf")
    return CleaningCheck(float(kept.mean()), float(cleaned.mean()), standard_error, float(min_z), margin)


def label_margin(noise_matrix) -> float:
    """``min_k (T[k, k] - max_{j != k} T[j, k])``: positive when every class keeps its own label most often."""
    noise_matrix = np.asarray(noise_matrix, dtype=np.float64)
    others = noise_matrix.copy()
    np.fill_diagonal(others, -np.inf)
    return float(np.min(np.diagonal(noise_matrix) - others.max(axis=0)))


def held_out_halves(labels, seed=None):
    """Two stratified halves ``[(train, held), (held, train)]`` of the rows, or ``None`` when some present
    class has too few rows for every half to cross-validate it (``2 * VALIDATION_INNER_FOLDS``)."""
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    if np.any((counts > 0) & (counts < 2 * VALIDATION_INNER_FOLDS)):
        return None
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(labels)), labels))


class CleaningCheckSteps:
    """The cleaning check of :class:`~runner.learn.estimator.CleanLearning` (``validate_cleaning``; a mixin)."""

    def _validated(self, training, X, labels, clf, clf_kwargs, sample_weight, weight_key):
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
                                                             weight_key, halves)
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

    def _cross_fitted_probs(self, X, labels, clf, clf_kwargs, sample_weight, weight_key, halves):
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
                if fit_weights is not None and weight_key is not None:
                    fit_kwargs[weight_key] = fit_weights
                probs[held], seconds = _fit_fold(clf, X, fit_labels, rows, held, n_classes, fit_kwargs, None,
                                                 self.threads_per_fit)
                self.timings_["cv_s"] += seconds
                self.timings_["cv_compute_s"] += seconds
        return kept_probs, cleaned_probs
