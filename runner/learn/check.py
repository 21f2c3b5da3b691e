"""The cleaning check's statistics: should the final fit use the cleaned training set? Ask held-out rows, with the
labels as given, or the rows whose labels were verified.

The test labels cannot decide (a user has none, and reading them would be cheating) and the true
training labels are unknown; the given labels of held-out rows are known. The rows are split in two
stratified halves (:func:`held_out_halves`), or in ``K`` stratified folds (:func:`held_out_folds`: each
decision model then trains on ``(K-1)/K`` of the rows, closer to the final fit, at about ``K/2`` times
the cost); on each training part the learner's own detection and strategy run alone (cross-validated
within it), the classifier is fitted on all of the part and on what the strategy keeps of it, and both
predict the held-out rows. Each row is thus predicted twice, and each prediction is scored against the
row's given label (:func:`check_cleaning`):

* ``criterion="given"``: 1 when the prediction is the given label. This ranks models as their true
  accuracy does while every class keeps its own label more often than any other (the estimated noise
  matrix is diagonally dominant, :func:`label_margin`); under heavy asymmetric noise a model that learns
  the noise scores higher, so the cleaning is then not used.
* ``criterion="corrected"`` (the default): ``T⁺[prediction, given]``, with ``T`` the estimated noise
  matrix ``P(given | true)`` and ``T⁺`` its (pseudo-)inverse. Its expectation over the noise is 1 when
  the prediction is the true class and 0 otherwise (``Σ_g T⁺[p, g] T[g, t] = [p = t]``), so its mean
  estimates the accuracy on the true labels (backward correction, Natarajan et al. 2013; Patrini et al.
  2017), as far as the noise is class-conditional and ``T`` is well estimated.
* ``criterion="log_likelihood"`` / ``"brier"``: proper scores of the given label (its log-probability,
  clipped at :data:`MIN_PROBABILITY`, or minus its Brier score). They read each row's probabilities, not
  only the argmax, and so vary less from row to row than 0/1 agreement. But a proper score of the
  *given* label is maximised by ``P(given | x)``, the very distribution a model fitted to the noisy
  labels learns, so a cleaned model sure of the true class is penalised on every noisy row.
  ``"forward_log_likelihood"`` / ``"forward_brier"`` first map the cleaned model's probabilities through
  ``T`` (``P(given | x) = T q(x)``, forward correction, Patrini et al. 2017), so that both candidates
  predict the same thing, the given label.

The halves, not the detection's own folds: those flags come from out-of-fold models that learned the
held-out fold's given labels, so a check on them favours cleaning. The cleaned set is kept only when
its score is higher by more than ``min_z`` standard errors of the paired difference and, with a score
of the given labels themselves (every criterion but ``"corrected"``), while the given labels are a
yardstick (a positive label margin). That margin is itself an estimate, poor for a class seen in a few
dozen rows; the trust gates (:func:`gate_margin`) weigh it: every class (``"dominance"``), only classes
with enough given labels (``"min_count"``), or the margin's upper bootstrap quantile over rows
(``"bootstrap"``, :func:`bootstrap_label_margin`). The check reads nothing but the training features
and given labels. Why it is built this way, with the measurements: ``benchmarks/results/guard_design.md``.

Rows whose labels were verified (trusted rows) need no yardstick: their labels are the truth.
:func:`check_on_trusted` compares the two candidates on them, and neither the candidates nor the
detection that cleaned them ever saw those rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state

from runner.confident.count import estimate_py_and_noise_matrices_from_probabilities

#: Folds of the detection run inside each training part (fewer than the usual 5 keep the check's cost at
#: about one more cross-validation with halves: 2 x 3 fits on a third of the rows, and 4 fits on half of them).
VALIDATION_INNER_FOLDS = 3

#: The smallest probability a log-likelihood reads: trees and nearest neighbours predict exact zeros,
#: and one such row would otherwise outweigh every other (log 1e-4 = -9.2, about 4 times log(1/10)).
MIN_PROBABILITY = 1e-4

#: Given-label scores: every criterion but "corrected" scores agreement with the given labels themselves.
GIVEN_LABEL_CRITERIA = ("given", "log_likelihood", "brier", "forward_log_likelihood", "forward_brier")
CRITERIA = ("corrected", *GIVEN_LABEL_CRITERIA)

#: How the trust gate weighs the estimated noise matrix (see :func:`gate_margin`).
GATES = ("dominance", "min_count", "bootstrap", "none")

#: Who decides when there are trusted rows: their verified labels alone, or either test (see
#: :meth:`runner.learn.guard.CleaningCheckSteps._judged_by_trusted`).
TRUSTED_RULES = ("trusted", "either")

#: Classes with fewer given labels do not count toward :func:`label_margin` when a ``min_count`` gate is
#: asked for without a number: a column of ``T`` estimated from n rows has binomial standard errors up to
#: 0.5 / sqrt(n), 0.07 at 50 rows, and a margin is a difference of two such entries.
MIN_CLASS_COUNT = 50


@dataclass(frozen=True)
class CleaningCheck:
    """Mean held-out score of the models trained on every row and on the cleaned rows.

    ``kept_accuracy`` and ``cleaned_accuracy`` keep their names for every criterion: they are the mean
    score of :attr:`criterion` (an accuracy for ``"given"`` and ``"corrected"``, a mean log-likelihood or
    negative Brier score for the proper scores); :attr:`kept_score` and :attr:`cleaned_score` name them so.
    """

    kept_accuracy: float
    cleaned_accuracy: float
    standard_error: float
    min_z: float
    #: The label margin the trust gate reads (:func:`label_margin` or :func:`bootstrap_label_margin`;
    #: NaN: not checked).
    label_margin: float = float("nan")
    criterion: str = "given"
    n_rows: int = 0

    @property
    def kept_score(self) -> float:
        return self.kept_accuracy

    @property
    def cleaned_score(self) -> float:
        return self.cleaned_accuracy

    @property
    def gain(self) -> float:
        return self.cleaned_accuracy - self.kept_accuracy

    @property
    def z(self) -> float:
        """The gain in standard errors of the paired difference (inf when every row gains alike)."""
        if self.standard_error > 0:
            return self.gain / self.standard_error
        return float(np.sign(self.gain)) * float("inf") if self.gain else 0.0

    @property
    def use_cleaning(self) -> bool:
        """Cleaning is used only when it wins by more than ``min_z`` standard errors (a tie keeps every
        row), and not when the given labels are no yardstick (a non-positive ``label_margin``)."""
        trusted = np.isnan(self.label_margin) or self.label_margin > 0
        return trusted and self.gain > 0 and self.gain > self.min_z * self.standard_error


def check_cleaning(
    labels,
    kept_probs,
    cleaned_probs,
    *,
    noise_matrix=None,
    criterion: str = "corrected",
    min_z: float = 0.0,
    gate_margin: float | None = None,
) -> CleaningCheck:
    """Compare two sets of out-of-fold probabilities by their mean score on the held-out rows.

    Parameters
    ----------
    labels : ndarray of shape (N,)
        Given labels, ``0..K-1``.
    kept_probs, cleaned_probs : ndarray of shape (N, K)
        Out-of-fold probabilities of fold models trained on every row, and on the cleaned rows.
    noise_matrix : ndarray of shape (K, K), optional
        Estimated ``P(given = row | true = column)``; needed by ``"corrected"`` and the ``forward_``
        criteria. With the other given-label criteria, its diagonal dominance gates the cleaning
        (unless ``gate_margin`` is given).
    criterion : {"corrected", "given", "log_likelihood", "brier", "forward_log_likelihood", "forward_brier"}
        How a held-out prediction is scored (see the module docstring).
    min_z : float
        How many standard errors of the paired difference the cleaned models must win by.
    gate_margin : float, optional
        The label margin the trust gate reads instead of ``label_margin(noise_matrix)``: from
        :func:`label_margin` with ``min_count`` or from :func:`bootstrap_label_margin`; NaN turns the
        gate off. Not read by ``criterion="corrected"``, which needs no yardstick.

    Returns
    -------
    CleaningCheck
    """
    labels = np.asarray(labels)
    if min_z < 0:
        raise ValueError(f"min_z must be at least 0, got {min_z}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    if noise_matrix is None and (criterion == "corrected" or criterion.startswith("forward_")):
        raise ValueError(f"criterion {criterion!r} needs the estimated noise matrix")
    kept_probs, cleaned_probs = np.asarray(kept_probs, dtype=np.float64), np.asarray(cleaned_probs, dtype=np.float64)
    margin = float("nan")
    if criterion != "corrected":
        if gate_margin is not None:
            margin = float(gate_margin)
        elif noise_matrix is not None:
            margin = label_margin(noise_matrix)
    if criterion == "corrected":
        corrected = np.linalg.pinv(np.asarray(noise_matrix, dtype=np.float64))
        kept, cleaned = (corrected[probs.argmax(axis=1), labels] for probs in (kept_probs, cleaned_probs))
    else:
        if criterion.startswith("forward_"):
            cleaned_probs = forward_probs(cleaned_probs, noise_matrix)
        score = criterion.removeprefix("forward_")
        kept, cleaned = (score_given_labels(labels, probs, score) for probs in (kept_probs, cleaned_probs))
    kept_mean, cleaned_mean, standard_error = _paired(kept, cleaned)
    return CleaningCheck(kept_mean, cleaned_mean, standard_error, float(min_z), margin, criterion, len(labels))


def check_on_trusted(
    true_labels, kept_probs, cleaned_probs, *, criterion: str = "given", min_z: float = 0.0
) -> CleaningCheck:
    """Compare two models on rows whose labels were verified: those labels are the truth.

    Neither model may have been trained on these rows. No noise matrix and no trust gate: accuracy
    (``criterion="given"``) or a proper score of the verified labels ranks the models as their
    accuracy on the true labels does.

    Parameters
    ----------
    true_labels : ndarray of shape (M,)
        The verified labels of the trusted rows, ``0..K-1``.
    kept_probs, cleaned_probs : ndarray of shape (M, K)
        The probabilities the model trained on every (untrusted) row and the cleaned model predict for them.
    criterion : {"given", "log_likelihood", "brier"}
        Accuracy, log-likelihood or minus the Brier score of the verified label.
    min_z : float
        How many standard errors of the paired difference the cleaned model must win by.
    """
    if criterion not in ("given", "log_likelihood", "brier"):
        raise ValueError(f"criterion on trusted rows must be 'given', 'log_likelihood' or 'brier', got {criterion!r}")
    if len(true_labels) == 0:
        raise ValueError("check_on_trusted needs at least one trusted row")
    return check_cleaning(
        true_labels, kept_probs, cleaned_probs, criterion=criterion, min_z=min_z, gate_margin=float("nan")
    )


def score_given_labels(labels, probs, score: str = "given") -> np.ndarray:
    """Per-row score of each label under the predicted probabilities (higher is better).

    ``"given"``: 1 when the most probable class is the label; ``"log_likelihood"``:
    ``log max(p[label], MIN_PROBABILITY)``; ``"brier"``: ``-Σ_k (p[k] - [k = label])²``.
    """
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    if score == "given":
        return (probs.argmax(axis=1) == labels).astype(np.float64)
    if score == "log_likelihood":
        return np.log(np.maximum(probs[np.arange(len(labels)), labels], MIN_PROBABILITY))
    if score == "brier":
        return -np.square(probs - np.eye(probs.shape[1])[labels]).sum(axis=1)
    raise ValueError(f"score must be 'given', 'log_likelihood' or 'brier', got {score!r}")


def forward_probs(probs, noise_matrix) -> np.ndarray:
    """``P(given | x) = Σ_t T[given, t] q(t | x)``: what a model of the true class predicts of the given label."""
    return np.asarray(probs, dtype=np.float64) @ np.asarray(noise_matrix, dtype=np.float64).T


def _paired(kept: np.ndarray, cleaned: np.ndarray) -> tuple[float, float, float]:
    """Both means and the standard error of the paired mean difference (inf with fewer than two rows)."""
    difference = cleaned - kept
    standard_error = float(stats.sem(difference)) if len(difference) > 1 else float("inf")
    return float(kept.mean()), float(cleaned.mean()), standard_error


def label_margins(noise_matrix) -> np.ndarray:
    """Per true class ``k``: ``T[k, k] - max_{j != k} T[j, k]``, positive when ``k`` keeps its own label most often."""
    noise_matrix = np.asarray(noise_matrix, dtype=np.float64)
    others = noise_matrix.copy()
    np.fill_diagonal(others, -np.inf)
    return np.diagonal(noise_matrix) - others.max(axis=0)


def label_margin(noise_matrix, counts=None, min_count: int = 0) -> float:
    """``min_k (T[k, k] - max_{j != k} T[j, k])``: positive when every class keeps its own label most often.

    With ``counts`` (given labels per class, shape (K,)), only the classes with at least ``min_count`` of
    them count: the column of a rarer class is too poorly estimated to veto anything. NaN when no class counts.
    """
    margins = label_margins(noise_matrix)
    if counts is not None:
        counts = np.asarray(counts)
        if counts.shape != margins.shape:
            raise ValueError(f"counts must have one entry per class ({len(margins)}), got shape {counts.shape}")
        margins = margins[counts >= min_count]
    return float(margins.min()) if len(margins) else float("nan")


def bootstrap_label_margin(
    labels,
    pred_probs,
    *,
    n_resamples: int = 200,
    quantile: float = 0.95,
    random_state=None,
    estimate: Callable | None = None,
) -> float:
    """The label margin with its sampling error: ``min_k`` of the ``quantile`` of class ``k``'s margin.

    The rows are resampled with replacement within each given label (the class counts stay as given),
    and the noise matrix re-estimated from each resample; a class vetoes (makes the result non-positive)
    only when its margin is non-positive in at least ``1 - quantile`` of the resamples' upper tail,
    i.e. when it is confidently not dominant.

    Parameters
    ----------
    labels : ndarray of shape (N,)
        Given labels, ``0..K-1``.
    pred_probs : ndarray of shape (N, K)
        Out-of-fold probabilities, as the detection read them.
    n_resamples : int
        Bootstrap resamples.
    quantile : float
        The upper quantile of each class's margin that must be non-positive to veto, in (0, 1).
    random_state : int, RandomState or None
    estimate : callable, optional
        ``estimate(labels, pred_probs) -> noise_matrix``; by default confident learning's estimate
        (:func:`runner.confident.count.estimate_py_and_noise_matrices_from_probabilities`, as the
        reference's detection runs it).
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    labels, pred_probs = np.asarray(labels), np.asarray(pred_probs, dtype=np.float64)
    if estimate is None:
        estimate = _confident_learning_noise_matrix
    rng = check_random_state(random_state)
    groups = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    margins = np.empty((n_resamples, pred_probs.shape[1]))
    for b in range(n_resamples):
        rows = np.concatenate([rng.choice(group, size=len(group)) for group in groups])
        margins[b] = label_margins(estimate(labels[rows], pred_probs[rows]))
    return float(np.quantile(margins, quantile, axis=0).min())


def _confident_learning_noise_matrix(labels, pred_probs) -> np.ndarray:
    """The noise matrix the reference's detection estimates (no convergence of the latent estimates)."""
    return estimate_py_and_noise_matrices_from_probabilities(labels, pred_probs, converge_latent_estimates=False)[1]


def held_out_folds(labels, n_folds: int = 2, seed=None):
    """``n_folds`` stratified ``(train, held)`` splits of the rows, or ``None`` when a present class is too small.

    Every held-out fold must hold each present class, and every training part must cross-validate it
    in ``VALIDATION_INNER_FOLDS`` folds: a class of ``n`` rows needs ``n >= n_folds`` and
    ``n - ceil(n / n_folds) >= VALIDATION_INNER_FOLDS`` (for halves: 6 rows).
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    counts = counts[counts > 0]
    if np.any(counts < n_folds) or np.any(counts - np.ceil(counts / n_folds) < VALIDATION_INNER_FOLDS):
        return None
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(labels)), labels))


def held_out_halves(labels, seed=None):
    """Two stratified halves ``[(train, held), (held, train)]`` of the rows, or ``None`` when some present
    class has too few rows for every half to cross-validate it (``2 * VALIDATION_INNER_FOLDS``)."""
    return held_out_folds(labels, 2, seed)


def gate_margin(
    gate: str, labels, noise_matrix, pred_probs=None, *, min_count: int = MIN_CLASS_COUNT, random_state=None
) -> float | None:
    """The label margin a trust gate reads, for :func:`check_cleaning`'s ``gate_margin``.

    ``"dominance"``: None, i.e. :func:`label_margin` of ``noise_matrix`` (every class counts);
    ``"min_count"``: :func:`label_margin` over the classes with at least ``min_count`` given labels;
    ``"bootstrap"``: :func:`bootstrap_label_margin` of ``(labels, pred_probs)``; ``"none"``: NaN (no gate).
    """
    if gate == "dominance":
        return None
    if gate == "none" or noise_matrix is None:
        return float("nan")
    if gate == "min_count":
        counts = np.bincount(np.asarray(labels), minlength=np.shape(noise_matrix)[0])
        return label_margin(noise_matrix, counts, min_count)
    if gate == "bootstrap":
        if pred_probs is None:
            raise ValueError("the bootstrap gate needs the out-of-fold probabilities")
        return bootstrap_label_margin(labels, pred_probs, random_state=random_state)
    raise ValueError(f"gate must be one of {', '.join(GATES)}; got {gate!r}")
