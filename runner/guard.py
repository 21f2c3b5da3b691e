"""Should the final fit use the cleaned training set? Ask held-out data, with the labels as given.

Cleaning helps only when the model trained on the cleaned rows predicts better than the model
trained on every row; on data it was never tuned on, a detector can flag thousands of correct
labels and make the model much worse. The test labels cannot tell (a user has none, and reading
them would be cheating), and the true training labels are unknown. What is known: the given
labels of held-out rows. Under label noise that leaves the true class the most likely label of
each example (the noise matrices the benchmark draws, and the usual real case), the model that
is more accurate on the true labels is also, in expectation, more accurate on the given labels:
every correct prediction matches the given label with probability ``P(given = true)``, every
wrong one with a smaller one.

So both candidates are cross-validated on the same folds: the classifier trained on every row
(the out-of-fold probabilities that detection used anyway) and the classifier trained on the
strategy's rows and labels within each training fold. Each held-out row is then predicted by
both, and the cleaned set is kept only when its accuracy on the given labels is higher by more
than ``min_z`` standard errors of the paired difference. The comparison reads nothing but the
training features and given labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CleaningCheck:
    """Held-out accuracy on the given labels of the models trained on every row and on the cleaned rows."""

    kept_accuracy: float
    cleaned_accuracy: float
    standard_error: float
    min_z: float

    @property
    def gain(self) -> float:
        return self.cleaned_accuracy - self.kept_accuracy

    @property
    def use_cleaning(self) -> bool:
        """Cleaning is used only when it wins by more than ``min_z`` standard errors; a tie keeps every row."""
        return self.gain > 0 and self.gain > self.min_z * self.standard_error


def check_cleaning(labels, kept_probs, cleaned_probs, *, min_z: float = 0.0) -> CleaningCheck:
    """Compare two sets of out-of-fold probabilities by their accuracy on the given ``labels``.

    Parameters
    ----------
    labels : ndarray of shape (N,)
        Given labels, ``0..K-1``.
    kept_probs, cleaned_probs : ndarray of shape (N, K)
        Out-of-fold probabilities of fold models trained on every row, and on the cleaned rows.
    min_z : float
        How many standard errors of the paired difference the cleaned models must win by.
    """
    labels = np.asarray(labels)
    if min_z < 0:
        raise ValueError(f"min_z must be at least 0, got {min_z}")
    kept_right = np.asarray(kept_probs).argmax(axis=1) == labels
    cleaned_right = np.asarray(cleaned_probs).argmax(axis=1) == labels
    difference = cleaned_right.astype(np.float64) - kept_right
    standard_error = float(difference.std(ddof=1) / np.sqrt(len(labels))) if len(labels) > 1 else float("inf")
    return CleaningCheck(float(kept_right.mean()), float(cleaned_right.mean()), standard_error, float(min_z))
