"""The posterior of a row's true class, given its features and its (possibly wrong) label.

Confident learning models label noise as class-conditional: the given label depends on the true
class alone, through the noise matrix ``T[j, i] = P(given=j | true=i)``. A model fitted to the
given labels therefore estimates a mixture, ``P(given=j | x) = sum_i T[j, i] P(true=i | x)``, and
the true-class probabilities follow by undoing it: ``P(true | x) = T^-1 P(given | x)``. Bayes'
rule then adds what the row's label says about its true class::

    P(true=i | x, given=j)  is proportional to  T[j, i] * P(true=i | x)

This matters most under heavy, asymmetric noise. When most examples of class i carry label j
(``T[j, i] > T[i, i]``), a model of the given labels prefers j on class i's region, and the
reference's detection keeps those rows; the posterior, which knows T, does not.
"""

from __future__ import annotations

import numpy as np

# Floor of an inverted probability before renormalising: keeps every class possible, so a
# row whose inversion came out all-negative still gets a posterior (its label's column of T).
_FLOOR = 1e-12


def true_class_probs(pred_probs: np.ndarray, noise_matrix: np.ndarray) -> np.ndarray:
    """``P(true | x)`` from probabilities of the given labels, shape (N, K).

    Solves ``pred_probs = P(true | x) @ T.T`` row by row (the pseudo-inverse copes with a
    singular T), then clips the negative entries that sampling error produces and renormalises.
    """
    noise_matrix = np.asarray(noise_matrix, dtype=np.float64)
    probs = np.asarray(pred_probs, dtype=np.float64) @ np.linalg.pinv(noise_matrix.T)
    probs = np.clip(probs, 0.0, None) + _FLOOR
    return probs / probs.sum(axis=1, keepdims=True)


def label_posterior(labels: np.ndarray, pred_probs: np.ndarray, noise_matrix: np.ndarray) -> np.ndarray:
    """``P(true=i | x, given)`` for every row and class, shape (N, K).

    Parameters
    ----------
    labels : ndarray of int, shape (N,)
        Given labels in ``0..K-1``.
    pred_probs : ndarray of shape (N, K)
        Out-of-fold probabilities of models fitted to the given labels.
    noise_matrix : ndarray of shape (K, K)
        ``P(given=j | true=i)`` at ``[j, i]``; its columns sum to 1.
    """
    noise_matrix = np.asarray(noise_matrix, dtype=np.float64)
    joint = noise_matrix[np.asarray(labels)] * true_class_probs(pred_probs, noise_matrix)
    return joint / joint.sum(axis=1, keepdims=True)
