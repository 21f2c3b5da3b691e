"""Counting with confident learning: the confident joint and the latent noise estimates.

Symbols (shared by the whole package):

* ``N`` examples, ``K`` classes (always ``pred_probs.shape[1]``);
* ``labels`` — the given, possibly noisy, label ``s_i`` of each example, integers ``0..K-1``;
* ``pred_probs`` — out-of-fold predicted probabilities ``P[i, k]``, shape ``(N, K)``;
* ``confident_joint`` — ``C[given, true]``: how many examples with given label ``i`` are
  confidently of true class ``j``;
* ``noise_matrix`` — ``P(given = i | true = j)``, columns sum to 1;
* ``inverse_noise_matrix`` — ``P(true = i | given = j)``, rows = true, columns sum to 1;
* ``py`` — the latent prior ``P(true = j)``; ``ps`` — the observed prior ``P(given = i)``.

An example counts towards ``C[s_i, j]`` when its probability for ``j`` reaches ``j``'s threshold
(the mean self-confidence of class ``j``); calibration rescales ``C`` so that its rows sum to the
class counts. Everything is vectorised over examples; loops run over classes only.
"""

from __future__ import annotations

import warnings

import numpy as np

from runner.confident._validation import (
    as_label_array,
    check_choice,
    check_labels_and_pred_probs,
)

EPS = 1e-6  # slack when comparing a probability with a threshold
THRESHOLD_FLOOR = 2e-6  # lower bound of a class threshold
TINY = 1e-100  # denominators are max(x, TINY)
PY_FLOOR = 1e-6  # lower clip of the latent prior
ABSENT_THRESHOLD = 2  # a class nobody is labelled with: no probability can reach 2
MAX_NOISE_RATE = 0.9999
ROW_CHUNK = 1 << 16  # rows per block when a pass needs an (N, K) temporary

PY_METHODS = ("cnt", "eqn", "marginal", "marginal_ps")
NUM_LABEL_ISSUES_METHODS = ("off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom")


# --------------------------------------------------------------------------------------------
# Grouping examples by given label


def group_by_label(labels: np.ndarray, n_classes: int):
    """Indices of every class, ascending within the class, as one permutation.

    Returns ``(order, starts, counts)``: the examples of class ``k`` are
    ``order[starts[k]:starts[k] + counts[k]]`` in increasing index order. One stable sort
    replaces K boolean masks over all N labels.
    """
    counts = np.bincount(labels, minlength=n_classes)
    # int16 keys let numpy use its radix sort; stability keeps indices ascending per class.
    keys = labels.astype(np.int16) if n_classes <= np.iinfo(np.int16).max else labels
    order = np.argsort(keys, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return order, starts, counts


def row_blocks(n_rows: int):
    """Slices of at most ROW_CHUNK rows: bounded temporaries for passes over (N, K) arrays."""
    return (slice(lo, lo + ROW_CHUNK) for lo in range(0, n_rows, ROW_CHUNK))


def self_confidence(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """``P[i, s_i]`` for every example, in the dtype of ``pred_probs``."""
    return pred_probs[np.arange(len(labels)), labels]


# --------------------------------------------------------------------------------------------
# Thresholds and the confident joint


def _thresholds(labels, pred_probs, groups) -> np.ndarray:
    """Per-class mean self-confidence (the dtype and summation order of a numpy mean)."""
    order, starts, counts = groups
    sc_by_class = self_confidence(labels, pred_probs)[order]
    means = [
        sc_by_class[start : start + count].mean() if count else ABSENT_THRESHOLD for start, count in zip(starts, counts)
    ]
    # A missing class's integer 2 promotes the thresholds to float64, as in the reference.
    dtype = pred_probs.dtype if counts.all() else np.float64
    return np.maximum(np.asarray(means, dtype=dtype), THRESHOLD_FLOOR)


def get_confident_thresholds(labels, pred_probs, multi_label: bool = False) -> np.ndarray:
    """Per-class thresholds: the mean predicted probability of class k among examples labelled k.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels, integers in ``0..K-1``.
    pred_probs : ndarray of shape (N, K)
        Out-of-fold predicted probabilities.
    multi_label : bool
        Not supported (single-label classification only).

    Returns
    -------
    thresholds : ndarray of shape (K,)
        In the dtype of ``pred_probs``; float64 if some class is absent (its threshold is 2,
        so no example is ever confident in it).
    """
    _refuse_multi_label(multi_label)
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs, allow_one_class=True)
    groups = group_by_label(labels, pred_probs.shape[1])
    return _thresholds(labels, pred_probs, groups)


def _confident_guesses(pred_probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The guessed true label of every example, or -1 where no class is confident.

    Class ``k`` is confident for example ``i`` when ``P[i, k] >= t_k - EPS``. One confident
    class is the guess; several fall back to the global argmax (which may be a class that is
    not itself confident); none means the example is not counted.
    """
    n_classes = pred_probs.shape[1]
    cutoff = thresholds - EPS  # in the dtype of the thresholds, as the reference compares
    # With few classes, row-wise reductions are dominated by per-row overhead: a uint8
    # matrix-vector product counts the confident classes and names the single one faster.
    # The global argmax is only computed for the (rarer) rows with several confident classes.
    few = n_classes <= 32
    ones = np.ones(n_classes, dtype=np.uint8)
    class_ids = np.arange(n_classes, dtype=np.uint8)
    count_dtype = np.uint8 if n_classes < 256 else np.int32
    guesses = np.empty(len(pred_probs), dtype=np.int64)
    for rows in row_blocks(len(pred_probs)):
        block = pred_probs[rows]
        confident = block >= cutoff
        if few:
            flags = confident.view(np.uint8)
            n_confident = flags @ ones
            guess = (flags @ class_ids).astype(np.int64)
        else:
            n_confident = confident.sum(axis=1, dtype=count_dtype)
            guess = confident.argmax(axis=1)
        ambiguous = np.flatnonzero(n_confident > 1)
        guess[ambiguous] = np.take(block, ambiguous, axis=0).argmax(axis=1)
        guess[n_confident == 0] = -1
        guesses[rows] = guess
    return guesses


def _raw_confident_joint(labels, guesses, n_classes):
    """Uncalibrated counts ``C[given, guess]`` with the diagonal floored at 1.

    Built as the transpose of a ``(guess, given)`` table, so it is column-major like the
    reference's matrix; calibration then sums it in the same order and rounds ties alike.
    """
    counted = guesses >= 0
    flat = guesses[counted] * n_classes + labels[counted]
    joint = np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes).T
    diagonal = np.einsum("ii->i", joint)
    np.maximum(diagonal, 1, out=diagonal)
    return joint


def _confident_joint_and_off_diagonals(labels, pred_probs, thresholds, groups, calibrate):
    n_classes = pred_probs.shape[1]
    if thresholds is None:
        thresholds = _thresholds(labels, pred_probs, groups)
    guesses = _confident_guesses(pred_probs, np.asarray(thresholds))
    joint = _raw_confident_joint(labels, guesses, n_classes)
    if calibrate:
        joint = _calibrate(joint, groups[2])
    off_diagonals = np.flatnonzero((guesses >= 0) & (guesses != labels))
    return joint, off_diagonals


def compute_confident_joint(
    labels,
    pred_probs,
    *,
    thresholds=None,
    calibrate: bool = True,
    multi_label: bool = False,
    return_indices_of_off_diagonals: bool = False,
):
    """Count, per given label, the examples confidently belonging to each true class.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels, integers in ``0..K-1``.
    pred_probs : ndarray of shape (N, K)
        Out-of-fold predicted probabilities (float32 is used as is, never copied).
    thresholds : array-like of shape (K,), optional
        Per-class thresholds; default :func:`get_confident_thresholds`.
    calibrate : bool, default True
        Rescale so that row ``i`` sums to the number of examples labelled ``i``.
    multi_label : bool
        Not supported.
    return_indices_of_off_diagonals : bool, default False
        Also return the (ascending) indices of the counted examples whose guessed true label
        differs from the given one — before calibration.

    Returns
    -------
    confident_joint : ndarray of shape (K, K), int64
        Rows = given label, columns = guessed true label.
    indices_off_diagonal : ndarray of int64
        Only when ``return_indices_of_off_diagonals``.

    Examples
    --------
    >>> compute_confident_joint([0, 0, 1, 1], np.array([[.9, .1], [.2, .8], [.3, .7], [.1, .9]]))
    array([[1, 1],
           [0, 2]])
    """
    _refuse_multi_label(multi_label)
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs, allow_one_class=True)
    n_classes = pred_probs.shape[1]
    if thresholds is not None:
        thresholds = np.asarray(thresholds)
        if thresholds.shape != (n_classes,):
            raise ValueError(f"thresholds must have shape (K,) = ({n_classes},), got {thresholds.shape}")
        if thresholds.dtype.kind not in "iuf" or np.isnan(thresholds).any():
            raise ValueError(f"thresholds must be numbers without NaN, got {thresholds!r}")
    groups = group_by_label(labels, n_classes)
    joint, off_diagonals = _confident_joint_and_off_diagonals(labels, pred_probs, thresholds, groups, calibrate)
    return (joint, off_diagonals) if return_indices_of_off_diagonals else joint


# --------------------------------------------------------------------------------------------
# Calibration


def round_preserving_sum(x: np.ndarray) -> np.ndarray:
    """Round a float vector to integers whose sum is the rounded sum of ``x``.

    Round half-even, then move the remaining difference one unit at a time onto the entries
    whose rounding lost (or gained) most — the largest residuals ``x - round(x)`` receive +1,
    the most negative ones -1.
    """
    rounded = np.round(x)
    target = np.round(x.sum())
    total = rounded.sum()
    while abs(total - target) > EPS:
        diff = int(np.round(target - total))
        n_moves = min(abs(diff), len(x))
        order = np.argsort(x - rounded)
        if diff > 0:
            rounded[order[len(x) - n_moves :]] += 1
        else:
            rounded[order[:n_moves]] -= 1
        total = rounded.sum()
    return rounded.astype(np.int64)


def round_preserving_row_totals(matrix: np.ndarray) -> np.ndarray:
    """:func:`round_preserving_sum` applied to every row."""
    return np.array([round_preserving_sum(row) for row in matrix], dtype=np.int64).reshape(matrix.shape)


def _calibrate(joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Rescale rows to the class counts, then the total to N; round preserving row totals.

    Element-wise numpy keeps the input's memory layout, and the grand total is summed in that
    layout — this matters at the last ulp, where it can decide a rounding tie.
    """
    label_counts = np.asarray(label_counts)
    row_sums = joint.sum(axis=1)
    scaled = joint / np.maximum(row_sums, TINY)[:, None] * label_counts[:, None]
    scaled = scaled / np.maximum(scaled.sum(), TINY) * label_counts.sum()
    return round_preserving_row_totals(scaled)


def calibrate_confident_joint(confident_joint, labels, *, multi_label: bool = False) -> np.ndarray:
    """Calibrate a confident joint so that row ``i`` sums to the count of label ``i`` (total N).

    Parameters
    ----------
    confident_joint : ndarray of shape (K, K)
        Counts, rows = given label.
    labels : array-like of shape (N,)
        Given labels, integers in ``0..K-1``.

    Returns
    -------
    ndarray of shape (K, K), int64
        Rows of classes absent from ``labels`` are zero.
    """
    _refuse_multi_label(multi_label)
    joint = _check_square(confident_joint, "confident_joint")
    labels = as_label_array(labels)
    n_classes = len(joint)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1} for a {n_classes}x{n_classes} confident_joint")
    return _calibrate(joint, np.bincount(labels, minlength=n_classes))


# --------------------------------------------------------------------------------------------
# Latent estimates


def estimate_joint(labels, pred_probs, *, confident_joint=None, multi_label: bool = False) -> np.ndarray:
    """Estimate the joint distribution ``P(given = i, true = j)``; it sums to 1.

    A supplied ``confident_joint`` is calibrated first when ``labels`` are given.
    """
    _refuse_multi_label(multi_label)
    if confident_joint is None:
        joint = compute_confident_joint(labels, pred_probs, calibrate=True)
    elif labels is not None:
        joint = calibrate_confident_joint(confident_joint, labels)
    else:
        joint = _check_square(confident_joint, "confident_joint")
    return joint / max(joint.sum(), TINY)


def clip_and_renormalize(x, low: float, high: float = 1.0, new_sum: float = 1.0) -> np.ndarray:
    """Clip every entry to ``[low, high]``, then rescale so that the entries sum to ``new_sum``."""
    x = np.clip(x, low, high)
    return x * (new_sum / max(x.sum(), TINY))


def clip_noise_rates(matrix: np.ndarray) -> np.ndarray:
    """Clip off-diagonal rates to ``[0, 0.9999]`` (diagonal untouched), then renormalise columns."""
    diagonal = np.diagonal(matrix).copy()
    clipped = np.clip(matrix, 0, MAX_NOISE_RATE)
    np.fill_diagonal(clipped, diagonal)
    return clipped / np.maximum(clipped.sum(axis=0), TINY)


def compute_py(ps, noise_matrix, inverse_noise_matrix, *, py_method="cnt", true_label_counts=None):
    """The latent prior ``P(true = j)`` from the observed prior and the noise matrices.

    ``cnt`` — ``INV[j, j] / NM[j, j] * ps_j``; ``eqn`` — ``inv(NM) @ ps``; ``marginal`` — the
    column totals of the confident joint, normalised (needs ``true_label_counts``);
    ``marginal_ps`` — ``INV @ ps``. Clipped to ``[1e-6, 1]`` and renormalised.
    """
    check_choice("py_method", py_method, PY_METHODS)
    if py_method == "cnt":
        py = np.diagonal(inverse_noise_matrix) / np.maximum(np.diagonal(noise_matrix), TINY) * ps
    elif py_method == "eqn":
        py = np.linalg.inv(noise_matrix).dot(ps)
    elif py_method == "marginal":
        if true_label_counts is None:
            raise ValueError("py_method='marginal' needs true_label_counts")
        py = true_label_counts / max(true_label_counts.sum(), TINY)
    else:
        py = inverse_noise_matrix.dot(ps)
    return clip_and_renormalize(py, low=PY_FLOOR)


def _inverse_from_noise_matrix(noise_matrix, py, ps):
    """``P(true=j | given=i)`` from ``P(given=i | true=j)`` by Bayes' rule, rows = true."""
    return clip_noise_rates((noise_matrix * py[None, :] / np.maximum(ps, TINY)[:, None]).T)


def _noise_matrix_from_inverse(inverse_noise_matrix, py, ps):
    """``P(given=i | true=j)`` from ``P(true=j | given=i)`` by Bayes' rule."""
    return clip_noise_rates(inverse_noise_matrix.T * ps[:, None] / np.maximum(py, TINY)[None, :])


def _converge_estimates(ps, py, noise_matrix, inverse_noise_matrix, outer=3, inner=5):
    """Alternate Bayes' rule between the two matrices so they become mutually consistent."""
    for _ in range(outer):
        for _ in range(inner):
            inverse_noise_matrix = _inverse_from_noise_matrix(noise_matrix, py, ps)
            py = compute_py(ps, noise_matrix, inverse_noise_matrix, py_method="cnt")
        noise_matrix = _noise_matrix_from_inverse(inverse_noise_matrix, py, ps)
    return py, noise_matrix, inverse_noise_matrix


def estimate_latent(
    confident_joint,
    labels,
    *,
    py_method: str = "cnt",
    converge_latent_estimates: bool = False,
):
    """Estimate ``py``, the noise matrix and the inverse noise matrix from a confident joint.

    Parameters
    ----------
    confident_joint : ndarray of shape (K, K)
        Used as given (not recalibrated).
    labels : array-like of shape (N,)
        Given labels, integers in ``0..K-1``.
    py_method : {"cnt", "eqn", "marginal", "marginal_ps"}
        How the latent prior is computed (see :func:`compute_py`).
    converge_latent_estimates : bool, default False
        Make the estimates consistent by alternating Bayes' rule (3 × 5 rounds).

    Returns
    -------
    py : ndarray of shape (K,)
    noise_matrix : ndarray of shape (K, K)
        ``P(given = i | true = j)``, columns sum to 1.
    inverse_noise_matrix : ndarray of shape (K, K)
        ``P(true = i | given = j)``, columns sum to 1.
    """
    check_choice("py_method", py_method, PY_METHODS)
    joint = _check_square(confident_joint, "confident_joint").astype(np.float64)
    labels = as_label_array(labels)
    n_classes = len(joint)
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be non-empty and lie in 0..{n_classes - 1}")
    ps = np.bincount(labels, minlength=n_classes) / len(labels)
    given_totals = joint.sum(axis=1)
    true_totals = joint.sum(axis=0)
    noise_matrix = joint / np.maximum(true_totals, TINY)[None, :]
    inverse_noise_matrix = joint.T / np.maximum(given_totals, TINY)[None, :]
    py = compute_py(ps, noise_matrix, inverse_noise_matrix, py_method=py_method, true_label_counts=true_totals)
    noise_matrix = clip_noise_rates(noise_matrix)
    inverse_noise_matrix = clip_noise_rates(inverse_noise_matrix)
    if converge_latent_estimates:
        py, noise_matrix, inverse_noise_matrix = _converge_estimates(ps, py, noise_matrix, inverse_noise_matrix)
        py = clip_and_renormalize(py, low=1e-5)
        noise_matrix = clip_noise_rates(noise_matrix)
        inverse_noise_matrix = clip_noise_rates(inverse_noise_matrix)
    return py, noise_matrix, inverse_noise_matrix


def estimate_py_and_noise_matrices_from_probabilities(
    labels,
    pred_probs,
    *,
    thresholds=None,
    converge_latent_estimates: bool = True,
    py_method: str = "cnt",
    calibrate: bool = True,
):
    """Confident joint and latent estimates from out-of-fold probabilities.

    Returns
    -------
    py, noise_matrix, inverse_noise_matrix, confident_joint
        See :func:`estimate_latent` and :func:`compute_confident_joint`.
    """
    joint = compute_confident_joint(labels, pred_probs, thresholds=thresholds, calibrate=calibrate)
    py, noise_matrix, inverse_noise_matrix = estimate_latent(
        joint, labels, py_method=py_method, converge_latent_estimates=converge_latent_estimates
    )
    return py, noise_matrix, inverse_noise_matrix, joint


# --------------------------------------------------------------------------------------------
# Number of label issues


def unflag_near_given(labels, pred_probs, flagged_indices) -> np.ndarray:
    """Drop the flagged examples whose given label is (within EPS) the most probable class.

    A flag survives only where another class beats ``P[i, s_i] + EPS`` (or equals it at a lower
    class index). Works on the flagged rows only, never on a copy of all of ``pred_probs``.
    """
    rows = np.take(pred_probs, flagged_indices, axis=0)
    given = labels[flagged_indices]
    rows[np.arange(len(rows)), given] += EPS  # in the dtype of pred_probs
    return flagged_indices[rows.argmax(axis=1) != given]


def num_label_issues(
    labels,
    pred_probs,
    *,
    confident_joint=None,
    estimation_method: str = "off_diagonal",
    multi_label: bool = False,
) -> np.int64:
    """Estimate how many examples are mislabeled.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : ndarray of shape (N, K)
    confident_joint : ndarray of shape (K, K), optional
        Only used by ``"off_diagonal_custom"`` (calibrated first).
    estimation_method : {"off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom"}
        ``off_diagonal`` counts the examples confidently in another class than their given one
        (excluding those whose given label is the most probable); the calibrated variants count
        the off-diagonal mass of the calibrated confident joint.

    Returns
    -------
    numpy.int64
    """
    _refuse_multi_label(multi_label)
    check_choice("estimation_method", estimation_method, NUM_LABEL_ISSUES_METHODS)
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs)
    if confident_joint is not None and estimation_method != "off_diagonal_custom":
        warnings.warn(
            f"confident_joint is only used with estimation_method='off_diagonal_custom'; "
            f"ignored with {estimation_method!r}",
            UserWarning,
            stacklevel=2,
        )
    groups = group_by_label(labels, pred_probs.shape[1])
    if estimation_method == "off_diagonal":
        _, off_diagonals = _confident_joint_and_off_diagonals(labels, pred_probs, None, groups, calibrate=False)
        return np.int64(len(unflag_near_given(labels, pred_probs, off_diagonals)))
    if estimation_method == "off_diagonal_calibrated":
        joint, _ = _confident_joint_and_off_diagonals(labels, pred_probs, None, groups, True)
    else:
        if not isinstance(confident_joint, np.ndarray):
            raise ValueError("estimation_method='off_diagonal_custom' needs a confident_joint ndarray")
        _check_square(confident_joint, "confident_joint", pred_probs.shape[1])
        joint = calibrate_confident_joint(confident_joint, labels)
    joint = joint / max(joint.sum(), TINY)
    return np.int64(np.rint((1 - np.trace(joint)) * len(labels)))


# --------------------------------------------------------------------------------------------


def _check_square(matrix, name: str, n_classes: int | None = None) -> np.ndarray:
    """A finite numeric (K, K) matrix, with K = ``n_classes`` when given, or ValueError."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square (K, K) matrix, got shape {matrix.shape}")
    if n_classes is not None and matrix.shape != (n_classes, n_classes):
        raise ValueError(
            f"{name} must have shape (K, K) = ({n_classes}, {n_classes}) (K = pred_probs.shape[1]), got {matrix.shape}"
        )
    if matrix.dtype.kind not in "iufb":
        raise ValueError(f"{name} must hold numbers (counts), got dtype {matrix.dtype}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or inf")
    return matrix


def _refuse_multi_label(multi_label: bool) -> None:
    if multi_label:
        raise NotImplementedError("multi_label is not supported: cleanrun handles single-label data")
