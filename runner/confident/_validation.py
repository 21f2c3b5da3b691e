"""Boundary checks shared by the confident-learning functions.

Every public function of :mod:`runner.confident` that takes ``(labels, pred_probs)`` calls
:func:`check_labels_and_pred_probs` first, so a bad input fails with one clear ``ValueError``
before any work is done. The checks are vectorised and never copy ``pred_probs``: a float32
array stays float32 and is only read (min, max and row sums).
"""

from __future__ import annotations

import numpy as np

# A classifier's rows sum to 1 up to its own rounding: float32 softmax over 1,000 classes is
# off by ~1e-5. Anything further off is not a probability vector.
ROW_SUM_ATOL = 1e-4
# Probabilities may overshoot [0, 1] by this much (the reference's own slack).
RANGE_ATOL = 1e-6


def as_label_array(labels) -> np.ndarray:
    """Labels (list, ndarray, Series, one-column DataFrame) as a 1-D int64 array, checked."""
    if hasattr(labels, "to_numpy"):  # pandas Series / DataFrame
        labels = labels.to_numpy()
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one label per example), got shape {labels.shape}")
    if labels.dtype.kind == "b" or labels.size == 0:
        # np.asarray([]) is float64: an empty list must fail as "empty", not as "not integers".
        return labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be integers 0..K-1, got dtype {labels.dtype}; encode class values "
            "first (e.g. sklearn.preprocessing.LabelEncoder) — CleanLearning does this for you"
        )
    return labels.astype(np.int64, copy=False)


def as_pred_probs(pred_probs) -> np.ndarray:
    """pred_probs as a floating 2-D array, without copying float32/float64 input."""
    pred_probs = np.asarray(pred_probs)
    if pred_probs.dtype.kind != "f" or pred_probs.dtype.itemsize < 4:
        if pred_probs.dtype.kind not in "iufb":
            raise ValueError(f"pred_probs must be numeric, got dtype {pred_probs.dtype}")
        pred_probs = pred_probs.astype(np.float64)
    if pred_probs.ndim != 2:
        raise ValueError(f"pred_probs must be 2-D of shape (N, K), got shape {pred_probs.shape}")
    return pred_probs


def check_pred_probs(pred_probs: np.ndarray) -> None:
    """Refuse NaN/inf, values outside [0, 1] and rows that do not sum to 1."""
    n, k = pred_probs.shape
    if k < 2:
        raise ValueError(f"pred_probs must have at least 2 columns (classes), got K={k}")
    if n == 0:
        raise ValueError("pred_probs is empty (N=0)")
    lo, hi = pred_probs.min(), pred_probs.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("pred_probs contains NaN or inf")
    if lo < -RANGE_ATOL or hi > 1 + RANGE_ATOL:
        raise ValueError(f"pred_probs must lie in [0, 1], got values in [{lo}, {hi}]")
    # A matrix-vector product is the fastest row sum; float32 precision is plenty for the check.
    row_sums = pred_probs @ np.ones(k, dtype=pred_probs.dtype)
    bad = np.flatnonzero(np.abs(row_sums - 1) > ROW_SUM_ATOL)
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"rows of pred_probs must sum to 1: {bad.size} rows do not (row {i} sums to "
            f"{row_sums[i]:.6g}); normalise them or pass predict_proba output"
        )


def check_labels_and_pred_probs(labels, pred_probs, *, allow_one_class: bool = False):
    """Validate and convert ``(labels, pred_probs)``; return ``(labels, pred_probs)``.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels, integers in ``0..K-1``.
    pred_probs : array-like of shape (N, K)
        Predicted probabilities; rows sum to 1.
    allow_one_class : bool
        Accept labels with a single distinct value. Otherwise only ``{0}`` is accepted as a
        single class (the reference's allowance), any other single class is refused.

    Raises
    ------
    ValueError
        For every problem, naming it.
    """
    labels = as_label_array(labels)
    pred_probs = as_pred_probs(pred_probs)
    if len(labels) != len(pred_probs):
        raise ValueError(f"labels and pred_probs have different lengths: {len(labels)} vs {len(pred_probs)}")
    check_pred_probs(pred_probs)
    k = pred_probs.shape[1]
    lo, hi = labels.min(), labels.max()
    if lo < 0 or hi >= k:
        raise ValueError(
            f"labels must lie in 0..K-1 = 0..{k - 1} (K = pred_probs.shape[1]), got values in [{lo}, {hi}]"
        )
    if not allow_one_class and lo == hi and hi != 0:
        raise ValueError(f"labels contain a single class ({hi}); at least 2 classes are needed")
    return labels, pred_probs


def check_choice(name: str, value, valid) -> None:
    """Raise a ValueError listing the valid names when ``value`` is not one of them."""
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(repr, valid))}")
