"""Detectors: from out-of-fold probabilities to the examples whose labels look wrong.

A detector has one method, ``detect(labels, pred_probs) -> Detection``. The built-in ones are
:class:`ConfidentLearning` (the reference's detection: confident joint, noise matrices,
``find_label_issues`` with any ``filter_by``, label-quality scores) and :class:`NoisePosterior`
(each row's most probable true class under the estimated noise matrix); another detector only has
to return the same :class:`Detection` — the noise estimates are optional, and strategies that
need them (``remove``'s re-weighting) do without.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import numpy as np

from runner.confident.count import (
    _inverse_from_noise_matrix,
    _noise_matrix_from_inverse,
    clip_and_renormalize,
    compute_confident_joint,
    estimate_latent,
    estimate_py_and_noise_matrices_from_probabilities,
)
from runner.confident.filter import find_label_issues
from runner.confident.rank import get_label_quality_scores
from runner.posterior import label_posterior


@dataclass(frozen=True)
class Detection:
    """What a detector found, on encoded labels ``0..K-1``.

    Attributes
    ----------
    label_issues : ndarray of bool, shape (N,)
        True where the given label is likely wrong.
    label_quality : ndarray of shape (N,), or None
        Label-quality scores (lower is more suspicious).
    pred_probs : ndarray of shape (N, K), or None
        The out-of-fold predicted probabilities the detection used.
    noise_matrix, inverse_noise_matrix, confident_joint : ndarray of shape (K, K), or None
        ``P(given | true)``, ``P(true | given)`` and the confident joint, when estimated.
    py : ndarray of shape (K,), or None
        Estimated prior of the true labels.
    """

    label_issues: np.ndarray
    label_quality: np.ndarray | None = None
    pred_probs: np.ndarray | None = None
    noise_matrix: np.ndarray | None = None
    inverse_noise_matrix: np.ndarray | None = None
    confident_joint: np.ndarray | None = None
    py: np.ndarray | None = None


def with_pred_probs(detection: Detection, pred_probs: np.ndarray) -> Detection:
    """``detection``, with ``pred_probs`` (N, K) filled in when its detector returned none.

    The contract leaves a detection's ``pred_probs`` optional, while strategies that relabel
    (``relabel``, ``relabel_confident``) need them. The probabilities a detector was given are
    the out-of-fold ones the runner holds, so the runner completes the detection with them: any
    detector then combines with any strategy.
    """
    return detection if detection.pred_probs is not None else replace(detection, pred_probs=pred_probs)


@runtime_checkable
class Detector(Protocol):
    """Finds label issues from labels and out-of-fold probabilities."""

    def detect(self, labels: np.ndarray, pred_probs: np.ndarray) -> Detection:
        """Detection result for ``labels`` (N,) in ``0..K-1`` and ``pred_probs`` (N, K).

        A detector that needs the training rows themselves declares a keyword-only ``features``
        parameter, ``detect(labels, pred_probs, *, features)``; CleanLearning then passes the
        training features (N, ...) as given to ``fit``, and detectors without it are called as before.
        """


@dataclass
class ConfidentLearning:
    """Confident learning (Northcutt et al. 2021), exactly as the reference's CleanLearning does it.

    Parameters
    ----------
    filter_by : str
        Any ``filter_by`` of :func:`runner.confident.find_label_issues`.
    frac_noise, num_to_remove_per_class, min_examples_per_class
        As in :func:`runner.confident.find_label_issues` (``min_examples_per_class`` is 10
        here, the reference's CleanLearning default).
    confident_joint : ndarray of shape (K, K), optional
        A known confident joint, used instead of the estimated one.
    rank_by : str
        The label-quality score (``self_confidence``, ``normalized_margin`` or
        ``confidence_weighted_entropy``).
    adjust_pred_probs : bool
        Subtract class thresholds before scoring.
    converge_latent_estimates : bool
        Make the noise-matrix estimates mutually consistent.
    pulearning : {0, 1}, optional
        For K=2: the class known to contain no label errors.
    flag_predicted_given : bool
        Keep flags on examples whose given label is still their most probable class (the
        reference drops them; see :func:`runner.confident.find_label_issues`).
    """

    filter_by: str = "prune_by_noise_rate"
    frac_noise: float = 1.0
    num_to_remove_per_class: list | None = None
    min_examples_per_class: int = 10
    confident_joint: np.ndarray | None = field(default=None, repr=False)
    rank_by: str = "self_confidence"
    adjust_pred_probs: bool = False
    converge_latent_estimates: bool = False
    pulearning: int | None = None
    flag_predicted_given: bool = False

    def detect(self, labels, pred_probs, *, noise_matrix=None, inverse_noise_matrix=None, thresholds=None):
        """Estimate the noise and flag the label issues.

        ``noise_matrix`` / ``inverse_noise_matrix`` (known matrices) replace the estimates, as
        in the reference; ``thresholds`` replace the per-class confident thresholds.
        """
        labels = np.asarray(labels)
        n_classes = pred_probs.shape[1]
        ps = np.bincount(labels, minlength=n_classes) / len(labels)
        joint = None if self.confident_joint is None else np.asarray(self.confident_joint)
        py = None
        if joint is not None:
            py, noise_matrix, _ = estimate_latent(joint, labels)
        noise_matrix, inverse_noise_matrix, py = _complete_matrices(noise_matrix, inverse_noise_matrix, py, ps)
        if noise_matrix is None:
            py, noise_matrix, inverse_noise_matrix, estimated = estimate_py_and_noise_matrices_from_probabilities(
                labels,
                pred_probs,
                thresholds=thresholds,
                converge_latent_estimates=self.converge_latent_estimates,
            )
            joint = estimated if joint is None else joint
        if joint is None:
            joint = compute_confident_joint(labels, pred_probs, thresholds=thresholds)
        if self.pulearning is not None and n_classes == 2:
            noise_matrix, inverse_noise_matrix, joint = _assume_class_is_clean(
                self.pulearning, noise_matrix, inverse_noise_matrix, joint
            )

        options = dict(
            filter_by=self.filter_by,
            frac_noise=self.frac_noise,
            num_to_remove_per_class=self.num_to_remove_per_class,
            min_examples_per_class=self.min_examples_per_class,
            flag_predicted_given=self.flag_predicted_given,
        )
        if self.confident_joint is not None or self.filter_by != "confident_learning":
            options["confident_joint"] = joint
        return Detection(
            label_issues=find_label_issues(labels, pred_probs, **options),
            label_quality=get_label_quality_scores(
                labels, pred_probs, method=self.rank_by, adjust_pred_probs=self.adjust_pred_probs
            ),
            pred_probs=pred_probs,
            noise_matrix=noise_matrix,
            inverse_noise_matrix=inverse_noise_matrix,
            confident_joint=joint,
            py=py,
        )


@dataclass
class NoisePosterior:
    """Flag the rows whose most probable true class, given the row and its label, is not the label.

    The noise matrix is confident learning's estimate (as :class:`ConfidentLearning` makes it);
    the posterior ``P(true | x, given)`` follows from it and the probabilities of the given labels
    (:func:`runner.posterior.label_posterior`). The detection's ``pred_probs`` is that posterior, so
    the ``relabel`` strategy gives each flagged row its most probable true class, and its
    ``label_quality`` is the posterior probability of the given label. Where the reference only
    counts how many rows of each label are wrong, the posterior decides row by row, which keeps
    working when most rows of a class carry another class's label.

    Parameters
    ----------
    min_examples_per_class : int
        A class that relabelling would leave with fewer examples than this (or than it is given,
        if fewer) keeps its given labels: none of its rows is flagged. Under noise that gives a
        class's label mostly to other classes, the posterior can otherwise move every example
        out of the class, and no final model could be trained.
    converge_latent_estimates : bool
        Make the noise-matrix estimates mutually consistent.
    """

    min_examples_per_class: int = 10
    converge_latent_estimates: bool = False

    def __post_init__(self):
        # Refused at instantiation, before any cross-validation is paid for.
        if not isinstance(self.min_examples_per_class, int) or self.min_examples_per_class < 0:
            raise ValueError(
                f"detection 'posterior': min_examples_per_class must be an integer >= 0, "
                f"got {self.min_examples_per_class!r}"
            )

    def detect(self, labels, pred_probs) -> Detection:
        labels = np.asarray(labels)
        py, noise_matrix, inverse_noise_matrix, joint = estimate_py_and_noise_matrices_from_probabilities(
            labels,
            pred_probs,
            converge_latent_estimates=self.converge_latent_estimates,
        )
        posterior = label_posterior(labels, pred_probs, noise_matrix)
        given = posterior[np.arange(len(labels)), labels]
        flagged = given < posterior.max(axis=1)
        flagged = self._keep_classes(labels, flagged, posterior.argmax(axis=1), posterior.shape[1])
        return Detection(
            label_issues=flagged,
            label_quality=given,
            pred_probs=posterior,
            noise_matrix=noise_matrix,
            inverse_noise_matrix=inverse_noise_matrix,
            confident_joint=joint,
            py=py,
        )

    def _keep_classes(self, labels, flagged, suggested, n_classes):
        """Unflag the rows of every class that relabelling would leave too small."""
        floor = np.minimum(self.min_examples_per_class, np.bincount(labels, minlength=n_classes))
        # Unflagging one class's rows can shrink a class they were moving to: repeat (at most K
        # times, as a class once restored keeps at least its given rows).
        for _ in range(n_classes):
            counts = np.bincount(np.where(flagged, suggested, labels), minlength=n_classes)
            restore = flagged & np.isin(labels, np.flatnonzero(counts < floor))
            if not restore.any():
                break
            flagged = flagged & ~restore
        return flagged


def _complete_matrices(noise_matrix, inverse_noise_matrix, py, ps):
    """Derive the missing one of two known noise matrices (and py) by Bayes' rule."""
    if noise_matrix is not None:
        noise_matrix = np.asarray(noise_matrix, dtype=np.float64)
        if inverse_noise_matrix is None:
            py = clip_and_renormalize(np.linalg.inv(noise_matrix).dot(ps), low=1e-6)
            inverse_noise_matrix = _inverse_from_noise_matrix(noise_matrix, py, ps)
    if inverse_noise_matrix is not None:
        inverse_noise_matrix = np.asarray(inverse_noise_matrix, dtype=np.float64)
        if noise_matrix is None:
            py = inverse_noise_matrix.dot(ps)
            noise_matrix = _noise_matrix_from_inverse(inverse_noise_matrix, py, ps)
    return noise_matrix, inverse_noise_matrix, py


def _assume_class_is_clean(clean, noise_matrix, inverse_noise_matrix, joint):
    """PU learning with K=2: no example of class ``clean`` is mislabeled."""
    if clean not in (0, 1):
        raise ValueError(f"pulearning must be 0 or 1, got {clean!r}")
    other = 1 - clean
    noise_matrix, inverse_noise_matrix, joint = noise_matrix.copy(), inverse_noise_matrix.copy(), np.array(joint)
    noise_matrix[clean, other], noise_matrix[other, other] = 0.0, 1.0
    inverse_noise_matrix[other, clean], inverse_noise_matrix[clean, clean] = 0.0, 1.0
    joint[clean, other], joint[other, other] = 0, 1
    return noise_matrix, inverse_noise_matrix, joint
