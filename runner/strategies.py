"""Strategies: how the detected label issues shape the final training set.

A strategy receives the :class:`~runner.detection.Detection` (which examples are flagged, their label quality,
the out-of-fold ``pred_probs`` and the noise estimates) and the training labels, and returns a
:class:`TrainingSet` — the rows, labels and sample weights of the final fit. The contract is
one method, :meth:`Strategy.select`; a new strategy is one class plus one YAML file whose
``_target_`` points at it.

Built in, each written exactly as a plugin would be (one class here, one YAML file in
``conf/strategy/``):

* ``remove`` — the reference's behaviour: drop flagged rows, re-weight the rest by
  ``1 / P(given = k | true = k)``;
* ``weight`` — keep every row, flagged rows get ``issue_weight``;
* ``soft_weight`` — keep every row, weight each by a smooth function of its label quality
  (no hard cut-off: :class:`SoftWeight`);
* ``relabel`` — flagged rows take their out-of-fold predicted label;
* ``relabel_confident`` — flagged rows take the predicted label when the out-of-fold
  probability of that label is at least ``min_confidence``, and are dropped otherwise;
* ``none`` — train on the labels as given: the baseline.

:func:`check_training_set` is the contract's referee: it refuses a result that breaks it, naming
the strategy and the breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from runner.detection import Detection
from runner.plugin_names import label, plugin_name

MIN_DIAGONAL = 1e-3  # floor of P(given=k | true=k) in the re-weighting: weights stay <= 1000


@dataclass(frozen=True)
class TrainingSet:
    """The final fit's data: ``X[rows]``, ``labels`` (encoded) and optional ``sample_weight``.

    Attributes
    ----------
    rows : ndarray of int, shape (M,)
        Indices into the N training examples; a row may repeat (resampling).
    labels : ndarray of int, shape (M,)
        The label of each row, encoded ``0..K-1`` (a strategy may change labels: ``relabel``).
    sample_weight : ndarray of shape (M,), optional
        Finite, non-negative weights (negative only where the caller's own weights are);
        None = unweighted.
    """

    rows: np.ndarray
    labels: np.ndarray
    sample_weight: np.ndarray | None = None


@runtime_checkable
class Strategy(Protocol):
    """Turns a detection result into the final training set.

    ``requires_sample_weight`` says whether the strategy is meaningless without weights (the
    classifier must then accept ``sample_weight``, which is checked before any fitting);
    optional weights (like ``remove``'s re-weighting) are dropped when the classifier cannot
    take them.

    The result must keep every class that ``labels`` holds (at least one row of positive
    weight), give each row a label in ``0..K-1`` and a finite, non-negative weight;
    :func:`check_training_set` refuses any other result, naming the strategy.
    """

    requires_sample_weight: ClassVar[bool]

    def select(self, detection: Detection, labels: np.ndarray, sample_weight=None) -> TrainingSet:
        """Rows, labels and weights of the final fit.

        Parameters
        ----------
        detection : Detection
            What the detector found: ``label_issues`` (bool mask, N), and when the detector
            provides them ``label_quality`` (N, in [0, 1]), ``pred_probs`` (N, K) and the
            noise matrices (K, K).
        labels : ndarray of shape (N,)
            Given labels, encoded ``0..K-1``.
        sample_weight : ndarray of shape (N,), optional
            The caller's own weights; a strategy should carry them to the rows it keeps.

        Returns
        -------
        TrainingSet
        """


def _kept_weights(sample_weight, keep):
    """The caller's weights of the kept rows (None stays None)."""
    return None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[keep]


def _flagged(detection: Detection) -> np.ndarray:
    """The label-issue mask as a bool array."""
    return np.asarray(detection.label_issues, dtype=bool)


def _predictions(detection: Detection, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predicted labels (argmax) and their probabilities; ``name`` needs pred_probs."""
    if detection.pred_probs is None:
        raise ValueError(f"strategy {name!r} needs out-of-fold pred_probs in the detection")
    pred_probs = np.asarray(detection.pred_probs)
    predicted = pred_probs.argmax(axis=1)
    return predicted, pred_probs[np.arange(len(predicted)), predicted]


@dataclass(frozen=True)
class Remove:
    """Drop the flagged rows; re-weight each kept row of class k by ``1 / P(given=k | true=k)``.

    The re-weighting (the reference's) restores each class's estimated true share after the
    removal; it needs the noise matrix and is replaced by the caller's ``sample_weight`` when
    one is given. ``reweight=False`` keeps the rows' weights as they are: where the noise
    matrix is misestimated (rare classes under heavy noise), the re-weighting can push the
    final model towards a class far beyond its true share.
    """

    reweight: bool = True
    requires_sample_weight: ClassVar[bool] = False

    def select(self, detection, labels, sample_weight=None):
        keep = np.flatnonzero(~_flagged(detection))
        kept_labels = labels[keep]
        if sample_weight is not None:
            weights = _kept_weights(sample_weight, keep)
        elif self.reweight and detection.noise_matrix is not None:
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
        predicted, _ = _predictions(detection, "relabel")
        flagged = _flagged(detection)
        new_labels = labels.copy()
        new_labels[flagged] = predicted[flagged]
        return TrainingSet(np.arange(len(labels)), new_labels, _kept_weights(sample_weight, slice(None)))


@dataclass(frozen=True)
class RelabelConfident:
    """Flagged rows take their predicted label when the classifier is sure of it; the rest go.

    A flagged row whose out-of-fold probability of its predicted (argmax) class is at least
    ``min_confidence`` takes that class as its label; the other flagged rows are removed, and
    unflagged rows are kept as given. This sits between ``relabel`` (trust every prediction)
    and ``remove`` (trust none): a confident prediction on a flagged row is usually the true
    class, an unsure one is as likely to add a new error as to fix one.

    Parameters
    ----------
    min_confidence : float, default 0.7
        Lowest out-of-fold probability of the predicted class for a flagged row to be
        relabelled, in ``[0, 1]``: ``0`` relabels every flagged row (``relabel``), ``1``
        removes all but the flagged rows predicted with certainty (``remove`` without its
        re-weighting).
    """

    min_confidence: float = 0.7
    requires_sample_weight: ClassVar[bool] = False

    def __post_init__(self):
        # Refused at instantiation, before any cross-validation is paid for.
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(
                f"strategy 'relabel_confident': min_confidence must lie in [0, 1], got {self.min_confidence}"
            )

    def select(self, detection, labels, sample_weight=None):
        predicted, confidence = _predictions(detection, "relabel_confident")
        flagged = _flagged(detection)
        relabelled = flagged & (confidence >= self.min_confidence)
        keep = np.flatnonzero(~flagged | relabelled)
        new_labels = np.where(relabelled, predicted, labels)[keep]
        return TrainingSet(keep, new_labels, _kept_weights(sample_weight, keep))


@dataclass(frozen=True)
class SoftWeight:
    r"""Keep every row; weight it by how its label quality compares with its class's average.

    The weight of row *i* with given label *k* and label-quality score :math:`q_i` (the
    detection's ``label_quality``, e.g. the out-of-fold probability of the given label) is

    .. math:: w_i = \min\left(1, \frac{q_i}{t_k}\right)^{\text{power}}, \qquad
              t_k = \operatorname{mean}\{q_j : \text{label}_j = k\}.

    :math:`t_k` is confident learning's per-class threshold (for self-confidence scores it is
    exactly the threshold of the confident joint): a row at least as confident as its class's
    average gets full weight, a row below it loses weight smoothly, down to 0 for a row the
    classifier gives no chance. Comparing with the class's own average rather than with 1
    keeps classes that are harder (or noisier) from being down-weighted as a whole. ``power``
    sets how fast the weight falls: 0 is ``none``, large values approach dropping every row
    below its class threshold. The detection mask is not used: no hard cut-off.

    Parameters
    ----------
    power : float, default 2.0
        Exponent of the ratio; must be ``>= 0``.

    Notes
    -----
    Needs ``label_quality`` scores in ``[0, 1]`` (lower = more suspicious). A class whose rows
    all score 0 has no threshold to compare with: its rows keep weight 1. The caller's
    ``sample_weight`` multiplies the weights.
    """

    power: float = 2.0
    requires_sample_weight: ClassVar[bool] = True

    def __post_init__(self):
        if not self.power >= 0:  # also refuses NaN
            raise ValueError(f"strategy 'soft_weight': power must be >= 0, got {self.power}")

    def select(self, detection, labels, sample_weight=None):
        if detection.label_quality is None:
            raise ValueError("strategy 'soft_weight' needs label_quality scores in the detection")
        weights = self.weights(np.asarray(detection.label_quality, dtype=np.float64), labels)
        if sample_weight is not None:
            weights = weights * np.asarray(sample_weight, dtype=np.float64)
        return TrainingSet(np.arange(len(labels)), labels, weights)

    def weights(self, label_quality: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The weights ``min(1, q / t_k) ** power`` of rows with scores ``label_quality`` (N,)."""
        counts = np.bincount(labels)
        totals = np.bincount(labels, weights=label_quality, minlength=len(counts))
        thresholds = np.divide(totals, counts, out=np.zeros(len(counts)), where=counts > 0)[labels]
        ratio = np.divide(label_quality, thresholds, out=np.ones_like(label_quality), where=thresholds > 0)
        return np.minimum(ratio, 1.0) ** self.power


class KeepAll:
    """Train on every row with the labels as given: the baseline that ignores detection."""

    requires_sample_weight = False

    def select(self, detection, labels, sample_weight=None):
        return TrainingSet(np.arange(len(labels)), labels, _kept_weights(sample_weight, slice(None)))


# The names CleanLearning(strategy="...") accepts; the Hydra app finds strategies through
# conf/strategy/ instead, so a plugin needs no entry here.
BUILT_IN = {
    "remove": Remove,
    "weight": Weight,
    "soft_weight": SoftWeight,
    "relabel": Relabel,
    "relabel_confident": RelabelConfident,
    "none": KeepAll,
}


def get_strategy(strategy) -> Strategy:
    """A strategy object from a name of :data:`BUILT_IN` or an object following :class:`Strategy`.

    Raises
    ------
    ValueError
        If ``strategy`` is an unknown name.
    TypeError
        If the object has no ``select`` method or no boolean ``requires_sample_weight``.
    """
    if isinstance(strategy, str):
        if strategy not in BUILT_IN:
            raise ValueError(f"unknown strategy {strategy!r}; built in: {', '.join(BUILT_IN)}")
        return BUILT_IN[strategy]()
    name = label("strategy", plugin_name(strategy))
    if not callable(getattr(strategy, "select", None)):
        raise TypeError(f"{name} needs a select(detection, labels, sample_weight=None) method: {strategy!r}")
    if not isinstance(getattr(strategy, "requires_sample_weight", None), bool):
        raise TypeError(
            f"{name} needs a class attribute requires_sample_weight = True or False (True when the "
            "strategy means nothing without sample weights, so the classifier must accept them)"
        )
    return strategy


def select_checked(
    strategy, detection, labels: np.ndarray, sample_weight, n_classes: int, name: str, *, allow_negative_weights=False
) -> TrainingSet:
    """``strategy.select(detection, labels, sample_weight)``, refused by :func:`check_training_set` if it breaks the
    contract (``name`` names the strategy in the message)."""
    result = strategy.select(detection, labels, sample_weight)
    return check_training_set(result, labels, n_classes, name, allow_negative_weights=allow_negative_weights)


def check_training_set(
    result, given_labels: np.ndarray, n_classes: int, name: str, *, allow_negative_weights: bool = False
) -> TrainingSet:
    """Refuse a strategy's result that breaks the contract, naming the strategy and the breach.

    Parameters
    ----------
    result : object
        What the strategy's ``select`` returned.
    given_labels : ndarray of shape (N,)
        The labels the strategy received, encoded ``0..K-1``.
    n_classes : int
        K.
    name : str
        The strategy's name (its class or built-in name, or its option ``strategy=mine``:
        :func:`runner.plugin_names.plugin_name`), for the messages.
    allow_negative_weights : bool
        Accept negative weights: the caller's own weights were negative, and a strategy that
        carries them to the final fit passes them on (a class then needs a row of non-zero
        weight).

    Returns
    -------
    TrainingSet
        ``result`` with its fields as numpy arrays (weights as float64).

    Raises
    ------
    TypeError
        If ``result`` is not a :class:`TrainingSet`.
    ValueError
        If ``rows`` are not integer indices into the N examples (a row may repeat: resampling
        is allowed), ``labels`` or ``sample_weight`` do not have one entry per row, a label
        is not an integer in ``0..K-1``, a weight is negative, NaN or infinite, or a class
        present in ``given_labels`` keeps no row of positive weight.
    """
    n_samples = len(given_labels)
    who = label("strategy", name)
    if not isinstance(result, TrainingSet):
        raise TypeError(
            f"{who} must return a runner.strategies.TrainingSet(rows, labels, sample_weight), "
            f"got {type(result).__name__}"
        )
    rows = np.asarray(result.rows)
    labels = np.asarray(result.labels)
    if rows.ndim != 1 or rows.dtype.kind not in "iu" or (rows.size and (rows.min() < 0 or rows.max() >= n_samples)):
        hint = " (a boolean mask? pass np.flatnonzero(mask))" if rows.dtype.kind == "b" else ""
        raise ValueError(f"{who} returned rows that are not indices into the {n_samples} examples{hint}")
    if labels.shape != rows.shape:
        raise ValueError(f"{who} returned {labels.size} labels for {rows.size} rows")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{who} returned labels of dtype {labels.dtype}, not integer codes 0..{n_classes - 1}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{who} returned labels outside the classes 0..{n_classes - 1}")
    weights = None
    if result.sample_weight is not None:
        try:
            weights = np.asarray(result.sample_weight, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{who} returned sample weights that are not numbers") from None
        if weights.shape != rows.shape:
            raise ValueError(f"{who} returned {weights.size} sample weights for {rows.size} rows")
        if not np.all(np.isfinite(weights)) or (weights.min(initial=0) < 0 and not allow_negative_weights):
            raise ValueError(f"{who} returned negative, NaN or infinite sample weights")
    support_weights = (weights != 0) if weights is not None and allow_negative_weights else weights
    support = np.bincount(labels, weights=support_weights, minlength=n_classes)
    present = np.bincount(given_labels, minlength=n_classes) > 0
    empty = np.flatnonzero(present & (support <= 0))
    if empty.size:
        raise ValueError(
            f"{who} left classes {empty.tolist()} with no training examples (or zero "
            "weight); the final classifier needs every class"
        )
    return TrainingSet(rows, labels, weights)
