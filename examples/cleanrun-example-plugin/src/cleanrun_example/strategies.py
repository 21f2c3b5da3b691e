"""DownWeight: a cleanrun strategy that keeps the flagged rows at a fraction of their weight.

A strategy turns the detection result into the final training set. It needs one method,
``select(detection, labels, sample_weight=None) -> TrainingSet``, and one class attribute,
``requires_sample_weight`` (see ``runner.contracts``). Its YAML option is
``cleanrun_example/conf/strategy/down_weight.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from runner.contracts import Detection, TrainingSet


@dataclass(frozen=True)
class DownWeight:
    """Keep every row; a flagged row counts ``fraction`` of an unflagged one.

    Between ``none`` (``fraction=1``) and ``weight`` (``fraction=0``): a flagged label is
    probably, not surely, wrong, so it keeps some say in the final fit.

    Parameters
    ----------
    fraction : float, default 0.25
        Weight of a flagged row, in ``[0, 1]``.
    """

    fraction: float = 0.25
    # The strategy means nothing without weights: cleanrun refuses a classifier whose fit has
    # no sample_weight before any fitting.
    requires_sample_weight: ClassVar[bool] = True

    def __post_init__(self):
        # Checked when the config is instantiated, before the (costly) cross-validation.
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"strategy 'down_weight': fraction must lie in [0, 1], got {self.fraction}")

    def select(self, detection: Detection, labels: np.ndarray, sample_weight=None) -> TrainingSet:
        """Every row, its given label, weight ``fraction`` if flagged else 1 (times ``sample_weight``).

        Parameters
        ----------
        detection : Detection
            ``detection.label_issues`` is the bool mask (N,) of flagged rows.
        labels : ndarray of shape (N,)
            Given labels, encoded ``0..K-1``.
        sample_weight : ndarray of shape (N,), optional
            The caller's own weights; they multiply ours.

        Returns
        -------
        TrainingSet
        """
        weights = np.where(np.asarray(detection.label_issues, dtype=bool), self.fraction, 1.0)
        if sample_weight is not None:
            weights = weights * np.asarray(sample_weight, dtype=np.float64)
        return TrainingSet(rows=np.arange(len(labels)), labels=labels, sample_weight=weights)
