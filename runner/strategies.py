"""Strategies: how the detected label issues shape the final training set.

A strategy receives the :class:`~runner.detection.Detection` (which examples are flagged, their label quality,
the out-of-fold ``pred_probs`` and the noise estimates) and the training labels, and returns a
:class:`TrainingSet` — the rows, labels and sample weights of the final fit. The contract is
one method, :meth:`Strategy.select`; a new strategy is one class plus one YAML file whose
``_target_`` points at it.

Built in: ``remove`` (the reference's behaviour: drop flagged rows, re-weight the rest by
``1 / P(given = k | true = k)``), ``weight`` (keep every row, flagged rows get ``issue_weight``),
``relabel`` (flagged rows take their out-of-fold predicted label) and ``none`` (train on the
labels as given: the baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from runner.detection import Detection

MIN_DIAGONAL = 1e-3  # floor of P(given=k | true=k) in the re-weighting: weights stay <= 1000


@dataclass(frozen=True)
class TrainingSet:
    """The final fit's data: ``X[rows]``, ``labels`` (encoded) and optional ``sample_weight``."""

    rows: np.ndarray
    labels: np.ndarray
    sample_weight: np.ndarray | None = None


@runtime_checkable
class Strategy(Protocol):
    """Turns a detection result into the final training set.

    ``requires_sample_weight`` says whether the strategy is meaningless without weights (the
    classifier must then accept ``sample_weight``); optional weights (like ``remove``'s
    re-weighting) are dropped when the classifier cannot take them.
    """

    requires_sample_weight: ClassVar[bool]

    def select(self, detection: Detection, labels: np.ndarray, sample_weight=None) -> TrainingSet:
        """Rows, labels and weights of the final fit.

        Parameters
        ----------
        detection : Detection
        labels : ndarray of shape (N,)
            Given labels, encoded ``0..K-1``.
        sample_weight : ndarray of shape (N,), optional
            The caller's own weights.
        """


def _kept_weights(sample_weight, keep):
    return None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[keep]


def _flagged(detection: Detection) -> np.ndarray:
    return np.asarray(detection.label_issues, dtype=bool)


class Remove:
    """Drop the flagged rows; re-weight each kept row of class k by ``1 / P(given=k | true=k)``.

    The re-weighting (the reference's) restores each class's estimated true share after the
    removal; it needs the noise matrix and is replaced by the caller's ``sample_weight`` when
    one is given.
    """

    requires_sample_weight = False

    def select(self, detection, labels, sample_weight=None):
        keep = np.flatnonzero(~_flagged(detection))
        kept_labels = labels[keep]
        if sample_weight is not None:
            weights = _kept_weights(sample_weight, keep)
        elif detection.noise_matrix is not None:
            diagonal = np.diagonal(detection.noise_matrix)
            weights = 1.0 / np.maximum(diagonal, MIN_DIAGONAL)[kept_labels]
        else:
            weights = None
        return TrainingSet(keep, kept_labels, weights)


@dataclass(frozen=True)
class Weight:
    """Keep every row; flagged rows get ``issue_weight`` (default 0) times their own weight."""

    issue_weight: float = 0.0
    requires_sample_weight: ClassVar[bool] = True

    def select(self, detection, labels, sample_weight=None):
        weights = np.where(_flagged(detection), self.issue_weight, 1.0)
        if sample_weight is not None:
            weights = weights * np.asarray(sample_weight, dtype=np.float64)
        return TrainingSet(np.arange(len(labels)), labels, weights)


class Relabel:
    """Keep every row; flagged rows take their out-of-fold predicted label (argmax)."""

    requires_sample_weight = False

    def select(self, detection, labels, sample_weight=None):
        if detection.pred_probs is None:
            raise ValueError("strategy 'relabel' needs out-of-fold pred_probs")
        flagged = _flagged(detection)
        new_labels = labels.copy()
        new_labels[flagged] = np.asarray(detection.pred_probs)[flagged].argmax(axis=1)
        return TrainingSet(np.arange(len(labels)), new_labels, _kept_weights(sample_weight, slice(None)))


class KeepAll:
    """Train on every row with the labels as given: the baseline that ignores detection."""

    requires_sample_weight = False

    def select(self, detection, labels, sample_weight=None):
        return TrainingSet(np.arange(len(labels)), labels, _kept_weights(sample_weight, slice(None)))


BUILT_IN = {"remove": Remove, "weight": Weight, "relabel": Relabel, "none": KeepAll}


def get_strategy(strategy) -> Strategy:
    """A strategy object from a name of :data:`BUILT_IN` or an object with ``select``."""
    if isinstance(strategy, str):
        if strategy not in BUILT_IN:
            raise ValueError(f"unknown strategy {strategy!r}; built in: {', '.join(BUILT_IN)}")
        return BUILT_IN[strategy]()
    if not callable(getattr(strategy, "select", None)):
        raise TypeError(f"a strategy needs a select(detection, labels, sample_weight) method: {strategy!r}")
    return strategy


def check_training_set(result, given_labels: np.ndarray, n_classes: int, name: str) -> TrainingSet:
    """Refuse a strategy's result that breaks the contract, naming the strategy and the breach.

    Every class present in ``given_labels`` must keep at least one row of positive weight.
    """
    n_samples = len(given_labels)
    if not isinstance(result, TrainingSet):
        raise TypeError(f"strategy {name} must return a TrainingSet, got {type(result).__name__}")
    rows = np.asarray(result.rows)
    labels = np.asarray(result.labels)
    if rows.ndim != 1 or rows.dtype.kind not in "iu" or (rows.size and (rows.min() < 0 or rows.max() >= n_samples)):
        raise ValueError(f"strategy {name} returned rows that are not indices into the {n_samples} examples")
    if labels.shape != rows.shape:
        raise ValueError(f"strategy {name} returned {len(labels)} labels for {len(rows)} rows")
    if labels.dtype.kind not in "iu" or (labels.size and (labels.min() < 0 or labels.max() >= n_classes)):
        raise ValueError(f"strategy {name} returned labels outside the classes 0..{n_classes - 1}")
    weights = None if result.sample_weight is None else np.asarray(result.sample_weight, dtype=np.float64)
    if weights is not None:
        if weights.shape != rows.shape:
            raise ValueError(f"strategy {name} returned {len(weights)} sample weights for {len(rows)} rows")
        if not np.all(np.isfinite(weights)) or weights.min(initial=0) < 0:
            raise ValueError(f"strategy {name} returned negative, NaN or infinite sample weights")
    support = np.bincount(labels, weights=weights, minlength=n_classes)
    present = np.bincount(given_labels, minlength=n_classes) > 0
    empty = np.flatnonzero(present & (support <= 0))
    if empty.size:
        raise ValueError(
            f"strategy {name} left classes {empty.tolist()} with no training examples (or zero "
            "weight); the final classifier needs every class"
        )
    return TrainingSet(rows, labels, weights)
