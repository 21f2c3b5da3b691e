"""BelowThreshold: a cleanrun detector that flags labels the classifier gives little chance.

A detector has one method, ``detect(labels, pred_probs) -> Detection`` (see ``runner.contracts``).
Only the mask is required; label-quality scores (in [0, 1], lower = more suspicious) let
strategies such as ``soft_weight`` work, and the noise matrices are optional. Its YAML option
is ``cleanrun_example/conf/detection/below_threshold.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.contracts import Detection


@dataclass(frozen=True)
class BelowThreshold:
    """Flag a row when the out-of-fold probability of its given label is below ``threshold``.

    Parameters
    ----------
    threshold : float, default 0.2
        In ``[0, 1]``; higher flags more rows.
    """

    threshold: float = 0.2

    def detect(self, labels: np.ndarray, pred_probs: np.ndarray) -> Detection:
        """The mask and the self-confidence scores.

        Parameters
        ----------
        labels : ndarray of shape (N,)
            Given labels, encoded ``0..K-1``.
        pred_probs : ndarray of shape (N, K)
            Out-of-fold predicted probabilities.

        Returns
        -------
        Detection
        """
        self_confidence = pred_probs[np.arange(len(labels)), labels]
        return Detection(
            label_issues=self_confidence < self.threshold,
            label_quality=self_confidence,
            pred_probs=pred_probs,
        )
